//! The security flags every Gesta server takes (`bank`, `gesta serve`), and what they
//! turn into: the [`Security`] of [`crate::Api::security`] and the checks at start.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

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
    /// Serve HTTPS (HTTP/1.1 and HTTP/2) with this certificate chain (PEM); needs
    /// --tls-key.
    #[arg(long, env = "GESTA_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "GESTA_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Let browser pages from this origin call the API (CORS); repeatable.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// At most N requests a second per caller (principal, or IP without --auth),
    /// written `N/s`: 429 with Retry-After beyond. /healthz is exempt.
    #[arg(long, env = "GESTA_RATE_LIMIT", value_parser = parse_rate)]
    pub rate_limit: Option<NonZeroU32>,
    /// At most this many open /subscribe and /ws streams per caller.
    #[arg(long, default_value_t = 64, env = "GESTA_MAX_SUBSCRIPTIONS")]
    pub max_subscriptions: usize,
    /// Seconds a client may take to send a request's headers (and a TLS handshake).
    #[arg(long, default_value_t = 30, env = "GESTA_HEADER_READ_TIMEOUT")]
    pub header_read_timeout: u64,
    /// Seconds a connection may stay silent before it is closed.
    #[arg(long, default_value_t = 120, env = "GESTA_IDLE_TIMEOUT")]
    pub idle_timeout: u64,
    /// Threads serving /subscribe and /ws connections (default: a quarter of the
    /// cores, at least one; 0: with everything else).
    #[arg(long, env = "GESTA_LIVE_THREADS")]
    pub live_threads: Option<usize>,
    /// Their priority: `lowest` (nice 19: writes first, subscribers fall behind under a
    /// full write load) or `normal` (subscribers compete with commands: lower push
    /// latency, fewer writes).
    #[arg(long, value_enum, default_value_t = crate::LivePriority::Lowest, env = "GESTA_LIVE_PRIORITY")]
    pub live_priority: crate::LivePriority,
}

/// `N/s` (or a bare `N`) as a positive rate.
fn parse_rate(text: &str) -> Result<NonZeroU32, String> {
    let number = text.strip_suffix("/s").unwrap_or(text);
    number
        .trim()
        .parse::<NonZeroU32>()
        .map_err(|_| format!("expected requests per second as N/s (N from 1), got {text:?}"))
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

    /// `https` with --tls-cert, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls_cert.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// `api` with the security, rate limit, subscription cap and CORS origins these
    /// flags ask for.
    pub fn apply(&self, api: crate::Api, store: &Store) -> Result<crate::Api, ConfigError> {
        let mut api = api.subscriber_limit(self.max_subscriptions.max(1));
        if let Some(security) = self.security(store)? {
            api = api.security(security);
        }
        if let Some(rate) = self.rate_limit {
            api = api.rate_limit(rate);
        }
        for origin in &self.cors_origins {
            let value =
                axum::http::HeaderValue::from_str(origin.trim_end_matches('/')).map_err(|_| {
                    ConfigError(format!("--cors-origin {origin:?}: not a header value"))
                })?;
            api = api.cors_origin(value);
        }
        Ok(api)
    }

    /// How to serve: TLS if asked, the timeouts.
    pub fn serve_options(&self) -> Result<crate::ServeOptions, ConfigError> {
        let mut options = crate::ServeOptions::default()
            .header_read_timeout(Duration::from_secs(self.header_read_timeout.max(1)))
            .idle_timeout(Duration::from_secs(self.idle_timeout.max(1)))
            .live_priority(self.live_priority);
        if let Some(threads) = self.live_threads {
            options = options.live_threads(threads);
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            options = options.tls(tls_config(cert, key)?);
        }
        Ok(options)
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

/// A rustls server configuration from PEM files, offering HTTP/2 and HTTP/1.1.
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, ConfigError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ConfigError(format!("--tls-cert {}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(ConfigError(format!(
            "--tls-cert {}: no certificate in it",
            cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| ConfigError(format!("--tls-key {}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ConfigError(format!("--tls-cert/--tls-key: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        security: SecurityArgs,
    }

    #[test]
    fn live_threads_and_priority_reach_the_serve_options() {
        use clap::Parser as _;
        let defaults = Cli::try_parse_from(["server"]).unwrap().security;
        let options = defaults.serve_options().unwrap();
        assert_eq!(options.live_priority, crate::LivePriority::Lowest);
        assert_eq!(
            options.live_threads,
            crate::ServeOptions::default().live_threads
        );
        let given =
            Cli::try_parse_from(["server", "--live-threads", "3", "--live-priority", "normal"])
                .unwrap()
                .security;
        let options = given.serve_options().unwrap();
        assert_eq!(
            (options.live_threads, options.live_priority),
            (3, crate::LivePriority::Normal)
        );
        assert!(Cli::try_parse_from(["server", "--live-priority", "high"]).is_err());
    }

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

    #[test]
    fn rates_are_read_as_n_per_second() {
        assert_eq!(parse_rate("50/s").unwrap().get(), 50);
        assert_eq!(parse_rate("7").unwrap().get(), 7);
        for bad in ["0/s", "-1/s", "x/s", "5/m", ""] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }
}
