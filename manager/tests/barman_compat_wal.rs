//! Barman Cloud compatibility of the WAL archive, both directions, with Debian's barman-cli-cloud:
//! barman-cloud-wal-restore reads what pgfed archived, pgfed restores what
//! barman-cloud-wal-archive archived (uncompressed, gzip, bzip2).

mod common;

use common::minio::Minio;
use common::node::{Node, s3_store};
use common::run_ok;
use serde_json::json;
use std::time::Duration;

#[test]
fn barman_cloud_wal_restore_reads_what_pgfed_archives() {
    let minio = Minio::start();
    let node = Node::new("c1", "alpha");
    node.init_and_start();
    let segs = node.make_segments(2);
    let seg = &segs[0];
    let original = std::fs::read(node.pgdata().join("pg_wal").join(seg)).expect("segment");
    let history = node.dir.path().join("00000002.history");
    std::fs::write(&history, "1\t0/3000000\tno recovery target specified\n").expect("write");
    common::chown_pg(&history);
    for compression in ["none", "gzip", "bzip2"] {
        let bucket = format!("pgfed-{compression}");
        minio.create_bucket(&bucket);
        let wal = if compression == "none" {
            json!({})
        } else {
            json!({"compression": compression})
        };
        let cfg = node.alt_config(&format!("{compression}.json"), json!({"backup": {"barmanObjectStore": s3_store(&minio, &bucket, json!({"wal": wal}))}}));
        for path in [format!("pg_wal/{seg}"), history.display().to_string()] {
            let out = node.manager_cfg(&cfg, &["wal-archive", &path]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let dest = node.dir.path().join(format!("barman-{compression}"));
        run_ok(minio.barman_cloud("barman-cloud-wal-restore").args([
            &format!("s3://{bucket}/"),
            "alpha",
            seg,
            dest.to_str().expect("path"),
        ]));
        assert!(
            std::fs::read(&dest).expect("read") == original,
            "{compression}: barman restored different bytes"
        );
        let hdest = node
            .dir
            .path()
            .join(format!("barman-{compression}.history"));
        run_ok(minio.barman_cloud("barman-cloud-wal-restore").args([
            &format!("s3://{bucket}/"),
            "alpha",
            "00000002.history",
            hdest.to_str().expect("path"),
        ]));
        assert_eq!(
            std::fs::read(&hdest).expect("read"),
            std::fs::read(&history).expect("read"),
            "{compression}"
        );
    }
}

#[test]
fn pgfed_restores_what_barman_cloud_wal_archive_writes() {
    let minio = Minio::start();
    minio.create_bucket("barman");
    let mut node = Node::new("c2", "alpha");
    node.set(
        "backup",
        json!({"barmanObjectStore": s3_store(&minio, "barman", json!({}))}),
    );
    node.init_and_start();
    let segs = node.make_segments(3);
    // Let PostgreSQL's own archive_command run too; barman's uploads go to another server name.
    node.wait_archived(&segs[2], Duration::from_secs(180));
    for (seg, flag) in [
        (&segs[0], None),
        (&segs[1], Some("-z")),
        (&segs[2], Some("-j")),
    ] {
        let mut cmd = minio.barman_cloud("barman-cloud-wal-archive");
        if let Some(f) = flag {
            cmd.arg(f);
        }
        cmd.args(["s3://barman/", "fromBarman"])
            .arg(node.pgdata().join("pg_wal").join(seg));
        run_ok(&mut cmd);
    }
    let keys = minio.list("barman", "fromBarman/wals/");
    assert!(
        keys.iter().any(|k| k.ends_with(&format!("{}.gz", segs[1]))),
        "{keys:?}"
    );
    assert!(
        keys.iter()
            .any(|k| k.ends_with(&format!("{}.bz2", segs[2]))),
        "{keys:?}"
    );

    let cfg = node.alt_config(
        "from-barman.json",
        json!({"externalClusters": [{"name": "fromBarman", "barmanObjectStore": s3_store(&minio, "barman", json!({}))}]}),
    );
    for seg in &segs {
        let dest = node.dir.path().join(format!("{seg}.restored"));
        let out = node.manager_cfg(
            &cfg,
            &[
                "wal-restore",
                "--from",
                "fromBarman",
                seg,
                dest.to_str().expect("path"),
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            std::fs::read(&dest).expect("read")
                == std::fs::read(node.pgdata().join("pg_wal").join(seg)).expect("read"),
            "{seg} differs"
        );
    }
}
