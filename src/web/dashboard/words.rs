//! The dashboard's Danish words and number formats: job descriptions, outcomes, counts with
//! thousands separators, shares, durations and instants (UTC, as `JobRun` and `JobLock` hold them).

use chrono::{DateTime, NaiveDate, Utc};

use crate::jobs::{DECEASED, EMIGRATED, NOTIFICATION};

/// What a job does, in one Danish sentence.
pub fn job_description(job: &str) -> &'static str {
    match job {
        DECEASED => {
            "Sletter alle data om borgere, der har været døde (CPR-status 90) længere end deletion.save.deceased."
        }
        EMIGRATED => "Lukker de aktive registreringer for udrejste borgere (CPR-status 80).",
        NOTIFICATION => "Sender påmindelsen ved 18 år gennem Digital Post Adapteren.",
        _ => "",
    }
}

/// A `JobRun.Outcome` in Danish (an unknown value as stored).
pub fn outcome(stored: &str) -> String {
    match stored {
        "Finished" => "Færdig".to_string(),
        "Paused" => "Pause".to_string(),
        "Failed" => "Fejlet".to_string(),
        "Skipped" => "Sprunget over".to_string(),
        "Preview" => "Prøvekørsel".to_string(),
        other => other.to_string(),
    }
}

/// The CSS class of an outcome: how alarming it looks.
pub fn outcome_class(stored: &str) -> &'static str {
    match stored {
        "Finished" | "Paused" => "ok",
        "Failed" => "bad",
        _ => "muted",
    }
}

/// A count with Danish thousands separators: `1.000.000`.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('.');
        }
        out.push(c);
    }
    out
}

/// A share as a Danish percentage with one decimal: `42,3 %`.
pub fn percent(share: f64) -> String {
    format!("{:.1} %", share * 100.0).replace('.', ",")
}

/// Seconds with one decimal, Danish style: `20,1 s`.
pub fn seconds(s: f64) -> String {
    format!("{s:.1} s").replace('.', ",")
}

/// A window length: whole minutes or hours when it is one, else seconds.
pub fn window(secs: f64) -> String {
    let whole = secs.round() as i64;
    if whole > 0 && whole % 3600 == 0 {
        format!("{} t", whole / 3600)
    } else if whole > 0 && whole % 60 == 0 {
        format!("{} min", whole / 60)
    } else {
        seconds(secs)
    }
}

/// An instant as the page shows it: `2026-11-23 08:13:23` (UTC, said once in the header).
pub fn instant(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A date: `2026-11-23`.
pub fn date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// `1 dag` / `3 dage`.
pub fn days(n: i64) -> String {
    if n == 1 || n == -1 {
        format!("{n} dag")
    } else {
        format!("{n} dage")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn danish_number_formats() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1.000");
        assert_eq!(count(1_000_000), "1.000.000");
        assert_eq!(count(-12345), "-12.345");
        assert_eq!(percent(0.4234), "42,3 %");
        assert_eq!(seconds(20.06), "20,1 s");
        assert_eq!(window(600.0), "10 min");
        assert_eq!(window(7200.0), "2 t");
        assert_eq!(window(45.0), "45,0 s");
        assert_eq!(days(1), "1 dag");
        assert_eq!(days(4), "4 dage");
    }
}
