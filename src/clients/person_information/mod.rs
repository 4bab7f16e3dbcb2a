//! Client of PersonInformation (stamdata-personinformation, REST/JSON): the only module that
//! knows its wire format (SPEC §7).
//!
//! `POST {url}/persons/status` with `{"cprs":["0101001234",...]}` answers 200
//! `{"persons":[{"cpr":"0101001234","status":"90","statusDate":"2025-03-01"}]}`. A CPR absent
//! from the answer does not exist. Any other HTTP code, a timeout or a body that does not parse
//! is a [`PersonInfoError`], whose Danish text never contains a CPR number.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::NaiveDate;
use reqwest::header::HeaderValue;
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use super::{error_chain, http_client, in_flight_cap, outgoing_request_id};
use crate::config::ServiceSettings;
use crate::cpr::{loggable, mask_digit_runs, Cpr};
use crate::logging::request_id;

/// Path of the status call, relative to `personinformation.url`.
const STATUS_PATH: &str = "persons/status";
/// Longest status code shown in a log line; a real one has two characters.
const MAX_CODE_CHARS: usize = 16;

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

/// HTTP client of PersonInformation; cheap to clone (shares one connection pool and one cap on
/// requests in flight).
#[derive(Debug, Clone)]
pub struct PersonInformationClient {
    http: reqwest::Client,
    status_url: Url,
    permits: Arc<Semaphore>,
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
    /// `defaultConnectionTimeoutMs`). At most min(`maxTotalConnections`,
    /// `defaultMaxConnectionsPerRoute`) requests are in flight across all clones, whichever
    /// jobs call; the jobs also bound their own requests by the per-route limit.
    pub fn new(settings: &ServiceSettings) -> Result<Self, PersonInfoError> {
        let status_url = status_url(&settings.url).map_err(|cause| {
            log::warn!("PersonInformation: invalid url: {cause}");
            PersonInfoError::Client(cause)
        })?;
        let http = http_client(settings).map_err(|e| {
            let cause = mask_digit_runs(&error_chain(&e));
            log::warn!("PersonInformation: could not build HTTP client: {cause}");
            PersonInfoError::Client(cause)
        })?;
        Ok(PersonInformationClient {
            http,
            status_url,
            permits: in_flight_cap(settings),
        })
    }

    /// One request for these CPRs; CPRs absent from the answer are simply not in the result.
    ///
    /// Duplicates are asked once; an empty slice makes no request.
    pub async fn statuses(&self, cprs: &[Cpr]) -> Result<Vec<PersonStatus>, PersonInfoError> {
        // Each call its own id, built from the incoming one (the log line's MDC) so the two join.
        let (request_id, header) = outgoing_request_id();
        let result = self.call(cprs, header).await;
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

    /// One request within the cap on requests in flight.
    async fn call(&self, cprs: &[Cpr], request_id: Option<HeaderValue>) -> Result<Vec<PersonStatus>, PersonInfoError> {
        let mut seen = HashSet::with_capacity(cprs.len());
        let asked: Vec<&Cpr> = cprs.iter().filter(|c| seen.insert(*c)).collect();
        if asked.is_empty() {
            return Ok(Vec::new());
        }
        let body = WireRequest {
            cprs: asked.iter().map(|c| c.expose()).collect(),
        };
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| PersonInfoError::Client(e.to_string()))?;
        let mut request = self.http.post(self.status_url.clone()).json(&body);
        if let Some(id) = request_id {
            request = request.header(request_id::HEADER, id);
        }
        let response = super::send_once_more(request).await.map_err(transport_error)?;
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

/// A status code for the log: one line, CPR-like digit runs masked, bounded.
fn loggable_code(code: &str) -> String {
    format!("\"{}\"", loggable(code, MAX_CODE_CHARS))
}

/// Classifies a reqwest error (sending, or reading the body).
fn transport_error(e: reqwest::Error) -> PersonInfoError {
    if e.is_timeout() {
        PersonInfoError::Timeout
    } else if e.is_builder() {
        PersonInfoError::Client(mask_digit_runs(&error_chain(&e)))
    } else if e.is_decode() {
        PersonInfoError::BadBody(mask_digit_runs(&error_chain(&e)))
    } else {
        PersonInfoError::Unreachable(mask_digit_runs(&error_chain(&e)))
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
mod tests;
