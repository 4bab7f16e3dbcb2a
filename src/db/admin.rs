//! Whole databases on a MariaDB server: created and dropped for tests, the demo, the bench and
//! `simulate` (the service itself never creates or drops a database).

use diesel::connection::SimpleConnection;

use super::establish;
use crate::config::{Backend, DbUrl};

/// Why a database could not be created or dropped.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The server could not be reached (or this build has no MariaDB support).
    #[error("{server}: {reason}")]
    Unreachable {
        /// The server URL, password masked.
        server: String,
        /// The cause.
        reason: String,
    },
    /// The URL names no database, or a name that is not letters, digits and `_`.
    #[error("{0}: the database name must be letters, digits or _")]
    BadName(String),
    /// The statement failed.
    #[error("{url}: {reason}")]
    Statement {
        /// The database URL, password masked.
        url: String,
        /// The cause.
        reason: String,
    },
}

/// The server of `url` and its checked database name.
fn server_of(url: &DbUrl) -> Result<(DbUrl, String), AdminError> {
    let (server, name) = url.server_and_database();
    if url.backend != Backend::Mysql || name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(AdminError::BadName(url.masked()));
    }
    let server = DbUrl {
        backend: Backend::Mysql,
        target: server,
    };
    Ok((server, name))
}

/// Runs `sql` (with `{name}` for the database name) on the server of `url`.
fn on_server(url: &DbUrl, sql: &str) -> Result<(), AdminError> {
    let (server, name) = server_of(url)?;
    let mut conn = establish(&server).map_err(|e| AdminError::Unreachable {
        server: server.masked(),
        reason: e.to_string(),
    })?;
    conn.batch_execute(&sql.replace("{name}", &name))
        .map_err(|e| AdminError::Statement {
            url: url.masked(),
            reason: e.to_string(),
        })
}

/// Creates the MariaDB database of `url` if it does not exist (utf8mb4).
pub fn create_database(url: &DbUrl) -> Result<(), AdminError> {
    on_server(url, "CREATE DATABASE IF NOT EXISTS {name} CHARACTER SET utf8mb4")
}

/// Drops the MariaDB database of `url` if it exists.
pub fn drop_database(url: &DbUrl) -> Result<(), AdminError> {
    on_server(url, "DROP DATABASE IF EXISTS {name}")
}
