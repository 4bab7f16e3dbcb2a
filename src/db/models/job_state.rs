//! `JobState`: the resume point of each job.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::job_state::dsl as s;
use crate::db::{DbConn, StoredInstant};

/// A job's resume point as stored.
#[derive(Debug, Clone, Default, Queryable, Selectable)]
#[diesel(table_name = crate::db::schema::job_state)]
pub struct JobState {
    /// Opaque cursor; `None` = start of a new pass.
    pub resume_cursor: Option<String>,
    /// When the current pass began.
    pub pass_started_at: Option<NaiveDateTime>,
}

/// Reads the resume point of `job` (missing row = fresh start).
pub fn load(conn: &mut DbConn, job: &str) -> QueryResult<JobState> {
    s::job_state
        .filter(s::job_name.eq(job))
        .select(JobState::as_select())
        .first(conn)
        .optional()
        .map(Option::unwrap_or_default)
}

/// Stores the resume point of `job`.
pub fn save(conn: &mut DbConn, job: &str, state: &JobState) -> QueryResult<()> {
    diesel::update(s::job_state.filter(s::job_name.eq(job)))
        .set((
            s::resume_cursor.eq(&state.resume_cursor),
            s::pass_started_at.eq(state.pass_started_at.map(StoredInstant::from_naive)),
        ))
        .execute(conn)
        .map(|_| ())
}
