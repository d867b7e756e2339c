//! A local failover inside the primary region while a replica region follows it through the
//! object store. Member `a` (two instances, the hub's region) writes under a continuous load and
//! uploads its segment in progress every second; member `b` replays those copies. In both tests
//! a's standby stops receiving first (the primary's walsender is frozen), so `b` replays WAL that
//! a's standby never got, as a replica region can when streaming lags (CloudNativePG's issue
//! 8701); then a's primary pod is deleted and the standby is promoted.
//!
//! - The standby reaches the object store: before it forks its timeline it replays the primary's
//!   in-progress copy, everything b can have replayed. b follows the new timeline with the same
//!   pods, is never reported diverged, and holds exactly a's rows.
//! - The standby has also lost its route to the object store, so it forks behind b's
//!   position. b's designated primary reports it, is replaced by an instance seeded from a's base
//!   backup with its claims kept aside (`pgfed.io/reseedDiverged`), and b then holds exactly a's
//!   rows; the Federation says so in b's `Diverged` condition. The writes a's old primary
//!   acknowledged after its standby stopped receiving are lost in a, as with any asynchronous
//!   standby; b, re-seeded, holds exactly what a kept.
//!
//! Each test signals and deletes pods and cuts a pod's route to the object store in its own
//! namespaces only, so the file runs beside others.

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use pgfed_e2e::{
    cluster, fault, federation, pgfed_resource, regions, wait_until, with_temp_namespace,
};
use serde_json::{Value, json};
use std::time::Duration;

/// An LSN (`X/Y`, hex) as a number.
fn lsn(text: &str) -> u64 {
    let (hi, lo) = text
        .trim()
        .split_once('/')
        .unwrap_or_else(|| panic!("not an LSN: {text:?}"));
    let part =
        |p: &str| u64::from_str_radix(p, 16).unwrap_or_else(|_| panic!("not an LSN: {text:?}"));
    (part(hi) << 32) | part(lo)
}

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

/// The Federation is healthy with `a` the one primary and every replica member in sync.
fn whole_with_a_primary(s: &Value) -> bool {
    let holds = |type_: &str| {
        s["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == type_ && c["status"] == "True")
        })
    };
    s["currentPrimary"] == "a"
        && s["phase"] == "Healthy"
        && holds("PrimaryConsistent")
        && holds("ReplicasInSync")
}

fn reseed_condition(status: &Value) -> Option<Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "pgfed.io/reseedDiverged")
        .cloned()
}

/// A federation `shop` with `a` (two instances, region a, the hub) primary and `b` (one
/// instance) replaying it, table `marks` with one row and an empty `acks` replayed in b. Returns
/// b's pods.
async fn running_federation(
    (hub, ns_a, region_a): (&Client, &str, &str),
    (client_b, ns_b, region_b): (&Client, &str, &str),
) -> std::collections::BTreeMap<String, String> {
    let (store, _) = federation::prepare_two_regions((hub, ns_a), (client_b, ns_b, region_b)).await;
    let mut members = federation::two_members(&store, (region_a, ns_a), (region_b, ns_b));
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
                // A primary whose walsender is frozen never finishes a smart or fast shutdown:
                // the manager goes on to an immediate one sooner.
                "smartShutdownTimeout": 5,
                "postgresql": {"parameters": {"archive_timeout": "60s"}}
            },
            "replication": {"partialWalUploadInterval": "1s"}
        }
    }))
    .expect("federation");
    Api::<DynamicObject>::namespaced_with(hub.clone(), ns_a, &pgfed_resource("Federation"))
        .create(&PostParams::default(), &fed)
        .await
        .expect("create Federation");
    federation::wait_status(
        hub,
        ns_a,
        "shop",
        "a primary, b replaying",
        Duration::from_secs(600),
        |s| {
            s["phase"] == "Healthy"
                && s["members"].as_array().is_some_and(|m| {
                    m.iter().any(|m| m["name"] == "a" && m["role"] == "primary")
                        && m.iter().any(|m| m["name"] == "b" && m["role"] == "replica")
                })
        },
    )
    .await;
    cluster::wait_phase(
        hub,
        ns_a,
        "shop",
        cluster::HEALTHY,
        Duration::from_secs(300),
    )
    .await;
    federation::copy_app_secret((hub, ns_a), &[(hub, ns_a), (client_b, ns_b)]).await;
    sql(hub, ns_a, "tables", "CREATE TABLE marks (label text); INSERT INTO marks VALUES ('before'); CREATE TABLE acks (i bigint PRIMARY KEY)").await;
    wait_answer(
        client_b,
        ns_b,
        "b to replay a's first row",
        "SELECT count(*) FROM marks WHERE label = 'before'",
        "1",
    )
    .await;
    cluster::pod_uids(client_b, ns_b, "shop").await
}

/// Deletes a's primary pod (gracefully) and waits for a standby of a to be promoted, a to be
/// healthy and a row written after it; returns how many writes the writer saw acknowledged.
async fn fail_over_in_a(hub: &Client, ns_a: &str, region_a: &str, old: &str) -> usize {
    fault(&["delete-pod", region_a, &format!("{ns_a}/{old}")]);
    println!("deleted a's primary {old}");
    let after = cluster::wait_status(
        hub,
        ns_a,
        "shop",
        "a standby promoted in a",
        Duration::from_secs(300),
        |s| s["currentPrimary"].as_str().is_some_and(|p| p != old),
    )
    .await;
    println!(
        "{} promoted in {region_a}",
        after["currentPrimary"].as_str().unwrap_or_default()
    );
    let acked = federation::acknowledged(hub, ns_a, "writer").await;
    println!(
        "{} writes acknowledged through the local failover",
        acked.len()
    );
    cluster::wait_phase(
        hub,
        ns_a,
        "shop",
        cluster::HEALTHY,
        Duration::from_secs(420),
    )
    .await;
    sql(
        hub,
        ns_a,
        "after",
        "INSERT INTO marks VALUES ('after-local-failover')",
    )
    .await;
    let segment = sql(
        hub,
        ns_a,
        "timeline",
        "SELECT pg_walfile_name(pg_current_wal_lsn())",
    )
    .await;
    assert!(
        !segment.starts_with("00000001"),
        "a is still on its first timeline: {segment}"
    );
    acked.len()
}

/// b replays a's new timeline: the row written after the failover, and exactly a's rows, as a
/// replica.
async fn b_holds_what_a_holds(hub: &Client, ns_a: &str, client_b: &Client, ns_b: &str) {
    wait_answer(
        client_b,
        ns_b,
        "b to replay the row written after the local failover",
        "SELECT count(*) FROM marks WHERE label = 'after-local-failover'",
        "1",
    )
    .await;
    let on_a = sql(
        hub,
        ns_a,
        "count-a",
        "SELECT count(*) || ' ' || coalesce(max(i), 0) FROM acks",
    )
    .await;
    let on_b = sql(
        client_b,
        ns_b,
        "count-b",
        "SELECT count(*) || ' ' || coalesce(max(i), 0) FROM acks",
    )
    .await;
    println!("acks on a / b (count max): {on_a} / {on_b}");
    assert_eq!(on_b, on_a, "b holds other rows than a's new timeline");
    assert_eq!(
        sql(client_b, ns_b, "b-recovery", "SELECT pg_is_in_recovery()").await,
        "t"
    );
}

async fn kept_claims(client_b: &Client, ns_b: &str) -> Vec<PersistentVolumeClaim> {
    Api::<PersistentVolumeClaim>::namespaced(client_b.clone(), ns_b)
        .list(&ListParams::default().labels("pgfed.io/diverged-at"))
        .await
        .expect("claims")
        .items
}

/// Freezes the walsender of a's primary `old`, so a's standby stops receiving while the primary
/// goes on writing and uploading its segment in progress, and waits until b replayed past what
/// the standby received.
async fn standby_left_behind_b(
    (hub, ns_a, region_a): (&Client, &str, &str),
    (client_b, ns_b): (&Client, &str),
    old: &str,
) {
    fault(&[
        "kill-process",
        region_a,
        &format!("{ns_a}/{old}"),
        "--signal",
        "STOP",
        "--match",
        "walsender",
    ]);
    let mut attempt = 0u32;
    let (standby_at, b_at) = wait_until(
        "b to replay past what a's standby received",
        Duration::from_secs(180),
        Duration::from_secs(3),
        || {
            attempt += 1;
            let (hub, ns_a, client_b, ns_b) = (
                hub.clone(),
                ns_a.to_string(),
                client_b.clone(),
                ns_b.to_string(),
            );
            async move {
                let standby = cluster::try_query_with_login(
                    &hub,
                    &ns_a,
                    &format!("recv-{attempt}"),
                    "origin",
                    "shop",
                    "shop-ro",
                    "SELECT pg_last_wal_receive_lsn()",
                )
                .await?;
                let b = cluster::try_query_with_login(
                    &client_b,
                    &ns_b,
                    &format!("replay-{attempt}"),
                    "origin",
                    "shop",
                    "shop-rw",
                    "SELECT pg_last_wal_replay_lsn()",
                )
                .await?;
                if lsn(&b) > lsn(&standby) {
                    Ok((standby, b))
                } else {
                    Err(format!("a's standby received {standby}, b replayed {b}"))
                }
            }
        },
    )
    .await;
    println!("a's standby received up to {standby_at}; b replayed up to {b_at}");
}

/// a's current primary and its one standby.
async fn primary_and_standby(hub: &Client, ns_a: &str) -> (String, String) {
    let primary = cluster::status(hub, ns_a, "shop").await["currentPrimary"]
        .as_str()
        .expect("a current primary")
        .to_string();
    let standby = cluster::instance_pods(hub, ns_a, "shop")
        .await
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .find(|name| *name != primary)
        .expect("a standby in a");
    (primary, standby)
}

#[tokio::test]
async fn a_standby_promoted_in_the_primary_region_first_replays_what_the_replica_region_replayed() {
    let all = regions();
    let (region_a, region_b) = (all[0].clone(), all[1].clone());
    let member_region = region_b.clone();
    with_temp_namespace(&region_a.clone(), |hub, ns_a| async move {
        with_temp_namespace(&member_region, |client_b, ns_b| async move {
            let b_pods =
                running_federation((&hub, &ns_a, &region_a), (&client_b, &ns_b, &region_b)).await;
            federation::start_writer(&hub, &ns_a, "writer", ("origin", "shop"), 0, 90, true).await;
            let old = cluster::status(&hub, &ns_a, "shop").await["currentPrimary"]
                .as_str()
                .expect("a current primary")
                .to_string();
            standby_left_behind_b((&hub, &ns_a, &region_a), (&client_b, &ns_b), &old).await;
            fail_over_in_a(&hub, &ns_a, &region_a, &old).await;
            b_holds_what_a_holds(&hub, &ns_a, &client_b, &ns_b).await;
            // Nothing to repair: b kept its pods and was never reported diverged.
            let b_status = cluster::status(&client_b, &ns_b, "shop").await;
            assert!(
                reseed_condition(&b_status).is_none(),
                "b was re-seeded: {b_status}"
            );
            assert_eq!(
                cluster::pod_uids(&client_b, &ns_b, "shop").await,
                b_pods,
                "b's pods were replaced"
            );
            assert!(kept_claims(&client_b, &ns_b).await.is_empty());
            let status = federation::wait_status(
                &hub,
                &ns_a,
                "shop",
                "one primary, a, b in sync",
                Duration::from_secs(300),
                whole_with_a_primary,
            )
            .await;
            println!(
                "federation: phase {}, max lag {} s",
                status["phase"], status["maxLagSeconds"]
            );
        })
        .await;
    })
    .await;
}

#[tokio::test]
async fn a_replica_region_left_ahead_by_a_local_failover_is_reseeded_and_says_why() {
    let all = regions();
    let (region_a, region_b) = (all[0].clone(), all[1].clone());
    let member_region = region_b.clone();
    with_temp_namespace(&region_a.clone(), |hub, ns_a| async move {
        with_temp_namespace(&member_region, |client_b, ns_b| async move {
            running_federation((&hub, &ns_a, &region_a), (&client_b, &ns_b, &region_b)).await;
            federation::start_writer(&hub, &ns_a, "writer", ("origin", "shop"), 0, 90, true).await;
            let (old, standby) = primary_and_standby(&hub, &ns_a).await;
            let standby = format!("{ns_a}/{standby}");

            // a's standby can neither receive nor read the object store; b goes on replaying
            // the uploaded segment in progress.
            fault(&["cut-store-pod", &region_a, &standby]);
            standby_left_behind_b((&hub, &ns_a, &region_a), (&client_b, &ns_b), &old).await;
            fail_over_in_a(&hub, &ns_a, &region_a, &old).await;
            fault(&["heal-store-pod", &region_a, &standby]);

            // b went past the fork: reported, re-seeded from a's base backup, its claims kept.
            let b_status = cluster::wait_status(
                &client_b,
                &ns_b,
                "shop",
                "b re-seeded",
                Duration::from_secs(600),
                |s| reseed_condition(s).is_some_and(|c| c["status"] == "True"),
            )
            .await;
            let told = reseed_condition(&b_status).unwrap_or_default();
            println!("b: {}", told["message"]);
            assert_eq!(told["reason"], "ReseededDiverged", "{told}");
            b_holds_what_a_holds(&hub, &ns_a, &client_b, &ns_b).await;
            let kept = kept_claims(&client_b, &ns_b).await;
            assert!(!kept.is_empty(), "b's diverged claims were not kept");
            for claim in &kept {
                assert!(
                    claim
                        .metadata
                        .owner_references
                        .as_ref()
                        .is_none_or(Vec::is_empty),
                    "{claim:?}"
                );
            }
            println!(
                "claims kept aside in b: {}",
                kept.iter()
                    .map(|c| c.metadata.name.clone().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(", ")
            );

            // The Federation tells it too, and is whole again.
            let status = federation::wait_status(
                &hub,
                &ns_a,
                "shop",
                "b reported re-seeded, a the one primary",
                Duration::from_secs(300),
                |s| {
                    whole_with_a_primary(s)
                        && s["members"].as_array().is_some_and(|m| {
                            m.iter().any(|m| {
                                m["name"] == "b"
                                    && m["conditions"].as_array().is_some_and(|c| {
                                        c.iter().any(|c| {
                                            c["type"] == "Diverged"
                                                && c["status"] == "False"
                                                && c["reason"] == "ReseededDiverged"
                                        })
                                    })
                            })
                        })
                },
            )
            .await;
            println!(
                "federation: phase {}, max lag {} s",
                status["phase"], status["maxLagSeconds"]
            );
        })
        .await;
    })
    .await;
}
