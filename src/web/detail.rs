//! `?detailed` on any status or alarm page: JSON with every indicator, its state, its figures,
//! and the last runs of the page's jobs (SPEC §8, "Beyond the guide").

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::state::AppState;
use crate::clock::rfc3339_millis;
use crate::db::models::job_run::{self, JobRun};
use crate::db::DbError;

/// Runs shown per job.
pub const RUNS_SHOWN: i64 = 10;

/// One health indicator: its alarm lines (none when OK) and the figures behind them.
#[derive(Debug, Clone, Serialize)]
pub struct Indicator {
    /// Indicator name, as in the operator guide (e.g. `DBHealthIndicator`).
    pub name: String,
    /// `OK` or `ALARM`.
    pub state: &'static str,
    /// The Danish alarm lines this indicator contributes.
    pub lines: Vec<String>,
    /// The figures it was computed from.
    pub figures: Value,
}

impl Indicator {
    /// An indicator whose state follows from its lines.
    pub fn new(name: impl Into<String>, lines: Vec<String>, figures: Value) -> Indicator {
        let state = if lines.is_empty() { "OK" } else { "ALARM" };
        Indicator {
            name: name.into(),
            state,
            lines,
            figures,
        }
    }
}

/// Every line of `indicators` in order, each once.
pub fn lines_of(indicators: &[Indicator]) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for line in indicators.iter().flat_map(|i| &i.lines) {
        if !lines.contains(line) {
            lines.push(line.clone());
        }
    }
    lines
}

/// Whether the caller asked for `?detailed`.
pub fn requested(req: &HttpRequest) -> bool {
    req.query_string()
        .split('&')
        .any(|p| p == "detailed" || p.starts_with("detailed="))
}

fn run_json(r: &JobRun) -> Value {
    json!({
        "startedAt": rfc3339_millis(r.started_at.and_utc()),
        "endedAt": rfc3339_millis(r.ended_at.and_utc()),
        "node": r.node,
        "outcome": r.outcome,
        "processed": r.processed,
        "error": r.error_message,
        "figures": r.figures.as_deref().and_then(|f| serde_json::from_str::<Value>(f).ok()),
    })
}

/// The last runs of `jobs`, newest first, by job name (`null` when the database fails).
pub async fn recent_runs(state: &AppState, jobs: &'static [&'static str]) -> Value {
    let runs = state
        .db()
        .odr
        .run(move |conn| {
            let mut map = Map::new();
            for job in jobs {
                let runs = job_run::latest(conn, job, RUNS_SHOWN)?;
                map.insert((*job).to_string(), Value::Array(runs.iter().map(run_json).collect()));
            }
            Ok::<_, DbError>(Value::Object(map))
        })
        .await;
    runs.unwrap_or(Value::Null)
}

/// The JSON answer of a page asked with `?detailed`; same HTTP status as the plain page.
pub fn respond(
    status: StatusCode,
    page: &str,
    indicators: &[Indicator],
    runs: Value,
    now: chrono::DateTime<chrono::Utc>,
) -> HttpResponse {
    let body = json!({
        "page": page,
        "status": status.as_u16(),
        "state": if indicators.iter().all(|i| i.state == "OK") { "OK" } else { "ALARM" },
        "displayTime": rfc3339_millis(now),
        "indicators": indicators,
        "lastRuns": runs,
    });
    HttpResponse::build(status).json(body)
}
