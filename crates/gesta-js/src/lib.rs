//! Gesta applications written as one JavaScript (ES) module, run by an embedded
//! QuickJS engine: `gesta serve --app app.mjs`.
//!
//! The module's default export declares `collections` (read-model tables),
//! `commands` (a JSON Schema and a `handle(cmd, { get, reject, forbid, principal })`
//! returning events: `reject(detail)` answers 422, `forbid(detail)` 403, and
//! `principal` is who is asking, `{name, subject, roles}`, or `null`) and
//! `reducers` (`(collection, event) => collection`, in the Redux style). [`JsApp::load`]
//! turns it into an ordinary [`gesta::App`]: commands are checked against their schema
//! and run in the command's transaction, reducers update the collections' SQL tables in
//! that same transaction, and everything else of the store (idempotency, push,
//! history, reactors) applies unchanged. The same reducers run in the browser over
//! plain state (`@gesta/client`, in `clients/js`).
//!
//! Optional: `upcasters` (`{"Type@N": (data) => data}`, see [`gesta::App::upcaster`])
//! and `events` (`{Type: {schema}}`): a top-level property of an event schema marked
//! `"x-personal": true` is personal data, stored encrypted under the key of the
//! event's data subject — its stream, or the `data_subject` a handler gives the event
//! — and read as `null` once `POST /admin/erase` forgot that subject (see
//! [`gesta::event::personal`]). The mark anywhere else is an error at load.
//!
//! ```
//! let source = r#"
//!   export default {
//!     name: "library",
//!     collections: { books: { key: "id", columns: { id: "text", title: "text" } } },
//!     commands: {
//!       AddBook: {
//!         schema: { type: "object", required: ["id", "title"] },
//!         handle: (cmd, { get, reject }) => {
//!           if (get("books", cmd.id)) reject(`book ${cmd.id} already exists`);
//!           return [{ stream: `book-${cmd.id}`, type: "BookAdded", data: cmd }];
//!         },
//!       },
//!     },
//!     reducers: {
//!       books: (books, event) => event.type === "BookAdded" ? books.insert(event.data) : books,
//!     },
//!   };"#;
//! let app = gesta_js::JsApp::from_source("app.mjs", source, gesta_js::Limits::default()).unwrap();
//! assert_eq!(app.name(), "library");
//! assert!(app.app().has_command("AddBook"));
//! assert_eq!(app.collections()[0].name, "books");
//! ```

mod collection;
mod engine;
pub mod http;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gesta::event::{NewEvent, RecordedEvent};
use gesta::json::Schema;
use gesta::{App, ExpectedVersion, HandlerError, Migration, ReadModel, Rejection, Tx};
use serde::Deserialize;
use serde_json::Value as Json;

pub use collection::{Collection, ColumnType};
use engine::{CallError, Entry, Script, TxTables};

/// Limits on the app's code, per call of a handler or reducer.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long one handler or reducer call may run (default 1 s).
    pub time: Duration,
    /// How long loading the module (its top level) may run (default 5 s).
    pub load_time: Duration,
    /// The memory one thread's engine may hold (default 64 MiB).
    pub memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            time: Duration::from_secs(1),
            load_time: Duration::from_secs(5),
            memory_bytes: 64 * 1024 * 1024,
        }
    }
}

/// Why a module could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JsError {
    /// The file could not be read.
    #[error("reading {path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The module does not parse, throws while loading, or declares something invalid.
    #[error("the app module: {0}")]
    Module(String),
    /// A command's JSON Schema is not valid.
    #[error("commands.{command}.schema: {message}")]
    Schema {
        /// The command.
        command: String,
        /// What is wrong.
        message: String,
    },
    /// The engine itself failed.
    #[error("the JavaScript engine: {0}")]
    Engine(String),
}

/// What the module declares (the answer of the prelude's `__gesta_install`).
#[derive(Debug, Deserialize)]
struct Described {
    name: String,
    collections: HashMap<String, Collection>,
    commands: HashMap<String, Json>,
    reducers: HashMap<String, String>,
    #[serde(default)]
    upcasters: Vec<UpcasterDecl>,
    /// `"x-personal": true` properties of `events: {Type: {schema}}`.
    #[serde(default)]
    personal: Vec<PersonalDecl>,
}

/// A top-level property of an event type marked `"x-personal": true`.
#[derive(Debug, Deserialize)]
struct PersonalDecl {
    #[serde(rename = "type")]
    event_type: String,
    field: String,
}

/// `upcasters: {"Type@N": fn}`: a step from version N of Type.
#[derive(Debug, Deserialize)]
struct UpcasterDecl {
    #[serde(rename = "type")]
    event_type: String,
    from: u32,
}

/// An event as a handler returns it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HandlerEvent {
    stream: String,
    #[serde(rename = "type")]
    event_type: String,
    /// The payload, as JSON text (absent: `null`).
    data: Option<gesta::event::Json>,
    metadata: Option<serde_json::Map<String, Json>>,
    expected_version: Option<ExpectedVersion>,
    /// Whose personal data its `x-personal` fields are (default: the stream's).
    data_subject: Option<String>,
}

/// A loaded JavaScript app.
pub struct JsApp {
    name: String,
    app: App,
    collections: Vec<Collection>,
}

static NEXT_SCRIPT: AtomicU64 = AtomicU64::new(1);

impl JsApp {
    /// Loads the module at `path`.
    pub fn load(path: &Path, limits: Limits) -> Result<Self, JsError> {
        let source = std::fs::read_to_string(path).map_err(|e| JsError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let file = path.file_name().map_or_else(
            || "app.mjs".to_owned(),
            |f| f.to_string_lossy().into_owned(),
        );
        Self::from_source(&file, &source, limits)
    }

    /// Loads a module from its source; `file` names it in stack traces.
    pub fn from_source(file: &str, source: &str, limits: Limits) -> Result<Self, JsError> {
        let mut script = Script {
            id: NEXT_SCRIPT.fetch_add(1, Ordering::Relaxed),
            file: file.to_owned(),
            source: source.to_owned(),
            collections: HashMap::new(),
            personal: HashMap::new(),
            limits,
        };
        let described: Described = serde_json::from_str(&engine::describe(&script)?)
            .map_err(|e| JsError::Engine(format!("the module's description: {e}")))?;
        let mut collections: Vec<Collection> = described.collections.into_values().collect();
        collections.sort_by(|a, b| a.name.cmp(&b.name));
        for collection in &collections {
            collection.check_names().map_err(JsError::Module)?;
        }
        script.collections = collections
            .iter()
            .map(|c| (c.name.clone(), c.clone()))
            .collect();
        for declared in &described.personal {
            script
                .personal
                .entry(declared.event_type.clone())
                .or_default()
                .push(declared.field.clone());
        }
        let script = Arc::new(script);
        let mut app = App::new(described.name.clone());
        for declared in described.personal {
            app = app.personal(declared.event_type, declared.field);
        }
        for collection in &collections {
            app = app.migration(migration(collection));
        }
        let mut commands: Vec<(String, Json)> = described.commands.into_iter().collect();
        commands.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, schema) in commands {
            let schema = Schema::new(schema).map_err(|e| JsError::Schema {
                command: name.clone(),
                message: e.to_string(),
            })?;
            let script = Arc::clone(&script);
            let command = name.clone();
            app = app.json_command(name, schema, move |tx, cmd| {
                handle(&script, tx, &command, &cmd)
            });
        }
        for collection in &collections {
            if !described.reducers.contains_key(&collection.name) {
                continue;
            }
            let script = Arc::clone(&script);
            let name = collection.name.clone();
            let model = ReadModel::new(collection.name.clone(), &[collection.name.as_str()], {
                move |tx, event| reduce(&script, tx, &name, event)
            })
            .version(shape_version(collection));
            app = app.read_model(model);
        }
        for declared in described.upcasters {
            let script = Arc::clone(&script);
            let (event_type, from) = (declared.event_type.clone(), declared.from);
            app = app.upcaster(declared.event_type, declared.from, move |data| {
                upcast(&script, &event_type, from, &data)
            });
        }
        Ok(JsApp {
            name: described.name,
            app,
            collections,
        })
    }

    /// The app's name (`name:` in the module).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Gesta application to open a store with.
    pub fn app(&self) -> App {
        self.app.clone()
    }

    /// The declared collections, by name.
    pub fn collections(&self) -> &[Collection] {
        &self.collections
    }
}

/// The table of `collection`, created anew when its shape changes (the migration's
/// name carries the shape, and so does the read model's version, so that the store
/// then refills it from the log).
fn migration(collection: &Collection) -> Migration {
    let name = format!(
        "collection_{}_{:08x}",
        collection.name,
        shape_version(collection)
    );
    let mut migration = Migration::new(name, collection.create_table("sqlite"));
    for dialect in ["postgres", "mysql"] {
        migration = migration.for_dialect(dialect, collection.create_table(dialect));
    }
    migration
}

/// The read model's version: the declared version and the table's shape, hashed
/// (FNV-1a, stable across builds), so that either change rebuilds it.
fn shape_version(collection: &Collection) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    let shape = serde_json::json!([collection.version, collection.key, collection.columns]);
    for byte in shape.to_string().bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    // Version 0 means "never recorded" to the store.
    hash.max(1)
}

fn call_failed(what: &str, err: CallError) -> HandlerError {
    match err {
        CallError::Thrown(message) => HandlerError::Failed(format!("{what} threw: {message}")),
        CallError::Stopped(message) => HandlerError::Failed(format!("{what} was {message}")),
    }
}

fn handle(
    script: &Arc<Script>,
    tx: &mut Tx<'_>,
    command: &str,
    cmd: &Json,
) -> Result<Vec<NewEvent>, HandlerError> {
    // The principal as handlers see it: {name, subject, roles}, or null.
    let principal = match tx.principal() {
        Some(p) => serde_json::json!({"name": p.name, "subject": p.subject(), "roles": p.roles})
            .to_string(),
        None => "null".to_owned(),
    };
    let mut tables = TxTables {
        tx,
        script,
        remember: true,
    };
    let answer = engine::call(
        script,
        &mut tables,
        Entry::Handle,
        (command, &cmd.to_string(), &principal),
    )
    .map_err(|e| call_failed(&format!("{command}.handle"), e))?
    .unwrap_or_default();
    #[derive(Deserialize)]
    struct Answer<E> {
        events: Option<Vec<E>>,
        rejected: Option<String>,
        forbidden: Option<String>,
    }
    let answer = match serde_json::from_str::<Answer<HandlerEvent>>(&answer) {
        Ok(answer) => answer,
        // Something the handler returned is not an event: find which, for the message.
        Err(_) => {
            let answer: Answer<Json> = serde_json::from_str(&answer)?;
            let mut events = Vec::new();
            for (i, event) in answer.events.unwrap_or_default().iter().enumerate() {
                events.push(serde_json::from_str(&event.to_string()).map_err(|e| {
                    HandlerError::Failed(format!(
                        "{command}.handle returned a bad event [{i}]: {e} (an event is {{stream, type, data, metadata?, expected_version?, data_subject?}})"
                    ))
                })?);
            }
            Answer {
                events: Some(events),
                rejected: answer.rejected,
                forbidden: answer.forbidden,
            }
        }
    };
    if let Some(detail) = answer.rejected {
        return Err(Rejection::unprocessable(detail).into());
    }
    if let Some(detail) = answer.forbidden {
        return Err(Rejection::forbidden(detail).into());
    }
    let mut events = Vec::new();
    for event in answer.events.unwrap_or_default() {
        // A stream id or type the store refuses comes from the command's input (an id
        // with control characters, say): a 400, as for a Rust handler, not a bug.
        let mut new =
            NewEvent::new(event.stream, &event.event_type, &()).map_err(HandlerError::Event)?;
        if let Some(data) = event.data {
            // JSON text as the engine wrote it (checked by the parse above).
            new.data = data;
        }
        new.metadata = event.metadata;
        if let Some(expected) = event.expected_version {
            new = new.expect_version(expected);
        }
        if let Some(subject) = event.data_subject {
            for field in script.personal.get(&event.event_type).into_iter().flatten() {
                new = new.personal_of(field, &subject);
            }
        }
        events.push(new);
    }
    Ok(events)
}

/// Runs the app's upcaster from version `from` of `event_type` on `data`, in this
/// thread's engine, with no collection reachable (upcasters see only the data).
fn upcast(
    script: &Arc<Script>,
    event_type: &str,
    from: u32,
    data: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let answer = engine::call(
        script,
        &mut engine::NoTables,
        Entry::Upcast,
        (event_type, &from.to_string(), &data.to_string()),
    )
    .map_err(|e| call_failed(&format!("upcasters.{event_type}@{from}"), e).to_string())?
    .unwrap_or_else(|| "null".to_owned());
    serde_json::from_str(&answer).map_err(|e| format!("upcasters.{event_type}@{from}: {e}"))
}

fn reduce(
    script: &Arc<Script>,
    tx: &mut Tx<'_>,
    collection: &str,
    event: &RecordedEvent,
) -> Result<(), HandlerError> {
    let event = event.to_cloudevent().to_json();
    let mut tables = TxTables {
        tx,
        script,
        remember: false,
    };
    engine::call(script, &mut tables, Entry::Reduce, (collection, &event, ""))
        .map_err(|e| call_failed(&format!("reducer {collection}"), e))?;
    Ok(())
}
