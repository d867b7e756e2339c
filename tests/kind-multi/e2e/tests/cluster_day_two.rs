//! Day two of a Cluster on real Kubernetes: a deleted standby pod comes back on its own volume
//! (no new clone), a reloadable parameter is applied without restarting anything, a change of the
//! pod template rolls the instances one at a time, fencing stops and resumes an instance, and the
//! operator killed while it works converges when it comes back.

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, LogParams};
use pgfed_e2e::cluster::{self, HEALTHY};
use pgfed_e2e::{regions, wait_until, with_temp_namespace};
use std::time::Duration;

async fn wait_healthy(
    client: &Client,
    ns: &str,
    name: &str,
    timeout: Duration,
) -> serde_json::Value {
    cluster::wait_phase(client, ns, name, HEALTHY, timeout).await
}

#[tokio::test]
async fn standby_returns_on_its_volume_parameters_reload_or_roll_and_fencing_stops_postgres() {
    let region = regions().remove(0);
    with_temp_namespace(&region, |client, ns| async move {
        cluster::create(
            &client,
            &ns,
            serde_json::json!({
                "apiVersion": "pgfed.io/v1", "kind": "Cluster",
                "metadata": {"name": "day2"},
                "spec": {"instances": 2, "storage": {"size": "1Gi"},
                         "postgresql": {"parameters": {"work_mem": "4MB"}}}
            }),
        )
        .await;
        wait_healthy(&client, &ns, "day2", Duration::from_secs(420)).await;
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);

        // A deleted standby pod comes back on the same claim, without a new clone.
        let claim_before = pvcs.get("day2-2").await.expect("claim").metadata.uid;
        let before = cluster::pod_uids(&client, &ns, "day2").await;
        pods.delete("day2-2", &DeleteParams::default())
            .await
            .expect("delete standby pod");
        wait_until(
            "day2-2 recreated",
            Duration::from_secs(120),
            Duration::from_secs(2),
            || {
                let (client, ns, before) = (client.clone(), ns.clone(), before.clone());
                async move {
                    let now = cluster::pod_uids(&client, &ns, "day2").await;
                    match now.get("day2-2") {
                        Some(uid) if Some(uid) != before.get("day2-2") => Ok(()),
                        _ => Err(format!("{now:?}")),
                    }
                }
            },
        )
        .await;
        wait_healthy(&client, &ns, "day2", Duration::from_secs(180)).await;
        assert_eq!(
            pvcs.get("day2-2").await.expect("claim").metadata.uid,
            claim_before,
            "the claim was kept"
        );
        let log = pods
            .logs(
                "day2-2",
                &LogParams {
                    container: Some("postgres".into()),
                    ..LogParams::default()
                },
            )
            .await
            .expect("log");
        assert!(
            !log.contains("pg_basebackup"),
            "the recreated standby cloned again:\n{log}"
        );

        // A reloadable parameter: applied with a reload, no pod replaced.
        let uids = cluster::pod_uids(&client, &ns, "day2").await;
        cluster::patch(
            &client,
            &ns,
            "day2",
            serde_json::json!({
                "spec": {"postgresql": {"parameters": {"work_mem": "8MB"}}}
            }),
        )
        .await;
        let mut attempt = 0;
        wait_until(
            "work_mem = 8MB on the primary",
            Duration::from_secs(150),
            Duration::from_secs(5),
            || {
                attempt += 1;
                let (client, ns) = (client.clone(), ns.clone());
                let name = format!("q-work-mem-{attempt}");
                async move {
                    let v = cluster::query(&client, &ns, &name, "day2", "day2-rw", "SHOW work_mem")
                        .await;
                    if v == "8MB" { Ok(()) } else { Err(v) }
                }
            },
        )
        .await;
        assert_eq!(
            cluster::pod_uids(&client, &ns, "day2").await,
            uids,
            "a reload replaced no pod"
        );

        // A pod template change rolls the instances, standby first, and the cluster is healthy after.
        cluster::patch(
            &client,
            &ns,
            "day2",
            serde_json::json!({
                "spec": {"env": [{"name": "E2E_ROLLOUT", "value": "1"}]}
            }),
        )
        .await;
        wait_until(
            "both pods replaced",
            Duration::from_secs(300),
            Duration::from_secs(3),
            || {
                let (client, ns, uids) = (client.clone(), ns.clone(), uids.clone());
                async move {
                    let now = cluster::pod_uids(&client, &ns, "day2").await;
                    let replaced = now.iter().filter(|(n, u)| uids.get(*n) != Some(*u)).count();
                    let phase = cluster::status(&client, &ns, "day2").await["phase"].clone();
                    if replaced == 2 && phase == HEALTHY {
                        Ok(())
                    } else {
                        Err(format!("{replaced} replaced, phase {phase}"))
                    }
                }
            },
        )
        .await;

        // Fencing stops postgres in the standby and keeps its pod; unfencing resumes it.
        let uids = cluster::pod_uids(&client, &ns, "day2").await;
        cluster::patch(
            &client,
            &ns,
            "day2",
            serde_json::json!({
                "metadata": {"annotations": {"cnpg.io/fencedInstances": "[\"day2-2\"]"}}
            }),
        )
        .await;
        wait_until(
            "day2-2 fenced",
            Duration::from_secs(60),
            Duration::from_secs(1),
            || {
                let (client, ns) = (client.clone(), ns.clone());
                async move {
                    let s = cluster::status(&client, &ns, "day2").await;
                    let fenced = s["instancesStatus"]["fenced"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                    let ready = s["readyInstances"].clone();
                    if fenced.iter().any(|n| n == "day2-2") && ready == 1 {
                        Ok(())
                    } else {
                        Err(format!("fenced {fenced:?}, ready {ready}"))
                    }
                }
            },
        )
        .await;
        assert_eq!(
            cluster::pod_uids(&client, &ns, "day2").await,
            uids,
            "fencing keeps the pod"
        );
        cluster::patch(
            &client,
            &ns,
            "day2",
            serde_json::json!({
                "metadata": {"annotations": {"cnpg.io/fencedInstances": null}}
            }),
        )
        .await;
        wait_healthy(&client, &ns, "day2", Duration::from_secs(120)).await;
        assert_eq!(
            cluster::pod_uids(&client, &ns, "day2").await,
            uids,
            "unfencing keeps the pod"
        );
    })
    .await;
}

#[tokio::test]
async fn the_operator_killed_while_it_creates_a_cluster_converges_after_restart() {
    let region = regions().remove(0);
    with_temp_namespace(&region, |client, ns| async move {
        cluster::create(&client, &ns, cluster::minimal("killed", 2)).await;
        // Kill every operator replica as soon as the first instance pod exists.
        let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
        wait_until(
            "the first instance pod",
            Duration::from_secs(60),
            Duration::from_millis(200),
            || {
                let pods = pods.clone();
                async move {
                    pods.get_opt("killed-1")
                        .await
                        .map_err(|e| e.to_string())?
                        .map(|_| ())
                        .ok_or_else(|| "absent".to_string())
                }
            },
        )
        .await;
        let operators: Api<Pod> = Api::namespaced(client.clone(), "pgfed-system");
        let killed = operators
            .delete_collection(
                &DeleteParams {
                    grace_period_seconds: Some(0),
                    ..DeleteParams::default()
                },
                &ListParams::default().labels("app.kubernetes.io/name=pgfed-operator"),
            )
            .await
            .expect("kill the operator");
        assert!(
            killed.left().is_some_and(|l| !l.items.is_empty()),
            "operator pods were deleted"
        );
        let status = wait_healthy(&client, &ns, "killed", Duration::from_secs(420)).await;
        assert_eq!(status["readyInstances"], 2, "{status}");
        assert_eq!(status["currentPrimary"], "killed-1", "{status}");
    })
    .await;
}

#[tokio::test]
async fn hibernation_removes_the_pods_keeps_the_data_and_resumes_the_same_primary() {
    let region = regions().remove(0);
    with_temp_namespace(&region, |client, ns| async move {
        cluster::create(&client, &ns, cluster::minimal("sleepy", 2)).await;
        let before = wait_healthy(&client, &ns, "sleepy", Duration::from_secs(420)).await;
        let written = cluster::query(
            &client,
            &ns,
            "write",
            "sleepy",
            "sleepy-rw",
            "CREATE TABLE kept AS SELECT generate_series(1, 500) AS i; SELECT count(*) FROM kept",
        )
        .await;
        assert_eq!(written, "500");
        let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);
        let claims = |list: Vec<PersistentVolumeClaim>| {
            let mut uids: Vec<String> = list.into_iter().filter_map(|c| c.metadata.uid).collect();
            uids.sort();
            uids
        };
        let claims_before = claims(
            pvcs.list(&ListParams::default())
                .await
                .expect("claims")
                .items,
        );

        cluster::patch(
            &client,
            &ns,
            "sleepy",
            serde_json::json!({
                "metadata": {"annotations": {"cnpg.io/hibernation": "on"}}
            }),
        )
        .await;
        wait_until(
            "no pod left and the cluster hibernated",
            Duration::from_secs(240),
            Duration::from_secs(2),
            || {
                let (client, ns) = (client.clone(), ns.clone());
                async move {
                    let pods = cluster::pod_uids(&client, &ns, "sleepy").await;
                    let s = cluster::status(&client, &ns, "sleepy").await;
                    let hibernated = s["conditions"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c["type"] == "pgfed.io/hibernation" && c["status"] == "True");
                    if pods.is_empty() && hibernated {
                        Ok(())
                    } else {
                        Err(format!("pods {pods:?}, status {}", s["phaseReason"]))
                    }
                }
            },
        )
        .await;
        assert_eq!(
            claims(
                pvcs.list(&ListParams::default())
                    .await
                    .expect("claims")
                    .items
            ),
            claims_before,
            "every claim is kept"
        );

        cluster::patch(
            &client,
            &ns,
            "sleepy",
            serde_json::json!({
                "metadata": {"annotations": {"cnpg.io/hibernation": "off"}}
            }),
        )
        .await;
        let after = wait_healthy(&client, &ns, "sleepy", Duration::from_secs(300)).await;
        assert_eq!(
            after["currentPrimary"], before["currentPrimary"],
            "the same primary"
        );
        assert_eq!(after["systemID"], before["systemID"], "the same database");
        let read = cluster::query(
            &client,
            &ns,
            "read",
            "sleepy",
            "sleepy-ro",
            "SELECT count(*) FROM kept",
        )
        .await;
        assert_eq!(read, "500");
    })
    .await;
}
