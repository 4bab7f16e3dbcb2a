//! Notification: every recipient of one date, sent through the fake Digital Post Adapter with the
//! default properties (only the adapter's URL and the start date set).

use std::time::{Duration, Instant};

use super::cleanup::{Bound, END_VS_START_TARGET, LATENCY};
use super::harness::{get_text, Service};
use super::report::{Figure, Target, Value};
use super::sampler::{sample_while, Series};
use super::{scratch, BenchOptions, RSS_TARGET_MB};
use crate::clock::Clock;
use crate::config::{Backend, Settings};
use crate::db::{establish, migrate};
use crate::simulator::digital_post::FakeDigitalPost;
use crate::simulator::population;

/// The target for letters, as a share of the bound.
const RATIO_TARGET: f64 = 0.97;

/// The measured run: its figure and samples, the bound and the per-route limit.
pub struct Sent {
    /// The figure, with the targets.
    pub figure: Figure,
    /// Samples of the fake through the run.
    pub series: Series,
    /// Letters per second at best.
    pub bound: f64,
    /// The per-route limit of requests in flight.
    pub limit: usize,
}

/// 100,000 recipients on today's notification date (10,000 with `--quick`), the fake answering
/// after 50 ms.
pub async fn notification(backend: Backend, opts: &BenchOptions) -> Result<Sent, String> {
    let recipients = if opts.quick { 10_000 } else { 100_000 };
    let db = scratch(backend, opts)?;
    migrate::run(&db.url).map_err(|e| e.to_string())?;
    let today = Clock::new(chrono_tz::Europe::Copenhagen).today();
    let birth = crate::jobs::notification::dates::birth_dates_for(today, 18, 14)
        .first()
        .copied()
        .ok_or("no birth date")?;
    {
        let mut conn = establish(&db.url).map_err(|e| e.to_string())?;
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
    let dp = FakeDigitalPost::start().await.map_err(|e| e.to_string())?;
    dp.set_latency(LATENCY);
    let props = format!(
        "digitalpost.service.url={}\ndigitalpost.notification.odr.startdate={today}\n",
        dp.url()
    );
    let settings = Settings::from_properties("bench", &props).map_err(|e| e.to_string())?;
    let limit = settings
        .digital_post
        .max_per_route
        .min(settings.digital_post.max_total_connections);
    let service = Service::start(&db, &props).await?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3600))
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!(
        "{}/odr-operations/odr-send-digitalpost-notifikation/start",
        service.base
    );
    let cpu_before = service.cpu_now();
    let delays_before = dp.delays();
    let started = Instant::now();
    let drive = async {
        let mut first_letter: Option<f64> = None;
        for slices in 1..=10_000usize {
            let line = get_text(&client, &url).await?;
            if first_letter.is_none() {
                // The first slice extracts the date's recipients before it sends.
                first_letter = Some(started.elapsed().as_secs_f64());
            }
            if line.contains("Failed") {
                return Err(line);
            }
            if line.contains(": Finished after ") {
                return Ok(slices);
            }
        }
        Err("the notification job did not finish in 10,000 slices".to_string())
    };
    let (driven, series) = sample_while(&dp, || dp.stats().accepted, drive).await;
    let slices = driven?;
    let wall = started.elapsed().as_secs_f64();
    let cost = service.cost_since(cpu_before);
    drop(service);
    // One letter per request.
    let bound = Bound::measured(limit as f64, &dp.delays(), delays_before)?;
    let sent = dp.stats().accepted;
    let distinct = dp.letters().len();
    dp.stop().await;
    if sent != recipients as u64 || distinct != recipients {
        return Err(format!("{sent} letters accepted for {recipients} recipients"));
    }
    let throughput = sent as f64 / wall;
    let end_vs_start = match series.end_vs_start(sent) {
        Ok(r) => Value::Num(r, 3, ""),
        Err(why) => Value::NotMeasured(why),
    };
    let first_letter_s = series.samples.iter().find(|s| s.units > 0).map_or(0.0, |s| s.t);
    let mut figure = bound
        .fields(
            Figure::new("notification", backend.name()).with("letters", Value::Int(sent)),
            throughput,
        )
        .with("end_vs_start", end_vs_start)
        .with(
            "mean_in_flight",
            Value::Num(series.mean_in_flight().unwrap_or(0.0), 1, ""),
        );
    figure.fields.extend(cost.fields());
    figure = figure
        .with("cpu_s_per_1k_letters", cost.cpu_per(sent, 1000.0))
        .target(Target::at_least("ratio", RATIO_TARGET))
        .target(Target::at_most("end_vs_start", END_VS_START_TARGET))
        .target(Target::at_most("peak_rss_mb", RSS_TARGET_MB));
    figure.note = format!(
        "{sent} letters on one date in {wall:.1} s over {slices} slice(s) of {} s (first letter after {first_letter_s:.1} s: \
         extraction); defaults: send.limit {}, {limit} in flight (at most {} seen), fake {} ms (held {:.2} ms)",
        settings.notification.desired_duration.as_secs(),
        settings.notification.send_limit,
        series.max_in_flight(),
        LATENCY.as_millis(),
        bound.fake_ms
    );
    Ok(Sent {
        figure,
        series,
        bound: bound.per_s,
        limit,
    })
}
