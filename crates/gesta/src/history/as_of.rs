//! A point in history: a position, or a time.

use std::fmt;
use std::str::FromStr;

use crate::Error;
use crate::event::{Position, Timestamp};

/// A point in history to read the read models at.
///
/// ```
/// use gesta::history::AsOf;
/// use gesta::event::Position;
/// assert_eq!("42".parse::<AsOf>().unwrap(), AsOf::Position(Position(42)));
/// assert!(matches!("2026-12-06T10:00:00Z".parse::<AsOf>().unwrap(), AsOf::Time(_)));
/// assert!("-1".parse::<AsOf>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// Right after the event at this position was applied (0 = the empty store).
    Position(Position),
    /// After the last event recorded at or before this time.
    Time(Timestamp),
}

impl From<Position> for AsOf {
    fn from(position: Position) -> Self {
        AsOf::Position(position)
    }
}

impl From<Timestamp> for AsOf {
    fn from(time: Timestamp) -> Self {
        AsOf::Time(time)
    }
}

impl FromStr for AsOf {
    type Err = Error;

    /// A non-negative integer is a position; anything else must be an RFC 3339 time.
    /// Errors name the field `as_of`.
    fn from_str(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text
                .parse::<u64>()
                .map(|p| AsOf::Position(Position(p)))
                .map_err(|_| Error::invalid("as_of", "the position is too large"));
        }
        if text.starts_with('-') && text[1..].bytes().all(|b| b.is_ascii_digit()) && text.len() > 1
        {
            return Err(Error::invalid("as_of", "a position cannot be negative"));
        }
        let time = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map_err(|_| {
                Error::invalid(
                    "as_of",
                    "must be a position (a non-negative integer) or an RFC 3339 time such as 2026-12-06T10:00:00Z",
                )
            })?;
        let micros = time.unix_timestamp_nanos() / 1_000;
        let micros =
            i64::try_from(micros).map_err(|_| Error::invalid("as_of", "time out of range"))?;
        Ok(AsOf::Time(Timestamp(micros)))
    }
}

impl fmt::Display for AsOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsOf::Position(p) => p.fmt(f),
            AsOf::Time(t) => f.write_str(&t.to_rfc3339()),
        }
    }
}
