//! The Cluster each member runs, built from the Federation. Pure.
//!
//! Every member gets the template with its overrides, archives to its own object store, and lists
//! every member (itself included) as an external cluster reached through that member's object
//! store, named after the member: `replica.self`, `replica.primary` and `replica.source` name
//! members. Which member each one takes for the primary is the [`Roles`] the switchover state
//! machine decides; in steady state every member names the same one. A member created while
//! another holds the primary bootstraps from that member's newest base backup and replays its
//! archive; its `bootstrap` is never changed afterwards.

use kube::ResourceExt;
use pgfed_api::cluster::{
    BackupConfiguration, BootstrapConfiguration, BootstrapRecovery, Cluster, ClusterSpec,
    ExternalCluster, FencingLeaseConfiguration, PostgresConfiguration, ReplicaClusterConfiguration,
};
use pgfed_api::federation::{FailoverMode, Federation, FederationMember};

/// `replication.partialWalUploadInterval` when the Federation does not say.
pub const DEFAULT_PARTIAL_WAL_UPLOAD_INTERVAL: &str = "5s";

/// Label on every member Cluster: the Federation that manages it.
pub const LABEL_FEDERATION: &str = "pgfed.io/federation";
/// Label on every member Cluster: its member name in the Federation.
pub const LABEL_MEMBER: &str = "pgfed.io/federation-member";

/// Where a member's Cluster lives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Placement {
    /// Namespace in the member's Kubernetes cluster.
    pub namespace: String,
    /// Cluster name.
    pub name: String,
}

/// Where `member` of `fed` runs its Cluster: its own namespace and name, else the Federation's.
pub fn placement(fed: &Federation, member: &FederationMember) -> Placement {
    Placement {
        namespace: member
            .namespace
            .clone()
            .or_else(|| fed.namespace())
            .unwrap_or_else(|| "default".to_string()),
        name: member
            .cluster_name
            .clone()
            .unwrap_or_else(|| fed.name_any()),
    }
}

/// What one member is told about the topology.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roles {
    /// The member this one takes for the primary (`replica.primary`).
    pub primary: String,
    /// The promotion token, set only on the member being promoted.
    pub promotion_token: Option<String>,
}

/// The spec of `member`'s Cluster. `existing`: its Cluster as it is now (its bootstrap is kept);
/// `bootstrap_from`: the member holding the primary when the Cluster is first created (`None`:
/// this member is that one, and it starts from the template's bootstrap). `None` when the
/// Federation has no such member or the member has no object store (admission refuses both).
pub fn member_spec(
    fed: &Federation,
    member: &str,
    roles: &Roles,
    existing: Option<&ClusterSpec>,
    bootstrap_from: Option<&str>,
) -> Option<ClusterSpec> {
    let spec = &fed.spec;
    let me = spec.members.iter().find(|m| m.name == member)?;
    let mut out = spec.template.clone();
    apply_overrides(&mut out, me);

    let mut own_store = store_of(fed, me)?;
    // The primary uploads its WAL segment in progress so the replica regions lag by seconds.
    let wal = own_store.wal.get_or_insert_with(Default::default);
    if wal.partial_upload_interval.is_none() {
        wal.partial_upload_interval = Some(
            spec.replication
                .as_ref()
                .and_then(|r| r.partial_wal_upload_interval.clone())
                .unwrap_or_else(|| DEFAULT_PARTIAL_WAL_UPLOAD_INTERVAL.to_string()),
        );
    }
    let backup = out.backup.get_or_insert_with(BackupConfiguration::default);
    backup.barman_object_store = Some(own_store);

    let mut externals: Vec<ExternalCluster> = spec
        .members
        .iter()
        .filter_map(|m| {
            Some(ExternalCluster {
                name: m.name.clone(),
                barman_object_store: Some(store_of(fed, m)?),
                ..ExternalCluster::default()
            })
        })
        .collect();
    // What the template lists besides the members (sources of imports, subscriptions) stays.
    externals.extend(
        spec.template
            .external_clusters
            .iter()
            .filter(|e| !spec.members.iter().any(|m| m.name == e.name))
            .cloned(),
    );
    out.external_clusters = externals;

    // The source a replica replays is the primary it is told; the primary's own source (whom
    // it would follow once demoted) is the first other member.
    let source = if roles.primary != member {
        roles.primary.clone()
    } else {
        spec.members
            .iter()
            .map(|m| m.name.clone())
            .find(|n| n != member)?
    };
    out.replica = Some(ReplicaClusterConfiguration {
        self_name: Some(member.to_string()),
        primary: Some(roles.primary.clone()),
        source,
        promotion_token: roles.promotion_token.clone(),
        fencing_lease: fencing_lease(fed),
        ..ReplicaClusterConfiguration::default()
    });

    out.bootstrap = match (existing, bootstrap_from) {
        (Some(existing), _) => existing.bootstrap.clone(),
        (None, Some(from)) if from != member => Some(BootstrapConfiguration {
            recovery: Some(BootstrapRecovery {
                source: Some(from.to_string()),
                ..BootstrapRecovery::default()
            }),
            ..BootstrapConfiguration::default()
        }),
        (None, _) => spec.template.bootstrap.clone(),
    };
    Some(out)
}

/// The fencing lease every member is given with `failover.mode: Automatic` (the primary
/// member's primary renews it; the others only carry it, ready for their promotion); `None`
/// otherwise, or without `failover.leaseObjectStore` (admission refuses that).
pub fn fencing_lease(fed: &Federation) -> Option<FencingLeaseConfiguration> {
    let failover = fed.spec.failover.as_ref()?;
    if failover.mode != Some(FailoverMode::Automatic) {
        return None;
    }
    Some(FencingLeaseConfiguration {
        object_store: failover.lease_object_store.clone()?,
        federation: lease_identity(fed),
        key: None,
        holder: None,
        lease_duration: failover.lease_duration.clone(),
    })
}

/// The Federation as named in its fencing lease: `<namespace>/<name>/<uid>`, so a lease left at
/// the same key by a deleted Federation of the same name is never taken for this one's.
pub fn lease_identity(fed: &Federation) -> String {
    format!(
        "{}/{}/{}",
        fed.namespace().unwrap_or_default(),
        fed.name_any(),
        fed.uid().unwrap_or_default()
    )
}

/// The member's object store, with its server name defaulted to its Cluster's name (where the
/// Cluster archives by default), so every reader finds it under the same path.
fn store_of(
    fed: &Federation,
    m: &FederationMember,
) -> Option<pgfed_api::barman::BarmanObjectStoreConfiguration> {
    let mut store = m.barman_object_store.clone()?;
    if store.server_name.is_none() {
        store.server_name = Some(placement(fed, m).name);
    }
    Some(store)
}

fn apply_overrides(spec: &mut ClusterSpec, member: &FederationMember) {
    let Some(o) = &member.overrides else {
        return;
    };
    if let Some(instances) = o.instances {
        spec.instances = instances;
    }
    if let Some(image) = &o.image_name {
        spec.image_name = Some(image.clone());
    }
    if let Some(resources) = &o.resources {
        spec.resources = Some(resources.clone());
    }
    if let Some(storage) = &o.storage {
        spec.storage = Some(storage.clone());
    }
    if let Some(wal) = &o.wal_storage {
        spec.wal_storage = Some(wal.clone());
    }
    if let Some(affinity) = &o.affinity {
        spec.affinity = Some(affinity.clone());
    }
    if let Some(class) = &o.priority_class_name {
        spec.priority_class_name = Some(class.clone());
    }
    if !o.parameters.is_empty() {
        let pg = spec
            .postgresql
            .get_or_insert_with(PostgresConfiguration::default);
        for (k, v) in &o.parameters {
            pg.parameters.insert(k.clone(), v.clone());
        }
    }
}

/// The member Cluster object: `spec` at `placement`, labelled with the Federation and member.
pub fn member_cluster(
    fed: &Federation,
    member: &str,
    place: &Placement,
    spec: ClusterSpec,
) -> Cluster {
    let mut c = Cluster::new(&place.name, spec);
    c.metadata.namespace = Some(place.namespace.clone());
    c.metadata.labels = Some(
        [
            (LABEL_FEDERATION.to_string(), fed.name_any()),
            (LABEL_MEMBER.to_string(), member.to_string()),
        ]
        .into(),
    );
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed() -> Federation {
        let mut f: Federation = serde_json::from_value(serde_json::json!({
            "apiVersion": "pgfed.io/v1", "kind": "Federation",
            "metadata": {"name": "shop", "namespace": "demo"},
            "spec": {
                "primary": "a",
                "members": [
                    {"name": "a", "region": "eu", "barmanObjectStore": {"destinationPath": "s3://a/"}},
                    {"name": "b", "region": "us", "barmanObjectStore": {"destinationPath": "s3://b/", "serverName": "bee"},
                     "overrides": {"instances": 1, "parameters": {"work_mem": "8MB"}}},
                    {"name": "c", "region": "ap", "namespace": "far", "clusterName": "shop-c",
                     "barmanObjectStore": {"destinationPath": "s3://c/"}}
                ],
                "template": {
                    "instances": 3,
                    "storage": {"size": "1Gi"},
                    "postgresql": {"parameters": {"work_mem": "4MB", "max_connections": "50"}},
                    "backup": {"retentionPolicy": "7d"},
                    "bootstrap": {"initdb": {"database": "shop"}},
                    "externalClusters": [{"name": "legacy", "connectionParameters": {"host": "old"}}]
                }
            }
        }))
        .expect("federation");
        f.metadata.uid = Some("u".into());
        f
    }

    fn roles(primary: &str) -> Roles {
        Roles {
            primary: primary.into(),
            promotion_token: None,
        }
    }

    #[test]
    fn every_member_carries_the_fencing_lease_only_with_automatic_failover() {
        let mut f = fed();
        let lease_of = |f: &Federation, m: &str| {
            member_spec(f, m, &roles("a"), None, None)
                .and_then(|s| s.replica)
                .and_then(|r| r.fencing_lease)
        };
        assert_eq!(lease_of(&f, "a"), None);
        f.spec.failover = Some(pgfed_api::federation::FederationFailover {
            mode: Some(FailoverMode::Automatic),
            lease_duration: Some("20s".into()),
            lease_object_store: Some(pgfed_api::barman::BarmanObjectStoreConfiguration {
                destination_path: "s3://leases/shop".into(),
                ..Default::default()
            }),
            ..Default::default()
        });
        for m in ["a", "b", "c"] {
            let lease = lease_of(&f, m).expect("lease");
            assert_eq!(lease.federation, "demo/shop/u");
            assert_eq!(lease.object_store.destination_path, "s3://leases/shop");
            assert_eq!(lease.lease_duration.as_deref(), Some("20s"));
            // The holder defaults to replica.self: the member's name.
            assert_eq!(lease.holder, None);
        }
        if let Some(failover) = f.spec.failover.as_mut() {
            failover.mode = Some(FailoverMode::Manual);
        }
        assert_eq!(lease_of(&f, "b"), None);
    }

    #[test]
    fn the_primary_member_gets_the_template_its_store_and_every_member_as_a_source() {
        let f = fed();
        let s = member_spec(&f, "a", &roles("a"), None, None).expect("spec");
        assert_eq!(s.instances, 3);
        let backup = s.backup.as_ref().expect("backup");
        assert_eq!(backup.retention_policy.as_deref(), Some("7d"));
        let own = backup.barman_object_store.as_ref().expect("store");
        assert_eq!(
            (own.destination_path.as_str(), own.server_name.as_deref()),
            ("s3://a/", Some("shop"))
        );
        assert_eq!(
            own.wal
                .as_ref()
                .and_then(|w| w.partial_upload_interval.as_deref()),
            Some("5s")
        );
        let names: Vec<&str> = s
            .external_clusters
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(names, ["a", "b", "c", "legacy"]);
        let servers: Vec<Option<&str>> = s.external_clusters[..3]
            .iter()
            .map(|e| {
                e.barman_object_store
                    .as_ref()
                    .and_then(|b| b.server_name.as_deref())
            })
            .collect();
        assert_eq!(servers, [Some("shop"), Some("bee"), Some("shop-c")]);
        let r = s.replica.expect("replica");
        assert_eq!(
            (
                r.self_name.as_deref(),
                r.primary.as_deref(),
                r.source.as_str()
            ),
            (Some("a"), Some("a"), "b")
        );
        assert!(!r.is_replica("shop"));
        assert_eq!(
            s.bootstrap
                .and_then(|b| b.initdb)
                .and_then(|i| i.database)
                .as_deref(),
            Some("shop")
        );
    }

    #[test]
    fn a_new_replica_member_bootstraps_from_the_primary_and_replays_it() {
        let f = fed();
        let s = member_spec(&f, "b", &roles("a"), None, Some("a")).expect("spec");
        assert_eq!(s.instances, 1);
        let params = &s.postgresql.as_ref().expect("pg").parameters;
        assert_eq!(
            (
                params["work_mem"].as_str(),
                params["max_connections"].as_str()
            ),
            ("8MB", "50")
        );
        let r = s.replica.clone().expect("replica");
        assert_eq!((r.primary.as_deref(), r.source.as_str()), (Some("a"), "a"));
        assert!(r.is_replica("shop"));
        let recovery = s.bootstrap.and_then(|b| b.recovery).expect("recovery");
        assert_eq!(recovery.source.as_deref(), Some("a"));
    }

    #[test]
    fn an_existing_cluster_keeps_its_bootstrap_and_the_promoted_member_carries_the_token() {
        let f = fed();
        let existing = member_spec(&f, "b", &roles("a"), None, Some("a")).expect("spec");
        let promoting = Roles {
            primary: "b".into(),
            promotion_token: Some("tok".into()),
        };
        let s = member_spec(&f, "b", &promoting, Some(&existing), Some("b")).expect("spec");
        assert_eq!(s.bootstrap, existing.bootstrap);
        let r = s.replica.expect("replica");
        assert_eq!(
            (
                r.primary.as_deref(),
                r.source.as_str(),
                r.promotion_token.as_deref()
            ),
            (Some("b"), "a", Some("tok"))
        );
        assert!(!r.is_replica("shop"));
        assert_eq!(member_spec(&f, "z", &roles("a"), None, None), None);
    }

    #[test]
    fn placement_defaults_to_the_federation() {
        let f = fed();
        let members = &f.spec.members;
        assert_eq!(
            placement(&f, &members[0]),
            Placement {
                namespace: "demo".into(),
                name: "shop".into()
            }
        );
        assert_eq!(
            placement(&f, &members[2]),
            Placement {
                namespace: "far".into(),
                name: "shop-c".into()
            }
        );
        let c = member_cluster(&f, "c", &placement(&f, &members[2]), ClusterSpec::default());
        assert_eq!(c.labels()[LABEL_MEMBER], "c");
        assert_eq!(c.metadata.namespace.as_deref(), Some("far"));
    }
}
