//! `X-Request-ID`: taken from the request or generated, echoed on the response, and put in the
//! log MDC on every poll of the request's future so each of its log lines carries it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::HttpMessage;

/// The header name.
pub const HEADER: &str = "x-request-id";
const MDC_KEY: &str = "request_id";

/// The request id stored in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The request id of the code running on this thread, if any.
pub fn current() -> Option<String> {
    log_mdc::get(MDC_KEY, |v| v.map(str::to_owned))
}

/// Sets the MDC request id until dropped, then restores the previous one.
#[must_use]
pub struct MdcGuard {
    prev: Option<String>,
}

impl MdcGuard {
    /// Puts `id` in this thread's MDC.
    pub fn set(id: String) -> MdcGuard {
        let prev = current();
        log_mdc::insert(MDC_KEY, id);
        MdcGuard { prev }
    }
}

impl Drop for MdcGuard {
    fn drop(&mut self) {
        match self.prev.take() {
            Some(p) => {
                log_mdc::insert(MDC_KEY, p);
            }
            None => {
                log_mdc::remove(MDC_KEY);
            }
        }
    }
}

/// A future that runs with a request id in the MDC whenever it is polled.
pub struct WithRequestId<F> {
    id: String,
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for WithRequestId<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let _guard = MdcGuard::set(this.id.clone());
        this.inner.as_mut().poll(cx)
    }
}

/// Wraps `fut` so its log lines carry `id`.
pub fn scope<F: Future>(id: String, fut: F) -> WithRequestId<F> {
    WithRequestId {
        id,
        inner: Box::pin(fut),
    }
}

/// Wraps `fut` with the current request id, if any (for spawned work).
pub fn inherit<F: Future>(fut: F) -> WithRequestId<F> {
    scope(current().unwrap_or_else(|| "-".to_string()), fut)
}

/// Accepts a caller's id if it is short printable ASCII (it goes into logs and headers).
fn acceptable(v: &str) -> bool {
    !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic())
}

/// A fresh request id.
pub fn generate() -> String {
    uuid::Uuid::new_v4().to_string()
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
    crate::metrics::observe_request(&route, res.status().as_u16(), started.elapsed());
    Ok(res)
}
