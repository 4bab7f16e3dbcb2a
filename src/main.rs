//! The `odr-operations` command: serve (default), migrate, demo, bench or simulate.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use odr_operations::app::Application;
use odr_operations::bench::BenchOptions;
use odr_operations::config::{self, Backend, DbUrl, Settings};
use odr_operations::demo::DemoOptions;
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
            Command::Serve | Command::Migrate => None,
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
        app.stop_on_signals()?;
        log::info!("listening on {bind} (port {})", app.port());
        app.run_until_stopped().await?;
        Ok(())
    })
}
