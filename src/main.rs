//! The `odr-operations` command: serve (default), migrate, demo, bench or simulate.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use odr_operations::app::Application;
use odr_operations::bench::BenchOptions;
use odr_operations::config::{self, Backend, DbUrl, Settings};
use odr_operations::demo::DemoOptions;
use odr_operations::engine::{EngineCtx, StopSignal};
use odr_operations::jobs::cleanup::{preview, Deceased, Emigrated};
use odr_operations::simulator::scratch::mysql_server_url;
use odr_operations::simulator::server::SimulateOptions;
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
    Demo(DemoOptions),
    /// Run the benchmarks against the fake services and print figures.
    Bench(BenchOptions),
    /// Run the fake PersonInformation and Digital Post standalone, with an HTTP control API.
    Simulate(SimulateOptions),
    /// Dry-run a cleanup pass: what it would remove or close, without doing it (JSON on stdout).
    Preview(PreviewOptions),
}

/// What `preview` walks.
#[derive(clap::Args)]
struct PreviewOptions {
    /// The cleanup job to preview.
    #[arg(value_enum)]
    job: PreviewJob,
    /// Stop after this many CPR numbers.
    #[arg(long)]
    limit: Option<u64>,
}

/// A cleanup job.
#[derive(Clone, Copy, clap::ValueEnum)]
enum PreviewJob {
    /// OrganDonorDeceasedCleanup.
    Deceased,
    /// OrganDonorEmigratedCleanup.
    Emigrated,
}

impl Command {
    /// A MariaDB URL given to a subcommand of a build without MariaDB support: the one line to print.
    fn unsupported_url(&mut self) -> Option<String> {
        let url = match self {
            Command::Demo(o) => o.mysql.as_ref(),
            Command::Simulate(o) => o.seed_db.as_ref(),
            Command::Bench(o) if o.sqlite_only => None,
            Command::Bench(o) => {
                if o.mysql.is_none() {
                    // Default: MariaDB too when this build has it, else SQLite only, and say so.
                    if Backend::Mysql.is_compiled() {
                        o.mysql = DbUrl::parse(&mysql_server_url()).ok();
                    } else {
                        eprintln!("bench: SQLite only: {}", config::db_url::NO_MARIADB);
                    }
                }
                o.mysql.as_ref()
            }
            Command::Serve | Command::Migrate | Command::Preview(_) => None,
        }?;
        url.require_compiled().err().map(|e| format!("odr-operations: {e}"))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut command = cli.command.unwrap_or(Command::Serve);
    if let Some(line) = command.unsupported_url() {
        eprintln!("{line}");
        return ExitCode::from(2);
    }
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
    let runtime = || actix_web::rt::System::new();
    let result = match command {
        Command::Serve => serve(settings),
        Command::Demo(opts) => runtime()
            .block_on(odr_operations::demo::run(opts))
            .map_err(anyhow::Error::msg),
        Command::Bench(opts) => runtime()
            .block_on(odr_operations::bench::run(opts))
            .map(|_| ())
            .map_err(anyhow::Error::msg),
        Command::Simulate(opts) => runtime()
            .block_on(odr_operations::simulator::server::run(opts))
            .map_err(anyhow::Error::msg),
        Command::Preview(opts) => return runtime().block_on(preview(settings, opts)),
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

/// Runs the preview on the configured database and PersonInformation; prints the report.
async fn preview(settings: Settings, opts: PreviewOptions) -> ExitCode {
    let options = odr_operations::app::AppOptions::new(&settings);
    let deps = match odr_operations::app::job_deps(settings, options.clock) {
        Ok(deps) => deps,
        Err(e) => {
            eprintln!("odr-operations: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ctx = EngineCtx {
        db: deps.db.odr.clone(),
        node: options.node,
        clock: deps.clock.clone(),
        observer: deps.metrics.clone(),
        shutdown: StopSignal::new(),
        lease_margin: options.lease_margin,
    };
    let report = match opts.job {
        PreviewJob::Deceased => preview::run::<Deceased>(&deps, &ctx, opts.limit).await,
        PreviewJob::Emigrated => preview::run::<Emigrated>(&deps, &ctx, opts.limit).await,
    };
    match serde_json::to_string_pretty(&report) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("odr-operations: {e}"),
    }
    if report.error.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let bind = settings.server_bind.clone();
        let app = Application::build(settings).await?;
        app.stop_on_signals()?;
        log::info!("listening on {bind} (port {})", app.port());
        app.run_until_stopped().await?;
        Ok(())
    })
}
