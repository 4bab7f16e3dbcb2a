//! A scriptable fake of PersonInformation for tests, the demo and benchmarks.
//!
//! It serves `POST /stamdata-personinformation/2024/08/01/persons/status` on 127.0.0.1 (any
//! free port), answers only the people it holds, and can be told to be slow, to answer an
//! HTTP error code, to answer garbage or to never answer. It counts what it was asked. The
//! knobs, counters and gate are the shared [`FakeCore`]'s; this module is the JSON and the people.

use std::collections::{HashMap, HashSet};
use std::ops::Deref;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::fake::{self, Fake, FakeCore, Shared};

/// The path prefix of the real service, kept in the fake's base URL.
const BASE_PATH: &str = "/stamdata-personinformation/2024/08/01";
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
    /// Most requests being handled at once (held at the gate and latency included).
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

/// The people and what was asked; never locked across an await.
#[derive(Debug, Default)]
struct State {
    people: HashMap<Key, Person>,
    /// Distinct status codes seen, so a person holds a small index instead of a string.
    codes: Vec<Box<str>>,
    max_batch: usize,
    cprs_asked: u64,
    asked: HashMap<Key, u32>,
    max_asked: u32,
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

    /// Counts the asks and answers the held people among `asked` (a CPR asked twice in one
    /// request is answered once).
    fn answer(&mut self, asked: Vec<String>) -> Vec<(String, String, Option<NaiveDate>)> {
        self.max_batch = self.max_batch.max(asked.len());
        self.cprs_asked += asked.len() as u64;
        let mut answered = HashSet::with_capacity(asked.len());
        let mut answer = Vec::new();
        for cpr in asked {
            let key = Key::of(&cpr);
            let count = self.asked.entry(key.clone()).or_insert(0);
            *count += 1;
            self.max_asked = self.max_asked.max(*count);
            let person = self.people.get(&key).copied();
            if let Some(p) = person.filter(|_| answered.insert(key)) {
                let status = self
                    .codes
                    .get(usize::from(p.code))
                    .map_or_else(String::new, |c| c.to_string());
                answer.push((cpr, status, p.date));
            }
        }
        answer
    }
}

/// A running fake PersonInformation server. The knobs, counters and gate of its
/// [`FakeCore`] (`set_latency`, `set_fault`, `fail_next`, `gate`, `request_ids`, ...) are
/// reached through it.
pub struct FakePersonInformation {
    fake: Fake<PiFault, State>,
}

impl Deref for FakePersonInformation {
    type Target = FakeCore<PiFault>;

    /// The fake is its core plus a wire format: every knob of the core is the fake's knob.
    fn deref(&self) -> &FakeCore<PiFault> {
        self.fake.core()
    }
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
    status: &'a str,
    #[serde(rename = "statusDate")]
    status_date: Option<NaiveDate>,
}

impl FakePersonInformation {
    /// Starts the fake on 127.0.0.1 with a free port, holding nobody.
    pub async fn start() -> std::io::Result<FakePersonInformation> {
        let fake = Fake::start("PersonInformation", |cfg| {
            cfg.app_data(web::PayloadConfig::new(MAX_BODY))
                .route(&format!("{BASE_PATH}/persons/status"), web::post().to(persons_status))
                .default_service(web::to(HttpResponse::NotFound));
        })?;
        Ok(FakePersonInformation { fake })
    }

    /// The value for `personinformation.url`.
    pub fn base_url(&self) -> String {
        self.fake.url(BASE_PATH)
    }

    /// Holds (or replaces) one person with this status code and status date.
    pub fn set_person(&self, cpr: &str, status: &str, status_date: Option<NaiveDate>) {
        self.fake.state().insert(cpr, status, status_date);
    }

    /// Holds (or replaces) many people at once: (CPR, status code, status date).
    pub fn set_people(&self, people: impl IntoIterator<Item = (String, String, Option<NaiveDate>)>) {
        let mut s = self.fake.state();
        for (cpr, status, date) in people {
            s.insert(&cpr, &status, date);
        }
    }

    /// Forgets a person: from now on the CPR is absent from answers.
    pub fn remove_person(&self, cpr: &str) {
        self.fake.state().people.remove(&Key::of(cpr));
    }

    /// Counters since the last reset.
    pub fn stats(&self) -> PiStats {
        let traffic = self.traffic();
        let s = self.fake.state();
        PiStats {
            requests: traffic.requests,
            max_batch: s.max_batch,
            max_in_flight: traffic.max_in_flight,
            cprs_asked: s.cprs_asked,
        }
    }

    /// How many times this CPR was asked since the last reset.
    pub fn asked_count(&self, cpr: &str) -> u32 {
        self.fake.state().asked.get(&Key::of(cpr)).copied().unwrap_or(0)
    }

    /// Highest per-CPR ask count since the last reset.
    pub fn max_asked_count(&self) -> u32 {
        self.fake.state().max_asked
    }

    /// Zeroes the counters, ask counts and request ids (people, knobs and the gate stay).
    pub fn reset_stats(&self) {
        self.reset_traffic();
        let mut s = self.fake.state();
        s.max_batch = 0;
        s.cprs_asked = 0;
        s.asked = HashMap::new();
        s.max_asked = 0;
    }

    /// Stops the server at once (requests in flight are dropped) and waits until it is down.
    pub async fn stop(self) {
        self.fake.stop().await;
    }
}

/// `POST .../persons/status`.
async fn persons_status(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared<PiFault, State>>) -> HttpResponse {
    let admission = shared.core().admit(&req).await;
    let Ok(WireRequest { cprs: asked }) = serde_json::from_slice::<WireRequest>(&body) else {
        return HttpResponse::BadRequest()
            .content_type("text/plain; charset=utf-8")
            .body("body must be {\"cprs\":[...]}");
    };
    let answer = shared.state().answer(asked);
    match admission.fault {
        PiFault::None => {
            let persons = answer
                .iter()
                .map(|(cpr, status, date)| WirePerson {
                    cpr,
                    status,
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
        PiFault::Hang => fake::hang().await,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
    async fn serves_twenty_concurrent_batches_without_queueing() {
        const PEOPLE: u64 = 900_000;
        let fake = FakePersonInformation::start().await.unwrap();
        fake.set_people((0..PEOPLE).map(|i| (format!("{:010}", 1_000_000_000 + i), "90".to_string(), None)));
        let client = reqwest::Client::new();
        let url = format!("{}/persons/status", fake.base_url());
        for round in 0..5u64 {
            // The twenty are let through only when all twenty are being handled at once.
            fake.gate().hold(20);
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
        assert_eq!(
            fake.gate().barriers_opened(),
            5,
            "each round had twenty in flight at once"
        );
        let stats = fake.stats();
        assert_eq!(
            (stats.requests, stats.max_batch, stats.max_in_flight, stats.cprs_asked),
            (100, 1000, 20, 100_000)
        );
        assert_eq!(fake.max_asked_count(), 1);
        fake.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn held_requests_are_in_flight_until_released_and_faults_come_in_order() {
        let fake = FakePersonInformation::start().await.unwrap();
        fake.set_person("0101001234", "90", None);
        fake.fail_next(1, PiFault::Status(409));
        fake.fail_next(1, PiFault::Garbage);
        fake.gate().hold_all();
        let url = format!("{}/persons/status", fake.base_url());
        let calls: Vec<_> = (0..3)
            .map(|i| {
                let url = url.clone();
                tokio::spawn(async move {
                    let res = reqwest::Client::new()
                        .post(url)
                        .header("x-request-id", format!("r-{i}"))
                        .body(r#"{"cprs":["0101001234"]}"#)
                        .send()
                        .await
                        .unwrap();
                    (res.status().as_u16(), res.text().await.unwrap())
                })
            })
            .collect();
        tokio::time::timeout(Duration::from_secs(30), fake.gate().wait_for_waiting(3))
            .await
            .unwrap();
        assert_eq!((fake.stats().requests, fake.stats().max_in_flight), (3, 3));
        assert_eq!(fake.asked_count("0101001234"), 0, "held requests are not answered yet");
        fake.gate().release();
        let mut answers = Vec::new();
        for c in calls {
            answers.push(c.await.unwrap());
        }
        let mut codes: Vec<u16> = answers.iter().map(|a| a.0).collect();
        codes.sort_unstable();
        assert_eq!(codes, [200, 200, 409]);
        assert_eq!(answers.iter().filter(|a| a.1.starts_with("<html>")).count(), 1);
        let mut ids = fake.request_ids();
        ids.sort();
        assert_eq!(ids, ["r-0", "r-1", "r-2"]);
        fake.reset_stats();
        assert_eq!((fake.stats(), fake.request_ids().len()), (PiStats::default(), 0));
        fake.stop().await;
    }
}
