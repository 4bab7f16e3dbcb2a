//! Embedded migrations, one folder per backend with identical names, applied on a plain connection.

use diesel::connection::SimpleConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::{establish, DbConn, DbUrl};

/// SQLite migrations (`migrations/sqlite`).
pub const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
/// MariaDB / MySQL migrations (`migrations/mysql`).
pub const MYSQL: EmbeddedMigrations = embed_migrations!("migrations/mysql");

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The URL names no backend.
    #[error(transparent)]
    Url(#[from] super::BadDbUrl),
    /// The database cannot be reached.
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migration(String),
}

/// Applies pending migrations to the database at `url`; returns the names applied.
pub fn run(url: &str) -> Result<Vec<String>, MigrateError> {
    let url = DbUrl::parse(url)?;
    let mut conn = establish(&url).map_err(|e| MigrateError::Connect(e.to_string()))?;
    let applied = match &mut conn {
        DbConn::Sqlite(c) => apply(c, SQLITE)?,
        DbConn::Mysql(c) => {
            // Nodes of a cluster start together: a named lock lets one of them migrate at a time.
            c.batch_execute("DO GET_LOCK('odr_operations_migrate', 120)")
                .map_err(|e| MigrateError::Migration(e.to_string()))?;
            let result = apply(c, MYSQL);
            let _ = c.batch_execute("DO RELEASE_LOCK('odr_operations_migrate')");
            result?
        }
    };
    Ok(applied)
}

fn apply<C>(conn: &mut C, migrations: EmbeddedMigrations) -> Result<Vec<String>, MigrateError>
where
    C: MigrationHarness<C::Backend> + diesel::Connection,
{
    conn.run_pending_migrations(migrations)
        .map(|versions| versions.iter().map(|v| v.to_string()).collect())
        .map_err(|e| MigrateError::Migration(e.to_string()))
}

#[cfg(test)]
mod tests {
    use diesel::migration::MigrationSource;

    use super::*;

    fn names(m: &EmbeddedMigrations) -> Vec<String> {
        let list = MigrationSource::<diesel::sqlite::Sqlite>::migrations(m).unwrap_or_default();
        list.iter().map(|m| m.name().to_string()).collect()
    }

    #[test]
    fn both_backends_have_the_same_migration_names() {
        let sqlite = names(&SQLITE);
        let mysql_list = MigrationSource::<diesel::mysql::Mysql>::migrations(&MYSQL).unwrap_or_default();
        let mysql: Vec<String> = mysql_list.iter().map(|m| m.name().to_string()).collect();
        assert!(!sqlite.is_empty());
        assert_eq!(sqlite, mysql);
    }
}
