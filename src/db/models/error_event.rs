//! `ErrorEvent`: failures of external services, counted across nodes by the alarm pages.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::{stored, Service};
use crate::db::schema::error_event::dsl as e;
use crate::db::DbConn;

/// Records one failure of `service` and deletes the events older than `keep_after`, in one
/// transaction: when it loses to another node's write (Galera) nothing was written, so running it
/// again cannot record the failure twice.
pub fn record(
    conn: &mut DbConn,
    service: Service,
    (at, keep_after): (DateTime<Utc>, DateTime<Utc>),
    message: &str,
) -> QueryResult<()> {
    let message: String = message.chars().take(2000).collect();
    conn.transaction(|conn| {
        diesel::insert_into(e::error_event)
            .values((
                e::service.eq(service.as_str()),
                e::occurred_at.eq(stored(at)),
                e::message.eq(&message),
            ))
            .execute(conn)?;
        prune(conn, keep_after).map(|_| ())
    })
}

/// Failures of `service` at or after `since`.
pub fn count_since(conn: &mut DbConn, service: Service, since: DateTime<Utc>) -> QueryResult<i64> {
    e::error_event
        .filter(e::service.eq(service.as_str()))
        .filter(e::occurred_at.ge(stored(since)))
        .count()
        .get_result(conn)
}

/// Deletes events older than `before`; returns how many.
pub fn prune(conn: &mut DbConn, before: DateTime<Utc>) -> QueryResult<usize> {
    diesel::delete(e::error_event.filter(e::occurred_at.lt(stored(before)))).execute(conn)
}
