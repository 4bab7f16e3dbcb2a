//! `OrganDonorRegistration` (and the CPR walk over it and `NotificationPerson`).

use diesel::prelude::*;

use crate::db::schema::notification_person::dsl as p;
use crate::db::schema::organ_donor_registration::dsl as r;
use crate::db::DbConn;
use crate::db::StoredInstant;

/// The next `limit` distinct CPR numbers after `after` that have any data (registrations or
/// letters), in CPR order. Keyset pagination: the cost does not grow with the position.
pub fn next_cprs_with_data(conn: &mut DbConn, after: &str, limit: usize) -> QueryResult<Vec<String>> {
    let n = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut from_registrations: Vec<String> = r::organ_donor_registration
        .select(r::cpr)
        .filter(r::cpr.gt(after))
        .distinct()
        .order(r::cpr)
        .limit(n)
        .load(conn)?;
    let from_letters: Vec<String> = p::notification_person
        .select(p::cpr)
        .filter(p::cpr.gt(after))
        .distinct()
        .order(p::cpr)
        .limit(n)
        .load(conn)?;
    from_registrations.extend(from_letters);
    from_registrations.sort_unstable();
    from_registrations.dedup();
    from_registrations.truncate(limit);
    Ok(from_registrations)
}

/// The next `limit` distinct CPR numbers after `after` with a registration active at `at`.
pub fn next_cprs_with_active_registration(
    conn: &mut DbConn,
    after: &str,
    at: StoredInstant,
    limit: usize,
) -> QueryResult<Vec<String>> {
    r::organ_donor_registration
        .select(r::cpr)
        .filter(r::cpr.gt(after))
        .filter(r::valid_from.le(at))
        .filter(r::valid_to.is_null().or(r::valid_to.gt(at)))
        .distinct()
        .order(r::cpr)
        .limit(i64::try_from(limit).unwrap_or(i64::MAX))
        .load(conn)
}

/// Removes every registration (active or historical) and every letter of these citizens;
/// returns (registrations, letters) removed.
pub fn delete_all_for(conn: &mut DbConn, cprs: &[String]) -> QueryResult<(usize, usize)> {
    if cprs.is_empty() {
        return Ok((0, 0));
    }
    let letters = diesel::delete(p::notification_person.filter(p::cpr.eq_any(cprs))).execute(conn)?;
    let registrations = diesel::delete(r::organ_donor_registration.filter(r::cpr.eq_any(cprs))).execute(conn)?;
    Ok((registrations, letters))
}

/// Closes the registrations of these citizens that are active at `at` (`ValidTo` = `at`);
/// returns how many rows were closed.
pub fn close_active(conn: &mut DbConn, cprs: &[String], at: StoredInstant) -> QueryResult<usize> {
    if cprs.is_empty() {
        return Ok(0);
    }
    diesel::update(
        r::organ_donor_registration
            .filter(r::cpr.eq_any(cprs))
            .filter(r::valid_from.le(at))
            .filter(r::valid_to.is_null().or(r::valid_to.gt(at))),
    )
    .set((r::valid_to.eq(Some(at)), r::modified.eq(at)))
    .execute(conn)
}

/// Whether the citizen has a registration active at `at` (decides the letter template).
pub fn has_active(conn: &mut DbConn, cpr: &str, at: StoredInstant) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        r::organ_donor_registration
            .filter(r::cpr.eq(cpr))
            .filter(r::valid_from.le(at))
            .filter(r::valid_to.is_null().or(r::valid_to.gt(at))),
    ))
    .get_result(conn)
}

/// A registration to insert (tests, demo and benchmarks build populations with it).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = crate::db::schema::organ_donor_registration)]
pub struct NewRegistration {
    /// `Cpr`.
    pub cpr: String,
    /// `PermissionType` (FULL, FULL_WITH_RESEARCH, LIMITED, LIMITED_WITH_RESEARCH, NONE, DONT_KNOW).
    pub permission_type: String,
    /// `Heart`.
    pub heart: bool,
    /// `Lungs`.
    pub lungs: bool,
    /// `Liver`.
    pub liver: bool,
    /// `Pancreas`.
    pub pancreas: bool,
    /// `Kidneys`.
    pub kidneys: bool,
    /// `Cornea`.
    pub cornea: bool,
    /// `SmallIntestine`.
    pub small_intestine: bool,
    /// `Skin`.
    pub skin: bool,
    /// `RequiresRelativeAcceptance`.
    pub requires_relative_acceptance: bool,
    /// `ValidFrom`.
    pub valid_from: StoredInstant,
    /// `ValidTo`.
    pub valid_to: Option<StoredInstant>,
    /// `CreatedDateTime`.
    pub created: StoredInstant,
    /// `ModifiedDateTime`.
    pub modified: StoredInstant,
}

impl NewRegistration {
    /// A FULL registration valid from `from`, open or closed at `to`.
    pub fn full(cpr: &str, from: StoredInstant, to: Option<StoredInstant>) -> NewRegistration {
        NewRegistration {
            cpr: cpr.to_string(),
            permission_type: "FULL".to_string(),
            heart: true,
            lungs: true,
            liver: true,
            pancreas: true,
            kidneys: true,
            cornea: true,
            small_intestine: true,
            skin: true,
            requires_relative_acceptance: false,
            valid_from: from,
            valid_to: to,
            created: from,
            modified: from,
        }
    }
}

/// Inserts registrations in multi-row chunks (bulk loading for tests, demo and benchmarks).
pub fn insert_many(conn: &mut DbConn, rows: &[NewRegistration]) -> QueryResult<usize> {
    crate::db::dialect::insert_batch!(conn, r::organ_donor_registration, rows)
}
