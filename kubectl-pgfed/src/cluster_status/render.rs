//! `kubectl pgfed status <cluster>` as text: the phase, who is primary, every instance (from the
//! status and from the instance pods), the conditions, recoverability and backups, certificate
//! expirations, and where the cluster stands in a replica topology. Pure: (Cluster, its instance
//! pods, now) → text. Tokens are long and only a machine reads them: the text says whether one
//! exists, never what it is.

use crate::output::conditions;
use crate::output::table::{Table, fields};
use crate::output::units::when;
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Pod;
use pgfed_api::cluster::fencing::fenced_instances;
use pgfed_api::cluster::{Cluster, ClusterStatus};
use pgfed_api::names::{LABEL_INSTANCE_ROLE, instance_serial};
use std::collections::BTreeSet;

/// The text report of `cluster` at `now`; `pods` are its instance pods.
pub fn render(cluster: &Cluster, pods: &[Pod], now: DateTime<Utc>) -> String {
    let status = cluster.status.clone().unwrap_or_default();
    let mut sections = vec![
        header(cluster, &status, now),
        instances(cluster, &status, pods),
    ];
    if !status.conditions.is_empty() {
        sections.push(format!(
            "Conditions\n{}",
            conditions::table(&status.conditions).render()
        ));
    }
    if let Some(certs) = status
        .certificates
        .as_ref()
        .filter(|c| !c.expirations.is_empty())
    {
        let mut t = Table::new(&["SECRET", "EXPIRES"]);
        for (secret, at) in &certs.expirations {
            t.row(vec![secret.clone(), when(at, now)]);
        }
        sections.push(format!("Certificates\n{}", t.render()));
    }
    sections.join("\n\n")
}

fn cluster_name(cluster: &Cluster) -> String {
    cluster.metadata.name.clone().unwrap_or_default()
}

fn header(cluster: &Cluster, status: &ClusterStatus, now: DateTime<Utc>) -> String {
    let name = cluster_name(cluster);
    let qualified = match &cluster.metadata.namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name.clone(),
    };
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let time = |v: &Option<String>| v.as_deref().map(|t| when(t, now)).unwrap_or_default();
    let instances = format!(
        "{} ready of {} running, {} wanted",
        status.ready_instances.unwrap_or(0),
        status.instances.unwrap_or(0),
        cluster.spec.instances
    );
    let mut pairs = vec![
        ("Phase", opt(&status.phase)),
        ("Phase reason", opt(&status.phase_reason)),
        ("Current primary", opt(&status.current_primary)),
        ("Target primary", opt(&status.target_primary)),
        ("Instances", instances),
        (
            "Timeline",
            status
                .timeline_id
                .map(|t| t.to_string())
                .unwrap_or_default(),
        ),
        ("System ID", opt(&status.system_id)),
        ("Replica cluster", replica_standing(cluster)),
        (
            "Demotion token",
            if status.demotion_token.is_some() {
                "published"
            } else {
                "none"
            }
            .to_string(),
        ),
    ];
    if cluster
        .spec
        .replica
        .as_ref()
        .is_some_and(|r| r.promotion_token.is_some())
    {
        pairs.push((
            "Promotion token",
            "set in spec.replica: the cluster promotes once it has replayed to it".to_string(),
        ));
    }
    pairs.extend([
        (
            "First recoverability point",
            time(&status.first_recoverability_point),
        ),
        (
            "Last successful backup",
            time(&status.last_successful_backup),
        ),
        ("Last failed backup", time(&status.last_failed_backup)),
    ]);
    format!("Cluster {qualified}\n{}", fields(&pairs))
}

/// Where the cluster stands in a distributed topology, from `spec.replica`.
fn replica_standing(cluster: &Cluster) -> String {
    let name = cluster_name(cluster);
    let Some(r) = &cluster.spec.replica else {
        return "no (spec.replica is not set)".to_string();
    };
    let topology = match &r.primary {
        Some(p) => format!(
            "; topology primary {p}, this cluster is {}",
            r.self_name.as_deref().unwrap_or(&name)
        ),
        None => String::new(),
    };
    if r.is_replica(&name) {
        format!("yes, replaying from {}{topology}", r.source)
    } else {
        format!("no, the primary cluster{topology}")
    }
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn instances(cluster: &Cluster, status: &ClusterStatus, pods: &[Pod]) -> String {
    let name = cluster_name(cluster);
    let pod_of = |instance: &str| {
        pods.iter()
            .find(|p| p.metadata.name.as_deref() == Some(instance))
    };
    let mut names: BTreeSet<&str> = status.instance_names.iter().map(String::as_str).collect();
    names.extend(
        status
            .instances_status
            .values()
            .flatten()
            .map(String::as_str),
    );
    names.extend(status.instances_reported_state.keys().map(String::as_str));
    names.extend(pods.iter().filter_map(|p| p.metadata.name.as_deref()));
    if names.is_empty() {
        return "Instances: none yet".to_string();
    }
    let mut ordered: Vec<&str> = names.into_iter().collect();
    // pg-10 after pg-9: by serial, names that are not an instance's last.
    ordered.sort_by_key(|n| (instance_serial(&name, n).unwrap_or(u32::MAX), n.to_string()));
    let fenced = fenced_instances(cluster);
    let mut t = Table::new(&[
        "NAME", "ROLE", "STATUS", "POD", "NODE", "READY", "TIMELINE", "RESTARTS",
    ]);
    for instance in ordered {
        let pod = pod_of(instance);
        let reported = status.instances_reported_state.get(instance);
        let role = match reported {
            Some(r) if r.is_primary => "primary".to_string(),
            Some(_) => "replica".to_string(),
            // Not reported (unreachable manager): the role label the operator keeps on the pod.
            None => pod
                .and_then(|p| p.metadata.labels.as_ref())
                .and_then(|l| l.get(LABEL_INSTANCE_ROLE))
                .cloned()
                .unwrap_or_default(),
        };
        let mut health: Vec<String> = status
            .instances_status
            .iter()
            .filter(|(_, members)| members.iter().any(|m| m == instance))
            .map(|(group, _)| group.clone())
            .collect();
        if fenced.contains(instance) {
            health.push("fenced".to_string());
        }
        let pod_status = pod.and_then(|p| p.status.as_ref());
        let (phase, node, ready, restarts) = match pod {
            None => (
                "missing".to_string(),
                String::new(),
                String::new(),
                String::new(),
            ),
            Some(p) => (
                if p.metadata.deletion_timestamp.is_some() {
                    "Terminating".to_string()
                } else {
                    pod_status.and_then(|s| s.phase.clone()).unwrap_or_default()
                },
                p.spec
                    .as_ref()
                    .and_then(|s| s.node_name.clone())
                    .unwrap_or_default(),
                if pod_ready(p) { "yes" } else { "no" }.to_string(),
                pod_status
                    .and_then(|s| s.container_statuses.as_ref())
                    .map(|cs| cs.iter().map(|c| i64::from(c.restart_count)).sum::<i64>())
                    .unwrap_or(0)
                    .to_string(),
            ),
        };
        t.row(vec![
            instance.to_string(),
            role,
            health.join(", "),
            phase,
            node,
            ready,
            reported
                .and_then(|r| r.timeline_id)
                .map(|t| t.to_string())
                .unwrap_or_default(),
            restarts,
        ]);
    }
    format!("Instances\n{}", t.render())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::units::parse_time;

    fn now() -> DateTime<Utc> {
        parse_time("2026-12-01T12:00:00Z").expect("time")
    }

    fn cluster(spec: serde_json::Value, status: serde_json::Value) -> Cluster {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "pgfed.io/v1", "kind": "Cluster",
            "metadata": {"name": "pg", "namespace": "demo",
                "annotations": {"pgfed.io/fencedInstances": "[\"pg-3\"]"}},
            "spec": spec,
            "status": status
        }))
        .expect("cluster")
    }

    fn pod(name: &str, role: &str, node: &str, ready: bool, restarts: i32) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": {"pgfed.io/cluster": "pg", "pgfed.io/instanceRole": role}},
            "spec": {"nodeName": node, "containers": []},
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
                "containerStatuses": [{"name": "postgres", "restartCount": restarts, "ready": ready,
                    "image": "pg", "imageID": ""}]
            }
        }))
        .expect("pod")
    }

    #[test]
    fn a_healthy_primary_cluster() {
        let c = cluster(
            serde_json::json!({"instances": 3}),
            serde_json::json!({
                "phase": "Cluster in healthy state",
                "currentPrimary": "pg-1", "targetPrimary": "pg-1",
                "instances": 3, "readyInstances": 2, "timelineID": 1, "systemID": "7400000000000000001",
                "instanceNames": ["pg-1", "pg-2", "pg-3"],
                "instancesStatus": {"healthy": ["pg-1", "pg-2"], "failed": ["pg-3"]},
                "instancesReportedState": {
                    "pg-1": {"isPrimary": true, "timeLineID": 1},
                    "pg-2": {"isPrimary": false, "timeLineID": 1}
                },
                "firstRecoverabilityPoint": "2026-11-30T12:00:00Z",
                "lastSuccessfulBackup": "2026-12-01T09:00:00Z",
                "conditions": [
                    {"type": "Ready", "status": "True", "reason": "ClusterIsReady", "message": "Cluster is Ready",
                     "lastTransitionTime": "2026-12-01T11:00:00Z"},
                    {"type": "ContinuousArchiving", "status": "True", "reason": "ContinuousArchivingSuccess",
                     "message": "", "lastTransitionTime": "2026-12-01T11:00:00Z"}
                ],
                "certificates": {"expirations": {"pg-ca": "2027-12-01T12:00:00Z", "pg-server": "2027-03-01T12:00:00Z"}}
            }),
        );
        let pods = [
            pod("pg-1", "primary", "node-a", true, 0),
            pod("pg-2", "replica", "node-b", true, 2),
            pod("pg-3", "replica", "node-c", false, 7),
        ];
        let want = "\
Cluster demo/pg
Phase:                       Cluster in healthy state
Phase reason:                -
Current primary:             pg-1
Target primary:              pg-1
Instances:                   2 ready of 3 running, 3 wanted
Timeline:                    1
System ID:                   7400000000000000001
Replica cluster:             no (spec.replica is not set)
Demotion token:              none
First recoverability point:  2026-11-30T12:00:00Z (1d ago)
Last successful backup:      2026-12-01T09:00:00Z (3h ago)
Last failed backup:          -

Instances
NAME  ROLE     STATUS          POD      NODE    READY  TIMELINE  RESTARTS
pg-1  primary  healthy         Running  node-a  yes    1         0
pg-2  replica  healthy         Running  node-b  yes    1         2
pg-3  replica  failed, fenced  Running  node-c  no     -         7

Conditions
TYPE                 STATUS  REASON                      MESSAGE
Ready                True    ClusterIsReady              Cluster is Ready
ContinuousArchiving  True    ContinuousArchivingSuccess  -

Certificates
SECRET     EXPIRES
pg-ca      2027-12-01T12:00:00Z (in 365d)
pg-server  2027-03-01T12:00:00Z (in 90d)";
        assert_eq!(render(&c, &pods, now()), want);
    }

    #[test]
    fn a_demoted_replica_cluster_never_shows_its_tokens() {
        let c = cluster(
            serde_json::json!({"instances": 1, "replica": {"self": "a", "primary": "b", "source": "b",
                "promotionToken": "cHJvbW90aW9u"}}),
            serde_json::json!({
                "phase": "Waiting for the instances to become active",
                "phaseReason": "pg-1 is restarting as a replica",
                "currentPrimary": "pg-1", "targetPrimary": "pg-1",
                "demotionToken": "ZGVtb3Rpb24tdG9rZW4=",
                "instanceNames": ["pg-1"],
                "lastFailedBackup": "2026-12-01T11:00:00Z"
            }),
        );
        let text = render(&c, &[], now());
        for line in [
            "Phase reason:                pg-1 is restarting as a replica",
            "Instances:                   0 ready of 0 running, 1 wanted",
            "Replica cluster:             yes, replaying from b; topology primary b, this cluster is a",
            "Demotion token:              published",
            "Promotion token:             set in spec.replica: the cluster promotes once it has replayed to it",
            "Last failed backup:          2026-12-01T11:00:00Z (1h ago)",
            "pg-1  -     -       missing  -     -      -         -",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(!text.contains("ZGVtb3Rpb24tdG9rZW4="), "{text}");
        assert!(!text.contains("cHJvbW90aW9u"), "{text}");
        assert!(
            !text.contains("Conditions"),
            "no conditions, no section: {text}"
        );
    }

    #[test]
    fn the_primary_cluster_of_a_topology_and_instances_in_serial_order() {
        let c = cluster(
            serde_json::json!({"instances": 2, "replica": {"primary": "pg", "source": "other"}}),
            serde_json::json!({"instanceNames": ["pg-10", "pg-9"]}),
        );
        let text = render(&c, &[pod("pg-10", "primary", "n", true, 0)], now());
        assert!(
            text.contains("Replica cluster:             no, the primary cluster; topology primary pg, this cluster is pg"),
            "{text}"
        );
        let p9 = text.find("\npg-9 ").expect("pg-9 row");
        let p10 = text.find("\npg-10 ").expect("pg-10 row");
        assert!(p9 < p10, "{text}");
        assert!(
            render(
                &cluster(serde_json::json!({"instances": 1}), serde_json::Value::Null),
                &[],
                now()
            )
            .contains("Instances: none yet")
        );
    }
}
