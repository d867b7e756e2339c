//! Barman Cloud compatibility of base backups, both directions, with Debian's barman-cli-cloud:
//! barman-cloud-restore + barman-cloud-wal-restore recover a pgfed backup, and pgfed restores a
//! backup written by barman-cloud-backup.

mod common;

use common::minio::Minio;
use common::node::{Node, s3_store};
use common::{as_postgres, pg_bindir, run_ok};
use serde_json::json;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(300);

#[test]
fn barman_cloud_restore_recovers_a_pgfed_backup() {
    let minio = Minio::start();
    minio.create_bucket("pgfed");
    let mut a = Node::new("b1", "alpha");
    a.set("backup", json!({"barmanObjectStore": s3_store(&minio, "pgfed", json!({"wal": {"compression": "gzip"}, "data": {"compression": "gzip", "jobs": 2}}))}));
    a.init_and_start();
    a.psql(
        "app",
        "CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 10000) g",
    );
    a.manager_ok(&["backup", "--backup-id", "20261120T120000"]);
    let want = write_after_the_backup(&a);

    // Only Barman's tools from here on.
    let b = Node::new("b1-restored", "other");
    run_ok(
        minio
            .barman_cloud("barman-cloud-restore")
            .args(["s3://pgfed/", "alpha", "20261120T120000"])
            .arg(b.pgdata()),
    );
    let restore = format!(
        "barman-cloud-wal-restore --cloud-provider aws-s3 --endpoint-url {} s3://pgfed/ alpha %f %p",
        minio.endpoint()
    );
    let auto = format!(
        "port = {}\nunix_socket_directories = '{}'\narchive_mode = off\nrestore_command = '{}'\nrecovery_target_action = promote\n",
        b.port,
        b.dir.path().join("run").display(),
        restore
    );
    std::fs::write(b.pgdata().join("postgresql.auto.conf"), auto).expect("write");
    std::fs::write(b.pgdata().join("recovery.signal"), "").expect("write");
    for f in ["postgresql.auto.conf", "recovery.signal"] {
        common::chown_pg(&b.pgdata().join(f));
    }
    let mut start = as_postgres(pg_bindir().join("pg_ctl"));
    start
        .arg("-D")
        .arg(b.pgdata())
        .args(["start", "-w", "-t", "300", "-l"])
        .arg(b.dir.path().join("pg.log"));
    for (k, v) in minio.aws_env() {
        start.env(k, v);
    }
    // Like any restore into a fresh directory, PostgreSQL wants its data directory private.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(b.pgdata(), std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let out = start.output().expect("pg_ctl");
    assert!(
        out.status.success(),
        "pg_ctl start failed: {}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(b.dir.path().join("pg.log")).unwrap_or_default(),
        b.log()
    );
    b.wait_query("postgres", "SELECT pg_is_in_recovery()", "f", LONG);
    assert_eq!(
        b.psql(
            "app",
            "SELECT count(*) || md5(string_agg(v, ',' ORDER BY id)) FROM t"
        ),
        want
    );
}

#[test]
fn pgfed_restores_a_barman_cloud_backup() {
    let minio = Minio::start();
    minio.create_bucket("barman");
    let mut a = Node::new("b2", "alpha");
    // pgfed archives the WAL; barman-cloud-backup takes the base backup into the same server.
    a.set("backup", json!({"barmanObjectStore": s3_store(&minio, "barman", json!({"wal": {"compression": "gzip"}}))}));
    a.init_and_start();
    a.create_tablespace("extra");
    a.psql("app", "CREATE TABLE t TABLESPACE extra AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 10000) g");
    run_ok(
        minio
            .barman_cloud("barman-cloud-backup")
            .args(["-z", "--immediate-checkpoint", "-h"])
            .arg(a.dir.path().join("run"))
            .args([
                "-p",
                &a.port.to_string(),
                "-U",
                "postgres",
                "s3://barman/",
                "alpha",
            ]),
    );
    let keys = minio.list("barman", "alpha/base/");
    assert!(keys.iter().any(|k| k.ends_with("/data.tar.gz")), "{keys:?}");
    let want = write_after_the_backup(&a);

    let mut b = Node::new("b2-restored", "other");
    b.set(
        "externalClusters",
        json!([{"name": "alpha", "barmanObjectStore": s3_store(&minio, "barman", json!({}))}]),
    );
    b.set("bootstrap", json!({"recovery": {"source": "alpha"}}));
    let ts = b.dir.path().join("tablespaces");
    std::fs::create_dir_all(&ts).expect("mkdir");
    common::chown_pg(&ts);
    b.set("tablespacesDir", json!(ts));
    b.manager_ok(&["instance", "restore"]);
    b.manager_ok(&["instance", "start"]);
    assert_eq!(
        b.psql(
            "app",
            "SELECT count(*) || md5(string_agg(v, ',' ORDER BY id)) FROM t"
        ),
        want
    );
    assert!(
        ts.join("extra").exists(),
        "tablespace relocated under tablespacesDir"
    );
}

/// Writes rows after the base backup (so a restore must replay archived WAL to see them), waits
/// until their WAL is archived, and returns the table's fingerprint.
fn write_after_the_backup(a: &Node) -> String {
    a.psql(
        "app",
        "INSERT INTO t SELECT g, 'after' FROM generate_series(10001, 10500) g",
    );
    a.switch_and_wait_archived(LONG);
    a.psql(
        "app",
        "SELECT count(*) || md5(string_agg(v, ',' ORDER BY id)) FROM t",
    )
}
