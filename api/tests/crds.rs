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
