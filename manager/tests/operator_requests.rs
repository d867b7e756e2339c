//! What the operator asks of a running manager beyond settings, over mutual TLS: a restart of
//! postgres when a changed parameter needs one (`POST /pg/restart`: restarts only when asked and
//! only when needed), and an in-place upgrade (`PUT /manager/binary`: a refused binary changes
//! nothing; an accepted one replaces the manager, which keeps its PID, keeps postgres running
//! without a restart, goes on forwarding the log where it stopped, and still shuts postgres down
//! on SIGTERM; a downgrade works the same).

mod common;

use common::certs::{Pair, Pki};
use common::mtls::{StatusClient, serve_status_over_tls};
use common::node::Node;
use common::{ChildGuard, as_postgres, chown_pg, manager_bin, wait_for};
use pgfed_api::instance::{MANAGER_BINARY_PATH, MANAGER_HASH_HEADER, RESTART_PATH, STATUS_PATH};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(120);

/// A node whose manager serves the status API over mutual TLS; returns the operator's
/// certificate and the status port.
fn tls_node(name: &str) -> (Node, Pki, Pair, u16) {
    let mut n = Node::new(name, "alpha");
    let (pki, operator, status_port) = serve_status_over_tls(&mut n);
    n.manager_ok(&["instance", "init"]);
    (n, pki, operator, status_port)
}

fn start_run(n: &Node, manager: &Path) -> (ChildGuard, PathBuf) {
    let stdout = n.dir.path().join("manager.stdout");
    let log = std::fs::File::create(&stdout).expect("log file");
    let child = as_postgres(manager)
        .args(["instance", "run", "--config"])
        .arg(n.config_path())
        .stdout(Stdio::from(log))
        .stderr(Stdio::null())
        .spawn()
        .map(ChildGuard)
        .expect("spawn manager");
    (child, stdout)
}

fn postmaster_pid(n: &Node) -> String {
    std::fs::read_to_string(n.pgdata().join("postmaster.pid"))
        .ok()
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_default()
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn status(client: &StatusClient) -> Value {
    serde_json::from_str(&client.wait_get(STATUS_PATH, LONG)).expect("status JSON")
}

/// `PUT /manager/binary` with `file` as the body and `announced` as its digest.
fn upload(client: &StatusClient, file: &Path, announced: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "120"])
        .arg("--cacert")
        .arg(client.ca)
        .arg("--cert")
        .arg(&client.client.cert)
        .arg("--key")
        .arg(&client.client.key)
        .args(["-X", "PUT", "-H"])
        .arg(format!("{MANAGER_HASH_HEADER}: {announced}"))
        .args([
            "-H",
            "content-type: application/octet-stream",
            "--data-binary",
        ])
        .arg(format!("@{}", file.display()))
        .arg(format!("{}{MANAGER_BINARY_PATH}", client.base))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// Lines of the manager's stdout that are PostgreSQL log records mentioning `marker`.
fn log_lines_with(stdout: &Path, marker: &str) -> usize {
    std::fs::read_to_string(stdout)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v["logger"] == "postgres" && v["msg"].as_str().is_some_and(|m| m.contains(marker))
        })
        .count()
}

#[test]
fn a_restart_happens_when_the_operator_asks_and_a_parameter_needs_it() {
    let (mut n, pki, operator, port) = tls_node("restart");
    let (mut run, _) = start_run(&n, &manager_bin());
    let client = StatusClient {
        base: format!("https://127.0.0.1:{port}"),
        ca: &pki.ca,
        client: &operator,
    };
    n.wait_query("postgres", "SELECT 1", "1", LONG);
    let pid = postmaster_pid(&n);

    // Asked while nothing needs it: no restart.
    let (code, _) = client
        .request("POST", RESTART_PATH, None)
        .expect("POST restart");
    assert_eq!(code, 202);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        postmaster_pid(&n),
        pid,
        "restarted although nothing needed it"
    );

    // Needed but not asked: reported, not done.
    n.cfg["postgresql"]["parameters"]["max_connections"] = json!("40");
    n.write_config();
    wait_for("pendingRestart in the status", LONG, || {
        let st = status(&client);
        if st["pendingRestart"] == true {
            Ok(())
        } else {
            Err(st.to_string())
        }
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(postmaster_pid(&n), pid, "restarted without being asked");

    // Asked and needed: restarted once, with the new value.
    let (code, _) = client
        .request("POST", RESTART_PATH, None)
        .expect("POST restart");
    assert_eq!(code, 202);
    n.wait_query("postgres", "SHOW max_connections", "40", LONG);
    assert_ne!(postmaster_pid(&n), pid);
    let st = status(&client);
    assert_eq!(st["pendingRestart"], false);
    assert_eq!(st["pendingRestartLowersStandbyMinimum"], false);

    // Lowering a setting standbys must keep at least as high as their primary is told apart (the
    // operator then restarts the primary first); raising one is not.
    n.cfg["postgresql"]["parameters"]["max_connections"] = json!("35");
    n.write_config();
    wait_for("a lowered max_connections reported", LONG, || {
        let st = status(&client);
        if st["pendingRestart"] == true && st["pendingRestartLowersStandbyMinimum"] == true {
            Ok(())
        } else {
            Err(st.to_string())
        }
    });
    n.cfg["postgresql"]["parameters"]["max_connections"] = json!("45");
    n.write_config();
    wait_for("a raised max_connections reported", LONG, || {
        let st = status(&client);
        if st["pendingRestart"] == true && st["pendingRestartLowersStandbyMinimum"] == false {
            Ok(())
        } else {
            Err(st.to_string())
        }
    });
    assert!(run.terminate().success());
}

#[test]
fn an_uploaded_manager_replaces_the_running_one_and_postgres_keeps_running() {
    let (n, pki, operator, port) = tls_node("upgrade");
    // The manager runs from a directory it may write, as /controller in a pod.
    let bin = n.dir.path().join("bin");
    std::fs::create_dir(&bin).expect("mkdir bin");
    chown_pg(&bin);
    let installed = bin.join("manager");
    std::fs::copy(manager_bin(), &installed).expect("copy manager");
    chown_pg(&installed);
    let old_digest = sha256(&installed);
    // Another build: the same program with bytes appended (an ELF runs with a trailer).
    let other = n.dir.path().join("manager-next");
    std::fs::copy(manager_bin(), &other).expect("copy manager");
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&other)
            .expect("open");
        f.write_all(b"\npgfed-test-build-next\n").expect("append");
    }
    let new_digest = sha256(&other);
    let previous = n.dir.path().join("manager-previous");
    std::fs::copy(manager_bin(), &previous).expect("copy manager");

    let (mut run, stdout) = start_run(&n, &installed);
    let manager_pid = run.0.id();
    let client = StatusClient {
        base: format!("https://127.0.0.1:{port}"),
        ca: &pki.ca,
        client: &operator,
    };
    n.wait_query("postgres", "SELECT 1", "1", LONG);
    wait_for("the running manager's digest in the status", LONG, || {
        let st = status(&client);
        if st["managerHash"] == old_digest.as_str() && st["managerVersion"].is_string() {
            Ok(())
        } else {
            Err(st.to_string())
        }
    });
    let postmaster = postmaster_pid(&n);
    let started = n.psql("postgres", "SELECT pg_postmaster_start_time()");
    assert!(
        n.try_psql("postgres", "SELECT 'before-upgrade'::int")
            .is_err()
    );
    wait_for(
        "the first marker in the log",
        LONG,
        || match log_lines_with(&stdout, "before-upgrade") {
            0 => Err("not yet".to_string()),
            _ => Ok(()),
        },
    );

    // Refused: a digest that does not match the body, and a body that does not run.
    let (code, body) = upload(&client, &other, &old_digest);
    assert_eq!(code, 400, "{body}");
    let garbage = n.dir.path().join("garbage");
    std::fs::write(&garbage, b"\x7fELF not a program").expect("write");
    let (code, body) = upload(&client, &garbage, &sha256(&garbage));
    assert_eq!(code, 400, "{body}");
    assert_eq!(
        sha256(&installed),
        old_digest,
        "a refused binary was installed"
    );
    assert_eq!(status(&client)["managerHash"], old_digest.as_str());

    // Accepted: the new manager runs in the same process; postgres was not restarted.
    let (code, body) = upload(&client, &other, &new_digest);
    assert_eq!(code, 200, "{body}");
    wait_for("the new manager's digest in the status", LONG, || {
        let st = status(&client);
        if st["managerHash"] == new_digest.as_str() && st["postgresRunning"] == true {
            Ok(())
        } else {
            Err(st.to_string())
        }
    });
    assert_eq!(sha256(&installed), new_digest);
    assert!(
        run.0.try_wait().expect("try_wait").is_none(),
        "the manager process ended"
    );
    assert_eq!(run.0.id(), manager_pid);
    assert_eq!(postmaster_pid(&n), postmaster, "postgres was restarted");
    assert_eq!(
        n.psql("postgres", "SELECT pg_postmaster_start_time()"),
        started
    );
    // The log goes on where it stopped: a new record once, the old one not again.
    assert!(
        n.try_psql("postgres", "SELECT 'after-upgrade'::int")
            .is_err()
    );
    wait_for(
        "the second marker in the log",
        LONG,
        || match log_lines_with(&stdout, "after-upgrade") {
            0 => Err("not yet".to_string()),
            _ => Ok(()),
        },
    );
    assert_eq!(log_lines_with(&stdout, "before-upgrade"), 1);

    // A downgrade is the same operation.
    let (code, body) = upload(&client, &previous, &old_digest);
    assert_eq!(code, 200, "{body}");
    wait_for("the previous manager's digest in the status", LONG, || {
        let st = status(&client);
        if st["managerHash"] == old_digest.as_str() {
            Ok(())
        } else {
            Err(st.to_string())
        }
    });
    assert_eq!(postmaster_pid(&n), postmaster, "postgres was restarted");

    // The adopted postmaster is still the manager's to stop: SIGTERM shuts it down cleanly.
    assert!(run.terminate().success());
    assert!(
        !n.pgdata().join("postmaster.pid").exists(),
        "postgres still running after the manager's shutdown"
    );
}
