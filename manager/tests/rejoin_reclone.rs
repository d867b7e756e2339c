//! A former primary that pg_rewind cannot bring back: under `instance run` it is re-cloned from
//! the new primary (its own divergent writes gone, the new primary's rows there) and streams from
//! it, and its status reports the re-clone. A "new primary" that is another database system is
//! refused: nothing in the data directory is removed, the status reports the refusal, and the
//! instance still starts on its own data once it is named the primary again. A re-clone
//! interrupted between the two renames of its swap is finished as a clone at the next start. A
//! standby promoted after its primary was lost first replays the primary's in-progress WAL copy
//! in the object store, so a replica region that replayed it is not left ahead of the new primary.

mod common;

use common::certs::{Pair, Pki};
use common::minio::Minio;
use common::mtls::StatusClient;
use common::node::{Node, s3_store};
use common::{
    ChildGuard, as_postgres, chown_pg, free_port, manager_bin, pg_bindir, run_ok, wait_for,
};
use pgfed_api::instance::{CONFIG_PATH, STATUS_PATH};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(180);

/// One test at a time: each stops and restarts its managers on ports chosen once, which a test
/// running alongside could take in between; and the machine running them is small.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `instance run` for the pod `pod`, its output in `manager.log` (appended, so the log of an
/// earlier run stays for failure messages).
fn start_run(n: &Node, pod: &str) -> ChildGuard {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(n.dir.path().join("manager.log"))
        .expect("log file");
    as_postgres(manager_bin())
        .args(["instance", "run", "--config"])
        .arg(n.config_path())
        .env("POD_NAME", pod)
        .stdout(Stdio::from(log.try_clone().expect("log")))
        .stderr(Stdio::from(log))
        .spawn()
        .map(ChildGuard)
        .expect("spawn manager")
}

fn manager_log(n: &Node) -> String {
    std::fs::read_to_string(n.dir.path().join("manager.log")).unwrap_or_default()
}

/// The node-local settings (directories, ports) of `n` on top of the cluster's shared ones.
fn share(n: &mut Node, cluster: &Value) {
    let local = n.cfg.clone();
    n.cfg = cluster.clone();
    for key in [
        "pgdata",
        "port",
        "socketDir",
        "secretsDir",
        "dynamicConfigFile",
    ] {
        n.cfg[key] = local[key].clone();
    }
    for key in ["probePort", "statusPort", "metricsPort"] {
        n.cfg[key] = json!(free_port());
    }
    n.write_config();
}

/// What the operator's ConfigMap of a cluster whose target primary is `target` (listening on
/// `port`) holds: certificates for the status API and the replication certificate to reach the
/// primary.
fn cluster_config(base: &Value, pki: &Pki, server: &Pair, replication: &Pair) -> Value {
    let mut cluster = base.clone();
    if let Some(o) = cluster.as_object_mut() {
        o.remove("instanceName");
    }
    cluster["certificates"] = json!({"serverCert": server.cert, "serverKey": server.key, "clientCa": pki.ca, "serverCa": pki.ca});
    cluster["primaryConnection"] = json!({
        "connectionParameters": {
            "host": "127.0.0.1", "user": "streaming_replica", "sslmode": "verify-ca",
            "dbname": "postgres",
        },
        "sslCert": replication.cert, "sslKey": replication.key, "sslRootCert": pki.ca,
    });
    cluster
}

/// Points `n` at `target` (listening on `port`) as the cluster's primary.
fn target(n: &mut Node, target: &str, port: u16) {
    n.cfg["targetPrimary"] = json!(target);
    n.cfg["primaryConnection"]["connectionParameters"]["port"] = json!(port.to_string());
    n.write_config();
}

fn wait_showing_the_log(n: &Node, sql: &str, want: &str) {
    wait_for(&format!("[{}] {sql} = {want}", n.name), LONG, || {
        match n.try_psql("postgres", sql) {
            Ok(v) if v == want => Ok(()),
            other => {
                let log = manager_log(n);
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                Err(format!(
                    "{other:?}; manager log (last lines first):\n{}",
                    tail.join("\n")
                ))
            }
        }
    });
}

/// Waits until `n` runs as a primary under its manager: the status port answers only once the
/// bootstrap is done (init's own short-lived server must not be mistaken for the instance, nor a
/// manager stopped while it still bootstraps).
fn wait_primary(n: &Node, pki: &Pki, operator: &Pair) {
    let client = StatusClient {
        base: format!("https://127.0.0.1:{}", n.cfg["statusPort"]),
        ca: &pki.ca,
        client: operator,
    };
    wait_for(&format!("[{}] primary", n.name), LONG, || {
        let (_, body) = client.request("GET", STATUS_PATH, None)?;
        let v: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        if v["isPrimary"] == true && v["postgresRunning"] == true {
            Ok(())
        } else {
            Err(body)
        }
    });
}

fn system_identifier(pgdata: &Path) -> String {
    let out = run_ok(as_postgres(pg_bindir().join("pg_controldata")).arg(pgdata));
    out.lines()
        .find_map(|l| l.strip_prefix("Database system identifier:"))
        .map(|v| v.trim().to_string())
        .expect("system identifier")
}

/// The rejoin report of `n`'s status document, once it reports one of `kind`.
fn wait_rejoin(n: &Node, pki: &Pki, operator: &Pair, kind: &str) -> Value {
    let client = StatusClient {
        base: format!("https://127.0.0.1:{}", n.cfg["statusPort"]),
        ca: &pki.ca,
        client: operator,
    };
    wait_for(&format!("[{}] rejoin {kind}", n.name), LONG, || {
        let answer = client
            .request("GET", STATUS_PATH, None)
            .and_then(|(code, body)| {
                serde_json::from_str::<Value>(&body).map_err(|e| format!("{code} {e}"))
            });
        match answer {
            Ok(v) if v["rejoin"]["kind"] == kind => Ok(v["rejoin"].clone()),
            other => {
                // The manager's own warnings and errors (postgres' log lines are in it too).
                let log = manager_log(n);
                let own: Vec<&str> = log
                    .lines()
                    .filter(|l| !l.contains("\"INFO\"") && !l.contains("\"logger\""))
                    .rev()
                    .take(10)
                    .collect();
                Err(format!("{other:?}\n{}", own.join("\n")))
            }
        }
    })
}

/// Names `pod` (node `n`, under its manager) the target primary through the status API, as the
/// operator does, and waits until it runs as the primary.
fn promote(n: &Node, pki: &Pki, operator: &Pair, pod: &str) {
    let client = StatusClient {
        base: format!("https://127.0.0.1:{}", n.cfg["statusPort"]),
        ca: &pki.ca,
        client: operator,
    };
    client.wait_get(CONFIG_PATH, LONG);
    client.put_expect(
        CONFIG_PATH,
        &format!(r#"{{"version":1,"targetPrimary":"{pod}"}}"#),
        200,
    );
    wait_showing_the_log(n, "SELECT pg_is_in_recovery()", "f");
}

/// Removes every WAL segment of a stopped data directory (history files stay): what pg_rewind
/// needs to read the target's WAL back to the point of divergence is gone.
fn remove_wal_segments(pgdata: &Path) -> usize {
    let mut removed = 0;
    for entry in std::fs::read_dir(pgdata.join("pg_wal")).expect("pg_wal") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.len() == 24 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            std::fs::remove_file(&path).expect("remove segment");
            removed += 1;
        }
    }
    removed
}

#[test]
fn a_former_primary_pg_rewind_cannot_bring_back_is_recloned_and_streams_from_the_new_primary() {
    let _serial = serial();
    let mut a = Node::new("rejoin-a", "pg");
    let pki = Pki::new(&a.dir.path().join("pki"));
    let server = pki.issue("pg-rw", &["localhost", "127.0.0.1"]);
    let replication = pki.issue("streaming_replica", &[]);
    let operator = pki.issue("pgfed-operator", &[]);
    let cluster = cluster_config(&a.cfg, &pki, &server, &replication);
    share(&mut a, &cluster);
    let port = a.port;
    target(&mut a, "rejoin-a", port);
    let mut run_a = start_run(&a, "rejoin-a");
    wait_primary(&a, &pki, &operator);
    a.psql(
        "postgres",
        "CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g",
    );

    let mut b = Node::new("rejoin-b", "pg");
    share(&mut b, &cluster);
    target(&mut b, "rejoin-a", a.port);
    let mut run_b = start_run(&b, "rejoin-b");
    // As the kubelet would, a manager whose first clone failed is started again.
    wait_for("[rejoin-b] cloned and streaming", LONG, || {
        if let Ok(Some(status)) = run_b.0.try_wait() {
            run_b = start_run(&b, "rejoin-b");
            return Err(format!("manager exited ({status}), restarted"));
        }
        match b.try_psql("postgres", "SELECT count(*) FROM t") {
            Ok(n) if n == "1000" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });

    // The standby goes away; the primary writes on alone and moves to new WAL segments.
    assert!(run_b.terminate().success());
    a.psql("postgres", "INSERT INTO t VALUES (-1)");
    a.make_segments(3);
    a.psql("postgres", "CHECKPOINT");
    assert!(run_a.terminate().success());

    // The standby is promoted (the former primary is down): timelines diverge.
    let mut run_b = start_run(&b, "rejoin-b");
    promote(&b, &pki, &operator, "rejoin-b");
    b.psql(
        "postgres",
        "INSERT INTO t SELECT g FROM generate_series(2001, 2100) g",
    );
    b.psql("postgres", "INSERT INTO t VALUES (-2)");

    // The former primary loses the WAL pg_rewind would read back to the divergence.
    let system_id = system_identifier(&a.pgdata());
    assert!(remove_wal_segments(&a.pgdata()) > 0);
    std::fs::write(a.pgdata().join("only-in-the-old-copy"), "x").expect("marker");

    // Told to follow the new primary, it cannot be rewound: it is re-cloned and streams.
    target(&mut a, "rejoin-b", b.port);
    let mut run_a = start_run(&a, "rejoin-a");
    let report = wait_rejoin(&a, &pki, &operator, "recloned");
    let reason = report["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("pg_wal") || reason.contains("WAL"),
        "{report}"
    );
    assert!(report["time"].as_str().is_some(), "{report}");
    wait_showing_the_log(&a, "SELECT pg_is_in_recovery()", "t");
    b.psql("postgres", "INSERT INTO t VALUES (-3)");
    wait_showing_the_log(
        &a,
        "SELECT string_agg(g::text, ',' ORDER BY g) FROM t WHERE g < 0",
        "-3,-2",
    );
    wait_showing_the_log(
        &a,
        "SELECT count(*) FROM t WHERE g BETWEEN 2001 AND 2100",
        "100",
    );
    a.wait_query(
        "postgres",
        "SELECT status FROM pg_stat_wal_receiver",
        "streaming",
        LONG,
    );
    assert_eq!(
        b.psql(
            "postgres",
            "SELECT application_name || ' ' || state FROM pg_stat_replication"
        ),
        "rejoin-a streaming"
    );

    // The same system, a fresh copy: the old files are gone, and so are the scratch directories.
    assert_eq!(system_identifier(&a.pgdata()), system_id);
    assert!(!a.pgdata().join("only-in-the-old-copy").exists());
    for leftover in ["pgdata.pgfed-reclone-new", "pgdata.pgfed-reclone-old"] {
        assert!(!a.dir.path().join(leftover).exists(), "{leftover} left");
    }
    let record = std::fs::read_to_string(a.dir.path().join("pgdata.pgfed-bootstrap"))
        .expect("bootstrap record");
    assert_eq!(record, r#"{"state":"complete","method":"clone"}"#);
    let log = manager_log(&a);
    assert!(log.contains("re-cloning it from the new primary"), "{log}");
    println!("reported: {report}");
    for line in log
        .lines()
        .filter(|l| l.contains("re-clon") || l.contains("pg_rewind"))
    {
        println!("{line}");
    }

    // The report outlives the manager: a restart still reports the same occurrence.
    assert!(run_a.terminate().success());
    let mut run_a = start_run(&a, "rejoin-a");
    let again = wait_rejoin(&a, &pki, &operator, "recloned");
    assert_eq!(again["time"], report["time"]);
    assert!(run_a.terminate().success());

    // A crash between the swap's two renames: PGDATA moved aside, a partial copy beside it, the
    // record "in progress". The next start never starts either: it clones again and streams.
    let pgdata = a.pgdata();
    let (new, old) = (
        a.dir.path().join("pgdata.pgfed-reclone-new"),
        a.dir.path().join("pgdata.pgfed-reclone-old"),
    );
    std::fs::rename(&pgdata, &old).expect("move PGDATA aside");
    std::fs::create_dir(&new).expect("partial copy");
    std::fs::write(new.join("PG_VERSION"), "15\n").expect("partial copy");
    chown_pg(&new);
    chown_pg(&new.join("PG_VERSION"));
    let record = a.dir.path().join("pgdata.pgfed-bootstrap");
    std::fs::write(
        &record,
        json!({"state": "inProgress", "method": "clone", "paths": [pgdata, new, old]}).to_string(),
    )
    .expect("record");
    chown_pg(&record);
    let mut run_a = start_run(&a, "rejoin-a");
    b.psql("postgres", "INSERT INTO t VALUES (-4)");
    wait_showing_the_log(
        &a,
        "SELECT string_agg(g::text, ',' ORDER BY g) FROM t WHERE g < 0",
        "-4,-3,-2",
    );
    assert_eq!(a.psql("postgres", "SELECT pg_is_in_recovery()"), "t");
    assert_eq!(system_identifier(&a.pgdata()), system_id);
    for leftover in [&new, &old] {
        assert!(!leftover.exists(), "{} left", leftover.display());
    }
    assert_eq!(
        std::fs::read_to_string(&record).expect("record"),
        r#"{"state":"complete","method":"clone"}"#
    );
    assert!(run_a.terminate().success());
    assert!(run_b.terminate().success());
}

#[test]
fn a_source_from_another_system_is_refused_and_nothing_is_deleted() {
    let _serial = serial();
    let mut x = Node::new("foreign-x", "pg");
    let pki = Pki::new(&x.dir.path().join("pki"));
    let server = pki.issue("pg-rw", &["localhost", "127.0.0.1"]);
    let replication = pki.issue("streaming_replica", &[]);
    let operator = pki.issue("pgfed-operator", &[]);
    let cluster = cluster_config(&x.cfg, &pki, &server, &replication);
    share(&mut x, &cluster);
    let port = x.port;
    target(&mut x, "foreign-x", port);
    let mut run_x = start_run(&x, "foreign-x");
    wait_primary(&x, &pki, &operator);
    x.psql(
        "postgres",
        "CREATE TABLE t AS SELECT g FROM generate_series(1, 500) g",
    );
    assert!(run_x.terminate().success());
    let system_id = system_identifier(&x.pgdata());
    std::fs::write(x.pgdata().join("sentinel"), "kept").expect("sentinel");

    // Another database system, initialised on its own, with the same certificates.
    let mut y = Node::new("foreign-y", "pg");
    share(&mut y, &cluster);
    let port = y.port;
    target(&mut y, "foreign-y", port);
    let mut run_y = start_run(&y, "foreign-y");
    wait_primary(&y, &pki, &operator);
    assert_ne!(system_identifier(&y.pgdata()), system_id);

    // Told to follow it, pg_rewind refuses: reported, postgres stays down, nothing removed.
    target(&mut x, "foreign-y", y.port);
    let mut run_x = start_run(&x, "foreign-x");
    let report = wait_rejoin(&x, &pki, &operator, "rewindRefused");
    assert!(
        report["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("different systems"),
        "{report}"
    );
    // Another retry or two: still refused, still the same occurrence.
    std::thread::sleep(Duration::from_secs(12));
    let again = wait_rejoin(&x, &pki, &operator, "rewindRefused");
    assert_eq!(again["time"], report["time"]);
    assert!(x.try_psql("postgres", "SELECT 1").is_err(), "postgres runs");
    assert_eq!(
        std::fs::read_to_string(x.pgdata().join("sentinel")).expect("sentinel"),
        "kept"
    );
    assert_eq!(system_identifier(&x.pgdata()), system_id);
    for leftover in ["pgdata.pgfed-reclone-new", "pgdata.pgfed-reclone-old"] {
        assert!(!x.dir.path().join(leftover).exists(), "{leftover} made");
    }
    let log = manager_log(&x);
    assert!(!log.contains("re-cloning it"), "{log}");

    // Named the primary again, it starts on its own data.
    let port = x.port;
    target(&mut x, "foreign-x", port);
    wait_showing_the_log(&x, "SELECT count(*) FROM t", "500");
    assert!(run_x.terminate().success());
    assert!(run_y.terminate().success());
}

/// The primary's in-progress copy of its current segment (uncompressed) in `bucket`, once it
/// holds `bytes` bytes of segment `segment`.
fn wait_in_progress_copy(minio: &Minio, bucket: &str, segment: &str, bytes: u64, into: &Path) {
    let prefix = "pg/pgfed-partial/";
    wait_for(
        &format!("the in-progress copy of {segment} to hold {bytes} bytes"),
        LONG,
        || {
            let key = minio
                .list(bucket, prefix)
                .into_iter()
                .find(|k| k.contains(segment))
                .ok_or_else(|| format!("no copy of {segment} under {prefix}"))?;
            minio.get_file(bucket, &key, into);
            let len = std::fs::metadata(into).map(|m| m.len()).unwrap_or_default();
            if len >= bytes {
                Ok(())
            } else {
                Err(format!("{len} bytes"))
            }
        },
    );
}

#[test]
fn a_standby_promoted_after_its_primary_was_lost_replays_the_primarys_in_progress_copy_first() {
    let _serial = serial();
    let minio = Minio::start();
    minio.create_bucket("local");
    let mut a = Node::new("lost-a", "pg");
    let pki = Pki::new(&a.dir.path().join("pki"));
    let server = pki.issue("pg-rw", &["localhost", "127.0.0.1"]);
    let replication = pki.issue("streaming_replica", &[]);
    let operator = pki.issue("pgfed-operator", &[]);
    let mut cluster = cluster_config(&a.cfg, &pki, &server, &replication);
    cluster["backup"] = json!({"barmanObjectStore": s3_store(&minio, "local", json!({}))});
    cluster["partialWalUploadSeconds"] = json!(1);
    cluster["postgresql"]["parameters"]["archive_timeout"] = json!("1h");
    share(&mut a, &cluster);
    let port = a.port;
    target(&mut a, "lost-a", port);
    let run_a = start_run(&a, "lost-a");
    wait_primary(&a, &pki, &operator);
    a.psql(
        "postgres",
        "CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g",
    );
    let mut b = Node::new("lost-b", "pg");
    share(&mut b, &cluster);
    target(&mut b, "lost-a", a.port);
    let mut run_b = start_run(&b, "lost-b");
    wait_showing_the_log(&b, "SELECT count(*) FROM t", "1000");

    // The standby goes away; the primary commits more, which only its in-progress copy in the
    // object store carries (no segment switch, no archiving); then the primary is lost.
    assert!(run_b.terminate().success());
    a.psql("postgres", "INSERT INTO t VALUES (-1)");
    let (segment, offset) = {
        let row = a.psql(
            "postgres",
            "SELECT file_name || ' ' || file_offset FROM pg_walfile_name_offset(pg_current_wal_flush_lsn())",
        );
        let mut words = row.split_whitespace();
        let segment = words.next().unwrap_or_default().to_string();
        let offset: u64 = words
            .next()
            .and_then(|o| o.parse().ok())
            .unwrap_or_default();
        (segment, offset)
    };
    wait_in_progress_copy(
        &minio,
        "local",
        &segment,
        offset,
        &a.dir.path().join("copy"),
    );
    drop(run_a);
    a.kill_postmaster();

    // The standby is promoted: it replays the copy before it forks its timeline.
    let mut run_b = start_run(&b, "lost-b");
    promote(&b, &pki, &operator, "lost-b");
    assert_eq!(
        b.psql("postgres", "SELECT count(*) FROM t WHERE g = -1"),
        "1",
        "the commit only the in-progress copy carried is missing after the promotion"
    );
    assert!(run_b.terminate().success());
}
