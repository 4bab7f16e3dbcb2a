//! Status pages on both backends, database failures, request ids, 404 and 405.

use crate::both_backends;
use crate::fixture::{spawn_app, spawn_with, test_db, ymd, Backend, Spawn, TestDbExt};

const SLETTEJOB_STATUS: &str = "/odr-operations/odr-slettejob/status";
const NOTIFICATION_STATUS: &str = "/odr-operations/odr-send-digitalpost-notifikation/status";
const SLETTEJOB_ALARM: &str = "/odr-operations/odr-slettejob/alarm";
const NOTIFICATION_ALARM: &str = "/odr-operations/odr-send-digitalpost-notifikation/alarm";

async fn slettejob_status_reports_database_ok_and_build_facts(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    let app = spawn_app(&db, "").await;
    let res = app.get(SLETTEJOB_STATUS).await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
    let body = res.text().await.unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines[0], "Database : OK");
    assert_eq!(lines[1], "");
    assert_eq!(lines[2], "Title: odr-operations");
    assert!(
        lines[3].starts_with("Deployed: 20") && lines[3].ends_with('Z'),
        "{body}"
    );
    assert!(lines[4].starts_with("Build-Date: "), "{body}");
    assert_eq!(lines[5], format!("Build-Version: {}", env!("CARGO_PKG_VERSION")));
    assert!(lines[6].starts_with("Builder: "), "{body}");
    assert!(lines[7].starts_with("Display time: "), "{body}");
    // RFC 3339 with milliseconds.
    let shown = lines[7].trim_start_matches("Display time: ");
    assert_eq!(shown.len(), "2026-11-23T08:13:23.345Z".len(), "{shown}");
    app.stop().await;
}
both_backends!(slettejob_status_reports_database_ok_and_build_facts);

async fn notification_status_counts_rows_per_status_in_fixed_order(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    let app = spawn_app(&db, "").await;
    let (code, body) = app.get_text(NOTIFICATION_STATUS).await;
    assert_eq!(code, 200);
    assert_eq!(
        body,
        format!(
            "{}{}",
            r#"{"Database":"OK","Nyeste færdigbehandlede dato":"Ingen","Antal i NotificationPerson med status Pending":"0","Antal i NotificationPerson med status InProgress":"0","Antal i NotificationPerson med status Sent":"0","Antal i NotificationPerson med status Completed":"0","Antal i NotificationPerson med status Error":"0""#,
            app.build_facts()
        )
    );
    db.execute(
        "INSERT INTO NotificationDate (Status, LatestDate, CreatedDateTime, ModifiedDateTime) VALUES \
         ('Completed', '2026-11-20', '2026-11-20 00:00:00', '2026-11-20 00:00:00'), \
         ('Completed', '2026-11-21', '2026-11-21 00:00:00', '2026-11-21 00:00:00'), \
         ('InProgress', '2026-11-22', '2026-11-22 00:00:00', '2026-11-22 00:00:00')",
    );
    let rows = [
        ("Completed", 1),
        ("Completed", 1),
        ("Sent", 3),
        ("Pending", 3),
        ("Pending", 3),
        ("Error", 3),
        ("InProgress", 3),
    ];
    for (i, (status, date)) in rows.iter().enumerate() {
        db.execute(&format!(
            "INSERT INTO NotificationPerson (NotificationDatePID, Cpr, NotificationType, Status, MessageId, TemplateDigital, \
             TemplatePhysical, CreatedDateTime, ModifiedDateTime) VALUES ({date}, '01010{i}1234', '18aar', '{status}', \
             '00000000-0000-0000-0000-00000000000{i}', 'd', 'p', '2026-11-20 00:00:00', '2026-11-20 00:00:00')"
        ));
    }
    let (code, body) = app.get_text(NOTIFICATION_STATUS).await;
    assert_eq!(code, 200);
    assert_eq!(
        body,
        format!(
            "{}{}",
            r#"{"Database":"OK","Nyeste færdigbehandlede dato":"2026-11-21","Antal i NotificationPerson med status Pending":"2","Antal i NotificationPerson med status InProgress":"1","Antal i NotificationPerson med status Sent":"1","Antal i NotificationPerson med status Completed":"2","Antal i NotificationPerson med status Error":"1""#,
            app.build_facts()
        )
    );
    app.stop().await;
}
both_backends!(notification_status_counts_rows_per_status_in_fixed_order);

/// From `LARGE_COUNT` Completed letters on, the status page serves the node's last count (a
/// background task recounts at most every 10 s) instead of scanning them on every call.
async fn a_large_completed_count_is_served_from_the_last_count(backend: Backend) {
    use odr_operations::simulator::population::insert_letter_history;
    use odr_operations::web::status::LARGE_COUNT;
    let Some(db) = test_db(backend) else { return };
    let per_date = usize::try_from(LARGE_COUNT).unwrap();
    let app = spawn_app(&db, "").await;
    insert_letter_history(&mut db.conn(), ymd("2026-11-20"), 2, per_date).unwrap();
    let completed = |body: &str| {
        let key = r#""Antal i NotificationPerson med status Completed":""#;
        let from = body.find(key).unwrap_or_else(|| panic!("{body}")) + key.len();
        body[from..].split('"').next().unwrap().to_string()
    };
    let (code, body) = app.get_text(NOTIFICATION_STATUS).await;
    assert_eq!(code, 200);
    assert_eq!(completed(&body), LARGE_COUNT.to_string());
    db.execute("UPDATE NotificationPerson SET Status = 'Completed' WHERE Status = 'Sent'");
    let (_, body) = app.get_text(NOTIFICATION_STATUS).await;
    assert_eq!(
        completed(&body),
        LARGE_COUNT.to_string(),
        "the last count, not a new scan"
    );
    app.stop().await;
}
both_backends!(a_large_completed_count_is_served_from_the_last_count);

async fn unreachable_database_gives_500_on_both_status_pages(backend: Backend) {
    // A closed port for MariaDB, a file in a directory that does not exist for SQLite.
    let url = match backend {
        Backend::Sqlite => "sqlite:///nonexistent-dir-odr-test/odr.db".to_string(),
        Backend::Mysql => "mysql://root@127.0.0.1:1/odr_unreachable".to_string(),
    };
    let Some(db) = test_db(backend) else { return };
    let app = spawn_with(
        &db,
        Spawn {
            properties: format!("datasource.odr.url={url}\ndatasource.odr.migrate=false"),
            ..Default::default()
        },
    )
    .await;
    let (code, body) = app.get_text(SLETTEJOB_STATUS).await;
    assert_eq!(code, 500);
    assert!(body.starts_with("Database : Unavailable\n"), "{body}");
    let (code, body) = app.get_text(NOTIFICATION_STATUS).await;
    assert_eq!(code, 500);
    assert_eq!(body, format!(r#"{{"Database":"Unavailable"{}"#, app.build_facts()));
    // Prometheus gives a scrape 10 s: /metrics must not wait for every gauge's database read.
    let asked = std::time::Instant::now();
    let (code, _) = app.get_text("/odr-operations/metrics").await;
    assert_eq!(code, 200);
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        asked.elapsed()
    );
    app.stop().await;
}
both_backends!(unreachable_database_gives_500_on_both_status_pages);

async fn a_separate_stamdata_datasource_is_checked_too(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    let app = spawn_app(&db, "datasource.stamdata.url=sqlite:///nonexistent/odr/stamdata.db").await;
    let (code, body) = app.get_text(SLETTEJOB_STATUS).await;
    assert_eq!(code, 500, "{body}");
    app.stop().await;
}
both_backends!(a_separate_stamdata_datasource_is_checked_too);

#[actix_web::test]
async fn request_id_is_echoed_or_generated() {
    let db = test_db(Backend::Sqlite).unwrap();
    let app = spawn_app(&db, "").await;
    let res = app
        .client
        .get(format!("{}{SLETTEJOB_STATUS}", app.address))
        .header("X-Request-ID", "cron-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "cron-42");
    let res = app.get(SLETTEJOB_STATUS).await;
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(generated.len(), 36, "a UUID is generated: {generated}");
    // An id that would corrupt logs is replaced.
    let res = app
        .client
        .get(format!("{}/nope", app.address))
        .header("X-Request-ID", "a b\tc")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
    assert_ne!(res.headers()["x-request-id"], "a b\tc");
    app.stop().await;
}

#[actix_web::test]
async fn unknown_paths_are_404_and_wrong_methods_405_with_a_sentence() {
    let db = test_db(Backend::Sqlite).unwrap();
    let app = spawn_app(&db, "").await;
    let (code, body) = app.get_text("/odr-operations/odr-slettejob/0101001234").await;
    assert_eq!(code, 404);
    assert_eq!(body, "No page at /odr-operations/odr-slettejob/**********: see README.md for the endpoints under /odr-operations/.\n");
    let res = app
        .client
        .post(format!("{}{SLETTEJOB_STATUS}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 405);
    assert_eq!(res.headers()["allow"], "GET, HEAD");
    assert_eq!(
        res.text().await.unwrap(),
        "Method POST is not allowed on /odr-operations/odr-slettejob/status: use GET.\n"
    );
    app.stop().await;
}

async fn metrics_are_valid_prometheus_text_with_the_service_figures(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    let fake = odr_operations::simulator::person_information::FakePersonInformation::start()
        .await
        .unwrap();
    fake.set_person("0101401111", "90", Some("2020-01-01".parse().unwrap()));
    let app = spawn_app(&db, &format!("personinformation.url={}", fake.base_url())).await;
    db.execute(
        "INSERT INTO OrganDonorRegistration (Cpr, PermissionType, ValidFrom, CreatedDateTime, ModifiedDateTime) \
         VALUES ('0101401111', 'FULL', '2020-01-01 00:00:00', '2020-01-01 00:00:00', '2020-01-01 00:00:00')",
    );
    let (code, _) = app.get_text("/odr-operations/odr-slettejob/deceased/start").await;
    assert_eq!(code, 200);
    let res = app.get("/odr-operations/metrics").await;
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let body = res.text().await.unwrap();
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text");
    let value = |name: &str, label: Option<(&str, &str)>| {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum::<f64>()
    };
    assert!(
        value("odr_slices_total", Some(("job", "OrganDonorDeceasedCleanup"))) >= 1.0,
        "{body}"
    );
    assert!(value("odr_cpr_checked_total", Some(("job", "OrganDonorDeceasedCleanup"))) >= 1.0);
    assert!(value("odr_citizens_removed_total", None) >= 1.0);
    assert_eq!(value("odr_letters", Some(("status", "Pending"))), 0.0);
    assert!(scrape
        .samples
        .iter()
        .any(|s| s.metric.starts_with("odr_http_request_duration_seconds")));
    assert!(scrape.docs.contains_key("odr_external_errors_total") || !body.contains("odr_external_errors_total{"));
    app.stop().await;
    fake.stop().await;
}
both_backends!(metrics_are_valid_prometheus_text_with_the_service_figures);

async fn every_status_and_alarm_page_answers_detailed_json(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    let fake = odr_operations::simulator::person_information::FakePersonInformation::start()
        .await
        .unwrap();
    fake.set_fault(odr_operations::simulator::person_information::PiFault::Status(409));
    let app = spawn_app(&db, &format!("personinformation.url={}", fake.base_url())).await;
    db.execute(
        "INSERT INTO OrganDonorRegistration (Cpr, PermissionType, ValidFrom, CreatedDateTime, ModifiedDateTime) \
         VALUES ('0101401111', 'FULL', '2020-01-01 00:00:00', '2020-01-01 00:00:00', '2020-01-01 00:00:00')",
    );
    for _ in 0..12 {
        app.get_text("/odr-operations/odr-slettejob/deceased/start").await;
    }
    let detailed = |path: &'static str| {
        let app = &app;
        async move {
            let res = app.get(&format!("{path}?detailed")).await;
            let code = res.status().as_u16();
            assert!(
                res.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("application/json"),
                "{path}"
            );
            let json: serde_json::Value = res.json().await.expect("JSON");
            (code, json)
        }
    };
    let names = |json: &serde_json::Value| -> Vec<(String, String)> {
        json["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["name"].as_str().unwrap().to_string(),
                    i["state"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };

    let (code, json) = detailed(SLETTEJOB_ALARM).await;
    assert_eq!(code, 500);
    assert_eq!(json["state"], "ALARM");
    assert_eq!(
        names(&json),
        [
            ("DBHealthIndicator", "OK"),
            ("StackedOperationsService (OrganDonorDeceasedCleanup)", "ALARM"),
            ("StackedOperationsService (OrganDonorEmigratedCleanup)", "OK"),
            ("StaleJobIndicator (OrganDonorDeceasedCleanup)", "OK"),
            ("StaleJobIndicator (OrganDonorEmigratedCleanup)", "OK"),
            ("PersonInformationHealthIndicator", "ALARM"),
            ("DeceasedWithoutStatusDate", "OK"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let pi = &json["indicators"][5];
    assert_eq!(pi["figures"]["errorsInWindow"], 12);
    assert_eq!(pi["figures"]["tolerance"], 0);
    assert_eq!(
        pi["lines"][0],
        "Person Information servicen har fejlet flere gange end tilladt i en given periode."
    );
    let runs = json["lastRuns"]["OrganDonorDeceasedCleanup"].as_array().unwrap();
    assert_eq!(runs.len(), 10, "the last 10 runs");
    assert_eq!(runs[0]["outcome"], "Failed");
    // The plain page says the same in text.
    let (code, text) = app.get_text(SLETTEJOB_ALARM).await;
    assert_eq!(code, 500);
    assert_eq!(text.lines().count(), 2);

    let (code, json) = detailed(NOTIFICATION_ALARM).await;
    assert_eq!(code, 500, "{json}");
    assert_eq!(
        names(&json).into_iter().map(|(n, _)| n).collect::<Vec<_>>(),
        [
            "DBHealthIndicator",
            "StackedOperationsService (OrganDonorNotification)",
            "StaleJobIndicator (OrganDonorNotification)",
            "NewestNotificationHealthIndicator",
            "StatusNotificationHealthIndicator",
            "ErrorNotificationHealthIndicator",
            "PersonInformationHealthIndicator",
            "DigitalPostHealthIndicator",
        ]
    );
    // The PersonInformation errors alarm the notification page too (the indicator is shared).
    assert_eq!(json["indicators"][6]["state"], "ALARM");
    assert_eq!(json["indicators"][1]["state"], "OK");
    assert_eq!(json["status"], 500);

    let (code, json) = detailed(SLETTEJOB_STATUS).await;
    assert_eq!(code, 200);
    assert_eq!(names(&json)[0], ("DBHealthIndicator".to_string(), "OK".to_string()));
    assert_eq!(
        json["indicators"][1]["figures"]["buildVersion"],
        env!("CARGO_PKG_VERSION")
    );
    assert!(json["lastRuns"]["OrganDonorEmigratedCleanup"]
        .as_array()
        .unwrap()
        .is_empty());

    let (code, json) = detailed(NOTIFICATION_STATUS).await;
    assert_eq!(code, 200);
    assert_eq!(json["indicators"][2]["figures"]["Pending"], 0);
    for (_, body) in [
        app.get_text(&format!("{SLETTEJOB_ALARM}?detailed")).await,
        app.get_text(&format!("{NOTIFICATION_STATUS}?detailed")).await,
    ] {
        assert!(!body.contains("0101401111"), "no CPR on a detailed page");
    }
    app.stop().await;
    fake.stop().await;
}
both_backends!(every_status_and_alarm_page_answers_detailed_json);
