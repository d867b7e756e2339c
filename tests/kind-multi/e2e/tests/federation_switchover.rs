//! A Federation across the two regions, driven only through its spec: the federation controller
//! in the hub (region a) creates member `a` in the hub and member `b` in region b (reached with a
//! kubeconfig that holds only the member rights), `b` bootstraps from `a`'s base backup in object
//! storage and replays its archive. Then `spec.primary: b` moves the primary (demote → token →
//! promote → follow), and `spec.primary: a` moves it back. After each move the new primary
//! accepts writes, has every row written before, the former primary replays the new one's rows,
//! and no member was re-cloned (its pods and volumes keep their UIDs).

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, DynamicObject, PostParams};
use pgfed_e2e::backups::{ObjectStore, s3_secret, store_in};
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

/// Moves the primary to `to` through `spec.primary` and waits for the federation to settle;
/// returns the seconds it took.
async fn switch(hub: &Client, ns: &str, to: &str) -> f64 {
    let started = Instant::now();
    federation::patch(hub, ns, "shop", json!({"spec": {"primary": to}})).await;
    federation::wait_status(
        hub,
        ns,
        "shop",
        &format!("the primary moved to {to}"),
        Duration::from_secs(420),
        |s| s["currentPrimary"] == to && s["switchover"].is_null() && s["phase"] == "Healthy",
    )
    .await;
    started.elapsed().as_secs_f64()
}

#[tokio::test]
async fn a_federation_is_created_from_scratch_and_its_primary_moves_a_to_b_and_back_without_reclone()
 {
    let all = regions();
    let (region_a, region_b) = (all[0].clone(), all[1].clone());
    let (hub_region, member_region) = (region_a.clone(), region_b.clone());
    with_temp_namespace(&hub_region, |hub, ns_a| async move {
        with_temp_namespace(&member_region, |client_b, ns_b| async move {
            let store = ObjectStore::load();
            s3_secret(&hub, &ns_a, &store).await;
            s3_secret(&client_b, &ns_b, &store).await;
            let kubeconfig = federation::member_kubeconfig(&region_b, &client_b).await;
            federation::kubeconfig_secret(&hub, &ns_a, "region-b-kubeconfig", &kubeconfig).await;

            let fed: DynamicObject = serde_json::from_value(json!({
                "apiVersion": "pgfed.io/v1", "kind": "Federation",
                "metadata": {"name": "shop"},
                "spec": {
                    "primary": "a",
                    "members": [
                        {"name": "a", "region": region_a, "barmanObjectStore": store_in(&store, &store.bucket, &ns_a)},
                        {"name": "b", "region": region_b, "namespace": ns_b,
                         "kubeconfigSecretRef": {"name": "region-b-kubeconfig", "key": "kubeconfig"},
                         "barmanObjectStore": store_in(&store, &store.bucket_b, &ns_b)}
                    ],
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

            let took = switch(&hub, &ns_a, "b").await;
            println!("switchover a → b: {took:.1} s");
            assert_eq!(b.sql("b-writable", "SELECT pg_is_in_recovery()").await, "f", "b is the primary");
            assert_eq!(a.sql("a-replica", "SELECT pg_is_in_recovery()").await, "t", "a replays b");
            b.sql("second", "INSERT INTO marks VALUES ('in-b')").await;
            a.wait_row("in-b").await;
            assert_eq!(b.sql("b-has-a", "SELECT count(*) FROM marks WHERE label = 'in-a'").await, "1");

            let took = switch(&hub, &ns_a, "a").await;
            println!("switchover b → a: {took:.1} s");
            assert_eq!(a.sql("a-writable", "SELECT pg_is_in_recovery()").await, "f", "a is the primary again");
            a.sql("third", "INSERT INTO marks VALUES ('in-a-again')").await;
            b.wait_row("in-a-again").await;
            assert_eq!(a.sql("a-has-all", "SELECT count(*) FROM marks").await, "3");

            // Nobody re-cloned: the same pods and volumes on both sides.
            assert_eq!(a.identities().await, a_before, "a's pods or PVCs were replaced");
            assert_eq!(b.identities().await, b_before, "b's pods or PVCs were replaced");
            let events = cluster::event_reasons(&hub, &ns_a).await;
            for reason in ["SwitchoverStarted", "Demoted", "Promoted", "SwitchoverCompleted"] {
                assert!(events.iter().any(|(r, _)| r == reason), "no {reason} Event: {events:?}");
            }
        })
        .await;
    })
    .await;
}
