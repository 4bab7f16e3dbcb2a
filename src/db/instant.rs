//! Instants as stored (SPEC §4): UTC with microseconds; on SQLite always the text
//! `YYYY-MM-DD HH:MM:SS.ffffff`, the format the lease SQL writes too, so one column never holds
//! two formats and text comparisons order instants correctly. Reads stay `NaiveDateTime`.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use diesel::expression::AsExpression;
use diesel::serialize::{IsNull, Output, ToSql};
use diesel::sql_types::Timestamp;
use diesel::sqlite::Sqlite;
use diesel::Connection;

use super::DbConn;

/// A UTC instant truncated to microseconds, written in the stored format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, AsExpression)]
#[diesel(sql_type = Timestamp)]
pub struct StoredInstant(NaiveDateTime);

impl StoredInstant {
    /// The instant `t`, truncated to microseconds.
    pub fn from_utc(t: DateTime<Utc>) -> StoredInstant {
        StoredInstant::from_naive(t.naive_utc())
    }

    /// A UTC wall-clock value (as read from the database), truncated to microseconds.
    pub fn from_naive(t: NaiveDateTime) -> StoredInstant {
        StoredInstant(t.trunc_subsecs(6))
    }

    /// The value as chrono sees it.
    pub fn naive(self) -> NaiveDateTime {
        self.0
    }

    /// The SQLite text of this instant.
    pub fn sqlite_text(self) -> String {
        self.0.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
    }
}

impl ToSql<Timestamp, Sqlite> for StoredInstant {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> diesel::serialize::Result {
        out.set_value(self.sqlite_text());
        Ok(IsNull::No)
    }
}

#[cfg(feature = "mariadb")]
impl ToSql<Timestamp, diesel::mysql::Mysql> for StoredInstant {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, diesel::mysql::Mysql>) -> diesel::serialize::Result {
        <NaiveDateTime as ToSql<Timestamp, diesel::mysql::Mysql>>::to_sql(&self.0, out)
    }
}

impl ToSql<Timestamp, <DbConn as Connection>::Backend> for StoredInstant {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, <DbConn as Connection>::Backend>) -> diesel::serialize::Result {
        // The multi-backend hands the value to the connection's own backend, whose impl above formats it.
        out.set_value((Timestamp, self));
        Ok(IsNull::No)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_text_always_has_six_fraction_digits() {
        let at = |s: &str| StoredInstant::from_utc(s.parse::<DateTime<Utc>>().unwrap()).sqlite_text();
        assert_eq!(at("2026-11-29T18:35:39.919199747Z"), "2026-11-29 18:35:39.919199");
        assert_eq!(at("2026-11-29T18:35:39.120000Z"), "2026-11-29 18:35:39.120000");
        assert_eq!(at("2026-11-29T18:35:39Z"), "2026-11-29 18:35:39.000000");
    }
}
