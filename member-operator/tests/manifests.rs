//! The install manifests stay consistent with the code and secure by default.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn manifests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests")
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::Deserializer::from_str(&text)
        .map(|d| {
            serde::Deserialize::deserialize(d).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .filter(|v: &Value| !v.is_null())
        .collect()
}

/// Every document a kustomization lists, recursively.
fn kustomize(dir: &Path) -> Vec<Value> {
    let kustomization = documents(&dir.join("kustomization.yaml"));
    let resources = kustomization[0]["resources"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    resources
        .iter()
        .filter_map(Value::as_str)
        .flat_map(|r| {
            let path = dir.join(r);
            assert!(path.exists(), "{} lists missing {}", dir.display(), r);
            documents(&path)
        })
        .collect()
}

fn assert_hardened(deployment: &Value) {
    let name = deployment["metadata"]["name"].as_str().unwrap_or_default();
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(
        pod["securityContext"]["runAsNonRoot"], true,
        "{name}: runAsNonRoot"
    );
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
        "{name}: seccomp"
    );
    for container in pod["containers"].as_array().cloned().unwrap_or_default() {
        let sc = &container["securityContext"];
        assert_eq!(
            sc["readOnlyRootFilesystem"], true,
            "{name}: read-only root filesystem"
        );
        assert_eq!(
            sc["allowPrivilegeEscalation"], false,
            "{name}: no privilege escalation"
        );
        assert_eq!(
            sc["capabilities"]["drop"],
            serde_json::json!(["ALL"]),
            "{name}: drop ALL capabilities"
        );
        assert!(
            container["resources"]["requests"].is_object(),
            "{name}: resource requests"
        );
        assert!(
            container["resources"]["limits"]["memory"].is_string(),
            "{name}: memory limit"
        );
    }
}

#[test]
fn operator_install_is_complete_and_hardened() {
    let docs = kustomize(&manifests_dir());
    let kinds: BTreeSet<_> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    for kind in [
        "Namespace",
        "CustomResourceDefinition",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ] {
        assert!(kinds.contains(kind), "manifests/ installs no {kind}");
    }
    let crds: Vec<_> = docs
        .iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .collect();
    assert_eq!(
        crds.len(),
        pgfed_api::crds::all().len(),
        "every CRD is installed"
    );
    for d in docs.iter().filter(|d| d["kind"] == "Deployment") {
        assert_hardened(d);
    }
    // The validating webhook covers every kind; the mutating one every kind with defaults.
    let plurals: BTreeSet<String> = crds
        .iter()
        .filter_map(|c| c["spec"]["names"]["plural"].as_str().map(String::from))
        .collect();
    let resources = |kind: &str| -> BTreeSet<String> {
        docs.iter()
            .filter(|d| d["kind"] == kind)
            .flat_map(|d| d["webhooks"].as_array().cloned().unwrap_or_default())
            .flat_map(|w| w["rules"].as_array().cloned().unwrap_or_default())
            .flat_map(|r| r["resources"].as_array().cloned().unwrap_or_default())
            .filter_map(|r| r.as_str().map(String::from))
            .collect()
    };
    assert_eq!(resources("ValidatingWebhookConfiguration"), plurals);
    let mutated = resources("MutatingWebhookConfiguration");
    assert!(
        mutated.is_subset(&plurals) && mutated.contains("clusters"),
        "{mutated:?}"
    );
    // The Service's named target port exists on the operator container.
    let service = docs
        .iter()
        .find(|d| d["kind"] == "Service")
        .expect("webhook service");
    let target = service["spec"]["ports"][0]["targetPort"]
        .as_str()
        .expect("named port");
    let operator = docs
        .iter()
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == "pgfed-operator")
        .expect("operator deployment");
    let ports = &operator["spec"]["template"]["spec"]["containers"][0]["ports"];
    assert!(
        ports
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["name"] == target)),
        "the webhook Service targets port {target:?}, which the operator does not declare"
    );
}

#[test]
fn federation_install_is_hardened() {
    let docs = kustomize(&manifests_dir().join("federation"));
    let deployments: Vec<_> = docs.iter().filter(|d| d["kind"] == "Deployment").collect();
    assert_eq!(deployments.len(), 1);
    for d in deployments {
        assert_hardened(d);
    }
}

#[test]
fn no_rbac_rule_grants_wildcards_or_secret_deletion() {
    for dir in [manifests_dir(), manifests_dir().join("federation")] {
        for doc in kustomize(&dir)
            .iter()
            .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "Role")
        {
            for rule in doc["rules"].as_array().cloned().unwrap_or_default() {
                let list = |k: &str| rule[k].as_array().cloned().unwrap_or_default();
                for field in ["verbs", "resources", "apiGroups"] {
                    assert!(
                        !list(field).iter().any(|v| v == "*"),
                        "wildcard {field} in {rule}"
                    );
                }
                if list("resources").iter().any(|r| r == "secrets") {
                    assert!(
                        !list("verbs").iter().any(|v| v == "delete"),
                        "secrets are never deleted: {rule}"
                    );
                }
            }
        }
    }
}
