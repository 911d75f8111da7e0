//! A real browser: headless Chromium's `EventSource` against the server.
//!
//! The test server also serves a page whose script opens an `EventSource`, tells the
//! server when it is open (`GET /opened`) and posts what it received to `/report`, so
//! no DOM scraping or virtual time is needed. Chromium is Debian's `chromium`
//! package; without it the test is left out with a message, except under `CI=true`,
//! where it fails.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use axum::Router;
use axum::response::Html;
use axum::routing::{get, post};
use tokio::sync::mpsc;

use crate::support::{Server, WAIT, append, store};

const CHROMIUM: &str = "/usr/bin/chromium";

/// Listens for `Noted` only; reports `lastEventId:type:position` of the first five,
/// then of the first six.
const PAGE: &str = r#"<!doctype html>
<html><body><ol id="got"></ol><script>
const got = [];
const source = new EventSource('/subscribe?after=0');
source.onopen = () => fetch('/opened');
source.addEventListener('Noted', (message) => {
  const event = JSON.parse(message.data);
  got.push(message.lastEventId + ':' + event.type + ':' + event.position);
  if (got.length === 6) source.close();
  if (got.length >= 5) fetch('/report', { method: 'POST', body: got.join(',') });
});
</script></body></html>"#;

/// Headless Chromium's own `EventSource` gets the catch-up and the live events of
/// the type it listens for (`addEventListener(type)`, so `event:` is the type), with
/// `lastEventId` the position; when the server restarts, the browser reconnects by
/// itself with `Last-Event-ID` (which wins over the URL's `after=0`) and gets the
/// event committed meanwhile, and nothing twice.
#[tokio::test]
async fn chromium_event_source_gets_catch_up_live_and_resumed_events() {
    if !chromium_present() {
        return;
    }
    let store = store().await;
    append(&store, "note-1", "Noted", 2).await; // 1, 2
    append(&store, "other-1", "Other", 1).await; // 3
    append(&store, "note-1", "Noted", 1).await; // 4
    let (page, mut opened, mut reports) = page();
    let server = Server::with_routes(&store, page.clone()).await;

    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::open(&format!("{}/page", server.base), profile.path());
    tokio::time::timeout(Duration::from_secs(10), opened.recv())
        .await
        .unwrap_or_else(|_| panic!("the page did not open its EventSource:\n{}", browser.log()));
    append(&store, "other-1", "Other", 1).await; // 5
    append(&store, "note-2", "Noted", 2).await; // 6, 7
    let report = tokio::time::timeout(WAIT, reports.recv())
        .await
        .unwrap_or_else(|_| panic!("no report from the page:\n{}", browser.log()))
        .unwrap();
    assert_eq!(report, "1:Noted:1,2:Noted:2,4:Noted:4,6:Noted:6,7:Noted:7");

    let addr = server.addr;
    server.stop().await;
    append(&store, "note-3", "Noted", 1).await; // 8, while the server is down
    let server = Server::serve(&store, addr, Duration::from_secs(15), page).await;
    // Chromium waits about 3 s before it reconnects.
    let report = tokio::time::timeout(Duration::from_secs(10), reports.recv())
        .await
        .unwrap_or_else(|_| panic!("no report from the page:\n{}", browser.log()))
        .unwrap();
    assert_eq!(
        report,
        "1:Noted:1,2:Noted:2,4:Noted:4,6:Noted:6,7:Noted:7,8:Noted:8"
    );
    drop(browser);
    server.stop().await;
}

/// Whether Chromium is installed; without it the test is left out, or fails under CI.
fn chromium_present() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{CHROMIUM} is missing under CI=true: install Debian's chromium package"
    );
    // Straight to stderr, past the test harness's capture, so it is seen.
    let _ = writeln!(
        std::io::stderr(),
        "browser test left out: it needs {CHROMIUM} (apt-get install -y chromium)"
    );
    false
}

/// The page and its two callbacks: "the EventSource is open" and the report.
fn page() -> (Router, mpsc::Receiver<()>, mpsc::Receiver<String>) {
    let (opened_tx, opened) = mpsc::channel(4);
    let (report_tx, reports) = mpsc::channel(4);
    let router = Router::new()
        .route("/page", get(|| async { Html(PAGE) }))
        .route(
            "/opened",
            get(move || {
                let opened = opened_tx.clone();
                async move {
                    let _ = opened.try_send(());
                }
            }),
        )
        .route(
            "/report",
            post(move |body: String| {
                let reports = report_tx.clone();
                async move {
                    let _ = reports.try_send(body);
                }
            }),
        );
    (router, opened, reports)
}

/// A headless Chromium showing one page; killed when dropped.
struct Browser {
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl Browser {
    /// Starts Chromium on `url` with a fresh profile in `profile`.
    fn open(url: &str, profile: &Path) -> Browser {
        let log = profile.join("chromium.log");
        let output = std::fs::File::create(&log).unwrap();
        let child = std::process::Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-proxy-server",
            ])
            .arg(format!(
                "--user-data-dir={}",
                profile.join("profile").display()
            ))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .spawn()
            .unwrap();
        Browser { child, log }
    }

    /// What Chromium printed, for a failure message.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Browser {
    /// Asks Chromium to quit (SIGTERM, so it reaps its helper processes), and kills it
    /// if it is still there after 5 s.
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
