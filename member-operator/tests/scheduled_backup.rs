//! One ScheduledBackup turn through the real kube client against an in-memory API server that
//! keeps Backups by name (409 on a second create, as the real one) and records status patches:
//! a due slot creates exactly one Backup even when the turn is replayed with the status it had
//! before (the operator killed between the create and the status write); a turn with nothing to
//! do writes nothing; a missing cluster creates nothing and says so in the status.

mod common;

use common::status;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use pgfed_api::backup::ScheduledBackup;
use pgfed_operator::scheduled_backup::reconcile::reconcile;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct FakeApi {
    backups: Arc<Mutex<BTreeMap<String, Value>>>,
    status_patches: Arc<Mutex<Vec<Value>>>,
    cluster_exists: Arc<Mutex<bool>>,
}

impl FakeApi {
    fn client(&self) -> kube::Client {
        let base = "/apis/pgfed.io/v1/namespaces/{ns}";
        let router = Router::new()
            .route(&format!("{base}/clusters/{{name}}"), get(read_cluster))
            .route(&format!("{base}/backups"), post(create_backup))
            .route(&format!("{base}/backups/{{name}}"), get(read_backup))
            .route(
                &format!("{base}/scheduledbackups/{{name}}/status"),
                patch(patch_status),
            )
            .with_state(self.clone());
        kube::Client::new(router, "ns")
    }

    fn backup_names(&self) -> Vec<String> {
        self.backups.lock().expect("lock").keys().cloned().collect()
    }

    fn patches(&self) -> Vec<Value> {
        self.status_patches.lock().expect("lock").clone()
    }
}

async fn read_cluster(
    State(api): State<FakeApi>,
    Path((ns, name)): Path<(String, String)>,
) -> Response {
    if *api.cluster_exists.lock().expect("lock") {
        Json(json!({"apiVersion": "pgfed.io/v1", "kind": "Cluster",
            "metadata": {"name": name, "namespace": ns, "uid": "cluster-uid"},
            "spec": {"instances": 1}}))
        .into_response()
    } else {
        status(StatusCode::NOT_FOUND, "NotFound")
    }
}

async fn create_backup(
    State(api): State<FakeApi>,
    Path(_ns): Path<String>,
    Json(backup): Json<Value>,
) -> Response {
    let name = backup["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut backups = api.backups.lock().expect("lock");
    if backups.contains_key(&name) {
        return status(StatusCode::CONFLICT, "AlreadyExists");
    }
    backups.insert(name, backup.clone());
    (StatusCode::CREATED, Json(backup)).into_response()
}

async fn read_backup(
    State(api): State<FakeApi>,
    Path((_ns, name)): Path<(String, String)>,
) -> Response {
    match api.backups.lock().expect("lock").get(&name) {
        Some(b) => Json(b.clone()).into_response(),
        None => status(StatusCode::NOT_FOUND, "NotFound"),
    }
}

async fn patch_status(
    State(api): State<FakeApi>,
    Path((_ns, _name)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    api.status_patches.lock().expect("lock").push(body.clone());
    Json(
        json!({"apiVersion": "pgfed.io/v1", "kind": "ScheduledBackup",
        "metadata": {"name": "nightly", "namespace": "ns"},
        "spec": {"schedule": "0 0 0 * * *", "cluster": {"name": "pg"}},
        "status": body["status"]}),
    )
    .into_response()
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&Utc)
}

fn scheduled(status: Value) -> ScheduledBackup {
    serde_json::from_value(json!({
        "apiVersion": "pgfed.io/v1", "kind": "ScheduledBackup",
        "metadata": {"name": "nightly", "namespace": "ns", "uid": "sb-uid",
                     "creationTimestamp": "2026-11-01T12:00:00Z"},
        "spec": {"schedule": "0 0 0 * * *", "cluster": {"name": "pg"},
                 "backupOwnerReference": "cluster", "method": "barmanObjectStore"},
        "status": status
    }))
    .expect("scheduled backup")
}

#[tokio::test]
async fn a_slot_is_one_backup_even_when_the_status_write_was_lost() {
    let api = FakeApi::default();
    *api.cluster_exists.lock().expect("lock") = true;
    let client = api.client();
    let before = scheduled(json!({"lastCheckTime": "2026-11-27T10:00:00Z"}));

    // Down since the 27th: the 28th, 29th and 30th at midnight were missed; one catch-up.
    let now = at("2026-11-30T09:15:00Z");
    let outcome = reconcile(&client, &before, now).await.expect("turn");
    assert_eq!(
        outcome.created,
        Some(("nightly-20261130000000".to_string(), true))
    );
    assert_eq!(api.backup_names(), ["nightly-20261130000000"]);
    let backup = api.backups.lock().expect("lock")["nightly-20261130000000"].clone();
    assert_eq!(backup["spec"]["cluster"]["name"], "pg");
    assert_eq!(backup["spec"]["method"], "barmanObjectStore");
    assert_eq!(
        backup["metadata"]["labels"]["pgfed.io/scheduled-backup"],
        "nightly"
    );
    assert_eq!(
        backup["metadata"]["ownerReferences"][0]["uid"],
        "cluster-uid"
    );
    let patches = api.patches();
    assert_eq!(patches.len(), 1);
    assert_eq!(
        patches[0]["status"],
        json!({"lastCheckTime": "2026-11-30T09:15:00Z",
               "lastScheduleTime": "2026-11-30T09:15:00Z",
               "nextScheduleTime": "2026-12-01T00:00:00Z",
               "error": null})
    );

    // The same turn replayed with the old status, later: the Backup is found, not doubled.
    let replay = reconcile(&client, &before, at("2026-11-30T09:20:00Z"))
        .await
        .expect("replayed turn");
    assert_eq!(
        replay.created,
        Some(("nightly-20261130000000".to_string(), false))
    );
    assert_eq!(api.backup_names(), ["nightly-20261130000000"]);

    // With the status written, a wake before the next slot writes nothing.
    let after = scheduled(patches[0]["status"].clone());
    let idle = reconcile(&client, &after, at("2026-11-30T18:00:00Z"))
        .await
        .expect("idle turn");
    assert_eq!(idle.created, None);
    assert_eq!(api.patches().len(), 2, "only the replay wrote the status");
}

#[tokio::test]
async fn a_missing_cluster_creates_nothing_and_says_so() {
    let api = FakeApi::default();
    let client = api.client();
    let before = scheduled(json!({"lastCheckTime": "2026-11-29T10:00:00Z"}));
    let outcome = reconcile(&client, &before, at("2026-11-30T09:15:00Z"))
        .await
        .expect("turn");
    assert_eq!(outcome.created, None);
    assert!(api.backup_names().is_empty());
    let patches = api.patches();
    assert_eq!(patches.len(), 1);
    assert_eq!(
        patches[0]["status"]["error"],
        "spec.cluster: Cluster pg does not exist"
    );
    // The missed slot stays due: lastCheckTime did not move.
    assert_eq!(
        patches[0]["status"]["lastCheckTime"],
        "2026-11-29T10:00:00Z"
    );
}
