//! What every scenario uses: the service as a child process, its peak RSS, and HTTP helpers.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::simulator::scratch::ScratchDb;

/// `odr-operations serve` in a child process on a free port, killed on drop.
pub struct Service {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    _dir: tempfile::TempDir,
}

impl Service {
    /// Starts the service on `db` with `extra` properties and waits until its status page answers.
    pub async fn start(db: &ScratchDb, extra: &str) -> Result<Service, String> {
        let dir = tempfile::Builder::new()
            .prefix("odr-bench-svc-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let port = free_port()?;
        let config = dir.path().join("operations.properties");
        let mut f = std::fs::File::create(&config).map_err(|e| e.to_string())?;
        writeln!(
            f,
            "server.bind=127.0.0.1:{port}\ndatasource.odr.url={}\nlogging.config={}\n{extra}",
            db.url.expose(),
            dir.path().join("no-log4rs.yaml").display()
        )
        .map_err(|e| e.to_string())?;
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let child = Command::new(exe)
            .args(["--config", &config.display().to_string(), "serve"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let base = format!("http://127.0.0.1:{port}");
        wait_ready(&format!("{base}/odr-operations/odr-slettejob/status")).await?;
        Ok(Service { child, base, _dir: dir })
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

async fn wait_ready(url: &str) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| e.to_string())?;
    for _ in 0..200 {
        if client.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("the service did not answer {url}"))
}

/// Peak resident set size (VmHWM) of a process, in MB.
pub fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The number just before `marker` in a summary line (e.g. `12000 CPR checked`).
pub fn figure_before(line: &str, marker: &str) -> Option<i64> {
    let head = &line[..line.find(marker)?];
    head.rsplit(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// GET `url` as text.
pub async fn get_text(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let res = client.get(url).send().await.map_err(|e| e.to_string())?;
    res.text().await.map_err(|e| e.to_string())
}
