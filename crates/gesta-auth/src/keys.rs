//! API keys: `gesta_<id>_<secret>`. The id finds the stored record; the secret is
//! checked against its argon2id hash once, after which the token's SHA-256 is cached
//! and the record re-read at most once a second, so a revoked key stops working
//! within a second on every server of the store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use gesta::event::Timestamp;
use gesta::{ApiKey, Principal, Store};

use crate::Caller;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::AuthError;

/// What every API key starts with.
pub const PREFIX: &str = "gesta_";
/// How long a checked key is trusted before its record is read again.
pub const REFRESH: Duration = Duration::from_secs(1);
/// The most tokens remembered; beyond it the cache starts afresh.
const CACHE_LIMIT: usize = 10_000;
/// Wrong secrets for one key id within [`LOCKOUT`] after which the id is refused
/// without hashing until the window ends: guessing costs argon2 time, and one key
/// id must not let anyone spend the server's cores on it.
pub const MAX_FAILURES: u32 = 10;
/// The window of [`MAX_FAILURES`].
pub const LOCKOUT: Duration = Duration::from_secs(60);

/// A new key: its record, to store, and its token, shown once.
pub struct NewKey {
    /// The record ([`Store::add_api_key`]).
    pub record: ApiKey,
    /// The token the caller sends as `Authorization: Bearer ...`.
    pub token: String,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("record", &self.record)
            .field("token", &"<secret>")
            .finish()
    }
}

/// Makes a key for `name` with `roles`, acting for `subject`: a random id and secret,
/// the secret hashed with argon2id.
pub fn generate(
    name: &str,
    roles: Vec<String>,
    subject: Option<String>,
) -> Result<NewKey, AuthError> {
    let mut rng = rand::rng();
    let mut id = [0_u8; 8];
    let mut secret = [0_u8; 32];
    rng.fill_bytes(&mut id);
    rng.fill_bytes(&mut secret);
    let (id, secret) = (hex(&id), hex(&secret));
    let mut salt = [0_u8; 16];
    rng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| AuthError::Internal(format!("making a salt: {e}")))?;
    let hash = Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map_err(|e| AuthError::Internal(format!("hashing the key: {e}")))?
        .to_string();
    Ok(NewKey {
        token: format!("{PREFIX}{id}_{secret}"),
        record: ApiKey {
            id,
            name: name.to_owned(),
            subject,
            roles,
            hash,
            created_at: Timestamp::now(),
            revoked_at: None,
        },
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The id and secret of a token that looks like an API key.
fn split(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.strip_prefix(PREFIX)?.split_once('_')?;
    let hex = |s: &str, len| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, 16) && hex(secret, 64)).then_some((id, secret))
}

/// Checks API keys against a store, with the cache described above.
#[derive(Clone)]
pub struct KeyChecker {
    store: Store,
    cache: Arc<Mutex<HashMap<[u8; 32], Checked>>>,
    /// At most two argon2 checks at once: each costs ~20 ms of one core.
    hashing: Arc<Semaphore>,
    /// Recent wrong secrets per key id: (count, since).
    failures: Arc<Mutex<HashMap<String, (u32, Instant)>>>,
}

#[derive(Clone)]
struct Checked {
    id: String,
    caller: Arc<Caller>,
    at: Instant,
}

impl KeyChecker {
    /// Checks keys stored in `store`.
    pub fn new(store: Store) -> Self {
        KeyChecker {
            store,
            cache: Arc::default(),
            hashing: Arc::new(Semaphore::new(2)),
            failures: Arc::default(),
        }
    }

    /// The caller `token` authenticates (its principal, with the rights `rights`
    /// gives it), or why not. A checked key's caller is kept and shared until the
    /// next refresh.
    pub async fn check(
        &self,
        token: &str,
        rights: impl Fn(Principal) -> Caller,
    ) -> Result<Arc<Caller>, AuthError> {
        let (id, secret) = split(token).ok_or(AuthError::Malformed)?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let cached = self.lock().get(&digest).cloned();
        if let Some(checked) = cached {
            if checked.at.elapsed() < REFRESH {
                return Ok(checked.caller);
            }
            // Known good secret: only whether it was revoked needs reading.
            return match self.store.api_key(&checked.id).await? {
                Some(key) if key.revoked_at.is_none() => {
                    Ok(self.remember(digest, &key, rights(principal(&key))))
                }
                _ => {
                    self.lock().remove(&digest);
                    Err(AuthError::Revoked)
                }
            };
        }
        let key = self.store.api_key(id).await?.ok_or(AuthError::UnknownKey)?;
        if key.revoked_at.is_some() {
            return Err(AuthError::Revoked);
        }
        if self.locked_out(id) {
            return Err(AuthError::LockedOut);
        }
        let permit = self
            .hashing
            .acquire()
            .await
            .map_err(|_| AuthError::Internal("closed".into()))?;
        // Many connections of one client arrive with one key at once: whoever got the
        // permit first may have checked it meanwhile.
        if let Some(checked) = self.lock().get(&digest) {
            return Ok(Arc::clone(&checked.caller));
        }
        let (hash, secret) = (key.hash.clone(), secret.to_owned());
        let good = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| {
                    Argon2::default()
                        .verify_password(secret.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .map_err(|e| AuthError::Internal(format!("checking a key: {e}")))?;
        drop(permit);
        if !good {
            self.failed(id);
            return Err(AuthError::WrongSecret);
        }
        Ok(self.remember(digest, &key, rights(principal(&key))))
    }

    /// Whether `id` had [`MAX_FAILURES`] wrong secrets within the current window.
    fn locked_out(&self, id: &str) -> bool {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match failures.get(id) {
            Some((_, since)) if since.elapsed() >= LOCKOUT => {
                failures.remove(id);
                false
            }
            Some((count, _)) => *count >= MAX_FAILURES,
            None => false,
        }
    }

    fn failed(&self, id: &str) {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if failures.len() >= CACHE_LIMIT {
            failures.retain(|_, (_, since)| since.elapsed() < LOCKOUT);
        }
        let entry = failures.entry(id.to_owned()).or_insert((0, Instant::now()));
        entry.0 += 1;
    }

    fn remember(&self, digest: [u8; 32], key: &ApiKey, caller: Caller) -> Arc<Caller> {
        let caller = Arc::new(caller);
        let mut cache = self.lock();
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        let checked = Checked {
            id: key.id.clone(),
            caller: Arc::clone(&caller),
            at: Instant::now(),
        };
        cache.insert(digest, checked);
        caller
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Checked>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn principal(key: &ApiKey) -> Principal {
    let mut principal = Principal::new(&key.name).with_roles(key.roles.iter().cloned());
    principal.subject = key.subject.clone();
    principal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_into_id_and_secret() {
        let key = generate("ann", vec!["customer".into()], Some("42".into())).unwrap();
        let (id, secret) = split(&key.token).unwrap();
        assert_eq!(id, key.record.id);
        assert!(
            !key.record.hash.contains(secret),
            "the hash must not hold the secret"
        );
        assert!(key.record.hash.starts_with("$argon2id$"));
        assert!(!format!("{key:?}").contains(secret));
        for bad in [
            "",
            "gesta_",
            "gesta_abc_def",
            "bearer",
            &key.token[..key.token.len() - 1],
        ] {
            assert!(split(bad).is_none(), "{bad:?}");
        }
    }
}
