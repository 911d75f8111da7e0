//! The routes: `POST /graphql` (queries and mutations), `GET /graphql` with a
//! WebSocket handshake (`graphql-transport-ws`, and the older `graphql-ws` of
//! subscriptions-transport-ws), and `GET /graphql/schema.graphql` (the schema).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_graphql::Data;
use async_graphql::dynamic::Schema;
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocketProtocols, WsMessage};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use gesta_auth::Security;

use super::{Collection, GraphqlOptions, schema};
use crate::auth::Access;
use crate::input::json_body;
use crate::limits::{Subscribers, caller_key};
use crate::problem::Problem;
use crate::serve::Shutdown;

#[derive(Clone)]
struct GraphqlState {
    schema: Schema,
    sdl: Option<Arc<str>>,
    security: Option<Arc<Security>>,
    subscribers: Subscribers,
    keep_alive: Duration,
}

/// The GraphQL routes over `store`, or the error that kept the schema from building.
pub(crate) fn routes(
    store: &gesta::Store,
    collections: &[Collection],
    options: &GraphqlOptions,
    security: Option<Arc<Security>>,
    subscribers: Subscribers,
    keep_alive: Duration,
) -> Result<Router, super::SchemaError> {
    let schema = schema::build(store.app(), collections, options, Some(store.clone()))?;
    let sdl = options.introspection.then(|| Arc::from(schema.sdl()));
    let state = GraphqlState {
        schema,
        sdl,
        security,
        subscribers,
        keep_alive,
    };
    Ok(Router::new()
        .route("/graphql", get(websocket).post(execute))
        .route("/graphql/schema.graphql", get(schema_text))
        .with_state(state))
}

/// Runs one query or mutation (`{"query", "variables", "operationName"}`).
async fn execute(
    State(state): State<GraphqlState>,
    access: Access,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = json_body(&headers, body)?;
    let request: async_graphql::Request = serde_json::from_slice(&body).map_err(|e| {
        Problem::invalid(
            None,
            format!("not a GraphQL request ({{\"query\", \"variables\", \"operationName\"}}): {e}"),
        )
    })?;
    let response = state.schema.execute(request.data(access)).await;
    Ok(axum::Json(response).into_response())
}

/// The schema in GraphQL's schema language (404 with introspection off).
async fn schema_text(State(state): State<GraphqlState>) -> Result<Response, Problem> {
    let Some(sdl) = state.sdl else {
        return Err(Problem::not_found("introspection is off on this server"));
    };
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        sdl.to_string(),
    )
        .into_response())
}

/// The subprotocol the client asked for.
struct Protocol(WebSocketProtocols);

impl<S: Send + Sync> FromRequestParts<S> for Protocol {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        parts
            .headers
            .get(header::SEC_WEBSOCKET_PROTOCOL)
            .and_then(|value| value.to_str().ok())
            .and_then(|protocols| {
                protocols
                    .split(',')
                    .find_map(|p| p.trim().parse::<WebSocketProtocols>().ok())
            })
            .map(Protocol)
            .ok_or_else(|| {
                Problem::invalid(
                    Some("Sec-WebSocket-Protocol".into()),
                    "GET /graphql is a WebSocket for subscriptions: ask for the \
                     graphql-transport-ws subprotocol (queries and mutations are POSTed)",
                )
            })
    }
}

/// Subscriptions over a WebSocket.
async fn websocket(
    State(state): State<GraphqlState>,
    extensions: axum::http::Extensions,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    protocol: Result<Protocol, Problem>,
) -> Result<Response, Problem> {
    let upgrade = upgrade.map_err(|rejection| {
        Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            format!(
                "POST queries and mutations to /graphql; GET is for WebSocket subscriptions ({})",
                rejection.body_text()
            ),
        )
    })?;
    let Protocol(protocol) = protocol?;
    let slot = state.subscribers.acquire(caller_key(&extensions))?;
    let shutdown = extensions.get::<Shutdown>().cloned();
    // The caller: from the handshake's token if it had one, else from
    // `connection_init` (with authentication on), else everyone.
    let known = extensions.get::<Arc<gesta_auth::Caller>>().cloned();
    Ok(upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            session(socket, state, protocol, known, shutdown).await;
            drop(slot);
        }))
}

/// The token in a `connection_init` payload: `Authorization: Bearer T` (any case),
/// or `token`.
fn payload_token(payload: &serde_json::Value) -> Option<String> {
    let object = payload.as_object()?;
    for (name, value) in object {
        let Some(text) = value.as_str() else { continue };
        if name.eq_ignore_ascii_case("authorization") {
            let (scheme, token) = text.trim().split_once(' ')?;
            return scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned());
        }
        if name == "token" || name == "access_token" {
            return Some(text.trim().to_owned());
        }
    }
    None
}

/// One WebSocket: the protocol's messages, a ping every keep-alive interval (so an
/// idle subscription outlives the server's idle timeout), a 1001 close at shutdown,
/// and a 4403 close when `connection_init` carries no valid token.
async fn session(
    socket: WebSocket,
    state: GraphqlState,
    protocol: WebSocketProtocols,
    known: Option<Arc<gesta_auth::Caller>>,
    mut shutdown: Option<Shutdown>,
) {
    let (mut sink, stream) = socket.split();
    let input = stream
        .take_while(|message| std::future::ready(message.is_ok()))
        .filter_map(|message| {
            std::future::ready(match message {
                Ok(Message::Text(text)) => Some(Bytes::from(text)),
                Ok(Message::Binary(bytes)) => Some(bytes),
                _ => None,
            })
        });
    let refused = Arc::new(AtomicBool::new(false));
    let security = state.security.clone();
    let refusal = Arc::clone(&refused);
    let init = move |payload: serde_json::Value| async move {
        let access = match (known, security) {
            (Some(caller), _) => Access::of(caller),
            (None, None) => Access::open(),
            (None, Some(security)) => {
                let Some(token) = payload_token(&payload) else {
                    refusal.store(true, Ordering::Relaxed);
                    return Err(async_graphql::Error::new(
                        "Forbidden: connection_init carries no token ({\"Authorization\": \"Bearer ...\"})",
                    ));
                };
                match security.authenticate(&token).await {
                    Ok(caller) => Access::of(caller),
                    Err(err) => {
                        refusal.store(true, Ordering::Relaxed);
                        return Err(async_graphql::Error::new(format!("Forbidden: {err}")));
                    }
                }
            }
        };
        let mut data = Data::default();
        data.insert(access);
        data.insert(super::subscription::PerSocket::default());
        Ok(data)
    };
    let messages = async_graphql::http::WebSocket::new(state.schema.clone(), input, protocol)
        .on_connection_init(init);
    futures_util::pin_mut!(messages);
    let mut ping = tokio::time::interval(state.keep_alive);
    ping.tick().await;
    loop {
        let out = tokio::select! {
            message = messages.next() => match message {
                Some(WsMessage::Text(text)) => Message::Text(text.into()),
                Some(WsMessage::Close(code, reason)) => {
                    let code = if refused.load(Ordering::Relaxed) { 4403 } else { code };
                    let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                    break;
                }
                None => break,
            },
            _ = ping.tick() => Message::Ping(Bytes::new()),
            () = crate::routes::subscribe::shutting_down(&mut shutdown) => {
                let frame = CloseFrame { code: 1001, reason: "the server is shutting down".into() };
                let _ = sink.send(Message::Close(Some(frame))).await;
                break;
            }
        };
        if sink.send(out).await.is_err() {
            break;
        }
    }
}
