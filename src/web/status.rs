//! The two status pages of SPEC §8: database reachability plus build facts, or notification counts.

use actix_web::{web, HttpResponse};
use serde_json::{Map, Value};

use crate::app::AppState;
use crate::clock::rfc3339_millis;
use crate::db::models::{notification, LetterStatus};
use crate::db::DbError;

/// `GET /odr-operations/odr-slettejob/status`: text, 200 or 500.
pub async fn slettejob(state: web::Data<AppState>) -> HttpResponse {
    let ok = match state.db.ping_all().await {
        Ok(()) => true,
        Err(e) => {
            log::error!("status: database check failed: {e}");
            false
        }
    };
    let b = &state.build;
    let body = format!(
        "Database : {}\n\nTitle: {}\nDeployed: {}\nBuild-Date: {}\nBuild-Version: {}\nBuilder: {}\nDisplay time: {}\n",
        if ok { "OK" } else { "Unavailable" },
        b.title,
        rfc3339_millis(state.deployed),
        b.build_date,
        b.version,
        b.builder,
        rfc3339_millis(state.clock.now()),
    );
    let mut res = if ok {
        HttpResponse::Ok()
    } else {
        HttpResponse::InternalServerError()
    };
    res.content_type(super::TEXT).body(body)
}

/// Figures of the notification status page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationFigures {
    /// Newest Completed `LatestDate`, as text, or `Ingen`.
    pub newest_completed: String,
    /// Row count per known letter status, in [`LetterStatus::ALL`] order.
    pub counts: Vec<(LetterStatus, i64)>,
}

/// Reads the notification figures from the database.
pub async fn notification_figures(state: &AppState) -> Result<NotificationFigures, DbError> {
    state.db.ping_all().await?;
    state
        .db
        .odr
        .run(|conn| {
            let newest = notification::newest_completed_date(conn)?;
            let by_status = notification::count_by_status(conn)?;
            let counts = LetterStatus::ALL
                .iter()
                .map(|s| {
                    (
                        *s,
                        by_status.iter().find(|(k, _)| k == s.as_str()).map_or(0, |(_, n)| *n),
                    )
                })
                .collect();
            Ok(NotificationFigures {
                newest_completed: newest.map_or_else(|| "Ingen".to_string(), |d| d.format("%Y-%m-%d").to_string()),
                counts,
            })
        })
        .await
}

/// `GET /odr-operations/odr-send-digitalpost-notifikation/status`: JSON with a fixed key order.
pub async fn notification(state: web::Data<AppState>) -> HttpResponse {
    let mut map = Map::new();
    match notification_figures(&state).await {
        Ok(f) => {
            map.insert("Database".into(), Value::from("OK"));
            map.insert("Nyeste færdigbehandlede dato".into(), Value::from(f.newest_completed));
            for (status, n) in f.counts {
                map.insert(
                    format!("Antal i NotificationPerson med status {status}"),
                    Value::from(n.to_string()),
                );
            }
            HttpResponse::Ok().json(Value::Object(map))
        }
        Err(e) => {
            log::error!("notification status: database check failed: {e}");
            map.insert("Database".into(), Value::from("Unavailable"));
            HttpResponse::InternalServerError().json(Value::Object(map))
        }
    }
}

/// `GET /odr-operations/metrics`: Prometheus text; letter counts refreshed from the database.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    if let (Some(m), Ok(counts)) = (
        crate::metrics::get(),
        state
            .db
            .odr
            .run(|conn| Ok::<_, DbError>(notification::count_by_status(conn)?))
            .await,
    ) {
        for status in LetterStatus::ALL {
            let n = counts.iter().find(|(k, _)| k == status.as_str()).map_or(0, |(_, n)| *n);
            m.letters.with_label_values(&[status.as_str()]).set(n);
        }
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::metrics::render())
}
