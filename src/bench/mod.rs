//! `odr-operations bench`: the scenarios of the issues, on SQLite and MariaDB, each measured
//! against a bound computed from its configuration or measured in the same run, with the issue's
//! targets. The service under test runs as a child process (`serve`) with the default properties
//! so its peak RSS and CPU time are its own; the fakes run in this process. A missed target is a
//! figure (`met=no`), not an error: the exit code is non-zero only when a scenario fails to run.

mod cleanup;
mod engine;
mod harness;
mod letters;
mod notification;
mod pages;
mod plots;
mod report;
mod sampler;
mod scaling;

use std::path::PathBuf;

pub use report::{Figure, Met, Value};

use crate::config::Backend;
use crate::simulator::scratch::ScratchDb;

/// The ceiling on the service's peak RSS, in every scenario that runs it.
pub(crate) const RSS_TARGET_MB: f64 = 64.0;

/// What to run.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchOptions {
    /// Smaller populations (the whole run in a few minutes; what CI runs).
    #[arg(long)]
    pub quick: bool,
    /// MariaDB server URL for the MariaDB runs, without database name (default with the
    /// `mariadb` feature: mysql://root@127.0.0.1:3306).
    #[arg(long, value_name = "URL", value_parser = crate::config::DbUrl::parse_arg)]
    pub mysql: Option<crate::config::DbUrl>,
    /// Skip MariaDB.
    #[arg(long)]
    pub sqlite_only: bool,
    /// Run only scenarios whose name contains this (repeatable): engine-overhead,
    /// deceased-cleanup, keyset-resume, scaling, notification, pages.
    #[arg(long = "only")]
    pub only: Vec<String>,
    /// NotificationPerson rows at the last step of the pages scenario (default 10,000,000 on
    /// MariaDB, 1,000,000 on SQLite; 100,000 with --quick). Steps: powers of ten below it.
    #[arg(long, value_name = "N")]
    pub rows: Option<u64>,
    /// Directory for the charts (SVG) and the report (bench.md).
    #[arg(long, value_name = "DIR", default_value = "target/bench")]
    pub out: PathBuf,
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

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub(crate) fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!("{what} {{bar:40}} {{pos}}/{{len}} ({{per_sec}}, {{eta}})"))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// The 1-minute load average when a scenario ends: the machine is shared, and tail latencies
/// and ratios move with it.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// The result of a scenario, or `None` after noting its error (printed at once).
fn failed<T>(result: Result<T, String>, scenario: &str, backend: &str, errors: &mut Vec<String>) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            let e = format!("{scenario} on {backend} failed: {e}");
            eprintln!("bench: {e}");
            errors.push(e);
            None
        }
    }
}

/// Runs the selected scenarios, prints the tables and the machine lines, and writes the charts
/// and `bench.md` into `--out`.
pub async fn run(opts: BenchOptions) -> Result<Vec<Figure>, String> {
    let mut backends = vec![Backend::Sqlite];
    if opts.mysql.is_some() && !opts.sqlite_only {
        backends.push(Backend::Mysql);
    }
    let wanted = |name: &str| opts.only.is_empty() || opts.only.iter().any(|o| name.contains(o.as_str()));
    let mut figures = Vec::new();
    let keep = |mut f: Figure, figures: &mut Vec<Figure>| {
        f.note = format!("{}; load average {}", f.note, load_average());
        eprintln!("{}", f.line());
        figures.push(f);
    };
    let (mut deceased, mut sent, mut scaled, mut paged) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // A scenario that fails to run does not lose the others' figures: they are printed and
    // charted, and the run then ends with the errors (non-zero exit).
    let mut errors: Vec<String> = Vec::new();
    for backend in backends {
        let name = backend.name();
        if wanted("engine-overhead") {
            if let Some(f) = failed(
                engine::engine_overhead(backend, &opts).await,
                "engine-overhead",
                name,
                &mut errors,
            ) {
                keep(f, &mut figures);
            }
        }
        let mut pass = None;
        if wanted("deceased-cleanup") || wanted("keyset-resume") {
            let run = cleanup::deceased(backend, &opts, wanted("keyset-resume")).await;
            if let Some((keyset, p)) = failed(run, "deceased-cleanup", name, &mut errors) {
                for f in keyset {
                    keep(f, &mut figures);
                }
                keep(p.figure.clone(), &mut figures);
                pass = Some(p);
            }
        }
        if wanted("scaling") {
            let run = scaling::scaling(backend, &opts, pass.as_ref()).await;
            if let Some(passes) = failed(run, "scaling", name, &mut errors) {
                for p in &passes {
                    keep(p.figure.clone(), &mut figures);
                }
                scaled.push((name, passes));
            }
        }
        if let Some(p) = pass {
            deceased.push((name, p));
        }
        if wanted("notification") {
            if let Some(s) = failed(
                notification::notification(backend, &opts).await,
                "notification",
                name,
                &mut errors,
            ) {
                keep(s.figure.clone(), &mut figures);
                sent.push((name, s));
            }
        }
        if wanted("pages") {
            if let Some((f, points)) = failed(pages::pages(backend, &opts).await, "pages", name, &mut errors) {
                for f in f {
                    keep(f, &mut figures);
                }
                paged.push((name, points));
            }
        }
    }
    report::print(&figures);
    let plots = plots::Plots {
        deceased: deceased.iter().map(|(b, p)| (*b, p)).collect(),
        notification: sent.iter().map(|(b, s)| (*b, s)).collect(),
        scaling: scaled.iter().map(|(b, p)| (*b, p.as_slice())).collect(),
        pages: paged.iter().map(|(b, p)| (*b, p.as_slice())).collect(),
    };
    let written = plots.write(&opts.out)?;
    let report_path = opts.out.join("bench.md");
    std::fs::write(&report_path, report::document(&figures, &written))
        .map_err(|e| format!("{}: {e}", report_path.display()))?;
    eprintln!(
        "bench: wrote {} and {} charts in {}",
        report_path.display(),
        written.len(),
        opts.out.display()
    );
    if errors.is_empty() {
        Ok(figures)
    } else {
        Err(errors.join("; "))
    }
}
