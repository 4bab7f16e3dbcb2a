//! `v2_person_simplified`: the CPR master data the notification job reads (possibly in the
//! separate stamdata database, so no query here joins it with ODR tables).

use chrono::NaiveDate;
use diesel::prelude::*;

use crate::db::schema::person_simplified::dsl as v;
use crate::db::DbConn;

/// CPR status codes of an active citizen (SPEC §6): only they receive letters.
pub const ACTIVE_STATUSES: [&str; 4] = ["01", "03", "05", "07"];

/// CPR numbers of the citizens with an active status born on one of `births`, in CPR order.
pub fn active_born_on(conn: &mut DbConn, births: &[NaiveDate]) -> QueryResult<Vec<String>> {
    if births.is_empty() {
        return Ok(Vec::new());
    }
    v::person_simplified
        .filter(v::birth_date.eq_any(births))
        .filter(v::status.eq_any(ACTIVE_STATUSES))
        .select(v::cpr)
        .order(v::cpr)
        .load(conn)
}
