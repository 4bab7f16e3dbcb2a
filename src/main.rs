//! The `odr-operations` command: serve (default), migrate, demo, bench or simulate.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use odr_operations::app::Application;
use odr_operations::config::{self, Settings};
use odr_operations::{db, logging};

#[derive(Parser)]
#[command(
    name = "odr-operations",
    version,
    about = "Operations service of the Danish organ-donor register (ODR)"
)]
struct Cli {
    /// Properties file (default: $ODR_OPERATIONS_CONFIG, else ./operations.properties).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Run the whole service locally: database, synthetic population, fake services.
    Demo {
        /// Directory of the SQLite database.
        #[arg(long, default_value = "demo-data")]
        dir: PathBuf,
        /// Citizens to generate.
        #[arg(long, default_value_t = 100_000)]
        citizens: usize,
        /// Recreate the database.
        #[arg(long)]
        fresh: bool,
        /// Listen address of the API.
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: String,
        /// Run on this MariaDB database instead (mysql://user@host:port/database; created if missing).
        #[arg(long)]
        mysql: Option<String>,
        /// Call every start URL until the jobs finish, then print the status and alarm pages.
        #[arg(long)]
        run_jobs: bool,
    },
    /// Run the benchmarks against the fake services and print figures.
    Bench {
        /// Smaller populations (the whole run in a few minutes).
        #[arg(long)]
        quick: bool,
        /// MariaDB server URL for the MariaDB runs (without database name).
        #[arg(long, default_value = "mysql://root@127.0.0.1:3306")]
        mysql: String,
        /// Skip MariaDB.
        #[arg(long)]
        sqlite_only: bool,
        /// Run only scenarios whose name contains this (repeatable).
        #[arg(long = "only")]
        only: Vec<String>,
    },
    /// Run the fake PersonInformation and Digital Post standalone, with an HTTP control API.
    Simulate {
        /// Citizens of the synthetic population (the demo's shape).
        #[arg(long, default_value_t = 20_000)]
        citizens: usize,
        /// Seed of the population generator.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Listen address of the control API (port 0: any free port).
        #[arg(long, default_value = "127.0.0.1:0")]
        control: String,
        /// Write KEY=value lines (control, fake URLs, today, start date) here once ready.
        #[arg(long, value_name = "FILE")]
        ready_file: Option<PathBuf>,
        /// Drop, recreate and fill this MariaDB database (mysql://user@host:port/name; the name must
        /// contain test, sim, cluster, demo or bench) with the population.
        #[arg(long, value_name = "URL")]
        seed_db: Option<String>,
        /// Notification dates, ending today, with extra recipients; the first is the start date.
        #[arg(long, default_value_t = 5)]
        recent_dates: u32,
        /// Extra recipients per birth date of each of those dates.
        #[arg(long, default_value_t = 20)]
        per_date: u32,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (path, required) = config::locate(cli.config.as_deref());
    let settings = match Settings::load(&path, required) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match logging::init(&settings.logging_config) {
        Ok(Some(warning)) => log::warn!("{warning}"),
        Ok(None) => {}
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    }
    for w in &settings.warnings {
        log::warn!("{w}");
    }
    log::info!("configuration: {}", settings.source);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Demo {
            dir,
            citizens,
            fresh,
            bind,
            mysql,
            run_jobs,
        } => {
            let opts = odr_operations::demo::DemoOptions {
                dir,
                citizens,
                fresh,
                bind,
                mysql,
                run_jobs,
            };
            actix_web::rt::System::new()
                .block_on(odr_operations::demo::run(opts))
                .map_err(anyhow::Error::msg)
        }
        Command::Bench {
            quick,
            mysql,
            sqlite_only,
            only,
        } => {
            let opts = odr_operations::bench::BenchOptions {
                quick,
                mysql: (!sqlite_only).then_some(mysql),
                only,
            };
            actix_web::rt::System::new()
                .block_on(odr_operations::bench::run(opts))
                .map(|_| ())
                .map_err(anyhow::Error::msg)
        }
        Command::Simulate {
            citizens,
            seed,
            control,
            ready_file,
            seed_db,
            recent_dates,
            per_date,
        } => {
            let opts = odr_operations::simulator::server::SimulateOptions {
                citizens,
                seed,
                control,
                ready_file,
                seed_db,
                recent_dates,
                per_date,
            };
            actix_web::rt::System::new()
                .block_on(odr_operations::simulator::server::run(opts))
                .map_err(anyhow::Error::msg)
        }
        Command::Migrate => db::migrate::run(&settings.database.url)
            .map(|applied| {
                log::info!(
                    "migrations applied: {}",
                    if applied.is_empty() {
                        "none pending".to_string()
                    } else {
                        applied.join(", ")
                    }
                );
            })
            .map_err(anyhow::Error::from),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e:#}");
            eprintln!("odr-operations: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let bind = settings.server_bind.clone();
        let app = Application::build(settings).await?;
        log::info!("listening on {bind} (port {})", app.port());
        app.run_until_stopped().await?;
        Ok(())
    })
}
