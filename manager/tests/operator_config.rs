//! The contract with the member operator: the configuration file it renders for every instance
//! (`member-operator/tests/fixtures/manager-config.json`, which an operator test keeps equal to
//! what it renders) is read by the manager with every field taking effect. serde ignores unknown
//! fields, so a name the two sides spell differently would otherwise be dropped in silence.

use pgfed_manager::config::ManagerConfig;
use std::path::{Path, PathBuf};

fn fixture() -> (String, PathBuf) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../member-operator/tests/fixtures/manager-config.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (text, path)
}

/// Every key path of `value` that holds a scalar, e.g. `primaryConnection.sslCert`.
fn leaf_paths(value: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                leaf_paths(v, &path, out);
            }
        }
        _ => out.push(prefix.to_string()),
    }
}

fn lookup<'a>(value: &'a serde_json::Value, path: &str) -> &'a serde_json::Value {
    path.split('.').fold(value, |v, key| &v[key])
}

#[test]
fn every_field_the_operator_writes_is_read_by_the_manager() {
    let (text, path) = fixture();
    let written: serde_json::Value = serde_json::from_str(&text).expect("fixture is JSON");
    let config = ManagerConfig::parse(&text)
        .unwrap_or_else(|e| panic!("the manager cannot read {}: {e}", path.display()));
    let read = serde_json::to_value(&config).expect("serialize");
    let mut paths = Vec::new();
    leaf_paths(&written, "", &mut paths);
    assert!(!paths.is_empty());
    for p in paths {
        assert_eq!(
            lookup(&read, &p),
            lookup(&written, &p),
            "the operator writes {p} but the manager reads something else"
        );
    }
}

#[test]
fn the_operator_file_names_this_pod_and_streams_from_the_rw_service_over_verified_tls() {
    let (text, _) = fixture();
    let config = ManagerConfig::parse(&text)
        .expect("parse")
        .named_after_pod(Some("pg-2".to_string()));
    assert_eq!(config.me(), "pg-2");
    assert_eq!(config.other_target_primary(), Some("pg-1"));
    // The primary Lease with CloudNativePG's default timings, every instance, the synchronous
    // standbys: what failover, HA slots and synchronous replication run on.
    let lease = config.primary_lease.clone().expect("a primary lease");
    assert_eq!(
        (
            lease.lease_duration_seconds,
            lease.renew_deadline_seconds,
            lease.retry_period_seconds
        ),
        (15, 10, 2)
    );
    assert_eq!(config.instances, ["pg-1", "pg-2"]);
    assert_eq!(
        config.synchronous_standby_names.as_deref(),
        Some("ANY 1 (\"pg-2\")")
    );
    let conninfo = config
        .target_primary_conninfo()
        .expect("a standby knows its primary");
    for part in [
        "host=pg-rw",
        "user=streaming_replica",
        "sslmode=verify-full",
        "sslcert=/controller/certificates/replication/tls.crt",
        "sslrootcert=/controller/certificates/server-ca/ca.crt",
    ] {
        assert!(conninfo.contains(part), "{part} missing from {conninfo}");
    }
    let primary = ManagerConfig::parse(&text)
        .expect("parse")
        .named_after_pod(Some("pg-1".to_string()));
    assert_eq!(primary.other_target_primary(), None);
}

#[test]
fn the_operator_lists_a_mounted_file_for_every_post_init_sql_reference() {
    let (text, _) = fixture();
    let config = ManagerConfig::parse(&text).expect("parse");
    let initdb = config
        .bootstrap
        .as_ref()
        .and_then(|b| b.initdb.clone())
        .expect("the fixture bootstraps with initdb");
    let files = &config.post_init_sql_files;
    assert!(
        !files.sql.is_empty() && !files.application.is_empty(),
        "the fixture references post-init SQL in Secrets and ConfigMaps: {files:?}"
    );
    // What `instance init` checks before it runs anything.
    pgfed_manager::instance::init::check_post_init_files(&initdb, files)
        .unwrap_or_else(|e| panic!("the manager refuses the operator's file list: {e}"));
    for file in files.sql.iter().chain(&files.application) {
        assert!(
            file.path.starts_with("/controller/post-init-sql/"),
            "{} is mounted at {}",
            file.field,
            file.path
        );
    }
}
