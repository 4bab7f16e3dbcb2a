//! The scriptable core both fakes share: the knobs (latency, a standing fault, faults for the
//! next n requests), the counters (requests, most in flight, every request id), the [`Gate`]
//! every request passes, and the server ([`FakeServer`]), bundled with a fake's own state as a
//! running [`Fake`]. A fake adds only its wire format and its own behaviour; its fault type `F`
//! and state `S` are its own.

mod gate;
mod http;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};

pub use gate::Gate;
pub use http::FakeServer;

use crate::logging::request_id;

/// How long a hanging request waits before it answers anyway (far beyond any client timeout).
const HANG: Duration = Duration::from_secs(3600);

/// Locks a fake's state. A panic while holding the lock leaves counters only, so the fake keeps
/// serving (a panicking test thread must not take the fake down with it).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The counters every fake keeps, since start or the last reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Requests received, whatever their fate.
    pub requests: u64,
    /// Most requests being handled at the same moment (those held at the gate included).
    pub max_in_flight: usize,
}

/// What to do with the next requests.
#[derive(Debug, Default)]
struct Knobs<F> {
    latency: Duration,
    fault: F,
    queued: VecDeque<(u32, F)>,
}

impl<F: Copy> Knobs<F> {
    /// The fault for the request now arriving: the oldest `fail_next` still pending, else the
    /// standing one.
    fn take_fault(&mut self) -> F {
        let Some((n, f)) = self.queued.front_mut() else {
            return self.fault;
        };
        let f = *f;
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.queued.pop_front();
        }
        f
    }
}

/// What has arrived.
#[derive(Debug, Default)]
struct Log {
    traffic: Traffic,
    in_flight: usize,
    request_ids: Vec<String>,
    last_request_id: Option<String>,
    delays: Delays,
}

/// How long the fake held its requests, from admission to answer: the latency it waited (a sleep
/// ends on the timer's next tick, later on a busy machine) and its own work. A benchmark's
/// physical bound is computed from it. Kept since start, never reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delays {
    /// Requests answered (or given up by the client).
    pub count: u64,
    /// The total time the fake held them.
    pub total: Duration,
}

impl Delays {
    /// The mean time a request was held between `earlier` and `self`; `None` when none was.
    pub fn mean_since(&self, earlier: Delays) -> Option<Duration> {
        let n = self.count.checked_sub(earlier.count).filter(|n| *n > 0)?;
        let n = u32::try_from(n).ok()?;
        Some(self.total.saturating_sub(earlier.total) / n)
    }
}

/// Counts a request in flight until dropped (also when the client gives up and the handler's
/// future is dropped), and then adds how long the fake held it to [`Delays`].
#[derive(Debug)]
struct InFlight(Arc<Mutex<Log>>, std::time::Instant);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut log = lock(&self.0);
        log.in_flight = log.in_flight.saturating_sub(1);
        log.delays.count += 1;
        log.delays.total += self.1.elapsed();
    }
}

/// A request let in by [`FakeCore::admit`]: it counts as in flight until this is dropped.
#[derive(Debug)]
pub struct Admission<F> {
    /// The fault to answer with (the fake's "behave" value when none).
    pub fault: F,
    _in_flight: InFlight,
}

/// The knobs, counters and gate of one fake; cheap to clone (one shared state).
#[derive(Debug)]
pub struct FakeCore<F> {
    knobs: Arc<Mutex<Knobs<F>>>,
    log: Arc<Mutex<Log>>,
    gate: Arc<Gate>,
}

impl<F> Clone for FakeCore<F> {
    fn clone(&self) -> Self {
        FakeCore {
            knobs: self.knobs.clone(),
            log: self.log.clone(),
            gate: self.gate.clone(),
        }
    }
}

impl<F: Copy + Default> Default for FakeCore<F> {
    fn default() -> Self {
        FakeCore {
            knobs: Arc::new(Mutex::new(Knobs::default())),
            log: Arc::new(Mutex::new(Log::default())),
            gate: Arc::new(Gate::default()),
        }
    }
}

impl<F: Copy + Default> FakeCore<F> {
    /// Delays every answer by `d`, after the gate (an async sleep: requests wait side by side).
    pub fn set_latency(&self, d: Duration) {
        lock(&self.knobs).latency = d;
    }

    /// Applies `f` to every request until changed (the default fault to behave).
    pub fn set_fault(&self, f: F) {
        lock(&self.knobs).fault = f;
    }

    /// Applies `f` to the next `n` requests, after any already queued, then the standing fault.
    pub fn fail_next(&self, n: u32, f: F) {
        if n > 0 {
            lock(&self.knobs).queued.push_back((n, f));
        }
    }

    /// The door every request passes: hold, barrier, release.
    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    /// Requests and most in flight since start or the last reset.
    pub fn traffic(&self) -> Traffic {
        lock(&self.log).traffic
    }

    /// How long requests were held so far (since start; not touched by [`FakeCore::reset_traffic`]).
    pub fn delays(&self) -> Delays {
        lock(&self.log).delays
    }

    /// The `X-Request-ID` of the latest request, if it had one.
    pub fn last_request_id(&self) -> Option<String> {
        lock(&self.log).last_request_id.clone()
    }

    /// Every `X-Request-ID` received since start or the last reset, in arrival order.
    pub fn request_ids(&self) -> Vec<String> {
        lock(&self.log).request_ids.clone()
    }

    /// Zeroes the counters and forgets the request ids (knobs and the gate stay). Requests in
    /// flight now count towards the new maximum.
    pub fn reset_traffic(&self) {
        let mut log = lock(&self.log);
        log.traffic = Traffic {
            requests: 0,
            max_in_flight: log.in_flight,
        };
        log.request_ids = Vec::new();
        log.last_request_id = None;
    }

    /// Lets a request in: counts it, records its id, takes its fault, passes the gate and
    /// waits the latency. Every handler of a fake starts here.
    pub async fn admit(&self, req: &HttpRequest) -> Admission<F> {
        let id = req
            .headers()
            .get(request_id::HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let in_flight = {
            let mut log = lock(&self.log);
            log.traffic.requests += 1;
            log.in_flight += 1;
            log.traffic.max_in_flight = log.traffic.max_in_flight.max(log.in_flight);
            log.request_ids.extend(id.clone());
            log.last_request_id = id;
            InFlight(self.log.clone(), std::time::Instant::now())
        };
        let (fault, latency) = {
            let mut knobs = lock(&self.knobs);
            (knobs.take_fault(), knobs.latency)
        };
        self.gate.pass().await;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        Admission {
            fault,
            _in_flight: in_flight,
        }
    }
}

/// What a fake's handlers share: the core and the fake's own state `S` (people, letters, ...).
pub struct Shared<F, S> {
    core: FakeCore<F>,
    state: Mutex<S>,
}

impl<F, S> Shared<F, S> {
    /// The knobs, counters and gate.
    pub fn core(&self) -> &FakeCore<F> {
        &self.core
    }

    /// The fake's own state; never hold it across an await.
    pub fn state(&self) -> MutexGuard<'_, S> {
        lock(&self.state)
    }
}

/// A running fake: its core, its own state `S` and its server. A fake type wraps one and adds
/// its wire format; the handlers reach the same through `web::Data<Shared<F, S>>`.
pub struct Fake<F, S> {
    shared: Arc<Shared<F, S>>,
    server: FakeServer,
}

impl<F, S> Fake<F, S>
where
    F: Copy + Default + Send + 'static,
    S: Default + Send + 'static,
{
    /// Starts the server with the routes `routes` adds, the shared state as app data; `name` is
    /// for the log.
    pub fn start<R>(name: &'static str, routes: R) -> std::io::Result<Fake<F, S>>
    where
        R: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
    {
        let shared = Arc::new(Shared {
            core: FakeCore::default(),
            state: Mutex::new(S::default()),
        });
        let data = web::Data::from(shared.clone());
        let server = FakeServer::start(name, move |cfg| {
            cfg.app_data(data.clone());
            routes(cfg);
        })?;
        Ok(Fake { shared, server })
    }
}

impl<F, S> Fake<F, S> {
    /// The knobs, counters and gate.
    pub fn core(&self) -> &FakeCore<F> {
        &self.shared.core
    }

    /// The fake's own state; never hold it across an await.
    pub fn state(&self) -> MutexGuard<'_, S> {
        self.shared.state()
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// Stops the server at once (requests in flight are dropped) and waits until it is down.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// Never answers: waits an hour (the client times out long before), then 504.
pub async fn hang() -> HttpResponse {
    tokio::time::sleep(HANG).await;
    HttpResponse::GatewayTimeout().finish()
}

/// Closes the connection without an answer: the client sees the connection end before any
/// byte of a response, as when the service goes away mid-call.
pub fn hang_up() -> HttpResponse {
    let failing = futures_util::stream::once(async { Err::<web::Bytes, _>(std::io::Error::other("fake hangs up")) });
    HttpResponse::Ok().streaming(failing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_faults_come_first_in_order_then_the_standing_one() {
        let core = FakeCore::<u8>::default();
        core.set_fault(9);
        core.fail_next(2, 1);
        core.fail_next(0, 7);
        core.fail_next(1, 2);
        let got: Vec<u8> = (0..5).map(|_| lock(&core.knobs).take_fault()).collect();
        assert_eq!(got, [1, 1, 2, 9, 9]);
    }
}
