//! Alarm pages (SPEC §8): 200 with an empty body, or 500 with one Danish line per alarm.
//! The indicators shared by both pages live here; the notification-only ones in
//! [`super::notification_alarm`].

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::detail::{self, lines_of, Indicator};
use super::state::AppState;
use crate::db::models::{error_event, job_run, Outcome, Service};
use crate::db::{DbConn, DbError};
use crate::jobs::{DECEASED, EMIGRATED};

use super::texts::{database_line, failed_alarm_line, DIGITAL_POST_LINE, PERSON_INFORMATION_LINE};

/// The "last run failed" alarm line of `job`, if its latest non-Skipped run failed.
pub fn last_run_alarm(conn: &mut DbConn, job: &str) -> Result<Option<String>, DbError> {
    let run = job_run::latest_non_skipped(conn, job)?;
    Ok(run.filter(|r| r.outcome == Outcome::Failed.as_str()).map(|r| {
        let reason = r.error_message.unwrap_or_else(|| "ukendt fejl".to_string());
        failed_alarm_line(&reason)
    }))
}

/// Failures of `service` within its window (counted across nodes), its tolerance and window.
pub async fn error_count(state: &AppState, service: Service) -> Result<(i64, i64, std::time::Duration), DbError> {
    let s = match service {
        Service::PersonInformation => &state.settings().person_information,
        Service::DigitalPost => &state.settings().digital_post,
    };
    let window = chrono::Duration::from_std(s.errorcount_duration).unwrap_or_else(|_| chrono::Duration::days(1));
    let since = state.clock().now() - window;
    let tolerance = i64::try_from(s.error_tolerance).unwrap_or(i64::MAX);
    let count = state
        .db()
        .odr
        .run(move |conn| Ok::<_, DbError>(error_event::count_since(conn, service, since)?))
        .await?;
    Ok((count, tolerance, s.errorcount_duration))
}

/// The tolerance indicator of `service`: its line when it failed more often than tolerated.
pub async fn tolerance_indicator(state: &AppState, service: Service) -> Indicator {
    let (name, line) = match service {
        Service::PersonInformation => ("PersonInformationHealthIndicator", PERSON_INFORMATION_LINE),
        Service::DigitalPost => ("DigitalPostHealthIndicator", DIGITAL_POST_LINE),
    };
    match error_count(state, service).await {
        Ok((count, tolerance, window)) => Indicator::new(
            name,
            if count > tolerance {
                vec![line.to_string()]
            } else {
                Vec::new()
            },
            json!({ "errorsInWindow": count, "tolerance": tolerance, "windowSeconds": window.as_secs_f64() }),
        ),
        Err(e) => unreadable(state, name, "counting ErrorEvent", &e),
    }
}

/// An indicator whose figures could not be read: the database line (the page says what it can).
pub fn unreadable(state: &AppState, name: impl Into<String>, what: &str, e: &DbError) -> Indicator {
    log::error!("alarm: {what} failed: {e}");
    Indicator::new(
        name,
        vec![database_line(&state.settings().database.jndi_name)],
        Value::Null,
    )
}

/// The database indicator: `SELECT 1` on every datasource.
pub async fn database_indicator(state: &AppState) -> Indicator {
    let odr = state.db().odr.ping().await;
    let stamdata = match &state.db().stamdata {
        Some(db) => Some(db.ping().await),
        None => None,
    };
    let shown = |r: &Result<(), DbError>| if r.is_ok() { "OK" } else { "Unavailable" };
    let mut datasources = serde_json::Map::new();
    datasources.insert(
        "odr".into(),
        json!({ "backend": state.db().odr.backend().name(), "state": shown(&odr) }),
    );
    if let (Some(r), Some(db)) = (&stamdata, &state.db().stamdata) {
        datasources.insert(
            "stamdata".into(),
            json!({ "backend": db.backend().name(), "state": shown(r) }),
        );
    }
    let failed: Vec<&DbError> = std::iter::once(&odr)
        .chain(stamdata.iter())
        .filter_map(|r| r.as_ref().err())
        .collect();
    for e in &failed {
        log::error!("alarm: database check failed: {e}");
    }
    let jndi = &state.settings().database.jndi_name;
    let lines = if failed.is_empty() {
        Vec::new()
    } else {
        vec![database_line(jndi)]
    };
    Indicator::new(
        "DBHealthIndicator",
        lines,
        json!({ "jndiName": jndi, "datasources": datasources }),
    )
}

/// The "last run failed" indicator of `job`.
pub async fn last_run_indicator(state: &AppState, job: &'static str) -> Indicator {
    let name = format!("StackedOperationsService ({job})");
    let read = state
        .db()
        .odr
        .run(move |conn| {
            let run = job_run::latest_non_skipped(conn, job)?;
            let line = last_run_alarm(conn, job)?;
            Ok::<_, DbError>((run, line))
        })
        .await;
    match read {
        Ok((run, line)) => Indicator::new(
            name,
            line.into_iter().collect(),
            json!({ "lastRun": run.map(|r| json!({
                "endedAt": crate::clock::rfc3339_millis(r.ended_at.and_utc()),
                "node": r.node,
                "outcome": r.outcome,
                "processed": r.processed,
                "error": r.error_message,
            })) }),
        ),
        Err(e) => unreadable(state, name, "reading JobRun", &e),
    }
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

/// An alarm page: text lines, or with `?detailed` the indicators as JSON (same status code).
pub async fn page(
    req: &HttpRequest,
    state: &AppState,
    indicators: Vec<Indicator>,
    jobs: &'static [&'static str],
) -> HttpResponse {
    let lines = lines_of(&indicators);
    if !detail::requested(req) {
        return answer(&lines);
    }
    let status = if lines.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    detail::respond(
        status,
        req.path(),
        &indicators,
        detail::recent_runs(state, jobs).await,
        state.clock().now(),
    )
}

/// Citizens dead (status 90) whom PersonInformation gave no status date: kept, never removed;
/// figures only (no alarm line), summed over the deceased cleanup's passes.
pub async fn undated_dead_indicator(state: &AppState) -> Indicator {
    let name = "DeceasedWithoutStatusDate";
    let read = state
        .db()
        .odr
        .run(|conn| Ok::<_, DbError>(job_run::pass_sums(conn, DECEASED, "deadWithoutStatusDate")?))
        .await;
    match read {
        Ok((current, last)) => Indicator::new(
            name,
            Vec::new(),
            json!({ "currentPass": current, "lastCompletePass": last }),
        ),
        Err(e) => unreadable(state, name, "reading JobRun", &e),
    }
}

/// The slettejob indicators: database, last slice of either cleanup job, PersonInformation tolerance.
pub async fn slettejob_indicators(state: &AppState) -> Vec<Indicator> {
    let database = database_indicator(state).await;
    if database.state != "OK" {
        return vec![database];
    }
    vec![
        database,
        last_run_indicator(state, DECEASED).await,
        last_run_indicator(state, EMIGRATED).await,
        super::stale::indicator(state, DECEASED).await,
        super::stale::indicator(state, EMIGRATED).await,
        tolerance_indicator(state, Service::PersonInformation).await,
        undated_dead_indicator(state).await,
    ]
}

/// `GET /odr-operations/odr-slettejob/alarm`.
pub async fn slettejob(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let indicators = slettejob_indicators(&state).await;
    page(&req, &state, indicators, &[DECEASED, EMIGRATED]).await
}
