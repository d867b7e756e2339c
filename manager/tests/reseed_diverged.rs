//! A former primary region whose history diverged from the region promoted in its place
//! (pgfed issue #12, item 6), at the instance level with real PostgreSQL 15 and MinIO: region A
//! archives to bucket A; region B is restored from it and promoted without a demotion token
//! (timeline 2, archived to bucket B). When A is told to follow B:
//!
//! - having written past the fork, its manager keeps postgres stopped and reports where the
//!   histories split (local timeline and LSN, B's fork point) and B's newest usable base backup
//!   once there is one; a new instance of region A's cluster, with nothing but the replica
//!   settings, is then seeded from B's store and follows B — what the operator does;
//! - stopped without a checkpoint after the fork, it starts (nothing local says it diverged), its
//!   crash recovery replays its own WAL past the fork and it then waits for WAL forever: its
//!   manager sees the minimum recovery point past the fork, stops it and reports the split;
//! - shut down cleanly exactly at the fork (B replayed its shutdown checkpoint), it follows B.

mod common;

use common::minio::Minio;
use common::mtls::{StatusClient, serve_status_over_tls};
use common::node::{Node, s3_store};
use common::wait_for;
use pgfed_api::lsn::Lsn;
use serde_json::{Value, json};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(240);

/// One test at a time: each runs two or three PostgreSQL servers and a MinIO.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A region's instance `name` of cluster `cluster`, archiving to `bucket`, knowing both regions'
/// stores, replaying `source` unless `primary` is its own cluster.
fn region(
    minio: &Minio,
    cluster: &str,
    name: &str,
    bucket: &str,
    primary: &str,
    source: &str,
) -> Node {
    let mut n = Node::new(name, cluster);
    n.cfg["postgresql"]["parameters"]["wal_retrieve_retry_interval"] = json!("500ms");
    n.cfg["backup"] = json!({"barmanObjectStore": s3_store(minio, bucket, json!({}))});
    n.cfg["externalClusters"] = json!([
        {"name": "region-a", "barmanObjectStore": s3_store(minio, "bucket-a", json!({}))},
        {"name": "region-b", "barmanObjectStore": s3_store(minio, "bucket-b", json!({}))},
    ]);
    n.set("replica", json!({"primary": primary, "source": source}));
    n
}

/// Region A primary with rows, a base backup and its WAL archived; region B restored from it
/// and replaying bucket A until it holds the same rows.
fn regions(minio: &Minio) -> (Node, Node) {
    minio.create_bucket("bucket-a");
    minio.create_bucket("bucket-b");
    let a = region(
        minio, "region-a", "region-a", "bucket-a", "region-a", "region-b",
    );
    let mut b = region(
        minio, "region-b", "region-b", "bucket-b", "region-a", "region-a",
    );
    b.set("bootstrap", json!({"recovery": {"source": "region-a"}}));
    a.init_and_start();
    a.psql(
        "app",
        "CREATE TABLE orders(id int PRIMARY KEY, region text)",
    );
    a.psql(
        "app",
        "INSERT INTO orders SELECT g, 'a' FROM generate_series(1, 1000) g",
    );
    a.manager_ok(&["backup"]);
    a.switch_and_wait_archived(LONG);
    b.manager_ok(&["instance", "restore"]);
    b.manager_ok(&["instance", "start"]);
    b.wait_query("app", "SELECT count(*) FROM orders", "1000", LONG);
    (a, b)
}

/// Promotes region B without a token: its own primary now, timeline 2, and waits until its
/// history file is in bucket B.
fn promote_without_token(minio: &Minio, b: &mut Node) {
    b.set(
        "replica",
        json!({"primary": "region-b", "source": "region-a"}),
    );
    b.manager_ok(&["instance", "promote"]);
    b.psql(
        "app",
        "INSERT INTO orders SELECT g, 'b' FROM generate_series(2001, 2100) g",
    );
    b.switch_and_wait_archived(LONG);
    wait_for("00000002.history in bucket B", LONG, || {
        let listed = minio.list("bucket-b", "region-b/wals/");
        if listed.iter().any(|k| k.contains("00000002.history")) {
            Ok(())
        } else {
            Err(format!("{listed:?}"))
        }
    });
}

/// Where B's timeline 2 forked off timeline 1, from its history file.
fn fork_point(b: &Node) -> Lsn {
    let history = std::fs::read_to_string(b.pgdata().join("pg_wal/00000002.history"))
        .expect("B's history file");
    history
        .lines()
        .find_map(|l| {
            let mut f = l.split_whitespace();
            (f.next() == Some("1"))
                .then(|| f.next()?.parse().ok())
                .flatten()
        })
        .unwrap_or_else(|| panic!("no switchpoint of timeline 1 in {history:?}"))
}

fn manager_log_tail(n: &Node) -> String {
    let log = std::fs::read_to_string(n.dir.path().join("manager.log")).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(12).collect();
    tail.join("\n")
}

/// Waits until `sql` in `app` on `n` returns `want`, showing its manager's log meanwhile.
fn wait_rows(n: &Node, sql: &str, want: &str) {
    wait_for(&format!("[{}] {sql} = {want}", n.name), LONG, || {
        match n.try_psql("app", sql) {
            Ok(v) if v == want => Ok(()),
            other => Err(format!("{other:?}\n{}", manager_log_tail(n))),
        }
    });
}

/// Polls `n`'s status document until `accept` takes it.
fn wait_status(
    n: &Node,
    client: &StatusClient,
    what: &str,
    accept: impl Fn(&Value) -> bool,
) -> Value {
    wait_for(&format!("[{}] {what}", n.name), LONG, || {
        let (_, body) = client.request("GET", pgfed_api::instance::STATUS_PATH, None)?;
        let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
        if accept(&v) {
            Ok(v)
        } else {
            Err(format!(
                "{body}\nmanager log (last first):\n{}",
                manager_log_tail(n)
            ))
        }
    })
}

fn lsn(v: &Value) -> Lsn {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an LSN: {v}"))
}

/// Region B promoted without a token while region A, cut off, goes on committing rows B never
/// sees and stops (`stop_mode`); returns the regions and where B's timeline forked off.
fn cut_off(minio: &Minio, stop_mode: &str) -> (Node, Node, Lsn) {
    let (a, mut b) = regions(minio);
    promote_without_token(minio, &mut b);
    let fork = fork_point(&b);
    a.psql(
        "app",
        "INSERT INTO orders SELECT g, 'a-lost' FROM generate_series(1001, 1500) g",
    );
    a.manager_ok(&["instance", "stop", "--mode", stop_mode]);
    (a, b, fork)
}

/// Tells `a` to follow region B and gives it a status port: the operator's PKI, its client
/// certificate and the port.
fn follow_b(a: &mut Node) -> (common::certs::Pki, common::certs::Pair, u16) {
    a.set(
        "replica",
        json!({"primary": "region-b", "source": "region-b"}),
    );
    serve_status_over_tls(a)
}

#[test]
fn a_primary_that_wrote_past_the_fork_is_kept_stopped_and_a_new_instance_is_seeded_from_the_source()
{
    let _one = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let minio = Minio::start();
    // Region A shuts down cleanly: its shutdown checkpoint and its last rows are past the fork.
    let (mut a, b, fork) = cut_off(&minio, "fast");
    let checkpoint_before = controldata(&a, "Latest checkpoint location");

    // Told to follow B: postgres stays down, the status says where the histories split.
    let (pki, operator, port) = follow_b(&mut a);
    let client = StatusClient {
        base: format!("https://127.0.0.1:{port}"),
        ca: &pki.ca,
        client: &operator,
    };
    let mut manager = a.run_manager();
    let status = wait_status(&a, &client, "diverged from its source", |v| {
        v["divergedFromSource"].is_object()
    });
    let d = &status["divergedFromSource"];
    assert_eq!(d["source"], "region-b", "{d}");
    assert_eq!(d["localTimeline"], 1, "{d}");
    assert_eq!(d["forkTimeline"], 1, "{d}");
    assert_eq!(d["sourceTimeline"], 2, "{d}");
    assert_eq!(lsn(&d["forkLSN"]), fork, "{d}");
    assert!(lsn(&d["localLSN"]) > fork, "{d}");
    // B has no base backup of its own yet: nothing to seed from.
    assert!(d.get("seedBackup").is_none(), "{d}");
    assert_eq!(status["postgresRunning"], false, "{status}");
    // Some seconds on, it still has not started, and its data is as it left it.
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        a.postmaster_pid().is_none(),
        "postgres started on a diverged history"
    );
    assert_eq!(
        controldata(&a, "Latest checkpoint location"),
        checkpoint_before
    );
    // Found before postgres was ever started on it: PostgreSQL never had to refuse.
    assert!(
        !a.log().contains("is not a child of this server's history"),
        "postgres was started on the diverged history"
    );
    manager.terminate();

    // Once B has a base backup, the report names it.
    b.manager_ok(&["backup"]);
    let backups = minio.list("bucket-b", "region-b/base/");
    let _manager = a.run_manager();
    let status = wait_status(&a, &client, "a seed backup named", |v| {
        v["divergedFromSource"]["seedBackup"].is_string()
    });
    let seed = status["divergedFromSource"]["seedBackup"]
        .as_str()
        .unwrap_or_default();
    assert!(
        backups.iter().any(|k| k.contains(seed)),
        "{seed} not among {backups:?}"
    );
    assert!(a.postmaster_pid().is_none());

    // The operator's replacement: a new instance of region A's cluster, bootstrapped with
    // `initdb` as the cluster first was, restores B's backup and follows B.
    let new = region(
        &minio,
        "region-a",
        "region-a-2",
        "bucket-a",
        "region-b",
        "region-b",
    );
    let _new_manager = new.run_manager();
    wait_rows(
        &new,
        "SELECT count(*) FILTER (WHERE region = 'b') || ':' || count(*) FILTER (WHERE region = 'a-lost') FROM orders",
        "100:0",
    );
    assert_eq!(new.psql("postgres", "SELECT pg_is_in_recovery()"), "t");
    // It goes on following: a row B commits now arrives.
    b.psql("app", "INSERT INTO orders VALUES (3000, 'b-later')");
    b.switch_and_wait_archived(LONG);
    new.wait_query(
        "app",
        "SELECT count(*) FROM orders WHERE id = 3000",
        "1",
        LONG,
    );
}

#[test]
fn a_primary_shut_down_exactly_at_the_fork_follows_the_promoted_region() {
    let _one = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let minio = Minio::start();
    let (mut a, mut b) = regions(&minio);
    // A stops cleanly and archives all its WAL; B replays all of it, then is promoted without
    // the token, as an automatic failover that lost nothing would.
    a.set(
        "replica",
        json!({"primary": "region-b", "source": "region-b"}),
    );
    let token = a.manager_ok(&["instance", "demote"]);
    let token = pgfed_api::token::DemotionToken::decode(&token).expect("token");
    b.wait_query(
        "postgres",
        &format!(
            "SELECT pg_last_wal_replay_lsn() > '{}'::pg_lsn",
            token.redo_location
        ),
        "t",
        LONG,
    );
    promote_without_token(&minio, &mut b);
    assert!(fork_point(&b) > token.redo_location.parse::<Lsn>().expect("redo"));

    let (pki, operator, port) = serve_status_over_tls(&mut a);
    let client = StatusClient {
        base: format!("https://127.0.0.1:{port}"),
        ca: &pki.ca,
        client: &operator,
    };
    let _manager = a.run_manager();
    wait_rows(&a, "SELECT count(*) FROM orders WHERE region = 'b'", "100");
    assert_eq!(a.psql("postgres", "SELECT pg_is_in_recovery()"), "t");
    let status = wait_status(&a, &client, "running as B's replica", |v| {
        v["postgresRunning"] == true
    });
    assert!(status.get("divergedFromSource").is_none(), "{status}");
}

/// A field of pg_controldata on `n`'s data directory.
fn controldata(n: &Node, field: &str) -> String {
    let out = common::run_ok(
        common::as_postgres(common::pg_bindir().join("pg_controldata")).arg(n.pgdata()),
    );
    out.lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .strip_prefix(':')
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("{field} not in {out}"))
}

#[test]
fn a_primary_that_crashed_past_the_fork_is_stopped_once_seen_replaying_past_it() {
    let _one = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let minio = Minio::start();
    // Its last checkpoint lies before the fork; what it wrote after is only in its WAL.
    let (mut a, _b, fork) = cut_off(&minio, "immediate");
    assert!(lsn(&json!(controldata(&a, "Latest checkpoint location"))) < fork);

    let (pki, operator, port) = follow_b(&mut a);
    let client = StatusClient {
        base: format!("https://127.0.0.1:{port}"),
        ca: &pki.ca,
        client: &operator,
    };
    let _manager = a.run_manager();
    let status = wait_status(&a, &client, "diverged from its source", |v| {
        v["divergedFromSource"].is_object() && v["postgresRunning"] == false
    });
    let d = &status["divergedFromSource"];
    assert_eq!(lsn(&d["forkLSN"]), fork, "{d}");
    assert_eq!(d["sourceTimeline"], 2, "{d}");
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        a.postmaster_pid().is_none(),
        "postgres runs on a diverged history"
    );
    // It never replayed the source's timeline.
    assert_eq!(controldata(&a, "Latest checkpoint's TimeLineID"), "1");
}
