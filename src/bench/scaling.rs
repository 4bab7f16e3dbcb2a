//! Scaling: the deceased pass at growing populations; the time per CPR should be flat.

use super::cleanup::{self, Pass};
use super::report::{Target, Value};
use super::{BenchOptions, RSS_TARGET_MB};
use crate::config::Backend;

/// Time per CPR at a size over that at the smallest size: the flatness target (our reading of
/// "should be flat": within the same 10 % as end/start).
const FLAT_TARGET: f64 = cleanup::END_VS_START_TARGET;

/// The sizes of the run: 100,000, 1,000,000 and 3,000,000 CPRs (20,000 and 60,000 with `--quick`).
pub fn sizes(opts: &BenchOptions) -> Vec<usize> {
    if opts.quick {
        vec![20_000, 60_000]
    } else {
        vec![100_000, 1_000_000, 3_000_000]
    }
}

/// One pass per size. `reuse` is a pass of this backend already measured in this run (the deceased
/// scenario's): its size is not run again, the same defaults apply.
pub async fn scaling(backend: Backend, opts: &BenchOptions, reuse: Option<&Pass>) -> Result<Vec<Pass>, String> {
    let mut passes: Vec<Pass> = Vec::new();
    for n in sizes(opts) {
        let reused = reuse.filter(|p| p.figure.number("cprs").is_some_and(|c| c as usize == n));
        let mut pass = match reused {
            Some(p) => Pass {
                figure: p.figure.clone(),
                series: p.series.clone(),
                bound: p.bound,
                limit: p.limit,
            },
            None => {
                let loaded = cleanup::load(backend, opts, n)?;
                cleanup::pass("scaling", backend, &loaded).await?
            }
        };
        pass.figure.scenario = "scaling";
        pass.figure.targets.clear();
        if reused.is_some() {
            pass.figure.note = format!("the deceased-cleanup pass of this run; {}", pass.figure.note);
        }
        passes.push(pass);
    }
    let smallest = passes.first().and_then(|p| p.figure.number("us_per_cpr"));
    for p in &mut passes {
        let vs = match (p.figure.number("us_per_cpr"), smallest) {
            (Some(a), Some(b)) if b > 0.0 => Value::Num(a / b, 3, ""),
            _ => Value::NotMeasured("no smallest size".into()),
        };
        p.figure = p
            .figure
            .clone()
            .with("vs_smallest", vs)
            .target(Target::at_most("vs_smallest", FLAT_TARGET))
            .target(Target::at_most("peak_rss_mb", RSS_TARGET_MB));
    }
    Ok(passes)
}
