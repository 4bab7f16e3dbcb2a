//! Status, alarm and dashboard pages as `NotificationPerson` grows: p50/p99 latency per row count,
//! against the targets. At each row count a fresh service polls every page in turn for a
//! fixed time, like monitoring does, so a background recount of the Completed letters (at most
//! every 10 s) falls inside the measurement.

use std::time::{Duration, Instant};

use super::harness::Service;
use super::letters::Letters;
use super::report::{Figure, Target, Value};
use super::{scratch, BenchOptions, RSS_TARGET_MB};
use crate::clock::Clock;
use crate::config::Backend;
use crate::db::migrate;

/// The pages: short name, path, p99 target in ms, and the row count at which the target applies
/// (`None`: at every row count).
const PAGES: &[(&str, &str, f64, Option<u64>)] = &[
    (
        "notification-status",
        "/odr-operations/odr-send-digitalpost-notifikation/status",
        10.0,
        None,
    ),
    (
        "notification-alarm",
        "/odr-operations/odr-send-digitalpost-notifikation/alarm",
        10.0,
        None,
    ),
    ("slettejob-status", "/odr-operations/odr-slettejob/status", 10.0, None),
    ("slettejob-alarm", "/odr-operations/odr-slettejob/alarm", 10.0, None),
    ("dashboard", "/odr-operations/dashboard", 20.0, Some(1_000_000)),
];

/// One page at one row count, for the plot.
#[derive(Debug, Clone)]
pub struct PagePoint {
    /// Page short name.
    pub page: &'static str,
    /// `NotificationPerson` rows.
    pub rows: u64,
    /// p99 latency, ms.
    pub p99_ms: f64,
}

/// The row counts: powers of ten from 100,000 (10,000 with `--quick`) below `top`, then `top`.
pub fn steps(top: u64, quick: bool) -> Vec<u64> {
    let mut out = Vec::new();
    let mut n = if quick { 10_000 } else { 100_000 };
    while n < top {
        out.push(n);
        n *= 10;
    }
    out.push(top);
    out
}

/// The top row count: `--rows`, else 10,000,000 on MariaDB and 1,000,000 on SQLite (100,000 with
/// `--quick`).
pub fn top_rows(backend: Backend, opts: &BenchOptions) -> u64 {
    match (opts.rows, opts.quick, backend) {
        (Some(n), _, _) => n,
        (None, true, _) => 100_000,
        (None, false, Backend::Mysql) => 10_000_000,
        (None, false, Backend::Sqlite) => 1_000_000,
    }
}

/// Latencies of one page at one row count.
#[derive(Default)]
struct Calls {
    ms: Vec<f64>,
    first_ms: Option<f64>,
    codes: Vec<u16>,
}

impl Calls {
    fn percentile(&self, p: f64) -> Option<f64> {
        let mut v = self.ms.clone();
        v.sort_by(f64::total_cmp);
        // Nearest rank.
        let rank = ((p * v.len() as f64).ceil() as usize).max(1);
        v.get(rank - 1).copied()
    }
}

/// Every page at every row count of [`steps`]: one figure per page and row count.
pub async fn pages(backend: Backend, opts: &BenchOptions) -> Result<(Vec<Figure>, Vec<PagePoint>), String> {
    let db = scratch(backend, opts)?;
    migrate::run(&db.url).map_err(|e| e.to_string())?;
    let today = Clock::new(chrono_tz::Europe::Copenhagen).today();
    let mut letters = Letters::new(&db, today)?;
    let top = top_rows(backend, opts);
    let poll = if opts.quick {
        Duration::from_secs(3)
    } else {
        Duration::from_secs(15)
    };
    let (mut figures, mut points) = (Vec::new(), Vec::new());
    for rows in steps(top, opts.quick) {
        letters.grow_to(rows)?;
        let props = format!("digitalpost.notification.odr.startdate={}\n", letters.oldest());
        let service = Service::start(&db, &props).await?;
        let cpu_before = service.cpu_now();
        let calls = poll_pages(&service.base, poll).await?;
        let cost = service.cost_since(cpu_before);
        drop(service);
        for ((name, path, target_ms, at_rows), c) in PAGES.iter().zip(&calls) {
            let found = c.codes.iter().any(|&code| code != 404);
            let stat = |v: Option<f64>| match (found, v) {
                (true, Some(v)) => Value::Num(v, 2, ""),
                (false, _) => Value::NotMeasured("404".into()),
                (true, None) => Value::NotMeasured("no calls".into()),
            };
            let (p50, p99) = (stat(c.percentile(0.50)), stat(c.percentile(0.99)));
            if let Some(p) = p99.number() {
                points.push(PagePoint {
                    page: name,
                    rows: letters.rows,
                    p99_ms: p,
                });
            }
            let mut f = Figure::new("pages", backend.name())
                .with("page", Value::Text((*name).into()))
                .with("rows", Value::Int(letters.rows))
                .with("calls", Value::Int(c.ms.len() as u64))
                .with("p50_ms", p50)
                .with("p99_ms", p99)
                .with("max_ms", stat(c.percentile(1.0)))
                .with("first_ms", stat(c.first_ms));
            f.fields.extend(cost.fields());
            if at_rows.is_none_or(|n| n == letters.rows) {
                f = f.target(Target::at_most("p99_ms", *target_ms));
            }
            f = f.target(Target::at_most("peak_rss_mb", RSS_TARGET_MB));
            let mut codes = c.codes.clone();
            codes.sort_unstable();
            codes.dedup();
            f.note = format!(
                "{path}: HTTP {codes:?}; {} s of polling all pages in turn, fresh service; RSS and CPU are the service's \
                 for all pages{}",
                poll.as_secs(),
                at_rows.map_or(String::new(), |n| format!("; target at {n} rows"))
            );
            figures.push(f);
        }
    }
    Ok((figures, points))
}

/// Polls every page in turn for `duration` after one warm-up round (its times are the first calls).
async fn poll_pages(base: &str, duration: Duration) -> Result<Vec<Calls>, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    let urls: Vec<String> = PAGES.iter().map(|(_, path, _, _)| format!("{base}{path}")).collect();
    let mut calls: Vec<Calls> = PAGES.iter().map(|_| Calls::default()).collect();
    let started = Instant::now();
    let mut round = 0usize;
    while round == 0 || started.elapsed() < duration {
        for (url, c) in urls.iter().zip(calls.iter_mut()) {
            let t = Instant::now();
            let res = client.get(url).send().await.map_err(|e| e.to_string())?;
            let code = res.status().as_u16();
            res.bytes().await.map_err(|e| e.to_string())?;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            if !c.codes.contains(&code) {
                c.codes.push(code);
            }
            if round == 0 {
                c.first_ms = Some(ms);
            } else {
                c.ms.push(ms);
            }
        }
        round += 1;
    }
    Ok(calls)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_counts_grow_by_tens_up_to_the_top() {
        assert_eq!(steps(10_000_000, false), [100_000, 1_000_000, 10_000_000]);
        assert_eq!(steps(2_500_000, false), [100_000, 1_000_000, 2_500_000]);
        assert_eq!(steps(100_000, true), [10_000, 100_000]);
        assert_eq!(steps(50_000, false), [50_000]);
    }
}
