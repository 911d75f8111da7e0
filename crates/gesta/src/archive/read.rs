//! Reading archived events inside a read transaction: the watermark and the segment
//! list are read in the same transaction as the live table, so a reader sees every
//! event exactly once while an archiver moves them (a segment is complete before
//! the watermark passes it, and segments never change).

use std::sync::Arc;

use super::remote::Remote;
use crate::event::{Position, RecordedEvent, StreamId, StreamVersion};
use crate::read::LogQuery;
use crate::sql::{SqlError, SqlErrorKind};
use crate::{Tx, params};

/// How far the log has been archived, and where to.
pub(crate) struct Watermark {
    pub(crate) location: String,
    pub(crate) archived_to: u64,
}

/// The store's archive watermark, if it has an archive.
pub(crate) fn watermark(tx: &mut Tx<'_>) -> Result<Option<Watermark>, SqlError> {
    let row = tx.query_opt(
        "SELECT location, archived_to FROM gesta_archive WHERE id = 1",
        &params! {},
    )?;
    row.map(|r| {
        Ok(Watermark {
            location: r.get("location")?,
            archived_to: r.get("archived_to")?,
        })
    })
    .transpose()
}

fn unreachable(message: String) -> SqlError {
    SqlError::new(SqlErrorKind::Connection, message)
}

fn open(location: &str) -> Result<Arc<Remote>, SqlError> {
    Remote::open(location).map_err(|e| unreachable(e.to_string()))
}

/// A segment as the manifest of record lists it.
struct Listed {
    object: String,
    sha256: String,
}

fn listed(row: &crate::sql::Row) -> Result<Listed, SqlError> {
    Ok(Listed {
        object: row.get("object")?,
        sha256: row.get("sha256")?,
    })
}

/// Calls `each` for the archived events after `query.after` (and up to `until`) that
/// `query` matches, at most `query.limit`; answers how many it gave and the position
/// the archive ends at (0 without one), from where the live table goes on.
pub(crate) fn scan(
    tx: &mut Tx<'_>,
    query: &LogQuery,
    until: Option<Position>,
    each: &mut dyn FnMut(RecordedEvent),
) -> Result<(usize, u64), SqlError> {
    let Some(mark) = watermark(tx)? else {
        return Ok((0, 0));
    };
    let end = until.map_or(mark.archived_to, |u| u.0.min(mark.archived_to));
    if query.after.0 >= end || query.limit == 0 {
        return Ok((0, mark.archived_to));
    }
    let segments = tx.query(
        "SELECT object, sha256 FROM gesta_archive_segments \
         WHERE last_position > :after AND first_position <= :end ORDER BY first_position",
        &params! { "after" => query.after.0, "end" => end },
    )?;
    let remote = open(&mark.location)?;
    let mut given = 0;
    for row in &segments {
        let segment = listed(row)?;
        let events = remote
            .segment(&segment.object, &segment.sha256)
            .map_err(unreachable)?;
        for event in events.iter() {
            if event.position.0 <= query.after.0 || !query.matches(event) {
                continue;
            }
            if event.position.0 > end {
                return Ok((given, mark.archived_to));
            }
            each(event.clone());
            given += 1;
            if given >= query.limit {
                return Ok((given, mark.archived_to));
            }
        }
    }
    Ok((given, mark.archived_to))
}

/// The archived events of `stream` from `from_version` on, at most `limit`.
pub(crate) fn stream(
    tx: &mut Tx<'_>,
    stream: &StreamId,
    from_version: StreamVersion,
    limit: usize,
) -> Result<Vec<RecordedEvent>, SqlError> {
    let mut out = Vec::new();
    let Some(mark) = watermark(tx)? else {
        return Ok(out);
    };
    let segments = tx.query(
        "SELECT s.object, s.sha256 FROM gesta_archive_streams a \
         JOIN gesta_archive_segments s ON s.first_position = a.segment \
         WHERE a.stream_id = :stream ORDER BY s.first_position",
        &params! { "stream" => stream.as_str() },
    )?;
    if segments.is_empty() {
        return Ok(out);
    }
    let remote = open(&mark.location)?;
    for row in &segments {
        let segment = listed(row)?;
        let events = remote
            .segment(&segment.object, &segment.sha256)
            .map_err(unreachable)?;
        for event in events.iter() {
            if event.stream_id == *stream
                && event.stream_version >= from_version
                && event.position.0 <= mark.archived_to
            {
                out.push(event.clone());
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
    }
    Ok(out)
}

/// The last archived position recorded at or before `at` (µs), if the archive holds
/// one: for an as-of time older than every live event.
pub(crate) fn position_at(tx: &mut Tx<'_>, at: i64) -> Result<Option<u64>, SqlError> {
    let Some(mark) = watermark(tx)? else {
        return Ok(None);
    };
    let row = tx.query_opt(
        "SELECT object, sha256 FROM gesta_archive_segments \
         WHERE first_recorded_at <= :at ORDER BY first_position DESC LIMIT 1",
        &params! { "at" => at },
    )?;
    let Some(row) = row else {
        return Ok(None);
    };
    let segment = listed(&row)?;
    let events = open(&mark.location)?
        .segment(&segment.object, &segment.sha256)
        .map_err(unreachable)?;
    Ok(events
        .iter()
        .filter(|e| e.recorded_at.0 <= at && e.position.0 <= mark.archived_to)
        .map(|e| e.position.0)
        .max())
}

/// Archived events and bytes, and events per type, for `gesta stats`.
pub(crate) struct Totals {
    pub(crate) segments: u64,
    pub(crate) events: u64,
    pub(crate) bytes: u64,
    pub(crate) archived_to: u64,
    pub(crate) location: Option<String>,
    pub(crate) types: std::collections::BTreeMap<String, u64>,
}

/// What the archive holds, from the manifest of record.
pub(crate) fn totals(tx: &mut Tx<'_>) -> Result<Totals, SqlError> {
    let mark = watermark(tx)?;
    let mut totals = Totals {
        segments: 0,
        events: 0,
        bytes: 0,
        archived_to: mark.as_ref().map_or(0, |m| m.archived_to),
        location: mark.map(|m| m.location),
        types: Default::default(),
    };
    let rows = tx.query(
        "SELECT events, bytes, types FROM gesta_archive_segments",
        &params! {},
    )?;
    for row in rows {
        totals.segments += 1;
        totals.events += row.get::<u64>("events")?;
        totals.bytes += row.get::<u64>("bytes")?;
        let types: std::collections::BTreeMap<String, u64> =
            serde_json::from_str(&row.get::<String>("types")?)
                .map_err(|e| SqlError::decode(format!("gesta_archive_segments.types: {e}")))?;
        for (t, n) in types {
            *totals.types.entry(t).or_insert(0) += n;
        }
    }
    Ok(totals)
}

/// The archived events of type `event_type` at or before `upto`, reading only the
/// segments whose type counts include it (revert records, which every replay needs).
pub(crate) fn of_type(
    tx: &mut Tx<'_>,
    event_type: &str,
    upto: Position,
) -> Result<Vec<RecordedEvent>, SqlError> {
    let mut out = Vec::new();
    let Some(mark) = watermark(tx)? else {
        return Ok(out);
    };
    let end = upto.0.min(mark.archived_to);
    let rows = tx.query(
        "SELECT object, sha256, types FROM gesta_archive_segments \
         WHERE first_position <= :end ORDER BY first_position",
        &params! { "end" => end },
    )?;
    let needle = serde_json::to_string(event_type).unwrap_or_default();
    let mut remote = None;
    for row in &rows {
        let types: String = row.get("types")?;
        // The type counts are a JSON object keyed by type: its quoted name as a key.
        if !types.contains(&format!("{needle}:")) {
            continue;
        }
        let segment = listed(row)?;
        let remote = match &remote {
            Some(remote) => remote,
            None => remote.insert(open(&mark.location)?),
        };
        let events = remote
            .segment(&segment.object, &segment.sha256)
            .map_err(unreachable)?;
        out.extend(
            events
                .iter()
                .filter(|e| e.event_type == event_type && e.position.0 <= end)
                .cloned(),
        );
    }
    Ok(out)
}
