//! `GET .../odr-slettejob/{deceased,emigrated}/preview[?limit=N]`: the dry run of a cleanup pass
//! through the running service (issue 18). It never writes the job's data; it holds the job's
//! lease while it walks and answers JSON: 200, 409 when the job runs elsewhere, 502 when
//! PersonInformation failed. Behind the start token when one is set (it calls PersonInformation).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::jobs::{bearer_matches, unauthorized};
use super::state::AppState;
use crate::jobs::cleanup::preview::{self, PreviewReport};
use crate::jobs::cleanup::CleanupRule;
use crate::logging::request_id;

/// The preview of the job with rule `R`.
pub async fn preview<R: CleanupRule>(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(expected) = &state.settings().start_token {
        if !bearer_matches(&req, expected.expose()) {
            return unauthorized(R::NAME, "previewed");
        }
    }
    let limit = match limit(req.query_string()) {
        Ok(limit) => limit,
        Err(sentence) => {
            return HttpResponse::BadRequest()
                .content_type(super::TEXT)
                .body(format!("{sentence}\n"))
        }
    };
    let (deps, ctx) = (state.deps.clone(), state.engine());
    // Its own task: a caller that hangs up does not leave the walk half done with the lease held.
    let task = actix_web::rt::spawn(request_id::inherit(async move {
        preview::run::<R>(&deps, &ctx, limit).await
    }));
    match task.await {
        Ok(report) => answer(&report),
        Err(e) => {
            log::error!("{}: the preview task ended abnormally: {e}", R::NAME);
            HttpResponse::InternalServerError()
                .content_type(super::TEXT)
                .body(format!("{}: the preview stopped unexpectedly.\n", R::NAME))
        }
    }
}

/// The HTTP status of a report: 200, 409 (the job ran elsewhere), 502 (a service failed).
pub fn answer(report: &PreviewReport) -> HttpResponse {
    let status = match report.outcome {
        preview::SKIPPED => StatusCode::CONFLICT,
        "Failed" => StatusCode::BAD_GATEWAY,
        _ => StatusCode::OK,
    };
    HttpResponse::build(status).json(report)
}

/// `limit=N` from the query string (N a positive whole number), else all.
fn limit(query: &str) -> Result<Option<u64>, String> {
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key == "limit" {
            return match value.parse::<u64>() {
                Ok(n) if n > 0 => Ok(Some(n)),
                _ => Err(format!(
                    "limit = \"{}\" is not a positive whole number (example: ?limit=1000)",
                    super::loggable_path(value)
                )),
            };
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::limit;

    #[test]
    fn the_limit_is_a_positive_whole_number_or_absent() {
        assert_eq!(limit(""), Ok(None));
        assert_eq!(limit("limit=500"), Ok(Some(500)));
        assert_eq!(limit("x=1&limit=7"), Ok(Some(7)));
        assert!(limit("limit=0").is_err());
        assert_eq!(
            limit("limit=abc"),
            Err("limit = \"abc\" is not a positive whole number (example: ?limit=1000)".to_string())
        );
    }
}
