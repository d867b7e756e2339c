//! `bench-federation`: the cross-region figures of a two-region Federation. Reported, never
//! asserted (the machine is shared); run through `tests/kind-multi/bench-federation`, which
//! appends them to `tests/kind-multi/results/bench-federation.md`.
//!
//! - Creation: from `kubectl apply` of the Federation to phase Healthy (the replica region
//!   bootstrapped from the primary's base backup and replaying).
//! - Steady-state lag of the replica region at a light and a heavy write load, sampled from the
//!   Federation's status (what the member operators record, so a few seconds coarse), against
//!   the WAL rate the primary wrote meanwhile.
//! - Planned switchovers a→b and back, each under a write load in both regions: end to end (the
//!   `spec.primary` edit to the federation Healthy again), the write outage a client sees (its
//!   last acknowledged write in the old primary region to the first in the new one),
//!   acknowledged transactions missing afterwards, and whether any pod or volume was replaced
//!   (a re-clone).
//! - Requests per minute the federation controller sends to each API server while the
//!   federation is idle (its own counter, `pgfed_federation_api_requests_total`), with automatic
//!   failover armed (the fencing lease read every 5 s).
//! - A regional failover: region a cut off (`fault cut-region`) under a write load in each region;
//!   the time to the failover recorded, the last write acknowledged in the cut region and the first
//!   in the promoted one, and the acknowledged writes lost against the recorded bound. The
//!   Federation's hub is region b for that reason.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::{Client, ResourceExt};
use pgfed_e2e::{cluster, federation, pgfed_resource, regions, with_temp_namespace};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Samples of the replica member's lag while a load runs; and the WAL bytes per second.
async fn lag_under_load(
    (hub, hub_ns): (&Client, &str),
    load_pod: Value,
    (client, ns): (&Client, &str),
    seconds: u64,
) -> (Vec<f64>, f64) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pod: Pod = serde_json::from_value(load_pod).expect("load pod");
    let name = pod.name_any();
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("create the load");
    // Let the load and the lag settle first.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let api = federation::api(hub, hub_ns);
    let position = |s: &Value| -> Option<u64> {
        let lsn = s["members"].as_array()?.iter().find(|m| m["name"] == "a")?["lsn"]
            .as_str()?
            .to_string();
        lsn.parse::<pgfed_api::lsn::Lsn>().ok().map(|l| l.0)
    };
    let mut samples = Vec::new();
    let started = Instant::now();
    let mut first: Option<(f64, u64)> = None;
    let mut last: Option<(f64, u64)> = None;
    while started.elapsed() < Duration::from_secs(seconds) {
        if let Ok(obj) = api.get("shop").await {
            let s = &obj.data["status"];
            if let Some(lag) = s["members"]
                .as_array()
                .and_then(|m| m.iter().find(|m| m["name"] == "b"))
                .and_then(|m| m["lagSeconds"].as_f64())
            {
                samples.push(lag);
            }
            if let Some(p) = position(s) {
                let t = started.elapsed().as_secs_f64();
                first.get_or_insert((t, p));
                last = Some((t, p));
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let _ = pods.delete(&name, &Default::default()).await;
    let rate = match (first, last) {
        (Some((t0, p0)), Some((t1, p1))) if t1 > t0 => (p1.saturating_sub(p0)) as f64 / (t1 - t0),
        _ => 0.0,
    };
    (samples, rate)
}

fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s[((s.len() - 1) as f64 * p).round() as usize]
}

/// A load pod in region a writing through `shop-rw`: `rows` rows per statement, as fast as it can
/// with `pause` between statements.
fn load(name: &str, rows: u32, pause: &str) -> Value {
    let script = format!(
        "while true; do psql -h shop-rw -qAtc \"INSERT INTO filler SELECT g, repeat('x', 200) FROM generate_series(1, {rows}) g\" >/dev/null 2>&1; sleep {pause}; done"
    );
    pgfed_e2e::psql_client_pod(name, "shop", &script)
}

/// The controller's request counters, by API server, from its metrics endpoint (through the hub
/// API server's pod proxy).
async fn api_requests(hub: &Client) -> Vec<(String, f64)> {
    let pods: Api<Pod> = Api::namespaced(hub.clone(), "pgfed-system");
    let mut out = Vec::new();
    let Ok(list) = pods
        .list(&ListParams::default().labels("app.kubernetes.io/name=pgfed-federation"))
        .await
    else {
        return out;
    };
    for p in list {
        let req = http_get(&format!(
            "/api/v1/namespaces/pgfed-system/pods/{}:8080/proxy/metrics",
            p.name_any()
        ));
        let Ok(text) = hub.request_text(req).await else {
            continue;
        };
        for line in text
            .lines()
            .filter(|l| l.starts_with("pgfed_federation_api_requests_total{"))
        {
            let server = line
                .split("server=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or_default();
            let value = line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            match out.iter_mut().find(|(s, _)| s == server) {
                Some((_, v)) => *v += value,
                None => out.push((server.to_string(), value)),
            }
        }
    }
    out
}

fn http_get(path: &str) -> http::Request<Vec<u8>> {
    http::Request::get(path).body(Vec::new()).expect("request")
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let all = regions();
    let (region_a, region_b) = (all[0].clone(), all[1].clone());
    // The hub is region b, so the federation survives the loss of region a at the end.
    let (hub_region, member_region) = (region_b.clone(), region_a.clone());
    with_temp_namespace(&hub_region, |hub, ns_b| async move {
        with_temp_namespace(&member_region, |client_a, ns_a| async move {
            let mut rows: Vec<(String, String)> = Vec::new();
            let store = federation::prepare_hub_in_b((&client_a, &ns_a, &region_a), (&hub, &ns_b)).await;
            let (lease_seconds, unreachable_seconds) = (10, 30);
            let fed: DynamicObject = serde_json::from_value(json!({
                "apiVersion": "pgfed.io/v1", "kind": "Federation",
                "metadata": {"name": "shop"},
                "spec": {
                    "primary": "a",
                    "members": federation::members_hub_in_b(&store, (&region_a, &ns_a), (&region_b, &ns_b)),
                    "template": {"instances": 2, "storage": {"size": "1Gi"}},
                    "failover": federation::automatic_failover(&store, &ns_b, lease_seconds, unreachable_seconds)
                }
            }))
            .expect("federation");
            let created = Instant::now();
            Api::<DynamicObject>::namespaced_with(hub.clone(), &ns_b, &pgfed_resource("Federation"))
                .create(&PostParams::default(), &fed)
                .await
                .expect("create the Federation");
            federation::wait_status(&hub, &ns_b, "shop", "Healthy, b replaying", Duration::from_secs(900), |s| {
                s["phase"] == "Healthy"
                    && s["members"].as_array().is_some_and(|m| m.iter().any(|m| m["name"] == "b" && m["role"] == "replica"))
            })
            .await;
            let took = created.elapsed().as_secs_f64();
            println!("federation created to Healthy: {took:.0} s");
            rows.push(("creation to Healthy (replica region bootstrapped from the base backup)".into(), format!("{took:.0} s")));

            // Both sides log in as the application owner of the system (b is a copy of a).
            federation::copy_app_secret((&client_a, &ns_a), &[(&client_a, &ns_a), (&hub, &ns_b)]).await;
            cluster::query_with_login(&client_a, &ns_a, "tables", "origin", "shop", "shop-rw",
                "CREATE TABLE acks (i bigint PRIMARY KEY); CREATE TABLE filler (i int, pad text)").await;

            for (label, pod, rows_per, pause) in [("light load (one 100-row insert a second)", "load-light", 100, "1"), ("heavy load (10 000-row inserts back to back)", "load-heavy", 10_000, "0")] {
                let (lags, rate) = lag_under_load((&hub, &ns_b), load(pod, rows_per, pause), (&client_a, &ns_a), 60).await;
                println!("{label}: lag p50 {:.1} s, p95 {:.1} s, max {:.1} s over {} samples; WAL {:.2} MB/s", percentile(&lags, 0.5), percentile(&lags, 0.95), percentile(&lags, 1.0), lags.len(), rate / 1e6);
                rows.push((format!("replica-region lag, {label}: p50 / p95 / max (WAL rate)"),
                    format!("{:.1} / {:.1} / {:.1} s ({:.2} MB/s)", percentile(&lags, 0.5), percentile(&lags, 0.95), percentile(&lags, 1.0), rate / 1e6)));
            }

            // Idle: no load, no switchover (the fencing lease is read every 5 s).
            tokio::time::sleep(Duration::from_secs(30)).await;
            let before = api_requests(&hub).await;
            let idle = Duration::from_secs(120);
            tokio::time::sleep(idle).await;
            let after = api_requests(&hub).await;
            for (server, n) in &after {
                let n0 = before.iter().find(|(s, _)| s == server).map(|(_, v)| *v).unwrap_or(0.0);
                let per_minute = (n - n0) * 60.0 / idle.as_secs_f64();
                println!("idle requests per minute to {server}: {per_minute:.1}");
                rows.push((format!("idle, automatic failover armed: requests per minute from the controller to API server {server}"), format!("{per_minute:.1}")));
            }

            let sides = [(client_a.clone(), ns_a.clone(), "a"), (hub.clone(), ns_b.clone(), "b")];
            let identities_before = [cluster::identities(&client_a, &ns_a, "shop").await, cluster::identities(&hub, &ns_b, "shop").await];
            let mut first_key = 0u64;
            for (from, to) in [(0usize, 1usize), (1, 0)] {
                let (old_client, old_ns, from_name) = &sides[from];
                let (new_client, new_ns, to_name) = &sides[to];
                federation::start_writer(old_client, old_ns, "writer-old", ("origin", "shop"), first_key, 300, true).await;
                federation::start_writer(new_client, new_ns, "writer-new", ("origin", "shop"), first_key + 1_000_000, 150, false).await;
                let (took, _) = federation::switch(&hub, &ns_b, "shop", to_name, |_| async {}).await;
                let old_acks = federation::acknowledged(old_client, old_ns, "writer-old").await;
                let new_acks = federation::acknowledged(new_client, new_ns, "writer-new").await;
                let last_old = old_acks.iter().map(|(_, t)| *t).fold(f64::NAN, f64::max);
                let first_new = new_acks.iter().map(|(_, t)| *t).fold(f64::NAN, f64::min);
                let list = old_acks.iter().map(|(i, _)| i.to_string()).collect::<Vec<_>>().join(",");
                let present = cluster::query_with_login(new_client, new_ns, "acks-check", "origin", "shop", "shop-rw",
                    &format!("SELECT count(*) FROM acks WHERE i IN ({list})")).await;
                let lost = old_acks.len().saturating_sub(present.parse().unwrap_or(0));
                println!("switchover {from_name} → {to_name}: {took:.1} s end to end, client write outage {:.1} s, {lost} of {} acknowledged writes lost", first_new - last_old, old_acks.len());
                rows.push((format!("switchover {from_name} → {to_name}: end to end"), format!("{took:.1} s")));
                rows.push((format!("switchover {from_name} → {to_name}: client write outage (last ack in {from_name} to first in {to_name})"), format!("{:.1} s", first_new - last_old)));
                rows.push((format!("switchover {from_name} → {to_name}: acknowledged writes lost"), format!("{lost} of {}", old_acks.len())));
                first_key += 10_000_000;
            }
            let identities_after = [cluster::identities(&client_a, &ns_a, "shop").await, cluster::identities(&hub, &ns_b, "shop").await];
            let recloned = identities_before != identities_after;
            rows.push(("pods or volumes replaced (a re-clone) over both switchovers".into(), if recloned { "yes".into() } else { "none (0 bytes re-cloned)".into() }));

            // Regional failover: region a (the primary again) cut off under a write load in each
            // region; region b is promoted once the fencing lease stopped changing.
            federation::start_writer(&client_a, &ns_a, "writer-old", ("origin", "shop"), first_key, 300, true).await;
            federation::start_writer(&hub, &ns_b, "writer-new", ("origin", "shop"), first_key + 1_000_000, 240, false).await;
            tokio::time::sleep(Duration::from_secs(10)).await;
            let cut_at = now_unix();
            let cut = federation::CutRegion::cut(&region_a);
            let status = federation::wait_status(&hub, &ns_b, "shop", "b promoted by the automatic failover", Duration::from_secs(600), |s| {
                s["currentPrimary"] == "b" && s["failover"].is_null() && s["lastFailover"]["to"] == "b"
            })
            .await;
            let seen = now_unix() - cut_at;
            let old_acks = federation::acknowledged(&client_a, &ns_a, "writer-old").await;
            let new_acks = federation::acknowledged(&hub, &ns_b, "writer-new").await;
            drop(cut);
            let last_old = old_acks.iter().map(|(_, t)| *t).fold(f64::NAN, f64::max);
            let first_new = new_acks.iter().map(|(_, t)| *t).fold(f64::NAN, f64::min);
            let list = old_acks.iter().map(|(i, _)| i.to_string()).collect::<Vec<_>>().join(",");
            let present: usize = cluster::query_with_login(&hub, &ns_b, "acks-after-failover", "origin", "shop", "shop-rw",
                &format!("SELECT count(*) FROM acks WHERE i IN ({list})")).await.parse().unwrap_or(0);
            let lost: Vec<f64> = old_acks.iter().skip(present).map(|(_, t)| *t).collect();
            let lost_span = match (lost.first(), lost.last()) {
                (Some(a), Some(b)) => b - a,
                _ => 0.0,
            };
            let record = &status["lastFailover"];
            println!("regional failover: recorded {seen:.1} s after the cut; writes acknowledged in a until {:.1} s after the cut, in b from {:.1} s; {} of {} lost over {lost_span:.1} s (bound {} s)",
                last_old - cut_at, first_new - cut_at, lost.len(), old_acks.len(), record["dataLossBoundSeconds"]);
            rows.push((format!("regional failover (lease {lease_seconds} s, unreachable timeout {unreachable_seconds} s): cut to the failover recorded"), format!("{seen:.1} s")));
            rows.push(("regional failover: last write acknowledged in the cut region / first in the promoted one, after the cut".into(), format!("{:.1} s / {:.1} s", last_old - cut_at, first_new - cut_at)));
            rows.push(("regional failover: acknowledged writes lost (their span) against the recorded bound".into(),
                format!("{} of {} ({lost_span:.1} s) against {} s", lost.len(), old_acks.len(), record["dataLossBoundSeconds"])));

            println!();
            println!("| figure | value |");
            println!("|---|---|");
            for (k, v) in rows {
                println!("| {k} | {v} |");
            }
        })
        .await;
    })
    .await;
}

fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}
