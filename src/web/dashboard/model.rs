//! What the dashboard shows, read once per request: the alarm pages' indicators (reused, not
//! re-queried), the last runs of `?detailed`, and one database call for what no other page reads
//! (the lease rows, the resume points as a share of their keyset range, the notification dates
//! from the newest Completed one, the Error letters). Nothing here holds a CPR number: the resume
//! point and the range bounds are turned into a share inside the database call.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

use super::super::alarm;
use super::super::detail::{self, lines_of, Indicator};
use super::super::notification_alarm;
use super::super::state::{AppState, BuildInfo};
use crate::cpr::mask_digit_runs;
use crate::db::models::notification::{self, shown_status, DateRow};
use crate::db::models::{job_lock, job_state, registration, LetterStatus};
use crate::db::{dialect, DbConn, DbError};
use crate::jobs::{DECEASED, EMIGRATED, NOTIFICATION};

/// The three jobs, in page order.
pub const JOBS: [&str; 3] = [DECEASED, EMIGRATED, NOTIFICATION];
/// Notification dates listed at most (from the newest Completed one on).
pub const DATES_SHOWN: i64 = 31;
/// Error letters listed at most (the total is always shown).
pub const ERRORS_SHOWN: i64 = 50;
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

/// The notification tables.
#[derive(Debug, Clone)]
pub struct Letters {
    /// Newest Completed date.
    pub newest_completed: Option<NaiveDate>,
    /// `digitalpost.notification.odr.startdate`.
    pub start_date: Option<NaiveDate>,
    /// Today in `operations.timezone`.
    pub today: NaiveDate,
    /// Days from N (newest Completed, at least startdate - 1) to today.
    pub lag_days: Option<i64>,
    /// `alarm.date.period` in days.
    pub period_days: u32,
    /// The dates from the newest Completed one on, oldest first.
    pub dates: Vec<DateLine>,
    /// Dates after the last listed one up to today that have no row yet: (first, last).
    pub not_extracted: Option<(NaiveDate, NaiveDate)>,
    /// Error letters in all.
    pub errors_total: i64,
    /// The first Error letters: (`NotificationPersonPID`, masked `ErrorMessage`).
    pub error_rows: Vec<(i64, String)>,
}

/// One notification date and its letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateLine {
    /// `LatestDate`.
    pub date: NaiveDate,
    /// `Status` of the date, fit for the page.
    pub status: String,
    /// Letters per known status, in [`LetterStatus::ALL`] order.
    pub counts: [i64; 5],
    /// Letters with a status an operator invented.
    pub unknown: i64,
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
    passes: Vec<(&'static str, Option<f64>, Option<NaiveDateTime>)>,
    newest_completed: Option<NaiveDate>,
    dates: Vec<DateRow>,
    completed: Vec<(i64, i64)>,
    errors: Vec<(i64, Option<String>)>,
}

/// Reads the page's data. The database is checked first, so a database that is down costs one
/// `SELECT 1` with its timeout rather than one pool timeout per query.
pub async fn read(state: &AppState) -> Dashboard {
    let database = alarm::database_indicator(state).await;
    let mut page = Dashboard {
        now: state.clock().now(),
        node: state.node.clone(),
        build: state.build.clone(),
        deployed: state.deployed,
        alarms: database.lines.clone(),
        database: database_of(&database, &state.settings().database.jndi_name),
        jobs: Vec::new(),
        letters: None,
        services: Vec::new(),
    };
    if database.state != "OK" {
        return page;
    }
    let start_date = state.settings().notification.start_date;
    let (slettejob, notification, runs, tables) = futures_util::join!(
        alarm::slettejob_indicators(state),
        notification_alarm::indicators(state),
        detail::recent_runs(state, &JOBS),
        state.db().odr.run(move |conn| read_tables(conn, start_date)),
    );
    let mut indicators = slettejob;
    for i in notification {
        if !indicators.iter().any(|k| k.name == i.name) {
            indicators.push(i);
        }
    }
    page.alarms = lines_of(&indicators);
    let tables = tables
        .map_err(|e: DbError| log::error!("dashboard: reading the job tables failed: {e}"))
        .ok();
    let period_days = state.settings().notification.alarm_period_days;
    let letters = tables
        .as_ref()
        .map(|t| letters_of(t, &indicators, start_date, state.clock().today(), period_days));
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
    let db_now = dialect::db_now(conn)?;
    let locks = job_lock::all(conn)?;
    let registrations = registration::cpr_bounds(conn)?;
    let letters = notification::letter_cpr_bounds(conn)?;
    // The deceased cleanup walks the CPRs of both tables; the emigrated one those with an active
    // registration, approximated by all registrations (an exact bound would scan closed rows).
    let both = (
        min_of(registrations.0.clone(), letters.0),
        registrations.1.clone().max(letters.1),
    );
    let mut passes = Vec::new();
    for (job, bounds) in [(DECEASED, both), (EMIGRATED, registrations)] {
        let resume = job_state::load(conn, job)?;
        let share = resume
            .resume_cursor
            .as_deref()
            .and_then(|cursor| share(cursor, bounds.0.as_deref(), bounds.1.as_deref()));
        passes.push((job, share, resume.pass_started_at));
    }
    let newest_completed = notification::newest_completed_date(conn)?;
    let from = newest_completed.or(start_date);
    let dates = notification::dates_from(conn, from, DATES_SHOWN)?;
    let ids: Vec<i64> = dates.iter().map(|d| d.id).collect();
    let completed = notification::completed_counts(conn, &ids)?;
    let errors = notification::error_letters(conn, ERRORS_SHOWN)?;
    Ok(Tables {
        db_now,
        locks,
        passes,
        newest_completed,
        dates,
        completed,
        errors,
    })
}

fn min_of(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A stored CPR value as a number for interpolation, in CPR order. The digits are read as
/// day (01-31), month (01-12), year and serial in a mixed radix, so the gaps of the plain number
/// (no day 32-99, no month 13-99) do not count: births fall evenly over the calendar, so the
/// share of the range is close to the share of citizens walked. A short value counts as padded
/// with zeros; a day or month out of range sorts before or after every valid one, as in CPR order.
fn position(value: &str) -> Option<f64> {
    const SERIALS: u64 = 1_000_000;
    let digits: Vec<u32> = value.chars().take(10).map_while(|c| c.to_digit(10)).collect();
    if digits.is_empty() {
        return None;
    }
    let d = |i: usize| digits.get(i).copied().unwrap_or(0);
    let (day, month) = (d(0) * 10 + d(1), d(2) * 10 + d(3));
    let rest = (4..10).fold(0u64, |n, i| n * 10 + u64::from(d(i)));
    let (day, month, rest) = match (day, month) {
        (0, _) => (0, 0, 0),
        (32.., _) => (31, 0, 0),
        (_, 0) => (day - 1, 0, 0),
        (_, 13..) => (day - 1, 11, SERIALS - 1),
        _ => (day - 1, month - 1, rest),
    };
    Some(((u64::from(day) * 12 + u64::from(month)) * SERIALS + rest) as f64)
}

/// Where `cursor` stands between `low` and `high`, as a share in 0.0 ..= 1.0.
pub fn share(cursor: &str, low: Option<&str>, high: Option<&str>) -> Option<f64> {
    let (c, lo, hi) = (position(cursor)?, position(low?)?, position(high?)?);
    if hi <= lo {
        return Some(if c >= hi { 1.0 } else { 0.0 });
    }
    Some(((c - lo) / (hi - lo)).clamp(0.0, 1.0))
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

fn database_of(indicator: &Indicator, jndi_name: &str) -> Database {
    let mut datasources = Vec::new();
    if let Some(map) = indicator.figures["datasources"].as_object() {
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

/// The open letters per (date, status) as the status indicator's figures list them.
fn open_letters(indicators: &[Indicator]) -> Vec<(String, String, i64)> {
    let Some(status) = indicators
        .iter()
        .find(|i| i.name == "StatusNotificationHealthIndicator")
    else {
        return Vec::new();
    };
    let Some(list) = status.figures["openLettersByDate"].as_array() else {
        return Vec::new();
    };
    list.iter()
        .map(|e| {
            (
                e["date"].as_str().unwrap_or_default().to_string(),
                e["status"].as_str().unwrap_or_default().to_string(),
                e["count"].as_i64().unwrap_or_default(),
            )
        })
        .collect()
}

fn letters_of(
    t: &Tables,
    indicators: &[Indicator],
    start_date: Option<NaiveDate>,
    today: NaiveDate,
    period_days: u32,
) -> Letters {
    let open = open_letters(indicators);
    let dates: Vec<DateLine> = t
        .dates
        .iter()
        .map(|row| {
            let day = row.latest_date.format("%Y-%m-%d").to_string();
            let mut counts = [0i64; 5];
            let mut unknown = 0;
            for (_, status, n) in open.iter().filter(|(d, _, _)| *d == day) {
                match LetterStatus::parse(status) {
                    Some(s) => counts[s as usize] += n,
                    None => unknown += n,
                }
            }
            counts[LetterStatus::Completed as usize] =
                t.completed.iter().find(|(id, _)| *id == row.id).map_or(0, |(_, n)| *n);
            DateLine {
                date: row.latest_date,
                status: shown_status(&row.status),
                counts,
                unknown,
            }
        })
        .collect();
    // Dates the job has not reached: none of them has a row yet (extraction creates them in order).
    let next = dates
        .last()
        .and_then(|d| d.date.succ_opt())
        .or(start_date)
        .filter(|_| (dates.len() as i64) < DATES_SHOWN);
    let not_extracted = next.filter(|n| *n <= today && start_date.is_some()).map(|n| (n, today));
    let n = match (t.newest_completed, start_date.and_then(|s| s.pred_opt())) {
        (Some(c), Some(b)) => Some(c.max(b)),
        (c, b) => c.or(b),
    };
    let errors_total = indicators
        .iter()
        .find(|i| i.name == "ErrorNotificationHealthIndicator")
        .and_then(|i| i.figures["errorLetters"].as_i64())
        .unwrap_or(t.errors.len() as i64);
    Letters {
        newest_completed: t.newest_completed,
        start_date,
        today,
        lag_days: n.map(|n| (today - n).num_days()),
        period_days,
        dates,
        not_extracted,
        errors_total,
        error_rows: t
            .errors
            .iter()
            .map(|(id, m)| (*id, m.as_deref().map(mask_digit_runs).unwrap_or_default()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_follows_cpr_order_and_stays_in_bounds() {
        let (lo, hi) = (Some("0101000000"), Some("3112999999"));
        assert_eq!(share("0101000000", lo, hi), Some(0.0));
        assert_eq!(share("3112999999", lo, hi), Some(1.0));
        // Mid-month, mid-year of the calendar: about half of the citizens.
        let mid = share("1607000000", lo, hi).unwrap();
        assert!((0.49..0.51).contains(&mid), "{mid}");
        // The end of 1 January is not 1/30 of the way, but 1/372 (31 days x 12 months).
        let first_day = share("0101999999", lo, hi).unwrap();
        assert!((0.002..0.003).contains(&first_day), "{first_day}");
        assert_eq!(share("0000000001", lo, hi), Some(0.0));
        assert_eq!(share("0101000000", lo, lo), Some(1.0));
        assert_eq!(share("abc", lo, hi), None);
        assert_eq!(share("0101000000", None, hi), None);
        assert!(share("31", lo, hi).unwrap() > 0.96, "a short value counts as padded");
        let mut last = 0.0;
        for cpr in ["0101001234", "0102001234", "0201001234", "1512851234", "3012991234"] {
            let s = share(cpr, lo, hi).unwrap();
            assert!(s > last, "{cpr}: in CPR order");
            last = s;
        }
    }
}
