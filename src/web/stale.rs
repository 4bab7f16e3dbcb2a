//! The stale-job alarm (the sister guides' convention: a batch that has not run for longer than
//! expected turns the health check red): a job's last slice that did work (Finished or Paused)
//! older than its `...alarm.maxage` (default `P2D`; empty: off). A job that never ran counts from
//! the service's first start, so a fresh installation is not reported at once.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::alarm::unreadable;
use super::detail::Indicator;
use super::state::AppState;
use super::texts::stale_line;
use crate::clock::rfc3339_millis;
use crate::config::MaxAge;
use crate::db::models::{install, job_run};
use crate::db::DbError;
use crate::jobs::{DECEASED, EMIGRATED, NOTIFICATION};

/// How long ago a job last did work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Staleness {
    /// When its last working slice ended; `None` when it never did work.
    pub last_work: Option<DateTime<Utc>>,
    /// When the counting starts: the last work, or the service's first start.
    pub since: DateTime<Utc>,
    /// Seconds from `since` to now.
    pub seconds: i64,
}

/// The max age configured for `job` (None: off, or not one of the three jobs). The notification
/// job without a start date is disabled, so it is never stale (as it never lags).
pub fn max_age<'a>(state: &'a AppState, job: &str) -> Option<&'a MaxAge> {
    let s = state.settings();
    match job {
        DECEASED => s.deceased.max_age.as_ref(),
        EMIGRATED => s.emigrated.max_age.as_ref(),
        NOTIFICATION => s.notification.start_date.and(s.notification.max_age.as_ref()),
        _ => None,
    }
}

/// How long ago `job` last did work, on the application clock.
pub async fn staleness(state: &AppState, job: &'static str) -> Result<Staleness, DbError> {
    let now = state.clock().now();
    let (last_work, first_start) = state
        .db()
        .odr
        .run(move |conn| {
            let last = job_run::last_work(conn, job)?;
            let first = install::first_start(conn)?;
            Ok::<_, DbError>((last.map(|r| r.ended_at.and_utc()), first.map(|f| f.and_utc())))
        })
        .await?;
    let since = last_work.or(first_start).unwrap_or(now);
    Ok(Staleness {
        last_work,
        since,
        seconds: (now - since).num_seconds().max(0),
    })
}

/// `StaleJobIndicator (<job>)`: the line when the job's last work is older than its max age.
pub async fn indicator(state: &AppState, job: &'static str) -> Indicator {
    let name = format!("StaleJobIndicator ({job})");
    let limit = max_age(state, job);
    match staleness(state, job).await {
        Ok(s) => {
            let lines = match limit {
                Some(m) if s.seconds > i64::try_from(m.duration.as_secs()).unwrap_or(i64::MAX) => {
                    let shown = s.since.with_timezone(&state.clock().timezone());
                    vec![stale_line(job, s.last_work.is_some(), shown, &m.text)]
                }
                _ => Vec::new(),
            };
            Indicator::new(
                name,
                lines,
                json!({
                    "lastWorkEndedAt": s.last_work.map(rfc3339_millis),
                    "countingSince": rfc3339_millis(s.since),
                    "secondsSinceLastWork": s.seconds,
                    "maxAge": limit.map(|m| m.text.as_str()),
                    "maxAgeSeconds": limit.map(|m| m.duration.as_secs()),
                }),
            )
        }
        Err(e) => unreadable(state, name, "reading JobRun", &e),
    }
}
