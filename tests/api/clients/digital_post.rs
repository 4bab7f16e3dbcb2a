//! The Digital Post client against the fake adapter: one test per kind of answer, the request
//! ids, the in-flight caps.

use std::time::Duration;

use odr_operations::clients::digital_post::{DigitalPostClient, DigitalPostError, Letter, SendOutcome};
use odr_operations::config::ServiceSettings;
use odr_operations::cpr::Cpr;
use odr_operations::logging::request_id;
use odr_operations::simulator::digital_post::{
    DpFault, FakeDigitalPost, CLIENT_FAULTSTRING, OTHER_FAULTCODE, OTHER_FAULTSTRING,
};

use super::settings;

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

/// Starts the fake with `fault` standing, sends one letter through the real client and
/// returns its outcome and the fake.
async fn send_one_with(fault: DpFault) -> (SendOutcome, FakeDigitalPost) {
    let fake = FakeDigitalPost::start().await.unwrap();
    fake.set_fault(fault);
    let to = cpr("0101001234");
    let out = client_for(&fake).send(&letter("m-1", &to)).await;
    (out, fake)
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
    let (out, fake) = send_one_with(DpFault::Unavailable503).await;
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

/// Sends ten letters at once through a client allowing `per_route` in flight, with a barrier of
/// `together` at the adapter's door; returns the fake for the counts.
async fn send_ten_concurrently(per_route: usize, together: usize) -> FakeDigitalPost {
    let fake = FakeDigitalPost::start().await.unwrap();
    fake.gate().hold(together);
    let client = DigitalPostClient::new(&settings(fake.url(), per_route, Duration::from_secs(30))).unwrap();
    let cprs: Vec<Cpr> = (0..10).map(|i| cpr(&format!("01010012{i:02}"))).collect();
    let ids: Vec<String> = (0..10).map(|i| format!("m-{i}")).collect();
    let sends = cprs.iter().zip(&ids).map(|(c, id)| {
        let client = client.clone();
        async move { client.send(&letter(id, c)).await }
    });
    let outcomes = request_id::scope("job-7".to_string(), futures_util::future::join_all(sends)).await;
    assert!(outcomes.iter().all(|o| *o == SendOutcome::Accepted), "{outcomes:?}");
    assert_eq!(fake.letters().len(), 10);
    fake
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_letters_are_in_flight_at_once() {
    let fake = send_ten_concurrently(20, 10).await;
    assert_eq!(fake.gate().barriers_opened(), 1, "all ten were at the adapter together");
    assert_eq!(fake.stats().max_in_flight, 10);
    // Each outgoing request has its own id, built from the incoming one.
    let mut ids = fake.request_ids();
    ids.sort_by_key(|id| id.rsplit('-').next().and_then(|n| n.parse::<u32>().ok()));
    let expected: Vec<String> = (1..=10).map(|n| format!("job-7-{n}")).collect();
    assert_eq!(ids, expected);
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn letters_in_flight_never_exceed_max_per_route() {
    let fake = send_ten_concurrently(4, 4).await;
    assert_eq!(fake.gate().barriers_opened(), 1, "four were at the adapter together");
    assert!(fake.stats().max_in_flight <= 4, "{:?}", fake.stats());
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn letters_in_flight_never_exceed_max_total_connections() {
    let fake = FakeDigitalPost::start().await.unwrap();
    fake.gate().hold(3);
    let client = DigitalPostClient::new(&ServiceSettings {
        max_total_connections: 3,
        ..settings(fake.url(), 20, Duration::from_secs(30))
    })
    .unwrap();
    let to = cpr("0101001234");
    let ids: Vec<String> = (0..10).map(|i| format!("m-{i}")).collect();
    let sends = ids.iter().map(|id| {
        let (client, to) = (&client, &to);
        async move { client.send(&letter(id, to)).await }
    });
    let outcomes = futures_util::future::join_all(sends).await;
    assert!(outcomes.iter().all(|o| *o == SendOutcome::Accepted), "{outcomes:?}");
    assert_eq!(fake.gate().barriers_opened(), 1);
    assert!(fake.stats().max_in_flight <= 3, "{:?}", fake.stats());
    fake.stop().await;
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

#[tokio::test(flavor = "multi_thread")]
async fn a_soap_client_fault_for_any_letter_rejects_it() {
    let fake = FakeDigitalPost::start().await.unwrap();
    fake.fail_next(1, DpFault::SoapClient);
    let client = client_for(&fake);
    let to = cpr("0101001234");
    assert_eq!(
        client.send(&letter("m-1", &to)).await,
        SendOutcome::Rejected {
            reason: CLIENT_FAULTSTRING.to_string()
        }
    );
    assert_eq!(client.send(&letter("m-1", &to)).await, SendOutcome::Accepted);
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_soap_server_fault_makes_the_adapter_unavailable() {
    let (out, fake) = send_one_with(DpFault::SoapServer).await;
    let SendOutcome::Unavailable(e) = out else {
        panic!("expected Unavailable, got {out:?}")
    };
    assert_eq!(
        e.to_string(),
        "Kaldet til Digital Post Adapter-servicen fejlede: serverfejl (soap:Server): Internt systemfel"
    );
    assert!(fake.letters().is_empty());
    assert_eq!(fake.stats().rejected, 0);
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fault_with_another_faultcode_counts_as_soap_server() {
    let (out, fake) = send_one_with(DpFault::SoapOther).await;
    assert_eq!(
        out,
        SendOutcome::Unavailable(DigitalPostError::ServerFault {
            faultcode: OTHER_FAULTCODE.to_string(),
            faultstring: OTHER_FAULTSTRING.to_string(),
        })
    );
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_closed_without_an_answer_is_unreachable() {
    let (out, fake) = send_one_with(DpFault::Refuse).await;
    assert!(
        matches!(out, SendOutcome::Unavailable(DigitalPostError::Unreachable(_))),
        "{out:?}"
    );
    assert_eq!(
        fake.stats().requests,
        2,
        "the adapter was reached and hung up, then once more on a fresh connection"
    );
    fake.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_hang_up_without_an_answer_is_sent_once_more_and_delivered_once() {
    let fake = FakeDigitalPost::start().await.unwrap();
    fake.fail_next(1, DpFault::Refuse);
    let to = cpr("0101001234");
    assert_eq!(client_for(&fake).send(&letter("m-1", &to)).await, SendOutcome::Accepted);
    assert_eq!(fake.stats().requests, 2);
    assert_eq!(fake.letters().len(), 1);
    fake.stop().await;
}

#[test]
fn invalid_url_is_a_client_error() {
    let err = DigitalPostClient::new(&settings("not a url".into(), 20, Duration::from_secs(1))).err();
    assert!(matches!(err, Some(DigitalPostError::Client(_))));
}
