//! `gesta events check --db URL --app app.mjs`: every event through the app's
//! upcasters, the failures with their positions, exit status 1 when any fail; the
//! store is not touched (no migrations or read models of the app are applied).

mod common;

use crate::common::{gesta, sqlite_url, stdout};

const V1: &str = r#"
export default {
  name: "shelf",
  commands: {
    AddBook: {
      schema: { type: "object", required: ["id"], properties: { id: { type: "string" } } },
      handle: (cmd) => [{ stream: `book-${cmd.id}`, type: "BookAdded", data: { id: cmd.id } }],
    },
  },
};
"#;

fn v2(upcaster: &str) -> String {
    format!(
        r#"export default {{
  name: "shelf",
  collections: {{ books: {{ key: "id", columns: {{ id: "text", copies: "integer" }} }} }},
  upcasters: {{ "BookAdded@1": {upcaster} }},
  reducers: {{ books: (books, e) => books.insert({{ id: e.data.id, copies: e.data.copies }}) }},
}};"#
    )
}

#[tokio::test]
async fn events_check_reports_the_events_an_upcaster_fails_on() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir, "shelf.db");
    {
        let v1 = gesta_js::JsApp::from_source("v1.mjs", V1, gesta_js::Limits::default()).unwrap();
        let store = gesta::Store::open(&url, v1.app()).await.unwrap();
        for id in ["a", "bad", "c"] {
            let body = serde_json::json!({ "id": id }).to_string();
            store
                .dispatch_json("AddBook", body.as_bytes(), gesta::Context::default())
                .await
                .unwrap();
        }
    }
    let good = dir.path().join("good.mjs");
    std::fs::write(&good, v2("(d) => ({ ...d, copies: 1 })")).unwrap();
    let out = stdout(&gesta(&[
        "events",
        "check",
        "--db",
        &url,
        "--app",
        good.to_str().unwrap(),
    ]));
    assert!(
        out.contains("3 events read, 3 of them upcast, 0 failed"),
        "{out}"
    );

    let bad = dir.path().join("bad.mjs");
    let throwing = "(d) => { if (d.id === 'bad') throw new Error('no copies known'); return { ...d, copies: 1 }; }";
    std::fs::write(&bad, v2(throwing)).unwrap();
    let run = gesta(&[
        "events",
        "check",
        "--db",
        &url,
        "--app",
        bad.to_str().unwrap(),
        "--json",
    ]);
    assert!(!run.status.success(), "a failing upcaster fails the check");
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["failed"], 1);
    assert_eq!(report["failures"][0]["position"], 2);
    assert_eq!(report["failures"][0]["type"], "BookAdded");
    assert!(
        report["failures"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no copies known")
    );

    // The check left the store alone: no table of the new version, the log as it was.
    let store = gesta::Store::open(&url, gesta::App::new("look"))
        .await
        .unwrap();
    let tables = store
        .query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'books'",
            gesta::params! {},
        )
        .await
        .unwrap();
    assert!(
        tables.is_empty(),
        "gesta events check applied the app's migrations"
    );
    let listed = stdout(&gesta(&["events", "--db", &url]));
    assert_eq!(listed.lines().count(), 3, "{listed}");
}
