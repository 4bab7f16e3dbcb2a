//! Engine overhead: one engine operation (lease check + commit of the resume point) against a
//! bare transaction doing the same one UPDATE of the resume point, on the same database and pool,
//! paired operation by operation.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use chrono::Utc;
use diesel::{Connection, RunQueryDsl};

use super::report::{Figure, Value};
use super::{scratch, BenchOptions};
use crate::clock::Clock;
use crate::config::Backend;
use crate::db::models::job_state::{self, JobState};
use crate::db::models::stored;
use crate::db::{migrate, Db, DbError};
use crate::engine::{self, CursorChange, EngineCtx, Job, JobError, Slice, Step};

/// The `JobState` row the bare transactions update (beside the engine's own row).
const BARE_ROW: &str = "BenchBareTransaction";

/// Per-operation times, ms: (engine, bare), one pair per step.
type Times = Rc<RefCell<Vec<(f64, f64)>>>;

/// A job whose operations commit nothing but the resume point: the engine's own cost. Each step
/// also runs one bare transaction right before or after (alternating), so both see the same load
/// on the machine.
struct EmptyJob {
    ops: i64,
    done: i64,
    bare: Db,
    times: Times,
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
        let bare_first = self.done % 2 == 0;
        let mut bare_ms = 0.0;
        if bare_first {
            bare_ms = bare(&self.bare, self.done).await?;
        }
        let t = Instant::now();
        slice
            .commit(CursorChange::Set(self.done.to_string()), |_| Ok(()))
            .await?;
        let engine_ms = t.elapsed().as_secs_f64() * 1000.0;
        if !bare_first {
            bare_ms = bare(&self.bare, self.done).await?;
        }
        self.times.borrow_mut().push((engine_ms, bare_ms));
        Ok(Step::Continue)
    }

    fn processed(&self) -> i64 {
        self.done
    }

    fn figures(&self) -> String {
        format!("{} operations", self.done)
    }
}

/// One bare transaction: one pool call doing the engine's UPDATE of a resume point and nothing
/// else (no lease), i.e. what a job would pay to commit its resume point without the engine. Its
/// time in ms.
async fn bare(pool: &Db, i: i64) -> Result<f64, JobError> {
    let state = JobState {
        resume_cursor: Some(i.to_string()),
        pass_started_at: Some(stored(Utc::now()).naive()),
    };
    let t = Instant::now();
    pool.run(move |conn| {
        conn.transaction(|conn| job_state::save(conn, BARE_ROW, &state))
            .map_err(DbError::from)
    })
    .await?;
    Ok(t.elapsed().as_secs_f64() * 1000.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Engine operations per second against bare transactions per second (the bound), both from the
/// median of paired operations on the same pool: ratio = bare time / engine time.
pub async fn engine_overhead(backend: Backend, opts: &BenchOptions) -> Result<Figure, String> {
    let db = scratch(backend, opts)?;
    migrate::run(&db.url).map_err(|e| e.to_string())?;
    let pool = Db::new(&db.url, 4);
    pool.run(|conn| {
        diesel::sql_query(format!("INSERT INTO JobState (JobName) VALUES ('{BARE_ROW}')"))
            .execute(conn)
            .map_err(DbError::from)
    })
    .await
    .map_err(|e| e.to_string())?;
    let ctx = EngineCtx {
        db: pool.clone(),
        node: "bench".into(),
        clock: Clock::new(chrono_tz::UTC),
        observer: std::sync::Arc::new(crate::metrics::Metrics::new().map_err(|e| e.to_string())?),
        shutdown: crate::engine::StopSignal::new(),
        lease_margin: crate::engine::LEASE_MARGIN,
    };
    let ops = if opts.quick { 500 } else { 3000 };
    let times: Times = Rc::default();
    // A first slice warms the pool and the lease and JobState rows.
    for ops in [20, ops] {
        times.borrow_mut().clear();
        let job = EmptyJob {
            ops,
            done: 0,
            bare: pool.clone(),
            times: times.clone(),
        };
        let report = engine::run_slice(&ctx, job).await;
        if report.error.is_some() {
            return Err(report.line);
        }
    }
    let pairs = times.borrow().clone();
    let engine_ms = median(pairs.iter().map(|p| p.0).collect());
    let bare_ms = median(pairs.iter().map(|p| p.1).collect());
    let mean = |f: fn(&(f64, f64)) -> f64| pairs.iter().map(f).sum::<f64>() / pairs.len().max(1) as f64;
    let mut f = Figure::new("engine-overhead", backend.name())
        .with("throughput", Value::Num(1000.0 / engine_ms, 1, "/s"))
        .with("bound", Value::Num(1000.0 / bare_ms, 1, "/s"))
        .with("ratio", Value::Num(bare_ms / engine_ms, 3, ""))
        .with("engine_ms", Value::Num(engine_ms, 3, ""))
        .with("bare_ms", Value::Num(bare_ms, 3, ""));
    f.note = format!(
        "median of {} paired operations (means {:.3} / {:.3} ms): engine = lease UPDATE + resume-point UPDATE + \
         commit through Slice::commit; bare = resume-point UPDATE + commit, one pool call; same pool of 4; no issue target",
        pairs.len(),
        mean(|p| p.0),
        mean(|p| p.1)
    );
    Ok(f)
}
