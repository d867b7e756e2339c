//! The ScheduledBackup controller: a kube-runtime `Controller` over every ScheduledBackup,
//! woken by changes of the object, of the Backups it created (a deleted one is not re-created:
//! its slot is past), and by the requeue at exactly the next slot.
//!
//! ScheduledBackups are watched untyped and parsed in the reconcile, so one object that does not
//! match the schema fails alone instead of failing the watch. Events: a Backup created, a problem
//! appearing (cluster missing, bad schedule), a failure to create.

use super::decide::Wake;
use super::error::ScheduledBackupError;
use super::reconcile;
use crate::cluster::controller::{publish_event, retry_after_failure};
use crate::metrics::Metrics;
use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::discovery::ApiResource;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use pgfed_api::backup::{Backup, ScheduledBackup};
use pgfed_api::names::LABEL_SCHEDULED_BACKUP;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Name of this controller in metrics.
pub const CONTROLLER: &str = "scheduledbackup";

/// Shared by every reconcile.
pub struct Context {
    /// API client.
    pub client: Client,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Event recorder.
    pub recorder: Recorder,
    /// Consecutive failures per ScheduledBackup, for the backoff.
    failures: Mutex<HashMap<ObjectRef<DynamicObject>, u32>>,
}

impl Context {
    /// A context for `client`.
    pub fn new(client: Client, metrics: Arc<Metrics>, reporter: Reporter) -> Self {
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            failures: Mutex::new(HashMap::new()),
        }
    }
}

fn resource() -> ApiResource {
    ApiResource::erase::<ScheduledBackup>(&())
}

async fn publish(ctx: &Context, obj: &DynamicObject, type_: EventType, reason: &str, note: String) {
    publish_event(
        &ctx.recorder,
        &obj.object_ref(&resource()),
        type_,
        reason,
        note,
    )
    .await;
}

#[tracing::instrument(skip(obj, ctx), fields(scheduledbackup = %obj.name_any(), namespace = obj.namespace()))]
async fn reconcile(
    obj: Arc<DynamicObject>,
    ctx: Arc<Context>,
) -> Result<Action, ScheduledBackupError> {
    let started = Instant::now();
    let reference = ObjectRef::from_obj_with(obj.as_ref(), resource());
    if obj.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let result = reconcile_parsed(&obj, &ctx).await;
    ctx.metrics.reconciled(
        CONTROLLER,
        started.elapsed(),
        result.as_ref().err().map(ScheduledBackupError::label),
    );
    match result {
        Ok(action) => {
            if let Ok(mut f) = ctx.failures.lock() {
                f.remove(&reference);
            }
            Ok(action)
        }
        Err(e) if e.needs_user_action() => {
            tracing::warn!(error = %e, cause = e.label(), "scheduled backup refused");
            Ok(Action::await_change())
        }
        Err(e) => {
            tracing::warn!(error = %e, cause = e.label(), "reconcile failed");
            publish(
                &ctx,
                &obj,
                EventType::Warning,
                "ScheduledBackupFailed",
                e.to_string(),
            )
            .await;
            Err(e)
        }
    }
}

async fn reconcile_parsed(
    obj: &DynamicObject,
    ctx: &Context,
) -> Result<Action, ScheduledBackupError> {
    let previous_error = obj.data["status"]["error"].as_str().map(str::to_string);
    let result = match serde_json::to_value(obj).and_then(serde_json::from_value::<ScheduledBackup>)
    {
        Ok(scheduled) => reconcile::reconcile(&ctx.client, &scheduled, chrono::Utc::now()).await,
        Err(e) => Err(ScheduledBackupError::Malformed(e.to_string())),
    };
    let outcome = match result {
        Ok(o) => o,
        Err(e) => {
            if e.needs_user_action() && previous_error.as_deref() != Some(&e.to_string()) {
                publish(
                    ctx,
                    obj,
                    EventType::Warning,
                    "InvalidScheduledBackup",
                    e.to_string(),
                )
                .await;
            }
            return Err(e);
        }
    };
    if let Some((name, true)) = &outcome.created {
        tracing::info!(backup = %name, "created a scheduled backup");
        publish(
            ctx,
            obj,
            EventType::Normal,
            "BackupScheduled",
            format!("created Backup {name}"),
        )
        .await;
    }
    if let Some(error) = &outcome.error_after
        && outcome.error_before.as_ref() != Some(error)
    {
        publish(
            ctx,
            obj,
            EventType::Warning,
            "ScheduleBlocked",
            error.clone(),
        )
        .await;
    }
    Ok(match outcome.plan.map(|p| p.wake) {
        Some(Wake::After(d)) => Action::requeue(d),
        Some(Wake::OnChange) | None => Action::await_change(),
    })
}

fn error_policy(
    obj: Arc<DynamicObject>,
    _error: &ScheduledBackupError,
    ctx: Arc<Context>,
) -> Action {
    retry_after_failure(
        &ctx.failures,
        ObjectRef::from_obj_with(obj.as_ref(), resource()),
    )
}

/// Runs the ScheduledBackup controller until `shutdown` resolves; reconciles in flight finish
/// first.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let ar = resource();
    let scheduled: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    // A Backup of a schedule changed or went away: look at its schedule (owner reference or
    // not, the label names it).
    let backups_of = |backup: Backup| {
        let namespace = backup.namespace();
        backup.labels().get(LABEL_SCHEDULED_BACKUP).map(|name| {
            ObjectRef::new_with(name, resource()).within(namespace.as_deref().unwrap_or_default())
        })
    };
    Controller::new_with(scheduled, watcher::Config::default(), ar)
        .watches(
            Api::<Backup>::all(client),
            watcher::Config::default().labels(LABEL_SCHEDULED_BACKUP),
            backups_of,
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}
