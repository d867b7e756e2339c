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

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, DynamicObject, PostParams};
use pgfed_e2e::cluster;
use pgfed_e2e::{pgfed_resource, regions, wait_until, with_temp_namespace};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

/// The object store `tests/kind-multi/up` started, as it wrote it to `$KM_STATE/s3.env`.
struct ObjectStore {
    endpoint: String,
    user: String,
    password: String,
    bucket: String,
}

impl ObjectStore {
    /// Reads `s3.env` (`PGFED_KIND_STATE`, else /var/lib/pgfed-kind); the bucket of region a.
    fn load() -> Self {
        let state =
            std::env::var("PGFED_KIND_STATE").unwrap_or_else(|_| "/var/lib/pgfed-kind".into());
        let path = format!("{state}/s3.env");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path}: {e} (tests/kind-multi/up writes it)"));
        let vars: BTreeMap<&str, &str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
            .collect();
        let get = |k: &str| {
            vars.get(k)
                .map(|v| v.to_string())
                .unwrap_or_else(|| panic!("{path} has no {k}"))
        };
        Self {
            endpoint: get("S3_ENDPOINT"),
            user: get("AWS_ACCESS_KEY_ID"),
            password: get("AWS_SECRET_ACCESS_KEY"),
            bucket: get("S3_BUCKET_A"),
        }
    }

    /// A signed S3 request with curl (SigV4), as tests/kind-multi/lib/s3.sh makes them; the body.
    fn request(&self, method: &str, path_and_query: &str) -> String {
        let out = Command::new("curl")
            .args(["-sf", "--aws-sigv4", "aws:amz:us-east-1:s3", "--user"])
            .arg(format!("{}:{}", self.user, self.password))
            .args(["-X", method])
            .arg(format!("{}{path_and_query}", self.endpoint))
            .output()
            .expect("curl");
        assert!(
            out.status.success(),
            "S3 {method} {path_and_query} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every key under `prefix` (ListObjectsV2, all pages).
    fn list(&self, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = format!("/{}?list-type=2&prefix={}", self.bucket, encode(prefix));
            if let Some(t) = &token {
                query.push_str(&format!("&continuation-token={}", encode(t)));
            }
            let xml = self.request("GET", &query);
            keys.extend(xml_values(&xml, "Key"));
            token = xml_values(&xml, "NextContinuationToken").into_iter().next();
            if token.is_none() {
                return keys;
            }
        }
    }

    fn get(&self, key: &str) -> String {
        self.request("GET", &format!("/{}/{key}", self.bucket))
    }

    fn delete_prefix(&self, prefix: &str) {
        for key in self.list(prefix) {
            self.request("DELETE", &format!("/{}/{key}", self.bucket));
        }
    }
}

/// Percent-encodes a query value.
fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The text of every `<tag>…</tag>` in `xml`.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|part| part.split_once(&close).map(|(v, _)| v.to_string()))
        .collect()
}

fn backups(client: &Client, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &pgfed_resource("Backup"))
}

/// Waits until Backup `name` is in `phase`; returns its status.
async fn wait_backup(client: &Client, ns: &str, name: &str, phase: &str) -> serde_json::Value {
    let api = backups(client, ns);
    wait_until(
        &format!("Backup {ns}/{name} in phase {phase}"),
        Duration::from_secs(420),
        Duration::from_secs(2),
        || {
            let api = api.clone();
            async move {
                let b = api.get(name).await.map_err(|e| e.to_string())?;
                let status = b.data.get("status").cloned().unwrap_or_default();
                if status["phase"] == phase {
                    Ok(status)
                } else if status["phase"] == "failed" {
                    panic!("Backup {name} failed: {status}");
                } else {
                    Err(status.to_string())
                }
            }
        },
    )
    .await
}

fn condition<'a>(status: &'a serde_json::Value, type_: &str) -> Option<&'a serde_json::Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// A Cluster manifest `name` of `instances` archiving to `store` under `prefix` (target
/// prefer-standby), with the credentials Secret `s3` created in `ns`.
async fn with_store(
    client: &Client,
    ns: &str,
    store: &ObjectStore,
    prefix: &str,
    name: &str,
    instances: u32,
) -> serde_json::Value {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "s3"},
        "stringData": {"ACCESS_KEY_ID": store.user, "ACCESS_SECRET_KEY": store.password}
    }))
    .expect("secret");
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("create s3 secret");
    let mut manifest = cluster::minimal(name, instances);
    manifest["spec"]["backup"] = serde_json::json!({
        "target": "prefer-standby",
        "barmanObjectStore": {
            "destinationPath": format!("s3://{}/{prefix}", store.bucket),
            "endpointURL": store.endpoint,
            "s3Credentials": {
                "accessKeyId": {"name": "s3", "key": "ACCESS_KEY_ID"},
                "secretAccessKey": {"name": "s3", "key": "ACCESS_SECRET_KEY"}
            }
        }
    });
    manifest
}

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
