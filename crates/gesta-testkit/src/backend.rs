//! Every backend a suite runs on, SQLite included: a fresh [`Database`] of any
//! [`Backend`], for suites that run one test body on each of them.

use tempfile::TempDir;

use crate::{FreshDatabase, Server};

/// A backend a store runs on: SQLite, always there, or one of the [`Server`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, as a file in a temporary directory.
    Sqlite,
    /// PostgreSQL, from `GESTA_TEST_POSTGRES_URL`.
    Postgres,
    /// MySQL or MariaDB, from `GESTA_TEST_MYSQL_URL`.
    Mysql,
}

impl Backend {
    /// Every backend, SQLite first.
    pub const ALL: [Backend; 3] = [Backend::Sqlite, Backend::Postgres, Backend::Mysql];

    /// `sqlite`, `postgres` or `mysql`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => Server::Postgres.name(),
            Backend::Mysql => Server::Mysql.name(),
        }
    }

    /// The server it needs, `None` for SQLite.
    pub fn server(self) -> Option<Server> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some(Server::Postgres),
            Backend::Mysql => Some(Server::Mysql),
        }
    }

    /// A fresh, empty database on this backend, or `None` when it is a server whose
    /// variable is unset (as [`fresh`](crate::fresh) says, on stderr).
    ///
    /// ```no_run
    /// use gesta_testkit::Backend;
    ///
    /// for backend in Backend::ALL {
    ///     if let Some(db) = backend.fresh() {
    ///         // open a store on db.url(); the database goes with `db`
    ///         println!("{} at {}", db.backend().name(), db.url());
    ///     }
    /// }
    /// ```
    ///
    /// # Panics
    /// As [`fresh`](crate::fresh) does for a server (under `CI=true` when its variable
    /// is unset, and whenever a named server cannot be reached); for SQLite, when no
    /// temporary directory can be made.
    pub fn fresh(self) -> Option<Database> {
        let Some(server) = self.server() else {
            let dir = tempfile::tempdir().expect("a temporary directory for SQLite");
            let url = format!("sqlite://{}", dir.path().join("gesta.db").display());
            return Some(Database {
                backend: self,
                url,
                _held: Held::Dir { _dir: dir },
            });
        };
        let db = crate::fresh(server)?;
        Some(Database {
            backend: self,
            url: db.url().to_owned(),
            _held: Held::Server { _db: db },
        })
    }
}

/// A database on any [`Backend`] no other test uses, from [`Backend::fresh`]: a
/// SQLite file in a temporary directory, or a [`FreshDatabase`] on a server. Removed
/// when dropped; until then other processes may open it too.
#[derive(Debug)]
pub struct Database {
    backend: Backend,
    url: String,
    _held: Held,
}

/// What the database lives in: held only to be dropped.
#[derive(Debug)]
enum Held {
    Dir { _dir: TempDir },
    Server { _db: FreshDatabase },
}

impl Database {
    /// The URL a store opens this database with (in this process or another).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The backend it lives on.
    pub fn backend(&self) -> Backend {
        self.backend
    }
}

#[cfg(test)]
mod tests {
    use super::Backend;

    #[test]
    fn sqlite_is_a_file_that_lives_as_long_as_the_database() {
        let db = Backend::Sqlite.fresh().expect("SQLite is always there");
        assert_eq!(db.backend(), Backend::Sqlite);
        let path = db.url().strip_prefix("sqlite://").expect("a sqlite URL");
        let path = std::path::PathBuf::from(path);
        let dir = path.parent().expect("a directory").to_owned();
        assert!(dir.is_dir(), "{}", dir.display());
        std::fs::write(&path, b"").expect("the file can be made");
        drop(db);
        assert!(!dir.exists(), "{} outlived the database", dir.display());
    }

    #[test]
    fn two_sqlite_databases_are_two_files() {
        let (a, b) = (Backend::Sqlite.fresh(), Backend::Sqlite.fresh());
        assert_ne!(a.expect("a").url(), b.expect("b").url());
    }
}
