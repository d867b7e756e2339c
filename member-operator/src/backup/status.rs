//! The statuses a Backup controller writes: the Backup's own (built purely from the decision and
//! the manager's record, written as a merge patch: every field of it is this controller's), and
//! on the Cluster only `lastSuccessfulBackup`, `lastFailedBackup` (and the per-method map) and
//! the `LastBackupSucceeded` condition — as a JSON patch of just those paths, guarded by a `test`
//! of the condition's slot, so it never overwrites what the Cluster controller writes meanwhile
//! (that controller carries these fields over and patches only its own differences).

use crate::cluster::status::condition;
use chrono::{DateTime, SecondsFormat, Utc};
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use pgfed_api::backup::{Backup, BackupStatus, InstanceId, backup_phase};
use pgfed_api::cluster::{Cluster, ClusterStatus, condition as conditions};
use pgfed_api::common::BackupMethod;
use pgfed_api::instance::BackupProgress;
use serde_json::{Value, json};

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The status of a Backup just given to `pod` (phase `started`), before its manager is asked,
/// taken by `method` (`plugin` is recorded as such, as CloudNativePG does, though the manager
/// takes the same base backup). Pure.
pub fn chosen(
    old: &BackupStatus,
    cluster: &Cluster,
    method: BackupMethod,
    pod: &str,
    container_id: Option<String>,
    now: DateTime<Utc>,
) -> BackupStatus {
    let store = cluster
        .spec
        .backup
        .as_ref()
        .and_then(|b| b.barman_object_store.as_ref());
    BackupStatus {
        phase: Some(backup_phase::STARTED.to_string()),
        instance_id: Some(InstanceId {
            pod_name: Some(pod.to_string()),
            container_id,
            session_id: None,
        }),
        method: Some(method),
        online: Some(true),
        destination_path: store.map(|s| s.destination_path.clone()),
        endpoint_url: store.and_then(|s| s.endpoint_url.clone()),
        s3_credentials: store.and_then(|s| s.s3_credentials.clone()),
        azure_credentials: store.and_then(|s| s.azure_credentials.clone()),
        google_credentials: store.and_then(|s| s.google_credentials.clone()),
        endpoint_ca: store.and_then(|s| s.endpoint_ca.clone()),
        reconciliation_started_at: Some(rfc3339(now)),
        error: None,
        ..old.clone()
    }
}

/// The status after the manager's record `progress`. Pure.
pub fn followed(old: &BackupStatus, progress: &BackupProgress, now: DateTime<Utc>) -> BackupStatus {
    let mut status = old.clone();
    status.phase = Some(progress.phase.as_str().to_string());
    let mut instance = status.instance_id.clone().unwrap_or_default();
    if instance.pod_name.is_none() {
        instance.pod_name = Some(progress.instance.clone());
    }
    instance.session_id = Some(progress.session_id.clone());
    status.instance_id = Some(instance);
    let keep = |new: &Option<String>, old: &Option<String>| new.clone().or_else(|| old.clone());
    status.backup_id = keep(&progress.backup_id, &status.backup_id);
    status.destination_path = keep(&progress.destination_path, &status.destination_path);
    status.server_name = keep(&progress.server_name, &status.server_name);
    status.begin_wal = keep(&progress.begin_wal, &status.begin_wal);
    status.end_wal = keep(&progress.end_wal, &status.end_wal);
    status.begin_lsn = keep(&progress.begin_lsn, &status.begin_lsn);
    status.end_lsn = keep(&progress.end_lsn, &status.end_lsn);
    status.started_at = keep(&progress.started_at, &status.started_at);
    status.stopped_at = keep(&progress.stopped_at, &status.stopped_at);
    status.major_version = progress.major_version.or(status.major_version);
    status.error = progress.error.clone();
    if progress.phase.is_final() {
        status.reconciliation_terminated_at = Some(rfc3339(now));
    }
    status
}

/// The status of a Backup that failed for `reason`. Pure.
pub fn failed(old: &BackupStatus, reason: &str, now: DateTime<Utc>) -> BackupStatus {
    BackupStatus {
        phase: Some(backup_phase::FAILED.to_string()),
        error: Some(reason.to_string()),
        stopped_at: old.stopped_at.clone().or_else(|| Some(rfc3339(now))),
        reconciliation_terminated_at: Some(rfc3339(now)),
        ..old.clone()
    }
}

/// The status of a Backup no instance can take yet. Pure.
pub fn pending(old: &BackupStatus) -> BackupStatus {
    BackupStatus {
        phase: Some(backup_phase::PENDING.to_string()),
        ..old.clone()
    }
}

/// How a Backup ended, for its Cluster's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ended {
    /// Whether it completed.
    pub succeeded: bool,
    /// When (RFC 3339).
    pub at: String,
    /// The Backup's name.
    pub backup: String,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

/// The JSON patch that records `ended` in the Cluster status `current`; None when there is
/// nothing to change (or no status yet: the Cluster controller writes the first one). A later
/// success or failure than the one recorded moves `lastSuccessfulBackup`/`lastFailedBackup`; the
/// condition always says how the latest Backup to end did. Pure.
pub fn cluster_patch(
    current: Option<&ClusterStatus>,
    ended: &Ended,
    now: DateTime<Utc>,
) -> Option<Value> {
    let current = current?;
    let mut ops = Vec::new();
    let (field, recorded) = if ended.succeeded {
        ("lastSuccessfulBackup", &current.last_successful_backup)
    } else {
        ("lastFailedBackup", &current.last_failed_backup)
    };
    // RFC 3339 UTC times with the same precision order as strings.
    if recorded.as_deref().is_none_or(|r| r < ended.at.as_str()) {
        ops.push(json!({"op": "add", "path": format!("/status/{field}"), "value": ended.at}));
        if ended.succeeded {
            let method = "barmanObjectStore";
            if current.last_successful_backup_by_method.is_empty() {
                ops.push(
                    json!({"op": "add", "path": "/status/lastSuccessfulBackupByMethod",
                                "value": {method: ended.at}}),
                );
            } else {
                ops.push(json!({"op": "add",
                                "path": format!("/status/lastSuccessfulBackupByMethod/{method}"),
                                "value": ended.at}));
            }
        }
    }
    let new = condition(
        conditions::LAST_BACKUP_SUCCEEDED,
        ended.succeeded,
        if ended.succeeded {
            "LastBackupSucceeded"
        } else {
            "LastBackupFailed"
        },
        match &ended.error {
            None => format!("Backup {} completed", ended.backup),
            Some(e) => format!("Backup {} failed: {e}", ended.backup),
        },
        None,
        now,
    );
    match current
        .conditions
        .iter()
        .position(|c| c.type_ == conditions::LAST_BACKUP_SUCCEEDED)
    {
        Some(i) => {
            let old = &current.conditions[i];
            if old.status == new.status && old.message == new.message && old.reason == new.reason {
                // Unchanged.
            } else {
                let kept = if old.status == new.status {
                    k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
                        last_transition_time: old.last_transition_time.clone(),
                        ..new
                    }
                } else {
                    new
                };
                ops.push(
                    json!({"op": "test", "path": format!("/status/conditions/{i}/type"),
                                "value": conditions::LAST_BACKUP_SUCCEEDED}),
                );
                ops.push(
                    json!({"op": "replace", "path": format!("/status/conditions/{i}"),
                                "value": kept}),
                );
            }
        }
        None if current.conditions.is_empty() => {
            ops.push(json!({"op": "add", "path": "/status/conditions", "value": [new]}));
        }
        None => ops.push(json!({"op": "add", "path": "/status/conditions/-", "value": new})),
    }
    (!ops.is_empty()).then_some(Value::Array(ops))
}

/// Writes the Backup's status when it changed (a merge patch: every field is ours).
pub async fn write_backup(
    client: &Client,
    backup: &Backup,
    new: &BackupStatus,
) -> Result<(), kube::Error> {
    if backup.status.as_ref() == Some(new) {
        return Ok(());
    }
    let namespace = backup.metadata.namespace.clone().unwrap_or_default();
    let name = backup.metadata.name.clone().unwrap_or_default();
    let api: Api<Backup> = Api::namespaced(client.clone(), &namespace);
    api.patch_status(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": new })),
    )
    .await?;
    Ok(())
}

/// Records how a Backup ended in its Cluster's status (see [`cluster_patch`]). A patch whose
/// `test` fails (the Cluster controller moved the conditions meanwhile) is an error: the caller
/// retries with the Cluster read again.
pub async fn write_cluster(
    client: &Client,
    cluster: &Cluster,
    ended: &Ended,
    now: DateTime<Utc>,
) -> Result<(), kube::Error> {
    let Some(patch) = cluster_patch(cluster.status.as_ref(), ended, now) else {
        return Ok(());
    };
    let patch: json_patch::Patch =
        serde_json::from_value(patch).map_err(kube::Error::SerdeError)?;
    let namespace = cluster.metadata.namespace.clone().unwrap_or_default();
    let name = cluster.metadata.name.clone().unwrap_or_default();
    let api: Api<Cluster> = Api::namespaced(client.clone(), &namespace);
    api.patch_status(&name, &PatchParams::default(), &Patch::<()>::Json(patch))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgfed_api::instance::BackupPhase;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap_or_default()
    }

    #[test]
    fn a_chosen_backup_records_its_method_and_the_effective_store() {
        let mut cluster = Cluster::new("pg", Default::default());
        cluster.spec.backup = serde_json::from_value(serde_json::json!({
            "barmanObjectStore": {"destinationPath": "s3://plugin-store/", "endpointURL": "http://minio:9000"}
        }))
        .expect("backup configuration");
        for method in [BackupMethod::BarmanObjectStore, BackupMethod::Plugin] {
            let new = chosen(
                &BackupStatus::default(),
                &cluster,
                method,
                "pg-2",
                None,
                at(0),
            );
            assert_eq!(new.method, Some(method));
            assert_eq!(new.destination_path.as_deref(), Some("s3://plugin-store/"));
            assert_eq!(new.endpoint_url.as_deref(), Some("http://minio:9000"));
            assert_eq!(new.phase.as_deref(), Some(backup_phase::STARTED));
        }
    }

    #[test]
    fn the_managers_record_fills_the_backup_status() {
        let old = BackupStatus {
            phase: Some("started".into()),
            instance_id: Some(InstanceId {
                pod_name: Some("pg-2".into()),
                container_id: Some("containerd://abc".into()),
                session_id: None,
            }),
            ..BackupStatus::default()
        };
        let p = BackupProgress {
            name: "b".into(),
            instance: "pg-2".into(),
            session_id: "s1".into(),
            phase: BackupPhase::Completed,
            backup_id: Some("20261201T101010".into()),
            server_name: Some("pg".into()),
            destination_path: Some("s3://b/".into()),
            begin_wal: Some("000000010000000000000004".into()),
            end_wal: Some("000000010000000000000005".into()),
            begin_lsn: Some("0/4000028".into()),
            end_lsn: Some("0/5000100".into()),
            timeline_id: Some(1),
            major_version: Some(15),
            from_standby: true,
            started_at: Some("2026-12-01T10:10:10Z".into()),
            stopped_at: Some("2026-12-01T10:10:20Z".into()),
            error: None,
        };
        let s = followed(&old, &p, at(100));
        assert_eq!(s.phase.as_deref(), Some("completed"));
        let id = s.instance_id.clone().unwrap_or_default();
        assert_eq!(id.pod_name.as_deref(), Some("pg-2"));
        assert_eq!(id.container_id.as_deref(), Some("containerd://abc"));
        assert_eq!(id.session_id.as_deref(), Some("s1"));
        assert_eq!(s.backup_id.as_deref(), Some("20261201T101010"));
        // No Barman backup name is written (backup.info has none), so none is claimed.
        assert_eq!(s.backup_name, None);
        assert_eq!(s.end_wal.as_deref(), Some("000000010000000000000005"));
        assert_eq!(s.begin_lsn.as_deref(), Some("0/4000028"));
        assert_eq!(s.stopped_at.as_deref(), Some("2026-12-01T10:10:20Z"));
        assert_eq!(s.major_version, Some(15));
        assert!(s.reconciliation_terminated_at.is_some());
        // A running record does not erase what an earlier one said.
        let running = BackupProgress {
            phase: BackupPhase::Running,
            end_wal: None,
            ..p
        };
        let again = followed(&s, &running, at(101));
        assert_eq!(again.end_wal.as_deref(), Some("000000010000000000000005"));
        let f = failed(&old, "pod gone", at(200));
        assert_eq!(
            (f.phase.as_deref(), f.error.as_deref()),
            (Some("failed"), Some("pod gone"))
        );
        assert_eq!(f.stopped_at.as_deref(), Some("1970-01-01T00:03:20Z"));
    }

    fn ended(succeeded: bool, at: &str) -> Ended {
        Ended {
            succeeded,
            at: at.into(),
            backup: "b1".into(),
            error: (!succeeded).then(|| "pod gone".to_string()),
        }
    }

    #[test]
    fn the_cluster_patch_touches_only_the_backup_fields_and_guards_the_condition_slot() {
        let ready = condition("Ready", true, "ClusterIsReady", "ok".into(), None, at(0));
        let status = ClusterStatus {
            conditions: vec![ready.clone()],
            ..ClusterStatus::default()
        };
        // No status yet: nothing (the Cluster controller writes the first).
        assert_eq!(
            cluster_patch(None, &ended(true, "2026-12-01T10:00:00Z"), at(1)),
            None
        );
        let patch = cluster_patch(Some(&status), &ended(true, "2026-12-01T10:00:00Z"), at(1))
            .expect("patch");
        assert_eq!(
            patch[0],
            json!({"op": "add", "path": "/status/lastSuccessfulBackup", "value": "2026-12-01T10:00:00Z"})
        );
        assert_eq!(patch[1]["path"], "/status/lastSuccessfulBackupByMethod");
        assert_eq!(patch[2]["op"], "add");
        assert_eq!(patch[2]["path"], "/status/conditions/-");
        assert_eq!(patch[2]["value"]["status"], "True");
        assert_eq!(patch[2]["value"]["reason"], "LastBackupSucceeded");

        // Recorded: a failure later replaces the condition in its slot, after testing the slot.
        let mut recorded = status.clone();
        recorded.last_successful_backup = Some("2026-12-01T10:00:00Z".into());
        recorded.conditions.push(condition(
            conditions::LAST_BACKUP_SUCCEEDED,
            true,
            "LastBackupSucceeded",
            "Backup b1 completed".into(),
            None,
            at(1),
        ));
        let patch = cluster_patch(
            Some(&recorded),
            &ended(false, "2026-12-01T11:00:00Z"),
            at(2),
        )
        .expect("patch");
        let ops = patch.as_array().cloned().unwrap_or_default();
        assert_eq!(
            ops[0],
            json!({"op": "add", "path": "/status/lastFailedBackup", "value": "2026-12-01T11:00:00Z"})
        );
        assert_eq!(
            ops[1],
            json!({"op": "test", "path": "/status/conditions/1/type", "value": "LastBackupSucceeded"})
        );
        assert_eq!(ops[2]["op"], "replace");
        assert_eq!(ops[2]["value"]["status"], "False");
        assert!(
            ops[2]["value"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("pod gone"))
        );
        assert_eq!(ops.len(), 3, "nothing else: {ops:?}");

        // An older success than the one recorded does not move lastSuccessfulBackup back, and
        // the same condition again changes nothing.
        assert_eq!(
            cluster_patch(Some(&recorded), &ended(true, "2026-12-01T09:00:00Z"), at(3)),
            None
        );
    }
}
