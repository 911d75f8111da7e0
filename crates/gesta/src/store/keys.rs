//! API keys kept in the store (`gesta_api_keys`): who they name, their roles and a
//! hash of their secret. Hashing and checking secrets is the caller's business
//! (`gesta-auth`); the store only keeps the records, on every backend, so that a key
//! added or revoked by one process (`gesta keys`) is seen by every server on the store.

use super::Store;
use crate::event::Timestamp;
use crate::sql::Row;
use crate::{Error, Tx};

/// The longest key name (an API key's name is the principal it authenticates).
pub const MAX_KEY_NAME: usize = 200;

/// One API key as stored: everything but its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The public part of the token, by which the key is looked up.
    pub id: String,
    /// The principal's name: unique among the store's keys.
    pub name: String,
    /// The data subject it acts for (e.g. the customer id), if not its name.
    pub subject: Option<String>,
    /// Its roles.
    pub roles: Vec<String>,
    /// The hash of its secret (a PHC string, e.g. argon2id).
    pub hash: String,
    /// When it was added.
    pub created_at: Timestamp,
    /// When it was revoked; a revoked key authenticates nobody.
    pub revoked_at: Option<Timestamp>,
}

impl Store {
    /// Stores a new key. Refused with [`Error::InvalidInput`] (field `name`) when the
    /// name is empty, too long, or already taken by a key that is not revoked.
    pub async fn add_api_key(&self, key: ApiKey) -> Result<(), Error> {
        check_name(&key.name)?;
        if key.id.is_empty() || key.hash.is_empty() {
            return Err(Error::invalid("id", "an API key needs an id and a hash"));
        }
        self.write_aside(move |tx| {
            if live_key(tx, &key.name)?.is_some() {
                return Err(Error::invalid(
                    "name",
                    format!("a key named {:?} already exists", key.name),
                ));
            }
            let roles = serde_json::to_string(&key.roles)
                .map_err(|e| Error::Internal(format!("encoding roles: {e}")))?;
            tx.execute(
                "INSERT INTO gesta_api_keys (id, name, subject, roles, hash, created_at) \
                 VALUES (:id, :name, :subject, :roles, :hash, :created_at)",
                &crate::params! {
                    "id" => key.id.as_str(), "name" => key.name.as_str(),
                    "subject" => key.subject.clone(), "roles" => roles,
                    "hash" => key.hash.as_str(), "created_at" => key.created_at.0,
                },
            )?;
            Ok(())
        })
        .await
    }

    /// Every key, revoked ones too, by name.
    pub async fn api_keys(&self) -> Result<Vec<ApiKey>, Error> {
        self.read(|tx| {
            let rows = tx.query(
                &format!("{SELECT} ORDER BY name, created_at"),
                &crate::params! {},
            )?;
            rows.iter().map(decode).collect()
        })
        .await
    }

    /// The key with this id, if any (revoked or not).
    pub async fn api_key(&self, id: &str) -> Result<Option<ApiKey>, Error> {
        let id = id.to_owned();
        self.read(move |tx| {
            let row = tx.query_opt(
                &format!("{SELECT} WHERE id = :id"),
                &crate::params! { "id" => id },
            )?;
            row.as_ref().map(decode).transpose()
        })
        .await
    }

    /// Revokes the key named `name`; `false` if there is no such key that is not
    /// already revoked. Servers stop accepting it within a second.
    pub async fn revoke_api_key(&self, name: &str) -> Result<bool, Error> {
        let name = name.to_owned();
        self.write_aside(move |tx| {
            let revoked = tx.execute(
                "UPDATE gesta_api_keys SET revoked_at = :now \
                 WHERE name = :name AND revoked_at IS NULL",
                &crate::params! { "now" => Timestamp::now().0, "name" => name },
            )?;
            Ok(revoked > 0)
        })
        .await
    }
}

const SELECT: &str =
    "SELECT id, name, subject, roles, hash, created_at, revoked_at FROM gesta_api_keys";

fn check_name(name: &str) -> Result<(), Error> {
    if name.trim().is_empty() || name.len() > MAX_KEY_NAME || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            format!("a key name is 1 to {MAX_KEY_NAME} bytes of printable text"),
        ));
    }
    Ok(())
}

fn live_key(tx: &mut Tx<'_>, name: &str) -> Result<Option<String>, Error> {
    Ok(tx.query_scalar(
        "SELECT id FROM gesta_api_keys WHERE name = :name AND revoked_at IS NULL",
        &crate::params! { "name" => name },
    )?)
}

fn decode(row: &Row) -> Result<ApiKey, Error> {
    let roles: String = row.get("roles")?;
    Ok(ApiKey {
        id: row.get("id")?,
        name: row.get("name")?,
        subject: row.get("subject")?,
        roles: serde_json::from_str(&roles)
            .map_err(|e| Error::Internal(format!("gesta_api_keys.roles: {e}")))?,
        hash: row.get("hash")?,
        created_at: Timestamp(row.get("created_at")?),
        revoked_at: row.get::<Option<i64>>("revoked_at")?.map(Timestamp),
    })
}
