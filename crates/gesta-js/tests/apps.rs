//! JavaScript apps on every backend: the library example's commands and reducers,
//! validation, rejection, thrown errors, runaway code and reducer failures rolling the
//! command back. Each test body runs once per backend (`Engine::ALL`; the servers when
//! their URL variables are set, as in `.ci/run`).

use std::path::Path;
use std::time::{Duration, Instant};

use gesta::{Context, Error, Store, params};
use gesta_js::{JsApp, Limits};
use gesta_testkit::{Database, Engine};
use serde_json::{Value, json};

fn limits() -> Limits {
    Limits {
        time: Duration::from_millis(300),
        memory_bytes: 32 * 1024 * 1024,
        ..Limits::default()
    }
}

fn load(file: &str) -> JsApp {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    JsApp::load(&path, limits()).unwrap()
}

async fn open(db: &Database, app: &JsApp) -> Store {
    Store::builder(app.app())
        .url(db.url())
        .open()
        .await
        .unwrap()
}

async fn run(store: &Store, name: &str, body: Value) -> Result<gesta::CommandOutcome, Error> {
    store
        .dispatch_json(name, body.to_string().as_bytes(), Context::default())
        .await
}

async fn rows(store: &Store, sql: &str) -> Vec<Vec<gesta::sql::Value>> {
    store
        .query(sql, params! {})
        .await
        .unwrap()
        .iter()
        .map(|r| r.values().to_vec())
        .collect()
}

async fn each_backend<F, Fut>(body: F)
where
    F: Fn(Database) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for engine in Engine::ALL {
        let Some(db) = engine.fresh() else {
            eprintln!("{}: left out (its URL variable is not set)", engine.title());
            continue;
        };
        eprintln!("{}", engine.title());
        body(db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_lends_and_returns_books() {
    each_backend(|db| async move {
        let app = load("../../examples/library/app.mjs");
        let store = open(&db, &app).await;
        run(
            &store,
            "AddBook",
            json!({"id": "b1", "title": "Dune", "copies": 1}),
        )
        .await
        .unwrap();
        let lent = run(
            &store,
            "LendBook",
            json!({"loan_id": "l1", "book_id": "b1", "reader": "ann"}),
        )
        .await
        .unwrap();
        assert_eq!(lent.events.len(), 1);
        assert_eq!(lent.events[0].event_type, "BookLent");
        assert_eq!(
            rows(&store, "SELECT id, title, copies, on_loan FROM books").await,
            vec![vec!["b1".into(), "Dune".into(), 1i64.into(), 1i64.into()]]
        );
        // Every copy is on loan: the handler's reject is a 422.
        let err = run(
            &store,
            "LendBook",
            json!({"loan_id": "l2", "book_id": "b1", "reader": "bob"}),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, Error::Rejected(r) if r.message.contains("on loan")),
            "{err:?}"
        );
        let err = run(
            &store,
            "AddBook",
            json!({"id": "b1", "title": "Again", "copies": 2}),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, Error::Rejected(r) if r.message == "book b1 already exists"),
            "{err:?}"
        );
        run(&store, "ReturnBook", json!({"loan_id": "l1"}))
            .await
            .unwrap();
        assert_eq!(
            rows(&store, "SELECT on_loan FROM books").await,
            vec![vec![0i64.into()]]
        );
        assert!(rows(&store, "SELECT id FROM loans").await.is_empty());
        // History works on JS collections like on any read model.
        let at = store
            .at(lent.position.unwrap())
            .query("SELECT on_loan FROM books", params! {})
            .await
            .unwrap();
        assert_eq!(at[0].get::<i64>("on_loan").unwrap(), 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_names_the_field_and_changes_nothing() {
    each_backend(|db| async move {
        let app = load("../../examples/library/app.mjs");
        let store = open(&db, &app).await;
        for (body, field) in [
            (json!({"id": "b1", "title": "Dune"}), "copies"),
            (json!({"id": "b1", "title": "Dune", "copies": 0}), "copies"),
            (json!({"id": "", "title": "Dune", "copies": 1}), "id"),
            (
                json!({"id": "b1", "title": "Dune", "copies": 1, "x": 1}),
                "x",
            ),
            (json!({"id": 5, "title": "Dune", "copies": 1}), "id"),
        ] {
            let err = run(&store, "AddBook", body.clone()).await.unwrap_err();
            assert!(
                matches!(&err, Error::InvalidInput { field: Some(f), .. } if f == field),
                "{body}: {err:?}"
            );
        }
        assert_eq!(store.head().await.unwrap().0, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_code_is_stopped_and_rolled_back() {
    each_backend(|db| async move {
        let app = load("tests/fixtures/misbehaving.mjs");
        let store = open(&db, &app).await;
        run(&store, "Put", json!({"id": "a", "n": 1}))
            .await
            .unwrap();
        let head = store.head().await.unwrap();
        for (name, expect) in [
            ("Throw", "handler bug"),
            ("Spin", "time limit"),
            ("Hog", "memory limit"),
            ("BadReducer", "reducer bug"),
            ("SpinReducer", "time limit"),
            ("BadEvent", "bad event"),
            ("Twice", "reducer bug"),
        ] {
            let started = Instant::now();
            let err = run(&store, name, json!({})).await.unwrap_err();
            let message = err.to_string();
            assert!(
                matches!(
                    err,
                    Error::HandlerFailed { .. } | Error::ReducerFailed { .. }
                ),
                "{name}: {err:?}"
            );
            assert!(message.contains(expect), "{name}: {message}");
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{name} took {:?}",
                started.elapsed()
            );
            assert_eq!(store.head().await.unwrap(), head, "{name} wrote something");
        }
        // The store goes on: the next command works, on a fresh engine if need be.
        run(&store, "Put", json!({"id": "b", "n": 2}))
            .await
            .unwrap();
        assert_eq!(
            rows(&store, "SELECT id, n FROM items ORDER BY id").await,
            vec![vec!["a".into(), 1i64.into()], vec!["b".into(), 2i64.into()]]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn column_types_round_trip() {
    each_backend(|db| async move {
        let app = load("tests/fixtures/misbehaving.mjs");
        let store = open(&db, &app).await;
        run(
            &store,
            "Put",
            json!({"id": "a", "n": 3, "tags": {"x": [1, "two"]}, "ok": true, "score": 2.5}),
        )
        .await
        .unwrap();
        let items = &app.collections()[0];
        let rows = store
            .query("SELECT id, n, ok, score, tags FROM items", params! {})
            .await
            .unwrap();
        let _ = items;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].get::<i64>("ok").unwrap(), 1);
        assert_eq!(rows[0].get::<String>("tags").unwrap(), r#"{"x":[1,"two"]}"#);
        // A row of the wrong type is a reducer error.
        let err = run(&store, "Put", json!({"id": "b", "n": 1.5}))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidInput { .. } | Error::ReducerFailed { .. }
            ),
            "{err:?}"
        );
    })
    .await;
}

#[test]
fn bad_modules_are_clear_errors() {
    for (source, expect) in [
        ("export default 5;", "default export"),
        (
            "export default { name: 'x', collections: { t: { key: 'id', columns: { id: 'blob' } } } };",
            "columns.id",
        ),
        (
            "export default { name: 'x', collections: { t: { key: 'nope', columns: { id: 'text' } } } };",
            "key",
        ),
        (
            "export default { name: 'x', collections: { t: { key: 'id', columns: { id: 'text', order: 'text' } } } };",
            "keyword",
        ),
        (
            "export default { name: 'x', reducers: { t: (c) => c } };",
            "no collection t",
        ),
        (
            "export default { name: 'x', commands: { A: { schema: { type: 7 }, handle: () => [] } } };",
            "commands.A.schema",
        ),
        (
            "export default { name: 'x', commands: { A: {} } };",
            "commands.A.handle",
        ),
        ("export default {", "app.mjs:1"),
        ("throw new Error('at load');", "at load"),
        ("for (;;) {}", "interrupted"),
    ] {
        let err = match JsApp::from_source("app.mjs", source, limits_fast()) {
            Ok(_) => panic!("{source}: loaded"),
            Err(err) => err.to_string(),
        };
        assert!(err.contains(expect), "{source}: {err}");
    }
}

fn limits_fast() -> Limits {
    Limits {
        load_time: Duration::from_millis(200),
        ..limits()
    }
}

/// A handler's reads are kept for its reducers (no second `SELECT` of a row the
/// handler already read); every write in the command must show through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reducers_see_every_write_of_their_command() {
    each_backend(|db| async move {
        let app = load("tests/fixtures/counters.mjs");
        let store = open(&db, &app).await;
        let counters = |store: Store| async move {
            rows(&store, "SELECT id, n FROM counters ORDER BY id").await
        };
        // Read as missing, inserted, then updated three times in the same command.
        run(&store, "Bump", json!({"id": "a", "times": 3}))
            .await
            .unwrap();
        assert_eq!(
            counters(store.clone()).await,
            vec![vec!["a".into(), 3i64.into()]]
        );
        run(&store, "Bump", json!({"id": "a", "times": 2}))
            .await
            .unwrap();
        assert_eq!(
            counters(store.clone()).await,
            vec![vec!["a".into(), 5i64.into()]]
        );
        // Both keys read by the handler, one removed and the other inserted by reducers.
        run(&store, "Move", json!({"id": "a", "to": "b"}))
            .await
            .unwrap();
        assert_eq!(
            counters(store.clone()).await,
            vec![vec!["b".into(), 6i64.into()]]
        );
        let err = run(&store, "Move", json!({"id": "a", "to": "c"}))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Rejected(r) if r.message == "no counter a"),
            "{err:?}"
        );
        // A command that rolls back leaves nothing behind, in the table or in the next
        // command's reads.
        let err = run(&store, "BumpThenFail", json!({"id": "b"}))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::ReducerFailed { .. }), "{err:?}");
        run(&store, "Bump", json!({"id": "b", "times": 1}))
            .await
            .unwrap();
        assert_eq!(
            counters(store.clone()).await,
            vec![vec!["b".into(), 7i64.into()]]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_see_the_principal_and_may_forbid() {
    each_backend(|db| async move {
        let app = load("tests/fixtures/counters.mjs");
        let store = open(&db, &app).await;
        let ann = gesta::Principal::new("key-ann")
            .with_subject("ann")
            .with_roles(["customer"]);
        let as_ann = Context {
            principal: Some(ann),
            ..Context::default()
        };
        let body = |id: &str| json!({ "id": id }).to_string();
        let outcome = store
            .dispatch_json("BumpMine", body("ann").as_bytes(), as_ann.clone())
            .await
            .unwrap();
        let bumped = outcome.events.last().unwrap();
        let data: Value = bumped.data_as().unwrap();
        assert_eq!(
            data,
            json!({"id": "ann", "by": "key-ann", "roles": ["customer"]})
        );
        assert_eq!(bumped.metadata().principal.as_deref(), Some("key-ann"));
        for (ctx, who) in [(as_ann, "ann"), (Context::default(), "nobody")] {
            match store
                .dispatch_json("BumpMine", body("bob").as_bytes(), ctx)
                .await
            {
                Err(Error::Rejected(r)) => {
                    assert_eq!(r.kind, gesta::RejectionKind::Forbidden, "{who}");
                    assert_eq!(r.message, "counter bob is not yours");
                }
                other => panic!("{who}: expected 403, got {other:?}"),
            }
        }
        let counters = rows(&store, "SELECT id, n FROM counters ORDER BY id").await;
        assert_eq!(
            counters,
            vec![vec![
                gesta::sql::Value::Text("ann".into()),
                gesta::sql::Value::Integer(1)
            ]]
        );
    })
    .await;
}

/// Version 1 of a small library: books without copies.
const LIBRARY_V1: &str = r#"
export default {
  name: "shelf",
  collections: { books: { key: "id", columns: { id: "text", title: "text", copies: "integer" } } },
  commands: {
    AddBook: {
      schema: { type: "object", required: ["id", "title"], properties: { id: { type: "string" }, title: { type: "string" } } },
      handle: (cmd) => [{ stream: `book-${cmd.id}`, type: "BookAdded", data: { id: cmd.id, title: cmd.title } }],
    },
  },
  reducers: {
    books: (books, e) => (e.type === "BookAdded" ? books.insert({ id: e.data.id, title: e.data.title, copies: e.data.copies ?? 0 }) : books),
  },
};
"#;

/// Version 2: every book has copies; version 1 events had one each.
const LIBRARY_V2: &str = r#"
export default {
  name: "shelf",
  collections: { books: { version: 2, key: "id", columns: { id: "text", title: "text", copies: "integer" } } },
  commands: {
    AddBook: {
      schema: { type: "object", required: ["id", "title", "copies"], properties: { id: { type: "string" }, title: { type: "string" }, copies: { type: "integer" } } },
      handle: (cmd) => [{ stream: `book-${cmd.id}`, type: "BookAdded", data: cmd }],
    },
  },
  upcasters: { "BookAdded@1": (data) => ({ ...data, copies: 1 }) },
  reducers: {
    books: (books, e) => (e.type === "BookAdded" ? books.insert({ id: e.data.id, title: e.data.title, copies: e.data.copies }) : books),
  },
};
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upcasters_bring_old_events_to_the_current_shape() {
    each_backend(|db| async move {
        {
            let v1 = JsApp::from_source("v1.mjs", LIBRARY_V1, limits()).unwrap();
            let store = open(&db, &v1).await;
            run(&store, "AddBook", json!({"id": "b1", "title": "Old"}))
                .await
                .unwrap();
        }
        let v2 = JsApp::from_source("v2.mjs", LIBRARY_V2, limits()).unwrap();
        let store = open(&db, &v2).await;
        store.read_models_ready().await.unwrap();
        run(
            &store,
            "AddBook",
            json!({"id": "b2", "title": "New", "copies": 3}),
        )
        .await
        .unwrap();
        // The collection was refilled through the upcaster: the old book has one copy.
        let books = rows(&store, "SELECT id, copies FROM books ORDER BY id").await;
        let books: Vec<(String, i64)> = books
            .iter()
            .map(|r| match (&r[0], &r[1]) {
                (gesta::sql::Value::Text(id), gesta::sql::Value::Integer(n)) => (id.clone(), *n),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(books, [("b1".to_owned(), 1), ("b2".to_owned(), 3)]);
        let all = store
            .read_all(gesta::LogQuery::after(gesta::event::Position(0)))
            .await
            .unwrap();
        let copies: Vec<Value> = all
            .iter()
            .map(|e| e.data.parse::<Value>().unwrap()["copies"].clone())
            .collect();
        assert_eq!(copies, [json!(1), json!(3)]);
        let versions: Vec<u32> = all
            .iter()
            .map(|e| gesta::event::upcast::written_version(&e.metadata))
            .collect();
        assert_eq!(versions, [1, 2]);
        let stored = store
            .read_stored(gesta::LogQuery::after(gesta::event::Position(0)))
            .await
            .unwrap();
        assert!(
            stored[0]
                .data
                .parse::<Value>()
                .unwrap()
                .get("copies")
                .is_none(),
            "stored bytes unchanged"
        );

        // An upcaster that throws is a typed error naming the event.
        let broken = LIBRARY_V2.replace(
            "({ ...data, copies: 1 })",
            "{ throw new Error(`no copies for ${data.id}`); }",
        );
        let broken = JsApp::from_source("v3.mjs", &broken, limits()).unwrap();
        let store = Store::builder(broken.app()).url(db.url()).open().await;
        let err = match store {
            Ok(store) => store
                .read_all(gesta::LogQuery::after(gesta::event::Position(0)))
                .await
                .unwrap_err(),
            Err(err) => err,
        };
        assert!(err.to_string().contains("no copies for b1"), "{err}");
    })
    .await;
}

#[test]
fn upcasters_are_declared_as_type_at_version() {
    for (upcasters, expect) in [
        ("{ BookAdded: (d) => d }", "upcasters.BookAdded"),
        ("{ 'BookAdded@0': (d) => d }", "upcasters.BookAdded@0"),
        ("{ 'BookAdded@1': 5 }", "a function"),
    ] {
        let source = format!("export default {{ name: 'x', upcasters: {upcasters} }};");
        let err = match JsApp::from_source("app.mjs", &source, limits_fast()) {
            Ok(_) => panic!("{source}: loaded"),
            Err(err) => err.to_string(),
        };
        assert!(err.contains(expect), "{source}: {err}");
    }
}

/// A clinic: patients' names are personal data of the patient's stream, a visit's
/// note belongs to the patient although the visit is written on the day's stream.
const CLINIC: &str = r#"
export default {
  name: "clinic",
  collections: { patients: { key: "id", columns: { id: "text", name: "text", visits: "integer" } } },
  events: {
    PatientRegistered: { schema: { type: "object", properties: { id: { type: "string" }, name: { type: "string", "x-personal": true } } } },
    VisitBooked: { schema: { type: "object", properties: { id: { type: "string" }, note: { type: "string", "x-personal": true }, day: { type: "string", "x-personal": false } } } },
  },
  commands: {
    Register: {
      schema: { type: "object", required: ["id", "name"], properties: { id: { type: "string" }, name: { type: "string" } } },
      handle: (cmd) => [{ stream: `patient-${cmd.id}`, type: "PatientRegistered", data: cmd }],
    },
    Book: {
      schema: { type: "object", required: ["id", "note", "day"] },
      handle: (cmd) => [{ stream: `day-${cmd.day}`, type: "VisitBooked", data: cmd, data_subject: `patient-${cmd.id}` }],
    },
  },
  reducers: {
    patients(patients, e) {
      switch (e.type) {
        case "PatientRegistered": return patients.insert({ id: e.data.id, name: e.data.name, visits: 0 });
        case "VisitBooked": return patients.update(e.data.id, (p) => ({ ...p, visits: p.visits + 1 }));
        case "gesta.subject_erased": {
          const id = e.data.subject.replace(/^patient-/, "");
          return patients.get(id) ? patients.update(id, (p) => ({ ...p, name: null })) : patients;
        }
        default: return patients;
      }
    },
  },
};
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_personal_fields_are_sealed_and_forgotten() {
    each_backend(|db| async move {
        let app = JsApp::from_source("clinic.mjs", CLINIC, limits()).unwrap();
        let store = open(&db, &app).await;
        let name = "Zebulon Quaintrelle";
        run(&store, "Register", json!({"id": "p1", "name": name}))
            .await
            .unwrap();
        run(&store, "Register", json!({"id": "p2", "name": "Ada"}))
            .await
            .unwrap();
        run(
            &store,
            "Book",
            json!({"id": "p1", "note": "Quaintrelle: knee", "day": "d1"}),
        )
        .await
        .unwrap();

        let all = gesta::LogQuery::after(gesta::event::Position(0)).limit(100);
        let stored = store.read_stored(all.clone()).await.unwrap();
        for event in &stored {
            assert!(
                !event.data.get().contains("Quaintrelle"),
                "stored in the clear: {}",
                event.data.get()
            );
        }
        let visit: Value = serde_json::from_str(stored[2].data.get()).unwrap();
        assert_eq!(visit["day"], "d1", "not marked: stored as it is");
        assert!(visit["note"].is_string(), "sealed: {visit}");
        let read = store.read_all(all.clone()).await.unwrap();
        let data: Vec<Value> = read.iter().map(|e| e.data.parse().unwrap()).collect();
        assert_eq!(data[0]["name"], name);
        assert_eq!(data[2]["note"], "Quaintrelle: knee");

        let erased = store.erase("patient-p1", Context::default()).await.unwrap();
        assert!(erased.key_found);
        let read = store.read_all(all).await.unwrap();
        let data: Vec<Value> = read.iter().map(|e| e.data.parse().unwrap()).collect();
        assert_eq!(data[0]["name"], Value::Null);
        assert_eq!(data[1]["name"], "Ada", "another subject keeps its data");
        assert_eq!(
            data[2]["note"],
            Value::Null,
            "the visit's note was the patient's"
        );
        assert_eq!(data[2]["day"], "d1");
        assert_eq!(read[3].event_type, "gesta.subject_erased");
        let patients = rows(&store, "SELECT id, name, visits FROM patients ORDER BY id").await;
        assert_eq!(
            patients,
            [
                vec![
                    gesta::sql::Value::Text("p1".into()),
                    gesta::sql::Value::Null,
                    gesta::sql::Value::Integer(1)
                ],
                vec![
                    gesta::sql::Value::Text("p2".into()),
                    gesta::sql::Value::Text("Ada".into()),
                    gesta::sql::Value::Integer(0)
                ],
            ]
        );
    })
    .await;
}

#[test]
fn x_personal_is_refused_where_it_would_be_ignored() {
    for (module, expect) in [
        (
            "commands: { C: { schema: { properties: { n: { type: 'string', 'x-personal': true } } }, handle: () => [] } }",
            "commands.C.schema.properties.n.x-personal",
        ),
        (
            "events: { E: { schema: { properties: { a: { type: 'object', properties: { n: { 'x-personal': true } } } } } } }",
            "events.E.schema.properties.a.properties.n.x-personal",
        ),
        (
            "events: { E: { schema: { properties: { n: { 'x-personal': 'yes' } } } } }",
            "true or false",
        ),
        ("events: { E: {} }", "events.E: an object with a schema"),
        (
            "events: { 'gesta.subject_erased': { schema: {} } }",
            "not starting with \"gesta.\"",
        ),
    ] {
        let source = format!("export default {{ name: 'x', {module} }};");
        let err = match JsApp::from_source("app.mjs", &source, limits_fast()) {
            Ok(_) => panic!("{source}: loaded"),
            Err(err) => err.to_string(),
        };
        assert!(err.contains(expect), "{source}: {err}");
    }
}
