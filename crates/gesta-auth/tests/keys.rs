//! API keys against a real store: the right secret authenticates, wrong ones do not,
//! and guessing at one key id is cut off after a few tries without more hashing.

use gesta_auth::keys::{MAX_FAILURES, generate};
use gesta_auth::{AuthError, Policy, Security};

#[tokio::test]
async fn guessing_one_keys_secret_locks_that_key_id_out() {
    let store = gesta::Store::open("sqlite::memory:", gesta::App::new("keys"))
        .await
        .unwrap();
    let (ann, bob) = (
        generate("ann", vec!["teller".into()], None).unwrap(),
        generate("bob", vec![], None).unwrap(),
    );
    store.add_api_key(ann.record.clone()).await.unwrap();
    store.add_api_key(bob.record.clone()).await.unwrap();
    let security = Security::new(Policy::builtin()).keys(store);
    // Ann's key is checked (and cached) before the guessing starts.
    assert_eq!(
        security
            .authenticate(&ann.token)
            .await
            .unwrap()
            .principal
            .name,
        "ann"
    );
    let guess = |n: u32| format!("gesta_{}_{:064x}", bob.record.id, n);
    for n in 0..MAX_FAILURES {
        let err = security.authenticate(&guess(n)).await.unwrap_err();
        assert!(matches!(err, AuthError::WrongSecret), "{err:?}");
    }
    // Now even Bob's real secret is refused without being hashed, for a while...
    let err = security.authenticate(&bob.token).await.unwrap_err();
    assert!(matches!(err, AuthError::LockedOut), "{err:?}");
    assert!(err.is_unauthorized());
    // ...while other keys, and tokens already checked, go on working.
    assert_eq!(
        security
            .authenticate(&ann.token)
            .await
            .unwrap()
            .principal
            .name,
        "ann"
    );
}
