//! Middleware: custom links that add metadata or refuse, and `EnrichMetadata`.

use gesta::command::{CommandOutcome, CommandRequest};
use gesta::event::{Position, StreamVersion};
use gesta::middleware::{BoxFuture, EnrichMetadata, Middleware, Next};
use gesta::{Context, Error, Rejection, RejectionKind};
use serde_json::json;

use crate::app::Note;
use crate::check::{self, sid};
use crate::harness::TestDb;

conformance!(custom_middleware, enrich_metadata);

/// Stamps a tenant on every command and refuses notes tagged `forbidden`.
struct Gatekeeper;

impl Middleware for Gatekeeper {
    fn call<'a>(
        &'a self,
        mut request: CommandRequest,
        next: Next<'a>,
    ) -> BoxFuture<'a, Result<CommandOutcome, Error>> {
        let forbidden = request
            .payload
            .downcast_ref::<Note>()
            .is_some_and(|note| note.tag == "forbidden");
        if forbidden {
            let refusal = Rejection::invalid("tag", "forbidden by the gatekeeper");
            return Box::pin(async move { Err(Error::Rejected(refusal)) });
        }
        request
            .context
            .metadata
            .insert("tenant".into(), json!("acme"));
        next.run(request)
    }
}

async fn custom_middleware(b: TestDb) {
    let store = b.builder().middleware(Gatekeeper).open().await.unwrap();
    let outcome = store.dispatch(Note::new("mw-1", "fine", 1)).await.unwrap();
    assert_eq!(
        outcome.events[0].metadata().extra.get("tenant"),
        Some(&json!("acme"))
    );

    let refused = store.dispatch(Note::new("mw-2", "forbidden", 1)).await;
    match refused {
        Err(Error::Rejected(r)) => {
            assert_eq!(
                r.kind,
                RejectionKind::Invalid {
                    field: Some("tag".into())
                }
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    // JSON dispatch goes through the same chain.
    let json =
        br#"{"stream":"mw-2","tag":"forbidden","events":1,"mode":"Commit","expected":"any"}"#;
    let refused = store.dispatch_json("Note", json, Context::default()).await;
    assert!(matches!(refused, Err(Error::Rejected(_))), "{refused:?}");
    let missing = store.read_stream(&sid("mw-2"), StreamVersion(1), 10).await;
    assert!(matches!(missing, Err(Error::StreamNotFound(_))));
    assert_eq!(store.last_position(), Position(1));

    let stored = store
        .read_stream(&sid("mw-1"), StreamVersion(1), 10)
        .await
        .unwrap();
    assert_eq!(
        stored[0].metadata().extra.get("tenant"),
        Some(&json!("acme"))
    );
}

/// `EnrichMetadata` adds its fields but never overwrites what an earlier middleware
/// or the caller put there.
async fn enrich_metadata(b: TestDb) {
    let enrich = EnrichMetadata::new()
        .with("service", "conformance")
        .with("tenant", "nobody")
        .with("user", "anonymous");
    let store = b
        .builder()
        .middleware(Gatekeeper)
        .middleware(enrich)
        .open()
        .await;
    let store = store.unwrap();
    let mut ctx = Context::default();
    ctx.metadata.insert("user".into(), json!("ann"));
    let outcome = store
        .dispatch_with(Note::new("en-1", "a", 2), ctx)
        .await
        .unwrap();
    let stored = store
        .read_stream(&sid("en-1"), StreamVersion(1), 10)
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    for event in &stored {
        let meta = event.metadata();
        assert_eq!(meta.extra.get("service"), Some(&json!("conformance")));
        assert_eq!(meta.extra.get("tenant"), Some(&json!("acme")));
        assert_eq!(meta.extra.get("user"), Some(&json!("ann")));
        assert_eq!(meta.command_id, Some(outcome.command_id));
    }
    check::outcome_in_log(&outcome, &check::gap_free_log(&store).await);
}
