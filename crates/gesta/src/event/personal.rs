//! Personal data in an append-only log: the right to be forgotten by crypto-shredding.
//!
//! A field declared personal (for every event of a type with [`crate::App::personal`],
//! or for one event with [`super::NewEvent::personal`]) belongs to a data subject (by
//! default the event's stream). The writer encrypts its value with the subject's key
//! (XChaCha20-Poly1305, a random 24-byte nonce, the event id and field name as
//! associated data) before the event reaches the log; the event's metadata records
//! which fields are sealed and with which key (`"personal": {"owner": "<key id>"}`).
//! Reducers, the command's answer and live subscribers get the plaintext; every read
//! of the log decrypts inside its read transaction (before upcasting), so handlers,
//! rebuilds, reactors and the wire see the plaintext while the key exists.
//!
//! Erasing a subject ([`crate::Store::erase`]) deletes its key in the transaction that
//! records a `gesta.subject_erased` event on the subject's stream: from then on every
//! read returns `null` for those fields, the reducers anonymize what they kept, and
//! snapshots that could hold the subject's data are dropped. Copies of the log
//! (`gesta copy`) carry the ciphertext and the keys; an erased subject's data is
//! gone from all of them at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as BASE64;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use serde_json::Value;

use super::{EventId, Json, NewEvent, RecordedEvent, StreamId, Timestamp};
use crate::{Error, Tx, params};

/// The metadata key listing an event's sealed fields and their keys.
pub const PERSONAL: &str = "personal";

/// The type of the event recording an erasure; its data is
/// `{"subject": "...", "key_found": true}`.
pub const SUBJECT_ERASED: &str = "gesta.subject_erased";

/// The nonce length of XChaCha20-Poly1305.
const NONCE_LEN: usize = 24;

/// A personal field of one event and the subject it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalField {
    /// The top-level field of the event's data.
    pub field: String,
    /// The data subject; `None` means the event's stream.
    pub subject: Option<String>,
}

/// The personal fields declared per event type (see [`crate::App::personal`]).
#[derive(Debug, Clone, Default)]
pub struct PersonalFields {
    types: HashMap<String, BTreeSet<String>>,
}

impl PersonalFields {
    /// Declares `field` of every `event_type` event personal, its subject the stream.
    pub fn add(&mut self, event_type: impl Into<String>, field: impl Into<String>) {
        self.types
            .entry(event_type.into())
            .or_default()
            .insert(field.into());
    }

    /// The personal fields of `event_type`.
    pub fn of(&self, event_type: &str) -> impl Iterator<Item = &str> {
        self.types
            .get(event_type)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// Whether no type has a personal field.
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }
}

/// The fields of `event` to seal, with their subjects: the type's declared ones and the
/// event's own, each once (the event's own subject wins).
pub(crate) fn fields_of(declared: &PersonalFields, event: &NewEvent) -> Vec<(String, String)> {
    let mut fields: BTreeMap<String, String> = declared
        .of(&event.event_type)
        .map(|f| (f.to_owned(), event.stream_id.as_str().to_owned()))
        .collect();
    for own in &event.personal {
        let subject = own
            .subject
            .clone()
            .unwrap_or_else(|| event.stream_id.as_str().to_owned());
        fields.insert(own.field.clone(), subject);
    }
    fields.into_iter().collect()
}

/// A subject's key as stored, copied between stores by `gesta copy` (the key travels
/// with the ciphertext it opens; an erasure in the copied log deletes it again).
#[derive(Clone, PartialEq, Eq)]
pub struct SubjectKey {
    /// The data subject.
    pub subject: String,
    /// The key's id, as named in events' metadata.
    pub key_id: String,
    /// The key, base64.
    pub secret: String,
    /// The position of the first event it sealed.
    pub first_position: u64,
    /// When it was made (microseconds since the epoch).
    pub created_at: i64,
}

impl std::fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubjectKey")
            .field("subject", &self.subject)
            .field("key_id", &self.key_id)
            .field("first_position", &self.first_position)
            .finish_non_exhaustive()
    }
}

/// The keys whose first sealed event is in `after + 1 ..= up_to`, in that order.
pub(crate) fn keys_between(
    tx: &mut Tx<'_>,
    after: u64,
    up_to: u64,
) -> Result<Vec<SubjectKey>, Error> {
    let rows = tx.query(
        "SELECT subject, key_id, secret, first_position, created_at FROM gesta_subject_keys \
         WHERE first_position > :after AND first_position <= :up_to ORDER BY first_position",
        &params! { "after" => after, "up_to" => up_to },
    )?;
    rows.iter()
        .map(|r| {
            Ok(SubjectKey {
                subject: r.get("subject")?,
                key_id: r.get("key_id")?,
                secret: r.get("secret")?,
                first_position: r.get("first_position")?,
                created_at: r.get("created_at")?,
            })
        })
        .collect()
}

/// Stores a copied key unless the target has it (or another key for its subject).
pub(crate) fn import_key(tx: &mut Tx<'_>, key: &SubjectKey) -> Result<(), Error> {
    decode_key(&key.secret)?;
    let taken: Option<String> = tx.query_scalar(
        "SELECT key_id FROM gesta_subject_keys WHERE subject = :subject OR key_id = :key_id",
        &params! { "subject" => key.subject.as_str(), "key_id" => key.key_id.as_str() },
    )?;
    if taken.is_none() {
        tx.execute(
            "INSERT INTO gesta_subject_keys (subject, key_id, secret, first_position, created_at) \
             VALUES (:subject, :key_id, :secret, :first, :at)",
            &params! {
                "subject" => key.subject.as_str(), "key_id" => key.key_id.as_str(),
                "secret" => key.secret.as_str(), "first" => key.first_position,
                "at" => key.created_at,
            },
        )?;
    }
    Ok(())
}

/// A copied `gesta.subject_erased` event erases in the target too.
pub(crate) fn import_erasure(tx: &mut Tx<'_>, event: &RecordedEvent) -> Result<(), Error> {
    if event.event_type != SUBJECT_ERASED {
        return Ok(());
    }
    let data: Value = event.data.parse().unwrap_or_default();
    if let Some(subject) = data["subject"].as_str() {
        tx.execute(
            "DELETE FROM gesta_subject_keys WHERE subject = :subject",
            &params! { "subject" => subject },
        )?;
        tx.execute(
            "DELETE FROM gesta_snapshots WHERE position < :at",
            &params! { "at" => event.position.0 },
        )?;
    }
    Ok(())
}

/// The keys a unit of work has used, by subject: one look-up per subject and unit.
#[derive(Default)]
pub(crate) struct Keyring {
    by_subject: HashMap<String, (String, Key)>,
}

impl Keyring {
    /// The subject's key, created (and stored, in the unit's transaction) if it has
    /// none; `position` is the first event it will seal.
    fn key_for(
        &mut self,
        tx: &mut Tx<'_>,
        subject: &str,
        position: u64,
    ) -> Result<&(String, Key), Error> {
        if !self.by_subject.contains_key(subject) {
            check_subject(subject)?;
            let found = tx.query(
                "SELECT key_id, secret FROM gesta_subject_keys WHERE subject = :subject",
                &params! { "subject" => subject },
            )?;
            let entry = match found.first() {
                Some(row) => (
                    row.get::<String>("key_id")?,
                    decode_key(&row.get::<String>("secret")?)?,
                ),
                None => {
                    let key = XChaCha20Poly1305::generate_key(&mut OsRng);
                    // Time-ordered: a new key appends to the key-id index instead of dirtying a
                    // random page of it in every commit.
                    let key_id = uuid::Uuid::now_v7().simple().to_string();
                    tx.execute(
                        "INSERT INTO gesta_subject_keys (subject, key_id, secret, first_position, created_at) \
                         VALUES (:subject, :key_id, :secret, :first, :at)",
                        &params! {
                            "subject" => subject, "key_id" => key_id.as_str(),
                            "secret" => BASE64.encode(key), "first" => position,
                            "at" => Timestamp::now().0,
                        },
                    )?;
                    (key_id, key)
                }
            };
            self.by_subject.insert(subject.to_owned(), entry);
        }
        Ok(&self.by_subject[subject])
    }
}

/// A subject is named like a stream (1 to 200 bytes, no control characters), so the
/// erasure event can go to a stream of that name.
fn check_subject(subject: &str) -> Result<StreamId, Error> {
    StreamId::new(subject).map_err(|e| Error::invalid("subject", e.to_string()))
}

fn decode_key(secret: &str) -> Result<Key, Error> {
    let bytes = BASE64
        .decode(secret)
        .map_err(|e| Error::internal(format!("gesta_subject_keys.secret: {e}")))?;
    if bytes.len() != 32 {
        return Err(Error::internal(
            "gesta_subject_keys.secret: not a 32-byte key",
        ));
    }
    Ok(*Key::from_slice(&bytes))
}

fn associated_data(event: &EventId, field: &str) -> String {
    format!("{event}/{field}")
}

/// Sealed data, and which key sealed each field (`{"field": "key id"}`).
pub(crate) type Sealed = (Json, serde_json::Map<String, Value>);

/// Encrypts `fields` of `data` (a JSON object; absent and `null` fields are left
/// alone) for the event `id` at `position`. The sealed data and which key sealed each
/// field, or `None` when there was nothing to seal.
pub(crate) fn seal(
    tx: &mut Tx<'_>,
    keys: &mut Keyring,
    id: &EventId,
    position: u64,
    data: &Json,
    fields: &[(String, String)],
) -> Result<Option<Sealed>, Error> {
    let mut value: Value = data
        .parse()
        .map_err(|e| Error::invalid("data", e.to_string()))?;
    let Some(object) = value.as_object_mut() else {
        return Err(Error::invalid(
            "data",
            "an event with personal fields must carry a JSON object",
        ));
    };
    let mut sealed = serde_json::Map::new();
    for (field, subject) in fields {
        let Some(plain) = object.get_mut(field) else {
            continue;
        };
        if plain.is_null() {
            continue;
        }
        let (key_id, key) = keys.key_for(tx, subject, position)?;
        let cipher = XChaCha20Poly1305::new(key);
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let text = plain.to_string();
        let aad = associated_data(id, field);
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: text.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| Error::internal("encrypting a personal field failed"))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&ciphertext);
        *plain = Value::String(BASE64.encode(bytes));
        sealed.insert(field.clone(), Value::String(key_id.clone()));
    }
    if sealed.is_empty() {
        return Ok(None);
    }
    let data = Json::from_value(&value).map_err(|e| Error::invalid("data", e.to_string()))?;
    Ok(Some((data, sealed)))
}

/// The sealed fields and key ids an event's metadata names, if any.
fn sealed_fields(metadata: &Json) -> Option<BTreeMap<String, String>> {
    // Most events have none: a substring test before parsing.
    if !metadata.get().contains("\"personal\"") {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Marked {
        personal: Option<BTreeMap<String, String>>,
    }
    serde_json::from_str::<Marked>(metadata.get())
        .ok()?
        .personal
        .filter(|p| !p.is_empty())
}

/// A copy of `event` with its personal fields (those its metadata names as sealed) set
/// to `null`, or `None` when it has none: for sending events where an erasure cannot
/// follow them, such as a broker's durable stream.
///
/// ```
/// use gesta::event::{personal, EventId, Json, Position, RecordedEvent, StreamId, StreamVersion, Timestamp};
/// let event = RecordedEvent {
///     position: Position(1),
///     stream_id: StreamId::new("account-1").unwrap(),
///     stream_version: StreamVersion(1),
///     id: EventId::new_v7(),
///     event_type: "AccountOpened".into(),
///     data: Json::from_value(&serde_json::json!({"owner": "Ada", "id": "1"})).unwrap(),
///     metadata: Json::from_value(&serde_json::json!({"personal": {"owner": "k1"}})).unwrap(),
///     recorded_at: Timestamp::now(),
/// };
/// let shown = personal::redacted(&event).unwrap();
/// assert_eq!(shown.data.get(), r#"{"id":"1","owner":null}"#);
/// ```
pub fn redacted(event: &RecordedEvent) -> Option<RecordedEvent> {
    let fields = sealed_fields(&event.metadata)?;
    let mut value: Value = event.data.parse().ok()?;
    let object = value.as_object_mut()?;
    for field in fields.keys() {
        if let Some(slot) = object.get_mut(field) {
            *slot = Value::Null;
        }
    }
    let data = Json::from_value(&value).ok()?;
    Some(RecordedEvent {
        data,
        ..event.clone()
    })
}

/// Decrypts the sealed fields of `events` with the keys in the store; a field whose
/// key is gone (erased) reads as `null`. Runs inside the read's transaction.
pub(crate) fn open_all(tx: &mut Tx<'_>, events: &mut [RecordedEvent]) -> Result<(), Error> {
    let marked: Vec<(usize, BTreeMap<String, String>)> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| sealed_fields(&e.metadata).map(|f| (i, f)))
        .collect();
    if marked.is_empty() {
        return Ok(());
    }
    let wanted: BTreeSet<&str> = marked
        .iter()
        .flat_map(|(_, fields)| fields.values().map(String::as_str))
        .collect();
    let wanted: Vec<&str> = wanted.into_iter().collect();
    let mut keys = HashMap::new();
    for chunk in wanted.chunks(200) {
        let (list, params) = crate::sql::in_list("k", chunk.iter().copied());
        let sql = format!("SELECT key_id, secret FROM gesta_subject_keys WHERE key_id IN ({list})");
        for row in tx.query(&sql, &params)? {
            keys.insert(
                row.get::<String>("key_id")?,
                decode_key(&row.get::<String>("secret")?)?,
            );
        }
    }
    for (i, fields) in marked {
        open(&mut events[i], &fields, &keys)?;
    }
    Ok(())
}

fn open(
    event: &mut RecordedEvent,
    fields: &BTreeMap<String, String>,
    keys: &HashMap<String, Key>,
) -> Result<(), Error> {
    let Ok(mut value) = event.data.parse::<Value>() else {
        return Ok(());
    };
    let Some(object) = value.as_object_mut() else {
        return Ok(());
    };
    for (field, key_id) in fields {
        let Some(slot) = object.get_mut(field) else {
            continue;
        };
        let plain = match (slot.as_str(), keys.get(key_id)) {
            (Some(sealed), Some(key)) => decrypt(key, &event.id, field, sealed),
            _ => None,
        };
        if plain.is_none() && keys.contains_key(key_id) {
            tracing::warn!(
                position = event.position.0,
                field,
                "a sealed field does not decrypt"
            );
        }
        *slot = plain.unwrap_or(Value::Null);
    }
    event.data = Json::from_value(&value).map_err(|e| Error::internal(e.to_string()))?;
    Ok(())
}

fn decrypt(key: &Key, id: &EventId, field: &str, sealed: &str) -> Option<Value> {
    let bytes = BASE64.decode(sealed).ok()?;
    if bytes.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
    let aad = associated_data(id, field);
    let plain = XChaCha20Poly1305::new(key)
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: aad.as_bytes(),
            },
        )
        .ok()?;
    serde_json::from_slice(&plain).ok()
}

/// Deletes `subject`'s key and the snapshots that could hold its data (taken at or
/// after the first event it sealed), and returns the `gesta.subject_erased` event to
/// record on the subject's stream, in the same transaction.
pub(crate) fn erase(tx: &mut Tx<'_>, subject: &str) -> Result<NewEvent, Error> {
    let stream = check_subject(subject)?;
    let first: Option<i64> = tx.query_scalar(
        "SELECT first_position FROM gesta_subject_keys WHERE subject = :subject",
        &params! { "subject" => subject },
    )?;
    if let Some(first) = first {
        tx.execute(
            "DELETE FROM gesta_subject_keys WHERE subject = :subject",
            &params! { "subject" => subject },
        )?;
        tx.execute(
            "DELETE FROM gesta_snapshots WHERE position >= :first",
            &params! { "first" => first },
        )?;
    }
    let data = serde_json::json!({"subject": subject, "key_found": first.is_some()});
    NewEvent::new(stream, SUBJECT_ERASED, &data)
        .map_err(|e| Error::invalid("subject", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_field_opens_only_with_its_key_event_and_field() {
        let key = XChaCha20Poly1305::generate_key(&mut OsRng);
        let id = EventId::new_v7();
        let cipher = XChaCha20Poly1305::new(&key);
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = associated_data(&id, "owner");
        let ct = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: b"\"Ann\"",
                    aad: aad.as_bytes(),
                },
            )
            .unwrap();
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&ct);
        let sealed = BASE64.encode(bytes);
        assert_eq!(
            decrypt(&key, &id, "owner", &sealed),
            Some(Value::from("Ann"))
        );
        assert_eq!(
            decrypt(&key, &id, "name", &sealed),
            None,
            "bound to its field"
        );
        assert_eq!(
            decrypt(&key, &EventId::new_v7(), "owner", &sealed),
            None,
            "and event"
        );
        let other = XChaCha20Poly1305::generate_key(&mut OsRng);
        assert_eq!(decrypt(&other, &id, "owner", &sealed), None);
        assert_eq!(decrypt(&key, &id, "owner", "not base64!"), None);
        assert_eq!(decrypt(&key, &id, "owner", "AAAA"), None);
    }

    #[test]
    fn only_a_top_level_personal_object_marks_an_event() {
        let marked = |text: &str| sealed_fields(&Json::from_text(text.into()).unwrap());
        assert_eq!(
            marked(r#"{"personal": {"owner": "k1"}}"#).unwrap()["owner"],
            "k1"
        );
        assert!(marked(r#"{"note": {"personal": {"owner": "k1"}}}"#).is_none());
        assert!(marked(r#"{"note": "\"personal\""}"#).is_none());
        assert!(marked(r#"{"personal": {}}"#).is_none());
    }
}
