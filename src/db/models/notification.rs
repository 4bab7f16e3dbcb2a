//! `NotificationDate` and `NotificationPerson`: the letters of the 18-year job.

use chrono::NaiveDate;
use diesel::prelude::*;

use super::{DateStatus, LetterStatus};
use crate::db::schema::notification_date::dsl as d;
use crate::db::schema::notification_person::dsl as p;
use crate::db::DbConn;

/// Number of `NotificationPerson` rows per stored status string (unknown strings included).
pub fn count_by_status(conn: &mut DbConn) -> QueryResult<Vec<(String, i64)>> {
    p::notification_person
        .group_by(p::status)
        .select((p::status, diesel::dsl::count_star()))
        .load(conn)
}

/// Number of rows with `status`.
pub fn count_with_status(conn: &mut DbConn, status: LetterStatus) -> QueryResult<i64> {
    p::notification_person
        .filter(p::status.eq(status.as_str()))
        .count()
        .get_result(conn)
}

/// The newest `LatestDate` with status Completed.
pub fn newest_completed_date(conn: &mut DbConn) -> QueryResult<Option<NaiveDate>> {
    d::notification_date
        .filter(d::status.eq(DateStatus::Completed.as_str()))
        .select(diesel::dsl::max(d::latest_date))
        .first(conn)
}
