//! Base backups to object storage and point-in-time recovery from them, against real PostgreSQL 15
//! and MinIO: every recovery target, tablespaces, gzip-compressed parallel streams, and an
//! xz-compressed backup taken from a standby.

mod common;

use common::minio::Minio;
use common::node::{Node, s3_store};
use serde_json::{Value, json};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(300);

fn origin_store(minio: &Minio) -> Value {
    s3_store(
        minio,
        "backups",
        json!({"serverName": "alpha", "wal": {"compression": "gzip", "maxParallel": 4}, "data": {"compression": "gzip", "jobs": 3}}),
    )
}

fn rounds(n: &Node) -> String {
    n.psql(
        "app",
        "SELECT string_agg(DISTINCT round::text, ',' ORDER BY round::text) FROM events",
    )
}

/// A node restored from the "origin" external cluster with `target`, started and queried.
fn restore_with(minio: &Minio, name: &str, target: Value) -> Node {
    let mut n = Node::new(name, name);
    n.set(
        "externalClusters",
        json!([{"name": "origin", "barmanObjectStore": origin_store(minio)}]),
    );
    n.set(
        "bootstrap",
        json!({"recovery": {"source": "origin", "recoveryTarget": target}}),
    );
    let ts = n.dir.path().join("tablespaces");
    std::fs::create_dir_all(&ts).expect("mkdir");
    common::chown_pg(&ts);
    n.set("tablespacesDir", json!(ts));
    let out = n.manager(&["instance", "restore"]);
    assert!(
        out.status.success(),
        "[{name}] restore failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        n.log()
    );
    n.manager_ok(&["instance", "start"]);
    n
}

#[test]
fn backup_with_tablespace_and_every_recovery_target() {
    let minio = Minio::start();
    minio.create_bucket("backups");
    let mut a = Node::new("origin", "alpha");
    a.set("backup", json!({"barmanObjectStore": origin_store(&minio)}));
    a.init_and_start();
    a.create_tablespace("extra");
    a.psql(
        "app",
        "CREATE TABLE events(round int, payload text) TABLESPACE extra",
    );
    a.psql(
        "app",
        "INSERT INTO events SELECT 1, md5(g::text) FROM generate_series(1, 20000) g",
    );

    let report: Value = serde_json::from_str(&a.manager_ok(&["backup"])).expect("report JSON");
    let id = report["backupId"].as_str().expect("id").to_string();
    let keys = minio.list("backups", &format!("alpha/base/{id}/"));
    for want in [
        "backup.info",
        "data.tar.gz",
        "data_0001.tar.gz",
        "data_0002.tar.gz",
    ] {
        assert!(
            keys.contains(&format!("alpha/base/{id}/{want}")),
            "{want} missing: {keys:?}"
        );
    }
    assert!(
        keys.iter().any(|k| k.ends_with(".tar.gz")
            && k.split('/')
                .next_back()
                .is_some_and(|f| f.starts_with(char::is_numeric))),
        "no tablespace tar: {keys:?}"
    );

    a.psql(
        "app",
        "INSERT INTO events SELECT 2, 'two' FROM generate_series(1, 100)",
    );
    a.psql("postgres", "SELECT pg_create_restore_point('after-two')");
    let lsn2 = a.psql("postgres", "SELECT pg_current_wal_insert_lsn()");
    let time2 = a.psql("postgres", "SELECT now()::text");
    std::thread::sleep(Duration::from_millis(1500));
    let xid3 = a.psql("app", "WITH i AS (INSERT INTO events SELECT 3, 'three' FROM generate_series(1, 100) RETURNING xmin) SELECT DISTINCT xmin::text FROM i");
    a.psql(
        "app",
        "INSERT INTO events SELECT 4, 'four' FROM generate_series(1, 100)",
    );
    a.switch_and_wait_archived(LONG);

    let cases = [
        ("immediate", json!({"targetImmediate": true}), "1"),
        ("name", json!({"targetName": "after-two"}), "1,2"),
        ("lsn", json!({"targetLSN": lsn2}), "1,2"),
        ("time", json!({"targetTime": time2}), "1,2"),
        ("xid", json!({"targetXID": xid3}), "1,2,3"),
        (
            "xid-exclusive",
            json!({"targetXID": xid3, "exclusive": true}),
            "1,2",
        ),
        (
            "latest",
            json!({"backupID": id, "targetTLI": "latest"}),
            "1,2,3,4",
        ),
    ];
    for (what, target, want) in cases {
        let n = restore_with(&minio, &format!("pitr-{what}"), target);
        assert_eq!(rounds(&n), want, "recovery target {what}");
        assert_eq!(
            n.psql("app", "SELECT count(*) FROM events WHERE round = 1"),
            "20000",
            "{what}"
        );
        assert_eq!(
            n.psql("postgres", "SELECT pg_is_in_recovery()"),
            "f",
            "{what}: must be promoted"
        );
    }
}

#[test]
fn backup_from_a_standby_restores() {
    let minio = Minio::start();
    minio.create_bucket("backups");
    let mut a = Node::new("primary", "alpha");
    a.set("backup", json!({"barmanObjectStore": origin_store(&minio)}));
    a.init_and_start();
    a.psql("app", "CREATE TABLE events(round int, payload text)");
    a.psql(
        "app",
        "INSERT INTO events SELECT 1, md5(g::text) FROM generate_series(1, 5000) g",
    );
    a.manager_ok(&["backup", "--backup-id", "20260101T000000"]);

    // A standby of the same cluster (replaying the bucket), taking the next backup itself, with
    // xz: one catalog may mix compressions, restore reads each backup by its suffix.
    let mut s = Node::new("standby", "alpha");
    let mut standby_store = origin_store(&minio);
    standby_store["data"]["compression"] = json!("xz");
    s.set("backup", json!({"barmanObjectStore": standby_store}));
    s.set(
        "externalClusters",
        json!([{"name": "origin", "barmanObjectStore": origin_store(&minio)}]),
    );
    s.set("replica", json!({"enabled": true, "source": "origin"}));
    s.set("bootstrap", json!({"recovery": {"source": "origin"}}));
    s.manager_ok(&["instance", "restore"]);
    s.manager_ok(&["instance", "start"]);
    a.psql(
        "app",
        "INSERT INTO events SELECT 2, 'two' FROM generate_series(1, 100)",
    );
    a.switch_and_wait_archived(LONG);
    s.wait_query(
        "app",
        "SELECT count(*) FROM events WHERE round = 2",
        "100",
        LONG,
    );
    // A standby's restartpoint needs a checkpoint record from the primary to start the backup at.
    a.psql("postgres", "CHECKPOINT");
    a.psql("postgres", "SELECT pg_switch_wal()");
    // On a standby the backup is done only once the primary archived its last segment: it waits
    // until the primary switches segments.
    let mut taking = common::as_postgres(common::manager_bin())
        .args(["backup", "--backup-id", "20260102T000000", "--config"])
        .arg(s.config_path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map(common::ChildGuard)
        .expect("spawn backup");
    let finished = common::wait_for("the standby's backup", LONG, || {
        a.psql("postgres", "SELECT pg_switch_wal()");
        match taking.0.try_wait() {
            Ok(Some(status)) => Ok(status),
            _ => Err("running".to_string()),
        }
    });
    assert!(finished.success(), "the standby's backup failed");
    let tars: Vec<String> = minio
        .list("backups", "alpha/base/20260102T000000/")
        .into_iter()
        .filter(|k| k.contains(".tar"))
        .collect();
    assert!(
        !tars.is_empty() && tars.iter().all(|k| k.ends_with(".tar.xz")),
        "{tars:?}"
    );
    a.psql(
        "app",
        "INSERT INTO events SELECT 3, 'three' FROM generate_series(1, 100)",
    );
    a.switch_and_wait_archived(LONG);

    let n = restore_with(
        &minio,
        "from-standby-backup",
        json!({"backupID": "20260102T000000"}),
    );
    assert_eq!(rounds(&n), "1,2,3");
}

/// WAL archiving that keeps failing while the backup waits for its last segment abandons the
/// backup with the reason once the stall timeout passes, instead of hanging for ever; nothing in
/// the bucket or in pg_wal is removed.
#[test]
fn backup_is_abandoned_with_the_reason_when_archiving_stalls() {
    let minio = Minio::start();
    minio.create_bucket("stall");
    let mut a = Node::new("stall", "stall");
    a.set(
        "backup",
        json!({"barmanObjectStore": s3_store(&minio, "stall", json!({}))}),
    );
    a.init_and_start();
    // The segment pg_backup_stop will wait for is already in the bucket with other content, as if
    // another cluster wrote there: archiving it is refused on every attempt.
    let current = a.psql("postgres", "SELECT pg_walfile_name(pg_current_wal_lsn())");
    let key = format!("stall/wals/{}/{current}", &current[..16]);
    let junk = a.dir.path().join("junk");
    std::fs::write(&junk, vec![7u8; 4096]).expect("junk");
    minio.put_file("stall", &key, &junk);

    let out = a.manager(&["backup", "--archive-stall-timeout", "8"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "the backup should fail: {err}");
    assert!(err.contains("backup abandoned"), "{err}");
    assert!(
        err.contains(&current),
        "the reason names the segment: {err}"
    );

    // Nothing lost: the foreign object is still there, the segment still waits in pg_wal, and no
    // backup is recorded as done.
    let objects = minio.list("stall", "stall/");
    assert!(objects.contains(&key), "{objects:?}");
    assert!(
        a.pgdata()
            .join("pg_wal/archive_status")
            .join(format!("{current}.ready"))
            .exists()
    );
    // The attempt is recorded as FAILED with the reason, as Barman records one.
    let info_key = objects
        .iter()
        .find(|o| o.ends_with("backup.info"))
        .unwrap_or_else(|| panic!("no backup.info for the failed attempt: {objects:?}"))
        .clone();
    let info_file = a.dir.path().join("backup.info");
    minio.get_file("stall", &info_key, &info_file);
    let info = std::fs::read_to_string(&info_file).expect("backup.info");
    assert!(info.contains("status=FAILED"), "{info}");
    assert!(info.contains("backup abandoned"), "{info}");
    // The instance is usable and no backup is left in progress.
    assert_eq!(
        a.psql("postgres", "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND query LIKE '%pg_backup_stop%' AND state = 'active' AND pid <> pg_backend_pid()"),
        "0"
    );
}
