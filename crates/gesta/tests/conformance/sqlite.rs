//! What is truly specific to SQLite: the `synchronous` setting in the URL.

use gesta::{Error, Store};

use crate::app::{Note, app};

#[tokio::test]
async fn synchronous_below_full_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for setting in ["normal", "off"] {
        let path = dir.path().join(format!("{setting}.db"));
        let url = format!("sqlite://{}?synchronous={setting}", path.display());
        let refused = Store::open(&url, app()).await;
        assert!(
            matches!(refused, Err(Error::UnsafeDurability(_))),
            "{setting}: opened"
        );
        assert!(
            !path.exists(),
            "{setting}: the refused store created its file"
        );
    }
}

#[tokio::test]
async fn unsafe_durability_opt_in_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    let url = format!(
        "sqlite://{}?synchronous=normal&unsafe_durability=true",
        path.display()
    );
    let store = Store::open(&url, app()).await.unwrap();
    let durability = store.health().durability;
    assert!(!durability.durable);
    assert!(
        durability.detail.contains("NORMAL"),
        "{}",
        durability.detail
    );
    store.dispatch(Note::new("s-1", "a", 1)).await.unwrap();
}

#[tokio::test]
async fn full_and_memory_durability_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("full.db").display());
    let store = Store::open(&url, app()).await.unwrap();
    assert!(store.health().durability.durable);
    let extra = format!(
        "sqlite://{}?synchronous=extra",
        dir.path().join("extra.db").display()
    );
    assert!(
        Store::open(&extra, app())
            .await
            .unwrap()
            .health()
            .durability
            .durable
    );
    let memory = Store::open("sqlite::memory:", app()).await.unwrap();
    assert!(
        !memory.health().durability.durable,
        "in-memory claims durability"
    );
}
