//! Personal data and erasure: declared fields are stored encrypted with one key per
//! subject, read back in plaintext everywhere while the key exists, and as `null`
//! everywhere once the subject is erased; the reducers anonymize the read model, and
//! no table of the store holds the plaintext afterwards.

use gesta::event::{NewEvent, Position, StreamVersion};
use gesta::json::Schema;
use gesta::sql::{Params, Value as SqlValue};
use gesta::subscription::Start;
use gesta::{
    App, AppendRequest, Context, HandlerError, LogQuery, Migration, ReadModel, Store, Tx, params,
};
use serde_json::{Value, json};

use crate::check::sid;
use crate::harness::TestDb;

conformance!(
    personal_fields_are_sealed_and_erased_everywhere,
    erasing_bad_or_unknown_subjects
);

/// Names no other test writes, so a scan for them finds only what this test wrote.
const NAME: &str = "Ann Q. Erasable";
const EMAIL: &str = "ann.erasable@example.org";
const KEPT: &str = "Bob Kept-Forever";
const ERASED: &str = "(erased)";

/// An app with a `people` read model: `Register` emits `Registered` whose `name` is
/// personal (declared for the type, subject = the stream) and whose `email` belongs to
/// the subject named in the command (marked on the event).
fn people_app() -> App {
    let schema = Schema::new(json!({"type": "object", "required": ["id", "name"]})).unwrap();
    App::new("people")
        .migration(Migration::new(
            "0001_people",
            "CREATE TABLE people (id VARCHAR(64) PRIMARY KEY, name VARCHAR(200) NOT NULL, email VARCHAR(200))",
        ))
        .personal("Registered", "name")
        .json_command("Register", schema, |_tx, cmd| {
            let stream = format!("person-{}", cmd["id"].as_str().unwrap_or_default());
            let mut event = NewEvent::new(stream, "Registered", &cmd)?;
            if let Some(owner) = cmd["email_owner"].as_str() {
                event = event.personal_of("email", owner);
            }
            Ok(vec![event])
        })
        .read_model(ReadModel::new("people", &["people"], reduce))
}

fn reduce(tx: &mut Tx<'_>, event: &gesta::event::RecordedEvent) -> Result<(), HandlerError> {
    let data: Value = event.data_as()?;
    match event.event_type.as_str() {
        "Registered" => {
            tx.execute(
                "INSERT INTO people (id, name, email) VALUES (:id, :name, :email)",
                &params! {
                    "id" => data["id"].as_str().unwrap_or_default(),
                    "name" => data["name"].as_str().unwrap_or(ERASED),
                    "email" => data["email"].as_str(),
                },
            )?;
        }
        gesta::event::personal::SUBJECT_ERASED => {
            let subject = data["subject"].as_str().unwrap_or_default();
            if let Some(id) = subject.strip_prefix("person-") {
                tx.execute(
                    "UPDATE people SET name = :erased WHERE id = :id",
                    &params! { "erased" => ERASED, "id" => id },
                )?;
            }
            if let Some(id) = subject.strip_prefix("mail-") {
                tx.execute(
                    "UPDATE people SET email = NULL WHERE id = :id",
                    &params! { "id" => id },
                )?;
            }
        }
        _ => {}
    }
    Ok(())
}

async fn register(store: &Store, id: &str, name: &str, key: &str) -> gesta::CommandOutcome {
    let body = json!({"id": id, "name": name, "email": EMAIL, "email_owner": format!("mail-{id}")});
    let ctx = Context {
        idempotency_key: Some(key.to_owned()),
        ..Context::default()
    };
    store
        .dispatch_json("Register", body.to_string().as_bytes(), ctx)
        .await
        .unwrap_or_else(|e| panic!("Register {id}: {e}"))
}

async fn append(store: &Store, stream: &str, event: NewEvent, ctx: Context) {
    let request = AppendRequest {
        stream_id: sid(stream),
        expected: gesta::ExpectedVersion::Any,
        events: vec![event],
    };
    store.append(request, ctx).await.unwrap();
}

fn field(event: &gesta::event::RecordedEvent, name: &str) -> Value {
    event.data.parse::<Value>().unwrap()[name].clone()
}

async fn people(store: &Store) -> Vec<(String, String, Option<String>)> {
    let rows = store
        .query(
            "SELECT id, name, email FROM people ORDER BY id",
            Params::new(),
        )
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.get("id").unwrap(),
                r.get("name").unwrap(),
                r.get("email").unwrap(),
            )
        })
        .collect()
}

/// Every text or blob value of every table of the store that contains `needle`, as
/// `table: value`.
async fn tables_holding(b: &TestDb, store: &Store, needle: &str) -> Vec<String> {
    let list = match b.name() {
        n if n.starts_with("postgres") => {
            "SELECT table_name AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        }
        n if n.starts_with("mysql") || n.starts_with("mariadb") => {
            "SELECT table_name AS name FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'"
        }
        _ => "SELECT name FROM sqlite_master WHERE type = 'table'",
    };
    let tables: Vec<String> = store
        .query(list, Params::new())
        .await
        .unwrap()
        .iter()
        .map(|r| r.get_at(0).unwrap())
        .collect();
    assert!(tables.iter().any(|t| t == "events"), "{tables:?}");
    let mut found = Vec::new();
    for table in tables {
        let rows = store
            .query(&format!("SELECT * FROM {table}"), Params::new())
            .await
            .unwrap();
        for row in rows {
            for value in row.values() {
                let text = match value {
                    SqlValue::Text(t) => t.clone(),
                    SqlValue::Blob(b) => String::from_utf8_lossy(b).into_owned(),
                    _ => continue,
                };
                if text.contains(needle) {
                    found.push(format!("{table}: {text}"));
                }
            }
        }
    }
    found
}

async fn personal_fields_are_sealed_and_erased_everywhere(b: TestDb) {
    let store = b.builder_for(people_app()).open().await.unwrap();
    let first = register(&store, "1", NAME, "reg-1").await;
    register(&store, "2", KEPT, "reg-2").await;

    // The answer and the read model: plaintext.
    assert_eq!(field(&first.events[0], "name"), NAME);
    assert_eq!(
        people(&store).await[0],
        ("1".into(), NAME.into(), Some(EMAIL.into()))
    );
    // The log: sealed, the metadata names the keys; reads: plaintext.
    let stored = store
        .read_stored(LogQuery::after(Position(0)).limit(10))
        .await
        .unwrap();
    let sealed = field(&stored[0], "name");
    assert!(sealed.is_string() && sealed != NAME, "{sealed}");
    assert!(!stored[0].data.get().contains(NAME) && !stored[0].data.get().contains(EMAIL));
    let metadata: Value = stored[0].metadata.parse().unwrap();
    assert!(metadata["personal"]["name"].is_string(), "{metadata}");
    assert!(metadata["personal"]["email"].is_string(), "{metadata}");
    assert_ne!(metadata["personal"]["name"], metadata["personal"]["email"]);
    assert_eq!(
        field(&stored[0], "id"),
        "1",
        "fields not declared stay as they are"
    );
    let all = store
        .read_all(LogQuery::after(Position(0)).limit(10))
        .await
        .unwrap();
    assert_eq!(field(&all[0], "name"), NAME);
    assert_eq!(field(&all[0], "email"), EMAIL);
    assert!(!tables_holding(&b, &store, NAME).await.is_empty());
    let snapshot = store.take_snapshot().await.unwrap();
    assert!(snapshot.position >= 2);

    // Erase person 1's name (subject = the stream) and person 2's email.
    let erased = store.erase("person-1", Context::default()).await.unwrap();
    assert!(erased.key_found);
    assert_eq!(
        erased.wal_truncated.is_some(),
        b.name().starts_with("sqlite")
    );
    let recorded = &erased.outcome.events[0];
    assert_eq!(recorded.event_type, "gesta.subject_erased");
    assert_eq!(recorded.stream_id, sid("person-1"));
    assert_eq!(field(recorded, "subject"), "person-1");
    store.erase("mail-2", Context::default()).await.unwrap();

    // Every read: null where the key is gone, plaintext where it is not.
    let all = store
        .read_all(LogQuery::after(Position(0)).limit(10))
        .await
        .unwrap();
    assert_eq!(field(&all[0], "name"), Value::Null);
    assert_eq!(field(&all[0], "email"), EMAIL);
    assert_eq!(field(&all[1], "name"), KEPT);
    assert_eq!(field(&all[1], "email"), Value::Null);
    let stream = store
        .read_stream(&sid("person-1"), StreamVersion(1), 10)
        .await
        .unwrap();
    assert_eq!(field(&stream[0], "name"), Value::Null);
    assert_eq!(stream[1].event_type, "gesta.subject_erased");
    let mut subscription = store
        .subscribe(Start::After(Position(0)), LogQuery::default())
        .await
        .unwrap();
    let event = subscription.next().await.unwrap();
    assert_eq!(field(&event, "name"), Value::Null);
    // An idempotent retry answers the first outcome, erased too.
    let retried = register(&store, "1", NAME, "reg-1").await;
    assert!(retried.replayed);
    assert_eq!(field(&retried.events[0], "name"), Value::Null);

    // The reducers anonymized the read model; a rebuild replays to the same.
    let anonymized = vec![
        ("1".to_owned(), ERASED.to_owned(), Some(EMAIL.to_owned())),
        ("2".to_owned(), KEPT.to_owned(), None),
    ];
    assert_eq!(people(&store).await, anonymized);
    store.rebuild_read_models().await.unwrap();
    assert_eq!(people(&store).await, anonymized);
    // As of before the erasure: the rows as they stood, without the erased data.
    let (_, then) = store
        .query_at(
            Some(gesta::history::AsOf::Position(Position(2))),
            "SELECT name FROM people WHERE id = '1'",
            Params::new(),
        )
        .await
        .unwrap();
    assert_eq!(then[0].get::<String>("name").unwrap(), ERASED);
    // The snapshot taken before held the name: dropped.
    assert!(
        store
            .snapshots()
            .await
            .unwrap()
            .iter()
            .all(|s| s.position != snapshot.position)
    );

    // No table of the store holds the erased data; the rest is still there.
    assert_eq!(tables_holding(&b, &store, NAME).await, Vec::<String>::new());
    assert!(!tables_holding(&b, &store, KEPT).await.is_empty());

    // New personal data of the same subject gets a new key, readable again.
    let again = NewEvent::new(
        "person-1",
        "Registered",
        &json!({"id": "1b", "name": "Ann Again"}),
    )
    .unwrap();
    append(&store, "person-1", again, Context::default()).await;
    let last = store
        .read_all(LogQuery::after(Position(4)).limit(10))
        .await
        .unwrap();
    assert_eq!(field(last.last().unwrap(), "name"), "Ann Again");
    let again = store.erase("person-1", Context::default()).await.unwrap();
    assert!(again.key_found);
    let twice = store.erase("person-1", Context::default()).await.unwrap();
    assert!(!twice.key_found, "nothing left to erase");
}

async fn erasing_bad_or_unknown_subjects(b: TestDb) {
    let store = b.builder_for(people_app()).open().await.unwrap();
    let head = store.head().await.unwrap();
    for bad in ["", "a\u{1}b", &"x".repeat(201)] {
        let err = store.erase(bad, Context::default()).await.unwrap_err();
        assert!(
            matches!(err, gesta::Error::InvalidInput { ref field, .. } if field.as_deref() == Some("subject")),
            "{err:?}"
        );
    }
    assert_eq!(
        store.head().await.unwrap(),
        head,
        "a refused erasure writes nothing"
    );
    // A caller cannot claim sealed fields: its `personal` metadata is dropped.
    let event = NewEvent::new("note-1", "Noted", &json!({"name": "plain"})).unwrap();
    let mut ctx = Context::default();
    ctx.metadata
        .insert("personal".into(), json!({"name": "forged"}));
    append(&store, "note-1", event, ctx).await;
    let read = store
        .read_all(LogQuery::after(head).limit(10))
        .await
        .unwrap();
    assert_eq!(field(&read[0], "name"), "plain");
    let metadata: Value = read[0].metadata.parse().unwrap();
    assert!(metadata.get("personal").is_none(), "{metadata}");
    // An event with a personal field must carry an object.
    let app = App::new("odd").personal("Odd", "name");
    let odd = Store::open("sqlite::memory:", app).await.unwrap();
    let request = AppendRequest {
        stream_id: sid("odd-1"),
        expected: gesta::ExpectedVersion::Any,
        events: vec![NewEvent::new("odd-1", "Odd", &json!([1, 2])).unwrap()],
    };
    let err = odd.append(request, Context::default()).await.unwrap_err();
    assert!(matches!(err, gesta::Error::InvalidInput { .. }), "{err:?}");
}
