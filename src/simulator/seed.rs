//! The simulator's population (the demo's, plus recipients on recent notification dates) and
//! `--seed-db`: that population loaded into a disposable MariaDB database.

use chrono::NaiveDate;

use super::server::SimulateOptions;
use crate::config::DbUrl;
use crate::db::models::stored;
use crate::db::{admin, establish, migrate};
use crate::jobs::notification::dates::birth_dates_for;
use crate::simulator::population::{self, cpr_for, Citizen, Fate};

/// The population: the demo's shape with `seed`, plus `per_date` alive citizens born on each
/// birth date whose notification date is one of the `recent_dates` dates ending `today`.
/// Returns the citizens and the first of those dates (the start date to configure).
pub fn population_for(opts: &SimulateOptions, today: NaiveDate, years: u32, offset: u32) -> (Vec<Citizen>, NaiveDate) {
    let mut spec = population::demo_spec(opts.citizens, today);
    spec.seed = opts.seed;
    let mut people = population::citizens(&spec);
    let back = i64::from(opts.recent_dates.max(1)) - 1;
    let start = today - chrono::Duration::days(back);
    let mut date = start;
    while date <= today {
        for birth in birth_dates_for(date, years, offset) {
            for k in 0..opts.per_date {
                let cpr = cpr_for(birth, 500 + k);
                if people.iter().any(|c| c.cpr == cpr) {
                    continue;
                }
                people.push(Citizen {
                    cpr,
                    birth,
                    fate: Fate::Alive,
                    status_date: None,
                    // Some decided (active registration), some not, some with history.
                    registrations: u8::try_from(k % 3).unwrap_or(0),
                });
            }
        }
        date += chrono::Duration::days(1);
    }
    (people, start)
}

/// Words one of which a `--seed-db` database name must contain (it is dropped and recreated).
pub const THROWAWAY_MARKS: &[&str] = &["test", "sim", "cluster", "demo", "bench"];

/// Drops and recreates the database of `url`, migrates it and loads `people` (registrations and
/// `v2_person_simplified`).
pub fn seed_database(url: &DbUrl, people: &[Citizen]) -> Result<(), String> {
    let (_, name) = url.server_and_database();
    // The database is dropped first: refuse names that do not say they are disposable.
    let lower = name.to_ascii_lowercase();
    if !THROWAWAY_MARKS.iter().any(|m| lower.contains(m)) {
        return Err(format!(
            "--seed-db {url}: the database is dropped and recreated, so its name must contain one of {}",
            THROWAWAY_MARKS.join(", ")
        ));
    }
    admin::drop_database(url).map_err(|e| e.to_string())?;
    admin::create_database(url).map_err(|e| e.to_string())?;
    migrate::run(url).map_err(|e| e.to_string())?;
    let mut conn = establish(url).map_err(|e| e.to_string())?;
    let now = stored(chrono::Utc::now());
    population::load(&mut conn, people, now, true, |_| {}).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_db_refuses_a_database_that_does_not_look_disposable() {
        let url = |s: &str| DbUrl::parse(s).unwrap();
        let err = seed_database(&url("mysql://root@127.0.0.1:3306/odr"), &[]).unwrap_err();
        assert!(err.contains("must contain one of test, sim"), "{err}");
        assert!(seed_database(&url("mysql://root@127.0.0.1:3306/odr-x_test"), &[]).is_err());
    }

    #[test]
    fn every_recent_date_gets_its_extra_recipients_once() {
        let opts = SimulateOptions {
            citizens: 2000,
            seed: 7,
            control: "127.0.0.1:0".into(),
            ready_file: None,
            seed_db: None,
            recent_dates: 5,
            per_date: 4,
        };
        let today = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let (people, start) = population_for(&opts, today, 18, 14);
        assert_eq!(start, NaiveDate::from_ymd_opt(2026, 11, 20).unwrap());
        let unique: std::collections::HashSet<&str> = people.iter().map(|c| c.cpr.as_str()).collect();
        assert_eq!(unique.len(), people.len());
        let mut d = start;
        while d <= today {
            let due = people
                .iter()
                .filter(|c| crate::jobs::notification::dates::notification_date(c.birth, 18, 14) == d)
                .count();
            assert!(due >= 4, "{d}: {due}");
            d += chrono::Duration::days(1);
        }
        // Same options, same population.
        assert_eq!(population_for(&opts, today, 18, 14).0.len(), people.len());
    }
}
