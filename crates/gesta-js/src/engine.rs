//! The embedded engine: one QuickJS runtime per thread that runs the app's code
//! (the writer, and the readers that materialize history), each with the app's
//! module loaded, guarded by time and memory limits.
//!
//! JavaScript reaches the command's transaction through native functions that find
//! it in a scoped thread-local for exactly the length of one call.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gesta::Tx;
use rquickjs::{
    CatchResultExt, CaughtError, Context, Ctx, Exception, Function, Module, Object, Persistent,
    Runtime,
};
use scoped_tls_hkt::scoped_thread_local;
use serde_json::Value as Json;

use crate::collection::{Collection, MAX_SAFE_INTEGER};
use crate::{JsError, Limits};

const PRELUDE: &str = include_str!("prelude.js");

/// The app's code, shared by every thread's engine.
pub(crate) struct Script {
    /// Distinguishes scripts in the per-thread engine table.
    pub(crate) id: u64,
    /// The module's file name (for stack traces).
    pub(crate) file: String,
    /// The module's source.
    pub(crate) source: String,
    /// The collections, by name.
    pub(crate) collections: HashMap<String, Collection>,
    /// The `x-personal` fields per event type.
    pub(crate) personal: HashMap<String, Vec<String>>,
    pub(crate) limits: Limits,
}

/// What a call into the app can end with, short of an answer.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The code threw (a bug in the app): message and stack.
    Thrown(String),
    /// The code ran past the time limit or the memory limit and was stopped.
    Stopped(String),
}

/// The tables the native functions act on during one call.
pub(crate) trait Tables {
    fn get(&mut self, collection: &str, key: &Json) -> Result<Option<String>, String>;
    /// Writes a row given as its cells in column order, its key included.
    fn put(&mut self, op: Put, collection: &str, cells: Vec<Cell>) -> Result<(), String>;
    fn remove(&mut self, collection: &str, key: &Json) -> Result<(), String>;
}

/// One cell of a row as JavaScript gave it (its type is checked against the column's
/// when it is bound).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Null,
    Text(String),
    Integer(i64),
    Real(f64),
    Boolean(bool),
}

/// Which write a reducer asked for.
#[derive(Clone, Copy)]
pub(crate) enum Put {
    Insert,
    Update,
    Upsert,
}

scoped_thread_local!(static mut TABLES: for<'a> &'a mut (dyn Tables + 'a));

/// The collections of a script over one transaction.
pub(crate) struct TxTables<'t, 'c> {
    pub(crate) tx: &'t mut Tx<'c>,
    pub(crate) script: &'t Script,
    /// Whether rows read are kept for the rest of the writer's unit: true for a
    /// command's handler, false for reducers (see [`UnitRows`]).
    pub(crate) remember: bool,
}

/// Rows a command's handler read, kept for its reducers (`Tx::unit_local`: one
/// command, dropped with it, rolled back with it). A reducer's `update` reads the row
/// before changing it; for rows the handler already read (a Transfer's two accounts)
/// that is no second `SELECT`, which on a server is a round trip. Only the handler
/// fills it, so a unit without one (an append, a revert) never uses it; every write
/// forgets the row it touched, so what is kept is always what the table holds.
#[derive(Default)]
pub(crate) struct UnitRows {
    rows: HashMap<(String, String), Option<String>>,
}

/// The cache key of `key`, or `None` for a key the database may compare otherwise
/// than exactly: MySQL's PAD SPACE collations ignore trailing spaces.
fn cache_key(name: &str, key: &Json) -> Option<(String, String)> {
    match key {
        Json::String(s) if s.ends_with(' ') => None,
        _ => Some((name.to_owned(), key.to_string())),
    }
}

impl TxTables<'_, '_> {
    /// Forgets what the cache holds for `key` of `name` (all of `name` when the key
    /// is not cacheable).
    fn forget(&mut self, name: &str, key: &Json) {
        let Some(unit) = self.tx.unit_local::<UnitRows>() else {
            return;
        };
        match cache_key(name, key) {
            Some(k) => {
                unit.rows.remove(&k);
            }
            None => unit.rows.retain(|(n, _), _| n != name),
        }
    }
}

fn lookup<'s>(script: &'s Script, name: &str) -> Result<&'s Collection, String> {
    script
        .collections
        .get(name)
        .ok_or_else(|| format!("no collection named {name:?}"))
}

/// No collections: what an upcaster runs with.
pub(crate) struct NoTables;

impl Tables for NoTables {
    fn get(&mut self, _: &str, _: &Json) -> Result<Option<String>, String> {
        Err("upcasters cannot read collections: they see only the event's data".into())
    }

    fn put(&mut self, _: Put, _: &str, _: Vec<Cell>) -> Result<(), String> {
        Err("upcasters cannot write collections".into())
    }

    fn remove(&mut self, _: &str, _: &Json) -> Result<(), String> {
        Err("upcasters cannot write collections".into())
    }
}

impl Tables for TxTables<'_, '_> {
    fn get(&mut self, name: &str, json: &Json) -> Result<Option<String>, String> {
        let collection = lookup(self.script, name)?;
        let cached = cache_key(name, json);
        if let (Some(k), Some(unit)) = (&cached, self.tx.unit_local::<UnitRows>()) {
            if let Some(row) = unit.rows.get(k) {
                return Ok(row.clone());
            }
        }
        let key = collection.key_value(json)?;
        let row = collection.get(self.tx, key).map_err(|e| e.to_string())?;
        let row = row.map(|row| row.to_string());
        if let (true, Some(k)) = (self.remember, cached) {
            if let Some(unit) = self.tx.unit_local::<UnitRows>() {
                unit.rows.insert(k, row.clone());
            }
        }
        Ok(row)
    }

    fn put(&mut self, op: Put, name: &str, cells: Vec<Cell>) -> Result<(), String> {
        let collection = lookup(self.script, name)?;
        let row = collection.bind(cells)?;
        self.forget(name, &row.key_json);
        match op {
            Put::Insert => collection.insert(self.tx, &row.params),
            Put::Upsert => collection.upsert(self.tx, row.key, row.params),
            Put::Update => {
                // (The prelude refuses an update that changes the key.)
                if collection.update(self.tx, row.key, row.params)? {
                    Ok(())
                } else {
                    Err(format!("{name}: no row to update"))
                }
            }
        }
    }

    fn remove(&mut self, name: &str, json: &Json) -> Result<(), String> {
        let collection = lookup(self.script, name)?;
        self.forget(name, json);
        let key = collection.key_value(json)?;
        collection.remove(self.tx, key).map_err(|e| e.to_string())
    }
}

/// The prelude's functions the server calls.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Entry {
    /// `__gesta_handle(command, json, principal)`: a command's handler.
    Handle,
    /// `__gesta_reduce(collection, json, "")`: a reducer on one event.
    Reduce,
    /// `__gesta_upcast(type, from_version, json)`: one event's data, one version on.
    Upcast,
}

/// One thread's engine for one script.
struct Engine {
    /// When the current call must stop (read by the interrupt handler).
    deadline: Rc<RefCell<Option<Instant>>>,
    /// The prelude's entry points, looked up once.
    handle: Persistent<Function<'static>>,
    reduce: Persistent<Function<'static>>,
    upcast: Persistent<Function<'static>>,
    context: Context,
    /// Owns the heap the context lives in (held, not used, after start; dropped
    /// after the values above, which live in it).
    _runtime: Runtime,
}

thread_local! {
    static ENGINES: RefCell<HashMap<u64, Engine>> = RefCell::new(HashMap::new());
}

fn throw(ctx: &Ctx<'_>, message: String) -> rquickjs::Error {
    Exception::throw_message(ctx, &message)
}

fn with_tables<T>(
    ctx: &Ctx<'_>,
    f: impl FnOnce(&mut dyn Tables) -> Result<T, String>,
) -> rquickjs::Result<T> {
    if !TABLES.is_set() {
        return Err(throw(
            ctx,
            "collections are only reachable inside a handler or reducer".into(),
        ));
    }
    TABLES
        .with(|tables| f(tables))
        .map_err(|message| throw(ctx, message))
}

/// A key as JavaScript passed it (a string or a number; the prelude has checked it
/// is one the collection takes), as JSON.
fn key_json(ctx: &Ctx<'_>, key: &rquickjs::Value<'_>) -> rquickjs::Result<Json> {
    if let Some(s) = key.as_string() {
        return Ok(Json::String(s.to_string()?));
    }
    if let Some(i) = key.as_int() {
        return Ok(Json::from(i));
    }
    match key.as_float() {
        Some(f) if f.fract() == 0.0 && f.abs() <= MAX_SAFE_INTEGER => {
            // A safe integer held as a double: exact in i64.
            Ok(Json::from(f as i64))
        }
        _ => Err(throw(
            ctx,
            "a key must be a string or a safe integer".into(),
        )),
    }
}

/// A row's cells as JavaScript passed them.
fn cells(ctx: &Ctx<'_>, values: Vec<rquickjs::Value<'_>>) -> rquickjs::Result<Vec<Cell>> {
    values
        .into_iter()
        .map(|v| {
            if v.is_null() || v.is_undefined() {
                Ok(Cell::Null)
            } else if let Some(s) = v.as_string() {
                Ok(Cell::Text(s.to_string()?))
            } else if let Some(i) = v.as_int() {
                Ok(Cell::Integer(i64::from(i)))
            } else if let Some(f) = v.as_float() {
                Ok(Cell::Real(f))
            } else if let Some(b) = v.as_bool() {
                Ok(Cell::Boolean(b))
            } else {
                Err(throw(
                    ctx,
                    format!(
                        "a row's cell must be null, a string, a number or a boolean, not {}",
                        v.type_name()
                    ),
                ))
            }
        })
        .collect()
}

fn install_natives(ctx: &Ctx<'_>) -> rquickjs::Result<()> {
    let native = Object::new(ctx.clone())?;
    native.set(
        "get",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'_>, c: String, k: rquickjs::Value<'_>| {
                let key = key_json(&ctx, &k)?;
                with_tables(&ctx, |t| t.get(&c, &key))
            },
        )?,
    )?;
    for (name, op) in [
        ("insert", Put::Insert),
        ("upsert", Put::Upsert),
        ("update", Put::Update),
    ] {
        native.set(
            name,
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'_>, c: String, row: Vec<rquickjs::Value<'_>>| {
                    let row = cells(&ctx, row)?;
                    with_tables(&ctx, |t| t.put(op, &c, row))
                },
            )?,
        )?;
    }
    native.set(
        "remove",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'_>, c: String, k: rquickjs::Value<'_>| {
                let key = key_json(&ctx, &k)?;
                with_tables(&ctx, |t| t.remove(&c, &key))
            },
        )?,
    )?;
    ctx.globals().set("__gesta_native", native)
}

fn caught(err: CaughtError<'_>) -> String {
    match err {
        CaughtError::Exception(e) => {
            let message = e.message().unwrap_or_default();
            match e.stack() {
                Some(stack) if !stack.is_empty() => format!("{message}\n{}", stack.trim_end()),
                _ => message,
            }
        }
        CaughtError::Value(v) => match v.ctx().json_stringify(v.clone()) {
            Ok(Some(s)) => s.to_string().unwrap_or_else(|_| "a thrown value".into()),
            _ => "a thrown value".into(),
        },
        CaughtError::Error(e) => e.to_string(),
    }
}

impl Engine {
    /// A fresh engine with the prelude and the script's module loaded; answers the
    /// module's description (the JSON `__gesta_install` returns).
    fn start(script: &Script) -> Result<(Engine, String), JsError> {
        let runtime = Runtime::new().map_err(|e| JsError::Engine(e.to_string()))?;
        runtime.set_memory_limit(script.limits.memory_bytes);
        runtime.set_max_stack_size(1024 * 1024);
        let deadline: Rc<RefCell<Option<Instant>>> = Rc::new(RefCell::new(None));
        let seen = Rc::clone(&deadline);
        runtime.set_interrupt_handler(Some(Box::new(move || {
            seen.borrow().is_some_and(|at| Instant::now() >= at)
        })));
        let context = Context::full(&runtime).map_err(|e| JsError::Engine(e.to_string()))?;
        // Loading runs the module's top level: it gets the limits too.
        *deadline.borrow_mut() = Instant::now().checked_add(script.limits.load_time);
        let loaded = context.with(|ctx| -> Result<_, JsError> {
            install_natives(&ctx).map_err(|e| JsError::Engine(e.to_string()))?;
            ctx.eval::<(), _>(PRELUDE)
                .catch(&ctx)
                .map_err(|e| JsError::Engine(format!("prelude: {}", caught(e))))?;
            let module = Module::declare(ctx.clone(), script.file.as_str(), script.source.as_str())
                .catch(&ctx)
                .map_err(|e| JsError::Module(caught(e)))?;
            let (module, promise) = module
                .eval()
                .catch(&ctx)
                .map_err(|e| JsError::Module(caught(e)))?;
            promise
                .finish::<()>()
                .catch(&ctx)
                .map_err(|e| JsError::Module(caught(e)))?;
            let namespace = module
                .namespace()
                .catch(&ctx)
                .map_err(|e| JsError::Module(caught(e)))?;
            let default: rquickjs::Value = namespace
                .get("default")
                .catch(&ctx)
                .map_err(|e| JsError::Module(caught(e)))?;
            let install: Function = ctx
                .globals()
                .get("__gesta_install")
                .map_err(|e| JsError::Engine(e.to_string()))?;
            let described = install
                .call::<_, String>((default,))
                .catch(&ctx)
                .map_err(|e| JsError::Module(caught(e)))?;
            let entry = |name: &str| -> Result<Persistent<Function<'static>>, JsError> {
                let function: Function = ctx
                    .globals()
                    .get(name)
                    .map_err(|e| JsError::Engine(format!("prelude: {name}: {e}")))?;
                Ok(Persistent::save(&ctx, function))
            };
            Ok((
                entry("__gesta_handle")?,
                entry("__gesta_reduce")?,
                entry("__gesta_upcast")?,
                described,
            ))
        });
        *deadline.borrow_mut() = None;
        let (handle, reduce, upcast, described) = loaded?;
        let engine = Engine {
            deadline,
            handle,
            reduce,
            upcast,
            context,
            _runtime: runtime,
        };
        Ok((engine, described))
    }

    /// Calls the prelude's `entry` with string arguments, under the limits.
    fn call(
        &self,
        limit: Duration,
        entry: Entry,
        (a, b, c): (&str, &str, &str),
    ) -> Result<Option<String>, CallError> {
        *self.deadline.borrow_mut() = Instant::now().checked_add(limit);
        let result = self.context.with(|ctx| {
            let function = match entry {
                Entry::Handle => &self.handle,
                Entry::Reduce => &self.reduce,
                Entry::Upcast => &self.upcast,
            };
            let function = function
                .clone()
                .restore(&ctx)
                .map_err(|e| CallError::Thrown(e.to_string()))?;
            function
                .call::<_, Option<String>>((a, b, c))
                .catch(&ctx)
                .map_err(|e| {
                    let message = caught(e);
                    let stopped = self
                        .deadline
                        .borrow()
                        .is_some_and(|at| Instant::now() >= at);
                    if stopped {
                        CallError::Stopped(format!(
                            "stopped after running {} ms (the time limit): {message}",
                            limit.as_millis()
                        ))
                    } else if message.contains("out of memory") {
                        CallError::Stopped(format!(
                            "stopped for using more than the memory limit: {message}"
                        ))
                    } else {
                        CallError::Thrown(message)
                    }
                })
        });
        *self.deadline.borrow_mut() = None;
        // (QuickJS frees by reference counting and collects cycles on its own
        // allocation threshold: no collection per call.)
        result
    }
}

/// Loads `script` once on this thread to learn what it declares (its description).
pub(crate) fn describe(script: &Script) -> Result<String, JsError> {
    Engine::start(script).map(|(_, described)| described)
}

/// Calls `entry(args)` in `script`'s engine on this thread, with `tables` reachable
/// from the native functions. An engine that was stopped is thrown away (the next
/// call starts a fresh one).
pub(crate) fn call(
    script: &Arc<Script>,
    tables: &mut dyn Tables,
    entry: Entry,
    args: (&str, &str, &str),
) -> Result<Option<String>, CallError> {
    ENGINES.with(|engines| {
        let mut engines = engines.borrow_mut();
        let engine = match engines.entry(script.id) {
            std::collections::hash_map::Entry::Occupied(found) => found.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                let (engine, _) =
                    Engine::start(script).map_err(|e| CallError::Thrown(e.to_string()))?;
                slot.insert(engine)
            }
        };
        let result = TABLES.set(tables, || engine.call(script.limits.time, entry, args));
        if matches!(result, Err(CallError::Stopped(_))) {
            engines.remove(&script.id);
        }
        result
    })
}
