//! Migrations on both backends: exact table and column names, keys, the one-letter-per-citizen rule.

use diesel::connection::SimpleConnection;

use crate::both_backends;
use crate::fixture::{test_db, Backend, TestDbExt};

/// How many migrations the repo has (one folder each).
fn migrations() -> usize {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count()
}

/// Every table of SPEC §4 with every column, spelt exactly.
const SCHEMA: &[(&str, &str)] = &[
    ("OrganDonorRegistration", "OrganDonorRegistrationPID, Cpr, PermissionType, Heart, Lungs, Liver, Pancreas, Kidneys, Cornea, SmallIntestine, Skin, RequiresRelativeAcceptance, ValidFrom, ValidTo, CreatedDateTime, ModifiedDateTime"),
    ("NotificationDate", "NotificationDatePID, Status, LatestDate, CreatedDateTime, ModifiedDateTime"),
    ("NotificationPerson", "NotificationPersonPID, NotificationDatePID, Cpr, NotificationType, Status, MessageId, TemplateDigital, TemplatePhysical, SentAtDateTime, ErrorMessage, CreatedDateTime, ModifiedDateTime"),
    ("v2_person_simplified", "Cpr, BirthDate, Status, StatusDate"),
    ("JobLock", "JobName, Owner, Token, LockedUntil, HeartbeatAt"),
    ("JobState", "JobName, ResumeCursor, PassStartedAt"),
    ("JobRun", "JobRunPID, JobName, Node, StartedAt, EndedAt, Outcome, Processed, ErrorMessage, Figures"),
    ("ErrorEvent", "ErrorEventPID, Service, OccurredAt, Message"),
];

async fn migrate_creates_the_exact_schema(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    let applied = odr_operations::db::migrate::run(&db.url).expect("migrate");
    assert_eq!(applied.len(), migrations());
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

/// Three nodes of a cluster start at once against the same fresh database: every one of them
/// comes up, the schema is applied exactly once (MariaDB: the `MigrationLock` row, no GET_LOCK).
async fn three_nodes_migrating_at_once_all_succeed_and_apply_the_schema_once(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(3));
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let (url, barrier) = (db.url.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                odr_operations::db::migrate::run(&url)
            })
        })
        .collect();
    let applied: Vec<Vec<String>> = runs
        .into_iter()
        .map(|t| {
            t.join()
                .unwrap()
                .unwrap_or_else(|e| panic!("a node failed to migrate: {e}"))
        })
        .collect();
    let total: usize = applied.iter().map(Vec::len).sum();
    let nodes_that_migrated = applied.iter().filter(|a| !a.is_empty()).count();
    assert_eq!(
        (total, nodes_that_migrated),
        (migrations(), 1),
        "one node applied the migrations, the others found nothing pending: {applied:?}"
    );
    db.execute("SELECT Token FROM JobLock WHERE 1 = 0");
    if backend == Backend::Mysql {
        // The lock was released: another migrate takes it at once.
        assert!(odr_operations::db::migrate::run(&db.url).unwrap().is_empty());
        let mut conn = db.conn();
        let free: Vec<Count> = diesel::RunQueryDsl::load(
            diesel::sql_query("SELECT COUNT(*) AS n FROM MigrationLock WHERE Owner IS NULL AND LockedUntil IS NULL"),
            &mut conn,
        )
        .unwrap();
        assert_eq!(free[0].n, 1);
    }
}
both_backends!(three_nodes_migrating_at_once_all_succeed_and_apply_the_schema_once);

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}
