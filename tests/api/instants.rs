//! Stored instants (SPEC §4): after a full run of each job, every instant column of every table
//! holds `YYYY-MM-DD HH:MM:SS.ffffff` on SQLite (one format per column, microseconds as the lease
//! SQL writes them) and is DATETIME(6) on MariaDB.

use diesel::prelude::*;
use diesel::sql_query;
use diesel::sql_types::{BigInt, Nullable, Text};
use odr_operations::simulator::person_information::PiFault;

use crate::both_backends;
use crate::fixture::sql::{person, registration};
use crate::fixture::{Backend, TestDbExt, TestEnv};

/// Every instant column of every table of SPEC §4.
const INSTANTS: &[(&str, &str)] = &[
    ("OrganDonorRegistration", "ValidFrom"),
    ("OrganDonorRegistration", "ValidTo"),
    ("OrganDonorRegistration", "CreatedDateTime"),
    ("OrganDonorRegistration", "ModifiedDateTime"),
    ("NotificationDate", "CreatedDateTime"),
    ("NotificationDate", "ModifiedDateTime"),
    ("NotificationPerson", "SentAtDateTime"),
    ("NotificationPerson", "CreatedDateTime"),
    ("NotificationPerson", "ModifiedDateTime"),
    ("JobLock", "LockedUntil"),
    ("JobLock", "HeartbeatAt"),
    ("JobState", "PassStartedAt"),
    ("JobRun", "StartedAt"),
    ("JobRun", "EndedAt"),
    ("ErrorEvent", "OccurredAt"),
];

#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = Nullable<Text>)]
    v: Option<String>,
}

#[derive(QueryableByName)]
struct Precision {
    #[diesel(sql_type = Nullable<BigInt>)]
    p: Option<i64>,
}

fn stored_format(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 26
        && v.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            10 => c == ' ',
            13 | 16 => c == ':',
            19 => c == '.',
            _ => c.is_ascii_digit(),
        })
}

async fn every_instant_the_jobs_write_has_microseconds_in_one_format(backend: Backend) {
    let Some(env) = TestEnv::start(
        backend,
        "digitalpost.notification.odr.startdate=2026-11-23\ndeletion.batchsize.deceased=1\n\
         deletion.desired.execution.duration.deceased=PT0.001S",
    )
    .await
    else {
        return;
    };
    let (db, app) = (&env.db, &env.app);
    app.set_today("2026-11-24");
    // Test rows are written in the stored format too, so every value checked is in it or is the service's.
    let at = "2020-01-01 10:00:00.000000";
    db.execute(&format!(
        "{}{}{}{}{}",
        registration("0101401111", at, None),
        registration("0202402222", at, None),
        registration("0303403333", at, None),
        person("0712084301", "2008-12-07", "01"),
        person("0812084302", "2008-12-08", "01"),
    ));
    env.pi
        .set_person("0101401111", "90", Some(crate::fixture::ymd("2024-01-01")));
    env.pi
        .set_person("0202402222", "80", Some(crate::fixture::ymd("2025-01-01")));
    env.pi.set_person("0303403333", "01", None);
    // One failed slice first, for an ErrorEvent and a Failed JobRun.
    env.pi.fail_next(1, PiFault::Status(500));
    assert!(app
        .start("/odr-operations/odr-slettejob/deceased/start")
        .await
        .contains("Failed"));
    app.run_to_end("/odr-operations/odr-slettejob/deceased/start").await;
    app.run_to_end("/odr-operations/odr-slettejob/emigrated/start").await;
    app.run_to_end("/odr-operations/odr-send-digitalpost-notifikation/start")
        .await;
    // A deceased pass under way (one batch of one, then the budget), for PassStartedAt. The
    // fake's latency makes the first batch outlast the 1 ms budget on any machine.
    env.pi.set_latency(std::time::Duration::from_millis(5));
    let paused = app.start("/odr-operations/odr-slettejob/deceased/start").await;
    assert!(paused.contains(": Paused after "), "{paused}");
    // A lease held at this moment, for LockedUntil.
    let pool = app.state.db().odr.clone();
    let _held = odr_operations::engine::Lease::acquire(
        &pool,
        "OrganDonorNotification",
        "test",
        std::time::Duration::from_secs(60),
    )
    .await
    .unwrap()
    .expect("free");
    let mut conn = db.conn();
    for (table, column) in INSTANTS {
        match backend {
            Backend::Sqlite => {
                let values: Vec<Value> =
                    sql_query(format!("SELECT {column} AS v FROM {table} WHERE {column} IS NOT NULL"))
                        .load(&mut conn)
                        .unwrap();
                assert!(!values.is_empty(), "{table}.{column} has values after the runs");
                for v in values.into_iter().filter_map(|v| v.v) {
                    assert!(stored_format(&v), "{table}.{column} = {v:?}");
                }
            }
            Backend::Mysql => {
                let p: Precision = sql_query(format!(
                    "SELECT DATETIME_PRECISION AS p FROM information_schema.COLUMNS \
                     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}' AND COLUMN_NAME = '{column}' \
                     AND DATA_TYPE = 'datetime'"
                ))
                .get_result(&mut conn)
                .unwrap_or_else(|e| panic!("{table}.{column}: {e}"));
                assert_eq!(p.p, Some(6), "{table}.{column} is DATETIME(6)");
            }
        }
    }
    env.stop().await;
}
both_backends!(every_instant_the_jobs_write_has_microseconds_in_one_format);

#[test]
fn the_format_check_refuses_what_diesel_would_write_without_truncation() {
    assert!(stored_format("2026-11-29 18:35:39.919199"));
    assert!(!stored_format("2026-11-29 18:35:39.919199747"));
    assert!(!stored_format("2026-11-29 18:35:39.120"));
    assert!(!stored_format("2026-11-29 18:35:39"));
}
