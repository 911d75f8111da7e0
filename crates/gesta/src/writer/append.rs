//! Appending events: expected versions, positions, stream versions, reducers.

use crate::app::{App, ReadModel};
use crate::command::HandlerError;
use crate::event::{
    EventId, NewEvent, Position, RecordedEvent, StreamId, StreamVersion, Timestamp,
};
use crate::sql::{SqlError, SqlErrorKind};
use crate::{Error, ExpectedVersion, Tx, params};

use super::UnitMeta;
use super::write_tx::WriteTx;
use crate::event::personal::{self, PERSONAL};
use crate::event::upcast::SCHEMA_VERSION;

/// Appends `events` in order, runs every reducer on each, and sets stream versions.
/// `first_expected` (direct appends) overrides the first event's expected version.
/// The rows go to the writer's buffer ([`super::LogBuffer`]) and reach the tables
/// in multi-row statements.
pub(super) fn append(
    w: &mut WriteTx<'_>,
    app: &App,
    events: Vec<NewEvent>,
    first_expected: Option<ExpectedVersion>,
    meta: &UnitMeta,
    next: &mut u64,
) -> Result<Vec<RecordedEvent>, Error> {
    let base_metadata = meta.to_json();
    let shared_metadata = serde_json::to_string(&base_metadata).map_err(json_err)?;
    let recorded_at = Timestamp::now();
    let mut keys = personal::Keyring::default();
    let mut recorded = Vec::with_capacity(events.len());
    for (i, event) in events.into_iter().enumerate() {
        let expected = if i == 0 {
            first_expected.unwrap_or(event.expected)
        } else {
            event.expected
        };
        let actual = current_version(w, &event.stream_id)?;
        if !expected.matches(actual) {
            return Err(Error::WrongExpectedVersion {
                stream: event.stream_id,
                expected,
                actual,
            });
        }
        let id = match event.id {
            Some(id) => unused(w, id)?,
            None => EventId::new_v7(),
        };
        let version = match app.upcasters().is_empty() {
            true => 1,
            false => app.upcasters().current_version(&event.event_type),
        };
        let personal = personal::fields_of(app.personal_fields(), &event);
        let sealed = match personal.is_empty() {
            true => None,
            false => personal::seal(
                &mut w.unbuffered(),
                &mut keys,
                &id,
                *next,
                &event.data,
                &personal,
            )?,
        };
        // The schema version and the sealed fields are Gesta's to record, never the
        // caller's: a claimed later version would skip upcasters once the type gets
        // some, a claimed sealed field would read as null.
        let reserved = |extra: &serde_json::Map<String, serde_json::Value>| {
            extra.contains_key(SCHEMA_VERSION) || extra.contains_key(PERSONAL)
        };
        let metadata = match (&event.metadata, version, &sealed) {
            (None, 1, None) => shared_metadata.clone(),
            (Some(extra), 1, None) if !reserved(extra) => merged_metadata(&base_metadata, extra)?,
            (extra, version, sealed) => {
                let mut extra = extra.clone().unwrap_or_default();
                extra.remove(SCHEMA_VERSION);
                extra.remove(PERSONAL);
                if version > 1 {
                    extra.insert(SCHEMA_VERSION.into(), version.into());
                }
                if let Some((_, fields)) = sealed {
                    extra.insert(PERSONAL.into(), fields.clone().into());
                }
                merged_metadata(&base_metadata, &extra)?
            }
        };
        let stored = RecordedEvent {
            position: Position(*next),
            stream_id: event.stream_id,
            stream_version: StreamVersion(actual.0 + 1),
            id,
            event_type: event.event_type,
            data: event.data,
            metadata: crate::event::Json::from_log(metadata),
            recorded_at,
        };
        refuse_nul(&stored)?;
        w.log()
            .set_version(&stored.stream_id, stored.stream_version);
        // The log gets the sealed data; reducers, the answer and live subscribers the
        // plaintext.
        match sealed {
            Some((data, _)) => w.log().push(RecordedEvent {
                data,
                ..stored.clone()
            }),
            None => w.log().push(stored.clone()),
        }
        *next += 1;
        w.redoable(|w| reduce(&mut w.tx(), app, &stored))?;
        recorded.push(stored);
    }
    Ok(recorded)
}

/// Reads the versions of `streams` (0 for a new one) into the writer's buffer, a few
/// hundred per statement, so that looking each up later costs no round trip.
pub(super) fn load_versions(w: &mut WriteTx<'_>, streams: &[&StreamId]) -> Result<(), Error> {
    const PER_QUERY: usize = 200;
    for chunk in streams.chunks(PER_QUERY) {
        let (list, params) = crate::sql::in_list("s", chunk.iter().map(|s| s.as_str()));
        let sql = format!("SELECT stream_id, version FROM streams WHERE stream_id IN ({list})");
        let rows = w.tx().query(&sql, &params)?;
        let log = w.log();
        for stream in chunk {
            log.learn(stream, StreamVersion(0));
        }
        for row in rows {
            let stream = StreamId::new(row.get::<String>("stream_id")?)
                .map_err(|e| Error::Database(SqlError::decode(e.to_string())))?;
            log.learn(&stream, StreamVersion(row.get("version")?));
        }
    }
    Ok(())
}

/// Puts `event` (recorded elsewhere, as `gesta copy` imports it) in the writer's
/// buffer, with its stream's new version.
pub(super) fn buffer(w: &mut WriteTx<'_>, event: RecordedEvent) -> Result<(), Error> {
    refuse_nul(&event)?;
    w.log().set_version(&event.stream_id, event.stream_version);
    w.log().push(event);
    Ok(())
}

/// The version `stream` is at: from this batch or the cache, else from the table
/// (read without writing the buffer, which holds the rest).
pub(super) fn current_version(
    w: &mut WriteTx<'_>,
    stream: &StreamId,
) -> Result<StreamVersion, Error> {
    if let Some(version) = w.log().version(stream) {
        return Ok(version);
    }
    let version = crate::read::stream_version(&mut w.unbuffered(), stream)?;
    w.log().learn(stream, version);
    Ok(version)
}

/// `id` if no event has it yet, in this batch or in the log.
fn unused(w: &mut WriteTx<'_>, id: EventId) -> Result<EventId, Error> {
    let taken: Option<i64> = if w.log().has_id(&id) {
        Some(1)
    } else {
        w.unbuffered().query_scalar(
            "SELECT 1 FROM events WHERE event_id = :id",
            &params! { "id" => id.to_string() },
        )?
    };
    match taken {
        Some(_) => Err(Error::DuplicateEventId(id)),
        None => Ok(id),
    }
}

/// Whether JSON text holds the escape `\u0000` (not an escaped backslash followed
/// by `u0000`).
fn has_nul_escape(json: &str) -> bool {
    json.match_indices("\\u0000").any(|(at, _)| {
        let backslashes = json[..at].bytes().rev().take_while(|b| *b == b'\\').count();
        backslashes % 2 == 0
    })
}

/// JSON text with an escaped NUL cannot be stored by PostgreSQL's `jsonb`; it is
/// refused on every backend so that all behave alike.
fn refuse_nul(event: &RecordedEvent) -> Result<(), Error> {
    for (field, json) in [
        ("data", event.data.get()),
        ("metadata", event.metadata.get()),
    ] {
        if has_nul_escape(json) {
            return Err(Error::invalid(
                field,
                "JSON strings must not contain the NUL character (\\u0000)",
            ));
        }
    }
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
pub(crate) fn reduce_one(
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
