//! The CRDs checked in under manifests/crds/ are exactly what the types generate, and every field
//! carries a description (what `kubectl explain` shows).

use pgfed_api::crds;
use serde_json::Value;
use std::path::Path;

const REGENERATE: &str = "cargo run -p pgfed-operator -- crd --out-dir manifests/crds";

#[test]
fn checked_in_crds_match_the_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/crds");
    let mut stale = Vec::new();
    for (file, crd) in crds::all() {
        let want = crds::to_yaml(std::slice::from_ref(&crd)).expect("yaml");
        let got = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        if got != want {
            stale.push(file);
        }
    }
    assert!(stale.is_empty(), "stale CRDs {stale:?}: run `{REGENERATE}`");
    let on_disk = std::fs::read_dir(&dir).expect("manifests/crds").count();
    assert_eq!(
        on_disk,
        crds::all().len(),
        "one file per kind, nothing else in {}",
        dir.display()
    );
}

fn undocumented(path: &str, schema: &Value, out: &mut Vec<String>) {
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, prop) in props {
            let p = format!("{path}.{name}");
            let described = prop
                .get("description")
                .and_then(Value::as_str)
                .is_some_and(|d| !d.trim().is_empty());
            // apiVersion/kind/metadata are the standard object header.
            if !described && !matches!(name.as_str(), "apiVersion" | "kind" | "metadata") {
                out.push(p.clone());
            }
            undocumented(&p, prop, out);
        }
    }
    if let Some(items) = schema.get("items") {
        undocumented(&format!("{path}[]"), items, out);
    }
    if let Some(extra) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        undocumented(&format!("{path}{{}}"), extra, out);
    }
}

#[test]
fn every_field_has_a_description() {
    let mut missing = Vec::new();
    for (_, crd) in crds::all() {
        let kind = crd.spec.names.kind.clone();
        for version in &crd.spec.versions {
            let schema = version
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .map(|s| serde_json::to_value(s).expect("json"))
                .expect("schema");
            undocumented(&kind, &schema, &mut missing);
        }
    }
    assert!(
        missing.is_empty(),
        "{} fields without a description:\n{}",
        missing.len(),
        missing.join("\n")
    );
}

/// `kubectl apply` (client-side) stores the whole object in an annotation limited to 256 KiB.
#[test]
fn every_crd_fits_client_side_apply() {
    const LIMIT: usize = 262_144;
    for (file, crd) in crds::all() {
        let size = serde_json::to_vec(&crd).expect("json").len();
        assert!(
            size < LIMIT - 8 * 1024,
            "{file} is {size} bytes of JSON; `kubectl apply -k manifests/` needs it well under {LIMIT}"
        );
    }
}

#[test]
fn every_kind_has_status_and_cluster_scales() {
    for (file, crd) in crds::all() {
        for version in &crd.spec.versions {
            let sub = version.subresources.as_ref();
            assert!(
                sub.and_then(|s| s.status.as_ref()).is_some(),
                "{file}: no status subresource"
            );
            let columns = version
                .additional_printer_columns
                .as_ref()
                .map_or(0, Vec::len);
            assert!(columns >= 2, "{file}: printer columns for kubectl get");
        }
    }
    let cluster = <pgfed_api::cluster::Cluster as kube::CustomResourceExt>::crd();
    let scale = cluster.spec.versions[0]
        .subresources
        .as_ref()
        .and_then(|s| s.scale.as_ref())
        .expect("Cluster has the scale subresource");
    assert_eq!(scale.spec_replicas_path, ".spec.instances");
    assert_eq!(scale.status_replicas_path, ".status.instances");
    assert_eq!(
        scale.label_selector_path.as_deref(),
        Some(".status.selector")
    );
}

#[test]
fn printer_columns_show_what_users_look_for() {
    let columns = |crd: k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition| -> Vec<String> {
        crd.spec.versions[0]
            .additional_printer_columns
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.name)
            .collect()
    };
    let cluster = columns(<pgfed_api::cluster::Cluster as kube::CustomResourceExt>::crd());
    for want in ["Instances", "Ready", "Status", "Primary"] {
        assert!(
            cluster.iter().any(|c| c == want),
            "Cluster lacks column {want}: {cluster:?}"
        );
    }
    let federation = columns(<pgfed_api::federation::Federation as kube::CustomResourceExt>::crd());
    for want in ["Primary", "Region", "Phase", "Max Lag (s)"] {
        assert!(
            federation.iter().any(|c| c == want),
            "Federation lacks column {want}: {federation:?}"
        );
    }
}

/// Every CEL rule of every CRD: (kind, schema path, rule, message).
fn cel_rules() -> Vec<(String, String, String, String)> {
    fn walk(
        kind: &str,
        path: &str,
        schema: &Value,
        out: &mut Vec<(String, String, String, String)>,
    ) {
        for rule in schema
            .get("x-kubernetes-validations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let text = |k: &str| {
                rule.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            out.push((
                kind.to_string(),
                path.to_string(),
                text("rule"),
                text("message"),
            ));
        }
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (name, prop) in props {
                walk(kind, &format!("{path}.{name}"), prop, out);
            }
        }
        if let Some(items) = schema.get("items") {
            walk(kind, &format!("{path}[]"), items, out);
        }
        if let Some(extra) = schema.get("additionalProperties").filter(|v| v.is_object()) {
            walk(kind, &format!("{path}{{}}"), extra, out);
        }
    }
    let mut out = Vec::new();
    for (_, crd) in crds::all() {
        let schema = crd.spec.versions[0]
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .map(|s| serde_json::to_value(s).expect("json"))
            .expect("schema");
        walk(&crd.spec.names.kind, "", &schema, &mut out);
    }
    out
}

/// The API server refuses a CRD whose transition rule (one using `oldSelf`) sits below a list it
/// cannot correlate between the old and the new object, and a rule without a message tells the
/// user nothing; both mistakes would only show when the CRD is installed.
#[test]
fn cel_rules_have_messages_and_transition_rules_are_correlatable() {
    let rules = cel_rules();
    assert!(rules.len() >= 20, "only {} CEL rules", rules.len());
    for (kind, path, rule, message) in &rules {
        assert!(
            !message.trim().is_empty(),
            "{kind} {path}: {rule:?} has no message"
        );
        if rule.contains("oldSelf") {
            assert!(
                !path.contains("[]") && !path.contains("{}"),
                "{kind} {path}: transition rule {rule:?} below a list or map"
            );
        }
    }
}

/// The rules the API server enforces without the webhook, each at its field: immutable fields
/// and the ranges of numbers.
#[test]
fn api_server_enforces_immutable_fields_and_ranges() {
    let rules = cel_rules();
    let has_rule = |kind: &str, path: &str, message: &str| {
        rules
            .iter()
            .any(|(k, p, _, m)| k == kind && p == path && m.contains(message))
    };
    for (kind, path, message) in [
        ("Cluster", ".spec", "postgresUID is immutable"),
        ("Cluster", ".spec", "postgresGID is immutable"),
        ("Cluster", ".spec", "walStorage cannot be removed"),
        (
            "Cluster",
            ".spec",
            "imageName and imageCatalogRef are mutually exclusive",
        ),
        ("Cluster", ".spec.serviceAccountName", "immutable"),
        (
            "Cluster",
            ".spec.bootstrap.initdb.walSegmentSize",
            "power of two",
        ),
        (
            "Cluster",
            ".spec.primaryLease",
            "renewDeadlineSeconds must be less",
        ),
        (
            "Cluster",
            ".spec.primaryLease",
            "retryPeriodSeconds must be less",
        ),
        ("Backup", ".spec", "immutable"),
        ("ScheduledBackup", ".spec.cluster", "immutable"),
        ("Pooler", ".spec.cluster", "immutable"),
        ("Database", ".spec.name", "immutable"),
        ("Database", ".spec.encoding", "immutable"),
        ("Database", ".spec.localeProvider", "immutable"),
        ("Publication", ".spec.dbname", "immutable"),
        ("Subscription", ".spec.name", "immutable"),
        ("DatabaseRole", ".spec", "name is immutable"),
        ("DatabaseRole", ".spec", "reserved"),
        ("DatabaseRole", ".spec.cluster", "immutable"),
    ] {
        assert!(
            has_rule(kind, path, message),
            "{kind} {path}: no rule saying {message:?}"
        );
    }
    let schema_of = |kind: &str| {
        crds::all()
            .into_iter()
            .find(|(_, c)| c.spec.names.kind == kind)
            .and_then(|(_, c)| c.spec.versions[0].schema.clone())
            .and_then(|s| s.open_api_v3_schema)
            .map(|s| serde_json::to_value(s).expect("json"))
            .expect("kind")
    };
    for (kind, pointer, min, max) in [
        (
            "Cluster",
            "/properties/spec/properties/instances",
            Some(1.0),
            None,
        ),
        (
            "Cluster",
            "/properties/spec/properties/postgresUID",
            Some(0.0),
            None,
        ),
        (
            "Cluster",
            "/properties/spec/properties/maxSyncReplicas",
            Some(0.0),
            None,
        ),
        (
            "Cluster",
            "/properties/spec/properties/stopDelay",
            Some(0.0),
            None,
        ),
        (
            "Cluster",
            "/properties/spec/properties/postgresql/properties/ldap/properties/port",
            Some(1.0),
            Some(65535.0),
        ),
        (
            "Cluster",
            "/properties/spec/properties/postgresql/properties/synchronous/properties/number",
            Some(1.0),
            None,
        ),
        (
            "Cluster",
            "/properties/spec/properties/bootstrap/properties/initdb/properties/walSegmentSize",
            Some(1.0),
            Some(1024.0),
        ),
        (
            "Cluster",
            "/properties/spec/properties/backup/properties/barmanObjectStore/properties/wal/properties/maxParallel",
            Some(1.0),
            Some(256.0),
        ),
        (
            "Cluster",
            "/properties/spec/properties/managed/properties/roles/items/properties/connectionLimit",
            Some(-1.0),
            None,
        ),
        (
            "Cluster",
            "/properties/spec/properties/imageCatalogRef/properties/major",
            Some(10.0),
            None,
        ),
        (
            "Pooler",
            "/properties/spec/properties/instances",
            Some(0.0),
            None,
        ),
        (
            "Database",
            "/properties/spec/properties/connectionLimit",
            Some(-1.0),
            None,
        ),
        (
            "ImageCatalog",
            "/properties/spec/properties/images/items/properties/major",
            Some(10.0),
            None,
        ),
    ] {
        let schema = schema_of(kind);
        let field = schema
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{kind} {pointer}"));
        assert_eq!(
            field.get("minimum").and_then(Value::as_f64),
            min,
            "{kind} {pointer} minimum"
        );
        assert_eq!(
            field.get("maximum").and_then(Value::as_f64),
            max,
            "{kind} {pointer} maximum"
        );
    }
}
