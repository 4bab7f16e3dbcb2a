//! kill -9 during pipelined cleanup passes (issue 16): the real binary killed at seeded random
//! moments, 22 times; after each kill the resume point never lies past a CPR PersonInformation
//! has not answered, and at the end every dead citizen is removed and nobody else.

use std::time::Duration;

use odr_operations::simulator::person_information::FakePersonInformation;
use odr_operations::simulator::population::Rng;

use crate::both_backends;
use crate::fixture::binary::serve;
use crate::fixture::sql::registration;
use crate::fixture::{count, spawn_app, test_db, texts, ymd, Backend, TestDbExt};

const DECEASED: &str = "/odr-operations/odr-slettejob/deceased/start";
const SEED: u64 = 20261129;
const KILLS: usize = 22;

async fn kill_9_during_pipelined_passes_loses_nothing_and_removes_only_the_dead(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    odr_operations::db::migrate::run(&db.url).unwrap();
    let pi = FakePersonInformation::start().await.unwrap();
    pi.set_latency(Duration::from_millis(4));
    let mut rng = Rng::new(SEED);
    let cprs: Vec<String> = (0..400)
        .map(|i| format!("{:02}0140{:04}", i % 28 + 1, 1000 + i))
        .collect();
    let mut dead = Vec::new();
    let mut sql = String::new();
    for cpr in &cprs {
        sql.push_str(&registration(cpr, "2020-01-01 10:00:00.000000", None));
        if rng.below(4) == 0 {
            pi.set_person(cpr, "90", Some(ymd("2020-01-01")));
            dead.push(cpr.clone());
        } else {
            pi.set_person(cpr, "01", None);
        }
    }
    db.execute(&sql);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("operations.properties");
    std::fs::write(
        &config,
        format!(
            "server.bind=127.0.0.1:0\ndatasource.odr.url={}\npersoninformation.url={}\n\
             deletion.batchsize.deceased=20\npersoninformation.batchsize.deceased=5\n\
             personinformation.defaultMaxConnectionsPerRoute=4\ndeletion.desired.execution.duration.deceased=PT0.3S\n",
            db.url_text(),
            pi.base_url()
        ),
    )
    .unwrap();
    let mut sorted = cprs.clone();
    sorted.sort();
    for kill in 0..KILLS {
        let (mut child, port) = serve(dir.path(), &config);
        let url = format!("http://127.0.0.1:{port}{DECEASED}");
        let call = tokio::spawn(async move { reqwest::get(url).await });
        let delay = 20 + rng.below(180);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        child.kill().unwrap();
        child.wait().unwrap();
        let _ = call.await;
        let cursor = texts(
            &db,
            "SELECT COALESCE(ResumeCursor, '') AS m FROM JobState WHERE JobName = 'OrganDonorDeceasedCleanup'",
        );
        let cursor = cursor.first().cloned().unwrap_or_default();
        eprintln!("kill #{kill} after {delay} ms (seed {SEED}): resume point {cursor:?}");
        // Every CPR up to the resume point was answered by PersonInformation.
        for cpr in sorted.iter().take_while(|c| **c <= cursor) {
            assert!(
                pi.asked_count(cpr) > 0,
                "kill #{kill} (seed {SEED}): resume point {cursor} is past {cpr}, never answered"
            );
        }
        // The runbook's procedure for a dead node: expire its lease.
        db.execute(
            "UPDATE JobLock SET LockedUntil = '2000-01-01 00:00:00.000000' WHERE JobName = 'OrganDonorDeceasedCleanup'",
        );
    }
    // A healthy node finishes the pass.
    let app = spawn_app(&db, &format!("personinformation.url={}", pi.base_url())).await;
    app.run_to_end(DECEASED).await;
    let remaining = texts(&db, "SELECT Cpr AS m FROM OrganDonorRegistration ORDER BY Cpr");
    let mut expected: Vec<String> = cprs.iter().filter(|c| !dead.contains(c)).cloned().collect();
    expected.sort();
    assert_eq!(
        remaining, expected,
        "every dead citizen removed, nobody else (seed {SEED})"
    );
    assert!(count(&db, "SELECT COUNT(*) AS n FROM JobRun WHERE Outcome = 'Finished'") >= 1);
    app.stop().await;
    pi.stop().await;
}
both_backends!(kill_9_during_pipelined_passes_loses_nothing_and_removes_only_the_dead);
