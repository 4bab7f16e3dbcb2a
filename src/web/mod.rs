//! HTTP routes: status and alarm pages, job start URLs, and the answers to bad requests.

pub mod alarm;
pub mod dashboard;
pub mod detail;
pub mod jobs;
pub mod metrics;
pub mod notification_alarm;
pub mod preview;
pub mod request_id;
pub mod stale;
pub mod state;
pub mod status;
pub mod texts;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::jobs::cleanup::{Deceased, Emigrated};
use crate::jobs::{DeceasedCleanup, EmigratedCleanup, NotificationJob};

/// Root of every URL of the service.
pub const ROOT: &str = "/odr-operations";
/// Slettejob status page.
pub const SLETTEJOB_STATUS: &str = "/odr-operations/odr-slettejob/status";
/// Notification status page.
pub const NOTIFICATION_STATUS: &str = "/odr-operations/odr-send-digitalpost-notifikation/status";
/// Slettejob alarm page.
pub const SLETTEJOB_ALARM: &str = "/odr-operations/odr-slettejob/alarm";
/// Notification alarm page.
pub const NOTIFICATION_ALARM: &str = "/odr-operations/odr-send-digitalpost-notifikation/alarm";
/// Prometheus metrics.
pub const METRICS: &str = "/odr-operations/metrics";
/// Start URL of OrganDonorDeceasedCleanup.
pub const DECEASED_START: &str = "/odr-operations/odr-slettejob/deceased/start";
/// Start URL of OrganDonorEmigratedCleanup.
pub const EMIGRATED_START: &str = "/odr-operations/odr-slettejob/emigrated/start";
/// Preview of OrganDonorDeceasedCleanup (a dry run).
pub const DECEASED_PREVIEW: &str = "/odr-operations/odr-slettejob/deceased/preview";
/// Preview of OrganDonorEmigratedCleanup (a dry run).
pub const EMIGRATED_PREVIEW: &str = "/odr-operations/odr-slettejob/emigrated/preview";
/// Start URL of OrganDonorNotification.
pub const NOTIFICATION_START: &str = "/odr-operations/odr-send-digitalpost-notifikation/start";

/// `text/plain; charset=utf-8`, the type of every text page.
pub const TEXT: &str = "text/plain; charset=utf-8";

/// Registers every route of the service.
pub fn routes(cfg: &mut web::ServiceConfig) {
    page(cfg, SLETTEJOB_STATUS, status::slettejob);
    page(cfg, NOTIFICATION_STATUS, status::notification);
    page(cfg, SLETTEJOB_ALARM, alarm::slettejob);
    page(cfg, NOTIFICATION_ALARM, notification_alarm::notification);
    page(cfg, METRICS, metrics::metrics);
    // Start URLs answer GET only: a HEAD probe must not run a slice.
    cfg.service(get_resource(DECEASED_START).route(web::get().to(jobs::start::<DeceasedCleanup>)))
        .service(get_resource(EMIGRATED_START).route(web::get().to(jobs::start::<EmigratedCleanup>)))
        .service(get_resource(NOTIFICATION_START).route(web::get().to(jobs::start::<NotificationJob>)))
        .service(get_resource(DECEASED_PREVIEW).route(web::get().to(preview::preview::<Deceased>)))
        .service(get_resource(EMIGRATED_PREVIEW).route(web::get().to(preview::preview::<Emigrated>)));
    dashboard::routes(cfg);
}

/// A GET (and HEAD) page; other methods get 405.
fn page<F, Args>(cfg: &mut web::ServiceConfig, path: &str, handler: F)
where
    F: actix_web::Handler<Args> + Clone,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    cfg.service(
        get_resource(path)
            .route(web::get().to(handler.clone()))
            .route(web::head().to(handler)),
    );
}

/// A resource that answers 405 with a sentence to any method it has no route for.
pub fn get_resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allowed(req.path())))
        .content_type(TEXT)
        .body(format!(
            "Method {} is not allowed on {}: use GET.\n",
            sanitize(req.method().as_str()),
            loggable_path(req.path())
        ))
}

fn allowed(path: &str) -> &'static str {
    if path.ends_with("/start") || path.ends_with("/preview") {
        "GET"
    } else {
        "GET, HEAD"
    }
}

/// 404 for every unknown path.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    HttpResponse::NotFound().content_type(TEXT).body(format!(
        "No page at {}: see README.md for the endpoints under {ROOT}/.\n",
        loggable_path(req.path())
    ))
}

/// A path fit for logs and answers: bounded length, no CPR-like digit runs.
pub fn loggable_path(path: &str) -> String {
    // Masked before it is cut: a digit run across the cut must not show its first digits.
    let masked = crate::cpr::mask_digit_runs(path);
    let mut out: String = masked
        .chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if masked.chars().count() > 200 {
        out.push('…');
    }
    out
}

fn sanitize(s: &str) -> String {
    s.chars().take(32).filter(|c| c.is_ascii_graphic()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lose_cpr_like_digits() {
        assert_eq!(loggable_path("/x/0101001234/start"), "/x/**********/start");
        assert_eq!(loggable_path("/odr-operations/2024/08"), "/odr-operations/2024/08");
        let long = format!("/{}0101001234", "x".repeat(195));
        assert_eq!(loggable_path(&long), format!("/{}****…", "x".repeat(195)));
    }
}
