//! What every scenario uses: the service as a child process, its peak RSS and CPU time, and
//! HTTP helpers.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::report::Value;
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

    /// CPU seconds the service has used so far (start-up included): take it before a stretch.
    pub fn cpu_now(&self) -> Option<f64> {
        cpu_seconds(self.pid())
    }

    /// Peak RSS so far and CPU seconds since `cpu_before` (from [`Service::cpu_now`]).
    pub fn cost_since(&self, cpu_before: Option<f64>) -> Cost {
        Cost {
            peak_rss_mb: peak_rss_mb(self.pid()),
            cpu_s: cpu_seconds(self.pid()).zip(cpu_before).map(|(a, b)| a - b),
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free on 127.0.0.1 now.
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

/// Peak resident set size (VmHWM) of a process, in MB, if it can be read.
pub fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
}

/// Clock ticks per second of `/proc/<pid>/stat` (USER_HZ: 100 on every Linux ABI; the kernel
/// scales to it whatever its internal HZ).
const USER_HZ: f64 = 100.0;

/// CPU seconds (user + system) a process has used so far, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("stat")).ok()?;
    // The command name is in parentheses and may hold blanks: count fields after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of proc(5); `rest` starts at field 3.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// What the service process has cost during a measured stretch: its peak RSS (since start)
/// and the CPU seconds from `since` on.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    /// Peak RSS since the process started, MB.
    pub peak_rss_mb: Option<f64>,
    /// CPU seconds (user + system) in the stretch.
    pub cpu_s: Option<f64>,
}

impl Cost {
    /// The fields of a machine line: `peak_rss_mb`, `cpu_s`.
    pub fn fields(&self) -> Vec<(&'static str, Value)> {
        vec![
            ("peak_rss_mb", opt(self.peak_rss_mb, 1, "unreadable")),
            ("cpu_s", opt(self.cpu_s, 2, "unreadable")),
        ]
    }

    /// CPU seconds per `per` units, for `units` done in the stretch.
    pub fn cpu_per(&self, units: u64, per: f64) -> Value {
        match self.cpu_s {
            Some(c) if units > 0 => Value::Num(c * per / units as f64, 3, ""),
            Some(_) => Value::NotMeasured("no units".into()),
            None => Value::NotMeasured("unreadable".into()),
        }
    }
}

/// A measured number or `n/a (why)`.
pub fn opt(v: Option<f64>, decimals: usize, why: &str) -> Value {
    v.map_or_else(|| Value::NotMeasured(why.into()), |v| Value::Num(v, decimals, ""))
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
