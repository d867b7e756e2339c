//! Automatic regional failover with the primary region cut off (`tests/kind-multi/fault
//! cut-region`). The Federation lives in region b (the hub, whose federation controller must
//! survive the loss of region a), its primary member `a` in region a, its replica member `b` in
//! the hub, and the fencing lease in the object store. Region a is cut off from region b and from
//! the object store under a continuous write load in region a:
//! - a's primary cannot renew the lease and stops accepting writes within `leaseDuration`;
//! - once the lease has not changed for `primaryUnreachableTimeout`, the controller takes it over
//!   for `b` at the next epoch, `b` promotes, and the failover is recorded in
//!   `status.lastFailover` with its data-loss bound, `spec.primary` set to `b`;
//! - no write was acknowledged in region a after `b` became writable, and `b` accepts writes.
//!
//! Then region a is healed: its primary stays fenced (the lease is `b`'s), it is told to follow `b`
//! and never accepts a write again; the federation reports exactly one primary. The controller
//! asks `b` for the first base backup of its new timeline; a's former primary, whose history went
//! past b's fork, is replaced by an instance seeded from that backup (its claims kept, with the
//! writes the failover lost), and region a replays b's history.
//!
//! Before that, the hub itself is lost: region b is cut off for 40 s while region a writes. Region
//! a goes on acknowledging writes (its lease is in the object store, not in the hub), nobody fails
//! over, and region b, back, replays every write acknowledged meanwhile.
//!
//! It cuts whole regions, so it runs alone (`destructive_*`).

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use pgfed_e2e::{
    backups, cluster, federation, pgfed_resource, regions, wait_until, with_temp_namespace,
};
use serde_json::{Value, json};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

fn member<'a>(status: &'a Value, name: &str) -> Option<&'a Value> {
    status["members"]
        .as_array()?
        .iter()
        .find(|m| m["name"] == name)
}

fn condition<'a>(status: &'a Value, type_: &str) -> Option<&'a Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

async fn sql(client: &Client, ns: &str, pod: &str, query: &str) -> String {
    cluster::query_with_login(client, ns, pod, "origin", "shop", "shop-rw", query).await
}

/// One INSERT through `shop-rw` of `ns`, giving up on the connection after 5 s: whether it ran,
/// and what psql printed.
async fn try_write(client: &Client, ns: &str, pod: &str) -> (bool, String) {
    let script = "PGCONNECT_TIMEOUT=5 psql -h shop-rw -qtAc \"INSERT INTO marks VALUES ('in-a-after') RETURNING 'written'\" 2>&1";
    let mut manifest = pgfed_e2e::psql_client_pod(pod, "origin", script);
    manifest["spec"]["volumes"][0]["secret"]["secretName"] = json!("shop-ca");
    pgfed_e2e::run_pod(client, ns, manifest, Duration::from_secs(90)).await
}

#[tokio::test]
async fn a_cut_off_primary_region_is_fenced_and_a_replica_region_promoted_with_its_loss_bound() {
    let all = regions();
    let (region_a, region_b) = (all[0].clone(), all[1].clone());
    let (hub_region, lost_region) = (region_b.clone(), region_a.clone());
    with_temp_namespace(&hub_region, |hub, ns_b| async move {
        with_temp_namespace(&lost_region, |client_a, ns_a| async move {
            let store = federation::prepare_hub_in_b((&client_a, &ns_a, &region_a), (&hub, &ns_b)).await;

            let lease_duration = 10;
            let unreachable_timeout = 30;
            let fed: DynamicObject = serde_json::from_value(json!({
                "apiVersion": "pgfed.io/v1", "kind": "Federation",
                "metadata": {"name": "shop"},
                "spec": {
                    "primary": "a",
                    "members": federation::members_hub_in_b(&store, (&region_a, &ns_a), (&region_b, &ns_b)),
                    "template": {
                        "instances": 1,
                        "storage": {"size": "1Gi"},
                        "postgresql": {"parameters": {"archive_timeout": "10s"}}
                    },
                    "failover": federation::automatic_failover(&store, &ns_b, lease_duration, unreachable_timeout)
                }
            }))
            .expect("federation");
            let created = Instant::now();
            Api::<DynamicObject>::namespaced_with(hub.clone(), &ns_b, &pgfed_resource("Federation"))
                .create(&PostParams::default(), &fed)
                .await
                .expect("create Federation");
            let status = federation::wait_status(&hub, &ns_b, "shop", "a primary, b replaying, automatic failover armed",
                Duration::from_secs(600), |s| {
                    s["phase"] == "Healthy"
                        && member(s, "a").is_some_and(|m| m["role"] == "primary")
                        && member(s, "b").is_some_and(|m| m["role"] == "replica")
                        && condition(s, "AutomaticFailover").is_some_and(|c| c["status"] == "True")
                }).await;
            println!("federation healthy and armed in {:.0} s: {}", created.elapsed().as_secs_f64(),
                condition(&status, "AutomaticFailover").map(|c| c["message"].to_string()).unwrap_or_default());

            // The same application credentials on both sides (b is a copy of a's system).
            federation::copy_app_secret((&client_a, &ns_a), &[(&client_a, &ns_a), (&hub, &ns_b)]).await;
            sql(&client_a, &ns_a, "tables", "CREATE TABLE marks (label text); INSERT INTO marks VALUES ('before'); CREATE TABLE acks (i bigint PRIMARY KEY)").await;
            let mut attempt = 0u32;
            wait_until("b to replay a's first row", Duration::from_secs(300), Duration::from_secs(5), || {
                attempt += 1;
                let (hub, ns_b) = (hub.clone(), ns_b.clone());
                async move {
                    // The table itself may not have been replayed yet.
                    if sql(&hub, &ns_b, &format!("table-{attempt}"), "SELECT to_regclass('marks') IS NOT NULL").await != "t" {
                        return Err("no table marks yet".to_string());
                    }
                    let n = sql(&hub, &ns_b, &format!("marks-{attempt}"), "SELECT count(*) FROM marks WHERE label = 'before'").await;
                    if n == "1" { Ok(()) } else { Err(format!("{n} rows")) }
                }
            }).await;

            // The hub lost: region b, the hub and a replica region, cut off under a write load in
            // region a. The hub is not in the data path: a renews its lease in the object store
            // and keeps acknowledging writes, and nobody fails over (the controller cannot read
            // the lease). Back, b replays every write acknowledged meanwhile.
            federation::start_writer(&client_a, &ns_a, "hub-lost-writer", ("origin", "shop"), 1_000_000, 50, true).await;
            let hub_cut_at = now_unix();
            let hub_cut = federation::CutRegion::cut(&region_b);
            println!("cut {region_b}, the hub, off at {hub_cut_at:.1}");
            tokio::time::sleep(Duration::from_secs(40)).await;
            drop(hub_cut);
            let healed_hub = now_unix();
            let during = federation::acknowledged(&client_a, &ns_a, "hub-lost-writer").await;
            let times: Vec<f64> = during.iter().map(|(_, t)| *t).collect();
            let in_cut = times.iter().filter(|t| **t > hub_cut_at && **t < healed_hub).count();
            let longest_gap = times.windows(2).map(|w| w[1] - w[0]).fold(0.0_f64, f64::max);
            println!("{} writes acknowledged in {region_a} while the hub was cut off ({} in all), the longest gap {longest_gap:.1} s", in_cut, during.len());
            assert!(in_cut > 0, "region a acknowledged no write while the hub was cut off");
            assert!(longest_gap < lease_duration as f64, "region a stopped acknowledging writes for {longest_gap:.1} s while the hub was cut off");
            assert_eq!(sql(&client_a, &ns_a, "a-still-primary", "SELECT pg_is_in_recovery()").await, "f");
            let last = during.iter().map(|(i, _)| *i).max().unwrap_or_default();
            let want = during.len().to_string();
            let mut attempt = 0u32;
            wait_until("b, back, to replay what a acknowledged while it was cut off", Duration::from_secs(300), Duration::from_secs(5), || {
                attempt += 1;
                let (hub, ns_b, want) = (hub.clone(), ns_b.clone(), want.clone());
                async move {
                    let got = cluster::try_query_with_login(&hub, &ns_b, &format!("hub-back-{attempt}"), "origin", "shop", "shop-rw",
                        &format!("SELECT count(*) FROM acks WHERE i > 1000000 AND i <= {last}"))
                        .await
                        .map_err(|log| format!("b unreachable: {}", log.trim()))?;
                    if got == want { Ok(()) } else { Err(format!("{got} of {want} rows")) }
                }
            }).await;
            let whole = federation::wait_status(&hub, &ns_b, "shop", "the federation whole again, a primary, no failover",
                Duration::from_secs(300), |s| {
                    s["phase"] == "Healthy"
                        && s["currentPrimary"] == "a"
                        && s["lastFailover"].is_null()
                        && condition(s, "AutomaticFailover").is_some_and(|c| c["status"] == "True")
                }).await;
            println!("hub back: b caught up and the federation is whole {:.0} s after healing ({})", now_unix() - healed_hub,
                condition(&whole, "AutomaticFailover").map(|c| c["message"].to_string()).unwrap_or_default());

            // A continuous write load in region a, then region a cut off.
            federation::start_writer(&client_a, &ns_a, "writer", ("origin", "shop"), 0, 600, true).await;
            tokio::time::sleep(Duration::from_secs(10)).await;
            let cut_at = now_unix();
            let cut = federation::CutRegion::cut(&region_a);
            println!("cut {region_a} off at {cut_at:.1}");

            let failed_over = federation::wait_status(&hub, &ns_b, "shop", "b promoted by the automatic failover",
                Duration::from_secs(300), |s| {
                    s["currentPrimary"] == "b"
                        && s["failover"].is_null()
                        && s["lastFailover"]["to"] == "b"
                        && member(s, "b").is_some_and(|m| m["role"] == "primary")
                }).await;
            let promoted_seen = now_unix();
            let record = &failed_over["lastFailover"];
            println!("failover recorded {:.1} s after the cut (seen): {record}", promoted_seen - cut_at);
            assert_eq!(record["from"], "a", "{record}");
            assert!(record["epoch"].as_i64().is_some_and(|e| e >= 2), "the lease passed to a new epoch: {record}");
            assert!(record["dataLossBoundBytes"].is_i64(), "the data-loss bound is recorded: {record}");
            let fed_now = federation::api(&hub, &ns_b).get("shop").await.expect("federation");
            assert_eq!(fed_now.data["spec"]["primary"], "b", "spec.primary follows the failover");

            // b accepts writes.
            sql(&hub, &ns_b, "after-failover", "INSERT INTO marks VALUES ('in-b')").await;
            assert_eq!(sql(&hub, &ns_b, "b-writable", "SELECT pg_is_in_recovery()").await, "f");

            // Region a's writer got nothing acknowledged after b became writable: a fenced itself
            // within the lease duration, long before the controller took its lease over.
            let acked = federation::acknowledged(&client_a, &ns_a, "writer").await;
            let last_ack = acked.iter().map(|(_, t)| *t).fold(0.0_f64, f64::max);
            println!("{} writes acknowledged in {region_a}, the last {:.1} s after the cut", acked.len(), last_ack - cut_at);
            let promoted_at = chrono::DateTime::parse_from_rfc3339(record["at"].as_str().unwrap_or_default())
                .map(|t| t.timestamp() as f64)
                .expect("lastFailover.at");
            assert!(last_ack < promoted_at, "a write was acknowledged in {region_a} at {last_ack:.1}, after b was promoted at {promoted_at:.0}");
            assert!(!acked.is_empty(), "the writer got nothing acknowledged before the cut");
            // What b has of them: everything up to the data-loss bound.
            let list = acked.iter().map(|(i, _)| i.to_string()).collect::<Vec<_>>().join(",");
            let present: usize = sql(&hub, &ns_b, "acks-on-b", &format!("SELECT count(*) FROM acks WHERE i IN ({list})"))
                .await
                .parse()
                .unwrap_or_default();
            println!("{present} of {} acknowledged writes on b; recorded bound {} bytes, {} s",
                acked.len(), record["dataLossBoundBytes"], record["dataLossBoundSeconds"]);
            // The writes b lacks were acknowledged within the recorded window of lost commits
            // (acknowledged a moment after they committed: one second of slack).
            let lost: Vec<f64> = acked.iter().skip(present).map(|(_, t)| *t).collect();
            if let (Some(first), Some(last)) = (lost.first(), lost.last()) {
                println!("{} writes lost, acknowledged from {:.1} s before the cut to {:.1} s after it", lost.len(), cut_at - first, last - cut_at);
                let bound = record["dataLossBoundSeconds"].as_f64().expect("dataLossBoundSeconds");
                assert!(last - first <= bound + 1.0, "lost writes span {:.1} s, past the recorded bound of {bound} s", last - first);
            }

            // Region a returns: its primary stays fenced (the lease is b's) and it is told to
            // follow b; nothing in region a accepts writes, the federation has one primary.
            drop(cut);
            let healed = now_unix();
            let returned = federation::wait_status(&hub, &ns_b, "shop", "a reachable again, b the only primary",
                Duration::from_secs(300), |s| {
                    member(s, "a").is_some_and(|m| m["reachable"] == true && m["role"] != "primary")
                        && condition(s, "PrimaryConsistent").is_some_and(|c| c["status"] == "True")
                        && s["currentPrimary"] == "b"
                }).await;
            println!("{region_a} back {:.0} s after healing: {}", now_unix() - healed, member(&returned, "a").cloned().unwrap_or_default());
            let cluster_a = Api::<DynamicObject>::namespaced_with(client_a.clone(), &ns_a, &pgfed_resource("Cluster"))
                .get("shop")
                .await
                .expect("a's Cluster");
            assert_eq!(cluster_a.data["spec"]["replica"]["primary"], "b", "a is told to follow b");
            let (_, answer) = try_write(&client_a, &ns_a, "a-refuses").await;
            println!("a write attempted in {region_a}: {}", answer.trim());
            assert!(!answer.contains("written"), "region a accepted a write after the failover: {answer}");

            // The controller asked b for the first base backup of its new timeline.
            let asked = federation::wait_status(&hub, &ns_b, "shop", "the failover's base backup asked of b",
                Duration::from_secs(300), |s| s["lastFailover"]["baseBackup"].is_string()).await;
            let backup = asked["lastFailover"]["baseBackup"].as_str().unwrap_or_default().to_string();
            let done = backups::wait_backup(&hub, &ns_b, &backup, "completed").await;
            println!("b's base backup {backup} completed: {}", done["backupId"]);

            // a's former primary went past b's fork: it is replaced by an instance seeded from
            // b's base backup, its claims kept with the writes the failover lost, and a replays
            // b's history from there.
            let mut attempt = 0u32;
            let reseeded = wait_until("a re-seeded from b", Duration::from_secs(600), Duration::from_secs(5), || {
                attempt += 1;
                let (client_a, ns_a) = (client_a.clone(), ns_a.clone());
                async move {
                    let st = cluster::status(&client_a, &ns_a, "shop").await;
                    let reseed = condition(&st, "pgfed.io/reseedDiverged").cloned().unwrap_or_default();
                    if reseed["status"] != "True" {
                        return Err(format!("reseed condition {reseed}"));
                    }
                    let rows = cluster::try_query_with_login(&client_a, &ns_a, &format!("in-b-on-a-{attempt}"),
                        "origin", "shop", "shop-rw", "SELECT count(*) FROM marks WHERE label = 'in-b'")
                        .await
                        .map_err(|log| format!("a unreachable: {}", log.trim()))?;
                    if rows == "1" { Ok(reseed) } else { Err(format!("{rows} rows of b's on a")) }
                }
            }).await;
            println!("{region_a} re-seeded {:.0} s after healing: {}", now_unix() - healed, reseeded["message"]);
            let kept = Api::<PersistentVolumeClaim>::namespaced(client_a.clone(), &ns_a)
                .list(&ListParams::default().labels("pgfed.io/diverged-at"))
                .await
                .expect("claims")
                .items;
            assert!(!kept.is_empty(), "the diverged instance's claims are kept");
            for claim in &kept {
                assert!(claim.metadata.owner_references.as_ref().is_none_or(|o| o.is_empty()),
                    "a kept claim is owned (it would be deleted with the Cluster): {:?}", claim.metadata.name);
            }
            // a now holds b's history: exactly the acknowledged writes b has.
            let on_a: usize = sql(&client_a, &ns_a, "acks-on-a", &format!("SELECT count(*) FROM acks WHERE i IN ({list})"))
                .await
                .parse()
                .unwrap_or_default();
            assert_eq!(on_a, present, "a replays b's history, not its own");
            assert_eq!(sql(&client_a, &ns_a, "a-in-recovery", "SELECT pg_is_in_recovery()").await, "t");
        })
        .await;
    })
    .await;
}
