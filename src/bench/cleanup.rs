//! Deceased cleanup: a whole pass over a synthetic population with the default properties (the
//! service in a child process, PersonInformation faked here), and the keyset resume cost.

use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};

use super::harness::{figure_before, get_text, Service};
use super::report::{Figure, Target, Value};
use super::sampler::{sample_while, Series};
use super::{progress_bar, scratch, BenchOptions, RSS_TARGET_MB};
use crate::config::{Backend, DbUrl, Settings};
use crate::db::models::{registration, stored};
use crate::db::{establish, migrate, Db, DbError};
use crate::simulator::fake::Delays;
use crate::simulator::person_information::FakePersonInformation;
use crate::simulator::population::{self, Citizen, Spec};
use crate::simulator::scratch::ScratchDb;

/// The fake's answer time: the bound is computed from it.
pub const LATENCY: Duration = Duration::from_millis(50);
/// The target for the deceased pass, as a share of the bound.
const RATIO_TARGET: f64 = 0.95;
/// The target for the time per CPR at the end of a pass over the start.
pub const END_VS_START_TARGET: f64 = 1.1;

/// The physical bound of a pass: units in flight (requests in flight allowed x units per
/// request) per the time the fake held a request, measured in the run (its latency plus a
/// timer tick, more on a busy machine), and at the configured latency.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// Units per second at the measured hold time: the ratio's denominator.
    pub per_s: f64,
    /// Units per second at [`LATENCY`].
    pub config_per_s: f64,
    /// The mean time the fake held a request, in ms.
    pub fake_ms: f64,
}

impl Bound {
    /// The bound of `units_in_flight` from the fake's [`Delays`] since `before`.
    pub fn measured(units_in_flight: f64, now: &Delays, before: Delays) -> Result<Bound, String> {
        let held = now
            .mean_since(before)
            .filter(|d| !d.is_zero())
            .ok_or("the fake answered no request: no bound to measure")?;
        Ok(Bound {
            per_s: units_in_flight / held.as_secs_f64(),
            config_per_s: units_in_flight / LATENCY.as_secs_f64(),
            fake_ms: held.as_secs_f64() * 1000.0,
        })
    }

    /// `throughput` with the bounds and ratios, added to `figure`.
    pub fn fields(&self, figure: Figure, throughput: f64) -> Figure {
        figure
            .with("throughput", Value::Num(throughput, 1, "/s"))
            .with("fake_ms", Value::Num(self.fake_ms, 2, ""))
            .with("bound", Value::Num(self.per_s, 1, "/s"))
            .with("ratio", Value::Num(throughput / self.per_s, 3, ""))
            .with("bound_config", Value::Num(self.config_per_s, 1, "/s"))
            .with("ratio_config", Value::Num(throughput / self.config_per_s, 3, ""))
    }
}

/// A population loaded into a scratch database.
pub struct Loaded {
    /// The database (dropped with this).
    pub db: ScratchDb,
    /// The citizens, for the fake and the keyset check.
    pub people: Vec<Citizen>,
    /// `OrganDonorRegistration` rows loaded.
    pub registrations: usize,
}

/// `citizens` citizens (every one with a registration, 1 % dead long ago) in a fresh database.
pub fn load(backend: Backend, opts: &BenchOptions, citizens: usize) -> Result<Loaded, String> {
    let db = scratch(backend, opts)?;
    migrate::run(&db.url).map_err(|e| e.to_string())?;
    let spec = Spec {
        citizens,
        history_per_mille: 111,
        unregistered_per_mille: 0,
        dead_long_ago_per_mille: 10,
        dead_recently_per_mille: 2,
        emigrated_per_mille: 5,
        inactive_per_mille: 3,
        born_from: NaiveDate::from_ymd_opt(1930, 1, 1).ok_or("date")?,
        born_to: NaiveDate::from_ymd_opt(2008, 12, 31).ok_or("date")?,
        today: Utc::now().date_naive(),
        seed: 42,
    };
    let people = population::citizens(&spec);
    let started = Instant::now();
    let bar = progress_bar(people.len() as u64, &format!("{} loading citizens", backend.name()));
    let mut conn = establish(&db.url).map_err(|e| e.to_string())?;
    population::load(&mut conn, &people, stored(Utc::now()), false, |n| bar.inc(n as u64))
        .map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    let registrations = people.iter().map(|c| usize::from(c.registrations)).sum();
    eprintln!(
        "bench: {} loaded {} citizens / {registrations} registrations in {:.1} s",
        backend.name(),
        people.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(Loaded {
        db,
        people,
        registrations,
    })
}

/// One measured pass: its figure (without targets) and its samples.
pub struct Pass {
    /// The figure.
    pub figure: Figure,
    /// Samples of the fake through the pass.
    pub series: Series,
    /// The bound, CPR/s.
    pub bound: f64,
    /// The per-route limit of requests in flight.
    pub limit: usize,
}

/// Runs the deceased job from a fresh state to the end of its pass with the default properties
/// (only the PersonInformation URL set) and measures it.
pub async fn pass(scenario: &'static str, backend: Backend, loaded: &Loaded) -> Result<Pass, String> {
    let fake = FakePersonInformation::start().await.map_err(|e| e.to_string())?;
    fake.set_people(population::statuses(&loaded.people));
    fake.set_latency(LATENCY);
    let props = format!("personinformation.url={}\n", fake.base_url());
    // Requests in flight (per-route limit, capped by the total) x CPRs per request: the bound's
    // numerator, from the configuration the service runs with.
    let settings = Settings::from_properties("bench", &props).map_err(|e| e.to_string())?;
    let pi = &settings.person_information;
    let limit = pi.max_per_route.min(pi.max_total_connections);
    let pi_batch = settings.deceased.personinformation_batch_size;
    let service = Service::start(&loaded.db, &props).await?;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3600))
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("{}/odr-operations/odr-slettejob/deceased/start", service.base);
    let cpu_before = service.cpu_now();
    let delays_before = fake.delays();
    let started = Instant::now();
    let drive = async {
        let mut slices = 0usize;
        let mut checked = 0i64;
        loop {
            let line = get_text(&client, &url).await?;
            if line.contains("Failed") {
                return Err(line);
            }
            checked += figure_before(&line, " CPR checked").ok_or_else(|| format!("unexpected answer: {line}"))?;
            slices += 1;
            if line.contains(": Finished after ") {
                return Ok((slices, checked));
            }
        }
    };
    let (driven, series) = sample_while(&fake, || fake.stats().cprs_asked, drive).await;
    let (slices, checked) = driven?;
    let wall = started.elapsed().as_secs_f64();
    let cost = service.cost_since(cpu_before);
    drop(service);
    let bound = Bound::measured((limit * pi_batch) as f64, &fake.delays(), delays_before)?;
    let asked = fake.stats().cprs_asked;
    fake.stop().await;
    let checked = u64::try_from(checked).unwrap_or(0);
    let throughput = checked as f64 / wall;
    let end_vs_start = match series.end_vs_start(asked) {
        Ok(r) => Value::Num(r, 3, ""),
        Err(why) => Value::NotMeasured(why),
    };
    let mean_in_flight = series.mean_in_flight().unwrap_or(0.0);
    let mut figure = bound
        .fields(
            Figure::new(scenario, backend.name()).with("cprs", Value::Int(checked)),
            throughput,
        )
        .with("us_per_cpr", Value::Num(wall * 1e6 / checked.max(1) as f64, 2, ""))
        .with("end_vs_start", end_vs_start)
        .with("mean_in_flight", Value::Num(mean_in_flight, 1, ""));
    figure.fields.extend(cost.fields());
    figure = figure.with("cpu_s_per_100k_cpr", cost.cpu_per(checked, 100_000.0));
    figure.note = format!(
        "{checked} CPR in {wall:.1} s, {slices} slice(s) of {} s; {} registrations; defaults: deletion batch {}, \
         PI {pi_batch}/request, {limit} in flight (at most {} seen), fake {} ms (held {:.2} ms)",
        settings.deceased.desired_duration.as_secs(),
        loaded.registrations,
        settings.deceased.batch_size,
        series.max_in_flight(),
        LATENCY.as_millis(),
        bound.fake_ms
    );
    Ok(Pass {
        figure,
        series,
        bound: bound.per_s,
        limit,
    })
}

/// The deceased scenario: a pass over 1,000,000 CPRs (100,000 with `--quick`), with the issue's
/// targets; and the keyset resume cost on the same data when `keyset`.
pub async fn deceased(backend: Backend, opts: &BenchOptions, keyset: bool) -> Result<(Vec<Figure>, Pass), String> {
    let citizens = if opts.quick { 100_000 } else { 1_000_000 };
    let loaded = load(backend, opts, citizens)?;
    let mut figures = Vec::new();
    if keyset {
        figures.push(keyset_resume(backend, &loaded.db.url, &loaded.people).await?);
    }
    let mut pass = pass("deceased-cleanup", backend, &loaded).await?;
    pass.figure = pass
        .figure
        .clone()
        .target(Target::at_least("ratio", RATIO_TARGET))
        .target(Target::at_most("end_vs_start", END_VS_START_TARGET))
        .target(Target::at_most("peak_rss_mb", RSS_TARGET_MB));
    Ok((figures, pass))
}

/// Cost of resuming the keyset walk near the end vs at the start (in this process, no service).
async fn keyset_resume(backend: Backend, url: &DbUrl, people: &[Citizen]) -> Result<Figure, String> {
    let mut cprs: Vec<&str> = people
        .iter()
        .filter(|c| c.registrations > 0)
        .map(|c| c.cpr.as_str())
        .collect();
    cprs.sort_unstable();
    let position = cprs.len().saturating_sub(1001);
    let near_end = cprs.get(position).map(|s| s.to_string()).unwrap_or_default();
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
                Ok::<f64, DbError>(times.get(times.len() / 2).copied().unwrap_or(0.0))
            })
            .await
            .map_err(|e| e.to_string())
        }
    };
    let at_start = measure(String::new()).await?;
    let at_end = measure(near_end).await?;
    let mut f = Figure::new("keyset-resume", backend.name())
        .with("start_ms", Value::Num(at_start * 1000.0, 3, ""))
        .with("end_ms", Value::Num(at_end * 1000.0, 3, ""))
        .with("end_vs_start", Value::Num(at_end / at_start, 3, ""))
        .target(Target::at_most("end_vs_start", END_VS_START_TARGET));
    f.note = format!("keyset read of 1000 CPRs at position {position} vs 0 (median of 30; in the bench process)");
    Ok(f)
}
