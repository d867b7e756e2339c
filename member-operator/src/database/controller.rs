//! The Database controller: a kube-runtime `Controller` over every Database object, woken also
//! when a Cluster appears, changes or goes away. It does what needs no instance manager: the
//! finalizer follows `databaseReclaimPolicy`, an object whose cluster does not exist says so in
//! its status, and a deleted object lets go of its finalizer at once when its cluster is gone (or
//! is a replica cluster, or the object keeps its database). Everything that depends on the
//! primary (applying, dropping, the status of a cluster's objects) is the Cluster controller's,
//! which watches Database objects too (see [`super`]).
//!
//! Objects are watched through `DeserializeGuard`, so one that does not match the schema fails
//! alone instead of wedging the watch.

use super::apply::{change_finalizer, write_status};
use super::decide::{self, ClusterState, FinalizerChange, Verdict};
use crate::cluster::controller::retry_after_failure;
use crate::metrics::Metrics;
use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::DeserializeGuard;
use kube::discovery::ApiResource;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use pgfed_api::cluster::{Cluster, ReplicaClusterConfiguration};
use pgfed_api::database::Database;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Name of this controller in metrics.
pub const CONTROLLER: &str = "database";

/// Why a reconcile of a Database object did not finish (it is retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum DatabaseReconcileError {
    /// The object is not a valid Database.
    #[error("the Database does not match the pgfed.io/v1 schema: {0}")]
    Malformed(String),
    /// A call to the API server failed.
    #[error("{action}: {source}")]
    Kube {
        /// What was being done.
        action: String,
        /// Cause.
        source: kube::Error,
    },
}

impl DatabaseReconcileError {
    /// A short, stable name for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::Kube { .. } => "kube",
        }
    }
}

fn kube_error(action: String) -> impl FnOnce(kube::Error) -> DatabaseReconcileError {
    move |source| DatabaseReconcileError::Kube { action, source }
}

/// Shared by every reconcile.
pub struct Context {
    /// API client.
    pub client: Client,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    failures: Mutex<HashMap<ObjectRef<DynamicObject>, u32>>,
}

impl Context {
    /// A context for `client`.
    pub fn new(client: Client, metrics: Arc<Metrics>) -> Self {
        Self {
            client,
            metrics,
            failures: Mutex::new(HashMap::new()),
        }
    }
}

fn cluster_resource() -> ApiResource {
    ApiResource::erase::<Cluster>(&())
}

/// Where the Cluster an object names stands. Read untyped: a Cluster that does not match the
/// schema still exists (its own controller reports it), and counts as a primary cluster.
pub fn cluster_state(cluster: Option<&DynamicObject>) -> ClusterState {
    let Some(cluster) = cluster.filter(|c| c.metadata.deletion_timestamp.is_none()) else {
        return ClusterState::Missing;
    };
    let replica = cluster
        .data
        .get("spec")
        .and_then(|s| s.get("replica"))
        .cloned()
        .and_then(|r| serde_json::from_value::<ReplicaClusterConfiguration>(r).ok());
    if replica.is_some_and(|r| r.is_replica(&cluster.name_any())) {
        ClusterState::Replica
    } else {
        ClusterState::Present
    }
}

async fn reconcile_database(
    db: &Database,
    ctx: &Context,
) -> Result<Action, DatabaseReconcileError> {
    let namespace = db.namespace().unwrap_or_default();
    let clusters: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &namespace, &cluster_resource());
    let cluster = clusters
        .get_opt(&db.spec.cluster.name)
        .await
        .map_err(kube_error(format!(
            "reading Cluster {namespace}/{}",
            db.spec.cluster.name
        )))?;
    let verdict = decide::verdict_alone(db, cluster_state(cluster.as_ref()));
    let name = db.name_any();
    // The primary's report is the Cluster controller's: without it, a deleted object that may
    // still drop its database keeps its finalizer.
    if let Some(change) = decide::finalizer_change(db, &verdict, None) {
        change_finalizer(&ctx.client, db, change)
            .await
            .map_err(kube_error(format!(
                "updating the finalizer of Database {namespace}/{name}"
            )))?;
        if change == FinalizerChange::Remove && db.metadata.deletion_timestamp.is_some() {
            return Ok(Action::await_change());
        }
    }
    if verdict == Verdict::ClusterMissing
        && let Some(status) = decide::desired_status(db, &verdict, None)
    {
        write_status(&ctx.client, db, &status)
            .await
            .map_err(kube_error(format!(
                "writing the status of Database {namespace}/{name}"
            )))?;
    }
    Ok(Action::await_change())
}

async fn reconcile(
    obj: Arc<DeserializeGuard<Database>>,
    ctx: Arc<Context>,
) -> Result<Action, DatabaseReconcileError> {
    let started = Instant::now();
    let result = match &obj.0 {
        Ok(db) => reconcile_database(db, &ctx).await,
        Err(invalid) => Err(DatabaseReconcileError::Malformed(invalid.to_string())),
    };
    ctx.metrics.reconciled(
        CONTROLLER,
        started.elapsed(),
        result.as_ref().err().map(DatabaseReconcileError::label),
    );
    let reference = ObjectRef::from_obj(obj.as_ref()).erase();
    match &result {
        Ok(_) => {
            if let Ok(mut f) = ctx.failures.lock() {
                f.remove(&reference);
            }
        }
        Err(e) => {
            tracing::warn!(database = %obj.name_any(), error = %e, cause = e.label(), "reconcile failed")
        }
    }
    result
}

fn error_policy(
    obj: Arc<DeserializeGuard<Database>>,
    _error: &DatabaseReconcileError,
    ctx: Arc<Context>,
) -> Action {
    let reference = ObjectRef::from_obj(obj.as_ref()).erase();
    retry_after_failure(&ctx.failures, reference)
}

/// The objects (of `store`) naming the Cluster `cluster` of `namespace`. Pure.
fn naming(
    store: &[Arc<DeserializeGuard<Database>>],
    namespace: Option<&str>,
    cluster: &str,
) -> Vec<ObjectRef<DeserializeGuard<Database>>> {
    store
        .iter()
        .filter(|d| d.namespace().as_deref() == namespace)
        .filter(|d| d.0.as_ref().is_ok_and(|db| db.spec.cluster.name == cluster))
        .map(|d| ObjectRef::from_obj(d.as_ref()))
        .collect()
}

/// Runs the Database controller until `shutdown` resolves; reconciles in flight finish first.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let databases: Api<DeserializeGuard<Database>> = Api::all(ctx.client.clone());
    let clusters: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &cluster_resource());
    let controller = Controller::new(databases, watcher::Config::default());
    let store = controller.store();
    controller
        // A Cluster created, changed or deleted: the objects naming it look again.
        .watches_with(
            clusters,
            cluster_resource(),
            watcher::Config::default(),
            move |cluster: DynamicObject| {
                naming(
                    &store.state(),
                    cluster.namespace().as_deref(),
                    &cluster.name_any(),
                )
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(name: &str, spec: serde_json::Value, deleting: bool) -> DynamicObject {
        let mut c: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "pgfed.io/v1", "kind": "Cluster",
            "metadata": {"name": name, "namespace": "ns"}, "spec": spec
        }))
        .expect("cluster");
        if deleting {
            c.metadata.deletion_timestamp =
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
                ));
        }
        c
    }

    #[test]
    fn the_cluster_counts_as_missing_replica_or_present() {
        let replica =
            serde_json::json!({"instances": 1, "replica": {"enabled": true, "source": "origin"}});
        let garbled = serde_json::json!({"instances": 1, "replica": "not an object"});
        let cases = [
            ("no cluster", None, ClusterState::Missing),
            (
                "being deleted",
                Some(cluster("pg", serde_json::json!({"instances": 1}), true)),
                ClusterState::Missing,
            ),
            (
                "a replica cluster",
                Some(cluster("pg", replica, false)),
                ClusterState::Replica,
            ),
            (
                "a replica section that does not parse: a primary cluster",
                Some(cluster("pg", garbled, false)),
                ClusterState::Present,
            ),
            (
                "an ordinary cluster",
                Some(cluster("pg", serde_json::json!({"instances": 1}), false)),
                ClusterState::Present,
            ),
        ];
        for (what, c, want) in cases {
            assert_eq!(cluster_state(c.as_ref()), want, "{what}");
        }
    }

    #[test]
    fn a_cluster_event_wakes_the_objects_naming_it_in_its_namespace() {
        let db = |ns: &str, name: &str, cluster: &str| {
            Arc::new(DeserializeGuard(Ok(serde_json::from_value::<Database>(
                serde_json::json!({
                    "apiVersion": "pgfed.io/v1", "kind": "Database",
                    "metadata": {"name": name, "namespace": ns},
                    "spec": {"cluster": {"name": cluster}, "name": "shop", "owner": "app"}
                }),
            )
            .expect("database"))))
        };
        let store = vec![
            db("a", "one", "pg"),
            db("b", "two", "pg"),
            db("a", "three", "other"),
            db("a", "four", "pg"),
        ];
        let names: Vec<String> = naming(&store, Some("a"), "pg")
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["one", "four"]);
    }
}
