//! SVG charts of a run (plotters, SVG backend only): one file per chart in the output directory.

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use super::cleanup::Pass;
use super::notification::Sent;
use super::pages::PagePoint;
use super::sampler::Series;

/// One line of a chart.
pub struct Line {
    /// Legend text.
    pub label: String,
    /// (x, y) in order of x.
    pub points: Vec<(f64, f64)>,
}

/// A line chart with dashed horizontal limits (bounds, targets).
pub struct Chart {
    /// File name in the output directory.
    pub file: String,
    /// Caption.
    pub title: String,
    /// X axis description.
    pub x: &'static str,
    /// Y axis description.
    pub y: &'static str,
    /// The measured lines.
    pub lines: Vec<Line>,
    /// Dashed horizontal lines: (legend text, y).
    pub limits: Vec<(String, f64)>,
    /// X values are log10 of the quantity (labels show the quantity).
    pub log_x: bool,
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

/// 1,000,000 as `1M`, 20,000 as `20k`.
fn short(v: f64) -> String {
    match v.abs() {
        a if a >= 1e6 => format!("{}M", trim(v / 1e6)),
        a if a >= 1e3 => format!("{}k", trim(v / 1e3)),
        _ => trim(v),
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map_or(s.clone(), str::to_string)
}

/// Draws `chart` into `dir`; the path written.
pub fn draw(dir: &Path, chart: &Chart) -> Result<PathBuf, String> {
    let path = dir.join(&chart.file);
    let points = chart.lines.iter().flat_map(|l| l.points.iter());
    let (mut x0, mut x1, mut y1) = (f64::MAX, f64::MIN, 0.0f64);
    for &(x, y) in points {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1) = (0.0, 1.0);
    }
    if chart.log_x {
        // Whole decades, one label each (10k, 100k, 1M, ...).
        (x0, x1) = (x0.floor(), x1.ceil().max(x0.floor() + 1.0));
    } else if x1 - x0 < 1e-9 {
        (x0, x1) = (x0 - 0.5, x1 + 0.5);
    }
    for (_, v) in &chart.limits {
        y1 = y1.max(*v);
    }
    // Headroom above the highest line or limit for the legend (upper right), so it hides nothing.
    let y1 = if y1 > 0.0 { y1 * 1.45 } else { 1.0 };
    let err = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let root = SVGBackend::new(&path, (900, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut c = ChartBuilder::on(&root)
        .caption(&chart.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(75)
        .build_cartesian_2d(x0..x1, 0.0..y1)
        .map_err(|e| err(&e))?;
    let log_label = |v: &f64| short(10f64.powf(*v));
    let lin_label = |v: &f64| short(*v);
    let x_label: &dyn Fn(&f64) -> String = if chart.log_x { &log_label } else { &lin_label };
    let x_labels = if chart.log_x { (x1 - x0) as usize + 1 } else { 10 };
    c.configure_mesh()
        .x_labels(x_labels)
        .x_desc(chart.x)
        .y_desc(chart.y)
        .x_label_formatter(x_label)
        .y_label_formatter(&lin_label)
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| err(&e))?;
    for (i, line) in chart.lines.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        c.draw_series(LineSeries::new(line.points.iter().copied(), color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(line.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        if line.points.len() <= 12 {
            // Few points (row counts, sizes): mark them.
            c.draw_series(line.points.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(|e| err(&e))?;
        }
    }
    for (i, (label, v)) in chart.limits.iter().enumerate() {
        let style = if i == 0 { BLACK } else { RGBColor(120, 120, 120) };
        c.draw_series(DashedLineSeries::new(
            vec![(x0, *v), (x1, *v)],
            8,
            5,
            style.stroke_width(2),
        ))
        .map_err(|e| err(&e))?
        .label(label.as_str())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style.stroke_width(2)));
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    // `root` still borrows `path` until the end of the function.
    Ok(dir.join(&chart.file))
}

/// Bin width (s) for a pass: about 100 points, and never under 0.25 s (12 samples; requests come
/// back in waves of 50 ms, so shorter bins alias).
fn bin_for(series: &Series) -> f64 {
    let seconds = series.samples.last().map_or(1.0, |s| s.t);
    (seconds / 100.0).clamp(0.25, 5.0)
}

/// Throughput and in-flight charts of one scenario's passes, one line per backend.
fn pass_charts(name: &str, unit: &str, passes: &[(&'static str, &Series, f64, usize)]) -> Vec<Chart> {
    let Some(&(_, _, bound, limit)) = passes.first() else {
        return Vec::new();
    };
    let throughput = Chart {
        file: format!("{name}-throughput.svg"),
        title: format!("{name}: {unit}/s through the pass"),
        x: "seconds since the first start call",
        y: "per second",
        lines: passes
            .iter()
            .map(|(backend, s, _, _)| Line {
                label: format!("{backend}, {unit}/s"),
                points: s.rate(bin_for(s)),
            })
            .collect(),
        limits: vec![(format!("bound {} {unit}/s", short(bound)), bound)],
        log_x: false,
    };
    let in_flight = Chart {
        file: format!("{name}-in-flight.svg"),
        title: format!("{name}: requests in flight at the fake (sampled every 20 ms)"),
        x: "seconds since the first start call",
        y: "requests in flight",
        lines: passes
            .iter()
            .map(|(backend, s, _, _)| Line {
                label: format!("{backend}, mean per bin"),
                points: s.in_flight(bin_for(s)),
            })
            .collect(),
        limits: vec![(format!("limit {limit} (per route)"), limit as f64)],
        log_x: false,
    };
    vec![throughput, in_flight]
}

/// Everything a run can chart.
#[derive(Default)]
pub struct Plots<'a> {
    /// Deceased passes per backend.
    pub deceased: Vec<(&'static str, &'a Pass)>,
    /// Notification runs per backend.
    pub notification: Vec<(&'static str, &'a Sent)>,
    /// Scaling passes per backend.
    pub scaling: Vec<(&'static str, &'a [Pass])>,
    /// Page p99 per backend.
    pub pages: Vec<(&'static str, &'a [PagePoint])>,
}

impl Plots<'_> {
    /// The charts, drawn into `dir` (created); the paths written.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut charts = Vec::new();
        let deceased: Vec<_> = self
            .deceased
            .iter()
            .map(|(b, p)| (*b, &p.series, p.bound, p.limit))
            .collect();
        charts.extend(pass_charts("deceased-cleanup", "CPR", &deceased));
        let letters: Vec<_> = self
            .notification
            .iter()
            .map(|(b, s)| (*b, &s.series, s.bound, s.limit))
            .collect();
        charts.extend(pass_charts("notification", "letters", &letters));
        if let Some((_, first)) = self.scaling.first() {
            let bound = first.first().map_or(0.0, |p| p.bound);
            charts.push(Chart {
                file: "scaling.svg".into(),
                title: "deceased pass: time per CPR against the population".into(),
                x: "CPRs in the pass (log scale)",
                y: "µs per CPR (wall)",
                lines: self
                    .scaling
                    .iter()
                    .map(|(backend, passes)| Line {
                        label: (*backend).to_string(),
                        points: passes
                            .iter()
                            .filter_map(|p| Some((p.figure.number("cprs")?.log10(), p.figure.number("us_per_cpr")?)))
                            .collect(),
                    })
                    .collect(),
                limits: vec![(
                    format!("bound {:.0} µs per CPR", 1e6 / bound.max(1.0)),
                    1e6 / bound.max(1.0),
                )],
                log_x: true,
            });
        }
        for (backend, points) in &self.pages {
            let mut names: Vec<&'static str> = Vec::new();
            for p in points.iter() {
                if !names.contains(&p.page) {
                    names.push(p.page);
                }
            }
            charts.push(Chart {
                file: format!("pages-p99-{backend}.svg"),
                title: format!("{backend}: page p99 against NotificationPerson rows"),
                x: "NotificationPerson rows (log scale)",
                y: "p99 latency, ms",
                lines: names
                    .iter()
                    .map(|name| Line {
                        label: (*name).to_string(),
                        points: points
                            .iter()
                            .filter(|p| p.page == *name)
                            .map(|p| ((p.rows as f64).log10(), p.p99_ms))
                            .collect(),
                    })
                    .collect(),
                limits: vec![
                    ("target status/alarm 10 ms".into(), 10.0),
                    ("target dashboard 20 ms (at 1M rows)".into(), 20.0),
                ],
                log_x: true,
            });
        }
        charts.iter().map(|c| draw(dir, c)).collect()
    }
}
