//! `odr-operations demo`: the whole service on one machine in one command: a SQLite (or
//! MariaDB) database with a synthetic population, the fake PersonInformation and Digital Post
//! on free ports, and the real API on `server.bind`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate};
use diesel::prelude::*;

use crate::app::Application;
use crate::clock::Clock;
use crate::config::Settings;
use crate::config::{Backend, DbUrl};
use crate::db::models::stored;
use crate::db::schema::organ_donor_registration::dsl as r;
use crate::db::{admin, establish, migrate};
use crate::jobs::notification::dates::notification_date;
use crate::simulator::digital_post::FakeDigitalPost;
use crate::simulator::person_information::FakePersonInformation;
use crate::simulator::population::{self, cpr_for, Citizen, Fate};

/// What the demo runs on.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoOptions {
    /// Directory of the SQLite database.
    #[arg(long, default_value = "demo-data")]
    pub dir: PathBuf,
    /// Citizens to generate.
    #[arg(long, default_value_t = 100_000)]
    pub citizens: usize,
    /// Recreate the database.
    #[arg(long)]
    pub fresh: bool,
    /// Listen address of the API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Run on this MariaDB database instead (mysql://user@host:port/database; created if missing;
    /// needs the `mariadb` feature).
    #[arg(long, value_name = "URL", value_parser = DbUrl::parse_arg)]
    pub mysql: Option<DbUrl>,
    /// Call every start URL until the jobs finish, then print the status and alarm pages.
    #[arg(long)]
    pub run_jobs: bool,
}

/// The demo's start URLs, status and alarm pages.
const PAGES: &[&str] = &[
    "/odr-operations/odr-slettejob/status",
    "/odr-operations/odr-slettejob/alarm",
    "/odr-operations/odr-send-digitalpost-notifikation/status",
    "/odr-operations/odr-send-digitalpost-notifikation/alarm",
];
const STARTS: &[&str] = &[
    "/odr-operations/odr-slettejob/deceased/start",
    "/odr-operations/odr-slettejob/emigrated/start",
    "/odr-operations/odr-send-digitalpost-notifikation/start",
];

/// The newest 29 February birth whose letter is due by `today`, and the demo's first
/// notification date: two days before that letter's date, so it is part of the demo.
pub fn leap_day_start(today: NaiveDate, years: u32, offset_days: u32) -> (Option<NaiveDate>, NaiveDate) {
    let mut year = today.year() - i32::try_from(years).unwrap_or(18);
    for _ in 0..8 {
        if let Some(leap) = NaiveDate::from_ymd_opt(year, 2, 29) {
            let d = notification_date(leap, years, offset_days);
            if d <= today {
                return (Some(leap), d - chrono::Duration::days(2));
            }
        }
        year -= 1;
    }
    (None, today - chrono::Duration::days(7))
}

/// Runs the demo until the server is stopped (Ctrl-C).
pub async fn run(opts: DemoOptions) -> Result<(), String> {
    let ready_clock = Instant::now();
    let url = prepare_database(&opts)?;
    let defaults = Settings::defaults();
    let today = Clock::new(defaults.timezone).today();
    let notification = &defaults.notification;
    let (leap_birth, start) = leap_day_start(today, notification.legal_age_years, notification.offset_days);
    let mut people = population::citizens(&population::demo_spec(opts.citizens, today));
    if let Some(birth) = leap_birth.filter(|b| !people.iter().any(|c| c.birth == *b)) {
        people.push(Citizen {
            cpr: cpr_for(birth, 999),
            birth,
            fate: Fate::Alive,
            status_date: None,
            registrations: 1,
        });
    }
    load_population(&url, &people)?;

    let pi = FakePersonInformation::start()
        .await
        .map_err(|e| format!("fake PersonInformation: {e}"))?;
    pi.set_people(population::statuses(&people));
    pi.set_latency(Duration::from_millis(5));
    let dp = FakeDigitalPost::start()
        .await
        .map_err(|e| format!("fake Digital Post: {e}"))?;
    dp.set_latency(Duration::from_millis(5));
    let props = format!(
        "server.bind={}\ndatasource.odr.url={}\npersoninformation.url={}\ndigitalpost.service.url={}\n\
         digitalpost.notification.odr.startdate={start}\ndeletion.desired.execution.duration.deceased=PT5S\n\
         deletion.desired.execution.duration.emigrated=PT5S\ndigitalpost.notification.odr.send.desired.execution.duration=PT5S\n",
        opts.bind,
        url.expose(),
        pi.base_url(),
        dp.url()
    );
    let settings = Settings::from_properties("demo", &props).map_err(|e| e.to_string())?;
    let app = Application::build(settings).await.map_err(|e| e.to_string())?;
    let host = opts
        .bind
        .rsplit_once(':')
        .map_or("127.0.0.1", |(h, _)| h)
        .replace("0.0.0.0", "127.0.0.1");
    let base = format!("http://{host}:{}", app.port());
    println!(
        "\nodr-operations demo is ready in {:.1} s: {} citizens, fake PersonInformation at {}, fake Digital Post at {}",
        ready_clock.elapsed().as_secs_f64(),
        people.len(),
        pi.base_url(),
        dp.url()
    );
    println!("Notification dates from {start} (a 29 February birth is among them) to {today}.\nTry:");
    for path in STARTS.iter().chain(PAGES) {
        println!("  curl -s {base}{path}");
    }
    println!("Stop with Ctrl-C.\n");
    let handle = app.handle();
    app.stop_on_signals().map_err(|e| e.to_string())?;
    let server = actix_web::rt::spawn(app.run_until_stopped());
    if opts.run_jobs {
        if let Err(e) = run_jobs(&base).await {
            eprintln!("demo: {e}");
            handle.stop(true).await;
        }
    }
    let result = server.await.map_err(|e| e.to_string())?.map_err(|e| e.to_string());
    pi.stop().await;
    dp.stop().await;
    result
}

fn prepare_database(opts: &DemoOptions) -> Result<DbUrl, String> {
    let url = match &opts.mysql {
        Some(url) => {
            if opts.fresh {
                admin::drop_database(url).map_err(|e| e.to_string())?;
            }
            admin::create_database(url).map_err(|e| e.to_string())?;
            url.clone()
        }
        None => {
            std::fs::create_dir_all(&opts.dir).map_err(|e| format!("{}: {e}", opts.dir.display()))?;
            let file = opts.dir.join("odr.db");
            if opts.fresh {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
                }
            }
            DbUrl {
                backend: Backend::Sqlite,
                target: file.display().to_string(),
            }
        }
    };
    migrate::run(&url).map_err(|e| e.to_string())?;
    Ok(url)
}

/// Loads the population unless the database already holds one (a second run reuses it).
fn load_population(url: &DbUrl, people: &[Citizen]) -> Result<(), String> {
    let mut conn = establish(url).map_err(|e| e.to_string())?;
    let existing: i64 = r::organ_donor_registration
        .count()
        .get_result(&mut conn)
        .map_err(|e| e.to_string())?;
    if existing > 0 {
        println!("Reusing the database at {url} ({existing} registrations); --fresh recreates it.");
        return Ok(());
    }
    let bar = indicatif::ProgressBar::new(people.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("generating citizens {bar:40} {pos}/{len} ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let now = stored(chrono::Utc::now());
    population::load(&mut conn, people, now, true, |n| bar.inc(n as u64)).map_err(|e| e.to_string())?;
    bar.finish();
    Ok(())
}

/// Calls every start URL until its job finishes, then prints the status and alarm pages.
async fn run_jobs(base: &str) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .map_err(|e| e.to_string())?;
    for path in STARTS {
        for _ in 0..1000 {
            let line = client
                .get(format!("{base}{path}"))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .text()
                .await
                .map_err(|e| e.to_string())?;
            print!("{line}");
            if line.contains(": Finished after ") || line.contains("Failed") || !line.contains(": ") {
                break;
            }
        }
    }
    for path in PAGES {
        let res = client
            .get(format!("{base}{path}"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let code = res.status().as_u16();
        let body = res.text().await.map_err(|e| e.to_string())?;
        println!("\nGET {path} -> {code}\n{body}");
    }
    Ok(())
}
