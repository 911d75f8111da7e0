//! The MySQL/MariaDB backend (work in progress: issue 3).

use super::{Backend, Connection, Dialect, Durability, Role, ServerConfig};
use crate::sql::SqlError;

/// A MySQL or MariaDB database.
#[derive(Debug)]
pub struct MysqlBackend {
    config: ServerConfig,
}

impl MysqlBackend {
    /// Connects once to check the server's settings.
    pub fn new(config: ServerConfig) -> Result<Self, crate::Error> {
        Err(crate::Error::Url(super::UrlError {
            url: config.redacted(),
            reason: "the MySQL backend is not built yet".into(),
        }))
    }
}

impl Backend for MysqlBackend {
    fn dialect(&self) -> &'static Dialect {
        unimplemented!("{}", self.config.redacted())
    }
    fn connect(&self, _role: Role) -> Result<Box<dyn Connection>, SqlError> {
        unimplemented!()
    }
    fn supports_readers(&self) -> bool {
        true
    }
    fn durability(&self) -> Durability {
        unimplemented!()
    }
    fn describe(&self) -> String {
        self.config.redacted()
    }
}
