//! The install manifests stay consistent with the code and secure by default: every command they
//! run is one the binary accepts, and the RBAC grants exactly the calls the code makes.

use clap::Parser;
use pgfed_operator::backup::API_ACCESS as BACKUP_API_ACCESS;
use pgfed_operator::cli::{Cli, Command};
use pgfed_operator::cluster::API_ACCESS as CLUSTER_API_ACCESS;
use pgfed_operator::database::API_ACCESS as DATABASE_API_ACCESS;
use pgfed_operator::leader::{API_ACCESS as LEADER_API_ACCESS, LEASE_NAME};
use pgfed_operator::scheduled_backup::API_ACCESS as SCHEDULED_BACKUP_API_ACCESS;
use pgfed_operator::webhook::secret::API_ACCESS;
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
        "Role",
        "RoleBinding",
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
fn no_rbac_rule_grants_wildcards_or_secret_deletion() {
    {
        for doc in kustomize(&manifests_dir())
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

/// Every YAML file under `dir`, recursively.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files.extend(yaml_files(&path));
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// Every container (and init container) anywhere in `doc`, at any depth: Deployments, Jobs,
/// CronJobs and bare Pods alike.
fn containers(doc: &Value) -> Vec<Value> {
    let mut found = Vec::new();
    match doc {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "containers" || key == "initContainers" {
                    found.extend(value.as_array().cloned().unwrap_or_default());
                } else {
                    found.extend(containers(value));
                }
            }
        }
        Value::Array(items) => found.extend(items.iter().flat_map(containers)),
        _ => {}
    }
    found
}

/// Whether the binary named by `argv[0]` accepts `argv`, parsed with that binary's own clap
/// definition. A binary this test does not know is an error: add its definition here before a
/// manifest runs it.
fn binary_accepts(argv: &[String]) -> Result<(), String> {
    let binary = argv[0].rsplit('/').next().unwrap_or_default();
    match binary {
        "pgfed-operator" => Cli::try_parse_from(argv)
            .map(drop)
            .map_err(|e| e.to_string()),
        other => Err(format!(
            "no pgfed binary named {other:?} defines a command line this test can check"
        )),
    }
}

#[test]
fn every_command_a_manifest_runs_is_one_its_binary_accepts() {
    let mut checked = 0;
    // manifests/federation/ runs the federation controller, checked by its own crate's test.
    let federation = manifests_dir().join("federation");
    for file in yaml_files(&manifests_dir())
        .into_iter()
        .filter(|f| !f.starts_with(&federation))
    {
        for doc in documents(&file) {
            for container in containers(&doc) {
                let name = format!(
                    "{}: {}/{} container {}",
                    file.display(),
                    doc["kind"].as_str().unwrap_or_default(),
                    doc["metadata"]["name"].as_str().unwrap_or_default(),
                    container["name"].as_str().unwrap_or_default()
                );
                let strings = |k: &str| -> Vec<String> {
                    container[k]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .iter()
                        .map(|v| {
                            v.as_str()
                                .unwrap_or_else(|| panic!("{name}: {k} holds a non-string"))
                                .to_string()
                        })
                        .collect()
                };
                let mut argv = strings("command");
                assert!(
                    !argv.is_empty(),
                    "{name}: no command; the image's entrypoint needs a subcommand, so name it"
                );
                argv.extend(strings("args"));
                if let Err(e) = binary_accepts(&argv) {
                    panic!("{name} runs {argv:?}, which the binary refuses:\n{e}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "no container found under manifests/");
}

#[test]
fn the_command_check_refuses_what_the_binary_refuses() {
    let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(binary_accepts(&argv(&["/usr/local/bin/pgfed-operator", "run"])).is_ok());
    for bad in [
        &["/usr/local/bin/pgfed-operator"][..],
        &["/usr/local/bin/pgfed-operator", "serve"],
        &["/usr/local/bin/pgfed-operator", "run", "--no-such-flag"],
        &["/usr/local/bin/pgfed-federation", "run"],
    ] {
        assert!(binary_accepts(&argv(bad)).is_err(), "{bad:?} accepted");
    }
}

/// (apiGroup, resource, verb) of every rule of `kind` in rbac.yaml, with the rule's resourceNames.
fn granted(docs: &[Value], kind: &str) -> Vec<((String, String, String), Vec<String>)> {
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect()
    };
    let mut out = Vec::new();
    for doc in docs.iter().filter(|d| d["kind"] == kind) {
        for rule in doc["rules"].as_array().cloned().unwrap_or_default() {
            let names = list(&rule["resourceNames"]);
            for group in list(&rule["apiGroups"]) {
                for resource in list(&rule["resources"]) {
                    for verb in list(&rule["verbs"]) {
                        out.push(((group.clone(), resource.clone(), verb), names.clone()));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn rbac_grants_exactly_the_calls_the_code_makes() {
    let docs = documents(&manifests_dir().join("rbac.yaml"));
    let role = granted(&docs, "Role");
    let cluster_role = granted(&docs, "ClusterRole");
    let grants: BTreeSet<(String, String, String)> = role
        .iter()
        .chain(&cluster_role)
        .map(|(g, _)| g.clone())
        .collect();
    let used: BTreeSet<(String, String, String)> = API_ACCESS
        .iter()
        .chain(CLUSTER_API_ACCESS)
        .chain(BACKUP_API_ACCESS)
        .chain(LEADER_API_ACCESS)
        .chain(SCHEDULED_BACKUP_API_ACCESS)
        .chain(DATABASE_API_ACCESS)
        .map(|a| {
            (
                a.group.to_string(),
                a.resource.to_string(),
                a.verb.to_string(),
            )
        })
        .collect();
    let unused: Vec<_> = grants.difference(&used).collect();
    let missing: Vec<_> = used.difference(&grants).collect();
    assert!(
        unused.is_empty(),
        "manifests/rbac.yaml grants (apiGroup, resource, verb) no code uses: {unused:?}"
    );
    assert!(
        missing.is_empty(),
        "the code calls (apiGroup, resource, verb) manifests/rbac.yaml does not grant: {missing:?}"
    );

    // Names and scope match what `pgfed-operator run` uses by default.
    let Command::Run(run) = Cli::parse_from(["pgfed-operator", "run"]).command else {
        panic!("`run` parsed as another command");
    };
    for doc in docs
        .iter()
        .filter(|d| d["kind"] == "Role" || d["kind"] == "RoleBinding")
    {
        assert_eq!(
            doc["metadata"]["namespace"],
            run.namespace.as_str(),
            "{doc}"
        );
    }
    // The webhook's rules name its own objects; the Cluster controller's are cluster-wide (Clusters
    // live in any namespace) and carry no names.
    for ((_, resource, verb), names) in &role {
        let want: Vec<String> = match (resource.as_str(), verb.as_str()) {
            // RBAC cannot restrict create to a name.
            (_, "create") => vec![],
            ("leases", _) => vec![LEASE_NAME.to_string()],
            _ => vec![run.webhook_secret.clone()],
        };
        assert_eq!(names, &want, "resourceNames of {resource} {verb}");
    }
    for ((_, resource, verb), names) in &cluster_role {
        let want: Vec<String> = match resource.as_str() {
            "mutatingwebhookconfigurations" | "validatingwebhookconfigurations" => vec![
                run.mutating_configuration.clone(),
                run.validating_configuration.clone(),
            ],
            _ => vec![],
        };
        assert_eq!(names, &want, "resourceNames of {resource} {verb}");
    }
}
