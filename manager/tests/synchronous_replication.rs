//! Synchronous replication as the operator drives it: the `synchronousStandbyNames` of the
//! configuration file, then pushed ones, are enforced by a running primary (after a reload;
//! `SHOW synchronous_standby_names` and the status document report them), while the bootstrap's
//! own statements never wait. With `dataDurability: required` the operator keeps standbys that
//! are down in the list, so a commit waits for them; with `preferred` it lists only streaming
//! standbys (none here, so no value at all), and a commit returns at once.

mod common;

use common::mtls::{StatusClient, serve_status_over_tls};
use common::node::Node;
use common::{ChildGuard, as_postgres, pg_bindir, wait_for};
use pgfed_api::instance::{CONFIG_PATH, STATUS_PATH};
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(120);
/// How long a commit may wait for its synchronous standby before the test's client gives up.
const COMMIT_PATIENCE: Duration = Duration::from_secs(3);

/// A commit as a client with a timeout makes it: after `COMMIT_PATIENCE` the client cancels the
/// query (`statement_timeout` cannot: PostgreSQL stops its timer before the commit waits), and
/// PostgreSQL then warns that it stopped waiting for synchronous replication. Returns how long the
/// commit took and whether it had to be cancelled.
fn commit(n: &Node, table: &str) -> (Duration, bool) {
    let socket = n.dir.path().join("run");
    let started = Instant::now();
    let mut client = as_postgres(pg_bindir().join("psql"))
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-p"])
        .arg(n.port.to_string())
        .arg("-h")
        .arg(&socket)
        .args(["-U", "postgres", "-d", "postgres"])
        .args(["-c", &format!("CREATE TABLE {table} (id int)")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map(ChildGuard)
        .expect("psql");
    let mut cancelled_by_client = false;
    let status = loop {
        if let Some(status) = client.0.try_wait().expect("psql") {
            break status;
        }
        if !cancelled_by_client && started.elapsed() >= COMMIT_PATIENCE {
            n.psql(
                "postgres",
                &format!(
                    "SELECT pg_cancel_backend(pid) FROM pg_stat_activity \
                     WHERE query = 'CREATE TABLE {table} (id int)' AND pid <> pg_backend_pid()"
                ),
            );
            cancelled_by_client = true;
        }
        assert!(
            started.elapsed() < LONG,
            "{table}: the commit never returned"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = started.elapsed();
    let mut stderr = String::new();
    if let Some(mut e) = client.0.stderr.take() {
        std::io::Read::read_to_string(&mut e, &mut stderr).expect("psql stderr");
    }
    assert!(status.success(), "{table}: {stderr}");
    let warned = stderr.contains("canceling wait for synchronous replication");
    assert_eq!(warned, cancelled_by_client, "{table}: {stderr}");
    (took, warned)
}

#[test]
fn a_primary_enforces_the_operators_standby_names_and_waits_for_a_listed_standby() {
    let mut n = Node::new("pg-1", "pg");
    let (pki, operator, status_port) = serve_status_over_tls(&mut n);
    // The first instance of a 3-instance Cluster with `required`: the operator lists the
    // standbys before they exist.
    let required = r#"ANY 1 ("pg-2","pg-3","pg-1")"#;
    n.set(
        "postgresql",
        json!({"parameters": {"shared_buffers": "32MB", "max_connections": "30", "fsync": "off"},
               "synchronous": {"method": "any", "number": 1, "dataDurability": "required"}}),
    );
    n.set("synchronousStandbyNames", json!(required));
    // The bootstrap's own statements do not wait for standbys that do not exist yet.
    n.manager_ok(&["instance", "init"]);
    let _run = n.run_manager();
    let client = StatusClient {
        base: format!("https://127.0.0.1:{status_port}"),
        ca: &pki.ca,
        client: &operator,
    };
    n.wait_query("postgres", "SHOW synchronous_standby_names", required, LONG);
    let (took, cancelled) = commit(&n, "required_with_standbys_down");
    assert!(
        cancelled && took >= COMMIT_PATIENCE,
        "the commit did not wait for a listed standby (took {took:?})"
    );
    println!(
        "commit with required and its standbys down: waited until cancelled after {} ms",
        took.as_millis()
    );

    // `preferred` with no streaming standby: the operator pushes no names, commits return.
    client.put_expect(CONFIG_PATH, &json!({"version": 1}).to_string(), 200);
    n.wait_query("postgres", "SHOW synchronous_standby_names", "", LONG);
    let (took, cancelled) = commit(&n, "preferred_with_standbys_down");
    assert!(
        !cancelled && took < COMMIT_PATIENCE,
        "a commit waited although no standby is listed (took {took:?})"
    );
    println!(
        "commit with preferred and no standby: {} ms",
        took.as_millis()
    );

    // A pushed value is enforced after a reload and reported in the status document.
    let pushed = r#"FIRST 1 ("pg-3")"#;
    client.put_expect(
        CONFIG_PATH,
        &json!({"version": 2, "synchronousStandbyNames": pushed}).to_string(),
        200,
    );
    n.wait_query("postgres", "SHOW synchronous_standby_names", pushed, LONG);
    wait_for("the status reports the enforced names", LONG, || {
        let st: Value =
            serde_json::from_str(&client.wait_get(STATUS_PATH, LONG)).map_err(|e| e.to_string())?;
        match st["synchronousStandbyNames"].as_str() {
            Some(v) if v == pushed => Ok(()),
            _ => Err(st.to_string()),
        }
    });
    let (_, cancelled) = commit(&n, "pushed_with_standby_down");
    assert!(cancelled, "the commit did not wait for the pushed standby");
}
