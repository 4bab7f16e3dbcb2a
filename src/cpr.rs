//! The `Cpr` newtype: ten digits that never show in `Debug`, `Display` or logs.

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
    fn century_from_seventh_digit() {
        let date = |s: &str| Cpr::parse(s).unwrap().birth_date().map(|d| d.to_string());
        assert_eq!(date("2902084000").as_deref(), Some("2008-02-29"));
        assert_eq!(date("0101991234").as_deref(), Some("1999-01-01"));
        assert_eq!(date("0101585000").as_deref(), Some("1858-01-01"));
        assert_eq!(date("0101409000").as_deref(), Some("1940-01-01"));
        assert_eq!(date("3102001234"), None);
    }
}
