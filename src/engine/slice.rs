//! The context handed to each operation of a slice, and the fenced commit.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::{CursorChange, JobError, Lease, StopSignal};
use crate::clock::Clock;
use crate::db::models::job_state::{self, JobState};
use crate::db::models::stored;
use crate::db::{dialect, Db, DbConn};

/// The context of a running slice, handed to each operation.
pub struct Slice {
    lease: Lease,
    db: Db,
    clock: Clock,
    state: JobState,
    started: DateTime<Utc>,
    lost: StopSignal,
    /// When the slice started (monotonic) and its budget: the engine's stop rule.
    budget: (Instant, Duration),
    shutdown: StopSignal,
}

/// How a slice stops early: its lease lost (heartbeat), the service shutting down.
pub(super) struct Stops {
    /// Raised by the heartbeat when the lease is lost.
    pub lost: StopSignal,
    /// Raised when the service shuts down.
    pub shutdown: StopSignal,
}

impl Slice {
    /// The context of a slice that holds `lease`, resumes at `state`, started at `started`.
    pub(super) fn new(
        (lease, db, clock): (Lease, Db, Clock),
        state: JobState,
        (started, since, budget): (DateTime<Utc>, Instant, Duration),
        stops: Stops,
    ) -> Slice {
        Slice {
            lease,
            db,
            clock,
            state,
            started,
            lost: stops.lost,
            budget: (since, budget),
            shutdown: stops.shutdown,
        }
    }

    /// The stored resume cursor (`None`: start of a pass).
    pub fn cursor(&self) -> Option<&str> {
        self.state.resume_cursor.as_deref()
    }

    /// When the current pass started, if one is under way.
    pub fn pass_started_at(&self) -> Option<chrono::NaiveDateTime> {
        self.state.pass_started_at
    }

    /// When this slice started (application clock).
    pub fn started_at(&self) -> DateTime<Utc> {
        self.started
    }

    /// The application clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The ODR database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The lease this slice holds.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// Raised when the heartbeat finds the lease lost: the slice must make no further
    /// external call (check it before each one, also inside concurrent sends).
    pub fn lease_lost(&self) -> StopSignal {
        self.lost.clone()
    }

    /// Whether the slice stops after the operation now running (budget spent, shutdown, lease
    /// lost): an operation that prepares work for the next one can hand it back instead.
    pub fn ends_after_this_operation(&self) -> bool {
        let (started, budget) = self.budget;
        started.elapsed() >= budget || self.shutdown.is_raised() || self.lost.is_raised()
    }

    /// `Err(LeaseLost)` once the heartbeat has found the lease lost.
    pub fn check_lease(&self) -> Result<(), JobError> {
        if self.lost.is_raised() {
            Err(JobError::LeaseLost)
        } else {
            Ok(())
        }
    }

    /// Commits `effect` and the cursor change in one transaction, first checking the fencing
    /// token (and extending the lease). A slice that lost its lease gets [`JobError::LeaseLost`]
    /// and `effect` never runs.
    pub async fn commit<T, F>(&mut self, cursor: CursorChange, effect: F) -> Result<T, JobError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, JobError> + Send + 'static,
        T: Send + 'static,
    {
        let new_state = match &cursor {
            CursorChange::Keep => None,
            CursorChange::Set(c) => Some(JobState {
                resume_cursor: Some(c.clone()),
                pass_started_at: self
                    .state
                    .pass_started_at
                    .or_else(|| Some(stored(self.clock.now()).naive())),
            }),
            CursorChange::PassComplete => Some(JobState {
                resume_cursor: None,
                pass_started_at: None,
            }),
        };
        let out = commit_fenced(&self.db, &self.lease, new_state.clone(), effect).await?;
        if let Some(s) = new_state {
            self.state = s;
        }
        Ok(out)
    }

    /// Runs a read (or an unfenced write that is safe to repeat) outside the fenced transaction.
    pub async fn read<T, F>(&self, f: F) -> Result<T, JobError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, JobError> + Send + 'static,
        T: Send + 'static,
    {
        self.db.run(f).await
    }
}

/// The fenced commit: token check first, then the effect, then the resume point.
pub async fn commit_fenced<T, F>(db: &Db, lease: &Lease, state: Option<JobState>, effect: F) -> Result<T, JobError>
where
    F: FnOnce(&mut DbConn) -> Result<T, JobError> + Send + 'static,
    T: Send + 'static,
{
    let (job, token, length) = (lease.job, lease.token, lease.length);
    let committed = db
        .run(move |conn| {
            use diesel::Connection;
            conn.transaction::<T, JobError, _>(|conn| {
                if !dialect::extend_lease(conn, job, token, length)? {
                    return Err(JobError::LeaseLost);
                }
                let out = effect(conn)?;
                if let Some(s) = &state {
                    job_state::save(conn, job, s)?;
                }
                Ok(out)
            })
        })
        .await;
    match committed {
        // Galera: the commit lost certification to another node's write; nothing was written
        // and the slice stops as for a lost lease (SPEC §5).
        Err(JobError::Db(e)) if e.is_conflict() => {
            log::warn!("{job}: a commit lost to another node's write ({e}); the slice stops");
            Err(JobError::LeaseLost)
        }
        other => other,
    }
}
