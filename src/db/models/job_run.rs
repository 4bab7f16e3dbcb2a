//! `JobRun`: one row per slice, newest 1000 kept per job.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::{stored, Outcome};
use crate::db::schema::job_run::dsl as r;
use crate::db::{prune_shared, retry_conflicts, DbConn};

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
    /// `Figures`: the slice's figures as a JSON object (NULL for rows of older releases).
    pub figures: Option<String>,
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
    /// The slice's figures as a JSON object.
    pub figures: Option<String>,
}

/// Stores a run, then prunes the job's history to the newest [`KEEP_PER_JOB`] rows.
///
/// Two statements, not one transaction: on Galera every node that records a run of the job at
/// the same moment prunes the same oldest rows, and all but one lose certification. The row
/// alone is a new key no other node writes, so it commits (a conflict means it did not, and it is
/// tried again: never recorded twice); a prune that keeps losing leaves the rest to the next one.
pub fn insert(conn: &mut DbConn, run: &NewJobRun<'_>) -> QueryResult<()> {
    retry_conflicts(5, || insert_row(conn, run))?;
    prune_shared("JobRun", || conn.transaction(|conn| prune(conn, run.job_name)))?;
    Ok(())
}

fn insert_row(conn: &mut DbConn, run: &NewJobRun<'_>) -> QueryResult<usize> {
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
            r::figures.eq(run.figures.as_deref()),
        ))
        .execute(conn)
}

/// Keeps the newest [`KEEP_PER_JOB`] rows of `job`, and always the rows the alarms read (the
/// newest slice that ran, the newest that did work): a storm of Skipped rows must not erase them.
fn prune(conn: &mut DbConn, job: &str) -> QueryResult<usize> {
    // Two statements: MariaDB refuses a DELETE whose subquery reads the same table.
    let oldest_kept: Option<i64> = r::job_run
        .filter(r::job_name.eq(job))
        .order(r::id.desc())
        .select(r::id)
        .offset(KEEP_PER_JOB - 1)
        .first(conn)
        .optional()?;
    let Some(id) = oldest_kept else { return Ok(0) };
    let keep: Vec<i64> = [latest_non_skipped(conn, job)?, last_work(conn, job)?]
        .into_iter()
        .flatten()
        .map(|r| r.id)
        .collect();
    diesel::delete(
        r::job_run
            .filter(r::job_name.eq(job))
            .filter(r::id.lt(id))
            .filter(r::id.ne_all(keep)),
    )
    .execute(conn)
}

/// The newest slice of `job` that ran (not Skipped, not a preview): it drives "last run failed".
pub fn latest_non_skipped(conn: &mut DbConn, job: &str) -> QueryResult<Option<JobRun>> {
    r::job_run
        .filter(r::job_name.eq(job))
        .filter(r::outcome.ne_all([Outcome::Skipped.as_str(), Outcome::Preview.as_str()]))
        .order(r::id.desc())
        .select(JobRun::as_select())
        .first(conn)
        .optional()
}

/// The newest slice of `job` that did work (Finished or Paused): it drives the stale-job alarm.
pub fn last_work(conn: &mut DbConn, job: &str) -> QueryResult<Option<JobRun>> {
    r::job_run
        .filter(r::job_name.eq(job))
        .filter(r::outcome.eq_any([Outcome::Finished.as_str(), Outcome::Paused.as_str()]))
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

/// A figure of `job`'s slices summed over its passes: (the pass under way, the newest complete
/// pass if any). A pass ends with a Finished slice; Skipped and preview rows do not count.
pub fn pass_sums(conn: &mut DbConn, job: &str, figure: &str) -> QueryResult<(i64, Option<i64>)> {
    let runs: Vec<(String, Option<String>)> = r::job_run
        .filter(r::job_name.eq(job))
        .filter(r::outcome.ne_all([Outcome::Skipped.as_str(), Outcome::Preview.as_str()]))
        .order(r::id.desc())
        .select((r::outcome, r::figures))
        .limit(KEEP_PER_JOB)
        .load(conn)?;
    let value = |figures: &Option<String>| {
        figures
            .as_deref()
            .and_then(|f| serde_json::from_str::<serde_json::Value>(f).ok())
            .and_then(|v| v.get(figure).and_then(serde_json::Value::as_i64))
            .unwrap_or(0)
    };
    let mut runs = runs.iter().peekable();
    let mut current = 0;
    while let Some((_, figures)) = runs.next_if(|(o, _)| o != Outcome::Finished.as_str()) {
        current += value(figures);
    }
    let Some((_, end)) = runs.next() else {
        return Ok((current, None));
    };
    let mut last = value(end);
    while let Some((_, figures)) = runs.next_if(|(o, _)| o != Outcome::Finished.as_str()) {
        last += value(figures);
    }
    Ok((current, Some(last)))
}
