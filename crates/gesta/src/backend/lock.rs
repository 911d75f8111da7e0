//! Named locks that one process holds at a time, so that a reactor runs in exactly one
//! of several processes over one database, and another takes over when it dies.
//!
//! - PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) on a dedicated
//!   connection, keyed by a 64-bit hash of the schema and the name.
//! - MySQL/MariaDB: `GET_LOCK(name, 0)` on a dedicated connection.
//! - SQLite: an exclusive `flock` on a lock file next to the database
//!   (`<db>.<name>.lock`); the kernel releases it when the process dies. An in-memory
//!   database belongs to one store, so its locks are always granted.
//!
//! Either way the lock goes when its holder's connection or process does, never by a
//! timeout that a slow but live holder could overrun.

use std::path::PathBuf;

#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) use super::session_lock::SessionLock;

use crate::sql::{SqlError, SqlErrorKind};

/// A handle on one named lock; dropping it releases the lock.
pub trait NamedLock: Send {
    /// Takes the lock without waiting; `true` when this handle holds it (also when it
    /// already did), `false` when another process (or handle) does.
    fn try_acquire(&mut self) -> Result<bool, SqlError>;
    /// Whether this handle still holds the lock; `false` or an error means it was lost
    /// (the connection dropped) and another process may hold it now.
    fn still_held(&mut self) -> Result<bool, SqlError>;
}

/// A lock that is always granted: for a database only one store can open.
pub(crate) struct Uncontended;

impl NamedLock for Uncontended {
    fn try_acquire(&mut self) -> Result<bool, SqlError> {
        Ok(true)
    }

    fn still_held(&mut self) -> Result<bool, SqlError> {
        Ok(true)
    }
}

/// An exclusive `flock` on a file; released when the file is closed or the process
/// dies. Two handles in one process exclude each other too (the lock belongs to the
/// open file, not to the process).
pub(crate) struct FileLock {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl FileLock {
    /// A handle on the lock file for lock `name` of the database at `db`.
    pub(crate) fn beside(db: &str, name: &str) -> Self {
        FileLock {
            path: PathBuf::from(format!("{db}.{}.lock", file_safe(name))),
            file: None,
        }
    }
}

impl NamedLock for FileLock {
    fn try_acquire(&mut self) -> Result<bool, SqlError> {
        if self.file.is_some() {
            return Ok(true);
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.path)
            .map_err(|e| io_error(&self.path, &e))?;
        if lock_exclusive(&file).map_err(|e| io_error(&self.path, &e))? {
            self.file = Some(file);
        }
        Ok(self.file.is_some())
    }

    fn still_held(&mut self) -> Result<bool, SqlError> {
        Ok(self.file.is_some())
    }
}

/// Takes an exclusive lock on `file` without waiting; `false` when it is taken.
#[cfg(unix)]
fn lock_exclusive(file: &std::fs::File) -> std::io::Result<bool> {
    use rustix::fs::{FlockOperation, flock};
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

/// Without `flock`, the lock file only excludes handles within this process.
#[cfg(not(unix))]
fn lock_exclusive(_file: &std::fs::File) -> std::io::Result<bool> {
    Ok(true)
}

fn io_error(path: &std::path::Path, err: &std::io::Error) -> SqlError {
    SqlError::new(
        SqlErrorKind::Other,
        format!("lock file {}: {err}", path.display()),
    )
}

/// `name` as a file name part: letters, digits, `-`, `_` and `.` kept, anything else
/// replaced, plus a hash of the original when something was replaced.
fn file_safe(name: &str) -> String {
    let kept: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if kept == name {
        return kept;
    }
    // FNV-1a: stable across builds, unlike the std hasher.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{kept}-{hash:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_safe_and_distinct() {
        assert_eq!(file_safe("reactor-welcome_email"), "reactor-welcome_email");
        let a = file_safe("reactor:a/b");
        let b = file_safe("reactor:a_b");
        assert!(a.starts_with("reactor_a_b-"), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn a_file_lock_excludes_a_second_handle_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let db = db.to_str().unwrap();
        let mut first = FileLock::beside(db, "reactor:r");
        let mut second = FileLock::beside(db, "reactor:r");
        assert!(first.try_acquire().unwrap());
        assert!(first.try_acquire().unwrap());
        if cfg!(unix) {
            assert!(!second.try_acquire().unwrap());
        }
        drop(first);
        assert!(second.try_acquire().unwrap());
        assert!(second.still_held().unwrap());
    }
}
