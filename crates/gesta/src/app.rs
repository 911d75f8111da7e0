//! An application: its migrations, command handlers and read models (reducers).

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::command::{Command, HandlerError};
use crate::event::{NewEvent, RecordedEvent};
use crate::json::Schema;
use crate::{Error, Tx};

/// A schema migration of the application's read-model tables, applied once, in order.
#[derive(Debug, Clone)]
pub struct Migration {
    /// A unique, ordered name such as `0001_accounts`.
    pub name: String,
    sql: String,
    per_dialect: Vec<(&'static str, String)>,
}

impl Migration {
    /// A migration running `sql` (several statements allowed) on every backend.
    pub fn new(name: impl Into<String>, sql: impl Into<String>) -> Self {
        Migration {
            name: name.into(),
            sql: sql.into(),
            per_dialect: Vec::new(),
        }
    }

    /// Uses `sql` instead on the backend whose dialect is named `dialect`
    /// (`sqlite`, `postgres`, `mysql`).
    pub fn for_dialect(mut self, dialect: &'static str, sql: impl Into<String>) -> Self {
        self.per_dialect.push((dialect, sql.into()));
        self
    }

    /// The SQL to run on `dialect`.
    pub fn sql_for(&self, dialect: &str) -> &str {
        self.per_dialect
            .iter()
            .find(|(d, _)| *d == dialect)
            .map_or(&self.sql, |(_, sql)| sql)
    }
}

type ReduceFn = dyn Fn(&mut Tx<'_>, &RecordedEvent) -> Result<(), HandlerError> + Send + Sync;

/// A read model: the tables it owns and the reducer that keeps them up to date
/// inside the write transaction.
#[derive(Clone)]
pub struct ReadModel {
    /// The read model's name.
    pub name: String,
    /// The tables it owns; they are emptied before a rebuild.
    pub tables: Vec<String>,
    /// The version of its reducer and tables (default 1). Raise it when the reducer
    /// changes what it writes: the store then rebuilds the read model from the log in
    /// the background when it next opens, and snapshots of the old version are no
    /// longer used.
    pub version: u32,
    reducer: Arc<ReduceFn>,
}

impl ReadModel {
    /// A read model named `name` owning `tables`, updated by `reducer` for every event.
    pub fn new<F>(name: impl Into<String>, tables: &[&str], reducer: F) -> Self
    where
        F: Fn(&mut Tx<'_>, &RecordedEvent) -> Result<(), HandlerError> + Send + Sync + 'static,
    {
        ReadModel {
            name: name.into(),
            tables: tables.iter().map(|t| (*t).to_owned()).collect(),
            version: 1,
            reducer: Arc::new(reducer),
        }
    }

    /// Sets [`ReadModel::version`].
    pub fn version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// A fingerprint of what the read model's rows depend on: its name, version and
    /// tables, and the application's migrations on `dialect`. Snapshots record it and
    /// are used only while it is unchanged. (FNV-1a, stable across builds.)
    pub fn fingerprint(&self, app: &App, dialect: &str) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |bytes: &[u8]| {
            for byte in bytes.iter().chain(&[0xff]) {
                hash ^= u64::from(*byte);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        feed(self.name.as_bytes());
        feed(&self.version.to_le_bytes());
        for table in &self.tables {
            feed(table.as_bytes());
        }
        for migration in app.migrations() {
            feed(migration.name.as_bytes());
            feed(migration.sql_for(dialect).as_bytes());
        }
        format!("{hash:016x}")
    }

    pub(crate) fn apply(&self, tx: &mut Tx<'_>, event: &RecordedEvent) -> Result<(), HandlerError> {
        (self.reducer)(tx, event)
    }
}

impl fmt::Debug for ReadModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadModel")
            .field("name", &self.name)
            .field("tables", &self.tables)
            .field("version", &self.version)
            .finish()
    }
}

/// A command handler with its type erased, so the registry can hold all of them.
pub(crate) trait ErasedHandler: Send + Sync {
    fn schema(&self) -> serde_json::Value;
    fn decode(&self, json: &[u8]) -> Result<Box<dyn Any + Send>, Error>;
    fn run(
        &self,
        tx: &mut Tx<'_>,
        payload: Box<dyn Any + Send>,
    ) -> Result<Vec<NewEvent>, HandlerError>;
}

struct TypedHandler<C, F> {
    handler: F,
    command: PhantomData<fn() -> C>,
}

impl<C, F> ErasedHandler for TypedHandler<C, F>
where
    C: Command,
    F: Fn(&mut Tx<'_>, C) -> Result<Vec<NewEvent>, HandlerError> + Send + Sync,
{
    fn schema(&self) -> serde_json::Value {
        C::schema()
    }

    fn decode(&self, json: &[u8]) -> Result<Box<dyn Any + Send>, Error> {
        crate::json::decode::<C>(json).map(|c| Box::new(c) as Box<dyn Any + Send>)
    }

    fn run(
        &self,
        tx: &mut Tx<'_>,
        payload: Box<dyn Any + Send>,
    ) -> Result<Vec<NewEvent>, HandlerError> {
        let command = payload
            .downcast::<C>()
            .map_err(|_| HandlerError::Failed(format!("payload is not a {}", C::NAME)))?;
        (self.handler)(tx, *command)
    }
}

type JsonHandlerFn =
    dyn Fn(&mut Tx<'_>, serde_json::Value) -> Result<Vec<NewEvent>, HandlerError> + Send + Sync;

/// A handler of commands given as JSON, checked against a JSON Schema first.
struct JsonHandler {
    schema: Schema,
    handler: Box<JsonHandlerFn>,
}

impl ErasedHandler for JsonHandler {
    fn schema(&self) -> serde_json::Value {
        self.schema.document().clone()
    }

    fn decode(&self, json: &[u8]) -> Result<Box<dyn Any + Send>, Error> {
        let value: serde_json::Value = crate::json::decode(json)?;
        self.schema.check(&value)?;
        Ok(Box::new(value))
    }

    fn run(
        &self,
        tx: &mut Tx<'_>,
        payload: Box<dyn Any + Send>,
    ) -> Result<Vec<NewEvent>, HandlerError> {
        let value = payload
            .downcast::<serde_json::Value>()
            .map_err(|_| HandlerError::Failed("payload is not JSON".to_owned()))?;
        (self.handler)(tx, *value)
    }
}

/// Everything the store needs to know about an application.
///
/// ```
/// use gesta::{App, Command, HandlerError, Migration, ReadModel, Tx, event::NewEvent};
///
/// #[derive(serde::Deserialize)]
/// struct Ping { id: String }
/// impl Command for Ping { const NAME: &'static str = "Ping"; }
///
/// fn ping(_tx: &mut Tx<'_>, cmd: Ping) -> Result<Vec<NewEvent>, HandlerError> {
///     Ok(vec![NewEvent::new(format!("ping-{}", cmd.id), "Pinged", &serde_json::json!({}))?])
/// }
///
/// let app = App::new("pinger")
///     .migration(Migration::new("0001_pings", "CREATE TABLE pings (id VARCHAR(64) PRIMARY KEY)"))
///     .command(ping)
///     .read_model(ReadModel::new("pings", &["pings"], |_tx, _event| Ok(())));
/// assert!(app.has_command("Ping"));
/// ```
#[derive(Clone, Default)]
pub struct App {
    name: String,
    migrations: Vec<Migration>,
    handlers: HashMap<String, Arc<dyn ErasedHandler>>,
    read_models: Vec<ReadModel>,
    upcasters: Arc<crate::event::upcast::Upcasters>,
    personal: Arc<crate::event::personal::PersonalFields>,
}

impl App {
    /// An empty application named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        App {
            name: name.into(),
            ..App::default()
        }
    }

    /// Adds a migration (applied in the order added).
    pub fn migration(mut self, migration: Migration) -> Self {
        self.migrations.push(migration);
        self
    }

    /// Registers the handler for command `C`.
    pub fn command<C, F>(mut self, handler: F) -> Self
    where
        C: Command,
        F: Fn(&mut Tx<'_>, C) -> Result<Vec<NewEvent>, HandlerError> + Send + Sync + 'static,
    {
        let erased = TypedHandler {
            handler,
            command: PhantomData::<fn() -> C>,
        };
        self.handlers.insert(C::NAME.to_owned(), Arc::new(erased));
        self
    }

    /// Registers a handler for commands named `name` whose body is any JSON that
    /// `schema` accepts (a 400 naming the failing field otherwise). This is how
    /// applications not written in Rust (a JavaScript module) register commands.
    ///
    /// ```
    /// use gesta::{App, json::Schema, event::NewEvent};
    /// let schema = Schema::new(serde_json::json!({"type": "object", "required": ["id"]})).unwrap();
    /// let app = App::new("pinger").json_command("Ping", schema, |_tx, cmd| {
    ///     Ok(vec![NewEvent::new(format!("ping-{}", cmd["id"]), "Pinged", &cmd)?])
    /// });
    /// assert!(app.has_command("Ping"));
    /// assert_eq!(app.command_schema("Ping").unwrap()["required"][0], "id");
    /// ```
    pub fn json_command<F>(mut self, name: impl Into<String>, schema: Schema, handler: F) -> Self
    where
        F: Fn(&mut Tx<'_>, serde_json::Value) -> Result<Vec<NewEvent>, HandlerError>
            + Send
            + Sync
            + 'static,
    {
        let erased = JsonHandler {
            schema,
            handler: Box::new(handler),
        };
        self.handlers.insert(name.into(), Arc::new(erased));
        self
    }

    /// The JSON Schema of command `name`'s body ([`Command::schema`], or the schema
    /// given to [`App::json_command`]).
    pub fn command_schema(&self, name: &str) -> Option<serde_json::Value> {
        self.handlers.get(name).map(|h| h.schema())
    }

    /// Registers how data of `event_type` written in `from_version` becomes the next
    /// version's: the type's events are then written in the version after its highest
    /// upcaster, and older ones are read through the chain (see
    /// [`crate::event::upcast`]).
    pub fn upcaster<F>(mut self, event_type: impl Into<String>, from_version: u32, step: F) -> Self
    where
        F: Fn(serde_json::Value) -> Result<serde_json::Value, String> + Send + Sync + 'static,
    {
        Arc::make_mut(&mut self.upcasters).add(event_type, from_version, Arc::new(step));
        self
    }

    /// The same app with `other`'s upcasters instead of its own: to read a log as
    /// another app would without taking its migrations or read models.
    pub fn upcasters_of(mut self, other: &App) -> Self {
        self.upcasters = Arc::clone(&other.upcasters);
        self
    }

    /// The upcasters of every event type.
    pub fn upcasters(&self) -> &Arc<crate::event::upcast::Upcasters> {
        &self.upcasters
    }

    /// Declares the top-level field `field` of every `event_type` event personal data
    /// of the subject named like the event's stream: stored encrypted with that
    /// subject's key, read back as `null` once the subject is erased (see
    /// [`crate::event::personal`]).
    ///
    /// ```
    /// let app = gesta::App::new("bank").personal("AccountOpened", "owner");
    /// assert_eq!(app.personal_fields().of("AccountOpened").collect::<Vec<_>>(), ["owner"]);
    /// ```
    pub fn personal(mut self, event_type: impl Into<String>, field: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.personal).add(event_type, field);
        self
    }

    /// The personal fields declared per event type.
    pub fn personal_fields(&self) -> &crate::event::personal::PersonalFields {
        &self.personal
    }

    /// Adds a read model; its reducer sees every event, in log order.
    pub fn read_model(mut self, read_model: ReadModel) -> Self {
        self.read_models.push(read_model);
        self
    }

    /// The application's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a handler is registered under `name`.
    pub fn has_command(&self, name: &str) -> bool {
        self.handlers.contains_key(name)
    }

    /// The registered command names, sorted.
    pub fn command_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.handlers.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// The migrations, in order.
    pub fn migrations(&self) -> &[Migration] {
        &self.migrations
    }

    /// The read models.
    pub fn read_models(&self) -> &[ReadModel] {
        &self.read_models
    }

    /// The read model named `name`.
    pub fn find_read_model(&self, name: &str) -> Option<&ReadModel> {
        self.read_models.iter().find(|m| m.name == name)
    }

    pub(crate) fn handler(&self, name: &str) -> Option<&Arc<dyn ErasedHandler>> {
        self.handlers.get(name)
    }
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("name", &self.name)
            .field("commands", &self.command_names())
            .field("read_models", &self.read_models)
            .finish()
    }
}
