//! `ErrorEvent`: failures of external services, counted across nodes by the alarm pages.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::{stored, Service};
use crate::db::schema::error_event::dsl as e;
use crate::db::{prune_shared, retry_conflicts, DbConn};

/// Records one failure of `service`, then deletes the events older than `keep_after`.
///
/// Two statements, not one transaction: on Galera the nodes that fail at the same moment prune
/// the same old events, and all but one lose certification. The event alone is a new key no other
/// node writes, so it commits (a conflict means it did not, and it is tried again: never counted
/// twice); a prune that keeps losing leaves the rest to the next one.
pub fn record(
    conn: &mut DbConn,
    service: Service,
    (at, keep_after): (DateTime<Utc>, DateTime<Utc>),
    message: &str,
) -> QueryResult<()> {
    let message: String = message.chars().take(2000).collect();
    retry_conflicts(5, || {
        diesel::insert_into(e::error_event)
            .values((
                e::service.eq(service.as_str()),
                e::occurred_at.eq(stored(at)),
                e::message.eq(&message),
            ))
            .execute(conn)
    })?;
    prune_shared("ErrorEvent", || prune(conn, keep_after))?;
    Ok(())
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
