//! The "welcome email" reactor: for every opened account, one line appended to an
//! outbox file (standing in for a mail service), `EVENT_ID ACCOUNT_ID OWNER`.
//!
//! Delivery is at least once: after a crash the accounts opened since the reactor's
//! last checkpoint get their line again, with the same event id, which is how a
//! receiver recognises the duplicate. A clean stop writes the checkpoint, so a clean
//! run never writes a line twice; replaying or rebuilding the read model writes none.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gesta::LogQuery;
use gesta::backend::DbUrl;
use gesta::event::RecordedEvent;
use gesta::reactor::{BoxError, Reactor, ReactorOptions};

/// The reactor's name (its checkpoint is `reactor:welcome-email`).
pub const NAME: &str = "welcome-email";

/// The welcome-email reactor, appending to the file at `outbox`. Its checkpoint is
/// written every 100 emails or 250 ms, which bounds what a crash sends twice.
pub fn reactor(outbox: PathBuf) -> Reactor {
    let filter = LogQuery::default().event_type("AccountOpened");
    let options = ReactorOptions::default().checkpoint(100, Duration::from_millis(250));
    Reactor::new(NAME, filter, move |event: RecordedEvent| {
        let outbox = outbox.clone();
        async move { send(&outbox, &event).await }
    })
    .options(options)
}

/// Appends the welcome line for `event` and waits until it is on disk.
async fn send(outbox: &Path, event: &RecordedEvent) -> Result<(), BoxError> {
    let opened: serde_json::Value = event.data_as()?;
    // An owner erased before the email went out gets none.
    let (Some(account), Some(owner)) = (opened["account_id"].as_str(), opened["owner"].as_str())
    else {
        return Ok(());
    };
    let line = format!("{} {account} {owner}\n", event.id);
    let outbox = outbox.to_owned();
    tokio::task::spawn_blocking(move || append_line(&outbox, &line)).await??;
    Ok(())
}

/// One `write` of the whole line in append mode, then `fsync`.
fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(line.as_bytes())?;
    file.sync_data()
}

/// The outbox beside a SQLite database (`bank.db` → `bank-outbox.txt` in the same
/// folder); `bank-outbox.txt` in the working directory for other databases.
pub fn default_outbox(db: &str) -> PathBuf {
    match DbUrl::parse(db) {
        Ok(DbUrl::Sqlite(config)) if config.path != ":memory:" => {
            let path = Path::new(&config.path);
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("bank");
            path.with_file_name(format!("{stem}-outbox.txt"))
        }
        _ => PathBuf::from("bank-outbox.txt"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outbox_sits_beside_a_sqlite_file() {
        assert_eq!(
            default_outbox("sqlite:///data/x/bank.db"),
            PathBuf::from("/data/x/bank-outbox.txt")
        );
        assert_eq!(
            default_outbox("sqlite::memory:"),
            PathBuf::from("bank-outbox.txt")
        );
    }
}
