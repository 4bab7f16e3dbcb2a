//! Client of PersonInformation (stamdata-personinformation, REST/JSON): the only module that
//! knows its wire format (SPEC §7).
//!
//! `POST {url}/persons/status` with `{"cprs":["0101001234",...]}` answers 200
//! `{"persons":[{"cpr":"0101001234","status":"90","statusDate":"2025-03-01"}]}`. A CPR absent
//! from the answer does not exist. Any other HTTP code, a timeout or a body that does not parse
//! is a [`PersonInfoError`], whose Danish text never contains a CPR number.

use std::collections::HashSet;

use chrono::NaiveDate;
use reqwest::header::HeaderValue;
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};

use super::error_chain;
use crate::config::ServiceSettings;
use crate::cpr::Cpr;
use crate::logging::request_id;

/// Path of the status call, relative to `personinformation.url`.
const STATUS_PATH: &str = "persons/status";

/// A citizen's CPR status as PersonInformation reports it (two-digit code on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CprStatus {
    /// 01: active, resident in Denmark with a Danish address.
    Active01,
    /// 03: active, resident in Denmark with a special address.
    Active03,
    /// 05: active, resident in Greenland.
    Active05,
    /// 07: active, resident in Greenland with a special address.
    Active07,
    /// 20: inactive.
    Inactive20,
    /// 30: annulled.
    Annulled30,
    /// 50: deleted.
    Deleted50,
    /// 60: changed personal identity number.
    Changed60,
    /// 70: missing.
    Missing70,
    /// 80: emigrated.
    Emigrated80,
    /// 90: dead.
    Dead90,
}

impl CprStatus {
    /// Every status, in code order.
    pub const ALL: [CprStatus; 11] = [
        CprStatus::Active01,
        CprStatus::Active03,
        CprStatus::Active05,
        CprStatus::Active07,
        CprStatus::Inactive20,
        CprStatus::Annulled30,
        CprStatus::Deleted50,
        CprStatus::Changed60,
        CprStatus::Missing70,
        CprStatus::Emigrated80,
        CprStatus::Dead90,
    ];

    /// The two-digit wire code ("01".."90").
    pub fn code(self) -> &'static str {
        match self {
            CprStatus::Active01 => "01",
            CprStatus::Active03 => "03",
            CprStatus::Active05 => "05",
            CprStatus::Active07 => "07",
            CprStatus::Inactive20 => "20",
            CprStatus::Annulled30 => "30",
            CprStatus::Deleted50 => "50",
            CprStatus::Changed60 => "60",
            CprStatus::Missing70 => "70",
            CprStatus::Emigrated80 => "80",
            CprStatus::Dead90 => "90",
        }
    }

    /// The status for a wire code, or `None` for a code PersonInformation does not define.
    pub fn parse(code: &str) -> Option<CprStatus> {
        CprStatus::ALL.into_iter().find(|s| s.code() == code)
    }

    /// True for the active statuses 01, 03, 05 and 07.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            CprStatus::Active01 | CprStatus::Active03 | CprStatus::Active05 | CprStatus::Active07
        )
    }
}

/// One person in PersonInformation's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonStatus {
    /// The person's CPR number (one of those asked for).
    pub cpr: Cpr,
    /// The person's CPR status.
    pub status: CprStatus,
    /// Date the status took effect, when PersonInformation knows it.
    pub status_date: Option<NaiveDate>,
}

/// Why PersonInformation gave no usable answer. Display texts are Danish, end without a period
/// and never contain a CPR number; causes are kept for `Debug` and the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonInfoError {
    /// The service answered with an HTTP code other than 200.
    #[error("Data for CPR-nummeret kunne ikke findes, fordi kaldet til PersonInformation-servicen returnerede en uventet statuskode: {0}")]
    UnexpectedStatus(u16),
    /// The service did not answer within the timeout.
    #[error("Data for CPR-nummeret kunne ikke findes, fordi kaldet til PersonInformation-servicen ikke svarede inden for tidsgrænsen")]
    Timeout,
    /// The service could not be reached (cause kept for `Debug`).
    #[error("Data for CPR-nummeret kunne ikke findes, fordi PersonInformation-servicen ikke kunne kontaktes")]
    Unreachable(String),
    /// The answer was not the expected JSON, or named an unknown status or a CPR not asked for.
    #[error("Data for CPR-nummeret kunne ikke findes, fordi svaret fra PersonInformation-servicen ikke kunne læses")]
    BadBody(String),
    /// The HTTP client or the request could not be built (cause kept for `Debug`).
    #[error(
        "Data for CPR-nummeret kunne ikke findes, fordi klienten til PersonInformation-servicen ikke kunne oprettes"
    )]
    Client(String),
}

/// HTTP client of PersonInformation; cheap to clone (shares one connection pool).
#[derive(Debug, Clone)]
pub struct PersonInformationClient {
    http: reqwest::Client,
    status_url: Url,
}

/// Request body: `{"cprs":[...]}`.
#[derive(Serialize)]
struct WireRequest<'a> {
    cprs: Vec<&'a str>,
}

/// Response body: `{"persons":[...]}`.
#[derive(Deserialize)]
struct WireResponse {
    persons: Vec<WirePerson>,
}

/// One person on the wire; `statusDate` may be null or absent.
#[derive(Deserialize)]
struct WirePerson {
    cpr: String,
    status: String,
    #[serde(rename = "statusDate", default)]
    status_date: Option<NaiveDate>,
}

impl PersonInformationClient {
    /// Builds the client from `personinformation.*` settings (rustls, pool, timeouts).
    ///
    /// The request timeout equals the connection timeout (our reading of
    /// `defaultConnectionTimeoutMs`). reqwest has no cap on total connections, so
    /// `max_total_connections` is not used here; callers bound requests in flight.
    pub fn new(settings: &ServiceSettings) -> Result<Self, PersonInfoError> {
        let status_url = status_url(&settings.url).map_err(|cause| {
            log::warn!("PersonInformation: invalid url: {cause}");
            PersonInfoError::Client(cause)
        })?;
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .pool_max_idle_per_host(settings.max_per_route)
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.connect_timeout)
            .build()
            .map_err(|e| {
                let cause = error_chain(&e);
                log::warn!("PersonInformation: could not build HTTP client: {cause}");
                PersonInfoError::Client(cause)
            })?;
        Ok(PersonInformationClient { http, status_url })
    }

    /// One request for these CPRs; CPRs absent from the answer are simply not in the result.
    ///
    /// Duplicates are asked once; an empty slice makes no request.
    pub async fn statuses(&self, cprs: &[Cpr]) -> Result<Vec<PersonStatus>, PersonInfoError> {
        // Each call its own id, built from the incoming one (the log line's MDC) so the two join.
        let request_id = request_id::outgoing();
        let result = self.call(cprs, &request_id).await;
        match &result {
            Ok(answer) => log::debug!(
                "PersonInformation: status call for {} CPR numbers answered {} (request id {request_id})",
                cprs.len(),
                answer.len()
            ),
            Err(e) => log::warn!(
                "PersonInformation: status call for {} CPR numbers failed (request id {request_id}): {e}; cause: {}",
                cprs.len(),
                cause_of(e)
            ),
        }
        result
    }

    async fn call(&self, cprs: &[Cpr], request_id: &str) -> Result<Vec<PersonStatus>, PersonInfoError> {
        let mut seen = HashSet::with_capacity(cprs.len());
        let asked: Vec<&Cpr> = cprs.iter().filter(|c| seen.insert(*c)).collect();
        if asked.is_empty() {
            return Ok(Vec::new());
        }
        let body = WireRequest {
            cprs: asked.iter().map(|c| c.expose()).collect(),
        };
        let header = HeaderValue::from_str(request_id)
            .or_else(|_| HeaderValue::from_str(&request_id::generate()))
            .map_err(|e| PersonInfoError::Client(e.to_string()))?;
        let response = self
            .http
            .post(self.status_url.clone())
            .header(request_id::HEADER, header)
            .json(&body)
            .send()
            .await
            .map_err(transport_error)?;
        if response.status() != StatusCode::OK {
            return Err(PersonInfoError::UnexpectedStatus(response.status().as_u16()));
        }
        let bytes = response.bytes().await.map_err(transport_error)?;
        parse_answer(&bytes, &asked)
    }
}

/// `{base}/persons/status`, tolerating a trailing slash on the base.
fn status_url(base: &str) -> Result<Url, String> {
    let joined = format!("{}/{STATUS_PATH}", base.trim_end_matches('/'));
    Url::parse(&joined).map_err(|e| format!("personinformation.url is not a URL: {e}"))
}

/// Parses a 200 body and checks it against the CPRs asked for.
fn parse_answer(body: &[u8], asked: &[&Cpr]) -> Result<Vec<PersonStatus>, PersonInfoError> {
    // serde_json messages may quote values (a CPR), so only the kind and position are kept.
    let wire: WireResponse = serde_json::from_slice(body).map_err(|e| {
        PersonInfoError::BadBody(format!(
            "not the expected JSON ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    let asked: HashSet<&str> = asked.iter().map(|c| c.expose()).collect();
    let mut answered = HashSet::with_capacity(wire.persons.len());
    let mut out = Vec::with_capacity(wire.persons.len());
    for (i, p) in wire.persons.into_iter().enumerate() {
        let cpr = Cpr::parse(&p.cpr).map_err(|_| PersonInfoError::BadBody(format!("person {i}: not a CPR number")))?;
        if !asked.contains(cpr.expose()) {
            return Err(PersonInfoError::BadBody(format!(
                "person {i}: a CPR number that was not asked for"
            )));
        }
        if !answered.insert(cpr.expose().to_string()) {
            return Err(PersonInfoError::BadBody(format!(
                "person {i}: a CPR number answered twice"
            )));
        }
        let status = CprStatus::parse(&p.status).ok_or_else(|| {
            PersonInfoError::BadBody(format!("person {i}: unknown status code {}", loggable_code(&p.status)))
        })?;
        out.push(PersonStatus {
            cpr,
            status,
            status_date: p.status_date,
        });
    }
    Ok(out)
}

/// A status code for the log: shown only when it is short enough not to be a CPR number.
fn loggable_code(code: &str) -> String {
    if code.len() <= 4 && code.chars().all(|c| c.is_ascii_alphanumeric()) {
        format!("\"{code}\"")
    } else {
        format!("({} characters, not shown)", code.chars().count())
    }
}

/// Classifies a reqwest error (sending, or reading the body).
fn transport_error(e: reqwest::Error) -> PersonInfoError {
    if e.is_timeout() {
        PersonInfoError::Timeout
    } else if e.is_builder() {
        PersonInfoError::Client(error_chain(&e))
    } else if e.is_decode() {
        PersonInfoError::BadBody(error_chain(&e))
    } else {
        PersonInfoError::Unreachable(error_chain(&e))
    }
}

/// The cause kept in a variant, for the log line.
fn cause_of(e: &PersonInfoError) -> String {
    match e {
        PersonInfoError::UnexpectedStatus(code) => format!("HTTP {code}"),
        PersonInfoError::Timeout => "timeout".to_string(),
        PersonInfoError::Unreachable(c) | PersonInfoError::BadBody(c) | PersonInfoError::Client(c) => c.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::simulator::person_information::{FakePersonInformation, PiFault};

    const ALICE: &str = "0101001234";
    const BOB: &str = "0202025678";
    const CAROL: &str = "0303039012";

    fn settings(url: String, timeout: Duration) -> ServiceSettings {
        ServiceSettings {
            url,
            max_total_connections: 200,
            max_per_route: 20,
            connect_timeout: timeout,
            error_tolerance: 0,
            errorcount_duration: Duration::from_secs(600),
        }
    }

    fn client(fake: &FakePersonInformation) -> PersonInformationClient {
        PersonInformationClient::new(&settings(fake.base_url(), Duration::from_secs(5))).unwrap()
    }

    fn cpr(s: &str) -> Cpr {
        Cpr::parse(s).unwrap()
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// Asserts the Display text names no CPR number and ends without a period.
    fn assert_clean(e: &PersonInfoError) {
        let text = e.to_string();
        for c in [ALICE, BOB, CAROL] {
            assert!(!text.contains(c), "CPR in {text}");
        }
        let longest_digit_run = text
            .split(|c: char| !c.is_ascii_digit())
            .map(str::len)
            .max()
            .unwrap_or(0);
        assert!(longest_digit_run < 10, "digits in {text}");
        assert!(
            text.starts_with("Data for CPR-nummeret kunne ikke findes, fordi "),
            "{text}"
        );
        assert!(!text.ends_with('.'), "{text}");
    }

    #[test]
    fn status_codes_round_trip() {
        for s in CprStatus::ALL {
            assert_eq!(CprStatus::parse(s.code()), Some(s));
        }
        let active: Vec<&str> = CprStatus::ALL
            .into_iter()
            .filter(|s| s.is_active())
            .map(|s| s.code())
            .collect();
        assert_eq!(active, ["01", "03", "05", "07"]);
        for bad in ["", "1", "02", "90 ", "99", "x"] {
            assert_eq!(CprStatus::parse(bad), None);
        }
    }

    #[test]
    fn status_url_tolerates_trailing_slash() {
        assert_eq!(
            status_url("http://h:1/a/b/").unwrap().as_str(),
            "http://h:1/a/b/persons/status"
        );
        assert_eq!(
            status_url("http://h:1/a/b").unwrap().as_str(),
            "http://h:1/a/b/persons/status"
        );
        assert!(status_url("not a url").is_err());
    }

    #[test]
    fn answer_with_absent_or_null_status_date_parses() {
        let (a, b) = (cpr(ALICE), cpr(BOB));
        let body = format!(
            r#"{{"persons":[{{"cpr":"{ALICE}","status":"80"}},{{"cpr":"{BOB}","status":"01","statusDate":null,"extra":1}}]}}"#
        );
        let got = parse_answer(body.as_bytes(), &[&a, &b]).unwrap();
        assert_eq!(
            got[0],
            PersonStatus {
                cpr: a.clone(),
                status: CprStatus::Emigrated80,
                status_date: None
            }
        );
        assert_eq!(
            got[1],
            PersonStatus {
                cpr: b.clone(),
                status: CprStatus::Active01,
                status_date: None
            }
        );
    }

    #[test]
    fn answer_naming_an_invalid_cpr_a_cpr_not_asked_or_a_bad_date_is_bad_body() {
        let a = cpr(ALICE);
        let bodies = [
            r#"{"persons":[{"cpr":"01010012","status":"90"}]}"#.to_string(),
            format!(r#"{{"persons":[{{"cpr":"{BOB}","status":"90"}}]}}"#),
            format!(r#"{{"persons":[{{"cpr":"{ALICE}","status":"90"}},{{"cpr":"{ALICE}","status":"90"}}]}}"#),
            format!(r#"{{"persons":[{{"cpr":"{ALICE}","status":"90","statusDate":"{ALICE}"}}]}}"#),
            format!(r#"{{"persons":[{{"cpr":"{ALICE}","status":90}}]}}"#),
            format!(r#"{{"people":[{{"cpr":"{ALICE}","status":"90"}}]}}"#),
            format!(r#"{{"persons":[{{"cpr":"{ALICE}","status":"{BOB}"}}]}}"#),
            format!(r#"{{"persons":[{{"cpr":{ALICE},"status":"90"}}]}}"#),
        ];
        for body in bodies {
            let err = parse_answer(body.as_bytes(), &[&a]).unwrap_err();
            assert!(matches!(err, PersonInfoError::BadBody(_)), "{body}: {err:?}");
            // Not even the cause (which goes to the log) may name a CPR number.
            let debug = format!("{err:?}");
            assert!(!debug.contains(ALICE) && !debug.contains(BOB), "{debug}");
            assert_clean(&err);
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn statuses_are_parsed_and_absent_cprs_are_absent() {
        let fake = FakePersonInformation::start().await.unwrap();
        fake.set_person(ALICE, "90", Some(date("2025-03-01")));
        fake.set_person(BOB, "01", None);
        let got = client(&fake)
            .statuses(&[cpr(ALICE), cpr(BOB), cpr(CAROL)])
            .await
            .unwrap();
        assert_eq!(
            got,
            vec![
                PersonStatus {
                    cpr: cpr(ALICE),
                    status: CprStatus::Dead90,
                    status_date: Some(date("2025-03-01"))
                },
                PersonStatus {
                    cpr: cpr(BOB),
                    status: CprStatus::Active01,
                    status_date: None
                },
            ]
        );
        let stats = fake.stats();
        assert_eq!((stats.requests, stats.max_batch, stats.cprs_asked), (1, 3, 3));
        assert_eq!(fake.asked_count(CAROL), 1);
        fake.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn duplicates_are_asked_once_and_nothing_asked_makes_no_request() {
        let fake = FakePersonInformation::start().await.unwrap();
        fake.set_person(ALICE, "80", None);
        let c = client(&fake);
        assert_eq!(c.statuses(&[]).await.unwrap(), vec![]);
        assert_eq!(fake.stats().requests, 0);
        let got = c.statuses(&[cpr(ALICE), cpr(ALICE)]).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(fake.max_asked_count(), 1);
        fake.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn unknown_status_code_is_bad_body() {
        let fake = FakePersonInformation::start().await.unwrap();
        fake.set_person(ALICE, "42", None);
        let err = client(&fake).statuses(&[cpr(ALICE)]).await.unwrap_err();
        assert!(matches!(err, PersonInfoError::BadBody(_)), "{err:?}");
        assert_clean(&err);
        fake.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn unexpected_status_gives_the_exact_danish_text() {
        let fake = FakePersonInformation::start().await.unwrap();
        fake.set_person(ALICE, "90", None);
        fake.fail_next(1, PiFault::Status(409));
        let c = client(&fake);
        let err = c.statuses(&[cpr(ALICE)]).await.unwrap_err();
        assert_eq!(err, PersonInfoError::UnexpectedStatus(409));
        assert_eq!(
            err.to_string(),
            "Data for CPR-nummeret kunne ikke findes, fordi kaldet til PersonInformation-servicen returnerede en uventet statuskode: 409"
        );
        assert_clean(&err);
        // fail_next(1, ..) fails only the next call.
        assert_eq!(c.statuses(&[cpr(ALICE)]).await.unwrap().len(), 1);
        fake.set_fault(PiFault::Status(503));
        assert_eq!(
            c.statuses(&[cpr(ALICE)]).await.unwrap_err(),
            PersonInfoError::UnexpectedStatus(503)
        );
        fake.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn garbage_is_bad_body() {
        let fake = FakePersonInformation::start().await.unwrap();
        fake.set_person(ALICE, "90", None);
        fake.set_fault(PiFault::Garbage);
        let err = client(&fake).statuses(&[cpr(ALICE)]).await.unwrap_err();
        assert!(matches!(err, PersonInfoError::BadBody(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "Data for CPR-nummeret kunne ikke findes, fordi svaret fra PersonInformation-servicen ikke kunne læses"
        );
        assert_clean(&err);
        fake.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn hanging_service_times_out() {
        let fake = FakePersonInformation::start().await.unwrap();
        fake.set_person(ALICE, "90", None);
        fake.set_fault(PiFault::Hang);
        let c = PersonInformationClient::new(&settings(fake.base_url(), Duration::from_millis(300))).unwrap();
        let err = c.statuses(&[cpr(ALICE)]).await.unwrap_err();
        assert_eq!(err, PersonInfoError::Timeout);
        assert_eq!(
            err.to_string(),
            "Data for CPR-nummeret kunne ikke findes, fordi kaldet til PersonInformation-servicen ikke svarede inden for tidsgrænsen"
        );
        assert_clean(&err);
        fake.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn stopped_service_is_unreachable() {
        let fake = FakePersonInformation::start().await.unwrap();
        let url = fake.base_url();
        fake.stop().await;
        let c = PersonInformationClient::new(&settings(url, Duration::from_secs(2))).unwrap();
        let err = c.statuses(&[cpr(ALICE)]).await.unwrap_err();
        assert!(matches!(err, PersonInfoError::Unreachable(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "Data for CPR-nummeret kunne ikke findes, fordi PersonInformation-servicen ikke kunne kontaktes"
        );
        assert_clean(&err);
        assert!(!format!("{err:?}").contains(ALICE));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn request_id_is_sent() {
        let fake = FakePersonInformation::start().await.unwrap();
        let c = client(&fake);
        request_id::scope("job-run-17".to_string(), async {
            c.statuses(&[cpr(ALICE)]).await.unwrap();
            assert_eq!(fake.last_request_id().as_deref(), Some("job-run-17-1"));
            c.statuses(&[cpr(BOB)]).await.unwrap();
            assert_eq!(fake.last_request_id().as_deref(), Some("job-run-17-2"));
        })
        .await;
        // Outside a request, a fresh id is generated for each call.
        c.statuses(&[cpr(ALICE)]).await.unwrap();
        let first = fake.last_request_id().unwrap();
        assert!(uuid::Uuid::parse_str(&first).is_ok(), "{first}");
        c.statuses(&[cpr(ALICE)]).await.unwrap();
        assert_ne!(fake.last_request_id().unwrap(), first);
        // Spawned work without a request id to inherit still sends a real one.
        request_id::inherit(c.statuses(&[cpr(ALICE)])).await.unwrap();
        let inherited = fake.last_request_id().unwrap();
        assert!(uuid::Uuid::parse_str(&inherited).is_ok(), "{inherited}");
        fake.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn concurrent_calls_are_measured_in_flight() {
        let fake = FakePersonInformation::start().await.unwrap();
        fake.set_latency(Duration::from_millis(50));
        let c = client(&fake);
        let all = [ALICE, BOB, CAROL].map(cpr);
        let calls = (0..10).map(|i| {
            let c = c.clone();
            let batch = all[..(i % 3) + 1].to_vec();
            async move { c.statuses(&batch).await }
        });
        for r in futures_util::future::join_all(calls).await {
            assert_eq!(r.unwrap(), vec![]);
        }
        let stats = fake.stats();
        assert_eq!(stats.requests, 10);
        assert_eq!(stats.max_in_flight, 10);
        assert_eq!(stats.max_batch, 3);
        // Batches of 1, 2, 3, 1, 2, 3, ...: four of one, three of two, three of three.
        assert_eq!(stats.cprs_asked, 4 + 3 * 2 + 3 * 3);
        assert_eq!(fake.asked_count(ALICE), 10);
        assert_eq!(fake.max_asked_count(), 10);
        // Sequential calls never overlap.
        fake.reset_stats();
        for _ in 0..3 {
            c.statuses(&all[..1]).await.unwrap();
        }
        let stats = fake.stats();
        assert_eq!((stats.requests, stats.max_in_flight, stats.cprs_asked), (3, 1, 3));
        assert_eq!(fake.asked_count(BOB), 0);
        fake.stop().await;
    }

    #[test]
    fn no_error_text_contains_cpr_digits() {
        let errors = [
            PersonInfoError::UnexpectedStatus(500),
            PersonInfoError::Timeout,
            PersonInfoError::Unreachable(format!("connection refused while asking {ALICE}")),
            PersonInfoError::BadBody(format!("bad {ALICE}")),
            PersonInfoError::Client(format!("bad {ALICE}")),
        ];
        for e in &errors {
            assert_clean(e);
        }
    }
}
