//! Integration tests: the real app on port 0 against a fresh SQLite file and a fresh MariaDB
//! database per test, with the fake external services. One binary, one link.

mod fixture;

mod architecture;
mod audit;
mod build_features;
mod cleanup;
mod clients;
mod config;
mod dashboard;
mod demo;
mod engine;
mod instants;
mod kill;
mod migrations;
mod notification;
mod preview;
mod shutdown;
mod stale;
mod status;
