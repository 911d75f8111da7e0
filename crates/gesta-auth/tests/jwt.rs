//! JWT validation against tokens signed here with real keys (test-only fixtures in
//! `tests/fixtures`, made with openssl): what is accepted, and every way a token is
//! refused, `alg: none` and algorithm confusion included.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use gesta_auth::{AuthError, JwtConfig};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";
const JWKS: &str = include_str!("fixtures/jwks.json");
const RSA: &[u8] = include_bytes!("fixtures/rsa.pem");
const OTHER_RSA: &[u8] = include_bytes!("fixtures/other-rsa.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("fixtures/rsa-public.pem");
const EC: &[u8] = include_bytes!("fixtures/ec.pem");

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims(extra: Value) -> Value {
    let mut claims = json!({"sub": "ann", "roles": ["customer"], "exp": now() + 600});
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn hs(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(SECRET),
        claims,
    )
}

fn rs(kid: Option<&str>, claims: &Value) -> String {
    sign(
        Algorithm::RS256,
        kid,
        &EncodingKey::from_rsa_pem(RSA).unwrap(),
        claims,
    )
}

fn es(kid: Option<&str>, claims: &Value) -> String {
    sign(
        Algorithm::ES256,
        kid,
        &EncodingKey::from_ec_pem(EC).unwrap(),
        claims,
    )
}

fn config() -> JwtConfig {
    JwtConfig::new()
        .hs256_secret(SECRET)
        .unwrap()
        .jwks(JWKS)
        .unwrap()
        .issuer("https://id.example")
        .audience("bank")
}

/// Claims the configured issuer and audience accept, changed by `extra`.
fn good(extra: Value) -> Value {
    let mut all = json!({"iss": "https://id.example", "aud": "bank"});
    for (k, v) in extra.as_object().unwrap() {
        all[k] = v.clone();
    }
    claims(all)
}

#[test]
fn valid_tokens_of_each_algorithm_name_their_principal() {
    let config = config();
    for token in [
        hs(&good(json!({}))),
        rs(Some("rsa-1"), &good(json!({}))),
        rs(None, &good(json!({}))),
        es(Some("ec-1"), &good(json!({}))),
        es(None, &good(json!({}))),
    ] {
        let principal = config.check(&token).unwrap();
        assert_eq!(principal.name, "ann");
        assert_eq!(principal.subject(), "ann");
        assert_eq!(principal.roles, ["customer"]);
    }
    let spaced = config
        .check(&hs(&good(json!({"roles": "teller auditor"}))))
        .unwrap();
    assert_eq!(spaced.roles, ["teller", "auditor"]);
    let none = config.check(&hs(&good(json!({"roles": null})))).unwrap();
    assert!(none.roles.is_empty());
    // Within the clock-skew allowance.
    assert!(config.check(&hs(&good(json!({"exp": now() - 5})))).is_ok());
}

#[test]
fn time_claims_are_enforced() {
    let config = config();
    let expired = config.check(&hs(&good(json!({"exp": now() - 3600}))));
    assert!(matches!(expired, Err(AuthError::Expired)), "{expired:?}");
    let early = config.check(&hs(&good(json!({"nbf": now() + 3600}))));
    assert!(matches!(early, Err(AuthError::NotYetValid)), "{early:?}");
    let forever = config.check(&hs(&good(json!({"exp": null}))));
    assert!(matches!(forever, Err(AuthError::Claims(_))), "{forever:?}");
}

#[test]
fn issuer_audience_and_subject_are_checked() {
    let config = config();
    for (claims, what) in [
        (good(json!({"iss": "https://evil.example"})), "issuer"),
        (good(json!({"aud": "other"})), "audience"),
        (good(json!({"iss": null})), "no issuer"),
        (good(json!({"aud": null})), "no audience"),
        (good(json!({"sub": null})), "no subject"),
        (good(json!({"sub": ""})), "empty subject"),
        (good(json!({"roles": 7})), "roles not strings"),
    ] {
        let result = config.check(&hs(&claims));
        assert!(
            matches!(result, Err(AuthError::Claims(_))),
            "{what}: {result:?}"
        );
    }
}

#[test]
fn forged_tampered_and_confused_tokens_are_refused() {
    let config = config();
    // Signed by another RSA key under the configured key's id.
    let forged = sign(
        Algorithm::RS256,
        Some("rsa-1"),
        &EncodingKey::from_rsa_pem(OTHER_RSA).unwrap(),
        &good(json!({})),
    );
    assert!(matches!(config.check(&forged), Err(AuthError::WrongSecret)));
    // Payload changed after signing.
    let token = hs(&good(json!({})));
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    parts[1] = b64.encode(good(json!({"roles": ["admin"]})).to_string());
    assert!(matches!(
        config.check(&parts.join(".")),
        Err(AuthError::WrongSecret)
    ));
    // alg none, with and without a signature.
    let header = b64.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let body = b64.encode(good(json!({})).to_string());
    for none in [
        format!("{header}.{body}."),
        format!("{header}.{body}.{}", parts[2]),
    ] {
        let result = config.check(&none);
        assert!(result.is_err(), "alg none accepted");
    }
    // Algorithm confusion: HS256 with the RSA public key as the "secret".
    let confused = sign(
        Algorithm::HS256,
        Some("rsa-1"),
        &EncodingKey::from_secret(RSA_PUBLIC),
        &good(json!({})),
    );
    assert!(matches!(
        config.check(&confused),
        Err(AuthError::WrongSecret)
    ));
    let only_jwks = JwtConfig::new().jwks(JWKS).unwrap();
    let result = only_jwks.check(&confused);
    assert!(
        matches!(result, Err(AuthError::UnacceptedAlgorithm)),
        "{result:?}"
    );
    // An RSA-signed token under the EC key's id, and algorithms nobody configured.
    let crossed = rs(Some("ec-1"), &good(json!({})));
    assert!(config.check(&crossed).is_err());
    let hs384 = sign(
        Algorithm::HS384,
        None,
        &EncodingKey::from_secret(SECRET),
        &good(json!({})),
    );
    assert!(matches!(
        config.check(&hs384),
        Err(AuthError::UnacceptedAlgorithm)
    ));
    let only_secret = JwtConfig::new().hs256_secret(SECRET).unwrap();
    let rs = rs(Some("rsa-1"), &claims(json!({})));
    assert!(matches!(
        only_secret.check(&rs),
        Err(AuthError::UnacceptedAlgorithm)
    ));
}

#[test]
fn bad_configuration_is_refused_at_start() {
    assert!(JwtConfig::new().hs256_secret(b"short").is_err());
    assert!(JwtConfig::new().jwks("{}").is_err());
    assert!(JwtConfig::new().jwks(r#"{"keys": []}"#).is_err());
    assert!(JwtConfig::new().jwks("not json").is_err());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret");
    std::fs::write(&path, [SECRET, b"\n"].concat()).unwrap();
    let from_file = JwtConfig::new().hs256_secret_file(&path).unwrap();
    assert!(
        from_file.check(&hs(&claims(json!({})))).is_ok(),
        "the newline is not part of it"
    );
    assert!(
        JwtConfig::new()
            .hs256_secret_file(&dir.path().join("missing"))
            .is_err()
    );
}
