//! The Cluster controller: a kube-runtime `Controller` over every Cluster, triggered by changes
//! of the Cluster, of what it owns (pods, claims, Services, Secrets, ConfigMaps,
//! PodDisruptionBudgets; watched as metadata only, selected by the Cluster label), of what it
//! names (image catalogs, the ObjectStores of its Barman Cloud plugin entries) and of the
//! Database objects that name it. A reconcile works
//! on the effective Cluster (`plugin_stores`): plugin-backed stores filled in as in-tree ones.
//!
//! The Clusters are watched as untyped objects and turned into `Cluster` in the reconcile: one
//! object that does not match the schema (written while the webhook was bypassed, or by an older
//! CRD) then fails alone, with "Invalid cluster definition" in its status, instead of failing the
//! whole watch and wedging every other Cluster.
//!
//! Errors are typed ([`ReconcileError`]): a definition the user must fix waits for a change (and
//! re-checks slowly, for a referenced Secret that appears later); anything else is retried with
//! exponential backoff and jitter. Events are published on transitions only: a phase change, an
//! instance created/removed/replaced, a new error.

use super::error::ReconcileError;
use super::reconcile::{Settings, report_blocked};
use crate::metrics::Metrics;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Pod, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::discovery::ApiResource;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use pgfed_api::cluster::Cluster;
use pgfed_api::cluster::phase as phases;
use pgfed_api::defaults::default_cluster;
use pgfed_api::image_catalog::{ClusterImageCatalog, ImageCatalog};
use pgfed_api::names::LABEL_CLUSTER;
use pgfed_api::object_store::ObjectStore;
use pgfed_api::validation::validate_cluster;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Name of this controller in metrics and Events.
pub const CONTROLLER: &str = "cluster";
/// Requeue while the primary changes hands: each turn may be the one that promotes.
const PRIMARY_CHANGING_REQUEUE: Duration = Duration::from_secs(1);
/// Requeue while a cluster converges (pods starting, clones running).
const CONVERGING_REQUEUE: Duration = Duration::from_secs(5);
/// Requeue of a healthy cluster: certificate renewal, drift checks, and the managers' reports
/// read again, so that what the status shows of each instance (its timeline after a promotion,
/// whether it streams) is at most this old when no pod event came. The status is written only
/// when it changed, so an idle cluster still costs no API writes.
const IDLE_REQUEUE: Duration = Duration::from_secs(30);
/// Re-check of a definition the user must fix (a referenced Secret may appear).
const BLOCKED_REQUEUE: Duration = Duration::from_secs(20);
/// Retry after a status write refused because the status it was computed from was stale (the
/// cache had not seen this controller's previous write yet): the next turn reads the new one, and
/// during a failover a full backoff here would add seconds to the outage.
const STALE_STATUS_REQUEUE: Duration = Duration::from_millis(300);
/// How many stale-status refusals in a row get the short retry before the usual backoff (a
/// status the API server refuses for another reason must not be retried in a tight loop).
const STALE_STATUS_RETRIES: u32 = 3;
/// First retry after a transient error; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
/// Longest retry delay.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Shared by every reconcile.
pub struct Context {
    /// API client.
    pub client: Client,
    /// What reconciles need besides the Cluster.
    pub settings: Settings,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Event recorder.
    pub recorder: Recorder,
    /// Consecutive failures per Cluster, for the backoff.
    failures: Mutex<HashMap<ObjectRef<DynamicObject>, u32>>,
    /// Last phase per Cluster, for the clusters-by-phase gauge.
    phases: Mutex<HashMap<ObjectRef<DynamicObject>, String>>,
}

impl Context {
    /// A context for `client`.
    pub fn new(
        client: Client,
        settings: Settings,
        metrics: Arc<Metrics>,
        reporter: Reporter,
    ) -> Self {
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            settings,
            metrics,
            failures: Mutex::new(HashMap::new()),
            phases: Mutex::new(HashMap::new()),
        }
    }

    fn record_phase(&self, obj: ObjectRef<DynamicObject>, phase: Option<String>) {
        let Ok(mut phases) = self.phases.lock() else {
            return;
        };
        match phase {
            Some(p) => phases.insert(obj, p),
            None => phases.remove(&obj),
        };
        let mut counts: HashMap<String, i64> = HashMap::new();
        for p in phases.values() {
            *counts.entry(p.clone()).or_default() += 1;
        }
        self.metrics.set_cluster_phases(&counts);
    }
}

/// Retry delay after `failures` consecutive transient failures, with ±20 % jitter so that many
/// Clusters failing together (the API server restarting) do not retry in step. Pure but for the
/// jitter source, which is passed in (0.0..1.0).
pub fn backoff(failures: u32, jitter: f64) -> Duration {
    let exp = FIRST_BACKOFF.saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(16)));
    let base = exp.min(MAX_BACKOFF);
    base.mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0))
}

fn jitter() -> f64 {
    let mut b = [0u8; 2];
    if getrandom::fill(&mut b).is_err() {
        return 0.5;
    }
    f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX)
}

/// The Cluster in `obj`, with the webhook's defaults applied and its rules checked: a Cluster
/// written while admission was bypassed gets the same treatment as one that went through it.
pub fn admit(obj: &DynamicObject) -> Result<Cluster, ReconcileError> {
    let value = serde_json::to_value(obj).map_err(|e| ReconcileError::Malformed(e.to_string()))?;
    let mut cluster: Cluster =
        serde_json::from_value(value).map_err(|e| ReconcileError::Malformed(e.to_string()))?;
    default_cluster(&mut cluster.spec);
    let errors = validate_cluster(&cluster.name_any(), &cluster.spec);
    if !errors.0.is_empty() {
        let text: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
        return Err(ReconcileError::Invalid(text.join("; ")));
    }
    Ok(cluster)
}

/// The Event `action`: kube's recorder folds Events with the same type, reason and action into
/// one series (keeping the first note), so the action carries what happened — "creating
/// instance pg-2" and "creating instance pg-3" stay two Events, the same error repeated becomes
/// one series. Kubernetes allows 128 bytes.
pub fn event_action(note: &str) -> String {
    let mut end = note.len().min(128);
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    note[..end].to_string()
}

/// Publishes an Event about `reference` (its action from [`event_action`]); a failure to publish
/// is logged, never fatal to a reconcile. Shared by the controllers.
pub async fn publish_event(
    recorder: &Recorder,
    reference: &k8s_openapi::api::core::v1::ObjectReference,
    type_: EventType,
    reason: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.to_string(),
        action: event_action(&note),
        note: Some(note),
        secondary: None,
    };
    if let Err(e) = recorder.publish(&event, reference).await {
        tracing::warn!(error = %e, reason, "publishing an Event failed");
    }
}

async fn publish(ctx: &Context, obj: &DynamicObject, type_: EventType, reason: &str, note: String) {
    let reference = obj.object_ref(&cluster_resource());
    publish_event(&ctx.recorder, &reference, type_, reason, note).await;
}

fn cluster_resource() -> ApiResource {
    ApiResource::erase::<Cluster>(&())
}

/// Marks a Cluster that does not even parse as invalid, through the untyped API.
async fn report_malformed(
    ctx: &Context,
    obj: &DynamicObject,
    error: &ReconcileError,
) -> Result<(), ReconcileError> {
    let api: Api<DynamicObject> = Api::namespaced_with(
        ctx.client.clone(),
        &obj.namespace().unwrap_or_default(),
        &cluster_resource(),
    );
    let patch = serde_json::json!({
        "status": { "phase": phases::INVALID_DEFINITION, "phaseReason": error.to_string() }
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map_err(ReconcileError::kube("reporting a malformed Cluster"))?;
    Ok(())
}

async fn reconcile(obj: Arc<DynamicObject>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let started = Instant::now();
    let reference = ObjectRef::from_obj_with(obj.as_ref(), cluster_resource());
    if obj.meta().deletion_timestamp.is_some() {
        // The garbage collector removes what the Cluster owns; nothing else is ours to delete.
        ctx.record_phase(reference, None);
        return Ok(Action::await_change());
    }
    let result = reconcile_admitted(&obj, &ctx).await;
    let label = result.as_ref().err().map(ReconcileError::label);
    ctx.metrics.reconciled(CONTROLLER, started.elapsed(), label);
    match &result {
        Ok(_) => {
            if let Ok(mut f) = ctx.failures.lock() {
                f.remove(&reference);
            }
        }
        Err(e) => {
            tracing::warn!(cluster = %reference, error = %e, cause = e.label(), "reconcile failed");
        }
    }
    result
}

async fn reconcile_admitted(obj: &DynamicObject, ctx: &Context) -> Result<Action, ReconcileError> {
    let reference = ObjectRef::from_obj_with(obj, cluster_resource());
    let previous_reason = obj
        .data
        .get("status")
        .and_then(|s| s.get("phaseReason"))
        .and_then(|r| r.as_str())
        .map(str::to_string);
    let cluster = match admit(obj) {
        Ok(c) => c,
        Err(e) => {
            if previous_reason.as_deref() != Some(&e.to_string()) {
                publish(
                    ctx,
                    obj,
                    EventType::Warning,
                    "InvalidClusterDefinition",
                    e.to_string(),
                )
                .await;
            }
            match &e {
                ReconcileError::Malformed(_) => report_malformed(ctx, obj, &e).await?,
                _ => {
                    if let Ok(c) =
                        serde_json::to_value(obj).and_then(serde_json::from_value::<Cluster>)
                    {
                        report_blocked(&ctx.client, &c, &e).await?;
                    }
                }
            }
            ctx.record_phase(reference, Some(phases::INVALID_DEFINITION.to_string()));
            return Ok(Action::await_change());
        }
    };
    // Everything downstream works on the effective spec: plugin-backed stores filled in as
    // in-tree ones. A missing ObjectStore blocks the Cluster like a missing Secret: the status
    // names the field, nothing is created or removed, and the reconcile looks again.
    let result = match super::plugin_stores::effective_cluster(&ctx.client, &cluster).await {
        Ok(effective) => super::reconcile::reconcile(&ctx.client, &effective, &ctx.settings)
            .await
            .map_err(|e| as_written(&cluster, e)),
        Err(e) => Err(plugin_store_error(e)),
    };
    match result {
        Ok(outcome) => {
            if outcome.previous_phase.as_deref() != Some(outcome.phase) {
                publish(
                    ctx,
                    obj,
                    EventType::Normal,
                    "PhaseChanged",
                    format!("phase: {}", outcome.phase),
                )
                .await;
            }
            for (reason, note) in &outcome.actions {
                publish(ctx, obj, EventType::Normal, reason, note.clone()).await;
            }
            for (reason, note) in &outcome.warnings {
                publish(ctx, obj, EventType::Warning, reason, note.clone()).await;
            }
            ctx.record_phase(reference, Some(outcome.phase.to_string()));
            Ok(Action::requeue(if outcome.primary_changing {
                PRIMARY_CHANGING_REQUEUE
            } else if outcome.converging {
                CONVERGING_REQUEUE
            } else {
                IDLE_REQUEUE
            }))
        }
        Err(e) if e.needs_user_action() => {
            if previous_reason.as_deref() != Some(&e.to_string()) {
                publish(ctx, obj, EventType::Warning, reason_for(&e), e.to_string()).await;
            }
            report_blocked(&ctx.client, &cluster, &e).await?;
            ctx.record_phase(
                reference,
                Some(phases::UNABLE_TO_CREATE_OBJECTS.to_string()),
            );
            Ok(Action::requeue(BLOCKED_REQUEUE))
        }
        Err(e) => Err(e),
    }
}

/// A failure to make the effective Cluster, as a reconcile error: a missing ObjectStore is a
/// missing reference the user must fix; a failed read is retried.
fn plugin_store_error(e: super::plugin_stores::PluginStoreError) -> ReconcileError {
    use super::plugin_stores::PluginStoreError;
    match e {
        PluginStoreError::Missing(missing) => ReconcileError::MissingReference {
            kind: "ObjectStore",
            name: missing.name,
            field: missing.field,
        },
        PluginStoreError::Read { name, source, .. } => ReconcileError::Kube {
            action: format!("reading ObjectStore {name}"),
            source,
        },
    }
}

/// `e` with the field it names as the user wrote it: a reference found in a plugin-backed store
/// of the effective spec is named in its ObjectStore (see `pgfed_api::plugins::written_field`).
fn as_written(cluster: &Cluster, e: ReconcileError) -> ReconcileError {
    let written = |field: String| {
        pgfed_api::plugins::written_field(&cluster.name_any(), &cluster.spec, &field)
    };
    match e {
        ReconcileError::MissingReference { kind, name, field } => {
            ReconcileError::MissingReference {
                kind,
                name,
                field: written(field),
            }
        }
        ReconcileError::MissingKey {
            kind,
            name,
            key,
            field,
        } => ReconcileError::MissingKey {
            kind,
            name,
            key,
            field: written(field),
        },
        other => other,
    }
}

fn reason_for(e: &ReconcileError) -> &'static str {
    match e {
        ReconcileError::MissingReference { .. } | ReconcileError::MissingKey { .. } => {
            "MissingReference"
        }
        ReconcileError::Certificates(_) => "CertificatesUnusable",
        _ => "ReconcileFailed",
    }
}

fn error_policy(obj: Arc<DynamicObject>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    let reference = ObjectRef::from_obj_with(obj.as_ref(), cluster_resource());
    let count = count_failure(&ctx.failures, reference);
    if error.is_stale_status() && count <= STALE_STATUS_RETRIES {
        return Action::requeue(STALE_STATUS_REQUEUE);
    }
    Action::requeue(backoff(count, jitter()))
}

/// Counts one more consecutive failure of `reference` in `failures` (a success removes the
/// entry) and returns the count.
fn count_failure(
    failures: &Mutex<HashMap<ObjectRef<DynamicObject>, u32>>,
    reference: ObjectRef<DynamicObject>,
) -> u32 {
    match failures.lock() {
        Ok(mut f) => {
            let n = f.entry(reference).or_insert(0);
            *n = n.saturating_add(1);
            *n
        }
        Err(_) => 1,
    }
}

/// Counts one more consecutive failure of `reference` in `failures` and returns the retry with
/// the backoff for that count (a success removes the entry). Shared by the controllers.
pub fn retry_after_failure(
    failures: &Mutex<HashMap<ObjectRef<DynamicObject>, u32>>,
    reference: ObjectRef<DynamicObject>,
) -> Action {
    Action::requeue(backoff(count_failure(failures, reference), jitter()))
}

/// Runs the Cluster controller until `shutdown` resolves; reconciles in flight finish first.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let ar = cluster_resource();
    let clusters: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let children = || watcher::Config::default().labels(LABEL_CLUSTER);
    let lapsed = super::lease_watch::lapsed_clusters(client.clone(), ar.clone());
    let controller = Controller::new_with(clusters, watcher::Config::default(), ar.clone())
        // A primary Lease that lapsed: reconcile its Cluster now (failover).
        .reconcile_on(lapsed);
    let (store, resource) = (controller.store(), ar.clone());
    let namespaced_catalogs = move |catalog: ImageCatalog| {
        clusters_using(
            &store.state(),
            &resource,
            "ImageCatalog",
            catalog.namespace().as_deref(),
            &catalog.name_any(),
        )
    };
    let (store, resource) = (controller.store(), ar.clone());
    let cluster_catalogs = move |catalog: ClusterImageCatalog| {
        clusters_using(
            &store.state(),
            &resource,
            "ClusterImageCatalog",
            None,
            &catalog.name_any(),
        )
    };
    let (store, resource) = (controller.store(), ar);
    // Through `DeserializeGuard`: one ObjectStore that does not match the schema must not stop
    // the watch; its name still says which Clusters to wake (they then report the problem).
    let object_stores = move |object_store: DeserializeGuard<ObjectStore>| {
        clusters_naming_store(
            &store.state(),
            &resource,
            object_store.namespace().as_deref(),
            &object_store.name_any(),
        )
    };
    controller
        // A catalog changed: the Clusters that take their image from it roll to the new one.
        .watches(
            Api::<ImageCatalog>::all(client.clone()),
            watcher::Config::default(),
            namespaced_catalogs,
        )
        .watches(
            Api::<ClusterImageCatalog>::all(client.clone()),
            watcher::Config::default(),
            cluster_catalogs,
        )
        // A Database object changed (or appeared, or is being deleted): its Cluster hands it to
        // the primary's manager and writes its status. Watched untyped, so that an object that
        // does not match the schema still wakes its Cluster rather than failing the watch.
        .watches_with(
            Api::<DynamicObject>::all_with(client.clone(), &database_resource()),
            database_resource(),
            watcher::Config::default(),
            move |db: DynamicObject| cluster_of_database(&db),
        )
        // An ObjectStore changed (or appeared): the Clusters whose plugin entries name it get
        // the new configuration (or stop waiting for it).
        .watches(
            Api::<DeserializeGuard<ObjectStore>>::all(client.clone()),
            watcher::Config::default(),
            object_stores,
        )
        .owns(Api::<Pod>::all(client.clone()), children())
        .owns(
            Api::<PersistentVolumeClaim>::all(client.clone()),
            children(),
        )
        .owns(Api::<Service>::all(client.clone()), children())
        .owns(Api::<Secret>::all(client.clone()), children())
        .owns(Api::<ConfigMap>::all(client.clone()), children())
        .owns(Api::<PodDisruptionBudget>::all(client.clone()), children())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

fn database_resource() -> ApiResource {
    ApiResource::erase::<pgfed_api::database::Database>(&())
}

/// The Cluster a Database object names (`spec.cluster.name`, in its namespace). Pure.
fn cluster_of_database(db: &DynamicObject) -> Option<ObjectRef<DynamicObject>> {
    let name = db.data["spec"]["cluster"]["name"].as_str()?;
    let namespace = db.namespace()?;
    Some(ObjectRef::new_with(name, cluster_resource()).within(&namespace))
}

/// The Clusters (of `namespace`, or of every namespace for a ClusterImageCatalog) whose
/// `spec.imageCatalogRef` names the catalog `kind`/`name`. Pure.
fn clusters_using(
    clusters: &[Arc<DynamicObject>],
    resource: &ApiResource,
    kind: &str,
    namespace: Option<&str>,
    name: &str,
) -> Vec<ObjectRef<DynamicObject>> {
    clusters
        .iter()
        .filter(|c| namespace.is_none() || c.namespace().as_deref() == namespace)
        .filter(|c| {
            let reference = &c.data["spec"]["imageCatalogRef"];
            reference["kind"] == kind && reference["name"] == name
        })
        .map(|c| ObjectRef::from_obj_with(c.as_ref(), resource.clone()))
        .collect()
}

/// The Clusters of `namespace` whose Barman Cloud plugin entries (`spec.plugins[]`,
/// `spec.externalClusters[].plugin`) name the ObjectStore `name` in `parameters.barmanObjectName`.
/// Read from the stored objects as they are, so a Cluster that does not parse is still woken (it
/// then reports why). Pure.
fn clusters_naming_store(
    clusters: &[Arc<DynamicObject>],
    resource: &ApiResource,
    namespace: Option<&str>,
    name: &str,
) -> Vec<ObjectRef<DynamicObject>> {
    let names = |plugin: &serde_json::Value| {
        plugin["parameters"][pgfed_api::plugins::BARMAN_OBJECT_NAME].as_str() == Some(name)
    };
    let entries = |spec: &serde_json::Value, field: &str| -> Vec<serde_json::Value> {
        spec[field].as_array().cloned().unwrap_or_default()
    };
    clusters
        .iter()
        .filter(|c| c.namespace().as_deref() == namespace)
        .filter(|c| {
            let spec = &c.data["spec"];
            entries(spec, "plugins").iter().any(names)
                || entries(spec, "externalClusters")
                    .iter()
                    .any(|e| names(&e["plugin"]))
        })
        .map(|c| ObjectRef::from_obj_with(c.as_ref(), resource.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_object_store_wakes_the_clusters_that_name_it() {
        let cluster = |ns: &str, name: &str, spec: serde_json::Value| {
            Arc::new(dynamic(serde_json::json!({
                "apiVersion": "pgfed.io/v1", "kind": "Cluster",
                "metadata": {"name": name, "namespace": ns}, "spec": spec
            })))
        };
        let plugin = |store: &str| {
            serde_json::json!({"name": pgfed_api::plugins::BARMAN_CLOUD,
                               "parameters": {"barmanObjectName": store}})
        };
        let all = vec![
            cluster(
                "a",
                "archives",
                serde_json::json!({"plugins": [plugin("s3")]}),
            ),
            cluster(
                "a",
                "recovers",
                serde_json::json!({"externalClusters": [
                {"name": "o", "connectionParameters": {"host": "h"}},
                {"name": "p", "plugin": plugin("s3")}]}),
            ),
            cluster(
                "b",
                "elsewhere",
                serde_json::json!({"plugins": [plugin("s3")]}),
            ),
            cluster(
                "a",
                "other-store",
                serde_json::json!({"plugins": [plugin("gcs")]}),
            ),
            cluster(
                "a",
                "in-tree",
                serde_json::json!({"backup": {"barmanObjectStore": {"destinationPath": "s3://x/"}}}),
            ),
        ];
        let names: Vec<String> = clusters_naming_store(&all, &cluster_resource(), Some("a"), "s3")
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["archives", "recovers"]);
    }

    #[test]
    fn a_missing_secret_of_a_plugin_store_is_named_in_its_object_store() {
        let cluster = Cluster::new(
            "pg",
            serde_json::from_value(serde_json::json!({"instances": 1, "plugins": [
                {"name": pgfed_api::plugins::BARMAN_CLOUD,
                 "parameters": {"barmanObjectName": "archive"}}]}))
            .expect("spec"),
        );
        let e = as_written(
            &cluster,
            ReconcileError::MissingReference {
                kind: "Secret",
                name: "archive-creds".into(),
                field: "spec.backup.barmanObjectStore.s3Credentials.accessKeyId".into(),
            },
        );
        assert_eq!(
            e.to_string(),
            "Secret archive-creds referenced by ObjectStore \"archive\" spec.configuration.s3Credentials.accessKeyId (named by spec.plugins[0].parameters.barmanObjectName) does not exist"
        );
        let other = as_written(&cluster, ReconcileError::Random("x".into()));
        assert!(matches!(other, ReconcileError::Random(_)));
    }

    #[test]
    fn a_missing_object_store_blocks_the_cluster_naming_the_field() {
        let missing = pgfed_api::plugins::MissingObjectStore {
            field: "spec.plugins[0].parameters.barmanObjectName".into(),
            name: "minio-store".into(),
        };
        let e = plugin_store_error(super::super::plugin_stores::PluginStoreError::Missing(
            missing,
        ));
        assert!(e.needs_user_action());
        assert_eq!(reason_for(&e), "MissingReference");
        assert_eq!(
            e.to_string(),
            "ObjectStore minio-store referenced by spec.plugins[0].parameters.barmanObjectName does not exist"
        );
    }

    #[test]
    fn a_changed_database_object_wakes_the_cluster_it_names() {
        let db = dynamic(serde_json::json!({
            "apiVersion": "pgfed.io/v1", "kind": "Database",
            "metadata": {"name": "shop", "namespace": "a"},
            "spec": {"cluster": {"name": "pg"}, "name": "shop", "owner": "app"}
        }));
        let woken = cluster_of_database(&db).expect("a cluster");
        assert_eq!(
            (woken.name.as_str(), woken.namespace.as_deref()),
            ("pg", Some("a"))
        );
        let nameless = dynamic(serde_json::json!({
            "apiVersion": "pgfed.io/v1", "kind": "Database",
            "metadata": {"name": "shop", "namespace": "a"}, "spec": {"name": "shop"}
        }));
        assert!(cluster_of_database(&nameless).is_none());
    }

    #[test]
    fn a_changed_catalog_wakes_the_clusters_that_use_it() {
        let cluster = |ns: &str, name: &str, kind: &str, catalog: &str| {
            Arc::new(dynamic(serde_json::json!({
                "apiVersion": "pgfed.io/v1", "kind": "Cluster",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"instances": 1, "imageCatalogRef": {
                    "apiGroup": "pgfed.io", "kind": kind, "name": catalog, "major": 15}}
            })))
        };
        let plain = Arc::new(dynamic(serde_json::json!({
            "apiVersion": "pgfed.io/v1", "kind": "Cluster",
            "metadata": {"name": "plain", "namespace": "a"},
            "spec": {"instances": 1, "imageName": "pg:15"}
        })));
        let all = vec![
            cluster("a", "one", "ImageCatalog", "pg"),
            cluster("b", "two", "ImageCatalog", "pg"),
            cluster("a", "three", "ImageCatalog", "other"),
            cluster("a", "four", "ClusterImageCatalog", "pg"),
            cluster("c", "five", "ClusterImageCatalog", "pg"),
            plain,
        ];
        let names = |refs: Vec<ObjectRef<DynamicObject>>| {
            refs.into_iter()
                .map(|r| format!("{}/{}", r.namespace.unwrap_or_default(), r.name))
                .collect::<Vec<_>>()
        };
        let ar = cluster_resource();
        assert_eq!(
            names(clusters_using(&all, &ar, "ImageCatalog", Some("a"), "pg")),
            ["a/one"]
        );
        assert_eq!(
            names(clusters_using(&all, &ar, "ClusterImageCatalog", None, "pg")),
            ["a/four", "c/five"]
        );
        assert!(clusters_using(&all, &ar, "ImageCatalog", Some("a"), "none").is_empty());
    }

    #[test]
    fn event_actions_tell_events_apart_within_the_size_limit() {
        assert_eq!(
            event_action("creating instance pg-2"),
            "creating instance pg-2"
        );
        let long = "é".repeat(100);
        let action = event_action(&long);
        assert!(action.len() <= 128 && long.starts_with(&action));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_bounded_jitter() {
        assert_eq!(backoff(1, 0.5), Duration::from_secs(2));
        assert_eq!(backoff(2, 0.5), Duration::from_secs(4));
        assert_eq!(backoff(4, 0.5), Duration::from_secs(16));
        assert_eq!(backoff(30, 0.5), MAX_BACKOFF);
        assert_eq!(backoff(1, 0.0), Duration::from_millis(1600));
        assert_eq!(backoff(1, 1.0), Duration::from_millis(2400));
    }

    fn dynamic(value: serde_json::Value) -> DynamicObject {
        serde_json::from_value(value).expect("dynamic object")
    }

    #[test]
    fn a_cluster_that_bypassed_admission_is_defaulted_or_refused_with_the_field() {
        let ok = dynamic(serde_json::json!({
            "apiVersion": "pgfed.io/v1", "kind": "Cluster",
            "metadata": {"name": "pg", "namespace": "ns", "uid": "u"},
            "spec": {"instances": 3, "storage": {"size": "1Gi"}}
        }));
        let cluster = admit(&ok).expect("valid");
        assert_eq!(
            cluster.spec.image_name.as_deref(),
            Some(pgfed_api::names::DEFAULT_POSTGRES_IMAGE)
        );
        let invalid = dynamic(serde_json::json!({
            "apiVersion": "pgfed.io/v1", "kind": "Cluster",
            "metadata": {"name": "pg", "namespace": "ns", "uid": "u"},
            "spec": {"instances": 0, "storage": {"size": "1Gi"}}
        }));
        let err = admit(&invalid).expect_err("invalid");
        assert!(matches!(err, ReconcileError::Invalid(_)));
        assert!(err.to_string().contains("spec.instances"), "{err}");
        let malformed = dynamic(serde_json::json!({
            "apiVersion": "pgfed.io/v1", "kind": "Cluster",
            "metadata": {"name": "pg", "namespace": "ns", "uid": "u"},
            "spec": {"instances": "three"}
        }));
        assert!(matches!(
            admit(&malformed),
            Err(ReconcileError::Malformed(_))
        ));
    }
}
