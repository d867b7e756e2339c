//! Which standbys a primary's commits wait for: the `synchronous_standby_names` value the
//! operator pushes to the primary, and whether the synchronous topology the Cluster asks for is
//! there (`SyncReplicationTopologySatisfied`). Pure; the reconcile gathers the input (pods, nodes,
//! the primary's replication report) and applies the plan.
//!
//! The rules are CloudNativePG's:
//! - `postgresql.synchronous` with `dataDurability: required` (the default) lists every instance
//!   whether it is up or not, and never lowers `number`: commits wait rather than go unprotected.
//! - With `preferred` only streaming standbys are listed, `number` is capped at how many there
//!   are, and with none there is no synchronous replication at all.
//! - `podFailureDomainKeys` / `nodeFailureDomainKeys` keep only standbys whose failure domain (the
//!   values of those labels) differs from the primary's, when enough of them exist (`number` for
//!   `required`, one for `preferred`); otherwise the list is left as it is, so commits are never
//!   made to wait for acknowledgements that cannot come, and the condition says so.
//! - The legacy `minSyncReplicas`/`maxSyncReplicas` give `ANY q (streaming standbys)`, with `q`
//!   `maxSyncReplicas` when enough standbys stream, else `minSyncReplicas`, else as many as stream;
//!   `syncReplicaElectionConstraint` drops standbys on nodes sharing the primary's label values.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::ResourceExt;
use pgfed_api::cluster::{
    Cluster, DataDurability, SyncReplicaElectionConstraints, SynchronousMethod,
    SynchronousReplicaConfiguration,
};
use pgfed_api::instance::InstanceStatus;
use std::collections::BTreeMap;

/// What the decision reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncInput {
    /// The Cluster's name (for the placeholder name PostgreSQL needs in an otherwise empty list).
    pub cluster: String,
    /// `spec.minSyncReplicas`.
    pub min_sync_replicas: i32,
    /// `spec.maxSyncReplicas`.
    pub max_sync_replicas: i32,
    /// `spec.postgresql.synchronous`.
    pub synchronous: Option<SynchronousReplicaConfiguration>,
    /// `spec.postgresql.syncReplicaElectionConstraint`.
    pub election_constraint: Option<SyncReplicaElectionConstraints>,
    /// The instance that is (or is about to be) the primary.
    pub primary: Option<String>,
    /// Every instance of the cluster, the primary included, in any order.
    pub instances: Vec<SyncCandidate>,
}

/// One instance as the decision sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SyncCandidate {
    /// Instance (pod) name, which is also its `application_name`.
    pub name: String,
    /// Its pod is ready and the primary reports it streaming.
    pub streaming: bool,
    /// Its pod's labels.
    pub pod_labels: BTreeMap<String, String>,
    /// Its node's labels; `None` when the node is not known (pod not scheduled, node gone).
    pub node_labels: Option<BTreeMap<String, String>>,
}

/// What the primary should enforce, and what to tell the user about it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncPlan {
    /// The `synchronous_standby_names` value (names double-quoted); `None`: asynchronous.
    pub standby_names: Option<String>,
    /// The `SyncReplicationTopologySatisfied` condition; `None` when synchronous replication
    /// is not configured (the condition is then removed).
    pub topology: Option<TopologyVerdict>,
}

/// The value of the `SyncReplicationTopologySatisfied` condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopologyVerdict {
    /// Status True.
    pub satisfied: bool,
    /// CamelCase reason.
    pub reason: &'static str,
    /// What is wanted and what is there.
    pub message: String,
}

/// The condition's type.
pub const CONDITION: &str = pgfed_api::cluster::condition::SYNC_REPLICATION_TOPOLOGY_SATISFIED;

/// Whether the decision needs the labels of the instances' nodes (so they are read only then).
pub fn needs_nodes(cluster: &Cluster) -> bool {
    let pg = cluster.spec.postgresql.as_ref();
    pg.and_then(|p| p.synchronous.as_ref())
        .is_some_and(|s| !s.node_failure_domain_keys.is_empty())
        || pg
            .and_then(|p| p.sync_replica_election_constraint.as_ref())
            .is_some_and(|c| c.enabled)
}

/// Builds the input from what the reconcile observed: `instances` are every instance with
/// volumes (running or not), `primary` the instance that is primary, `reported` what the
/// managers said (a standby streams when the primary lists it as `streaming` and its pod is
/// ready), `nodes` the labels of the nodes that run instance pods, by node name. Pure.
pub fn gather(
    cluster: &Cluster,
    primary: Option<String>,
    instances: &[String],
    pods: &BTreeMap<String, Pod>,
    reported: &BTreeMap<String, InstanceStatus>,
    nodes: &BTreeMap<String, BTreeMap<String, String>>,
    pod_ready: fn(&Pod) -> bool,
) -> SyncInput {
    let streaming_per_primary: Vec<&str> = primary
        .as_ref()
        .and_then(|p| reported.get(p))
        .map(|s| {
            s.replication_info
                .iter()
                .filter(|r| r.state.as_deref() == Some("streaming"))
                .map(|r| r.application_name.as_str())
                .collect()
        })
        .unwrap_or_default();
    let pg = cluster.spec.postgresql.as_ref();
    SyncInput {
        cluster: cluster.name_any(),
        min_sync_replicas: cluster.spec.min_sync_replicas.unwrap_or(0),
        max_sync_replicas: cluster.spec.max_sync_replicas.unwrap_or(0),
        synchronous: pg.and_then(|p| p.synchronous.clone()),
        election_constraint: pg.and_then(|p| p.sync_replica_election_constraint.clone()),
        primary,
        instances: instances
            .iter()
            .map(|name| {
                let pod = pods
                    .get(name)
                    .filter(|p| p.metadata.deletion_timestamp.is_none());
                SyncCandidate {
                    name: name.clone(),
                    streaming: pod.is_some_and(pod_ready)
                        && streaming_per_primary.contains(&name.as_str()),
                    pod_labels: pod.map(|p| p.labels().clone()).unwrap_or_default(),
                    node_labels: pod
                        .and_then(|p| p.spec.as_ref())
                        .and_then(|s| s.node_name.as_ref())
                        .and_then(|n| nodes.get(n))
                        .cloned(),
                }
            })
            .collect(),
    }
}

/// Decides the primary's `synchronous_standby_names`. Pure.
pub fn plan(input: &SyncInput) -> SyncPlan {
    match &input.synchronous {
        Some(sync) => explicit(input, sync),
        None if input.max_sync_replicas > 0 => legacy(input),
        None => SyncPlan::default(),
    }
}

/// The condition for `plan` at `now`; `None` when it should not be set.
pub fn condition(
    plan: &SyncPlan,
    generation: Option<i64>,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Condition> {
    plan.topology.as_ref().map(|v| {
        crate::cluster::status::condition(
            CONDITION,
            v.satisfied,
            v.reason,
            v.message.clone(),
            generation,
            now,
        )
    })
}

/// Renders `METHOD n ("a","b")`. Pure.
pub fn render(method: SynchronousMethod, number: usize, names: &[String]) -> String {
    let keyword = match method {
        SynchronousMethod::Any => "ANY",
        SynchronousMethod::First => "FIRST",
    };
    let quoted: Vec<String> = names
        .iter()
        .map(|n| format!("\"{}\"", n.replace('"', "\"\"")))
        .collect();
    format!("{keyword} {number} ({})", quoted.join(","))
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// The instances other than the primary, by name.
fn standbys(input: &SyncInput) -> Vec<&SyncCandidate> {
    let mut out: Vec<&SyncCandidate> = input
        .instances
        .iter()
        .filter(|c| Some(&c.name) != input.primary.as_ref())
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// A failure domain: the values of the keys, read from the pod's or the node's labels. `None`
/// when it cannot be told (a pod lacking one of the keys, an unknown node).
fn domain(c: &SyncCandidate, sync: &SynchronousReplicaConfiguration) -> Option<Vec<String>> {
    if !sync.pod_failure_domain_keys.is_empty() {
        sync.pod_failure_domain_keys
            .iter()
            .map(|k| c.pod_labels.get(k).cloned())
            .collect()
    } else {
        let labels = c.node_labels.as_ref()?;
        Some(
            sync.node_failure_domain_keys
                .iter()
                .map(|k| labels.get(k).cloned().unwrap_or_default())
                .collect(),
        )
    }
}

/// Where the failure-domain rule stands.
enum Domains<'a> {
    /// No failure-domain keys.
    NotAsked,
    /// The primary's domain is unknown.
    Unknown,
    /// The standbys (among those given) in another domain than the primary's.
    Across(Vec<&'a SyncCandidate>),
}

fn across<'a>(
    input: &SyncInput,
    sync: &SynchronousReplicaConfiguration,
    among: &[&'a SyncCandidate],
) -> Domains<'a> {
    if sync.pod_failure_domain_keys.is_empty() && sync.node_failure_domain_keys.is_empty() {
        return Domains::NotAsked;
    }
    let primary = input
        .primary
        .as_ref()
        .and_then(|p| input.instances.iter().find(|c| &c.name == p))
        .and_then(|p| domain(p, sync));
    let Some(primary) = primary else {
        return Domains::Unknown;
    };
    Domains::Across(
        among
            .iter()
            .filter(|c| domain(c, sync).is_some_and(|d| d != primary))
            .copied()
            .collect(),
    )
}

fn explicit(input: &SyncInput, sync: &SynchronousReplicaConfiguration) -> SyncPlan {
    let required = sync.data_durability != Some(DataDurability::Preferred);
    let number = usize::try_from(sync.number).unwrap_or(0);
    let standbys = standbys(input);
    let streaming: Vec<&SyncCandidate> = standbys.iter().filter(|c| c.streaming).copied().collect();
    // `required` lists everyone, up or not; `preferred` only who streams now.
    let pool: Vec<&SyncCandidate> = if required {
        match sync.method {
            // Priority order matters: streaming standbys first (CloudNativePG's order), so a
            // capped list keeps the ones that can acknowledge.
            SynchronousMethod::First => streaming
                .iter()
                .chain(standbys.iter().filter(|c| !c.streaming))
                .copied()
                .collect(),
            // A quorum does not care: by name, so the value does not change with readiness.
            SynchronousMethod::Any => standbys.clone(),
        }
    } else {
        streaming.clone()
    };
    let threshold = if required { number } else { 1 };
    let domains = across(input, sync, &pool);
    let (chosen, crossing) = match &domains {
        Domains::Across(ok) if ok.len() >= threshold.max(1) => (ok.clone(), true),
        _ => (pool.clone(), false),
    };
    let mut names: Vec<String> = chosen.iter().map(|c| c.name.clone()).collect();
    // As CloudNativePG, a `required` list ends with the primary itself (unless filtered by
    // domain): after a switchover the former primary, now a standby, is listed at once.
    if required
        && !crossing
        && let Some(p) = &input.primary
    {
        names.push(p.clone());
    }
    if let Some(cap) = sync
        .max_standby_names_from_cluster
        .and_then(|m| usize::try_from(m).ok())
    {
        names.truncate(cap);
    }

    // What is available to acknowledge: streaming, and in another domain when asked.
    let eligible_streaming = match &domains {
        Domains::NotAsked => streaming.len(),
        Domains::Unknown => 0,
        Domains::Across(_) => match across(input, sync, &streaming) {
            Domains::Across(ok) => ok.len(),
            _ => 0,
        },
    };
    let where_ = match domains {
        Domains::NotAsked => "",
        _ => " in another failure domain",
    };
    let wanted = plural(number, "synchronous standby");
    let mut message = format!("{wanted}{where_} wanted, {eligible_streaming} available");
    let satisfied = eligible_streaming >= number && !matches!(domains, Domains::Unknown);
    let reason = match (&domains, satisfied) {
        (_, true) => "TopologySatisfied",
        (Domains::Unknown, _) => "TopologyNotExtracted",
        (Domains::Across(_), _) => "InsufficientCrossDomainReplicas",
        (Domains::NotAsked, _) => "InsufficientSynchronousStandbys",
    };
    if matches!(domains, Domains::Unknown) {
        message.push_str("; the primary's failure domain is not known");
    }
    if !matches!(domains, Domains::NotAsked) && !crossing {
        message.push_str("; the failure domain constraint is not applied");
    }

    let standby_names = if required {
        let mut all: Vec<String> = sync.standby_names_pre.clone();
        all.extend(names);
        all.extend(sync.standby_names_post.iter().cloned());
        if all.is_empty() {
            all.push(format!("{}-placeholder", input.cluster));
        }
        if !satisfied {
            message.push_str("; commits wait");
        }
        Some(render(sync.method, number, &all))
    } else if names.is_empty() {
        if !satisfied {
            message.push_str("; commits do not wait for any standby");
        }
        None
    } else {
        let n = number.min(names.len());
        if !satisfied {
            message.push_str(&format!("; commits wait for {n}"));
        }
        Some(render(sync.method, n, &names))
    };
    SyncPlan {
        standby_names,
        topology: Some(TopologyVerdict {
            satisfied,
            reason,
            message,
        }),
    }
}

/// Whether two nodes share the values of every anti-affinity label.
fn same_node_labels(
    keys: &[String],
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
) -> bool {
    keys.iter().all(|k| a.get(k) == b.get(k))
}

fn legacy(input: &SyncInput) -> SyncPlan {
    let min = usize::try_from(input.min_sync_replicas).unwrap_or(0);
    let max = usize::try_from(input.max_sync_replicas).unwrap_or(0);
    let streaming: Vec<&SyncCandidate> = standbys(input)
        .into_iter()
        .filter(|c| c.streaming)
        .collect();
    let ready = streaming.len();
    let mut number = if ready >= max { max } else { min };
    // Self-healing, as CloudNativePG: never wait for more standbys than stream.
    number = number.min(ready);
    let constraint = input
        .election_constraint
        .as_ref()
        .filter(|c| c.enabled && !c.node_labels_anti_affinity.is_empty());
    let primary_node = input
        .primary
        .as_ref()
        .and_then(|p| input.instances.iter().find(|c| &c.name == p))
        .and_then(|p| p.node_labels.as_ref());
    let electable: Vec<&SyncCandidate> = match (constraint, primary_node) {
        (Some(c), Some(primary)) => streaming
            .iter()
            .filter(|s| {
                s.node_labels.as_ref().is_some_and(|labels| {
                    !same_node_labels(&c.node_labels_anti_affinity, primary, labels)
                })
            })
            .copied()
            .collect(),
        // No constraint, or the primary's node is not known: every streaming standby.
        _ => streaming.clone(),
    };
    number = number.min(electable.len());
    let wanted = min.max(1);
    let satisfied = number >= wanted;
    let where_ = if constraint.is_some() {
        " on a node with other labels than the primary's"
    } else {
        ""
    };
    let message = format!(
        "{}{where_} wanted, {} available",
        plural(wanted, "synchronous standby"),
        electable.len()
    );
    let names: Vec<String> = electable.iter().map(|c| c.name.clone()).collect();
    SyncPlan {
        standby_names: (number > 0).then(|| render(SynchronousMethod::Any, number, &names)),
        topology: Some(TopologyVerdict {
            satisfied,
            reason: if satisfied {
                "TopologySatisfied"
            } else {
                "InsufficientSynchronousStandbys"
            },
            message,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// `pg-1` is the primary; each instance: (name, streaming, zone of the pod and of the node).
    fn input(sync: Option<&str>, instances: &[(&str, bool, &str)]) -> SyncInput {
        SyncInput {
            cluster: "pg".into(),
            synchronous: sync.map(|s| serde_norway::from_str(s).expect("synchronous")),
            primary: Some("pg-1".into()),
            instances: instances
                .iter()
                .map(|(name, streaming, zone)| SyncCandidate {
                    name: name.to_string(),
                    streaming: *streaming,
                    pod_labels: if zone.is_empty() {
                        BTreeMap::new()
                    } else {
                        labels(&[("zone", zone)])
                    },
                    node_labels: (!zone.is_empty())
                        .then(|| labels(&[("topology.kubernetes.io/zone", zone)])),
                })
                .collect(),
            ..SyncInput::default()
        }
    }

    /// (name, streaming, zone of the pod and of the node)
    type Instances<'a> = &'a [(&'a str, bool, &'a str)];

    const THREE_UP: &[(&str, bool, &str)] = &[
        ("pg-1", false, "a"),
        ("pg-2", true, "b"),
        ("pg-3", true, "c"),
    ];
    const ONE_DOWN: &[(&str, bool, &str)] = &[
        ("pg-1", false, "a"),
        ("pg-2", true, "b"),
        ("pg-3", false, "c"),
    ];
    const ALL_DOWN: &[(&str, bool, &str)] = &[
        ("pg-1", false, "a"),
        ("pg-2", false, "b"),
        ("pg-3", false, "c"),
    ];
    const SAME_ZONE: &[(&str, bool, &str)] = &[
        ("pg-1", false, "a"),
        ("pg-2", true, "a"),
        ("pg-3", true, "b"),
    ];

    #[test]
    fn explicit_synchronous_replication() {
        // (synchronous, instances, standby names, condition status and reason)
        let cases: &[(&str, Instances, Option<&str>, bool, &str)] = &[
            (
                "{method: any, number: 1}",
                THREE_UP,
                Some(r#"ANY 1 ("pg-2","pg-3","pg-1")"#),
                true,
                "TopologySatisfied",
            ),
            // required: a down standby stays listed and the number is kept, so commits wait.
            (
                "{method: any, number: 2, dataDurability: required}",
                ONE_DOWN,
                Some(r#"ANY 2 ("pg-2","pg-3","pg-1")"#),
                false,
                "InsufficientSynchronousStandbys",
            ),
            (
                "{method: any, number: 1}",
                ALL_DOWN,
                Some(r#"ANY 1 ("pg-2","pg-3","pg-1")"#),
                false,
                "InsufficientSynchronousStandbys",
            ),
            // first: streaming standbys come first, the cap keeps them.
            (
                "{method: first, number: 1, maxStandbyNamesFromCluster: 1}",
                &[
                    ("pg-1", false, "a"),
                    ("pg-2", false, "b"),
                    ("pg-3", true, "c"),
                ],
                Some(r#"FIRST 1 ("pg-3")"#),
                true,
                "TopologySatisfied",
            ),
            (
                "{method: first, number: 2, standbyNamesPre: [ext-a], standbyNamesPost: [ext-b]}",
                THREE_UP,
                Some(r#"FIRST 2 ("ext-a","pg-2","pg-3","pg-1","ext-b")"#),
                true,
                "TopologySatisfied",
            ),
            (
                "{method: any, number: 1, maxStandbyNamesFromCluster: 0}",
                THREE_UP,
                Some(r#"ANY 1 ("pg-placeholder")"#),
                true,
                "TopologySatisfied",
            ),
            // preferred: only streaming standbys, the number capped, none listed: asynchronous.
            (
                "{method: any, number: 2, dataDurability: preferred}",
                ONE_DOWN,
                Some(r#"ANY 1 ("pg-2")"#),
                false,
                "InsufficientSynchronousStandbys",
            ),
            (
                "{method: any, number: 1, dataDurability: preferred}",
                ALL_DOWN,
                None,
                false,
                "InsufficientSynchronousStandbys",
            ),
            (
                "{method: first, number: 1, dataDurability: preferred, standbyNamesPre: [x]}",
                THREE_UP,
                Some(r#"FIRST 1 ("pg-2","pg-3")"#),
                true,
                "TopologySatisfied",
            ),
            // failure domains: a standby in the primary's zone is dropped when enough others.
            (
                "{method: any, number: 1, podFailureDomainKeys: [zone]}",
                SAME_ZONE,
                Some(r#"ANY 1 ("pg-3")"#),
                true,
                "TopologySatisfied",
            ),
            (
                "{method: any, number: 1, nodeFailureDomainKeys: [topology.kubernetes.io/zone]}",
                SAME_ZONE,
                Some(r#"ANY 1 ("pg-3")"#),
                true,
                "TopologySatisfied",
            ),
            // required, too few across domains: not applied, everyone listed.
            (
                "{method: any, number: 2, podFailureDomainKeys: [zone]}",
                SAME_ZONE,
                Some(r#"ANY 2 ("pg-2","pg-3","pg-1")"#),
                false,
                "InsufficientCrossDomainReplicas",
            ),
            // preferred: one across is enough; the number is capped to it.
            (
                "{method: any, number: 2, dataDurability: preferred, podFailureDomainKeys: [zone]}",
                SAME_ZONE,
                Some(r#"ANY 1 ("pg-3")"#),
                false,
                "InsufficientCrossDomainReplicas",
            ),
            // the cross-domain standby is down: preferred falls back to the same-zone one.
            (
                "{method: any, number: 1, dataDurability: preferred, podFailureDomainKeys: [zone]}",
                &[
                    ("pg-1", false, "a"),
                    ("pg-2", true, "a"),
                    ("pg-3", false, "b"),
                ],
                Some(r#"ANY 1 ("pg-2")"#),
                false,
                "InsufficientCrossDomainReplicas",
            ),
            // required with the cross-domain standby down: it stays the only one listed.
            (
                "{method: any, number: 1, podFailureDomainKeys: [zone]}",
                &[
                    ("pg-1", false, "a"),
                    ("pg-2", true, "a"),
                    ("pg-3", false, "b"),
                ],
                Some(r#"ANY 1 ("pg-3")"#),
                false,
                "InsufficientCrossDomainReplicas",
            ),
            // the primary's domain is unknown: nothing filtered.
            (
                "{method: any, number: 1, podFailureDomainKeys: [zone]}",
                &[
                    ("pg-1", false, ""),
                    ("pg-2", true, "a"),
                    ("pg-3", true, "b"),
                ],
                Some(r#"ANY 1 ("pg-2","pg-3","pg-1")"#),
                false,
                "TopologyNotExtracted",
            ),
        ];
        for (sync, instances, names, satisfied, reason) in cases {
            let p = plan(&input(Some(sync), instances));
            assert_eq!(p.standby_names.as_deref(), *names, "{sync} {instances:?}");
            let v = p.topology.expect("configured");
            assert_eq!(
                (v.satisfied, v.reason),
                (*satisfied, *reason),
                "{sync}: {v:?}"
            );
        }
    }

    #[test]
    fn the_condition_names_what_is_missing() {
        let v = plan(&input(
            Some("{method: any, number: 1, podFailureDomainKeys: [zone]}"),
            &[
                ("pg-1", false, "a"),
                ("pg-2", true, "a"),
                ("pg-3", false, "b"),
            ],
        ))
        .topology
        .expect("configured");
        assert_eq!(
            v.message,
            "1 synchronous standby in another failure domain wanted, 0 available; commits wait"
        );
        let v = plan(&input(
            Some("{method: any, number: 2, dataDurability: preferred}"),
            ONE_DOWN,
        ))
        .topology
        .expect("configured");
        assert_eq!(
            v.message,
            "2 synchronous standbys wanted, 1 available; commits wait for 1"
        );
        let p = plan(&input(None, THREE_UP));
        assert_eq!(p, SyncPlan::default());
        let now = chrono::Utc::now();
        assert_eq!(condition(&p, Some(1), now), None);
        let c = condition(
            &plan(&input(Some("{method: any, number: 1}"), THREE_UP)),
            Some(1),
            now,
        )
        .expect("set");
        assert_eq!((c.type_.as_str(), c.status.as_str()), (CONDITION, "True"));
    }

    #[test]
    fn legacy_min_and_max_sync_replicas() {
        // (min, max, instances, anti-affinity on the zone label, standby names, satisfied)
        type Case<'a> = (i32, i32, Instances<'a>, bool, Option<&'a str>, bool);
        let cases: &[Case] = &[
            (
                1,
                2,
                THREE_UP,
                false,
                Some(r#"ANY 2 ("pg-2","pg-3")"#),
                true,
            ),
            (1, 2, ONE_DOWN, false, Some(r#"ANY 1 ("pg-2")"#), true),
            // self-healing: fewer streaming than min lowers the number, down to none.
            (2, 2, ONE_DOWN, false, Some(r#"ANY 1 ("pg-2")"#), false),
            (1, 2, ALL_DOWN, false, None, false),
            (0, 1, ALL_DOWN, false, None, false),
            // anti-affinity: pg-2 shares the primary's zone.
            (1, 2, SAME_ZONE, true, Some(r#"ANY 1 ("pg-3")"#), true),
            (
                1,
                2,
                SAME_ZONE,
                false,
                Some(r#"ANY 2 ("pg-2","pg-3")"#),
                true,
            ),
        ];
        for (min, max, instances, anti, names, satisfied) in cases {
            let mut i = input(None, instances);
            i.min_sync_replicas = *min;
            i.max_sync_replicas = *max;
            i.election_constraint = anti.then(|| SyncReplicaElectionConstraints {
                enabled: true,
                node_labels_anti_affinity: vec!["topology.kubernetes.io/zone".into()],
            });
            let p = plan(&i);
            assert_eq!(
                p.standby_names.as_deref(),
                *names,
                "{min} {max} {instances:?}"
            );
            assert_eq!(
                p.topology.expect("configured").satisfied,
                *satisfied,
                "{min} {max} {instances:?}"
            );
        }
    }

    #[test]
    fn a_standby_streams_when_the_primary_says_so_and_its_pod_is_ready() {
        let cluster: Cluster = serde_norway::from_str(
            "apiVersion: pgfed.io/v1\nkind: Cluster\nmetadata: {name: pg}\nspec:\n  instances: 4\n  storage: {size: 1Gi}\n  postgresql:\n    synchronous: {method: any, number: 1, nodeFailureDomainKeys: [zone]}\n",
        )
        .expect("cluster");
        assert!(needs_nodes(&cluster));
        let pod = |name: &str, ready: bool, node: &str| -> (String, Pod) {
            let pod: Pod = serde_json::from_value(serde_json::json!({
                "metadata": {"name": name, "labels": {"rack": name}},
                "spec": {"nodeName": node, "containers": []},
                "status": {"conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]},
            }))
            .expect("pod");
            (name.to_string(), pod)
        };
        let pods: BTreeMap<String, Pod> = [
            pod("pg-1", true, "n1"),
            pod("pg-2", true, "n2"),
            pod("pg-3", false, "n3"),
            pod("pg-4", true, "gone"),
        ]
        .into_iter()
        .collect();
        let standby = |name: &str, state: &str| pgfed_api::instance::StandbyState {
            application_name: name.into(),
            client_addr: None,
            state: Some(state.into()),
            sent_lsn: None,
            flush_lsn: None,
            replay_lsn: None,
            replay_lag_bytes: None,
            replay_lag_seconds: None,
            sync_state: None,
        };
        let reported: BTreeMap<String, InstanceStatus> = [(
            "pg-1".to_string(),
            InstanceStatus {
                replication_info: vec![
                    standby("pg-2", "streaming"),
                    standby("pg-3", "streaming"),
                    standby("pg-4", "catchup"),
                ],
                ..InstanceStatus::default()
            },
        )]
        .into_iter()
        .collect();
        let nodes: BTreeMap<String, BTreeMap<String, String>> = ["n1", "n2", "n3"]
            .iter()
            .map(|n| (n.to_string(), labels(&[("zone", n)])))
            .collect();
        let instances: Vec<String> = ["pg-1", "pg-2", "pg-3", "pg-4", "pg-5"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let ready = |p: &Pod| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        };
        let got = gather(
            &cluster,
            Some("pg-1".into()),
            &instances,
            &pods,
            &reported,
            &nodes,
            ready,
        );
        let seen: Vec<(&str, bool, Option<&str>)> = got
            .instances
            .iter()
            .map(|c| {
                (
                    c.name.as_str(),
                    c.streaming,
                    c.node_labels
                        .as_ref()
                        .and_then(|l| l.get("zone"))
                        .map(String::as_str),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("pg-1", false, Some("n1")),
                ("pg-2", true, Some("n2")),
                // not ready, catching up, no pod at all: not streaming
                ("pg-3", false, Some("n3")),
                ("pg-4", false, None),
                ("pg-5", false, None),
            ]
        );
        assert_eq!(
            got.instances[1].pod_labels.get("rack").map(String::as_str),
            Some("pg-2")
        );
        assert_eq!(
            plan(&got).standby_names.as_deref(),
            // pg-4's node is gone and pg-5 has no pod: their failure domain is unknown.
            Some(r#"ANY 1 ("pg-2","pg-3")"#)
        );
    }

    #[test]
    fn names_are_quoted_as_postgres_reads_them() {
        assert_eq!(
            render(SynchronousMethod::First, 2, &["a".into(), "we\"ird".into()]),
            r#"FIRST 2 ("a","we""ird")"#
        );
    }
}
