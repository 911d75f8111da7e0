//! The security flags every Gesta server takes (`bank`, `gesta serve`), and what they
//! turn into: the [`Security`] of [`crate::Api::security`] and the checks at start.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use gesta::Store;
use gesta_auth::{JwtConfig, Policy, Security};

/// A configuration the server refuses to start with.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl From<gesta_auth::AuthError> for ConfigError {
    fn from(err: gesta_auth::AuthError) -> Self {
        ConfigError(err.to_string())
    }
}

/// Authentication and authorization flags.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SecurityArgs {
    /// Require `Authorization: Bearer <token>` (an API key from `gesta keys add`, or a
    /// JWT when --jwt-secret-file or --jwt-jwks-file is given) on every route but
    /// /healthz and /openapi.json.
    #[arg(long, env = "GESTA_AUTH")]
    pub auth: bool,
    /// Allow listening on a non-loopback address without --auth (anyone who can reach
    /// the port may do anything).
    #[arg(long, env = "GESTA_INSECURE_NO_AUTH")]
    pub insecure_no_auth: bool,
    /// The role policy (TOML: `[roles.NAME] commands = [...], read = [...], admin =
    /// true`). Without it: role `admin` may do everything, any other caller every
    /// command and every read, but not the admin routes.
    #[arg(long, env = "GESTA_POLICY")]
    pub policy: Option<PathBuf>,
    /// Accept HS256 JWTs signed with the secret in this file (at least 32 bytes).
    #[arg(long, env = "GESTA_JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<PathBuf>,
    /// Accept RS256/ES256 JWTs signed by a key of this JWKS file.
    #[arg(long, env = "GESTA_JWT_JWKS_FILE")]
    pub jwt_jwks_file: Option<PathBuf>,
    /// Require JWTs' `iss` to be this.
    #[arg(long, env = "GESTA_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Require JWTs' `aud` to name this.
    #[arg(long, env = "GESTA_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
}

impl SecurityArgs {
    /// Refuses a server that would listen beyond this machine without authentication,
    /// and flags that only mean something with --auth.
    pub fn check(&self, listen: SocketAddr) -> Result<(), ConfigError> {
        if !self.auth {
            let jwt = self.jwt_secret_file.is_some() || self.jwt_jwks_file.is_some();
            if jwt || self.policy.is_some() {
                return Err(ConfigError(
                    "--policy and --jwt-* take effect only with --auth: add --auth".into(),
                ));
            }
            if !listen.ip().is_loopback() && !self.insecure_no_auth {
                return Err(ConfigError(format!(
                    "refusing to listen on {listen} without authentication: anyone who \
                     reaches it could run any command and read every event. Add --auth \
                     (and keys from `gesta keys add`), listen on 127.0.0.1, or pass \
                     --insecure-no-auth if a proxy in front authenticates"
                )));
            }
        }
        Ok(())
    }

    /// The security of the server, if --auth: API keys of `store`, JWTs if configured,
    /// the policy file or the built-in policy.
    pub fn security(&self, store: &Store) -> Result<Option<Arc<Security>>, ConfigError> {
        if !self.auth {
            return Ok(None);
        }
        let policy = match &self.policy {
            Some(path) => Policy::from_file(path).map_err(|e| ConfigError(e.to_string()))?,
            None => Policy::builtin(),
        };
        let mut jwt = JwtConfig::new();
        if let Some(path) = &self.jwt_secret_file {
            jwt = jwt.hs256_secret_file(path)?;
        }
        if let Some(path) = &self.jwt_jwks_file {
            jwt = jwt.jwks_file(path)?;
        }
        if let Some(issuer) = &self.jwt_issuer {
            jwt = jwt.issuer(issuer);
        }
        if let Some(audience) = &self.jwt_audience {
            jwt = jwt.audience(audience);
        }
        let security = Security::new(policy).keys(store.clone()).jwt(jwt);
        Ok(Some(Arc::new(security)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_auth_beyond_loopback_needs_saying_so() {
        let open = SecurityArgs::default();
        assert!(open.check("127.0.0.1:8080".parse().unwrap()).is_ok());
        assert!(open.check("[::1]:8080".parse().unwrap()).is_ok());
        let err = open.check("0.0.0.0:8080".parse().unwrap()).unwrap_err();
        assert!(err.0.contains("--auth"), "{err}");
        let insecure = SecurityArgs {
            insecure_no_auth: true,
            ..SecurityArgs::default()
        };
        assert!(insecure.check("0.0.0.0:8080".parse().unwrap()).is_ok());
        let auth = SecurityArgs {
            auth: true,
            ..SecurityArgs::default()
        };
        assert!(auth.check("0.0.0.0:8080".parse().unwrap()).is_ok());
        let half = SecurityArgs {
            policy: Some("p.toml".into()),
            ..SecurityArgs::default()
        };
        assert!(half.check("127.0.0.1:1".parse().unwrap()).is_err());
    }
}
