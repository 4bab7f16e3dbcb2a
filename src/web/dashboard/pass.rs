//! Where a cleanup pass stands: its resume point (`JobState.ResumeCursor`, a CPR number) as a
//! share of the walked CPR range, whose bounds are index probes (MIN and MAX of `Cpr`). The CPR
//! numbers stay in here: what leaves is a number between 0 and 1.

use chrono::NaiveDateTime;

use crate::db::models::job_state;
use crate::db::models::registration::{self, CprBounds};
use crate::db::{DbConn, DbError};
use crate::jobs::{DECEASED, EMIGRATED};

/// (job, share of its range walked or `None` at the start of a pass, `PassStartedAt`) of both cleanups.
pub type Shares = Vec<(&'static str, Option<f64>, Option<NaiveDateTime>)>;

/// The current pass of each cleanup job (two statements: the four range bounds, the two resume points).
pub fn shares(conn: &mut DbConn) -> Result<Shares, DbError> {
    let CprBounds { registrations, letters } = registration::cpr_bounds(conn)?;
    // The deceased cleanup walks the CPRs of both tables; the emigrated one those with an active
    // registration, approximated by all registrations (an exact bound would scan closed rows).
    let both = (
        min_of(registrations.0.clone(), letters.0),
        registrations.1.clone().max(letters.1),
    );
    let states = job_state::load_many(conn, &[DECEASED, EMIGRATED])?;
    let mut out = Vec::new();
    for (job, (low, high)) in [(DECEASED, both), (EMIGRATED, registrations)] {
        let resume = states.iter().find(|(j, _)| j == job).map(|(_, s)| s);
        let share = resume
            .and_then(|s| s.resume_cursor.as_deref())
            .and_then(|cursor| share(cursor, low.as_deref(), high.as_deref()));
        out.push((job, share, resume.and_then(|s| s.pass_started_at)));
    }
    Ok(out)
}

fn min_of(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// A stored CPR value as a number for interpolation, in CPR order. The digits are read as
/// day (01-31), month (01-12), year and serial in a mixed radix, so the gaps of the plain number
/// (no day 32-99, no month 13-99) do not count: births fall evenly over the calendar, so the
/// share of the range is close to the share of citizens walked. A short value counts as padded
/// with zeros; a day or month out of range sorts before or after every valid one, as in CPR order.
fn position(value: &str) -> Option<f64> {
    const SERIALS: u64 = 1_000_000;
    let digits: Vec<u32> = value.chars().take(10).map_while(|c| c.to_digit(10)).collect();
    if digits.is_empty() {
        return None;
    }
    let d = |i: usize| digits.get(i).copied().unwrap_or(0);
    let (day, month) = (d(0) * 10 + d(1), d(2) * 10 + d(3));
    let rest = (4..10).fold(0u64, |n, i| n * 10 + u64::from(d(i)));
    let (day, month, rest) = match (day, month) {
        (0, _) => (0, 0, 0),
        (32.., _) => (31, 0, 0),
        (_, 0) => (day - 1, 0, 0),
        (_, 13..) => (day - 1, 11, SERIALS - 1),
        _ => (day - 1, month - 1, rest),
    };
    Some(((u64::from(day) * 12 + u64::from(month)) * SERIALS + rest) as f64)
}

/// Where `cursor` stands between `low` and `high`, as a share in 0.0 ..= 1.0.
pub fn share(cursor: &str, low: Option<&str>, high: Option<&str>) -> Option<f64> {
    let (c, lo, hi) = (position(cursor)?, position(low?)?, position(high?)?);
    if hi <= lo {
        return Some(if c >= hi { 1.0 } else { 0.0 });
    }
    Some(((c - lo) / (hi - lo)).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_follows_cpr_order_and_stays_in_bounds() {
        let (lo, hi) = (Some("0101000000"), Some("3112999999"));
        assert_eq!(share("0101000000", lo, hi), Some(0.0));
        assert_eq!(share("3112999999", lo, hi), Some(1.0));
        // Mid-month, mid-year of the calendar: about half of the citizens.
        let mid = share("1607000000", lo, hi).unwrap();
        assert!((0.49..0.51).contains(&mid), "{mid}");
        // The end of 1 January is not 1/30 of the way, but 1/372 (31 days x 12 months).
        let first_day = share("0101999999", lo, hi).unwrap();
        assert!((0.002..0.003).contains(&first_day), "{first_day}");
        assert_eq!(share("0000000001", lo, hi), Some(0.0));
        assert_eq!(share("0101000000", lo, lo), Some(1.0));
        assert_eq!(share("abc", lo, hi), None);
        assert_eq!(share("0101000000", None, hi), None);
        assert!(share("31", lo, hi).unwrap() > 0.96, "a short value counts as padded");
        let mut last = 0.0;
        for cpr in ["0101001234", "0102001234", "0201001234", "1512851234", "3012991234"] {
            let s = share(cpr, lo, hi).unwrap();
            assert!(s > last, "{cpr}: in CPR order");
            last = s;
        }
    }
}
