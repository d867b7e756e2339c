//! Join: clone a standby with pg_basebackup over TLS using the replication client certificate (no
//! password anywhere), stream from the primary, and read both instances' status over the
//! mutual-TLS status API (refused without a client certificate).

mod common;

use common::certs::Pki;
use common::node::{Node, merged};
use common::{as_postgres, free_port, manager_bin, wait_for};
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(180);

#[test]
fn standby_joins_over_tls_with_client_certificates_and_status_needs_one_too() {
    let mut a = Node::new("join-a", "alpha");
    let pki = Pki::new(&a.dir.path().join("pki"));
    let server = pki.issue("alpha-rw", &["localhost", "127.0.0.1"]);
    let replica = pki.issue("streaming_replica", &[]);
    let operator = pki.issue("pgfed-operator", &[]);
    let certs = json!({"serverCert": server.cert, "serverKey": server.key, "clientCa": pki.ca});
    let status_port = free_port();
    a.set("certificates", certs.clone());
    a.set("statusPort", json!(status_port));
    a.set("probePort", json!(free_port()));
    a.set("metricsPort", json!(free_port()));
    a.manager_ok(&["instance", "init"]);
    let mut run = as_postgres(manager_bin())
        .args(["instance", "run", "--config"])
        .arg(a.config_path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(common::ChildGuard)
        .expect("run");
    a.wait_query("postgres", "SELECT 1", "1", LONG);
    a.psql(
        "postgres",
        "CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g",
    );

    let mut b = Node::new("join-b", "alpha");
    b.set("certificates", certs);
    let tls = b.mount_tls_secret("streaming-replica", &replica, &pki.ca);
    b.set("externalClusters", json!([merged(json!({
        "name": "alpha-primary",
        "connectionParameters": {"host": "127.0.0.1", "port": a.port.to_string(), "user": "streaming_replica", "sslmode": "verify-full", "application_name": "join-b"},
    }), &tls)]));
    b.set(
        "bootstrap",
        json!({"pg_basebackup": {"source": "alpha-primary"}}),
    );
    b.manager_ok(&["instance", "join"]);
    b.manager_ok(&["instance", "start"]);
    a.psql(
        "postgres",
        "INSERT INTO t SELECT g FROM generate_series(1001, 1500) g",
    );
    b.wait_query("postgres", "SELECT count(*) FROM t", "1500", LONG);
    assert_eq!(b.psql("postgres", "SELECT pg_is_in_recovery()"), "t");
    assert_eq!(
        b.psql("postgres", "SELECT status FROM pg_stat_wal_receiver"),
        "streaming"
    );

    // The status API: with the operator's client certificate…
    let url = format!("https://127.0.0.1:{status_port}/pg/status");
    let with_cert = || {
        Command::new("curl")
            .args(["-sf", "--max-time", "10", "--cacert"])
            .arg(&pki.ca)
            .arg("--cert")
            .arg(&operator.cert)
            .arg("--key")
            .arg(&operator.key)
            .arg(&url)
            .output()
            .map_err(|e| e.to_string())
            .and_then(|o| {
                if o.status.success() {
                    Ok(o.stdout)
                } else {
                    Err(format!("curl {}", o.status))
                }
            })
    };
    let st: Value = wait_for("the standby in the primary's status", LONG, || {
        let body = with_cert()?;
        let v: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        let streaming = v["replicationInfo"].as_array().is_some_and(|r| {
            r.iter()
                .any(|s| s["applicationName"] == "join-b" && s["state"] == "streaming")
        });
        if streaming { Ok(v) } else { Err(v.to_string()) }
    });
    assert_eq!(st["isPrimary"], true);
    assert!(
        st["replicationInfo"][0]["replayLagBytes"].is_number(),
        "{st}"
    );
    // …and without one the TLS handshake is refused.
    let anonymous = Command::new("curl")
        .args(["-s", "--max-time", "10", "--cacert"])
        .arg(&pki.ca)
        .arg(&url)
        .output()
        .expect("curl");
    assert!(
        !anonymous.status.success(),
        "status API answered without a client certificate"
    );

    // The standby's own status document reports its WAL receiver.
    let out = b.manager_ok(&["instance", "status"]);
    let bst: Value = serde_json::from_str(&out).expect("status JSON");
    assert_eq!(bst["isPrimary"], false);
    assert_eq!(bst["isWalReceiverActive"], true, "{bst}");
    assert!(bst["replayLsn"].as_str().is_some(), "{bst}");

    assert!(run.terminate().success());

    // Failover without a token, then the old primary writes on its own: timelines diverge. Following
    // the new primary rewinds it (pg_rewind as streaming_replica, certificate auth) and it streams.
    b.manager_ok(&["instance", "promote"]);
    b.psql("postgres", "INSERT INTO t VALUES (-2)");
    a.manager_ok(&["instance", "start"]);
    a.psql("postgres", "INSERT INTO t VALUES (-1)");
    let tls = a.mount_tls_secret("streaming-replica", &replica, &pki.ca);
    a.set("externalClusters", json!([merged(json!({
        "name": "beta-primary",
        "connectionParameters": {"host": "127.0.0.1", "port": b.port.to_string(), "user": "streaming_replica", "sslmode": "verify-full", "application_name": "join-a"},
    }), &tls)]));
    a.set(
        "replica",
        json!({"enabled": true, "source": "beta-primary"}),
    );
    let follow = a.manager(&["instance", "follow"]);
    let follow_log = String::from_utf8_lossy(&follow.stderr).into_owned();
    assert!(follow.status.success(), "{follow_log}");
    a.manager_ok(&["instance", "start"]);
    b.psql("postgres", "INSERT INTO t VALUES (-3)");
    if a.try_psql("postgres", "SELECT pg_is_in_recovery()")
        .as_deref()
        != Ok("t")
    {
        panic!("follow did not make a standby: {follow_log}\n{}", a.log());
    }
    a.wait_query(
        "postgres",
        "SELECT string_agg(g::text, ',' ORDER BY g) FROM t WHERE g < 0",
        "-3,-2",
        LONG,
    );
    assert_eq!(a.psql("postgres", "SELECT pg_is_in_recovery()"), "t");
}
