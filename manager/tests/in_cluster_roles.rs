//! Role changes inside one cluster driven only by the configuration `instance run` watches, as the
//! member operator will drive them: a switchover (`targetPrimary` moves; the old primary steps down
//! and streams its last WAL before the new one promotes, so nothing is lost) and a failover (the
//! primary is killed; its former standby promotes; the dead primary's data directory comes back
//! rewound as a standby of the new primary, never as a second primary). A former primary whose
//! rewind fails keeps a standby's role files and never starts as a primary.

mod common;

use common::certs::{Pair, Pki};
use common::faults::{Fault, FaultyBindir};
use common::node::{Node, merged};
use common::{ChildGuard, as_postgres, free_port, manager_bin};
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(180);

/// Starts `instance run` for `node`, its stderr (JSON log lines) appended to `manager.log` in the
/// node's directory.
fn run(node: &Node) -> ChildGuard {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(node.dir.path().join("manager.log"))
        .expect("manager log");
    as_postgres(manager_bin())
        .args(["instance", "run", "--config"])
        .arg(node.config_path())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map(ChildGuard)
        .expect("instance run")
}

fn manager_log(node: &Node) -> String {
    std::fs::read_to_string(node.dir.path().join("manager.log")).unwrap_or_default()
}

/// An instance as its peers address it.
#[derive(Clone)]
struct Peer {
    name: String,
    port: u16,
}

fn peer(n: &Node) -> Peer {
    Peer {
        name: n.name.clone(),
        port: n.port,
    }
}

/// How `me` reaches the primary `primary`: TLS with the replication client certificate, by a
/// name (in /etc/hosts) the manager resolves and pins as `hostaddr`, checked by verify-full.
fn primary_connection(primary: &Peer, me: &Node, replica: &Pair, pki: &Pki) -> Value {
    json!({
        "connectionParameters": {
            "host": "localhost",
            "port": primary.port.to_string(),
            "user": "streaming_replica",
            "sslmode": "verify-full",
            "application_name": me.name,
        },
        "sslCert": replica.cert, "sslKey": replica.key, "sslRootCert": pki.ca,
    })
}

/// Points `node` at `primary` (`targetPrimary` and `primaryConnection` in one write, as the
/// operator would render them).
fn target(node: &mut Node, primary: &Peer, replica: &Pair, pki: &Pki) {
    let conn = primary_connection(primary, node, replica, pki);
    if let Some(o) = node.cfg.as_object_mut() {
        o.insert("targetPrimary".into(), json!(primary.name));
        o.insert("primaryConnection".into(), conn);
    }
    node.write_config();
}

fn fingerprint(node: &Node) -> String {
    node.psql(
        "app",
        "SELECT count(*) || ':' || coalesce(sum(hashtext(v)), 0) FROM t",
    )
}

/// Waits until `standby` holds exactly the rows `primary` has.
fn wait_same_rows(standby: &Node, primary: &Node, what: &str) {
    common::wait_for(what, LONG, || {
        let (s, p) = (fingerprint(standby), fingerprint(primary));
        if s == p {
            Ok(())
        } else {
            Err(format!("{s} vs {p}"))
        }
    });
}

/// The timeline a primary writes on, or a standby receives on.
fn timeline(node: &Node) -> String {
    node.psql(
        "postgres",
        "SELECT CASE WHEN pg_is_in_recovery() \
           THEN (SELECT received_tli FROM pg_stat_wal_receiver) \
           ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END",
    )
}

/// The standby's `primary_conninfo` names the host and pins its address, so libpq (the WAL
/// receiver, pg_rewind) did no lookup of its own.
fn assert_pinned(standby: &Node) {
    let role =
        std::fs::read_to_string(standby.pgdata().join("pgfed_role.conf")).unwrap_or_default();
    assert!(
        role.contains("host=localhost hostaddr=127.0.0.1"),
        "{role}\n{}",
        manager_log(standby)
    );
}

fn wait_streaming(standby: &Node, what: &str) {
    common::wait_for(what, LONG, || {
        let log = || manager_log(standby);
        let role = standby
            .try_psql("postgres", "SELECT pg_is_in_recovery()")
            .map_err(|e| format!("{e}\n{}", log()))?;
        let receiver = standby
            .try_psql("postgres", "SELECT status FROM pg_stat_wal_receiver")
            .map_err(|e| format!("{e}\n{}", log()))?;
        if role == "t" && receiver == "streaming" {
            Ok(())
        } else {
            Err(format!(
                "recovery={role} receiver={receiver}\n{}",
                manager_log(standby)
            ))
        }
    });
}

/// A new instance `name` initialized as its cluster's primary with TLS: the node, its PKI, the
/// replication client certificate, and the `certificates` section its standbys share.
fn initialized_primary(name: &str) -> (Node, Pki, Pair, Value) {
    let mut a = Node::new(name, "pg");
    let pki = Pki::new(&a.dir.path().join("pki"));
    let server = pki.issue("pg-rw", &["localhost", "127.0.0.1"]);
    let replica = pki.issue("streaming_replica", &[]);
    let certs = json!({"serverCert": server.cert, "serverKey": server.key, "clientCa": pki.ca});
    for (k, v) in [
        ("certificates", certs.clone()),
        ("statusPort", json!(free_port())),
        ("probePort", json!(free_port())),
        ("metricsPort", json!(free_port())),
        ("targetPrimary", json!(name)),
    ] {
        a.set(k, v);
    }
    a.manager_ok(&["instance", "init"]);
    (a, pki, replica, certs)
}

#[test]
fn switchover_and_failover_inside_a_cluster_follow_target_primary() {
    let (mut a, pki, replica, certs) = initialized_primary("pg-a");
    let a_peer = peer(&a);
    let mut run_a = run(&a);
    a.wait_query("postgres", "SELECT 1", "1", LONG);
    a.psql(
        "app",
        "CREATE TABLE t (id bigserial PRIMARY KEY, v text); \
         INSERT INTO t (v) SELECT md5(g::text) FROM generate_series(1, 2000) g",
    );

    // pg-b joins pg-a over TLS and runs as its standby.
    let (mut b, mut run_b) = join("pg-b", &a, &certs, &replica, &pki);
    let b_peer = peer(&b);
    assert_pinned(&b);

    // Switchover pg-a → pg-b under a write load. pg-b learns first and must wait: its WAL
    // receiver still streams from pg-a. Then pg-a steps down, sending its last WAL.
    let writer = {
        let (dir, port) = (a.dir.path().join("run"), a.port);
        std::thread::spawn(move || {
            let mut committed = 0u32;
            for i in 0..5000 {
                let ok = as_postgres(common::pg_bindir().join("psql"))
                    .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
                    .arg(&dir)
                    .args(["-p", &port.to_string(), "-U", "postgres", "-d", "app", "-c"])
                    .arg(format!("INSERT INTO t (v) VALUES ('w{i}')"))
                    .output()
                    .is_ok_and(|o| o.status.success());
                if !ok {
                    break;
                }
                committed += 1;
            }
            committed
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    target(&mut b, &b_peer, &replica, &pki);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        b.psql("postgres", "SELECT pg_is_in_recovery()"),
        "t",
        "pg-b promoted while pg-a was still streaming to it:\n{}",
        manager_log(&b)
    );
    // pg-b's container restarts while it waits: its new manager still knows where it streamed
    // from (the role file says so), comes back streaming from pg-a, and keeps waiting.
    drop(run_b);
    let killed = b.kill_postmaster();
    run_b = run(&b);
    wait_streaming(&b, "pg-b streaming from pg-a again after its restart");
    assert_ne!(
        b.postmaster_pid(),
        Some(killed),
        "pg-b's postmaster was not restarted"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        b.psql("postgres", "SELECT pg_is_in_recovery()"),
        "t",
        "pg-b promoted after a restart while pg-a was still streaming to it:\n{}",
        manager_log(&b)
    );
    target(&mut a, &b_peer, &replica, &pki);
    let committed = writer.join().expect("writer");
    b.wait_query("postgres", "SELECT pg_is_in_recovery()", "f", LONG);
    // Every transaction pg-a acknowledged before it stepped down is on pg-b.
    let on_b: u32 = b
        .psql("app", "SELECT count(*) FROM t WHERE v LIKE 'w%'")
        .parse()
        .expect("count");
    // An INSERT cut by the shutdown may have committed without its client hearing so: at most one
    // more row, never one fewer.
    assert!(
        on_b == committed || on_b == committed + 1,
        "pg-a acknowledged {committed} rows, pg-b has {on_b}"
    );
    wait_streaming(&a, "pg-a rewound and streaming from pg-b");
    assert_pinned(&a);
    b.psql("app", "INSERT INTO t (v) VALUES ('after-switchover')");
    b.psql("postgres", "CHECKPOINT");
    wait_same_rows(&a, &b, "pg-a catching up with pg-b");
    assert_eq!((timeline(&a), timeline(&b)), ("2".into(), "2".into()));
    for step in ["stepping down", "stepped down", "pg_rewind finished"] {
        assert!(
            manager_log(&a).contains(step),
            "{step}: {}",
            manager_log(&a)
        );
    }

    // Failover: pg-b (primary) dies with its manager. pg-a is told it is the target and promotes
    // at once (nothing streams to it any more).
    drop(run_b);
    let killed = b.kill_postmaster();
    target(&mut a, &a_peer, &replica, &pki);
    a.wait_query("postgres", "SELECT pg_is_in_recovery()", "f", LONG);
    a.psql("app", "INSERT INTO t (v) VALUES ('after-failover')");

    // pg-b comes back pointed at pg-a: crashed as a primary, it is rewound (pg_rewind runs the
    // crash recovery itself) and starts as a standby of pg-a, never as a second primary.
    target(&mut b, &a_peer, &replica, &pki);
    run_b = run(&b);
    wait_streaming(
        &b,
        "pg-b rewound and streaming from pg-a after the failover",
    );
    wait_same_rows(&b, &a, "pg-b catching up with pg-a");
    assert_ne!(b.postmaster_pid(), Some(killed));
    assert!(
        manager_log(&b).matches("pg_rewind finished").count() >= 1,
        "pg-b came back without a rewind:\n{}",
        manager_log(&b)
    );
    assert_eq!((timeline(&a), timeline(&b)), ("3".into(), "3".into()));
    assert_eq!(
        b.psql("app", "SELECT count(*) FROM t WHERE v = 'after-failover'"),
        "1"
    );

    assert!(run_b.terminate().success());
    assert!(run_a.terminate().success());
}

#[test]
fn a_failed_rewind_never_leaves_a_former_primary_to_start_as_a_primary() {
    let mut a = Node::new("pg-r", "pg");
    for (k, v) in [
        ("statusPort", json!(free_port())),
        ("probePort", json!(free_port())),
        ("metricsPort", json!(free_port())),
        ("smartShutdownTimeout", json!(1)),
    ] {
        a.set(k, v);
    }
    a.init_and_start();
    a.psql(
        "app",
        "CREATE TABLE t (v text); INSERT INTO t VALUES ('written as a primary')",
    );
    a.manager_ok(&["instance", "stop", "--mode", "fast"]);
    // Another instance is the primary now; pg_rewind from it fails.
    let faults = FaultyBindir::new(a.dir.path());
    faults.set("pg_rewind", Fault::Fail);
    a.set("pgBindir", json!(faults.dir));
    a.set("targetPrimary", json!("pg-new"));
    a.set(
        "primaryConnection",
        json!({"connectionParameters": {
            "host": "127.0.0.1", "port": free_port().to_string(), "user": "streaming_replica",
        }}),
    );
    let standby_signal = a.pgdata().join("standby.signal");

    // Under `instance run`: the rewind fails and is retried, postgres stays down, and the data
    // directory keeps a standby's signal file all along.
    let mut run_a = run(&a);
    common::wait_for("two failed rewinds", LONG, || {
        match faults.hits("pg_rewind") {
            n if n >= 2 => Ok(()),
            n => Err(format!("{n} rewinds\n{}", manager_log(&a))),
        }
    });
    assert!(standby_signal.exists(), "{}", manager_log(&a));
    assert_eq!(a.postmaster_pid(), None, "postgres started unrewound");
    assert!(
        manager_log(&a).contains("cannot rewind from the new primary yet"),
        "{}",
        manager_log(&a)
    );
    // SIGTERM while it waits to rewind: a prompt, clean exit.
    let asked = std::time::Instant::now();
    assert!(run_a.terminate().success());
    assert!(
        asked.elapsed() < Duration::from_secs(30),
        "{:?}",
        asked.elapsed()
    );

    // `instance follow`: the same failure is reported, and still leaves a standby's files.
    let rewinds = faults.hits("pg_rewind");
    let out = a.manager(&["instance", "follow"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "follow must fail when pg_rewind does"
    );
    assert!(stderr.contains("injected fault"), "{stderr}");
    assert_eq!(faults.hits("pg_rewind"), rewinds + 1);
    assert!(
        standby_signal.exists(),
        "a failed rewind took the standby signal away"
    );
    // So whatever starts it next starts a standby, never a second primary.
    a.manager_ok(&["instance", "start"]);
    assert_eq!(a.psql("postgres", "SELECT pg_is_in_recovery()"), "t");
    assert_eq!(a.psql("app", "SELECT count(*) FROM t"), "1");
}

/// A standby joined to `primary` by pg_basebackup over TLS, started under `instance run`.
fn join(
    name: &str,
    primary: &Node,
    certs: &Value,
    replica: &Pair,
    pki: &Pki,
) -> (Node, ChildGuard) {
    let mut n = Node::new(name, "pg");
    for (k, v) in [
        ("certificates", certs.clone()),
        ("statusPort", json!(free_port())),
        ("probePort", json!(free_port())),
        ("metricsPort", json!(free_port())),
        (
            "externalClusters",
            json!([merged(
                json!({"name": primary.name, "connectionParameters": {"host": "127.0.0.1", "port": primary.port.to_string(), "user": "streaming_replica", "sslmode": "verify-full"}}),
                &n.mount_tls_secret("streaming-replica", replica, &pki.ca),
            )]),
        ),
        (
            "bootstrap",
            json!({"pg_basebackup": {"source": primary.name}}),
        ),
    ] {
        n.set(k, v);
    }
    target(&mut n, &peer(primary), replica, pki);
    let running = run(&n);
    wait_streaming(&n, &format!("{name} streaming from {}", primary.name));
    (n, running)
}

/// The primary is lost together with one standby that received WAL the other never did (cut off
/// with it, say). The other standby is promoted: its timeline forks off before the first
/// standby's replay position, which PostgreSQL then refuses to follow. The first standby's
/// manager sees it diverged, rewinds it from the new primary, and it streams again with the new
/// primary's rows.
#[test]
fn a_standby_that_replayed_past_the_new_timeline_fork_is_rewound() {
    let (a, pki, replica, certs) = initialized_primary("pg-p");
    let run_a = run(&a);
    a.wait_query("postgres", "SELECT 1", "1", LONG);
    a.psql(
        "app",
        "CREATE TABLE t (id bigserial PRIMARY KEY, v text); INSERT INTO t (v) VALUES ('everywhere')",
    );
    let (mut ahead, mut run_ahead) = join("pg-ahead", &a, &certs, &replica, &pki);
    let (mut behind, run_behind) = join("pg-behind", &a, &certs, &replica, &pki);
    wait_same_rows(&behind, &a, "pg-behind has the first row");

    // pg-behind stops receiving; pg-ahead alone gets the next rows.
    drop(run_behind);
    behind.kill_postmaster();
    a.psql(
        "app",
        "INSERT INTO t (v) SELECT 'only on pg-ahead' FROM generate_series(1, 500)",
    );
    wait_same_rows(&ahead, &a, "pg-ahead has the rows pg-behind missed");
    // The primary is lost; pg-behind is promoted.
    drop(run_a);
    a.kill_postmaster();
    let behind_peer = peer(&behind);
    target(&mut behind, &behind_peer, &replica, &pki);
    let mut run_behind = run(&behind);
    behind.wait_query("postgres", "SELECT pg_is_in_recovery()", "f", LONG);
    behind.psql("app", "INSERT INTO t (v) VALUES ('on the new timeline')");

    // pg-ahead is pointed at the new primary: diverged, then rewound, then streaming.
    target(&mut ahead, &behind_peer, &replica, &pki);
    common::wait_for("pg-ahead rewound from pg-behind", LONG, || {
        if manager_log(&ahead).contains("pg_rewind ran on the diverged standby") {
            Ok(())
        } else {
            Err(manager_log(&ahead))
        }
    });
    wait_streaming(&ahead, "pg-ahead streaming from pg-behind");
    wait_same_rows(&ahead, &behind, "pg-ahead has exactly pg-behind's rows");
    assert_eq!(timeline(&ahead), "2");
    assert_eq!(
        ahead.psql("app", "SELECT count(*) FROM t WHERE v = 'only on pg-ahead'"),
        "0"
    );
    let log = manager_log(&ahead);
    assert!(
        log.contains("cannot follow it: stopping it to rewind it"),
        "{log}"
    );
    assert!(run_ahead.terminate().success());
    assert!(run_behind.terminate().success());
}
