//! A scriptable fake of PersonInformation for tests, the demo and benchmarks.
//!
//! It serves `POST /stamdata-personinformation/2024/08/01/persons/status` on 127.0.0.1 (any
//! free port), answers only the people it holds, and can be told to be slow, to answer an
//! HTTP error code, to answer garbage or to never answer. It counts what it was asked.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The path prefix of the real service, kept in the fake's base URL.
const BASE_PATH: &str = "/stamdata-personinformation/2024/08/01";
/// How long a [`PiFault::Hang`] request waits before giving up on the client.
const HANG: Duration = Duration::from_secs(3600);
/// Largest request body accepted (a batch of many thousands of CPR numbers).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// A failure the fake can be told to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PiFault {
    /// Answer normally.
    #[default]
    None,
    /// Answer this HTTP code with a short text body.
    Status(u16),
    /// Answer 200 with a body that is not JSON.
    Garbage,
    /// Never answer (the request waits an hour).
    Hang,
}

/// What the fake has been asked since the last reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PiStats {
    /// Requests to the status path (including malformed ones and faults).
    pub requests: u64,
    /// Largest number of CPR numbers in one request.
    pub max_batch: usize,
    /// Most requests being handled at once (latency included).
    pub max_in_flight: usize,
    /// CPR numbers asked in total.
    pub cprs_asked: u64,
}

/// A held CPR: ten digits packed in a `u64` (900,000 people stay small), anything else as text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Digits(u64),
    Other(Box<str>),
}

impl Key {
    fn of(cpr: &str) -> Key {
        if cpr.len() == 10 && cpr.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(n) = cpr.parse() {
                return Key::Digits(n);
            }
        }
        Key::Other(cpr.into())
    }
}

/// A held person: index into `State::codes`, and the status date.
#[derive(Debug, Clone, Copy)]
struct Person {
    code: u16,
    date: Option<NaiveDate>,
}

/// Everything the fake knows; never locked across an await.
#[derive(Debug, Default)]
struct State {
    people: HashMap<Key, Person>,
    /// Distinct status codes seen, so a person holds a small index instead of a string.
    codes: Vec<Box<str>>,
    latency: Duration,
    fault: PiFault,
    next_faults: Option<(u32, PiFault)>,
    stats: PiStats,
    in_flight: usize,
    asked: HashMap<Key, u32>,
    max_asked: u32,
    last_request_id: Option<String>,
}

impl State {
    fn code_index(&mut self, status: &str) -> u16 {
        if let Some(i) = self.codes.iter().position(|c| &**c == status) {
            return u16::try_from(i).unwrap_or(u16::MAX);
        }
        self.codes.push(status.into());
        u16::try_from(self.codes.len() - 1).unwrap_or(u16::MAX)
    }

    fn insert(&mut self, cpr: &str, status: &str, date: Option<NaiveDate>) {
        let code = self.code_index(status);
        self.people.insert(Key::of(cpr), Person { code, date });
    }

    /// The fault for the request now arriving (a pending `fail_next` first).
    fn take_fault(&mut self) -> PiFault {
        match &mut self.next_faults {
            Some((n, f)) if *n > 0 => {
                let f = *f;
                *n -= 1;
                if *n == 0 {
                    self.next_faults = None;
                }
                f
            }
            _ => self.fault,
        }
    }
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock leaves counters only; keep serving.
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running fake PersonInformation server.
pub struct FakePersonInformation {
    state: Shared,
    port: u16,
    handle: ServerHandle,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Request body: `{"cprs":[...]}`.
#[derive(Deserialize)]
struct WireRequest {
    cprs: Vec<String>,
}

/// Response body: `{"persons":[...]}`.
#[derive(Serialize)]
struct WireResponse<'a> {
    persons: Vec<WirePerson<'a>>,
}

/// One person on the wire.
#[derive(Serialize)]
struct WirePerson<'a> {
    cpr: &'a str,
    status: String,
    #[serde(rename = "statusDate")]
    status_date: Option<NaiveDate>,
}

/// Counts a request in flight until dropped (also when the client gives up and the handler
/// future is dropped).
struct InFlight(Shared);

impl InFlight {
    fn enter(state: &Shared) -> InFlight {
        let mut s = lock(state);
        s.in_flight += 1;
        s.stats.max_in_flight = s.stats.max_in_flight.max(s.in_flight);
        InFlight(state.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = lock(&self.0);
        s.in_flight = s.in_flight.saturating_sub(1);
    }
}

impl FakePersonInformation {
    /// Starts the fake on 127.0.0.1 with a free port, holding nobody.
    pub async fn start() -> std::io::Result<FakePersonInformation> {
        let state: Shared = Arc::new(Mutex::new(State::default()));
        let data = web::Data::from(state.clone());
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(MAX_BODY))
                .route(&format!("{BASE_PATH}/persons/status"), web::post().to(persons_status))
                .default_service(web::to(HttpResponse::NotFound))
        })
        .workers(workers)
        .disable_signals()
        .shutdown_timeout(1)
        .bind(("127.0.0.1", 0))?;
        let port = server
            .addrs()
            .first()
            .map(|a| a.port())
            .ok_or_else(|| std::io::Error::other("the fake PersonInformation bound no address"))?;
        let server = server.run();
        let handle = server.handle();
        let task = tokio::spawn(server);
        Ok(FakePersonInformation {
            state,
            port,
            handle,
            task: Some(task),
        })
    }

    /// The value for `personinformation.url`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}{BASE_PATH}", self.port)
    }

    /// Holds (or replaces) one person with this status code and status date.
    pub fn set_person(&self, cpr: &str, status: &str, status_date: Option<NaiveDate>) {
        lock(&self.state).insert(cpr, status, status_date);
    }

    /// Holds (or replaces) many people at once: (CPR, status code, status date).
    pub fn set_people(&self, people: impl IntoIterator<Item = (String, String, Option<NaiveDate>)>) {
        let mut s = lock(&self.state);
        for (cpr, status, date) in people {
            s.insert(&cpr, &status, date);
        }
    }

    /// Forgets a person: from now on the CPR is absent from answers.
    pub fn remove_person(&self, cpr: &str) {
        lock(&self.state).people.remove(&Key::of(cpr));
    }

    /// Delays every answer by `d` (an async sleep: concurrent requests overlap).
    pub fn set_latency(&self, d: Duration) {
        lock(&self.state).latency = d;
    }

    /// Applies `f` to every request until changed.
    pub fn set_fault(&self, f: PiFault) {
        lock(&self.state).fault = f;
    }

    /// Applies `f` to the next `n` requests, then the fault set by `set_fault` again.
    pub fn fail_next(&self, n: u32, f: PiFault) {
        lock(&self.state).next_faults = (n > 0).then_some((n, f));
    }

    /// Counters since the last reset.
    pub fn stats(&self) -> PiStats {
        lock(&self.state).stats
    }

    /// How many times this CPR was asked since the last reset.
    pub fn asked_count(&self, cpr: &str) -> u32 {
        lock(&self.state).asked.get(&Key::of(cpr)).copied().unwrap_or(0)
    }

    /// Highest per-CPR ask count since the last reset.
    pub fn max_asked_count(&self) -> u32 {
        lock(&self.state).max_asked
    }

    /// The `X-Request-ID` of the last request to the status path, if it had one.
    pub fn last_request_id(&self) -> Option<String> {
        lock(&self.state).last_request_id.clone()
    }

    /// Zeroes the counters and ask counts (people, latency and faults stay).
    pub fn reset_stats(&self) {
        let mut s = lock(&self.state);
        s.stats = PiStats {
            max_in_flight: s.in_flight,
            ..PiStats::default()
        };
        s.asked = HashMap::new();
        s.max_asked = 0;
        s.last_request_id = None;
    }

    /// Stops the server at once (requests in flight are dropped) and waits until it is down.
    pub async fn stop(mut self) {
        self.handle.stop(false).await;
        if let Some(task) = self.task.take() {
            if let Err(e) = task.await {
                log::warn!("fake PersonInformation ended badly: {e}");
            }
        }
    }
}

impl Drop for FakePersonInformation {
    fn drop(&mut self) {
        if self.task.is_some() {
            // Sends the stop command now; nobody waits for it to finish.
            drop(self.handle.stop(false));
        }
    }
}

/// `POST .../persons/status`.
async fn persons_status(req: HttpRequest, body: web::Bytes, state: web::Data<Mutex<State>>) -> HttpResponse {
    let state: Shared = state.into_inner();
    let request_id = req
        .headers()
        .get(crate::logging::request_id::HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let _in_flight = InFlight::enter(&state);
    let parsed = serde_json::from_slice::<WireRequest>(&body);
    let (fault, latency, answer) = {
        let mut guard = lock(&state);
        let s = &mut *guard;
        s.stats.requests += 1;
        s.last_request_id = request_id;
        let Ok(WireRequest { cprs: asked }) = parsed else {
            drop(guard);
            return HttpResponse::BadRequest()
                .content_type("text/plain; charset=utf-8")
                .body("body must be {\"cprs\":[...]}");
        };
        s.stats.max_batch = s.stats.max_batch.max(asked.len());
        s.stats.cprs_asked += asked.len() as u64;
        let fault = s.take_fault();
        let mut answered = HashSet::with_capacity(asked.len());
        let mut answer = Vec::new();
        for cpr in asked {
            let key = Key::of(&cpr);
            let count = s.asked.entry(key.clone()).or_insert(0);
            *count += 1;
            s.max_asked = s.max_asked.max(*count);
            let person = s.people.get(&key).copied();
            // A CPR asked twice in one request is answered once.
            if let Some(p) = person.filter(|_| answered.insert(key)) {
                let status = s
                    .codes
                    .get(usize::from(p.code))
                    .map_or_else(String::new, |c| c.to_string());
                answer.push((cpr, status, p.date));
            }
        }
        (fault, s.latency, answer)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        PiFault::None => {
            let persons = answer
                .iter()
                .map(|(cpr, status, date)| WirePerson {
                    cpr,
                    status: status.clone(),
                    status_date: *date,
                })
                .collect();
            HttpResponse::Ok().json(WireResponse { persons })
        }
        PiFault::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            HttpResponse::build(status)
                .content_type("text/plain; charset=utf-8")
                .body(format!("fake PersonInformation fault {code}"))
        }
        PiFault::Garbage => HttpResponse::Ok()
            .content_type("application/json")
            .body("<html><body>Service Unavailable</body></html>"),
        PiFault::Hang => {
            tokio::time::sleep(HANG).await;
            HttpResponse::GatewayTimeout().finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn post(url: &str, body: &str) -> (u16, String) {
        let res = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn answers_held_people_and_refuses_bad_requests() {
        let fake = FakePersonInformation::start().await.unwrap();
        fake.set_people([
            (
                "0101001234".to_string(),
                "90".to_string(),
                Some("2025-03-01".parse().unwrap()),
            ),
            ("0202025678".to_string(), "01".to_string(), None),
        ]);
        fake.remove_person("0202025678");
        let url = format!("{}/persons/status", fake.base_url());
        let (code, body) = post(&url, r#"{"cprs":["0101001234","0202025678"]}"#).await;
        assert_eq!(code, 200);
        assert_eq!(
            body,
            r#"{"persons":[{"cpr":"0101001234","status":"90","statusDate":"2025-03-01"}]}"#
        );
        assert_eq!(post(&url, "not json").await.0, 400);
        assert_eq!(post(&format!("{}/other", fake.base_url()), "{}").await.0, 404);
        let stats = fake.stats();
        assert_eq!(
            (stats.requests, stats.max_batch, stats.cprs_asked, stats.max_in_flight),
            (2, 2, 2, 1)
        );
        fake.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn serves_twenty_concurrent_batches_with_latency_without_queueing() {
        const PEOPLE: u64 = 900_000;
        let fake = FakePersonInformation::start().await.unwrap();
        fake.set_people((0..PEOPLE).map(|i| (format!("{:010}", 1_000_000_000 + i), "90".to_string(), None)));
        fake.set_latency(Duration::from_millis(50));
        let client = reqwest::Client::new();
        let url = format!("{}/persons/status", fake.base_url());
        for round in 0..5u64 {
            let calls = (0..20u64).map(|r| {
                let (client, url) = (client.clone(), url.clone());
                let first = (round * 20 + r) * 1000;
                let cprs: Vec<String> = (first..first + 1000)
                    .map(|i| format!("{:010}", 1_000_000_000 + i))
                    .collect();
                async move {
                    let res = client
                        .post(url)
                        .json(&serde_json::json!({ "cprs": cprs }))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status().as_u16(), 200);
                    let body: serde_json::Value = res.json().await.unwrap();
                    assert_eq!(body["persons"].as_array().map(Vec::len), Some(1000));
                }
            });
            futures_util::future::join_all(calls).await;
        }
        let stats = fake.stats();
        assert_eq!(
            (stats.requests, stats.max_batch, stats.max_in_flight, stats.cprs_asked),
            (100, 1000, 20, 100_000)
        );
        assert_eq!(fake.max_asked_count(), 1);
        fake.stop().await;
    }
}
