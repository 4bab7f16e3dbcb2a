//! The notification panel: the dates from the newest Completed one to today with their letters
//! per status, the lag, and the Error letters to repair. The open letters per date come from the
//! alarm page's indicator figures; this reads only what they lack, cheaply: the dates (a range of
//! the unique `LatestDate` index), the Completed letters of those dates (ranges of the
//! `(Status, NotificationDatePID)` index, never all Completed letters) and the first Error rows.

use chrono::NaiveDate;

use super::super::detail::Indicator;
use crate::cpr::mask_digit_runs;
use crate::db::models::notification::{self, shown_status, DateRow};
use crate::db::models::LetterStatus;
use crate::db::{DbConn, DbError};

/// Notification dates listed at most (from the newest Completed one on).
pub const DATES_SHOWN: i64 = 31;
/// Error letters listed at most (the total is always shown).
pub const ERRORS_SHOWN: i64 = 50;

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

/// What the panel reads from the notification tables.
pub struct Rows {
    newest_completed: Option<NaiveDate>,
    dates: Vec<DateRow>,
    completed: Vec<(i64, i64)>,
    errors: Vec<(i64, Option<String>)>,
}

impl Rows {
    /// Reads the dates from the newest Completed one (else from `start_date`) and their letters.
    pub fn read(conn: &mut DbConn, start_date: Option<NaiveDate>) -> Result<Rows, DbError> {
        let newest_completed = notification::newest_completed_date(conn)?;
        let dates = notification::dates_from(conn, newest_completed.or(start_date), DATES_SHOWN)?;
        let ids: Vec<i64> = dates.iter().map(|d| d.id).collect();
        Ok(Rows {
            newest_completed,
            completed: notification::completed_counts(conn, &ids)?,
            dates,
            errors: notification::error_letters(conn, ERRORS_SHOWN)?,
        })
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

/// The notification panel from the rows and the notification indicators' figures.
pub fn of(
    t: &Rows,
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
