//! Copying a whole store to another backend: the log (same positions, ids, versions
//! and timestamps), stream versions, idempotency keys, and reactors' checkpoints and
//! parked events (so reactors on the copy do not run again); resumable; verified by
//! counts and a checksum. Read models are then rebuilt on the target with
//! [`Store::rebuild_read_models`].

use sha2::{Digest, Sha256};

use crate::event::{Position, RecordedEvent};
use crate::writer::ImportBatch;
use crate::{Error, LogQuery, Store};

/// Events per import transaction.
const CHUNK: usize = 5_000;

/// How far a copy has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyProgress {
    /// The target's last position so far.
    pub copied_to: Position,
    /// The source's last position.
    pub source_last: Position,
}

/// What a finished copy found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// Events already on the target when the copy started (a resumed copy).
    pub resumed_after: Position,
    /// Events copied by this run.
    pub events_copied: u64,
    /// Events, streams and idempotency keys on the target at the end.
    pub events: u64,
    /// Streams on the target at the end.
    pub streams: u64,
    /// Idempotency keys on the target at the end.
    pub keys: u64,
    /// The checksum both logs share.
    pub checksum: String,
}

/// A SHA-256 over every event of a log up to a position, independent of how a backend
/// formats JSON (keys are sorted, whitespace dropped).
#[derive(Debug, Default)]
pub struct Checksum {
    hasher: Sha256,
    events: u64,
}

impl Checksum {
    /// Adds one event.
    pub fn add(&mut self, event: &RecordedEvent) {
        let line = format!(
            "{}|{}|{}|{}|{}|{}|",
            event.position,
            event.id,
            event.stream_id,
            event.stream_version,
            event.event_type,
            event.recorded_at.0
        );
        self.hasher.update(line.as_bytes());
        canonical(&mut self.hasher, event.data.get());
        self.hasher.update(b"|");
        canonical(&mut self.hasher, event.metadata.get());
        self.hasher.update(b"\n");
        self.events += 1;
    }

    /// The hex digest.
    pub fn finish(self) -> String {
        self.hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

fn canonical(hasher: &mut Sha256, json: &str) {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(value) => write_canonical(hasher, &value),
        Err(_) => hasher.update(json.as_bytes()),
    }
}

fn write_canonical(hasher: &mut Sha256, value: &serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            hasher.update(b"{");
            for key in keys {
                hasher.update(serde_json::to_string(key).unwrap_or_default().as_bytes());
                hasher.update(b":");
                write_canonical(hasher, &map[key]);
                hasher.update(b",");
            }
            hasher.update(b"}");
        }
        serde_json::Value::Array(items) => {
            hasher.update(b"[");
            for item in items {
                write_canonical(hasher, item);
                hasher.update(b",");
            }
            hasher.update(b"]");
        }
        other => hasher.update(other.to_string().as_bytes()),
    }
}

/// The checksum of `store`'s log up to and including `up_to`.
pub async fn checksum(store: &Store, up_to: Position) -> Result<String, Error> {
    let mut sum = Checksum::default();
    let mut after = Position(0);
    while after < up_to {
        let limit = (up_to.0 - after.0).min(crate::MAX_PAGE as u64) as usize;
        let page = store
            .read_stored(LogQuery::after(after).limit(limit))
            .await?;
        let Some(last) = page.last() else { break };
        after = last.position;
        page.iter().for_each(|e| sum.add(e));
    }
    Ok(sum.finish())
}

/// Copies `from` into `to`, resuming where `to`'s log ends (which must be a prefix of
/// `from`'s, checked by checksum), then verifies counts and checksums.
pub async fn copy(
    from: &Store,
    to: &Store,
    mut progress: impl FnMut(CopyProgress),
) -> Result<CopyReport, Error> {
    let source_last = Position(from.stats().await?.last_position);
    let resumed_after = Position(to.stats().await?.last_position);
    check_prefix(from, to, resumed_after, source_last).await?;
    let mut copied_to = resumed_after;
    while copied_to < source_last {
        let limit = (source_last.0 - copied_to.0).min(CHUNK as u64) as usize;
        let events = from
            .read_stored(LogQuery::after(copied_to).limit(limit))
            .await?;
        let Some(last) = events.last().map(|e| e.position) else {
            break;
        };
        let subject_keys = from.subject_keys_between(copied_to, last).await?;
        to.import(ImportBatch {
            events,
            keys: Vec::new(),
            subject_keys,
        })
        .await?;
        copied_to = last;
        progress(CopyProgress {
            copied_to,
            source_last,
        });
    }
    copy_keys(from, to).await?;
    crate::reactor::copy_state(from, to).await?;
    verify(from, to, resumed_after, copied_to).await
}

async fn check_prefix(
    from: &Store,
    to: &Store,
    target_last: Position,
    source_last: Position,
) -> Result<(), Error> {
    if target_last > source_last {
        return Err(Error::ImportMismatch(format!(
            "the target's log ({target_last} events) is longer than the source's ({source_last})"
        )));
    }
    if target_last.0 > 0 && checksum(from, target_last).await? != checksum(to, target_last).await? {
        return Err(Error::ImportMismatch(format!(
            "the target's first {target_last} events differ from the source's; copy into an empty store"
        )));
    }
    Ok(())
}

async fn copy_keys(from: &Store, to: &Store) -> Result<(), Error> {
    let mut after: Option<String> = None;
    loop {
        let keys = from.read_keys(after.clone(), CHUNK).await?;
        let Some(last) = keys.last() else {
            return Ok(());
        };
        after = Some(last.key.clone());
        to.import(ImportBatch {
            events: Vec::new(),
            keys,
            subject_keys: Vec::new(),
        })
        .await?;
    }
}

async fn verify(
    from: &Store,
    to: &Store,
    resumed_after: Position,
    copied_to: Position,
) -> Result<CopyReport, Error> {
    let (source, target) = (from.stats().await?, to.stats().await?);
    let counts = |s: &crate::Stats| (s.events, s.streams, s.idempotency_keys, s.last_position);
    if counts(&source) != counts(&target) {
        return Err(Error::ImportMismatch(format!(
            "counts differ after the copy: source (events, streams, keys, last) = {:?}, target = {:?}",
            counts(&source),
            counts(&target)
        )));
    }
    let (a, b) = (
        checksum(from, copied_to).await?,
        checksum(to, copied_to).await?,
    );
    if a != b {
        return Err(Error::ImportMismatch(format!(
            "checksums differ: source {a}, target {b}"
        )));
    }
    Ok(CopyReport {
        resumed_after,
        events_copied: copied_to.0 - resumed_after.0,
        events: target.events,
        streams: target.streams,
        keys: target.idempotency_keys,
        checksum: a,
    })
}
