//! The dry run of a cleanup pass (issue 18), through the service and through the command line:
//! its counts are what the real pass then does, it writes nothing of the jobs' data, it holds the
//! lease, records a Preview run, and names citizens only in the audit log.

use std::process::Command;

use odr_operations::engine::Lease;

use crate::both_backends;
use crate::cleanup::{
    populate, ALIVE, DEAD_LONG_AGO, DEAD_ONLY_LETTER, DEAD_RECENTLY, DEAD_WITH_HISTORY, EMIGRATED_CPR, INACTIVE,
    UNKNOWN,
};
use crate::fixture::{
    assert_no_cpr_outside_the_audit_log, audit_lines, capture_logs, texts, Backend, TestDb, TestDbExt, TestEnv,
};

const PREVIEW_DECEASED: &str = "/odr-operations/odr-slettejob/deceased/preview";
const PREVIEW_EMIGRATED: &str = "/odr-operations/odr-slettejob/emigrated/preview";
const ALL: [&str; 8] = [
    DEAD_LONG_AGO,
    DEAD_RECENTLY,
    ALIVE,
    UNKNOWN,
    EMIGRATED_CPR,
    DEAD_WITH_HISTORY,
    DEAD_ONLY_LETTER,
    INACTIVE,
];

/// Every row of the tables the jobs change, as text: equal before and after = nothing written.
fn snapshot(db: &TestDb) -> Vec<String> {
    let mut all = Vec::new();
    for sql in [
        "SELECT CONCAT_WS('|', OrganDonorRegistrationPID, Cpr, ValidFrom, COALESCE(ValidTo, '-'), ModifiedDateTime) AS m FROM OrganDonorRegistration ORDER BY 1",
        "SELECT CONCAT_WS('|', NotificationPersonPID, Cpr, Status, MessageId, ModifiedDateTime) AS m FROM NotificationPerson ORDER BY 1",
        "SELECT CONCAT_WS('|', NotificationDatePID, Status, LatestDate) AS m FROM NotificationDate ORDER BY 1",
        "SELECT CONCAT_WS('|', JobName, COALESCE(ResumeCursor, '-'), COALESCE(PassStartedAt, '-')) AS m FROM JobState ORDER BY 1",
        "SELECT CONCAT_WS('|', Service, Message) AS m FROM ErrorEvent ORDER BY 1",
    ] {
        all.extend(texts(db, sql));
    }
    all
}

async fn the_preview_counts_what_the_real_pass_then_does_and_writes_nothing(backend: Backend) {
    capture_logs();
    let Some(env) = TestEnv::start(backend, "").await else {
        return;
    };
    let (db, pi, app) = (&env.db, &env.pi, &env.app);
    populate(db, pi);
    let before = snapshot(db);
    let res = app.get(PREVIEW_DECEASED).await;
    assert_eq!(res.status().as_u16(), 200);
    let body = res.text().await.unwrap();
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["job"], "OrganDonorDeceasedCleanup");
    assert_eq!(report["outcome"], "Finished");
    let c = &report["counts"];
    assert_eq!(
        (c["checked"].as_i64(), c["wouldAct"].as_i64(), c["keptActive"].as_i64()),
        (Some(8), Some(3), Some(1))
    );
    assert_eq!(c["keptDeadRecently"], 1);
    assert_eq!(c["unknownCpr"], 1);
    assert_eq!(c["inactiveByStatus"], serde_json::json!({"20": 1, "80": 1}));
    assert_eq!(report["oldestStatusDate"], "2020-05-05");
    assert_eq!(report["newestStatusDate"], "2025-11-01");
    assert!(report["seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(snapshot(db), before, "the preview wrote nothing");
    assert_eq!(
        texts(
            db,
            "SELECT CONCAT_WS('|', Outcome, Processed) AS m FROM JobRun WHERE JobName = 'OrganDonorDeceasedCleanup'"
        ),
        ["Preview|8"],
        "a Preview run in JobRun"
    );
    let free = texts(
        db,
        "SELECT COALESCE(Owner, 'free') AS m FROM JobLock WHERE JobName = 'OrganDonorDeceasedCleanup'",
    );
    assert_eq!(free, ["free"], "the lease is released");
    for cpr in ALL {
        assert!(!body.contains(cpr), "a CPR in the preview's answer");
    }
    let preview_lines: Vec<(String, String)> = audit_lines()
        .into_iter()
        .filter(|(k, _)| k == "preview-outcome")
        .collect();
    assert!(preview_lines.iter().any(|(_, i)| i
        == &format!(
            "cpr={DEAD_LONG_AGO} job=OrganDonorDeceasedCleanup status=90 statusDate=2024-10-01 would remove all data"
        )));
    assert!(preview_lines
        .iter()
        .any(|(_, i)| i == &format!("cpr={UNKNOWN} job=OrganDonorDeceasedCleanup unknown CPR: kept")));

    // The real pass then does exactly that.
    let answers = app.run_to_end("/odr-operations/odr-slettejob/deceased/start").await;
    assert!(
        answers
            .last()
            .unwrap()
            .contains("; 8 CPR checked, 3 deleted; pass complete."),
        "{answers:?}"
    );

    // The emigrated preview against the emigrated pass.
    let report: serde_json::Value = app.get(PREVIEW_EMIGRATED).await.json().await.unwrap();
    let would_close = report["counts"]["wouldAct"].as_i64().unwrap();
    let checked = report["counts"]["checked"].as_i64().unwrap();
    let answers = app.run_to_end("/odr-operations/odr-slettejob/emigrated/start").await;
    assert!(
        answers.last().unwrap().contains(&format!(
            "; {checked} CPR checked, {would_close} closed; pass complete."
        )),
        "{answers:?} vs {report}"
    );
    assert_eq!(would_close, 1);
    assert_no_cpr_outside_the_audit_log(app, db, &ALL).await;
    env.stop().await;
}
both_backends!(the_preview_counts_what_the_real_pass_then_does_and_writes_nothing);

async fn a_preview_never_runs_beside_the_job_and_a_failed_one_raises_no_alarm(backend: Backend) {
    let Some(env) = TestEnv::start(backend, "").await else {
        return;
    };
    let (db, pi, app) = (&env.db, &env.pi, &env.app);
    populate(db, pi);
    // The real job holds the lease: the preview says so and walks nothing.
    let pool = app.state.db().odr.clone();
    let held = Lease::acquire(
        &pool,
        "OrganDonorDeceasedCleanup",
        "other-node",
        std::time::Duration::from_secs(60),
    )
    .await
    .unwrap()
    .expect("free");
    let res = app.get(PREVIEW_DECEASED).await;
    assert_eq!(res.status().as_u16(), 409);
    let report: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        report["error"],
        "OrganDonorDeceasedCleanup kører allerede på en anden node."
    );
    assert_eq!(pi.traffic().requests, 0);
    held.release(&pool).await.unwrap();
    // PersonInformation fails: 502 with the reason, a Preview row with the error, no alarm line.
    pi.set_fault(odr_operations::simulator::person_information::PiFault::Status(500));
    let res = app.get(&format!("{PREVIEW_DECEASED}?limit=5")).await;
    assert_eq!(res.status().as_u16(), 502);
    let report: serde_json::Value = res.json().await.unwrap();
    assert_eq!(report["outcome"], "Failed");
    assert!(
        report["error"].as_str().unwrap().contains("uventet statuskode: 500"),
        "{report}"
    );
    let alarm = app.get_text("/odr-operations/odr-slettejob/alarm").await.1;
    assert!(!alarm.contains("fejlede sidst"), "a preview is not the job: {alarm}");
    // A bad limit is a clear 400.
    let (code, body) = app.get_text(&format!("{PREVIEW_DECEASED}?limit=none")).await;
    assert_eq!(
        (code, body.as_str()),
        (
            400,
            "limit = \"none\" is not a positive whole number (example: ?limit=1000)\n"
        )
    );
    env.stop().await;
}
both_backends!(a_preview_never_runs_beside_the_job_and_a_failed_one_raises_no_alarm);

async fn the_command_line_preview_prints_the_report_and_stops_at_the_limit(backend: Backend) {
    let Some(env) = TestEnv::start(backend, "").await else {
        return;
    };
    let (db, pi) = (&env.db, &env.pi);
    populate(db, pi);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("operations.properties");
    std::fs::write(
        &config,
        format!(
            "datasource.odr.url={}\npersoninformation.url={}\npersoninformation.batchsize.deceased=2\n",
            db.url_text(),
            pi.base_url()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_odr-operations"))
            .current_dir(dir.path())
            .args(["--config", config.to_str().unwrap(), "preview"])
            .args(args)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, stdout) = run(&["deceased", "--limit", "3"]);
    assert_eq!(code, Some(0), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["outcome"], "Limit");
    // The limit is checked after each request of 2: it stops at the first count past it.
    assert_eq!(report["counts"]["checked"], 4);
    let (code, stdout) = run(&["emigrated"]);
    assert_eq!(code, Some(0));
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (report["outcome"].as_str(), report["counts"]["wouldAct"].as_i64()),
        (Some("Finished"), Some(1))
    );
    for cpr in ALL {
        assert!(!stdout.contains(cpr));
    }
    env.stop().await;
}
both_backends!(the_command_line_preview_prints_the_report_and_stops_at_the_limit);
