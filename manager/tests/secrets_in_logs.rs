//! No password reaches an error message or a log line: a bootstrap whose role creation fails, with
//! PostgreSQL told to log every statement, leaves neither the password nor its verifier in the
//! manager's output or in PostgreSQL's log; and the verifier the manager computed works for a
//! password login.

mod common;

use common::node::Node;
use serde_json::json;

const PASSWORD: &str = "Tr0ub4dor-and-3-horses";

/// Everything a reader of the logs could see: the command's stdout and stderr and every file
/// PostgreSQL wrote into its log directory.
fn all_output(n: &Node, out: &std::process::Output) -> String {
    let mut text = format!(
        "{}\n{}\n",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if let Ok(entries) = std::fs::read_dir(n.pgdata().join("log")) {
        for entry in entries.flatten() {
            text.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    text
}

#[test]
fn failed_role_creation_leaves_no_password_in_errors_or_logs() {
    let mut n = Node::new("secret-fail", "secret-fail");
    // The owner `postgres` already exists, so CREATE ROLE with its password fails.
    n.write_secret("app", "username", "postgres");
    n.write_secret("app", "password", PASSWORD);
    n.cfg["bootstrap"]["initdb"]["owner"] = json!("postgres");
    n.cfg["postgresql"]["parameters"]["log_statement"] = json!("all");
    n.cfg["postgresql"]["parameters"]["log_min_error_statement"] = json!("error");
    n.write_config();

    let out = n.manager(&["instance", "init"]);
    assert!(!out.status.success(), "init must fail: role exists");
    let text = all_output(&n, &out);
    assert!(!text.contains(PASSWORD), "password leaked:\n{text}");
    assert!(!text.contains("SCRAM-SHA-256$"), "verifier leaked:\n{text}");
    assert!(
        text.contains("already exists"),
        "PostgreSQL's log was read: {text}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("CREATE ROLE") && stderr.contains("already exists"),
        "the error says which statement failed and why: {stderr}"
    );
}

#[test]
fn the_owner_logs_in_with_the_password_behind_the_verifier() {
    let n = Node::new("secret-ok", "secret-ok");
    n.write_secret("app", "password", PASSWORD);
    n.init_and_start();
    let login = |password: &str| {
        common::as_postgres(common::pg_bindir().join("psql"))
            .args(["-X", "-A", "-t", "-w", "-h", "127.0.0.1", "-p"])
            .arg(n.port.to_string())
            .args(["-U", "app", "-d", "app", "-c", "SELECT current_user"])
            .env("PGPASSWORD", password)
            .output()
            .expect("psql")
    };
    let ok = login(PASSWORD);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "app");
    assert!(
        !login("wrong").status.success(),
        "a wrong password is refused"
    );
    let stored = n.psql(
        "postgres",
        "SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = 'app'",
    );
    assert_eq!(stored, "SCRAM-SHA-256$");
}
