//! High availability on real Kubernetes, one fault at a time, each in its own namespace: the
//! primary's pod deleted, its postgres killed, its manager killed; a switchover with the plugin,
//! and one to a standby that is behind, which waits for it. Every row committed before the fault
//! is read back through `-rw` afterwards, and `-rw` accepts writes again. On failure the
//! namespace's pods, Events and logs are printed.

use kube::Client;
use pgfed_e2e::cluster::{self, HEALTHY};
use pgfed_e2e::{fault, with_temp_namespace};
use serde_json::{Value, json};
use std::time::Duration;

const REGION: &str = "region-a";

/// A three-instance cluster named `name`, with `extra` merged into its spec.
fn three(name: &str, extra: Value) -> Value {
    let mut c = cluster::minimal(name, 3);
    if let (Some(spec), Some(extra)) = (c["spec"].as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            spec.insert(k.clone(), v.clone());
        }
    }
    c
}

/// Inserts keys `from..=to` through `-rw` (one transaction: acknowledged or not at all).
async fn write(client: &Client, ns: &str, name: &str, step: &str, from: u32, to: u32) {
    cluster::query(
        client,
        ns,
        &format!("write-{step}"),
        name,
        &format!("{name}-rw"),
        &format!(
            "CREATE TABLE IF NOT EXISTS acked (k int PRIMARY KEY, pad text); INSERT INTO acked SELECT g, repeat('x', 100) FROM generate_series({from}, {to}) g"
        ),
    )
    .await;
}

/// The keys through `-rw`: count and sum.
async fn keys(client: &Client, ns: &str, name: &str, step: &str) -> String {
    cluster::query(
        client,
        ns,
        &format!("read-{step}"),
        name,
        &format!("{name}-rw"),
        "SELECT count(*) || ' ' || sum(k) FROM acked",
    )
    .await
}

fn expected(to: u64) -> String {
    format!("{to} {}", to * (to + 1) / 2)
}

fn current_primary(status: &Value) -> String {
    status["currentPrimary"]
        .as_str()
        .expect("a current primary")
        .to_string()
}

/// Waits for another primary than `old`, settled and healthy.
async fn new_primary(client: &Client, ns: &str, name: &str, old: &str) -> String {
    let status = cluster::wait_status(
        client,
        ns,
        name,
        &format!("a healthy cluster with another primary than {old}"),
        Duration::from_secs(300),
        |s| {
            s["phase"] == HEALTHY
                && s["currentPrimary"].as_str().is_some_and(|c| c != old)
                && s["currentPrimary"] == s["targetPrimary"]
        },
    )
    .await;
    current_primary(&status)
}

/// All three instances ready again and healthy.
async fn all_ready(client: &Client, ns: &str, name: &str) -> Value {
    cluster::wait_status(
        client,
        ns,
        name,
        "three ready instances",
        Duration::from_secs(300),
        |s| s["phase"] == HEALTHY && s["readyInstances"] == 3,
    )
    .await
}

/// Pauses or resumes (`action`) WAL replay on standby `instance`, as the superuser connecting to
/// its pod directly.
async fn replay(client: &Client, ns: &str, name: &str, instance: &str, action: &str) {
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(client.clone(), ns);
    let ip = pods
        .get(instance)
        .await
        .ok()
        .and_then(|p| p.status?.pod_ip)
        .expect("the standby's pod IP");
    let mut pod = pgfed_e2e::psql_client_pod(
        &format!("replay-{action}"),
        name,
        &format!(
            "PGSSLMODE=require psql -h {ip} -d postgres -qtAc 'SELECT pg_wal_replay_{action}()'"
        ),
    );
    let superuser =
        |key: &str| json!({"secretKeyRef": {"name": format!("{name}-superuser"), "key": key}});
    pod["spec"]["containers"][0]["env"][0]["valueFrom"] = superuser("username");
    pod["spec"]["containers"][0]["env"][1]["valueFrom"] = superuser("password");
    let (ok, log) = pgfed_e2e::run_pod(client, ns, pod, Duration::from_secs(120)).await;
    assert!(ok, "replay {action} on {instance}:\n{log}");
}

#[tokio::test]
async fn deleting_the_primary_pod_fails_over_and_the_old_primary_rejoins() {
    with_temp_namespace(REGION, |client, ns| async move {
        let name = "fo-delete";
        let status = cluster::create_healthy(&client, &ns, three(name, json!({}))).await;
        let old = current_primary(&status);
        write(&client, &ns, name, "before", 1, 1000).await;
        fault(&["delete-pod", REGION, &format!("{ns}/{old}")]);
        let new = new_primary(&client, &ns, name, &old).await;
        assert_eq!(keys(&client, &ns, name, "after").await, expected(1000));
        write(&client, &ns, name, "after", 1001, 2000).await;
        let status = all_ready(&client, &ns, name).await;
        assert_eq!(current_primary(&status), new);
        let reasons = cluster::event_reasons(&client, &ns).await;
        assert!(
            reasons
                .iter()
                .any(|(r, m)| r == "FailingOver" && m.contains(&new)),
            "a FailingOver Event naming {new}: {reasons:?}"
        );
        assert!(
            !status["currentPrimaryFailingSinceTimestamp"].is_string(),
            "the failure is cleared: {status}"
        );
        assert_eq!(keys(&client, &ns, name, "end").await, expected(2000));
    })
    .await;
}

#[tokio::test]
async fn killing_the_primarys_postgres_or_manager_loses_no_commit() {
    with_temp_namespace(REGION, |client, ns| async move {
        let name = "fo-kill";
        let status = cluster::create_healthy(&client, &ns, three(name, json!({}))).await;
        let primary = current_primary(&status);
        write(&client, &ns, name, "one", 1, 500).await;
        // The postmaster: the manager starts it again (crash recovery) or a standby takes over.
        fault(&[
            "kill-process",
            REGION,
            &format!("{ns}/{primary}"),
            "--container",
            "postgres",
            "--name",
            "postgres",
        ]);
        all_ready(&client, &ns, name).await;
        assert_eq!(keys(&client, &ns, name, "one").await, expected(500));
        write(&client, &ns, name, "two", 501, 1000).await;
        // The manager (the container's main process): the container restarts.
        let primary = current_primary(&cluster::status(&client, &ns, name).await);
        fault(&[
            "kill-process",
            REGION,
            &format!("{ns}/{primary}"),
            "--container",
            "postgres",
        ]);
        all_ready(&client, &ns, name).await;
        assert_eq!(keys(&client, &ns, name, "two").await, expected(1000));
        write(&client, &ns, name, "three", 1001, 1500).await;
        assert_eq!(keys(&client, &ns, name, "three").await, expected(1500));
    })
    .await;
}

#[tokio::test]
async fn a_switchover_with_the_plugin_waits_for_a_lagging_target() {
    with_temp_namespace(REGION, |client, ns| async move {
        let name = "so";
        let status = cluster::create_healthy(
            &client,
            &ns,
            three(name, json!({"enableSuperuserAccess": true})),
        )
        .await;
        let old = current_primary(&status);
        let serial = |i: &str| i.rsplit('-').next().unwrap_or_default().to_string();
        let target = ["1", "2", "3"]
            .iter()
            .map(|s| format!("{name}-{s}"))
            .find(|i| *i != old)
            .expect("a standby");

        // Refused: not an instance; the primary itself.
        let refused = kubectl_pgfed::promote::promote(client.clone(), &ns, name, "9").await;
        assert!(refused.is_err(), "{refused:?}");
        let refused = kubectl_pgfed::promote::promote(client.clone(), &ns, name, &old).await;
        assert!(
            matches!(refused, Err(ref e) if e.to_string().contains("already the primary")),
            "{refused:?}"
        );

        // A lagging target: its replay paused, then 40 MB of WAL.
        replay(&client, &ns, name, &target, "pause").await;
        write(&client, &ns, name, "lag", 1, 300_000).await;
        kubectl_pgfed::promote::promote(client.clone(), &ns, name, &serial(&target))
            .await
            .expect("switchover requested");
        let waiting = cluster::wait_status(
            &client,
            &ns,
            name,
            "a switchover waiting for its target",
            Duration::from_secs(60),
            |s| {
                s["phase"] == "Switchover in progress"
                    && s["phaseReason"]
                        .as_str()
                        .is_some_and(|r| r.contains("catch up"))
            },
        )
        .await;
        assert_eq!(
            current_primary(&waiting),
            old,
            "the old primary keeps serving meanwhile"
        );
        write(&client, &ns, name, "while", 300_001, 300_100).await;

        // Replay resumes: the switchover completes, nothing lost, and the old primary follows.
        replay(&client, &ns, name, &target, "resume").await;
        let new = new_primary(&client, &ns, name, &old).await;
        assert_eq!(new, target);
        assert_eq!(keys(&client, &ns, name, "after").await, expected(300_100));
        write(&client, &ns, name, "new", 300_101, 300_200).await;
        let status = all_ready(&client, &ns, name).await;
        assert_eq!(current_primary(&status), target);
        let reasons = cluster::event_reasons(&client, &ns).await;
        assert!(
            reasons.iter().any(|(r, _)| r == "SwitchingOver"),
            "a SwitchingOver Event: {reasons:?}"
        );
    })
    .await;
}
