//! The CloudEvents 1.0 JSON form of an event (structured content mode).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::{Json, RecordedEvent};

/// A recorded event as a CloudEvents 1.0 JSON object, with Gesta's extension
/// attributes `position`, `streamversion`, `commandid`, `correlationid`, `causationid`
/// and `principal` (who made the change, when the request was authenticated).
#[derive(Debug, Serialize)]
pub struct CloudEvent<'a> {
    /// Always `"1.0"`.
    pub specversion: &'static str,
    /// The event id.
    pub id: String,
    /// `/streams/{stream}`.
    pub source: String,
    /// The event type.
    #[serde(rename = "type")]
    pub event_type: &'a str,
    /// The stream id.
    pub subject: &'a str,
    /// Commit time, RFC 3339.
    pub time: String,
    /// Always `"application/json"`.
    pub datacontenttype: &'static str,
    /// The payload.
    pub data: &'a Json,
    /// Global position.
    pub position: u64,
    /// Version within the stream.
    pub streamversion: u64,
    /// The command that wrote the event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commandid: Option<String>,
    /// Correlation id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlationid: Option<String>,
    /// Causation id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub causationid: Option<String>,
    /// The authenticated principal whose request wrote the event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The full metadata object.
    pub metadata: &'a Json,
}

impl<'a> CloudEvent<'a> {
    /// Builds the CloudEvents form of `event`.
    pub fn from_recorded(event: &'a RecordedEvent) -> Self {
        let meta = Ids::of(event);
        CloudEvent {
            specversion: "1.0",
            id: event.id.to_string(),
            source: format!("/streams/{}", event.stream_id),
            event_type: &event.event_type,
            subject: event.stream_id.as_str(),
            time: event.recorded_at.to_rfc3339(),
            datacontenttype: "application/json",
            data: &event.data,
            position: event.position.0,
            streamversion: event.stream_version.0,
            commandid: meta.command_id.map(Cow::into_owned),
            correlationid: meta.correlation_id.map(Cow::into_owned),
            causationid: meta.causation_id.map(Cow::into_owned),
            principal: meta.principal.and_then(Text::into_str).map(Cow::into_owned),
            metadata: &event.metadata,
        }
    }
}

impl CloudEvent<'_> {
    /// The compact JSON text of this CloudEvent, on one line: the same document as
    /// `serde_json::to_string(self)`, written directly, with `data` and `metadata`
    /// copied as stored (checked JSON) instead of parsed again, and any line break
    /// between their tokens written as a space (the same JSON). This runs once for
    /// every event sent to subscribers.
    ///
    /// ```
    /// # use gesta::event::RecordedEvent;
    /// # fn f(event: &RecordedEvent) {
    /// let cloudevent = event.to_cloudevent();
    /// let text = cloudevent.to_json();
    /// assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(),
    ///            serde_json::to_value(&cloudevent).unwrap());
    /// # }
    /// ```
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(
            320 + self.data.get().len() + self.metadata.get().len() + 2 * self.subject.len(),
        );
        out.push_str(r#"{"specversion":"#);
        string(&mut out, self.specversion);
        out.push_str(r#","id":"#);
        string(&mut out, &self.id);
        out.push_str(r#","source":"#);
        string(&mut out, &self.source);
        out.push_str(r#","type":"#);
        string(&mut out, self.event_type);
        out.push_str(r#","subject":"#);
        string(&mut out, self.subject);
        out.push_str(r#","time":"#);
        string(&mut out, &self.time);
        out.push_str(r#","datacontenttype":"#);
        string(&mut out, self.datacontenttype);
        out.push_str(r#","data":"#);
        raw(&mut out, self.data);
        out.push_str(&format!(
            r#","position":{},"streamversion":{}"#,
            self.position, self.streamversion
        ));
        for (name, value) in [
            (r#","commandid":"#, &self.commandid),
            (r#","correlationid":"#, &self.correlationid),
            (r#","causationid":"#, &self.causationid),
            (r#","principal":"#, &self.principal),
        ] {
            if let Some(value) = value {
                out.push_str(name);
                string(&mut out, value);
            }
        }
        out.push_str(r#","metadata":"#);
        raw(&mut out, self.metadata);
        out.push('}');
        out
    }
}

/// Appends `text` as a JSON string.
fn string(out: &mut String, text: &str) {
    // Serializing a str into a String cannot fail.
    if let Ok(quoted) = serde_json::to_string(text) {
        out.push_str(&quoted);
    }
}

/// Appends checked JSON as it is, with a line break between tokens (the only place
/// one can be: inside strings they are escaped) written as a space.
fn raw(out: &mut String, json: &Json) {
    let text = json.get();
    if text.bytes().any(|b| b == b'\n' || b == b'\r') {
        out.extend(text.chars().map(|c| match c {
            '\n' | '\r' => ' ',
            c => c,
        }));
    } else {
        out.push_str(text);
    }
}

/// The ids a CloudEvent repeats from the metadata, read without building the rest of
/// it (this runs for every event sent to subscribers).
#[derive(Default, Deserialize)]
struct Ids<'a> {
    #[serde(default, borrow)]
    command_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    correlation_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    causation_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    principal: Option<Text<'a>>,
}

/// A metadata field that is a string, or was something else in an older event
/// (extra metadata could carry any `"principal"` before it was Gesta's).
#[derive(Deserialize)]
#[serde(untagged)]
enum Text<'a> {
    Str(#[serde(borrow)] Cow<'a, str>),
    Other(serde::de::IgnoredAny),
}

impl<'a> Text<'a> {
    fn into_str(self) -> Option<Cow<'a, str>> {
        match self {
            Text::Str(s) => Some(s),
            Text::Other(_) => None,
        }
    }
}

impl<'a> Ids<'a> {
    /// The ids in `event`'s metadata; none if it cannot be read as such (as
    /// [`RecordedEvent::metadata`] would give).
    fn of(event: &'a RecordedEvent) -> Self {
        serde_json::from_str(event.metadata.get()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventId, Position, StreamId, StreamVersion, Timestamp};

    fn event_with(metadata: &str) -> RecordedEvent {
        RecordedEvent {
            position: Position(3),
            stream_id: StreamId::new("account-1").unwrap(),
            stream_version: StreamVersion(1),
            id: EventId::new_v7(),
            event_type: "Opened".into(),
            data: Json::from_text("{}".into()).unwrap(),
            metadata: Json::from_text(metadata.into()).unwrap(),
            recorded_at: Timestamp::now(),
        }
    }

    #[test]
    fn ids_are_taken_from_the_metadata_and_the_rest_is_kept_whole() {
        let metadata = r#"{"command_id":"0191f0c4-8f4e-7d2a-9c3b-1a2b3c4d5e6f","command":"Open","correlation_id":"req-\"7\"","causation_id":"c","tenant":{"id":1}}"#;
        let event = event_with(metadata);
        let json = serde_json::to_value(event.to_cloudevent()).unwrap();
        assert_eq!(json["commandid"], "0191f0c4-8f4e-7d2a-9c3b-1a2b3c4d5e6f");
        assert_eq!(json["correlationid"], "req-\"7\"");
        assert_eq!(json["causationid"], "c");
        assert_eq!(json["metadata"]["tenant"]["id"], 1);
    }

    #[test]
    fn the_principal_is_an_attribute_and_an_older_non_string_one_is_left_out() {
        let event = event_with(r#"{"command_id":"c1","principal":"key-ann"}"#);
        let json: serde_json::Value =
            serde_json::from_str(&event.to_cloudevent().to_json()).unwrap();
        assert_eq!(json["principal"], "key-ann");
        let id = "0191f0c4-8f4e-7d2a-9c3b-1a2b3c4d5e6f";
        let older = event_with(&format!(
            r#"{{"command_id":"{id}","principal":{{"user":7}}}}"#
        ));
        let json = serde_json::to_value(older.to_cloudevent()).unwrap();
        assert!(json.get("principal").is_none());
        assert_eq!(json["commandid"], id, "the other ids are still read");
        let meta = older.metadata();
        assert_eq!(meta.principal, None);
        assert_eq!(meta.command_id.map(|u| u.to_string()).as_deref(), Some(id));
    }

    #[test]
    fn to_json_is_the_serde_document_on_one_line() {
        let metadata = r#"{"command_id":"0191f0c4-8f4e-7d2a-9c3b-1a2b3c4d5e6f","correlation_id":"é \"q\"\n","x":[1,{"y":null}]}"#;
        for (data, metadata) in [
            ("{}", "{}"),
            (
                r#"{"a":"line\nbreak","b":[1,2.5,true,null],"c":"\u00e9\t"}"#,
                metadata,
            ),
            ("{\r\n  \"spaced\" : [ 1 ,\n 2 ]\n}", metadata),
            ("\"just a string\"", "{}"),
        ] {
            let mut event = event_with(metadata);
            event.data = Json::from_text(data.into()).unwrap();
            event.event_type = "Odd \"type\"\u{1}".into();
            let cloudevent = event.to_cloudevent();
            let text = cloudevent.to_json();
            assert!(!text.contains(['\n', '\r']), "{text}");
            let ours: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(ours, serde_json::to_value(&cloudevent).unwrap(), "{text}");
            if !data.contains(['\n', '\r']) {
                assert_eq!(text, serde_json::to_string(&cloudevent).unwrap());
            }
        }
    }

    #[test]
    fn metadata_without_the_ids_or_of_another_shape_gives_none() {
        for metadata in [r#"{}"#, r#"{"command_id":5}"#, r#"[1,2]"#] {
            let json = serde_json::to_value(event_with(metadata).to_cloudevent()).unwrap();
            assert!(json.get("commandid").is_none(), "{metadata}");
            assert!(json.get("correlationid").is_none(), "{metadata}");
        }
    }
}
