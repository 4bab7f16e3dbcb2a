//! `JobRun`: one row per slice, newest 1000 kept per job.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::{stored, Outcome};
use crate::db::schema::job_run::dsl as r;
use crate::db::DbConn;

/// Rows kept per job.
pub const KEEP_PER_JOB: i64 = 1000;

/// One slice as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = crate::db::schema::job_run)]
pub struct JobRun {
    /// `JobRunPID`.
    pub id: i64,
    /// `JobName`.
    pub job_name: String,
    /// `Node`.
    pub node: String,
    /// `StartedAt` (UTC).
    pub started_at: NaiveDateTime,
    /// `EndedAt` (UTC).
    pub ended_at: NaiveDateTime,
    /// `Outcome` as stored.
    pub outcome: String,
    /// `Processed`.
    pub processed: i64,
    /// `ErrorMessage`.
    pub error_message: Option<String>,
}

/// A finished slice to store.
#[derive(Debug, Clone)]
pub struct NewJobRun<'a> {
    /// Job name.
    pub job_name: &'a str,
    /// Node id.
    pub node: &'a str,
    /// Start (UTC).
    pub started_at: DateTime<Utc>,
    /// End (UTC).
    pub ended_at: DateTime<Utc>,
    /// Outcome.
    pub outcome: Outcome,
    /// Units processed.
    pub processed: i64,
    /// Failure reason.
    pub error_message: Option<&'a str>,
}

/// Stores a run and prunes the job's history to the newest [`KEEP_PER_JOB`] rows.
pub fn insert(conn: &mut DbConn, run: &NewJobRun<'_>) -> QueryResult<()> {
    let message = run.error_message.map(|m| m.chars().take(2000).collect::<String>());
    diesel::insert_into(r::job_run)
        .values((
            r::job_name.eq(run.job_name),
            r::node.eq(run.node),
            r::started_at.eq(stored(run.started_at)),
            r::ended_at.eq(stored(run.ended_at)),
            r::outcome.eq(run.outcome.as_str()),
            r::processed.eq(run.processed),
            r::error_message.eq(message),
        ))
        .execute(conn)?;
    prune(conn, run.job_name)
}

fn prune(conn: &mut DbConn, job: &str) -> QueryResult<()> {
    // Two statements: MariaDB refuses a DELETE whose subquery reads the same table.
    let oldest_kept: Option<i64> = r::job_run
        .filter(r::job_name.eq(job))
        .order(r::id.desc())
        .select(r::id)
        .offset(KEEP_PER_JOB - 1)
        .first(conn)
        .optional()?;
    if let Some(id) = oldest_kept {
        diesel::delete(r::job_run.filter(r::job_name.eq(job)).filter(r::id.lt(id))).execute(conn)?;
    }
    Ok(())
}

/// The newest run of `job` that actually ran (not Skipped).
pub fn latest_non_skipped(conn: &mut DbConn, job: &str) -> QueryResult<Option<JobRun>> {
    r::job_run
        .filter(r::job_name.eq(job))
        .filter(r::outcome.ne(Outcome::Skipped.as_str()))
        .order(r::id.desc())
        .select(JobRun::as_select())
        .first(conn)
        .optional()
}

/// The newest `n` runs of `job`, newest first.
pub fn latest(conn: &mut DbConn, job: &str, n: i64) -> QueryResult<Vec<JobRun>> {
    r::job_run
        .filter(r::job_name.eq(job))
        .order(r::id.desc())
        .select(JobRun::as_select())
        .limit(n)
        .load(conn)
}
