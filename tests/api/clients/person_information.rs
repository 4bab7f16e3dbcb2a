//! The PersonInformation client against the fake service: every kind of answer, the request
//! ids, the connection caps.

use std::time::Duration;

use chrono::NaiveDate;
use odr_operations::clients::person_information::{CprStatus, PersonInfoError, PersonInformationClient, PersonStatus};
use odr_operations::config::ServiceSettings;
use odr_operations::cpr::Cpr;
use odr_operations::logging::request_id;
use odr_operations::simulator::person_information::{FakePersonInformation, PiFault};

use super::settings;

const ALICE: &str = "0101001234";
const BOB: &str = "0202025678";
const CAROL: &str = "0303039012";

fn client(fake: &FakePersonInformation) -> PersonInformationClient {
    PersonInformationClient::new(&settings(fake.base_url(), 20, Duration::from_secs(5))).unwrap()
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
    let c = PersonInformationClient::new(&settings(fake.base_url(), 20, Duration::from_millis(300))).unwrap();
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
    let c = PersonInformationClient::new(&settings(url, 20, Duration::from_secs(2))).unwrap();
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
    // The ten are let through only when all ten are at the service together.
    fake.gate().hold(10);
    let c = PersonInformationClient::new(&settings(fake.base_url(), 20, Duration::from_secs(30))).unwrap();
    let all = [ALICE, BOB, CAROL].map(cpr);
    let calls = (0..10).map(|i| {
        let c = c.clone();
        let batch = all[..(i % 3) + 1].to_vec();
        async move { c.statuses(&batch).await }
    });
    let answers = request_id::scope("job-run-3".to_string(), futures_util::future::join_all(calls)).await;
    for r in answers {
        assert_eq!(r.unwrap(), vec![]);
    }
    assert_eq!(fake.gate().barriers_opened(), 1);
    let stats = fake.stats();
    assert_eq!(stats.requests, 10);
    assert_eq!(stats.max_in_flight, 10);
    assert_eq!(stats.max_batch, 3);
    // Batches of 1, 2, 3, 1, 2, 3, ...: four of one, three of two, three of three.
    assert_eq!(stats.cprs_asked, 4 + 3 * 2 + 3 * 3);
    assert_eq!(fake.asked_count(ALICE), 10);
    assert_eq!(fake.max_asked_count(), 10);
    // Each request has its own id, built from the incoming one.
    let mut ids = fake.request_ids();
    ids.sort_by_key(|id| id.rsplit('-').next().and_then(|n| n.parse::<u32>().ok()));
    let expected: Vec<String> = (1..=10).map(|n| format!("job-run-3-{n}")).collect();
    assert_eq!(ids, expected);
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

#[tokio::test(flavor = "multi_thread")]
async fn max_total_connections_caps_requests_in_flight() {
    let fake = FakePersonInformation::start().await.unwrap();
    fake.gate().hold(3);
    let c = PersonInformationClient::new(&ServiceSettings {
        max_total_connections: 3,
        max_per_route: 20,
        ..settings(fake.base_url(), 20, Duration::from_secs(30))
    })
    .unwrap();
    let calls = (0..10).map(|_| {
        let c = c.clone();
        async move { c.statuses(&[cpr(ALICE)]).await }
    });
    for r in futures_util::future::join_all(calls).await {
        assert_eq!(r.unwrap(), vec![]);
    }
    assert_eq!(fake.gate().barriers_opened(), 1, "three were at the service together");
    let stats = fake.stats();
    assert_eq!(stats.requests, 10);
    assert!(stats.max_in_flight <= 3, "{stats:?}");
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
