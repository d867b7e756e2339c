//! The primary region's side of the federation's fencing lease, against real PostgreSQL and a
//! real MinIO: a primary under `instance run` with `replica.fencingLease` creates the lease and
//! renews it; with the object store down it stops accepting writes within the lease duration and
//! says why in its status, and accepts them again once the store answers and the lease is still
//! its own; when another holder takes the lease over, it fences itself and stays fenced. The
//! lease is 5 s; every wait is generous (the machine is shared) and nothing asserts on time.

mod common;

use common::minio::{ACCESS_KEY, Minio, SECRET_KEY};
use common::node::{Node, s3_store};
use common::{ChildGuard, free_port, pg_status, wait_for};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjPath;
use pgfed_fencing::{FencingLease, Lease};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);
const BUCKET: &str = "fencing";
const FEDERATION: &str = "pgfed-test/federation/uid-1";
const LEASE_KEY: &str = "fed/pgfed-fencing-lease.json";
const LEASE_SECONDS: u64 = 5;

/// The primary instance of the primary cluster `east` of a federation, under `instance run`,
/// holding the fencing lease at `s3://fencing/fed/pgfed-fencing-lease.json`; returns it, its
/// manager and its probe port (which serves the status document).
fn primary(minio: &Minio) -> (Node, ChildGuard, u16) {
    minio.create_bucket(BUCKET);
    let mut n = Node::new("east-1", "east");
    let probe = free_port();
    n.set("probePort", json!(probe));
    n.set("statusPort", json!(free_port()));
    n.set("metricsPort", json!(free_port()));
    n.set("targetPrimary", json!("east-1"));
    n.set(
        "replica",
        json!({
            "self": "east",
            "primary": "east",
            "source": "west",
            "fencingLease": {
                "objectStore": s3_store(minio, BUCKET, json!({"destinationPath": "s3://fencing/fed/"})),
                "federation": FEDERATION,
                "leaseDuration": format!("{LEASE_SECONDS}s"),
            },
        }),
    );
    n.manager_ok(&["instance", "init"]);
    let run = n.run_manager();
    n.wait_query("postgres", "SELECT pg_is_in_recovery()", "f", WAIT);
    n.psql("app", "CREATE TABLE IF NOT EXISTS orders(n int)");
    (n, run, probe)
}

/// The test's own handle on the lease, as the federation controller would have it.
fn handle(minio: &Minio) -> FencingLease {
    let store = AmazonS3Builder::new()
        .with_endpoint(minio.endpoint())
        .with_bucket_name(BUCKET)
        .with_region("us-east-1")
        .with_access_key_id(ACCESS_KEY)
        .with_secret_access_key(SECRET_KEY)
        .with_allow_http(true)
        .build()
        .expect("s3 client");
    FencingLease::new(
        Arc::new(store),
        ObjPath::from(LEASE_KEY),
        FEDERATION,
        Duration::from_secs(LEASE_SECONDS),
    )
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// The lease as stored now.
fn stored_lease(minio: &Minio) -> Result<Lease, String> {
    match block_on(handle(minio).read()) {
        Ok(Some(stored)) => Ok(stored.lease),
        Ok(None) => Err("no lease yet".into()),
        Err(e) => Err(e.to_string()),
    }
}

fn manager_log(n: &Node) -> String {
    std::fs::read_to_string(n.dir.path().join("manager.log")).unwrap_or_default()
}

/// `INSERT`s one row of `phase`; the error when postgres refuses or is not there.
fn insert(n: &Node, phase: u32) -> Result<String, String> {
    n.try_psql("app", &format!("INSERT INTO orders VALUES ({phase})"))
}

/// The status document's `fencedByLease`, once it is set.
fn fenced_by_lease(probe: u16) -> Result<String, String> {
    let st = pg_status(probe)?;
    match &st["fencedByLease"] {
        Value::String(reason) => Ok(reason.clone()),
        _ => Err(st.to_string()),
    }
}

#[test]
fn the_primary_renews_the_lease_and_fences_itself_while_the_store_is_down() {
    let mut minio = Minio::start();
    let (n, _run, probe) = primary(&minio);

    // (a) The lease is created for `east` at epoch 1 and renewed.
    let first = wait_for("the lease to be created", WAIT, || stored_lease(&minio));
    assert_eq!(
        (
            first.holder.as_str(),
            first.epoch,
            first.federation.as_str()
        ),
        ("east", 1, FEDERATION)
    );
    assert_eq!(first.duration_seconds, LEASE_SECONDS);
    let renewed = wait_for("three more renewals", WAIT, || {
        let now = stored_lease(&minio)?;
        if now.renewals >= first.renewals + 3 {
            Ok(now)
        } else {
            Err(format!("{now:?}"))
        }
    });
    assert_eq!((renewed.holder.as_str(), renewed.epoch), ("east", 1));
    insert(&n, 1).expect("a primary holding its lease accepts writes");
    let st = pg_status(probe).expect("status");
    assert!(st.get("fencedByLease").is_none(), "{st}");

    // (b) The store goes down: no renewal succeeds, and within the lease duration (and a look
    // of the supervisor) postgres stops accepting writes.
    minio.stop();
    let refused = wait_for("writes to be refused", WAIT, || match insert(&n, 1) {
        Ok(_) => Err("still accepted".into()),
        Err(e) => Ok(e),
    });
    eprintln!("refused with the store down: {refused}");
    let reason = wait_for("the status to say why", WAIT, || fenced_by_lease(probe));
    assert!(reason.contains("was not renewed within 5s"), "{reason}");
    assert!(
        manager_log(&n).contains("FencedByLease"),
        "{}",
        manager_log(&n)
    );
    // The configuration's fencing is a different thing, and stays off.
    assert_eq!(pg_status(probe).expect("status")["fenced"], false);

    // The store answers again and the lease is still `east`'s at epoch 1: it renews and
    // accepts writes again, as the primary.
    minio.restart();
    wait_for("writes to be accepted again", WAIT, || insert(&n, 2));
    n.wait_query("postgres", "SELECT pg_is_in_recovery()", "f", WAIT);
    wait_for("the status to clear the fence", WAIT, || {
        let st = pg_status(probe)?;
        match st.get("fencedByLease") {
            None => Ok(()),
            Some(_) => Err(st.to_string()),
        }
    });
    let after = stored_lease(&minio).expect("lease");
    assert_eq!((after.holder.as_str(), after.epoch), ("east", 1));
    assert!(after.renewals > renewed.renewals, "{after:?}");
    assert_eq!(
        n.psql("app", "SELECT count(*) FROM orders WHERE n = 2"),
        "1"
    );
    eprintln!(
        "rows accepted until the fence (one every 0.3 s): {}",
        n.psql("app", "SELECT count(*) FROM orders WHERE n = 1")
    );
}

#[test]
fn a_primary_whose_lease_was_taken_over_stays_fenced() {
    let minio = Minio::start();
    let (n, _run, probe) = primary(&minio);
    wait_for("the lease to be created", WAIT, || stored_lease(&minio));
    insert(&n, 1).expect("a primary holding its lease accepts writes");

    // (c) The federation controller hands the lease to `west` (the next epoch).
    let lease = handle(&minio);
    let taken = block_on(async {
        let stored = lease.read().await.expect("read").expect("lease");
        lease.take_over(&stored, "west").await
    });
    // The primary may have renewed in between; then take over from what it wrote.
    let taken = match taken {
        Ok(t) => t,
        Err(_) => block_on(async {
            let stored = lease.read().await.expect("read").expect("lease");
            lease.take_over(&stored, "west").await.expect("take over")
        }),
    };
    assert_eq!(
        (taken.lease.holder.as_str(), taken.lease.epoch),
        ("west", 2)
    );

    wait_for("writes to be refused", WAIT, || match insert(&n, 1) {
        Ok(_) => Err("still accepted".into()),
        Err(e) => Ok(e),
    });
    let reason = wait_for("the status to say who holds the lease", WAIT, || {
        fenced_by_lease(probe)
    });
    assert!(reason.contains("held by west at epoch 2"), "{reason}");

    // It stays fenced: three lease durations later, still no writes, the same reason, and the
    // lease untouched (never written by `east` again).
    std::thread::sleep(Duration::from_secs(3 * LEASE_SECONDS));
    assert!(
        insert(&n, 1).is_err(),
        "a primary that lost its lease came back"
    );
    let still = fenced_by_lease(probe).expect("still fenced by the lease");
    assert!(still.contains("held by west at epoch 2"), "{still}");
    let now = stored_lease(&minio).expect("lease");
    assert_eq!(
        (now.holder.as_str(), now.epoch, now.renewals),
        ("west", 2, 0),
        "the lease was written after it was lost"
    );
}
