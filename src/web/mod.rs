//! HTTP routes: status and alarm pages, job start URLs, and the answers to bad requests.

pub mod jobs;
pub mod request_id;
pub mod status;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

/// Root of every URL of the service.
pub const ROOT: &str = "/odr-operations";
/// Slettejob status page.
pub const SLETTEJOB_STATUS: &str = "/odr-operations/odr-slettejob/status";
/// Notification status page.
pub const NOTIFICATION_STATUS: &str = "/odr-operations/odr-send-digitalpost-notifikation/status";

/// `text/plain; charset=utf-8`, the type of every text page.
pub const TEXT: &str = "text/plain; charset=utf-8";

/// Registers the routes of the pages that exist so far.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        get_resource(SLETTEJOB_STATUS)
            .route(web::get().to(status::slettejob))
            .route(web::head().to(status::slettejob)),
    )
    .service(
        get_resource(NOTIFICATION_STATUS)
            .route(web::get().to(status::notification))
            .route(web::head().to(status::notification)),
    );
}

/// A resource that answers 405 with a sentence to any method it has no route for.
pub fn get_resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, "GET, HEAD"))
        .content_type(TEXT)
        .body(format!(
            "Method {} is not allowed on {}: use GET.\n",
            sanitize(req.method().as_str()),
            loggable_path(req.path())
        ))
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
    let mut out = String::new();
    let mut digits = String::new();
    for ch in path.chars().take(200) {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        flush_digits(&mut out, &mut digits);
        out.push(if ch.is_control() { '?' } else { ch });
    }
    flush_digits(&mut out, &mut digits);
    if path.chars().count() > 200 {
        out.push('…');
    }
    out
}

fn flush_digits(out: &mut String, digits: &mut String) {
    if digits.len() >= 6 {
        out.push_str(&"*".repeat(digits.len()));
    } else {
        out.push_str(digits);
    }
    digits.clear();
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
    }
}
