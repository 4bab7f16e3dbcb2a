//! The deceased and emigrated cleanups against the fake PersonInformation, on both backends:
//! the right citizens, the limits, every kind of service failure, the alarm page, the budget.

use diesel::prelude::*;
use diesel::sql_query;
use diesel::sql_types::{Nullable, Text};
use odr_operations::simulator::person_information::{FakePersonInformation, PiFault};

use crate::both_backends;
use crate::fixture::sql::registration;
use crate::fixture::{
    assert_no_cpr_outside_the_audit_log, audited, capture_logs, captured_logs, count, ymd, Backend, TestDb, TestDbExt,
    TestEnv,
};

const DECEASED: &str = "/odr-operations/odr-slettejob/deceased/start";
const EMIGRATED: &str = "/odr-operations/odr-slettejob/emigrated/start";
const ALARM: &str = "/odr-operations/odr-slettejob/alarm";

pub const DEAD_LONG_AGO: &str = "0101401111";
pub const DEAD_RECENTLY: &str = "0202402222";
pub const ALIVE: &str = "0303803333";
pub const UNKNOWN: &str = "0404804444";
pub const EMIGRATED_CPR: &str = "0505805555";
pub const DEAD_WITH_HISTORY: &str = "0606406666";
pub const DEAD_ONLY_LETTER: &str = "0707017777";
pub const INACTIVE: &str = "0808808888";

const FAILED_409: &str = "Baggrundsjobbet StackedOperationsService fejlede sidst det blev kørt. Problemet var: Data for CPR-nummeret kunne ikke findes, fordi kaldet til PersonInformation-servicen returnerede en uventet statuskode: 409.";
const PI_TOLERANCE: &str = "Person Information servicen har fejlet flere gange end tilladt i en given periode.";

/// The population of the runbook scenarios, in the database and in the fake.
pub fn populate(db: &TestDb, fake: &FakePersonInformation) {
    let mut sql = String::new();
    for cpr in [DEAD_LONG_AGO, DEAD_RECENTLY, ALIVE, UNKNOWN, EMIGRATED_CPR, INACTIVE] {
        sql.push_str(&registration(cpr, "2020-01-01 10:00:00", None));
    }
    sql.push_str(&registration(
        EMIGRATED_CPR,
        "2015-01-01 10:00:00",
        Some("2020-01-01 10:00:00"),
    ));
    sql.push_str(&registration(
        DEAD_WITH_HISTORY,
        "2010-01-01 10:00:00",
        Some("2018-01-01 10:00:00"),
    ));
    sql.push_str(&registration(DEAD_WITH_HISTORY, "2018-01-01 10:00:00", None));
    sql.push_str(
        "INSERT INTO NotificationDate (Status, LatestDate, CreatedDateTime, ModifiedDateTime) \
         VALUES ('Completed', '2025-01-01', '2025-01-01 00:00:00', '2025-01-01 00:00:00');",
    );
    for (i, cpr) in [DEAD_ONLY_LETTER, DEAD_WITH_HISTORY, ALIVE].iter().enumerate() {
        sql.push_str(&format!(
            "INSERT INTO NotificationPerson (NotificationDatePID, Cpr, NotificationType, Status, MessageId, \
             TemplateDigital, TemplatePhysical, CreatedDateTime, ModifiedDateTime) VALUES (1, '{cpr}', '18aar', \
             'Completed', '00000000-0000-0000-0000-00000000000{i}', 'd', 'p', '2025-01-01 00:00:00', '2025-01-01 00:00:00');"
        ));
    }
    db.execute(&sql);
    fake.set_person(DEAD_LONG_AGO, "90", Some(ymd("2024-10-01")));
    fake.set_person(DEAD_RECENTLY, "90", Some(ymd("2026-09-01")));
    fake.set_person(ALIVE, "01", None);
    fake.set_person(EMIGRATED_CPR, "80", Some(ymd("2026-03-01")));
    fake.set_person(DEAD_WITH_HISTORY, "90", Some(ymd("2020-05-05")));
    fake.set_person(DEAD_ONLY_LETTER, "90", Some(ymd("2025-11-01")));
    fake.set_person(INACTIVE, "20", Some(ymd("2025-01-01")));
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Row {
    #[diesel(sql_type = Text)]
    cpr: String,
    #[diesel(sql_type = Nullable<Text>)]
    valid_to: Option<String>,
}

/// (Cpr, ValidTo) of every registration, ordered.
fn registrations(db: &TestDb) -> Vec<(String, Option<String>)> {
    let to = match db.backend() {
        Backend::Sqlite => "ValidTo",
        Backend::Mysql => "DATE_FORMAT(ValidTo, '%Y-%m-%d %H:%i:%s.%f')",
    };
    sql_query(format!(
        "SELECT Cpr AS cpr, {to} AS valid_to FROM OrganDonorRegistration ORDER BY Cpr, ValidFrom"
    ))
    .load::<Row>(&mut db.conn())
    .unwrap()
    .into_iter()
    .map(|r| (r.cpr, r.valid_to))
    .collect()
}

#[derive(QueryableByName)]
struct Cpr {
    #[diesel(sql_type = Text)]
    cpr: String,
}

fn letters(db: &TestDb) -> Vec<String> {
    sql_query("SELECT Cpr AS cpr FROM NotificationPerson ORDER BY Cpr")
        .load::<Cpr>(&mut db.conn())
        .unwrap()
        .into_iter()
        .map(|r| r.cpr)
        .collect()
}

async fn deceased_cleanup_removes_all_data_of_citizens_dead_over_12_months_and_nothing_else(backend: Backend) {
    capture_logs();
    let Some(env) = TestEnv::start(backend, "").await else {
        return;
    };
    let (db, fake, app) = (&env.db, &env.pi, &env.app);
    populate(db, fake);
    let answers = app.run_to_end(DECEASED).await;
    let last = answers.last().unwrap();
    assert!(last.starts_with("OrganDonorDeceasedCleanup: Finished after "), "{last}");
    assert!(last.ends_with("; 8 CPR checked, 3 deleted; pass complete.\n"), "{last}");
    let remaining: Vec<String> = registrations(db).into_iter().map(|(c, _)| c).collect();
    assert_eq!(
        remaining,
        vec![DEAD_RECENTLY, ALIVE, UNKNOWN, EMIGRATED_CPR, EMIGRATED_CPR, INACTIVE],
        "dead > 12 months removed with their history; dead < 12 months, alive, unknown, emigrated kept"
    );
    assert_eq!(
        letters(db),
        vec![ALIVE.to_string()],
        "letters of the removed citizens are gone too"
    );
    assert_eq!(fake.max_asked_count(), 1, "each CPR asked once per pass");
    for cpr in [DEAD_LONG_AGO, DEAD_WITH_HISTORY, DEAD_ONLY_LETTER] {
        assert!(
            audited("deceased-data-removed", &format!("cpr={cpr}")),
            "audit line for removal"
        );
    }
    assert!(audited("cpr-does-not-exist", &format!("cpr={UNKNOWN}")));
    assert!(audited(
        "cpr-inactive",
        &format!("cpr={INACTIVE} status=20 statusDate=2025-01-01")
    ));
    // Every status that is not active is audited, dead and emigrated included.
    assert!(audited(
        "cpr-inactive",
        &format!("cpr={DEAD_RECENTLY} status=90 statusDate=2026-09-01")
    ));
    assert!(audited(
        "cpr-inactive",
        &format!("cpr={EMIGRATED_CPR} status=80 statusDate=2026-03-01")
    ));
    // A second pass starts again from the lowest CPR and removes nothing more.
    let again = app.run_to_end(DECEASED).await;
    assert!(
        again
            .last()
            .unwrap()
            .ends_with("; 5 CPR checked, 0 deleted; pass complete.\n"),
        "{again:?}"
    );
    assert_no_cpr_outside_the_audit_log(
        app,
        db,
        &[
            DEAD_LONG_AGO,
            DEAD_RECENTLY,
            ALIVE,
            UNKNOWN,
            EMIGRATED_CPR,
            DEAD_WITH_HISTORY,
            DEAD_ONLY_LETTER,
            INACTIVE,
        ],
    )
    .await;
    env.stop().await;
}
both_backends!(deceased_cleanup_removes_all_data_of_citizens_dead_over_12_months_and_nothing_else);

async fn emigrated_cleanup_closes_only_active_registrations_of_emigrated_citizens(backend: Backend) {
    let Some(env) = TestEnv::start(backend, "").await else {
        return;
    };
    let (db, fake, app) = (&env.db, &env.pi, &env.app);
    populate(db, fake);
    let before = registrations(db);
    let run_time = chrono::Utc::now();
    app.clock().set_now("2026-11-24T09:30:00Z".parse().unwrap());
    let answers = app.run_to_end(EMIGRATED).await;
    let last = answers.last().unwrap();
    assert!(last.ends_with("; 7 CPR checked, 1 closed; pass complete.\n"), "{last}");
    let after = registrations(db);
    let changed: Vec<_> = before.iter().zip(&after).filter(|(b, a)| b != a).collect();
    assert_eq!(changed.len(), 1, "only one row changes: {changed:?}");
    let (_, (cpr, valid_to)) = changed[0];
    assert_eq!(cpr, EMIGRATED_CPR);
    assert!(
        valid_to.as_deref().unwrap().starts_with("2026-11-24 09:30:00"),
        "ValidTo = run time: {valid_to:?}"
    );
    // The emigrated citizen's historical row keeps its ValidTo.
    assert!(after.contains(&(EMIGRATED_CPR.to_string(), Some(fmt_history(db)))));
    // Closed registrations are no longer active: the next pass has nothing to close.
    let again = app.run_to_end(EMIGRATED).await;
    assert!(
        again
            .last()
            .unwrap()
            .ends_with("; 6 CPR checked, 0 closed; pass complete.\n"),
        "{again:?}"
    );
    let _ = run_time;
    env.stop().await;
}
both_backends!(emigrated_cleanup_closes_only_active_registrations_of_emigrated_citizens);

fn fmt_history(db: &TestDb) -> String {
    match db.backend() {
        Backend::Sqlite => "2020-01-01 10:00:00".to_string(),
        Backend::Mysql => "2020-01-01 10:00:00.000000".to_string(),
    }
}

async fn batch_size_and_requests_in_flight_never_exceed_their_settings(backend: Backend) {
    let Some(env) = TestEnv::start(backend, "deletion.batchsize.deceased=10\npersoninformation.batchsize.deceased=3\npersoninformation.defaultMaxConnectionsPerRoute=2").await else { return };
    let (db, fake, app) = (&env.db, &env.pi, &env.app);
    // The first two requests are let through only when both are at PersonInformation together.
    fake.gate().hold(2);
    let mut sql = String::new();
    for i in 0..50 {
        let cpr = format!("{:02}0190{:04}", i % 28 + 1, 1000 + i);
        sql.push_str(&registration(&cpr, "2020-01-01 10:00:00", None));
        fake.set_person(&cpr, if i % 10 == 0 { "90" } else { "01" }, Some(ymd("2020-01-01")));
    }
    db.execute(&sql);
    let answers = app.run_to_end(DECEASED).await;
    assert!(
        answers.last().unwrap().contains("; 50 CPR checked, 5 deleted; "),
        "{answers:?}"
    );
    let stats = fake.stats();
    assert_eq!(stats.max_batch, 3, "PersonInformation batch size");
    assert_eq!(
        fake.gate().barriers_opened(),
        1,
        "requests in flight reach the per-route limit"
    );
    assert!(
        stats.max_in_flight <= 2,
        "requests in flight never pass the per-route limit: {stats:?}"
    );
    assert_eq!(
        stats.requests, 17,
        "50 CPRs, 3 per request: the requests do not stop at the deletion batches of 10"
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) AS n FROM JobRun WHERE Outcome = 'Finished' AND Processed = 50"
        ),
        1
    );
    assert_eq!(count(db, "SELECT COUNT(*) AS n FROM OrganDonorRegistration"), 45);
    env.stop().await;
}
both_backends!(batch_size_and_requests_in_flight_never_exceed_their_settings);

async fn every_kind_of_personinformation_failure_fails_the_slice_alarms_and_removes_nothing(backend: Backend) {
    let Some(env) = TestEnv::start(backend, "personinformation.defaultConnectionTimeoutMs=300").await else {
        return;
    };
    let (db, fake, app) = (&env.db, &env.pi, &env.app);
    populate(db, fake);
    let before = registrations(db);
    let cases = [
        (PiFault::Status(409), "returnerede en uventet statuskode: 409"),
        (PiFault::Status(500), "returnerede en uventet statuskode: 500"),
        (PiFault::Hang, "ikke svarede inden for tidsgrænsen"),
        (
            PiFault::Garbage,
            "svaret fra PersonInformation-servicen ikke kunne læses",
        ),
    ];
    for (fault, reason) in cases {
        fake.set_fault(fault);
        for url in [DECEASED, EMIGRATED] {
            let (code, body) = app.get_text(url).await;
            assert_eq!(code, 200, "cron never sees an error code");
            assert!(
                body.contains(": Failed: Data for CPR-nummeret kunne ikke findes, fordi "),
                "{body}"
            );
            assert!(body.contains(reason), "{body}");
        }
        let (code, alarm) = app.get_text(ALARM).await;
        assert_eq!(code, 500);
        let lines: Vec<&str> = alarm.lines().collect();
        assert_eq!(lines.len(), 2, "{alarm}");
        assert!(lines[0].starts_with("Baggrundsjobbet StackedOperationsService fejlede sidst det blev kørt. Problemet var: Data for CPR-nummeret kunne ikke findes, fordi "));
        assert!(lines[0].contains(reason) && lines[0].ends_with('.'), "{alarm}");
        assert_eq!(lines[1], PI_TOLERANCE);
        assert_eq!(registrations(db), before, "nothing removed or closed");
    }
    // The exact lines of the operator guide for a 409.
    fake.set_fault(PiFault::Status(409));
    app.get_text(DECEASED).await;
    app.get_text(EMIGRATED).await;
    assert_eq!(
        app.get_text(ALARM).await,
        (500, format!("{FAILED_409}\n{PI_TOLERANCE}\n"))
    );
    // Recovery: the next calls finish, and once the error window has passed the alarm is clean.
    fake.set_fault(PiFault::None);
    app.run_to_end(DECEASED).await;
    app.run_to_end(EMIGRATED).await;
    assert_eq!(
        app.get_text(ALARM).await,
        (500, format!("{PI_TOLERANCE}\n")),
        "errors still within PT10M"
    );
    app.clock().set_offset(chrono::Duration::minutes(11));
    assert_eq!(app.get_text(ALARM).await, (200, String::new()));
    env.stop().await;
}
both_backends!(every_kind_of_personinformation_failure_fails_the_slice_alarms_and_removes_nothing);

async fn tolerance_2_tolerates_two_errors_and_alarms_on_the_third(backend: Backend) {
    let Some(env) = TestEnv::start(backend, "personinformation.error.tolerance=2").await else {
        return;
    };
    let (db, fake, app) = (&env.db, &env.pi, &env.app);
    populate(db, fake);
    fake.set_fault(PiFault::Status(409));
    for expected in [
        format!("{FAILED_409}\n"),
        format!("{FAILED_409}\n"),
        format!("{FAILED_409}\n{PI_TOLERANCE}\n"),
    ] {
        app.get_text(DECEASED).await;
        assert_eq!(app.get_text(ALARM).await, (500, expected));
    }
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) AS n FROM ErrorEvent WHERE Service = 'PersonInformation'"
        ),
        3
    );
    env.stop().await;
}
both_backends!(tolerance_2_tolerates_two_errors_and_alarms_on_the_third);

async fn the_budget_pauses_and_later_calls_finish_the_pass_checking_each_cpr_once(backend: Backend) {
    // One CPR per request, one request at a time: 30 ms each against a 50 ms budget.
    let Some(env) = TestEnv::start(
        backend,
        "deletion.desired.execution.duration.deceased=PT0.05S\ndeletion.batchsize.deceased=2\n\
         personinformation.batchsize.deceased=1\npersoninformation.defaultMaxConnectionsPerRoute=1",
    )
    .await
    else {
        return;
    };
    let (db, fake, app) = (&env.db, &env.pi, &env.app);
    fake.set_latency(std::time::Duration::from_millis(30));
    populate(db, fake);
    let answers = app.run_to_end(DECEASED).await;
    assert!(answers.len() >= 2, "{answers:?}");
    for paused in &answers[..answers.len() - 1] {
        assert!(
            paused.starts_with("OrganDonorDeceasedCleanup: Paused after "),
            "{paused}"
        );
        assert!(paused.ends_with("; next call resumes.\n"), "{paused}");
    }
    let checked: i64 = answers
        .iter()
        .map(|a| {
            a.split("; ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse::<i64>()
                .unwrap()
        })
        .sum();
    assert_eq!(
        checked, 8,
        "every CPR with data is checked (committed) once in the pass"
    );
    // Answers in flight or read ahead when a slice pauses are asked again by the next slice:
    // at most the window (1 request) and the pipeline's buffer (2 answers) per pause.
    let pauses = (answers.len() - 1) as u64;
    let asked = fake.stats().cprs_asked;
    assert!(
        (8..=8 + pauses * 3).contains(&asked),
        "{asked} CPRs asked over {pauses} pauses"
    );
    assert_eq!(letters(db), vec![ALIVE.to_string()]);
    env.stop().await;
}
both_backends!(the_budget_pauses_and_later_calls_finish_the_pass_checking_each_cpr_once);

async fn a_database_that_goes_away_still_gets_200_with_failed(backend: Backend) {
    let url = match backend {
        Backend::Sqlite => "sqlite:///nonexistent-dir-odr-test/odr.db",
        Backend::Mysql => "mysql://root@127.0.0.1:1/odr_unreachable",
    };
    let Some(env) = TestEnv::start(
        backend,
        &format!("datasource.odr.url={url}\ndatasource.odr.migrate=false"),
    )
    .await
    else {
        return;
    };
    let app = &env.app;
    let (code, body) = app.get_text(DECEASED).await;
    assert_eq!(code, 200);
    assert!(
        body.starts_with("OrganDonorDeceasedCleanup: Failed: databasen kunne ikke nås"),
        "{body}"
    );
    let (code, body) = app.get_text(ALARM).await;
    assert_eq!(
        (code, body.as_str()),
        (
            500,
            "Der er ingen forbindelse til databasen med JNDI navnet java:jboss/datasources/ODR-DS\n"
        )
    );
    env.stop().await;
}
both_backends!(a_database_that_goes_away_still_gets_200_with_failed);

/// A status 90 without `statusDate` is never removed; the slice says how many, the audit log
/// names them (`statusDate=none`), the application log only counts, `?detailed` shows the figure.
async fn the_dead_without_a_status_date_are_kept_counted_and_shown(backend: Backend) {
    capture_logs();
    let Some(env) = TestEnv::start(backend, "").await else {
        return;
    };
    let (db, fake, app) = (&env.db, &env.pi, &env.app);
    const UNDATED_1: &str = "1111401111";
    const UNDATED_2: &str = "1212401212";
    populate(db, fake);
    db.execute(&format!(
        "{}{}",
        registration(UNDATED_1, "2020-01-01 10:00:00", None),
        registration(UNDATED_2, "2020-01-01 10:00:00", None)
    ));
    fake.set_person(UNDATED_1, "90", None);
    fake.set_person(UNDATED_2, "90", None);
    let answers = app.run_to_end(DECEASED).await;
    let last = answers.last().unwrap();
    assert!(
        last.ends_with("; 10 CPR checked, 3 deleted, 2 dead without a status date kept; pass complete.\n"),
        "{last}"
    );
    let kept: Vec<String> = registrations(db).into_iter().map(|(c, _)| c).collect();
    assert!(kept.contains(&UNDATED_1.to_string()) && kept.contains(&UNDATED_2.to_string()));
    for cpr in [UNDATED_1, UNDATED_2] {
        assert!(audited(
            "cpr-inactive",
            &format!("cpr={cpr} status=90 statusDate=none kept: dead without a status date")
        ));
    }
    assert!(captured_logs().iter().any(|(_, m)| m
        == "OrganDonorDeceasedCleanup: 2 citizens are dead (status 90) without a status date from PersonInformation and were kept"));
    let detailed: serde_json::Value = app.get(&format!("{ALARM}?detailed")).await.json().await.unwrap();
    let indicator = detailed["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "DeceasedWithoutStatusDate")
        .expect("the indicator")
        .clone();
    assert_eq!(indicator["state"], "OK", "a figure, not an alarm");
    assert_eq!(indicator["figures"]["lastCompletePass"], 2);
    assert_eq!(indicator["figures"]["currentPass"], 0);
    assert_no_cpr_outside_the_audit_log(app, db, &[UNDATED_1, UNDATED_2]).await;
    env.stop().await;
}
both_backends!(the_dead_without_a_status_date_are_kept_counted_and_shown);

/// Each PersonInformation request carries its own `X-Request-ID`, built from the cron call's id.
async fn every_personinformation_request_has_its_own_id_built_from_the_calls(backend: Backend) {
    let Some(env) = TestEnv::start(backend, "personinformation.batchsize.deceased=2").await else {
        return;
    };
    let (db, fake, app) = (&env.db, &env.pi, &env.app);
    populate(db, fake);
    let res = app
        .client
        .get(format!("{}{DECEASED}", app.address))
        .header("X-Request-ID", "cron-7")
        .send()
        .await
        .unwrap();
    assert!(res.text().await.unwrap().contains("8 CPR checked"));
    let mut ids = fake.request_ids();
    assert_eq!(ids.len(), 4, "8 CPR, 2 per request");
    ids.sort();
    assert_eq!(ids, ["cron-7-1", "cron-7-2", "cron-7-3", "cron-7-4"]);
    env.stop().await;
}
both_backends!(every_personinformation_request_has_its_own_id_built_from_the_calls);
