//! Database access: one connection type over SQLite and MariaDB, r2d2 pools, and blocking calls
//! moved off the async runtime.

pub mod admin;
pub mod dialect;
pub mod instant;
pub mod migrate;
pub mod models;
pub mod schema;

use std::time::Duration;

use diesel::connection::SimpleConnection;
#[cfg(feature = "mariadb")]
use diesel::mysql::MysqlConnection;
use diesel::r2d2::{self, ManageConnection, PooledConnection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};

use crate::config::{Backend, DbUrl};
use crate::logging::request_id;
pub use instant::StoredInstant;

/// A connection to either backend; queries written once run on both.
///
/// The `Mysql` variant exists only with the cargo feature `mariadb` (it links the MariaDB C
/// client); SQLite is always built in.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// MariaDB / MySQL (production, shared by all nodes).
    #[cfg(feature = "mariadb")]
    Mysql(MysqlConnection),
    /// SQLite (embedded default, one node).
    Sqlite(SqliteConnection),
}

/// Opens a connection and prepares the session (SQLite pragmas, MariaDB UTC session time zone).
pub fn establish(url: &DbUrl) -> Result<DbConn, r2d2::Error> {
    match url.backend {
        Backend::Sqlite => {
            let mut c = SqliteConnection::establish(&url.target).map_err(r2d2::Error::ConnectionError)?;
            // busy_timeout first: switching to WAL itself needs the lock another node may hold.
            c.batch_execute("PRAGMA busy_timeout = 15000;")
                .map_err(r2d2::Error::QueryError)?;
            // Switching a fresh file to WAL can answer "locked" without waiting while another
            // connection switches it or holds the write lock: try again for a few seconds.
            let mut tries = 0;
            loop {
                match c
                    .batch_execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
                {
                    Err(e) if tries < 50 && e.to_string().contains("locked") => {
                        tries += 1;
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    other => break other.map_err(r2d2::Error::QueryError)?,
                }
            }
            Ok(DbConn::Sqlite(c))
        }
        #[cfg(feature = "mariadb")]
        Backend::Mysql => {
            let mut c = MysqlConnection::establish(&url.target).map_err(r2d2::Error::ConnectionError)?;
            // DATETIME carries no zone: every session reads and writes UTC so NOW(6) matches stored instants.
            c.batch_execute("SET time_zone = '+00:00'")
                .map_err(r2d2::Error::QueryError)?;
            // Galera: every read waits until this node has applied what the cluster committed
            // before it, so a slice that takes a lease another node just released reads that
            // node's last resume point and letter statuses (SPEC §5). Without Galera
            // (wsrep_on=OFF) it changes nothing; a server without the variable ignores it.
            if let Err(e) = c.batch_execute("SET SESSION wsrep_sync_wait = 1") {
                log::debug!("wsrep_sync_wait not set: {e}");
            }
            Ok(DbConn::Mysql(c))
        }
        #[cfg(not(feature = "mariadb"))]
        Backend::Mysql => Err(r2d2::Error::ConnectionError(diesel::ConnectionError::BadConnection(
            crate::config::db_url::NO_MARIADB.to_string(),
        ))),
    }
}

/// r2d2 manager that picks the backend from the URL scheme.
#[derive(Debug, Clone)]
pub struct ConnManager {
    url: DbUrl,
}

impl ManageConnection for ConnManager {
    type Connection = DbConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConn, r2d2::Error> {
        establish(&self.url)
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        diesel::sql_query("SELECT 1")
            .execute(conn)
            .map(|_| ())
            .map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        false
    }
}

/// Why a database call failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had (database down, pool exhausted).
    #[error("databasen kunne ikke nås: {0}")]
    Unavailable(String),
    /// A query failed.
    #[error("databasefejl: {0}")]
    Query(#[from] diesel::result::Error),
    /// The blocking task was cancelled or panicked.
    #[error("databasekaldet blev afbrudt: {0}")]
    Aborted(String),
}

impl DbError {
    /// A write that lost to a concurrent write of another node (see [`is_conflict`]).
    pub fn is_conflict(&self) -> bool {
        matches!(self, DbError::Query(e) if is_conflict(e))
    }
}

/// A transaction rolled back because another node's write won: MariaDB error 1213
/// (`Deadlock found when trying to get lock`), which is also how a Galera certification failure
/// or a brute-force abort reaches the client, or Galera's own deadlock/conflict text. The
/// statement changed nothing and may be retried (SPEC §5, Galera).
pub fn is_conflict(e: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match e {
        Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
        // COMMIT goes through the text protocol, whose errors diesel does not classify.
        Error::DatabaseError(_, info) => {
            let m = info.message();
            m.contains("Deadlock found when trying to get lock") || m.contains("WSREP detected deadlock/conflict")
        }
        Error::RollbackErrorOnCommit { commit_error, .. } => is_conflict(commit_error),
        _ => false,
    }
}

/// Runs `f` again (up to `attempts` times in all) while it fails with a [`is_conflict`] error:
/// for writes that two nodes may make at once (`ErrorEvent`, `JobRun` and their pruning).
pub fn retry_conflicts<T>(attempts: u32, mut f: impl FnMut() -> QueryResultOf<T>) -> QueryResultOf<T> {
    let mut left = attempts.max(1);
    let mut pause = std::time::Duration::from_millis(5);
    loop {
        match f() {
            Err(e) if left > 1 && is_conflict(&e) => {
                left -= 1;
                log::info!("a write lost to another node's write; trying again ({e})");
                // The nodes that collided would collide again at once: step back, more each time.
                std::thread::sleep(pause);
                pause *= 2;
            }
            other => return other,
        }
    }
}

/// Runs a housekeeping delete that several nodes make at the same moment (each prunes the same
/// old rows after its own insert): retried like [`retry_conflicts`], and a last conflict is no
/// error, since the node that won was deleting those very rows; the next prune takes any left.
pub fn prune_shared(what: &str, f: impl FnMut() -> QueryResultOf<usize>) -> QueryResultOf<usize> {
    match retry_conflicts(3, f) {
        Err(e) if is_conflict(&e) => {
            log::info!("pruning {what} lost to another node's prune again; the next prune takes what is left");
            Ok(0)
        }
        other => other,
    }
}

type QueryResultOf<T> = diesel::QueryResult<T>;

/// A connection pool over one datasource.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<ConnManager>,
    backend: Backend,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Db({})", self.backend.name())
    }
}

impl Db {
    /// Builds a pool without connecting, so the service starts (and reports 500) while the database is down.
    pub fn new(url: &DbUrl, size: u32) -> Db {
        let url = url.clone();
        let backend = url.backend;
        let pool = r2d2::Pool::builder()
            .max_size(size)
            .min_idle(Some(0))
            .connection_timeout(Duration::from_secs(5))
            // A restarted MariaDB leaves dead connections in the pool: test each one on checkout
            // (one `SELECT 1`) so they are replaced instead of failing the next statement.
            .test_on_check_out(true)
            .error_handler(Box::new(PoolErrorLogger))
            .build_unchecked(ConnManager { url });
        Db { pool, backend }
    }

    /// The engine behind this pool.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A pooled connection, waiting at most `timeout`.
    pub fn get_timeout(&self, timeout: Duration) -> Result<PooledConnection<ConnManager>, DbError> {
        self.pool
            .get_timeout(timeout)
            .map_err(|e| DbError::Unavailable(e.to_string()))
    }

    /// A pooled connection (blocking).
    pub fn get(&self) -> Result<PooledConnection<ConnManager>, DbError> {
        self.pool.get().map_err(|e| DbError::Unavailable(e.to_string()))
    }

    /// Runs `f` with a pooled connection on the blocking thread pool, keeping the request id in its log lines.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let rid = request_id::current();
        let task = tokio::task::spawn_blocking(move || {
            let _scope = rid.map(request_id::MdcGuard::set);
            let mut conn = pool.get().map_err(|e| E::from(DbError::Unavailable(e.to_string())))?;
            f(&mut conn)
        });
        task.await.map_err(|e| E::from(DbError::Aborted(e.to_string())))?
    }

    /// `SELECT 1` within two seconds: the status pages' database check.
    pub async fn ping(&self) -> Result<(), DbError> {
        let pool = self.pool.clone();
        let task = tokio::task::spawn_blocking(move || {
            let mut conn = pool
                .get_timeout(Duration::from_secs(2))
                .map_err(|e| DbError::Unavailable(e.to_string()))?;
            diesel::sql_query("SELECT 1").execute(&mut *conn)?;
            Ok(())
        });
        task.await.map_err(|e| DbError::Aborted(e.to_string()))?
    }
}

#[derive(Debug)]
struct PoolErrorLogger;

impl r2d2::HandleError<r2d2::Error> for PoolErrorLogger {
    fn handle_error(&self, error: r2d2::Error) {
        log::warn!("database connection failed: {error}");
    }
}

/// The datasources: ODR, and the stamdata database holding `v2_person_simplified` (often the same).
#[derive(Clone, Debug)]
pub struct Datasources {
    /// The ODR database.
    pub odr: Db,
    /// Database of `v2_person_simplified`; `None` when it is the ODR database.
    pub stamdata: Option<Db>,
}

impl Datasources {
    /// Pools for the configured datasources.
    pub fn new(settings: &crate::config::DatabaseSettings) -> Datasources {
        let odr = Db::new(&settings.url, settings.pool_size);
        let stamdata = match &settings.stamdata_url {
            Some(url) if url != &settings.url => Some(Db::new(url, settings.pool_size)),
            _ => None,
        };
        Datasources { odr, stamdata }
    }

    /// The pool that holds `v2_person_simplified`.
    pub fn stamdata(&self) -> &Db {
        self.stamdata.as_ref().unwrap_or(&self.odr)
    }

    /// `SELECT 1` on every datasource; the first failure wins.
    pub async fn ping_all(&self) -> Result<(), DbError> {
        self.odr.ping().await?;
        if let Some(s) = &self.stamdata {
            s.ping().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error};

    use super::*;

    fn conflict() -> Error {
        Error::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("Deadlock found when trying to get lock; try restarting transaction".to_string()),
        )
    }

    #[test]
    fn a_conflict_is_tried_again_up_to_the_attempts_and_other_errors_are_not() {
        let mut calls = 0;
        let r: QueryResultOf<usize> = retry_conflicts(3, || {
            calls += 1;
            Err(conflict())
        });
        assert!(r.is_err_and(|e| is_conflict(&e)));
        assert_eq!(calls, 3);
        let mut calls = 0;
        let r: QueryResultOf<usize> = retry_conflicts(3, || {
            calls += 1;
            if calls < 2 {
                Err(conflict())
            } else {
                Ok(7)
            }
        });
        assert_eq!((r.ok(), calls), (Some(7), 2));
        let mut calls = 0;
        let r: QueryResultOf<usize> = retry_conflicts(3, || {
            calls += 1;
            Err(Error::NotFound)
        });
        assert!(matches!(r, Err(Error::NotFound)));
        assert_eq!(calls, 1, "only a conflict is retried");
    }

    #[test]
    fn a_prune_that_keeps_losing_to_another_nodes_prune_is_no_error_but_other_failures_are() {
        let mut calls = 0;
        let r = prune_shared("JobRun", || {
            calls += 1;
            Err(conflict())
        });
        assert_eq!((r.ok(), calls), (Some(0), 3));
        let r = prune_shared("JobRun", || Err(Error::NotFound));
        assert!(matches!(r, Err(Error::NotFound)));
        assert_eq!(prune_shared("JobRun", || Ok(300)).ok(), Some(300));
    }
}
