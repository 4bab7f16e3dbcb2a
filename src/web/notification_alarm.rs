//! The notification alarm page (SPEC §8): database, last failed slice, date lag, per-date
//! status counts, Error rows, unknown statuses, PersonInformation and Digital Post tolerances.
//!
//! Every Danish text of this page is built here from the consts below.

use actix_web::{web, HttpResponse};
use chrono::NaiveDate;

use super::alarm;
use crate::app::AppState;
use crate::db::models::notification::{self, shown_status};
use crate::db::models::{DateStatus, LetterStatus, Service};
use crate::db::DbError;
use crate::jobs::NOTIFICATION;

/// Lag: `Der er ikke færdigbehandlet en dato den: <N+1>. Den er ældre end <period> dage gammel.`
const LAG_LINE: (&str, &str, &str) = (
    "Der er ikke færdigbehandlet en dato den: ",
    ". Den er ældre end ",
    " dage gammel.",
);
/// Per date and status: `Der ligger <count> notifikationer fra den <date> med status <status>.`
const DATE_STATUS_LINE: (&str, &str, &str, &str) = ("Der ligger ", " notifikationer fra den ", " med status ", ".");
/// Error rows: `Der ligger totalt <count> notifikationer med status Error.`
const ERROR_TOTAL_LINE: (&str, &str) = ("Der ligger totalt ", " notifikationer med status Error.");
/// Unknown letter status (our reading): `Der ligger <n> notifikationer med ukendt status <value>.`
const UNKNOWN_LETTER_STATUS_LINE: (&str, &str, &str) = ("Der ligger ", " notifikationer med ukendt status ", ".");
/// Unknown date status (our reading): `Der ligger <n> notifikationsdatoer med ukendt status <value>.`
const UNKNOWN_DATE_STATUS_LINE: (&str, &str, &str) = ("Der ligger ", " notifikationsdatoer med ukendt status ", ".");

fn ymd(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// `Der er ikke færdigbehandlet en dato den: <date>. Den er ældre end <period> dage gammel.`
pub fn lag_line(first_unfinished: NaiveDate, period_days: u32) -> String {
    let (a, b, c) = LAG_LINE;
    format!("{a}{}{b}{period_days}{c}", ymd(first_unfinished))
}

/// `Der ligger <count> notifikationer fra den <date> med status <status>.`
pub fn date_status_line(count: i64, date: NaiveDate, status: &str) -> String {
    let (a, b, c, d) = DATE_STATUS_LINE;
    format!("{a}{count}{b}{}{c}{}{d}", ymd(date), shown_status(status))
}

/// `Der ligger totalt <count> notifikationer med status Error.`
pub fn error_total_line(count: i64) -> String {
    let (a, b) = ERROR_TOTAL_LINE;
    format!("{a}{count}{b}")
}

/// `Der ligger <count> notifikationer med ukendt status <value>.`
pub fn unknown_letter_status_line(count: i64, status: &str) -> String {
    let (a, b, c) = UNKNOWN_LETTER_STATUS_LINE;
    format!("{a}{count}{b}{}{c}", shown_status(status))
}

/// `Der ligger <count> notifikationsdatoer med ukendt status <value>.`
pub fn unknown_date_status_line(count: i64, status: &str) -> String {
    let (a, b, c) = UNKNOWN_DATE_STATUS_LINE;
    format!("{a}{count}{b}{}{c}", shown_status(status))
}

/// The first date not finished in time, if the job lags: N = the newest Completed date (never
/// before startdate - 1); when today - N exceeds the period, N + 1 is reported.
pub fn lagging_date(
    start: Option<NaiveDate>,
    newest_completed: Option<NaiveDate>,
    today: NaiveDate,
    period_days: u32,
) -> Option<NaiveDate> {
    let start = start?;
    let before_start = start.pred_opt()?;
    // Our reading: dates before startdate are not the job's, so N is at least startdate - 1.
    let n = newest_completed.map_or(before_start, |c| c.max(before_start));
    if (today - n).num_days() > i64::from(period_days) {
        n.succ_opt()
    } else {
        None
    }
}

/// The facts the page is built from, read in one database call.
struct Facts {
    newest_completed: Option<NaiveDate>,
    open_by_date: Vec<(NaiveDate, String, i64)>,
    letters_by_status: Vec<(String, i64)>,
    dates_by_status: Vec<(String, i64)>,
}

async fn facts(state: &AppState) -> Result<Facts, DbError> {
    state
        .db
        .odr
        .run(|conn| {
            Ok(Facts {
                newest_completed: notification::newest_completed_date(conn)?,
                open_by_date: notification::open_counts_by_date(conn)?,
                letters_by_status: notification::count_by_status(conn)?,
                dates_by_status: notification::date_count_by_status(conn)?,
            })
        })
        .await
}

/// The lines that come from the notification tables, in page order.
fn table_lines(f: &Facts, start: Option<NaiveDate>, today: NaiveDate, period_days: u32) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(first) = lagging_date(start, f.newest_completed, today, period_days) {
        lines.push(lag_line(first, period_days));
        let mut open = f.open_by_date.clone();
        // Known statuses in their life-cycle order, then unknown ones.
        let rank = |s: &str| LetterStatus::parse(s).map_or(usize::MAX, |k| k as usize);
        open.sort_by(|a, b| (a.0, rank(&a.1), &a.1).cmp(&(b.0, rank(&b.1), &b.1)));
        for (date, status, count) in open.iter().filter(|(_, _, n)| *n > 0) {
            lines.push(date_status_line(*count, *date, status));
        }
    }
    let errors: i64 = f
        .letters_by_status
        .iter()
        .filter(|(s, _)| s == LetterStatus::Error.as_str())
        .map(|(_, n)| n)
        .sum();
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
    lines
}

/// The notification alarm lines.
pub async fn lines(state: &AppState) -> Vec<String> {
    let database = alarm::database_line(&state.settings.database.jndi_name);
    if let Err(e) = state.db.ping_all().await {
        log::error!("alarm: database check failed: {e}");
        return vec![database];
    }
    let mut lines = Vec::new();
    let push = |lines: &mut Vec<String>, line: String| {
        if !lines.contains(&line) {
            lines.push(line);
        }
    };
    match alarm::last_run_lines(state, &[NOTIFICATION]).await {
        Ok(l) => l.into_iter().for_each(|line| push(&mut lines, line)),
        Err(e) => {
            log::error!("alarm: reading JobRun failed: {e}");
            push(&mut lines, database.clone());
        }
    }
    let n = &state.settings.notification;
    match facts(state).await {
        Ok(f) => {
            for line in table_lines(&f, n.start_date, state.clock.today(), n.alarm_period_days) {
                push(&mut lines, line);
            }
        }
        Err(e) => {
            log::error!("alarm: reading the notification tables failed: {e}");
            push(&mut lines, database.clone());
        }
    }
    for (service, line) in [
        (Service::PersonInformation, alarm::PERSON_INFORMATION_LINE),
        (Service::DigitalPost, alarm::DIGITAL_POST_LINE),
    ] {
        match alarm::tolerance_exceeded(state, service).await {
            Ok(true) => push(&mut lines, line.to_string()),
            Ok(false) => {}
            Err(e) => log::error!("alarm: counting ErrorEvent failed: {e}"),
        }
    }
    lines
}

/// `GET /odr-operations/odr-send-digitalpost-notifikation/alarm`.
pub async fn notification(state: web::Data<AppState>) -> HttpResponse {
    alarm::answer(&lines(&state).await)
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
