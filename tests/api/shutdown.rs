//! SIGTERM (systemd's stop): the real binary stops accepting, lets a running slice reach its
//! next commit, releases the lease at once and exits 0; nothing is lost.

use std::process::Command;
use std::time::Duration;

use odr_operations::simulator::person_information::FakePersonInformation;

use crate::both_backends;
use crate::fixture::binary::serve;
use crate::fixture::sql::registration;
use crate::fixture::{count, spawn_app, test_db, texts, ymd, Backend, TestDbExt};

const DECEASED: &str = "/odr-operations/odr-slettejob/deceased/start";

async fn sigterm_lets_the_slice_commit_frees_the_lease_and_exits_0(backend: Backend) {
    let Some(db) = test_db(backend) else { return };
    odr_operations::db::migrate::run(&db.url).unwrap();
    let cprs: Vec<String> = (0..10).map(|i| format!("0101{:02}4000", 40 + i)).collect();
    db.execute(
        &cprs
            .iter()
            .map(|c| registration(c, "2020-01-01 10:00:00.000000", None))
            .collect::<String>(),
    );
    let pi = FakePersonInformation::start().await.unwrap();
    for cpr in &cprs[..5] {
        pi.set_person(cpr, "90", Some(ymd("2020-01-01")));
    }
    pi.gate().hold_all();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("operations.properties");
    std::fs::write(
        &config,
        format!(
            "server.bind=127.0.0.1:0\ndatasource.odr.url={}\npersoninformation.url={}\n\
             deletion.batchsize.deceased=4\npersoninformation.batchsize.deceased=1\n\
             personinformation.defaultMaxConnectionsPerRoute=2\ndeletion.desired.execution.duration.deceased=PT60S\n",
            db.url_text(),
            pi.base_url()
        ),
    )
    .unwrap();
    let (mut child, port) = serve(dir.path(), &config);
    let url = format!("http://127.0.0.1:{port}{DECEASED}");
    let slice = tokio::spawn(async move { reqwest::get(url).await.unwrap().text().await.unwrap() });
    // The first batch is at PersonInformation: stop the service now.
    pi.gate().wait_for_waiting(2).await;
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    // A new connection is refused while the slice finishes.
    let mut refused = false;
    for _ in 0..200 {
        refused = reqwest::get(format!("http://127.0.0.1:{port}/odr-operations/odr-slettejob/status"))
            .await
            .is_err();
        if refused {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "the stopping service accepts no new connection");
    pi.gate().release();
    let line = slice.await.unwrap();
    assert!(
        line.contains(": Paused after ") && line.contains("(the service is stopping)"),
        "{line}"
    );
    assert!(
        line.contains("; 4 CPR checked, 4 deleted; next call resumes."),
        "{line}"
    );
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit 0: {status:?}");
    // The lease is free at once (no waiting for it to expire), the resume point is the commit.
    assert_eq!(
        count(&db, "SELECT COUNT(*) AS n FROM JobLock WHERE JobName = 'OrganDonorDeceasedCleanup' AND Owner IS NULL AND LockedUntil IS NULL"),
        1
    );
    assert_eq!(
        texts(
            &db,
            "SELECT ResumeCursor AS m FROM JobState WHERE JobName = 'OrganDonorDeceasedCleanup'"
        ),
        [cprs[3].clone()]
    );
    assert_eq!(
        texts(
            &db,
            "SELECT Outcome AS m FROM JobRun WHERE JobName = 'OrganDonorDeceasedCleanup'"
        ),
        ["Paused"]
    );
    // Another node finishes the pass: every dead citizen removed, nobody asked twice.
    let app = spawn_app(&db, &format!("personinformation.url={}", pi.base_url())).await;
    let answers = app.run_to_end(DECEASED).await;
    assert!(
        answers
            .last()
            .unwrap()
            .contains("; 6 CPR checked, 1 deleted; pass complete."),
        "{answers:?}"
    );
    assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM OrganDonorRegistration"), 5);
    // Nothing skipped: every CPR asked; the committed ones never again (answers that were in
    // flight or read ahead at the stop are asked again by the next slice).
    for (i, cpr) in cprs.iter().enumerate() {
        let asked = pi.asked_count(cpr);
        assert!(asked >= 1, "{cpr} was never asked");
        if i < 4 {
            assert_eq!(asked, 1, "{cpr} was committed before the stop");
        }
    }
    app.stop().await;
    pi.stop().await;
}
both_backends!(sigterm_lets_the_slice_commit_frees_the_lease_and_exits_0);
