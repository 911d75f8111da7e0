//! Event metadata: command id, command name, correlation and causation ids.

use gesta::event::{RecordedEvent, StreamVersion};
use gesta::{Context, Error, ExpectedVersion, Principal, RejectionKind};
use serde_json::json;

use crate::app::{Mode, Note};
use crate::check::{self, append, noted, sid};
use crate::harness::TestDb;

conformance!(
    defaults_to_command_id,
    from_context,
    direct_appends,
    the_principal_is_recorded_and_shown_to_handlers
);

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

/// Every change says who made it: the principal's name is in each event's metadata and
/// CloudEvents form; the handler sees the principal; a caller cannot name one itself.
async fn the_principal_is_recorded_and_shown_to_handlers(b: TestDb) {
    let store = b.open().await;
    let ann = Principal::new("key-ann")
        .with_subject("meta-5")
        .with_roles(["customer"]);
    let mut ctx = Context {
        principal: Some(ann),
        ..Context::default()
    };
    ctx.metadata.insert("principal".into(), json!("forged"));
    let own = Note::new("meta-5", "a", 2).mode(Mode::OwnStreamOnly);
    let outcome = store.dispatch_with(own, ctx.clone()).await.unwrap();
    let events = stored(&store, "meta-5").await;
    assert_eq!(events.len(), 2);
    for event in &events {
        assert_eq!(event.metadata().principal.as_deref(), Some("key-ann"));
        let cloudevent: serde_json::Value =
            serde_json::from_str(&event.to_cloudevent().to_json()).unwrap();
        assert_eq!(cloudevent["principal"], "key-ann");
        assert_eq!(cloudevent["metadata"]["principal"], "key-ann");
    }
    assert_eq!(outcome.events.len(), 2);

    // Someone else's stream: refused by the handler's own rule, nothing written.
    let theirs = Note::new("meta-6", "b", 1).mode(Mode::OwnStreamOnly);
    match store.dispatch_with(theirs.clone(), ctx).await {
        Err(Error::Rejected(r)) => assert_eq!(r.kind, RejectionKind::Forbidden),
        other => panic!("expected a 403 rejection, got {other:?}"),
    }
    // Nobody authenticated: the same rule refuses, and a principal the caller puts
    // into the extra metadata is not recorded.
    match store.dispatch_with(theirs, Context::default()).await {
        Err(Error::Rejected(r)) => assert_eq!(r.kind, RejectionKind::Forbidden),
        other => panic!("expected a 403 rejection, got {other:?}"),
    }
    let nothing = store
        .read_stream(&sid("meta-6"), StreamVersion(1), 10)
        .await;
    assert!(
        matches!(nothing, Err(Error::StreamNotFound(_))),
        "{nothing:?}"
    );
    let mut anonymous = Context::default();
    anonymous
        .metadata
        .insert("principal".into(), json!("forged"));
    store
        .dispatch_with(Note::new("meta-7", "c", 1), anonymous)
        .await
        .unwrap();
    let event = &stored(&store, "meta-7").await[0];
    assert_eq!(event.metadata().principal, None);
    assert!(!event.metadata().extra.contains_key("principal"));
    let cloudevent: serde_json::Value =
        serde_json::from_str(&event.to_cloudevent().to_json()).unwrap();
    assert!(cloudevent.get("principal").is_none());
}
