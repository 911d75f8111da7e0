//! Archival: the oldest events move out of the live database into immutable segment
//! files in a directory or an S3-compatible bucket, and every read of the log still
//! sees them (ADR 011).
//!
//! [`Store::archive`] cuts the log below a point into segments of
//! [`ArchiveOptions::segment_events`] events (NDJSON compressed with zstd, the events
//! exactly as stored), writes each, reads it back and checks it, and only then, in one
//! write transaction, records it in the manifest of record (`gesta_archive_segments`,
//! with the streams it holds in `gesta_archive_streams`), deletes its events from the
//! live table and moves the watermark (`gesta_archive.archived_to`). A `manifest.json`
//! beside the segments lists them for readers without the database. Killed at any
//! moment, the next run starts over from the watermark: a segment written but not
//! recorded is written again under the same name.
//!
//! Reads (`read_all`, `read_stream`, subscriptions, rebuilds, as-of, idempotent
//! retries, `gesta copy`) consult the watermark in their own transaction and serve
//! positions up to it from the segments, through a small per-process cache; stream
//! versions stay in the live `streams` table, so expected versions hold for archived
//! streams. The head event is never archived.

pub(crate) mod read;
mod remote;
mod segment;

use std::time::Duration;

use serde::Serialize;

pub use remote::ArchiveError;
use remote::Remote;

use crate::event::{Position, RecordedEvent, Timestamp};
use crate::read::LogQuery;
use crate::store::Store;
use crate::{Error, params};

/// Which events to archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveUpTo {
    /// Those before this position (`--before P`).
    Before(Position),
    /// Those recorded longer ago than this (`--older-than 90d`).
    OlderThan(Duration),
    /// All but the newest N (`--keep N`).
    Keep(u64),
}

/// What [`Store::archive`] does.
#[derive(Debug, Clone)]
pub struct ArchiveOptions {
    /// Where: `file:///absolute/dir` or `s3://bucket/prefix`. A store has one archive.
    pub to: String,
    /// Which events.
    pub up_to: ArchiveUpTo,
    /// Events per segment file.
    pub segment_events: u64,
}

impl ArchiveOptions {
    /// Segments of 50,000 events by default (a few MB compressed).
    pub const DEFAULT_SEGMENT_EVENTS: u64 = 50_000;

    /// Archive to `to` what `up_to` names, in default-sized segments.
    ///
    /// ```
    /// use gesta::archive::{ArchiveOptions, ArchiveUpTo};
    /// let options = ArchiveOptions::new("file:///var/gesta/archive", ArchiveUpTo::Keep(1_000_000));
    /// assert_eq!(options.segment_events, ArchiveOptions::DEFAULT_SEGMENT_EVENTS);
    /// ```
    pub fn new(to: impl Into<String>, up_to: ArchiveUpTo) -> Self {
        ArchiveOptions {
            to: to.into(),
            up_to,
            segment_events: Self::DEFAULT_SEGMENT_EVENTS,
        }
    }
}

/// How far an archival run got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ArchiveReport {
    /// Segments written by this run.
    pub segments: u64,
    /// Events moved by this run.
    pub events: u64,
    /// Compressed bytes written by this run.
    pub bytes: u64,
    /// The position the archive now ends at.
    pub archived_to: u64,
    /// The position this run archives up to.
    pub target: u64,
}

/// One segment in `manifest.json`.
#[derive(Serialize)]
struct ManifestSegment {
    object: String,
    first_position: u64,
    last_position: u64,
    events: u64,
    bytes: u64,
    sha256: String,
    first_recorded_at: i64,
    last_recorded_at: i64,
}

fn segment_name(first: u64, last: u64) -> String {
    format!("segments/{first:020}-{last:020}.ndjson.zst")
}

fn archive_error(url: &str, message: impl Into<String>) -> Error {
    Error::Archive(ArchiveError {
        url: url.to_owned(),
        message: message.into(),
    })
}

impl Store {
    /// Moves the events `options` names into the archive at `options.to`, a segment
    /// at a time, calling `progress` after each; resumable and safe to kill at any
    /// point (see [`crate::archive`]).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), gesta::Error> {
    /// use gesta::archive::{ArchiveOptions, ArchiveUpTo};
    /// use gesta::event::{NewEvent, Position};
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = gesta::Store::open("sqlite::memory:", gesta::App::new("demo")).await?;
    /// for n in 0..10 {
    ///     let event = NewEvent::new("counter-1", "Counted", &serde_json::json!({ "n": n })).unwrap();
    ///     let request = gesta::AppendRequest {
    ///         stream_id: gesta::event::StreamId::new("counter-1").unwrap(),
    ///         expected: gesta::ExpectedVersion::Any,
    ///         events: vec![event],
    ///     };
    ///     store.append(request, gesta::Context::default()).await?;
    /// }
    /// let to = format!("file://{}", dir.path().display());
    /// let report = store.archive(ArchiveOptions::new(to, ArchiveUpTo::Keep(3)), |_| {}).await?;
    /// assert_eq!((report.events, report.archived_to), (7, 7));
    /// // Still there, from the archive.
    /// let all = store.read_all(gesta::LogQuery::after(Position(0)).limit(100)).await?;
    /// assert_eq!(all.len(), 10);
    /// assert_eq!(store.stats().await?.archived_events, 7);
    /// # Ok(()) }
    /// ```
    pub async fn archive(
        &self,
        options: ArchiveOptions,
        mut progress: impl FnMut(ArchiveReport),
    ) -> Result<ArchiveReport, Error> {
        if options.segment_events == 0 {
            return Err(Error::invalid("segment_events", "at least 1"));
        }
        let url = options.to.clone();
        let remote = {
            let url = url.clone();
            tokio::task::spawn_blocking(move || Remote::open(&url))
                .await
                .map_err(|e| Error::internal(e.to_string()))??
        };
        let target = self.archive_target(options.up_to).await?;
        self.register_archive(&url).await?;
        let mut report = ArchiveReport {
            target,
            ..ArchiveReport::default()
        };
        loop {
            let archived_to = self
                .read(|tx| Ok(read::watermark(tx)?.map_or(0, |m| m.archived_to)))
                .await?;
            report.archived_to = archived_to;
            if archived_to >= target {
                break;
            }
            let last = target.min(archived_to.saturating_add(options.segment_events));
            let events = self
                .read(move |tx| {
                    let query =
                        LogQuery::after(Position(archived_to)).limit((last - archived_to) as usize);
                    Ok(crate::read::read_log(tx, &query)?)
                })
                .await?;
            let contiguous = events
                .iter()
                .zip(archived_to + 1..)
                .all(|(e, p)| e.position.0 == p);
            if events.len() as u64 != last - archived_to || !contiguous {
                return Err(archive_error(
                    &url,
                    format!(
                        "positions {}..={last} are not all in the live table; is another archiver running?",
                        archived_to + 1
                    ),
                ));
            }
            let written = {
                let remote = std::sync::Arc::clone(&remote);
                tokio::task::spawn_blocking(move || write_segment(&remote, &events))
                    .await
                    .map_err(|e| Error::internal(e.to_string()))?
                    .map_err(|message| archive_error(&url, message))?
            };
            let bytes = written.bytes;
            let moved = self.commit_segment(archived_to, last, written).await?;
            if !moved {
                // Another archiver got there first: start again from its watermark.
                continue;
            }
            self.write_manifest(&remote).await?;
            report.segments += 1;
            report.events += last - archived_to;
            report.bytes += bytes;
            report.archived_to = last;
            progress(report);
        }
        Ok(report)
    }

    /// The position an archival run goes up to: never the head event.
    async fn archive_target(&self, up_to: ArchiveUpTo) -> Result<u64, Error> {
        self.read(move |tx| {
            let head = crate::read::last_position(tx)?.0;
            let wanted = match up_to {
                ArchiveUpTo::Before(p) => p.0.saturating_sub(1),
                ArchiveUpTo::Keep(n) => head.saturating_sub(n),
                ArchiveUpTo::OlderThan(age) => {
                    let cutoff =
                        Timestamp::now().0 - i64::try_from(age.as_micros()).unwrap_or(i64::MAX);
                    let found: Option<Option<u64>> = tx.query_scalar(
                        "SELECT MAX(position) FROM events WHERE recorded_at < :cutoff",
                        &params! { "cutoff" => cutoff },
                    )?;
                    found.flatten().unwrap_or(0)
                }
            };
            Ok(wanted.min(head.saturating_sub(1)))
        })
        .await
    }

    /// Records `url` as the store's archive, or checks it is the one already recorded.
    async fn register_archive(&self, url: &str) -> Result<(), Error> {
        let url = url.to_owned();
        self.on_writer(move |tx| match read::watermark(tx)? {
            Some(mark) if mark.location != url => Err(Error::invalid(
                "to",
                format!(
                    "this store archives to {}; one store has one archive",
                    mark.location
                ),
            )),
            Some(_) => Ok(()),
            None => {
                tx.execute(
                    "INSERT INTO gesta_archive (id, location, archived_to) VALUES (1, :url, 0)",
                    &params! { "url" => url.as_str() },
                )?;
                Ok(())
            }
        })
        .await
    }

    /// In one write transaction: lists the segment, deletes its events from the live
    /// table and moves the watermark; `false` when the watermark is no longer
    /// `archived_to` (another archiver moved it).
    async fn commit_segment(
        &self,
        archived_to: u64,
        last: u64,
        written: Written,
    ) -> Result<bool, Error> {
        self.on_writer(move |tx| {
            let now = read::watermark(tx)?.map_or(0, |m| m.archived_to);
            if now != archived_to {
                return Ok(false);
            }
            let first = archived_to + 1;
            tx.execute(
                "INSERT INTO gesta_archive_segments (first_position, last_position, events, bytes, sha256, \
                 object, first_recorded_at, last_recorded_at, types, created_at) VALUES (:first, :last, \
                 :events, :bytes, :sha256, :object, :first_at, :last_at, :types, :now)",
                &params! {
                    "first" => first, "last" => last, "events" => last - archived_to,
                    "bytes" => written.bytes, "sha256" => written.sha256.as_str(),
                    "object" => written.object.as_str(), "first_at" => written.first_recorded_at,
                    "last_at" => written.last_recorded_at, "types" => written.types.as_str(),
                    "now" => Timestamp::now().0,
                },
            )?;
            for chunk in written.streams.chunks(100) {
                let mut params = crate::sql::Params::new().with("segment", first);
                let mut rows = Vec::with_capacity(chunk.len());
                for (i, stream) in chunk.iter().enumerate() {
                    params.push(format!("s{i}"), stream.as_str());
                    rows.push(format!("(:s{i}, :segment)"));
                }
                tx.execute(
                    &format!(
                        "INSERT INTO gesta_archive_streams (stream_id, segment) VALUES {}",
                        rows.join(", ")
                    ),
                    &params,
                )?;
            }
            tx.execute(
                "DELETE FROM events WHERE position >= :first AND position <= :last",
                &params! { "first" => first, "last" => last },
            )?;
            tx.execute(
                "UPDATE gesta_archive SET archived_to = :last WHERE id = 1",
                &params! { "last" => last },
            )?;
            Ok(true)
        })
        .await
    }

    /// Rewrites `manifest.json` from the manifest of record.
    async fn write_manifest(&self, remote: &std::sync::Arc<Remote>) -> Result<(), Error> {
        let segments = self
            .read(|tx| {
                let rows = tx.query(
                    "SELECT object, first_position, last_position, events, bytes, sha256, \
                     first_recorded_at, last_recorded_at FROM gesta_archive_segments ORDER BY first_position",
                    &params! {},
                )?;
                rows.iter()
                    .map(|r| {
                        Ok(ManifestSegment {
                            object: r.get("object")?,
                            first_position: r.get("first_position")?,
                            last_position: r.get("last_position")?,
                            events: r.get("events")?,
                            bytes: r.get("bytes")?,
                            sha256: r.get("sha256")?,
                            first_recorded_at: r.get("first_recorded_at")?,
                            last_recorded_at: r.get("last_recorded_at")?,
                        })
                    })
                    .collect::<Result<Vec<_>, Error>>()
            })
            .await?;
        let manifest = serde_json::json!({ "format": 1, "segments": segments });
        let body =
            serde_json::to_vec_pretty(&manifest).map_err(|e| Error::internal(e.to_string()))?;
        let (remote, url) = (std::sync::Arc::clone(remote), remote.url.clone());
        tokio::task::spawn_blocking(move || remote.put("manifest.json", body))
            .await
            .map_err(|e| Error::internal(e.to_string()))?
            .map_err(|message| archive_error(&url, message))
    }
}

/// A segment written and checked.
struct Written {
    object: String,
    bytes: u64,
    sha256: String,
    types: String,
    streams: Vec<String>,
    first_recorded_at: i64,
    last_recorded_at: i64,
}

/// Encodes `events`, writes the segment, reads it back and checks that it gives the
/// same events, byte for byte.
fn write_segment(remote: &Remote, events: &[RecordedEvent]) -> Result<Written, String> {
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return Err("an empty segment".into());
    };
    let encoded = segment::encode(events)?;
    let object = segment_name(first.position.0, last.position.0);
    let size = encoded.bytes.len() as u64;
    remote.put(&object, encoded.bytes)?;
    let back = remote.get(&object)?;
    if segment::checksum(&back) != encoded.sha256 {
        return Err(format!("segment {object} read back with another checksum"));
    }
    let decoded = segment::decode(&back)?;
    let same = decoded.len() == events.len()
        && decoded.iter().zip(events).all(|(a, b)| {
            a.position == b.position
                && a.id == b.id
                && a.stream_id == b.stream_id
                && a.stream_version == b.stream_version
                && a.event_type == b.event_type
                && a.data.get() == b.data.get()
                && a.metadata.get() == b.metadata.get()
                && a.recorded_at == b.recorded_at
        });
    if !same {
        return Err(format!("segment {object} read back with other events"));
    }
    Ok(Written {
        object,
        bytes: size,
        sha256: encoded.sha256,
        types: serde_json::to_string(&encoded.types).map_err(|e| e.to_string())?,
        streams: encoded.streams,
        first_recorded_at: first.recorded_at.0,
        last_recorded_at: last.recorded_at.0,
    })
}

/// Keeps a store's live log at about `keep` events by archiving to `to` every
/// `every` (`--archive-to DEST --archive-keep N` of the servers); runs until the
/// store closes. Failures are logged and tried again at the next round.
pub async fn keep_archiving(store: Store, to: String, keep: u64, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let options = ArchiveOptions::new(to.clone(), ArchiveUpTo::Keep(keep));
        match store.archive(options, |_| {}).await {
            Ok(report) if report.events > 0 => {
                tracing::info!(
                    events = report.events,
                    archived_to = report.archived_to,
                    "archived"
                );
            }
            Ok(_) => {}
            Err(Error::Closed) => return,
            Err(err) => tracing::warn!(error = %err, "archiving failed; trying again later"),
        }
    }
}
