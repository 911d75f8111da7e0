//! A segment file: the archived events of one position range as NDJSON (one stored
//! event per line, data and metadata byte for byte), compressed with zstd.

use std::collections::BTreeMap;
use std::io::Write as _;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::event::{EventId, Json, Position, RecordedEvent, StreamId, StreamVersion, Timestamp};

/// zstd's default level: most of the ratio at a few hundred MB/s.
const LEVEL: i32 = 3;

/// One line of a segment.
#[derive(Serialize, Deserialize)]
struct Line {
    position: u64,
    stream: String,
    version: u64,
    id: Uuid,
    #[serde(rename = "type")]
    event_type: String,
    data: Json,
    metadata: Json,
    recorded_at: i64,
}

/// An encoded segment and what the manifest says about it.
pub(crate) struct Encoded {
    pub(crate) bytes: Vec<u8>,
    pub(crate) sha256: String,
    /// Events per type.
    pub(crate) types: BTreeMap<String, u64>,
    /// The streams with events in it.
    pub(crate) streams: Vec<String>,
}

/// The hex SHA-256 of `bytes`: a segment's checksum.
pub(crate) fn checksum(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Encodes `events` (as stored: sealed personal fields stay sealed).
pub(crate) fn encode(events: &[RecordedEvent]) -> Result<Encoded, String> {
    let mut encoder = zstd::Encoder::new(Vec::new(), LEVEL).map_err(|e| e.to_string())?;
    let mut types = BTreeMap::new();
    let mut streams = std::collections::BTreeSet::new();
    for event in events {
        let line = Line {
            position: event.position.0,
            stream: event.stream_id.as_str().to_owned(),
            version: event.stream_version.0,
            id: event.id.0,
            event_type: event.event_type.clone(),
            data: event.data.clone(),
            metadata: event.metadata.clone(),
            recorded_at: event.recorded_at.0,
        };
        serde_json::to_writer(&mut encoder, &line).map_err(|e| e.to_string())?;
        encoder.write_all(b"\n").map_err(|e| e.to_string())?;
        *types.entry(event.event_type.clone()).or_insert(0) += 1;
        streams.insert(event.stream_id.as_str().to_owned());
    }
    let bytes = encoder.finish().map_err(|e| e.to_string())?;
    Ok(Encoded {
        sha256: checksum(&bytes),
        bytes,
        types,
        streams: streams.into_iter().collect(),
    })
}

/// Decodes a segment's bytes back into its events.
pub(crate) fn decode(bytes: &[u8]) -> Result<Vec<RecordedEvent>, String> {
    let text = zstd::decode_all(bytes).map_err(|e| format!("not a zstd segment: {e}"))?;
    let mut events = Vec::new();
    for (i, line) in text.split(|b| *b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let line: Line =
            serde_json::from_slice(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        events.push(RecordedEvent {
            position: Position(line.position),
            stream_id: StreamId::new(line.stream).map_err(|e| format!("line {}: {e}", i + 1))?,
            stream_version: StreamVersion(line.version),
            id: EventId(line.id),
            event_type: line.event_type,
            data: line.data,
            metadata: line.metadata,
            recorded_at: Timestamp(line.recorded_at),
        });
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_gives_back_its_events_byte_for_byte() {
        let event = RecordedEvent {
            position: Position(7),
            stream_id: StreamId::new("account-1").unwrap(),
            stream_version: StreamVersion(2),
            id: EventId::new_v7(),
            event_type: "Deposited".into(),
            data: Json::from_text("{ \"amount\" : 5, \"z\":\"é\\u00e9\" }".into()).unwrap(),
            metadata: Json::from_text("{}".into()).unwrap(),
            recorded_at: Timestamp(1_700_000_000_123_456),
        };
        let encoded = encode(std::slice::from_ref(&event)).unwrap();
        assert_eq!(encoded.sha256, checksum(&encoded.bytes));
        assert_eq!(encoded.types["Deposited"], 1);
        let back = decode(&encoded.bytes).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].data.get(), event.data.get());
        assert_eq!(
            (back[0].position, back[0].id, back[0].recorded_at),
            (event.position, event.id, event.recorded_at)
        );
        assert!(decode(b"not zstd").is_err());
    }
}
