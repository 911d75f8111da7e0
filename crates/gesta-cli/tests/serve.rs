//! `gesta serve --app examples/library/app.mjs` as a user runs it, on every backend:
//! commands over HTTP (validated, rejected, committed), the collections' read routes
//! with `as_of`, the OpenAPI document, `--static`, and runaway code answered with a
//! problem while the server goes on, GraphQL and its printed schema, and commands
//! taken over NATS with `--nats`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use gesta_testkit::Engine;
use serde_json::{Value, json};

struct Served {
    child: Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(app: &Path, db: &str, extra: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gesta"))
        .args(["serve", "--app"])
        .arg(app)
        .args(["--db", db, "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    Served { child, base }
}

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

async fn post(base: &str, name: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/commands/{name}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn get(base: &str, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{base}{path}")).await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_is_served_on_every_backend() {
    for engine in Engine::ALL {
        let Some(db) = engine.fresh() else {
            eprintln!("{}: left out (its URL variable is not set)", engine.title());
            continue;
        };
        let statics = tempfile::tempdir().unwrap();
        std::fs::write(statics.path().join("index.html"), "<h1>library</h1>").unwrap();
        let server = serve(
            &root().join("examples/library/app.mjs"),
            db.url(),
            &["--static", statics.path().to_str().unwrap()],
        );
        let base = server.base.as_str();
        let (status, added) = post(
            base,
            "AddBook",
            json!({"id": "b1", "title": "Dune", "copies": 1}),
        )
        .await;
        assert_eq!(status, 200, "{added}");
        assert_eq!(added["events"][0]["type"], "BookAdded");
        let (status, problem) = post(
            base,
            "AddBook",
            json!({"id": "b2", "title": "X", "copies": "many"}),
        )
        .await;
        assert_eq!(
            (status, problem["field"].as_str()),
            (400, Some("copies")),
            "{problem}"
        );
        let (status, problem) = post(
            base,
            "AddBook",
            json!({"id": "b1", "title": "Dune", "copies": 1}),
        )
        .await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(problem["detail"], "book b1 already exists");
        let (status, _) = post(
            base,
            "LendBook",
            json!({"loan_id": "l1", "book_id": "b1", "reader": "ann"}),
        )
        .await;
        assert_eq!(status, 200);
        let (status, problem) = post(
            base,
            "LendBook",
            json!({"loan_id": "l2", "book_id": "b1", "reader": "bo"}),
        )
        .await;
        assert_eq!(status, 422, "{problem}");

        let (status, books) = get(base, "/collections/books").await;
        assert_eq!(status, 200);
        assert_eq!(
            books,
            json!({"position": 2, "rows": [{"id": "b1", "title": "Dune", "copies": 1, "on_loan": 1}]})
        );
        let (_, then) = get(base, "/collections/books/b1?as_of=1").await;
        assert_eq!(then["on_loan"], 0);
        assert_eq!(get(base, "/collections/books/b1?as_of=0").await.0, 404);
        assert_eq!(get(base, "/collections/books/nope").await.0, 404);
        assert_eq!(get(base, "/collections/nope").await.0, 404);
        let (status, problem) = get(base, "/collections/books?as_of=-1").await;
        assert_eq!((status, problem["field"].as_str()), (400, Some("as_of")));
        let (_, loans) = get(base, "/collections/loans").await;
        assert_eq!(
            loans["rows"],
            json!([{"id": "l1", "book_id": "b1", "reader": "ann"}])
        );

        let (_, doc) = get(base, "/openapi.json").await;
        let schema = &doc["paths"]["/commands/AddBook"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"];
        assert_eq!(schema["required"], json!(["id", "title", "copies"]));
        assert_eq!(
            doc["components"]["schemas"]["Collection_books"]["properties"]["copies"]["type"],
            json!(["integer", "null"])
        );
        assert!(doc["paths"]["/collections/books/{key}"]["get"].is_object());
        let (status, page) = get(base, "/index.html").await;
        assert_eq!(
            (status, page),
            (200, Value::String("<h1>library</h1>".into()))
        );
    }
}

/// The console is at `/console` beside `--static` files, its read-model page lists the
/// app's collections through the admin API; `--no-console` turns it off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_unless_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("c.db").display());
    let app = root().join("examples/library/app.mjs");
    let statics = tempfile::tempdir().unwrap();
    std::fs::write(statics.path().join("index.html"), "<h1>library</h1>").unwrap();
    let server = serve(&app, &db, &["--static", statics.path().to_str().unwrap()]);
    let (status, page) = get(&server.base, "/console/read-models/books").await;
    assert_eq!(status, 200);
    assert!(
        page.as_str()
            .unwrap()
            .contains("/console/assets/console.js")
    );
    let (status, _) = get(&server.base, "/console/assets/console.css").await;
    assert_eq!(status, 200);
    let (_, models) = get(&server.base, "/admin/read-models").await;
    let tables: Vec<&Value> = models["read_models"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["tables"].as_array().unwrap())
        .collect();
    assert!(tables.contains(&&json!("books")), "{models}");
    let (status, index) = get(&server.base, "/index.html").await;
    assert_eq!(
        (status, index),
        (200, Value::String("<h1>library</h1>".into()))
    );
    drop(server);

    let off = serve(&app, &db, &["--no-console"]);
    let (status, problem) = get(&off.base, "/console/").await;
    assert_eq!(status, 404, "{problem}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_code_gets_a_problem_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("m.db").display());
    let server = serve(
        &root().join("crates/gesta-js/tests/fixtures/misbehaving.mjs"),
        &db,
        &["--js-time-limit-ms", "200", "--js-memory-limit-mb", "16"],
    );
    let base = server.base.as_str();
    for name in ["Spin", "Hog", "Throw", "BadReducer"] {
        let (status, problem) = post(base, name, json!({})).await;
        assert_eq!(status, 500, "{name}: {problem}");
        assert_eq!(problem["status"], 500);
    }
    let (status, _) = post(base, "Put", json!({"id": "a", "n": 1})).await;
    assert_eq!(status, 200);
    let (_, items) = get(base, "/collections/items").await;
    assert_eq!(items["position"], 1);
    assert_eq!(items["rows"][0]["n"], 1);
}

/// `--archive-to DEST --archive-keep N`: the server moves its oldest events out by
/// itself, and its API still answers with every one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_archives_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("library.db").display());
    let to = format!("file://{}", dir.path().join("archive").display());
    let server = serve(
        &root().join("examples/library/app.mjs"),
        &db,
        &[
            "--archive-to",
            &to,
            "--archive-keep",
            "2",
            "--archive-every",
            "50ms",
        ],
    );
    for i in 0..5 {
        let (status, body) = post(
            &server.base,
            "AddBook",
            json!({"id": format!("b{i}"), "title": "T", "copies": 1}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let out = Command::new(env!("CARGO_BIN_EXE_gesta"))
            .args(["stats", "--db", &db, "--json"])
            .output()
            .unwrap();
        let stats: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if stats["archived_events"] == 3 {
            assert_eq!(stats["live_events"], 2);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never archived: {stats}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, events) = get(&server.base, "/events?after=0&limit=100").await;
    assert_eq!(status, 200);
    let positions: Vec<u64> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, [1, 2, 3, 4, 5]);
    let (_, books) = get(&server.base, "/collections/books").await;
    assert_eq!(books["rows"].as_array().unwrap().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_is_served_and_its_schema_prints_the_same_from_the_app_and_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("g.db").display());
    let app = root().join("examples/library/app.mjs");
    let served = serve(&app, &db, &[]);
    let body = json!({"query": "mutation { addBook(input: {id: \"g1\", title: \"Dune\", copies: 1}) { position } } "});
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", served.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["data"]["addBook"]["position"], 1, "{answer}");
    let from_app = Command::new(env!("CARGO_BIN_EXE_gesta"))
        .args(["schema", "graphql", "--app"])
        .arg(&app)
        .output()
        .unwrap();
    assert!(from_app.status.success());
    let from_server = Command::new(env!("CARGO_BIN_EXE_gesta"))
        .args(["schema", "graphql", "--server", &served.base])
        .output()
        .unwrap();
    assert!(from_server.status.success());
    let sdl = String::from_utf8(from_app.stdout).unwrap();
    assert_eq!(sdl, String::from_utf8(from_server.stdout).unwrap());
    assert!(
        sdl.contains("addBook(") && sdl.contains("books(") && sdl.contains("type Book"),
        "{sdl}"
    );
    drop(served);

    let off = serve(&app, &db, &["--no-graphql"]);
    let (status, _) = get(&off.base, "/graphql/schema.graphql").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nats_commands_are_taken_over_request_reply() {
    let url = match std::env::var("GESTA_TEST_NATS_URL") {
        Ok(url) if !url.is_empty() => url,
        _ if gesta_testkit::in_ci() => panic!("GESTA_TEST_NATS_URL must be set under CI=true"),
        _ => {
            eprintln!("gesta serve --nats: left out (set GESTA_TEST_NATS_URL)");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    // The app's name is the store's: a copy of the library under a name of its own, so
    // that its subjects do not collide with another run's.
    let name = format!("lib{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let source = std::fs::read_to_string(root().join("examples/library/app.mjs")).unwrap();
    let renamed = source.replacen("name: \"library\"", &format!("name: \"{name}\""), 1);
    assert_ne!(renamed, source, "the library app names itself \"library\"");
    let app = dir.path().join("app.mjs");
    std::fs::write(&app, renamed).unwrap();
    let db = format!("sqlite://{}", dir.path().join("n.db").display());
    let served = serve(&app, &db, &["--nats", &url]);
    let nats = async_nats::connect(&url).await.unwrap();
    let subject = format!("gesta.{name}.commands.AddBook");
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Idempotency-Key", "add-n1");
    let body = br#"{"id": "n1", "title": "Dune", "copies": 1}"#;
    for _ in 0..2 {
        let reply = nats
            .request_with_headers(subject.clone(), headers.clone(), body.to_vec().into())
            .await
            .unwrap();
        assert_eq!(
            reply.headers.unwrap().get("Gesta-Status").unwrap().as_str(),
            "200"
        );
        let outcome: Value = serde_json::from_slice(&reply.payload).unwrap();
        assert_eq!(outcome["position"], 1, "{outcome}");
    }
    // Wait for the fan-out to make its stream and publish the event; from then on the
    // stream must not take the command requests, whose acknowledgement would race
    // the intake's reply.
    let js = async_nats::jetstream::new(nats.clone());
    let stream_name = format!("GESTA_{name}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let stored = match js.get_stream(&stream_name).await {
            Ok(mut stream) => stream.info().await.map_or(0, |info| info.state.messages),
            Err(_) => 0,
        };
        if stored >= 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the event never reached JetStream"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for _ in 0..20 {
        let reply = nats
            .request(subject.clone(), br#"{"id": "n2"}"#.to_vec().into())
            .await
            .unwrap();
        let status = reply.headers.as_ref().and_then(|h| h.get("Gesta-Status"));
        assert_eq!(
            status.map(|s| s.as_str()),
            Some("400"),
            "a reply that is not the intake's: {:?}",
            String::from_utf8_lossy(&reply.payload)
        );
    }
    let (_, books) = get(&served.base, "/collections/books").await;
    assert_eq!(books["rows"].as_array().unwrap().len(), 1, "{books}");
    drop(served);
    let mut stream = js.get_stream(&stream_name).await.unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(
        info.config.subjects,
        [format!("gesta.{name}.events.>")],
        "the stream's subjects cover the commands"
    );
    assert_eq!(
        info.state.messages, 1,
        "the stream holds more than the event"
    );
    // The fan-out made the app's JetStream stream: leave the server as it was.
    let _ = js.delete_stream(&stream_name).await;
}
