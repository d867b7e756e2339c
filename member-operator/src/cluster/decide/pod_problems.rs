//! Why an instance pod does not start, in words that name the object: an image that cannot be
//! pulled, a pod the scheduler cannot place (a claim that cannot bind shows up here too, named
//! with its StorageClass), a
//! container that cannot be configured (a missing Secret or ConfigMap it mounts). The reconcile
//! puts them in the phase reason and an Event, so `kubectl get cluster` says what is wrong
//! instead of waiting forever; they clear by themselves when the cause is fixed.

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use std::collections::BTreeMap;

/// Container waiting reasons that mean the pod will not start without a change.
const STUCK_REASONS: [&str; 7] = [
    "ErrImagePull",
    "ErrImageNeverPull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "CrashLoopBackOff",
];

/// The claims of `pod` that are not bound yet, each with its StorageClass: what the scheduler
/// means by "unbound PersistentVolumeClaims", by name.
fn unbound_claims(pod: &Pod, pvcs: &BTreeMap<String, PersistentVolumeClaim>) -> Vec<String> {
    let volumes = pod.spec.iter().flat_map(|s| s.volumes.iter().flatten());
    volumes
        .filter_map(|v| v.persistent_volume_claim.as_ref())
        .filter_map(|c| {
            let claim = pvcs.get(&c.claim_name);
            let phase = claim.and_then(|p| p.status.as_ref()?.phase.clone());
            if phase.as_deref() == Some("Bound") {
                return None;
            }
            let class = claim
                .and_then(|p| p.spec.as_ref()?.storage_class_name.clone())
                .map_or_else(|| "the default".to_string(), |c| format!("{c:?}"));
            Some(format!(
                "claim {} ({}, StorageClass {class})",
                c.claim_name,
                phase.as_deref().unwrap_or("missing")
            ))
        })
        .collect()
}

/// The problem of each instance pod that has one, by pod name; `pvcs` are the Cluster's claims,
/// by name, so a claim that cannot bind is named. Pure.
pub fn pod_problems(
    pods: &BTreeMap<String, Pod>,
    pvcs: &BTreeMap<String, PersistentVolumeClaim>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, pod) in pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let Some(status) = &pod.status else { continue };
        let unschedulable = status.conditions.iter().flatten().find(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable")
        });
        if let Some(c) = unschedulable {
            let message = c.message.as_deref().unwrap_or("no reason given");
            let mut problem = format!("pod {name} cannot be scheduled: {message}");
            let claims = unbound_claims(pod, pvcs);
            // "unbound immediate PersistentVolumeClaims", "storageclass … not found", "didn't
            // find available persistent volumes to bind": the claims are part of the cause.
            let about_volumes = ["persistentvolumeclaim", "storageclass", "volume"]
                .iter()
                .any(|w| message.to_lowercase().contains(w));
            if about_volumes && !claims.is_empty() {
                problem.push_str(&format!("; not bound: {}", claims.join(", ")));
            }
            out.insert(name.clone(), problem);
            continue;
        }
        let containers = status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten());
        for container in containers {
            let Some(waiting) = container.state.as_ref().and_then(|s| s.waiting.as_ref()) else {
                continue;
            };
            let reason = waiting.reason.as_deref().unwrap_or_default();
            if STUCK_REASONS.contains(&reason) {
                out.insert(
                    name.clone(),
                    format!(
                        "pod {name}, container {}: {reason}: {}",
                        container.name,
                        waiting.message.as_deref().unwrap_or("no message")
                    ),
                );
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "pg-1"},
            "status": status
        }))
        .expect("pod")
    }

    #[test]
    fn stuck_pods_are_named_with_their_cause() {
        let cases = [
            (
                serde_json::json!({"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims"}]}),
                Some(
                    "pod pg-1 cannot be scheduled: 0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims",
                ),
            ),
            (
                serde_json::json!({"containerStatuses": [{"name": "postgres", "image": "x", "imageID": "", "ready": false,
                    "restartCount": 0, "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"nope:1\""}}}]}),
                Some(
                    "pod pg-1, container postgres: ImagePullBackOff: Back-off pulling image \"nope:1\"",
                ),
            ),
            (
                serde_json::json!({"initContainerStatuses": [{"name": "bootstrap-controller", "image": "x", "imageID": "",
                    "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ErrImagePull"}}}]}),
                Some("pod pg-1, container bootstrap-controller: ErrImagePull: no message"),
            ),
            // starting normally: not a problem
            (
                serde_json::json!({"containerStatuses": [{"name": "postgres", "image": "x", "imageID": "", "ready": false,
                    "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}]}),
                None,
            ),
            (
                serde_json::json!({"conditions": [{"type": "PodScheduled", "status": "True"}]}),
                None,
            ),
        ];
        for (status, want) in cases {
            let pods = BTreeMap::from([("pg-1".to_string(), pod(status.clone()))]);
            assert_eq!(
                pod_problems(&pods, &BTreeMap::new())
                    .get("pg-1")
                    .map(String::as_str),
                want,
                "{status}"
            );
        }
    }

    #[test]
    fn a_claim_that_cannot_bind_is_named_with_its_storage_class() {
        let unschedulable = serde_json::json!({
            "metadata": {"name": "pg-1"},
            "spec": {"containers": [], "volumes": [
                {"name": "pgdata", "persistentVolumeClaim": {"claimName": "pg-1"}},
                {"name": "pg-wal", "persistentVolumeClaim": {"claimName": "pg-1-wal"}},
                {"name": "scratch", "emptyDir": {}}
            ]},
            "status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims"}]}
        });
        let pods = BTreeMap::from([(
            "pg-1".to_string(),
            serde_json::from_value::<Pod>(unschedulable).expect("pod"),
        )]);
        let claim = |name: &str, class: Option<&str>, phase: &str| {
            let pvc: PersistentVolumeClaim = serde_json::from_value(serde_json::json!({
                "metadata": {"name": name},
                "spec": {"storageClassName": class},
                "status": {"phase": phase}
            }))
            .expect("claim");
            (name.to_string(), pvc)
        };
        let pvcs = BTreeMap::from([
            claim("pg-1", Some("fast-nvme"), "Pending"),
            claim("pg-1-wal", None, "Bound"),
        ]);
        assert_eq!(
            pod_problems(&pods, &pvcs)["pg-1"],
            "pod pg-1 cannot be scheduled: 0/2 nodes are available: pod has unbound immediate \
             PersistentVolumeClaims; not bound: claim pg-1 (Pending, StorageClass \"fast-nvme\")"
        );
        // Another cause of unschedulability: the claims are not blamed.
        let mut other = pods.clone();
        if let Some(c) = other
            .get_mut("pg-1")
            .and_then(|p| p.status.as_mut())
            .and_then(|s| s.conditions.as_mut())
            .and_then(|c| c.first_mut())
        {
            c.message = Some("0/2 nodes are available: 2 Insufficient cpu".into());
        }
        assert_eq!(
            pod_problems(&other, &pvcs)["pg-1"],
            "pod pg-1 cannot be scheduled: 0/2 nodes are available: 2 Insufficient cpu"
        );
    }
}
