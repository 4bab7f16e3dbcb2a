//! The two status pages of SPEC §8: database reachability plus build facts, or notification counts.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::alarm;
use super::detail::{self, Indicator};
use crate::jobs::{DECEASED, EMIGRATED, NOTIFICATION};

use super::state::AppState;
use crate::clock::rfc3339_millis;
use crate::db::models::{notification, LetterStatus};
use crate::db::DbError;

/// `GET /odr-operations/odr-slettejob/status`: text, 200 or 500 (`?detailed`: JSON).
pub async fn slettejob(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let database = alarm::database_indicator(&state).await;
    let ok = database.state == "OK";
    let b = &state.build;
    if detail::requested(&req) {
        let build = Indicator::new(
            "Build",
            Vec::new(),
            json!({
                "title": b.title,
                "deployed": rfc3339_millis(state.deployed),
                "buildDate": b.build_date,
                "buildVersion": b.version,
                "builder": b.builder,
            }),
        );
        let status = if ok {
            StatusCode::OK
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        let runs = detail::recent_runs(&state, &[DECEASED, EMIGRATED]).await;
        return detail::respond(status, req.path(), &[database, build], runs, state.clock().now());
    }
    let body = format!(
        "Database : {}\n\nTitle: {}\nDeployed: {}\nBuild-Date: {}\nBuild-Version: {}\nBuilder: {}\nDisplay time: {}\n",
        if ok { "OK" } else { "Unavailable" },
        b.title,
        rfc3339_millis(state.deployed),
        b.build_date,
        b.version,
        b.builder,
        rfc3339_millis(state.clock().now()),
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

/// The count of Completed letters, kept per node: once there are [`LARGE_COUNT`] of them,
/// pages serve the last count and a background task recounts at most every [`RECOUNT_EVERY`],
/// so monitoring never waits for a scan of that many rows. Decided by the count, not by how
/// long it took, so a page's cost does not depend on how busy the machine was. The other
/// statuses are always counted live (index ranges around Completed).
#[derive(Debug, Default)]
pub struct CompletedLetters {
    last: std::sync::Mutex<Option<(std::time::Instant, i64)>>,
    recounting: std::sync::atomic::AtomicBool,
}

/// From this many Completed letters on, the count is served from the last one while a new one
/// runs (counting 20,000 index entries takes about 2 ms on MariaDB; 100,000 took 10 ms).
pub const LARGE_COUNT: i64 = 20_000;
/// How often a large count is redone.
pub const RECOUNT_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

impl CompletedLetters {
    fn last(&self) -> Option<(std::time::Instant, i64)> {
        *self.last.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn store(&self, n: i64) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some((std::time::Instant::now(), n));
    }

    async fn count(db: &crate::db::Db) -> Result<i64, DbError> {
        db.run(|conn| Ok(notification::count_with_status(conn, LetterStatus::Completed)?))
            .await
    }

    /// The number of Completed letters (see the type's note on large tables).
    pub async fn get(self: &std::sync::Arc<Self>, db: &crate::db::Db) -> Result<i64, DbError> {
        use std::sync::atomic::Ordering;
        if let Some((at, n)) = self.last() {
            if n >= LARGE_COUNT {
                if at.elapsed() >= RECOUNT_EVERY && !self.recounting.swap(true, Ordering::AcqRel) {
                    let (me, db) = (self.clone(), db.clone());
                    actix_web::rt::spawn(async move {
                        match Self::count(&db).await {
                            Ok(n) => me.store(n),
                            Err(e) => log::warn!("recounting Completed letters failed: {e}"),
                        }
                        me.recounting.store(false, Ordering::Release);
                    });
                }
                return Ok(n);
            }
        }
        let n = Self::count(db).await?;
        self.store(n);
        Ok(n)
    }
}

/// Letters per known status: the open ones live, Completed as [`CompletedLetters`] keeps it.
pub async fn letter_counts(state: &AppState) -> Result<Vec<(LetterStatus, i64)>, DbError> {
    let open = state
        .db()
        .odr
        .run(|conn| Ok::<_, DbError>(notification::count_open_by_status(conn)?))
        .await?;
    let completed = state.completed_letters.get(&state.db().odr).await?;
    Ok(LetterStatus::ALL
        .iter()
        .map(|s| match s {
            LetterStatus::Completed => (*s, completed),
            _ => (*s, open.iter().find(|(k, _)| k == s.as_str()).map_or(0, |(_, n)| *n)),
        })
        .collect())
}

/// Reads the notification figures from the database.
pub async fn notification_figures(state: &AppState) -> Result<NotificationFigures, DbError> {
    state.db().ping_all().await?;
    let newest = state
        .db()
        .odr
        .run(|conn| Ok::<_, DbError>(notification::newest_completed_date(conn)?))
        .await?;
    Ok(NotificationFigures {
        newest_completed: newest.map_or_else(|| "Ingen".to_string(), |d| d.format("%Y-%m-%d").to_string()),
        counts: letter_counts(state).await?,
    })
}

/// The guide's "version, opstartstidspunkt": after the seed's keys, as the text status page names them.
fn build_facts(map: &mut Map<String, Value>, state: &AppState) {
    map.insert("Build-Version".into(), Value::from(state.build.version));
    map.insert("Deployed".into(), Value::from(rfc3339_millis(state.deployed)));
}

/// `GET /odr-operations/odr-send-digitalpost-notifikation/status`: JSON with a fixed key order
/// (`?detailed`: the indicators and the last runs).
pub async fn notification(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let mut map = Map::new();
    let figures = notification_figures(&state).await;
    if detail::requested(&req) {
        let database = alarm::database_indicator(&state).await;
        let mut indicators = vec![database];
        let status = match &figures {
            Ok(f) => {
                indicators.push(Indicator::new(
                    "NewestNotificationHealthIndicator",
                    Vec::new(),
                    json!({ "newestCompletedDate": f.newest_completed }),
                ));
                let counts: Map<String, Value> = f
                    .counts
                    .iter()
                    .map(|(s, n)| (s.as_str().to_string(), Value::from(*n)))
                    .collect();
                indicators.push(Indicator::new(
                    "StatusNotificationHealthIndicator",
                    Vec::new(),
                    Value::Object(counts),
                ));
                StatusCode::OK
            }
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let runs = detail::recent_runs(&state, &[NOTIFICATION]).await;
        return detail::respond(status, req.path(), &indicators, runs, state.clock().now());
    }
    match figures {
        Ok(f) => {
            map.insert("Database".into(), Value::from("OK"));
            map.insert("Nyeste færdigbehandlede dato".into(), Value::from(f.newest_completed));
            for (status, n) in f.counts {
                map.insert(
                    format!("Antal i NotificationPerson med status {status}"),
                    Value::from(n.to_string()),
                );
            }
            build_facts(&mut map, &state);
            HttpResponse::Ok().json(Value::Object(map))
        }
        Err(e) => {
            log::error!("notification status: database check failed: {e}");
            map.insert("Database".into(), Value::from("Unavailable"));
            build_facts(&mut map, &state);
            HttpResponse::InternalServerError().json(Value::Object(map))
        }
    }
}
