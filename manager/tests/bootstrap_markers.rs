//! A half-made data directory never starts, and a retried bootstrap finishes it: init that fails
//! in its post-init SQL or is killed mid-way, a restore that fails after writing its files, then
//! a retry with a good configuration gives the right result. A complete data directory is never
//! removed; one from an older manager is started only on evidence that it was finished. Names
//! that need quoting (`app-two`) work end to end.

mod common;

use common::minio::Minio;
use common::node::{Node, s3_store};
use common::{ChildGuard, as_postgres, manager_bin, wait_for};
use pgfed_manager::instance::bootstrap::{Method, Record, RecordState, read_record, record_path};
use serde_json::{Value, json};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(300);

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn in_progress(n: &Node) -> bool {
    matches!(
        read_record(&n.pgdata()),
        Ok(RecordState::Found(Record::InProgress { .. }))
    )
}

fn complete_as(n: &Node) -> Option<Method> {
    match read_record(&n.pgdata()) {
        Ok(RecordState::Found(Record::Complete { method })) => Some(method),
        _ => None,
    }
}

#[test]
fn failed_post_init_sql_is_retried_from_scratch_with_quoted_names() {
    let mut n = Node::new("init-retry", "init-retry");
    n.write_secret("app", "username", "app-two");
    n.cfg["bootstrap"]["initdb"] = json!({
        "database": "app-two", "owner": "app-two", "secret": {"name": "app"},
        "postInitApplicationSQL": [
            "CREATE TABLE \"first-try\" (x int)",
            "SELECT 1/0",
        ],
    });
    n.write_config();
    let out = n.manager(&["instance", "init"]);
    assert!(!out.status.success(), "post-init SQL fails");
    let err = stderr(&out);
    assert!(
        err.contains("postInitApplicationSQL[1]") && err.contains("division by zero"),
        "{err}"
    );
    assert!(!err.contains("1/0"), "statement text in the error: {err}");
    assert!(n.pgdata().join("PG_VERSION").exists(), "initdb had run");
    assert!(in_progress(&n), "the record still says in progress");

    // PostgreSQL never starts on the half-made directory.
    let out = n.manager(&["instance", "start"]);
    assert!(!out.status.success(), "start refused");
    assert!(
        stderr(&out).contains("not a complete data directory"),
        "{}",
        stderr(&out)
    );
    assert!(!n.pgdata().join("postmaster.pid").exists());

    // The retry removes the first attempt and makes a complete one.
    n.cfg["bootstrap"]["initdb"]["postInitApplicationSQL"] =
        json!(["CREATE TABLE \"second-try\" (x int)"]);
    n.write_config();
    n.init_and_start();
    assert_eq!(complete_as(&n), Some(Method::Init));
    assert_eq!(
        n.psql(
            "app-two",
            "SELECT string_agg(tablename, ',') FROM pg_tables WHERE schemaname = 'public'"
        ),
        "second-try",
        "only the second attempt's work is there"
    );
    assert_eq!(
        n.psql(
            "postgres",
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app-two'"
        ),
        "app-two"
    );
}

/// `manager instance <command>` in the background, its output discarded.
fn spawn_instance(n: &Node, command: &str) -> ChildGuard {
    ChildGuard(
        as_postgres(manager_bin())
            .args(["instance", command, "--config"])
            .arg(n.config_path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn the manager"),
    )
}

#[test]
fn killed_init_is_redone_and_a_complete_directory_is_never_removed() {
    let mut n = Node::new("init-kill", "init-kill");
    n.cfg["bootstrap"]["initdb"]["postInitSQL"] = json!(["SELECT pg_sleep(600)"]);
    n.write_config();
    let mut init = spawn_instance(&n, "init");
    // Killed while PostgreSQL runs the post-init SQL (before the application database is
    // created): the init is not done.
    wait_for("post-init SQL running", LONG, || {
        n.try_psql(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(600)%'",
        )
        .and_then(|v| if v == "1" { Ok(()) } else { Err(v) })
    });
    init.0.kill().expect("kill init");
    init.0.wait().expect("reap init");
    assert!(in_progress(&n));

    // `instance run` (what a restarted pod does) stops the postmaster the killed init left
    // behind, removes the directory and initialises it again.
    n.cfg["bootstrap"]["initdb"]["postInitSQL"] = json!(["CREATE TABLE done (x int)"]);
    for (key, port) in [
        ("probePort", common::free_port()),
        ("statusPort", common::free_port()),
        ("metricsPort", common::free_port()),
    ] {
        n.cfg[key] = json!(port);
    }
    n.write_config();
    let mut run = spawn_instance(&n, "run");
    // Complete first (the bootstrap's own short-lived server answers queries before that).
    wait_for("bootstrap complete", LONG, || {
        complete_as(&n)
            .filter(|m| *m == Method::Init)
            .ok_or_else(|| format!("{:?}", read_record(&n.pgdata())))
    });
    n.wait_query("postgres", "SELECT count(*) FROM done", "0", LONG);
    n.psql("postgres", "INSERT INTO done VALUES (42)");
    assert!(run.terminate().success());

    // A complete directory: another init is refused and nothing is removed.
    let out = n.manager(&["instance", "init"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already holds a complete data directory"));
    // A garbled record stops everything instead of being guessed at.
    let record = record_path(&n.pgdata()).expect("record path");
    std::fs::write(&record, "{not json").expect("garble");
    let out = n.manager(&["instance", "start"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unreadable"), "{}", stderr(&out));
    let out = n.manager(&["instance", "init"]);
    assert!(!out.status.success());
    std::fs::write(&record, r#"{"state":"complete","method":"init"}"#).expect("restore record");
    n.manager_ok(&["instance", "start"]);
    assert_eq!(n.psql("postgres", "SELECT x FROM done"), "42");
}

#[test]
fn older_managers_directories_start_only_on_evidence_and_are_never_removed() {
    let n = Node::new("legacy", "legacy");
    n.manager_ok(&["instance", "init"]);
    let record = record_path(&n.pgdata()).expect("record path");
    // An older manager: no record. Its init wrote pgfed_initialized last; without it the init
    // may not have finished, and the directory is refused, not removed.
    std::fs::remove_file(&record).expect("remove record");
    let out = n.manager(&["instance", "start"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("without a bootstrap record"),
        "{}",
        stderr(&out)
    );
    let out = n.manager(&["instance", "init"]);
    assert!(!out.status.success());
    assert!(n.pgdata().join("PG_VERSION").exists(), "nothing removed");

    let marker = n.pgdata().join("pgfed_initialized");
    std::fs::write(&marker, "").expect("legacy marker");
    common::chown_pg(&marker);
    n.manager_ok(&["instance", "start"]);
    assert_eq!(
        read_record(&n.pgdata()).expect("record"),
        RecordState::Found(Record::Adopted)
    );
    assert_eq!(
        n.psql(
            "postgres",
            "SELECT 1 FROM pg_database WHERE datname = 'app'"
        ),
        "1"
    );
}

fn origin_store(minio: &Minio) -> Value {
    s3_store(minio, "backups", json!({"serverName": "origin"}))
}

#[test]
fn restore_that_failed_after_writing_files_is_retried() {
    let minio = Minio::start();
    minio.create_bucket("backups");
    let mut a = Node::new("origin", "origin");
    a.set("backup", json!({"barmanObjectStore": origin_store(&minio)}));
    a.init_and_start();
    a.psql(
        "app",
        "CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g",
    );
    a.manager_ok(&["backup"]);
    a.psql("app", "INSERT INTO t SELECT 1001");
    a.switch_and_wait_archived(LONG);

    let mut b = Node::new("restored", "restored");
    b.set(
        "externalClusters",
        json!([{"name": "origin", "barmanObjectStore": origin_store(&minio)}]),
    );
    // A restore point that does not exist: the files are written, recovery runs out of WAL
    // before the target and PostgreSQL stops.
    b.set(
        "bootstrap",
        json!({"recovery": {"source": "origin", "recoveryTarget": {"targetName": "never-created"}}}),
    );
    let out = b.manager(&["instance", "restore"]);
    assert!(
        !out.status.success(),
        "recovery cannot reach the target: {}",
        stderr(&out)
    );
    assert!(b.pgdata().join("PG_VERSION").exists(), "files were written");
    assert!(in_progress(&b));
    assert!(!b.manager(&["instance", "start"]).status.success());

    b.set("bootstrap", json!({"recovery": {"source": "origin"}}));
    let out = b.manager(&["instance", "restore"]);
    assert!(
        out.status.success(),
        "the retry restores from scratch instead of finding the directory not empty: {}",
        stderr(&out)
    );
    assert_eq!(complete_as(&b), Some(Method::Restore));
    b.manager_ok(&["instance", "start"]);
    assert_eq!(b.psql("app", "SELECT max(g) FROM t"), "1001");
}
