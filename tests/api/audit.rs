//! The audit log of the real binary with the repo's log4rs.yaml: one JSON object per line with
//! the guide's five fields, the time and the request id; `cpr-inactive` for every non-active
//! status; CPR numbers there and nowhere in the application log.

use std::process::Command;

use odr_operations::simulator::person_information::FakePersonInformation;

use crate::fixture::binary::serve;
use crate::fixture::sql::registration;
use crate::fixture::{test_db, ymd, Backend, TestDbExt};

const CPRS: [(&str, &str, Option<&str>); 5] = [
    ("0101401111", "90", Some("2024-01-01")),
    ("0202402222", "80", Some("2025-01-01")),
    ("0303403333", "20", None),
    ("0404404444", "01", None),
    ("0505405555", "", None), // absent from the answer: does not exist
];

async fn the_audit_log_has_one_json_object_per_line_with_the_guides_fields(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    odr_operations::db::migrate::run(&db.url).unwrap();
    let mut sql = String::new();
    for (cpr, _, _) in CPRS {
        sql.push_str(&registration(cpr, "2020-01-01 10:00:00", None));
    }
    db.execute(&sql);
    let pi = FakePersonInformation::start().await.unwrap();
    for (cpr, status, date) in CPRS {
        if !status.is_empty() {
            pi.set_person(cpr, status, date.map(ymd));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/log4rs.yaml"),
        dir.path().join("log4rs.yaml"),
    )
    .unwrap();
    let config = dir.path().join("operations.properties");
    std::fs::write(
        &config,
        format!(
            "server.bind=127.0.0.1:0\ndatasource.odr.url={}\npersoninformation.url={}\n",
            db.url_text(),
            pi.base_url()
        ),
    )
    .unwrap();
    let (mut child, port) = serve(dir.path(), &config);
    let client = reqwest::Client::new();
    let answer = client
        .get(format!(
            "http://127.0.0.1:{port}/odr-operations/odr-slettejob/deceased/start"
        ))
        .header("X-Request-ID", "cron-audit-1")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(answer.contains("5 CPR checked, 1 deleted"), "{answer}");
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    assert!(child.wait().unwrap().success(), "SIGTERM: exit 0");
    pi.stop().await;

    let audit = std::fs::read_to_string(dir.path().join("logs/audit.log")).unwrap();
    let mut seen: Vec<(String, String, String)> = Vec::new();
    for text in audit.lines() {
        let v: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "time",
                "requestId",
                "komponent",
                "kontekst",
                "type",
                "noegle",
                "information"
            ],
            "{text}"
        );
        assert_eq!(v["komponent"], "ODR");
        assert_eq!(v["type"], "Følsomme", "every cleanup line names a citizen: {text}");
        assert_eq!(v["requestId"], "cron-audit-1");
        let info = v["information"].as_str().unwrap();
        let cpr = info.strip_prefix("cpr=").unwrap()[..10].to_string();
        seen.push((
            v["noegle"].as_str().unwrap().into(),
            v["kontekst"].as_str().unwrap().into(),
            cpr,
        ));
    }
    seen.sort();
    let expected = [
        ("cpr-does-not-exist", "validateCpr", "0505405555"),
        ("cpr-inactive", "validateCpr", "0101401111"),
        ("cpr-inactive", "validateCpr", "0202402222"),
        ("cpr-inactive", "validateCpr", "0303403333"),
        ("deceased-data-removed", "deceasedCleanup", "0101401111"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(
        seen, expected,
        "80 and 90 are cpr-inactive too; the alive citizen has no line"
    );
    let application = std::fs::read_to_string(dir.path().join("logs/odr-operations.log")).unwrap();
    assert!(
        application.contains("[cron-audit-1]"),
        "the request id in the application log"
    );
    for (cpr, _, _) in CPRS {
        assert!(!application.contains(cpr), "a CPR number in the application log");
    }
}
crate::both_backends!(the_audit_log_has_one_json_object_per_line_with_the_guides_fields);
