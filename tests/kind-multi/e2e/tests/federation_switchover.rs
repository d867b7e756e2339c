//! A Federation across the two regions, driven only through its spec: the federation controller
//! in the hub (region a) creates member `a` in the hub and member `b` in region b (reached with a
//! kubeconfig that holds only the member rights), `b` bootstraps from `a`'s base backup in object
//! storage and replays its archive, and its lag is reported. A switchover to `b` while `b`'s API
//! server cannot be reached is refused and changes nothing. Then `spec.primary: b` moves the
//! primary (demote → token → promote → follow) under a continuous write load with the federation
//! controller killed at every step it is seen in, and `spec.primary: a` moves it back with region b's member
//! operator killed while `b` demotes. After each move the new primary accepts writes, has every
//! row written before (every acknowledged one of the load), the former primary replays the new
//! one's rows, and no member was re-cloned (its pods and volumes keep their UIDs). Last, a third
//! member joins the running federation, replays, and is removed again: its Cluster is detached
//! and keeps running.

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, PostParams};
use pgfed_e2e::backups::store_in;
use pgfed_e2e::{cluster, federation, pgfed_resource, regions, wait_until, with_temp_namespace};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A member's side: its client, namespace and the login whose `<login>-app` Secret it holds.
#[derive(Clone)]
struct Side {
    client: Client,
    ns: String,
}

impl Side {
    async fn sql(&self, pod: &str, sql: &str) -> String {
        cluster::query_with_login(
            &self.client,
            &self.ns,
            pod,
            "origin",
            "shop",
            "shop-rw",
            sql,
        )
        .await
    }

    async fn identities(&self) -> BTreeMap<String, String> {
        cluster::identities(&self.client, &self.ns, "shop").await
    }

    /// Waits until this member shows row `label` (through its -rw Service: the primary, or a
    /// replica member's designated primary).
    async fn wait_row(&self, label: &str) {
        let mut attempt = 0u32;
        wait_until(
            &format!("{} to show row {label}", self.ns),
            Duration::from_secs(300),
            Duration::from_secs(5),
            || {
                attempt += 1;
                let pod = format!("read-{label}-{attempt}");
                async move {
                    // The table itself may not have been replayed yet.
                    let table = self
                        .sql(
                            &format!("{pod}-t"),
                            "SELECT to_regclass('marks') IS NOT NULL",
                        )
                        .await;
                    if table != "t" {
                        return Err("no table marks yet".to_string());
                    }
                    let n = self
                        .sql(
                            &pod,
                            &format!("SELECT count(*) FROM marks WHERE label = '{label}'"),
                        )
                        .await;
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
}

#[tokio::test]
async fn a_federation_is_created_from_scratch_and_its_primary_moves_a_to_b_and_back_without_reclone()
 {
    let all = regions();
    let (region_a, region_b) = (all[0].clone(), all[1].clone());
    let (hub_region, member_region) = (region_a.clone(), region_b.clone());
    with_temp_namespace(&hub_region, |hub, ns_a| async move {
        with_temp_namespace(&member_region, |client_b, ns_b| async move {
            let (store, kubeconfig) =
                federation::prepare_two_regions((&hub, &ns_a), (&client_b, &ns_b, &region_b)).await;

            let fed: DynamicObject = serde_json::from_value(json!({
                "apiVersion": "pgfed.io/v1", "kind": "Federation",
                "metadata": {"name": "shop"},
                "spec": {
                    "primary": "a",
                    "members": federation::two_members(&store, (&region_a, &ns_a), (&region_b, &ns_b)),
                    "template": {
                        "instances": 2,
                        "storage": {"size": "1Gi"},
                        "postgresql": {"parameters": {"archive_timeout": "10s"}}
                    }
                }
            }))
            .expect("federation");
            let created = Instant::now();
            Api::<DynamicObject>::namespaced_with(hub.clone(), &ns_a, &pgfed_resource("Federation"))
                .create(&PostParams::default(), &fed)
                .await
                .expect("create Federation");
            let status = federation::wait_status(&hub, &ns_a, "shop", "both members up, a primary, b replaying",
                Duration::from_secs(600), |s| {
                    s["phase"] == "Healthy"
                        && s["members"].as_array().is_some_and(|m| {
                            m.iter().any(|m| m["name"] == "a" && m["role"] == "primary")
                                && m.iter().any(|m| m["name"] == "b" && m["role"] == "replica")
                        })
                }).await;
            println!("federation created and healthy in {:.0} s", created.elapsed().as_secs_f64());
            assert_eq!(status["currentPrimaryRegion"], region_a.as_str(), "{status}");

            // The application credentials of the system (b is a copy of a) on both sides.
            let app: Secret = Api::<Secret>::namespaced(hub.clone(), &ns_a).get("shop-app").await.expect("shop-app");
            for (client, ns) in [(&hub, &ns_a), (&client_b, &ns_b)] {
                let copy: Secret = serde_json::from_value(json!({
                    "metadata": {"name": "origin-app"}, "data": app.data
                }))
                .expect("secret");
                Api::<Secret>::namespaced((*client).clone(), ns)
                    .create(&PostParams::default(), &copy)
                    .await
                    .expect("copy the app credentials");
            }
            let a = Side { client: hub.clone(), ns: ns_a.clone() };
            let b = Side { client: client_b.clone(), ns: ns_b.clone() };

            a.sql("first", "CREATE TABLE marks (label text); INSERT INTO marks VALUES ('in-a')").await;
            b.wait_row("in-a").await;
            let a_before = a.identities().await;
            let b_before = b.identities().await;

            // Lag is reported for the replica member (bytes and seconds, from both Clusters'
            // recorded WAL positions).
            let status = federation::wait_status(&hub, &ns_a, "shop", "b's lag reported", Duration::from_secs(120), |s| {
                s["members"].as_array().is_some_and(|m| m.iter().any(|m| m["name"] == "b" && m["lagBytes"].is_i64() && m["lagSeconds"].is_number()))
            }).await;
            println!("lag at rest: {} s, {} bytes", status["maxLagSeconds"], status["maxLagBytes"]);
            let text = kubectl_pgfed::federation::status(hub.clone(), &ns_a, "shop", kubectl_pgfed::output::Format::Text)
                .await
                .expect("kubectl pgfed federation status");
            println!("{text}");
            assert!(text.contains(&region_b) && text.contains("replica"), "{text}");
            let text = kubectl_pgfed::cluster_status::status(client_b.clone(), &ns_b, "shop", kubectl_pgfed::output::Format::Text)
                .await
                .expect("kubectl pgfed status");
            println!("{text}");
            assert!(text.contains("shop-1"), "{text}");

            // Refused: the target's API server cannot be reached (its kubeconfig is gone); the
            // primary stays where it is and nothing is changed.
            let secrets: Api<Secret> = Api::namespaced(hub.clone(), &ns_a);
            secrets.delete("region-b-kubeconfig", &DeleteParams::default()).await.expect("delete kubeconfig");
            federation::wait_status(&hub, &ns_a, "shop", "b unreachable", Duration::from_secs(120), |s| {
                s["members"].as_array().is_some_and(|m| m.iter().any(|m| m["name"] == "b" && m["reachable"] == false))
            }).await;
            // Asked through `kubectl pgfed federation switchover`, which follows the status and
            // reports the refusal.
            let refusal = kubectl_pgfed::federation::switchover(
                hub.clone(), &ns_a, "shop", "b",
                kubectl_pgfed::federation::Follow { wait: Some(Duration::from_secs(120)) },
                |line| println!("kubectl pgfed federation switchover: {line}"),
            )
            .await
            .expect_err("a switchover to an unreachable member is refused");
            assert!(refusal.to_string().contains("unreachable"), "{refusal}");
            let refused = federation::wait_status(&hub, &ns_a, "shop", "the refusal recorded", Duration::from_secs(30), |s| {
                s["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["type"] == "SwitchoverAllowed" && c["status"] == "False"))
            }).await;
            assert_eq!((refused["currentPrimary"].as_str(), refused["switchover"].is_null()), (Some("a"), true), "{refused}");
            assert_eq!(a.sql("a-still-writable", "SELECT pg_is_in_recovery()").await, "f", "a kept the primary");
            federation::patch(&hub, &ns_a, "shop", json!({"spec": {"primary": "a"}})).await;
            federation::kubeconfig_secret(&hub, &ns_a, "region-b-kubeconfig", &kubeconfig).await;
            federation::wait_status(&hub, &ns_a, "shop", "b reachable again, nothing moved", Duration::from_secs(120), |s| {
                s["phase"] == "Healthy" && s["currentPrimary"] == "a"
                    && s["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["type"] == "SwitchoverAllowed" && c["status"] == "True"))
            }).await;

            // a → b under a continuous write load, the federation controller killed at every
            // step: every acknowledged write is on b afterwards.
            a.sql("acks-table", "CREATE TABLE acks (i bigint PRIMARY KEY)").await;
            federation::start_writer(&hub, &ns_a, "writer", ("shop", "shop"), 0, 300, true).await;
            // Some seconds of load before the switch, so the demotion meets a busy primary.
            tokio::time::sleep(Duration::from_secs(10)).await;
            let (took, steps) = federation::switch(&hub, &ns_a, "shop", "b", |step| {
                let region_a = region_a.clone();
                async move {
                    println!("killing the federation controller at step {step}");
                    federation::kill(&pgfed_e2e::client(&region_a).await, "pgfed-federation").await;
                }
            })
            .await;
            println!("switchover a → b under load with the controller killed at {steps:?}: {took:.1} s");
            assert!(!steps.is_empty(), "no switchover step was seen");
            let acked = federation::acknowledged(&hub, &ns_a, "writer").await;
            assert!(!acked.is_empty(), "the writer got nothing acknowledged");
            let list = acked.iter().map(|(i, _)| i.to_string()).collect::<Vec<_>>().join(",");
            let present = b.sql("acks-on-b", &format!("SELECT count(*) FROM acks WHERE i IN ({list})")).await;
            assert_eq!(present, acked.len().to_string(), "acknowledged writes missing on b (acked {})", acked.len());
            println!("{} acknowledged writes during the switchover, all on b", acked.len());
            assert_eq!(b.sql("b-writable", "SELECT pg_is_in_recovery()").await, "f", "b is the primary");
            assert_eq!(a.sql("a-replica", "SELECT pg_is_in_recovery()").await, "t", "a replays b");
            b.sql("second", "INSERT INTO marks VALUES ('in-b')").await;
            a.wait_row("in-b").await;
            assert_eq!(b.sql("b-has-a", "SELECT count(*) FROM marks WHERE label = 'in-a'").await, "1");

            // b → a with region b's member operator killed while b demotes.
            let (took, steps) = federation::switch(&hub, &ns_a, "shop", "a", |step| {
                let region_b = region_b.clone();
                async move {
                    if step == "Demoting" {
                        println!("killing region b's member operator at step {step}");
                        federation::kill(&pgfed_e2e::client(&region_b).await, "pgfed-operator").await;
                    }
                }
            })
            .await;
            println!("switchover b → a with b's operator killed: {took:.1} s ({steps:?})");
            assert_eq!(a.sql("a-writable", "SELECT pg_is_in_recovery()").await, "f", "a is the primary again");
            a.sql("third", "INSERT INTO marks VALUES ('in-a-again')").await;
            b.wait_row("in-a-again").await;
            assert_eq!(a.sql("a-has-all", "SELECT count(*) FROM marks").await, "3");

            // A third member joins the running federation (in the hub, beside a), bootstraps
            // from a's base backup and replays; removed again, its Cluster is detached and keeps
            // running with its data.
            let members = |with_c: bool| {
                let two = federation::two_members(&store, (&region_a, &ns_a), (&region_b, &ns_b));
                let mut m = two.as_array().cloned().unwrap_or_default();
                if with_c {
                    m.push(json!({"name": "c", "region": region_a, "clusterName": "shop-c",
                                  "barmanObjectStore": store_in(&store, &store.bucket, &format!("{ns_a}-c")),
                                  "overrides": {"instances": 1}}));
                }
                json!({"spec": {"members": m}})
            };
            let joined = Instant::now();
            federation::patch(&hub, &ns_a, "shop", members(true)).await;
            federation::wait_status(&hub, &ns_a, "shop", "c a healthy replica", Duration::from_secs(600), |s| {
                s["phase"] == "Healthy"
                    && s["members"].as_array().is_some_and(|m| m.iter().any(|m| m["name"] == "c" && m["role"] == "replica"))
            }).await;
            println!("third member replaying in {:.0} s", joined.elapsed().as_secs_f64());
            let c_rows = cluster::query_with_login(&hub, &ns_a, "c-rows", "origin", "shop-c", "shop-c-rw", "SELECT count(*) FROM marks").await;
            assert_eq!(c_rows, "3", "c has every row");
            federation::patch(&hub, &ns_a, "shop", members(false)).await;
            federation::wait_status(&hub, &ns_a, "shop", "c no longer a member", Duration::from_secs(120), |s| {
                s["phase"] == "Healthy" && s["members"].as_array().is_some_and(|m| m.len() == 2)
            }).await;
            let c = cluster::api(&hub, &ns_a).get("shop-c").await.expect("c's Cluster is kept");
            assert!(!c.metadata.labels.unwrap_or_default().contains_key("pgfed.io/federation"), "c is still labelled");
            cluster::wait_phase(&hub, &ns_a, "shop-c", "Cluster in healthy state", Duration::from_secs(120)).await;

            // Nobody re-cloned: the same pods and volumes on both sides.
            assert_eq!(a.identities().await, a_before, "a's pods or PVCs were replaced");
            assert_eq!(b.identities().await, b_before, "b's pods or PVCs were replaced");
            let events = cluster::event_reasons(&hub, &ns_a).await;
            for reason in ["SwitchoverStarted", "Demoted", "Promoted", "SwitchoverCompleted", "MemberDetached"] {
                assert!(events.iter().any(|(r, _)| r == reason), "no {reason} Event: {events:?}");
            }
        })
        .await;
    })
    .await;
}
