//! Hearing of other processes' commits: every write transaction that appended events
//! runs `NOTIFY gesta_commits` (delivered when it commits), and each store keeps one
//! connection that `LISTEN`s and bumps a counter subscribers wait on.

use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Config, NoTls};
use tokio::sync::watch;

/// The statement the writer runs in each batch that appended events.
pub(super) const NOTIFY: &str = "NOTIFY gesta_commits";

/// How often the listener checks that someone still cares, and reconnects.
const TICK: Duration = Duration::from_secs(1);

/// Starts the listener thread; it ends once every receiver of `signal` is gone.
pub(super) fn spawn_listener(config: Config, signal: watch::Sender<u64>) -> bool {
    std::thread::Builder::new()
        .name("gesta-pg-listen".to_owned())
        .spawn(move || {
            while !signal.is_closed() {
                listen(&config, &signal);
                if !signal.is_closed() {
                    std::thread::sleep(TICK);
                }
            }
        })
        .is_ok()
}

/// Listens until the connection fails or nobody is interested any more.
fn listen(config: &Config, signal: &watch::Sender<u64>) {
    let Ok(mut client) = config.connect(NoTls) else {
        return;
    };
    if client.batch_execute("LISTEN gesta_commits").is_err() {
        return;
    }
    // A commit may have happened while (re)connecting: wake subscribers once.
    signal.send_modify(|n| *n += 1);
    while !signal.is_closed() {
        let heard = client.notifications().timeout_iter(TICK).next();
        match heard {
            Ok(Some(_)) => signal.send_modify(|n| *n += 1),
            Err(_) => return,
            Ok(None) if client.is_closed() => return,
            Ok(None) => {}
        }
    }
}
