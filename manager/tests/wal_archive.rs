//! wal-archive / wal-restore against a real MinIO with real WAL from PostgreSQL 15: every
//! compression, parallel archiving of ready segments, idempotent re-archive, refusal to
//! overwrite, history and partial files, prefetch, outages, corrupt objects, wrong credentials.

mod common;

use common::minio::Minio;
use common::node::{Node, s3_store};
use serde_json::json;
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
