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
        DbConn::Sqlite(c) => sqlite_locked(c)?,
        #[cfg(feature = "mariadb")]
        DbConn::Mysql(c) => {
            // Nodes of a cluster start together, maybe each on its own Galera node: the lock
            // row lets one of them migrate at a time (GET_LOCK is node-local under Galera).
            let owner = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
            mysql_lock::take(c, &owner)?;
            let result = apply(c, || MYSQL);
            mysql_lock::release(c, &owner);
            result?
        }
    };
    Ok(applied)
}

/// The migration lock of MariaDB: one row in `MigrationLock`, taken with a conditional UPDATE on
/// the database clock, so it holds across the nodes of a Galera cluster (SPEC §5). A node that
/// dies while migrating holds it at most [`mysql_lock::HOLD`].
#[cfg(feature = "mariadb")]
mod mysql_lock {
    use std::time::{Duration, Instant};

    use diesel::connection::SimpleConnection;
    use diesel::mysql::MysqlConnection;
    use diesel::sql_types::Text;
    use diesel::RunQueryDsl;

    use super::MigrateError;
    use crate::db::is_conflict;

    /// How long one migration run may hold the lock.
    pub const HOLD: Duration = Duration::from_secs(300);
    /// How long a node waits for another node's migration.
    const WAIT: Duration = Duration::from_secs(360);

    fn failed(e: diesel::result::Error) -> MigrateError {
        MigrateError::Migration(format!("the migration lock: {e}"))
    }

    /// Waits until this node holds the lock.
    pub fn take(c: &mut MysqlConnection, owner: &str) -> Result<(), MigrateError> {
        // IF NOT EXISTS and the duplicate-ignoring insert are safe when every node runs them at once.
        c.batch_execute(
            "CREATE TABLE IF NOT EXISTS MigrationLock (LockId INT NOT NULL PRIMARY KEY, \
             Owner VARCHAR(200) NULL, LockedUntil DATETIME(6) NULL) ENGINE=InnoDB",
        )
        .map_err(failed)?;
        let started = Instant::now();
        loop {
            let attempt = c
                .batch_execute("INSERT INTO MigrationLock (LockId) VALUES (1) ON DUPLICATE KEY UPDATE LockId = LockId")
                .and_then(|()| {
                    diesel::sql_query(format!(
                        "UPDATE MigrationLock SET Owner = ?, LockedUntil = NOW(6) + INTERVAL {} SECOND \
                         WHERE LockId = 1 AND (LockedUntil IS NULL OR LockedUntil <= NOW(6))",
                        HOLD.as_secs()
                    ))
                    .bind::<Text, _>(owner)
                    .execute(c)
                });
            match attempt {
                Ok(1) => return Ok(()),
                // Held by another node, or two nodes took it at once and the other one won.
                Ok(_) => {}
                Err(e) if is_conflict(&e) => {}
                Err(e) => return Err(failed(e)),
            }
            if started.elapsed() > WAIT {
                return Err(MigrateError::Migration(format!(
                    "another node has held the migration lock (table MigrationLock) for over {} s",
                    WAIT.as_secs()
                )));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Frees the lock if this node still holds it (else it expires by itself).
    pub fn release(c: &mut MysqlConnection, owner: &str) {
        let freed = diesel::sql_query(
            "UPDATE MigrationLock SET Owner = NULL, LockedUntil = NULL WHERE LockId = 1 AND Owner = ?",
        )
        .bind::<Text, _>(owner)
        .execute(c);
        if let Err(e) = freed {
            log::warn!(
                "the migration lock was not released ({e}); it expires within {} s",
                HOLD.as_secs()
            );
        }
    }
}

/// The SQLite migrations under the file's write lock (`BEGIN IMMEDIATE`; each migration a
/// savepoint inside): a second process waits (busy timeout), then finds nothing pending.
fn sqlite_locked(c: &mut diesel::sqlite::SqliteConnection) -> Result<Vec<String>, MigrateError> {
    let mut applied = Err(MigrateError::Migration("not run".to_string()));
    let locked = c.immediate_transaction::<_, diesel::result::Error, _>(|c| {
        applied = apply(c, || SQLITE);
        match applied {
            Ok(_) => Ok(()),
            // Roll back whatever a failed migration left.
            Err(_) => Err(diesel::result::Error::RollbackTransaction),
        }
    });
    match (locked, applied) {
        (_, Err(e)) => Err(e),
        (Err(e), Ok(_)) => Err(MigrateError::Migration(e.to_string())),
        (Ok(()), Ok(applied)) => Ok(applied),
    }
}

fn apply<C>(conn: &mut C, migrations: fn() -> EmbeddedMigrations) -> Result<Vec<String>, MigrateError>
where
    C: MigrationHarness<C::Backend> + diesel::Connection,
{
    let run = |conn: &mut C| {
        conn.run_pending_migrations(migrations())
            .map(|versions| versions.iter().map(|v| v.to_string()).collect::<Vec<_>>())
            .map_err(|e| e.to_string())
    };
    // Another process may apply the same migration between our look and our run (SQLite files
    // shared by two processes; the second one's DDL waits on the lock, then finds the change
    // made): look again; what it applied is no longer pending.
    let mut attempts = 0;
    loop {
        match run(conn) {
            Err(e) if attempts < 3 && (e.contains("already exists") || e.contains("duplicate column")) => {
                attempts += 1;
                log::info!("a migration was applied by another process meanwhile ({e}); checking again");
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            other => return other.map_err(MigrateError::Migration),
        }
    }
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
        assert_eq!(embedded::<diesel::sqlite::Sqlite>(&super::SQLITE), sqlite);
    }

    /// The names of the migrations embedded in the binary for backend `B`.
    fn embedded<B: diesel::backend::Backend>(m: &super::EmbeddedMigrations) -> Vec<String>
    where
        super::EmbeddedMigrations: diesel::migration::MigrationSource<B>,
    {
        diesel::migration::MigrationSource::<B>::migrations(m)
            .unwrap()
            .iter()
            .map(|m| m.name().to_string())
            .collect()
    }

    #[cfg(feature = "mariadb")]
    #[test]
    fn the_mysql_migrations_embedded_are_the_folders() {
        assert_eq!(embedded::<diesel::mysql::Mysql>(&super::MYSQL), folders("mysql"));
    }
}
