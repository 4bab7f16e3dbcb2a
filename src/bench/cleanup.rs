//! Deceased cleanup: a whole pass over a synthetic population, and the keyset resume cost.

use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};

use super::harness::{figure_before, get_text, peak_rss_mb, Service};
use super::{scratch, BenchOptions, Figure};
use crate::config::{Backend, DbUrl};
use crate::db::models::{registration, stored};
use crate::db::{establish, migrate, Db, DbError};
use crate::simulator::person_information::FakePersonInformation;
use crate::simulator::population::{self, Spec};

/// Deceased cleanup: a whole pass over the population, the service in a child process.
pub async fn deceased(backend: Backend, opts: &BenchOptions, keyset: bool) -> Result<Vec<Figure>, String> {
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
    let service = Service::start(&db, &props).await?;
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
async fn keyset_resume(backend: Backend, url: &DbUrl, people: &[population::Citizen]) -> Result<Figure, String> {
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
