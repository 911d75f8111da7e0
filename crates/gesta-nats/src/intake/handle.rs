//! One request: authenticate, check the caller's right, run the command, reply.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use async_nats::{HeaderMap, Message};
use gesta::{Context, Store};
use gesta_auth::Security;
use gesta_http::Problem;
use gesta_http::wire::CommandResponse;

use super::service::Service;

/// What every request needs.
pub(super) struct Handler {
    pub(super) store: Store,
    pub(super) client: async_nats::Client,
    pub(super) prefix: String,
    pub(super) commands: HashMap<String, String>,
    pub(super) security: Option<Arc<Security>>,
    pub(super) service: Arc<Service>,
}

/// The reply to send: headers and body.
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
    error: Option<String>,
}

impl Handler {
    /// Runs the command of `message` and replies (when it has a reply subject).
    pub(super) async fn command(&self, message: Message) {
        let started = Instant::now();
        let token = message
            .subject
            .as_str()
            .strip_prefix(self.prefix.as_str())
            .and_then(|rest| rest.strip_prefix('.'))
            .unwrap_or_default()
            .to_owned();
        let name = self.commands.get(&token).cloned();
        let reply = match self.run(name.as_deref(), &token, &message).await {
            Ok(reply) => reply,
            Err(problem) => problem_reply(&problem),
        };
        if let Some(name) = &name {
            self.service
                .record(name, started.elapsed(), reply.error.as_deref());
        }
        match message.reply {
            Some(subject) => {
                if let Err(err) = self
                    .client
                    .publish_with_headers(subject, reply.headers, reply.body.into())
                    .await
                {
                    tracing::warn!(error = %err, "could not send a NATS command reply");
                }
            }
            None => tracing::debug!(
                command = %token,
                status = reply.status,
                "a NATS command without a reply subject ran"
            ),
        }
    }

    async fn run(
        &self,
        name: Option<&str>,
        token: &str,
        message: &Message,
    ) -> Result<Reply, Problem> {
        let headers = message.headers.as_ref();
        let header = |name: &str| -> Option<String> {
            let headers = headers?;
            let value = headers
                .get(name)
                .or_else(|| headers.get(name.to_ascii_lowercase().as_str()))?;
            Some(value.as_str().to_owned())
        };
        let access = match &self.security {
            None => None,
            Some(security) => Some(authenticate(security, header("Authorization")).await?),
        };
        let Some(name) = name else {
            return Err(gesta::Error::UnknownCommand(token.to_owned()).into());
        };
        if let Some(caller) = &access {
            if !caller.rights.may_run(name) {
                return Err(Problem::new(
                    gesta_http::StatusCode::FORBIDDEN,
                    "forbidden",
                    "Forbidden",
                    format!("you may not run {name:?}"),
                ));
            }
        }
        let ctx = Context {
            idempotency_key: header("Idempotency-Key"),
            correlation_id: header("X-Correlation-Id"),
            principal: access.as_ref().map(|c| c.principal.clone()),
            ..Context::default()
        };
        let store = self.store.clone();
        let name = name.to_owned();
        let payload = message.payload.clone();
        // On a task of its own, like the HTTP route's write: a stopping intake never
        // cancels a command half-way.
        let outcome = tokio::spawn(async move { store.dispatch_json(&name, &payload, ctx).await })
            .await
            .map_err(|e| {
                Problem::from(gesta::Error::Internal(format!(
                    "the write task failed: {e}"
                )))
            })??;
        let body = CommandResponse {
            command_id: outcome.command_id.to_string(),
            position: outcome.position.map(|p| p.0),
            events: outcome.events.iter().map(|e| e.to_cloudevent()).collect(),
        };
        let body = serde_json::to_vec(&body)
            .map_err(|e| Problem::from(gesta::Error::Internal(e.to_string())))?;
        let mut headers = HeaderMap::new();
        headers.insert("Gesta-Status", "200");
        headers.insert("Content-Type", "application/json");
        if outcome.replayed {
            headers.insert("Idempotent-Replayed", "true");
        }
        Ok(Reply {
            status: 200,
            headers,
            body,
            error: None,
        })
    }

    /// Answers a `$SRV.*` request.
    pub(super) async fn control(&self, message: Message) {
        let Some(reply) = message.reply else { return };
        let body = self.service.answer(message.subject.as_str());
        if let Some(body) = body {
            if let Err(err) = self.client.publish(reply, body.into()).await {
                tracing::warn!(error = %err, "could not answer a NATS service request");
            }
        }
    }
}

/// The caller of a request with `authorization` (its `Authorization` header).
async fn authenticate(
    security: &Security,
    authorization: Option<String>,
) -> Result<Arc<gesta_auth::Caller>, Problem> {
    let unauthorized = |detail: String| {
        Problem::new(
            gesta_http::StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            detail,
        )
    };
    let token = authorization
        .as_deref()
        .and_then(|text| text.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_owned());
    let Some(token) = token else {
        return Err(unauthorized(
            "send the header Authorization: Bearer <token>".into(),
        ));
    };
    match security.authenticate(&token).await {
        Ok(caller) => Ok(caller),
        Err(err) if err.is_unauthorized() => Err(unauthorized(err.to_string())),
        Err(err) => {
            tracing::error!(error = %err, "authenticating a NATS request failed");
            Err(Problem::new(
                gesta_http::StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
                "credentials could not be checked now; retry",
            ))
        }
    }
}

/// The reply carrying `problem`.
fn problem_reply(problem: &Problem) -> Reply {
    let body = problem.body();
    let mut headers = HeaderMap::new();
    let status = body.status.to_string();
    headers.insert("Gesta-Status", status.as_str());
    headers.insert("Content-Type", "application/problem+json");
    headers.insert("Nats-Service-Error", body.title.as_str());
    headers.insert("Nats-Service-Error-Code", status.as_str());
    Reply {
        status: body.status,
        headers,
        body: serde_json::to_vec(body).unwrap_or_default(),
        error: Some(format!("{}:{}: {}", body.status, body.title, body.detail)),
    }
}
