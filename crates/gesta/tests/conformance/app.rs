//! The suite's own tiny application: a `Note` command whose `mode` makes the
//! handler commit, refuse, fail, panic, spin in SQL, sleep, or emit an event the
//! reducer refuses; an `Other` command (to reuse idempotency keys across commands);
//! and the `notes`/`tallies` read model.

use std::time::Duration;

use gesta::event::{NewEvent, RecordedEvent};
use gesta::{
    App, Command, ExpectedVersion, HandlerError, Migration, ReadModel, Rejection, Tx, params,
};
use serde::{Deserialize, Serialize};

/// The event type every `Note` emits.
pub const NOTED: &str = "Noted";

/// Counts a trillion rows in SQL: far past any test deadline. Portable: a thousand-row
/// recursive CTE cross-joined four times, since MySQL and MariaDB stop recursion after
/// 1000 steps by default (`cte_max_recursion_depth`, `max_recursive_iterations`).
pub const COUNT_TO_A_TRILLION: &str = "WITH RECURSIVE c(x) AS \
    (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000) \
    SELECT COUNT(*) FROM c AS c1, c AS c2, c AS c3, c AS c4";

/// What the `Note` handler does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Emits `events` events.
    Commit,
    /// Refuses with a 409 rejection.
    Reject,
    /// Fails with [`HandlerError::Failed`].
    Fail,
    /// Panics.
    Panic,
    /// Emits `events` events, the last of which the reducer refuses.
    PoisonReducer,
    /// Writes a row into the read model itself, then fails.
    WriteThenFail,
    /// Runs a SQL query that would take minutes.
    Spin,
    /// Emits `events` events; the reducer spins in SQL on the last one.
    SpinInReducer,
    /// Sleeps this many milliseconds, then emits `events` events.
    SleepMs(u64),
    /// Writes a junk row into `tallies` (bypassing the log) and emits nothing.
    Scribble,
    /// Refuses (403) unless the principal's subject is the stream.
    OwnStreamOnly,
}

/// The suite's command: `events` events of type [`NOTED`] on `stream`, tagged `tag`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Note {
    /// The stream written to.
    pub stream: String,
    /// A label stored in every event and in the read model.
    pub tag: String,
    /// How many events to emit.
    pub events: u32,
    /// What the handler does.
    pub mode: Mode,
    /// The expected version of the first event.
    pub expected: ExpectedVersion,
}

impl Command for Note {
    const NAME: &'static str = "Note";
}

impl Note {
    /// A note that commits `events` events on `stream`.
    pub fn new(stream: &str, tag: &str, events: u32) -> Self {
        Note {
            stream: stream.to_owned(),
            tag: tag.to_owned(),
            events,
            mode: Mode::Commit,
            expected: ExpectedVersion::Any,
        }
    }

    /// The same note with handler behaviour `mode`.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// The same note requiring `expected` before its first event.
    pub fn expect(mut self, expected: ExpectedVersion) -> Self {
        self.expected = expected;
        self
    }
}

/// A second command type, emitting one `Othered` event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Other {
    /// The stream written to.
    pub stream: String,
}

impl Command for Other {
    const NAME: &'static str = "Other";
}

/// The payload of a [`NOTED`] event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Noted {
    /// The command's tag.
    pub tag: String,
    /// 0-based index within the command.
    pub index: u32,
    /// The reducer refuses a poisoned event.
    pub poison: bool,
    /// The reducer runs a SQL query that would take minutes.
    pub spin: bool,
}

/// The suite's app.
pub fn app() -> App {
    app_with_model(ReadModel::new("notes", &["notes", "tallies"], reduce))
}

/// The suite's app with `model` as its read model (another version of it).
pub fn app_with_model(model: ReadModel) -> App {
    App::new("conformance")
        .migration(Migration::new(
            "0001_notes",
            "CREATE TABLE notes (
                position  BIGINT       PRIMARY KEY,
                stream_id VARCHAR(200) NOT NULL,
                version   BIGINT       NOT NULL,
                tag       VARCHAR(200) NOT NULL
            )",
        ))
        .migration(Migration::new(
            "0002_tallies",
            "CREATE TABLE tallies (stream_id VARCHAR(200) PRIMARY KEY, events BIGINT NOT NULL)",
        ))
        .command(note)
        .command(other)
        .read_model(model)
}

fn note(tx: &mut Tx<'_>, cmd: Note) -> Result<Vec<NewEvent>, HandlerError> {
    match cmd.mode {
        Mode::Commit | Mode::PoisonReducer | Mode::SpinInReducer => {}
        Mode::Reject => return Err(Rejection::conflict(format!("{} refused", cmd.tag)).into()),
        Mode::Fail => return Err(HandlerError::Failed(format!("{} failed", cmd.tag))),
        Mode::Panic => panic!("{} panicked", cmd.tag),
        Mode::WriteThenFail => {
            tally(tx, &cmd.stream)?;
            return Err(HandlerError::Failed(format!("{} failed late", cmd.tag)));
        }
        Mode::Spin => {
            tx.query_scalar::<i64>(COUNT_TO_A_TRILLION, &params! {})?;
        }
        Mode::SleepMs(ms) => std::thread::sleep(Duration::from_millis(ms)),
        Mode::Scribble => {
            tally(tx, "junk")?;
            return Ok(Vec::new());
        }
        Mode::OwnStreamOnly => {
            if tx.principal().map(gesta::Principal::subject) != Some(cmd.stream.as_str()) {
                return Err(Rejection::forbidden(format!("{} is not yours", cmd.stream)).into());
            }
        }
    }
    events(&cmd)
}

fn events(cmd: &Note) -> Result<Vec<NewEvent>, HandlerError> {
    let mut events = Vec::new();
    for index in 0..cmd.events {
        let noted = Noted {
            tag: cmd.tag.clone(),
            index,
            poison: cmd.mode == Mode::PoisonReducer && index + 1 == cmd.events,
            spin: cmd.mode == Mode::SpinInReducer && index + 1 == cmd.events,
        };
        let mut event = NewEvent::new(cmd.stream.as_str(), NOTED, &noted)?;
        if index == 0 {
            event = event.expect_version(cmd.expected);
        }
        events.push(event);
    }
    Ok(events)
}

fn other(_tx: &mut Tx<'_>, cmd: Other) -> Result<Vec<NewEvent>, HandlerError> {
    Ok(vec![NewEvent::new(
        cmd.stream.as_str(),
        "Othered",
        &serde_json::json!({}),
    )?])
}

/// Records a [`NOTED`] event in `notes` and counts it in `tallies`; other types are
/// ignored, a poisoned event is refused, a spinning one takes for ever.
fn reduce(tx: &mut Tx<'_>, event: &RecordedEvent) -> Result<(), HandlerError> {
    if event.event_type != NOTED {
        return Ok(());
    }
    let noted: Noted = event.data_as()?;
    if noted.poison {
        return Err(HandlerError::Failed(format!("{} is poisoned", noted.tag)));
    }
    if noted.spin {
        tx.query_scalar::<i64>(COUNT_TO_A_TRILLION, &params! {})?;
    }
    tx.execute(
        "INSERT INTO notes (position, stream_id, version, tag) \
         VALUES (:position, :stream_id, :version, :tag)",
        &params! {
            "position" => event.position.0,
            "stream_id" => event.stream_id.as_str(),
            "version" => event.stream_version.0,
            "tag" => noted.tag,
        },
    )?;
    tally(tx, event.stream_id.as_str())?;
    Ok(())
}

/// Adds one to `stream`'s tally (an upsert every SQL dialect understands).
fn tally(tx: &mut Tx<'_>, stream: &str) -> Result<(), HandlerError> {
    let params = params! { "stream_id" => stream };
    let changed = tx.execute(
        "UPDATE tallies SET events = events + 1 WHERE stream_id = :stream_id",
        &params,
    )?;
    if changed == 0 {
        tx.execute(
            "INSERT INTO tallies (stream_id, events) VALUES (:stream_id, 1)",
            &params,
        )?;
    }
    Ok(())
}
