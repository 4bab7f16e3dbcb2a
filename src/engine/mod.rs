//! StackedOperations: one time-budgeted, resumable, cluster-safe slice of a job per start call.
//!
//! A job is a sequence of stack operations. The engine takes the job's lease, loads its resume
//! point, runs operations until the job is finished or the budget is spent (checked after each
//! operation), and records the run. Each operation commits its effect together with the new
//! resume point in one transaction guarded by the lease's fencing token (SPEC §5).

mod heartbeat;
pub mod lease;
mod record;
mod slice;
pub mod stop;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::FutureExt;

use crate::clock::Clock;
use crate::db::models::job_state;
use crate::db::models::Outcome;
use crate::db::{Db, DbError};
use heartbeat::{retry_release, spawn_heartbeat, AbortOnDrop};
pub use lease::{Lease, LEASE_MARGIN};
pub use record::{record, Recorded};
pub use slice::{commit_fenced, Slice};
pub use stop::StopSignal;

/// What an operation tells the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// More work remains; run another operation if the budget allows.
    Continue,
    /// The job reached its end (a pass complete, every date up to today done).
    Finished,
}

/// Why a slice failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The database failed.
    #[error("{0}")]
    Db(#[from] DbError),
    /// Another node took the lease; the commit was refused by the fencing token.
    #[error("jobbets lås er overtaget af en anden node, så intet blev skrevet")]
    LeaseLost,
    /// An external service failed (the text is the service's Danish sentence).
    #[error("{0}")]
    Service(String),
    /// Anything else, phrased for operators.
    #[error("{0}")]
    Other(String),
}

impl From<diesel::result::Error> for JobError {
    fn from(e: diesel::result::Error) -> Self {
        JobError::Db(DbError::Query(e))
    }
}

/// How an operation changes the stored resume point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorChange {
    /// Leave it as it is (the job keeps its progress in its own tables).
    Keep,
    /// Resume after this point next time.
    Set(String),
    /// The pass is complete: the next slice starts a new pass.
    PassComplete,
}

/// A job: named, budgeted, run one operation at a time.
pub trait Job {
    /// `JobLock` / `JobState` / `JobRun` name.
    const NAME: &'static str;
    /// The slice budget (`...desired.execution.duration...`).
    fn budget(&self) -> Duration;
    /// Runs one stack operation; commits through [`Slice::commit`].
    fn step(&mut self, slice: &mut Slice) -> impl Future<Output = Result<Step, JobError>>;
    /// Units processed in this slice (stored in `JobRun.Processed`).
    fn processed(&self) -> i64;
    /// This slice's figures for the summary line, e.g. `12000 CPR checked, 31 deleted`.
    fn figures(&self) -> String;
    /// What the summary says when the job reached its end.
    fn finished_note(&self) -> &'static str {
        "pass complete"
    }
    /// This slice's figures for `JobRun.Figures` (?detailed, the dashboard), e.g. `{"checked": 12000}`.
    fn figures_json(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::new()
    }
    /// Settles what the job deferred to overlap it with its next operation, when the slice ends
    /// without one (the job finished, or the budget or a shutdown stops it). Default: nothing.
    fn wind_up(&mut self, slice: &mut Slice) -> impl Future<Output = Result<(), JobError>> {
        let _ = slice;
        async { Ok(()) }
    }
    /// The longest one operation may take on its own (its external calls' timeouts): the
    /// heartbeat keeps the lease at most budget + margin + this past the slice's start.
    fn operation_timeout(&self) -> Duration {
        Duration::from_secs(60)
    }
}

/// What a start call answers, and what was recorded.
#[derive(Debug, Clone)]
pub struct SliceReport {
    /// The job.
    pub job: &'static str,
    /// How the slice ended.
    pub outcome: Outcome,
    /// The one-line summary answered to cron.
    pub line: String,
    /// Units processed.
    pub processed: i64,
    /// The failure reason, if any.
    pub error: Option<String>,
}

/// Told how each slice ended (the node's metrics count them); the engine knows nothing else of it.
pub trait SliceObserver: Send + Sync {
    /// A slice of `job` ended with `outcome`.
    fn slice_ended(&self, job: &str, outcome: Outcome);
}

/// What the engine needs besides the job.
#[derive(Clone)]
pub struct EngineCtx {
    /// The ODR database (holds `JobLock`, `JobState`, `JobRun`).
    pub db: Db,
    /// This node's id.
    pub node: String,
    /// Application clock.
    pub clock: Clock,
    /// Told how each slice ended.
    pub observer: Arc<dyn SliceObserver>,
    /// Raised when the service shuts down: running slices stop at their next commit.
    pub shutdown: StopSignal,
    /// Lease time beyond the budget: [`LEASE_MARGIN`] (tests shorten it to watch leases expire).
    pub lease_margin: Duration,
}

/// `<JobName> kører allerede på en anden node.`
pub fn already_running_line(job: &str) -> String {
    format!("{job} kører allerede på en anden node.")
}

/// Runs one slice of `job` and records it.
pub async fn run_slice<J: Job>(ctx: &EngineCtx, mut job: J) -> SliceReport {
    let name = J::NAME;
    let budget = job.budget();
    let started_at = ctx.clock.now();
    let started = Instant::now();
    let owner = ctx.node.clone();
    let lease = match Lease::acquire(&ctx.db, name, &owner, budget + ctx.lease_margin).await {
        Ok(Some(l)) => l,
        Ok(None) => {
            log::info!("{name}: skipped, another node holds the lease");
            record(
                ctx,
                name,
                (started_at, ctx.clock.now()),
                Recorded::nothing(Outcome::Skipped, None),
            )
            .await;
            ctx.observer.slice_ended(name, Outcome::Skipped);
            return SliceReport {
                job: name,
                outcome: Outcome::Skipped,
                line: already_running_line(name),
                processed: 0,
                error: None,
            };
        }
        Err(e) => {
            let reason = e.to_string();
            log::error!("{name}: cannot take the lease: {reason}");
            let run = Recorded::nothing(Outcome::Failed, Some(reason.clone()));
            record(ctx, name, (started_at, ctx.clock.now()), run).await;
            ctx.observer.slice_ended(name, Outcome::Failed);
            return SliceReport {
                job: name,
                outcome: Outcome::Failed,
                line: format!("{name}: Failed: {reason}; nothing ran; the next call tries again."),
                processed: 0,
                error: Some(reason),
            };
        }
    };
    log::info!(
        "{name}: slice started (token {}, budget {:.1} s)",
        lease.token,
        budget.as_secs_f64()
    );
    let lost = StopSignal::new();
    let heartbeat = AbortOnDrop(spawn_heartbeat(
        ctx.db.clone(),
        lease.clone(),
        job.operation_timeout(),
        lost.clone(),
    ));
    // JobRun spans the time the lease was held, so runs of one job never overlap in the table.
    let started_at = ctx.clock.now();
    let result = run_operations(ctx, &mut job, &lease, lost, (started_at, started), budget).await;
    let ended_at = ctx.clock.now();
    drop(heartbeat);
    if let Err(e) = lease.release(&ctx.db).await {
        log::warn!("{name}: releasing the lease failed ({e}); retrying in the background");
        retry_release(ctx.db.clone(), lease.clone());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let figures = job.figures();
    let (outcome, line, error) = match result {
        Ok(Outcome::Finished) => (
            Outcome::Finished,
            format!(
                "{name}: Finished after {elapsed:.1} s; {figures}; {}.",
                job.finished_note()
            ),
            None,
        ),
        Ok(_) if ctx.shutdown.is_raised() => (
            Outcome::Paused,
            format!("{name}: Paused after {elapsed:.1} s (the service is stopping); {figures}; next call resumes."),
            None,
        ),
        Ok(_) => (
            Outcome::Paused,
            format!("{name}: Paused after {elapsed:.1} s; {figures}; next call resumes."),
            None,
        ),
        Err(e) => {
            let reason = e.to_string();
            (
                Outcome::Failed,
                format!("{name}: Failed: {reason}; after {elapsed:.1} s; {figures}; next call resumes."),
                Some(reason),
            )
        }
    };
    match &error {
        Some(reason) => log::error!("{name}: slice failed after {elapsed:.1} s: {reason}; {figures}"),
        None => log::info!("{name}: slice {outcome} after {elapsed:.1} s; {figures}"),
    }
    let run = Recorded {
        outcome,
        processed: job.processed(),
        error: error.clone(),
        figures: job.figures_json(),
    };
    record(ctx, name, (started_at, ended_at), run).await;
    ctx.observer.slice_ended(name, outcome);
    SliceReport {
        job: name,
        outcome,
        line,
        processed: job.processed(),
        error,
    }
}

async fn run_operations<J: Job>(
    ctx: &EngineCtx,
    job: &mut J,
    lease: &Lease,
    lost: StopSignal,
    (started_at, started): (DateTime<Utc>, Instant),
    budget: Duration,
) -> Result<Outcome, JobError> {
    let name = J::NAME;
    let state = ctx
        .db
        .run(move |conn| Ok::<_, DbError>(job_state::load(conn, name)?))
        .await?;
    let mut slice = Slice::new(
        (lease.clone(), ctx.db.clone(), ctx.clock.clone()),
        state,
        (started_at, started, budget),
        slice::Stops {
            lost,
            shutdown: ctx.shutdown.clone(),
        },
    );
    loop {
        // A panicking operation is a failed slice, not a lost lease: its transaction was rolled back.
        let step = AssertUnwindSafe(job.step(&mut slice))
            .catch_unwind()
            .await
            .map_err(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                log::error!("{name}: an operation panicked: {what}");
                JobError::Other("en operation i jobbet fejlede uventet (panic)".to_string())
            })?;
        if step? == Step::Finished {
            job.wind_up(&mut slice).await?;
            return Ok(Outcome::Finished);
        }
        slice.check_lease()?;
        // The budget (and a shutdown) is checked after each operation: one in flight always
        // finishes and commits.
        if started.elapsed() >= budget || ctx.shutdown.is_raised() {
            job.wind_up(&mut slice).await?;
            return Ok(Outcome::Paused);
        }
    }
}
