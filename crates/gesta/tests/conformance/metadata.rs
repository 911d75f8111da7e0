//! Event metadata: command id, command name, correlation and causation ids.

use gesta::event::{RecordedEvent, StreamVersion};
use gesta::{Context, ExpectedVersion};
use serde_json::json;

use crate::app::Note;
use crate::check::{self, append, noted, sid};
use crate::harness::TestDb;

conformance!(defaults_to_command_id, from_context, direct_appends);

/// The stored events of `stream`, as read back.
async fn stored(store: &gesta::Store, stream: &str) -> Vec<RecordedEvent> {
    let stream = sid(stream);
    store
        .read_stream(&stream, StreamVersion(1), 100)
        .await
        .unwrap()
}

async fn defaults_to_command_id(b: TestDb) {
    let store = b.open().await;
    let first = store.dispatch(Note::new("meta-1", "a", 2)).await.unwrap();
    let second = store.dispatch(Note::new("meta-1", "b", 1)).await.unwrap();
    assert_ne!(first.command_id, second.command_id);
    let events = stored(&store, "meta-1").await;
    let owners = [first.command_id, first.command_id, second.command_id];
    for (event, command_id) in events.iter().zip(owners) {
        let meta = event.metadata();
        assert_eq!(meta.command_id, Some(command_id));
        assert_eq!(meta.command.as_deref(), Some("Note"));
        let id = command_id.to_string();
        assert_eq!(meta.correlation_id.as_deref(), Some(id.as_str()));
        assert_eq!(meta.causation_id.as_deref(), Some(id.as_str()));
    }
    check::outcome_in_log(&first, &check::gap_free_log(&store).await);
}

async fn from_context(b: TestDb) {
    let store = b.open().await;
    let mut ctx = Context {
        correlation_id: Some("corr-1".into()),
        causation_id: Some("cause-7".into()),
        ..Context::default()
    };
    ctx.metadata.insert("user".into(), json!("ann"));
    let outcome = store.dispatch_with(Note::new("meta-2", "a", 2), ctx);
    let outcome = outcome.await.unwrap();
    for event in stored(&store, "meta-2").await {
        let meta = event.metadata();
        assert_eq!(meta.command_id, Some(outcome.command_id));
        assert_eq!(meta.command.as_deref(), Some("Note"));
        assert_eq!(meta.correlation_id.as_deref(), Some("corr-1"));
        assert_eq!(meta.causation_id.as_deref(), Some("cause-7"));
        assert_eq!(meta.extra.get("user"), Some(&json!("ann")));
    }
    // Only the correlation id given: causation still defaults to the command id.
    let ctx = Context {
        correlation_id: Some("corr-2".into()),
        ..Context::default()
    };
    let outcome = store.dispatch_with(Note::new("meta-3", "b", 1), ctx);
    let outcome = outcome.await.unwrap();
    let meta = stored(&store, "meta-3").await[0].metadata();
    assert_eq!(meta.correlation_id.as_deref(), Some("corr-2"));
    let id = outcome.command_id.to_string();
    assert_eq!(meta.causation_id.as_deref(), Some(id.as_str()));
}

async fn direct_appends(b: TestDb) {
    let store = b.open().await;
    let outcome = append(
        &store,
        "meta-4",
        ExpectedVersion::Any,
        noted("meta-4", "a", 2),
    );
    let outcome = outcome.await.unwrap();
    for event in stored(&store, "meta-4").await {
        let meta = event.metadata();
        assert_eq!(meta.command_id, Some(outcome.command_id));
        assert_eq!(meta.command, None, "a direct append names no command");
        let id = outcome.command_id.to_string();
        assert_eq!(meta.correlation_id.as_deref(), Some(id.as_str()));
        assert_eq!(meta.causation_id.as_deref(), Some(id.as_str()));
    }
}
