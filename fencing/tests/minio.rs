//! The fencing lease against a real MinIO: object_store's S3 client with its default settings
//! sends `If-None-Match: *` and `If-Match: <etag>`, and MinIO enforces them.

mod common;

use common::Minio;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, S3ConditionalPut};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use pgfed_fencing::{FencingLease, LeaseError, Stored};
use std::sync::Arc;
use std::time::Duration;

const FEDERATION: &str = "pgfed-system/orders/6f1c2a";

fn key() -> Path {
    Path::from("federation/orders/fencing-lease.json")
}

fn lease_in(store: Arc<dyn ObjectStore>) -> FencingLease {
    FencingLease::new(store, key(), FEDERATION, Duration::from_secs(30))
}

async fn stored_now(lease: &FencingLease) -> Stored {
    lease
        .read()
        .await
        .expect("read")
        .expect("a lease is stored")
}

#[test]
fn conditional_writes_are_on_by_default_in_object_store() {
    let builder = AmazonS3Builder::new();
    assert_eq!(
        builder.get_config_value(&AmazonS3ConfigKey::ConditionalPut),
        Some("etag".to_string())
    );
}

#[tokio::test]
async fn create_writes_epoch_one_and_read_returns_it() {
    let minio = Minio::start();
    let lease = lease_in(minio.store());
    assert_eq!(lease.read().await.expect("read"), None);

    let created = lease.create("east").await.expect("create");
    assert_eq!(created.lease.federation, FEDERATION);
    assert_eq!(created.lease.holder, "east");
    assert_eq!((created.lease.epoch, created.lease.renewals), (1, 0));
    assert_eq!(created.lease.duration_seconds, 30);
    assert!(created.version.e_tag.is_some(), "MinIO reports an ETag");

    // Another client reads exactly what was written, at the version the write reported.
    let read = stored_now(&lease_in(minio.store())).await;
    assert_eq!(read, created);
}

#[tokio::test]
async fn a_second_create_finds_the_lease_already_held() {
    let minio = Minio::start();
    let first = lease_in(minio.store())
        .create("east")
        .await
        .expect("create");

    let second = lease_in(minio.store()).create("west").await;
    match second {
        Err(LeaseError::AlreadyHeld { stored, .. }) => assert_eq!(*stored, first),
        other => panic!("expected AlreadyHeld, got {other:?}"),
    }
    assert_eq!(stored_now(&lease_in(minio.store())).await, first);
}

#[tokio::test]
async fn renewals_count_up_and_each_needs_the_latest_version() {
    let minio = Minio::start();
    let lease = lease_in(minio.store());
    let created = lease.create("east").await.expect("create");

    let once = lease.renew(&created, "east").await.expect("renew");
    let twice = lease.renew(&once, "east").await.expect("renew");
    assert_eq!((once.lease.epoch, once.lease.renewals), (1, 1));
    assert_eq!((twice.lease.epoch, twice.lease.renewals), (1, 2));
    assert_ne!(once.version, created.version);
    assert_ne!(twice.version, once.version);
    assert_eq!(stored_now(&lease).await, twice);

    // A renewal from an older version of our own lease (an answer that was lost) is refused
    // by MinIO, read again, found still ours, and retried once on the current version.
    let retried = lease.renew(&created, "east").await.expect("renew");
    assert_eq!((retried.lease.epoch, retried.lease.renewals), (1, 3));
    assert_eq!(stored_now(&lease).await, retried);
}

#[tokio::test]
async fn a_holder_renewing_after_a_takeover_has_lost() {
    let minio = Minio::start();
    let holder = lease_in(minio.store());
    let controller = lease_in(minio.store());
    let held = holder.create("east").await.expect("create");
    let held = holder.renew(&held, "east").await.expect("renew");

    let seen = stored_now(&controller).await;
    let taken = controller
        .take_over(&seen, "west")
        .await
        .expect("take_over");
    assert_eq!(taken.lease.holder, "west");
    assert_eq!((taken.lease.epoch, taken.lease.renewals), (2, 0));

    match holder.renew(&held, "east").await {
        Err(LeaseError::Lost { holder, epoch, .. }) => {
            assert_eq!((holder.as_str(), epoch), ("west", 2))
        }
        other => panic!("expected Lost, got {other:?}"),
    }
    assert_eq!(
        stored_now(&controller).await,
        taken,
        "the refused renewal wrote nothing"
    );

    // The new holder renews at its epoch; renewing someone else's lease is refused unwritten.
    let renewed = controller.renew(&taken, "west").await.expect("renew");
    assert_eq!((renewed.lease.epoch, renewed.lease.renewals), (2, 1));
    assert!(matches!(
        holder.renew(&renewed, "east").await,
        Err(LeaseError::Lost { epoch: 2, .. })
    ));
    assert_eq!(stored_now(&controller).await, renewed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_takeovers_from_one_version_exactly_one_wins() {
    let minio = Minio::start();
    lease_in(minio.store())
        .create("east")
        .await
        .expect("create");
    let a = lease_in(minio.store());
    let b = lease_in(minio.store());

    for round in 0..10u64 {
        let from = stored_now(&a).await;
        let (won_a, won_b) = tokio::join!(a.take_over(&from, "west"), b.take_over(&from, "north"));
        let winner = match (won_a, won_b) {
            (Ok(w), Err(LeaseError::Conflict { .. }))
            | (Err(LeaseError::Conflict { .. }), Ok(w)) => w,
            other => panic!("round {round}: expected one winner and one conflict, got {other:?}"),
        };
        assert_eq!(winner.lease.epoch, from.lease.epoch + 1, "round {round}");
        assert_eq!(stored_now(&a).await, winner, "round {round}");
    }
}

#[tokio::test]
async fn a_take_over_of_a_missing_lease_is_refused() {
    let minio = Minio::start();
    let lease = lease_in(minio.store());
    let created = lease.create("east").await.expect("create");
    minio.store().delete(&key()).await.expect("delete");

    assert!(matches!(
        lease.take_over(&created, "west").await,
        Err(LeaseError::Missing { .. })
    ));
    assert!(matches!(
        lease.renew(&created, "east").await,
        Err(LeaseError::Missing { .. })
    ));
    assert_eq!(
        lease.read().await.expect("read"),
        None,
        "nothing was written"
    );
}

#[tokio::test]
async fn an_object_that_is_not_a_lease_is_a_typed_error_naming_the_key() {
    let minio = Minio::start();
    let store = minio.store();
    store
        .put(
            &key(),
            PutPayload::from_static(br#"{"spec": {"primary": "east"}}"#),
        )
        .await
        .expect("put");
    let lease = lease_in(store);

    for (call, result) in [
        ("read", lease.read().await.map(|_| ())),
        ("create", lease.create("west").await.map(|_| ())),
    ] {
        match result {
            Err(e @ LeaseError::Unreadable { .. }) => {
                assert!(e.to_string().contains(key().as_ref()), "{call}: {e}")
            }
            other => panic!("{call}: expected Unreadable, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn with_conditional_writes_disabled_nothing_is_written() {
    let minio = Minio::start();
    let unconditional = lease_in(minio.store_with(S3ConditionalPut::Disabled));
    assert!(matches!(
        unconditional.create("east").await,
        Err(LeaseError::Unconditional { .. })
    ));
    assert_eq!(unconditional.read().await.expect("read"), None);

    let created = lease_in(minio.store())
        .create("east")
        .await
        .expect("create");
    for result in [
        unconditional.renew(&created, "east").await,
        unconditional.take_over(&created, "west").await,
    ] {
        assert!(
            matches!(result, Err(LeaseError::Unconditional { .. })),
            "{result:?}"
        );
    }
    assert_eq!(unconditional.read().await.expect("read"), Some(created));
}

#[tokio::test]
async fn no_output_shows_the_secret_key() {
    let minio = Minio::start();
    let lease = lease_in(minio.store());
    assert!(
        !format!("{lease:?}").contains(common::PASSWORD),
        "{lease:?}"
    );

    let wrong = "not-the-secret-key-3f9a";
    let denied = lease_in(minio.store_with_secret(wrong));
    assert!(!format!("{denied:?}").contains(wrong), "{denied:?}");
    let Err(e) = denied.create("east").await else {
        panic!("a wrong secret key must be refused");
    };
    assert!(matches!(e, LeaseError::Store { .. }), "{e:?}");
    for shown in [e.to_string(), format!("{e:?}")] {
        assert!(!shown.contains(wrong), "{shown}");
    }
}
