//! Appends: expected versions, stream versions, event ids.

use gesta::event::{EventId, Position, StreamVersion};
use gesta::{Error, ExpectedVersion};
use uuid::Uuid;

use crate::app::Note;
use crate::check::{self, append, noted, sid, wrong_version};
use crate::harness::TestDb;

conformance!(
    exact_version,
    no_stream,
    stream_exists,
    any_version,
    command_expected_version,
    generated_ids_are_v7,
    client_ids_are_kept,
    duplicate_event_id,
    awkward_text_round_trips,
);

fn versions(outcome: &gesta::CommandOutcome) -> Vec<u64> {
    outcome.events.iter().map(|e| e.stream_version.0).collect()
}

fn positions(outcome: &gesta::CommandOutcome) -> Vec<u64> {
    outcome.events.iter().map(|e| e.position.0).collect()
}

async fn exact_version(b: TestDb) {
    let store = b.open().await;
    let first = append(
        &store,
        "order-1",
        ExpectedVersion::Exact(0),
        noted("order-1", "a", 3),
    );
    let first = first.await.unwrap();
    assert_eq!(versions(&first), [1, 2, 3]);
    assert_eq!(positions(&first), [1, 2, 3]);
    assert_eq!(first.position, Some(Position(3)));
    let next = append(
        &store,
        "order-1",
        ExpectedVersion::Exact(3),
        noted("order-1", "b", 2),
    );
    assert_eq!(versions(&next.await.unwrap()), [4, 5]);

    let stale = append(
        &store,
        "order-1",
        ExpectedVersion::Exact(3),
        noted("order-1", "c", 1),
    );
    wrong_version(
        stale.await.unwrap_err(),
        "order-1",
        ExpectedVersion::Exact(3),
        5,
    );
    let ahead = append(
        &store,
        "order-1",
        ExpectedVersion::Exact(9),
        noted("order-1", "d", 1),
    );
    wrong_version(
        ahead.await.unwrap_err(),
        "order-1",
        ExpectedVersion::Exact(9),
        5,
    );
    let absent = append(
        &store,
        "order-2",
        ExpectedVersion::Exact(1),
        noted("order-2", "e", 1),
    );
    wrong_version(
        absent.await.unwrap_err(),
        "order-2",
        ExpectedVersion::Exact(1),
        0,
    );

    let log = check::gap_free_log(&store).await;
    assert_eq!(log.len(), 5, "a conflict appended something");
    check::read_model_matches_log(&store, &log).await;
    let missing = store
        .read_stream(&sid("order-2"), StreamVersion(1), 10)
        .await;
    assert!(matches!(missing, Err(Error::StreamNotFound(_))));
}

async fn no_stream(b: TestDb) {
    let store = b.open().await;
    let created = append(
        &store,
        "cart-1",
        ExpectedVersion::NoStream,
        noted("cart-1", "a", 2),
    );
    assert_eq!(versions(&created.await.unwrap()), [1, 2]);
    let again = append(
        &store,
        "cart-1",
        ExpectedVersion::NoStream,
        noted("cart-1", "b", 1),
    );
    wrong_version(
        again.await.unwrap_err(),
        "cart-1",
        ExpectedVersion::NoStream,
        2,
    );
    let zero = append(
        &store,
        "cart-1",
        ExpectedVersion::Exact(0),
        noted("cart-1", "c", 1),
    );
    wrong_version(
        zero.await.unwrap_err(),
        "cart-1",
        ExpectedVersion::Exact(0),
        2,
    );
    let log = check::gap_free_log(&store).await;
    assert_eq!(log.len(), 2);
    check::read_model_matches_log(&store, &log).await;
}

async fn stream_exists(b: TestDb) {
    let store = b.open().await;
    let absent = append(
        &store,
        "job-1",
        ExpectedVersion::StreamExists,
        noted("job-1", "a", 1),
    );
    wrong_version(
        absent.await.unwrap_err(),
        "job-1",
        ExpectedVersion::StreamExists,
        0,
    );
    assert!(check::gap_free_log(&store).await.is_empty());
    let created = append(
        &store,
        "job-1",
        ExpectedVersion::Any,
        noted("job-1", "b", 1),
    );
    created.await.unwrap();
    let exists = append(
        &store,
        "job-1",
        ExpectedVersion::StreamExists,
        noted("job-1", "c", 2),
    );
    assert_eq!(versions(&exists.await.unwrap()), [2, 3]);
    assert_eq!(check::gap_free_log(&store).await.len(), 3);
}

async fn any_version(b: TestDb) {
    let store = b.open().await;
    for (round, tag) in ["a", "b", "c"].into_iter().enumerate() {
        let outcome = append(
            &store,
            "log-1",
            ExpectedVersion::Any,
            noted("log-1", tag, 2),
        );
        let outcome = outcome.await.unwrap();
        let first = round as u64 * 2 + 1;
        assert_eq!(versions(&outcome), [first, first + 1]);
    }
    let log = check::gap_free_log(&store).await;
    assert_eq!(log.len(), 6);
    check::read_model_matches_log(&store, &log).await;
}

/// Handlers state expected versions on their events; a mismatch fails the command.
async fn command_expected_version(b: TestDb) {
    let store = b.open().await;
    let open = Note::new("acct-1", "open", 2).expect(ExpectedVersion::NoStream);
    assert_eq!(
        versions(&store.dispatch(open.clone()).await.unwrap()),
        [1, 2]
    );
    let err = store.dispatch(open).await.unwrap_err();
    wrong_version(err, "acct-1", ExpectedVersion::NoStream, 2);
    let next = Note::new("acct-1", "next", 1).expect(ExpectedVersion::Exact(2));
    assert_eq!(versions(&store.dispatch(next.clone()).await.unwrap()), [3]);
    wrong_version(
        store.dispatch(next).await.unwrap_err(),
        "acct-1",
        ExpectedVersion::Exact(2),
        3,
    );
    let exists = Note::new("acct-2", "x", 1).expect(ExpectedVersion::StreamExists);
    wrong_version(
        store.dispatch(exists).await.unwrap_err(),
        "acct-2",
        ExpectedVersion::StreamExists,
        0,
    );
    let log = check::gap_free_log(&store).await;
    assert_eq!(log.len(), 3);
    check::read_model_matches_log(&store, &log).await;
}

async fn generated_ids_are_v7(b: TestDb) {
    let store = b.open().await;
    let dispatched = store.dispatch(Note::new("ids-1", "a", 3)).await.unwrap();
    let appended = append(
        &store,
        "ids-2",
        ExpectedVersion::Any,
        noted("ids-2", "b", 2),
    );
    let appended = appended.await.unwrap();
    let log = check::gap_free_log(&store).await;
    assert_eq!(log.len(), 5);
    for event in &log {
        assert_eq!(
            event.id.0.get_version_num(),
            7,
            "{} is not a v7 UUID",
            event.id
        );
    }
    let mut ids: Vec<EventId> = log.iter().map(|e| e.id).collect();
    ids.sort_by_key(|id| id.0);
    ids.dedup();
    assert_eq!(ids.len(), 5, "generated ids repeat");
    check::outcome_in_log(&dispatched, &log);
    check::outcome_in_log(&appended, &log);
}

async fn client_ids_are_kept(b: TestDb) {
    let store = b.open().await;
    let v4 = EventId(Uuid::new_v4());
    let v7 = EventId(Uuid::now_v7());
    let mut events = noted("ids-1", "a", 3);
    events[0] = events[0].clone().with_id(v4);
    events[2] = events[2].clone().with_id(v7);
    let outcome = append(&store, "ids-1", ExpectedVersion::NoStream, events);
    let outcome = outcome.await.unwrap();
    assert_eq!(outcome.events[0].id, v4);
    assert_eq!(outcome.events[2].id, v7);
    assert_eq!(outcome.events[1].id.0.get_version_num(), 7);
    let stored = store.read_stream(&sid("ids-1"), StreamVersion(1), 10).await;
    let stored: Vec<EventId> = stored.unwrap().iter().map(|e| e.id).collect();
    assert_eq!(stored, [v4, outcome.events[1].id, v7]);
}

async fn duplicate_event_id(b: TestDb) {
    let store = b.open().await;
    let taken = EventId(Uuid::new_v4());
    let events = vec![noted("dup-1", "a", 1)[0].clone().with_id(taken)];
    append(&store, "dup-1", ExpectedVersion::Any, events)
        .await
        .unwrap();

    // The second event of a batch reuses a stored id: the whole append is refused.
    let mut events = noted("dup-2", "b", 2);
    events[1] = events[1].clone().with_id(taken);
    let err = append(&store, "dup-2", ExpectedVersion::Any, events).await;
    assert!(
        matches!(err, Err(Error::DuplicateEventId(id)) if id == taken),
        "{err:?}"
    );

    // Two events of one append share a new id.
    let fresh = EventId(Uuid::now_v7());
    let mut events = noted("dup-3", "c", 2);
    events[0] = events[0].clone().with_id(fresh);
    events[1] = events[1].clone().with_id(fresh);
    let err = append(&store, "dup-3", ExpectedVersion::Any, events).await;
    assert!(
        matches!(err, Err(Error::DuplicateEventId(id)) if id == fresh),
        "{err:?}"
    );

    let log = check::gap_free_log(&store).await;
    assert_eq!(log.len(), 1, "a refused append left events behind");
    check::read_model_matches_log(&store, &log).await;
    let next = append(
        &store,
        "dup-2",
        ExpectedVersion::NoStream,
        noted("dup-2", "d", 1),
    );
    assert_eq!(positions(&next.await.unwrap()), [2]);
}

/// Stream ids, event types and payloads with quotes, backslashes, escapes, non-ASCII
/// text and numbers at the edges reach the log and come back as they went in, however
/// the writer sends them (multi-row statements, or one JSON parameter on PostgreSQL).
async fn awkward_text_round_trips(b: TestDb) {
    let store = b.open().await;
    let stream = r#"odd-"quoted"\back\slash-é-日本-🦀"#;
    let data = serde_json::json!({
        "quote": "she said \"hi\"",
        "backslash": "C:\\temp\\new",
        "escapes": "tab\tline\nend\u{1}",
        "unicode": "ünïcödé 日本語 🦀",
        "big": 9_007_199_254_740_993_u64,
        "negative": -12.5e-3,
        "nested": {"list": [1, "two", null, true, {"k": "v"}]},
    });
    let events = vec![
        gesta::event::NewEvent::new(stream, "Typé \"odd\"", &data).unwrap(),
        gesta::event::NewEvent::new(stream, "plain", &serde_json::json!({})).unwrap(),
    ];
    let outcome = append(&store, stream, ExpectedVersion::NoStream, events)
        .await
        .unwrap();
    let stored = store
        .read_stream(&sid(stream), StreamVersion(1), 10)
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].stream_id.as_str(), stream);
    assert_eq!(stored[0].event_type, "Typé \"odd\"");
    let back: serde_json::Value = stored[0].data_as().unwrap();
    assert_eq!(back, data);
    assert_eq!(stored[0].id, outcome.events[0].id);
    assert_eq!(stored[0].recorded_at, outcome.events[0].recorded_at);
    let metadata: serde_json::Value = serde_json::from_str(stored[1].metadata.get()).unwrap();
    let sent: serde_json::Value = serde_json::from_str(outcome.events[1].metadata.get()).unwrap();
    assert_eq!(metadata, sent);
    // The stream's version was stored too: the next append expects 2 and gets 3.
    let next = gesta::event::NewEvent::new(stream, "plain", &serde_json::json!({})).unwrap();
    let third = append(&store, stream, ExpectedVersion::Exact(2), vec![next])
        .await
        .unwrap();
    assert_eq!(third.events[0].stream_version, StreamVersion(3));
}
