//! The request id of the work running now: put in the log MDC on every poll of a request's
//! future (and inside its blocking database calls), so each log line carries it, and the source
//! of the ids of outgoing calls: `<incoming>-<n>`, unique per outgoing request (seed 003).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// The header name, on incoming and outgoing requests.
pub const HEADER: &str = "x-request-id";
const MDC_KEY: &str = "request_id";

/// One incoming request's id and the count of outgoing requests made on its behalf.
#[derive(Debug)]
struct Scope {
    id: String,
    outgoing: AtomicU64,
}

thread_local! {
    /// The scope of the future being polled on this thread.
    static SCOPE: RefCell<Option<Arc<Scope>>> = const { RefCell::new(None) };
}

/// The request id of the code running on this thread, if any.
pub fn current() -> Option<String> {
    log_mdc::get(MDC_KEY, |v| v.map(str::to_owned))
}

/// A fresh request id.
pub fn generate() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The id for one outgoing request: `<incoming>-<n>` (n = 1, 2, ... per incoming request), or a
/// fresh id outside any request. Both ids show in the log line of the call, so they can be joined.
pub fn outgoing() -> String {
    SCOPE.with(|s| match s.borrow().as_ref() {
        Some(scope) => {
            let n = scope.outgoing.fetch_add(1, Ordering::Relaxed) + 1;
            format!("{}-{n}", scope.id)
        }
        None => generate(),
    })
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

/// Restores the previous thread scope when dropped.
struct ScopeGuard {
    prev: Option<Arc<Scope>>,
    _mdc: MdcGuard,
}

impl ScopeGuard {
    fn enter(scope: &Arc<Scope>) -> ScopeGuard {
        let prev = SCOPE.with(|s| s.borrow_mut().replace(scope.clone()));
        ScopeGuard {
            prev,
            _mdc: MdcGuard::set(scope.id.clone()),
        }
    }
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        SCOPE.with(|s| *s.borrow_mut() = prev);
    }
}

/// A future that runs with a request id (MDC and outgoing numbering) whenever it is polled.
pub struct WithRequestId<F> {
    scope: Option<Arc<Scope>>,
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for WithRequestId<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let _guard = this.scope.as_ref().map(ScopeGuard::enter);
        this.inner.as_mut().poll(cx)
    }
}

/// Wraps `fut` so its log lines carry `id` and its outgoing requests are numbered from it.
pub fn scope<F: Future>(id: String, fut: F) -> WithRequestId<F> {
    WithRequestId {
        scope: Some(Arc::new(Scope {
            id,
            outgoing: AtomicU64::new(0),
        })),
        inner: Box::pin(fut),
    }
}

/// Wraps `fut` with the current request scope, if any (for spawned work: the same id, and the
/// same outgoing numbering, so two tasks never hand out the same id).
pub fn inherit<F: Future>(fut: F) -> WithRequestId<F> {
    WithRequestId {
        scope: SCOPE.with(|s| s.borrow().clone()),
        inner: Box::pin(fut),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn outgoing_ids_are_numbered_per_incoming_request_and_shared_with_spawned_work() {
        let ids = scope("cron-7".to_string(), async {
            let a = outgoing();
            let b = inherit(async { outgoing() }).await;
            let c = tokio::spawn(inherit(async { (current(), outgoing()) })).await.unwrap();
            (a, b, c, current())
        })
        .await;
        assert_eq!(ids.0, "cron-7-1");
        assert_eq!(ids.1, "cron-7-2");
        assert_eq!(ids.2, (Some("cron-7".to_string()), "cron-7-3".to_string()));
        assert_eq!(ids.3.as_deref(), Some("cron-7"));
        // Outside any request: a fresh id each time.
        assert_eq!(current(), None);
        let (x, y) = (outgoing(), outgoing());
        assert!(uuid::Uuid::parse_str(&x).is_ok() && x != y);
        // Spawned work outside any request has no id to build on: fresh ids.
        let spawned = inherit(async { outgoing() }).await;
        assert!(uuid::Uuid::parse_str(&spawned).is_ok(), "{spawned}");
        // A second incoming request numbers from 1 again.
        assert_eq!(scope("r2".to_string(), async { outgoing() }).await, "r2-1");
    }
}
