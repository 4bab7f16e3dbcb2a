//! Typed values of the properties: each reader checks one form and phrases what it expected.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Months, NaiveDate, Utc};
use chrono_tz::Tz;

use super::db_url::{self, DbUrl};
use super::keys::KeyDef;
use super::ConfigError;

/// A calendar period such as `P12M`: years and months are calendar units, the rest fixed time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// Whole months (years count as 12).
    pub months: u32,
    /// Fixed part (days, hours, minutes, seconds).
    pub fixed: Duration,
}

impl Period {
    /// The instant this period before `t` (calendar arithmetic for months, clamped to month end).
    pub fn before(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        let base = t.checked_sub_months(Months::new(self.months)).unwrap_or(t);
        let fixed = chrono::Duration::from_std(self.fixed).unwrap_or_else(|_| chrono::Duration::zero());
        base - fixed
    }
}

/// Longest duration accepted anywhere: keeps every date computation far from overflow.
const MAX_YEARS: f64 = 100.0;
const TOO_LONG: &str = "is longer than 100 years";

/// Seconds as a `Duration`, if within [`MAX_YEARS`].
fn bounded(secs: f64) -> Option<Duration> {
    (secs.is_finite() && secs <= MAX_YEARS * 366.0 * 86_400.0).then(|| Duration::from_secs_f64(secs))
}

/// Reads typed values of known keys from the parsed file, falling back to each key's default.
pub(super) struct Reader<'a> {
    /// The file, for error lines.
    pub file: &'a str,
    /// The values found in it.
    pub values: &'a HashMap<String, String>,
}

impl Reader<'_> {
    /// The configured value, or the default; an empty value counts as unset.
    pub fn raw(&self, key: &KeyDef) -> Option<&str> {
        match self.values.get(key.name).map(String::as_str) {
            Some(v) if !v.is_empty() => Some(v),
            Some(_) => None,
            None => key.default,
        }
    }

    fn bad(&self, key: &KeyDef, value: &str, expected: &str) -> ConfigError {
        ConfigError::Value {
            file: self.file.to_string(),
            key: key.name.to_string(),
            // Escapes (`\n`, `\u0007`) decode to control characters: show them escaped, one line.
            value: value
                .chars()
                .flat_map(|c| {
                    let shown: Vec<char> = if c.is_control() {
                        c.escape_debug().collect()
                    } else {
                        vec![c]
                    };
                    shown
                })
                .collect(),
            expected: expected.to_string(),
        }
    }

    pub fn text(&self, key: &KeyDef) -> Result<String, ConfigError> {
        self.raw(key)
            .map(str::to_string)
            .ok_or_else(|| self.bad(key, "", "must not be empty"))
    }

    pub fn number<T: std::str::FromStr>(&self, key: &KeyDef) -> Result<T, ConfigError> {
        let v = self.text(key)?;
        v.parse()
            .map_err(|_| self.bad(key, &v, "is not a whole number (example: 20)"))
    }

    pub fn positive<T: std::str::FromStr + PartialOrd + Default>(&self, key: &KeyDef) -> Result<T, ConfigError> {
        let v = self.text(key)?;
        match v.parse::<T>() {
            Ok(n) if n > T::default() => Ok(n),
            _ => Err(self.bad(key, &v, "is not a positive whole number (example: 100)")),
        }
    }

    pub fn boolean(&self, key: &KeyDef) -> Result<bool, ConfigError> {
        let v = self.text(key)?;
        match v.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(self.bad(key, &v, "is not true or false")),
        }
    }

    pub fn url(&self, key: &KeyDef) -> Result<String, ConfigError> {
        let v = self.text(key)?;
        match reqwest::Url::parse(&v) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                Ok(v.trim_end_matches('/').to_string())
            }
            _ => Err(self.bad(key, &v, "is not an http(s) URL (example: http://localhost:8081/path)")),
        }
    }

    pub fn db_url(&self, key: &KeyDef) -> Result<DbUrl, ConfigError> {
        let v = self.text(key)?;
        let url = DbUrl::parse(&v).map_err(|_| {
            self.bad(
                key,
                &db_url::mask_password(&v),
                "is not a database URL (example: sqlite://odr.db or mysql://user:pass@host:3306/odr)",
            )
        })?;
        if !url.backend.is_compiled() {
            return Err(self.bad(key, &url.masked(), &format!("cannot be used: {}", db_url::NO_MARIADB)));
        }
        Ok(url)
    }

    pub fn socket_addr(&self, key: &KeyDef) -> Result<String, ConfigError> {
        let v = self.text(key)?;
        let ok = v
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if ok {
            Ok(v)
        } else {
            Err(self.bad(key, &v, "is not a host:port address (example: 127.0.0.1:8080)"))
        }
    }

    pub fn timezone(&self, key: &KeyDef) -> Result<Tz, ConfigError> {
        let v = self.text(key)?;
        v.parse::<Tz>()
            .map_err(|_| self.bad(key, &v, "is not an IANA time zone (example: Europe/Copenhagen)"))
    }

    pub fn optional_date(&self, key: &KeyDef) -> Result<Option<NaiveDate>, ConfigError> {
        match self.raw(key) {
            None => Ok(None),
            Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| self.bad(key, v, "is not a date (example: 2026-01-31)")),
        }
    }

    fn iso(&self, key: &KeyDef, example: &str) -> Result<(String, iso8601_duration::Duration), ConfigError> {
        let v = self.text(key)?;
        match v.parse::<iso8601_duration::Duration>() {
            Ok(d)
                if [d.year, d.month, d.day, d.hour, d.minute, d.second]
                    .iter()
                    .all(|x| x.is_finite() && *x >= 0.0) =>
            {
                Ok((v, d))
            }
            _ => Err(self.bad(key, &v, &format!("is not an ISO-8601 duration (example: {example})"))),
        }
    }

    /// An optional limit such as `P2D`: the default when the key is absent, off when it is
    /// present and empty.
    pub fn max_age(&self, key: &KeyDef) -> Result<Option<super::MaxAge>, ConfigError> {
        if self.values.get(key.name).is_some_and(|v| v.is_empty()) {
            return Ok(None);
        }
        let duration = self.fixed_duration(key)?;
        let text = self.text(key)?;
        Ok(Some(super::MaxAge { duration, text }))
    }

    /// A duration without years or months, e.g. `PT20S`.
    pub fn fixed_duration(&self, key: &KeyDef) -> Result<Duration, ConfigError> {
        let (v, d) = self.iso(key, "PT20S")?;
        if d.year != 0.0 || d.month != 0.0 {
            return Err(self.bad(
                key,
                &v,
                "must be a fixed ISO-8601 duration without years or months (example: PT20S)",
            ));
        }
        let secs = f64::from(d.day) * 86_400.0
            + f64::from(d.hour) * 3_600.0
            + f64::from(d.minute) * 60.0
            + f64::from(d.second);
        if secs <= 0.0 {
            return Err(self.bad(key, &v, "must be a positive ISO-8601 duration (example: PT20S)"));
        }
        bounded(secs).ok_or_else(|| self.bad(key, &v, TOO_LONG))
    }

    /// A calendar period, e.g. `P12M`; years and months must be whole.
    pub fn period(&self, key: &KeyDef) -> Result<Period, ConfigError> {
        let (v, d) = self.iso(key, "P12M")?;
        if d.year.fract() != 0.0 || d.month.fract() != 0.0 {
            return Err(self.bad(key, &v, "must use whole years and months (example: P12M)"));
        }
        let secs = f64::from(d.day) * 86_400.0
            + f64::from(d.hour) * 3_600.0
            + f64::from(d.minute) * 60.0
            + f64::from(d.second);
        let months = f64::from(d.year) * 12.0 + f64::from(d.month);
        if months == 0.0 && secs <= 0.0 {
            return Err(self.bad(key, &v, "must be a positive ISO-8601 period (example: P12M)"));
        }
        if months > MAX_YEARS * 12.0 {
            return Err(self.bad(key, &v, TOO_LONG));
        }
        let fixed = bounded(secs).ok_or_else(|| self.bad(key, &v, TOO_LONG))?;
        Ok(Period {
            months: months as u32,
            fixed,
        })
    }

    pub fn whole_years(&self, key: &KeyDef) -> Result<u32, ConfigError> {
        let (v, d) = self.iso(key, "P18Y")?;
        let only_years = d.month == 0.0 && d.day == 0.0 && d.hour == 0.0 && d.minute == 0.0 && d.second == 0.0;
        if !only_years || d.year.fract() != 0.0 || d.year < 1.0 {
            return Err(self.bad(key, &v, "must be whole years only (example: P18Y)"));
        }
        if f64::from(d.year) > MAX_YEARS {
            return Err(self.bad(key, &v, TOO_LONG));
        }
        Ok(d.year as u32)
    }

    pub fn whole_days(&self, key: &KeyDef) -> Result<u32, ConfigError> {
        let (v, d) = self.iso(key, "P14D")?;
        let only_days = d.year == 0.0 && d.month == 0.0 && d.hour == 0.0 && d.minute == 0.0 && d.second == 0.0;
        if !only_days || d.day.fract() != 0.0 {
            return Err(self.bad(key, &v, "must be whole days only (example: P14D)"));
        }
        if f64::from(d.day) > MAX_YEARS * 366.0 {
            return Err(self.bad(key, &v, TOO_LONG));
        }
        Ok(d.day as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_subtracts_calendar_months() {
        let p = Period {
            months: 12,
            fixed: Duration::ZERO,
        };
        let t = "2026-02-28T10:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(p.before(t).to_rfc3339(), "2025-02-28T10:00:00+00:00");
    }
}
