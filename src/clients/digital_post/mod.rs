//! Client of the Digital Post Adapter (SOAP 1.1, SPEC §7): the only module that knows its wire format.
//!
//! One call sends one letter. The answer is sorted into the three outcomes the notification job acts
//! on (SPEC §6): accepted; rejected for this letter only (a SOAP Fault with faultcode `soap:Client`,
//! or a 4xx other than 408/429); or the adapter unavailable (a Fault with any other faultcode, a 5xx
//! without a Fault, no connection, a timeout, an answer that cannot be read), so the letter is sent
//! again later. Every call writes a `digital-post-request` and a `digital-post-response` audit line,
//! both with the call's own request id. [`soap`] writes and reads the XML.

mod soap;

use std::sync::Arc;

use reqwest::header::CONTENT_TYPE;
use tokio::sync::Semaphore;

use super::{error_chain, http_client, in_flight_cap, outgoing_request_id};
use crate::audit::{self, Event};
use crate::config::ServiceSettings;
use crate::cpr::{loggable, mask_digit_runs, Cpr};
use crate::logging::request_id;
use soap::{envelope, parse_answer, Answer, Blame};

/// SOAP 1.1 action header value (our reading; the adapter routes on the body).
const SOAP_ACTION: &str = "\"http://nspop.dk/digitalpost/2024/05/29/SendDigitalPost\"";
/// Content type of the request.
const CONTENT_TYPE_XML: &str = "text/xml; charset=utf-8";
/// Longest `Rejected` reason, in characters (`ErrorMessage` is VARCHAR(1000)).
const MAX_REASON_CHARS: usize = 900;
/// Longest faultstring kept in a [`DigitalPostError::ServerFault`], in characters (the text goes
/// into JobRun and ErrorEvent messages and onto the alarm page).
const MAX_SERVER_FAULT_CHARS: usize = 300;
/// Longest faultcode shown, in characters (a QName; anything longer is not one we know).
const MAX_FAULTCODE_CHARS: usize = 64;
/// Start of every `DigitalPostError` text.
const FAILED: &str = "Kaldet til Digital Post Adapter-servicen fejlede";

/// A reusable, cloneable client of the Digital Post Adapter's send operation.
#[derive(Clone)]
pub struct DigitalPostClient {
    http: reqwest::Client,
    url: Arc<str>,
    permits: Arc<Semaphore>,
}

/// One letter to send; the job owns the values.
#[derive(Debug, Clone, Copy)]
pub struct Letter<'a> {
    /// The letter's MessageId (UUID fixed when the row is created, reused on every resend).
    pub message_id: &'a str,
    /// The citizen who receives the letter.
    pub recipient: &'a Cpr,
    /// Template of the digital letter.
    pub template_digital: &'a str,
    /// Template of the physical letter.
    pub template_physical: &'a str,
}

/// What became of one letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The adapter took the letter (HTTP 200 with a SendDigitalPostResponse carrying its MessageId).
    Accepted,
    /// The adapter refused this letter (a `soap:Client` Fault, or a 4xx); `reason` is safe for
    /// `ErrorMessage`.
    Rejected {
        /// The faultstring (or the status code), at most 900 characters, digit runs masked.
        reason: String,
    },
    /// The adapter could not be used; the letter was not handled and may be sent again.
    Unavailable(DigitalPostError),
}

/// A service-level failure of the Digital Post Adapter; the texts never contain a CPR number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigitalPostError {
    /// No answer within the configured timeout.
    #[error("{FAILED}: timeout")]
    Timeout,
    /// No connection, or the connection broke before an answer arrived (the cause is kept for logs).
    #[error("{FAILED}: ingen forbindelse")]
    Unreachable(String),
    /// An HTTP status that is neither success, a 4xx nor a SOAP Fault.
    #[error("{FAILED}: uventet statuskode {0}")]
    UnexpectedStatus(u16),
    /// A SOAP Fault whose faultcode is not `soap:Client`: `soap:Server` (the seeds' "Internt
    /// systemfel") or any other code. The adapter failed, not the letter.
    #[error("{FAILED}: serverfejl ({faultcode}){}", colon_then(.faultstring))]
    ServerFault {
        /// The faultcode, `soap:` for the SOAP envelope namespace whatever prefix was written.
        faultcode: String,
        /// The faultstring on one line, digit runs masked, at most 300 characters, no final period.
        faultstring: String,
    },
    /// A success answer that cannot be read, or that names another MessageId (the cause is kept for logs).
    #[error("{FAILED}: svaret kunne ikke læses")]
    BadBody(String),
    /// The HTTP client could not be built or could not build the request (the cause is kept for logs).
    #[error("{FAILED}: fejl i klienten")]
    Client(String),
}

/// `": text"`, or nothing for an empty text.
fn colon_then(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

impl DigitalPostError {
    /// The technical cause behind the Danish text, for the application log (digit runs masked).
    pub fn detail(&self) -> Option<&str> {
        match self {
            DigitalPostError::Unreachable(d) | DigitalPostError::BadBody(d) | DigitalPostError::Client(d) => Some(d),
            DigitalPostError::Timeout
            | DigitalPostError::UnexpectedStatus(_)
            | DigitalPostError::ServerFault { .. } => None,
        }
    }

    /// A fault the adapter blames on itself; both texts are masked and bounded here.
    fn server_fault(code: &str, string: &str) -> DigitalPostError {
        let faultcode = match loggable(code, MAX_FAULTCODE_CHARS) {
            c if c.is_empty() => "ingen faultcode".to_string(),
            c => c,
        };
        let faultstring = loggable(string, MAX_SERVER_FAULT_CHARS);
        DigitalPostError::ServerFault {
            faultcode,
            faultstring: faultstring.trim_end_matches(['.', ' ']).to_string(),
        }
    }
}

/// One answer sorted: the outcome, and what the adapter said, for the response audit line.
#[derive(Debug)]
struct Sorted {
    outcome: SendOutcome,
    said: String,
}

impl Sorted {
    fn unavailable(e: DigitalPostError) -> Sorted {
        let said = match e.detail() {
            Some(cause) => format!("unavailable: {e} ({cause})"),
            None => format!("unavailable: {e}"),
        };
        Sorted {
            outcome: SendOutcome::Unavailable(e),
            said,
        }
    }

    fn rejected(reason: String, said: String) -> Sorted {
        Sorted {
            outcome: SendOutcome::Rejected { reason },
            said: format!("rejected: {said}"),
        }
    }
}

impl DigitalPostClient {
    /// Builds the client: pool and timeouts from `settings`, at most min(`max_per_route`,
    /// `max_total_connections`) letters in flight (one adapter, so one route).
    pub fn new(settings: &ServiceSettings) -> Result<Self, DigitalPostError> {
        reqwest::Url::parse(&settings.url)
            .map_err(|e| DigitalPostError::Client(format!("invalid URL {}: {e}", settings.url)))?;
        let http = http_client(settings).map_err(|e| DigitalPostError::Client(mask_digit_runs(&error_chain(&e))))?;
        Ok(DigitalPostClient {
            http,
            url: Arc::from(settings.url.as_str()),
            permits: in_flight_cap(settings),
        })
    }

    /// Sends one letter and sorts the answer; writes the request and response audit lines.
    pub async fn send(&self, letter: &Letter<'_>) -> SendOutcome {
        // Each call its own id, built from the incoming one (the log line's MDC) so the two join.
        let (request_id, header) = outgoing_request_id();
        let id = letter.message_id;
        audit::call(
            Event::DigitalPostRequest,
            Some(letter.recipient),
            &format!(
                "messageId={id} templateDigital={} templatePhysical={}",
                letter.template_digital, letter.template_physical
            ),
            &request_id,
        );
        let sorted = self.exchange(letter, header).await;
        audit::call(
            Event::DigitalPostResponse,
            None,
            &response_detail(id, &sorted),
            &request_id,
        );
        match &sorted.outcome {
            SendOutcome::Accepted => {
                log::debug!("Digital Post Adapter accepted letter {id} (request id {request_id})");
            }
            SendOutcome::Rejected { reason } => {
                log::warn!("Digital Post Adapter rejected letter {id} (request id {request_id}): {reason}");
            }
            SendOutcome::Unavailable(_) => {
                log::warn!(
                    "Digital Post Adapter call for letter {id} failed (request id {request_id}): {}",
                    sorted.said
                );
            }
        }
        sorted.outcome
    }

    /// One HTTP exchange, within the in-flight limit.
    async fn exchange(&self, letter: &Letter<'_>, request_id: Option<reqwest::header::HeaderValue>) -> Sorted {
        let _permit = match self.permits.acquire().await {
            Ok(p) => p,
            Err(e) => return Sorted::unavailable(DigitalPostError::Client(e.to_string())),
        };
        let mut request = self
            .http
            .post(&*self.url)
            .header(CONTENT_TYPE, CONTENT_TYPE_XML)
            .header("SOAPAction", SOAP_ACTION)
            .body(envelope(letter));
        if let Some(id) = request_id {
            request = request.header(request_id::HEADER, id);
        }
        let response = match super::send_once_more(request).await {
            Ok(r) => r,
            Err(e) => return Sorted::unavailable(transport_error(&e)),
        };
        let status = response.status().as_u16();
        match response.text().await {
            Ok(body) => interpret(status, &body, letter.message_id),
            Err(e) => Sorted::unavailable(transport_error(&e)),
        }
    }
}

/// The information of the `digital-post-response` audit line: no CPR, the adapter's answer.
fn response_detail(message_id: &str, sorted: &Sorted) -> String {
    format!("messageId={message_id} {}", sorted.said)
}

/// Sorts an HTTP answer into an outcome (SPEC §6: the faultcode decides, whatever the HTTP code).
fn interpret(status: u16, body: &str, message_id: &str) -> Sorted {
    let bad = |detail: String| Sorted::unavailable(DigitalPostError::BadBody(mask_digit_runs(&detail)));
    match (parse_answer(body), status) {
        (
            Ok(Answer::Fault {
                blame: Blame::Letter,
                code,
                string,
            }),
            _,
        ) => {
            let reason = fault_reason(&code, &string);
            let said = format!(
                "faultcode {}, faultstring \"{}\"",
                loggable(&code, MAX_FAULTCODE_CHARS),
                loggable(&string, MAX_REASON_CHARS)
            );
            Sorted::rejected(reason, said)
        }
        (
            Ok(Answer::Fault {
                blame: Blame::Adapter,
                code,
                string,
            }),
            _,
        ) => Sorted::unavailable(DigitalPostError::server_fault(&code, &string)),
        (Ok(Answer::Response { message_id: Some(got) }), 200..=299) if got.trim() == message_id => Sorted {
            outcome: SendOutcome::Accepted,
            said: format!("accepted: MessageId {message_id}"),
        },
        (Ok(Answer::Response { message_id: Some(got) }), 200..=299) => bad(format!(
            "the answer names MessageId {:?}, not {message_id}",
            loggable(got.trim(), 64)
        )),
        (Ok(Answer::Response { message_id: None }), 200..=299) => bad("the answer has no MessageId".to_string()),
        (Err(e), 200..=299) => bad(format!("HTTP {status}: {e}")),
        // Throttling and request timeouts are about the service, not about the letter.
        (_, 408 | 429) => Sorted::unavailable(DigitalPostError::UnexpectedStatus(status)),
        (_, 400..=499) => Sorted::rejected(
            format!("Digital Post Adapter afviste brevet med statuskode {status}"),
            format!("HTTP {status} without a SOAP Fault"),
        ),
        _ => Sorted::unavailable(DigitalPostError::UnexpectedStatus(status)),
    }
}

/// A reqwest failure as a service-level error.
fn transport_error(e: &reqwest::Error) -> DigitalPostError {
    if e.is_timeout() {
        DigitalPostError::Timeout
    } else if e.is_builder() {
        DigitalPostError::Client(mask_digit_runs(&error_chain(e)))
    } else {
        DigitalPostError::Unreachable(mask_digit_runs(&error_chain(e)))
    }
}

/// The `Rejected` reason from a Fault: its faultstring, or its faultcode if the string is empty.
fn fault_reason(code: &str, string: &str) -> String {
    if string.trim().is_empty() {
        loggable(
            &format!("Digital Post Adapter afviste brevet uden forklaring (faultcode {code})"),
            MAX_REASON_CHARS,
        )
    } else {
        loggable(string, MAX_REASON_CHARS)
    }
}

#[cfg(test)]
mod tests;
