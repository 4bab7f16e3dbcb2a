//! `NotificationDate` and `NotificationPerson`: the letters of the 18-year job.
//!
//! Statuses are read as the strings an operator may have typed; a value that is not one of
//! [`LetterStatus`] / [`DateStatus`] is reported, never parsed into a panic.

use std::collections::HashSet;

use chrono::NaiveDate;
use diesel::prelude::*;

use super::{DateStatus, LetterStatus};
use crate::db::schema::notification_date::dsl as d;
use crate::db::schema::notification_person::dsl as p;
use crate::db::schema::organ_donor_registration::dsl as r;
use crate::db::DbConn;
use crate::db::StoredInstant;

/// `NotificationType` of the 18-year letter.
pub const TYPE_18AAR: &str = "18aar";

/// CPR numbers per `IN (...)` list: well below SQLite's bind limit, short on MariaDB.
const IN_CHUNK: usize = 1000;

/// Number of rows per stored status other than Completed (unknown strings included), from
/// the two ranges of the `(Status, NotificationDatePID)` index around Completed: cheap however
/// many letters are Completed. Two queries, because SQLite scans the whole index for an OR.
pub fn count_open_by_status(conn: &mut DbConn) -> QueryResult<Vec<(String, i64)>> {
    let completed = LetterStatus::Completed.as_str();
    let mut below: Vec<(String, i64)> = p::notification_person
        .filter(p::status.lt(completed))
        .group_by(p::status)
        .select((p::status, diesel::dsl::count_star()))
        .load(conn)?;
    let above: Vec<(String, i64)> = p::notification_person
        .filter(p::status.gt(completed))
        .group_by(p::status)
        .select((p::status, diesel::dsl::count_star()))
        .load(conn)?;
    below.extend(above);
    Ok(below)
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

/// A `NotificationDate` row as stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = crate::db::schema::notification_date)]
pub struct DateRow {
    /// `NotificationDatePID`.
    pub id: i64,
    /// `Status` as stored (may be a value an operator invented).
    pub status: String,
    /// `LatestDate`: the notification date.
    pub latest_date: NaiveDate,
}

/// A letter as the sender needs it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = crate::db::schema::notification_person)]
pub struct LetterRow {
    /// `NotificationPersonPID`.
    pub id: i64,
    /// `Cpr` as stored.
    pub cpr: String,
    /// `Status` as stored when the row was taken.
    pub status: String,
    /// `MessageId`, reused on every resend.
    pub message_id: String,
    /// `TemplateDigital`.
    pub template_digital: String,
    /// `TemplatePhysical`.
    pub template_physical: String,
}

/// A letter to insert at extraction.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = crate::db::schema::notification_person)]
pub struct NewLetter {
    /// `NotificationDatePID`.
    pub notification_date_id: i64,
    /// `Cpr`.
    pub cpr: String,
    /// `NotificationType` ([`TYPE_18AAR`]).
    pub notification_type: String,
    /// `Status` (Pending).
    pub status: String,
    /// `MessageId` (a new UUID).
    pub message_id: String,
    /// `TemplateDigital`.
    pub template_digital: String,
    /// `TemplatePhysical`.
    pub template_physical: String,
    /// `CreatedDateTime`.
    pub created: StoredInstant,
    /// `ModifiedDateTime`.
    pub modified: StoredInstant,
}

/// The oldest date up to `up_to` that is not Completed (unknown statuses included): the
/// date the job works on. `LatestDate` is unique and indexed, so this is one index probe.
pub fn oldest_open_date(conn: &mut DbConn, up_to: NaiveDate) -> QueryResult<Option<DateRow>> {
    d::notification_date
        .filter(d::status.ne(DateStatus::Completed.as_str()))
        .filter(d::latest_date.le(up_to))
        .order(d::latest_date)
        .select(DateRow::as_select())
        .first(conn)
        .optional()
}

/// The newest `LatestDate` of any status.
pub fn newest_date(conn: &mut DbConn) -> QueryResult<Option<NaiveDate>> {
    d::notification_date
        .select(diesel::dsl::max(d::latest_date))
        .first(conn)
}

/// The row of `date`, inserted as Pending when missing (the id is read back by the unique date).
pub fn date_row_or_insert(conn: &mut DbConn, date: NaiveDate, now: StoredInstant) -> QueryResult<DateRow> {
    let existing = d::notification_date
        .filter(d::latest_date.eq(date))
        .select(DateRow::as_select())
        .first(conn)
        .optional()?;
    if let Some(row) = existing {
        return Ok(row);
    }
    diesel::insert_into(d::notification_date)
        .values((
            d::status.eq(DateStatus::Pending.as_str()),
            d::latest_date.eq(date),
            d::created.eq(now),
            d::modified.eq(now),
        ))
        .execute(conn)?;
    d::notification_date
        .filter(d::latest_date.eq(date))
        .select(DateRow::as_select())
        .first(conn)
}

/// Sets the status of date `id`; returns the rows changed.
pub fn set_date_status(conn: &mut DbConn, id: i64, status: DateStatus, now: StoredInstant) -> QueryResult<usize> {
    diesel::update(d::notification_date.filter(d::id.eq(id)))
        .set((d::status.eq(status.as_str()), d::modified.eq(now)))
        .execute(conn)
}

/// Those of `cprs` that already have a letter of `kind` (a citizen gets one letter of a kind, ever).
pub fn cprs_with_letter(conn: &mut DbConn, cprs: &[String], kind: &str) -> QueryResult<HashSet<String>> {
    let mut found = HashSet::new();
    for chunk in cprs.chunks(IN_CHUNK) {
        let rows: Vec<String> = p::notification_person
            .filter(p::notification_type.eq(kind))
            .filter(p::cpr.eq_any(chunk))
            .select(p::cpr)
            .load(conn)?;
        found.extend(rows);
    }
    Ok(found)
}

/// Those of `cprs` with an `OrganDonorRegistration` active at `at` (they get the *descided*
/// templates). One set query per chunk instead of one query per citizen.
pub fn cprs_with_active_registration(
    conn: &mut DbConn,
    cprs: &[String],
    at: StoredInstant,
) -> QueryResult<HashSet<String>> {
    let mut found = HashSet::new();
    for chunk in cprs.chunks(IN_CHUNK) {
        let rows: Vec<String> = r::organ_donor_registration
            .filter(r::cpr.eq_any(chunk))
            .filter(r::valid_from.le(at))
            .filter(r::valid_to.is_null().or(r::valid_to.gt(at)))
            .select(r::cpr)
            .distinct()
            .load(conn)?;
        found.extend(rows);
    }
    Ok(found)
}

/// Inserts letters in multi-row chunks; returns how many.
pub fn insert_letters(conn: &mut DbConn, rows: &[NewLetter]) -> QueryResult<usize> {
    crate::db::dialect::insert_batch!(conn, p::notification_person, rows)
}

/// Takes up to `limit` letters of date `date_id` with an id above `after_id` that are Pending or
/// were left InProgress by a dead slice, marks them InProgress and returns them as they were
/// before (lowest id first). Run inside the fenced commit, so selecting and marking are one
/// transaction. `after_id` lets a slice claim its next batch while the current one (lower ids,
/// InProgress) is being sent.
pub fn claim(
    conn: &mut DbConn,
    date_id: i64,
    (after_id, limit): (i64, usize),
    now: StoredInstant,
) -> QueryResult<Vec<LetterRow>> {
    let open = [LetterStatus::Pending.as_str(), LetterStatus::InProgress.as_str()];
    let rows: Vec<LetterRow> = p::notification_person
        .filter(p::notification_date_id.eq(date_id))
        .filter(p::id.gt(after_id))
        .filter(p::status.eq_any(open))
        .order(p::id)
        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
        .select(LetterRow::as_select())
        .load(conn)?;
    let ids: Vec<i64> = rows.iter().map(|l| l.id).collect();
    for chunk in ids.chunks(IN_CHUNK) {
        diesel::update(
            p::notification_person
                .filter(p::id.eq_any(chunk))
                .filter(p::status.eq_any(open)),
        )
        .set((p::status.eq(LetterStatus::InProgress.as_str()), p::modified.eq(now)))
        .execute(conn)?;
    }
    Ok(rows)
}

/// Marks InProgress letters Sent at `at`; returns the rows changed.
pub fn mark_sent(conn: &mut DbConn, ids: &[i64], at: StoredInstant) -> QueryResult<usize> {
    settle(conn, ids, LetterStatus::Sent, at)
}

/// Moves InProgress letters `ids` to `to` in chunks (Sent: `SentAtDateTime` = `at`).
fn settle(conn: &mut DbConn, ids: &[i64], to: LetterStatus, at: StoredInstant) -> QueryResult<usize> {
    let sent_at = (to == LetterStatus::Sent).then_some(at);
    let mut n = 0;
    for chunk in ids.chunks(IN_CHUNK) {
        n += diesel::update(
            p::notification_person
                .filter(p::id.eq_any(chunk))
                .filter(p::status.eq(LetterStatus::InProgress.as_str())),
        )
        .set((
            p::status.eq(to.as_str()),
            p::sent_at.eq(sent_at),
            p::error_message.eq(None::<String>),
            p::modified.eq(at),
        ))
        .execute(conn)?;
    }
    Ok(n)
}

/// Marks one InProgress letter Error with `message` (which must not contain a CPR number).
pub fn mark_error(conn: &mut DbConn, id: i64, message: &str, at: StoredInstant) -> QueryResult<usize> {
    let message: String = message.chars().take(1000).collect();
    diesel::update(
        p::notification_person
            .filter(p::id.eq(id))
            .filter(p::status.eq(LetterStatus::InProgress.as_str())),
    )
    .set((
        p::status.eq(LetterStatus::Error.as_str()),
        p::error_message.eq(Some(message)),
        p::modified.eq(at),
    ))
    .execute(conn)
}

/// Puts InProgress letters back to Pending (not handled by the adapter); returns the rows changed.
pub fn mark_pending(conn: &mut DbConn, ids: &[i64], at: StoredInstant) -> QueryResult<usize> {
    settle(conn, ids, LetterStatus::Pending, at)
}

/// Letters of date `date_id` per stored status string.
pub fn counts_for_date(conn: &mut DbConn, date_id: i64) -> QueryResult<Vec<(String, i64)>> {
    p::notification_person
        .filter(p::notification_date_id.eq(date_id))
        .group_by(p::status)
        .select((p::status, diesel::dsl::count_star()))
        .load(conn)
}

/// What holds a date back from completion: (status as stored, count) of every letter that is
/// neither Sent nor Completed.
pub fn holding(counts: &[(String, i64)]) -> Vec<(String, i64)> {
    counts
        .iter()
        .filter(|(s, n)| {
            *n > 0
                && !matches!(
                    LetterStatus::parse(s),
                    Some(LetterStatus::Sent | LetterStatus::Completed)
                )
        })
        .cloned()
        .collect()
}

/// Completes date `date_id` if every letter of it is Sent (or already Completed): the letters
/// and the date become Completed. Returns the letters still holding it (empty: completed).
/// Run inside the fenced commit, so the check and the change are one transaction.
pub fn complete_date_if_done(conn: &mut DbConn, date_id: i64, now: StoredInstant) -> QueryResult<Vec<(String, i64)>> {
    let held = holding(&counts_for_date(conn, date_id)?);
    if !held.is_empty() {
        return Ok(held);
    }
    diesel::update(
        p::notification_person
            .filter(p::notification_date_id.eq(date_id))
            .filter(p::status.eq(LetterStatus::Sent.as_str())),
    )
    .set((p::status.eq(LetterStatus::Completed.as_str()), p::modified.eq(now)))
    .execute(conn)?;
    diesel::update(d::notification_date.filter(d::id.eq(date_id)))
        .set((d::status.eq(DateStatus::Completed.as_str()), d::modified.eq(now)))
        .execute(conn)?;
    Ok(Vec::new())
}

/// Letters that are not Completed, per (notification date, stored status), oldest date first.
pub fn open_counts_by_date(conn: &mut DbConn) -> QueryResult<Vec<(NaiveDate, String, i64)>> {
    // Grouped on NotificationPerson alone, in the order of its (Status, NotificationDatePID)
    // index, then the few date ids are mapped to their dates. The two ranges around Completed
    // are two queries: they skip the (millions of) Completed letters on both backends.
    let completed = LetterStatus::Completed.as_str();
    let mut grouped: Vec<(String, i64, i64)> = p::notification_person
        .filter(p::status.lt(completed))
        .group_by((p::status, p::notification_date_id))
        .select((p::status, p::notification_date_id, diesel::dsl::count_star()))
        .load(conn)?;
    grouped.extend(
        p::notification_person
            .filter(p::status.gt(completed))
            .group_by((p::status, p::notification_date_id))
            .select((p::status, p::notification_date_id, diesel::dsl::count_star()))
            .load::<(String, i64, i64)>(conn)?,
    );
    let grouped: Vec<(i64, String, i64)> = grouped.into_iter().map(|(s, id, n)| (id, s, n)).collect();
    let mut ids: Vec<i64> = grouped.iter().map(|(id, _, _)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut dates = std::collections::HashMap::new();
    for chunk in ids.chunks(IN_CHUNK) {
        let rows: Vec<(i64, NaiveDate)> = d::notification_date
            .filter(d::id.eq_any(chunk))
            .select((d::id, d::latest_date))
            .load(conn)?;
        dates.extend(rows);
    }
    let mut out: Vec<(NaiveDate, String, i64)> = grouped
        .into_iter()
        .filter_map(|(id, status, n)| dates.get(&id).map(|day| (*day, status, n)))
        .collect();
    out.sort();
    Ok(out)
}

/// Number of `NotificationDate` rows per stored status string (unknown strings included).
pub fn date_count_by_status(conn: &mut DbConn) -> QueryResult<Vec<(String, i64)>> {
    d::notification_date
        .group_by(d::status)
        .select((d::status, diesel::dsl::count_star()))
        .load(conn)
}

/// A stored status fit for pages and logs: one line, at most 40 characters, no CPR-like digit
/// runs (an operator may have typed anything into the column).
pub fn shown_status(raw: &str) -> String {
    // Masked before it is cut: a digit run across the cut must not show its first digits.
    let out: String = crate::cpr::mask_digit_runs(raw.trim())
        .chars()
        .take(40)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if out.is_empty() {
        "(tom)".to_string()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_status_hides_digit_runs_and_bounds_length() {
        assert_eq!(shown_status("Sendt"), "Sendt");
        assert_eq!(shown_status(" Error "), "Error");
        assert_eq!(shown_status("x0101081234y"), "x**********y");
        assert_eq!(
            shown_status(&format!("{}0101081234", "x".repeat(35))),
            format!("{}*****", "x".repeat(35))
        );
        assert_eq!(shown_status("v12"), "v12");
        assert_eq!(shown_status(""), "(tom)");
        assert_eq!(shown_status("a\nb"), "a?b");
        assert_eq!(shown_status(&"x".repeat(100)).len(), 40);
    }

    #[test]
    fn holding_ignores_sent_and_completed_and_keeps_unknown() {
        let counts = vec![
            ("Sent".to_string(), 3),
            ("Completed".to_string(), 1),
            ("Error".to_string(), 1),
            ("Sendt".to_string(), 2),
        ];
        assert_eq!(
            holding(&counts),
            vec![("Error".to_string(), 1), ("Sendt".to_string(), 2)]
        );
    }
}
