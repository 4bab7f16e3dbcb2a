//! Engine overhead: an empty operation (lease check + commit of the resume point).

use std::time::{Duration, Instant};

use super::harness::peak_rss_mb;
use super::{scratch, BenchOptions, Figure};
use crate::clock::Clock;
use crate::config::Backend;
use crate::db::{migrate, Db};
use crate::engine::{self, CursorChange, EngineCtx, Job, JobError, Slice, Step};

/// A job whose operations commit nothing but the resume point: the engine's own cost.
struct EmptyJob {
    ops: i64,
    done: i64,
}

impl Job for EmptyJob {
    const NAME: &'static str = "BenchEmptyJob";

    fn budget(&self) -> Duration {
        Duration::from_secs(3600)
    }

    async fn step(&mut self, slice: &mut Slice) -> Result<Step, JobError> {
        if self.done == self.ops {
            return Ok(Step::Finished);
        }
        self.done += 1;
        slice
            .commit(CursorChange::Set(self.done.to_string()), |_| Ok(()))
            .await?;
        Ok(Step::Continue)
    }

    fn processed(&self) -> i64 {
        self.done
    }

    fn figures(&self) -> String {
        format!("{} operations", self.done)
    }
}

pub async fn engine_overhead(backend: Backend, opts: &BenchOptions) -> Result<Figure, String> {
    let db = scratch(backend, opts)?;
    migrate::run(&db.url).map_err(|e| e.to_string())?;
    let pool = Db::new(&db.url, 4);
    let ctx = EngineCtx {
        db: pool,
        node: "bench".into(),
        clock: Clock::new(chrono_tz::UTC),
        observer: std::sync::Arc::new(crate::metrics::Metrics::new().map_err(|e| e.to_string())?),
        shutdown: crate::engine::StopSignal::new(),
        lease_margin: crate::engine::LEASE_MARGIN,
    };
    let ops = if opts.quick { 500 } else { 3000 };
    // Warm the pool and the lease row first.
    engine::run_slice(&ctx, EmptyJob { ops: 10, done: 0 }).await;
    let started = Instant::now();
    let report = engine::run_slice(&ctx, EmptyJob { ops, done: 0 }).await;
    let elapsed = started.elapsed().as_secs_f64();
    if report.error.is_some() {
        return Err(report.line);
    }
    let per_op_ms = elapsed * 1000.0 / ops as f64;
    let target = match backend {
        Backend::Sqlite => 0.5,
        Backend::Mysql => 2.0,
    };
    Ok(Figure {
        scenario: "engine-overhead",
        backend: backend.name(),
        throughput: ops as f64 / elapsed,
        // The target is the bound here: lease check + commit within `target` ms.
        bound: 1000.0 / target,
        end_vs_start: 1.0,
        peak_rss_mb: peak_rss_mb(std::process::id()),
        note: format!("{per_op_ms:.3} ms per empty operation (lease check + commit; target {target} ms)"),
    })
}
