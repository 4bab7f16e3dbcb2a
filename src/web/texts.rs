//! Every Danish line of the alarm pages, byte for byte as operators and monitoring match them
//! (SPEC §8). Lines marked "our reading" are ours where the guide is silent.

use chrono::NaiveDate;

use crate::db::models::notification::shown_status;

/// PersonInformation failed more often than tolerated within its window.
pub const PERSON_INFORMATION_LINE: &str =
    "Person Information servicen har fejlet flere gange end tilladt i en given periode.";
/// Digital Post failed more often than tolerated within its window.
pub const DIGITAL_POST_LINE: &str =
    "Digital Post Adapter servicen har fejlet flere gange end tilladt i en given periode.";

/// A date as the pages write it: `YYYY-MM-DD`.
pub fn ymd(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// `Der er ingen forbindelse til databasen med JNDI navnet <jndi>`.
pub fn database_line(jndi: &str) -> String {
    format!("Der er ingen forbindelse til databasen med JNDI navnet {jndi}")
}

/// `Baggrundsjobbet StackedOperationsService fejlede sidst det blev kørt. Problemet var: <reason>.`
pub fn failed_alarm_line(reason: &str) -> String {
    format!(
        "Baggrundsjobbet StackedOperationsService fejlede sidst det blev kørt. Problemet var: {}.",
        reason.trim_end().trim_end_matches('.')
    )
}

/// `Der er ikke færdigbehandlet en dato den: <date>. Den er ældre end <period> dage gammel.`
pub fn lag_line(first_unfinished: NaiveDate, period_days: u32) -> String {
    format!(
        "Der er ikke færdigbehandlet en dato den: {}. Den er ældre end {period_days} dage gammel.",
        ymd(first_unfinished)
    )
}

/// `Der ligger <count> notifikationer fra den <date> med status <status>.`
pub fn date_status_line(count: i64, date: NaiveDate, status: &str) -> String {
    format!(
        "Der ligger {count} notifikationer fra den {} med status {}.",
        ymd(date),
        shown_status(status)
    )
}

/// `Der ligger totalt <count> notifikationer med status Error.`
pub fn error_total_line(count: i64) -> String {
    format!("Der ligger totalt {count} notifikationer med status Error.")
}

/// Our reading: `Der ligger <count> notifikationer med ukendt status <value>.`
pub fn unknown_letter_status_line(count: i64, status: &str) -> String {
    format!(
        "Der ligger {count} notifikationer med ukendt status {}.",
        shown_status(status)
    )
}

/// Our reading: `Der ligger <count> notifikationsdatoer med ukendt status <value>.`
pub fn unknown_date_status_line(count: i64, status: &str) -> String {
    format!(
        "Der ligger {count} notifikationsdatoer med ukendt status {}.",
        shown_status(status)
    )
}

/// `Baggrundsjobbet <job> har ikke kørt siden <YYYY-MM-DD HH:MM> (grænse <max age>).` (issue 18;
/// a job that never ran: `... siden installationen <time> ...`), the time in operations.timezone.
pub fn stale_line(job: &str, ever_ran: bool, since: chrono::DateTime<chrono_tz::Tz>, max_age: &str) -> String {
    let since = since.format("%Y-%m-%d %H:%M");
    if ever_ran {
        format!("Baggrundsjobbet {job} har ikke kørt siden {since} (grænse {max_age}).")
    } else {
        format!("Baggrundsjobbet {job} har ikke kørt siden installationen {since} (grænse {max_age}).")
    }
}
