//! A scriptable fake of the Digital Post Adapter: an actix-web server on 127.0.0.1 speaking SPEC §7's SOAP.
//!
//! It records the letters it accepts (a resent MessageId is answered again but recorded once), and can
//! be told to answer 503, a 4xx, a SOAP Fault for given CPR numbers, or nothing at all. Its own XML
//! reading is written independently of the client, so the two check each other.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::http::header::ContentType;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use quick_xml::escape::escape;
use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::NsReader;
use tokio::task::JoinHandle;

/// Path of the send operation.
const SEND_PATH: &str = "/digitalpost/2024/05/29/send";
/// Namespace of the Digital Post Adapter messages.
const DP_NS: &[u8] = b"http://nspop.dk/digitalpost/2024/05/29/";
/// Namespace of the SOAP 1.1 envelope.
const SOAP_NS: &[u8] = b"http://schemas.xmlsoap.org/soap/envelope/";
/// How long a hanging request waits before it answers anyway.
const HANG: Duration = Duration::from_secs(3600);

/// A running fake Digital Post Adapter; stopped by [`FakeDigitalPost::stop`] or when dropped.
pub struct FakeDigitalPost {
    port: u16,
    shared: Arc<Shared>,
    handle: ServerHandle,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// A letter the fake accepted, as read from the SOAP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedLetter {
    /// `dp:MessageId`.
    pub message_id: String,
    /// `dp:RecipientId` (the CPR digits).
    pub cpr: String,
    /// `dp:TemplateDigital`.
    pub template_digital: String,
    /// `dp:TemplatePhysical`.
    pub template_physical: String,
    /// The `source` attribute of `dp:RecipientId`.
    pub source: String,
}

/// How the fake misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpFault {
    /// Behave: parse, record, answer.
    None,
    /// HTTP 503 with an HTML body (no SOAP Fault).
    Unavailable503,
    /// Never answer (the request sleeps for an hour).
    Hang,
    /// This HTTP status (normally a 4xx) with a short text body.
    ClientError(u16),
}

/// Counters since start or the last [`FakeDigitalPost::reset`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DpStats {
    /// Requests received, whatever their fate.
    pub requests: u64,
    /// Distinct letters accepted and recorded.
    pub accepted: u64,
    /// Resent MessageIds answered as accepted but not recorded again.
    pub duplicates_dropped: u64,
    /// Letters answered with a SOAP Fault (rejected CPR or unreadable request) or 415.
    pub rejected: u64,
    /// Most requests being handled at the same moment.
    pub max_in_flight: usize,
}

/// Everything the handlers share with the test.
struct Shared {
    state: Mutex<State>,
}

struct State {
    letters: Vec<ReceivedLetter>,
    seen: HashSet<String>,
    fault: DpFault,
    queued: VecDeque<(u32, DpFault)>,
    rejections: HashMap<String, String>,
    latency: Duration,
    stats: DpStats,
    in_flight: usize,
    last_request_id: Option<String>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not take the fake down with it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Counts a request as in flight until dropped (also when the client gives up and the future is dropped).
struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.in_flight = st.in_flight.saturating_sub(1);
    }
}

impl FakeDigitalPost {
    /// Starts the fake on 127.0.0.1 with an OS-chosen port; it behaves until told otherwise.
    pub async fn start() -> std::io::Result<FakeDigitalPost> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                letters: Vec::new(),
                seen: HashSet::new(),
                fault: DpFault::None,
                queued: VecDeque::new(),
                rejections: HashMap::new(),
                latency: Duration::ZERO,
                stats: DpStats::default(),
                in_flight: 0,
                last_request_id: None,
            }),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route(SEND_PATH, web::post().to(handle_send))
        })
        .workers(2)
        .shutdown_timeout(0)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        let task = tokio::spawn(server);
        Ok(FakeDigitalPost {
            port,
            shared,
            handle,
            task: Some(task),
        })
    }

    /// The full send URL, for `digitalpost.service.url`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}{SEND_PATH}", self.port)
    }

    /// Delay before every answer (async: requests wait side by side).
    pub fn set_latency(&self, d: std::time::Duration) {
        self.shared.lock().latency = d;
    }

    /// Misbehaves this way on every request until changed (`DpFault::None` to behave).
    pub fn set_fault(&self, f: DpFault) {
        self.shared.lock().fault = f;
    }

    /// Misbehaves this way on the next `n` requests, after any already queued, then as set by `set_fault`.
    pub fn fail_next(&self, n: u32, f: DpFault) {
        if n > 0 {
            self.shared.lock().queued.push_back((n, f));
        }
    }

    /// Answers letters to this CPR with a SOAP Fault (HTTP 500) carrying `faultstring`.
    pub fn reject_cpr(&self, cpr: &str, faultstring: &str) {
        self.shared
            .lock()
            .rejections
            .insert(cpr.to_string(), faultstring.to_string());
    }

    /// Accepts letters to every CPR again.
    pub fn clear_rejections(&self) {
        self.shared.lock().rejections.clear();
    }

    /// The distinct letters accepted, in arrival order.
    pub fn letters(&self) -> Vec<ReceivedLetter> {
        self.shared.lock().letters.clone()
    }

    /// The distinct letters accepted for one CPR, in arrival order.
    pub fn letters_to(&self, cpr: &str) -> Vec<ReceivedLetter> {
        self.shared
            .lock()
            .letters
            .iter()
            .filter(|l| l.cpr == cpr)
            .cloned()
            .collect()
    }

    /// The counters.
    pub fn stats(&self) -> DpStats {
        self.shared.lock().stats.clone()
    }

    /// The `X-Request-ID` of the latest request, if it had one.
    pub fn last_request_id(&self) -> Option<String> {
        self.shared.lock().last_request_id.clone()
    }

    /// Forgets letters, seen MessageIds, counters and the last request id (faults and rejections stay).
    pub fn reset(&self) {
        let mut st = self.shared.lock();
        st.letters = Vec::new();
        st.seen = HashSet::new();
        st.stats = DpStats {
            max_in_flight: st.in_flight,
            ..DpStats::default()
        };
        st.last_request_id = None;
    }

    /// Stops the server at once (hanging requests are dropped) and waits for it.
    pub async fn stop(mut self) {
        self.handle.stop(false).await;
        if let Some(task) = self.task.take() {
            // The server's own result is of no interest once it is stopped.
            let _ = task.await;
        }
    }
}

impl Drop for FakeDigitalPost {
    fn drop(&mut self) {
        if self.task.is_some() {
            // Sends the stop command now; nobody is left to wait for it.
            drop(self.handle.stop(false));
        }
    }
}

/// What to do with one request, decided when it arrives.
fn admit(shared: &Arc<Shared>, req: &HttpRequest) -> (InFlight, DpFault, Duration) {
    let mut st = shared.lock();
    st.stats.requests += 1;
    st.in_flight += 1;
    st.stats.max_in_flight = st.stats.max_in_flight.max(st.in_flight);
    st.last_request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let fault = match st.queued.front_mut() {
        Some((n, f)) => {
            let f = *f;
            *n -= 1;
            if *n == 0 {
                st.queued.pop_front();
            }
            f
        }
        None => st.fault,
    };
    (InFlight(shared.clone()), fault, st.latency)
}

async fn handle_send(shared: web::Data<Shared>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let shared = shared.into_inner();
    let (_in_flight, fault, latency) = admit(&shared, &req);
    if fault == DpFault::Hang {
        tokio::time::sleep(HANG).await;
        return HttpResponse::GatewayTimeout().finish();
    }
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match fault {
        DpFault::Unavailable503 => {
            return HttpResponse::ServiceUnavailable()
                .content_type(ContentType::html())
                .body("<html><body><h1>503 Service Unavailable</h1></body></html>");
        }
        DpFault::ClientError(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
            return HttpResponse::build(status)
                .content_type(ContentType::plaintext())
                .body(format!("Fejl {code}"));
        }
        DpFault::None | DpFault::Hang => {}
    }
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.to_ascii_lowercase().starts_with("text/xml") {
        shared.lock().stats.rejected += 1;
        return HttpResponse::UnsupportedMediaType()
            .content_type(ContentType::plaintext())
            .body("SOAP 1.1 kræver Content-Type text/xml");
    }
    let letter = match parse_request(&body) {
        Ok(l) => l,
        Err(reason) => {
            shared.lock().stats.rejected += 1;
            return fault_response(&format!("Forespørgslen kunne ikke læses: {reason}"));
        }
    };
    let mut st = shared.lock();
    if st.seen.contains(&letter.message_id) {
        st.stats.duplicates_dropped += 1;
        return accepted_response(&letter.message_id);
    }
    if let Some(faultstring) = st.rejections.get(&letter.cpr).cloned() {
        st.stats.rejected += 1;
        return fault_response(&faultstring);
    }
    st.stats.accepted += 1;
    st.seen.insert(letter.message_id.clone());
    let answer = accepted_response(&letter.message_id);
    st.letters.push(letter);
    answer
}

fn accepted_response(message_id: &str) -> HttpResponse {
    let body = format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header/><soap:Body>"#,
            r#"<dp:SendDigitalPostResponse xmlns:dp="http://nspop.dk/digitalpost/2024/05/29/">"#,
            r#"<dp:MessageId>{}</dp:MessageId>"#,
            r#"</dp:SendDigitalPostResponse></soap:Body></soap:Envelope>"#
        ),
        escape(message_id)
    );
    HttpResponse::Ok().content_type("text/xml; charset=utf-8").body(body)
}

fn fault_response(faultstring: &str) -> HttpResponse {
    let body = format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>"#,
            r#"<soap:Fault><faultcode>soap:Client</faultcode><faultstring>{}</faultstring></soap:Fault>"#,
            r#"</soap:Body></soap:Envelope>"#
        ),
        escape(faultstring)
    );
    HttpResponse::InternalServerError()
        .content_type("text/xml; charset=utf-8")
        .body(body)
}

/// Names an element by its resolved namespace: `soap:`, `dp:`, bare when unqualified, `?:` otherwise.
fn qualified(ns: &ResolveResult<'_>, local: &[u8]) -> String {
    let prefix = match ns {
        ResolveResult::Bound(Namespace(n)) if *n == SOAP_NS => "soap:",
        ResolveResult::Bound(Namespace(n)) if *n == DP_NS => "dp:",
        ResolveResult::Unbound => "",
        _ => "?:",
    };
    format!("{prefix}{}", String::from_utf8_lossy(local))
}

/// Reads a SendDigitalPostRequest envelope; the error says what is wrong.
fn parse_request(body: &[u8]) -> Result<ReceivedLetter, String> {
    const REQUEST: &str = "soap:Envelope/soap:Body/dp:SendDigitalPostRequest";
    let text = std::str::from_utf8(body).map_err(|_| "body is not UTF-8".to_string())?;
    let mut reader = NsReader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    let mut fields: HashMap<&'static str, String> = HashMap::new();
    let mut source: Option<String> = None;
    let mut current: Option<(&'static str, String)> = None;
    let mut roots = 0;
    loop {
        let (ns, event) = reader.read_resolved_event().map_err(|e| format!("XML error: {e}"))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = qualified(&ns, e.local_name().as_ref());
                if path.is_empty() {
                    roots += 1;
                }
                let parent = path.join("/");
                let field = match (parent.as_str(), name.as_str()) {
                    (REQUEST, "dp:MessageId") => Some("MessageId"),
                    (REQUEST, "dp:RecipientId") => Some("RecipientId"),
                    (REQUEST, "dp:TemplateDigital") => Some("TemplateDigital"),
                    (REQUEST, "dp:TemplatePhysical") => Some("TemplatePhysical"),
                    _ => None,
                };
                if field == Some("RecipientId") {
                    let attr = e
                        .try_get_attribute("source")
                        .map_err(|e| format!("bad attribute: {e}"))?;
                    if let Some(a) = attr {
                        source = Some(
                            a.unescape_value()
                                .map_err(|e| format!("bad attribute: {e}"))?
                                .into_owned(),
                        );
                    }
                }
                if let Some(f) = field {
                    if fields.contains_key(f) {
                        return Err(format!("dp:{f} appears more than once"));
                    }
                    if matches!(event, Event::Empty(_)) {
                        fields.insert(f, String::new());
                    } else {
                        current = Some((f, String::new()));
                    }
                }
                if matches!(event, Event::Start(_)) {
                    path.push(name);
                }
            }
            Event::End(_) => {
                if let Some((f, value)) = current.take() {
                    fields.insert(f, value);
                }
                path.pop();
            }
            Event::Text(t) => {
                if let Some((_, value)) = current.as_mut() {
                    value.push_str(&t.unescape().map_err(|e| format!("bad text: {e}"))?);
                }
            }
            Event::CData(t) => {
                if let Some((_, value)) = current.as_mut() {
                    value.push_str(&t.decode().map_err(|e| format!("bad CDATA: {e}"))?);
                }
            }
            Event::DocType(_) => return Err("DOCTYPE is not allowed in SOAP".to_string()),
            Event::Eof => break,
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if roots != 1 || !path.is_empty() {
        return Err("not one complete root element".to_string());
    }
    let mut take = |f: &str| fields.remove(f).ok_or_else(|| format!("{REQUEST}/dp:{f} is missing"));
    let message_id = take("MessageId")?;
    let cpr = take("RecipientId")?;
    let template_digital = take("TemplateDigital")?;
    let template_physical = take("TemplatePhysical")?;
    let source = source.ok_or_else(|| "dp:RecipientId has no source attribute".to_string())?;
    if message_id.trim().is_empty() {
        return Err("dp:MessageId is empty".to_string());
    }
    Ok(ReceivedLetter {
        message_id,
        cpr,
        template_digital,
        template_physical,
        source,
    })
}

#[cfg(test)]
mod tests {

    use super::*;

    const GOOD: &str = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header/><soap:Body><dp:SendDigitalPostRequest xmlns:dp="http://nspop.dk/digitalpost/2024/05/29/"><dp:MessageId>m-1</dp:MessageId><dp:RecipientId source="1.2.208.176.1.2">0101001234</dp:RecipientId><dp:TemplateDigital>d &amp; &lt;x&gt;</dp:TemplateDigital><dp:TemplatePhysical><![CDATA[p <y>]]></dp:TemplatePhysical></dp:SendDigitalPostRequest></soap:Body></soap:Envelope>"#;

    #[test]
    fn reads_a_request_with_any_prefixes() {
        let l = parse_request(GOOD.as_bytes()).unwrap();
        assert_eq!(l.message_id, "m-1");
        assert_eq!(l.cpr, "0101001234");
        assert_eq!(l.source, "1.2.208.176.1.2");
        assert_eq!(l.template_digital, "d & <x>");
        assert_eq!(l.template_physical, "p <y>");
        let other_prefixes = GOOD
            .replace("soap:", "s:")
            .replace("xmlns:soap", "xmlns:s")
            .replace("dp:", "n:")
            .replace("xmlns:dp", "xmlns:n");
        assert_eq!(parse_request(other_prefixes.as_bytes()).unwrap(), l);
    }

    #[test]
    fn refuses_requests_that_do_not_parse() {
        let wrong_ns = GOOD.replace("http://nspop.dk/digitalpost/2024/05/29/", "urn:x");
        let no_source = GOOD.replace(r#" source="1.2.208.176.1.2""#, "");
        let no_template = GOOD.replace("<dp:TemplateDigital>d &amp; &lt;x&gt;</dp:TemplateDigital>", "");
        let twice = GOOD.replace(
            "<dp:MessageId>m-1</dp:MessageId>",
            "<dp:MessageId>a</dp:MessageId><dp:MessageId>b</dp:MessageId>",
        );
        for bad in [
            "",
            "hello",
            "<a></b>",
            &GOOD[..GOOD.len() - 5],
            &wrong_ns,
            &no_source,
            &no_template,
            &twice,
        ] {
            assert!(parse_request(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn unreadable_request_gets_a_soap_fault() {
        let fake = FakeDigitalPost::start().await.unwrap();
        let http = reqwest::Client::new();
        let res = http
            .post(fake.url())
            .header("content-type", "text/xml; charset=utf-8")
            .body("<nope/>")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 500);
        let text = res.text().await.unwrap();
        assert!(text.contains("<faultcode>soap:Client</faultcode>"), "{text}");
        assert!(text.contains("Forespørgslen kunne ikke læses"), "{text}");
        let res = http
            .post(fake.url())
            .header("content-type", "text/xml")
            .body(GOOD)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
        assert!(res.text().await.unwrap().contains("<dp:MessageId>m-1</dp:MessageId>"));
        let stats = fake.stats();
        assert_eq!((stats.requests, stats.accepted, stats.rejected), (2, 1, 1));
        fake.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn scripted_faults_come_in_order_then_the_standing_fault() {
        let fake = FakeDigitalPost::start().await.unwrap();
        fake.fail_next(2, DpFault::Unavailable503);
        fake.fail_next(1, DpFault::ClientError(404));
        let http = reqwest::Client::new();
        let mut codes = Vec::new();
        for _ in 0..5 {
            let res = http
                .post(fake.url())
                .header("content-type", "text/xml")
                .body(GOOD)
                .send()
                .await
                .unwrap();
            codes.push(res.status().as_u16());
            if codes.len() == 3 {
                fake.set_fault(DpFault::ClientError(403));
            }
        }
        assert_eq!(codes, [503, 503, 404, 403, 403]);
        fake.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn twenty_concurrent_requests_wait_side_by_side() {
        let fake = FakeDigitalPost::start().await.unwrap();
        fake.set_latency(Duration::from_millis(50));
        let http = reqwest::Client::new();
        let sends = (0..20).map(|i| {
            let body = GOOD.replace("m-1", &format!("m-{i}"));
            http.post(fake.url())
                .header("content-type", "text/xml")
                .body(body)
                .send()
        });
        let results = futures_util::future::join_all(sends).await;
        assert!(results
            .iter()
            .all(|r| r.as_ref().map(|r| r.status().as_u16() == 200).unwrap_or(false)));
        assert_eq!(fake.stats().max_in_flight, 20);
        assert_eq!(fake.letters().len(), 20);
        fake.stop().await;
    }

    #[actix_web::test]
    async fn runs_under_actix_and_stops_at_once_with_a_hanging_request() {
        let fake = FakeDigitalPost::start().await.unwrap();
        fake.set_fault(DpFault::Hang);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let res = http
            .post(fake.url())
            .header("content-type", "text/xml")
            .body(GOOD)
            .send()
            .await;
        assert!(res.unwrap_err().is_timeout());
        assert_eq!(fake.stats().requests, 1);
        // Liveness, not speed: stop must not wait for the hanging request.
        tokio::time::timeout(Duration::from_secs(30), fake.stop())
            .await
            .expect("stop returns");
    }
}
