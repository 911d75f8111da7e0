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

    /// Whether `event` passes this query's type, stream and category filters.
    pub fn matches(&self, event: &RecordedEvent) -> bool {
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
    let mut sql = format!("SELECT {COLUMNS} FROM events WHERE position > :after");
    let mut params = Params::new().with("after", query.after.0);
    if let Some(until) = until {
        sql.push_str(" AND position <= :until");
        params.push("until", until.0);
    }
    push_filters(&mut sql, &mut params, query);
    sql.push_str(" ORDER BY position LIMIT :limit");
    let params = params.with("limit", query.limit as u64);
    tx.for_each(&sql, &params, &mut |row| {
        each(decode(row)?);
        Ok(())
    })
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
    Ok(events)
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
