//! Lease hygiene (SPEC §5): a released token is dead, the heartbeat has a ceiling, a lost lease
//! stops the slice before its next external call, a recreated lock row takes the database clock.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_query;
use diesel::sql_types::Timestamp;
use odr_operations::db::dialect;
use odr_operations::engine::Lease;

use super::{node, node_with, prepare, start_call, units, JOB};
use crate::both_backends;
use crate::fixture::{capture_logs, count, logged_under, Backend, Spawn, TestDbExt, TestEnv};

#[derive(QueryableByName)]
struct Instants {
    #[diesel(sql_type = diesel::sql_types::Nullable<Timestamp>)]
    locked_until: Option<chrono::NaiveDateTime>,
    #[diesel(sql_type = Timestamp)]
    now: chrono::NaiveDateTime,
}

/// `JobLock.LockedUntil` of `job` and the database clock.
fn lock_and_now(db: &crate::fixture::TestDb, job: &str) -> (Option<chrono::NaiveDateTime>, chrono::NaiveDateTime) {
    let now = match db.backend() {
        Backend::Sqlite => "strftime('%Y-%m-%d %H:%M:%f', 'now')",
        Backend::Mysql => "NOW(6)",
    };
    let row: Instants = sql_query(format!(
        "SELECT LockedUntil AS locked_until, {now} AS now FROM JobLock WHERE JobName = '{job}'"
    ))
    .get_result(&mut db.conn())
    .unwrap();
    (row.locked_until, row.now)
}

/// A node "node-a" of the test job (one unit to apply) that holds its lease.
async fn node_a_holding_the_lease(
    db: &crate::fixture::TestDb,
) -> (crate::fixture::TestApp, odr_operations::db::Db, Lease) {
    let app = node(db, "node-a", "PT5S").await;
    prepare(db, 1, 1);
    let pool = app.state.db().odr.clone();
    let lease = Lease::acquire(&pool, JOB, "node-a", Duration::from_secs(60))
        .await
        .unwrap()
        .expect("free");
    (app, pool, lease)
}

async fn a_heartbeat_that_lands_after_the_release_matches_nothing(backend: Backend) {
    let Some(db) = crate::fixture::test_db(backend) else {
        return;
    };
    let (app, pool, lease) = node_a_holding_the_lease(&db).await;
    assert!(lease.release(&pool).await.unwrap());
    // The heartbeat task was already in spawn_blocking when the slice ended: it lands now.
    assert!(
        !lease.heartbeat(&pool).await.unwrap(),
        "a released token extends nothing"
    );
    assert_eq!(lock_and_now(&db, JOB).0, None, "the lease stays free");
    assert_eq!(
        count(
            &db,
            &format!("SELECT COUNT(*) AS n FROM JobLock WHERE JobName = '{JOB}' AND Owner IS NULL")
        ),
        1
    );
    let line = start_call(&app).await;
    assert!(
        line.starts_with("TestCounterJob: Finished"),
        "every node can take it at once: {line}"
    );
    app.stop().await;
}
both_backends!(a_heartbeat_that_lands_after_the_release_matches_nothing);

async fn a_wedged_operation_holds_the_lease_no_longer_than_budget_margin_and_its_timeout(backend: Backend) {
    let Some(db) = crate::fixture::test_db(backend) else {
        return;
    };
    // Budget 1 s + margin 1 s; one operation may take 2 s on its own: the ceiling is 4 s.
    let spawn = || Spawn {
        properties: "personinformation.defaultConnectionTimeoutMs=2000".to_string(),
        lease_margin: Some(Duration::from_secs(1)),
        ..Spawn::default()
    };
    let a = node_with(&db, "node-a", "PT1S", spawn()).await;
    prepare(&db, 3, 1);
    db.execute("UPDATE TestScript SET HangAt = 1");
    let (client, url) = (a.client.clone(), format!("{}{}", a.address, super::START));
    let wedged = tokio::spawn(async move { client.get(url).send().await });
    // The slice holds the lease; its first operation hangs.
    let mut acquired = None;
    for _ in 0..200 {
        if count(
            &db,
            &format!("SELECT COUNT(*) AS n FROM JobLock WHERE JobName = '{JOB}' AND Owner = 'node-a'"),
        ) == 1
        {
            acquired = Some(lock_and_now(&db, JOB).1);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let acquired = acquired.expect("node-a takes the lease");
    db.execute("UPDATE TestScript SET HangAt = 0");
    // Watch the lease until it expires: it never reaches past the ceiling.
    let ceiling = acquired + chrono::Duration::milliseconds(1000 + 1000 + 2000 + 500);
    let mut expired = false;
    for _ in 0..400 {
        let (until, now) = lock_and_now(&db, JOB);
        let until = until.expect("held");
        assert!(
            until <= ceiling,
            "the heartbeat extended the lease to {until}, past {ceiling}"
        );
        if until <= now {
            expired = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(expired, "the wedged slice's lease expires");
    // Another node now runs the job although node-a's operation still hangs.
    let b = node_with(&db, "node-b", "PT1S", spawn()).await;
    let line = start_call(&b).await;
    assert!(line.starts_with("TestCounterJob: Finished"), "{line}");
    assert_eq!(units(&db), vec![1, 2, 3]);
    assert!(!wedged.is_finished(), "node-a's operation is still wedged");
    wedged.abort();
    a.stop().await;
    b.stop().await;
}
both_backends!(a_wedged_operation_holds_the_lease_no_longer_than_budget_margin_and_its_timeout);

async fn a_slice_whose_lease_is_taken_stops_before_its_next_call_to_personinformation(backend: Backend) {
    capture_logs();
    let spawn = Spawn {
        properties: "deletion.batchsize.deceased=10\npersoninformation.batchsize.deceased=1\n\
                     personinformation.defaultMaxConnectionsPerRoute=2"
            .to_string(),
        // A short lease, so its heartbeat comes every 500 ms.
        lease_margin: Some(Duration::from_secs(1)),
        node: Some("node-lost".to_string()),
        ..Spawn::default()
    };
    let Some(env) = TestEnv::start_with(backend, spawn).await else {
        return;
    };
    let (db, pi, app) = (&env.db, &env.pi, &env.app);
    let mut sql = String::new();
    for i in 0..10 {
        sql.push_str(&crate::fixture::sql::registration(
            &format!("0101{:02}4000", 40 + i),
            "2020-01-01 10:00:00",
            None,
        ));
    }
    db.execute(&sql);
    pi.gate().hold_all();
    let (client, url) = (
        app.client.clone(),
        format!("{}/odr-operations/odr-slettejob/deceased/start", app.address),
    );
    let request_id = format!("lease-lost-{}", backend.name());
    let rid = request_id.clone();
    let slice = tokio::spawn(async move {
        let sent = client.get(url).header("X-Request-ID", rid).send().await.unwrap();
        sent.text().await.unwrap()
    });
    pi.gate().wait_for_waiting(2).await;
    // Another node takes the lease (as a new acquisition would: the token moves on).
    db.execute(
        "UPDATE JobLock SET Token = Token + 1, Owner = 'node-thief' WHERE JobName = 'OrganDonorDeceasedCleanup'",
    );
    // The heartbeat finds out: wait for its log line, then let the two requests answer.
    let mut noticed = false;
    for _ in 0..400 {
        noticed = logged_under(&request_id)
            .iter()
            .any(|m| m.contains("OrganDonorDeceasedCleanup: lease taken over by another node; this slice stops"));
        if noticed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(noticed, "the heartbeat found the lease lost");
    pi.gate().release();
    let line = slice.await.unwrap();
    assert!(
        line.contains("Failed: jobbets lås er overtaget af en anden node, så intet blev skrevet"),
        "{line}"
    );
    assert_eq!(pi.traffic().requests, 2, "no request after the lease was found lost");
    assert_eq!(
        count(db, "SELECT COUNT(*) AS n FROM OrganDonorRegistration"),
        10,
        "nothing written"
    );
    env.stop().await;
}
both_backends!(a_slice_whose_lease_is_taken_stops_before_its_next_call_to_personinformation);

async fn a_recreated_lock_row_takes_its_first_token_from_the_database_clock(backend: Backend) {
    let Some(db) = crate::fixture::test_db(backend) else {
        return;
    };
    // The node's clock is ten years ahead; the token must not follow it.
    let app = node_with(
        &db,
        "node-skewed",
        "PT5S",
        Spawn {
            clock_offset: Some(chrono::Duration::days(3650)),
            ..Spawn::default()
        },
    )
    .await;
    prepare(&db, 1, 1);
    db.execute(&format!("DELETE FROM JobLock WHERE JobName = '{JOB}'"));
    assert!(start_call(&app).await.starts_with("TestCounterJob: Finished"));
    let token = count(&db, &format!("SELECT Token AS n FROM JobLock WHERE JobName = '{JOB}'"));
    let db_micros = lock_and_now(&db, JOB).1.and_utc().timestamp_micros();
    // Acquire and release each add one to the first token.
    let day = 86_400_000_000;
    assert!(
        (db_micros - day..=db_micros + 2).contains(&token),
        "token {token} is the database clock in microseconds ({db_micros}), not the node's"
    );
    // Only the duplicate is ignored: an insert that breaks a rule is an error (MariaDB strict
    // mode refuses a name longer than the column; SQLite does not check lengths).
    let long = "X".repeat(300);
    let result = dialect::ensure_job_rows(&mut db.conn(), &long);
    assert_eq!(result.is_err(), backend == Backend::Mysql, "{result:?}");
    // And a second call for an existing job is fine.
    dialect::ensure_job_rows(&mut db.conn(), JOB).unwrap();
    app.stop().await;
}
both_backends!(a_recreated_lock_row_takes_its_first_token_from_the_database_clock);

/// Counts every write to the lease rows (`JobLock`, `JobState`) in `zz_writes`.
fn watch_lease_writes(db: &crate::fixture::TestDb) {
    db.execute("CREATE TABLE zz_writes (what VARCHAR(40) NOT NULL)");
    for (table, event) in [
        ("JobLock", "INSERT"),
        ("JobLock", "UPDATE"),
        ("JobState", "INSERT"),
        ("JobState", "UPDATE"),
    ] {
        let name = format!("zz_{}_{}", table, event).to_lowercase();
        let body = format!("INSERT INTO zz_writes (what) VALUES ('{table} {event}')");
        db.execute(&match db.backend() {
            Backend::Sqlite => format!("CREATE TRIGGER {name} BEFORE {event} ON {table} BEGIN {body}; END"),
            Backend::Mysql => format!("CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW {body}"),
        });
    }
}

async fn a_call_that_finds_the_lease_held_writes_nothing(backend: Backend) {
    let Some(db) = crate::fixture::test_db(backend) else {
        return;
    };
    let (app, pool, lease) = node_a_holding_the_lease(&db).await;
    watch_lease_writes(&db);
    // Under a cron storm most calls are these: on Galera a write (even one that changes nothing)
    // takes row locks a slice's commit and the appliers of other nodes' writes must wait for.
    let other = Lease::acquire(&pool, JOB, "node-b", Duration::from_secs(60))
        .await
        .unwrap();
    assert!(other.is_none(), "node-a holds it");
    assert_eq!(
        count(&db, "SELECT COUNT(*) AS n FROM zz_writes"),
        0,
        "a Skipped call writes no lease row"
    );
    // The watch sees writes: the release and the next acquisition are two.
    assert!(lease.release(&pool).await.unwrap());
    let taken = Lease::acquire(&pool, JOB, "node-b", Duration::from_secs(60))
        .await
        .unwrap();
    assert!(taken.is_some(), "free after the release");
    assert_eq!(
        count(&db, "SELECT COUNT(*) AS n FROM zz_writes WHERE what = 'JobLock UPDATE'"),
        2
    );
    app.stop().await;
}
both_backends!(a_call_that_finds_the_lease_held_writes_nothing);
