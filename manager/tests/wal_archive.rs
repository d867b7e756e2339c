//! wal-archive / wal-restore against a real MinIO with real WAL from PostgreSQL 15: every
//! compression, parallel archiving of ready segments, idempotent re-archive, refusal to
//! overwrite (also between writers racing on one name, on MinIO, Azurite and fake-gcs-server),
//! segments uploaded ahead only counting for their own destination, history and partial files,
//! prefetch, outages, corrupt objects, wrong credentials.

mod common;

use common::azurite::Azurite;
use common::fake_gcs::FakeGcs;
use common::minio::Minio;
use common::node::{Node, s3_store};
use pgfed_api::barman::{BarmanObjectStoreConfiguration, CompressionType, layout};
use pgfed_manager::config::ManagerConfig;
use pgfed_manager::objstore::Archive;
use pgfed_manager::wal::WalError;
use pgfed_manager::wal::archive::{ArchiveOutcome, Stored, store_wal_file, wal_archive};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(180);

fn stderr(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn archive_command_uploads_in_parallel_and_restores_every_compression() {
    let minio = Minio::start();
    minio.create_bucket("main");
    let mut node = Node::new("a1", "alpha");
    node.set("backup", json!({"barmanObjectStore": s3_store(&minio, "main", json!({"wal": {"compression": "gzip", "maxParallel": 4}}))}));
    node.init_and_start();
    let segs = node.make_segments(6);
    let last = segs.last().expect("segments").clone();
    node.wait_archived(&last, LONG);
    let keys = minio.list("main", "alpha/wals/0000000100000000/");
    for s in &segs {
        assert!(
            keys.contains(&format!("alpha/wals/0000000100000000/{s}.gz")),
            "{s}.gz missing in {keys:?}"
        );
    }

    // Each compression writes the Barman suffix and restores the exact bytes PostgreSQL wrote.
    let seg = &segs[1];
    let original = std::fs::read(node.pgdata().join("pg_wal").join(seg)).expect("segment");
    for (compression, suffix) in [
        ("none", ""),
        ("gzip", ".gz"),
        ("bzip2", ".bz2"),
        ("lz4", ".lz4"),
        ("snappy", ".snappy"),
        ("zstd", ".zst"),
        ("xz", ".xz"),
    ] {
        let bucket = format!("c-{compression}");
        minio.create_bucket(&bucket);
        let wal = if compression == "none" {
            json!({})
        } else {
            json!({"compression": compression})
        };
        let cfg = node.alt_config(&format!("{compression}.json"), json!({"backup": {"barmanObjectStore": s3_store(&minio, &bucket, json!({"wal": wal}))}}));
        let out = node.manager_cfg(&cfg, &["wal-archive", &format!("pg_wal/{seg}")]);
        assert!(out.status.success(), "{compression}: {}", stderr(&out));
        assert_eq!(
            minio.list(&bucket, "alpha/wals/"),
            vec![format!("alpha/wals/0000000100000000/{seg}{suffix}")]
        );
        if compression == "xz" {
            // barman-cli-cloud 3.4 has no xz; upstream barman reads .xz with Python's lzma, which
            // takes what xz(1) takes. xz(1) must read the stored object back to the segment.
            let object = node.dir.path().join("object.xz");
            minio.get_file(
                &bucket,
                &format!("alpha/wals/0000000100000000/{seg}.xz"),
                &object,
            );
            let xz = common::require_program("xz", "xz-utils");
            let out = std::process::Command::new(xz)
                .arg("-dc")
                .arg(&object)
                .output()
                .expect("xz");
            assert!(out.status.success(), "xz -dc: {}", stderr(&out));
            assert!(out.stdout == original, "xz(1) decoded different bytes");
        }
        let dest = node.dir.path().join(format!("restored-{compression}"));
        let out = node.manager_cfg(&cfg, &["wal-restore", seg, dest.to_str().expect("path")]);
        assert!(out.status.success(), "{compression}: {}", stderr(&out));
        assert!(
            std::fs::read(&dest).expect("restored") == original,
            "{compression}: restored bytes differ"
        );
    }
}

#[test]
fn rearchive_is_idempotent_and_a_different_file_is_refused() {
    let minio = Minio::start();
    minio.create_bucket("main");
    let mut node = Node::new("a2", "alpha");
    node.set("backup", json!({"barmanObjectStore": s3_store(&minio, "main", json!({"wal": {"compression": "zstd"}}))}));
    node.init_and_start();
    let segs = node.make_segments(2);
    node.wait_archived(&segs[1], LONG);
    let cfg = node.config_path();

    let again = node.manager_cfg(&cfg, &["wal-archive", &format!("pg_wal/{}", segs[0])]);
    assert!(
        again.status.success(),
        "re-archive of an identical segment: {}",
        stderr(&again)
    );
    assert!(
        stderr(&again).contains("AlreadyArchived"),
        "{}",
        stderr(&again)
    );

    // Same name, other content: must fail and leave the stored object untouched.
    let fake_dir = node.dir.path().join("fake");
    std::fs::create_dir_all(&fake_dir).expect("mkdir");
    common::chown_pg(&fake_dir);
    std::fs::copy(
        node.pgdata().join("pg_wal").join(&segs[1]),
        fake_dir.join(&segs[0]),
    )
    .expect("copy");
    common::chown_pg(&fake_dir.join(&segs[0]));
    let refused = node.manager_cfg(
        &cfg,
        &[
            "wal-archive",
            fake_dir.join(&segs[0]).to_str().expect("path"),
        ],
    );
    assert!(!refused.status.success());
    assert_eq!(
        refused.status.code(),
        Some(1),
        "archive_command failures must exit 1"
    );
    assert!(
        stderr(&refused).contains("refusing to archive"),
        "{}",
        stderr(&refused)
    );
    let dest = node.dir.path().join("check");
    node.manager_ok(&["wal-restore", &segs[0], dest.to_str().expect("path")]);
    assert!(
        std::fs::read(&dest).expect("read")
            == std::fs::read(node.pgdata().join("pg_wal").join(&segs[0])).expect("read")
    );

    // An S3-compatible store without conditional writes (AWS_CONDITIONAL_PUT=disabled): the
    // listing alone still makes re-archiving idempotent and refuses a different file.
    minio.create_bucket("plain");
    let plain = node.alt_config(
        "plain.json",
        json!({"backup": {"barmanObjectStore": s3_store(&minio, "plain", json!({}))}}),
    );
    let unconditional = |path: &str| {
        let mut cmd = common::as_postgres(common::manager_bin());
        cmd.arg("wal-archive")
            .arg("--config")
            .arg(&plain)
            .arg(path)
            .env("AWS_CONDITIONAL_PUT", "disabled")
            .current_dir(node.pgdata());
        cmd.output().expect("run manager")
    };
    let original = format!("pg_wal/{}", segs[0]);
    let first = unconditional(&original);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stderr(&first).contains("Uploaded"), "{}", stderr(&first));
    let again = unconditional(&original);
    assert!(
        stderr(&again).contains("AlreadyArchived"),
        "{}",
        stderr(&again)
    );
    let refused = unconditional(fake_dir.join(&segs[0]).to_str().expect("path"));
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("refusing to archive"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn history_and_partial_files_and_prefetch() {
    let minio = Minio::start();
    minio.create_bucket("main");
    let mut node = Node::new("a3", "alpha");
    node.set("backup", json!({"barmanObjectStore": s3_store(&minio, "main", json!({"wal": {"compression": "lz4", "maxParallel": 4}}))}));
    node.init_and_start();
    let segs = node.make_segments(6);
    node.wait_archived(&segs[5], LONG);

    let work = node.dir.path().join("work");
    std::fs::create_dir_all(&work).expect("mkdir");
    common::chown_pg(&work);
    let history = work.join("00000002.history");
    std::fs::write(&history, "1\t0/3000000\tno recovery target specified\n").expect("history");
    let partial = work.join("0000000100000000000000F0.partial");
    std::fs::write(&partial, vec![7u8; 16 << 20]).expect("partial");
    for f in [&history, &partial] {
        common::chown_pg(f);
        let out = node.manager(&["wal-archive", f.to_str().expect("path")]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let keys = minio.list("main", "alpha/wals/");
    assert!(
        keys.contains(&"alpha/wals/00000002.history.lz4".to_string()),
        "{keys:?}"
    );
    assert!(
        keys.contains(
            &"alpha/wals/0000000100000000/0000000100000000000000F0.partial.lz4".to_string()
        ),
        "{keys:?}"
    );

    let dest = work.join("RECOVERYHISTORY");
    node.manager_ok(&[
        "wal-restore",
        "00000002.history",
        dest.to_str().expect("path"),
    ]);
    assert_eq!(
        std::fs::read(&dest).expect("read"),
        std::fs::read(&history).expect("read")
    );
    // A requested segment that only exists as .partial (a demoted primary's last one) is served.
    let dest = work.join("RECOVERYXLOG");
    node.manager_ok(&[
        "wal-restore",
        "0000000100000000000000F0",
        dest.to_str().expect("path"),
    ]);
    assert_eq!(
        std::fs::read(&dest).expect("read"),
        std::fs::read(&partial).expect("read")
    );
    // Unknown files: exit 1 (PostgreSQL then tries other sources), never a crash code.
    let missing = node.manager(&[
        "wal-restore",
        "00000009.history",
        dest.to_str().expect("path"),
    ]);
    assert_eq!(missing.status.code(), Some(1));

    // maxParallel 4: restoring segs[1] prefetches segs[2..=4]; the next call is served locally.
    let spool = node.pgdata().join("pgfed_wal_spool");
    node.manager_ok(&["wal-restore", &segs[1], dest.to_str().expect("path")]);
    for s in &segs[2..=4] {
        assert!(spool.join(s).exists(), "{s} not prefetched");
    }
    let out = node.manager(&["wal-restore", &segs[2], dest.to_str().expect("path")]);
    assert!(
        stderr(&out).contains("from_spool: true"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(&dest).expect("read"),
        std::fs::read(node.pgdata().join("pg_wal").join(&segs[2])).expect("read")
    );
    assert!(
        !spool.join(&segs[2]).exists(),
        "served segment must leave the spool"
    );
}

/// `wal-archive --skip` (a standby whose target primary archives the same WAL) acknowledges only
/// segments: what a promotion creates (a history file, a `.partial`) is uploaded, even before the
/// promoted instance's configuration stops skipping.
#[test]
fn a_skipping_standby_still_uploads_what_a_promotion_creates() {
    let minio = Minio::start();
    minio.create_bucket("main");
    let mut node = Node::new("a7", "alpha");
    node.set(
        "backup",
        json!({"barmanObjectStore": s3_store(&minio, "main", json!({}))}),
    );
    node.init_and_start();
    let work = node.dir.path().join("work");
    std::fs::create_dir_all(&work).expect("mkdir");
    common::chown_pg(&work);
    let file = |name: &str, content: Vec<u8>| {
        let p = work.join(name);
        std::fs::write(&p, content).expect("write");
        common::chown_pg(&p);
        p
    };
    let skip = |p: &Path| {
        let out = node.manager(&["wal-archive", "--skip", p.to_str().expect("path")]);
        assert!(out.status.success(), "{}", stderr(&out));
    };
    let stored = |key: &str| {
        minio
            .list("main", "alpha/wals/")
            .iter()
            .any(|k| k.starts_with(key))
    };

    // A received segment is left to the target primary; the new timeline's history file and the
    // old timeline's .partial are not.
    let received = file("0000000100000000000000E1", vec![1u8; 16 << 20]);
    let history = file(
        "00000002.history",
        b"1\t0/E1000000\tno recovery target specified\n".to_vec(),
    );
    let partial = file("0000000100000000000000E1.partial", vec![2u8; 16 << 20]);
    for p in [&received, &history, &partial] {
        skip(p);
    }
    let keys = minio.list("main", "alpha/wals/");
    assert!(
        !keys.contains(&"alpha/wals/0000000100000000/0000000100000000000000E1".to_string()),
        "a received segment was uploaded by a standby: {keys:?}"
    );
    assert!(stored("alpha/wals/00000002.history"));
    assert!(stored(
        "alpha/wals/0000000100000000/0000000100000000000000E1.partial"
    ));
}

#[test]
fn outage_keeps_wal_in_pg_wal_and_archiving_catches_up() {
    let mut minio = Minio::start();
    minio.create_bucket("main");
    let mut node = Node::new("a4", "alpha");
    node.set(
        "backup",
        json!({"barmanObjectStore": s3_store(&minio, "main", json!({"wal": {"maxParallel": 8}}))}),
    );
    node.init_and_start();
    let first = node.make_segments(1);
    node.wait_archived(&first[0], LONG);

    minio.stop();
    let segs = node.make_segments(5);
    common::wait_for("archive failures while the store is down", LONG, || {
        let failed: i64 = node
            .psql("postgres", "SELECT failed_count FROM pg_stat_archiver")
            .parse()
            .map_err(|e| format!("{e}"))?;
        if failed > 0 {
            Ok(())
        } else {
            Err("no failure yet".into())
        }
    });
    for s in &segs {
        assert!(
            node.pgdata().join("pg_wal").join(s).exists(),
            "{s} must stay in pg_wal while unarchived"
        );
        let ready = node
            .pgdata()
            .join("pg_wal/archive_status")
            .join(format!("{s}.ready"));
        assert!(ready.exists(), "{s} must stay .ready");
    }
    minio.restart();
    node.wait_archived(&segs[4], LONG);
    let keys = minio.list("main", "alpha/wals/0000000100000000/");
    for s in &segs {
        assert!(
            keys.contains(&format!("alpha/wals/0000000100000000/{s}")),
            "{s} missing after catch-up"
        );
    }
}

#[test]
fn wrong_credentials_and_corrupt_objects_are_clear_errors() {
    let minio = Minio::start();
    minio.create_bucket("main");
    let mut node = Node::new("a5", "alpha");
    node.set("backup", json!({"barmanObjectStore": s3_store(&minio, "main", json!({"wal": {"compression": "gzip"}}))}));
    node.init_and_start();
    let segs = node.make_segments(2);
    node.wait_archived(&segs[1], LONG);

    let bad_secret = node.dir.path().join("secrets/bad");
    std::fs::create_dir_all(&bad_secret).expect("mkdir");
    std::fs::write(bad_secret.join("ACCESS_KEY_ID"), "nobody").expect("write");
    std::fs::write(bad_secret.join("ACCESS_SECRET_KEY"), "wrong-secret").expect("write");
    for p in [
        bad_secret.clone(),
        bad_secret.join("ACCESS_KEY_ID"),
        bad_secret.join("ACCESS_SECRET_KEY"),
    ] {
        common::chown_pg(&p);
    }
    let mut store = s3_store(&minio, "main", json!({}));
    store["s3Credentials"] = json!({"accessKeyId": {"name": "bad", "key": "ACCESS_KEY_ID"}, "secretAccessKey": {"name": "bad", "key": "ACCESS_SECRET_KEY"}});
    let cfg = node.alt_config("bad.json", json!({"backup": {"barmanObjectStore": store}}));
    let out = node.manager_cfg(&cfg, &["wal-archive", &format!("pg_wal/{}", segs[0])]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("InvalidAccessKeyId") || stderr(&out).contains("Access Denied"),
        "{}",
        stderr(&out)
    );

    // Replace an archived segment with garbage: restore fails with "corrupt", the object stays.
    let key = format!("alpha/wals/0000000100000000/{}.gz", segs[0]);
    let garbage = node.dir.path().join("garbage");
    std::fs::write(&garbage, b"this is not gzip").expect("write");
    minio.put_file("main", &key, &garbage);
    let dest = node.dir.path().join("out");
    let out = node.manager(&["wal-restore", &segs[0], dest.to_str().expect("path")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("corrupt"), "{}", stderr(&out));
    assert!(
        minio.list("main", "alpha/wals/").contains(&key),
        "corrupt object must not be deleted"
    );
}

#[test]
fn local_directory_store_uses_the_same_layout() {
    let node = Node::new("a6", "alpha");
    node.init_and_start();
    let segs = node.make_segments(1);
    let store_dir = node.dir.path().join("store");
    std::fs::create_dir_all(&store_dir).expect("mkdir");
    common::chown_pg(&store_dir);
    let cfg = node.alt_config(
        "local.json",
        json!({"backup": {"barmanObjectStore": {"destinationPath": format!("file://{}/backups", store_dir.display()), "wal": {"compression": "gzip"}}}}),
    );
    let out = node.manager_cfg(&cfg, &["wal-archive", &format!("pg_wal/{}", segs[0])]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stored = store_dir.join(format!(
        "backups/alpha/wals/{}/{}.gz",
        &segs[0][..16],
        segs[0]
    ));
    assert!(stored.is_file(), "{} missing", stored.display());
    let dest = node.dir.path().join("restored-local");
    let out = node.manager_cfg(
        &cfg,
        &["wal-restore", &segs[0], dest.to_str().expect("path")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        std::fs::read(&dest).expect("read")
            == std::fs::read(node.pgdata().join("pg_wal").join(&segs[0])).expect("read")
    );
}

/// A directory holding secrets as `<dir>/<secret>/<key>` files, for the library-level tests that
/// open a store without a PostgreSQL node.
fn secrets_dir(files: &[(&str, &str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (secret, key, value) in files {
        std::fs::create_dir_all(dir.path().join(secret)).expect("mkdir");
        std::fs::write(dir.path().join(secret).join(key), value).expect("secret");
    }
    dir
}

/// The MinIO credentials `s3_store` refers to.
fn minio_secrets() -> tempfile::TempDir {
    secrets_dir(&[
        ("s3", "ACCESS_KEY_ID", common::minio::ACCESS_KEY),
        ("s3", "ACCESS_SECRET_KEY", common::minio::SECRET_KEY),
    ])
}

fn store_config(store: Value) -> BarmanObjectStoreConfiguration {
    serde_json::from_value(store).expect("barmanObjectStore")
}

/// Writes `content` as WAL file `name` in a fresh directory under `dir` (one per writer).
fn wal_file(dir: &Path, writer: &str, name: &str, content: &[u8]) -> PathBuf {
    let d = dir.join(writer);
    std::fs::create_dir_all(&d).expect("mkdir");
    let p = d.join(name);
    std::fs::write(&p, content).expect("write");
    p
}

/// The bytes stored for `name`, decompressed.
async fn stored_bytes(archive: &Archive, name: &str, c: Option<CompressionType>) -> Vec<u8> {
    let raw = archive
        .get(&layout::wal_key(name, c))
        .await
        .expect("get")
        .unwrap_or_else(|| panic!("{name} is not in {}", archive.url()));
    pgfed_manager::compression::decompress(c, &raw).expect("decompress")
}

/// Writers race on one WAL name with different content, each having listed the directory before
/// any of them wrote (the window list-then-write leaves open): exactly one creates the object,
/// every other is refused, and the object holds the winner's bytes. Afterwards a writer with a
/// stale (empty) listing is still refused and the object unchanged, and the winner's own bytes
/// are accepted again as an idempotent re-archive.
async fn racing_archivers_never_overwrite(
    store: BarmanObjectStoreConfiguration,
    secrets: &Path,
    compression: Option<CompressionType>,
) {
    let archive = Archive::open(&store, "alpha", secrets).expect("open the store");
    let work = tempfile::tempdir().expect("tempdir");
    for round in 0..4u8 {
        let name = format!("0000000100000000000000{:02X}", 0x10 + round);
        let writers: Vec<(String, Vec<u8>)> = (0..3u8)
            .map(|w| {
                let content: Vec<u8> = (0..(1u32 << 20))
                    .map(|i| (i as u8) ^ (w * 37 + round))
                    .collect();
                (format!("writer{w}"), content)
            })
            .collect();
        let paths: Vec<PathBuf> = writers
            .iter()
            .map(|(w, content)| wal_file(work.path(), w, &name, content))
            .collect();
        // Every writer's listing is empty: taken before any of them wrote.
        let write = |i: usize| {
            store_wal_file(
                &archive,
                &name,
                &paths[i],
                &[],
                compression,
                Default::default(),
            )
        };
        let results = futures::future::join_all((0..paths.len()).map(write)).await;
        let winners: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r, Ok(Stored::Uploaded)))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "{name}: exactly one writer creates it: {results:?}"
        );
        let winner = winners[0];
        for (i, r) in results.iter().enumerate() {
            if i != winner {
                assert!(
                    matches!(r, Err(WalError::Conflict { .. })),
                    "{name}: writer {i} must be refused: {r:?}"
                );
            }
        }
        assert!(
            stored_bytes(&archive, &name, compression).await == writers[winner].1,
            "{name}: the object must hold the winner's bytes"
        );

        // Late writers whose listing predates the winner's write.
        let loser = (winner + 1) % writers.len();
        let late = write(loser).await;
        assert!(
            matches!(late, Err(WalError::Conflict { .. })),
            "{name}: a different file with a stale listing must be refused: {late:?}"
        );
        assert!(
            stored_bytes(&archive, &name, compression).await == writers[winner].1,
            "{name}: a refused writer must leave the object unchanged"
        );
        let again = write(winner).await;
        assert!(
            matches!(again, Ok(Stored::AlreadyArchived)),
            "{name}: re-archiving the same bytes with a stale listing succeeds: {again:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_archivers_never_overwrite_on_minio() {
    let minio = Minio::start();
    minio.create_bucket("race");
    let secrets = minio_secrets();
    for compression in [None, Some(CompressionType::Gzip)] {
        let prefix = format!("{compression:?}");
        let store = store_config(s3_store(
            &minio,
            "race",
            json!({"destinationPath": format!("s3://race/{prefix}")}),
        ));
        racing_archivers_never_overwrite(store, secrets.path(), compression).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_archivers_never_overwrite_on_azurite() {
    let azurite = Azurite::start();
    azurite.create_container("race");
    let secrets = secrets_dir(&[(
        "azure",
        "AZURE_CONNECTION_STRING",
        &azurite.connection_string(),
    )]);
    let store = store_config(json!({
        "destinationPath": format!("{}/race/pg", azurite.account_url()),
        "azureCredentials": {"connectionString": {"name": "azure", "key": "AZURE_CONNECTION_STRING"}},
    }));
    racing_archivers_never_overwrite(store, secrets.path(), Some(CompressionType::Zstd)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_archivers_never_overwrite_on_fake_gcs() {
    let gcs = FakeGcs::start();
    gcs.create_bucket("race");
    let secrets = secrets_dir(&[("gcs", "key", &gcs.emulator_key())]);
    let store = store_config(json!({
        "destinationPath": "gs://race/pg",
        "googleCredentials": {"applicationCredentials": {"name": "gcs", "key": "key"}},
    }));
    racing_archivers_never_overwrite(store, secrets.path(), None).await;
}

/// A segment uploaded ahead (parallel archiving) counts as archived only for the destination it
/// went to: after the cluster's object store changes, PostgreSQL's request for it uploads it to
/// the new destination instead of being answered from the old marker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_uploaded_ahead_count_only_for_their_destination() {
    let minio = Minio::start();
    minio.create_bucket("main");
    minio.create_bucket("other");
    let secrets = minio_secrets();
    let pgdata = tempfile::tempdir().expect("tempdir");
    let status = pgdata.path().join("pg_wal/archive_status");
    std::fs::create_dir_all(&status).expect("mkdir");
    let segs: Vec<String> = (1..=3)
        .map(|i| format!("0000000100000000000000{i:02X}"))
        .collect();
    for (i, s) in segs.iter().enumerate() {
        std::fs::write(pgdata.path().join("pg_wal").join(s), vec![i as u8; 1 << 20])
            .expect("segment");
        std::fs::write(status.join(format!("{s}.ready")), b"").expect("ready");
    }
    let config = |bucket: &str, max_parallel: u32| -> ManagerConfig {
        serde_json::from_value(json!({
            "clusterName": "alpha",
            "pgdata": pgdata.path(),
            "secretsDir": secrets.path(),
            "backup": {"barmanObjectStore": s3_store(&minio, bucket, json!({"wal": {"maxParallel": max_parallel}}))},
        }))
        .expect("config")
    };
    let (main, other) = (config("main", 3), config("other", 1));

    // Asked for the first segment, the archiver uploads all three to `main`.
    let first = wal_archive(&main, Path::new(&format!("pg_wal/{}", segs[0])))
        .await
        .expect("archive");
    assert_eq!(first, ArchiveOutcome::Uploaded { extra: 2 });
    // The destination changes: the second segment must reach `other` too.
    let second = wal_archive(&other, Path::new(&format!("pg_wal/{}", segs[1])))
        .await
        .expect("archive");
    assert_eq!(
        second,
        ArchiveOutcome::Uploaded { extra: 0 },
        "a marker for another destination must not skip the upload"
    );
    assert!(
        minio
            .list("other", "alpha/wals/")
            .contains(&format!("alpha/wals/0000000100000000/{}", segs[1])),
        "{} missing in the new destination",
        segs[1]
    );
    // The third one's marker was recorded for `main`, which it is still asked for.
    let third = wal_archive(&main, Path::new(&format!("pg_wal/{}", segs[2])))
        .await
        .expect("archive");
    assert_eq!(third, ArchiveOutcome::UploadedEarlier);
}
