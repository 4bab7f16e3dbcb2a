//! What every request handler shares: the jobs' dependencies, this node's id, build facts.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::config::Settings;
use crate::db::Datasources;
use crate::engine::{EngineCtx, StopSignal};
use crate::jobs::JobDeps;
use crate::metrics::Metrics;

/// Facts about the build shown on the status page.
#[derive(Debug, Clone)]
pub struct BuildInfo {
    /// Application title.
    pub title: &'static str,
    /// Crate version.
    pub version: &'static str,
    /// When the binary was built (UTC).
    pub build_date: &'static str,
    /// Who or what built it.
    pub builder: &'static str,
}

impl BuildInfo {
    /// The facts stamped into this binary by `build.rs`.
    pub fn current() -> BuildInfo {
        BuildInfo {
            title: "odr-operations",
            version: env!("CARGO_PKG_VERSION"),
            build_date: env!("ODR_BUILD_DATE"),
            builder: env!("ODR_BUILDER"),
        }
    }
}

/// Everything a request handler needs, shared by all workers.
pub struct AppState {
    /// What the jobs are built from: settings, clock, datasources, clients, metrics.
    pub deps: JobDeps,
    /// This node's id (host name and process id).
    pub node: String,
    /// When this process started serving.
    pub deployed: DateTime<Utc>,
    /// Build facts.
    pub build: BuildInfo,
    /// The Completed-letter count of the status page and metrics.
    pub completed_letters: Arc<crate::web::status::CompletedLetters>,
    /// Raised when the service shuts down: running slices stop at their next commit.
    pub shutdown: StopSignal,
    /// Lease time beyond each slice's budget (SPEC §5: 60 s).
    pub lease_margin: std::time::Duration,
}

impl AppState {
    /// Settings, parsed once.
    pub fn settings(&self) -> &Settings {
        &self.deps.settings
    }

    /// Datasources.
    pub fn db(&self) -> &Datasources {
        &self.deps.db
    }

    /// Application clock.
    pub fn clock(&self) -> &Clock {
        &self.deps.clock
    }

    /// This node's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.deps.metrics
    }

    /// What the engine needs to run a slice on this node.
    pub fn engine(&self) -> EngineCtx {
        EngineCtx {
            db: self.deps.db.odr.clone(),
            node: self.node.clone(),
            clock: self.deps.clock.clone(),
            observer: self.deps.metrics.clone(),
            shutdown: self.shutdown.clone(),
            lease_margin: self.lease_margin,
        }
    }
}
