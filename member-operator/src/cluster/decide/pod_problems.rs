//! Why an instance pod does not start, in words that name the object: an image that cannot be
//! pulled, a pod the scheduler cannot place (a claim that cannot bind shows up here too), a
//! container that cannot be configured (a missing Secret or ConfigMap it mounts). The reconcile
//! puts them in the phase reason and an Event, so `kubectl get cluster` says what is wrong
//! instead of waiting forever; they clear by themselves when the cause is fixed.

use k8s_openapi::api::core::v1::Pod;
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

/// The problem of each instance pod that has one, by pod name. Pure.
pub fn pod_problems(pods: &BTreeMap<String, Pod>) -> BTreeMap<String, String> {
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
            out.insert(
                name.clone(),
                format!(
                    "pod {name} cannot be scheduled: {}",
                    c.message.as_deref().unwrap_or("no reason given")
                ),
            );
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
                pod_problems(&pods).get("pg-1").map(String::as_str),
                want,
                "{status}"
            );
        }
    }
}
