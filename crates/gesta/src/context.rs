//! The caller's metadata of a write, one struct from the transport to the log.
//!
//! A [`Context`] is made by whoever takes the request (the HTTP routes from headers, a
//! library caller by hand), travels inside [`crate::command::CommandRequest`] through
//! the middleware, then inside the writer's unit of work, and becomes the metadata
//! object stored with each event ([`Context::event_metadata`], read back as
//! [`crate::event::Metadata`]). The principal of an authenticated request travels in
//! it too: only the transport that checked the credentials sets it, and the metadata
//! records its name under `"principal"` (a caller cannot pass one of its own in the
//! extra metadata: that field is dropped).
//!
//! Commands pass through the middleware chain; direct appends ([`crate::Store::append`],
//! `POST /streams/{stream}`) do not: they carry no command name or payload for a
//! middleware to look at, being events decided elsewhere (imports, integration). They
//! take the same `Context`, so their events record correlation, causation and extra
//! metadata exactly as a command's do; a transport that guards appends does so by
//! stream, before calling `append`.

use uuid::Uuid;

use crate::Principal;

/// Caller context for a command or append: idempotency, ids, extra metadata.
///
/// ```
/// let ctx = gesta::Context {
///     correlation_id: Some("order-7".into()),
///     ..gesta::Context::default()
/// };
/// let meta = ctx.event_metadata(Some("PlaceOrder"), uuid::Uuid::nil());
/// assert_eq!(meta["correlation_id"], "order-7");
/// assert_eq!(meta["causation_id"], uuid::Uuid::nil().to_string());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// A retry with the same key returns the first outcome (at most 200 bytes).
    pub idempotency_key: Option<String>,
    /// Correlation id; defaults to the command id.
    pub correlation_id: Option<String>,
    /// Causation id; defaults to the command id.
    pub causation_id: Option<String>,
    /// Extra metadata for every event written.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Who is asking, as the transport authenticated them; `None` when unauthenticated.
    pub principal: Option<Principal>,
}

impl Context {
    /// The metadata object stored with each event written by command `command` (`None`
    /// for a direct append) with id `command_id`: the extra fields, then the ids and
    /// the principal's name, which win over extra fields of the same name (an extra
    /// `"principal"` is dropped even without a principal: only authentication says who).
    ///
    /// ```
    /// let mut ctx = gesta::Context::default();
    /// ctx.metadata.insert("principal".into(), "forged".into());
    /// assert!(!ctx.event_metadata(None, uuid::Uuid::nil()).contains_key("principal"));
    /// ctx.principal = Some(gesta::Principal::new("ann"));
    /// assert_eq!(ctx.event_metadata(None, uuid::Uuid::nil())["principal"], "ann");
    /// ```
    pub fn event_metadata(
        &self,
        command: Option<&str>,
        command_id: Uuid,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut map = self.metadata.clone();
        map.remove("principal");
        // The writer records the schema version of each event's type itself.
        map.remove(crate::event::upcast::SCHEMA_VERSION);
        // And which fields it sealed with which key.
        map.remove(crate::event::personal::PERSONAL);
        if let Some(principal) = &self.principal {
            map.insert("principal".into(), principal.name.clone().into());
        }
        let id = command_id.to_string();
        map.insert("command_id".into(), id.clone().into());
        if let Some(command) = command {
            map.insert("command".into(), command.into());
        }
        let correlation = self.correlation_id.clone().unwrap_or_else(|| id.clone());
        map.insert("correlation_id".into(), correlation.into());
        map.insert(
            "causation_id".into(),
            self.causation_id.clone().unwrap_or(id).into(),
        );
        map
    }
}
