//! `kubectl pgfed promote <cluster> <instance>`: a switchover. Like CloudNativePG's plugin, it
//! sets the Cluster's `status.targetPrimary` (and the phase "Switchover in progress"); the
//! operator then waits for the target to catch up, steps the primary down cleanly and lets the
//! target promote once it holds the primary Lease. The checks here are the operator's own, made
//! first so a mistake gets an answer at the prompt rather than a Warning Event.

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use pgfed_api::cluster::fencing::fenced_instances;
use pgfed_api::cluster::{Cluster, phase};
use pgfed_api::names::{instance_name, instance_serial};

/// Why a switchover cannot be asked for.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PromoteError {
    /// The target is not an instance of the cluster.
    #[error(
        "{instance} is not an instance of cluster {cluster}: give an instance name like {cluster}-2, or its number"
    )]
    NotAnInstance {
        /// The cluster.
        cluster: String,
        /// What was given.
        instance: String,
    },
    /// The target is the primary already.
    #[error("{instance} is already the primary of {cluster}")]
    AlreadyPrimary {
        /// The cluster.
        cluster: String,
        /// The instance.
        instance: String,
    },
    /// A failover or switchover is under way.
    #[error(
        "cluster {cluster} is changing its primary already (phase \"{phase}\"); wait for it to finish"
    )]
    Busy {
        /// The cluster.
        cluster: String,
        /// Its phase.
        phase: String,
    },
    /// The target is fenced.
    #[error("{instance} is fenced; unfence it first (kubectl pgfed fencing off)")]
    Fenced {
        /// The instance.
        instance: String,
    },
    /// The target has no pod.
    #[error("{instance} has no pod; wait for the operator to recreate it")]
    NoPod {
        /// The instance.
        instance: String,
    },
    /// The target's pod is not ready.
    #[error(
        "{instance} is not ready (its pod is not Ready); check `kubectl describe pod {instance}`"
    )]
    NotReady {
        /// The instance.
        instance: String,
    },
    /// An API call failed.
    #[error("{0}")]
    Api(String),
}

/// The instance `given` names: an instance name, or its serial number. Pure.
pub fn target_name(cluster: &str, given: &str) -> Result<String, PromoteError> {
    let name = match given.parse::<u32>() {
        Ok(serial) => instance_name(cluster, serial),
        Err(_) => given.to_string(),
    };
    match instance_serial(cluster, &name) {
        Some(_) => Ok(name),
        None => Err(PromoteError::NotAnInstance {
            cluster: cluster.to_string(),
            instance: given.to_string(),
        }),
    }
}

fn pod_ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Whether `cluster` may switch over to `target` (whose pod is `pod`). Pure.
pub fn check(cluster: &Cluster, target: &str, pod: Option<&Pod>) -> Result<(), PromoteError> {
    let name = cluster.metadata.name.clone().unwrap_or_default();
    let status = cluster.status.clone().unwrap_or_default();
    if status.current_primary.as_deref() == Some(target)
        && status.target_primary.as_deref() == Some(target)
    {
        return Err(PromoteError::AlreadyPrimary {
            cluster: name,
            instance: target.to_string(),
        });
    }
    let phase_now = status.phase.unwrap_or_default();
    if phase_now == phase::FAILING_OVER
        || phase_now == phase::SWITCHOVER
        || status.target_primary != status.current_primary
    {
        return Err(PromoteError::Busy {
            cluster: name,
            phase: phase_now,
        });
    }
    if fenced_instances(cluster).contains(target) {
        return Err(PromoteError::Fenced {
            instance: target.to_string(),
        });
    }
    match pod {
        None => Err(PromoteError::NoPod {
            instance: target.to_string(),
        }),
        Some(p) if !pod_ready(p) => Err(PromoteError::NotReady {
            instance: target.to_string(),
        }),
        Some(_) => Ok(()),
    }
}

/// Asks for a switchover of `cluster` in `namespace` to `given` (a name or a number).
pub async fn promote(
    client: Client,
    namespace: &str,
    cluster_name: &str,
    given: &str,
) -> Result<String, PromoteError> {
    let target = target_name(cluster_name, given)?;
    let clusters: Api<Cluster> = Api::namespaced(client.clone(), namespace);
    let cluster = clusters.get(cluster_name).await.map_err(|e| {
        PromoteError::Api(format!("reading cluster {namespace}/{cluster_name}: {e}"))
    })?;
    let pods: Api<Pod> = Api::namespaced(client, namespace);
    let pod = pods
        .get_opt(&target)
        .await
        .map_err(|e| PromoteError::Api(format!("reading pod {namespace}/{target}: {e}")))?;
    check(&cluster, &target, pod.as_ref())?;
    let patch = serde_json::json!({
        "status": {
            "targetPrimary": target,
            "phase": phase::SWITCHOVER,
            "phaseReason": format!("switching over to {target}"),
        }
    });
    clusters
        .patch_status(cluster_name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|e| PromoteError::Api(format!("updating the status of {cluster_name}: {e}")))?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
    use pgfed_api::cluster::{ClusterSpec, ClusterStatus};
    use std::collections::BTreeMap;

    fn cluster(current: &str, target: &str, phase_now: &str) -> Cluster {
        let mut c = Cluster::new("pg", ClusterSpec::default());
        c.status = Some(ClusterStatus {
            current_primary: Some(current.into()),
            target_primary: Some(target.into()),
            phase: Some(phase_now.into()),
            ..ClusterStatus::default()
        });
        c
    }

    fn pod(ready: bool) -> Pod {
        Pod {
            status: Some(PodStatus {
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: if ready { "True" } else { "False" }.into(),
                    ..PodCondition::default()
                }]),
                ..PodStatus::default()
            }),
            ..Pod::default()
        }
    }

    #[test]
    fn the_target_is_a_name_or_a_number() {
        assert_eq!(target_name("pg", "pg-2"), Ok("pg-2".into()));
        assert_eq!(target_name("pg", "3"), Ok("pg-3".into()));
        assert!(matches!(
            target_name("pg", "other-1"),
            Err(PromoteError::NotAnInstance { .. })
        ));
    }

    #[test]
    fn only_a_ready_unfenced_standby_of_a_settled_cluster_is_accepted() {
        let healthy = cluster("pg-1", "pg-1", phase::HEALTHY);
        assert_eq!(check(&healthy, "pg-2", Some(&pod(true))), Ok(()));
        assert!(matches!(
            check(&healthy, "pg-1", Some(&pod(true))),
            Err(PromoteError::AlreadyPrimary { .. })
        ));
        assert!(matches!(
            check(&healthy, "pg-2", Some(&pod(false))),
            Err(PromoteError::NotReady { .. })
        ));
        assert!(matches!(
            check(&healthy, "pg-2", None),
            Err(PromoteError::NoPod { .. })
        ));
        let busy = cluster("pg-1", "pg-3", phase::FAILING_OVER);
        assert!(matches!(
            check(&busy, "pg-2", Some(&pod(true))),
            Err(PromoteError::Busy { .. })
        ));
        let mut fenced = healthy.clone();
        fenced.metadata.annotations = Some(BTreeMap::from([(
            "cnpg.io/fencedInstances".to_string(),
            r#"["pg-2"]"#.to_string(),
        )]));
        let err = check(&fenced, "pg-2", Some(&pod(true))).expect_err("fenced");
        assert!(err.to_string().contains("unfence"), "{err}");
    }
}
