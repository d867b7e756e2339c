//! Changes that roll through a running Cluster, on real Kubernetes:
//! - a parameter PostgreSQL applies only at start restarts every instance in place (no pod
//!   replaced, no container restarted), standbys before the primary;
//! - a new PostgreSQL image replaces every pod on its own volumes, standbys first, the data kept;
//!   with `primaryUpdateMethod: switchover` the primary hands over before its pod is replaced;
//! - a new operator version (the second image tag `pgfed/pgfed:dev-next`, whose manager is another
//!   build) rolls its manager out to every instance in place: no pod replaced, no container
//!   restarted, postgres never restarted; going back to the first version works the same.
//!
//! The operator upgrade changes the operator Deployment of the last region, so it runs there and
//! no other test uses that region's operator for Clusters.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, PersistentVolumeClaim, Pod};
use kube::Client;
use kube::api::{Api, ListParams, LogParams, Patch, PatchParams};
use pgfed_e2e::cluster::{self, HEALTHY};
use pgfed_e2e::{regions, wait_until, with_temp_namespace};
use std::collections::BTreeMap;
use std::time::Duration;

const NEXT_OPERAND: &str = "pgfed/postgresql:15-next";
const OPERATOR: &str = "pgfed/pgfed:dev";
const NEXT_OPERATOR: &str = "pgfed/pgfed:dev-next";
const OPERATOR_NAMESPACE: &str = "pgfed-system";

/// Reasons of the Events in `ns` that concern `object`, oldest first.
async fn event_reasons(client: &Client, ns: &str, object: &str) -> Vec<(String, String)> {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let mut list: Vec<Event> = events
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(object))
        .collect();
    list.sort_by_key(|e| e.metadata.creation_timestamp.clone().map(|t| t.0));
    list.into_iter()
        .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
        .collect()
}

/// A query on `host` with a fresh pod name each attempt.
async fn ask(
    client: &Client,
    ns: &str,
    cluster_name: &str,
    host: &str,
    sql: &str,
    n: u32,
) -> String {
    cluster::query(
        client,
        ns,
        &format!("q-{host}-{n}"),
        cluster_name,
        host,
        sql,
    )
    .await
}

#[tokio::test]
async fn a_restart_parameter_restarts_in_place_and_a_new_image_replaces_the_pods() {
    let region = regions().remove(0);
    with_temp_namespace(&region, |client, ns| async move {
        cluster::create(
            &client,
            &ns,
            serde_json::json!({
                "apiVersion": "pgfed.io/v1", "kind": "Cluster",
                "metadata": {"name": "roll"},
                "spec": {"instances": 2, "imageName": "pgfed/postgresql:15",
                         "storage": {"size": "1Gi"},
                         "postgresql": {"parameters": {"max_connections": "100"}}}
            }),
        )
        .await;
        cluster::wait_phase(&client, &ns, "roll", HEALTHY, Duration::from_secs(420)).await;
        ask(
            &client,
            &ns,
            "roll",
            "roll-rw",
            "CREATE TABLE kept AS SELECT generate_series(1, 500) AS n",
            0,
        )
        .await;

        // A parameter that needs a restart: both instances restarted in place.
        let uids = cluster::pod_uids(&client, &ns, "roll").await;
        let restarts = cluster::restart_counts(&client, &ns, "roll").await;
        let started = ask(
            &client,
            &ns,
            "roll",
            "roll-rw",
            "SELECT pg_postmaster_start_time()",
            1,
        )
        .await;
        cluster::patch(
            &client,
            &ns,
            "roll",
            serde_json::json!({"spec": {"postgresql": {"parameters": {"max_connections": "120"}}}}),
        )
        .await;
        let mut attempt = 1;
        wait_until(
            "max_connections = 120 on the primary and the standby",
            Duration::from_secs(240),
            Duration::from_secs(5),
            || {
                attempt += 1;
                let (client, ns) = (client.clone(), ns.clone());
                async move {
                    // The instances restart meanwhile: a cut connection means "not yet".
                    let show = |host: &'static str| {
                        let (client, ns) = (client.clone(), ns.clone());
                        async move {
                            cluster::try_query_with_login(
                                &client,
                                &ns,
                                &format!("q-{host}-{attempt}"),
                                "roll",
                                "roll",
                                host,
                                "SHOW max_connections",
                            )
                            .await
                            .unwrap_or_else(|log| format!("unreachable ({})", log.trim()))
                        }
                    };
                    let rw = show("roll-rw").await;
                    let ro = show("roll-ro").await;
                    let phase = cluster::status(&client, &ns, "roll").await["phase"].clone();
                    if rw == "120" && ro == "120" && phase == HEALTHY {
                        Ok(())
                    } else {
                        Err(format!("rw {rw}, ro {ro}, phase {phase}"))
                    }
                }
            },
        )
        .await;
        assert_eq!(
            cluster::pod_uids(&client, &ns, "roll").await,
            uids,
            "a pod was replaced"
        );
        assert_eq!(
            cluster::restart_counts(&client, &ns, "roll").await,
            restarts,
            "a container was restarted"
        );
        assert_ne!(
            ask(
                &client,
                &ns,
                "roll",
                "roll-rw",
                "SELECT pg_postmaster_start_time()",
                90
            )
            .await,
            started,
            "the primary was not restarted"
        );
        let restarted: Vec<String> = event_reasons(&client, &ns, "roll")
            .await
            .into_iter()
            .filter(|(reason, _)| reason == "RestartingInstance")
            .map(|(_, message)| message)
            .collect();
        let primary = cluster::status(&client, &ns, "roll").await["currentPrimary"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(restarted.len() >= 2, "restart Events: {restarted:?}");
        assert!(
            restarted
                .last()
                .is_some_and(|m| m.contains(&format!("instance {primary} "))),
            "the primary must be restarted last: {restarted:?}"
        );

        // A new image: every pod replaced on its own claims, the data kept.
        let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);
        let claims: BTreeMap<String, Option<String>> = pvcs
            .list(&ListParams::default())
            .await
            .expect("claims")
            .items
            .into_iter()
            .map(|c| (c.metadata.name.clone().unwrap_or_default(), c.metadata.uid))
            .collect();
        cluster::patch(
            &client,
            &ns,
            "roll",
            serde_json::json!({"spec": {"imageName": NEXT_OPERAND}}),
        )
        .await;
        wait_until(
            "every pod on the new image",
            Duration::from_secs(420),
            Duration::from_secs(3),
            || {
                let (client, ns, uids) = (client.clone(), ns.clone(), uids.clone());
                async move {
                    let pods = cluster::instance_pods(&client, &ns, "roll").await;
                    let on_new = pods
                        .iter()
                        .filter(|p| {
                            p.spec.as_ref().is_some_and(|s| {
                                s.containers.iter().any(|c| {
                                    c.name == "postgres" && c.image.as_deref() == Some(NEXT_OPERAND)
                                })
                            }) && uids.get(p.metadata.name.as_deref().unwrap_or_default())
                                != p.metadata.uid.as_ref()
                        })
                        .count();
                    let status = cluster::status(&client, &ns, "roll").await;
                    if on_new == 2 && status["phase"] == HEALTHY && status["image"] == NEXT_OPERAND
                    {
                        Ok(())
                    } else {
                        Err(format!(
                            "{on_new} on the new image, phase {}",
                            status["phase"]
                        ))
                    }
                }
            },
        )
        .await;
        let after: BTreeMap<String, Option<String>> = pvcs
            .list(&ListParams::default())
            .await
            .expect("claims")
            .items
            .into_iter()
            .map(|c| (c.metadata.name.clone().unwrap_or_default(), c.metadata.uid))
            .collect();
        assert_eq!(after, claims, "the claims were kept");
        assert_eq!(
            ask(
                &client,
                &ns,
                "roll",
                "roll-ro",
                "SELECT count(*) FROM kept",
                91
            )
            .await,
            "500"
        );
        let replaced: Vec<String> = event_reasons(&client, &ns, "roll")
            .await
            .into_iter()
            .filter(|(reason, _)| reason == "UpdatingInstance")
            .map(|(_, message)| message)
            .collect();
        assert!(replaced.len() >= 2, "rolling update Events: {replaced:?}");
        assert!(
            replaced
                .last()
                .is_some_and(|m| m.ends_with(&format!("of {primary}"))),
            "the primary must be replaced last: {replaced:?}"
        );
    })
    .await;
}

/// `primaryUpdateMethod: switchover`: a new image replaces the standby first, then the primary
/// hands over to it (a switchover, not a restart of the primary) before its own pod is replaced;
/// the data is kept.
#[tokio::test]
async fn a_new_image_with_primary_update_method_switchover_switches_over_first() {
    let region = regions().remove(0);
    with_temp_namespace(&region, |client, ns| async move {
        let status = cluster::create_healthy(
            &client,
            &ns,
            serde_json::json!({
                "apiVersion": "pgfed.io/v1", "kind": "Cluster",
                "metadata": {"name": "handover"},
                "spec": {"instances": 2, "imageName": "pgfed/postgresql:15",
                         "primaryUpdateMethod": "switchover",
                         "storage": {"size": "1Gi"}}
            }),
        )
        .await;
        let primary = status["currentPrimary"]
            .as_str()
            .expect("a current primary")
            .to_string();
        ask(
            &client,
            &ns,
            "handover",
            "handover-rw",
            "CREATE TABLE kept AS SELECT generate_series(1, 300) AS i; SELECT count(*) FROM kept",
            1,
        )
        .await;
        cluster::patch(
            &client,
            &ns,
            "handover",
            serde_json::json!({"spec": {"imageName": NEXT_OPERAND}}),
        )
        .await;
        let after = wait_until(
            "every pod on the new image, healthy",
            Duration::from_secs(420),
            Duration::from_secs(3),
            || {
                let (client, ns) = (client.clone(), ns.clone());
                async move {
                    let pods = cluster::instance_pods(&client, &ns, "handover").await;
                    let on_new = pods
                        .iter()
                        .filter(|p| {
                            p.spec.as_ref().is_some_and(|s| {
                                s.containers.iter().any(|c| {
                                    c.name == "postgres" && c.image.as_deref() == Some(NEXT_OPERAND)
                                })
                            })
                        })
                        .count();
                    let status = cluster::status(&client, &ns, "handover").await;
                    if on_new == 2 && status["phase"] == HEALTHY && status["readyInstances"] == 2 {
                        Ok(status)
                    } else {
                        Err(format!(
                            "{on_new} on the new image, phase {}",
                            status["phase"]
                        ))
                    }
                }
            },
        )
        .await;
        assert_ne!(
            after["currentPrimary"],
            primary.as_str(),
            "the primary handed over: {after}"
        );
        let reasons = event_reasons(&client, &ns, "handover").await;
        assert!(
            reasons.iter().any(|(reason, _)| reason == "SwitchingOver"),
            "a switchover Event: {reasons:?}"
        );
        assert_eq!(
            ask(
                &client,
                &ns,
                "handover",
                "handover-rw",
                "SELECT count(*) FROM kept",
                2
            )
            .await,
            "300"
        );
    })
    .await;
}

/// Points the operator Deployment (and the image its instance pods copy the manager from) at
/// `image` and waits until every replica runs it; returns the digest of the manager the new
/// operator rolls out, from its log.
async fn switch_operator(client: &Client, image: &str) -> String {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), OPERATOR_NAMESPACE);
    let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [{
        "name": "operator", "image": image,
        "env": [{"name": "OPERATOR_IMAGE", "value": image}]
    }]}}}});
    deployments
        .patch(
            "pgfed-operator",
            &PatchParams::default(),
            &Patch::Strategic(&patch),
        )
        .await
        .expect("patch the operator Deployment");
    let pods: Api<Pod> = Api::namespaced(client.clone(), OPERATOR_NAMESPACE);
    wait_until(
        &format!("every operator replica on {image}"),
        Duration::from_secs(240),
        Duration::from_secs(2),
        || {
            let (pods, deployments) = (pods.clone(), deployments.clone());
            async move {
                let d = deployments
                    .get("pgfed-operator")
                    .await
                    .map_err(|e| e.to_string())?;
                let st = d.status.clone().unwrap_or_default();
                let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                let settled = st.observed_generation >= d.metadata.generation
                    && st.updated_replicas == Some(want)
                    && st.ready_replicas == Some(want)
                    && st.replicas == Some(want);
                if !settled {
                    return Err(format!("{st:?}"));
                }
                let running = pods
                    .list(&ListParams::default().labels("app.kubernetes.io/name=pgfed-operator"))
                    .await
                    .map_err(|e| e.to_string())?
                    .items;
                for p in &running {
                    let on = p.spec.as_ref().is_some_and(|s| {
                        s.containers
                            .iter()
                            .any(|c| c.image.as_deref() == Some(image))
                    });
                    if !on || p.metadata.deletion_timestamp.is_some() {
                        return Err(format!("pod {:?} not on {image} yet", p.metadata.name));
                    }
                    let log = pods
                        .logs(
                            p.metadata.name.as_deref().unwrap_or_default(),
                            &LogParams::default(),
                        )
                        .await
                        .map_err(|e| e.to_string())?;
                    let digest = log
                        .lines()
                        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                        .find(|v| v["message"] == "instance manager to roll out in place")
                        .and_then(|v| v["digest"].as_str().map(str::to_string));
                    if let Some(d) = digest {
                        return Ok(d);
                    }
                }
                Err("no operator logged its manager's digest yet".into())
            }
        },
    )
    .await
}

/// Waits until the manager of every instance of `cluster` last started (or re-executed) as the
/// binary with `digest`, and the cluster is healthy.
async fn wait_managers(client: &Client, ns: &str, cluster_name: &str, digest: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    wait_until(
        &format!("every manager of {cluster_name} at {digest}"),
        Duration::from_secs(300),
        Duration::from_secs(3),
        || {
            let (client, pods) = (client.clone(), pods.clone());
            async move {
                let mut behind = Vec::new();
                for p in cluster::instance_pods(&client, ns, cluster_name).await {
                    let name = p.metadata.name.clone().unwrap_or_default();
                    let log = pods
                        .logs(
                            &name,
                            &LogParams {
                                container: Some("postgres".into()),
                                ..LogParams::default()
                            },
                        )
                        .await
                        .map_err(|e| e.to_string())?;
                    let last = log
                        .lines()
                        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                        .filter(|v| v["fields"]["message"] == "instance manager")
                        .filter_map(|v| v["fields"]["digest"].as_str().map(str::to_string))
                        .next_back();
                    if last.as_deref() != Some(digest) {
                        behind.push(format!("{name}: {last:?}"));
                    }
                }
                let phase = cluster::status(&client, ns, cluster_name).await["phase"].clone();
                if behind.is_empty() && phase == HEALTHY {
                    Ok(())
                } else {
                    Err(format!("{behind:?}, phase {phase}"))
                }
            }
        },
    )
    .await;
}

#[tokio::test]
async fn an_operator_upgrade_and_downgrade_roll_the_manager_in_place() {
    let region = regions().pop().expect("a region");
    with_temp_namespace(&region, |client, ns| async move {
        cluster::create(&client, &ns, cluster::minimal("upg", 2)).await;
        cluster::wait_phase(&client, &ns, "upg", HEALTHY, Duration::from_secs(420)).await;
        let uids = cluster::pod_uids(&client, &ns, "upg").await;
        let restarts = cluster::restart_counts(&client, &ns, "upg").await;
        let started = ask(
            &client,
            &ns,
            "upg",
            "upg-rw",
            "SELECT pg_postmaster_start_time()",
            0,
        )
        .await;

        for (step, image) in [(1, NEXT_OPERATOR), (2, OPERATOR)] {
            let digest = switch_operator(&client, image).await;
            wait_managers(&client, &ns, "upg", &digest).await;
            assert_eq!(
                cluster::pod_uids(&client, &ns, "upg").await,
                uids,
                "{image}: a pod was replaced"
            );
            assert_eq!(
                cluster::restart_counts(&client, &ns, "upg").await,
                restarts,
                "{image}: a container was restarted"
            );
            assert_eq!(
                ask(
                    &client,
                    &ns,
                    "upg",
                    "upg-rw",
                    "SELECT pg_postmaster_start_time()",
                    step
                )
                .await,
                started,
                "{image}: postgres was restarted"
            );
        }
        let upgraded = event_reasons(&client, &ns, "upg")
            .await
            .into_iter()
            .filter(|(reason, _)| reason == "UpgradingInstanceManager")
            .count();
        assert!(
            upgraded >= 4,
            "two instances upgraded, then downgraded: {upgraded} Events"
        );
    })
    .await;
}
