//! What a scenario measured and how it is printed: the fields of one machine line in order, the
//! targets checked against them, and the human tables.

use std::fmt::Write as _;

/// One value of a machine line. `NotMeasured` prints `n/a` (with its reason in the table), never
/// a stand-in number.
#[derive(Debug, Clone)]
pub enum Value {
    /// A measured number, printed with this many decimals and this suffix (e.g. `/s`).
    Num(f64, usize, &'static str),
    /// A count.
    Int(u64),
    /// A name (no blanks).
    Text(String),
    /// Not measured in this run, and why (e.g. `404`, `too few samples`).
    NotMeasured(String),
}

impl Value {
    /// The number, if measured.
    pub fn number(&self) -> Option<f64> {
        match self {
            Value::Num(v, _, _) => Some(*v),
            Value::Int(n) => Some(*n as f64),
            Value::Text(_) | Value::NotMeasured(_) => None,
        }
    }

    /// As in a machine line: `12.3/s`, `42`, `n/a`.
    fn machine(&self) -> String {
        match self {
            Value::Num(v, d, suffix) => format!("{v:.*}{suffix}", d),
            Value::Int(n) => n.to_string(),
            Value::Text(t) => t.clone(),
            Value::NotMeasured(_) => "n/a".to_string(),
        }
    }

    /// As in the human table: the machine form, with the reason of an `n/a`.
    pub fn human(&self) -> String {
        match self {
            Value::NotMeasured(why) => format!("n/a ({why})"),
            other => other.machine(),
        }
    }
}

/// Which way a target points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// The figure must be at least the limit.
    AtLeast,
    /// The figure must be at most the limit.
    AtMost,
}

/// One target of the issue: `field >= limit` or `field <= limit`.
#[derive(Debug, Clone)]
pub struct Target {
    /// The machine-line field it applies to.
    pub field: &'static str,
    /// Direction.
    pub op: Op,
    /// The limit.
    pub limit: f64,
}

impl Target {
    /// `field >= limit`.
    pub fn at_least(field: &'static str, limit: f64) -> Target {
        Target {
            field,
            op: Op::AtLeast,
            limit,
        }
    }

    /// `field <= limit`.
    pub fn at_most(field: &'static str, limit: f64) -> Target {
        Target {
            field,
            op: Op::AtMost,
            limit,
        }
    }

    fn text(&self) -> String {
        let op = match self.op {
            Op::AtLeast => ">=",
            Op::AtMost => "<=",
        };
        format!("{}{op}{}", self.field, self.limit)
    }
}

/// Whether the targets of a figure are met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Met {
    /// Every target measured and met.
    Yes,
    /// At least one measured target missed.
    No,
    /// None missed, but at least one could not be measured.
    NotMeasured,
}

impl Met {
    /// `yes`, `no`, `n/a`.
    pub fn text(self) -> &'static str {
        match self {
            Met::Yes => "yes",
            Met::No => "no",
            Met::NotMeasured => "n/a",
        }
    }
}

/// One measured scenario (or one page, or one size of a scaling run) on one backend.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Scenario name (`deceased-cleanup`, `pages`, ...).
    pub scenario: &'static str,
    /// Backend name.
    pub backend: &'static str,
    /// The machine-line fields after scenario and backend, in order.
    pub fields: Vec<(&'static str, Value)>,
    /// The issue's targets for this figure.
    pub targets: Vec<Target>,
    /// Free-form detail for the human table.
    pub note: String,
}

impl Figure {
    /// An empty figure to add fields to.
    pub fn new(scenario: &'static str, backend: &'static str) -> Figure {
        Figure {
            scenario,
            backend,
            fields: Vec::new(),
            targets: Vec::new(),
            note: String::new(),
        }
    }

    /// Appends a field.
    pub fn with(mut self, key: &'static str, value: Value) -> Figure {
        self.fields.push((key, value));
        self
    }

    /// Appends a target.
    pub fn target(mut self, t: Target) -> Figure {
        self.targets.push(t);
        self
    }

    /// The value of a field.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The measured number of a field.
    pub fn number(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Value::number)
    }

    /// Targets missed (measured and outside the limit).
    pub fn missed(&self) -> Vec<&'static str> {
        self.targets
            .iter()
            .filter(|t| match (self.number(t.field), t.op) {
                (Some(v), Op::AtLeast) => v < t.limit,
                (Some(v), Op::AtMost) => v > t.limit,
                (None, _) => false,
            })
            .map(|t| t.field)
            .collect()
    }

    /// Whether the targets are met.
    pub fn met(&self) -> Met {
        if !self.missed().is_empty() {
            Met::No
        } else if self.targets.iter().any(|t| self.number(t.field).is_none()) {
            Met::NotMeasured
        } else {
            Met::Yes
        }
    }

    /// The machine-readable line: `bench scenario=.. backend=.. <fields> target=.. met=yes|no|n/a`
    /// (`target=none met=n/a` when the issue sets none; `missed=..` names the targets missed).
    pub fn line(&self) -> String {
        let mut s = format!("bench scenario={} backend={}", self.scenario, self.backend);
        for (k, v) in &self.fields {
            let _ = write!(s, " {k}={}", v.machine());
        }
        if self.targets.is_empty() {
            // The issue sets no target for this figure: say so rather than invent one.
            s.push_str(" target=none met=n/a");
            return s;
        }
        let targets: Vec<String> = self.targets.iter().map(Target::text).collect();
        let _ = write!(s, " target={} met={}", targets.join(","), self.met().text());
        let missed = self.missed();
        if !missed.is_empty() {
            let _ = write!(s, " missed={}", missed.join(","));
        }
        s
    }
}

/// The figures as Markdown tables, one per scenario (each has its own columns), then the lines.
pub fn print(figures: &[Figure]) {
    println!("{}", tables(figures));
    for f in figures {
        println!("{}", f.line());
    }
}

/// Markdown tables, one per scenario in order of first appearance.
pub fn tables(figures: &[Figure]) -> String {
    let mut out = String::new();
    let mut scenarios: Vec<&'static str> = Vec::new();
    for f in figures {
        if !scenarios.contains(&f.scenario) {
            scenarios.push(f.scenario);
        }
    }
    for scenario in scenarios {
        let rows: Vec<&Figure> = figures.iter().filter(|f| f.scenario == scenario).collect();
        let mut keys: Vec<&'static str> = Vec::new();
        for f in &rows {
            for (k, _) in &f.fields {
                if !keys.contains(k) {
                    keys.push(k);
                }
            }
        }
        let _ = writeln!(out, "\n### {scenario}\n");
        let _ = writeln!(out, "| backend | {} | target | met | note |", keys.join(" | "));
        let _ = writeln!(out, "|---|{}---|---|---|", "---|".repeat(keys.len()));
        for f in rows {
            let cells: Vec<String> = keys
                .iter()
                .map(|k| f.get(k).map_or_else(String::new, Value::human))
                .collect();
            let targets: Vec<String> = f.targets.iter().map(Target::text).collect();
            let met = if f.targets.is_empty() { "" } else { f.met().text() };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                f.backend,
                cells.join(" | "),
                targets.join(", ").replace("<=", "≤").replace(">=", "≥"),
                met,
                f.note
            );
        }
    }
    out
}

/// The whole report as Markdown: how it was made, the tables, the charts, the machine lines.
pub fn document(figures: &[Figure], charts: &[std::path::PathBuf]) -> String {
    let args: Vec<String> = std::env::args().collect();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    let mut out = format!(
        "# bench report\n\nCommand: `{}`; ended {} (UTC); {cores} cores; {}; load average at the end {}.\n",
        args.join(" "),
        chrono::Utc::now().format("%Y-%m-%d %H:%M"),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| c
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string()))
            .unwrap_or_else(|| "CPU unknown".into()),
        load.join(" ")
    );
    out.push_str(&tables(figures));
    out.push_str("\n## Charts\n\n");
    for c in charts {
        if let Some(name) = c.file_name().and_then(|n| n.to_str()) {
            let _ = writeln!(out, "![{name}]({name})");
        }
    }
    out.push_str("\n## Machine lines\n\n```\n");
    for f in figures {
        let _ = writeln!(out, "{}", f.line());
    }
    out.push_str("```\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_names_its_targets_and_says_which_were_missed_and_never_fakes_a_figure() {
        let f = Figure::new("deceased-cleanup", "sqlite")
            .with("ratio", Value::Num(0.5, 3, ""))
            .with("end_vs_start", Value::NotMeasured("too few samples".into()))
            .with("peak_rss_mb", Value::Num(20.0, 1, ""))
            .target(Target::at_least("ratio", 0.95))
            .target(Target::at_most("end_vs_start", 1.1))
            .target(Target::at_most("peak_rss_mb", 64.0));
        assert_eq!(
            f.line(),
            "bench scenario=deceased-cleanup backend=sqlite ratio=0.500 end_vs_start=n/a peak_rss_mb=20.0 \
             target=ratio>=0.95,end_vs_start<=1.1,peak_rss_mb<=64 met=no missed=ratio"
        );
        let ok = Figure::new("pages", "mysql")
            .with("p99_ms", Value::NotMeasured("404".into()))
            .target(Target::at_most("p99_ms", 20.0));
        assert_eq!(ok.met(), Met::NotMeasured);
        assert!(tables(&[ok]).contains("| mysql | n/a (404) | p99_ms≤20 | n/a |"));
    }
}
