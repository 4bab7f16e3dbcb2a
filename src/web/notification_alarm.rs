//! The notification alarm page (SPEC §8): database, last failed slice, date lag, per-date
//! status counts, Error rows, PersonInformation and Digital Post tolerances.

use actix_web::{web, HttpResponse};

use super::alarm;
use crate::app::AppState;

/// The notification alarm lines.
pub async fn lines(state: &AppState) -> Vec<String> {
    if let Err(e) = state.db.ping_all().await {
        log::error!("alarm: database check failed: {e}");
        return vec![alarm::database_line(&state.settings.database.jndi_name)];
    }
    Vec::new()
}

/// `GET /odr-operations/odr-send-digitalpost-notifikation/alarm`.
pub async fn notification(state: web::Data<AppState>) -> HttpResponse {
    alarm::answer(&lines(&state).await)
}
