//! `odr-operations bench`: the scenarios of the issues, on SQLite and MariaDB, each measured
//! against its physical bound in the same run. The service under test runs as a child process
//! (`serve`) so its peak RSS is its own; the fakes run in this process.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};

use crate::clock::Clock;
use crate::config::Backend;
use crate::db::models::{registration, stored};
use crate::db::{establish, migrate, Db, DbError};
use crate::engine::{self, CursorChange, EngineCtx, Job, JobError, Slice, Step};
use crate::simulator::person_information::FakePersonInformation;
use crate::simulator::population::{self, Spec};
use crate::simulator::scratch::ScratchDb;

/// What to run.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchOptions {
    /// Smaller populations (the whole run in a few minutes).
    #[arg(long)]
    pub quick: bool,
    /// MariaDB server URL for the MariaDB runs, without database name (default with the
    /// `mariadb` feature: mysql://root@127.0.0.1:3306).
    #[arg(long, value_name = "URL", value_parser = crate::config::DbUrl::parse_arg)]
    pub mysql: Option<crate::config::DbUrl>,
    /// Skip MariaDB.
    #[arg(long)]
    pub sqlite_only: bool,
    /// Run only scenarios whose name contains this (repeatable).
    #[arg(long = "only")]
    pub only: Vec<String>,
}

/// One measured scenario on one backend.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Scenario name.
    pub scenario: &'static str,
    /// Backend name.
    pub backend: &'static str,
    /// Units per second achieved.
    pub throughput: f64,
    /// Units per second the configuration allows at best.
    pub bound: f64,
    /// Time per batch at the end of the pass over the start.
    pub end_vs_start: f64,
    /// Peak RSS of the service process, MB.
    pub peak_rss_mb: f64,
    /// Free-form detail for the human table.
    pub note: String,
}

impl Figure {
    /// The machine-readable line.
    pub fn line(&self) -> String {
        format!(
            "bench scenario={} backend={} throughput={:.1}/s bound={:.1}/s ratio={:.3} end_vs_start={:.3} peak_rss_mb={:.1}",
            self.scenario,
            self.backend,
            self.throughput,
            self.bound,
            if self.bound > 0.0 { self.throughput / self.bound } else { 0.0 },
            self.end_vs_start,
            self.peak_rss_mb
        )
    }
}

/// A scratch database for one scenario on `backend`.
fn scratch(backend: Backend, opts: &BenchOptions) -> Result<ScratchDb, String> {
    let server = opts
        .mysql
        .as_ref()
        .map(crate::config::DbUrl::expose)
        .unwrap_or_default();
    ScratchDb::create(backend, "bench", &server).map_err(|e| e.to_string())
}

/// Runs the selected scenarios and prints the table and the machine-readable lines.
pub async fn run(opts: BenchOptions) -> Result<Vec<Figure>, String> {
    let mut backends = vec![Backend::Sqlite];
    if opts.mysql.is_some() && !opts.sqlite_only {
        backends.push(Backend::Mysql);
    }
    let wanted = |name: &str| opts.only.is_empty() || opts.only.iter().any(|o| name.contains(o.as_str()));
    let mut figures = Vec::new();
    for backend in backends {
        if wanted("engine-overhead") {
            figures.push(engine_overhead(backend, &opts).await?);
            eprintln!("{}", figures[figures.len() - 1].line());
        }
        if wanted("deceased") || wanted("keyset-resume") {
            for f in deceased(backend, &opts, wanted("keyset-resume")).await? {
                eprintln!("{}", f.line());
                figures.push(f);
            }
        }
        if wanted("notification") {
            figures.push(notification(backend, &opts).await?);
            eprintln!("{}", figures[figures.len() - 1].line());
        }
        if wanted("pages") {
            figures.extend(pages(backend, &opts).await?);
        }
    }
    print_table(&figures);
    Ok(figures)
}

fn print_table(figures: &[Figure]) {
    println!();
    println!("| scenario | backend | throughput | bound | ratio | end/start | peak RSS | note |");
    println!("|---|---|---|---|---|---|---|---|");
    for f in figures {
        println!(
            "| {} | {} | {:.1}/s | {:.1}/s | {:.3} | {:.3} | {:.1} MB | {} |",
            f.scenario,
            f.backend,
            f.throughput,
            f.bound,
            if f.bound > 0.0 { f.throughput / f.bound } else { 0.0 },
            f.end_vs_start,
            f.peak_rss_mb,
            f.note
        );
    }
    println!();
    for f in figures {
        println!("{}", f.line());
    }
}

/// A job whose operations commit nothing but the resume point: the engine's own cost.
struct EmptyJob {
    ops: i64,
    done: i64,
}

impl Job for EmptyJob {
    fn name(&self) -> &'static str {
        "BenchEmptyJob"
    }

    fn budget(&self) -> Duration {
        Duration::from_secs(3600)
    }

    async fn step(&mut self, slice: &mut Slice) -> Result<Step, JobError> {
        if self.done == self.ops {
            return Ok(Step::Finished);
        }
        self.done += 1;
        slice
            .commit(CursorChange::Set(self.done.to_string()), |_| Ok(()))
            .await?;
        Ok(Step::Continue)
    }

    fn processed(&self) -> i64 {
        self.done
    }

    fn figures(&self) -> String {
        format!("{} operations", self.done)
    }
}

async fn engine_overhead(backend: Backend, opts: &BenchOptions) -> Result<Figure, String> {
    let db = scratch(backend, opts)?;
    migrate::run(&db.url).map_err(|e| e.to_string())?;
    let pool = Db::new(&db.url, 4);
    let ctx = EngineCtx {
        db: pool,
        node: "bench".into(),
        clock: Clock::new(chrono_tz::UTC),
    };
    let ops = if opts.quick { 500 } else { 3000 };
    // Warm the pool and the lease row first.
    engine::run_slice(&ctx, EmptyJob { ops: 10, done: 0 }).await;
    let started = Instant::now();
    let report = engine::run_slice(&ctx, EmptyJob { ops, done: 0 }).await;
    let elapsed = started.elapsed().as_secs_f64();
    if report.error.is_some() {
        return Err(report.line);
    }
    let per_op_ms = elapsed * 1000.0 / ops as f64;
    let target = match backend {
        Backend::Sqlite => 0.5,
        Backend::Mysql => 2.0,
    };
    Ok(Figure {
        scenario: "engine-overhead",
        backend: backend.name(),
        throughput: ops as f64 / elapsed,
        // The target is the bound here: lease check + commit within `target` ms.
        bound: 1000.0 / target,
        end_vs_start: 1.0,
        peak_rss_mb: peak_rss_mb(std::process::id()),
        note: format!("{per_op_ms:.3} ms per empty operation (lease check + commit; target {target} ms)"),
    })
}

/// Deceased cleanup: a whole pass over the population, the service in a child process.
async fn deceased(backend: Backend, opts: &BenchOptions, keyset: bool) -> Result<Vec<Figure>, String> {
    let citizens_n = if opts.quick { 90_000 } else { 900_000 };
    let latency = Duration::from_millis(50);
    let (pi_batch, in_flight, batch) = (100usize, 20usize, 10_000usize);
    let db = scratch(backend, opts)?;
    migrate::run(&db.url).map_err(|e| e.to_string())?;
    let today = Utc::now().date_naive();
    let spec = Spec {
        citizens: citizens_n,
        history_per_mille: 111,
        unregistered_per_mille: 0,
        dead_long_ago_per_mille: 10,
        dead_recently_per_mille: 2,
        emigrated_per_mille: 5,
        inactive_per_mille: 3,
        born_from: NaiveDate::from_ymd_opt(1930, 1, 1).ok_or("date")?,
        born_to: NaiveDate::from_ymd_opt(2008, 12, 31).ok_or("date")?,
        today,
        seed: 42,
    };
    let people = population::citizens(&spec);
    let loading = Instant::now();
    {
        let url = db.url.clone();
        let mut conn = establish(&url).map_err(|e| e.to_string())?;
        population::load(&mut conn, &people, stored(Utc::now()), false, |_| {}).map_err(|e| e.to_string())?;
    }
    let registrations: usize = people.iter().map(|c| usize::from(c.registrations)).sum();
    eprintln!(
        "bench: {} loaded {} citizens / {} registrations in {:.1} s",
        backend.name(),
        people.len(),
        registrations,
        loading.elapsed().as_secs_f64()
    );
    let mut figures = Vec::new();
    if keyset {
        figures.push(keyset_resume(backend, &db.url, &people).await?);
    }
    let fake = FakePersonInformation::start().await.map_err(|e| e.to_string())?;
    fake.set_people(population::statuses(&people));
    fake.set_latency(latency);
    let props = format!(
        "personinformation.url={}\npersoninformation.batchsize.deceased={pi_batch}\n\
         personinformation.defaultMaxConnectionsPerRoute={in_flight}\ndeletion.batchsize.deceased={batch}\n\
         deletion.desired.execution.duration.deceased=PT2S\n",
        fake.base_url()
    );
    let service = Service::start(&db, &props)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("{}/odr-operations/odr-slettejob/deceased/start", service.base);
    let started = Instant::now();
    let mut slices: Vec<(f64, i64)> = Vec::new();
    loop {
        let t = Instant::now();
        let line = get_text(&client, &url).await?;
        let checked = figure_before(&line, " CPR checked").ok_or_else(|| format!("unexpected answer: {line}"))?;
        slices.push((t.elapsed().as_secs_f64(), checked));
        if line.contains(": Finished after ") {
            break;
        }
        if line.contains("Failed") {
            return Err(line);
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let total: i64 = slices.iter().map(|s| s.1).sum();
    let per_batch = |s: &(f64, i64)| s.0 / (s.1 as f64 / batch as f64).max(1.0);
    // The last slice is a partial one (end of pass): compare the last full slice with the first.
    let full: Vec<&(f64, i64)> = slices.iter().filter(|s| s.1 as usize >= batch).collect();
    let end_vs_start = match (full.first(), full.last()) {
        (Some(a), Some(b)) => per_batch(b) / per_batch(a),
        _ => 1.0,
    };
    let rss = peak_rss_mb(service.pid());
    let bound = (in_flight.min(batch / pi_batch) * pi_batch) as f64 / latency.as_secs_f64();
    figures.push(Figure {
        scenario: "deceased-cleanup",
        backend: backend.name(),
        throughput: total as f64 / wall,
        bound,
        end_vs_start,
        peak_rss_mb: rss,
        note: format!(
            "{total} CPR in {wall:.1} s over {} slices; {registrations} registrations; PI {pi_batch}/request, {in_flight} in flight, {} ms",
            slices.len(),
            latency.as_millis()
        ),
    });
    drop(service);
    fake.stop().await;
    Ok(figures)
}

/// Cost of resuming the keyset walk near the end vs at the start.
async fn keyset_resume(
    backend: Backend,
    url: &crate::config::DbUrl,
    people: &[population::Citizen],
) -> Result<Figure, String> {
    let mut cprs: Vec<&str> = people
        .iter()
        .filter(|c| c.registrations > 0)
        .map(|c| c.cpr.as_str())
        .collect();
    cprs.sort_unstable();
    let near_end = cprs
        .get(cprs.len().saturating_sub(1001))
        .map(|s| s.to_string())
        .unwrap_or_default();
    let pool = Db::new(url, 2);
    let measure = |after: String| {
        let pool = pool.clone();
        async move {
            pool.run(move |conn| {
                let mut times = Vec::new();
                for _ in 0..30 {
                    let t = Instant::now();
                    let batch = registration::next_cprs_with_data(conn, &after, 1000)?;
                    times.push(t.elapsed().as_secs_f64());
                    if batch.len() != 1000 {
                        return Err(DbError::Aborted(format!("expected 1000 CPRs, got {}", batch.len())));
                    }
                }
                times.sort_by(f64::total_cmp);
                Ok::<f64, DbError>(times[times.len() / 2])
            })
            .await
            .map_err(|e| e.to_string())
        }
    };
    let at_start = measure(String::new()).await?;
    let at_end = measure(near_end).await?;
    Ok(Figure {
        scenario: "keyset-resume",
        backend: backend.name(),
        throughput: 1000.0 / at_end,
        bound: 1000.0 / at_start,
        end_vs_start: at_end / at_start,
        peak_rss_mb: peak_rss_mb(std::process::id()),
        note: format!(
            "batch of 1000 at position {} vs 0: {:.2} ms vs {:.2} ms (median of 30)",
            cprs.len().saturating_sub(1001),
            at_end * 1000.0,
            at_start * 1000.0
        ),
    })
}

fn figure_before(line: &str, marker: &str) -> Option<i64> {
    let head = &line[..line.find(marker)?];
    head.rsplit(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// `odr-operations serve` in a child process on a free port, killed on drop.
struct Service {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Service {
    fn start(db: &ScratchDb, extra: &str) -> Result<Service, String> {
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
        wait_ready(&format!("{base}/odr-operations/odr-slettejob/status"))?;
        Ok(Service { child, base, _dir: dir })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

fn wait_ready(url: &str) -> Result<(), String> {
    for _ in 0..200 {
        if status_is_200(url) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("the service did not answer {url}"))
}

fn status_is_200(url: &str) -> bool {
    // A plain HTTP/1.0 probe: no blocking HTTP client needed in the binary.
    let Some(addr) = url.strip_prefix("http://").and_then(|r| r.split('/').next()) else {
        return false;
    };
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let path = &url[url.find(addr).map_or(0, |i| i + addr.len())..];
    let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if n >= 12 && &buf[9..12] == b"200")
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

/// Notification: every recipient of one date, the Digital Post fake answering after 50 ms.
async fn notification(backend: Backend, opts: &BenchOptions) -> Result<Figure, String> {
    let recipients = if opts.quick { 10_000 } else { 100_000 };
    let latency = Duration::from_millis(50);
    let (in_flight, limit) = (20usize, 1000usize);
    let db = scratch(backend, opts)?;
    migrate::run(&db.url).map_err(|e| e.to_string())?;
    let today = Clock::new(chrono_tz::Europe::Copenhagen).today();
    let birth = crate::jobs::notification::birth_dates_for(today, 18, 14)
        .first()
        .copied()
        .ok_or("no birth date")?;
    {
        let url = db.url.clone();
        let mut conn = establish(&url).map_err(|e| e.to_string())?;
        // One birth date for all: the CPR digits need not match it (the job reads BirthDate).
        let people: Vec<population::NewPerson> = (0..recipients)
            .map(|i| population::NewPerson {
                cpr: format!("{}", 2_000_000_000u64 + i as u64),
                birth_date: birth,
                status: "01".into(),
                status_date: None,
            })
            .collect();
        population::insert_people(&mut conn, &people).map_err(|e| e.to_string())?;
    }
    let dp = crate::simulator::digital_post::FakeDigitalPost::start()
        .await
        .map_err(|e| e.to_string())?;
    dp.set_latency(latency);
    let props = format!(
        "digitalpost.service.url={}\ndigitalpost.default.max.connections.per.route={in_flight}\n\
         digitalpost.notification.odr.send.limit={limit}\ndigitalpost.notification.odr.startdate={today}\n\
         digitalpost.notification.odr.send.desired.execution.duration=PT5S\n",
        dp.url()
    );
    let service = Service::start(&db, &props)?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!(
        "{}/odr-operations/odr-send-digitalpost-notifikation/start",
        service.base
    );
    let started = Instant::now();
    let mut slices: Vec<(f64, u64)> = Vec::new();
    let mut before = 0;
    for _ in 0..10_000 {
        let t = Instant::now();
        let line = get_text(&client, &url).await?;
        let sent = dp.stats().accepted;
        slices.push((t.elapsed().as_secs_f64(), sent - before));
        before = sent;
        if line.contains("Failed") {
            return Err(line);
        }
        if line.contains(": Finished after ") {
            break;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let sent = dp.stats().accepted;
    if sent != recipients as u64 || dp.letters().len() != recipients {
        return Err(format!("{sent} letters accepted for {recipients} recipients"));
    }
    let full: Vec<&(f64, u64)> = slices.iter().filter(|s| s.1 >= limit as u64).collect();
    let rate = |s: &(f64, u64)| s.0 / s.1 as f64;
    let end_vs_start = match (full.first(), full.last()) {
        (Some(a), Some(b)) => rate(b) / rate(a),
        _ => 1.0,
    };
    let rss = peak_rss_mb(service.pid());
    drop(service);
    dp.stop().await;
    Ok(Figure {
        scenario: "notification",
        backend: backend.name(),
        throughput: sent as f64 / wall,
        bound: in_flight as f64 / latency.as_secs_f64(),
        end_vs_start,
        peak_rss_mb: rss,
        note: format!("{sent} letters on one date in {wall:.1} s over {} slices; {in_flight} in flight, {} ms, send.limit {limit}", slices.len(), latency.as_millis()),
    })
}

/// Status and alarm pages with 1,000,000 `NotificationPerson` rows: p50 and p99 latency.
async fn pages(backend: Backend, opts: &BenchOptions) -> Result<Vec<Figure>, String> {
    let (dates, per_date) = if opts.quick {
        (100usize, 1000usize)
    } else {
        (1000, 1000)
    };
    let db = scratch(backend, opts)?;
    migrate::run(&db.url).map_err(|e| e.to_string())?;
    let today = Clock::new(chrono_tz::Europe::Copenhagen).today();
    let first = today - chrono::Duration::days(dates as i64 - 1);
    {
        let url = db.url.clone();
        let mut conn = establish(&url).map_err(|e| e.to_string())?;
        population::insert_letter_history(&mut conn, first, dates, per_date).map_err(|e| e.to_string())?;
    }
    let service = Service::start(&db, &format!("digitalpost.notification.odr.startdate={first}\n"))?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    let mut figures = Vec::new();
    for path in [
        "/odr-operations/odr-send-digitalpost-notifikation/status",
        "/odr-operations/odr-send-digitalpost-notifikation/alarm",
        "/odr-operations/odr-slettejob/status",
        "/odr-operations/odr-slettejob/alarm",
    ] {
        let url = format!("{}{path}", service.base);
        let mut times = Vec::new();
        let mut cold = 0.0;
        for i in 0..220 {
            let t = Instant::now();
            let res = client.get(&url).send().await.map_err(|e| e.to_string())?;
            res.bytes().await.map_err(|e| e.to_string())?;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            if i == 0 {
                cold = ms;
            }
            if i >= 20 {
                times.push(ms);
            }
        }
        times.sort_by(f64::total_cmp);
        let p50 = times[times.len() / 2];
        let p99 = times[times.len() * 99 / 100];
        let f = Figure {
            scenario: "pages",
            backend: backend.name(),
            throughput: 1000.0 / p50,
            bound: 10.0,
            end_vs_start: p99 / p50,
            peak_rss_mb: peak_rss_mb(service.pid()),
            note: format!(
                "{path}: p50 {p50:.2} ms, p99 {p99:.2} ms (first call {cold:.1} ms) with {} NotificationPerson rows (target p99 <= 100 ms)",
                dates * per_date
            ),
        };
        eprintln!("{} {}", f.line(), f.note);
        figures.push(f);
    }
    Ok(figures)
}

async fn get_text(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let res = client.get(url).send().await.map_err(|e| e.to_string())?;
    res.text().await.map_err(|e| e.to_string())
}
