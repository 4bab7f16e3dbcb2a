//! `JobLock`: the lease row of each job, read as it stands (the engine writes it through
//! `db::dialect`, on the database clock).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::job_lock::dsl as l;
use crate::db::DbConn;

/// A job's lease row as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = crate::db::schema::job_lock)]
pub struct LockRow {
    /// `JobName`.
    pub job_name: String,
    /// `Owner`: the node holding (or last holding) the lease; cleared on release.
    pub owner: Option<String>,
    /// `Token`: the fencing token.
    pub token: i64,
    /// `LockedUntil` (UTC, database clock); cleared on release.
    pub locked_until: Option<NaiveDateTime>,
    /// `HeartbeatAt` (UTC, database clock).
    pub heartbeat_at: Option<NaiveDateTime>,
}

impl LockRow {
    /// Whether the lease is held at `db_now` (an owner whose lease has not run out).
    pub fn held_at(&self, db_now: NaiveDateTime) -> bool {
        self.owner.is_some() && self.locked_until.is_some_and(|until| until > db_now)
    }
}

/// Every lease row (one per job: a handful), by job name.
pub fn all(conn: &mut DbConn) -> QueryResult<Vec<LockRow>> {
    l::job_lock.order(l::job_name).select(LockRow::as_select()).load(conn)
}

/// Whether `job` has its lease row (the migrations seed the three jobs; others get one on first use).
pub fn exists(conn: &mut DbConn, job: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(l::job_lock.filter(l::job_name.eq(job)))).get_result(conn)
}
