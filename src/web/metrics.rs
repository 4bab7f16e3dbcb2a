//! `GET /odr-operations/metrics`: the node's Prometheus text. The counters are this node's; the
//! gauges are read from the database at scrape time, so every node of a cluster reports the
//! cluster's letters, alarms and lag (what the alert rules in deploy/prometheus/ watch).

use actix_web::{web, HttpResponse};

use super::state::AppState;
use super::{alarm, notification_alarm, stale, status};
use crate::db::models::{job_run, notification, Outcome, Service};
use crate::db::DbError;
use crate::jobs::{DECEASED, EMIGRATED, NOTIFICATION};

/// Seconds per day: the lag is counted in whole days, exposed in the base unit.
const DAY: i64 = 86_400;

/// `GET /odr-operations/metrics`.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    refresh(&state).await;
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics().render())
}

/// Sets every gauge from the database; a gauge that cannot be read keeps its last value (the
/// database alarm tells why).
async fn refresh(state: &AppState) {
    // One quick look first: with the database down, every read below would wait for the pool's
    // timeout and the scrape would outlast Prometheus's (the node would look down instead).
    if let Err(e) = state.db().odr.ping().await {
        log::warn!("metrics: the database does not answer ({e}); the gauges keep their last values");
        return;
    }
    let m = state.metrics();
    if let Ok(counts) = status::letter_counts(state).await {
        for (status, n) in counts {
            m.letters.with_label_values(&[status.as_str()]).set(n);
        }
    }
    for job in [DECEASED, EMIGRATED, NOTIFICATION] {
        let failed = state
            .db()
            .odr
            .run(move |conn| Ok::<_, DbError>(job_run::latest_non_skipped(conn, job)?))
            .await;
        if let Ok(run) = failed {
            let failed = run.is_some_and(|r| r.outcome == Outcome::Failed.as_str());
            m.job_last_run_failed.with_label_values(&[job]).set(i64::from(failed));
        }
        if let Ok(s) = stale::staleness(state, job).await {
            m.job_seconds_since_last_work.with_label_values(&[job]).set(s.seconds);
        }
        match stale::max_age(state, job) {
            Some(limit) => {
                let secs = i64::try_from(limit.duration.as_secs()).unwrap_or(i64::MAX);
                m.job_stale_limit_seconds.with_label_values(&[job]).set(secs);
            }
            // Off: no series, so an alert rule comparing with it never fires.
            None => {
                let _ = m.job_stale_limit_seconds.remove_label_values(&[job]);
            }
        }
    }
    for service in [Service::PersonInformation, Service::DigitalPost] {
        if let Ok((count, tolerance, _)) = alarm::error_count(state, service).await {
            m.external_errors_in_window
                .with_label_values(&[service.as_str()])
                .set(count);
            m.external_error_tolerance
                .with_label_values(&[service.as_str()])
                .set(tolerance);
        }
    }
    let n = &state.settings().notification;
    let newest = state
        .db()
        .odr
        .run(|conn| Ok::<_, DbError>(notification::newest_completed_date(conn)?))
        .await;
    if let Ok(newest) = newest {
        if let Some(done) = notification_alarm::finished_up_to(n.start_date, newest) {
            m.notification_lag_seconds
                .set((state.clock().today() - done).num_days() * DAY);
            m.notification_lag_limit_seconds
                .set(i64::from(n.alarm_period_days) * DAY);
        }
    }
}
