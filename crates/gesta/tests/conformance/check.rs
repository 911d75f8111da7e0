//! Assertions shared by the suite: the log is gap-free, the read model matches it.

use std::collections::HashMap;

use gesta::event::{NewEvent, Position, RecordedEvent, StreamId};
use gesta::{AppendRequest, CommandOutcome, Context, Error, ExpectedVersion, LogQuery, MAX_PAGE};
use gesta::{Store, params};

use crate::app::{NOTED, Noted};

/// A stream id from a literal.
pub fn sid(id: &str) -> StreamId {
    StreamId::new(id).expect("valid stream id")
}

/// `n` [`NOTED`] events for `stream`, tagged `tag`, for direct appends.
pub fn noted(stream: &str, tag: &str, n: u32) -> Vec<NewEvent> {
    (0..n)
        .map(|index| {
            let data = Noted {
                tag: tag.to_owned(),
                index,
                poison: false,
                spin: false,
            };
            NewEvent::new(stream, NOTED, &data).expect("valid event")
        })
        .collect()
}

/// Appends `events` to `stream` expecting `expected`, with no context.
pub async fn append(
    store: &Store,
    stream: &str,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
) -> Result<CommandOutcome, Error> {
    let request = AppendRequest {
        stream_id: sid(stream),
        expected,
        events,
    };
    store.append(request, Context::default()).await
}

/// Reads the whole log, page by page, and asserts it is gap-free: positions are
/// `1..=n`, each stream's versions are `1..=k` in position order, and
/// `last_position()` is `n`.
pub async fn gap_free_log(store: &Store) -> Vec<RecordedEvent> {
    let mut log: Vec<RecordedEvent> = Vec::new();
    loop {
        let after = log.last().map_or(Position(0), |e| e.position);
        let page = store
            .read_all(LogQuery::after(after).limit(MAX_PAGE))
            .await
            .expect("read_all");
        if page.is_empty() {
            break;
        }
        log.extend(page);
    }
    let mut versions: HashMap<StreamId, u64> = HashMap::new();
    for (i, event) in log.iter().enumerate() {
        assert_eq!(event.position, Position(i as u64 + 1), "hole in the log");
        let version = versions.entry(event.stream_id.clone()).or_default();
        *version += 1;
        assert_eq!(
            event.stream_version.0, *version,
            "hole in stream {}",
            event.stream_id
        );
    }
    assert_eq!(store.last_position(), Position(log.len() as u64));
    log
}

/// Asserts two events are the same stored event, field by field.
pub fn same_event(a: &RecordedEvent, b: &RecordedEvent) {
    assert_eq!(a.position, b.position);
    assert_eq!(a.stream_id, b.stream_id);
    assert_eq!(a.stream_version, b.stream_version);
    assert_eq!(a.id, b.id);
    assert_eq!(a.event_type, b.event_type);
    // Compared as JSON values: a backend may normalize the stored text (jsonb).
    assert_eq!(json(&a.data), json(&b.data), "data");
    assert_eq!(json(&a.metadata), json(&b.metadata), "metadata");
    assert_eq!(a.recorded_at, b.recorded_at);
}

/// Parses stored JSON text.
fn json(raw: &gesta::event::Json) -> serde_json::Value {
    serde_json::from_str(raw.get()).expect("valid JSON")
}

/// Asserts every event of `outcome` is in `log` exactly as returned.
pub fn outcome_in_log(outcome: &CommandOutcome, log: &[RecordedEvent]) {
    for event in &outcome.events {
        let stored = &log[event.position.0 as usize - 1];
        same_event(event, stored);
    }
}

/// One row of the `notes` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteRow {
    pub position: u64,
    pub stream_id: String,
    pub version: u64,
    pub tag: String,
}

/// One row of the `tallies` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TallyRow {
    pub stream_id: String,
    pub events: u64,
}

/// The `notes` table, by position.
pub async fn notes(store: &Store) -> Vec<NoteRow> {
    let rows = store
        .query(
            "SELECT position, stream_id, version, tag FROM notes ORDER BY position",
            params! {},
        )
        .await
        .expect("query notes");
    rows.iter()
        .map(|r| NoteRow {
            position: r.get("position").unwrap(),
            stream_id: r.get("stream_id").unwrap(),
            version: r.get("version").unwrap(),
            tag: r.get("tag").unwrap(),
        })
        .collect()
}

/// The `tallies` table, by stream.
pub async fn tallies(store: &Store) -> Vec<TallyRow> {
    let rows = store
        .query(
            "SELECT stream_id, events FROM tallies ORDER BY stream_id",
            params! {},
        )
        .await
        .expect("query tallies");
    rows.iter()
        .map(|r| TallyRow {
            stream_id: r.get("stream_id").unwrap(),
            events: r.get("events").unwrap(),
        })
        .collect()
}

/// The read model `log` implies: a note per [`NOTED`] event, a tally per stream.
pub fn expected_read_model(log: &[RecordedEvent]) -> (Vec<NoteRow>, Vec<TallyRow>) {
    let mut notes = Vec::new();
    let mut tallies: HashMap<String, u64> = HashMap::new();
    for event in log.iter().filter(|e| e.event_type == NOTED) {
        let noted: Noted = event.data_as().expect("Noted payload");
        notes.push(NoteRow {
            position: event.position.0,
            stream_id: event.stream_id.to_string(),
            version: event.stream_version.0,
            tag: noted.tag,
        });
        *tallies.entry(event.stream_id.to_string()).or_default() += 1;
    }
    let mut tallies: Vec<TallyRow> = tallies
        .into_iter()
        .map(|(stream_id, events)| TallyRow { stream_id, events })
        .collect();
    tallies.sort_by(|a, b| a.stream_id.cmp(&b.stream_id));
    (notes, tallies)
}

/// Asserts the read model is exactly what the log implies.
pub async fn read_model_matches_log(store: &Store, log: &[RecordedEvent]) {
    let (notes_expected, tallies_expected) = expected_read_model(log);
    assert_eq!(
        notes(store).await,
        notes_expected,
        "notes disagree with the log"
    );
    assert_eq!(
        tallies(store).await,
        tallies_expected,
        "tallies disagree with the log"
    );
}

/// Asserts `err` is a version conflict on `stream` with `expected` and `actual`.
pub fn wrong_version(err: Error, stream: &str, expected: ExpectedVersion, actual: u64) {
    match err {
        Error::WrongExpectedVersion {
            stream: s,
            expected: e,
            actual: a,
        } => {
            assert_eq!(s, sid(stream));
            assert_eq!(e, expected);
            assert_eq!(a.0, actual);
        }
        other => panic!("expected WrongExpectedVersion, got {other:?}"),
    }
}
