//! `/console`: the web console (sources in `console/` at the repository root, built
//! into `crates/gesta-http/console/` by `npm run build` there and checked in).
//!
//! Three files embedded in the binary: the page, its script and its style sheet. Any
//! `/console/...` path that is not an asset answers the page, which routes on the
//! client, so deep links are plain paths. The console is an ordinary client of the
//! public HTTP API; these routes are public (the page asks for a key itself when the
//! server requires one) and fetch nothing from other hosts.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use tower_http::compression::CompressionLayer;

use crate::problem::Problem;

/// The console's flag every Gesta server takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConsoleArgs {
    /// Do not serve the web console at /console.
    #[arg(long, env = "GESTA_NO_CONSOLE")]
    pub no_console: bool,
}

impl ConsoleArgs {
    /// `api` with the console as the flag asks.
    pub fn apply(&self, api: crate::Api) -> crate::Api {
        if self.no_console {
            api.without_console()
        } else {
            api
        }
    }
}

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:literal) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/console/", $name)),
        }
    };
}

/// The page every non-asset path answers.
const PAGE: Asset = asset!("index.html", "text/html; charset=utf-8");

/// The files under `/console/assets/`.
const ASSETS: [Asset; 2] = [
    asset!("console.js", "text/javascript; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
];

/// Only this origin's scripts, styles and connections: nothing from other hosts.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
                   img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
                   base-uri 'none'; form-action 'self'";

/// The console's routes, gzip-compressed for clients that accept it.
pub(crate) fn routes() -> Router {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route("/console/", get(page))
        .route("/console/assets/{name}", get(asset))
        .route("/console/{*path}", get(page))
        .layer(CompressionLayer::new().gzip(true))
}

/// Whether `path` is one of the console's (public: the page holds no data).
pub(crate) fn is_console_path(path: &str) -> bool {
    path == "/console" || path.starts_with("/console/")
}

/// A strong validator of an embedded file (FNV-1a of its bytes).
fn etag(body: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in body {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{hash:016x}\"")
}

fn serve(asset: &Asset, headers: &HeaderMap) -> Response {
    let tag = etag(asset.body);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.body.into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    // Revalidate every time: a new server version serves new files under the same names.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, value);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

async fn page(headers: HeaderMap) -> Response {
    serve(&PAGE, &headers)
}

async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(asset) => serve(asset, &headers),
        None => Problem::not_found(format!("the console has no asset {name:?}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_differ_with_content_and_are_quoted() {
        assert_ne!(etag(b"a"), etag(b"b"));
        assert!(etag(PAGE.body).starts_with('"') && etag(PAGE.body).ends_with('"'));
    }

    #[test]
    fn console_paths_are_the_prefix_only() {
        assert!(is_console_path("/console"));
        assert!(is_console_path("/console/streams/account-alice"));
        assert!(!is_console_path("/consoles"));
        assert!(!is_console_path("/admin/console"));
    }

    #[test]
    fn the_page_loads_the_embedded_assets_from_this_origin() {
        let page = std::str::from_utf8(PAGE.body).unwrap();
        for asset in &ASSETS {
            assert!(
                page.contains(&format!("/console/assets/{}", asset.name)),
                "index.html does not load {}",
                asset.name
            );
            assert!(!asset.body.is_empty(), "{} is empty", asset.name);
        }
        assert!(!page.contains("http://") && !page.contains("https://"));
    }
}
