//! A local failover inside the primary region while a replica region follows it through the
//! object store. Member `a` (two instances, the hub's region) writes under a continuous load and
//! uploads its segment in progress every second; member `b` replays those copies. a's primary pod
//! is deleted with no grace period (`tests/kind-multi/fault delete-pod --force`): a's standby is
//! promoted, and before it forks its timeline it replays the same in-progress copy `b` may
//! already have replayed, so `b` is not left ahead of the new primary's history. Afterwards `b`
//! replays a's new timeline and holds exactly a's rows. Should `b` have gone past the fork all
//! the same, it must have been repaired (re-seeded from a's base backup, condition
//! `pgfed.io/reseedDiverged`), never left diverged; which path was taken is printed.
//!
//! It deletes a pod in its own namespaces only, so it runs beside other files.

use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use pgfed_e2e::{
    cluster, fault, federation, pgfed_resource, regions, wait_until, with_temp_namespace,
};
use serde_json::{Value, json};
use std::time::Duration;

async fn sql(client: &Client, ns: &str, pod: &str, query: &str) -> String {
    cluster::query_with_login(client, ns, pod, "origin", "shop", "shop-rw", query).await
}

/// Waits until member (client, ns) answers `query` with `want` through `shop-rw`; a connection
/// refused meanwhile (an instance restarting or being replaced) is "not yet".
async fn wait_answer(client: &Client, ns: &str, what: &str, query: &str, want: &str) {
    let mut attempt = 0u32;
    wait_until(
        what,
        Duration::from_secs(420),
        Duration::from_secs(5),
        || {
            attempt += 1;
            let (client, ns) = (client.clone(), ns.to_string());
            async move {
                let got = cluster::try_query_with_login(
                    &client,
                    &ns,
                    &format!("wait-{attempt}"),
                    "origin",
                    "shop",
                    "shop-rw",
                    query,
                )
                .await
                .map_err(|log| format!("unreachable: {}", log.trim()))?;
                if got == want { Ok(()) } else { Err(got) }
            }
        },
    )
    .await;
}

fn reseed_condition(status: &Value) -> Option<Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "pgfed.io/reseedDiverged")
        .cloned()
}

#[tokio::test]
async fn a_local_failover_in_the_primary_region_never_leaves_the_replica_region_ahead() {
    let all = regions();
    let (region_a, region_b) = (all[0].clone(), all[1].clone());
    let member_region = region_b.clone();
    with_temp_namespace(&region_a.clone(), |hub, ns_a| async move {
        with_temp_namespace(&member_region, |client_b, ns_b| async move {
            let (store, _) =
                federation::prepare_two_regions((&hub, &ns_a), (&client_b, &ns_b, &region_b)).await;
            let mut members = federation::two_members(&store, (&region_a, &ns_a), (&region_b, &ns_b));
            members[1]["overrides"] = json!({"instances": 1});
            let fed: DynamicObject = serde_json::from_value(json!({
                "apiVersion": "pgfed.io/v1", "kind": "Federation",
                "metadata": {"name": "shop"},
                "spec": {
                    "primary": "a",
                    "members": members,
                    "template": {
                        "instances": 2,
                        "storage": {"size": "1Gi"},
                        "postgresql": {"parameters": {"archive_timeout": "60s"}}
                    },
                    "replication": {"partialWalUploadInterval": "1s"}
                }
            }))
            .expect("federation");
            Api::<DynamicObject>::namespaced_with(hub.clone(), &ns_a, &pgfed_resource("Federation"))
                .create(&PostParams::default(), &fed)
                .await
                .expect("create Federation");
            federation::wait_status(&hub, &ns_a, "shop", "a primary, b replaying", Duration::from_secs(600), |s| {
                s["phase"] == "Healthy"
                    && s["members"].as_array().is_some_and(|m| {
                        m.iter().any(|m| m["name"] == "a" && m["role"] == "primary")
                            && m.iter().any(|m| m["name"] == "b" && m["role"] == "replica")
                    })
            })
            .await;
            cluster::wait_phase(&hub, &ns_a, "shop", cluster::HEALTHY, Duration::from_secs(300)).await;
            federation::copy_app_secret((&hub, &ns_a), &[(&hub, &ns_a), (&client_b, &ns_b)]).await;
            sql(&hub, &ns_a, "tables", "CREATE TABLE marks (label text); INSERT INTO marks VALUES ('before'); CREATE TABLE acks (i bigint PRIMARY KEY)").await;
            wait_answer(&client_b, &ns_b, "b to replay a's first row", "SELECT count(*) FROM marks WHERE label = 'before'", "1").await;
            let b_pods = cluster::pod_uids(&client_b, &ns_b, "shop").await;

            // A continuous write load in a; a's primary pod deleted under it.
            federation::start_writer(&hub, &ns_a, "writer", ("origin", "shop"), 0, 60, true).await;
            tokio::time::sleep(Duration::from_secs(8)).await;
            let before = cluster::status(&hub, &ns_a, "shop").await;
            let old = before["currentPrimary"].as_str().expect("a current primary").to_string();
            fault(&["delete-pod", &region_a, &format!("{ns_a}/{old}"), "--force"]);
            println!("deleted a's primary {old}");
            let after = cluster::wait_status(&hub, &ns_a, "shop", "a standby promoted in a", Duration::from_secs(300), |s| {
                s["currentPrimary"].as_str().is_some_and(|p| p != old)
            })
            .await;
            let new = after["currentPrimary"].as_str().unwrap_or_default().to_string();
            println!("{new} promoted in {region_a}");

            let acked = federation::acknowledged(&hub, &ns_a, "writer").await;
            println!("{} writes acknowledged through the local failover", acked.len());
            cluster::wait_phase(&hub, &ns_a, "shop", cluster::HEALTHY, Duration::from_secs(420)).await;
            sql(&hub, &ns_a, "after", "INSERT INTO marks VALUES ('after-local-failover')").await;
            let segment = sql(&hub, &ns_a, "timeline", "SELECT pg_walfile_name(pg_current_wal_lsn())").await;
            assert!(!segment.starts_with("00000001"), "a is still on its first timeline: {segment}");

            // b replays a's new timeline: the row written after the failover, and exactly a's rows.
            wait_answer(&client_b, &ns_b, "b to replay the row written after the local failover",
                "SELECT count(*) FROM marks WHERE label = 'after-local-failover'", "1").await;
            let on_a = sql(&hub, &ns_a, "count-a", "SELECT count(*) || ' ' || coalesce(max(i), 0) FROM acks").await;
            let on_b = sql(&client_b, &ns_b, "count-b", "SELECT count(*) || ' ' || coalesce(max(i), 0) FROM acks").await;
            println!("acks on a / b (count max): {on_a} / {on_b}");
            assert_eq!(on_b, on_a, "b holds other rows than a's new timeline");
            assert_eq!(sql(&client_b, &ns_b, "b-recovery", "SELECT pg_is_in_recovery()").await, "t");

            // Which repair b needed, if any: none (b's instances kept), or a re-seed it reports.
            let b_status = cluster::status(&client_b, &ns_b, "shop").await;
            match reseed_condition(&b_status) {
                Some(c) => {
                    println!("b went past the fork and was re-seeded: {}", c["message"]);
                    assert_eq!(c["status"], "True", "{c}");
                }
                None => {
                    println!("b was never ahead of the new primary: nothing to repair");
                    assert_eq!(cluster::pod_uids(&client_b, &ns_b, "shop").await, b_pods, "b was re-cloned without a reported reason");
                }
            }
            let kept = Api::<k8s_openapi::api::core::v1::PersistentVolumeClaim>::namespaced(client_b.clone(), &ns_b)
                .list(&ListParams::default().labels("pgfed.io/diverged-at"))
                .await
                .expect("claims")
                .items;
            println!("claims kept aside in b: {}", kept.len());
            let status = federation::wait_status(&hub, &ns_a, "shop", "one primary, a", Duration::from_secs(300), |s| {
                s["currentPrimary"] == "a"
                    && s["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["type"] == "PrimaryConsistent" && c["status"] == "True"))
            })
            .await;
            println!("federation: phase {}, max lag {} s", status["phase"], status["maxLagSeconds"]);
        })
        .await;
    })
    .await;
}
