//! `odr-operations demo`: starts with a small population, runs every job, serves the pages,
//! reuses its database on a second run, and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs the demo until `until` appears on stdout, then sends SIGTERM; returns stdout and the exit code.
fn demo_until(dir: &std::path::Path, extra: &[&str], until: &str) -> (String, Option<i32>) {
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_odr-operations"))
        .args([
            "demo",
            "--dir",
            dir.to_str().unwrap(),
            "--citizens",
            "3000",
            "--bind",
            &bind,
        ])
        .args(extra)
        .env("ODR_OPERATIONS_CONFIG", "")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut out = String::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    while !out.contains(until) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                out.push_str(&line);
                out.push('\n');
            }
            Err(_) => {
                let _ = child.kill();
                panic!("the demo did not print {until:?}:\n{out}");
            }
        }
    }
    let status = reqwest::blocking::get(format!("http://{bind}/odr-operations/odr-slettejob/status")).unwrap();
    assert_eq!(status.status().as_u16(), 200);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let code = child.wait().unwrap().code();
    (out, code)
}

#[test]
fn the_demo_runs_every_job_serves_the_pages_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (out, code) = demo_until(
        dir.path(),
        &["--run-jobs"],
        "GET /odr-operations/odr-send-digitalpost-notifikation/alarm",
    );
    assert!(out.contains("odr-operations demo is ready in "), "{out}");
    assert!(out.contains("curl -s http://127.0.0.1:"), "{out}");
    assert!(out.contains("OrganDonorDeceasedCleanup: Finished after "), "{out}");
    assert!(out.contains("OrganDonorEmigratedCleanup: Finished after "), "{out}");
    assert!(out.contains("OrganDonorNotification: Finished after "), "{out}");
    assert!(out.contains("GET /odr-operations/odr-slettejob/status -> 200"), "{out}");
    assert_eq!(code, Some(0), "SIGTERM stops the demo cleanly");
    // A second run in the same directory reuses the database.
    let (out, code) = demo_until(dir.path(), &[], "Stop with Ctrl-C.");
    assert!(out.contains("Reusing the database at sqlite://"), "{out}");
    assert_eq!(code, Some(0));
}

#[cfg(feature = "mariadb")]
#[test]
fn the_demo_runs_on_mariadb_too() {
    use crate::fixture::TestDbExt;
    let Some(db) = crate::fixture::test_db(crate::fixture::Backend::Mysql) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (out, code) = demo_until(
        dir.path(),
        &["--mysql", &db.url_text(), "--run-jobs"],
        "GET /odr-operations/odr-send-digitalpost-notifikation/alarm",
    );
    assert!(out.contains("OrganDonorNotification: Finished after "), "{out}");
    assert!(out.contains("GET /odr-operations/odr-slettejob/status -> 200"), "{out}");
    assert_eq!(code, Some(0));
}
