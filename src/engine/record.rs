//! The `JobRun` row of each slice.

use chrono::{DateTime, Utc};

use super::EngineCtx;
use crate::db::models::job_run::{self, NewJobRun};
use crate::db::models::Outcome;
use crate::db::DbError;

/// What a `JobRun` row says of a slice besides its job and times.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// How it ended.
    pub outcome: Outcome,
    /// Units processed.
    pub processed: i64,
    /// The failure reason.
    pub error: Option<String>,
    /// Its figures (a JSON object; empty: none).
    pub figures: serde_json::Map<String, serde_json::Value>,
}

impl Recorded {
    /// A run that did nothing (Skipped, or Failed before it started).
    pub fn nothing(outcome: Outcome, error: Option<String>) -> Recorded {
        Recorded {
            outcome,
            processed: 0,
            error,
            figures: serde_json::Map::new(),
        }
    }
}

/// Writes the `JobRun` row of a slice; a failure is logged (the slice's answer stands).
pub async fn record(
    ctx: &EngineCtx,
    job: &'static str,
    (started_at, ended_at): (DateTime<Utc>, DateTime<Utc>),
    run: Recorded,
) {
    let node = ctx.node.clone();
    let res = ctx
        .db
        .run(move |conn| {
            let figures = (!run.figures.is_empty()).then(|| serde_json::Value::Object(run.figures).to_string());
            let row = NewJobRun {
                job_name: job,
                node: &node,
                started_at,
                ended_at,
                outcome: run.outcome,
                processed: run.processed,
                error_message: run.error.as_deref(),
                figures,
            };
            // Two nodes may record runs of the same job at once: insert retries a Galera conflict.
            Ok::<_, DbError>(job_run::insert(conn, &row)?)
        })
        .await;
    if let Err(e) = res {
        log::error!("{job}: the run could not be recorded in JobRun: {e}");
    }
}
