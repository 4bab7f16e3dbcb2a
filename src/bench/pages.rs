//! Status and alarm pages with many `NotificationPerson` rows: p50 and p99 latency.

use std::time::{Duration, Instant};

use super::harness::{peak_rss_mb, Service};
use super::{scratch, BenchOptions, Figure};
use crate::clock::Clock;
use crate::config::Backend;
use crate::db::{establish, migrate};
use crate::simulator::population;

/// Status and alarm pages with 1,000,000 `NotificationPerson` rows: p50 and p99 latency.
pub async fn pages(backend: Backend, opts: &BenchOptions) -> Result<Vec<Figure>, String> {
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
    let service = Service::start(&db, &format!("digitalpost.notification.odr.startdate={first}\n")).await?;
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
