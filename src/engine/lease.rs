//! The cluster lease on a `JobLock` row: acquired on the database clock, fenced by a token.

use std::time::Duration;

use crate::db::models::job_lock;
use crate::db::{dialect, Db, DbError};

/// Extra lease time beyond the slice budget (SPEC §5: budget + 60 s).
pub const LEASE_MARGIN: Duration = Duration::from_secs(60);

/// A lease held by this process: the job, and the fencing token of this acquisition.
#[derive(Debug, Clone)]
pub struct Lease {
    /// Job name (`JobLock.JobName`).
    pub job: &'static str,
    /// Fencing token; every commit of the slice is guarded by it.
    pub token: i64,
    /// Lease length from each extension.
    pub length: Duration,
}

impl Lease {
    /// Tries to take the lease of `job` for `length`; `None` when another node holds it.
    pub async fn acquire(db: &Db, job: &'static str, owner: &str, length: Duration) -> Result<Option<Lease>, DbError> {
        let owner = owner.to_string();
        let acquired: Result<Option<i64>, DbError> = db
            .run(move |conn| {
                let token = dialect::acquire_lease(conn, job, &owner, length)?;
                // Held by another node: read only. A Skipped call writes nothing to JobLock or
                // JobState, so under a cron storm it takes no row lock that a slice's commit
                // (or, on Galera, another node's applier) would have to wait for.
                if token.is_some() || job_lock::exists(conn, job)? {
                    return Ok(token);
                }
                // A job the migrations did not seed (e.g. a test job): create its rows, try once more.
                dialect::ensure_job_rows(conn, job)?;
                Ok(dialect::acquire_lease(conn, job, &owner, length)?)
            })
            .await;
        match acquired {
            Ok(token) => Ok(token.map(|token| Lease { job, token, length })),
            // Galera: two nodes took the lease at once and the other one's commit won
            // certification; for us that is "another node holds it" (SPEC §5).
            Err(e) if e.is_conflict() => {
                log::info!("{job}: another node took the lease at the same moment ({e})");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Extends the lease; `false` when another acquisition has taken it.
    pub async fn heartbeat(&self, db: &Db) -> Result<bool, DbError> {
        let (job, token, length) = (self.job, self.token, self.length);
        db.run(move |conn| Ok(dialect::extend_lease(conn, job, token, length)?))
            .await
    }

    /// Frees the lease if still ours.
    pub async fn release(&self, db: &Db) -> Result<bool, DbError> {
        let (job, token) = (self.job, self.token);
        db.run(move |conn| Ok(dialect::release_lease(conn, job, token)?)).await
    }
}
