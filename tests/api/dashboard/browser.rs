//! The dashboard in a real browser: Debian's headless Chromium loads the page from the running
//! service (port 0) after a failed slice, and the DOM it built is held to the same rules as the
//! HTML; screenshots (desktop and phone) go to `target/dashboard/` for CI's artefacts and people.
//! Without Chromium the test prints a SKIPPED line, and fails when a browser is required
//! (`ODR_REQUIRE_BROWSER=1`, or `CI=true` in the full build).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use odr_operations::simulator::person_information::PiFault;

use super::{assert_page, scenario, section, JOBS, ROOT};
use crate::both_backends;
use crate::fixture::Backend;

const CHROMIUM: &str = "/usr/bin/chromium";
/// A browser that has not answered by then is stuck: it is killed and the test fails.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(120);

fn flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "true" || v == "1")
}

/// Whether Chromium is installed. Without it the test is skipped with a line on the terminal,
/// unless a browser is required: `ODR_REQUIRE_BROWSER=1` (what `.ci/run` sets once it has
/// installed Chromium), or `CI=true` in the full build (feature `mariadb`). The default build is
/// what CI runs first, before it installs anything (README: only the Rust toolchain).
fn chromium_present() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    assert!(
        !(flag("ODR_REQUIRE_BROWSER") || (flag("CI") && cfg!(feature = "mariadb"))),
        "{CHROMIUM} is required (ODR_REQUIRE_BROWSER=1 or CI=true): apt-get install -y chromium chromium-driver"
    );
    // Straight to the terminal: libtest would swallow eprintln! of a passing test.
    use std::io::Write;
    let test = std::thread::current().name().unwrap_or("test").to_string();
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {CHROMIUM} not installed (apt-get install chromium chromium-driver); set ODR_REQUIRE_BROWSER=1 to make this a failure"
    );
    false
}

/// Runs headless Chromium with a fresh profile on `url`; returns what it printed on stdout.
fn chromium(args: &[String], url: &str) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", dir.path().join("profile").display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("chromium starts");
    let deadline = Instant::now() + BROWSER_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium took longer than {BROWSER_TIMEOUT:?}: {}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        status.success(),
        "chromium failed ({status}): {}",
        std::fs::read_to_string(&err_path).unwrap_or_default()
    );
    std::fs::read_to_string(&out_path).expect("chromium's output")
}

/// The DOM after Chromium parsed and laid out the page.
async fn dump_dom(url: String) -> String {
    tokio::task::spawn_blocking(move || chromium(&["--dump-dom".to_string()], &url))
        .await
        .expect("chromium task")
}

/// A screenshot of `url` at `width` x `height` into `file`.
async fn screenshot(url: String, file: PathBuf, (width, height): (u32, u32)) {
    let args = vec![
        format!("--screenshot={}", file.display()),
        format!("--window-size={width},{height}"),
    ];
    tokio::task::spawn_blocking(move || chromium(&args, &url))
        .await
        .expect("chromium task");
}

/// Width and height of a PNG file (its IHDR chunk).
fn png_size(file: &Path) -> (u32, u32) {
    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{} is a PNG", file.display());
    let be = |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    (be(16), be(20))
}

/// Where the screenshots go: `target/dashboard/` (kept by CI as artefacts).
fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("dashboard");
    std::fs::create_dir_all(&dir).expect("target/dashboard");
    dir
}

async fn headless_chromium_shows_the_jobs_their_runs_and_the_alarm_without_a_cpr(backend: Backend) {
    if !chromium_present() {
        return;
    }
    let Some((env, cprs)) = scenario(backend).await else {
        return;
    };
    env.pi.set_fault(PiFault::Status(500));
    let line = env.app.start("/odr-operations/odr-slettejob/deceased/start").await;
    assert!(line.contains("Failed: "), "{line}");
    let url = format!("{}{ROOT}", env.app.address);

    let dom = dump_dom(url.clone()).await;
    assert_page(&env, &dom, &cprs);
    assert!(dom.contains("<link rel=\"stylesheet\" href=\"/odr-operations/dashboard/dashboard.css\">"));
    let deceased = section(&dom, JOBS[0]);
    assert!(
        deceased.contains(
            "<li>Baggrundsjobbet StackedOperationsService fejlede sidst det blev kørt. Problemet var: \
             Data for CPR-nummeret kunne ikke findes, fordi kaldet til PersonInformation-servicen returnerede \
             en uventet statuskode: 500.</li>"
        ),
        "{deceased}"
    );
    assert!(section(&dom, "alarms").contains("Baggrundsjobbet StackedOperationsService fejlede"));
    assert!(section(&dom, "notifikation").contains(
        "update NotificationPerson set Status = \"Pending\", SentAtDateTime = null, ErrorMessage = null where NotificationPersonPID = "
    ));

    let dir = screenshot_dir();
    for (layout, size) in [("desktop", (1200, 1600)), ("phone", (390, 844))] {
        let file = dir.join(format!("dashboard-{}-{layout}.png", backend.name()));
        let _ = std::fs::remove_file(&file);
        screenshot(url.clone(), file.clone(), size).await;
        assert_eq!(png_size(&file), size, "{}", file.display());
    }
    env.stop().await;
}
both_backends!(headless_chromium_shows_the_jobs_their_runs_and_the_alarm_without_a_cpr);
