//! Notification: every recipient of one date, sent through the fake Digital Post Adapter.

use std::time::{Duration, Instant};

use super::harness::{get_text, peak_rss_mb, Service};
use super::{scratch, BenchOptions, Figure};
use crate::clock::Clock;
use crate::config::Backend;
use crate::db::{establish, migrate};
use crate::simulator::population;

/// Notification: every recipient of one date, the Digital Post fake answering after 50 ms.
pub async fn notification(backend: Backend, opts: &BenchOptions) -> Result<Figure, String> {
    let recipients = if opts.quick { 10_000 } else { 100_000 };
    let latency = Duration::from_millis(50);
    let (in_flight, limit) = (20usize, 1000usize);
    let db = scratch(backend, opts)?;
    migrate::run(&db.url).map_err(|e| e.to_string())?;
    let today = Clock::new(chrono_tz::Europe::Copenhagen).today();
    let birth = crate::jobs::notification::dates::birth_dates_for(today, 18, 14)
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
    let service = Service::start(&db, &props).await?;
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
