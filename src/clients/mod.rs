//! Clients of the external services; each module is the only one that knows its wire format.
//! What they share: the HTTP client built from a service's settings, the cap on requests in
//! flight, and the id of each outgoing request.

pub mod digital_post;
pub mod person_information;

use std::sync::Arc;

use reqwest::header::HeaderValue;
use tokio::sync::Semaphore;

use crate::config::ServiceSettings;
use crate::logging::request_id;

/// The error and its sources on one line. reqwest errors name the URL, which holds no CPR
/// (CPR numbers travel only in request bodies).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The HTTP client of one service: rustls, idle pool and timeouts from its settings, no redirects.
fn http_client(settings: &ServiceSettings) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .pool_max_idle_per_host(settings.max_per_route)
        // Below the shortest keep-alive servers commonly use (5 s): an idle connection is
        // dropped here before the server closes it under a new request.
        .pool_idle_timeout(POOL_IDLE)
        .connect_timeout(settings.connect_timeout)
        // Our reading: the properties give one timeout, used for the whole call as well.
        .timeout(settings.connect_timeout)
        // A redirect would resend a body with CPR numbers to a place nobody configured.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("odr-operations/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// How long an idle pooled connection is kept.
const POOL_IDLE: std::time::Duration = std::time::Duration::from_secs(4);

/// Sends a request, once more on a fresh connection when the first try got no HTTP answer at
/// all (a pooled connection the server had just closed) and did not time out. Both services
/// take a repeat: PersonInformation only reads, and Digital Post drops a MessageId it has.
async fn send_once_more(request: reqwest::RequestBuilder) -> Result<reqwest::Response, reqwest::Error> {
    let again = request.try_clone();
    match (request.send().await, again) {
        (Err(e), Some(again)) if !e.is_timeout() => {
            log::debug!("a request got no answer ({}); sending it once more", error_chain(&e));
            again.send().await
        }
        (result, _) => result,
    }
}

/// The cap on requests in flight, one permit held per request. reqwest has no connection limit,
/// so this is `maxTotalConnections` / `max.total.connections` (SPEC §7: a real cap across all
/// routes) and the per-route limit in one: each client talks to one service, so one route.
fn in_flight_cap(settings: &ServiceSettings) -> Arc<Semaphore> {
    let permits = settings.max_per_route.min(settings.max_total_connections);
    let permits = permits.clamp(1, Semaphore::MAX_PERMITS);
    Arc::new(Semaphore::new(permits))
}

/// The id of one outgoing request ([`request_id::outgoing`]: `<incoming>-<n>`) and its header;
/// a fresh id when the incoming one cannot be a header value, so the id logged is the id sent.
fn outgoing_request_id() -> (String, Option<HeaderValue>) {
    let id = request_id::outgoing();
    if let Ok(header) = HeaderValue::from_str(&id) {
        return (id, Some(header));
    }
    let fresh = request_id::generate();
    let header = HeaderValue::from_str(&fresh).ok();
    (fresh, header)
}
