//! Azure Blob Storage (Azurite) and Google Cloud Storage (fake-gcs-server) with the real manager and
//! PostgreSQL 15, configured the way CloudNativePG's `barmanObjectStore` is: compressed WAL
//! archiving, a base backup, a point-in-time restore replaying that WAL, idempotent re-archive and
//! refusal of a different segment, each credential shape, and a clear error for bad credentials.

mod common;

use common::azurite::{ACCOUNT, Azurite, KEY};
use common::fake_gcs::FakeGcs;
use common::node::Node;
use serde_json::{Value, json};
use std::process::{Command, Output};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(180);

fn output(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `base` with the keys of `extra` added.
fn merged(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}

fn secret(name: &str, key: &str) -> Value {
    json!({"name": name, "key": key})
}

/// One provider under test: `store(node, extra)` writes the node's credentials and returns its
/// `barmanObjectStore` (objects under `pg/` in the `backups` container/bucket); `list(prefix)`
/// reads object names from the emulator directly.
struct Provider<'a> {
    tag: &'a str,
    store: &'a dyn Fn(&Node, Value) -> Value,
    list: &'a dyn Fn(&str) -> Vec<String>,
}

/// What the shared scenario leaves for the provider's own checks: the primary (still running)
/// and two of its archived segments, still in its pg_wal.
struct Archived {
    primary: Node,
    segments: Vec<String>,
}

/// A primary archives WAL with `wal_compression` and takes a base backup; more rows and a restore
/// point follow; a new instance is restored from the backup up to that restore point, replaying
/// the archived WAL, and holds exactly the rows written before it.
fn archive_backup_and_restore(p: &Provider, wal_compression: &str, suffix: &str) -> Archived {
    let stored = json!({
        "wal": {"compression": wal_compression, "maxParallel": 2},
        "data": {"compression": "gzip", "jobs": 2},
    });
    let mut a = Node::new(&format!("{}-primary", p.tag), "alpha");
    a.set(
        "backup",
        json!({"barmanObjectStore": (p.store)(&a, stored.clone())}),
    );
    a.init_and_start();
    a.psql("app", "CREATE TABLE events(round int, payload text)");
    a.psql(
        "app",
        "INSERT INTO events SELECT 1, md5(g::text) FROM generate_series(1, 20000) g",
    );
    let report: Value = serde_json::from_str(&a.manager_ok(&["backup"])).expect("report JSON");
    let id = report["backupId"].as_str().expect("backupId").to_string();
    let base = (p.list)(&format!("pg/alpha/base/{id}/"));
    for want in ["backup.info", "data.tar.gz", "data_0001.tar.gz"] {
        assert!(
            base.contains(&format!("pg/alpha/base/{id}/{want}")),
            "[{}] {want} missing: {base:?}",
            p.tag
        );
    }

    a.psql(
        "app",
        "INSERT INTO events SELECT 2, 'two' FROM generate_series(1, 100)",
    );
    a.psql("postgres", "SELECT pg_create_restore_point('after-two')");
    a.psql(
        "app",
        "INSERT INTO events SELECT 3, 'three' FROM generate_series(1, 100)",
    );
    let segments = a.make_segments(2);
    a.wait_archived(&segments[1], LONG);
    let wals = (p.list)("pg/alpha/wals/0000000100000000/");
    for s in &segments {
        assert!(
            wals.contains(&format!("pg/alpha/wals/0000000100000000/{s}{suffix}")),
            "[{}] {s}{suffix} missing: {wals:?}",
            p.tag
        );
    }

    let mut r = Node::new(&format!("{}-restored", p.tag), "beta");
    r.set(
        "externalClusters",
        json!([{"name": "origin", "barmanObjectStore": (p.store)(&r, json!({"serverName": "alpha"}))}]),
    );
    r.set(
        "bootstrap",
        json!({"recovery": {"source": "origin", "recoveryTarget": {"targetName": "after-two"}}}),
    );
    let out = r.manager(&["instance", "restore"]);
    assert!(
        out.status.success(),
        "[{}] restore failed: {}\n{}",
        p.tag,
        output(&out),
        r.log()
    );
    r.manager_ok(&["instance", "start"]);
    r.wait_query("postgres", "SELECT pg_is_in_recovery()", "f", LONG);
    assert_eq!(
        r.psql(
            "app",
            "SELECT string_agg(DISTINCT round::text, ',' ORDER BY round::text) FROM events"
        ),
        "1,2",
        "[{}] restored to the restore point",
        p.tag
    );
    assert_eq!(
        r.psql("app", "SELECT count(*) FROM events WHERE round = 1"),
        "20000"
    );
    Archived {
        primary: a,
        segments,
    }
}

/// With the configuration in `cfg`: re-archiving an archived segment succeeds without writing,
/// a different file under the same name is refused (exit 1), and wal-restore returns the bytes
/// PostgreSQL wrote.
fn rearchive_refuse_and_restore(node: &Node, cfg: &std::path::Path, segments: &[String]) {
    let again = node.manager_cfg(cfg, &["wal-archive", &format!("pg_wal/{}", segments[0])]);
    assert!(again.status.success(), "re-archive: {}", output(&again));
    assert!(
        output(&again).contains("AlreadyArchived"),
        "{}",
        output(&again)
    );

    let fake_dir = node.dir.path().join("fake");
    std::fs::create_dir_all(&fake_dir).expect("mkdir");
    common::chown_pg(&fake_dir);
    let fake = fake_dir.join(&segments[0]);
    std::fs::copy(node.pgdata().join("pg_wal").join(&segments[1]), &fake).expect("copy");
    common::chown_pg(&fake);
    let refused = node.manager_cfg(cfg, &["wal-archive", fake.to_str().expect("path")]);
    assert_eq!(refused.status.code(), Some(1), "{}", output(&refused));
    assert!(
        output(&refused).contains("refusing to archive"),
        "{}",
        output(&refused)
    );

    let stem = cfg.file_stem().and_then(|s| s.to_str()).unwrap_or("cfg");
    let dest = node
        .dir
        .path()
        .join(format!("restored-{stem}-{}", segments[0]));
    let out = node.manager_cfg(
        cfg,
        &["wal-restore", &segments[0], dest.to_str().expect("path")],
    );
    assert!(out.status.success(), "wal-restore: {}", output(&out));
    assert!(
        std::fs::read(&dest).expect("restored")
            == std::fs::read(node.pgdata().join("pg_wal").join(&segments[0])).expect("original"),
        "restored bytes differ from pg_wal/{}",
        segments[0]
    );
}

/// A `backup` configuration for `node` written to `file`, with `store` as its object store.
fn config_with(node: &Node, file: &str, store: Value) -> std::path::PathBuf {
    node.alt_config(file, json!({"backup": {"barmanObjectStore": store}}))
}

#[test]
fn azure_blob_archive_backup_restore_and_credentials() {
    let azurite = Azurite::start();
    azurite.create_container("backups");
    let destination = format!("{}/backups/pg", azurite.account_url());
    // CloudNativePG's documented Azurite shape: an emulator URL and a connection string.
    let store = |node: &Node, extra: Value| {
        node.write_secret(
            "azure",
            "AZURE_CONNECTION_STRING",
            &azurite.connection_string(),
        );
        merged(
            json!({
                "destinationPath": destination,
                "azureCredentials": {"connectionString": secret("azure", "AZURE_CONNECTION_STRING")},
            }),
            extra,
        )
    };
    let list = |prefix: &str| azurite.list("backups", prefix);
    let provider = Provider {
        tag: "azure",
        store: &store,
        list: &list,
    };
    let Archived { primary, segments } = archive_backup_and_restore(&provider, "gzip", ".gz");

    // storageAccount + storageKey, endpoint from the destination path.
    primary.write_secret("azure", "AZURE_STORAGE_ACCOUNT", ACCOUNT);
    primary.write_secret("azure", "AZURE_STORAGE_KEY", KEY);
    let key_cfg = config_with(
        &primary,
        "azure-key.json",
        json!({
            "destinationPath": destination,
            "azureCredentials": {
                "storageAccount": secret("azure", "AZURE_STORAGE_ACCOUNT"),
                "storageKey": secret("azure", "AZURE_STORAGE_KEY"),
            },
            "wal": {"compression": "gzip"},
        }),
    );
    rearchive_refuse_and_restore(&primary, &key_cfg, &segments);

    // storageSasToken: a percent-encoded account SAS.
    primary.write_secret("azure", "AZURE_STORAGE_SAS_TOKEN", &azurite.sas);
    let sas_cfg = config_with(
        &primary,
        "azure-sas.json",
        json!({
            "destinationPath": destination,
            "azureCredentials": {"storageSasToken": secret("azure", "AZURE_STORAGE_SAS_TOKEN")},
            "wal": {"compression": "gzip"},
        }),
    );
    rearchive_refuse_and_restore(&primary, &sas_cfg, &segments);

    // A wrong account key: the archiver fails with Azure's refusal, not a hang or a crash code.
    primary.write_secret(
        "azure",
        "WRONG_KEY",
        "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ==",
    );
    let wrong_cfg = config_with(
        &primary,
        "azure-wrong.json",
        json!({
            "destinationPath": destination,
            "azureCredentials": {
                "storageAccount": secret("azure", "AZURE_STORAGE_ACCOUNT"),
                "storageKey": secret("azure", "WRONG_KEY"),
            },
            "wal": {"compression": "gzip"},
        }),
    );
    let out = primary.manager_cfg(
        &wrong_cfg,
        &["wal-archive", &format!("pg_wal/{}", segments[0])],
    );
    assert_eq!(out.status.code(), Some(1), "{}", output(&out));
    assert!(
        output(&out).contains(&destination) && output(&out).contains("403"),
        "the error must name the store and Azure's 403: {}",
        output(&out)
    );
}

#[test]
fn google_cloud_storage_archive_backup_restore_and_credentials() {
    let gcs = FakeGcs::start();
    gcs.create_bucket("backups");
    // The service-account key names the emulator (gcs_base_url) and disables OAuth.
    let store = |node: &Node, extra: Value| {
        node.write_secret("gcs", "gcsCredentials", &gcs.emulator_key());
        merged(
            json!({
                "destinationPath": "gs://backups/pg",
                "googleCredentials": {"applicationCredentials": secret("gcs", "gcsCredentials")},
            }),
            extra,
        )
    };
    let list = |prefix: &str| gcs.list("backups", prefix);
    let provider = Provider {
        tag: "gcs",
        store: &store,
        list: &list,
    };
    let Archived { primary, segments } = archive_backup_and_restore(&provider, "zstd", ".zst");

    // A real-shaped service-account key (RSA private key, self-signed JWT bearer) with the
    // endpoint from endpointURL instead of the key.
    let pem = common::run_ok(Command::new("openssl").args([
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
    ]));
    let key = json!({
        "type": "service_account",
        "project_id": "pgfed-test",
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": "pgfed@pgfed-test.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    });
    primary.write_secret("gcs", "serviceAccount", &key.to_string());
    let sa_cfg = config_with(
        &primary,
        "gcs-sa.json",
        json!({
            "destinationPath": "gs://backups/pg",
            "endpointURL": gcs.endpoint(),
            "googleCredentials": {"applicationCredentials": secret("gcs", "serviceAccount")},
            "wal": {"compression": "zstd"},
        }),
    );
    rearchive_refuse_and_restore(&primary, &sa_cfg, &segments);

    // Credentials that are not a service-account key: a clear error naming the store and the
    // missing field, exit 1. (fake-gcs-server does not check tokens, so a key Google would
    // reject cannot be tested here.)
    primary.write_secret("gcs", "notAKey", r#"{"type": "service_account"}"#);
    let wrong_cfg = config_with(
        &primary,
        "gcs-wrong.json",
        json!({
            "destinationPath": "gs://backups/pg",
            "endpointURL": gcs.endpoint(),
            "googleCredentials": {"applicationCredentials": secret("gcs", "notAKey")},
        }),
    );
    let out = primary.manager_cfg(
        &wrong_cfg,
        &["wal-archive", &format!("pg_wal/{}", segments[0])],
    );
    assert_eq!(out.status.code(), Some(1), "{}", output(&out));
    assert!(
        output(&out).contains("gs://backups/pg") && output(&out).contains("private_key"),
        "the error must name the store and what is wrong with the key: {}",
        output(&out)
    );
}
