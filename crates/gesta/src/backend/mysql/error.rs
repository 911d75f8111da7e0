//! Classifying MySQL/MariaDB errors by their error codes (never by message text).

use mysql::{DriverError, Error as MyError};

use crate::sql::{SqlError, SqlErrorKind};

/// `KILL QUERY` on an idle or finished thread (`ER_NO_SUCH_THREAD`).
pub(super) const NO_SUCH_THREAD: u16 = 1094;

/// Converts a driver error into a classified [`SqlError`].
pub(super) fn map_err(err: MyError) -> SqlError {
    let kind = match &err {
        MyError::MySqlError(e) => classify(e.code),
        MyError::IoError(_) | MyError::CodecError(_) => SqlErrorKind::Connection,
        MyError::DriverError(e) => match e {
            DriverError::MismatchedStmtParams(..)
            | DriverError::Params(_)
            | DriverError::MixedParams
            | DriverError::BulkExecute(_) => SqlErrorKind::Other,
            _ => SqlErrorKind::Connection,
        },
        MyError::FromValueError(_) | MyError::FromRowError(_) => SqlErrorKind::Decode,
        MyError::UrlError(_) => SqlErrorKind::Other,
    };
    SqlError::new(kind, err.to_string())
}

/// The portable kind of server error `code`.
pub(super) fn classify(code: u16) -> SqlErrorKind {
    match code {
        // ER_DUP_KEY, ER_DUP_ENTRY, ER_DUP_UNIQUE, ER_DUP_ENTRY_WITH_KEY_NAME
        1022 | 1062 | 1169 | 1586 => SqlErrorKind::UniqueViolation,
        // ER_BAD_NULL_ERROR, ER_NO_DEFAULT_FOR_FIELD, ER_ROW_IS_REFERENCED(_2),
        // ER_NO_REFERENCED_ROW(_2), ER_CHECK_CONSTRAINT_VIOLATED (MySQL),
        // ER_CONSTRAINT_FAILED (MariaDB)
        1048 | 1364 | 1216 | 1217 | 1451 | 1452 | 3819 | 4025 => SqlErrorKind::ConstraintViolation,
        // ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK
        1205 | 1213 => SqlErrorKind::Busy,
        // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
        1792 => SqlErrorKind::ReadOnly,
        // ER_QUERY_INTERRUPTED, ER_QUERY_TIMEOUT (MySQL), ER_STATEMENT_TIMEOUT (MariaDB)
        1317 | 3024 | 1969 => SqlErrorKind::Interrupted,
        // CR_SERVER_GONE_ERROR, CR_SERVER_LOST, ER_CON_COUNT_ERROR, ER_SERVER_SHUTDOWN,
        // ER_CONNECTION_KILLED (MariaDB), ER_CLIENT_INTERACTION_TIMEOUT (MySQL)
        2006 | 2013 | 1040 | 1053 | 1927 | 4031 => SqlErrorKind::Connection,
        _ => SqlErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_portable_kinds() {
        assert_eq!(classify(1062), SqlErrorKind::UniqueViolation);
        for code in [1451, 1452, 3819, 4025, 1048] {
            assert_eq!(classify(code), SqlErrorKind::ConstraintViolation, "{code}");
        }
        assert_eq!(classify(1205), SqlErrorKind::Busy);
        assert_eq!(classify(1213), SqlErrorKind::Busy);
        for code in [1317, 3024, 1969] {
            assert_eq!(classify(code), SqlErrorKind::Interrupted, "{code}");
        }
        assert_eq!(classify(2013), SqlErrorKind::Connection);
        assert_eq!(classify(1064), SqlErrorKind::Other);
    }
}
