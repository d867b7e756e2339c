//! The fencing lease in a local directory (object_store's `LocalFileSystem`), a store that can
//! create an object only if absent but cannot replace one conditionally: renewals and takeovers
//! must fail with a typed error and leave the object as it was.

use object_store::local::LocalFileSystem;
use object_store::path::Path;
use pgfed_fencing::{FencingLease, LeaseError};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn a_store_without_conditional_updates_never_replaces_the_lease() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).expect("local store"));
    let lease = FencingLease::new(
        store,
        Path::from("fencing/lease.json"),
        "ns/orders/uid",
        Duration::from_secs(30),
    );

    let created = lease.create("east").await.expect("create");
    assert!(matches!(
        lease.create("west").await,
        Err(LeaseError::AlreadyHeld { .. })
    ));
    for result in [
        lease.renew(&created, "east").await,
        lease.take_over(&created, "west").await,
    ] {
        match result {
            Err(e @ LeaseError::Unconditional { .. }) => {
                assert!(e.to_string().contains("fencing/lease.json"), "{e}")
            }
            other => panic!("expected Unconditional, got {other:?}"),
        }
    }
    let stored = lease
        .read()
        .await
        .expect("read")
        .expect("a lease is stored");
    assert_eq!(stored.lease, created.lease);
}
