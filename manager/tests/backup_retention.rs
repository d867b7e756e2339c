//! `backup.retentionPolicy` against real PostgreSQL 15 backups and WAL in a real MinIO, through
//! `manager backup-retention`: an object store that is down deletes nothing; a dry run lists what
//! a real run then removes; the real run leaves exactly the backups the window needs and the WAL
//! from the oldest kept backup's begin WAL on; a backup in progress holds the WAL until it ends.
//!
//! The backups are real; their `end_time` is moved into the past in `backup.info` (the only way
//! to age a backup without waiting weeks), which is exactly what the policy reads.

mod common;

use common::minio::Minio;
use common::node::{Node, s3_store};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(300);
const BUCKET: &str = "retention";

fn store(minio: &Minio) -> Value {
    s3_store(
        minio,
        BUCKET,
        json!({"serverName": "alpha", "wal": {"compression": "gzip"}}),
    )
}

fn keys(minio: &Minio, prefix: &str) -> BTreeSet<String> {
    minio
        .list(BUCKET, &format!("alpha/{prefix}"))
        .into_iter()
        .collect()
}

fn backup_ids(minio: &Minio) -> BTreeSet<String> {
    keys(minio, "base/")
        .iter()
        .filter_map(|k| k.split('/').nth(2).map(str::to_string))
        .collect()
}

/// The WAL file name of a WAL object key.
fn wal_name(key: &str) -> &str {
    let base = key.rsplit('/').next().unwrap_or(key);
    base.strip_suffix(".gz").unwrap_or(base)
}

fn info_field(minio: &Minio, id: &str, field: &str) -> String {
    let out = minio.boto(&format!(
        "print(s3.get_object(Bucket={BUCKET:?}, Key='alpha/base/{id}/backup.info')['Body'].read().decode())"
    ));
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}=")))
        .unwrap_or_else(|| panic!("no {field} in backup.info of {id}: {out}"))
        .to_string()
}

/// Rewrites `end_time` of backup `id` to `days` days ago, in Barman's format.
fn age_backup(minio: &Minio, id: &str, days: i64) {
    minio.boto(&format!(
        "import datetime, re\n\
         key = 'alpha/base/{id}/backup.info'\n\
         text = s3.get_object(Bucket={BUCKET:?}, Key=key)['Body'].read().decode()\n\
         t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days={days})\n\
         text = re.sub(r'(?m)^end_time=.*$', 'end_time=' + t.strftime('%Y-%m-%d %H:%M:%S.%f+00:00'), text)\n\
         s3.put_object(Bucket={BUCKET:?}, Key=key, Body=text.encode())"
    ));
}

fn put(minio: &Minio, key: &str, body: &str) {
    minio.boto(&format!(
        "s3.put_object(Bucket={BUCKET:?}, Key='alpha/{key}', Body={body:?}.encode())"
    ));
}

fn take_backup(n: &Node, id: &str, round: u32) {
    n.psql(
        "app",
        &format!("INSERT INTO events SELECT {round}, md5(g::text) FROM generate_series(1, 2000) g"),
    );
    n.switch_and_wait_archived(LONG);
    n.manager_ok(&["backup", "--backup-id", id]);
    n.switch_and_wait_archived(LONG);
}

fn retention(n: &Node, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["backup-retention"];
    args.extend_from_slice(extra);
    n.manager(&args)
}

#[test]
fn retention_removes_only_what_no_recovery_in_the_window_needs() {
    let mut minio = Minio::start();
    minio.create_bucket(BUCKET);
    let mut a = Node::new("primary", "alpha");
    a.set(
        "backup",
        json!({"barmanObjectStore": store(&minio), "retentionPolicy": "7d"}),
    );
    a.init_and_start();
    a.psql("app", "CREATE TABLE events(round int, payload text)");
    take_backup(&a, "20261101T000000", 1);
    take_backup(&a, "20261110T000000", 2);
    take_backup(&a, "20261130T000000", 3);
    // Nothing is archived behind the test's back from here on.
    a.manager_ok(&["instance", "stop"]);
    age_backup(&minio, "20261101T000000", 40);
    age_backup(&minio, "20261110T000000", 20);
    // A failed attempt, long ago; and a backup being uploaded now (no backup.info yet).
    put(
        &minio,
        "base/20261020T000000/backup.info",
        "status=FAILED\nbegin_time=2026-10-20 00:00:00.000000+00:00\nend_time=2026-10-20 00:05:00.000000+00:00\nerror=disk full\n",
    );
    put(&minio, "base/20261020T000000/data.tar", "partial");
    put(&minio, "base/20261201T000000/data.tar", "uploading");

    let before_base = keys(&minio, "base/");
    let before_wal = keys(&minio, "wals/");
    // Three backups with WAL switches around each: several segments per backup.
    assert!(before_wal.len() >= 6, "{before_wal:?}");

    // The object store is down: the pass fails and, once it is back, everything is still there.
    minio.stop();
    let out = retention(&a, &[]);
    assert!(
        !out.status.success(),
        "retention should fail while the store is down: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    minio.restart();
    assert_eq!(keys(&minio, "base/"), before_base);
    assert_eq!(keys(&minio, "wals/"), before_wal);

    // A dry run says what would go and deletes nothing.
    let dry: Value =
        serde_json::from_str(&a.manager_ok(&["backup-retention", "--dry-run"])).expect("JSON");
    assert_eq!(dry["dryRun"], json!(true));
    assert_eq!(
        dry["backups"],
        json!([
            {"id": "20261020T000000", "reason": "failedOutsideWindow"},
            {"id": "20261101T000000", "reason": "outsideWindow"},
        ])
    );
    assert_eq!(dry["kept"], json!(["20261110T000000", "20261130T000000"]));
    assert_eq!(keys(&minio, "base/"), before_base);

    // The real pass: the old and the failed backups go; the upload in progress holds the WAL.
    let first: Value = serde_json::from_str(&a.manager_ok(&["backup-retention"])).expect("JSON");
    assert_eq!(first["backups"], dry["backups"]);
    assert_eq!(first["wal"], json!([]), "{first}");
    assert!(first["walHeldBecause"].is_string(), "{first}");
    assert_eq!(
        backup_ids(&minio),
        BTreeSet::from([
            "20261110T000000".to_string(),
            "20261130T000000".to_string(),
            "20261201T000000".to_string(),
        ])
    );
    assert_eq!(keys(&minio, "wals/"), before_wal);

    // The upload ends (here: it is removed); the next pass removes the WAL before the begin WAL
    // of the oldest kept backup, and only that.
    minio.boto(&format!(
        "s3.delete_object(Bucket={BUCKET:?}, Key='alpha/base/20261201T000000/data.tar')"
    ));
    let begin = info_field(&minio, "20261110T000000", "begin_wal");
    let second: Value = serde_json::from_str(&a.manager_ok(&["backup-retention"])).expect("JSON");
    assert_eq!(second["backups"], json!([]), "{second}");
    let after_wal = keys(&minio, "wals/");
    let removed: BTreeSet<String> = before_wal.difference(&after_wal).cloned().collect();
    let expected: BTreeSet<String> = before_wal
        .iter()
        .filter(|k| !k.ends_with(".history") && wal_name(k) < begin.as_str())
        .cloned()
        .collect();
    assert!(
        !expected.is_empty(),
        "the first backups' WAL should be prunable: {before_wal:?}"
    );
    assert_eq!(removed, expected);
    let reported: BTreeSet<String> = second["wal"]
        .as_array()
        .expect("wal list")
        .iter()
        .filter_map(|k| k.as_str().map(|k| format!("alpha/{k}")))
        .collect();
    assert_eq!(reported, expected);
    assert!(
        after_wal.iter().any(|k| wal_name(k) == begin),
        "the kept backup's begin WAL is gone: {after_wal:?}"
    );

    // What remains restores: the oldest kept backup, replayed to the end.
    let mut r = Node::new("restored", "restored");
    r.set(
        "externalClusters",
        json!([{"name": "origin", "barmanObjectStore": store(&minio)}]),
    );
    r.set(
        "bootstrap",
        json!({"recovery": {"source": "origin", "recoveryTarget": {"backupID": "20261110T000000"}}}),
    );
    r.manager_ok(&["instance", "restore"]);
    r.manager_ok(&["instance", "start"]);
    assert_eq!(
        r.psql(
            "app",
            "SELECT string_agg(DISTINCT round::text, ',' ORDER BY round::text) FROM events"
        ),
        "1,2,3"
    );
}
