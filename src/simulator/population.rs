//! A synthetic, deterministic population: realistic CPR numbers (valid dates, century digit),
//! registrations with history, CPR statuses for the fake PersonInformation, and
//! `v2_person_simplified` rows for the notification job.

use chrono::{Duration, NaiveDate};
use diesel::prelude::*;

use crate::db::dialect::insert_batch;
use crate::db::models::registration::{self, NewRegistration};
use crate::db::schema::person_simplified;
use crate::db::{DbConn, StoredInstant};

/// A small deterministic random generator (splitmix64): same seed, same population.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

/// The CPR number of the `seq`-th person born on `birth` (seq < 1000 per day and century band).
///
/// The 7th digit encodes the century: 0-3 for 1900-1999, 4 for 2000-2036 (SPEC §7).
pub fn cpr_for(birth: NaiveDate, seq: u32) -> String {
    use chrono::Datelike;
    let year = birth.year();
    let (first, span) = if year >= 2000 { (4000, 1000) } else { (0, 4000) };
    let serial = first + seq % span;
    format!("{:02}{:02}{:02}{:04}", birth.day(), birth.month(), year % 100, serial)
}

/// What happened to a citizen, as PersonInformation reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Status 01.
    Alive,
    /// Status 90, dead for years.
    DeadLongAgo,
    /// Status 90, dead within the last months (kept by the cleanup).
    DeadRecently,
    /// Status 80.
    Emigrated,
    /// Status 20.
    Inactive,
}

impl Fate {
    /// The two-digit CPR status code.
    pub fn status(self) -> &'static str {
        match self {
            Fate::Alive => "01",
            Fate::DeadLongAgo | Fate::DeadRecently => "90",
            Fate::Emigrated => "80",
            Fate::Inactive => "20",
        }
    }
}

/// One synthetic citizen.
#[derive(Debug, Clone)]
pub struct Citizen {
    /// CPR number (10 digits).
    pub cpr: String,
    /// Birth date.
    pub birth: NaiveDate,
    /// Status as PersonInformation reports it.
    pub fate: Fate,
    /// Status date.
    pub status_date: Option<NaiveDate>,
    /// Registrations: 0 (none), 1 (active) or 2 (history + active).
    pub registrations: u8,
}

/// Shape of a population.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Number of citizens.
    pub citizens: usize,
    /// Per mille of citizens with a second (historical) registration.
    pub history_per_mille: u64,
    /// Per mille without any registration (only in stamdata).
    pub unregistered_per_mille: u64,
    /// Per mille dead long ago.
    pub dead_long_ago_per_mille: u64,
    /// Per mille dead recently.
    pub dead_recently_per_mille: u64,
    /// Per mille emigrated.
    pub emigrated_per_mille: u64,
    /// Per mille inactive.
    pub inactive_per_mille: u64,
    /// First birth date.
    pub born_from: NaiveDate,
    /// Last birth date.
    pub born_to: NaiveDate,
    /// Today, for status dates.
    pub today: NaiveDate,
    /// Random seed.
    pub seed: u64,
}

/// The population shape of the demo and `simulate`: births spread over 80 years, so every
/// recent notification date has recipients, 29 February 2008 included.
pub fn demo_spec(citizens: usize, today: NaiveDate) -> Spec {
    use chrono::Datelike;
    Spec {
        citizens,
        history_per_mille: 100,
        unregistered_per_mille: 50,
        dead_long_ago_per_mille: 10,
        dead_recently_per_mille: 5,
        emigrated_per_mille: 10,
        inactive_per_mille: 5,
        born_from: NaiveDate::from_ymd_opt(1930, 1, 1).unwrap_or(today),
        born_to: NaiveDate::from_ymd_opt(today.year() - 17, 12, 31).unwrap_or(today),
        today,
        seed: 2026,
    }
}

/// Generates the citizens of `spec` in CPR-independent order (by birth date, then serial).
pub fn citizens(spec: &Spec) -> Vec<Citizen> {
    let days = (spec.born_to - spec.born_from).num_days().max(0) as usize + 1;
    let mut rng = Rng::new(spec.seed);
    let mut out = Vec::with_capacity(spec.citizens);
    for i in 0..spec.citizens {
        // Fewer citizens than days: spread them evenly; more: fill every day, then again.
        let (day, seq) = if spec.citizens <= days {
            (i * days / spec.citizens, 0)
        } else {
            (i % days, i / days)
        };
        let birth = spec.born_from + Duration::days(day as i64);
        let seq = u32::try_from(seq).unwrap_or(u32::MAX);
        let roll = rng.below(1000);
        let bands = [
            (spec.dead_long_ago_per_mille, Fate::DeadLongAgo),
            (spec.dead_recently_per_mille, Fate::DeadRecently),
            (spec.emigrated_per_mille, Fate::Emigrated),
            (spec.inactive_per_mille, Fate::Inactive),
        ];
        let mut edge = 0;
        let mut fate = Fate::Alive;
        for (per_mille, f) in bands {
            edge += per_mille;
            if roll < edge {
                fate = f;
                break;
            }
        }
        let status_date = match fate {
            Fate::Alive => None,
            Fate::DeadLongAgo => Some(spec.today - Duration::days(400 + rng.below(3000) as i64)),
            Fate::DeadRecently => Some(spec.today - Duration::days(1 + rng.below(300) as i64)),
            Fate::Emigrated | Fate::Inactive => Some(spec.today - Duration::days(1 + rng.below(2000) as i64)),
        };
        let r = rng.below(1000);
        let registrations = if r < spec.unregistered_per_mille {
            0
        } else if r < spec.unregistered_per_mille + spec.history_per_mille {
            2
        } else {
            1
        };
        out.push(Citizen {
            cpr: cpr_for(birth, seq),
            birth,
            fate,
            status_date,
            registrations,
        });
    }
    out
}

/// Registrations of `citizens`: one active each, plus a closed historical one where drawn.
pub fn registrations_of(citizens: &[Citizen], now: StoredInstant) -> Vec<NewRegistration> {
    let mut rows = Vec::new();
    let old = StoredInstant::from_naive(now.naive() - Duration::days(3000));
    let changed = StoredInstant::from_naive(now.naive() - Duration::days(700));
    for c in citizens {
        if c.registrations == 2 {
            let mut history = NewRegistration::full(&c.cpr, old, Some(changed));
            history.permission_type = "LIMITED".to_string();
            history.skin = false;
            rows.push(history);
        }
        if c.registrations >= 1 {
            rows.push(NewRegistration::full(
                &c.cpr,
                if c.registrations == 2 { changed } else { old },
                None,
            ));
        }
    }
    rows
}

/// A `v2_person_simplified` row.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = person_simplified)]
pub struct NewPerson {
    /// `Cpr`.
    pub cpr: String,
    /// `BirthDate`.
    pub birth_date: NaiveDate,
    /// `Status` (two digits).
    pub status: String,
    /// `StatusDate`.
    pub status_date: Option<NaiveDate>,
}

/// Loads the registrations (and, with `stamdata`, the `v2_person_simplified` rows) of
/// `citizens`, in transactions of 20,000 citizens; `progress` hears how many were loaded.
pub fn load(
    conn: &mut DbConn,
    citizens: &[Citizen],
    now: StoredInstant,
    stamdata: bool,
    mut progress: impl FnMut(usize),
) -> QueryResult<()> {
    for chunk in citizens.chunks(20_000) {
        conn.transaction(|conn| {
            registration::insert_many(conn, &registrations_of(chunk, now))?;
            if !stamdata {
                return Ok(());
            }
            let people: Vec<NewPerson> = chunk
                .iter()
                .map(|c| NewPerson {
                    cpr: c.cpr.clone(),
                    birth_date: c.birth,
                    status: c.fate.status().to_string(),
                    status_date: c.status_date,
                })
                .collect();
            insert_batch!(conn, person_simplified::table, people)?;
            Ok::<_, diesel::result::Error>(())
        })?;
        progress(chunk.len());
    }
    Ok(())
}

/// Inserts `v2_person_simplified` rows in multi-row chunks.
pub fn insert_people(conn: &mut DbConn, people: &[NewPerson]) -> QueryResult<usize> {
    conn.transaction(|conn| insert_batch!(conn, person_simplified::table, people))
}

/// A letter history: `dates` consecutive notification dates from `first`, `per_date` letters
/// each; every date Completed but the newest, which is InProgress with a few Pending and
/// Error letters (the shape of a production table for the page benchmarks).
pub fn insert_letter_history(conn: &mut DbConn, first: NaiveDate, dates: usize, per_date: usize) -> QueryResult<()> {
    use crate::db::models::notification::{insert_letters, NewLetter};
    use crate::db::schema::notification_date::dsl as d;
    let now = StoredInstant::from_utc(chrono::Utc::now());
    for k in 0..dates {
        let last = k + 1 == dates;
        conn.transaction(|conn| {
            let date = first + Duration::days(k as i64);
            let date_status = if last { "InProgress" } else { "Completed" };
            diesel::insert_into(d::notification_date)
                .values((
                    d::status.eq(date_status),
                    d::latest_date.eq(date),
                    d::created.eq(now),
                    d::modified.eq(now),
                ))
                .execute(conn)?;
            let id: i64 = d::notification_date
                .filter(d::latest_date.eq(date))
                .select(d::id)
                .first(conn)?;
            let letters: Vec<NewLetter> = (0..per_date)
                .map(|i| NewLetter {
                    notification_date_id: id,
                    cpr: format!("{}", 3_000_000_000u64 + (k * per_date + i) as u64),
                    notification_type: "18aar".into(),
                    status: match (last, i % 200) {
                        (false, _) => "Completed",
                        (true, 0) => "Pending",
                        (true, 1) => "Error",
                        (true, _) => "Sent",
                    }
                    .into(),
                    message_id: uuid::Uuid::new_v4().to_string(),
                    template_digital: "ODR/20250911/digital/18aarIkkeTagetStilling".into(),
                    template_physical: "ODR/20250911/physical/18aarIkkeTagetStilling".into(),
                    created: now,
                    modified: now,
                })
                .collect();
            insert_letters(conn, &letters)?;
            Ok::<_, diesel::result::Error>(())
        })?;
    }
    Ok(())
}

/// The fake PersonInformation's view of `citizens`: (CPR, status, status date).
pub fn statuses(citizens: &[Citizen]) -> impl Iterator<Item = (String, String, Option<NaiveDate>)> + '_ {
    citizens
        .iter()
        .map(|c| (c.cpr.clone(), c.fate.status().to_string(), c.status_date))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::cpr::Cpr;

    #[test]
    fn cpr_numbers_are_unique_valid_and_carry_their_birth_date() {
        // The demo's shares of each fate, over 21 years of births.
        let spec = Spec {
            born_from: NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(),
            born_to: NaiveDate::from_ymd_opt(2010, 12, 31).unwrap(),
            seed: 7,
            ..demo_spec(50_000, NaiveDate::from_ymd_opt(2026, 11, 24).unwrap())
        };
        let people = citizens(&spec);
        let unique: HashSet<&str> = people.iter().map(|c| c.cpr.as_str()).collect();
        assert_eq!(unique.len(), people.len());
        for c in &people {
            assert_eq!(Cpr::parse(&c.cpr).unwrap().birth_date(), Some(c.birth), "{}", c.birth);
        }
        let dead = people.iter().filter(|c| c.fate == Fate::DeadLongAgo).count();
        assert!((300..700).contains(&dead), "about 1 %: {dead}");
    }
}
