//! Notification dates: the day a citizen's 18-year letter is due, and its exact inverse.

use chrono::{Datelike, Days, Months, NaiveDate};

/// The notification date of a citizen born on `birth`: the day they turn `years`, less
/// `offset_days`. Someone born 29 February turns `years` on 28 February in a non-leap year.
pub fn notification_date(birth: NaiveDate, years: u32, offset_days: u32) -> NaiveDate {
    // Calendar months clamp to the month's last day: 29 Feb + 18 years = 28 Feb in a non-leap year.
    let birthday = birth
        .checked_add_months(Months::new(years.saturating_mul(12)))
        .unwrap_or(NaiveDate::MAX);
    birthday
        .checked_sub_days(Days::new(u64::from(offset_days)))
        .unwrap_or(NaiveDate::MIN)
}

/// Every birth date whose notification date is `date` (the exact inverse of
/// [`notification_date`]), oldest first: usually one; two when the birthday `date + offset`
/// is 28 February of a non-leap year and the birth year is a leap year (28 and 29 February);
/// none when that birthday is 29 February and the birth year is not a leap year.
pub fn birth_dates_for(date: NaiveDate, years: u32, offset_days: u32) -> Vec<NaiveDate> {
    let Some(birthday) = date.checked_add_days(Days::new(u64::from(offset_days))) else {
        return Vec::new();
    };
    let mut candidates = Vec::with_capacity(2);
    if let Some(plain) = birthday.checked_sub_months(Months::new(years.saturating_mul(12))) {
        candidates.push(plain);
    }
    if birthday.month() == 2 && birthday.day() == 28 {
        let birth_year = i64::from(birthday.year()) - i64::from(years);
        if let Some(leap_day) = i32::try_from(birth_year)
            .ok()
            .and_then(|y| NaiveDate::from_ymd_opt(y, 2, 29))
        {
            candidates.push(leap_day);
        }
    }
    candidates.retain(|b| notification_date(*b, years, offset_days) == date);
    candidates.sort_unstable();
    candidates.dedup();
    candidates
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn is_leap(y: i32) -> bool {
        NaiveDate::from_ymd_opt(y, 2, 29).is_some()
    }

    #[test]
    fn known_dates() {
        assert_eq!(notification_date(ymd(2008, 2, 29), 18, 14), ymd(2026, 2, 14));
        assert_eq!(notification_date(ymd(2008, 2, 28), 18, 14), ymd(2026, 2, 14));
        assert_eq!(notification_date(ymd(2008, 3, 1), 18, 14), ymd(2026, 2, 15));
        assert_eq!(notification_date(ymd(2008, 1, 5), 18, 14), ymd(2025, 12, 22));
        assert_eq!(notification_date(ymd(2006, 2, 28), 18, 14), ymd(2024, 2, 14));
        assert_eq!(notification_date(ymd(2006, 3, 1), 18, 14), ymd(2024, 2, 16));
        assert_eq!(notification_date(ymd(2008, 2, 29), 20, 0), ymd(2028, 2, 29));
        assert_eq!(
            birth_dates_for(ymd(2026, 2, 14), 18, 14),
            vec![ymd(2008, 2, 28), ymd(2008, 2, 29)]
        );
        assert_eq!(birth_dates_for(ymd(2026, 2, 15), 18, 14), vec![ymd(2008, 3, 1)]);
        assert_eq!(birth_dates_for(ymd(2024, 2, 15), 18, 14), Vec::<NaiveDate>::new());
    }

    /// Every birth date of a leap cycle (and more) against the notification dates it covers.
    fn check_cycle(years: u32, offset: u32) {
        let (first, last) = (ymd(2004, 1, 1), ymd(2012, 12, 31));
        let mut by_date: BTreeMap<NaiveDate, Vec<NaiveDate>> = BTreeMap::new();
        let mut birth = first;
        while birth <= last {
            let d = notification_date(birth, years, offset);
            let back = birth_dates_for(d, years, offset);
            assert!(back.contains(&birth), "{birth} -> {d} -> {back:?}");
            for b in &back {
                assert_eq!(notification_date(*b, years, offset), d, "inverse of {d} gives {b}");
            }
            by_date.entry(d).or_default().push(birth);
            birth = birth.succ_opt().unwrap();
        }
        let (lo, hi) = (
            notification_date(first, years, offset),
            notification_date(last, years, offset),
        );
        let mut uncovered = Vec::new();
        let mut d = lo;
        while d <= hi {
            let inverse = birth_dates_for(d, years, offset);
            // The inverse is exact: the same birth dates as the forward map found.
            assert_eq!(&inverse, by_date.get(&d).unwrap_or(&Vec::new()), "{d}");
            assert!(inverse.len() <= 2, "{d}: {inverse:?}");
            if inverse.is_empty() {
                uncovered.push(d);
            }
            d = d.succ_opt().unwrap();
        }
        // Dates with no birth date are exactly those whose birthday is 29 February of a leap
        // year while the birth year (that many years earlier) is not a leap year: nobody is born
        // on a day that does not exist. Every other date has at least one birth date.
        let expected: Vec<NaiveDate> = (lo.year()..=hi.year())
            .filter(|y| is_leap(*y) && !is_leap(y - years as i32))
            .map(|y| ymd(y, 2, 29) - chrono::Duration::days(i64::from(offset)))
            .filter(|x| (lo..=hi).contains(x))
            .collect();
        assert_eq!(uncovered, expected, "years {years}, offset {offset}");
        let total: usize = by_date.values().map(Vec::len).sum();
        assert_eq!(
            total as i64,
            (last - first).num_days() + 1,
            "each birth date exactly once"
        );
    }

    #[test]
    fn every_birth_date_of_a_leap_cycle_has_exactly_one_notification_date_and_back() {
        check_cycle(18, 14);
        check_cycle(18, 0);
        check_cycle(18, 400);
    }

    #[test]
    fn when_the_age_is_a_multiple_of_four_no_date_is_skipped() {
        for years in [16, 20] {
            check_cycle(years, 14);
            let (lo, hi) = (ymd(2020, 1, 1), ymd(2032, 12, 31));
            let mut d = lo;
            while d <= hi {
                assert!(!birth_dates_for(d, years, 14).is_empty(), "{d}");
                d = d.succ_opt().unwrap();
            }
        }
    }

    #[test]
    fn with_18_years_only_the_leap_day_birthdays_have_no_one() {
        let expected = vec![ymd(2024, 2, 15), ymd(2028, 2, 15)];
        let mut uncovered = Vec::new();
        let mut d = notification_date(ymd(2004, 1, 1), 18, 14);
        while d <= notification_date(ymd(2012, 12, 31), 18, 14) {
            if birth_dates_for(d, 18, 14).is_empty() {
                uncovered.push(d);
            }
            d = d.succ_opt().unwrap();
        }
        assert_eq!(uncovered, expected);
    }
}
