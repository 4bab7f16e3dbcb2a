//! The StackedOperations engine alone, with a throwaway job whose operations are controllable:
//! budget and resume, a cluster of two nodes, a killed slice, the database clock, failures.

use std::time::Duration;

use actix_web::web;
use diesel::prelude::*;
use diesel::sql_query;
use diesel::sql_types::{BigInt, Text};
use odr_operations::db::models::job_run::{self, NewJobRun};
use odr_operations::db::models::Outcome;
use odr_operations::db::{dialect, DbConn};
use odr_operations::engine::{commit_fenced, CursorChange, Job, JobError, Lease, Slice, Step};
use odr_operations::jobs::{JobDeps, JobFactory};
use odr_operations::web::jobs::start;

mod lease;

use crate::both_backends;
use crate::fixture::{count, spawn_with, test_db, Backend, Spawn, TestApp, TestDb, TestDbExt};

const JOB: &str = "TestCounterJob";
const START: &str = "/test/counter/start";

/// How the test job behaves, read from the test database at the first operation of a slice.
#[derive(Debug, Clone, Copy, QueryableByName)]
struct Script {
    /// Units to apply in one pass.
    #[diesel(sql_type = BigInt)]
    total: i64,
    /// Sleep inside each operation.
    #[diesel(sql_type = BigInt)]
    sleep_ms: i64,
    /// The operation on this unit fails (0: none).
    #[diesel(sql_type = BigInt)]
    fail_at: i64,
    /// The operation on this unit hangs for an hour (0: none).
    #[diesel(sql_type = BigInt)]
    hang_at: i64,
    /// The operation on this unit panics (0: none).
    #[diesel(sql_type = BigInt)]
    panic_at: i64,
}

/// Applies units 1..=total, one per operation; each unit is a row in `TestEffect` whose
/// primary key makes a repeated unit fail loudly.
struct CounterJob {
    budget: Duration,
    operation_timeout: Duration,
    script: Option<Script>,
    done: i64,
}

impl JobFactory for CounterJob {
    fn create(deps: &JobDeps) -> Result<CounterJob, String> {
        Ok(CounterJob {
            budget: deps.settings.deceased.desired_duration,
            // The test's stand-in for "one operation's own timeout".
            operation_timeout: deps.settings.person_information.connect_timeout,
            script: None,
            done: 0,
        })
    }
}

fn test_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(odr_operations::web::get_resource(START).route(web::get().to(start::<CounterJob>)));
}

fn gauge(conn: &mut DbConn, delta: i64) -> Result<(), JobError> {
    sql_query("UPDATE TestGauge SET Current = Current + ?")
        .bind::<BigInt, _>(delta)
        .execute(conn)?;
    sql_query("UPDATE TestGauge SET Peak = Current WHERE Current > Peak").execute(conn)?;
    Ok(())
}

impl Job for CounterJob {
    const NAME: &'static str = JOB;

    fn budget(&self) -> Duration {
        self.budget
    }

    async fn step(&mut self, slice: &mut Slice) -> Result<Step, JobError> {
        let script = match self.script {
            Some(s) => s,
            None => {
                let s = slice
                    .read(|conn| {
                        Ok(sql_query("SELECT Total AS total, SleepMs AS sleep_ms, FailAt AS fail_at, HangAt AS hang_at, PanicAt AS panic_at FROM TestScript")
                            .get_result::<Script>(conn)?)
                    })
                    .await?;
                self.script = Some(s);
                s
            }
        };
        let last: i64 = slice.cursor().and_then(|c| c.parse().ok()).unwrap_or(0);
        let unit = last + 1;
        if unit > script.total {
            slice.commit(CursorChange::PassComplete, |_| Ok(())).await?;
            return Ok(Step::Finished);
        }
        slice.read(|conn| gauge(conn, 1)).await?;
        if unit == script.panic_at {
            panic!("injected panic at unit {unit}");
        }
        if unit == script.hang_at {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        tokio::time::sleep(Duration::from_millis(script.sleep_ms as u64)).await;
        let result = if unit == script.fail_at {
            Err(JobError::Other(format!("injected failure at unit {unit}")))
        } else {
            slice
                .commit(CursorChange::Set(unit.to_string()), move |conn| {
                    sql_query("INSERT INTO TestEffect (Unit) VALUES (?)")
                        .bind::<BigInt, _>(unit)
                        .execute(conn)?;
                    Ok(())
                })
                .await
        };
        slice.read(|conn| gauge(conn, -1)).await?;
        result?;
        self.done += 1;
        Ok(Step::Continue)
    }

    fn processed(&self) -> i64 {
        self.done
    }

    fn figures(&self) -> String {
        format!("{} units", self.done)
    }

    fn operation_timeout(&self) -> Duration {
        self.operation_timeout
    }
}

/// Creates the test job's tables and script.
fn prepare(db: &TestDb, total: i64, sleep_ms: i64) {
    db.execute(
        "CREATE TABLE TestEffect (Unit BIGINT NOT NULL PRIMARY KEY); \
         CREATE TABLE TestGauge (Current BIGINT NOT NULL, Peak BIGINT NOT NULL); \
         INSERT INTO TestGauge VALUES (0, 0); \
         CREATE TABLE TestScript (Total BIGINT NOT NULL, SleepMs BIGINT NOT NULL, FailAt BIGINT NOT NULL, HangAt BIGINT NOT NULL, PanicAt BIGINT NOT NULL);",
    );
    db.execute(&format!("INSERT INTO TestScript VALUES ({total}, {sleep_ms}, 0, 0, 0)"));
}

#[derive(QueryableByName)]
struct Num {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Txt {
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    t: Option<String>,
}

fn units(db: &TestDb) -> Vec<i64> {
    sql_query("SELECT Unit AS n FROM TestEffect ORDER BY Unit")
        .load::<Num>(&mut db.conn())
        .unwrap()
        .into_iter()
        .map(|r| r.n)
        .collect()
}

fn cursor(db: &TestDb) -> Option<String> {
    sql_query(format!(
        "SELECT ResumeCursor AS t FROM JobState WHERE JobName = '{JOB}'"
    ))
    .get_result::<Txt>(&mut db.conn())
    .unwrap()
    .t
}

async fn node(db: &TestDb, name: &str, budget: &str) -> TestApp {
    node_with(db, name, budget, Spawn::default()).await
}

/// A node serving the test job, with more spawn options.
async fn node_with(db: &TestDb, name: &str, budget: &str, mut spawn: Spawn) -> TestApp {
    spawn.properties = format!(
        "deletion.desired.execution.duration.deceased={budget}\n{}",
        spawn.properties
    );
    spawn.node = Some(name.to_string());
    spawn.extra_routes = Some(test_routes);
    spawn_with(db, spawn).await
}

async fn start_call(app: &TestApp) -> String {
    let (code, body) = app.get_text(START).await;
    assert_eq!(code, 200, "start always answers 200: {body}");
    body
}

async fn the_budget_pauses_after_the_crossing_operation_and_the_next_call_resumes_there(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    let app = node(&db, "node-a", "PT0.1S").await;
    prepare(&db, 12, 40);
    let mut calls = 0;
    let mut total = 0;
    loop {
        calls += 1;
        assert!(calls < 50, "the job must finish");
        let line = start_call(&app).await;
        let done = units(&db);
        if line.starts_with("TestCounterJob: Finished after ") {
            assert!(line.ends_with("; pass complete.\n"), "{line}");
            break;
        }
        let (prefix, rest) = line.split_once(" s; ").expect("summary line");
        assert!(prefix.starts_with("TestCounterJob: Paused after "), "{line}");
        let n: usize = rest.split(' ').next().unwrap().parse().unwrap();
        assert!(rest.ends_with(" units; next call resumes.\n"), "{line}");
        // 40 ms operations against a 100 ms budget: the third one crosses it, so never more.
        assert!((1..=3).contains(&n), "{line}");
        total += n;
        assert_eq!(done.len(), total, "every reported unit is committed");
        assert_eq!(
            cursor(&db),
            Some(total.to_string()),
            "the resume point is the last committed unit"
        );
    }
    assert!(calls >= 4, "12 units of 40 ms need several 100 ms slices, took {calls}");
    assert_eq!(units(&db), (1..=12).collect::<Vec<_>>(), "each unit exactly once");
    assert_eq!(cursor(&db), None, "the finished pass resets the cursor");
    assert_eq!(count(&db, "SELECT Peak AS n FROM TestGauge"), 1);
    let finished = count(
        &db,
        &format!("SELECT COUNT(*) AS n FROM JobRun WHERE JobName = '{JOB}' AND Outcome = 'Finished'"),
    );
    let paused = count(
        &db,
        &format!("SELECT COUNT(*) AS n FROM JobRun WHERE JobName = '{JOB}' AND Outcome = 'Paused'"),
    );
    assert_eq!((finished, paused), (1, calls - 1));
    app.stop().await;

    // One unbounded slice on a fresh database has the same effect.
    let Some(db2) = test_db(backend) else { return };
    let app2 = node(&db2, "node-b", "PT1H").await;
    prepare(&db2, 12, 1);
    let line = start_call(&app2).await;
    assert!(line.starts_with("TestCounterJob: Finished after "), "{line}");
    assert_eq!(units(&db2), units(&db));
    app2.stop().await;
}
both_backends!(the_budget_pauses_after_the_crossing_operation_and_the_next_call_resumes_there);

async fn fifty_concurrent_calls_on_two_nodes_never_run_two_slices_at_once(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    let a = node(&db, "node-a", "PT0.3S").await;
    let b = node(&db, "node-b", "PT0.3S").await;
    prepare(&db, 40, 15);
    let calls = (0..50).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        start_call(app)
    });
    let answers = futures_util::future::join_all(calls).await;
    let skipped = answers
        .iter()
        .filter(|l| l.as_str() == "TestCounterJob kører allerede på en anden node.\n")
        .count();
    let ran = answers.iter().filter(|l| l.starts_with("TestCounterJob: ")).count();
    assert_eq!(skipped + ran, 50, "{answers:?}");
    assert!(ran >= 1 && skipped >= 1, "ran {ran}, skipped {skipped}");
    assert!(answers.iter().all(|l| !l.contains("Failed")), "{answers:?}");
    // Finish the pass with sequential calls alternating between the nodes.
    for i in 0..100 {
        let app = if i % 2 == 0 { &a } else { &b };
        if start_call(app).await.starts_with("TestCounterJob: Finished") {
            break;
        }
    }
    assert_eq!(units(&db), (1..=40).collect::<Vec<_>>(), "each unit exactly once");
    assert_eq!(
        count(&db, "SELECT Peak AS n FROM TestGauge"),
        1,
        "never two slices at once"
    );
    let recorded_skips = count(
        &db,
        &format!("SELECT COUNT(*) AS n FROM JobRun WHERE JobName = '{JOB}' AND Outcome = 'Skipped'"),
    );
    assert_eq!(recorded_skips, skipped as i64, "every skip is a Skipped run");
    a.stop().await;
    b.stop().await;
}
both_backends!(fifty_concurrent_calls_on_two_nodes_never_run_two_slices_at_once);

async fn a_killed_slice_blocks_until_its_lease_expires_then_the_job_resumes_without_loss(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    let a = node(&db, "node-a", "PT5S").await;
    let b = node(&db, "node-b", "PT5S").await;
    prepare(&db, 8, 1);
    db.execute("UPDATE TestScript SET HangAt = 4");
    // Node A hangs on unit 4 with units 1..3 committed; cron's curl gives up.
    let short = reqwest::Client::builder()
        .timeout(Duration::from_millis(1500))
        .build()
        .unwrap();
    assert!(
        short.get(format!("{}{START}", a.address)).send().await.is_err(),
        "the slice hangs"
    );
    assert_eq!(units(&db), vec![1, 2, 3]);
    // kill -9: the node disappears with the lease held.
    a.stop().await;
    db.execute("UPDATE TestScript SET HangAt = 0");
    assert_eq!(
        start_call(&b).await,
        "TestCounterJob kører allerede på en anden node.\n"
    );
    assert_eq!(units(&db), vec![1, 2, 3], "nothing ran while the lease was live");
    // The lease runs out (on the database clock).
    db.execute(&format!(
        "UPDATE JobLock SET LockedUntil = '2000-01-01 00:00:00' WHERE JobName = '{JOB}'"
    ));
    let line = start_call(&b).await;
    assert!(line.starts_with("TestCounterJob: Finished after "), "{line}");
    assert!(line.contains("; 5 units; "), "resumes at unit 4: {line}");
    assert_eq!(units(&db), (1..=8).collect::<Vec<_>>(), "no unit lost or repeated");
    b.stop().await;
}
both_backends!(a_killed_slice_blocks_until_its_lease_expires_then_the_job_resumes_without_loss);

async fn a_late_write_by_the_old_owner_is_refused_by_the_fencing_token(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    let b = node(&db, "node-b", "PT5S").await;
    prepare(&db, 3, 1);
    let pool = b.state.db().odr.clone();
    let old = Lease::acquire(&pool, JOB, "old-node", Duration::from_secs(60))
        .await
        .unwrap()
        .expect("free lease");
    assert_eq!(
        start_call(&b).await,
        "TestCounterJob kører allerede på en anden node.\n"
    );
    db.execute(&format!(
        "UPDATE JobLock SET LockedUntil = '2000-01-01 00:00:00' WHERE JobName = '{JOB}'"
    ));
    assert!(start_call(&b).await.starts_with("TestCounterJob: Finished"));
    let late = commit_fenced(&pool, &old, None, |conn| {
        sql_query("INSERT INTO TestEffect (Unit) VALUES (999)").execute(conn)?;
        Ok(())
    })
    .await;
    assert!(matches!(late, Err(JobError::LeaseLost)), "{late:?}");
    assert_eq!(units(&db), vec![1, 2, 3], "the late write left no trace");
    assert!(!old.heartbeat(&pool).await.unwrap(), "the old lease cannot be extended");
    assert!(!old.release(&pool).await.unwrap(), "nor released");
    b.stop().await;
}
both_backends!(a_late_write_by_the_old_owner_is_refused_by_the_fencing_token);

async fn the_lease_uses_the_database_clock_so_a_skewed_node_cannot_steal_it(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    prepare(&db, 3, 1);
    let ahead = spawn_with(
        &db,
        Spawn {
            properties: "deletion.desired.execution.duration.deceased=PT5S".into(),
            node: Some("ahead".into()),
            clock_offset: Some(chrono::Duration::minutes(30)),
            extra_routes: Some(test_routes),
            ..Spawn::default()
        },
    )
    .await;
    let pool = ahead.state.db().odr.clone();
    let holder = Lease::acquire(&pool, JOB, "holder", Duration::from_secs(120))
        .await
        .unwrap()
        .expect("free");
    assert_eq!(
        start_call(&ahead).await,
        "TestCounterJob kører allerede på en anden node.\n"
    );
    holder.release(&pool).await.unwrap();
    // Once free, the skewed node runs, and its lease is dated on the database clock.
    assert!(start_call(&ahead).await.starts_with("TestCounterJob: Finished"));
    let mut conn = db.conn();
    let db_now = dialect::db_now(&mut conn).unwrap();
    #[derive(QueryableByName)]
    struct Beat {
        #[diesel(sql_type = diesel::sql_types::Timestamp)]
        at: chrono::NaiveDateTime,
    }
    let beat = sql_query(format!("SELECT HeartbeatAt AS at FROM JobLock WHERE JobName = '{JOB}'"))
        .get_result::<Beat>(&mut conn)
        .unwrap();
    assert!(
        (db_now - beat.at).num_seconds().abs() < 60,
        "heartbeat {} vs database {}",
        beat.at,
        db_now
    );
    ahead.stop().await;
}
both_backends!(the_lease_uses_the_database_clock_so_a_skewed_node_cannot_steal_it);

async fn a_failing_operation_keeps_the_last_commit_and_records_failed(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    let app = node(&db, "node-a", "PT5S").await;
    prepare(&db, 6, 1);
    db.execute("UPDATE TestScript SET FailAt = 4");
    let line = start_call(&app).await;
    assert!(
        line.starts_with("TestCounterJob: Failed: injected failure at unit 4; after "),
        "{line}"
    );
    assert!(line.ends_with("; 3 units; next call resumes.\n"), "{line}");
    assert_eq!(units(&db), vec![1, 2, 3]);
    assert_eq!(cursor(&db).as_deref(), Some("3"));
    let pool = app.state.db().odr.clone();
    let alarm = pool
        .run(|c| odr_operations::web::alarm::last_run_alarm(c, JOB))
        .await
        .unwrap();
    assert_eq!(
        alarm.as_deref(),
        Some("Baggrundsjobbet StackedOperationsService fejlede sidst det blev kørt. Problemet var: injected failure at unit 4.")
    );
    // A skipped call does not hide the failure.
    let holder = Lease::acquire(&pool, JOB, "other", Duration::from_secs(60))
        .await
        .unwrap()
        .expect("free");
    start_call(&app).await;
    holder.release(&pool).await.unwrap();
    assert!(pool
        .run(|c| odr_operations::web::alarm::last_run_alarm(c, JOB))
        .await
        .unwrap()
        .is_some());
    // Repaired, the next call resumes at unit 4 and the alarm clears.
    db.execute("UPDATE TestScript SET FailAt = 0");
    let line = start_call(&app).await;
    assert!(line.starts_with("TestCounterJob: Finished"), "{line}");
    assert_eq!(units(&db), (1..=6).collect::<Vec<_>>());
    assert_eq!(
        pool.run(|c| odr_operations::web::alarm::last_run_alarm(c, JOB))
            .await
            .unwrap(),
        None
    );
    app.stop().await;
}
both_backends!(a_failing_operation_keeps_the_last_commit_and_records_failed);

async fn start_urls_need_the_bearer_token_when_one_is_set(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    let app = spawn_with(
        &db,
        Spawn {
            properties: "operations.start.token=t0ken\ndeletion.desired.execution.duration.deceased=PT5S".into(),
            extra_routes: Some(test_routes),
            ..Default::default()
        },
    )
    .await;
    prepare(&db, 2, 1);
    let url = format!("{}{START}", app.address);
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic dDBrZW4="),
        Some("Bearer t0ken2"),
    ] {
        let mut req = app.client.get(&url);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), 401, "{auth:?}");
        assert_eq!(res.headers()["www-authenticate"], "Bearer");
        let body = res.text().await.unwrap();
        assert_eq!(body, "TestCounterJob: not started: the start URL needs the header Authorization: Bearer <operations.start.token>.\n");
    }
    assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM JobRun"), 0, "nothing ran");
    let res = app
        .client
        .get(&url)
        .header("Authorization", "Bearer t0ken")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.text().await.unwrap().starts_with("TestCounterJob: Finished"));
    app.stop().await;
}
both_backends!(start_urls_need_the_bearer_token_when_one_is_set);

async fn job_run_history_keeps_the_newest_1000_per_job(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    odr_operations::db::migrate::run(&db.url).unwrap();
    let mut conn = db.conn();
    let t = chrono::Utc::now();
    let other = NewJobRun {
        job_name: "OtherJob",
        node: "n",
        started_at: t,
        ended_at: t,
        outcome: Outcome::Paused,
        processed: 0,
        error_message: None,
        figures: None,
    };
    job_run::insert(&mut conn, &other).unwrap();
    for i in 0..1005 {
        let run = NewJobRun {
            job_name: JOB,
            node: "n",
            started_at: t,
            ended_at: t,
            outcome: Outcome::Paused,
            processed: i,
            error_message: None,
            figures: None,
        };
        job_run::insert(&mut conn, &run).unwrap();
    }
    assert_eq!(
        count(
            &db,
            &format!("SELECT COUNT(*) AS n FROM JobRun WHERE JobName = '{JOB}'")
        ),
        1000
    );
    assert_eq!(
        count(
            &db,
            &format!("SELECT MIN(Processed) AS n FROM JobRun WHERE JobName = '{JOB}'")
        ),
        5
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) AS n FROM JobRun WHERE JobName = 'OtherJob'"),
        1,
        "other jobs untouched"
    );
    let latest = job_run::latest(&mut conn, JOB, 10).unwrap();
    assert_eq!(latest.len(), 10);
    assert_eq!(latest[0].processed, 1004);
}
both_backends!(job_run_history_keeps_the_newest_1000_per_job);

async fn a_panicking_operation_fails_the_slice_and_frees_the_lease(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    let app = node(&db, "node-a", "PT5S").await;
    prepare(&db, 4, 1);
    db.execute("UPDATE TestScript SET PanicAt = 2");
    let line = start_call(&app).await;
    assert!(
        line.starts_with("TestCounterJob: Failed: en operation i jobbet fejlede uventet (panic); after "),
        "{line}"
    );
    assert_eq!(units(&db), vec![1]);
    db.execute("UPDATE TestScript SET PanicAt = 0");
    let line = start_call(&app).await;
    assert!(
        line.starts_with("TestCounterJob: Finished"),
        "the lease was released, not left to expire: {line}"
    );
    assert_eq!(units(&db), vec![1, 2, 3, 4]);
    app.stop().await;
}
both_backends!(a_panicking_operation_fails_the_slice_and_frees_the_lease);

async fn a_deleted_lock_row_is_recreated_with_tokens_above_every_old_one(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    let app = node(&db, "node-a", "PT5S").await;
    prepare(&db, 2, 1);
    let pool = app.state.db().odr.clone();
    let old = Lease::acquire(&pool, JOB, "old-node", Duration::from_secs(60))
        .await
        .unwrap()
        .expect("free");
    // An operator deletes the row (the runbook says not to).
    db.execute(&format!("DELETE FROM JobLock WHERE JobName = '{JOB}'"));
    assert!(start_call(&app).await.starts_with("TestCounterJob: Finished"));
    let token = count(&db, &format!("SELECT Token AS n FROM JobLock WHERE JobName = '{JOB}'"));
    assert!(
        token > 1_000_000_000_000_000,
        "tokens restart far above the old ones: {token}"
    );
    let late = commit_fenced(&pool, &old, None, |_| Ok(())).await;
    assert!(matches!(late, Err(JobError::LeaseLost)), "the old token stays refused");
    app.stop().await;
}
both_backends!(a_deleted_lock_row_is_recreated_with_tokens_above_every_old_one);
