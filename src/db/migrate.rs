//! Embedded migrations, one folder per backend with identical names, applied on a plain connection.

use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::{establish, DbConn};
use crate::config::DbUrl;

/// SQLite migrations (`migrations/sqlite`).
pub const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
/// MariaDB / MySQL migrations (`migrations/mysql`).
#[cfg(feature = "mariadb")]
pub const MYSQL: EmbeddedMigrations = embed_migrations!("migrations/mysql");

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The database cannot be reached.
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migration(String),
}

/// Applies pending migrations to the database at `url`; returns the names applied.
pub fn run(url: &DbUrl) -> Result<Vec<String>, MigrateError> {
    let mut conn = establish(url).map_err(|e| MigrateError::Connect(e.to_string()))?;
    let applied = match &mut conn {
        DbConn::Sqlite(c) => apply(c, SQLITE)?,
        #[cfg(feature = "mariadb")]
        DbConn::Mysql(c) => {
            use diesel::connection::SimpleConnection;
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
    /// Migration folder names of one backend, sorted.
    fn folders(backend: &str) -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn both_backends_have_the_same_migration_names() {
        let sqlite = folders("sqlite");
        assert!(!sqlite.is_empty());
        assert_eq!(sqlite, folders("mysql"));
        let embedded: Vec<String> =
            diesel::migration::MigrationSource::<diesel::sqlite::Sqlite>::migrations(&super::SQLITE)
                .unwrap()
                .iter()
                .map(|m| m.name().to_string())
                .collect();
        assert_eq!(embedded, sqlite);
    }

    #[cfg(feature = "mariadb")]
    #[test]
    fn the_mysql_migrations_embedded_are_the_folders() {
        let embedded: Vec<String> =
            diesel::migration::MigrationSource::<diesel::mysql::Mysql>::migrations(&super::MYSQL)
                .unwrap()
                .iter()
                .map(|m| m.name().to_string())
                .collect();
        assert_eq!(embedded, folders("mysql"));
    }
}
