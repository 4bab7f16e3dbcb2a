//! A database made for one test or one benchmark run and removed when dropped: a SQLite file in
//! a temporary directory, or `odr_<purpose>_<uuid>` on a MariaDB server.

use std::path::PathBuf;

use crate::config::{Backend, DbUrl};
use crate::db::admin::{self, AdminError};
use crate::db::{establish, DbConn};

/// The MariaDB server of the tests and the bench: `$ODR_TEST_MYSQL_URL`, else root on 127.0.0.1:3306.
pub fn mysql_server_url() -> String {
    std::env::var("ODR_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_string())
}

/// A throwaway database.
pub struct ScratchDb {
    /// Its URL.
    pub url: DbUrl,
    /// The MariaDB database name, if on MariaDB.
    pub mysql_name: Option<String>,
    dir: Option<tempfile::TempDir>,
}

/// Why a scratch database could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    /// The MariaDB server is not there (tests skip, or fail in CI).
    #[error("MariaDB not reachable at {server}: {reason}")]
    Unreachable {
        /// The server URL.
        server: String,
        /// The cause.
        reason: String,
    },
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl ScratchDb {
    /// A fresh database on `backend`; on MariaDB `odr_<purpose>_<uuid>` on `mysql_server`
    /// (`mysql://user@host:port`).
    pub fn create(backend: Backend, purpose: &str, mysql_server: &str) -> Result<ScratchDb, ScratchError> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix(&format!("odr-{purpose}-"))
                    .tempdir()
                    .map_err(|e| ScratchError::Other(format!("temporary directory: {e}")))?;
                let url = DbUrl {
                    backend,
                    target: dir.path().join("odr.db").display().to_string(),
                };
                Ok(ScratchDb {
                    url,
                    mysql_name: None,
                    dir: Some(dir),
                })
            }
            Backend::Mysql => {
                let server = mysql_server.trim_end_matches('/');
                let name = format!("odr_{purpose}_{}", uuid::Uuid::new_v4().simple());
                let url = DbUrl::parse(server)
                    .ok()
                    .and_then(|s| s.with_database(&name))
                    .ok_or_else(|| ScratchError::Other(format!("{server} is not a mysql:// server URL")))?;
                admin::create_database(&url).map_err(|e| match e {
                    AdminError::Unreachable { server, reason } => ScratchError::Unreachable { server, reason },
                    other => ScratchError::Other(other.to_string()),
                })?;
                Ok(ScratchDb {
                    url,
                    mysql_name: Some(name),
                    dir: None,
                })
            }
        }
    }

    /// The engine.
    pub fn backend(&self) -> Backend {
        self.url.backend
    }

    /// A plain connection to this database.
    pub fn connect(&self) -> Result<DbConn, String> {
        establish(&self.url).map_err(|e| e.to_string())
    }

    /// The SQLite file, for the sqlite3 CLI.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.path().join("odr.db"))
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        if self.mysql_name.is_some() {
            if let Err(e) = admin::drop_database(&self.url) {
                eprintln!("could not drop the scratch database: {e}");
            }
        }
    }
}
