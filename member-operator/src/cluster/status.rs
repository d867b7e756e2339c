//! `status` of a Cluster: built purely from what the reconcile observed and decided, and written
//! only when it differs from the stored one (an idle cluster costs no write). Fields other
//! controllers own (the last backups and `LastBackupSucceeded`, written by the Backup
//! controller) are carried over untouched; the replica topology's tokens and conditions are set
//! by the reconcile from `decide::replica`; `ContinuousArchiving` and
//! `firstRecoverabilityPoint` are this controller's. Condition transition
//! times change only when a condition's status does.

use super::build::meta::Owner;
use super::decide::fencing::Fenced;
use super::error::ReconcileError;
use super::observe::Observed;
use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};
use pgfed_api::cluster::{CertificatesStatus, Cluster, ClusterStatus, InstanceReportedState};
use pgfed_api::cluster::{condition, phase as phases};
use pgfed_api::instance::InstanceStatus;
use pgfed_api::names::{
    LABEL_CLUSTER, LABEL_POD_ROLE, instance_serial, service_r, service_ro, service_rw,
};
use std::collections::BTreeMap;

/// What the status is built from.
pub struct StatusInput<'a> {
    /// The Cluster.
    pub cluster: &'a Cluster,
    /// What was observed.
    pub observed: &'a Observed,
    /// The phase decided.
    pub phase: &'static str,
    /// Why.
    pub phase_reason: String,
    /// The instance that should be primary.
    pub target_primary: Option<String>,
    /// The instance that is primary.
    pub current_primary: Option<String>,
    /// Highest serial ever created.
    pub latest_generated: u32,
    /// Certificates in use.
    pub certificates: CertificatesStatus,
    /// Operand image.
    pub image: String,
    /// What the instance managers reported, by instance.
    pub reported: &'a BTreeMap<String, InstanceStatus>,
    /// Fenced instances.
    pub fenced: &'a Fenced,
    /// Since when the current primary has been failing (`None`: it is not).
    pub failing_since: Option<DateTime<Utc>>,
    /// `SyncReplicationTopologySatisfied` (see `decide::sync`); `None` removes it.
    pub sync_replication: Option<Condition>,
    /// Now.
    pub now: DateTime<Utc>,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Condition of a hibernated (or hibernating) cluster.
pub const HIBERNATION_CONDITION: &str = "pgfed.io/hibernation";

/// A condition with its transition time at `now` (kept by [`set_condition`] while the status
/// does not change).
pub fn condition(
    type_: &str,
    ok: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: DateTime<Utc>,
) -> Condition {
    Condition {
        type_: type_.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        reason: reason.to_string(),
        message,
        observed_generation: generation,
        last_transition_time: Time(
            k8s_openapi::jiff::Timestamp::from_second(now.timestamp()).unwrap_or_default(),
        ),
    }
}

/// Sets `new` in `conditions`, keeping the transition time when its status did not change. Pure.
pub fn set_condition(conditions: &mut Vec<Condition>, new: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(old) if old.status == new.status => {
            let since = old.last_transition_time.clone();
            *old = Condition {
                last_transition_time: since,
                ..new
            };
        }
        Some(old) => *old = new,
        None => conditions.push(new),
    }
}

fn pod_ready(pod: &k8s_openapi::api::core::v1::Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The status after a reconcile. Pure.
pub fn build(input: &StatusInput) -> ClusterStatus {
    let cluster = input.cluster;
    let name = cluster.name_any();
    let old = cluster.status.clone().unwrap_or_default();
    let mut status = old.clone();
    let instances: BTreeMap<&String, &k8s_openapi::api::core::v1::Pod> = input
        .observed
        .pods
        .iter()
        .filter(|(n, p)| {
            instance_serial(&name, n).is_some() && p.metadata.deletion_timestamp.is_none()
        })
        .collect();
    let ready: Vec<String> = instances
        .iter()
        .filter(|(_, p)| pod_ready(p))
        .map(|(n, _)| (*n).clone())
        .collect();
    let not_ready: Vec<String> = instances
        .iter()
        .filter(|(_, p)| !pod_ready(p))
        .map(|(n, _)| (*n).clone())
        .collect();
    status.instances = Some(i32::try_from(instances.len()).unwrap_or(i32::MAX));
    status.ready_instances = Some(i32::try_from(ready.len()).unwrap_or(i32::MAX));
    status.instance_names = instances.keys().map(|n| (*n).clone()).collect();
    let mut by_health = BTreeMap::new();
    if !ready.is_empty() {
        by_health.insert("healthy".to_string(), ready);
    }
    if !not_ready.is_empty() {
        by_health.insert("failed".to_string(), not_ready);
    }
    let fenced: Vec<String> = instances
        .keys()
        .filter(|n| input.fenced.contains(n))
        .map(|n| (*n).clone())
        .collect();
    if !fenced.is_empty() {
        by_health.insert("fenced".to_string(), fenced);
    }
    status.instances_status = by_health;
    // Per instance: what its manager reported (role, timeline, IP) — the source of `kubectl get`
    // columns and the plugin's status view.
    status.instances_reported_state = input
        .reported
        .iter()
        .map(|(name, s)| {
            let ip = instances
                .get(name)
                .and_then(|p| p.status.as_ref())
                .and_then(|st| st.pod_ip.clone());
            (
                name.clone(),
                InstanceReportedState {
                    is_primary: s.is_primary,
                    timeline_id: s.timeline_id.and_then(|t| i32::try_from(t).ok()),
                    ip,
                },
            )
        })
        .collect();
    if let Some((primary_name, primary)) = input
        .current_primary
        .as_ref()
        .and_then(|p| input.reported.get(p).map(|r| (p, r)))
    {
        // What the running primary enforces: the failover quorum a later failover is held to
        // (kept while the primary does not answer).
        if primary.is_primary && primary.postgres_running {
            status.failover_quorum = primary
                .synchronous_standby_names
                .as_deref()
                .and_then(|enforced| super::decide::quorum::record(primary_name, enforced));
        }
        status.timeline_id = primary.timeline_id.and_then(|t| i32::try_from(t).ok());
        if primary.system_id.is_some() {
            status.system_id = primary.system_id.clone();
        }
        // The primary reconciles the managed roles; a new primary's first pass replaces this.
        if primary.managed_roles.is_some() {
            status.managed_roles_status = primary.managed_roles.clone();
        }
    }
    status.selector = Some(format!(
        "{LABEL_CLUSTER}={name},{LABEL_POD_ROLE}={}",
        super::build::service::POD_ROLE_INSTANCE
    ));
    if status.target_primary != input.target_primary {
        status.target_primary_timestamp = Some(rfc3339(input.now));
        status.target_primary = input.target_primary.clone();
    }
    if status.current_primary != input.current_primary {
        status.current_primary_timestamp = Some(rfc3339(input.now));
        status.current_primary = input.current_primary.clone();
    }
    status.current_primary_failing_since_timestamp = input.failing_since.map(rfc3339);
    status.latest_generated_node = Some(i32::try_from(input.latest_generated).unwrap_or(i32::MAX));
    status.phase = Some(input.phase.to_string());
    status.phase_reason = (!input.phase_reason.is_empty()).then(|| input.phase_reason.clone());
    status.certificates = Some(input.certificates.clone());
    status.write_service = Some(service_rw(&name));
    status.read_service = Some(service_ro(&name));
    let _ = service_r;
    status.image = Some(input.image.clone());
    let pvcs: Vec<&String> = input.observed.pvcs.keys().collect();
    status.pvc_count = Some(i32::try_from(pvcs.len()).unwrap_or(i32::MAX));
    let mounted: std::collections::BTreeSet<String> = instances
        .values()
        .flat_map(|p| p.spec.iter().flat_map(|s| s.volumes.iter().flatten()))
        .filter_map(|v| {
            v.persistent_volume_claim
                .as_ref()
                .map(|c| c.claim_name.clone())
        })
        .collect();
    status.healthy_pvc = pvcs
        .iter()
        .filter(|n| mounted.contains(**n))
        .map(|n| (*n).clone())
        .collect();
    status.dangling_pvc = pvcs
        .iter()
        .filter(|n| !mounted.contains(**n))
        .map(|n| (*n).clone())
        .collect();
    let generation = cluster.metadata.generation;
    let healthy = input.phase == phases::HEALTHY;
    set_condition(
        &mut status.conditions,
        condition(
            condition::READY,
            healthy,
            if healthy {
                "ClusterIsReady"
            } else {
                "ClusterIsNotReady"
            },
            if healthy {
                "Cluster is Ready".to_string()
            } else {
                input.phase_reason.clone()
            },
            generation,
            input.now,
        ),
    );
    let system_ids: std::collections::BTreeSet<&String> = input
        .reported
        .values()
        .filter_map(|s| s.system_id.as_ref())
        .collect();
    if !system_ids.is_empty() {
        let consistent = system_ids.len() == 1;
        set_condition(
            &mut status.conditions,
            condition(
                condition::CONSISTENT_SYSTEM_ID,
                consistent,
                if consistent { "Unique" } else { "Mismatch" },
                if consistent {
                    "every instance reports the same system identifier".to_string()
                } else {
                    format!("instances report different system identifiers: {system_ids:?}")
                },
                generation,
                input.now,
            ),
        );
    }
    if status
        .conditions
        .iter()
        .any(|c| c.type_ == HIBERNATION_CONDITION)
    {
        set_condition(
            &mut status.conditions,
            condition(
                HIBERNATION_CONDITION,
                false,
                "Resumed",
                "the cluster runs".to_string(),
                generation,
                input.now,
            ),
        );
    }
    // Synchronous replication: set while configured, removed when it no longer is.
    match &input.sync_replication {
        Some(c) => set_condition(&mut status.conditions, c.clone()),
        None => status
            .conditions
            .retain(|c| c.type_ != condition::SYNC_REPLICATION_TOPOLOGY_SATISFIED),
    }
    backups_and_archiving(&mut status, input);
    let initialized = input.current_primary.is_some();
    set_condition(
        &mut status.conditions,
        condition(
            condition::INITIALIZED,
            initialized,
            if initialized {
                "ClusterInitialized"
            } else {
                "ClusterNotInitialized"
            },
            if initialized {
                "the first instance is up".to_string()
            } else {
                "the first instance is being created".to_string()
            },
            generation,
            input.now,
        ),
    );
    status
}

/// `ContinuousArchiving` from the primary's archiver, and `firstRecoverabilityPoint` from the
/// Cluster's completed Backups (see `decide::archiving`).
fn backups_and_archiving(status: &mut ClusterStatus, input: &StatusInput) {
    use super::decide::archiving::{
        Archiving, archiving_condition, first_recoverability_point, judge,
    };
    let configured = input
        .cluster
        .spec
        .backup
        .as_ref()
        .is_some_and(|b| b.barman_object_store.is_some());
    let primary = input
        .current_primary
        .as_ref()
        .and_then(|p| input.reported.get(p));
    let verdict = judge(configured, primary, input.now);
    match archiving_condition(&verdict, input.cluster.metadata.generation, input.now) {
        Some(c) => set_condition(&mut status.conditions, c),
        None if verdict == Archiving::NotConfigured => status
            .conditions
            .retain(|c| c.type_ != condition::CONTINUOUS_ARCHIVING),
        None => {}
    }
    if let Some(backups) = &input.observed.backups {
        let point = first_recoverability_point(backups, &input.cluster.name_any());
        const METHOD: &str = "barmanObjectStore";
        match &point {
            Some(p) => {
                status
                    .first_recoverability_point_by_method
                    .insert(METHOD.to_string(), p.clone());
            }
            None => {
                status.first_recoverability_point_by_method.remove(METHOD);
            }
        }
        status.first_recoverability_point = point;
    }
}

/// The status of a Cluster the operator cannot act on: the phase names the cause, the `Ready`
/// condition carries it; everything else is left as it was. Pure.
pub fn blocked(cluster: &Cluster, error: &ReconcileError, now: DateTime<Utc>) -> ClusterStatus {
    let mut status = cluster.status.clone().unwrap_or_default();
    let phase = match error {
        ReconcileError::Malformed(_) | ReconcileError::Invalid(_) => phases::INVALID_DEFINITION,
        _ => phases::UNABLE_TO_CREATE_OBJECTS,
    };
    status.phase = Some(phase.to_string());
    status.phase_reason = Some(error.to_string());
    set_condition(
        &mut status.conditions,
        condition(
            condition::READY,
            false,
            reason_of(error),
            error.to_string(),
            cluster.metadata.generation,
            now,
        ),
    );
    status
}

/// The condition reason for `error` (PascalCase, as Kubernetes wants).
fn reason_of(error: &ReconcileError) -> &'static str {
    match error {
        ReconcileError::Malformed(_) | ReconcileError::Invalid(_) => "InvalidClusterDefinition",
        ReconcileError::MissingReference { .. } | ReconcileError::MissingKey { .. } => {
            "MissingReference"
        }
        ReconcileError::Certificates(_) => "CertificatesUnusable",
        _ => "ReconcileFailed",
    }
}

/// Writes `new` as the status of `cluster` when it differs from `old`.
/// The JSON patch from `before` to `after`. A copy read without a status (`before` is `{}`)
/// gives a patch that writes the whole status; it is guarded by a test of `resource_version`, so
/// that it fails — the next reconcile starts from the object as it is — instead of replacing a
/// status written since that copy was read (a reconcile started from a stale cached copy would
/// otherwise erase `targetPrimary` and the serials, which nothing recomputes). Pure.
pub fn guarded_diff(
    before: &serde_json::Value,
    after: &serde_json::Value,
    resource_version: Option<&str>,
) -> json_patch::Patch {
    let mut patch = json_patch::diff(before, after);
    let first_write = before.as_object().is_some_and(|o| o.is_empty());
    if first_write && let Some(rv) = resource_version {
        let test = json_patch::PatchOperation::Test(json_patch::TestOperation {
            path: "/metadata/resourceVersion".parse().unwrap_or_default(),
            value: serde_json::Value::String(rv.to_string()),
        });
        patch.0.insert(0, test);
    }
    patch
}

/// Records the first instance of a new cluster as its target primary, and its serial as the
/// latest generated, before the instance is created: a merge patch of those fields only. Returns
/// the Cluster's resourceVersion after it, for this turn's status write ([`write_if_changed_at`]).
pub async fn record_bootstrap_target(
    client: &Client,
    cluster: &Cluster,
    instance: &str,
    serial: u32,
    now: DateTime<Utc>,
) -> Result<Option<String>, ReconcileError> {
    let owner = Owner::of(cluster)?;
    let api: Api<Cluster> = Api::namespaced(client.clone(), &owner.namespace);
    let patch = serde_json::json!({"status": {
        "targetPrimary": instance,
        "targetPrimaryTimestamp": now.to_rfc3339(),
        "latestGeneratedNode": serial,
    }});
    let patched = api
        .patch_status(&owner.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(ReconcileError::status_write(format!(
            "recording {instance} as the target primary of Cluster {}/{}",
            owner.namespace, owner.name
        )))?;
    Ok(patched.metadata.resource_version)
}

pub async fn write_if_changed(
    client: &Client,
    cluster: &Cluster,
    old: &ClusterStatus,
    new: ClusterStatus,
) -> Result<(), ReconcileError> {
    write_if_changed_at(
        client,
        cluster,
        cluster.metadata.resource_version.as_deref(),
        old,
        new,
    )
    .await
}

/// [`write_if_changed`] for a turn that already wrote part of the status itself: the guard of a
/// first write expects `resource_version`, the version after that turn's own write.
pub async fn write_if_changed_at(
    client: &Client,
    cluster: &Cluster,
    resource_version: Option<&str>,
    old: &ClusterStatus,
    new: ClusterStatus,
) -> Result<(), ReconcileError> {
    if *old == new && cluster.status.is_some() {
        return Ok(());
    }
    let owner = Owner::of(cluster)?;
    let api: Api<Cluster> = Api::namespaced(client.clone(), &owner.namespace);
    let action = || {
        format!(
            "writing the status of Cluster {}/{}",
            owner.namespace, owner.name
        )
    };
    let before = match &cluster.status {
        Some(_) => serde_json::json!({ "status": old }),
        None => serde_json::json!({}),
    };
    let after = serde_json::json!({ "status": new });
    // A JSON patch of the difference: unlike a merge patch it also removes what is gone (an
    // emptied list, a primary no longer known), and touches only the fields this turn changed.
    let patch = guarded_diff(&before, &after, resource_version);
    api.patch_status(
        &owner.name,
        &PatchParams::default(),
        &Patch::<()>::Json(patch),
    )
    .await
    .map_err(ReconcileError::status_write(action()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap_or_default()
    }

    #[test]
    fn a_condition_keeps_its_transition_time_until_its_status_changes() {
        let mut conditions = vec![];
        set_condition(
            &mut conditions,
            condition("Ready", false, "A", "m".into(), Some(1), at(100)),
        );
        set_condition(
            &mut conditions,
            condition("Ready", false, "B", "n".into(), Some(2), at(200)),
        );
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].reason, "B");
        assert_eq!(conditions[0].last_transition_time.0.as_second(), 100);
        set_condition(
            &mut conditions,
            condition("Ready", true, "C", "o".into(), Some(2), at(300)),
        );
        assert_eq!(conditions[0].last_transition_time.0.as_second(), 300);
    }

    #[test]
    fn an_invalid_cluster_is_reported_with_the_field() {
        let cluster = crate::cluster::build::meta::tests::stored_cluster(1);
        let status = blocked(
            &cluster,
            &ReconcileError::Invalid("spec.instances: must be at least 1".into()),
            at(0),
        );
        assert_eq!(status.phase.as_deref(), Some(phases::INVALID_DEFINITION));
        assert!(
            status
                .phase_reason
                .as_deref()
                .unwrap_or_default()
                .contains("spec.instances")
        );
        assert_eq!(status.conditions[0].status, "False");
        assert_eq!(status.conditions[0].reason, "InvalidClusterDefinition");
    }

    #[test]
    fn the_primary_reported_managed_roles_become_the_cluster_status() {
        use pgfed_api::cluster::ManagedRolesStatus;
        let cluster = crate::cluster::build::meta::tests::stored_cluster(2);
        let roles = ManagedRolesStatus {
            by_status: BTreeMap::from([("reconciled".to_string(), vec!["reporting".to_string()])]),
            cannot_reconcile: BTreeMap::from([(
                "broken".to_string(),
                vec!["GRANT: role \"x\" does not exist (42704)".to_string()],
            )]),
            ..ManagedRolesStatus::default()
        };
        let standby_view = ManagedRolesStatus {
            by_status: BTreeMap::from([("reconciled".to_string(), vec!["stale".to_string()])]),
            ..ManagedRolesStatus::default()
        };
        let reported = BTreeMap::from([
            (
                "pg-1".to_string(),
                InstanceStatus {
                    is_primary: true,
                    managed_roles: Some(roles.clone()),
                    ..InstanceStatus::default()
                },
            ),
            (
                "pg-2".to_string(),
                InstanceStatus {
                    managed_roles: Some(standby_view),
                    ..InstanceStatus::default()
                },
            ),
        ]);
        let (observed, fenced) = (Observed::default(), Fenced::default());
        let input = |current_primary: Option<&str>| StatusInput {
            cluster: &cluster,
            observed: &observed,
            phase: phases::HEALTHY,
            phase_reason: String::new(),
            target_primary: Some("pg-1".into()),
            current_primary: current_primary.map(str::to_string),
            latest_generated: 2,
            certificates: CertificatesStatus::default(),
            image: "postgres:15".into(),
            reported: &reported,
            fenced: &fenced,
            failing_since: None,
            sync_replication: None,
            now: at(0),
        };
        assert_eq!(
            build(&input(Some("pg-1"))).managed_roles_status,
            Some(roles)
        );
        // No primary known: nothing is taken from a standby.
        assert_eq!(build(&input(None)).managed_roles_status, None);
    }

    #[test]
    fn archiving_and_the_first_recoverability_point_come_from_the_primary_and_the_backups() {
        use pgfed_api::backup::{Backup, BackupSpec, BackupStatus};
        use pgfed_api::instance::ArchiverState;
        let mut cluster = crate::cluster::build::meta::tests::stored_cluster(2);
        cluster.spec.backup = Some(pgfed_api::cluster::BackupConfiguration {
            barman_object_store: Some(Default::default()),
            ..Default::default()
        });
        let archiving = |failed: bool| {
            BTreeMap::from([(
                "pg-1".to_string(),
                InstanceStatus {
                    is_primary: true,
                    postgres_running: true,
                    archiver: ArchiverState {
                        archived_count: 4,
                        last_archived_wal: Some("000000010000000000000004".into()),
                        last_archived_time: Some("2026-12-01T10:00:00Z".into()),
                        failed_count: i64::from(failed),
                        last_failed_wal: failed.then(|| "000000010000000000000005".into()),
                        last_failed_time: failed.then(|| "2026-12-01T10:01:00Z".into()),
                    },
                    ..InstanceStatus::default()
                },
            )])
        };
        let mut backup = Backup::new("b1", BackupSpec::default());
        backup.spec.cluster.name = cluster.name_any();
        backup.status = Some(BackupStatus {
            phase: Some("completed".into()),
            stopped_at: Some("2026-12-01T09:00:00Z".into()),
            ..BackupStatus::default()
        });
        let observed = Observed {
            backups: Some(vec![backup]),
            ..Observed::default()
        };
        let fenced = Fenced::default();
        let (working, failing) = (archiving(false), archiving(true));
        let input = |reported| StatusInput {
            cluster: &cluster,
            observed: &observed,
            phase: phases::HEALTHY,
            phase_reason: String::new(),
            target_primary: Some("pg-1".into()),
            current_primary: Some("pg-1".into()),
            latest_generated: 2,
            certificates: CertificatesStatus::default(),
            image: "postgres:15".into(),
            reported,
            fenced: &fenced,
            failing_since: None,
            sync_replication: None,
            now: DateTime::parse_from_rfc3339("2026-12-01T10:02:00Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
        };
        let ok = build(&input(&working));
        let c = |s: &ClusterStatus| {
            s.conditions
                .iter()
                .find(|c| c.type_ == condition::CONTINUOUS_ARCHIVING)
                .map(|c| (c.status.clone(), c.reason.clone()))
        };
        assert_eq!(
            c(&ok),
            Some(("True".into(), "ContinuousArchivingSuccess".into()))
        );
        assert_eq!(
            ok.first_recoverability_point.as_deref(),
            Some("2026-12-01T09:00:00Z")
        );
        assert_eq!(
            ok.first_recoverability_point_by_method
                .get("barmanObjectStore")
                .map(String::as_str),
            Some("2026-12-01T09:00:00Z")
        );
        let bad = build(&input(&failing));
        assert_eq!(
            c(&bad),
            Some(("False".into(), "ContinuousArchivingFailing".into()))
        );
        // Without an object store the condition goes.
        let mut plain = cluster.clone();
        plain.spec.backup = None;
        plain.status = Some(bad);
        let gone = build(&StatusInput {
            cluster: &plain,
            ..input(&working)
        });
        assert_eq!(c(&gone), None);
    }

    #[test]
    fn a_whole_status_written_from_a_copy_without_one_is_guarded_by_the_resource_version() {
        let after =
            serde_json::json!({"status": {"targetPrimary": "pg-1", "latestGeneratedNode": 1}});
        let first = serde_json::to_value(guarded_diff(&serde_json::json!({}), &after, Some("42")))
            .unwrap_or_default();
        assert_eq!(
            first[0],
            serde_json::json!({"op": "test", "path": "/metadata/resourceVersion", "value": "42"}),
            "{first}"
        );
        assert_eq!(first[1]["path"], "/status", "{first}");
        // A later write touches only what changed, unguarded: other writers' fields stay.
        let before =
            serde_json::json!({"status": {"targetPrimary": "pg-1", "latestGeneratedNode": 1}});
        let later =
            serde_json::json!({"status": {"targetPrimary": "pg-2", "latestGeneratedNode": 1}});
        let next =
            serde_json::to_value(guarded_diff(&before, &later, Some("43"))).unwrap_or_default();
        assert_eq!(
            next,
            serde_json::json!([{"op": "replace", "path": "/status/targetPrimary", "value": "pg-2"}])
        );
    }
}
