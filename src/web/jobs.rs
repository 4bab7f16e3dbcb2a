//! Start URLs: one slice per call, always 200 with the summary line (401 without the token).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use super::state::AppState;
use crate::engine;
use crate::jobs::JobFactory;
use crate::logging::request_id;

/// `GET <start URL>` of the job built by `F`.
pub async fn start<J: JobFactory>(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(expected) = &state.settings().start_token {
        if !bearer_matches(&req, expected.expose()) {
            return unauthorized(J::NAME, "started");
        }
    }
    let job = match J::create(&state.deps) {
        Ok(job) => job,
        Err(sentence) => return text_ok(sentence),
    };
    let ctx = state.engine();
    // The slice runs as its own task: a caller that hangs up does not cut it short.
    let task = actix_web::rt::spawn(request_id::inherit(async move { engine::run_slice(&ctx, job).await }));
    match task.await {
        Ok(report) => text_ok(report.line),
        Err(e) => {
            log::error!("{}: the slice task ended abnormally: {e}", J::NAME);
            text_ok(format!(
                "{}: Failed: the slice stopped unexpectedly; next call resumes.",
                J::NAME
            ))
        }
    }
}

fn text_ok(line: String) -> HttpResponse {
    HttpResponse::Ok().content_type(super::TEXT).body(format!("{line}\n"))
}

/// 401 with the sentence that names the missing header; nothing was run.
pub fn unauthorized(job: &str, what: &str) -> HttpResponse {
    log::warn!("{job}: not {what}: missing or wrong bearer token");
    let url = if what == "started" { "start" } else { "preview" };
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
        .content_type(super::TEXT)
        .body(format!(
            "{job}: not {what}: the {url} URL needs the header Authorization: Bearer <operations.start.token>.\n"
        ))
}

/// Compares the bearer token in constant time (no early exit on the first differing byte).
pub fn bearer_matches(req: &HttpRequest, expected: &str) -> bool {
    let Some(given) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (a, b) = (given.trim().as_bytes(), expected.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
