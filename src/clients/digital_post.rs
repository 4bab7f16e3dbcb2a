//! Client of the Digital Post Adapter (SOAP 1.1, SPEC §7): the only module that knows its wire format.
//!
//! One call sends one letter. The answer is sorted into three outcomes the notification job acts on:
//! accepted, rejected for this letter only (a SOAP Fault, or a 4xx), or the service unavailable
//! (no connection, a timeout, a 5xx without a Fault, an answer that cannot be read).
//! Every call writes a `digital-post-request` and a `digital-post-response` audit line.

use std::borrow::Cow;
use std::sync::Arc;

use quick_xml::escape::escape;
use quick_xml::events::Event as XmlEvent;
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::NsReader;
use reqwest::header::{HeaderValue, CONTENT_TYPE};
use tokio::sync::Semaphore;

use super::error_chain;
use crate::audit::{self, Event};
use crate::config::ServiceSettings;
use crate::cpr::Cpr;
use crate::logging::request_id;

/// Namespace of the Digital Post Adapter messages.
const DP_NS: &str = "http://nspop.dk/digitalpost/2024/05/29/";
/// Namespace of the SOAP 1.1 envelope.
const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// OID of the CPR number system, the `source` of `RecipientId`.
const CPR_SOURCE: &str = "1.2.208.176.1.2";
/// SOAP 1.1 action header value (our reading; the adapter routes on the body).
const SOAP_ACTION: &str = "\"http://nspop.dk/digitalpost/2024/05/29/SendDigitalPost\"";
/// Content type of the request.
const CONTENT_TYPE_XML: &str = "text/xml; charset=utf-8";
/// Longest `Rejected` reason, in characters (`ErrorMessage` is VARCHAR(1000)).
const MAX_REASON_CHARS: usize = 900;
/// Digit runs at least this long are masked: they could be a CPR number.
const MASK_DIGITS_FROM: usize = 6;
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
    /// The adapter refused this letter (a SOAP Fault, or a 4xx); `reason` is safe for `ErrorMessage`.
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
    /// A success answer that cannot be read, or that names another MessageId (the cause is kept for logs).
    #[error("{FAILED}: svaret kunne ikke læses")]
    BadBody(String),
    /// The HTTP client could not be built or could not build the request (the cause is kept for logs).
    #[error("{FAILED}: fejl i klienten")]
    Client(String),
}

impl DigitalPostError {
    /// The technical cause behind the Danish text, for the application log (digit runs masked).
    pub fn detail(&self) -> Option<&str> {
        match self {
            DigitalPostError::Unreachable(d) | DigitalPostError::BadBody(d) | DigitalPostError::Client(d) => Some(d),
            DigitalPostError::Timeout | DigitalPostError::UnexpectedStatus(_) => None,
        }
    }
}

impl DigitalPostClient {
    /// Builds the client: pool and timeouts from `settings`, at most `max_per_route` letters in flight.
    pub fn new(settings: &ServiceSettings) -> Result<Self, DigitalPostError> {
        reqwest::Url::parse(&settings.url)
            .map_err(|e| DigitalPostError::Client(format!("invalid URL {}: {e}", settings.url)))?;
        let in_flight = settings.max_per_route.min(settings.max_total_connections).max(1);
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(settings.max_per_route)
            .connect_timeout(settings.connect_timeout)
            // Our reading: the properties give one timeout, used for the whole call as well.
            .timeout(settings.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("odr-operations/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DigitalPostError::Client(mask_digit_runs(&error_chain(&e))))?;
        Ok(DigitalPostClient {
            http,
            url: Arc::from(settings.url.as_str()),
            permits: Arc::new(Semaphore::new(in_flight)),
        })
    }

    /// Sends one letter and sorts the answer; writes the request and response audit lines.
    pub async fn send(&self, letter: &Letter<'_>) -> SendOutcome {
        audit::citizen(
            Event::DigitalPostRequest,
            letter.recipient,
            &format!(
                "messageId={} templateDigital={} templatePhysical={}",
                letter.message_id, letter.template_digital, letter.template_physical
            ),
        );
        let outcome = self.exchange(letter).await;
        let id = letter.message_id;
        match &outcome {
            SendOutcome::Accepted => {
                audit::plain(Event::DigitalPostResponse, &format!("messageId={id} accepted"));
                log::debug!("Digital Post Adapter accepted letter {id}");
            }
            SendOutcome::Rejected { reason } => {
                audit::plain(
                    Event::DigitalPostResponse,
                    &format!("messageId={id} rejected: {reason}"),
                );
                log::warn!("Digital Post Adapter rejected letter {id}: {reason}");
            }
            SendOutcome::Unavailable(e) => {
                audit::plain(Event::DigitalPostResponse, &format!("messageId={id} unavailable: {e}"));
                match e.detail() {
                    Some(cause) => log::warn!("Digital Post Adapter call for letter {id} failed: {e} ({cause})"),
                    None => log::warn!("Digital Post Adapter call for letter {id} failed: {e}"),
                }
            }
        }
        outcome
    }

    /// One HTTP exchange, within the in-flight limit.
    async fn exchange(&self, letter: &Letter<'_>) -> SendOutcome {
        let _permit = match self.permits.acquire().await {
            Ok(p) => p,
            Err(e) => return SendOutcome::Unavailable(DigitalPostError::Client(e.to_string())),
        };
        // Each call its own id, built from the incoming one (the log line's MDC) so the two join.
        let request_id = HeaderValue::from_str(&request_id::outgoing())
            .ok()
            .or_else(|| HeaderValue::from_str(&request_id::generate()).ok());
        let mut request = self
            .http
            .post(&*self.url)
            .header(CONTENT_TYPE, CONTENT_TYPE_XML)
            .header("SOAPAction", SOAP_ACTION)
            .body(envelope(letter));
        if let Some(id) = request_id {
            request = request.header(request_id::HEADER, id);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return SendOutcome::Unavailable(transport_error(&e)),
        };
        let status = response.status().as_u16();
        match response.text().await {
            Ok(body) => interpret(status, &body, letter.message_id),
            Err(e) => SendOutcome::Unavailable(transport_error(&e)),
        }
    }
}

/// The SOAP request of SPEC §7, every value XML-escaped.
fn envelope(letter: &Letter<'_>) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<soap:Envelope xmlns:soap="{soap}"><soap:Header/><soap:Body>"#,
            r#"<dp:SendDigitalPostRequest xmlns:dp="{dp}">"#,
            r#"<dp:MessageId>{id}</dp:MessageId>"#,
            r#"<dp:RecipientId source="{source}">{cpr}</dp:RecipientId>"#,
            r#"<dp:TemplateDigital>{digital}</dp:TemplateDigital>"#,
            r#"<dp:TemplatePhysical>{physical}</dp:TemplatePhysical>"#,
            r#"</dp:SendDigitalPostRequest></soap:Body></soap:Envelope>"#
        ),
        soap = SOAP_NS,
        dp = DP_NS,
        id = escape(letter.message_id),
        source = CPR_SOURCE,
        cpr = escape(letter.recipient.expose()),
        digital = escape(letter.template_digital),
        physical = escape(letter.template_physical),
    )
}

/// Sorts an HTTP answer into an outcome (SPEC §6: a Fault rejects whatever the code).
fn interpret(status: u16, body: &str, message_id: &str) -> SendOutcome {
    let bad = |detail: String| SendOutcome::Unavailable(DigitalPostError::BadBody(mask_digit_runs(&detail)));
    match (parse_answer(body), status) {
        (Ok(Answer::Fault { code, string }), _) => SendOutcome::Rejected {
            reason: fault_reason(&code, &string),
        },
        (Ok(Answer::Response { message_id: Some(got) }), 200..=299) if got.trim() == message_id => {
            SendOutcome::Accepted
        }
        (Ok(Answer::Response { message_id: Some(got) }), 200..=299) => bad(format!(
            "the answer names MessageId {:?}, not {message_id}",
            truncate(got.trim(), 64)
        )),
        (Ok(Answer::Response { message_id: None }), 200..=299) => bad("the answer has no MessageId".to_string()),
        (Err(e), 200..=299) => bad(format!("HTTP {status}: {e}")),
        // Throttling and request timeouts are about the service, not about the letter.
        (_, 408 | 429) => SendOutcome::Unavailable(DigitalPostError::UnexpectedStatus(status)),
        (_, 400..=499) => SendOutcome::Rejected {
            reason: format!("Digital Post Adapter afviste brevet med statuskode {status}"),
        },
        _ => SendOutcome::Unavailable(DigitalPostError::UnexpectedStatus(status)),
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
        safe_reason(&format!(
            "Digital Post Adapter afviste brevet uden forklaring (faultcode {})",
            code.trim()
        ))
    } else {
        safe_reason(string)
    }
}

/// One line, no CPR-like digit runs, at most 900 characters.
fn safe_reason(raw: &str) -> String {
    let one_line = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate(&mask_digit_runs(&one_line), MAX_REASON_CHARS).into_owned()
}

/// The first `max` characters of `s`.
fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        Some((at, _)) => Cow::Owned(s[..at].to_string()),
        None => Cow::Borrowed(s),
    }
}

/// Replaces every digit of each run of six or more ASCII digits by `*`.
fn mask_digit_runs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= MASK_DIGITS_FROM {
            out.extend(std::iter::repeat_n('*', run.len()));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in s.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// The body of a readable answer.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// `dp:SendDigitalPostResponse`, with the MessageId if present.
    Response { message_id: Option<String> },
    /// `soap:Fault` with its `faultcode` and `faultstring` (empty when absent).
    Fault { code: String, string: String },
}

/// Where the parser stands in the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Envelope,
    Body,
    Fault,
    FaultCode,
    FaultString,
    Response,
    MessageId,
    Other,
}

/// Where the text inside the element `top` goes: fault code, fault string or MessageId.
fn text_slot<'a>(
    top: Option<&Node>,
    code: &'a mut String,
    string: &'a mut String,
    message_id: &'a mut Option<String>,
) -> Option<&'a mut String> {
    match top {
        Some(Node::FaultCode) => Some(code),
        Some(Node::FaultString) => Some(string),
        Some(Node::MessageId) => message_id.as_mut(),
        _ => None,
    }
}

/// Reads a SOAP 1.1 answer with quick-xml, namespaces resolved.
fn parse_answer(xml: &str) -> Result<Answer, String> {
    let mut reader = NsReader::from_str(xml);
    let mut stack: Vec<Node> = Vec::new();
    let mut seen_root = false;
    let mut in_body: Option<Node> = None;
    let (mut code, mut string, mut message_id) = (String::new(), String::new(), None::<String>);
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| format!("not well-formed XML: {e}"))?;
        match event {
            XmlEvent::Start(ref e) | XmlEvent::Empty(ref e) => {
                let empty = matches!(event, XmlEvent::Empty(_));
                let local = e.local_name();
                let node = match (stack.last(), local.as_ref()) {
                    (None, _) if seen_root => return Err("more than one root element".to_string()),
                    (None, b"Envelope") if is_ns(&ns, SOAP_NS) => Node::Envelope,
                    (None, _) => return Err("the root element is not a SOAP 1.1 Envelope".to_string()),
                    (Some(Node::Envelope), b"Body") if is_ns(&ns, SOAP_NS) => Node::Body,
                    (Some(Node::Body), b"Fault") if is_ns(&ns, SOAP_NS) => Node::Fault,
                    (Some(Node::Body), b"SendDigitalPostResponse") if is_ns(&ns, DP_NS) => Node::Response,
                    // SOAP 1.1 faultcode/faultstring are unqualified; accept any namespace.
                    (Some(Node::Fault), b"faultcode") => Node::FaultCode,
                    (Some(Node::Fault), b"faultstring") => Node::FaultString,
                    (Some(Node::Response), b"MessageId") if is_ns(&ns, DP_NS) => Node::MessageId,
                    _ => Node::Other,
                };
                seen_root = true;
                if matches!(node, Node::Fault | Node::Response) && in_body.is_none() {
                    in_body = Some(node);
                }
                if node == Node::MessageId && message_id.is_none() {
                    message_id = Some(String::new());
                }
                if !empty {
                    stack.push(node);
                }
            }
            XmlEvent::End(_) => {
                stack.pop();
            }
            XmlEvent::Text(ref t) => {
                if let Some(buf) = text_slot(stack.last(), &mut code, &mut string, &mut message_id) {
                    buf.push_str(&t.unescape().map_err(|e| format!("bad text: {e}"))?);
                }
            }
            XmlEvent::CData(ref t) => {
                if let Some(buf) = text_slot(stack.last(), &mut code, &mut string, &mut message_id) {
                    buf.push_str(&t.decode().map_err(|e| format!("bad CDATA: {e}"))?);
                }
            }
            XmlEvent::DocType(_) => return Err("a SOAP message must not have a DOCTYPE".to_string()),
            XmlEvent::Eof => break,
            XmlEvent::Decl(_) | XmlEvent::PI(_) | XmlEvent::Comment(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err("the XML ends inside an element".to_string());
    }
    match in_body {
        Some(Node::Fault) => Ok(Answer::Fault { code, string }),
        Some(_) => Ok(Answer::Response { message_id }),
        None if seen_root => Err("the Body holds neither SendDigitalPostResponse nor Fault".to_string()),
        None => Err("empty answer".to_string()),
    }
}

/// Whether a resolved name is in namespace `uri`.
fn is_ns(ns: &ResolveResult<'_>, uri: &str) -> bool {
    matches!(ns, ResolveResult::Bound(Namespace(n)) if *n == uri.as_bytes())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::simulator::digital_post::{DpFault, FakeDigitalPost};

    fn settings(url: String, per_route: usize, timeout: Duration) -> ServiceSettings {
        ServiceSettings {
            url,
            max_total_connections: 200,
            max_per_route: per_route,
            connect_timeout: timeout,
            error_tolerance: 0,
            errorcount_duration: Duration::from_secs(600),
        }
    }

    fn client_for(fake: &FakeDigitalPost) -> DigitalPostClient {
        DigitalPostClient::new(&settings(fake.url(), 20, Duration::from_secs(5))).unwrap()
    }

    fn cpr(s: &str) -> Cpr {
        Cpr::parse(s).unwrap()
    }

    const DIGITAL: &str = "ODR/20250911/digital/18aarIkkeTagetStilling";
    const PHYSICAL: &str = "ODR/20250911/physical/18aarIkkeTagetStilling";

    fn letter<'a>(id: &'a str, to: &'a Cpr) -> Letter<'a> {
        Letter {
            message_id: id,
            recipient: to,
            template_digital: DIGITAL,
            template_physical: PHYSICAL,
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn accepted_letter_reaches_the_adapter() {
        let fake = FakeDigitalPost::start().await.unwrap();
        let to = cpr("0101001234");
        let id = uuid::Uuid::new_v4().to_string();
        assert_eq!(client_for(&fake).send(&letter(&id, &to)).await, SendOutcome::Accepted);
        let got = fake.letters();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].message_id, id);
        assert_eq!(got[0].cpr, "0101001234");
        assert_eq!(got[0].source, "1.2.208.176.1.2");
        assert_eq!(got[0].template_digital, DIGITAL);
        assert_eq!(got[0].template_physical, PHYSICAL);
        assert_eq!(fake.letters_to("0101001234").len(), 1);
        assert!(fake.letters_to("0101001235").is_empty());
        let stats = fake.stats();
        assert_eq!((stats.requests, stats.accepted, stats.rejected), (1, 1, 0));
        fake.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn templates_with_markup_characters_arrive_intact() {
        let fake = FakeDigitalPost::start().await.unwrap();
        let to = cpr("0101001234");
        let digital = r#"ODR/<digital>&amp; "x" 'y' ]]> æøå"#;
        let physical = "ODR/a<b>&c\"d'e";
        let l = Letter {
            message_id: "m-1",
            recipient: &to,
            template_digital: digital,
            template_physical: physical,
        };
        assert!(!envelope(&l).contains("<digital>"));
        assert_eq!(client_for(&fake).send(&l).await, SendOutcome::Accepted);
        let got = fake.letters();
        assert_eq!(got[0].template_digital, digital);
        assert_eq!(got[0].template_physical, physical);
        fake.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn soap_fault_rejects_the_letter_with_its_faultstring() {
        let fake = FakeDigitalPost::start().await.unwrap();
        fake.reject_cpr("0101001234", "Modtageren er fritaget for digital post");
        let client = client_for(&fake);
        let (to, other) = (cpr("0101001234"), cpr("0202002345"));
        assert_eq!(
            client.send(&letter("m-1", &to)).await,
            SendOutcome::Rejected {
                reason: "Modtageren er fritaget for digital post".to_string()
            }
        );
        assert_eq!(client.send(&letter("m-2", &other)).await, SendOutcome::Accepted);
        assert_eq!(fake.stats().rejected, 1);
        assert!(fake.letters_to("0101001234").is_empty());
        fake.clear_rejections();
        assert_eq!(client.send(&letter("m-1", &to)).await, SendOutcome::Accepted);
        fake.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn cpr_in_a_faultstring_is_masked() {
        let fake = FakeDigitalPost::start().await.unwrap();
        fake.reject_cpr("0101001234", "Ukendt modtager 0101001234 (kode 42)\n  prøv igen");
        let to = cpr("0101001234");
        let SendOutcome::Rejected { reason } = client_for(&fake).send(&letter("m-1", &to)).await else {
            panic!("expected Rejected")
        };
        assert_eq!(reason, "Ukendt modtager ********** (kode 42) prøv igen");
        fake.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn unavailable_503_without_fault_is_service_level() {
        let fake = FakeDigitalPost::start().await.unwrap();
        fake.set_fault(DpFault::Unavailable503);
        let to = cpr("0101001234");
        let out = client_for(&fake).send(&letter("m-1", &to)).await;
        assert_eq!(out, SendOutcome::Unavailable(DigitalPostError::UnexpectedStatus(503)));
        if let SendOutcome::Unavailable(e) = out {
            assert_eq!(
                e.to_string(),
                "Kaldet til Digital Post Adapter-servicen fejlede: uventet statuskode 503"
            );
        }
        assert!(fake.letters().is_empty());
        fake.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn client_error_4xx_rejects_the_letter() {
        let fake = FakeDigitalPost::start().await.unwrap();
        fake.fail_next(1, DpFault::ClientError(400));
        let client = client_for(&fake);
        let to = cpr("0101001234");
        assert_eq!(
            client.send(&letter("m-1", &to)).await,
            SendOutcome::Rejected {
                reason: "Digital Post Adapter afviste brevet med statuskode 400".to_string()
            }
        );
        // fail_next is used up: the next send goes through.
        assert_eq!(client.send(&letter("m-1", &to)).await, SendOutcome::Accepted);
        fake.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn hanging_adapter_times_out() {
        let fake = FakeDigitalPost::start().await.unwrap();
        fake.set_fault(DpFault::Hang);
        let client = DigitalPostClient::new(&settings(fake.url(), 20, Duration::from_millis(300))).unwrap();
        let to = cpr("0101001234");
        let out = client.send(&letter("m-1", &to)).await;
        assert_eq!(out, SendOutcome::Unavailable(DigitalPostError::Timeout));
        assert_eq!(
            DigitalPostError::Timeout.to_string(),
            "Kaldet til Digital Post Adapter-servicen fejlede: timeout"
        );
        fake.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn closed_port_is_unreachable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/digitalpost/2024/05/29/send");
        let client = DigitalPostClient::new(&settings(url, 20, Duration::from_secs(2))).unwrap();
        let to = cpr("0101001234");
        let out = client.send(&letter("m-1", &to)).await;
        let SendOutcome::Unavailable(e @ DigitalPostError::Unreachable(_)) = out else {
            panic!("expected Unreachable, got {out:?}")
        };
        assert_eq!(
            e.to_string(),
            "Kaldet til Digital Post Adapter-servicen fejlede: ingen forbindelse"
        );
        assert!(!e.detail().unwrap_or("").contains("0101001234"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn resent_message_id_is_recorded_once() {
        let fake = FakeDigitalPost::start().await.unwrap();
        let client = client_for(&fake);
        let to = cpr("0101001234");
        assert_eq!(client.send(&letter("m-1", &to)).await, SendOutcome::Accepted);
        assert_eq!(client.send(&letter("m-1", &to)).await, SendOutcome::Accepted);
        assert_eq!(fake.letters().len(), 1);
        let stats = fake.stats();
        assert_eq!((stats.requests, stats.accepted, stats.duplicates_dropped), (2, 1, 1));
        fake.reset();
        assert!(fake.letters().is_empty());
        assert_eq!(fake.stats().requests, 0);
        fake.stop().await;
    }

    async fn send_ten_concurrently(per_route: usize) -> usize {
        let fake = FakeDigitalPost::start().await.unwrap();
        fake.set_latency(Duration::from_millis(50));
        let client = DigitalPostClient::new(&settings(fake.url(), per_route, Duration::from_secs(5))).unwrap();
        let cprs: Vec<Cpr> = (0..10).map(|i| cpr(&format!("01010012{i:02}"))).collect();
        let ids: Vec<String> = (0..10).map(|i| format!("m-{i}")).collect();
        let sends = cprs.iter().zip(&ids).map(|(c, id)| {
            let client = client.clone();
            async move { client.send(&letter(id, c)).await }
        });
        let outcomes = futures_util::future::join_all(sends).await;
        assert!(outcomes.iter().all(|o| *o == SendOutcome::Accepted), "{outcomes:?}");
        assert_eq!(fake.letters().len(), 10);
        let max = fake.stats().max_in_flight;
        fake.stop().await;
        max
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn ten_letters_are_in_flight_at_once() {
        assert_eq!(send_ten_concurrently(20).await, 10);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn letters_in_flight_never_exceed_max_per_route() {
        assert_eq!(send_ten_concurrently(4).await, 4);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn every_request_carries_x_request_id() {
        let fake = FakeDigitalPost::start().await.unwrap();
        let client = client_for(&fake);
        let to = cpr("0101001234");
        let out = request_id::scope("req-abc-123".to_string(), client.send(&letter("m-1", &to))).await;
        assert_eq!(out, SendOutcome::Accepted);
        assert_eq!(fake.last_request_id().as_deref(), Some("req-abc-123-1"));
        assert_eq!(client.send(&letter("m-2", &to)).await, SendOutcome::Accepted);
        let generated = fake.last_request_id().unwrap();
        assert!(!generated.is_empty() && generated != "req-abc-123");
        fake.stop().await;
    }

    #[test]
    fn answers_are_sorted_into_outcomes() {
        let ok = format!(
            r#"<?xml version="1.0"?><s:Envelope xmlns:s="{SOAP_NS}"><s:Body><SendDigitalPostResponse xmlns="{DP_NS}"><MessageId> m-1 </MessageId></SendDigitalPostResponse></s:Body></s:Envelope>"#
        );
        assert_eq!(interpret(200, &ok, "m-1"), SendOutcome::Accepted);
        assert!(matches!(
            interpret(200, &ok, "m-2"),
            SendOutcome::Unavailable(DigitalPostError::BadBody(_))
        ));
        let wrong_ns = ok.replace(DP_NS, "urn:other");
        assert!(matches!(
            interpret(200, &wrong_ns, "m-1"),
            SendOutcome::Unavailable(DigitalPostError::BadBody(_))
        ));
        for garbage in ["", "OK", "<html><body>OK</body></html>", "<soap:Envelope", "<a></b>"] {
            assert!(
                matches!(
                    interpret(200, garbage, "m-1"),
                    SendOutcome::Unavailable(DigitalPostError::BadBody(_))
                ),
                "{garbage}"
            );
        }
        let fault = format!(
            r#"<soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Body><soap:Fault><faultcode>soap:Client</faultcode><faultstring>Ugyldig &lt;skabelon&gt; &amp; mere</faultstring></soap:Fault></soap:Body></soap:Envelope>"#
        );
        let rejected = SendOutcome::Rejected {
            reason: "Ugyldig <skabelon> & mere".to_string(),
        };
        assert_eq!(interpret(500, &fault, "m-1"), rejected);
        assert_eq!(interpret(200, &fault, "m-1"), rejected);
        assert_eq!(interpret(503, &fault, "m-1"), rejected);
        assert_eq!(
            interpret(404, "Not Found", "m-1"),
            SendOutcome::Rejected {
                reason: "Digital Post Adapter afviste brevet med statuskode 404".to_string()
            }
        );
        assert_eq!(
            interpret(502, "<html>Bad Gateway</html>", "m-1"),
            SendOutcome::Unavailable(DigitalPostError::UnexpectedStatus(502))
        );
        assert_eq!(
            interpret(500, "", "m-1"),
            SendOutcome::Unavailable(DigitalPostError::UnexpectedStatus(500))
        );
        assert_eq!(
            interpret(429, "", "m-1"),
            SendOutcome::Unavailable(DigitalPostError::UnexpectedStatus(429))
        );
        assert_eq!(
            interpret(302, "", "m-1"),
            SendOutcome::Unavailable(DigitalPostError::UnexpectedStatus(302))
        );
        let empty_fault = format!(
            r#"<soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring/></soap:Fault></soap:Body></soap:Envelope>"#
        );
        assert_eq!(
            interpret(500, &empty_fault, "m-1"),
            SendOutcome::Rejected {
                reason: "Digital Post Adapter afviste brevet uden forklaring (faultcode soap:Server)".to_string()
            }
        );
        let doctype = format!(r#"<!DOCTYPE x [<!ENTITY a "b">]><soap:Envelope xmlns:soap="{SOAP_NS}"/>"#);
        assert!(matches!(
            interpret(200, &doctype, "m-1"),
            SendOutcome::Unavailable(DigitalPostError::BadBody(_))
        ));
    }

    #[test]
    fn reasons_are_masked_one_line_and_bounded() {
        assert_eq!(
            mask_digit_runs("cpr 0101001234, 010100-1234, kode 12345, 123456"),
            "cpr **********, ******-1234, kode 12345, ******"
        );
        let long = "å".repeat(2000);
        assert_eq!(safe_reason(&long).chars().count(), 900);
        assert_eq!(safe_reason("  a\n\tb  "), "a b");
    }

    #[test]
    fn error_texts_are_danish_without_trailing_period() {
        let texts = [
            DigitalPostError::Timeout.to_string(),
            DigitalPostError::Unreachable("x".into()).to_string(),
            DigitalPostError::UnexpectedStatus(503).to_string(),
            DigitalPostError::BadBody("x".into()).to_string(),
            DigitalPostError::Client("x".into()).to_string(),
        ];
        assert_eq!(
            texts[3],
            "Kaldet til Digital Post Adapter-servicen fejlede: svaret kunne ikke læses"
        );
        for t in texts {
            assert!(
                t.starts_with("Kaldet til Digital Post Adapter-servicen fejlede: ") && !t.ends_with('.'),
                "{t}"
            );
        }
    }

    #[test]
    fn invalid_url_is_a_client_error() {
        let err = DigitalPostClient::new(&settings("not a url".into(), 20, Duration::from_secs(1))).err();
        assert!(matches!(err, Some(DigitalPostError::Client(_))));
    }
}
