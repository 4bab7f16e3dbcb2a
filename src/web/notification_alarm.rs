//! The notification alarm page (SPEC §8): database, last failed slice, date lag, per-date
//! status counts, Error rows, unknown statuses, PersonInformation and Digital Post tolerances.
//!
//! The Danish lines are in [`super::texts`].

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDate;

use serde_json::json;

use super::alarm;
use super::detail::{lines_of, Indicator};
use super::state::AppState;
use super::texts::{
    date_status_line, error_total_line, lag_line, unknown_date_status_line, unknown_letter_status_line, ymd,
};
use crate::db::models::notification::{self, shown_status};
use crate::db::models::{DateStatus, LetterStatus, Service};
use crate::db::DbError;
use crate::jobs::NOTIFICATION;

/// The first date not finished in time, if the job lags: N = the newest Completed date (never
/// before startdate - 1); when today - N exceeds the period, N + 1 is reported.
pub fn lagging_date(
    start: Option<NaiveDate>,
    newest_completed: Option<NaiveDate>,
    today: NaiveDate,
    period_days: u32,
) -> Option<NaiveDate> {
    let n = finished_up_to(start, newest_completed)?;
    if (today - n).num_days() > i64::from(period_days) {
        n.succ_opt()
    } else {
        None
    }
}

/// N of the lag rule: the newest Completed date, never before startdate - 1 (our reading:
/// dates before startdate are not the job's); `None` without a start date.
pub fn finished_up_to(start: Option<NaiveDate>, newest_completed: Option<NaiveDate>) -> Option<NaiveDate> {
    let before_start = start?.pred_opt()?;
    Some(newest_completed.map_or(before_start, |c| c.max(before_start)))
}

/// The facts the page is built from, read in one database call.
struct Facts {
    newest_completed: Option<NaiveDate>,
    open_by_date: Vec<(NaiveDate, String, i64)>,
    /// Letters per status other than Completed.
    letters_by_status: Vec<(String, i64)>,
    dates_by_status: Vec<(String, i64)>,
}

async fn facts(state: &AppState) -> Result<Facts, DbError> {
    state
        .db()
        .odr
        .run(|conn| {
            let open_by_date = notification::open_counts_by_date(conn)?;
            // Every status but Completed, summed from the per-date counts: the page never has to
            // count the Completed letters (the bulk of the table).
            let mut letters_by_status: Vec<(String, i64)> = Vec::new();
            for (_, status, n) in &open_by_date {
                match letters_by_status.iter_mut().find(|(s, _)| s == status) {
                    Some((_, total)) => *total += n,
                    None => letters_by_status.push((status.clone(), *n)),
                }
            }
            Ok(Facts {
                newest_completed: notification::newest_completed_date(conn)?,
                open_by_date,
                letters_by_status,
                dates_by_status: notification::date_count_by_status(conn)?,
            })
        })
        .await
}

/// NewestNotificationHealthIndicator: the lag line when the newest completed date is too old.
fn lag_indicator(f: &Facts, start: Option<NaiveDate>, today: NaiveDate, period_days: u32) -> (Indicator, bool) {
    let lagging = lagging_date(start, f.newest_completed, today, period_days);
    let figures = json!({
        "newestCompletedDate": f.newest_completed.map(ymd),
        "startDate": start.map(ymd),
        "today": ymd(today),
        "periodDays": period_days,
    });
    let lines = lagging.map(|first| lag_line(first, period_days)).into_iter().collect();
    (
        Indicator::new("NewestNotificationHealthIndicator", lines, figures),
        lagging.is_some(),
    )
}

/// StatusNotificationHealthIndicator: letters per (date, status) other than Completed, reported while the job lags.
fn status_indicator(f: &Facts, lagging: bool) -> Indicator {
    let mut open = f.open_by_date.clone();
    // Known statuses in their life-cycle order, then unknown ones.
    let rank = |s: &str| LetterStatus::parse(s).map_or(usize::MAX, |k| k as usize);
    open.sort_by(|a, b| (a.0, rank(&a.1), &a.1).cmp(&(b.0, rank(&b.1), &b.1)));
    let open: Vec<&(NaiveDate, String, i64)> = open.iter().filter(|(_, _, n)| *n > 0).collect();
    let lines = if lagging {
        open.iter()
            .map(|(date, status, count)| date_status_line(*count, *date, status))
            .collect()
    } else {
        Vec::new()
    };
    let figures = json!({
        "openLettersByDate": open.iter().map(|(d, s, n)| json!({ "date": ymd(*d), "status": shown_status(s), "count": n })).collect::<Vec<_>>(),
        "openLettersByStatus": f.letters_by_status.iter().map(|(s, n)| json!({ "status": shown_status(s), "count": n })).collect::<Vec<_>>(),
    });
    Indicator::new("StatusNotificationHealthIndicator", lines, figures)
}

/// ErrorNotificationHealthIndicator: Error rows, and rows whose status an operator invented.
fn error_indicator(f: &Facts) -> Indicator {
    let errors: i64 = f
        .letters_by_status
        .iter()
        .filter(|(s, _)| s == LetterStatus::Error.as_str())
        .map(|(_, n)| n)
        .sum();
    let mut lines = Vec::new();
    if errors > 0 {
        lines.push(error_total_line(errors));
    }
    for (status, count) in &f.letters_by_status {
        if LetterStatus::parse(status).is_none() && *count > 0 {
            lines.push(unknown_letter_status_line(*count, status));
        }
    }
    for (status, count) in &f.dates_by_status {
        if DateStatus::parse(status).is_none() && *count > 0 {
            lines.push(unknown_date_status_line(*count, status));
        }
    }
    Indicator::new(
        "ErrorNotificationHealthIndicator",
        lines,
        json!({ "errorLetters": errors }),
    )
}

fn table_indicators(f: &Facts, start: Option<NaiveDate>, today: NaiveDate, period_days: u32) -> Vec<Indicator> {
    let (lag, lagging) = lag_indicator(f, start, today, period_days);
    vec![lag, status_indicator(f, lagging), error_indicator(f)]
}

/// Every indicator of the notification alarm page, in page order.
pub async fn indicators(state: &AppState) -> Vec<Indicator> {
    let database = alarm::database_indicator(state).await;
    if database.state != "OK" {
        return vec![database];
    }
    let mut all = vec![
        database,
        alarm::last_run_indicator(state, NOTIFICATION).await,
        super::stale::indicator(state, NOTIFICATION).await,
    ];
    let n = &state.settings().notification;
    match facts(state).await {
        Ok(f) => all.extend(table_indicators(
            &f,
            n.start_date,
            state.clock().today(),
            n.alarm_period_days,
        )),
        Err(e) => all.push(alarm::unreadable(
            state,
            "NotificationTables",
            "reading the notification tables",
            &e,
        )),
    }
    all.push(alarm::tolerance_indicator(state, Service::PersonInformation).await);
    all.push(alarm::tolerance_indicator(state, Service::DigitalPost).await);
    all
}

/// The notification alarm lines.
pub async fn lines(state: &AppState) -> Vec<String> {
    lines_of(&indicators(state).await)
}

/// `GET /odr-operations/odr-send-digitalpost-notifikation/alarm`.
pub async fn notification(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let all = indicators(&state).await;
    alarm::page(&req, &state, all, &[NOTIFICATION]).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn exact_texts() {
        assert_eq!(
            lag_line(ymd("2026-11-20"), 3),
            "Der er ikke færdigbehandlet en dato den: 2026-11-20. Den er ældre end 3 dage gammel."
        );
        assert_eq!(
            date_status_line(4, ymd("2026-11-20"), "Pending"),
            "Der ligger 4 notifikationer fra den 2026-11-20 med status Pending."
        );
        assert_eq!(
            error_total_line(2),
            "Der ligger totalt 2 notifikationer med status Error."
        );
        assert_eq!(
            unknown_letter_status_line(1, "Sendt"),
            "Der ligger 1 notifikationer med ukendt status Sendt."
        );
    }

    #[test]
    fn lag_starts_one_day_after_the_period() {
        let start = Some(ymd("2026-11-01"));
        // Nothing completed: N = 2026-10-31.
        assert_eq!(lagging_date(start, None, ymd("2026-11-03"), 3), None);
        assert_eq!(lagging_date(start, None, ymd("2026-11-04"), 3), Some(ymd("2026-11-01")));
        // N = newest completed.
        let done = Some(ymd("2026-11-10"));
        assert_eq!(lagging_date(start, done, ymd("2026-11-13"), 3), None);
        assert_eq!(lagging_date(start, done, ymd("2026-11-14"), 3), Some(ymd("2026-11-11")));
        // No startdate: no lag alarm; completed dates before startdate do not count.
        assert_eq!(lagging_date(None, done, ymd("2027-01-01"), 3), None);
        assert_eq!(lagging_date(Some(ymd("2026-12-01")), done, ymd("2026-12-02"), 3), None);
    }
}
