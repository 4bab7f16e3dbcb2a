//! `odr-operations bench`: the scenarios of the issues, on SQLite and MariaDB, each measured
//! against its physical bound in the same run. The service under test runs as a child process
//! (`serve`) so its peak RSS is its own; the fakes run in this process.

mod cleanup;
mod engine;
mod harness;
mod notification;
mod pages;

use crate::config::Backend;
use crate::simulator::scratch::ScratchDb;

/// What to run.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchOptions {
    /// Smaller populations (the whole run in a few minutes).
    #[arg(long)]
    pub quick: bool,
    /// MariaDB server URL for the MariaDB runs, without database name (default with the
    /// `mariadb` feature: mysql://root@127.0.0.1:3306).
    #[arg(long, value_name = "URL", value_parser = crate::config::DbUrl::parse_arg)]
    pub mysql: Option<crate::config::DbUrl>,
    /// Skip MariaDB.
    #[arg(long)]
    pub sqlite_only: bool,
    /// Run only scenarios whose name contains this (repeatable).
    #[arg(long = "only")]
    pub only: Vec<String>,
}

/// One measured scenario on one backend.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Scenario name.
    pub scenario: &'static str,
    /// Backend name.
    pub backend: &'static str,
    /// Units per second achieved.
    pub throughput: f64,
    /// Units per second the configuration allows at best.
    pub bound: f64,
    /// Time per batch at the end of the pass over the start.
    pub end_vs_start: f64,
    /// Peak RSS of the service process, MB.
    pub peak_rss_mb: f64,
    /// Free-form detail for the human table.
    pub note: String,
}

impl Figure {
    /// The machine-readable line.
    pub fn line(&self) -> String {
        format!(
            "bench scenario={} backend={} throughput={:.1}/s bound={:.1}/s ratio={:.3} end_vs_start={:.3} peak_rss_mb={:.1}",
            self.scenario,
            self.backend,
            self.throughput,
            self.bound,
            if self.bound > 0.0 { self.throughput / self.bound } else { 0.0 },
            self.end_vs_start,
            self.peak_rss_mb
        )
    }
}

/// A scratch database for one scenario on `backend`.
pub(crate) fn scratch(backend: Backend, opts: &BenchOptions) -> Result<ScratchDb, String> {
    let server = opts
        .mysql
        .as_ref()
        .map(crate::config::DbUrl::expose)
        .unwrap_or_default();
    ScratchDb::create(backend, "bench", &server).map_err(|e| e.to_string())
}

/// Runs the selected scenarios and prints the table and the machine-readable lines.
pub async fn run(opts: BenchOptions) -> Result<Vec<Figure>, String> {
    let mut backends = vec![Backend::Sqlite];
    if opts.mysql.is_some() && !opts.sqlite_only {
        backends.push(Backend::Mysql);
    }
    let wanted = |name: &str| opts.only.is_empty() || opts.only.iter().any(|o| name.contains(o.as_str()));
    let mut figures = Vec::new();
    for backend in backends {
        if wanted("engine-overhead") {
            figures.push(engine::engine_overhead(backend, &opts).await?);
            eprintln!("{}", figures[figures.len() - 1].line());
        }
        if wanted("deceased") || wanted("keyset-resume") {
            for f in cleanup::deceased(backend, &opts, wanted("keyset-resume")).await? {
                eprintln!("{}", f.line());
                figures.push(f);
            }
        }
        if wanted("notification") {
            figures.push(notification::notification(backend, &opts).await?);
            eprintln!("{}", figures[figures.len() - 1].line());
        }
        if wanted("pages") {
            figures.extend(pages::pages(backend, &opts).await?);
        }
    }
    print_table(&figures);
    Ok(figures)
}

fn print_table(figures: &[Figure]) {
    println!();
    println!("| scenario | backend | throughput | bound | ratio | end/start | peak RSS | note |");
    println!("|---|---|---|---|---|---|---|---|");
    for f in figures {
        println!(
            "| {} | {} | {:.1}/s | {:.1}/s | {:.3} | {:.3} | {:.1} MB | {} |",
            f.scenario,
            f.backend,
            f.throughput,
            f.bound,
            if f.bound > 0.0 { f.throughput / f.bound } else { 0.0 },
            f.end_vs_start,
            f.peak_rss_mb,
            f.note
        );
    }
    println!();
    for f in figures {
        println!("{}", f.line());
    }
}
