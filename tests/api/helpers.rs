//! `spawn_app` and friends: a fresh database per test (SQLite file or `odr_test_<uuid>` on
//! MariaDB, dropped afterwards), the real app on port 0, and one helper per endpoint.

#![allow(dead_code)]

use std::time::Duration;

use diesel::connection::SimpleConnection;
use odr_operations::app::{AppOptions, Application};
use odr_operations::clock::Clock;
use odr_operations::config::Settings;
use odr_operations::db::DbConn;
use odr_operations::web::state::AppState;

pub use odr_operations::config::Backend;
pub use odr_operations::simulator::scratch::ScratchDb as TestDb;
use odr_operations::simulator::scratch::{mysql_server_url, ScratchError};

/// Runs the async test body `name(backend)` once per backend, as tests `name::sqlite` and
/// `name::mysql` (the latter only in a build with the `mariadb` feature).
#[macro_export]
macro_rules! both_backends {
    ($name:ident) => {
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[cfg(feature = "mariadb")]
            #[actix_web::test]
            async fn mysql() {
                super::$name($crate::helpers::Backend::Mysql).await
            }
        }
    };
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A fresh database for one test, or `None` (with a skip line on the terminal) when MariaDB is
/// absent outside CI; under `CI=true` an absent MariaDB fails the test.
pub fn test_db(backend: Backend) -> Option<TestDb> {
    match TestDb::create(backend, "test", &mysql_server_url()) {
        Ok(db) => Some(db),
        Err(ScratchError::Unreachable { server, reason }) if !in_ci() => {
            // Straight to the terminal: libtest would swallow eprintln! of a passing test.
            use std::io::Write;
            let test = std::thread::current().name().unwrap_or("test").to_string();
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: MariaDB not reachable at {server} ({reason}); set CI=true to make this a failure"
            );
            None
        }
        Err(e) => panic!("MariaDB is required (CI=true) or the test database failed: {e}"),
    }
}

/// What tests do with their database besides running the app on it.
pub trait TestDbExt {
    /// A plain connection to this database.
    fn conn(&self) -> DbConn;
    /// Runs SQL statements directly (as an operator would).
    fn execute(&self, sql: &str);
    /// The URL as written in a properties file.
    fn url_text(&self) -> String;
}

impl TestDbExt for TestDb {
    fn conn(&self) -> DbConn {
        self.connect().expect("connect to test database")
    }

    fn execute(&self, sql: &str) {
        let mut c = self.conn();
        c.batch_execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    fn url_text(&self) -> String {
        self.url.expose()
    }
}

/// Properties for a test app on `db`: port 0, plus `extra` lines (later lines win).
pub fn test_properties(db_url: &str, extra: &str) -> String {
    format!("server.bind=127.0.0.1:0\ndatasource.odr.url={db_url}\ndatasource.odr.pool.size=8\n{extra}\n")
}

/// A running app and what tests need to talk to it.
pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub state: actix_web::web::Data<AppState>,
    pub handle: actix_web::dev::ServerHandle,
    pub client: reqwest::Client,
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request")
    }

    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let r = self.get(path).await;
        let status = r.status().as_u16();
        (status, r.text().await.expect("body"))
    }

    pub fn clock(&self) -> &Clock {
        self.state.clock()
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

/// Options for [`spawn_with`].
#[derive(Default, Clone)]
pub struct Spawn {
    pub properties: String,
    pub node: Option<String>,
    pub clock_offset: Option<chrono::Duration>,
    pub extra_routes: Option<fn(&mut actix_web::web::ServiceConfig)>,
}

/// Starts the real app against `db` with extra properties.
pub async fn spawn_app(db: &TestDb, extra: &str) -> TestApp {
    spawn_with(
        db,
        Spawn {
            properties: extra.to_string(),
            ..Default::default()
        },
    )
    .await
}

/// Starts the real app against `db` with the given options.
pub async fn spawn_with(db: &TestDb, opts: Spawn) -> TestApp {
    let props = test_properties(&db.url_text(), &opts.properties);
    let settings = Settings::from_properties("test.properties", &props).expect("test settings");
    let mut options = AppOptions::new(&settings);
    if let Some(node) = opts.node {
        options.node = node;
    }
    if let Some(offset) = opts.clock_offset {
        options.clock.set_offset(offset);
    }
    options.extra_routes = opts.extra_routes;
    let app = Application::build_with(settings, options).await.expect("app starts");
    let port = app.port();
    let state = app.state();
    let handle = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client");
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        state,
        handle,
        client,
    }
}

/// Every log line written in this test process, kept for "no CPR in the application log" checks.
static CAPTURED: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

struct CaptureLogger;

impl log::Log for CaptureLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info || metadata.target().starts_with("odr_operations")
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let line = (record.target().to_string(), record.args().to_string());
            CAPTURED.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    }

    fn flush(&self) {}
}

/// Installs the capturing logger once per test process.
pub fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if log::set_boxed_logger(Box::new(CaptureLogger)).is_ok() {
            log::set_max_level(log::LevelFilter::Debug);
        }
    });
}

/// Captured (target, message) lines.
pub fn captured_logs() -> Vec<(String, String)> {
    CAPTURED.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Runs SQL through the real command-line client, as an operator would (`mariadb -uroot
/// -h127.0.0.1 <db> -e '<sql>'` or `sqlite3 <file> '<sql>'`); returns what it printed.
pub fn operator_sql(db: &TestDb, sql: &str) -> String {
    let output = match db.backend() {
        Backend::Mysql => std::process::Command::new("mariadb")
            .args(["-uroot", "-h127.0.0.1"])
            .arg(db.mysql_name.as_deref().expect("MariaDB test database name"))
            .args(["-e", sql])
            .output(),
        Backend::Sqlite => std::process::Command::new("sqlite3")
            .args(["-cmd", ".timeout 10000"])
            .arg(db.sqlite_path().expect("SQLite test file"))
            .arg(sql)
            .output(),
    }
    .expect("the database command-line client runs");
    assert!(
        output.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[derive(diesel::QueryableByName)]
struct StoredText {
    #[diesel(sql_type = diesel::sql_types::Text)]
    m: String,
}

/// No CPR of `cprs` in the application log, on any status or alarm page (plain or detailed),
/// or in a stored error message: the audit log is the only place they may appear.
pub async fn assert_no_cpr_outside_the_audit_log(app: &TestApp, db: &TestDb, cprs: &[&str]) {
    use diesel::RunQueryDsl;
    for (target, message) in captured_logs() {
        if target != "audit" {
            for cpr in cprs {
                assert!(
                    !message.contains(cpr),
                    "application log line with a CPR: [{target}] {message}"
                );
            }
        }
    }
    for page in [
        "/odr-operations/odr-slettejob/status",
        "/odr-operations/odr-slettejob/alarm",
        "/odr-operations/odr-send-digitalpost-notifikation/status",
        "/odr-operations/odr-send-digitalpost-notifikation/alarm",
    ] {
        for url in [page.to_string(), format!("{page}?detailed")] {
            let (_, body) = app.get_text(&url).await;
            for cpr in cprs {
                assert!(!body.contains(cpr), "{url} shows a CPR");
            }
        }
    }
    let stored: Vec<StoredText> = diesel::sql_query(
        "SELECT COALESCE(ErrorMessage, '') AS m FROM NotificationPerson UNION ALL \
         SELECT COALESCE(ErrorMessage, '') AS m FROM JobRun UNION ALL SELECT Message AS m FROM ErrorEvent",
    )
    .load(&mut db.conn())
    .expect("stored messages");
    for m in stored {
        for cpr in cprs {
            assert!(!m.m.contains(cpr), "a stored message carries a CPR: {}", m.m);
        }
    }
}
