//! The federation controller's install manifests stay consistent with the code and secure by
//! default: the command the Deployment runs is one the binary accepts, the hub's RBAC grants
//! exactly the calls the controller makes there, and the member RBAC exactly the calls it makes
//! in a member region.

use clap::Parser;
use pgfed_federation::cli::{Cli, Command};
use pgfed_federation::controller::{HUB_API_ACCESS, MEMBER_API_ACCESS};
use pgfed_operator::leader::API_ACCESS as LEADER_API_ACCESS;
use pgfed_operator::webhook::secret::ApiAccess;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn manifests() -> PathBuf {
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

type Grant = (String, String, String);

fn grants(docs: &[Value], kinds: &[&str]) -> BTreeSet<Grant> {
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect()
    };
    let mut out = BTreeSet::new();
    for doc in docs
        .iter()
        .filter(|d| kinds.contains(&d["kind"].as_str().unwrap_or_default()))
    {
        for rule in doc["rules"].as_array().cloned().unwrap_or_default() {
            for g in list(&rule["apiGroups"]) {
                for r in list(&rule["resources"]) {
                    for v in list(&rule["verbs"]) {
                        out.insert((g.clone(), r.clone(), v));
                    }
                }
            }
        }
    }
    out
}

fn used(lists: &[&[ApiAccess]]) -> BTreeSet<Grant> {
    lists
        .iter()
        .flat_map(|l| l.iter())
        .map(|a| {
            (
                a.group.to_string(),
                a.resource.to_string(),
                a.verb.to_string(),
            )
        })
        .collect()
}

#[test]
fn the_hub_install_runs_a_command_the_binary_accepts_hardened() {
    let dir = manifests().join("federation");
    let kustomization = documents(&dir.join("kustomization.yaml"));
    let docs: Vec<Value> = kustomization[0]["resources"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .flat_map(|r| documents(&dir.join(r)))
        .collect();
    let deployment = docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let container = &pod["containers"][0];
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert_eq!(
        container["securityContext"]["capabilities"]["drop"],
        serde_json::json!(["ALL"])
    );
    assert!(container["resources"]["limits"]["memory"].is_string());
    let argv: Vec<String> = container["command"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    assert_eq!(
        argv.first().map(String::as_str),
        Some("/usr/local/bin/pgfed-federation")
    );
    let Command::Run(run) = Cli::try_parse_from(&argv)
        .expect("the binary accepts the command")
        .command
    else {
        panic!("the Deployment does not run `run`");
    };
    assert!(Cli::try_parse_from(["pgfed-federation", "serve"]).is_err());

    // The hub's rights: exactly the hub calls and the leader election, plus a member's rights
    // (a member may run in the hub) bound from the member ClusterRole.
    let hub = grants(&docs, &["Role", "ClusterRole"]);
    let want = used(&[HUB_API_ACCESS, LEADER_API_ACCESS]);
    assert_eq!(
        hub, want,
        "manifests/federation/rbac.yaml grants differ from the calls the code makes"
    );
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
    assert!(docs.iter().any(|d| d["kind"] == "ClusterRoleBinding"
        && d["roleRef"]["name"] == "pgfed-federation-member"
        && d["subjects"][0]["name"]
            == deployment["spec"]["template"]["spec"]["serviceAccountName"]));
}

#[test]
fn a_member_region_grants_exactly_what_the_controller_does_there() {
    let docs = documents(&manifests().join("federation-member-rbac.yaml"));
    assert_eq!(grants(&docs, &["ClusterRole"]), used(&[MEMBER_API_ACCESS]));
    let kustomization = documents(&manifests().join("kustomization.yaml"));
    assert!(
        kustomization[0]["resources"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r == "federation-member-rbac.yaml")),
        "every region gets the member rights"
    );
}
