//! Recovery from object storage through the Kubernetes API, on real Kubernetes and the
//! environment's MinIO. A two-instance Cluster archives WAL; a ScheduledBackup with `immediate`
//! takes a base backup from its standby; one row is written before a point in time, one after,
//! and a second Backup makes sure the WAL holding both is archived. A new Cluster bootstraps with
//! `recovery.backup` naming the scheduled Backup and `recoveryTarget.targetTime` at that point:
//! it has the row written before and not the one after, runs on a new timeline, and archives to
//! its own server name in the same bucket, leaving the origin's archive untouched (no history
//! file of the new timeline there). A Cluster that would archive into the archive it recovers
//! from is refused at admission, naming the field. The same through a CloudNativePG 1.26+
//! manifest with only `apiVersion` changed: an ObjectStore named by the Barman Cloud plugin
//! entries archives, takes a `method: plugin` Backup and restores a new Cluster.

use kube::api::{Api, DynamicObject, ListParams, PostParams};
use pgfed_e2e::backups::{ObjectStore, backups, condition, wait_backup, with_store};
use pgfed_e2e::{cluster, pgfed_resource, regions, wait_until, with_temp_namespace};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_cluster_recovers_from_a_backup_to_a_point_in_time_and_archives_on_its_own() {
    let region = regions().remove(0);
    with_temp_namespace(&region, |client, ns| async move {
        let store = ObjectStore::load();
        let prefix = format!("{ns}/");
        let origin = with_store(&client, &ns, &store, &prefix, "origin", 2).await;
        let barman = origin["spec"]["backup"]["barmanObjectStore"].clone();
        cluster::create_healthy(&client, &ns, origin).await;

        // A base backup from the standby, taken by a schedule at once.
        let schedules = Api::<DynamicObject>::namespaced_with(
            client.clone(),
            &ns,
            &pgfed_resource("ScheduledBackup"),
        );
        let scheduled: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "pgfed.io/v1", "kind": "ScheduledBackup",
            "metadata": {"name": "yearly"},
            "spec": {"schedule": "0 0 0 1 1 *", "immediate": true, "cluster": {"name": "origin"}}
        }))
        .expect("scheduled backup");
        schedules
            .create(&PostParams::default(), &scheduled)
            .await
            .expect("create ScheduledBackup");
        let api = backups(&client, &ns);
        let base = wait_until(
            "the schedule's immediate Backup",
            Duration::from_secs(120),
            Duration::from_secs(2),
            || {
                let api = api.clone();
                async move {
                    let list = api
                        .list(&ListParams::default().labels("pgfed.io/scheduled-backup=yearly"))
                        .await
                        .map_err(|e| e.to_string())?;
                    list.items
                        .into_iter()
                        .find_map(|b| b.metadata.name)
                        .ok_or_else(|| "none yet".to_string())
                }
            },
        )
        .await;
        let status = wait_backup(&client, &ns, &base, "completed").await;
        let standby_took_it = status["instanceID"]["podName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let primary = cluster::status(&client, &ns, "origin").await["currentPrimary"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_ne!(
            standby_took_it, primary,
            "the backup came from the standby: {status}"
        );

        // One row before the point in time, one after; the times are the server's.
        cluster::query(
            &client,
            &ns,
            "before",
            "origin",
            "origin-rw",
            "CREATE TABLE marks (label text); INSERT INTO marks VALUES ('before')",
        )
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let point = cluster::query(
            &client,
            &ns,
            "point",
            "origin",
            "origin-rw",
            "SELECT clock_timestamp()",
        )
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        cluster::query(
            &client,
            &ns,
            "after",
            "origin",
            "origin-rw",
            "INSERT INTO marks VALUES ('after')",
        )
        .await;
        // A second backup ends with a WAL switch and waits for the archive: the WAL holding both
        // rows is in the object store once it completed.
        let second: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "pgfed.io/v1", "kind": "Backup",
            "metadata": {"name": "after-the-rows"},
            "spec": {"cluster": {"name": "origin"}}
        }))
        .expect("backup");
        api.create(&PostParams::default(), &second)
            .await
            .expect("create Backup");
        wait_backup(&client, &ns, "after-the-rows", "completed").await;

        // Admission refuses a cluster archiving into the archive it recovers from.
        let clusters = cluster::api(&client, &ns);
        let mut same_archive = cluster::minimal("copy", 1);
        same_archive["spec"]["externalClusters"] =
            json!([{"name": "origin", "barmanObjectStore": barman}]);
        same_archive["spec"]["bootstrap"] = json!({"recovery": {"source": "origin"}});
        let mut own = barman.clone();
        own["serverName"] = json!("origin");
        same_archive["spec"]["backup"] = json!({"barmanObjectStore": own});
        let refused = clusters
            .create(
                &PostParams {
                    dry_run: true,
                    ..Default::default()
                },
                &serde_json::from_value(same_archive).expect("cluster"),
            )
            .await
            .expect_err("a cluster archiving into its source's archive is refused");
        assert!(
            refused
                .to_string()
                .contains("spec.backup.barmanObjectStore.serverName"),
            "{refused}"
        );

        // The recovery: the scheduled backup, replayed up to the point.
        let mut restored = cluster::minimal("restored", 1);
        restored["spec"]["bootstrap"] = json!({"recovery": {
            "backup": {"name": base},
            "recoveryTarget": {"targetTime": point}
        }});
        restored["spec"]["backup"] = json!({"barmanObjectStore": barman});
        let healthy = cluster::create_healthy(&client, &ns, restored).await;
        let rows = cluster::query_with_login(
            &client,
            &ns,
            "restored-rows",
            "origin",
            "restored",
            "restored-rw",
            "SELECT string_agg(label, ',' ORDER BY label) FROM marks",
        )
        .await;
        assert_eq!(rows, "before", "recovered to {point}");
        let timelines: Vec<u64> = healthy["instancesReportedState"]
            .as_object()
            .map(|m| {
                m.values()
                    .filter_map(|i| i["timeLineID"].as_u64())
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            timelines.iter().all(|t| *t >= 2) && !timelines.is_empty(),
            "a new timeline: {healthy}"
        );

        // It archives to its own server name; the origin's archive has no history of it.
        let restored_wals = format!("{prefix}restored/wals/");
        wait_until(
            "the restored cluster's timeline history in its own archive",
            Duration::from_secs(180),
            Duration::from_secs(3),
            || {
                let keys = store.list(&restored_wals);
                async move {
                    if keys.iter().any(|k| k.ends_with(".history")) {
                        Ok(())
                    } else {
                        Err(format!("{keys:?}"))
                    }
                }
            },
        )
        .await;
        let origin_history: Vec<String> = store
            .list(&format!("{prefix}origin/wals/"))
            .into_iter()
            .filter(|k| k.ends_with(".history"))
            .collect();
        assert!(
            origin_history.is_empty(),
            "the origin's archive was written to: {origin_history:?}"
        );
        let status = cluster::wait_status(
            &client,
            &ns,
            "restored",
            "ContinuousArchiving True",
            Duration::from_secs(180),
            |s| condition(s, "ContinuousArchiving").is_some_and(|c| c["status"] == "True"),
        )
        .await;
        assert_eq!(status["phase"], cluster::HEALTHY, "{status}");
        store.delete_prefix(&prefix);
    })
    .await;
}

/// A CloudNativePG 1.26+ manifest with the Barman Cloud plugin's way of configuring storage, only
/// `apiVersion` changed: an ObjectStore, `spec.plugins` on the Cluster, a Backup with `method:
/// plugin`, and a second Cluster recovering through `externalClusters[].plugin` and archiving to
/// the same ObjectStore under its own name.
#[tokio::test]
async fn a_plugin_manifest_archives_backs_up_and_restores_through_an_object_store() {
    let region = regions().remove(0);
    with_temp_namespace(&region, |client, ns| async move {
        let store = ObjectStore::load();
        let prefix = format!("{ns}/");
        // Creates the credentials Secret; the store configuration goes into the ObjectStore.
        let in_tree = with_store(&client, &ns, &store, &prefix, "unused", 1).await;
        let object_store: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "pgfed.io/v1", "kind": "ObjectStore",
            "metadata": {"name": "minio-store"},
            "spec": {"configuration": in_tree["spec"]["backup"]["barmanObjectStore"]}
        }))
        .expect("object store");
        Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &pgfed_resource("ObjectStore"))
            .create(&PostParams::default(), &object_store)
            .await
            .expect("create ObjectStore");
        let plugin = |extra: serde_json::Value| {
            let mut p = json!({"name": "barman-cloud.cloudnative-pg.io",
                               "parameters": {"barmanObjectName": "minio-store"}});
            if let (Some(p), Some(extra)) = (p.as_object_mut(), extra.as_object()) {
                p.extend(extra.clone());
            }
            p
        };
        let mut origin = cluster::minimal("origin", 1);
        origin["spec"]["plugins"] = json!([plugin(json!({"isWALArchiver": true}))]);
        cluster::create_healthy(&client, &ns, origin).await;
        cluster::query(&client, &ns, "rows", "origin", "origin-rw",
            "CREATE TABLE marks (label text); INSERT INTO marks VALUES ('kept')").await;
        let backup: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "pgfed.io/v1", "kind": "Backup",
            "metadata": {"name": "through-the-plugin"},
            "spec": {"cluster": {"name": "origin"}, "method": "plugin",
                     "pluginConfiguration": {"name": "barman-cloud.cloudnative-pg.io"}}
        }))
        .expect("backup");
        backups(&client, &ns).create(&PostParams::default(), &backup).await.expect("create Backup");
        let status = wait_backup(&client, &ns, "through-the-plugin", "completed").await;
        assert_eq!(status["method"], "plugin", "{status}");
        let backup_id = status["backupId"].as_str().expect("backupId").to_string();
        let info = store.get(&format!("{prefix}origin/base/{backup_id}/backup.info"));
        assert!(info.contains("status=DONE"), "{info}");

        let mut restored = cluster::minimal("restored", 1);
        restored["spec"]["externalClusters"] = json!([{"name": "origin", "plugin":
            plugin(json!({"parameters": {"barmanObjectName": "minio-store", "serverName": "origin"}}))}]);
        restored["spec"]["bootstrap"] = json!({"recovery": {"source": "origin"}});
        restored["spec"]["plugins"] = json!([plugin(json!({"isWALArchiver": true}))]);
        cluster::create_healthy(&client, &ns, restored).await;
        let rows = cluster::query_with_login(&client, &ns, "restored-rows", "origin", "restored", "restored-rw",
            "SELECT string_agg(label, ',') FROM marks").await;
        assert_eq!(rows, "kept");
        let status = cluster::wait_status(&client, &ns, "restored", "ContinuousArchiving True",
            Duration::from_secs(180), |s| {
                condition(s, "ContinuousArchiving").is_some_and(|c| c["status"] == "True")
            })
            .await;
        assert_eq!(status["phase"], cluster::HEALTHY, "{status}");
        let own = store.list(&format!("{prefix}restored/wals/"));
        assert!(!own.is_empty(), "the restored cluster archives under its own name");
        store.delete_prefix(&prefix);
    })
    .await;
}
