//! Datasource URLs: the scheme picks the backend, so a MySQL URL never becomes a SQLite file.

use std::fmt;

/// Which database engine a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file (always built in).
    Sqlite,
    /// MariaDB / MySQL server (the cargo feature `mariadb`).
    Mysql,
}

impl Backend {
    /// Lower-case name used in logs and benchmark lines.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Mysql => "mysql",
        }
    }

    /// Whether this build can talk to the backend (MariaDB needs the cargo feature `mariadb`).
    pub fn is_compiled(self) -> bool {
        match self {
            Backend::Sqlite => true,
            Backend::Mysql => cfg!(feature = "mariadb"),
        }
    }
}

/// The one line that tells how to get a build with MariaDB support.
pub const NO_MARIADB: &str = "this build of odr-operations has no MariaDB support: \
     install libmariadb-dev and pkg-config (Debian/Ubuntu: apt-get install libmariadb-dev pkg-config), \
     then build with cargo build --release --features mariadb";

/// A parsed datasource URL.
#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl {
    /// The engine.
    pub backend: Backend,
    /// What the engine's `establish` takes: a file path for SQLite, the full URL for MySQL.
    pub target: String,
}

/// A datasource URL that names no known backend.
#[derive(Debug, thiserror::Error)]
#[error("unsupported database URL (expected sqlite://<path> or mysql://user:pass@host:port/db)")]
pub struct BadDbUrl;

/// A MariaDB URL given to a build without the `mariadb` feature.
#[derive(Debug, thiserror::Error)]
#[error("{url}: {NO_MARIADB}")]
pub struct NoMariadb {
    /// The URL, password masked.
    pub url: String,
}

impl DbUrl {
    /// Parses `sqlite://<path>` or `mysql://…` (also `mariadb://…`).
    pub fn parse(url: &str) -> Result<DbUrl, BadDbUrl> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(BadDbUrl);
            }
            return Ok(DbUrl {
                backend: Backend::Sqlite,
                target: path.to_string(),
            });
        }
        if let Some(rest) = url.strip_prefix("mariadb://") {
            return Ok(DbUrl {
                backend: Backend::Mysql,
                target: format!("mysql://{rest}"),
            });
        }
        if url.starts_with("mysql://") && url.len() > "mysql://".len() {
            return Ok(DbUrl {
                backend: Backend::Mysql,
                target: url.to_string(),
            });
        }
        Err(BadDbUrl)
    }

    /// [`DbUrl::parse`] for command-line arguments (clap's `value_parser`).
    pub fn parse_arg(url: &str) -> Result<DbUrl, String> {
        DbUrl::parse(url).map_err(|e| e.to_string())
    }

    /// Refuses a backend this build cannot talk to, with the line that says how to get one.
    pub fn require_compiled(&self) -> Result<(), NoMariadb> {
        if self.backend.is_compiled() {
            Ok(())
        } else {
            Err(NoMariadb { url: self.masked() })
        }
    }

    /// The URL as written, password included (for a properties file or a child process).
    pub fn expose(&self) -> String {
        match self.backend {
            Backend::Sqlite => format!("sqlite://{}", self.target),
            Backend::Mysql => self.target.clone(),
        }
    }

    /// The URL for logs and messages: a password shows as `***`.
    pub fn masked(&self) -> String {
        match self.backend {
            Backend::Sqlite => format!("sqlite://{}", self.target),
            Backend::Mysql => mask_password(&self.target),
        }
    }

    /// The same server with another database name (MariaDB); `None` for SQLite.
    pub fn with_database(&self, name: &str) -> Option<DbUrl> {
        (self.backend == Backend::Mysql).then(|| {
            let (server, _) = split_database(&self.target);
            DbUrl {
                backend: Backend::Mysql,
                target: format!("{server}/{name}"),
            }
        })
    }

    /// The server part and the database name of a MariaDB URL (`mysql://u@h:p`, `db`).
    pub fn server_and_database(&self) -> (String, String) {
        let (server, db) = split_database(&self.target);
        (server.to_string(), db.to_string())
    }
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DbUrl({})", self.masked())
    }
}

impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// `mysql://user@host:port/db?x` → (`mysql://user@host:port`, `db`).
fn split_database(url: &str) -> (&str, &str) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(slash) => {
            let at = after_scheme + slash;
            let db = &url[at + 1..];
            (&url[..at], db.split('?').next().unwrap_or(db))
        }
        None => (url, ""),
    }
}

/// `mysql://user:secret@host` → `mysql://user:***@host`.
pub(crate) fn mask_password(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[after_scheme..];
    let Some(at) = rest.rfind('@') else {
        return url.to_string();
    };
    match rest[..at].find(':') {
        Some(colon) => format!("{}{}:***{}", &url[..after_scheme], &rest[..colon], &rest[at..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_picks_the_backend() {
        assert_eq!(DbUrl::parse("sqlite://x.db").unwrap().backend, Backend::Sqlite);
        assert_eq!(DbUrl::parse("mysql://u@h/db").unwrap().backend, Backend::Mysql);
        assert_eq!(DbUrl::parse("mariadb://u@h/db").unwrap().target, "mysql://u@h/db");
        for bad in ["", "sqlite://", "mysql://", "postgres://h/db", "odr.db"] {
            assert!(DbUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_never_print() {
        let url = DbUrl::parse("mysql://odr:s3cret@db:3306/odr").unwrap();
        assert_eq!(url.masked(), "mysql://odr:***@db:3306/odr");
        assert!(!format!("{url:?} {url}").contains("s3cret"));
        assert_eq!(
            DbUrl::parse("mysql://root@127.0.0.1:3306/x").unwrap().masked(),
            "mysql://root@127.0.0.1:3306/x"
        );
    }

    #[test]
    fn server_and_database_split() {
        let url = DbUrl::parse("mysql://root@127.0.0.1:3306/odr_test?x=1").unwrap();
        assert_eq!(
            url.server_and_database(),
            ("mysql://root@127.0.0.1:3306".to_string(), "odr_test".to_string())
        );
        assert_eq!(
            url.with_database("other").unwrap().target,
            "mysql://root@127.0.0.1:3306/other"
        );
        assert!(DbUrl::parse("sqlite://a.db").unwrap().with_database("x").is_none());
    }

    #[test]
    fn sqlite_is_always_compiled_and_mariadb_only_with_the_feature() {
        assert!(DbUrl::parse("sqlite://a.db").unwrap().require_compiled().is_ok());
        let mysql = DbUrl::parse("mysql://u:p@h/db").unwrap().require_compiled();
        assert_eq!(mysql.is_ok(), cfg!(feature = "mariadb"));
        if let Err(e) = mysql {
            assert_eq!(e.to_string(), format!("mysql://u:***@h/db: {NO_MARIADB}"));
        }
    }
}
