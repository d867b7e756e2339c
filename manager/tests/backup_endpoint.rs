//! Base backups the operator starts over the manager's mutual-TLS status API, on real PostgreSQL
//! and MinIO: `POST /pg/backup` on a streaming standby starts one backup per Backup name (asked
//! again it returns the same one, another name is refused while it runs), the backup waits in
//! `finalizing` until the primary archives its last WAL segment (`POST /pg/wal/switch` on the
//! primary; refused on the standby), and only then is `backup.info` DONE, with every field the
//! Backup status needs reported by `GET /pg/backup/<name>`. A manager stopped mid-backup abandons
//! it (its smart shutdown does not wait for the backup's session); restarted, it knows nothing of
//! the backup and says so with its new session, and the backup is never marked DONE.

mod common;

use common::certs::{Pair, Pki};
use common::minio::Minio;
use common::mtls::StatusClient;
use common::node::{Node, s3_store};
use common::{free_port, wait_for};
use pgfed_api::instance::{
    BACKUP_PATH, BackupPhase, BackupProgress, BackupRefusal, WAL_SWITCH_PATH,
};
use serde_json::{Value, json};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(120);

fn manager_log(node: &Node) -> String {
    std::fs::read_to_string(node.dir.path().join("manager.log")).unwrap_or_default()
}

/// Settings both instances share: the status API over mutual TLS, pg-a as the primary, the
/// object store.
fn cluster_settings(node: &mut Node, certs: &Value, store: &Value) {
    for (k, v) in [
        ("certificates", certs.clone()),
        ("statusPort", json!(free_port())),
        ("probePort", json!(free_port())),
        ("metricsPort", json!(free_port())),
        ("targetPrimary", json!("pg-a")),
        ("instances", json!(["pg-a", "pg-b"])),
        ("backup", json!({"barmanObjectStore": store})),
    ] {
        node.set(k, v);
    }
}

fn client<'a>(node: &Node, pki: &'a Pki, operator: &'a Pair) -> StatusClient<'a> {
    StatusClient {
        base: format!("https://127.0.0.1:{}", node.cfg["statusPort"]),
        ca: &pki.ca,
        client: operator,
    }
}

fn post(client: &StatusClient, path: &str, body: &str) -> (u16, String) {
    client
        .request("POST", path, Some(body))
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

fn progress(body: &str) -> BackupProgress {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn get_progress(client: &StatusClient, name: &str) -> (u16, String) {
    client
        .request("GET", &format!("{BACKUP_PATH}/{name}"), None)
        .unwrap_or_else(|e| panic!("GET backup {name}: {e}"))
}

/// Waits until Backup `name` on `client` is in `phase`.
fn wait_phase(
    client: &StatusClient,
    node: &Node,
    name: &str,
    phase: BackupPhase,
) -> BackupProgress {
    wait_for(&format!("backup {name} {phase:?}"), LONG, || {
        let (code, body) = get_progress(client, name);
        match (code, progress(&body)) {
            (200, p) if p.phase == phase => Ok(p),
            (_, p) => Err(format!("{code} {p:?}\n{}", manager_log(node))),
        }
    })
}

/// Writes 1000 rows on the primary `a` and waits until the standby `b` replayed them (`total`
/// rows then): the standby's next backup ends in a segment the primary still writes.
fn write_replayed(a: &Node, b: &Node, total: &str) {
    a.psql(
        "app",
        "INSERT INTO events SELECT g, 'more' FROM generate_series(1, 1000) g",
    );
    b.wait_query("app", "SELECT count(*) FROM events", total, LONG);
}

#[test]
fn a_backup_started_over_the_status_api_runs_once_from_a_standby_and_a_restart_loses_it() {
    let minio = Minio::start();
    minio.create_bucket("endpoint");
    let store = s3_store(&minio, "endpoint", json!({}));
    let mut a = Node::new("pg-a", "pg");
    let pki = Pki::new(&a.dir.path().join("pki"));
    let server = pki.issue("pg-rw", &["localhost", "127.0.0.1"]);
    let replica = pki.issue("streaming_replica", &[]);
    let operator = pki.issue("pgfed-operator", &[]);
    let certs = json!({"serverCert": server.cert, "serverKey": server.key, "clientCa": pki.ca});
    cluster_settings(&mut a, &certs, &store);
    a.manager_ok(&["instance", "init"]);
    let _run_a = a.run_manager();
    a.wait_query("postgres", "SELECT 1", "1", LONG);
    a.psql(
        "app",
        "CREATE TABLE events AS SELECT g, md5(g::text) FROM generate_series(1, 20000) g",
    );

    let mut b = Node::new("pg-b", "pg");
    cluster_settings(&mut b, &certs, &store);
    b.stream_from(&a, &replica, &pki.ca);
    let mut run_b = b.run_manager();
    b.wait_query(
        "postgres",
        "SELECT status FROM pg_stat_wal_receiver",
        "streaming",
        LONG,
    );
    let (to_a, to_b) = (client(&a, &pki, &operator), client(&b, &pki, &operator));
    to_b.wait_get(pgfed_api::instance::STATUS_PATH, LONG);

    // Written once the standby streams, so the backup's last segment is one the primary still
    // writes (not the one pg_basebackup made it switch away from).
    write_replayed(&a, &b, "21000");

    // Started on the standby, in the background.
    let (code, body) = post(&to_b, BACKUP_PATH, r#"{"name":"nightly"}"#);
    assert_eq!(code, 202, "{body}");
    let first = progress(&body);
    assert_eq!(first.instance, "pg-b");
    assert_eq!(first.server_name.as_deref(), Some("pg"));
    assert_eq!(first.destination_path.as_deref(), Some("s3://endpoint/"));
    // The same Backup again: the same backup, not a second one.
    let (code, body) = post(&to_b, BACKUP_PATH, r#"{"name":"nightly"}"#);
    assert_eq!(code, 200, "{body}");
    let again = progress(&body);
    assert_eq!(
        (&again.session_id, &again.started_at),
        (&first.session_id, &first.started_at)
    );
    // Another Backup while it runs: refused, naming the one that runs.
    let (code, body) = post(&to_b, BACKUP_PATH, r#"{"name":"other"}"#);
    assert_eq!(code, 409, "{body}");
    let refusal: BackupRefusal = serde_json::from_str(&body).expect("refusal");
    assert_eq!(refusal.running.as_deref(), Some("nightly"));

    // On the standby the copy ends, then the backup waits for the primary to archive its last
    // segment; a standby cannot switch segments, the primary can.
    wait_phase(&to_b, &b, "nightly", BackupPhase::Finalizing);
    // Once the copy is done the standby knows the segment it waits for (the operator switches
    // the primary only while the primary still writes it).
    let waiting = wait_for("the end segment known", LONG, || {
        let p = progress(&get_progress(&to_b, "nightly").1);
        match (&p.phase, &p.end_wal) {
            (BackupPhase::Finalizing, Some(_)) => Ok(p),
            _ => Err(format!("{p:?}")),
        }
    });
    assert!(waiting.from_standby);
    let backup_id = waiting
        .backup_id
        .clone()
        .expect("backup ID while finalizing");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        progress(&get_progress(&to_b, "nightly").1).phase,
        BackupPhase::Finalizing,
        "DONE before the last segment was archived"
    );
    assert_eq!(post(&to_b, WAL_SWITCH_PATH, "{}").0, 409);
    let (code, body) = post(&to_a, WAL_SWITCH_PATH, "{}");
    assert_eq!(code, 200, "{body}");
    let done = wait_phase(&to_b, &b, "nightly", BackupPhase::Completed);
    assert_eq!(done.backup_id.as_deref(), Some(backup_id.as_str()));
    assert_eq!(done.timeline_id, Some(1));
    assert_eq!(done.major_version, Some(15));
    for (field, value) in [
        ("beginWal", &done.begin_wal),
        ("endWal", &done.end_wal),
        ("beginLSN", &done.begin_lsn),
        ("endLSN", &done.end_lsn),
        ("startedAt", &done.started_at),
        ("stoppedAt", &done.stopped_at),
    ] {
        assert!(value.is_some(), "{field} missing: {done:?}");
    }
    assert!(done.error.is_none());
    let end_wal = done.end_wal.clone().unwrap_or_default();
    let objects = minio.list("endpoint", "pg/");
    assert!(
        objects.contains(&format!("pg/base/{backup_id}/backup.info"))
            && objects.contains(&format!("pg/base/{backup_id}/data.tar")),
        "{objects:?}"
    );
    assert!(
        objects
            .iter()
            .any(|o| o.starts_with(&format!("pg/wals/{}/{end_wal}", &end_wal[..16]))),
        "the last segment {end_wal} is archived: {objects:?}"
    );
    let info_file = b.dir.path().join("backup.info");
    minio.get_file(
        "endpoint",
        &format!("pg/base/{backup_id}/backup.info"),
        &info_file,
    );
    let info = std::fs::read_to_string(&info_file).expect("backup.info");
    assert!(info.contains("status=DONE"), "{info}");
    // Asked again once done: the record, no new backup.
    let (code, body) = post(&to_b, BACKUP_PATH, r#"{"name":"nightly"}"#);
    assert_eq!((code, progress(&body).phase), (200, BackupPhase::Completed));
    std::thread::sleep(Duration::from_secs(1));
    let backups: Vec<String> = minio
        .list("endpoint", "pg/base/")
        .into_iter()
        .filter(|k| k.ends_with("backup.info"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");

    // The primary's status reports archiving with its times.
    let status: Value =
        serde_json::from_str(&to_a.wait_get(pgfed_api::instance::STATUS_PATH, LONG))
            .expect("status");
    assert!(
        status["archiver"]["lastArchivedTime"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{status}"
    );

    // A backup under way when the manager restarts is gone with it; the new manager says so, with
    // its new session, and the backup is never marked DONE.
    // (Written after the switch, so the backup's last segment is one the primary still writes.)
    std::thread::sleep(Duration::from_secs(1));
    write_replayed(&a, &b, "22000");
    let (code, body) = post(&to_b, BACKUP_PATH, r#"{"name":"lost"}"#);
    assert_eq!(code, 202, "{body}");
    let lost = wait_phase(&to_b, &b, "lost", BackupPhase::Finalizing);
    let lost_id = lost.backup_id.clone().expect("backup ID");
    assert_ne!(lost_id, backup_id);
    // The manager abandons its backup as it stops, so PostgreSQL's smart shutdown does not wait
    // the whole smartShutdownTimeout (180 s) for the backup's session.
    let stopping = std::time::Instant::now();
    assert!(
        run_b.terminate().success(),
        "the manager did not exit cleanly"
    );
    assert!(
        stopping.elapsed() < Duration::from_secs(120),
        "the smart shutdown waited {:?} for the backup's session",
        stopping.elapsed()
    );
    let _run_b = b.run_manager();
    to_b.wait_get(pgfed_api::instance::STATUS_PATH, LONG);
    let (code, body) = get_progress(&to_b, "lost");
    assert_eq!(code, 404, "{body}");
    let unknown: BackupRefusal = serde_json::from_str(&body).expect("refusal");
    assert_ne!(unknown.session_id, lost.session_id);
    post(&to_a, WAL_SWITCH_PATH, "{}");
    std::thread::sleep(Duration::from_secs(3));
    let info_key = format!("pg/base/{lost_id}/backup.info");
    if minio.list("endpoint", &info_key).contains(&info_key) {
        minio.get_file("endpoint", &info_key, &info_file);
        let info = std::fs::read_to_string(&info_file).expect("backup.info");
        assert!(!info.contains("status=DONE"), "{info}");
    }
}
