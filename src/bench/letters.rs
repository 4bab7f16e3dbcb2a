//! Loads a letter history of millions of `NotificationPerson` rows fast: multi-row INSERTs of
//! literal values in transactions of [`PER_TRANSACTION`] rows, growing the table step by step.
//!
//! Shape (that of a production table): the newest date (today) is InProgress with Sent letters
//! and a few Pending and Error ones; every older date, one per day going back, is Completed with
//! [`PER_DATE`] letters. CPR numbers and MessageIds are sequential so that every index is
//! appended to (a random MessageId costs random index I/O at load time; no page reads it).

use std::fmt::Write as _;
use std::time::Instant;

use chrono::{Duration, NaiveDate, Utc};
use diesel::{Connection, RunQueryDsl};

use super::progress_bar;
use crate::config::Backend;
use crate::db::models::stored;
use crate::db::{establish, DbConn};
use crate::simulator::scratch::ScratchDb;

/// Letters per notification date.
pub const PER_DATE: u64 = 5000;
/// Rows per INSERT statement.
const PER_STATEMENT: u64 = 1000;
/// Rows per transaction.
const PER_TRANSACTION: u64 = 100_000;

/// A growing letter history in one database.
pub struct Letters {
    conn: DbConn,
    backend: Backend,
    today: NaiveDate,
    /// Rows loaded so far.
    pub rows: u64,
    /// Dates loaded so far (the newest first).
    dates: i64,
    now: String,
}

impl Letters {
    /// An empty history in `db` (migrated), its newest date `today`.
    pub fn new(db: &ScratchDb, today: NaiveDate) -> Result<Letters, String> {
        let mut conn = establish(&db.url).map_err(|e| e.to_string())?;
        if db.backend() == Backend::Mysql {
            // Our rows are valid by construction: skip the per-row checks while loading.
            diesel::sql_query("SET unique_checks = 0, foreign_key_checks = 0")
                .execute(&mut conn)
                .map_err(|e| e.to_string())?;
        }
        Ok(Letters {
            conn,
            backend: db.backend(),
            today,
            rows: 0,
            dates: 0,
            now: stored(Utc::now()).sqlite_text(),
        })
    }

    /// The first date that has letters.
    pub fn oldest(&self) -> NaiveDate {
        self.today - Duration::days((self.dates - 1).max(0))
    }

    /// Adds whole dates until the table holds at least `rows` rows, with a progress bar.
    pub fn grow_to(&mut self, rows: u64) -> Result<(), String> {
        if rows <= self.rows {
            return Ok(());
        }
        let started = Instant::now();
        let bar = progress_bar(
            rows - self.rows,
            &format!("{} loading NotificationPerson to {rows} rows", self.backend.name()),
        );
        while self.rows < rows {
            let dates = (PER_TRANSACTION / PER_DATE)
                .min((rows - self.rows).div_ceil(PER_DATE))
                .max(1);
            let before = self.rows;
            self.conn
                .transaction(|conn| {
                    for _ in 0..dates {
                        add_date(conn, self.today, self.dates, self.rows, &self.now)?;
                        self.dates += 1;
                        self.rows += PER_DATE;
                    }
                    Ok::<_, diesel::result::Error>(())
                })
                .map_err(|e| e.to_string())?;
            bar.inc(self.rows - before);
        }
        bar.finish_and_clear();
        eprintln!(
            "bench: {} NotificationPerson at {} rows ({} dates) after {:.1} s",
            self.backend.name(),
            self.rows,
            self.dates,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}

/// Date number `k` back from `today` (0 = today, the open one) with its letters, CPRs from `first`.
fn add_date(conn: &mut DbConn, today: NaiveDate, k: i64, first: u64, now: &str) -> diesel::QueryResult<()> {
    let date = today - Duration::days(k);
    let open = k == 0;
    diesel::sql_query(format!(
        "INSERT INTO NotificationDate (Status, LatestDate, CreatedDateTime, ModifiedDateTime) \
         VALUES ('{}', '{date}', '{now}', '{now}')",
        if open { "InProgress" } else { "Completed" }
    ))
    .execute(conn)?;
    #[derive(diesel::QueryableByName)]
    struct Id {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
    }
    let id = diesel::sql_query(format!(
        "SELECT NotificationDatePID AS id FROM NotificationDate WHERE LatestDate = '{date}'"
    ))
    .get_result::<Id>(conn)?
    .id;
    let mut n = 0;
    while n < PER_DATE {
        let mut sql = String::from(
            "INSERT INTO NotificationPerson (NotificationDatePID, Cpr, NotificationType, Status, MessageId, \
             TemplateDigital, TemplatePhysical, SentAtDateTime, ErrorMessage, CreatedDateTime, ModifiedDateTime) VALUES ",
        );
        for i in n..(n + PER_STATEMENT).min(PER_DATE) {
            let seq = first + i;
            let (status, sent, error) = match (open, i % 200) {
                (false, _) => ("Completed", true, false),
                (true, 0) => ("Pending", false, false),
                (true, 1) => ("Error", false, true),
                (true, _) => ("Sent", true, false),
            };
            let sent_at = if sent { format!("'{now}'") } else { "NULL".into() };
            let error = if error { "'Modtageren findes ikke'" } else { "NULL" };
            let _ = write!(
                sql,
                "{}({id}, '{}', '18aar', '{status}', '{:08x}-0000-4000-8000-{:012x}', \
                 'ODR/20250911/digital/18aarIkkeTagetStilling', 'ODR/20250911/physical/18aarIkkeTagetStilling', \
                 {sent_at}, {error}, '{now}', '{now}')",
                if i == n { "" } else { "," },
                3_000_000_000u64 + seq,
                seq >> 48,
                seq & 0xffff_ffff_ffff
            );
        }
        diesel::sql_query(sql).execute(conn)?;
        n += PER_STATEMENT;
    }
    Ok(())
}
