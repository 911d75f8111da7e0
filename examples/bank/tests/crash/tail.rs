//! A reader following the log while it is written, as a subscriber catching up does.
//! Every page must continue exactly where the previous one ended: an event that
//! committed after one with a higher position would show up as a gap here (the
//! PostgreSQL sequence trap), so this checks that positions follow commit order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::wire::{Event, events_after, http_client};

/// The follower task, until [`Tail::stop`].
pub struct Tail {
    stop: Arc<AtomicBool>,
    task: JoinHandle<Vec<Event>>,
}

impl Tail {
    /// Follows the log, asking the servers at `bases` in turn (a server that does not
    /// answer is skipped).
    pub fn start(bases: &[String]) -> Tail {
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn(follow(bases.to_vec(), stop.clone()));
        Tail { stop, task }
    }

    /// Stops following; returns every event seen, in the order seen.
    pub async fn stop(self) -> Vec<Event> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.expect("tail task panicked")
    }
}

async fn follow(bases: Vec<String>, stop: Arc<AtomicBool>) -> Vec<Event> {
    let client = http_client();
    let mut seen: Vec<Event> = Vec::new();
    for turn in 0.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let base = &bases[turn % bases.len()];
        let after = seen.last().map_or(0, |e| e.position);
        let Ok(page) = events_after(&client, base, after).await else {
            continue;
        };
        for (i, event) in page.iter().enumerate() {
            let expected = after + 1 + i as u64;
            assert_eq!(
                event.position, expected,
                "{base} skipped a position: {event:?}"
            );
        }
        seen.extend(page);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    seen
}
