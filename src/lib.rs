//! odr-operations: the operations service of the Danish organ-donor register (ODR).
//!
//! Background jobs started over HTTP by cron on every node, running as time-budgeted,
//! resumable, cluster-safe slices; status and alarm pages for monitoring.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod app;
pub mod audit;
pub mod bench;
pub mod clients;
pub mod clock;
pub mod config;
pub mod cpr;
pub mod db;
pub mod demo;
pub mod engine;
pub mod jobs;
pub mod logging;
pub mod metrics;
pub mod simulator;
pub mod web;
