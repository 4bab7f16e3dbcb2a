//! A scriptable fake of the Digital Post Adapter: an actix-web server on 127.0.0.1 speaking SPEC §7's SOAP.
//!
//! It records the letters it accepts (a resent MessageId is answered again but recorded once), and
//! has a knob for every kind of answer the client must sort (SPEC §6): a `soap:Client` Fault for
//! given CPR numbers ([`FakeDigitalPost::reject_cpr`]) or for any letter, a `soap:Server` Fault, a
//! Fault with another faultcode, 503 without a Fault, a 4xx, no answer, and a closed connection
//! ([`DpFault`]). The knobs, counters and gate are the shared [`FakeCore`]'s; this module is the
//! letters and the SOAP ([`soap`] reads and writes it).

mod soap;

use std::collections::{HashMap, HashSet};
use std::ops::Deref;

use actix_web::http::header::ContentType;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::fake::{self, Fake, FakeCore, Shared};
use soap::{accepted_response, fault_response, parse_request};

/// Path of the send operation.
const SEND_PATH: &str = "/digitalpost/2024/05/29/send";
/// faultstring of [`DpFault::SoapClient`].
pub const CLIENT_FAULTSTRING: &str = "Modtageren kan ikke modtage digital post";
/// faultstring of [`DpFault::SoapServer`], the seeds' text for an unknown error on the adapter's side.
pub const SERVER_FAULTSTRING: &str = "Internt systemfel";
/// faultcode of [`DpFault::SoapOther`]: a SOAP 1.1 code that is neither Client nor Server.
pub const OTHER_FAULTCODE: &str = "soap:MustUnderstand";
/// faultstring of [`DpFault::SoapOther`].
pub const OTHER_FAULTSTRING: &str = "En obligatorisk header blev ikke forstået";

/// A running fake Digital Post Adapter; stopped by [`FakeDigitalPost::stop`] or when dropped. The
/// knobs, counters and gate of its [`FakeCore`] (`set_latency`, `set_fault`, `fail_next`,
/// `gate`, `request_ids`, ...) are reached through it.
pub struct FakeDigitalPost {
    fake: Fake<DpFault, State>,
}

impl Deref for FakeDigitalPost {
    type Target = FakeCore<DpFault>;

    /// The fake is its core plus a wire format: every knob of the core is the fake's knob.
    fn deref(&self) -> &FakeCore<DpFault> {
        self.fake.core()
    }
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

/// How the fake answers a letter, whatever the letter says (rejections per CPR aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DpFault {
    /// Behave: parse, record, answer.
    #[default]
    None,
    /// A SOAP Fault `soap:Client` ([`CLIENT_FAULTSTRING`], HTTP 500): the letter is rejected.
    SoapClient,
    /// A SOAP Fault `soap:Server` ([`SERVER_FAULTSTRING`], HTTP 500): the adapter is broken.
    SoapServer,
    /// A SOAP Fault with another faultcode ([`OTHER_FAULTCODE`], HTTP 500): counts as `soap:Server`.
    SoapOther,
    /// HTTP 503 with an HTML body (no SOAP Fault).
    Unavailable503,
    /// This HTTP status (normally a 4xx) with a short text body.
    ClientError(u16),
    /// Never answer (the request sleeps for an hour).
    Hang,
    /// Close the connection without an answer.
    Refuse,
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
    /// Letters answered with a `soap:Client` Fault (rejected CPR, `SoapClient` or an unreadable
    /// request) or 415.
    pub rejected: u64,
    /// Most requests being handled at the same moment (held at the gate included).
    pub max_in_flight: usize,
}

/// The letters and rejections; never locked across an await.
#[derive(Debug, Default)]
struct State {
    letters: Vec<ReceivedLetter>,
    seen: HashSet<String>,
    rejections: HashMap<String, String>,
    accepted: u64,
    duplicates_dropped: u64,
    rejected: u64,
}

impl FakeDigitalPost {
    /// Starts the fake on 127.0.0.1 with an OS-chosen port; it behaves until told otherwise.
    pub async fn start() -> std::io::Result<FakeDigitalPost> {
        let fake = Fake::start("Digital Post", |cfg| {
            cfg.route(SEND_PATH, web::post().to(handle_send));
        })?;
        Ok(FakeDigitalPost { fake })
    }

    /// The full send URL, for `digitalpost.service.url`.
    pub fn url(&self) -> String {
        self.fake.url(SEND_PATH)
    }

    /// Answers letters to this CPR with a `soap:Client` Fault (HTTP 500) carrying `faultstring`.
    pub fn reject_cpr(&self, cpr: &str, faultstring: &str) {
        self.fake
            .state()
            .rejections
            .insert(cpr.to_string(), faultstring.to_string());
    }

    /// Accepts letters to every CPR again.
    pub fn clear_rejections(&self) {
        self.fake.state().rejections.clear();
    }

    /// The distinct letters accepted, in arrival order.
    pub fn letters(&self) -> Vec<ReceivedLetter> {
        self.fake.state().letters.clone()
    }

    /// The distinct letters accepted for one CPR, in arrival order.
    pub fn letters_to(&self, cpr: &str) -> Vec<ReceivedLetter> {
        self.fake
            .state()
            .letters
            .iter()
            .filter(|l| l.cpr == cpr)
            .cloned()
            .collect()
    }

    /// The counters.
    pub fn stats(&self) -> DpStats {
        let traffic = self.traffic();
        let s = self.fake.state();
        DpStats {
            requests: traffic.requests,
            accepted: s.accepted,
            duplicates_dropped: s.duplicates_dropped,
            rejected: s.rejected,
            max_in_flight: traffic.max_in_flight,
        }
    }

    /// Forgets letters, seen MessageIds, counters and request ids (knobs, rejections and the gate stay).
    pub fn reset(&self) {
        self.reset_traffic();
        let mut s = self.fake.state();
        let rejections = std::mem::take(&mut s.rejections);
        *s = State {
            rejections,
            ..State::default()
        };
    }

    /// Stops the server at once (hanging and held requests are dropped) and waits for it.
    pub async fn stop(self) {
        self.fake.stop().await;
    }
}

async fn handle_send(shared: web::Data<Shared<DpFault, State>>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let admission = shared.core().admit(&req).await;
    match admission.fault {
        DpFault::None => {}
        DpFault::SoapClient => {
            shared.state().rejected += 1;
            return fault_response("soap:Client", CLIENT_FAULTSTRING);
        }
        DpFault::SoapServer => return fault_response("soap:Server", SERVER_FAULTSTRING),
        DpFault::SoapOther => return fault_response(OTHER_FAULTCODE, OTHER_FAULTSTRING),
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
        DpFault::Hang => return fake::hang().await,
        DpFault::Refuse => return fake::hang_up(),
    }
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.to_ascii_lowercase().starts_with("text/xml") {
        shared.state().rejected += 1;
        return HttpResponse::UnsupportedMediaType()
            .content_type(ContentType::plaintext())
            .body("SOAP 1.1 kræver Content-Type text/xml");
    }
    let letter = match parse_request(&body) {
        Ok(l) => l,
        Err(reason) => {
            shared.state().rejected += 1;
            return fault_response("soap:Client", &format!("Forespørgslen kunne ikke læses: {reason}"));
        }
    };
    let mut st = shared.state();
    if st.seen.contains(&letter.message_id) {
        st.duplicates_dropped += 1;
        return accepted_response(&letter.message_id);
    }
    if let Some(faultstring) = st.rejections.get(&letter.cpr).cloned() {
        st.rejected += 1;
        return fault_response("soap:Client", &faultstring);
    }
    st.accepted += 1;
    st.seen.insert(letter.message_id.clone());
    let answer = accepted_response(&letter.message_id);
    st.letters.push(letter);
    answer
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const GOOD: &str = soap::tests::GOOD;

    /// A POST of `body` as SOAP 1.1 (text/xml) to the fake.
    fn post(fake: &FakeDigitalPost, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .post(fake.url())
            .header("content-type", "text/xml")
            .body(body)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn unreadable_request_gets_a_soap_fault() {
        let fake = FakeDigitalPost::start().await.unwrap();
        let res = post(&fake, "<nope/>").send().await.unwrap();
        assert_eq!(res.status().as_u16(), 500);
        let text = res.text().await.unwrap();
        assert!(text.contains("<faultcode>soap:Client</faultcode>"), "{text}");
        assert!(text.contains("Forespørgslen kunne ikke læses"), "{text}");
        let res = post(&fake, GOOD).send().await.unwrap();
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
        let mut codes = Vec::new();
        for _ in 0..5 {
            let res = post(&fake, GOOD).send().await.unwrap();
            codes.push(res.status().as_u16());
            if codes.len() == 3 {
                fake.set_fault(DpFault::ClientError(403));
            }
        }
        assert_eq!(codes, [503, 503, 404, 403, 403]);
        fake.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn every_knob_gives_its_answer() {
        let fake = FakeDigitalPost::start().await.unwrap();
        let faults = [
            (
                DpFault::SoapClient,
                500,
                "<faultcode>soap:Client</faultcode><faultstring>Modtageren kan ikke modtage digital post</faultstring>",
            ),
            (
                DpFault::SoapServer,
                500,
                "<faultcode>soap:Server</faultcode><faultstring>Internt systemfel</faultstring>",
            ),
            (DpFault::SoapOther, 500, "<faultcode>soap:MustUnderstand</faultcode>"),
            (DpFault::Unavailable503, 503, "<h1>503 Service Unavailable</h1>"),
            (DpFault::ClientError(404), 404, "Fejl 404"),
        ];
        for (fault, code, text) in faults {
            fake.fail_next(1, fault);
            let res = post(&fake, GOOD).send().await.unwrap();
            assert_eq!(res.status().as_u16(), code, "{fault:?}");
            let body = res.text().await.unwrap();
            assert!(body.contains(text), "{fault:?}: {body}");
        }
        fake.fail_next(1, DpFault::Refuse);
        let err = post(&fake, GOOD).send().await.unwrap_err();
        assert!(!err.is_timeout() && err.status().is_none(), "{err:?}");
        assert!(fake.letters().is_empty(), "no knob records a letter");
        let stats = fake.stats();
        assert_eq!((stats.requests, stats.rejected, stats.accepted), (6, 1, 0));
        assert_eq!(
            post(&fake, GOOD).send().await.unwrap().status().as_u16(),
            200,
            "the knobs were for one letter each"
        );
        fake.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn twenty_concurrent_requests_wait_side_by_side() {
        let fake = FakeDigitalPost::start().await.unwrap();
        // The twenty are let through only when all twenty are being handled at once.
        fake.gate().hold(20);
        let sends = (0..20).map(|i| {
            post(&fake, GOOD.replace("m-1", &format!("m-{i}")))
                .header("x-request-id", format!("r-{i}"))
                .send()
        });
        let results = futures_util::future::join_all(sends).await;
        assert!(results
            .iter()
            .all(|r| r.as_ref().map(|r| r.status().as_u16() == 200).unwrap_or(false)));
        assert_eq!(fake.gate().barriers_opened(), 1);
        assert_eq!(fake.stats().max_in_flight, 20);
        assert_eq!(fake.letters().len(), 20);
        let ids: HashSet<String> = fake.request_ids().into_iter().collect();
        assert_eq!(ids.len(), 20);
        fake.reset();
        assert_eq!((fake.stats(), fake.request_ids()), (DpStats::default(), vec![]));
        fake.stop().await;
    }

    #[actix_web::test]
    async fn runs_under_actix_and_stops_at_once_with_requests_in_flight() {
        let fake = FakeDigitalPost::start().await.unwrap();
        fake.gate().hold_all();
        fake.set_fault(DpFault::Hang);
        // Held at the door, and set to hang once let through.
        let requests: Vec<_> = (0..2).map(|_| tokio::spawn(post(&fake, GOOD).send())).collect();
        tokio::time::timeout(Duration::from_secs(30), fake.gate().wait_for_waiting(2))
            .await
            .expect("both requests arrive");
        assert_eq!(fake.stats().requests, 2);
        // Liveness, not speed: stop must not wait for the held or hanging requests.
        tokio::time::timeout(Duration::from_secs(30), fake.stop())
            .await
            .expect("stop returns");
        for request in requests {
            assert!(request.await.unwrap().is_err(), "the client sees the connection end");
        }
    }
}
