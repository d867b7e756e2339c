//! Replica clusters across the two regions, through object storage only, and the distributed
//! topology's demote → token → promote path driven by the Cluster specs alone, as the federation
//! controller will drive it.
//!
//! `alpha` in region a is the primary cluster of the topology `{alpha, beta}`; it archives to
//! region a's bucket. `beta` in region b bootstraps from alpha's base backup and replays alpha's
//! archive: no network path between the regions is used (no `connectionParameters`). Rows
//! written in alpha reach beta's designated primary and its cascading standby. Then
//! `alpha.spec.replica.primary = beta` demotes alpha, which publishes `status.demotionToken`;
//! `beta.spec.replica = {primary: beta, promotionToken}` promotes beta exactly there; rows written
//! in beta reach alpha. Alpha is never re-cloned: its pods and PVCs keep their UIDs and no
//! instance of it ran pg_basebackup or a restore.

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Client;
use kube::api::{Api, LogParams, PostParams};
use pgfed_e2e::backups::{ObjectStore, backups, condition, s3_secret, store_in, wait_backup};
use pgfed_e2e::{cluster, regions, wait_until, with_temp_namespace};
use serde_json::{Value, json};
use std::time::Duration;

/// A member of the topology: its own archive, both members as external clusters (object store
/// only), `replica.primary = alpha`, replaying `source`.
fn member(name: &str, own: &Value, externals: &[(&str, &Value)], source: &str) -> Value {
    let mut m = cluster::minimal(name, 2);
    m["spec"]["postgresql"] = json!({"parameters": {"archive_timeout": "10s"}});
    m["spec"]["backup"] = json!({"barmanObjectStore": own});
    m["spec"]["externalClusters"] = externals
        .iter()
        .map(|(n, s)| json!({"name": n, "barmanObjectStore": s}))
        .collect();
    m["spec"]["replica"] = json!({"primary": "alpha", "source": source});
    m
}

/// How many rows `marks` holds for `label`, read through `host` of `cluster` with the
/// application credentials of `login` (a Secret `<login>-app` in `ns`).
async fn count(
    client: &Client,
    ns: &str,
    login: &str,
    cluster_name: &str,
    host: &str,
    label: &str,
    pod: &str,
) -> String {
    cluster::query_with_login(
        client,
        ns,
        pod,
        login,
        cluster_name,
        host,
        &format!("SELECT count(*) FROM marks WHERE label = '{label}'"),
    )
    .await
}

/// Waits until `host` of `cluster_name` shows the row `label`.
async fn wait_row(
    client: &Client,
    ns: &str,
    login: &str,
    cluster_name: &str,
    host: &str,
    label: &str,
) {
    let mut attempt = 0u32;
    wait_until(
        &format!("{cluster_name} ({host}) to show row {label}"),
        Duration::from_secs(300),
        Duration::from_secs(5),
        || {
            attempt += 1;
            let pod = format!("read-{label}-{host}-{attempt}");
            async move {
                let n = count(client, ns, login, cluster_name, host, label, &pod).await;
                if n == "1" {
                    Ok(())
                } else {
                    Err(format!("{n} rows"))
                }
            }
        },
    )
    .await;
}

#[tokio::test]
async fn a_replica_cluster_follows_through_object_storage_then_switches_with_tokens_and_no_reclone()
{
    let all = regions();
    let (region_a, region_b) = (all[0].clone(), all[1].clone());
    with_temp_namespace(&region_a, |client_a, ns_a| async move {
        with_temp_namespace(&region_b, |client_b, ns_b| async move {
            let store = ObjectStore::load();
            s3_secret(&client_a, &ns_a, &store).await;
            s3_secret(&client_b, &ns_b, &store).await;
            let alpha_store = store_in(&store, &store.bucket, &ns_a);
            let beta_store = store_in(&store, &store.bucket_b, &ns_b);
            let externals = [("alpha", &alpha_store), ("beta", &beta_store)];

            // alpha: the primary cluster, with a base backup and a first row.
            cluster::create_healthy(
                &client_a,
                &ns_a,
                member("alpha", &alpha_store, &externals, "beta"),
            )
            .await;
            cluster::query(
                &client_a,
                &ns_a,
                "seed",
                "alpha",
                "alpha-rw",
                "CREATE TABLE marks (label text); INSERT INTO marks VALUES ('before-backup')",
            )
            .await;
            let base = serde_json::from_value(json!({
                "apiVersion": "pgfed.io/v1", "kind": "Backup",
                "metadata": {"name": "seed"},
                "spec": {"cluster": {"name": "alpha"}}
            }))
            .expect("backup");
            backups(&client_a, &ns_a)
                .create(&PostParams::default(), &base)
                .await
                .expect("create Backup");
            wait_backup(&client_a, &ns_a, "seed", "completed").await;

            // beta: a replica cluster in region b, bootstrapped from alpha's backup and replaying
            // alpha's archive. It logs in with alpha's application credentials (it is a copy).
            let alpha_app: Secret = Api::<Secret>::namespaced(client_a.clone(), &ns_a)
                .get("alpha-app")
                .await
                .expect("alpha-app");
            let copy: Secret = serde_json::from_value(json!({
                "metadata": {"name": "alpha-app"},
                "data": alpha_app.data,
            }))
            .expect("secret copy");
            Api::<Secret>::namespaced(client_b.clone(), &ns_b)
                .create(&PostParams::default(), &copy)
                .await
                .expect("copy alpha-app");
            let mut beta = member("beta", &beta_store, &externals, "alpha");
            beta["spec"]["bootstrap"] = json!({"recovery": {"source": "alpha"}});
            cluster::create_healthy(&client_b, &ns_b, beta).await;
            let status = cluster::wait_status(
                &client_b,
                &ns_b,
                "beta",
                "a designated primary",
                Duration::from_secs(120),
                |s| s["currentPrimary"].is_string(),
            )
            .await;
            let switch = condition(&status, "ReplicaClusterSwitch")
                .cloned()
                .unwrap_or_default();
            assert_eq!(switch["reason"], "ReplicaCluster", "{status}");

            // A row written in alpha reaches beta's designated primary (-rw) and its cascading
            // standby (-ro), through the bucket only.
            cluster::query(
                &client_a,
                &ns_a,
                "second",
                "alpha",
                "alpha-rw",
                "INSERT INTO marks VALUES ('while-replica')",
            )
            .await;
            wait_row(
                &client_b,
                &ns_b,
                "alpha",
                "beta",
                "beta-rw",
                "while-replica",
            )
            .await;
            wait_row(
                &client_b,
                &ns_b,
                "alpha",
                "beta",
                "beta-ro",
                "while-replica",
            )
            .await;
            let in_recovery = cluster::query_with_login(
                &client_b,
                &ns_b,
                "recovery",
                "alpha",
                "beta",
                "beta-rw",
                "SELECT pg_is_in_recovery()",
            )
            .await;
            assert_eq!(in_recovery, "t", "beta's designated primary replays");

            // Demote alpha through its spec: it publishes a demotion token.
            let alpha_before = cluster::identities(&client_a, &ns_a, "alpha").await;
            cluster::query(
                &client_a,
                &ns_a,
                "last",
                "alpha",
                "alpha-rw",
                "INSERT INTO marks VALUES ('last-before-demotion')",
            )
            .await;
            let demotion_started = std::time::Instant::now();
            cluster::patch(
                &client_a,
                &ns_a,
                "alpha",
                json!({"spec": {"replica": {"primary": "beta"}}}),
            )
            .await;
            let demoted = cluster::wait_status(
                &client_a,
                &ns_a,
                "alpha",
                "a demotion token",
                Duration::from_secs(300),
                |s| s["demotionToken"].is_string(),
            )
            .await;
            let token = demoted["demotionToken"]
                .as_str()
                .unwrap_or_default()
                .to_string();

            // Promote beta with it: beta promotes exactly at the token.
            cluster::patch(
                &client_b,
                &ns_b,
                "beta",
                json!({"spec": {"replica": {"primary": "beta", "promotionToken": token}}}),
            )
            .await;
            let promoted = cluster::wait_status(
                &client_b,
                &ns_b,
                "beta",
                "promoted at the token",
                Duration::from_secs(300),
                |s| {
                    s["lastPromotionToken"] == token.as_str()
                        && s["phase"] == "Cluster in healthy state"
                },
            )
            .await;
            assert!(promoted["demotionToken"].is_null(), "{promoted}");
            let in_recovery = cluster::query_with_login(
                &client_b,
                &ns_b,
                "promoted",
                "alpha",
                "beta",
                "beta-rw",
                "SELECT pg_is_in_recovery()",
            )
            .await;
            assert_eq!(in_recovery, "f", "beta is the primary");
            assert_eq!(
                count(
                    &client_b,
                    &ns_b,
                    "alpha",
                    "beta",
                    "beta-rw",
                    "last-before-demotion",
                    "last-on-beta"
                )
                .await,
                "1",
                "beta has every row alpha wrote before its demotion"
            );

            // beta writes; alpha, now a replica cluster, follows from beta's bucket.
            cluster::query_with_login(
                &client_b,
                &ns_b,
                "third",
                "alpha",
                "beta",
                "beta-rw",
                "INSERT INTO marks VALUES ('written-in-beta')",
            )
            .await;
            wait_row(
                &client_a,
                &ns_a,
                "alpha",
                "alpha",
                "alpha-rw",
                "written-in-beta",
            )
            .await;
            wait_row(
                &client_a,
                &ns_a,
                "alpha",
                "alpha",
                "alpha-ro",
                "written-in-beta",
            )
            .await;

            // No re-clone: the same pods and volumes, nothing of alpha copied again since the
            // demotion (its standby was cloned once, when it was created), no re-clone Event.
            assert_eq!(
                cluster::identities(&client_a, &ns_a, "alpha").await,
                alpha_before,
                "alpha's pods or PVCs were replaced"
            );
            let pods: Api<Pod> = Api::namespaced(client_a.clone(), &ns_a);
            for name in alpha_before.keys().filter(|k| !k.starts_with("pvc/")) {
                let log = pods
                    .logs(
                        name,
                        &LogParams {
                            container: Some("postgres".into()),
                            since_seconds: Some(
                                i64::try_from(demotion_started.elapsed().as_secs())
                                    .unwrap_or(i64::MAX)
                                    + 5,
                            ),
                            ..LogParams::default()
                        },
                    )
                    .await
                    .expect("alpha's log");
                for sign in [
                    "pg_basebackup",
                    "replacing the former primary's data directory",
                ] {
                    assert!(!log.contains(sign), "{name} shows {sign:?}:\n{log}");
                }
            }
            let reasons = cluster::event_reasons(&client_a, &ns_a).await;
            assert!(
                !reasons
                    .iter()
                    .any(|(r, _)| r == "Recloned" || r == "RewindFailed"),
                "{reasons:?}"
            );
            let alpha = cluster::status(&client_a, &ns_a, "alpha").await;
            let transition = condition(&alpha, "ReplicaClusterDesignatedPrimaryTransition")
                .cloned()
                .unwrap_or_default();
            assert_eq!(transition["status"], "True", "{alpha}");
        })
        .await;
    })
    .await;
}
