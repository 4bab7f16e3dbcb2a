//! When this database was first migrated: the service's first start, for a job that never ran.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Timestamp};

use crate::db::DbConn;

#[derive(QueryableByName)]
struct First {
    #[diesel(sql_type = Nullable<Timestamp>)]
    at: Option<NaiveDateTime>,
}

/// The time (UTC) the first migration was applied, from diesel's own bookkeeping table.
pub fn first_start(conn: &mut DbConn) -> QueryResult<Option<NaiveDateTime>> {
    diesel::sql_query("SELECT MIN(run_on) AS at FROM __diesel_schema_migrations")
        .get_result::<First>(conn)
        .map(|f| f.at)
}
