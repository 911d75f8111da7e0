//! The `Subscription` type: `events(after, types, category)`, every matching event
//! after a position and then live ones as they commit, in position order, as
//! `GET /subscribe` sends them. A client that drops resumes with `after` = the last
//! position it saw.

use async_graphql::dynamic::{
    FieldValue, InputValue, Subscription, SubscriptionField, SubscriptionFieldFuture, TypeRef,
};
use std::sync::Arc;

use gesta::event::Position;
use gesta::subscription::Start;
use tokio::sync::Semaphore;

use super::errors::{self, invalid};
use super::event::EventNode;
use super::query::{caller, categories};

/// The most subscriptions one WebSocket may run at once (beyond: an error with status
/// 429 for the next `subscribe`); the per-caller cap on sockets is the server's
/// `--max-subscriptions`.
pub(crate) const PER_SOCKET: usize = 16;

/// The subscriptions running on one WebSocket.
#[derive(Clone)]
pub(crate) struct PerSocket(Arc<Semaphore>);

impl Default for PerSocket {
    fn default() -> Self {
        PerSocket(Arc::new(Semaphore::new(PER_SOCKET)))
    }
}

/// The `Subscription` type.
pub(crate) fn object() -> Subscription {
    let events = SubscriptionField::new("events", TypeRef::named_nn("Event"), |ctx| {
        SubscriptionFieldFuture::new(async move {
            let (store, access) = caller(&ctx)?;
            let slot = match ctx.data_opt::<PerSocket>() {
                Some(PerSocket(slots)) => Some(Arc::clone(slots).try_acquire_owned().map_err(|_| {
                    errors::error(crate::problem::Problem::new(
                        axum::http::StatusCode::TOO_MANY_REQUESTS,
                        "too-many-subscriptions",
                        "Too many subscriptions",
                        format!("at most {PER_SOCKET} subscriptions run on one WebSocket; complete one first"),
                    ))
                })?),
                None => None,
            };
            let after = match ctx.args.get("after") {
                Some(value) if !value.is_null() => {
                    let n = value
                        .i64()
                        .map_err(|_| invalid("after", "must be an integer"))?;
                    u64::try_from(n).map_err(|_| invalid("after", "must be an integer from 0"))?
                }
                _ => 0,
            };
            let types: Vec<String> = match ctx.args.get("types") {
                Some(value) if !value.is_null() => value
                    .list()?
                    .iter()
                    .map(|t| Ok(t.string()?.to_owned()))
                    .collect::<Result<_, async_graphql::Error>>()?,
                _ => Vec::new(),
            };
            let filter = gesta::LogQuery::filtered(types, Vec::<String>::new(), categories(&ctx)?)
                .map_err(errors::store)?
                .readable(access.readable());
            let subscription = store
                .subscribe(Start::After(Position(after)), filter)
                .await
                .map_err(errors::store)?;
            // The slot goes with the stream: dropped when the subscription ends.
            let stream = futures_util::stream::unfold(Some((subscription, slot)), |state| async move {
                let (mut subscription, slot) = state?;
                match subscription.next().await {
                    Ok(event) => {
                        let node = EventNode::parse(event.cloudevent_json());
                        Some((Ok(FieldValue::owned_any(node)), Some((subscription, slot))))
                    }
                    // The error ends the subscription; the client resumes after the last
                    // position it saw.
                    Err(err) => Some((Err(errors::store(err)), None)),
                }
            });
            Ok(stream)
        })
    })
    .description(
        "Every matching event after `after`, then live ones as they commit, in position \
         order, none skipped, none twice; with authentication only streams the caller may read.",
    )
    .argument(
        InputValue::new("after", TypeRef::named(TypeRef::INT)).description(
            "Only events after this position (default 0): the last position seen, to resume.",
        ),
    )
    .argument(
        InputValue::new(
            "types",
            TypeRef::List(Box::new(TypeRef::named_nn(TypeRef::STRING))),
        )
        .description("Only these event types."),
    )
    .argument(
        InputValue::new("category", TypeRef::named(TypeRef::STRING))
            .description("Only streams of this category."),
    );
    Subscription::new("Subscription").field(events)
}
