//! Every backend a suite runs on, SQLite included: a fresh [`Database`] of any
//! [`Engine`], for suites that run one test body on each of them.

use tempfile::TempDir;

use crate::{FreshDatabase, Server};

/// A backend a store runs on: SQLite, always there, or one of the [`Server`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// SQLite, as a file in a temporary directory.
    Sqlite,
    /// PostgreSQL, from `GESTA_TEST_POSTGRES_URL`.
    Postgres,
    /// MySQL or MariaDB, from `GESTA_TEST_MYSQL_URL`.
    Mysql,
}

impl Engine {
    /// Every backend, SQLite first.
    pub const ALL: [Engine; 3] = [Engine::Sqlite, Engine::Postgres, Engine::Mysql];

    /// `sqlite`, `postgres` or `mysql`.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => Server::Postgres.name(),
            Engine::Mysql => Server::Mysql.name(),
        }
    }

    /// The name used in headings: `SQLite`, `PostgreSQL`, `MySQL/MariaDB`.
    pub fn title(self) -> &'static str {
        match self {
            Engine::Sqlite => "SQLite",
            Engine::Postgres => "PostgreSQL",
            Engine::Mysql => "MySQL/MariaDB",
        }
    }

    /// The server it needs, `None` for SQLite.
    pub fn server(self) -> Option<Server> {
        match self {
            Engine::Sqlite => None,
            Engine::Postgres => Some(Server::Postgres),
            Engine::Mysql => Some(Server::Mysql),
        }
    }

    /// A fresh, empty database on this backend, or `None` when it is a server whose
    /// variable is unset (as [`fresh`](crate::fresh) says, on stderr).
    ///
    /// ```no_run
    /// use gesta_testkit::Engine;
    ///
    /// for backend in Engine::ALL {
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

/// A database on any [`Engine`] no other test uses, from [`Engine::fresh`]: a
/// SQLite file in a temporary directory, or a [`FreshDatabase`] on a server. Removed
/// when dropped; until then other processes may open it too.
#[derive(Debug)]
pub struct Database {
    backend: Engine,
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
    pub fn backend(&self) -> Engine {
        self.backend
    }
}

impl std::str::FromStr for Engine {
    type Err = String;

    /// `sqlite`; `postgres` (or `postgresql`, `pg`); `mysql` (or `mariadb`).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.to_ascii_lowercase().as_str() {
            "sqlite" => Ok(Engine::Sqlite),
            "postgres" | "postgresql" | "pg" => Ok(Engine::Postgres),
            "mysql" | "mariadb" => Ok(Engine::Mysql),
            _ => Err(format!(
                "unknown backend {name:?}: expected sqlite, postgres or mysql"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Engine;

    #[test]
    fn sqlite_is_a_file_that_lives_as_long_as_the_database() {
        let db = Engine::Sqlite.fresh().expect("SQLite is always there");
        assert_eq!(db.backend(), Engine::Sqlite);
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
        let (a, b) = (Engine::Sqlite.fresh(), Engine::Sqlite.fresh());
        assert_ne!(a.expect("a").url(), b.expect("b").url());
    }

    #[test]
    fn engines_parse_from_their_names_and_aliases() {
        for (name, engine) in [
            ("sqlite", Engine::Sqlite),
            ("pg", Engine::Postgres),
            ("PostgreSQL", Engine::Postgres),
            ("mariadb", Engine::Mysql),
        ] {
            assert_eq!(name.parse::<Engine>(), Ok(engine), "{name}");
        }
        assert!("oracle".parse::<Engine>().is_err());
        for engine in Engine::ALL {
            assert_eq!(engine.name().parse::<Engine>(), Ok(engine));
        }
    }
}
