//! A fresh database per test on the server backends, so every test starts from an
//! empty log and runs never collide.

mod mysql;
mod postgres;

use crate::harness::Kind;

/// A URL for a database no other test uses, made on the server `base_url` points at.
pub fn fresh_database(kind: Kind, base_url: &str) -> Result<String, String> {
    match kind {
        Kind::Postgres => postgres::fresh_database(base_url),
        Kind::Mysql => mysql::fresh_database(base_url),
        other => Err(format!("{other:?} is not a server backend")),
    }
}
