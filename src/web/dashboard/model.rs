//! What the dashboard shows, read once per request: the alarm pages' indicators (reused, not
//! re-queried: their lines, their figures), the last runs of `?detailed`, and one database call
//! for what no other page reads (the lease rows on the database clock, where each cleanup pass
//! stands, the notification dates from the newest Completed one, the Error letters). Nothing here
//! holds a CPR number: the resume point and the range bounds become a share inside that call.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

use super::super::alarm;
use super::super::detail::{self, lines_of, Indicator};
use super::super::notification_alarm;
use super::super::state::{AppState, BuildInfo};
use super::letters::{self, Letters};
use super::pass;
use crate::cpr::mask_digit_runs;
use crate::db::models::notification::shown_status;
use crate::db::models::{job_lock, LetterStatus};
use crate::db::{dialect, DbConn, DbError};
use crate::jobs::{DECEASED, EMIGRATED, NOTIFICATION};

/// The three jobs, in page order.
pub const JOBS: [&str; 3] = [DECEASED, EMIGRATED, NOTIFICATION];
/// The database indicator, first on both alarm pages.
const DATABASE: &str = "DBHealthIndicator";
/// Indicators of the notification tables: their lines belong to the notification job.
const NOTIFICATION_TABLES: [&str; 4] = [
    "NewestNotificationHealthIndicator",
    "StatusNotificationHealthIndicator",
    "ErrorNotificationHealthIndicator",
    "NotificationTables",
];

/// Everything on the page.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// When the page was read (application clock).
    pub now: DateTime<Utc>,
    /// This node's id.
    pub node: String,
    /// Build facts.
    pub build: BuildInfo,
    /// When this process started serving.
    pub deployed: DateTime<Utc>,
    /// Every line of both alarm pages, each once (what monitoring sees).
    pub alarms: Vec<String>,
    /// The datasources.
    pub database: Database,
    /// The three jobs (empty when the database is unavailable).
    pub jobs: Vec<JobPanel>,
    /// The notification tables (`None` when unreadable).
    pub letters: Option<Letters>,
    /// PersonInformation and Digital Post (empty when the database is unavailable).
    pub services: Vec<ServicePanel>,
}

/// The datasources and their state.
#[derive(Debug, Clone)]
pub struct Database {
    /// `datasource.odr.jndi-name`.
    pub jndi_name: String,
    /// (name, backend, OK?) per datasource.
    pub datasources: Vec<(String, String, bool)>,
}

/// One job.
#[derive(Debug, Clone)]
pub struct JobPanel {
    /// Job name.
    pub name: &'static str,
    /// The lease now (`None`: unreadable).
    pub lease: Option<Lease>,
    /// Where the current pass stands.
    pub progress: Progress,
    /// The job's alarm lines.
    pub alarms: Vec<String>,
    /// The last runs, newest first (`None`: unreadable).
    pub runs: Option<Vec<Run>>,
}

/// A job's lease, judged on the database clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The node holding it, while it is held.
    pub holder: Option<String>,
    /// The node of an expired, unreleased lease (a node that died mid-slice).
    pub expired_owner: Option<String>,
    /// `LockedUntil` (UTC).
    pub until: Option<DateTime<Utc>>,
    /// Seconds from the database's now until `LockedUntil`.
    pub seconds_left: Option<i64>,
    /// `HeartbeatAt` (UTC).
    pub heartbeat: Option<DateTime<Utc>>,
    /// The fencing token.
    pub token: i64,
}

/// Progress of a job's current pass.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// A cleanup pass: the resume point's share of the walked CPR range (`None`: not begun).
    Pass {
        /// 0.0 ..= 1.0, or `None` at the start of a pass.
        share: Option<f64>,
        /// `JobState.PassStartedAt` (UTC).
        started: Option<DateTime<Utc>>,
    },
    /// The notification date the job works on: (date, letters Sent or Completed, all letters).
    Date(NaiveDate, i64, i64),
    /// Every notification date up to today is Completed.
    UpToDate,
    /// The notification job has no start date, or one in the future: it sends nothing.
    NotStarted,
    /// Not known (tables unreadable, or the job has no start date).
    Unknown,
}

/// One slice as `JobRun` holds it.
#[derive(Debug, Clone)]
pub struct Run {
    /// `StartedAt`.
    pub started: Option<DateTime<Utc>>,
    /// `EndedAt`.
    pub ended: Option<DateTime<Utc>>,
    /// `Node`.
    pub node: String,
    /// `Outcome` as stored.
    pub outcome: String,
    /// `Processed`.
    pub processed: i64,
    /// `ErrorMessage`, CPR-like digit runs masked.
    pub error: Option<String>,
}

/// An external service and its error tolerance.
#[derive(Debug, Clone)]
pub struct ServicePanel {
    /// Service name as in `ErrorEvent.Service`.
    pub name: &'static str,
    /// Errors within the window (`None`: unreadable).
    pub errors: Option<i64>,
    /// The tolerance.
    pub tolerance: Option<i64>,
    /// The window in seconds.
    pub window_seconds: Option<f64>,
    /// Its alarm lines.
    pub alarms: Vec<String>,
}

/// What only the dashboard reads, in one database call.
struct Tables {
    db_now: NaiveDateTime,
    locks: Vec<job_lock::LockRow>,
    /// (job, share, pass started) of the two cleanups.
    passes: pass::Shares,
    letters: letters::Rows,
}

/// Reads the page's data: the two alarm pages' indicators and, beside them, the last runs and
/// the dashboard's own tables, gated by a `SELECT 1` (without the database those reads would each
/// wait for the pool's timeout). The three branches run concurrently, so the page costs about as
/// much as its slowest branch, the notification indicators.
pub async fn read(state: &AppState) -> Dashboard {
    let start_date = state.settings().notification.start_date;
    let own = async {
        if state.db().odr.ping().await.is_err() {
            return None;
        }
        Some(futures_util::join!(
            detail::recent_runs(state, &JOBS),
            state.db().odr.run(move |conn| read_tables(conn, start_date)),
        ))
    };
    let (slettejob, notification, own) = futures_util::join!(
        alarm::slettejob_indicators(state),
        notification_alarm::indicators(state),
        own,
    );
    let mut indicators = slettejob;
    for i in notification {
        if !indicators.iter().any(|k| k.name == i.name) {
            indicators.push(i);
        }
    }
    let jndi_name = &state.settings().database.jndi_name;
    let mut page = Dashboard {
        now: state.clock().now(),
        node: state.node.clone(),
        build: state.build.clone(),
        deployed: state.deployed,
        alarms: lines_of(&indicators),
        database: database_of(indicators.iter().find(|i| i.name == DATABASE), jndi_name),
        jobs: Vec::new(),
        letters: None,
        services: Vec::new(),
    };
    // Shown even when only the stamdata datasource is down: the jobs' tables are in the ODR one.
    let Some((runs, tables)) = own else {
        return page;
    };
    let tables = tables
        .map_err(|e: DbError| log::error!("dashboard: reading the job tables failed: {e}"))
        .ok();
    let period_days = state.settings().notification.alarm_period_days;
    let letters = tables
        .as_ref()
        .map(|t| letters::of(&t.letters, &indicators, start_date, state.clock().today(), period_days));
    page.jobs = JOBS
        .iter()
        .map(|job| JobPanel {
            name: job,
            lease: tables.as_ref().and_then(|t| lease_of(t, job)),
            progress: progress_of(tables.as_ref(), letters.as_ref(), job),
            alarms: job_alarms(&indicators, job),
            runs: runs_of(&runs, job),
        })
        .collect();
    page.services = [
        ("PersonInformation", "PersonInformationHealthIndicator"),
        ("DigitalPost", "DigitalPostHealthIndicator"),
    ]
    .iter()
    .map(|(name, indicator)| service_of(name, indicators.iter().find(|i| i.name == *indicator)))
    .collect();
    page.letters = letters;
    page
}

fn read_tables(conn: &mut DbConn, start_date: Option<NaiveDate>) -> Result<Tables, DbError> {
    Ok(Tables {
        db_now: dialect::db_now(conn)?,
        locks: job_lock::all(conn)?,
        passes: pass::shares(conn)?,
        letters: letters::Rows::read(conn, start_date)?,
    })
}

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

fn lease_of(t: &Tables, job: &str) -> Option<Lease> {
    let row = t.locks.iter().find(|l| l.job_name == job)?;
    let held = row.held_at(t.db_now);
    Some(Lease {
        holder: row.owner.clone().filter(|_| held),
        expired_owner: row.owner.clone().filter(|_| !held),
        until: row.locked_until.map(utc),
        seconds_left: row.locked_until.map(|u| (u - t.db_now).num_seconds()),
        heartbeat: row.heartbeat_at.map(utc),
        token: row.token,
    })
}

fn progress_of(t: Option<&Tables>, letters: Option<&Letters>, job: &str) -> Progress {
    if job == NOTIFICATION {
        let Some(letters) = letters else {
            return Progress::Unknown;
        };
        let Some(start) = letters.start_date.filter(|s| *s <= letters.today) else {
            return Progress::NotStarted;
        };
        let open = letters
            .dates
            .iter()
            .find(|d| d.status != "Completed" && d.date >= start);
        return match (open, letters.not_extracted) {
            (Some(d), _) => {
                let done = d.counts[LetterStatus::Sent as usize] + d.counts[LetterStatus::Completed as usize];
                Progress::Date(d.date, done, d.counts.iter().sum::<i64>() + d.unknown)
            }
            (None, Some((first, _))) => Progress::Date(first, 0, 0),
            (None, None) => Progress::UpToDate,
        };
    }
    match t.and_then(|t| t.passes.iter().find(|(j, _, _)| *j == job)) {
        Some((_, share, started)) => Progress::Pass {
            share: *share,
            started: started.map(utc),
        },
        None => Progress::Unknown,
    }
}

/// The lines of the indicators that belong to `job`: those named after it, and for the
/// notification job those of the notification tables.
fn job_alarms(indicators: &[Indicator], job: &str) -> Vec<String> {
    let own: Vec<Indicator> = indicators
        .iter()
        .filter(|i| i.name.contains(job) || (job == NOTIFICATION && NOTIFICATION_TABLES.contains(&i.name.as_str())))
        .cloned()
        .collect();
    lines_of(&own)
}

fn instant(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn runs_of(runs: &Value, job: &str) -> Option<Vec<Run>> {
    let list = runs.get(job)?.as_array()?;
    Some(
        list.iter()
            .map(|r| Run {
                started: instant(&r["startedAt"]),
                ended: instant(&r["endedAt"]),
                node: r["node"].as_str().unwrap_or_default().to_string(),
                outcome: shown_status(r["outcome"].as_str().unwrap_or_default()),
                processed: r["processed"].as_i64().unwrap_or_default(),
                error: r["error"].as_str().map(mask_digit_runs),
            })
            .collect(),
    )
}

fn database_of(indicator: Option<&Indicator>, jndi_name: &str) -> Database {
    let mut datasources = Vec::new();
    if let Some(map) = indicator.and_then(|i| i.figures["datasources"].as_object()) {
        for (name, ds) in map {
            datasources.push((
                name.clone(),
                ds["backend"].as_str().unwrap_or_default().to_string(),
                ds["state"] == "OK",
            ));
        }
    }
    Database {
        jndi_name: jndi_name.to_string(),
        datasources,
    }
}

fn service_of(name: &'static str, indicator: Option<&Indicator>) -> ServicePanel {
    let figure = |k: &str| indicator.map(|i| &i.figures[k]);
    ServicePanel {
        name,
        errors: figure("errorsInWindow").and_then(Value::as_i64),
        tolerance: figure("tolerance").and_then(Value::as_i64),
        window_seconds: figure("windowSeconds").and_then(Value::as_f64),
        alarms: indicator.map(|i| i.lines.clone()).unwrap_or_default(),
    }
}
