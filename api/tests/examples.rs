//! Every file under examples/ parses, defaults and validates; together they cover every kind.
//! Kubernetes' own objects an example needs beside pgfed's (the Secret and ConfigMap of
//! `cluster-post-init-sql.yaml`) must decode as those kinds.

use pgfed_api::admission::{default_document, validate_document};
use std::collections::BTreeSet;
use std::path::Path;

#[test]
fn every_example_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut kinds = BTreeSet::new();
    let mut files = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/")
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path).expect("read");
        for (i, document) in serde_norway::Deserializer::from_str(&text).enumerate() {
            let doc: serde_json::Value = serde::Deserialize::deserialize(document)
                .unwrap_or_else(|e| panic!("{}: document {i} is not YAML: {e}", path.display()));
            let kind = doc["kind"].as_str().unwrap_or_default().to_string();
            if doc["apiVersion"] == "v1" {
                core_object(&kind, doc)
                    .unwrap_or_else(|e| panic!("{}: document {i}: {e}", path.display()));
                continue;
            }
            let defaulted = default_document(&doc)
                .unwrap_or_else(|e| panic!("{}: document {i}: {e}", path.display()));
            let errors = validate_document(&defaulted, None)
                .unwrap_or_else(|e| panic!("{}: document {i}: {e}", path.display()));
            assert!(errors.is_empty(), "{} ({kind}): {errors}", path.display());
            kinds.insert(kind);
        }
    }
    assert!(
        files >= 11,
        "expected the documented set of examples, found {files}"
    );
    let all: BTreeSet<String> = [
        "Cluster",
        "Backup",
        "ScheduledBackup",
        "Pooler",
        "Database",
        "DatabaseRole",
        "Publication",
        "Subscription",
        "ImageCatalog",
        "ClusterImageCatalog",
        "ObjectStore",
        "Federation",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let missing: Vec<_> = all.difference(&kinds).collect();
    assert!(missing.is_empty(), "no example for {missing:?}");
}

/// Decodes a core `v1` object of the kinds examples use.
fn core_object(kind: &str, doc: serde_json::Value) -> Result<(), String> {
    use pgfed_api::k8s_openapi::api::core::v1::{ConfigMap, Secret};
    match kind {
        "Secret" => serde_json::from_value::<Secret>(doc).map(drop),
        "ConfigMap" => serde_json::from_value::<ConfigMap>(doc).map(drop),
        other => return Err(format!("no example should need a v1 {other}")),
    }
    .map_err(|e| format!("not a valid {kind}: {e}"))
}

#[test]
fn schema_mismatch_names_the_field() {
    let doc = serde_json::json!({
        "apiVersion": "pgfed.io/v1", "kind": "Cluster", "metadata": {"name": "pg"},
        "spec": {"instances": "three", "storage": {"size": "1Gi"}}
    });
    let err = validate_document(&doc, None).expect_err("a string is not an instance count");
    assert!(
        err.to_string().contains("three") || err.to_string().contains("instances"),
        "{err}"
    );
    let wrong_group = serde_json::json!({"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster"});
    assert!(validate_document(&wrong_group, None).is_err());
}
