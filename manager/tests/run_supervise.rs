//! `instance run` as PID 1 would run it: supervises a real postmaster, serves probes, status and
//! metrics, turns jsonlog into JSON lines, reloads on configuration change (a restart waits for the
//! operator's request), restarts
//! a crashed postmaster, fences and unfences, and shuts down on SIGTERM — also while the postmaster
//! it waits for does not answer.

mod common;

use common::node::Node;
use common::{as_postgres, free_port, manager_bin, wait_for};
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(120);

fn http(url: &str) -> Result<(u16, String), String> {
    common::curl_status([url])
}

fn wait_http(url: &str, want: u16) -> String {
    wait_for(&format!("{url} -> {want}"), LONG, || match http(url) {
        Ok((c, body)) if c == want => Ok(body),
        Ok((c, _)) => Err(format!("status {c}")),
        Err(e) => Err(e),
    })
}

fn postmaster_pid(n: &Node) -> String {
    std::fs::read_to_string(n.pgdata().join("postmaster.pid"))
        .ok()
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_default()
}

struct Running {
    child: common::ChildGuard,
    stdout: std::path::PathBuf,
}

fn start_run(n: &Node) -> Running {
    let stdout = n.dir.path().join("manager.stdout");
    let file = std::fs::File::create(&stdout).expect("stdout file");
    let child = as_postgres(manager_bin())
        .args(["instance", "run", "--config"])
        .arg(n.config_path())
        .stdout(Stdio::from(file))
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn manager");
    Running {
        child: common::ChildGuard(child),
        stdout,
    }
}

#[test]
fn run_supervises_postgres_end_to_end() {
    let mut n = Node::new("run1", "alpha");
    let (probe, status, metrics) = (free_port(), free_port(), free_port());
    let queries = n.dir.path().join("queries.yaml");
    std::fs::write(&queries, "app_events:\n  query: \"SELECT 42 AS total, 'x' AS kind\"\n  metrics:\n    - kind: {usage: LABEL, description: kind}\n    - total: {usage: GAUGE, description: events}\n").expect("write");
    common::chown_pg(&queries);
    n.set("probePort", json!(probe));
    n.set("statusPort", json!(status));
    n.set("metricsPort", json!(metrics));
    n.set("customQueriesFile", json!(queries));
    n.manager_ok(&["instance", "init"]);
    let mut run = start_run(&n);
    let base = format!("http://127.0.0.1:{probe}");

    wait_http(&format!("{base}/readyz"), 200);
    wait_http(&format!("{base}/healthz"), 200);
    wait_http(&format!("{base}/startupz"), 200);
    let st: Value =
        serde_json::from_str(&wait_http(&format!("{base}/pg/status"), 200)).expect("status JSON");
    assert_eq!(st["isPrimary"], true, "{st}");
    assert_eq!(st["timeLineID"], 1, "{st}");
    assert_eq!(
        st["systemID"].as_str(),
        Some(
            n.psql(
                "postgres",
                "SELECT system_identifier FROM pg_control_system()"
            )
            .as_str()
        )
    );
    assert!(
        st["currentLsn"].as_str().is_some_and(|l| l.contains('/')),
        "{st}"
    );
    assert_eq!(st["pendingRestart"], false);

    let page = wait_http(&format!("http://127.0.0.1:{metrics}/metrics"), 200);
    assert!(page.contains("pg_up 1"), "{page}");
    assert!(page.contains("app_events_total{kind=\"x\"} 42"), "{page}");
    assert!(page.contains("pg_stat_archiver_archived_count"), "{page}");

    // jsonlog → JSON lines with {ts, level, logger, msg, record}.
    assert!(n.try_psql("postgres", "SELECT 1/0").is_err());
    let line = wait_for("the division error on stdout", LONG, || {
        let out = std::fs::read_to_string(&run.stdout).map_err(|e| e.to_string())?;
        out.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| {
                v["logger"] == "postgres"
                    && v["msg"]
                        .as_str()
                        .is_some_and(|m| m.contains("division by zero"))
            })
            .ok_or_else(|| "not yet".to_string())
    });
    assert_eq!(line["level"], "error");
    assert!(
        line["ts"].is_string() && line["record"]["pid"].is_number(),
        "{line}"
    );

    // A reloadable parameter is applied without a restart.
    let pid = postmaster_pid(&n);
    n.cfg["postgresql"]["parameters"]["work_mem"] = json!("7MB");
    n.write_config();
    n.wait_query("postgres", "SHOW work_mem", "7MB", LONG);
    assert_eq!(postmaster_pid(&n), pid, "reload must not restart");
    // A parameter that needs a restart waits for the operator, which restarts the instances one
    // at a time (`POST /pg/restart`, tests/operator_requests.rs): never all at once by themselves.
    n.cfg["postgresql"]["parameters"]["max_connections"] = json!("40");
    n.write_config();
    n.wait_query(
        "postgres",
        "SELECT pending_restart FROM pg_settings WHERE name = 'max_connections'",
        "t",
        LONG,
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(postmaster_pid(&n), pid, "restarted without being asked");
    assert_eq!(n.psql("postgres", "SHOW max_connections"), "30");

    // A crashed postmaster is started again.
    let pid = postmaster_pid(&n);
    Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .expect("kill");
    wait_for("a new postmaster", LONG, || {
        let now = postmaster_pid(&n);
        if !now.is_empty() && now != pid && n.try_psql("postgres", "SELECT 1").is_ok() {
            Ok(())
        } else {
            Err(now)
        }
    });

    // Fencing stops postgres but the manager stays alive; unfencing brings it back.
    n.set("fenced", json!(true));
    wait_http(&format!("{base}/readyz"), 503);
    assert_eq!(http(&format!("{base}/healthz")).expect("healthz").0, 200);
    assert!(n.try_psql("postgres", "SELECT 1").is_err());
    let st: Value =
        serde_json::from_str(&wait_http(&format!("{base}/pg/status"), 200)).expect("status JSON");
    assert_eq!(st["fenced"], true);
    n.set("fenced", json!(false));
    wait_http(&format!("{base}/readyz"), 200);

    // SIGTERM: smart shutdown, clean exit, clean control file.
    Command::new("kill")
        .args(["-TERM", &run.child.0.id().to_string()])
        .status()
        .expect("kill");
    let status = wait_for("the manager to exit", LONG, || {
        match run.child.0.try_wait() {
            Ok(Some(s)) => Ok(s),
            _ => Err("running".into()),
        }
    });
    assert!(status.success(), "{status}");
    assert!(!n.pgdata().join("postmaster.pid").exists());
    let cd = Command::new(common::pg_bindir().join("pg_controldata"))
        .arg(n.pgdata())
        .env("LC_ALL", "C")
        .output()
        .expect("controldata");
    assert!(
        String::from_utf8_lossy(&cd.stdout).contains("shut down"),
        "not a clean shutdown"
    );
}

#[test]
fn init_refuses_owned_parameters_and_applies_initdb_options() {
    let mut n = Node::new("run2", "alpha");
    n.cfg["postgresql"]["parameters"]["archive_command"] = json!("/bin/true");
    n.write_config();
    let out = n.manager(&["instance", "init"]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("postgresql.parameters.archive_command: archive_command is managed by pgfed"),
        "{text}"
    );
    assert!(
        !n.pgdata().join("PG_VERSION").exists(),
        "refused before initdb"
    );

    n.cfg["postgresql"]["parameters"]
        .as_object_mut()
        .expect("params")
        .remove("archive_command");
    n.cfg["bootstrap"]["initdb"] = json!({
        "database": "shop", "owner": "shopper", "secret": {"name": "shop"},
        "encoding": "LATIN1", "localeCollate": "C", "localeCType": "C", "dataChecksums": true, "walSegmentSize": 32,
        "postInitSQL": ["CREATE ROLE auditor"], "postInitApplicationSQL": ["CREATE TABLE items(id int)"]
    });
    n.write_config();
    let secret = n.dir.path().join("secrets/shop");
    std::fs::create_dir_all(&secret).expect("mkdir");
    std::fs::write(secret.join("username"), "shopper").expect("write");
    std::fs::write(secret.join("password"), "s3cret").expect("write");
    for p in [
        secret.clone(),
        secret.join("username"),
        secret.join("password"),
    ] {
        common::chown_pg(&p);
    }
    n.init_and_start();
    assert_eq!(n.psql("postgres", "SHOW data_checksums"), "on");
    assert_eq!(n.psql("postgres", "SHOW wal_segment_size"), "32MB");
    assert_eq!(
        n.psql(
            "postgres",
            "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = 'shop'"
        ),
        "LATIN1"
    );
    assert_eq!(
        n.psql(
            "postgres",
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'shop'"
        ),
        "shopper"
    );
    assert_eq!(
        n.psql(
            "postgres",
            "SELECT rolreplication FROM pg_roles WHERE rolname = 'streaming_replica'"
        ),
        "t"
    );
    assert_eq!(
        n.psql(
            "postgres",
            "SELECT count(*) FROM pg_roles WHERE rolname = 'auditor'"
        ),
        "1"
    );
    assert_eq!(n.psql("shop", "SELECT count(*) FROM items"), "0");
    // The owner's password from the secret works over TCP (scram-sha-256).
    let ok = as_postgres(common::pg_bindir().join("psql"))
        .args([
            "-X",
            "-At",
            "-h",
            "127.0.0.1",
            "-p",
            &n.port.to_string(),
            "-U",
            "shopper",
            "-d",
            "shop",
            "-c",
            "SELECT current_user",
        ])
        .env("PGPASSWORD", "s3cret")
        .output()
        .expect("psql");
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout).trim(),
        "shopper",
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn sigterm_ends_the_manager_while_postgres_does_not_answer() {
    let mut n = Node::new("run3", "alpha");
    n.set("probePort", json!(free_port()));
    n.set("statusPort", json!(free_port()));
    n.set("metricsPort", json!(free_port()));
    n.set("smartShutdownTimeout", json!(1));
    n.manager_ok(&["instance", "init"]);
    let mut run = start_run(&n);
    n.wait_query("postgres", "SELECT 1", "1", LONG);

    // Freeze the postmaster: it accepts connections and never answers them.
    let pid = postmaster_pid(&n);
    let stopped = Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .expect("kill");
    assert!(stopped.success(), "kill -STOP {pid}: {stopped}");
    let frozen = as_postgres(common::pg_bindir().join("psql"))
        .args(["-X", "-At", "-h"])
        .arg(n.dir.path().join("run"))
        .args([
            "-p",
            &n.port.to_string(),
            "-U",
            "postgres",
            "-c",
            "SELECT 1",
        ])
        .env("PGCONNECT_TIMEOUT", "3")
        .output()
        .expect("psql");
    assert!(!frozen.status.success(), "the postmaster still answers");
    // The manager's loop is now waiting on it.
    std::thread::sleep(Duration::from_secs(3));

    let asked = std::time::Instant::now();
    Command::new("kill")
        .args(["-TERM", &run.child.0.id().to_string()])
        .status()
        .expect("kill");
    let status = wait_for(
        "the manager to exit on SIGTERM",
        Duration::from_secs(180),
        || match run.child.0.try_wait() {
            Ok(Some(s)) => Ok(s),
            _ => Err("running".into()),
        },
    );
    assert!(status.success(), "{status}");
    // Smart, fast and immediate could not stop a frozen postmaster: it was killed.
    let pid: u32 = pid.parse().expect("pid");
    assert!(
        common::node::process_gone(pid),
        "the manager exited and left its postmaster behind"
    );
    // Within its escalation budget: smart 1s, fast 60s, immediate 10s, then the kill.
    assert!(
        asked.elapsed() < Duration::from_secs(150),
        "{:?}",
        asked.elapsed()
    );
}
