//! Samples a fake while a pass runs: units done (CPRs asked, letters accepted) and requests in
//! flight, every [`EVERY`]. The fakes run in this process; their core exposes the most requests in
//! flight since its last traffic reset, so a sample reads that peak, resets, and reads again: the
//! second read is the number in flight at that instant (plus any request arriving between the two
//! reads, a window of microseconds).

use std::cell::Cell;
use std::future::Future;
use std::time::{Duration, Instant};

use crate::simulator::fake::FakeCore;

/// Sampling interval.
pub const EVERY: Duration = Duration::from_millis(20);

/// One sample.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Seconds since the pass began.
    pub t: f64,
    /// Units done so far (cumulative).
    pub units: u64,
    /// Requests in flight at the sample.
    pub in_flight: usize,
    /// Most requests in flight since the previous sample.
    pub peak: usize,
}

/// The samples of one pass.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// In time order.
    pub samples: Vec<Sample>,
}

/// Runs `work` and samples `core` and `units` beside it until it ends (same task: the sampler
/// needs no locking beyond the fake's own).
pub async fn sample_while<F, W, T>(core: &FakeCore<F>, units: impl Fn() -> u64, work: W) -> (T, Series)
where
    F: Copy + Default,
    W: Future<Output = T>,
{
    let started = Instant::now();
    let done = Cell::new(false);
    let base = units();
    core.reset_traffic();
    let work = async {
        let out = work.await;
        done.set(true);
        out
    };
    let sampling = async {
        let mut series = Series::default();
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let peak = core.traffic().max_in_flight;
            core.reset_traffic();
            let in_flight = core.traffic().max_in_flight;
            series.samples.push(Sample {
                t: started.elapsed().as_secs_f64(),
                units: units().saturating_sub(base),
                in_flight,
                peak,
            });
            if done.get() {
                return series;
            }
        }
    };
    futures_util::join!(work, sampling)
}

impl Series {
    /// Time (s) at which `units` were done, interpolated between samples.
    fn time_at(&self, units: f64) -> Option<f64> {
        let mut prev: Option<&Sample> = None;
        for s in &self.samples {
            if s.units as f64 >= units {
                return Some(match prev {
                    Some(p) if s.units > p.units => {
                        p.t + (s.t - p.t) * (units - p.units as f64) / (s.units - p.units) as f64
                    }
                    _ => s.t,
                });
            }
            prev = Some(s);
        }
        None
    }

    /// Time per unit over the 85–95 % stretch of `total` units over the 5–15 % stretch: the cost at
    /// the end of the pass over the start. `None` when either stretch spans fewer than 5 samples
    /// (too short to time).
    pub fn end_vs_start(&self, total: u64) -> Result<f64, String> {
        let total = total as f64;
        let span = |a: f64, b: f64| -> Option<f64> {
            let (ta, tb) = (self.time_at(total * a)?, self.time_at(total * b)?);
            (tb - ta >= 5.0 * EVERY.as_secs_f64()).then_some(tb - ta)
        };
        match (span(0.05, 0.15), span(0.85, 0.95)) {
            (Some(start), Some(end)) => Ok(end / start),
            _ => Err("stretch shorter than 5 samples".into()),
        }
    }

    /// Mean of the in-flight samples while units were still being done (the idle tail after the
    /// last unit excluded).
    pub fn mean_in_flight(&self) -> Option<f64> {
        let last = self.samples.last()?.units;
        let busy: Vec<usize> = self
            .samples
            .iter()
            .take_while(|s| s.units < last)
            .map(|s| s.in_flight)
            .collect();
        (!busy.is_empty()).then(|| busy.iter().sum::<usize>() as f64 / busy.len() as f64)
    }

    /// Most requests in flight seen.
    pub fn max_in_flight(&self) -> usize {
        self.samples.iter().map(|s| s.peak.max(s.in_flight)).max().unwrap_or(0)
    }

    /// Units per second in bins of `bin` seconds: (bin end, rate).
    pub fn rate(&self, bin: f64) -> Vec<(f64, f64)> {
        self.bins(bin, |a, b| {
            (b.units.saturating_sub(a.units)) as f64 / (b.t - a.t).max(1e-9)
        })
    }

    /// Mean requests in flight in bins of `bin` seconds: (bin end, mean of the samples).
    pub fn in_flight(&self, bin: f64) -> Vec<(f64, f64)> {
        let mut out = Vec::new();
        let mut acc = (0usize, 0usize);
        let mut edge = bin;
        for s in &self.samples {
            if s.t > edge && acc.1 > 0 {
                out.push((edge, acc.0 as f64 / acc.1 as f64));
                acc = (0, 0);
                while s.t > edge {
                    edge += bin;
                }
            }
            acc = (acc.0 + s.in_flight, acc.1 + 1);
        }
        if acc.1 > 0 {
            out.push((edge, acc.0 as f64 / acc.1 as f64));
        }
        out
    }

    fn bins(&self, bin: f64, f: impl Fn(&Sample, &Sample) -> f64) -> Vec<(f64, f64)> {
        let mut out = Vec::new();
        let mut from: Option<&Sample> = None;
        for s in &self.samples {
            match from {
                None => from = Some(s),
                Some(a) if s.t - a.t >= bin => {
                    out.push((s.t, f(a, s)));
                    from = Some(s);
                }
                Some(_) => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(points: &[(f64, u64)]) -> Series {
        Series {
            samples: points
                .iter()
                .map(|&(t, units)| Sample {
                    t,
                    units,
                    in_flight: 20,
                    peak: 20,
                })
                .collect(),
        }
    }

    #[test]
    fn end_vs_start_compares_time_per_unit_at_the_end_with_the_start_or_says_it_cannot() {
        // 1000 units/s for the first half, 500 units/s after.
        let mut pts: Vec<(f64, u64)> = (0..=50).map(|i| (i as f64 * 0.1, i * 100)).collect();
        pts.extend((1..=100).map(|i| (5.0 + i as f64 * 0.1, 5000 + i * 50)));
        let s = series(&pts);
        let r = s.end_vs_start(10_000).unwrap();
        assert!((r - 2.0).abs() < 0.01, "{r}");
        let short = series(&[(0.0, 0), (0.02, 10_000)]);
        assert!(short.end_vs_start(10_000).is_err());
        let rate = s.rate(1.0);
        assert!(
            (rate[0].1 - 1000.0).abs() < 1.0 && (rate[rate.len() - 1].1 - 500.0).abs() < 1.0,
            "{rate:?}"
        );
    }
}
