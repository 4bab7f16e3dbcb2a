//! The `Cpr` newtype: ten digits that never show in `Debug`, `Display` or logs; and the masking of
//! CPR-like digit runs in free text from outside.

use std::fmt;

/// A Danish CPR number. Its digits leave the type only through [`Cpr::expose`].
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cpr(String);

/// A string that is not a CPR number (the text never repeats the input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a CPR number is exactly 10 digits")]
pub struct InvalidCpr;

impl Cpr {
    /// Parses ten ASCII digits (no modulus-11 check: not required since 2007).
    pub fn parse(raw: &str) -> Result<Cpr, InvalidCpr> {
        if raw.len() == 10 && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Cpr(raw.to_string()))
        } else {
            Err(InvalidCpr)
        }
    }

    /// The digits, for wire formats, SQL binds and the audit log only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Birth date from the digits and the century rule of the 7th digit, when the date is valid.
    pub fn birth_date(&self) -> Option<chrono::NaiveDate> {
        let d = |i: usize| u32::from(self.0.as_bytes()[i] - b'0');
        let day = d(0) * 10 + d(1);
        let month = d(2) * 10 + d(3);
        let yy = (d(4) * 10 + d(5)) as i32;
        let century = match (d(6), yy) {
            (0..=3, _) => 1900,
            (4 | 9, 0..=36) => 2000,
            (4 | 9, _) => 1900,
            (5..=8, 0..=57) => 2000,
            (5..=8, _) => 1800,
            _ => return None,
        };
        chrono::NaiveDate::from_ymd_opt(century + yy, month, day)
    }
}

impl fmt::Debug for Cpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cpr(**********)")
    }
}

impl fmt::Display for Cpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**********")
    }
}

/// Digit runs at least this long are masked: six digits may already be the birth-date half of a
/// CPR number.
const MASK_DIGITS_FROM: usize = 6;

/// Replaces every digit of each run of six or more ASCII digits by `*`, so text from outside
/// (a faultstring, an error cause) can go to logs, pages and the database without a CPR number.
pub fn mask_digit_runs(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = 0;
    for (i, c) in s.char_indices() {
        if c.is_ascii_digit() {
            run += 1;
            continue;
        }
        push_run(&mut out, &s[i - run..i]);
        run = 0;
        out.push(c);
    }
    push_run(&mut out, &s[s.len() - run..]);
    out
}

/// Appends a run of digits, masked when it is long enough to be (part of) a CPR number.
fn push_run(out: &mut String, digits: &str) {
    if digits.len() >= MASK_DIGITS_FROM {
        out.extend(std::iter::repeat_n('*', digits.len()));
    } else {
        out.push_str(digits);
    }
}

/// `raw` fit for a log line or a stored message: white space folded to single spaces, digit
/// runs masked ([`mask_digit_runs`]), at most `max` characters.
pub fn loggable(raw: &str, max: usize) -> String {
    let one_line = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    mask_digit_runs(&one_line).chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_never_print() {
        let c = Cpr::parse("0101001234").unwrap();
        assert_eq!(format!("{c:?} {c}"), "Cpr(**********) **********");
        assert_eq!(c.expose(), "0101001234");
    }

    #[test]
    fn rejects_non_cpr() {
        for bad in ["", "123", "01010012345", "010100123x", "0101-01234"] {
            assert_eq!(Cpr::parse(bad), Err(InvalidCpr));
        }
    }

    #[test]
    fn digit_runs_of_six_or_more_are_masked() {
        assert_eq!(
            mask_digit_runs("cpr 0101001234, 010100-1234, kode 12345, 123456"),
            "cpr **********, ******-1234, kode 12345, ******"
        );
        assert_eq!(mask_digit_runs("æ0101001234ø"), "æ**********ø");
        assert_eq!(mask_digit_runs(""), "");
        assert_eq!(loggable("  a\n\tb 0101001234 ", 100), "a b **********");
        assert_eq!(loggable(&"å".repeat(2000), 900).chars().count(), 900);
    }

    #[test]
    fn century_from_seventh_digit() {
        let date = |s: &str| Cpr::parse(s).unwrap().birth_date().map(|d| d.to_string());
        assert_eq!(date("2902084000").as_deref(), Some("2008-02-29"));
        assert_eq!(date("0101991234").as_deref(), Some("1999-01-01"));
        assert_eq!(date("0101585000").as_deref(), Some("1858-01-01"));
        assert_eq!(date("0101409000").as_deref(), Some("1940-01-01"));
        assert_eq!(date("3102001234"), None);
    }
}
