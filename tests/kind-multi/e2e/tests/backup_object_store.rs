//! Backups to object storage through the Kubernetes API, on real Kubernetes and the environment's
//! MinIO: a Cluster with `backup.barmanObjectStore` archives WAL continuously
//! (`ContinuousArchiving` True), a Backup with `target: prefer-standby` created the way
//! `kubectl pgfed backup` creates it completes on a streaming standby with every status field
//! set, lands in the bucket in Barman Cloud's layout (`base/<backupId>/backup.info` DONE and
//! `data.tar`, the end WAL segment under `wals/`), and the Cluster reports it
//! (`lastSuccessfulBackup`, `LastBackupSucceeded`, `firstRecoverabilityPoint`); a Backup naming a
//! Cluster that does not exist fails with the reason. A ScheduledBackup with `immediate` takes
//! one Backup at once and one per cron slot (six fields, seconds first), owned by the schedule,
//! and takes none while suspended. Objects go under a prefix named after the test's namespace and
//! are removed at the end.

use kube::api::{Api, DynamicObject, PostParams};
use pgfed_e2e::backups::{ObjectStore, backups, condition, wait_backup, with_store};
use pgfed_e2e::cluster;
use pgfed_e2e::{pgfed_resource, regions, wait_until, with_temp_namespace};
use std::time::Duration;

#[tokio::test]
async fn a_scheduled_backup_takes_one_at_once_and_one_per_slot() {
    let region = regions().remove(0);
    with_temp_namespace(&region, |client, ns| async move {
        let store = ObjectStore::load();
        let prefix = format!("{ns}/");
        let manifest = with_store(&client, &ns, &store, &prefix, "nightly", 1).await;
        cluster::create_healthy(&client, &ns, manifest).await;
        let scheduled: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "pgfed.io/v1", "kind": "ScheduledBackup",
            "metadata": {"name": "every-30s"},
            "spec": {"schedule": "*/30 * * * * *", "immediate": true,
                     "backupOwnerReference": "self", "cluster": {"name": "nightly"}}
        }))
        .expect("scheduled backup");
        let schedules = Api::<DynamicObject>::namespaced_with(
            client.clone(),
            &ns,
            &pgfed_resource("ScheduledBackup"),
        );
        schedules
            .create(&PostParams::default(), &scheduled)
            .await
            .expect("create ScheduledBackup");
        // The immediate one and at least one slot, each completed.
        let api = backups(&client, &ns);
        let completed = wait_until(
            "two completed Backups of the schedule",
            Duration::from_secs(300),
            Duration::from_secs(3),
            || {
                let api = api.clone();
                async move {
                    let list = api
                        .list(
                            &kube::api::ListParams::default()
                                .labels("pgfed.io/scheduled-backup=every-30s"),
                        )
                        .await
                        .map_err(|e| e.to_string())?;
                    let phases: Vec<String> = list
                        .items
                        .iter()
                        .map(|b| b.data["status"]["phase"].as_str().unwrap_or("").to_string())
                        .collect();
                    if phases.iter().any(|p| p == "failed") {
                        panic!("a scheduled Backup failed: {:?}", list.items);
                    }
                    let done: Vec<DynamicObject> = list
                        .items
                        .into_iter()
                        .filter(|b| b.data["status"]["phase"] == "completed")
                        .collect();
                    if done.len() >= 2 {
                        Ok(done)
                    } else {
                        Err(format!("{phases:?}"))
                    }
                }
            },
        )
        .await;
        for b in &completed {
            let owners = b.metadata.owner_references.clone().unwrap_or_default();
            assert!(
                owners
                    .iter()
                    .any(|o| o.kind == "ScheduledBackup" && o.name == "every-30s"),
                "owned by the schedule (backupOwnerReference: self): {:?}",
                b.metadata
            );
            assert_eq!(b.data["spec"]["cluster"]["name"], "nightly");
        }
        let status = schedules.get("every-30s").await.expect("schedule").data["status"].clone();
        for field in ["lastCheckTime", "lastScheduleTime", "nextScheduleTime"] {
            assert!(status[field].is_string(), "{field}: {status}");
        }
        // Suspended: no new Backup is created.
        schedules
            .patch(
                "every-30s",
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(serde_json::json!({"spec": {"suspend": true}})),
            )
            .await
            .expect("suspend");
        tokio::time::sleep(Duration::from_secs(5)).await;
        let count = |list: kube::core::ObjectList<DynamicObject>| list.items.len();
        let labelled =
            kube::api::ListParams::default().labels("pgfed.io/scheduled-backup=every-30s");
        let before = count(api.list(&labelled).await.expect("list"));
        tokio::time::sleep(Duration::from_secs(40)).await;
        let after = count(api.list(&labelled).await.expect("list"));
        assert_eq!(before, after, "a suspended schedule created a Backup");
        store.delete_prefix(&prefix);
    })
    .await;
}

#[tokio::test]
async fn a_backup_from_a_standby_lands_in_the_object_store_and_a_missing_cluster_fails_it() {
    let region = regions().remove(0);
    with_temp_namespace(&region, |client, ns| async move {
        let store = ObjectStore::load();
        let prefix = format!("{ns}/");
        let manifest = with_store(&client, &ns, &store, &prefix, "pg", 2).await;
        let healthy = cluster::create_healthy(&client, &ns, manifest).await;
        let primary = healthy["currentPrimary"].as_str().unwrap_or_default().to_string();
        let written = cluster::query(
            &client, &ns, "writer", "pg", "pg-rw",
            "CREATE TABLE events AS SELECT g, md5(g::text) AS payload FROM generate_series(1, 50000) g; SELECT count(*) FROM events",
        )
        .await;
        assert_eq!(written, "50000");
        // Archiving has not failed so far (the standby's clone made the primary switch and archive
        // a segment; the condition turns True once the primary's manager reports it).
        let before = cluster::status(&client, &ns, "pg").await;
        assert!(
            condition(&before, "ContinuousArchiving").is_none_or(|c| c["status"] == "True"),
            "{before}"
        );

        // As `kubectl pgfed backup pg --target prefer-standby --name from-standby` does.
        let name = kubectl_pgfed::backup::create(
            client.clone(),
            &ns,
            &kubectl_pgfed::backup::Request {
                cluster: "pg".into(),
                name: Some("from-standby".into()),
                method: Some("barmanObjectStore".into()),
                target: Some("prefer-standby".into()),
            },
        )
        .await
        .expect("create Backup");
        let status = wait_backup(&client, &ns, &name, "completed").await;
        let pod = status["instanceID"]["podName"].as_str().unwrap_or_default().to_string();
        assert!(pod.starts_with("pg-") && pod != primary, "taken on a standby, not {primary}: {status}");
        for field in ["backupId", "beginWal", "endWal", "beginLSN", "endLSN", "startedAt", "stoppedAt", "destinationPath"] {
            assert!(status[field].as_str().is_some_and(|v| !v.is_empty()), "{field} missing: {status}");
        }
        assert!(status["instanceID"]["sessionID"].is_string(), "{status}");
        assert_eq!(status["serverName"], "pg", "{status}");
        assert_eq!(status["method"], "barmanObjectStore", "{status}");
        assert!(status["error"].is_null(), "{status}");

        // Barman Cloud's layout under <prefix><serverName>/.
        let id = status["backupId"].as_str().unwrap_or_default().to_string();
        let end_wal = status["endWal"].as_str().unwrap_or_default().to_string();
        let objects = store.list(&format!("{prefix}pg/"));
        let info_key = format!("{prefix}pg/base/{id}/backup.info");
        assert!(objects.contains(&info_key), "{objects:?}");
        assert!(objects.contains(&format!("{prefix}pg/base/{id}/data.tar")), "{objects:?}");
        assert!(
            objects.iter().any(|o| o.starts_with(&format!("{prefix}pg/wals/{}/{end_wal}", &end_wal[..16]))),
            "the end WAL {end_wal} is archived: {objects:?}"
        );
        let info = store.get(&info_key);
        assert!(info.contains("status=DONE"), "{info}");
        assert!(info.contains(&format!("end_wal={end_wal}")), "{info}");

        // The Cluster reports it, and archiving.
        let cluster_status = cluster::wait_status(&client, &ns, "pg", "lastSuccessfulBackup and firstRecoverabilityPoint", Duration::from_secs(120), |s| {
            s["lastSuccessfulBackup"].is_string() && s["firstRecoverabilityPoint"].is_string()
        })
        .await;
        let last = condition(&cluster_status, "LastBackupSucceeded").cloned().unwrap_or_default();
        assert_eq!(last["status"], "True", "{cluster_status}");
        assert_eq!(cluster_status["firstRecoverabilityPoint"], status["stoppedAt"], "{cluster_status}");
        // The backup's end segment was archived by the primary: archiving is reported working.
        cluster::wait_status(&client, &ns, "pg", "ContinuousArchiving True", Duration::from_secs(120), |s| {
            condition(s, "ContinuousArchiving").is_some_and(|c| c["status"] == "True" && c["reason"] == "ContinuousArchivingSuccess")
        })
        .await;
        let reasons = cluster::event_reasons(&client, &ns).await;
        assert!(reasons.iter().any(|(r, m)| r == "Completed" && m.contains(&id)), "{reasons:?}");

        // A Backup of a Cluster that does not exist fails with the reason (created directly:
        // `kubectl pgfed backup` refuses it at the prompt).
        let orphan: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "pgfed.io/v1", "kind": "Backup",
            "metadata": {"name": "orphan"},
            "spec": {"cluster": {"name": "absent"}}
        }))
        .expect("backup");
        backups(&client, &ns).create(&PostParams::default(), &orphan).await.expect("create orphan Backup");
        let failed = wait_until("Backup orphan failed", Duration::from_secs(120), Duration::from_secs(2), || {
            let api = backups(&client, &ns);
            async move {
                let b = api.get("orphan").await.map_err(|e| e.to_string())?;
                let s = b.data.get("status").cloned().unwrap_or_default();
                if s["phase"] == "failed" { Ok(s) } else { Err(s.to_string()) }
            }
        })
        .await;
        assert!(
            failed["error"].as_str().is_some_and(|e| e.contains("Cluster absent does not exist")),
            "{failed}"
        );
        let err = kubectl_pgfed::backup::create(
            client.clone(),
            &ns,
            &kubectl_pgfed::backup::Request { cluster: "absent".into(), ..Default::default() },
        )
        .await
        .expect_err("the plugin refuses a missing cluster");
        assert!(err.to_string().contains("does not exist"), "{err}");

        store.delete_prefix(&prefix);
    })
    .await;
}
