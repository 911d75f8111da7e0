//! Group commit: many commands in one transaction. A failing command gets its own
//! error and leaves nothing behind; the others commit (ADR 013: a failure after writes
//! rolls back to the writer's savepoint and redoes the commands since).

use std::collections::BTreeSet;
use std::time::Duration;

use gesta::event::{Position, StreamVersion};
use gesta::{CommandOutcome, Context, Error, ExpectedVersion, RejectionKind};
use tokio::task::JoinSet;

use crate::app::{Mode, Note};
use crate::check::{self, TallyRow, sid, wrong_version};
use crate::harness::TestDb;

conformance!(
    failures_are_isolated,
    reducer_failure_rolls_back_command,
    commands_see_earlier_commands,
    late_failures_keep_what_came_before,
);

const MODES: [Mode; 6] = [
    Mode::Commit,
    Mode::Reject,
    Mode::Fail,
    Mode::Panic,
    Mode::PoisonReducer,
    Mode::WriteThenFail,
];

/// Command `i` of the isolation test.
fn command(i: usize) -> Note {
    let stream = format!("iso-{}", i % 7);
    Note::new(&stream, &format!("t{i}"), 1 + (i % 3) as u32).mode(MODES[i % MODES.len()])
}

/// Asserts `result` is what command `i`'s mode calls for, naming command `i` itself.
fn check_result(i: usize, result: &Result<CommandOutcome, Error>) {
    let tag = format!("t{i}");
    match (MODES[i % MODES.len()], result) {
        (Mode::Commit, Ok(outcome)) => {
            assert_eq!(outcome.events.len(), 1 + i % 3);
            assert!(outcome.events.iter().all(|e| e.data.get().contains(&tag)));
        }
        (Mode::Reject, Err(Error::Rejected(r))) => {
            assert_eq!(r.kind, RejectionKind::Conflict);
            assert_eq!(r.message, format!("{tag} refused"));
        }
        (Mode::Fail, Err(Error::HandlerFailed { command, message })) => {
            assert_eq!(
                (command.as_str(), message),
                ("Note", &format!("{tag} failed"))
            );
        }
        (Mode::Panic, Err(Error::HandlerPanicked { command, message })) => {
            assert_eq!(
                (command.as_str(), message),
                ("Note", &format!("{tag} panicked"))
            );
        }
        (
            Mode::PoisonReducer,
            Err(Error::ReducerFailed {
                read_model,
                message,
            }),
        ) => {
            assert_eq!(read_model, "notes");
            assert!(message.contains(&format!("{tag} is poisoned")), "{message}");
        }
        (Mode::WriteThenFail, Err(Error::HandlerFailed { message, .. })) => {
            assert_eq!(message, &format!("{tag} failed late"));
        }
        (mode, other) => panic!("command {i} ({mode:?}) ended with {other:?}"),
    }
}

async fn failures_are_isolated(b: TestDb) {
    let store = b.open().await;
    // Keep the writer busy so the commands below queue up behind it; the writer then
    // takes all of them (up to `max_batch`) into one transaction.
    let blocker = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .dispatch(Note::new("blocker", "blocker", 1).mode(Mode::SleepMs(300)))
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let count = 240;
    let mut tasks = JoinSet::new();
    for i in 0..count {
        let store = store.clone();
        tasks.spawn(async move { (i, store.dispatch(command(i)).await) });
    }
    let mut committed = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (i, result) = joined.unwrap();
        check_result(i, &result);
        if let Ok(outcome) = result {
            committed.push(outcome);
        }
    }
    let blocker = blocker.await.unwrap().unwrap();
    committed.push(blocker);

    let log = check::gap_free_log(&store).await;
    let written: usize = committed.iter().map(|o| o.events.len()).sum();
    assert_eq!(
        log.len(),
        written,
        "the log holds events of failed commands"
    );
    for outcome in &committed {
        check::outcome_in_log(outcome, &log);
    }
    check::read_model_matches_log(&store, &log).await;
}

/// The reducer refuses the last of three events: the first two, already applied to the
/// read model, are rolled back with the command.
async fn reducer_failure_rolls_back_command(b: TestDb) {
    let store = b.open().await;
    let poisoned = Note::new("p-1", "bad", 3).mode(Mode::PoisonReducer);
    let err = store.dispatch(poisoned).await.unwrap_err();
    assert!(matches!(&err, Error::ReducerFailed { read_model, .. } if read_model == "notes"));
    let late = Note::new("p-1", "late", 1).mode(Mode::WriteThenFail);
    assert!(matches!(
        store.dispatch(late).await,
        Err(Error::HandlerFailed { .. })
    ));
    assert_eq!(store.last_position(), Position(0));
    let missing = store.read_stream(&sid("p-1"), StreamVersion(1), 10).await;
    assert!(matches!(missing, Err(Error::StreamNotFound(_))));
    assert!(check::notes(&store).await.is_empty());
    assert!(
        check::tallies(&store).await.is_empty(),
        "reducer writes survived"
    );

    let good = store.dispatch(Note::new("p-1", "good", 2)).await.unwrap();
    let placed: Vec<(u64, u64)> = good
        .events
        .iter()
        .map(|e| (e.position.0, e.stream_version.0))
        .collect();
    assert_eq!(placed, [(1, 1), (2, 2)]);
    let log = check::gap_free_log(&store).await;
    check::read_model_matches_log(&store, &log).await;
}

/// Commands run one after another even inside one batch: of many concurrent creations
/// of one stream, exactly one wins; every other sees it and conflicts.
async fn commands_see_earlier_commands(b: TestDb) {
    let store = b.open().await;
    let mut tasks = JoinSet::new();
    for i in 0..40 {
        let store = store.clone();
        let note = Note::new("race-1", &format!("r{i}"), 2).expect(ExpectedVersion::NoStream);
        tasks.spawn(async move { store.dispatch(note).await });
    }
    let mut winners = BTreeSet::new();
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap() {
            Ok(outcome) => {
                winners.insert(outcome.command_id);
            }
            Err(err) => wrong_version(err, "race-1", ExpectedVersion::NoStream, 2),
        }
    }
    assert_eq!(winners.len(), 1);
    let log = check::gap_free_log(&store).await;
    assert_eq!(log.len(), 2);
    check::read_model_matches_log(&store, &log).await;
}

/// One batch where commands that wrote and then failed (a reducer refusing an event, a
/// handler failing after its own write) sit between commands that committed, some
/// with idempotency keys, and handlers that write rows of their own and succeed
/// (which the writer cannot redo from events). Every committed command's read-model
/// rows and idempotency record survive the rollbacks, every handler's own row too,
/// nothing of a failed command does, and a retry of each keyed command replays it.
async fn late_failures_keep_what_came_before(b: TestDb) {
    let store = b.open().await;
    let blocker = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .dispatch(Note::new("blocker", "blocker", 1).mode(Mode::SleepMs(300)))
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let plan = [
        Mode::Commit,
        Mode::Scribble,
        Mode::Commit,
        Mode::PoisonReducer,
        Mode::Commit,
        Mode::WriteThenFail,
        Mode::Reject,
        Mode::Commit,
        Mode::PoisonReducer,
        Mode::PoisonReducer,
        Mode::Scribble,
        Mode::Commit,
    ];
    let keyed = |i: usize| Context {
        idempotency_key: Some(format!("late-{i}")),
        ..Context::default()
    };
    let note = |i: usize, mode: Mode| {
        Note::new(&format!("late-{}", i % 3), &format!("l{i}"), 2).mode(mode)
    };
    let mut tasks = JoinSet::new();
    for (i, mode) in plan.iter().copied().enumerate() {
        let store = store.clone();
        let context = keyed(i);
        tasks.spawn(async move { (i, store.dispatch_with(note(i, mode), context).await) });
    }
    let mut committed = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (i, result) = joined.unwrap();
        match (plan[i], result) {
            (Mode::Commit, Ok(outcome)) => committed.push((i, outcome)),
            (Mode::Scribble, Ok(outcome)) => assert!(outcome.events.is_empty()),
            (Mode::PoisonReducer, Err(Error::ReducerFailed { .. }))
            | (Mode::WriteThenFail, Err(Error::HandlerFailed { .. }))
            | (Mode::Reject, Err(Error::Rejected(_))) => {}
            (mode, other) => panic!("command {i} ({mode:?}) ended with {other:?}"),
        }
    }
    let blocker = blocker.await.unwrap().unwrap();
    // Three failures wrote before failing; the first may have come before anything
    // committed in its transaction, the others had units before them to keep.
    assert!(store.metrics().writer_rollbacks.get() >= 3);
    let commits = plan.iter().filter(|m| **m == Mode::Commit).count();
    assert_eq!(committed.len(), commits);

    let log = check::gap_free_log(&store).await;
    assert_eq!(
        log.len(),
        1 + 2 * committed.len(),
        "failed commands left events"
    );
    for (_, outcome) in &committed {
        check::outcome_in_log(outcome, &log);
    }
    check::outcome_in_log(&blocker, &log);
    let junk = TallyRow {
        stream_id: "junk".into(),
        events: 2,
    };
    let tallies = check::tallies(&store).await;
    assert!(
        tallies.contains(&junk),
        "a handler's own write was lost: {tallies:?}"
    );
    let (notes, expected_tallies) = check::expected_read_model(&log);
    assert_eq!(
        check::notes(&store).await,
        notes,
        "notes disagree with the log"
    );
    let others: Vec<TallyRow> = tallies.into_iter().filter(|t| *t != junk).collect();
    assert_eq!(others, expected_tallies, "tallies disagree with the log");

    for (i, first) in &committed {
        let retry = store
            .dispatch_with(note(*i, Mode::Commit), keyed(*i))
            .await
            .unwrap();
        assert!(retry.replayed, "command {i}'s idempotency record was lost");
        assert_eq!(retry.command_id, first.command_id);
        assert_eq!(retry.position, first.position);
    }
    assert_eq!(check::gap_free_log(&store).await.len(), log.len());
}
