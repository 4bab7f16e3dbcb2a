//! Alarm pages (SPEC §8): 200 with an empty body, or 500 with one Danish line per alarm.
//! The indicators shared by both pages live here; the notification-only ones in
//! [`super::notification_alarm`].

use actix_web::{web, HttpResponse};

use crate::app::AppState;
use crate::db::models::{error_event, Service};
use crate::db::DbError;
use crate::engine;
use crate::jobs::{DECEASED, EMIGRATED};

/// Person Information tolerance exceeded.
pub const PERSON_INFORMATION_LINE: &str =
    "Person Information servicen har fejlet flere gange end tilladt i en given periode.";
/// Digital Post tolerance exceeded.
pub const DIGITAL_POST_LINE: &str =
    "Digital Post Adapter servicen har fejlet flere gange end tilladt i en given periode.";

/// `Der er ingen forbindelse til databasen med JNDI navnet <jndi>`.
pub fn database_line(jndi: &str) -> String {
    format!("Der er ingen forbindelse til databasen med JNDI navnet {jndi}")
}

/// Whether `service` failed more often than tolerated within its window (counted across nodes).
pub async fn tolerance_exceeded(state: &AppState, service: Service) -> Result<bool, DbError> {
    let s = match service {
        Service::PersonInformation => &state.settings.person_information,
        Service::DigitalPost => &state.settings.digital_post,
    };
    let window = chrono::Duration::from_std(s.errorcount_duration).unwrap_or_else(|_| chrono::Duration::days(1));
    let since = state.clock.now() - window;
    let tolerance = i64::try_from(s.error_tolerance).unwrap_or(i64::MAX);
    let count = state
        .db
        .odr
        .run(move |conn| Ok::<_, DbError>(error_event::count_since(conn, service, since)?))
        .await?;
    Ok(count > tolerance)
}

/// The "last run failed" lines of `jobs`, without repeating an identical line.
pub async fn last_run_lines(state: &AppState, jobs: &'static [&'static str]) -> Result<Vec<String>, DbError> {
    state
        .db
        .odr
        .run(move |conn| {
            let mut lines: Vec<String> = Vec::new();
            for job in jobs {
                if let Some(line) = engine::last_run_alarm(conn, job)? {
                    if !lines.contains(&line) {
                        lines.push(line);
                    }
                }
            }
            Ok(lines)
        })
        .await
}

/// 200 empty when there is nothing to report, else 500 with the lines.
pub fn answer(lines: &[String]) -> HttpResponse {
    if lines.is_empty() {
        HttpResponse::Ok().content_type(super::TEXT).finish()
    } else {
        HttpResponse::InternalServerError()
            .content_type(super::TEXT)
            .body(format!("{}\n", lines.join("\n")))
    }
}

/// The slettejob alarm lines: database, last failed slice of either cleanup job, PersonInformation tolerance.
pub async fn slettejob_lines(state: &AppState) -> Vec<String> {
    if let Err(e) = state.db.ping_all().await {
        log::error!("alarm: database check failed: {e}");
        return vec![database_line(&state.settings.database.jndi_name)];
    }
    let mut lines = Vec::new();
    match last_run_lines(state, &[DECEASED, EMIGRATED]).await {
        Ok(l) => lines.extend(l),
        Err(e) => {
            log::error!("alarm: reading JobRun failed: {e}");
            lines.push(database_line(&state.settings.database.jndi_name));
        }
    }
    match tolerance_exceeded(state, Service::PersonInformation).await {
        Ok(true) => lines.push(PERSON_INFORMATION_LINE.to_string()),
        Ok(false) => {}
        Err(e) => log::error!("alarm: counting ErrorEvent failed: {e}"),
    }
    lines
}

/// `GET /odr-operations/odr-slettejob/alarm`.
pub async fn slettejob(state: web::Data<AppState>) -> HttpResponse {
    answer(&slettejob_lines(&state).await)
}
