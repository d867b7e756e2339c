//! Leader election through the real kube client against an in-memory API server that keeps one
//! Lease and its resourceVersion the way the real one does (409 on a create of an existing
//! object or a replace at an old version): the Lease calls map to the store's outcomes, and two
//! replicas elect one leader, which hands over on shutdown.

mod common;

use common::status;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use pgfed_operator::leader::decide::LeaseRecord;
use pgfed_operator::leader::store::{LeaseStore, StoreError};
use pgfed_operator::leader::{Ended, KubeLeases, LEASE_NAME, LeaderElector, Timings};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const NAMESPACE: &str = "pgfed-system";

#[derive(Clone, Default)]
struct FakeApi {
    /// The Lease, if created, and the last resourceVersion handed out.
    lease: Arc<Mutex<(Option<Value>, u64)>>,
}

impl FakeApi {
    fn client(&self) -> kube::Client {
        let leases = "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases";
        let router = Router::new()
            .route(leases, axum::routing::post(create))
            .route(&format!("{leases}/{{name}}"), get(read).put(replace))
            .with_state(self.clone());
        kube::Client::new(router, NAMESPACE)
    }

    fn stored(&self) -> Option<Value> {
        self.lease.lock().expect("lock").0.clone()
    }

    fn holder(&self) -> Option<String> {
        self.stored()
            .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_string))
    }

    fn store(&self, mut lease: Value) -> Value {
        let mut guard = self.lease.lock().expect("lock");
        guard.1 += 1;
        lease["metadata"]["resourceVersion"] = json!(guard.1.to_string());
        guard.0 = Some(lease.clone());
        lease
    }
}

async fn read(State(api): State<FakeApi>, Path((_ns, name)): Path<(String, String)>) -> Response {
    match api.stored() {
        Some(lease) if name == LEASE_NAME => Json(lease).into_response(),
        _ => status(StatusCode::NOT_FOUND, "NotFound"),
    }
}

async fn create(
    State(api): State<FakeApi>,
    Path(_ns): Path<String>,
    Json(lease): Json<Value>,
) -> Response {
    if api.stored().is_some() {
        return status(StatusCode::CONFLICT, "AlreadyExists");
    }
    (StatusCode::CREATED, Json(api.store(lease))).into_response()
}

async fn replace(
    State(api): State<FakeApi>,
    Path((_ns, _name)): Path<(String, String)>,
    Json(lease): Json<Value>,
) -> Response {
    let current = api.stored().and_then(|l| {
        l["metadata"]["resourceVersion"]
            .as_str()
            .map(str::to_string)
    });
    if current.is_none() {
        return status(StatusCode::NOT_FOUND, "NotFound");
    }
    if lease["metadata"]["resourceVersion"].as_str() != current.as_deref() {
        return status(StatusCode::CONFLICT, "Conflict");
    }
    Json(api.store(lease)).into_response()
}

fn record(holder: &str) -> LeaseRecord {
    pgfed_operator::leader::decide::claimed(None, holder, Utc::now(), chrono::Duration::seconds(15))
}

#[tokio::test]
async fn the_lease_calls_map_conflicts_and_versions() {
    let api = FakeApi::default();
    let leases = KubeLeases::new(api.client(), NAMESPACE, LEASE_NAME);
    assert_eq!(leases.get().await.expect("get"), None);

    let created = leases.create(&record("a")).await.expect("create");
    assert_eq!(created.record.holder.as_deref(), Some("a"));
    assert_eq!(created.record.duration, Some(chrono::Duration::seconds(15)));
    assert!(matches!(
        leases.create(&record("b")).await,
        Err(StoreError::Conflict)
    ));

    let renewed = leases
        .replace(&created.record, &created.version)
        .await
        .expect("replace at the version read");
    assert_ne!(renewed.version, created.version);
    assert!(matches!(
        leases.replace(&record("b"), &created.version).await,
        Err(StoreError::Conflict)
    ));
    let read = leases.get().await.expect("get").expect("lease");
    assert_eq!(read, renewed);
    let spec = &api.stored().expect("lease")["spec"];
    assert_eq!(spec["holderIdentity"], "a");
    assert_eq!(spec["leaseDurationSeconds"], 15);
    assert_eq!(spec["leaseTransitions"], 0);
}

fn fast() -> Timings {
    Timings {
        lease_duration: Duration::from_millis(1500),
        renew_period: Duration::from_millis(500),
        retry_period: Duration::from_millis(200),
        margin: Duration::from_millis(300),
    }
}

#[tokio::test]
async fn two_replicas_elect_one_leader_who_hands_over_on_shutdown() {
    let api = FakeApi::default();
    let shutdown = [CancellationToken::new(), CancellationToken::new()];
    let mut runs = Vec::new();
    let mut leading = Vec::new();
    for (name, token) in ["a", "b"].into_iter().zip(&shutdown) {
        let elector = LeaderElector::new(
            api.client(),
            NAMESPACE,
            LEASE_NAME,
            name.to_string(),
            fast(),
        );
        leading.push(elector.is_leader());
        runs.push(tokio::spawn(elector.run(
            token.clone(),
            |token| async move {
                token.cancelled().await;
            },
        )));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let leaders: Vec<bool> = leading.iter().map(|l| *l.borrow()).collect();
    assert_eq!(leaders.iter().filter(|l| **l).count(), 1, "{leaders:?}");
    let first = usize::from(leaders[1]);
    let second = 1 - first;
    assert_eq!(api.holder().as_deref(), Some(["a", "b"][first]));

    shutdown[first].cancel();
    let run = runs.remove(first);
    assert_eq!(run.await.expect("join").expect("run"), Ended::Shutdown);
    tokio::time::timeout(fast().retry_period * 3, leading[second].wait_for(|l| *l))
        .await
        .expect("the follower took over without waiting for expiry")
        .expect("elector alive");
    assert_eq!(api.holder().as_deref(), Some(["a", "b"][second]));
    assert_eq!(api.stored().expect("lease")["spec"]["leaseTransitions"], 1);
    shutdown[second].cancel();
    assert_eq!(
        runs.remove(0).await.expect("join").expect("run"),
        Ended::Shutdown
    );
}
