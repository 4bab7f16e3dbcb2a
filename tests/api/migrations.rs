//! Migrations on both backends: exact table and column names, keys, the one-letter-per-citizen rule.

use diesel::connection::SimpleConnection;

use crate::both_backends;
use crate::helpers::{test_db, Backend, TestDbExt};

/// Every table of SPEC §4 with every column, spelt exactly.
const SCHEMA: &[(&str, &str)] = &[
    ("OrganDonorRegistration", "OrganDonorRegistrationPID, Cpr, PermissionType, Heart, Lungs, Liver, Pancreas, Kidneys, Cornea, SmallIntestine, Skin, RequiresRelativeAcceptance, ValidFrom, ValidTo, CreatedDateTime, ModifiedDateTime"),
    ("NotificationDate", "NotificationDatePID, Status, LatestDate, CreatedDateTime, ModifiedDateTime"),
    ("NotificationPerson", "NotificationPersonPID, NotificationDatePID, Cpr, NotificationType, Status, MessageId, TemplateDigital, TemplatePhysical, SentAtDateTime, ErrorMessage, CreatedDateTime, ModifiedDateTime"),
    ("v2_person_simplified", "Cpr, BirthDate, Status, StatusDate"),
    ("JobLock", "JobName, Owner, Token, LockedUntil, HeartbeatAt"),
    ("JobState", "JobName, ResumeCursor, PassStartedAt"),
    ("JobRun", "JobRunPID, JobName, Node, StartedAt, EndedAt, Outcome, Processed, ErrorMessage"),
    ("ErrorEvent", "ErrorEventPID, Service, OccurredAt, Message"),
];

async fn migrate_creates_the_exact_schema(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    let applied = odr_operations::db::migrate::run(&db.url).expect("migrate");
    assert_eq!(applied.len(), 1);
    assert!(
        odr_operations::db::migrate::run(&db.url)
            .expect("second run")
            .is_empty(),
        "migrate is idempotent"
    );
    let mut conn = db.conn();
    for (table, columns) in SCHEMA {
        conn.batch_execute(&format!("SELECT {columns} FROM {table} WHERE 1 = 0"))
            .unwrap_or_else(|e| panic!("{table}({columns}): {e}"));
    }
    // The three jobs are seeded.
    db.execute(
        "UPDATE JobLock SET Token = Token WHERE JobName IN ('OrganDonorDeceasedCleanup', 'OrganDonorEmigratedCleanup', 'OrganDonorNotification')",
    );
}
both_backends!(migrate_creates_the_exact_schema);

async fn a_second_18_year_letter_to_the_same_citizen_is_refused(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    odr_operations::db::migrate::run(&db.url).expect("migrate");
    db.execute(
        "INSERT INTO NotificationDate (Status, LatestDate, CreatedDateTime, ModifiedDateTime) \
         VALUES ('Pending', '2026-01-31', '2026-01-31 00:00:00', '2026-01-31 00:00:00')",
    );
    let insert = |message_id: &str| {
        format!(
            "INSERT INTO NotificationPerson (NotificationDatePID, Cpr, NotificationType, Status, MessageId, TemplateDigital, \
             TemplatePhysical, CreatedDateTime, ModifiedDateTime) VALUES (1, '0101081234', '18aar', 'Pending', '{message_id}', \
             'd', 'p', '2026-01-31 00:00:00', '2026-01-31 00:00:00')"
        )
    };
    db.execute(&insert("00000000-0000-0000-0000-000000000001"));
    let mut conn = db.conn();
    let err = conn
        .batch_execute(&insert("00000000-0000-0000-0000-000000000002"))
        .expect_err("unique (Cpr, NotificationType)");
    assert!(
        err.to_string().to_lowercase().contains("unique") || err.to_string().contains("Duplicate"),
        "{err}"
    );
    // MessageId is unique too.
    let dup = insert("00000000-0000-0000-0000-000000000001").replace("0101081234", "0202081234");
    assert!(conn.batch_execute(&dup).is_err(), "unique MessageId");
    // LatestDate is unique.
    assert!(conn
        .batch_execute(
            "INSERT INTO NotificationDate (Status, LatestDate, CreatedDateTime, ModifiedDateTime) \
             VALUES ('Pending', '2026-01-31', '2026-01-31 00:00:00', '2026-01-31 00:00:00')"
        )
        .is_err());
}
both_backends!(a_second_18_year_letter_to_the_same_citizen_is_refused);

#[test]
fn the_migrate_command_applies_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("operations.properties");
    let db = dir.path().join("odr.db");
    std::fs::write(
        &file,
        format!(
            "datasource.odr.url=sqlite://{}\nlogging.config=none.yaml\n",
            db.display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_odr-operations"))
        .args(["--config", file.to_str().unwrap(), "migrate"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(db.exists());
}
