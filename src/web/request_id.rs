//! `X-Request-ID` middleware: the id is taken from the request or generated, echoed on the
//! response, and scoped over the request's future ([`crate::logging::request_id`]).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;

pub use crate::logging::request_id::HEADER;
use crate::logging::request_id::{generate, scope, MdcGuard};

/// The request id stored in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Accepts a caller's id if it is short printable ASCII (it goes into logs and headers).
fn acceptable(v: &str) -> bool {
    !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic())
}

/// Middleware: picks the id, scopes the request's logging, echoes the header, logs one access line.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(generate);
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().to_string();
    let path = req.path().to_string();
    let started = Instant::now();
    // Handlers turn their errors into responses, so an Err here is rare; it passes through as is.
    let mut res = scope(id.clone(), next.call(req)).await?;
    // The route pattern, not the path: unknown paths must not grow the label set.
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".to_string());
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(HeaderName::from_static(HEADER), value);
    }
    let _guard = MdcGuard::set(id);
    log::info!(
        target: "odr_operations::http",
        "{method} {} -> {} in {:.1} ms",
        crate::web::loggable_path(&path),
        res.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    if let Some(state) = res
        .request()
        .app_data::<actix_web::web::Data<crate::web::state::AppState>>()
    {
        state
            .metrics()
            .observe_request(&route, res.status().as_u16(), started.elapsed());
    }
    Ok(res)
}
