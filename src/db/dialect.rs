//! The only per-backend SQL: the lease statements on the database clock and insert-if-missing.
//!
//! Instants are compared on the database clock (`NOW(6)` / SQLite `strftime`) so that a node
//! whose own clock is off cannot take a live lease (SPEC §5).

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_query;
use diesel::sql_types::{BigInt, Text, Timestamp};

use super::{DbConn, StoredInstant};

/// SQLite's clock with microseconds, in the stored text format.
const SQLITE_NOW: &str = "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000')";

fn sqlite_now_plus(lease: Duration) -> String {
    format!(
        "(strftime('%Y-%m-%d %H:%M:%f', 'now', '+{:.3} seconds') || '000')",
        lease.as_secs_f64()
    )
}

/// Takes the job's lease if it is free or expired; returns the new fencing token.
///
/// One conditional UPDATE decides; the token is read back in the same transaction.
pub fn acquire_lease(conn: &mut DbConn, job: &str, owner: &str, lease: Duration) -> QueryResult<Option<i64>> {
    conn.transaction(|conn| {
        let updated = match conn {
            #[cfg(feature = "mariadb")]
            DbConn::Mysql(c) => sql_query(
                "UPDATE JobLock SET Owner = ?, Token = Token + 1, \
                 LockedUntil = NOW(6) + INTERVAL ? MICROSECOND, HeartbeatAt = NOW(6) \
                 WHERE JobName = ? AND (LockedUntil IS NULL OR LockedUntil <= NOW(6))",
            )
            .bind::<Text, _>(owner)
            .bind::<BigInt, _>(micros(lease))
            .bind::<Text, _>(job)
            .execute(c)?,
            DbConn::Sqlite(c) => sql_query(format!(
                "UPDATE JobLock SET Owner = ?, Token = Token + 1, LockedUntil = {}, HeartbeatAt = {SQLITE_NOW} \
                 WHERE JobName = ? AND (LockedUntil IS NULL OR LockedUntil <= {SQLITE_NOW})",
                sqlite_now_plus(lease)
            ))
            .bind::<Text, _>(owner)
            .bind::<Text, _>(job)
            .execute(c)?,
        };
        if updated == 0 {
            return Ok(None);
        }
        use super::schema::job_lock::dsl as l;
        l::job_lock
            .filter(l::job_name.eq(job))
            .select(l::token)
            .first::<i64>(conn)
            .map(Some)
    })
}

/// Extends the lease held with `token` to now + `lease`; false when the token is no longer current.
///
/// Run first in every commit of a slice: it is the fencing guard, and its row lock orders the
/// commit before any competing acquisition.
pub fn extend_lease(conn: &mut DbConn, job: &str, token: i64, lease: Duration) -> QueryResult<bool> {
    let updated = match conn {
        #[cfg(feature = "mariadb")]
        DbConn::Mysql(c) => sql_query(
            "UPDATE JobLock SET LockedUntil = NOW(6) + INTERVAL ? MICROSECOND, HeartbeatAt = NOW(6) \
             WHERE JobName = ? AND Token = ?",
        )
        .bind::<BigInt, _>(micros(lease))
        .bind::<Text, _>(job)
        .bind::<BigInt, _>(token)
        .execute(c)?,
        DbConn::Sqlite(c) => sql_query(format!(
            "UPDATE JobLock SET LockedUntil = {}, HeartbeatAt = {SQLITE_NOW} WHERE JobName = ? AND Token = ?",
            sqlite_now_plus(lease)
        ))
        .bind::<Text, _>(job)
        .bind::<BigInt, _>(token)
        .execute(c)?,
    };
    Ok(updated == 1)
}

/// Frees the lease if `token` still holds it, and ends that token for good: a late heartbeat or
/// commit of the released holder matches nothing (SPEC §5, lease hygiene).
pub fn release_lease(conn: &mut DbConn, job: &str, token: i64) -> QueryResult<bool> {
    use super::schema::job_lock::dsl as l;
    let n = diesel::update(l::job_lock.filter(l::job_name.eq(job)).filter(l::token.eq(token)))
        .set((
            l::owner.eq(None::<String>),
            l::locked_until.eq(None::<StoredInstant>),
            l::token.eq(l::token + 1),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Creates the `JobLock` and `JobState` rows of a job if missing (the migrations seed the three
/// jobs). A recreated lock starts its tokens at the database clock in microseconds, far above
/// any token the deleted row handed out. Only the duplicate key is ignored: any other error
/// (a missing table, a lost connection) is reported.
pub fn ensure_job_rows(conn: &mut DbConn, job: &str) -> QueryResult<()> {
    let (lock, state) = match conn {
        #[cfg(feature = "mariadb")]
        DbConn::Mysql(_) => (
            "INSERT INTO JobLock (JobName, Token) VALUES (?, CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)) \
             ON DUPLICATE KEY UPDATE JobName = JobName",
            "INSERT INTO JobState (JobName) VALUES (?) ON DUPLICATE KEY UPDATE JobName = JobName",
        ),
        DbConn::Sqlite(_) => (
            "INSERT INTO JobLock (JobName, Token) VALUES (?, CAST(unixepoch('subsec') * 1000000 AS INTEGER)) \
             ON CONFLICT (JobName) DO NOTHING",
            "INSERT INTO JobState (JobName) VALUES (?) ON CONFLICT (JobName) DO NOTHING",
        ),
    };
    sql_query(lock).bind::<Text, _>(job).execute(conn)?;
    sql_query(state).bind::<Text, _>(job).execute(conn)?;
    Ok(())
}

#[derive(QueryableByName)]
struct NowRow {
    #[diesel(sql_type = Timestamp)]
    now: NaiveDateTime,
}

/// The database clock (UTC).
pub fn db_now(conn: &mut DbConn) -> QueryResult<NaiveDateTime> {
    let sql = match conn {
        #[cfg(feature = "mariadb")]
        DbConn::Mysql(_) => "SELECT NOW(6) AS now".to_string(),
        DbConn::Sqlite(_) => format!("SELECT {SQLITE_NOW} AS now"),
    };
    sql_query(sql).get_result::<NowRow>(conn).map(|r| r.now)
}

#[cfg(feature = "mariadb")]
fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// Multi-row INSERT in chunks of 500, on the concrete connection: the multi-backend connection
/// cannot express batch inserts (SQLite has no `DEFAULT` keyword).
macro_rules! insert_batch {
    ($conn:expr, $table:expr, $rows:expr) => {{
        use diesel::RunQueryDsl;
        let mut n = 0usize;
        for chunk in $rows.chunks(500) {
            n += match $conn {
                #[cfg(feature = "mariadb")]
                $crate::db::DbConn::Mysql(c) => diesel::insert_into($table).values(chunk).execute(c)?,
                $crate::db::DbConn::Sqlite(c) => diesel::insert_into($table).values(chunk).execute(c)?,
            };
        }
        Ok::<usize, diesel::result::Error>(n)
    }};
}
pub(crate) use insert_batch;
