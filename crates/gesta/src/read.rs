//! Reading the log: the one place that turns event rows into [`RecordedEvent`]s.

use uuid::Uuid;

use crate::event::{EventId, Json, Position, RecordedEvent, StreamId, StreamVersion, Timestamp};
use crate::sql::{FromValue, Params, RowRef, SqlError, ValueRef};
use crate::{Error, Tx};

const COLUMNS: &str =
    "position, stream_id, stream_version, event_id, event_type, data, metadata, recorded_at";

/// Which part of the global log to read.
///
/// ```
/// let q = gesta::LogQuery::after(gesta::event::Position(10)).limit(50).event_type("Deposited");
/// assert_eq!(q.limit, 50);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// Only events after this position (0 = from the start).
    pub after: Position,
    /// At most this many events.
    pub limit: usize,
    /// Only these types (empty = all).
    pub types: Vec<String>,
    /// Only these streams (empty = all).
    pub streams: Vec<StreamId>,
    /// Only streams of these categories: the part of the stream id before the first
    /// `-` (`account` for `account-42`). Combined with `streams` as either-or.
    pub categories: Vec<String>,
    /// Which streams the reader may see at all (a principal's read rights): applied on
    /// top of the other filters, so events of other streams are never read.
    pub readable: Readable,
}

/// The streams a reader may see: all, or those matching any of a list of patterns.
///
/// ```
/// use gesta::{Readable, StreamPattern};
/// let scope = Readable::Only(vec![StreamPattern::parse("account-*"), StreamPattern::parse("audit")]);
/// assert!(scope.allows("account-42") && scope.allows("audit"));
/// assert!(!scope.allows("audit-1") && !scope.allows("order-1"));
/// assert!(Readable::All.allows("anything"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Readable {
    /// Every stream.
    #[default]
    All,
    /// Only streams matching one of these patterns (none: no stream at all).
    Only(Vec<StreamPattern>),
}

impl Readable {
    /// Whether a reader with this scope may see `stream`.
    pub fn allows(&self, stream: &str) -> bool {
        match self {
            Readable::All => true,
            Readable::Only(patterns) => patterns.iter().any(|p| p.matches(stream)),
        }
    }
}

/// A stream name, or a name prefix (written with a trailing `*`): the read patterns
/// of a policy. Both are answered by the stream index on every backend, so a reader's
/// scope costs no scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamPattern {
    /// Exactly this stream.
    Exact(String),
    /// Every stream whose id starts with this (the empty prefix matches all).
    Prefix(String),
}

impl StreamPattern {
    /// `name*` is a prefix, anything else an exact name (a `*` elsewhere is literal;
    /// policies refuse such patterns before they get here).
    pub fn parse(text: &str) -> StreamPattern {
        match text.strip_suffix('*') {
            Some(prefix) => StreamPattern::Prefix(prefix.to_owned()),
            None => StreamPattern::Exact(text.to_owned()),
        }
    }

    /// Whether `stream` matches.
    pub fn matches(&self, stream: &str) -> bool {
        match self {
            StreamPattern::Exact(name) => name == stream,
            StreamPattern::Prefix(prefix) => stream.starts_with(prefix.as_str()),
        }
    }
}

impl LogQuery {
    /// Events after `after`, 100 at a time, unfiltered.
    pub fn after(after: Position) -> Self {
        LogQuery {
            after,
            limit: 100,
            types: Vec::new(),
            streams: Vec::new(),
            categories: Vec::new(),
            readable: Readable::All,
        }
    }

    /// Reads at most `limit` events.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Also accepts events of type `event_type`.
    pub fn event_type(mut self, event_type: impl Into<String>) -> Self {
        self.types.push(event_type.into());
        self
    }

    /// Also accepts events of `stream`.
    pub fn stream(mut self, stream: StreamId) -> Self {
        self.streams.push(stream);
        self
    }

    /// Also accepts events of streams in `category`.
    pub fn category(mut self, category: impl Into<String>) -> Self {
        self.categories.push(category.into());
        self
    }
}

impl LogQuery {
    /// The one checked way from outside input (query strings, command-line flags) to a
    /// filter: events of any of `types` (empty = all), in any of `streams` or of the
    /// `categories` (both empty = all), after position 0, 100 at a time. Every value
    /// is checked, and the first bad one is an [`Error::InvalidInput`] naming its field
    /// (`type`, `stream` or `category`): an empty type, a stream id that is not one, a
    /// category that is empty or holds a `-` (it could never match), more than
    /// [`LogQuery::MAX_FILTER_VALUES`] values of one field.
    ///
    /// ```
    /// let q = gesta::LogQuery::filtered(["Deposited"], ["account-1"], ["order"]).unwrap();
    /// assert_eq!((q.types.len(), q.streams.len(), q.categories.len()), (1, 1, 1));
    /// let err = gesta::LogQuery::filtered([""; 0], [""; 0], ["account-1"]).unwrap_err();
    /// assert!(err.to_string().starts_with("category:"));
    /// ```
    pub fn filtered<T, S, C>(
        types: impl IntoIterator<Item = T>,
        streams: impl IntoIterator<Item = S>,
        categories: impl IntoIterator<Item = C>,
    ) -> Result<LogQuery, Error>
    where
        T: Into<String>,
        S: Into<String>,
        C: Into<String>,
    {
        let mut query = LogQuery::after(Position(0));
        let (types, streams, categories) = (
            at_most("type", types)?,
            at_most("stream", streams)?,
            at_most("category", categories)?,
        );
        for event_type in types.into_iter().map(Into::into) {
            if event_type.is_empty() {
                return Err(Error::invalid("type", "an event type must not be empty"));
            }
            query.types.push(event_type);
        }
        for stream in streams {
            let stream =
                StreamId::new(stream).map_err(|e| Error::invalid("stream", e.to_string()))?;
            query.streams.push(stream);
        }
        for category in categories.into_iter().map(Into::into) {
            if category.is_empty() || category.contains('-') {
                return Err(Error::invalid(
                    "category",
                    format!(
                        "a category is the non-empty part of a stream id before its first '-', got {category:?}"
                    ),
                ));
            }
            query.categories.push(category);
        }
        Ok(query)
    }

    /// The most values one filter field of [`LogQuery::filtered`] takes (each becomes a
    /// bound parameter of the statement).
    pub const MAX_FILTER_VALUES: usize = 100;

    /// Only events of streams `readable` allows.
    pub fn readable(mut self, readable: Readable) -> Self {
        self.readable = readable;
        self
    }

    /// Whether `event` passes this query's type, stream, category and scope filters.
    pub fn matches(&self, event: &RecordedEvent) -> bool {
        if !self.readable.allows(event.stream_id.as_str()) {
            return false;
        }
        let typed = self.types.is_empty() || self.types.contains(&event.event_type);
        let placed = (self.streams.is_empty() && self.categories.is_empty())
            || self.streams.contains(&event.stream_id)
            || self
                .categories
                .iter()
                .any(|c| c == event.stream_id.category());
        typed && placed
    }
}

/// The values of filter `field`, refused when there are more than
/// [`LogQuery::MAX_FILTER_VALUES`].
fn at_most<T>(field: &str, values: impl IntoIterator<Item = T>) -> Result<Vec<T>, Error> {
    let values: Vec<T> = values.into_iter().collect();
    if values.len() > LogQuery::MAX_FILTER_VALUES {
        return Err(Error::invalid(
            field,
            format!(
                "at most {} values, got {}",
                LogQuery::MAX_FILTER_VALUES,
                values.len()
            ),
        ));
    }
    Ok(values)
}

/// Reads the global log, calling `each` per event in position order.
pub(crate) fn scan_log(
    tx: &mut Tx<'_>,
    query: &LogQuery,
    each: &mut dyn FnMut(RecordedEvent),
) -> Result<(), SqlError> {
    scan_log_until(tx, query, None, each)
}

/// A page of the log after `query.after` and the position it was read up to: the
/// last event's if the page is full, otherwise the head of the log when it was read
/// (so a filtered reader knows how far it has looked, matches or not).
pub(crate) fn read_page(
    tx: &mut Tx<'_>,
    query: &LogQuery,
) -> Result<(Vec<RecordedEvent>, Position), SqlError> {
    let head = last_position(tx)?;
    let mut events = Vec::with_capacity(query.limit.min(10_000));
    scan_log_until(tx, query, Some(head), &mut |e| events.push(e))?;
    let scanned = match events.last() {
        Some(last) if events.len() >= query.limit => last.position,
        _ => head.max(query.after),
    };
    Ok((events, scanned))
}

fn scan_log_until(
    tx: &mut Tx<'_>,
    query: &LogQuery,
    until: Option<Position>,
    each: &mut dyn FnMut(RecordedEvent),
) -> Result<(), SqlError> {
    // Positions up to the archive's watermark come from its segments, the rest from
    // the live table. At READ COMMITTED (PostgreSQL, MySQL) an archiver may commit
    // between the two reads, moving events the live read then no longer sees: the
    // watermark is read again afterwards, and the page read again if it moved.
    for _ in 0..ARCHIVE_RACE_RETRIES {
        let mut page = Vec::new();
        let archived_to = scan_both(tx, query, until, &mut |e| page.push(e))?;
        let now = crate::archive::read::watermark(tx)?.map_or(0, |m| m.archived_to);
        if now == archived_to {
            page.into_iter().for_each(each);
            return Ok(());
        }
    }
    Err(SqlError::new(
        crate::sql::SqlErrorKind::Busy,
        "the archive's watermark kept moving during the read",
    ))
}

/// How often a read is tried again when an archiver moved the watermark under it.
const ARCHIVE_RACE_RETRIES: usize = 8;

/// One read of the archive then the live table; the watermark it read.
fn scan_both(
    tx: &mut Tx<'_>,
    query: &LogQuery,
    until: Option<Position>,
    each: &mut dyn FnMut(RecordedEvent),
) -> Result<u64, SqlError> {
    let (given, archived_to) = crate::archive::read::scan(tx, query, until, each)?;
    if given >= query.limit {
        return Ok(archived_to);
    }
    let limit = query.limit - given;
    let mut sql = format!("SELECT {COLUMNS} FROM events WHERE position > :after");
    let mut params = Params::new().with("after", query.after.0.max(archived_to));
    if let Some(until) = until {
        sql.push_str(" AND position <= :until");
        params.push("until", until.0);
    }
    push_filters(&mut sql, &mut params, query);
    sql.push_str(" ORDER BY position LIMIT :limit");
    let params = params.with("limit", limit as u64);
    tx.for_each(&sql, &params, &mut |row| {
        each(decode(row)?);
        Ok(())
    })?;
    Ok(archived_to)
}

/// Adds the type, stream and category filters of `query`.
fn push_filters(sql: &mut String, params: &mut Params, query: &LogQuery) {
    if let Some(list) = in_list(params, "t", query.types.iter().map(String::as_str)) {
        sql.push_str(&format!(" AND event_type IN ({list})"));
    }
    let mut either = Vec::new();
    if let Some(list) = in_list(params, "s", query.streams.iter().map(StreamId::as_str)) {
        either.push(format!("stream_id IN ({list})"));
    }
    for (i, category) in query.categories.iter().enumerate() {
        // `cat-...` as a byte range ('.' follows '-'): the same on every backend (no
        // LIKE, whose case rules differ) and served by the stream index.
        params.push(format!("c{i}"), category.as_str());
        params.push(format!("c{i}lo"), format!("{category}-"));
        params.push(format!("c{i}hi"), format!("{category}."));
        either.push(format!(
            "stream_id = :c{i} OR (stream_id >= :c{i}lo AND stream_id < :c{i}hi)"
        ));
    }
    if !either.is_empty() {
        sql.push_str(&format!(" AND ({})", either.join(" OR ")));
    }
    push_scope(sql, params, &query.readable);
}

/// Adds the reader's scope: an exact stream or a byte range per pattern.
fn push_scope(sql: &mut String, params: &mut Params, readable: &Readable) {
    let Readable::Only(patterns) = readable else {
        return;
    };
    if patterns
        .iter()
        .any(|p| *p == StreamPattern::Prefix(String::new()))
    {
        return; // the empty prefix: every stream
    }
    let mut any = Vec::new();
    for (i, pattern) in patterns.iter().enumerate() {
        match pattern {
            StreamPattern::Exact(name) => {
                params.push(format!("r{i}"), name.as_str());
                any.push(format!("stream_id = :r{i}"));
            }
            StreamPattern::Prefix(prefix) => match prefix_end(prefix) {
                Some(end) => {
                    params.push(format!("r{i}lo"), prefix.as_str());
                    params.push(format!("r{i}hi"), end);
                    any.push(format!("(stream_id >= :r{i}lo AND stream_id < :r{i}hi)"));
                }
                None => {
                    params.push(format!("r{i}lo"), prefix.as_str());
                    any.push(format!("stream_id >= :r{i}lo"));
                }
            },
        }
    }
    if any.is_empty() {
        sql.push_str(" AND 1 = 0");
    } else {
        sql.push_str(&format!(" AND ({})", any.join(" OR ")));
    }
}

/// The smallest string above every string starting with `prefix` (its last character
/// moved up by one code point), or `None` when there is none. Every backend compares
/// stream ids bytewise, and UTF-8 keeps code point order.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last as u32 + 1 {
            0xD800 => Some('\u{E000}'),
            n => char::from_u32(n),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Binds `values` as `:{prefix}0, :{prefix}1, ...`; the placeholder list, if any.
fn in_list<'a>(
    params: &mut Params,
    prefix: &str,
    values: impl Iterator<Item = &'a str>,
) -> Option<String> {
    let names: Vec<String> = values
        .enumerate()
        .map(|(i, value)| {
            let name = format!("{prefix}{i}");
            params.push(name.clone(), value);
            format!(":{name}")
        })
        .collect();
    (!names.is_empty()).then(|| names.join(", "))
}

/// What every read of the log does to the events it read, inside its transaction:
/// decrypts their personal fields ([`crate::event::personal`]), then brings them to
/// their types' current shapes ([`crate::event::upcast`]).
pub(crate) fn open_all(
    tx: &mut Tx<'_>,
    upcasters: &crate::event::upcast::Upcasters,
    events: &mut [RecordedEvent],
) -> Result<(), Error> {
    crate::event::personal::open_all(tx, events)?;
    upcast_all(upcasters, events)
}

/// Brings `events` to their types' current shapes (see [`crate::event::upcast`]).
pub(crate) fn upcast_all(
    upcasters: &crate::event::upcast::Upcasters,
    events: &mut [RecordedEvent],
) -> Result<(), Error> {
    if upcasters.is_empty() {
        return Ok(());
    }
    for event in events {
        upcasters.upcast(event)?;
    }
    Ok(())
}

/// Reads the global log into a vector.
pub(crate) fn read_log(tx: &mut Tx<'_>, query: &LogQuery) -> Result<Vec<RecordedEvent>, SqlError> {
    let mut events = Vec::with_capacity(query.limit.min(10_000));
    scan_log(tx, query, &mut |e| events.push(e))?;
    Ok(events)
}

/// Reads a stream from `from_version`, at most `limit` events.
pub(crate) fn read_stream(
    tx: &mut Tx<'_>,
    stream: &StreamId,
    from_version: StreamVersion,
    limit: usize,
) -> Result<Vec<RecordedEvent>, SqlError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM events WHERE stream_id = :stream AND stream_version >= :from \
         ORDER BY stream_version LIMIT :limit"
    );
    let params = crate::params! {
        "stream" => stream.as_str(), "from" => from_version.0, "limit" => limit as u64
    };
    let mut events = Vec::new();
    tx.for_each(&sql, &params, &mut |row| {
        events.push(decode(row)?);
        Ok(())
    })?;
    // Starting below the stream's first live version: the rest was archived.
    let first_live = events.first().map(|e| e.stream_version.0);
    if first_live.is_some_and(|v| v <= from_version.0.max(1)) || limit == 0 {
        return Ok(events);
    }
    let mut archived = crate::archive::read::stream(tx, stream, from_version, limit)?;
    if archived.is_empty() {
        return Ok(events);
    }
    let below = first_live.unwrap_or(u64::MAX);
    archived.retain(|e| e.stream_version.0 < below);
    archived.extend(events);
    archived.truncate(limit);
    Ok(archived)
}

/// Reads the events with positions `first..=last`.
pub(crate) fn read_range(
    tx: &mut Tx<'_>,
    first: Position,
    last: Position,
) -> Result<Vec<RecordedEvent>, SqlError> {
    let span = last.0.saturating_sub(first.0) as usize + 1;
    read_log(
        tx,
        &LogQuery::after(Position(first.0.saturating_sub(1))).limit(span),
    )
}

/// The current version of `stream` (0 if it does not exist).
pub(crate) fn stream_version(
    tx: &mut Tx<'_>,
    stream: &StreamId,
) -> Result<StreamVersion, SqlError> {
    let version: Option<u64> = tx.query_scalar(
        "SELECT version FROM streams WHERE stream_id = :stream_id",
        &crate::params! { "stream_id" => stream.as_str() },
    )?;
    Ok(StreamVersion(version.unwrap_or(0)))
}

/// The highest position in the log (0 if empty).
pub(crate) fn last_position(tx: &mut Tx<'_>) -> Result<Position, SqlError> {
    let max: Option<Option<u64>> =
        tx.query_scalar("SELECT MAX(position) FROM events", &Params::new())?;
    Ok(Position(max.flatten().unwrap_or(0)))
}

fn text(row: &dyn RowRef, idx: usize) -> Result<&str, SqlError> {
    match row.value(idx)? {
        ValueRef::Text(t) => Ok(t),
        ValueRef::Blob(b) => std::str::from_utf8(b).map_err(|_| SqlError::decode("not UTF-8")),
        other => Err(SqlError::decode(format!(
            "column {idx}: expected text, found {other:?}"
        ))),
    }
}

fn raw_json(row: &dyn RowRef, idx: usize) -> Result<Json, SqlError> {
    Ok(Json::from_log(text(row, idx)?.to_owned()))
}

fn decode(row: &dyn RowRef) -> Result<RecordedEvent, SqlError> {
    let event_id = Uuid::parse_str(text(row, 3)?)
        .map_err(|e| SqlError::decode(format!("stored event id is not a UUID: {e}")))?;
    Ok(RecordedEvent {
        position: Position(u64::from_value(row.value(0)?)?),
        stream_id: StreamId::new(text(row, 1)?).map_err(|e| SqlError::decode(e.to_string()))?,
        stream_version: StreamVersion(u64::from_value(row.value(2)?)?),
        id: EventId(event_id),
        event_type: text(row, 4)?.to_owned(),
        data: raw_json(row, 5)?,
        metadata: raw_json(row, 6)?,
        recorded_at: Timestamp(i64::from_value(row.value(7)?)?),
    })
}

#[cfg(test)]
mod scope_tests {
    use super::*;

    #[test]
    fn a_prefix_ends_just_above_its_last_character() {
        assert_eq!(prefix_end("account-").as_deref(), Some("account."));
        assert_eq!(prefix_end("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{10FFFF}"), None);
        for (stream, inside) in [
            ("account-", true),
            ("account-7", true),
            ("account.", false),
            ("account", false),
        ] {
            let end = prefix_end("account-").unwrap();
            let in_range = stream >= "account-" && stream < end.as_str();
            assert_eq!(in_range, inside, "{stream}");
            assert_eq!(
                StreamPattern::parse("account-*").matches(stream),
                inside,
                "{stream}"
            );
        }
    }

    #[test]
    fn no_pattern_reads_nothing() {
        let mut sql = String::new();
        let mut params = Params::new();
        push_scope(&mut sql, &mut params, &Readable::Only(Vec::new()));
        assert_eq!(sql, " AND 1 = 0");
        assert!(!Readable::Only(Vec::new()).allows("a"));
        let everything = Readable::Only(vec![StreamPattern::parse("a"), StreamPattern::parse("*")]);
        let (mut sql, mut params) = (String::new(), Params::new());
        push_scope(&mut sql, &mut params, &everything);
        assert!(
            sql.is_empty() && params.is_empty(),
            "the empty prefix reads everything, binds nothing"
        );
    }
}
