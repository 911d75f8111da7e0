//! Who may do what on a Gesta store: the same rules for every way in (HTTP, SSE,
//! WebSocket, and intakes to come).
//!
//! - [`keys`]: API keys kept hashed in the store (`gesta keys add`).
//! - [`jwt`]: JSON Web Tokens (HS256, RS256, ES256).
//! - [`policy`]: roles → commands, readable streams, admin.
//! - [`Security`]: a bearer token → a [`Caller`] (principal and rights).
//!
//! ```
//! # async fn demo(store: gesta::Store) -> Result<(), gesta_auth::AuthError> {
//! let key = gesta_auth::keys::generate("desk-7", vec!["teller".into()], None)?;
//! store.add_api_key(key.record.clone()).await?;
//! let security = gesta_auth::Security::new(gesta_auth::Policy::builtin()).keys(store);
//! let caller = security.authenticate(&key.token).await?;
//! assert_eq!(caller.principal.name, "desk-7");
//! # Ok(()) }
//! ```

pub mod jwt;
pub mod keys;
pub mod policy;

use std::sync::Arc;

use gesta::Principal;

pub use jwt::JwtConfig;
pub use policy::{Policy, PolicyError, Rights};

/// Why a request is not authenticated (HTTP 401), or a configuration mistake.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No credentials were given.
    #[error("credentials are required: send Authorization: Bearer <API key or JWT>")]
    Missing,
    /// The token is neither an API key nor a JWT.
    #[error("the token is not an API key nor a JWT")]
    Malformed,
    /// No stored key has this id.
    #[error("unknown API key")]
    UnknownKey,
    /// The key was revoked.
    #[error("the API key was revoked")]
    Revoked,
    /// The secret or signature does not match.
    #[error("the token's secret or signature is wrong")]
    WrongSecret,
    /// Too many wrong secrets for this key id lately: refused without checking until
    /// the window ends ([`keys::MAX_FAILURES`] within [`keys::LOCKOUT`]).
    #[error("too many wrong secrets for this API key; wait a minute")]
    LockedOut,
    /// The JWT is past its `exp`.
    #[error("the token has expired")]
    Expired,
    /// The JWT's `nbf` is still ahead.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// The JWT's algorithm is not one the configured keys are for (`none` included).
    #[error("the token's algorithm is not accepted")]
    UnacceptedAlgorithm,
    /// A claim is missing or wrong (issuer, audience, subject).
    #[error("the token's claims are not accepted: {0}")]
    Claims(String),
    /// JWTs are not configured on this server.
    #[error("this server does not accept JWTs")]
    NoJwt,
    /// Bad configuration (a key file, a secret).
    #[error("{0}")]
    Config(String),
    /// The store failed while looking a key up.
    #[error(transparent)]
    Store(#[from] gesta::Error),
    /// Something else failed.
    #[error("{0}")]
    Internal(String),
}

impl AuthError {
    /// Whether the request's credentials are at fault (401), rather than the server.
    pub fn is_unauthorized(&self) -> bool {
        !matches!(
            self,
            AuthError::Store(_) | AuthError::Internal(_) | AuthError::Config(_)
        )
    }
}

/// An authenticated caller and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Who.
    pub principal: Principal,
    /// What the policy grants it.
    pub rights: Rights,
}

/// How a server authenticates and authorizes.
pub struct Security {
    policy: Policy,
    keys: Option<keys::KeyChecker>,
    jwt: Option<JwtConfig>,
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("policy", &self.policy)
            .field("keys", &self.keys.is_some())
            .field("jwt", &self.jwt)
            .finish()
    }
}

impl Security {
    /// Rights by `policy`; no way to authenticate yet.
    pub fn new(policy: Policy) -> Self {
        Security {
            policy,
            keys: None,
            jwt: None,
        }
    }

    /// Accepts API keys stored in `store`.
    pub fn keys(mut self, store: gesta::Store) -> Self {
        self.keys = Some(keys::KeyChecker::new(store));
        self
    }

    /// Accepts JWTs as `jwt` says.
    pub fn jwt(mut self, jwt: JwtConfig) -> Self {
        self.jwt = Some(jwt).filter(JwtConfig::is_configured);
        self
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The caller a bearer token authenticates.
    pub async fn authenticate(&self, token: &str) -> Result<Arc<Caller>, AuthError> {
        let token = token.trim();
        let principal = if token.starts_with(keys::PREFIX) {
            return match &self.keys {
                Some(keys) => keys.check(token, |p| self.caller(p)).await,
                None => Err(AuthError::UnknownKey),
            };
        } else if token.bytes().filter(|b| *b == b'.').count() == 2 {
            match &self.jwt {
                Some(jwt) => jwt.check(token)?,
                None => return Err(AuthError::NoJwt),
            }
        } else if token.is_empty() {
            return Err(AuthError::Missing);
        } else {
            return Err(AuthError::Malformed);
        };
        Ok(Arc::new(self.caller(principal)))
    }

    /// The rights the policy gives `principal`.
    pub fn caller(&self, principal: Principal) -> Caller {
        let rights = self.policy.rights(&principal);
        Caller { principal, rights }
    }
}
