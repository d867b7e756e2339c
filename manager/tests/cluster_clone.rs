//! Instances of one Cluster as the operator runs them: one configuration file for all, each pod
//! told its name in `POD_NAME`. The instance `targetPrimary` names runs the cluster's bootstrap
//! (initdb); another clones itself from it with pg_basebackup over TLS (the replication client
//! certificate, no password) and streams from it; without `primaryConnection` it refuses by name.
//! A new `targetPrimary` pushed over mutual TLS promotes the standby (time printed).

mod common;

use common::certs::Pki;
use common::mtls::{StatusClient, time_until};
use common::node::Node;
use common::{ChildGuard, as_postgres, free_port, manager_bin};
use pgfed_api::instance::{CONFIG_PATH, STATUS_PATH};
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(180);

/// `instance run` for the pod `pod`.
fn start_run(n: &Node, pod: &str) -> ChildGuard {
    let log = std::fs::File::create(n.dir.path().join("manager.log")).expect("log file");
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

/// The node-local settings (directories, ports) of `n` on top of the cluster's shared ones: on
/// one machine the instances cannot share paths and ports as pods do.
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

/// Waits until `sql` returns `want` on `n`, showing the end of its manager's log when it does not.
fn wait_showing_the_log(n: &Node, sql: &str, want: &str) {
    common::wait_for(&format!("[{}] {sql} = {want}", n.name), LONG, || {
        match n.try_psql("postgres", sql) {
            Ok(v) if v == want => Ok(()),
            other => {
                let log =
                    std::fs::read_to_string(n.dir.path().join("manager.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                Err(format!(
                    "{other:?}; manager log (last lines first):\n{}",
                    tail.join("\n")
                ))
            }
        }
    });
}

#[test]
fn the_target_primary_initdbs_and_another_instance_clones_itself_from_it_and_streams() {
    let mut a = Node::new("clone-a", "pg");
    let pki = Pki::new(&a.dir.path().join("pki"));
    let server = pki.issue("pg-rw", &["localhost", "127.0.0.1"]);
    let replication = pki.issue("streaming_replica", &[]);
    let operator = pki.issue("pgfed-operator", &[]);

    // What the operator's ConfigMap holds: no instanceName, the first instance as target primary.
    let mut cluster = a.cfg.clone();
    if let Some(o) = cluster.as_object_mut() {
        o.remove("instanceName");
    }
    cluster["targetPrimary"] = json!("clone-a");
    cluster["certificates"] = json!({"serverCert": server.cert, "serverKey": server.key, "clientCa": pki.ca, "serverCa": pki.ca});
    cluster["primaryConnection"] = json!({
        "connectionParameters": {
            "host": "127.0.0.1", "port": a.port.to_string(), "user": "streaming_replica",
            "sslmode": "verify-ca", "dbname": "postgres",
        },
        "sslCert": replication.cert, "sslKey": replication.key, "sslRootCert": pki.ca,
    });
    share(&mut a, &cluster);
    let mut run_a = start_run(&a, "clone-a");
    // As the operator does: the status port answers once the bootstrap is done (init runs its own
    // short-lived server first, which must not be mistaken for the instance).
    let status_of = |n: &Node| StatusClient {
        base: format!("https://127.0.0.1:{}", n.cfg["statusPort"]),
        ca: &pki.ca,
        client: &operator,
    };
    let a_status: Value =
        serde_json::from_str(&status_of(&a).wait_get(STATUS_PATH, LONG)).expect("status JSON");
    assert_eq!(a_status["instanceName"], "clone-a", "{a_status}");
    wait_showing_the_log(&a, "SELECT pg_is_in_recovery()", "f");
    a.psql(
        "postgres",
        "CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g",
    );

    // Without primaryConnection another instance refuses to clone, by name, and writes nothing.
    let mut c = Node::new("clone-c", "pg");
    let mut no_connection = cluster.clone();
    if let Some(o) = no_connection.as_object_mut() {
        o.remove("primaryConnection");
    }
    share(&mut c, &no_connection);
    let mut refusing = as_postgres(manager_bin())
        .args(["instance", "run", "--config"])
        .arg(c.config_path())
        .env("POD_NAME", "clone-c")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map(ChildGuard)
        .expect("run");
    // Bounded: a manager that wrongly bootstraps runs on instead of exiting.
    let exited = common::wait_for(
        "the refusing manager to exit",
        Duration::from_secs(60),
        || {
            refusing
                .0
                .try_wait()
                .map_err(|e| e.to_string())?
                .ok_or_else(|| {
                    let made = c.pgdata().join("PG_VERSION").exists();
                    format!("still running (PGDATA made: {made})")
                })
        },
    );
    let mut stderr = String::new();
    if let Some(mut pipe) = refusing.0.stderr.take() {
        std::io::Read::read_to_string(&mut pipe, &mut stderr).expect("stderr");
    }
    assert!(!exited.success(), "{stderr}");
    assert!(stderr.contains("primaryConnection"), "{stderr}");
    assert!(!c.pgdata().exists(), "a refused clone wrote PGDATA");

    // The same configuration for the second pod: it clones itself and streams.
    let mut b = Node::new("clone-b", "pg");
    share(&mut b, &cluster);
    let mut run_b = start_run(&b, "clone-b");
    a.psql(
        "postgres",
        "INSERT INTO t SELECT g FROM generate_series(1001, 1500) g",
    );
    wait_showing_the_log(&b, "SELECT count(*) FROM t", "1500");
    assert_eq!(b.psql("postgres", "SELECT pg_is_in_recovery()"), "t");
    b.wait_query(
        "postgres",
        "SELECT status FROM pg_stat_wal_receiver",
        "streaming",
        LONG,
    );
    assert_eq!(
        a.psql(
            "postgres",
            "SELECT application_name || ' ' || usename || ' ' || ssl \
             FROM pg_stat_replication JOIN pg_stat_ssl USING (pid)"
        ),
        "clone-b streaming_replica true"
    );
    let record = std::fs::read_to_string(b.dir.path().join("pgdata.pgfed-bootstrap"))
        .expect("bootstrap record");
    assert_eq!(record, r#"{"state":"complete","method":"clone"}"#);

    // The operator moves targetPrimary to the standby (the old primary is gone): pushed over
    // mutual TLS, it promotes.
    assert!(run_a.terminate().success());
    let client = status_of(&b);
    client.wait_get(CONFIG_PATH, LONG);
    let answered = Instant::now();
    client.put_expect(
        CONFIG_PATH,
        r#"{"version":1,"targetPrimary":"clone-b"}"#,
        200,
    );
    let took = time_until("the standby promoted", answered, LONG, || {
        b.try_psql("postgres", "SELECT pg_is_in_recovery()")
            .as_deref()
            == Ok("f")
    });
    println!(
        "PUT targetPrimary answered 200 → standby promoted: {} ms",
        took.as_millis()
    );
    b.psql("postgres", "INSERT INTO t VALUES (-1)");
    assert!(run_b.terminate().success());
}
