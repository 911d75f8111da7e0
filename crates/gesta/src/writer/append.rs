//! Appending events: expected versions, positions, stream versions, reducers.

use crate::app::{App, ReadModel};
use crate::backend::Dialect;
use crate::command::HandlerError;
use crate::event::{
    EventId, NewEvent, Position, RecordedEvent, StreamId, StreamVersion, Timestamp,
};
use crate::sql::{SqlError, SqlErrorKind};
use crate::{Error, ExpectedVersion, Tx, params};

use super::UnitMeta;

const INSERT_EVENT: &str = "INSERT INTO events \
    (position, stream_id, stream_version, event_id, event_type, data, metadata, recorded_at) \
    VALUES (:position, :stream_id, :stream_version, :event_id, :event_type, :data, :metadata, :recorded_at)";

/// Stream versions touched by one unit, so each is read once and written once.
#[derive(Default)]
struct Versions(Vec<(StreamId, StreamVersion, bool)>);

impl Versions {
    fn current(&mut self, tx: &mut Tx<'_>, stream: &StreamId) -> Result<usize, SqlError> {
        if let Some(idx) = self.0.iter().position(|(s, _, _)| s == stream) {
            return Ok(idx);
        }
        let version = crate::read::stream_version(tx, stream)?;
        self.0.push((stream.clone(), version, false));
        Ok(self.0.len() - 1)
    }
}

/// Appends `events` in order, runs every reducer on each, and bumps stream versions.
/// `first_expected` (direct appends) overrides the first event's expected version.
pub(super) fn append(
    tx: &mut Tx<'_>,
    app: &App,
    dialect: &Dialect,
    events: Vec<NewEvent>,
    first_expected: Option<ExpectedVersion>,
    meta: &UnitMeta,
    next: &mut u64,
) -> Result<Vec<RecordedEvent>, Error> {
    let base_metadata = meta.to_json();
    let shared_metadata = serde_json::to_string(&base_metadata).map_err(json_err)?;
    let recorded_at = Timestamp::now();
    let mut versions = Versions::default();
    let mut recorded = Vec::with_capacity(events.len());
    for (i, event) in events.into_iter().enumerate() {
        let expected = if i == 0 {
            first_expected.unwrap_or(event.expected)
        } else {
            event.expected
        };
        let slot = versions.current(tx, &event.stream_id)?;
        let (_, actual, dirty) = &mut versions.0[slot];
        if !expected.matches(*actual) {
            return Err(Error::WrongExpectedVersion {
                stream: event.stream_id,
                expected,
                actual: *actual,
            });
        }
        actual.0 += 1;
        *dirty = true;
        let version = *actual;
        let metadata = match &event.metadata {
            None => shared_metadata.clone(),
            Some(extra) => merged_metadata(&base_metadata, extra)?,
        };
        let stored = store_event(tx, event, version, Position(*next), metadata, recorded_at)?;
        *next += 1;
        reduce(tx, app, &stored)?;
        recorded.push(stored);
    }
    for (stream, version, dirty) in &versions.0 {
        if *dirty {
            set_stream_version(tx, dialect, stream, *version)?;
        }
    }
    Ok(recorded)
}

fn store_event(
    tx: &mut Tx<'_>,
    event: NewEvent,
    version: StreamVersion,
    position: Position,
    metadata: String,
    recorded_at: Timestamp,
) -> Result<RecordedEvent, Error> {
    let recorded = RecordedEvent {
        position,
        stream_id: event.stream_id,
        stream_version: version,
        id: event.id.unwrap_or_else(EventId::new_v7),
        event_type: event.event_type,
        data: event.data,
        metadata: serde_json::value::RawValue::from_string(metadata).map_err(json_err)?,
        recorded_at,
    };
    insert(tx, &recorded)?;
    Ok(recorded)
}

/// Inserts one event row exactly as given.
pub(super) fn insert(tx: &mut Tx<'_>, event: &RecordedEvent) -> Result<(), Error> {
    let params = params! {
        "position" => event.position.0,
        "stream_id" => event.stream_id.as_str(),
        "stream_version" => event.stream_version.0,
        "event_id" => event.id.to_string(),
        "event_type" => event.event_type.as_str(),
        "data" => event.data.get(),
        "metadata" => event.metadata.get(),
        "recorded_at" => event.recorded_at.0,
    };
    tx.execute(INSERT_EVENT, &params)
        .map_err(|e| match e.kind {
            SqlErrorKind::UniqueViolation => Error::DuplicateEventId(event.id),
            _ => Error::Database(e),
        })?;
    Ok(())
}

/// Sets `stream`'s version.
pub(super) fn set_stream_version(
    tx: &mut Tx<'_>,
    dialect: &Dialect,
    stream: &StreamId,
    version: StreamVersion,
) -> Result<(), Error> {
    tx.execute(
        dialect.upsert_stream,
        &params! { "stream_id" => stream.as_str(), "version" => version.0 },
    )?;
    Ok(())
}

fn merged_metadata(
    base: &serde_json::Map<String, serde_json::Value>,
    extra: &serde_json::Map<String, serde_json::Value>,
) -> Result<String, Error> {
    let mut map = extra.clone();
    for (key, value) in base {
        map.insert(key.clone(), value.clone());
    }
    serde_json::to_string(&map).map_err(json_err)
}

/// Applies every read model's reducer to `event`.
pub(super) fn reduce(tx: &mut Tx<'_>, app: &App, event: &RecordedEvent) -> Result<(), Error> {
    for model in app.read_models() {
        reduce_one(tx, model, event)?;
    }
    Ok(())
}

/// Applies one read model's reducer to `event`. A statement interrupted at the
/// command's deadline stays a database error, so the writer reports the deadline.
pub(super) fn reduce_one(
    tx: &mut Tx<'_>,
    model: &ReadModel,
    event: &RecordedEvent,
) -> Result<(), Error> {
    model.apply(tx, event).map_err(|err| match err {
        HandlerError::Rejected(rejection) => Error::Rejected(rejection),
        HandlerError::Sql(e) if e.kind == SqlErrorKind::Interrupted => Error::Database(e),
        other => Error::ReducerFailed {
            read_model: model.name.clone(),
            message: other.to_string(),
        },
    })
}

fn json_err(err: serde_json::Error) -> Error {
    Error::InvalidInput {
        field: Some("metadata".to_owned()),
        message: err.to_string(),
    }
}
