//! JSON Web Tokens: HS256 with a shared secret, RS256 and ES256 with public keys from a
//! JWKS file. The algorithm a token names must be one the configured keys are for
//! (a token signed "HS256" with an RSA public key as its secret is refused, and so is
//! `alg: none`); `exp` is required, `nbf` enforced, and the issuer and audience checked
//! when configured. The principal is the `sub` claim, its roles the `roles` claim (an
//! array of strings, or one string of space-separated roles).

use std::path::Path;

use gesta::Principal;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::AuthError;

/// How much clock skew `exp` and `nbf` allow, in seconds.
pub const LEEWAY_SECONDS: u64 = 30;

/// What JWTs a server accepts.
#[derive(Default)]
pub struct JwtConfig {
    secret: Option<DecodingKey>,
    keys: Vec<PublicKey>,
    issuer: Option<String>,
    audience: Option<String>,
}

struct PublicKey {
    id: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

impl std::fmt::Debug for JwtConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtConfig")
            .field("hs256", &self.secret.is_some())
            .field("public_keys", &self.keys.len())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

impl JwtConfig {
    /// No keys yet: accepts nothing.
    pub fn new() -> Self {
        JwtConfig::default()
    }

    /// Accepts HS256 tokens signed with `secret` (at least 32 bytes).
    pub fn hs256_secret(mut self, secret: &[u8]) -> Result<Self, AuthError> {
        if secret.len() < 32 {
            return Err(AuthError::Config(format!(
                "an HS256 secret must be at least 32 bytes, got {}",
                secret.len()
            )));
        }
        self.secret = Some(DecodingKey::from_secret(secret));
        Ok(self)
    }

    /// Reads the HS256 secret from a file (trailing newlines are not part of it).
    pub fn hs256_secret_file(self, path: &Path) -> Result<Self, AuthError> {
        let bytes = std::fs::read(path)
            .map_err(|e| AuthError::Config(format!("{}: {e}", path.display())))?;
        let end = bytes
            .iter()
            .rposition(|b| !b"\r\n".contains(b))
            .map_or(0, |i| i + 1);
        self.hs256_secret(&bytes[..end])
    }

    /// Accepts RS256 and ES256 tokens signed by one of the keys of a JWKS document.
    pub fn jwks(mut self, jwks: &str) -> Result<Self, AuthError> {
        let set: JwkSet = serde_json::from_str(jwks)
            .map_err(|e| AuthError::Config(format!("not a JWKS document: {e}")))?;
        for jwk in &set.keys {
            let algorithm = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                    Algorithm::ES256
                }
                _ => {
                    return Err(AuthError::Config(
                        "JWKS keys must be RSA (RS256) or EC P-256 (ES256)".into(),
                    ));
                }
            };
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|e| AuthError::Config(format!("a JWKS key: {e}")))?;
            self.keys.push(PublicKey {
                id: jwk.common.key_id.clone(),
                algorithm,
                key,
            });
        }
        if self.keys.is_empty() {
            return Err(AuthError::Config("the JWKS document holds no keys".into()));
        }
        Ok(self)
    }

    /// Reads a JWKS file.
    pub fn jwks_file(self, path: &Path) -> Result<Self, AuthError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| AuthError::Config(format!("{}: {e}", path.display())))?;
        self.jwks(&text)
    }

    /// Requires `iss` to be `issuer`.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Requires `aud` to name `audience`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Whether any key is configured.
    pub fn is_configured(&self) -> bool {
        self.secret.is_some() || !self.keys.is_empty()
    }

    /// The principal a valid token names, or why the token is refused.
    pub fn check(&self, token: &str) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        let key = match header.alg {
            Algorithm::HS256 => self.secret.as_ref(),
            alg @ (Algorithm::RS256 | Algorithm::ES256) => self
                .keys
                .iter()
                .filter(|k| k.algorithm == alg)
                .find(|k| header.kid.is_none() || k.id == header.kid)
                .map(|k| &k.key),
            _ => None,
        }
        .ok_or(AuthError::UnacceptedAlgorithm)?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        // A configured issuer or audience must be present, not only right when present.
        let mut required = vec!["exp", "sub"];
        required.extend(self.issuer.as_ref().map(|_| "iss"));
        required.extend(self.audience.as_ref().map(|_| "aud"));
        validation.set_required_spec_claims(&required);
        match &self.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
        }
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                ErrorKind::InvalidSignature => AuthError::WrongSecret,
                _ => AuthError::Claims(e.to_string()),
            }
        })?;
        let claims = data.claims;
        if claims.sub.is_empty() {
            return Err(AuthError::Claims("sub must not be empty".into()));
        }
        let roles = match claims.roles {
            None => Vec::new(),
            Some(Roles::List(roles)) => roles,
            Some(Roles::Spaced(text)) => text.split_whitespace().map(str::to_owned).collect(),
        };
        Ok(Principal::new(claims.sub).with_roles(roles))
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    roles: Option<Roles>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Roles {
    List(Vec<String>),
    Spaced(String),
}
