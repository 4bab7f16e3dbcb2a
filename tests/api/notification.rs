//! OrganDonorNotification against the fake Digital Post Adapter, on both backends: who gets a
//! letter and when, rejected letters and the runbook SQL, the adapter down, a killed slice,
//! the start date, unknown statuses, and the notification status and alarm pages.

use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_query;
use diesel::sql_types::{BigInt, Date, Nullable, Text, Timestamp};
use odr_operations::simulator::digital_post::{DpFault, FakeDigitalPost};

use crate::both_backends;
use crate::fixture::app::summary;
use crate::fixture::sql::{date_row, letter_row, person, registration};
use crate::fixture::{
    assert_no_cpr_outside_the_audit_log, audit_lines, capture_logs, count, operator_sql, spawn_app, spawn_with,
    test_db, texts, ymd, Backend, Spawn, TestApp, TestDb, TestDbExt, TestEnv,
};

const START: &str = "/odr-operations/odr-send-digitalpost-notifikation/start";
const STATUS: &str = "/odr-operations/odr-send-digitalpost-notifikation/status";
const ALARM: &str = "/odr-operations/odr-send-digitalpost-notifikation/alarm";

const DIGITAL_UNDECIDED: &str = "ODR/20250911/digital/18aarIkkeTagetStilling";
const PHYSICAL_UNDECIDED: &str = "ODR/20250911/physical/18aarIkkeTagetStilling";
const DIGITAL_DECIDED: &str = "ODR/20250911/digital/18aarHarTagetStilling";
const PHYSICAL_DECIDED: &str = "ODR/20250911/physical/18aarHarTagetStilling";
const CPR_OID: &str = "1.2.208.176.1.2";

const DP_TOLERANCE: &str = "Digital Post Adapter servicen har fejlet flere gange end tilladt i en given periode.";
const FAILED_503: &str = "Baggrundsjobbet StackedOperationsService fejlede sidst det blev kørt. Problemet var: Kaldet til Digital Post Adapter-servicen fejlede: uventet statuskode 503.";
const ALL_DONE: &str = "; every date up to today completed.\n";
const WAITING: &str =
    "; waiting for an operator: repair the date's letters (docs/OPERATIONS.md), then call start again.\n";
const RUNBOOK_SELECT: &str =
    r#"select NotificationPersonPID, ErrorMessage from NotificationPerson where status = "Error";"#;

#[derive(QueryableByName, Debug, Clone, PartialEq)]
struct LetterDb {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    cpr: String,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Date)]
    date: NaiveDate,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    message_id: String,
    #[diesel(sql_type = Text)]
    digital: String,
    #[diesel(sql_type = Text)]
    physical: String,
    #[diesel(sql_type = Nullable<Timestamp>)]
    sent_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Nullable<Text>)]
    error: Option<String>,
}

/// Every `NotificationPerson` row with its date, lowest id first.
fn letters(db: &TestDb) -> Vec<LetterDb> {
    sql_query(
        "SELECT p.NotificationPersonPID AS id, p.Cpr AS cpr, p.Status AS status, d.LatestDate AS date, \
         p.NotificationType AS kind, p.MessageId AS message_id, p.TemplateDigital AS digital, \
         p.TemplatePhysical AS physical, p.SentAtDateTime AS sent_at, p.ErrorMessage AS error \
         FROM NotificationPerson p JOIN NotificationDate d ON d.NotificationDatePID = p.NotificationDatePID \
         ORDER BY p.NotificationPersonPID",
    )
    .load(&mut db.conn())
    .unwrap()
}

fn letter_of(db: &TestDb, cpr: &str) -> LetterDb {
    let mine: Vec<LetterDb> = letters(db).into_iter().filter(|l| l.cpr == cpr).collect();
    assert_eq!(mine.len(), 1, "one row per citizen: {mine:?}");
    mine[0].clone()
}

#[derive(QueryableByName, Debug, Clone, PartialEq)]
struct DateDb {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Date)]
    date: NaiveDate,
    #[diesel(sql_type = Text)]
    status: String,
}

/// Every `NotificationDate` row, oldest date first.
fn dates(db: &TestDb) -> Vec<DateDb> {
    sql_query(
        "SELECT NotificationDatePID AS id, LatestDate AS date, Status AS status FROM NotificationDate ORDER BY LatestDate",
    )
    .load(&mut db.conn())
    .unwrap()
}

/// Everything for a notification scenario: a start date (or none), more properties, and the app
/// clock at 09:00 UTC on `today`.
async fn env_at(backend: Backend, start: Option<&str>, today: &str, extra: &str) -> Option<TestEnv> {
    let env = TestEnv::start(backend, &format!("{}{extra}", start_date(start))).await?;
    env.app.set_today(today);
    Some(env)
}

/// Another app on the same database and fake adapter (a second node, other properties).
async fn app_at(db: &TestDb, fake: &FakeDigitalPost, start: Option<&str>, today: &str, extra: &str) -> TestApp {
    let props = format!("digitalpost.service.url={}\n{}{extra}", fake.url(), start_date(start));
    let app = spawn_app(db, &props).await;
    app.set_today(today);
    app
}

fn start_date(start: Option<&str>) -> String {
    start.map_or(String::new(), |s| {
        format!("digitalpost.notification.odr.startdate={s}\n")
    })
}

// Persons of the catch-up: notification date D = birth + 18 years - 14 days.
const A1: &str = "0412084101"; // 2008-12-04 -> 2026-11-20, active registration
const A2: &str = "0412084102"; // 2008-12-04 -> 2026-11-20, only a closed registration
const B: &str = "0512084103"; // 2008-12-05 -> 2026-11-21
const C: &str = "0612084104"; // 2008-12-06 -> 2026-11-22
const E: &str = "0812084105"; // 2008-12-08 -> 2026-11-24 (today), registration valid from next year
const F: &str = "0912084106"; // 2008-12-09 -> 2026-11-25 (tomorrow)
const G: &str = "0312084107"; // 2008-12-03 -> 2026-11-19 (before the start date)
const H: &str = "0512084108"; // 2008-12-05 -> 2026-11-21, already had its letter

async fn a_catch_up_over_past_dates_sends_one_letter_to_each_eligible_person_in_date_order(backend: Backend) {
    capture_logs();
    let Some(env) = env_at(backend, Some("2026-11-20"), "2026-11-24", "").await else {
        return;
    };
    let (db, fake, app) = (&env.db, &env.dp, &env.app);
    let mut sql = String::new();
    for (cpr, birth, status) in [
        (A1, "2008-12-04", "01"),
        (A2, "2008-12-04", "03"),
        (B, "2008-12-05", "05"),
        (C, "2008-12-06", "07"),
        (E, "2008-12-08", "01"),
        (F, "2008-12-09", "01"),
        (G, "2008-12-03", "01"),
        (H, "2008-12-05", "01"),
    ] {
        sql.push_str(&person(cpr, birth, status));
    }
    sql.push_str(&registration(A1, "2024-05-01 10:00:00", None));
    sql.push_str(&registration(A2, "2024-05-01 10:00:00", Some("2025-01-01 10:00:00")));
    sql.push_str(&registration(E, "2027-01-01 10:00:00", None));
    sql.push_str(&date_row("2026-01-01", "Completed"));
    sql.push_str(&letter_row(
        "2026-01-01",
        H,
        "Completed",
        "00000000-0000-0000-0000-000000000001",
    ));
    db.execute(&sql);

    let answers = app.run_to_end(START).await;
    assert_eq!(answers.len(), 1, "one slice is enough: {answers:?}");
    assert!(
        answers[0].starts_with("OrganDonorNotification: Finished after "),
        "{answers:?}"
    );
    assert_eq!(
        summary(&answers[0]),
        format!("5 dates completed, 5 letters sent, 0 rejected{ALL_DONE}")
    );

    // The adapter got exactly one letter per eligible person, with the right templates and OID.
    let got = fake.letters();
    assert_eq!(got.len(), 5, "{got:?}");
    for (cpr, digital, physical) in [
        (A1, DIGITAL_DECIDED, PHYSICAL_DECIDED),
        (A2, DIGITAL_UNDECIDED, PHYSICAL_UNDECIDED),
        (B, DIGITAL_UNDECIDED, PHYSICAL_UNDECIDED),
        (C, DIGITAL_UNDECIDED, PHYSICAL_UNDECIDED),
        (E, DIGITAL_UNDECIDED, PHYSICAL_UNDECIDED),
    ] {
        let to = fake.letters_to(cpr);
        assert_eq!(to.len(), 1, "one letter");
        assert_eq!(
            (to[0].template_digital.as_str(), to[0].template_physical.as_str()),
            (digital, physical)
        );
        assert_eq!(to[0].source, CPR_OID);
        let row = letter_of(db, cpr);
        assert_eq!(to[0].message_id, row.message_id, "the stored MessageId is the one sent");
        assert_eq!(uuid::Uuid::parse_str(&row.message_id).unwrap().get_version_num(), 4);
        assert_eq!((row.status.as_str(), row.kind.as_str()), ("Completed", "18aar"));
        assert_eq!((row.digital.as_str(), row.physical.as_str()), (digital, physical));
        assert!(row.sent_at.is_some() && row.error.is_none(), "{row:?}");
    }
    for cpr in [F, G] {
        assert!(fake.letters_to(cpr).is_empty(), "not yet due / before the start date");
    }
    assert!(fake.letters_to(H).is_empty(), "one 18-year letter per citizen, ever");
    assert_eq!(letter_of(db, H).date, ymd("2026-01-01"));
    // Dates in order: every letter of a date went out before the next date's first letter.
    let sent_dates: Vec<NaiveDate> = got.iter().map(|l| letter_of(db, &l.cpr).date).collect();
    assert!(sent_dates.windows(2).all(|w| w[0] <= w[1]), "{sent_dates:?}");
    let all = dates(db);
    let shown: Vec<(String, &str)> = all.iter().map(|d| (d.date.to_string(), d.status.as_str())).collect();
    assert_eq!(
        shown,
        [
            ("2026-01-01".to_string(), "Completed"),
            ("2026-11-20".to_string(), "Completed"),
            ("2026-11-21".to_string(), "Completed"),
            ("2026-11-22".to_string(), "Completed"),
            ("2026-11-23".to_string(), "Completed"),
            ("2026-11-24".to_string(), "Completed"),
        ]
    );
    assert!(
        all.windows(2).all(|w| w[0].id < w[1].id),
        "dates created oldest first: {all:?}"
    );
    assert_eq!(letter_of(db, A1).date, ymd("2026-11-20"));
    assert_eq!(letter_of(db, E).date, ymd("2026-11-24"));

    // Nothing more today; tomorrow's letter goes out tomorrow.
    let again = app.start(START).await;
    assert_eq!(
        summary(&again),
        format!("0 dates completed, 0 letters sent, 0 rejected{ALL_DONE}")
    );
    assert_eq!(fake.stats().requests, 5);
    app.set_today("2026-11-25");
    let tomorrow = app.start(START).await;
    assert_eq!(
        summary(&tomorrow),
        format!("1 dates completed, 1 letters sent, 0 rejected{ALL_DONE}")
    );
    assert_eq!(fake.letters_to(F).len(), 1);
    assert_eq!(fake.letters().len(), 6);
    assert_eq!(app.get_text(ALARM).await, (200, String::new()));

    // The audit log has the letters; nothing else has a CPR.
    let audit = audit_lines();
    for cpr in [A1, A2, B, C, E, F] {
        assert!(
            audit
                .iter()
                .any(|(k, i)| k == "digital-post-request" && i.starts_with(&format!("cpr={cpr} messageId="))),
            "audit line for {cpr}"
        );
    }
    assert_no_cpr_outside_the_audit_log(app, db, &[A1, A2, B, C, E, F, G, H]).await;
    env.stop().await;
}
both_backends!(a_catch_up_over_past_dates_sends_one_letter_to_each_eligible_person_in_date_order);

async fn a_person_born_29_february_2008_gets_exactly_one_letter_in_2026_on_the_right_date(backend: Backend) {
    let Some(env) = env_at(backend, Some("2026-02-10"), "2026-02-13", "").await else {
        return;
    };
    let (db, fake, app) = (&env.db, &env.dp, &env.app);
    const LEAP: &str = "2902084201";
    const DAY_BEFORE: &str = "2802084202";
    const DAY_AFTER: &str = "0103084203";
    db.execute(&format!(
        "{}{}{}",
        person(LEAP, "2008-02-29", "01"),
        person(DAY_BEFORE, "2008-02-28", "01"),
        person(DAY_AFTER, "2008-03-01", "01")
    ));
    // 2026 is not a leap year: the 29 February child turns 18 on 28 February, notified 14 days before.
    let answers = app.run_to_end(START).await;
    assert_eq!(
        summary(answers.last().unwrap()),
        format!("4 dates completed, 0 letters sent, 0 rejected{ALL_DONE}")
    );
    assert!(fake.letters().is_empty(), "not due before 2026-02-14");
    app.set_today("2026-02-14");
    let answers = app.run_to_end(START).await;
    assert_eq!(
        summary(answers.last().unwrap()),
        format!("1 dates completed, 2 letters sent, 0 rejected{ALL_DONE}")
    );
    assert_eq!(fake.letters_to(LEAP).len(), 1);
    assert_eq!(fake.letters_to(DAY_BEFORE).len(), 1);
    assert_eq!(letter_of(db, LEAP).date, ymd("2026-02-14"));
    assert_eq!(letter_of(db, DAY_BEFORE).date, ymd("2026-02-14"));
    // The rest of the season: the day after gets its letter on the 15th, nobody gets a second.
    app.set_today("2026-03-05");
    let answers = app.run_to_end(START).await;
    assert_eq!(
        summary(answers.last().unwrap()),
        format!("19 dates completed, 1 letters sent, 0 rejected{ALL_DONE}")
    );
    assert_eq!(letter_of(db, DAY_AFTER).date, ymd("2026-02-15"));
    for cpr in [LEAP, DAY_BEFORE, DAY_AFTER] {
        assert_eq!(fake.letters_to(cpr).len(), 1, "exactly one letter");
    }
    assert_eq!(fake.stats().requests, 3);
    env.stop().await;
}
both_backends!(a_person_born_29_february_2008_gets_exactly_one_letter_in_2026_on_the_right_date);

async fn only_active_cpr_statuses_get_a_letter(backend: Backend) {
    let Some(env) = env_at(backend, Some("2026-11-24"), "2026-11-24", "").await else {
        return;
    };
    let (db, fake, app) = (&env.db, &env.dp, &env.app);
    let statuses = ["01", "03", "05", "07", "20", "30", "50", "60", "70", "80", "90"];
    let mut sql = String::new();
    for (i, status) in statuses.iter().enumerate() {
        sql.push_str(&person(&format!("08120842{i:02}"), "2008-12-08", status));
    }
    db.execute(&sql);
    let answers = app.run_to_end(START).await;
    assert_eq!(
        summary(answers.last().unwrap()),
        format!("1 dates completed, 4 letters sent, 0 rejected{ALL_DONE}")
    );
    let mut got: Vec<String> = fake.letters().into_iter().map(|l| l.cpr).collect();
    got.sort();
    assert_eq!(got, ["0812084200", "0812084201", "0812084202", "0812084203"]);
    assert_eq!(letters(db).len(), 4, "no row for inactive citizens");
    env.stop().await;
}
both_backends!(only_active_cpr_statuses_get_a_letter);

const REJECTED: &str = "0712084301"; // 2008-12-07 -> 2026-11-23
const ACCEPTED: &str = "0712084302"; // 2008-12-07 -> 2026-11-23
const NEXT_DAY: &str = "0812084303"; // 2008-12-08 -> 2026-11-24

async fn a_rejected_letter_holds_its_date_until_the_runbook_sql_resets_it(backend: Backend) {
    capture_logs();
    let Some(env) = env_at(backend, Some("2026-11-23"), "2026-11-24", "").await else {
        return;
    };
    let (db, fake, app) = (&env.db, &env.dp, &env.app);
    db.execute(&format!(
        "{}{}{}",
        person(REJECTED, "2008-12-07", "01"),
        person(ACCEPTED, "2008-12-07", "01"),
        person(NEXT_DAY, "2008-12-08", "01")
    ));
    fake.reject_cpr(REJECTED, &format!("Modtageren {REJECTED} kan ikke modtage post"));

    let line = app.start(START).await;
    assert!(line.starts_with("OrganDonorNotification: Finished after "), "{line}");
    assert_eq!(
        summary(&line),
        format!("0 dates completed, 1 letters sent, 1 rejected; date 2026-11-23 is held by its letters: 1 with status Error{WAITING}")
    );
    let row = letter_of(db, REJECTED);
    assert_eq!(row.status, "Error");
    assert_eq!(
        row.error.as_deref(),
        Some("Modtageren ********** kan ikke modtage post"),
        "the faultstring, digits masked"
    );
    assert!(row.sent_at.is_none());
    assert_eq!(letter_of(db, ACCEPTED).status, "Sent", "the others go on");
    let shown: Vec<(String, String)> = dates(db).into_iter().map(|d| (d.date.to_string(), d.status)).collect();
    assert_eq!(
        shown,
        [("2026-11-23".to_string(), "InProgress".to_string())],
        "the next date waits"
    );
    // A rejection is about the letter, not the adapter: the Error line, no tolerance line.
    assert_eq!(
        app.alarm(ALARM).await,
        (
            500,
            vec!["Der ligger totalt 1 notifikationer med status Error.".to_string()]
        )
    );
    let events = texts(db, "SELECT Message AS m FROM ErrorEvent WHERE Service = 'DigitalPost'");
    assert!(events.is_empty(), "no ErrorEvent for a rejected letter: {events:?}");
    // Calling again does not resend an Error letter.
    let again = app.start(START).await;
    assert!(summary(&again).starts_with("0 dates completed, 0 letters sent, 0 rejected; date 2026-11-23 is held"));
    assert_eq!(fake.stats().requests, 2);

    // The operator finds the row and resets it with the runbook SQL, in the real client.
    let found = operator_sql(db, RUNBOOK_SELECT);
    assert!(found.contains("Modtageren ********** kan ikke modtage post"), "{found}");
    let pid: i64 = found
        .lines()
        .find_map(|l| l.split(['\t', '|']).next().and_then(|f| f.trim().parse().ok()))
        .expect("a NotificationPersonPID in the output");
    assert_eq!(pid, row.id);
    operator_sql(
        db,
        &format!(
            r#"update NotificationPerson set Status = "Pending", SentAtDateTime = null, ErrorMessage = null where NotificationPersonPID = {pid} and status = "Error";"#
        ),
    );
    fake.clear_rejections();
    let line = app.start(START).await;
    assert_eq!(
        summary(&line),
        format!("2 dates completed, 2 letters sent, 0 rejected{ALL_DONE}")
    );
    for cpr in [REJECTED, ACCEPTED, NEXT_DAY] {
        assert_eq!(fake.letters_to(cpr).len(), 1, "one letter each");
        assert_eq!(letter_of(db, cpr).status, "Completed");
    }
    assert_eq!(
        fake.letters_to(REJECTED)[0].message_id,
        row.message_id,
        "resent with its MessageId"
    );
    assert!(letter_of(db, REJECTED).error.is_none());
    assert_eq!(
        app.get_text(ALARM).await,
        (200, String::new()),
        "repaired: nothing to report"
    );
    assert_no_cpr_outside_the_audit_log(app, db, &[REJECTED, ACCEPTED, NEXT_DAY]).await;
    env.stop().await;
}
both_backends!(a_rejected_letter_holds_its_date_until_the_runbook_sql_resets_it);

async fn the_runbook_sql_for_inprogress_and_sent_rows_runs_in_the_real_client(backend: Backend) {
    let Some(env) = env_at(backend, Some("2026-11-24"), "2026-11-24", "").await else {
        return;
    };
    let (db, fake, app) = (&env.db, &env.dp, &env.app);
    db.execute(&format!(
        "{}{}{}{}{}",
        date_row("2026-11-24", "InProgress"),
        letter_row(
            "2026-11-24",
            "0812084401",
            "InProgress",
            "00000000-0000-0000-0000-000000000441"
        ),
        letter_row(
            "2026-11-24",
            "0812084402",
            "Sent",
            "00000000-0000-0000-0000-000000000442"
        ),
        letter_row(
            "2026-11-24",
            "0812084403",
            "Error",
            "00000000-0000-0000-0000-000000000443"
        ),
        "UPDATE NotificationPerson SET SentAtDateTime = '2026-11-24 08:00:00' WHERE Status = 'Sent';"
    ));
    for row in letters(db) {
        operator_sql(
            db,
            &format!(
                r#"update NotificationPerson set Status = "Pending", SentAtDateTime = null, ErrorMessage = null where NotificationPersonPID = {} and status = "{}";"#,
                row.id, row.status
            ),
        );
    }
    assert!(letters(db).iter().all(|l| l.status == "Pending" && l.sent_at.is_none()));
    let line = app.start(START).await;
    assert_eq!(
        summary(&line),
        format!("1 dates completed, 3 letters sent, 0 rejected{ALL_DONE}")
    );
    assert_eq!(fake.letters().len(), 3);
    env.stop().await;
}
both_backends!(the_runbook_sql_for_inprogress_and_sent_rows_runs_in_the_real_client);

async fn the_adapter_down_leaves_letters_pending_fails_the_slice_and_alarms(backend: Backend) {
    // One letter in flight makes the order of requests, and so the outcome, deterministic.
    let Some(env) = env_at(
        backend,
        Some("2026-11-24"),
        "2026-11-24",
        "digitalpost.default.max.connections.per.route=1",
    )
    .await
    else {
        return;
    };
    let (db, fake, app) = (&env.db, &env.dp, &env.app);
    let cprs = ["0812084501", "0812084502", "0812084503"];
    db.execute(&cprs.iter().map(|c| person(c, "2008-12-08", "01")).collect::<String>());
    fake.set_fault(DpFault::Unavailable503);

    let line = app.start(START).await;
    assert!(
        line.starts_with(
            "OrganDonorNotification: Failed: Kaldet til Digital Post Adapter-servicen fejlede: uventet statuskode 503; after "
        ),
        "{line}"
    );
    assert!(
        line.ends_with("; 0 dates completed, 0 letters sent, 0 rejected; next call resumes.\n"),
        "{line}"
    );
    assert!(
        letters(db).iter().all(|l| l.status == "Pending"),
        "no mass-marking while the adapter is down"
    );
    assert_eq!(
        fake.stats().requests,
        1,
        "the batch stops at the first unavailable answer"
    );
    assert_eq!(
        count(db, "SELECT COUNT(*) AS n FROM ErrorEvent WHERE Service = 'DigitalPost'"),
        1
    );
    assert_eq!(
        app.alarm(ALARM).await,
        (500, vec![FAILED_503.to_string(), DP_TOLERANCE.to_string()])
    );

    // Down in the middle of a batch: what was accepted is Sent, the rest back to Pending.
    fake.set_fault(DpFault::None);
    fake.fail_next(1, DpFault::None);
    fake.fail_next(1, DpFault::Unavailable503);
    let line = app.start(START).await;
    assert!(
        line.contains(": Failed: Kaldet til Digital Post Adapter-servicen fejlede: uventet statuskode 503; "),
        "{line}"
    );
    assert!(
        line.ends_with("; 0 dates completed, 1 letters sent, 0 rejected; next call resumes.\n"),
        "{line}"
    );
    let statuses: Vec<String> = letters(db).into_iter().map(|l| l.status).collect();
    assert_eq!(statuses, ["Sent", "Pending", "Pending"]);

    // Back up: the next call sends the rest, each letter once.
    let line = app.start(START).await;
    assert_eq!(
        summary(&line),
        format!("1 dates completed, 2 letters sent, 0 rejected{ALL_DONE}")
    );
    for cpr in cprs {
        assert_eq!(fake.letters_to(cpr).len(), 1);
    }
    assert_eq!(app.alarm(ALARM).await, (500, vec![DP_TOLERANCE.to_string()]));
    app.clock().set_now(app.clock().now() + chrono::Duration::minutes(11));
    assert_eq!(app.get_text(ALARM).await, (200, String::new()));
    env.stop().await;
}
both_backends!(the_adapter_down_leaves_letters_pending_fails_the_slice_and_alarms);

/// `soap:Server` ("Internt systemfel") is the adapter's own failure, not a rejection: the letters
/// go back to Pending, one ErrorEvent, the slice Failed, the date not held; sent once after.
async fn a_soap_server_fault_is_the_adapter_down_not_a_rejection(backend: Backend) {
    capture_logs();
    let Some(env) = env_at(
        backend,
        Some("2026-11-24"),
        "2026-11-24",
        "digitalpost.default.max.connections.per.route=1\ndigitalpost.notification.odr.send.limit=10",
    )
    .await
    else {
        return;
    };
    let (db, fake, app) = (&env.db, &env.dp, &env.app);
    let cprs = ["0812084601", "0812084602", "0812084603", "0812084604"];
    db.execute(&cprs.iter().map(|c| person(c, "2008-12-08", "01")).collect::<String>());
    for fault in [DpFault::SoapServer, DpFault::SoapOther] {
        fake.set_fault(fault);
        let line = app.get(START).await.text().await.unwrap();
        assert!(
            line.contains(": Failed: Kaldet til Digital Post Adapter-servicen fejlede: serverfejl (soap:"),
            "{fault:?}: {line}"
        );
        assert!(
            line.ends_with("; 0 dates completed, 0 letters sent, 0 rejected; next call resumes.\n"),
            "{line}"
        );
        assert!(
            letters(db).iter().all(|l| l.status == "Pending"),
            "{fault:?}: back to Pending, none Error"
        );
    }
    assert_eq!(
        count(db, "SELECT COUNT(*) AS n FROM ErrorEvent WHERE Service = 'DigitalPost'"),
        2,
        "one ErrorEvent per failed slice"
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) AS n FROM NotificationPerson WHERE Status = 'Error'"
        ),
        0
    );
    let (code, lines) = app.alarm(ALARM).await;
    assert_eq!(code, 500);
    assert!(lines.contains(&DP_TOLERANCE.to_string()), "{lines:?}");
    assert!(
        !lines.iter().any(|l| l.contains("status Error")),
        "the date is not held by Error rows: {lines:?}"
    );
    // The adapter is back: every letter sent once, the date completed.
    fake.set_fault(DpFault::None);
    let line = app.start(START).await;
    assert_eq!(
        summary(&line),
        format!("1 dates completed, 4 letters sent, 0 rejected{ALL_DONE}")
    );
    for cpr in cprs {
        assert_eq!(fake.letters_to(cpr).len(), 1, "{cpr}");
    }
    assert_no_cpr_outside_the_audit_log(app, db, &cprs).await;
    env.stop().await;
}
both_backends!(a_soap_server_fault_is_the_adapter_down_not_a_rejection);

/// Each outgoing request carries its own `X-Request-ID`, built from the cron call's id.
async fn every_letter_goes_out_with_its_own_request_id_built_from_the_calls(backend: Backend) {
    let Some(env) = env_at(backend, Some("2026-11-24"), "2026-11-24", "").await else {
        return;
    };
    let (db, fake, app) = (&env.db, &env.dp, &env.app);
    let cprs = ["0812084701", "0812084702", "0812084703"];
    db.execute(&cprs.iter().map(|c| person(c, "2008-12-08", "01")).collect::<String>());
    let res = app
        .client
        .get(format!("{}{START}", app.address))
        .header("X-Request-ID", "cron-node1-0815")
        .send()
        .await
        .unwrap();
    assert!(res.text().await.unwrap().contains("3 letters sent"));
    let mut ids = fake.request_ids();
    ids.sort();
    assert_eq!(ids.len(), 3);
    ids.dedup();
    assert_eq!(ids.len(), 3, "unique for each request: {ids:?}");
    for id in &ids {
        let n = id
            .strip_prefix("cron-node1-0815-")
            .unwrap_or_else(|| panic!("{id} is not <incoming>-<n>"));
        assert!(n.parse::<u32>().is_ok(), "{id}");
    }
    env.stop().await;
}
both_backends!(every_letter_goes_out_with_its_own_request_id_built_from_the_calls);

async fn a_timeout_is_unavailable_and_the_letter_is_sent_on_the_next_call(backend: Backend) {
    let Some(env) = env_at(
        backend,
        Some("2026-11-24"),
        "2026-11-24",
        "digitalpost.default.connection.timeout.ms=300",
    )
    .await
    else {
        return;
    };
    let (db, fake, app) = (&env.db, &env.dp, &env.app);
    db.execute(&person("0812084601", "2008-12-08", "01"));
    fake.set_fault(DpFault::Hang);
    let line = app.start(START).await;
    assert!(
        line.contains(": Failed: Kaldet til Digital Post Adapter-servicen fejlede: timeout; after "),
        "{line}"
    );
    assert_eq!(letters(db)[0].status, "Pending");
    fake.set_fault(DpFault::None);
    let line = app.start(START).await;
    assert_eq!(
        summary(&line),
        format!("1 dates completed, 1 letters sent, 0 rejected{ALL_DONE}")
    );
    assert_eq!(fake.letters_to("0812084601").len(), 1);
    env.stop().await;
}
both_backends!(a_timeout_is_unavailable_and_the_letter_is_sent_on_the_next_call);

async fn a_slice_killed_mid_send_is_resumed_without_a_second_letter_to_anyone(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    let fake = FakeDigitalPost::start().await.unwrap();
    let node = |name: &str| Spawn {
        properties: format!(
            "digitalpost.service.url={}\ndigitalpost.notification.odr.startdate=2026-11-24\n\
             digitalpost.default.max.connections.per.route=2",
            fake.url()
        ),
        node: Some(name.to_string()),
        ..Default::default()
    };
    let a = spawn_with(&db, node("node-a")).await;
    a.set_today("2026-11-24");
    let cprs = ["0812084701", "0812084702", "0812084703", "0812084704"];
    db.execute(&cprs.iter().map(|c| person(c, "2008-12-08", "01")).collect::<String>());
    // The adapter takes the first two letters, then stops answering.
    fake.set_fault(DpFault::Hang);
    fake.fail_next(2, DpFault::None);
    let slice = tokio::spawn(reqwest::Client::new().get(format!("{}{START}", a.address)).send());
    // Two in flight at a time: the third and fourth are sent only once the first two are answered.
    tokio::time::timeout(Duration::from_secs(60), fake.gate().wait_for_arrivals(4))
        .await
        .expect("all four letters reach the adapter");
    assert_eq!(fake.letters().len(), 2, "two letters reached the adapter");
    assert!(
        letters(&db).iter().all(|l| l.status == "InProgress"),
        "the batch is InProgress: {:?}",
        letters(&db)
    );
    // kill -9: node A disappears with the lease held and its letters InProgress.
    a.stop().await;
    let hung = tokio::time::timeout(Duration::from_secs(60), slice).await;
    assert!(matches!(hung, Ok(Ok(Err(_)))), "the slice never answered: {hung:?}");
    fake.set_fault(DpFault::None);
    let b = spawn_with(&db, node("node-b")).await;
    b.set_today("2026-11-24");
    assert_eq!(
        b.start(START).await,
        "OrganDonorNotification kører allerede på en anden node.\n"
    );
    db.execute("UPDATE JobLock SET LockedUntil = '2000-01-01 00:00:00' WHERE JobName = 'OrganDonorNotification'");
    let line = b.start(START).await;
    assert_eq!(
        summary(&line),
        format!("1 dates completed, 4 letters sent, 0 rejected{ALL_DONE}")
    );
    let stored = letters(&db);
    for cpr in cprs {
        let got = fake.letters_to(cpr);
        assert_eq!(got.len(), 1, "exactly one distinct letter");
        let row = stored.iter().find(|l| l.cpr == cpr).unwrap();
        assert_eq!(got[0].message_id, row.message_id, "resent with the same MessageId");
        assert_eq!(row.status, "Completed");
    }
    assert_eq!(
        fake.stats().duplicates_dropped,
        2,
        "the adapter dropped the two resent letters"
    );
    b.stop().await;
    fake.stop().await;
}
both_backends!(a_slice_killed_mid_send_is_resumed_without_a_second_letter_to_anyone);

async fn one_operation_sends_send_limit_letters_with_max_per_route_in_flight(backend: Backend) {
    let Some(env) = env_at(backend, Some("2026-11-24"), "2026-11-24", "digitalpost.notification.odr.send.limit=5\ndigitalpost.default.max.connections.per.route=3\ndigitalpost.notification.odr.send.desired.execution.duration=PT0.001S").await else { return };
    let (db, fake, app) = (&env.db, &env.dp, &env.app);
    fake.set_latency(Duration::from_millis(50));
    // The first three letters are let through only when all three are at the adapter together.
    fake.gate().hold(3);
    // A budget of 1 ms: the slice stops after the first operation that outlasts it.
    db.execute(
        &(0..12)
            .map(|i| person(&format!("08120848{i:02}"), "2008-12-08", "01"))
            .collect::<String>(),
    );
    let answers = app.run_to_end(START).await;
    // A send operation takes at least the adapter's 50 ms, so each one ends its slice: the
    // answers show the letters of each operation (the quick extraction and completion
    // operations may share a slice with the next one).
    let sent_per_slice: Vec<i64> = answers
        .iter()
        .map(|a| {
            summary(a)
                .split(", ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .filter(|n| *n > 0)
        .collect();
    assert_eq!(sent_per_slice, [5, 5, 2], "{answers:?}");
    let completed: i64 = answers
        .iter()
        .map(|a| summary(a).split(' ').next().unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(completed, 1);
    assert!(summary(answers.last().unwrap()).ends_with(ALL_DONE), "{answers:?}");
    assert_eq!(fake.letters().len(), 12);
    assert_eq!(
        fake.gate().barriers_opened(),
        1,
        "in flight reaches the per-route limit"
    );
    assert!(
        fake.stats().max_in_flight <= 3,
        "in flight never passes the per-route limit: {:?}",
        fake.stats()
    );
    env.stop().await;
}
both_backends!(one_operation_sends_send_limit_letters_with_max_per_route_in_flight);

async fn no_start_date_or_a_future_one_sends_nothing_and_says_so(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    let fake = FakeDigitalPost::start().await.unwrap();
    let none = app_at(&db, &fake, None, "2026-11-24", "").await;
    db.execute(&person("0812084901", "2008-12-08", "01"));
    assert_eq!(
        none.start(START).await,
        "OrganDonorNotification: digitalpost.notification.odr.startdate is not set, so the job is disabled; no letters were sent.\n"
    );
    assert_eq!(
        none.get_text(ALARM).await,
        (200, String::new()),
        "no start date, no lag alarm"
    );
    none.stop().await;
    let future = app_at(&db, &fake, Some("2026-12-01"), "2026-11-24", "").await;
    assert_eq!(
        future.start(START).await,
        "OrganDonorNotification: digitalpost.notification.odr.startdate 2026-12-01 is in the future (today is 2026-11-24); no letters were sent.\n"
    );
    assert_eq!(future.get_text(ALARM).await, (200, String::new()));
    assert_eq!(fake.stats().requests, 0);
    assert!(dates(&db).is_empty() && letters(&db).is_empty());
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) AS n FROM JobRun WHERE JobName = 'OrganDonorNotification'"
        ),
        0,
        "no slice ran"
    );
    future.stop().await;
    fake.stop().await;
}
both_backends!(no_start_date_or_a_future_one_sends_nothing_and_says_so);

#[derive(QueryableByName)]
struct StatusCount {
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// The status page's JSON built from the table by SQL, for comparison.
fn status_from_sql(db: &TestDb, app: &TestApp) -> String {
    let counts: Vec<StatusCount> =
        sql_query("SELECT Status AS status, COUNT(*) AS n FROM NotificationPerson GROUP BY Status")
            .load(&mut db.conn())
            .unwrap();
    let newest = dates(db)
        .into_iter()
        .filter(|d| d.status == "Completed")
        .map(|d| d.date.to_string())
        .next_back()
        .unwrap_or_else(|| "Ingen".to_string());
    let mut json = format!(r#"{{"Database":"OK","Nyeste færdigbehandlede dato":"{newest}""#);
    for status in ["Pending", "InProgress", "Sent", "Completed", "Error"] {
        let n = counts.iter().find(|c| c.status == status).map_or(0, |c| c.n);
        json.push_str(&format!(r#","Antal i NotificationPerson med status {status}":"{n}""#));
    }
    json.push_str(&app.build_facts());
    json
}

async fn the_status_page_counts_match_the_table(backend: Backend) {
    let Some(env) = env_at(backend, Some("2026-11-22"), "2026-11-24", "").await else {
        return;
    };
    let (db, fake, app) = (&env.db, &env.dp, &env.app);
    let mut sql = String::new();
    for (cpr, birth) in [
        ("0612085001", "2008-12-06"),
        ("0612085002", "2008-12-06"),
        ("0712085003", "2008-12-07"),
        ("0712085004", "2008-12-07"),
        ("0812085005", "2008-12-08"),
    ] {
        sql.push_str(&person(cpr, birth, "01"));
    }
    db.execute(&sql);
    fake.reject_cpr("0712085004", "Ukendt modtager");
    assert_eq!(app.get_text(STATUS).await, (200, status_from_sql(db, app)));
    app.start(START).await;
    let (code, body) = app.get_text(STATUS).await;
    assert_eq!((code, body.clone()), (200, status_from_sql(db, app)));
    assert_eq!(
        body,
        format!(
            "{}{}",
            r#"{"Database":"OK","Nyeste færdigbehandlede dato":"2026-11-22","Antal i NotificationPerson med status Pending":"0","Antal i NotificationPerson med status InProgress":"0","Antal i NotificationPerson med status Sent":"1","Antal i NotificationPerson med status Completed":"2","Antal i NotificationPerson med status Error":"1""#,
            app.build_facts()
        )
    );
    db.execute(r#"UPDATE NotificationPerson SET Status = 'Pending', ErrorMessage = NULL WHERE Status = 'Error'"#);
    assert_eq!(app.get_text(STATUS).await, (200, status_from_sql(db, app)));
    fake.clear_rejections();
    app.start(START).await;
    let (_, body) = app.get_text(STATUS).await;
    assert_eq!(body, status_from_sql(db, app));
    assert!(
        body.contains(r#""Nyeste færdigbehandlede dato":"2026-11-24""#),
        "{body}"
    );
    assert!(
        body.contains(r#""Antal i NotificationPerson med status Completed":"5""#),
        "{body}"
    );
    env.stop().await;
}
both_backends!(the_status_page_counts_match_the_table);

async fn an_unknown_status_is_reported_and_holds_the_date_without_crashing_the_job(backend: Backend) {
    let Some(env) = env_at(backend, Some("2026-11-24"), "2026-11-24", "").await else {
        return;
    };
    let (db, fake, app) = (&env.db, &env.dp, &env.app);
    db.execute(&format!(
        "{}{}{}",
        date_row("2026-11-24", "InProgress"),
        letter_row(
            "2026-11-24",
            "0812085101",
            "Sent",
            "00000000-0000-0000-0000-000000000511"
        ),
        letter_row(
            "2026-11-24",
            "0812085102",
            "Sendt",
            "00000000-0000-0000-0000-000000000512"
        ),
    ));
    let line = app.start(START).await;
    assert!(line.starts_with("OrganDonorNotification: Finished after "), "{line}");
    assert_eq!(
        summary(&line),
        format!("0 dates completed, 0 letters sent, 0 rejected; date 2026-11-24 is held by its letters: 1 with status Sendt{WAITING}")
    );
    assert_eq!(
        app.alarm(ALARM).await,
        (
            500,
            vec!["Der ligger 1 notifikationer med ukendt status Sendt.".to_string()]
        )
    );
    // An unknown date status too.
    db.execute("UPDATE NotificationDate SET Status = 'Færdig'");
    let line = app.start(START).await;
    assert_eq!(
        summary(&line),
        format!(
            "0 dates completed, 0 letters sent, 0 rejected; date 2026-11-24 has the unknown status Færdig{WAITING}"
        )
    );
    assert_eq!(
        app.alarm(ALARM).await,
        (
            500,
            vec![
                "Der ligger 1 notifikationer med ukendt status Sendt.".to_string(),
                "Der ligger 1 notifikationsdatoer med ukendt status Færdig.".to_string()
            ]
        )
    );
    assert_eq!(
        fake.stats().requests,
        0,
        "nothing sent for rows the job does not understand"
    );
    // Repaired, the date completes.
    db.execute("UPDATE NotificationDate SET Status = 'InProgress'; UPDATE NotificationPerson SET Status = 'Sent' WHERE Status = 'Sendt';");
    let line = app.start(START).await;
    assert_eq!(
        summary(&line),
        format!("1 dates completed, 0 letters sent, 0 rejected{ALL_DONE}")
    );
    assert_eq!(app.get_text(ALARM).await, (200, String::new()));
    env.stop().await;
}
both_backends!(an_unknown_status_is_reported_and_holds_the_date_without_crashing_the_job);

async fn the_lag_alarm_names_the_first_unfinished_date_and_its_letters(backend: Backend) {
    let Some(env) = env_at(backend, Some("2026-11-10"), "2026-11-13", "").await else {
        return;
    };
    let (db, fake, app) = (&env.db, &env.dp, &env.app);
    let mut sql = String::new();
    sql.push_str(&date_row("2026-11-10", "Completed"));
    sql.push_str(&letter_row(
        "2026-11-10",
        "2611085201",
        "Completed",
        "00000000-0000-0000-0000-000000000521",
    ));
    sql.push_str(&date_row("2026-11-11", "InProgress"));
    for (i, status) in ["Pending", "Error", "Sent", "InProgress", "Pending"].iter().enumerate() {
        sql.push_str(&letter_row(
            "2026-11-11",
            &format!("27110852{:02}", i + 2),
            status,
            &format!("00000000-0000-0000-0000-0000000005{:02}", 30 + i),
        ));
    }
    db.execute(&sql);
    // N = 2026-11-10; the period is 3 days: on the 13th nothing lags yet.
    assert_eq!(
        app.alarm(ALARM).await,
        (
            500,
            vec!["Der ligger totalt 1 notifikationer med status Error.".to_string()]
        )
    );
    app.set_today("2026-11-14");
    let expected = [
        "Der er ikke færdigbehandlet en dato den: 2026-11-11. Den er ældre end 3 dage gammel.",
        "Der ligger 2 notifikationer fra den 2026-11-11 med status Pending.",
        "Der ligger 1 notifikationer fra den 2026-11-11 med status InProgress.",
        "Der ligger 1 notifikationer fra den 2026-11-11 med status Sent.",
        "Der ligger 1 notifikationer fra den 2026-11-11 med status Error.",
        "Der ligger totalt 1 notifikationer med status Error.",
    ];
    assert_eq!(app.alarm(ALARM).await, (500, expected.map(String::from).to_vec()));
    // The job sends what it can; the Error row holds the date.
    app.set_today("2026-11-24");
    let line = app.start(START).await;
    assert!(
        summary(&line).starts_with("0 dates completed, 3 letters sent, 0 rejected; date 2026-11-11 is held"),
        "{line}"
    );
    assert_eq!(
        app.alarm(ALARM).await,
        (
            500,
            vec![
                "Der er ikke færdigbehandlet en dato den: 2026-11-11. Den er ældre end 3 dage gammel.".to_string(),
                "Der ligger 4 notifikationer fra den 2026-11-11 med status Sent.".to_string(),
                "Der ligger 1 notifikationer fra den 2026-11-11 med status Error.".to_string(),
                "Der ligger totalt 1 notifikationer med status Error.".to_string(),
            ]
        )
    );
    // A longer period is read from the properties.
    let patient = spawn_app(
        db,
        &format!(
            "digitalpost.service.url={}\ndigitalpost.notification.odr.startdate=2026-11-10\ndigitalpost.notification.odr.alarm.date.period=P14D",
            fake.url()
        ),
    )
    .await;
    patient.set_today("2026-11-24");
    assert_eq!(
        patient.alarm(ALARM).await,
        (
            500,
            vec!["Der ligger totalt 1 notifikationer med status Error.".to_string()]
        )
    );
    patient.set_today("2026-11-25");
    assert_eq!(
        patient.alarm(ALARM).await.1[0],
        "Der er ikke færdigbehandlet en dato den: 2026-11-11. Den er ældre end 14 dage gammel."
    );
    patient.stop().await;
    // Repaired, every date up to today completes and the page is clean.
    db.execute(r#"UPDATE NotificationPerson SET Status = 'Pending', ErrorMessage = NULL WHERE Status = 'Error'"#);
    let answers = app.run_to_end(START).await;
    assert_eq!(
        summary(answers.last().unwrap()),
        format!("14 dates completed, 1 letters sent, 0 rejected{ALL_DONE}")
    );
    assert_eq!(app.get_text(ALARM).await, (200, String::new()));
    env.stop().await;
}
both_backends!(the_lag_alarm_names_the_first_unfinished_date_and_its_letters);

async fn a_letter_with_a_malformed_cpr_becomes_error_unsent_and_is_no_service_error(backend: Backend) {
    let Some(env) = env_at(backend, Some("2026-11-24"), "2026-11-24", "").await else {
        return;
    };
    let (db, fake, app) = (&env.db, &env.dp, &env.app);
    db.execute(&format!(
        "{}{}{}",
        date_row("2026-11-24", "InProgress"),
        letter_row(
            "2026-11-24",
            "08120853",
            "Pending",
            "00000000-0000-0000-0000-000000000531"
        ),
        letter_row(
            "2026-11-24",
            "0812085302",
            "Pending",
            "00000000-0000-0000-0000-000000000532"
        ),
    ));
    let line = app.start(START).await;
    assert_eq!(
        summary(&line),
        format!("0 dates completed, 1 letters sent, 1 rejected; date 2026-11-24 is held by its letters: 1 with status Error{WAITING}")
    );
    let bad = letter_of(db, "08120853");
    assert_eq!(bad.status, "Error");
    assert_eq!(
        bad.error.as_deref(),
        Some("Rækken har ikke et gyldigt CPR-nummer (10 cifre), så brevet blev ikke sendt")
    );
    assert_eq!(fake.stats().requests, 1, "only the good letter went out");
    assert_eq!(
        count(db, "SELECT COUNT(*) AS n FROM ErrorEvent"),
        0,
        "not a failure of the adapter"
    );
    assert_eq!(
        app.alarm(ALARM).await,
        (
            500,
            vec!["Der ligger totalt 1 notifikationer med status Error.".to_string()]
        )
    );
    env.stop().await;
}
both_backends!(a_letter_with_a_malformed_cpr_becomes_error_unsent_and_is_no_service_error);

async fn a_date_set_back_to_pending_is_extracted_again_without_a_second_letter(backend: Backend) {
    let Some(env) = env_at(backend, Some("2026-11-24"), "2026-11-24", "").await else {
        return;
    };
    let (db, fake, app) = (&env.db, &env.dp, &env.app);
    db.execute(&format!(
        "{}{}",
        person("0812085401", "2008-12-08", "01"),
        person("0812085402", "2008-12-08", "01")
    ));
    let line = app.start(START).await;
    assert_eq!(
        summary(&line),
        format!("1 dates completed, 2 letters sent, 0 rejected{ALL_DONE}")
    );
    // The stamdata import was late with one citizen; the operator re-opens the date.
    db.execute(&person("0812085403", "2008-12-08", "01"));
    db.execute("UPDATE NotificationDate SET Status = 'Pending' WHERE LatestDate = '2026-11-24'");
    let line = app.start(START).await;
    assert_eq!(
        summary(&line),
        format!("1 dates completed, 1 letters sent, 0 rejected{ALL_DONE}")
    );
    for cpr in ["0812085401", "0812085402", "0812085403"] {
        assert_eq!(fake.letters_to(cpr).len(), 1, "one letter each");
        assert_eq!(letter_of(db, cpr).status, "Completed");
    }
    assert_eq!(fake.stats().requests, 3);
    env.stop().await;
}
both_backends!(a_date_set_back_to_pending_is_extracted_again_without_a_second_letter);

/// While a batch is out at the adapter, the next one is already claimed (InProgress), so the
/// window never waits for the two commits; a slice that stops hands its claimed batch back.
async fn the_next_batch_is_claimed_while_the_current_one_is_out(backend: Backend) {
    let props = "digitalpost.notification.odr.send.limit=3\ndigitalpost.default.max.connections.per.route=3";
    let Some(env) = env_at(backend, Some("2026-11-24"), "2026-11-24", props).await else {
        return;
    };
    let (db, fake, app) = (&env.db, &env.dp, &env.app);
    let cprs: Vec<String> = (1..=9).map(|i| format!("08120848{i:02}")).collect();
    db.execute(&cprs.iter().map(|c| person(c, "2008-12-08", "01")).collect::<String>());
    fake.gate().hold_all();
    let (client, url) = (app.client.clone(), format!("{}{START}", app.address));
    let slice = tokio::spawn(async move { client.get(url).send().await.unwrap().text().await.unwrap() });
    fake.gate().wait_for_waiting(3).await;
    let in_progress = || {
        count(
            db,
            "SELECT COUNT(*) AS n FROM NotificationPerson WHERE Status = 'InProgress'",
        )
    };
    for _ in 0..400 {
        if in_progress() == 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(in_progress(), 6, "the next batch is claimed while the first is out");
    assert_eq!(fake.gate().waiting(), 3, "and the first batch is still at the adapter");
    fake.gate().release();
    let line = slice.await.unwrap();
    assert_eq!(
        summary(&line),
        format!("1 dates completed, 9 letters sent, 0 rejected{ALL_DONE}")
    );
    assert_eq!(fake.letters().len(), 9);
    env.stop().await;

    // A slice whose budget ends after a batch hands the batch it claimed meanwhile back.
    let props = format!("{props}\ndigitalpost.notification.odr.send.desired.execution.duration=PT0.001S");
    let Some(env) = env_at(backend, Some("2026-11-24"), "2026-11-24", &props).await else {
        return;
    };
    let (db, app) = (&env.db, &env.app);
    // A send takes at least the adapter's 5 ms, so a slice always ends after its first batch.
    env.dp.set_latency(Duration::from_millis(5));
    db.execute(&cprs.iter().map(|c| person(c, "2008-12-08", "01")).collect::<String>());
    // The extraction usually ends the first slice; on a fast machine it may also send a batch.
    let extracted = app.start(START).await;
    assert!(extracted.contains(": Paused after "), "{extracted}");
    let sent_first: usize = summary(&extracted)
        .split(", ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{extracted}"));
    let line = app.start(START).await;
    assert!(
        line.contains("; 0 dates completed, 3 letters sent, 0 rejected; next call resumes."),
        "{line}"
    );
    let statuses: Vec<String> = letters(db).into_iter().map(|l| l.status).collect();
    let sent = sent_first + 3;
    let expected: Vec<&str> = std::iter::repeat_n("Sent", sent)
        .chain(std::iter::repeat_n("Pending", 9 - sent))
        .collect();
    assert_eq!(statuses, expected, "nothing left InProgress between slices");
    env.stop().await;
}
both_backends!(the_next_batch_is_claimed_while_the_current_one_is_out);
