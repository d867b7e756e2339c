//! The Backup controller: a kube-runtime `Controller` over every Backup. A reconcile observes
//! (the Cluster, its instances, the manager's record of the backup), decides purely
//! ([`super::decide`]), acts on the one instance concerned (start the backup, or ask the primary
//! to switch WAL segments for a standby's backup), and writes the Backup's status and, when it
//! ended, the Cluster's backup fields. Events on transitions only: started, completed, failed.
//!
//! Backups are watched through `DeserializeGuard`, so one object that does not match the schema
//! fails alone (with an Event) instead of wedging the watch.

use super::decide::{Decision, View, decide};
use super::observe::{ObserveError, Observed, observe, probe};
use super::status::{self, Ended};
use crate::cluster::controller::{backoff, publish_event};
use crate::instances::ClientCertificates;
use crate::metrics::Metrics;
use chrono::Utc;
use futures::StreamExt;
use kube::api::Api;
use kube::core::DeserializeGuard;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use pgfed_api::backup::{Backup, BackupStatus, backup_phase};
use pgfed_api::common::BackupMethod;
use pgfed_api::instance::{BackupPhase, BackupRequest};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Name of this controller in metrics.
pub const CONTROLLER: &str = "backup";
/// Requeue right after the instance was chosen (ask it now).
const CHOSEN_REQUEUE: Duration = Duration::from_secs(1);
/// Requeue while a backup runs: its progress is read this often, and a lost pod or manager
/// noticed within it.
const RUNNING_REQUEUE: Duration = Duration::from_secs(5);
/// Requeue of a Backup no instance can take yet.
const PENDING_REQUEUE: Duration = Duration::from_secs(10);

/// Why a reconcile of a Backup did not finish (it is retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum BackupReconcileError {
    /// The object is not a valid Backup.
    #[error("the Backup does not match the pgfed.io/v1 schema: {0}")]
    Malformed(String),
    /// The Cluster, pods or managers could not be read.
    #[error(transparent)]
    Observe(#[from] ObserveError),
    /// A status could not be written.
    #[error("{action}: {source}")]
    Write {
        /// What was written.
        action: String,
        /// Cause.
        source: kube::Error,
    },
    /// The instance manager could not be asked to start the backup.
    #[error("asking the instance manager of {pod} to start the backup: {source}")]
    Start {
        /// The pod.
        pod: String,
        /// Cause.
        source: crate::instances::InstanceClientError,
    },
}

impl BackupReconcileError {
    /// A short, stable name for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::Observe(_) => "observe",
            Self::Write { .. } => "write_status",
            Self::Start { .. } => "start",
        }
    }
}

fn write(action: String) -> impl FnOnce(kube::Error) -> BackupReconcileError {
    move |source| BackupReconcileError::Write { action, source }
}

/// Shared by every reconcile.
pub struct Context {
    /// API client.
    pub client: Client,
    /// The operator's client certificates for the managers (shared with the Cluster controller).
    pub certificates: ClientCertificates,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Event recorder.
    pub recorder: Recorder,
    failures: Mutex<HashMap<ObjectRef<DeserializeGuard<Backup>>, u32>>,
}

impl Context {
    /// A context for `client`.
    pub fn new(
        client: Client,
        certificates: ClientCertificates,
        metrics: Arc<Metrics>,
        reporter: Reporter,
    ) -> Self {
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            certificates,
            metrics,
            failures: Mutex::new(HashMap::new()),
        }
    }
}

async fn publish(ctx: &Context, backup: &Backup, type_: EventType, reason: &str, note: String) {
    publish_event(&ctx.recorder, &backup.object_ref(&()), type_, reason, note).await;
}

async fn reconcile(
    obj: Arc<DeserializeGuard<Backup>>,
    ctx: Arc<Context>,
) -> Result<Action, BackupReconcileError> {
    let started = Instant::now();
    let result = match &obj.0 {
        Ok(backup) => reconcile_backup(backup, &ctx).await,
        Err(invalid) => Err(BackupReconcileError::Malformed(invalid.to_string())),
    };
    ctx.metrics.reconciled(
        CONTROLLER,
        started.elapsed(),
        result.as_ref().err().map(BackupReconcileError::label),
    );
    match &result {
        Ok(_) => {
            if let Ok(mut f) = ctx.failures.lock() {
                f.remove(&ObjectRef::from_obj(obj.as_ref()));
            }
        }
        Err(e) => {
            tracing::warn!(backup = %obj.name_any(), error = %e, cause = e.label(), "reconcile failed")
        }
    }
    result
}

/// Writes `new` as the Backup's status and, when the Backup just ended, records it on the
/// Cluster and publishes the Event.
async fn transition(
    ctx: &Context,
    backup: &Backup,
    observed: &Observed,
    new: BackupStatus,
) -> Result<(), BackupReconcileError> {
    let old = backup.status.clone().unwrap_or_default();
    let name = backup.name_any();
    let now = Utc::now();
    let phase = new.phase.clone().unwrap_or_default();
    let ended = phase != old.phase.clone().unwrap_or_default()
        && (phase == backup_phase::COMPLETED || phase == backup_phase::FAILED);
    // The Cluster first: if recording there fails, the Backup is not marked ended yet and the
    // next reconcile records it again.
    if ended && let Some(cluster) = &observed.cluster {
        let record = Ended {
            succeeded: phase == backup_phase::COMPLETED,
            at: new
                .stopped_at
                .clone()
                .unwrap_or_else(|| now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            backup: name.clone(),
            error: new.error.clone(),
        };
        status::write_cluster(&ctx.client, cluster, &record, now)
            .await
            .map_err(write(format!("recording Backup {name} on its Cluster")))?;
    }
    status::write_backup(&ctx.client, backup, &new)
        .await
        .map_err(write(format!("writing the status of Backup {name}")))?;
    if phase == old.phase.clone().unwrap_or_default() {
        return Ok(());
    }
    let pod = new
        .instance_id
        .as_ref()
        .and_then(|i| i.pod_name.clone())
        .unwrap_or_default();
    match phase.as_str() {
        backup_phase::STARTED => {
            publish(
                ctx,
                backup,
                EventType::Normal,
                "Starting",
                format!("Backup started on instance {pod}"),
            )
            .await
        }
        backup_phase::COMPLETED => {
            let id = new.backup_id.clone().unwrap_or_default();
            publish(
                ctx,
                backup,
                EventType::Normal,
                "Completed",
                format!("Backup {id} completed on instance {pod}"),
            )
            .await
        }
        backup_phase::FAILED => {
            let error = new.error.clone().unwrap_or_default();
            publish(
                ctx,
                backup,
                EventType::Warning,
                "Failed",
                format!("Backup failed: {error}"),
            )
            .await
        }
        _ => {}
    }
    Ok(())
}

async fn reconcile_backup(backup: &Backup, ctx: &Context) -> Result<Action, BackupReconcileError> {
    let old = backup.status.clone().unwrap_or_default();
    if matches!(
        old.phase.as_deref(),
        Some(backup_phase::COMPLETED | backup_phase::FAILED)
    ) {
        return Ok(Action::await_change());
    }
    let observed = observe(&ctx.client, &ctx.certificates, backup).await?;
    let recorded = old.instance_id.as_ref();
    let answer = match (
        recorded.and_then(|i| i.pod_name.as_deref()),
        recorded.and_then(|i| i.session_id.as_deref()),
    ) {
        (Some(pod), Some(_)) if observed.pods.contains_key(pod) => {
            Some(probe(&observed, pod, &backup.name_any()).await)
        }
        _ => None,
    };
    let candidates = observed.candidates();
    let present = |pod: &str| observed.pods.contains_key(pod);
    let decision = decide(&View {
        spec: &backup.spec,
        status: backup.status.as_ref(),
        cluster: observed.cluster.as_ref(),
        missing_store: observed.missing_store.as_ref(),
        candidates: &candidates,
        pod_present: &present,
        probe: answer.as_ref(),
    });
    let now = Utc::now();
    match decision {
        Decision::Ended => Ok(Action::await_change()),
        Decision::Fail(reason) => {
            transition(ctx, backup, &observed, status::failed(&old, &reason, now)).await?;
            Ok(Action::await_change())
        }
        Decision::Wait(reason) => {
            if old.phase.as_deref() != Some(backup_phase::PENDING) {
                publish(ctx, backup, EventType::Normal, "Pending", reason).await;
            }
            transition(ctx, backup, &observed, status::pending(&old)).await?;
            Ok(Action::requeue(PENDING_REQUEUE))
        }
        Decision::Choose(pod) => {
            let (Some(cluster), container) = (&observed.cluster, observed.container_id(&pod))
            else {
                return Ok(Action::requeue(CHOSEN_REQUEUE));
            };
            let method = backup
                .spec
                .method
                .unwrap_or(BackupMethod::BarmanObjectStore);
            let new = status::chosen(&old, cluster, method, &pod, container, now);
            transition(ctx, backup, &observed, new).await?;
            Ok(Action::requeue(CHOSEN_REQUEUE))
        }
        Decision::Request(pod) => {
            let (Some(managers), Some(ip)) = (&observed.managers, observed.ip(&pod)) else {
                return Ok(Action::requeue(RUNNING_REQUEUE));
            };
            let request = BackupRequest {
                name: backup.name_any(),
            };
            match managers.start_backup(ip, &request).await {
                Ok(Ok(progress)) => {
                    transition(
                        ctx,
                        backup,
                        &observed,
                        status::followed(&old, &progress, now),
                    )
                    .await?;
                    Ok(Action::requeue(RUNNING_REQUEUE))
                }
                Ok(Err(refusal)) => {
                    tracing::info!(backup = %request.name, pod, reason = %refusal.error, "instance busy; asking again");
                    Ok(Action::requeue(RUNNING_REQUEUE))
                }
                Err(source) => Err(BackupReconcileError::Start { pod, source }),
            }
        }
        Decision::Follow {
            progress,
            switch_wal,
        } => {
            if switch_wal {
                switch_primary_wal(&observed).await;
            }
            let new = status::followed(&old, &progress, now);
            transition(ctx, backup, &observed, new).await?;
            Ok(if progress.phase.is_final() {
                Action::await_change()
            } else if progress.phase == BackupPhase::Finalizing {
                // Waiting on the primary's archiving: look (and nudge) more often.
                Action::requeue(Duration::from_secs(2))
            } else {
                Action::requeue(RUNNING_REQUEUE)
            })
        }
        Decision::Retry(reason) => {
            tracing::info!(backup = %backup.name_any(), %reason, "backup progress not read; trying again");
            Ok(Action::requeue(RUNNING_REQUEUE))
        }
    }
}

/// Asks the Cluster's primary to switch WAL segments, so the segment ending a standby's backup
/// is archived now; a failure only delays the backup (the primary archives it at
/// `archive_timeout` anyway).
async fn switch_primary_wal(observed: &Observed) {
    let primary = observed
        .cluster
        .as_ref()
        .and_then(|c| c.status.as_ref())
        .and_then(|s| s.current_primary.clone());
    let (Some(managers), Some(ip)) = (
        &observed.managers,
        primary.as_deref().and_then(|p| observed.ip(p)),
    ) else {
        return;
    };
    if let Err(e) = managers.switch_wal(ip).await {
        tracing::info!(primary = ?primary, error = %e, "asking the primary to switch WAL segments failed");
    }
}

fn error_policy(
    obj: Arc<DeserializeGuard<Backup>>,
    _error: &BackupReconcileError,
    ctx: Arc<Context>,
) -> Action {
    let failures = match ctx.failures.lock() {
        Ok(mut f) => {
            let n = f.entry(ObjectRef::from_obj(obj.as_ref())).or_insert(0);
            *n = n.saturating_add(1);
            *n
        }
        Err(_) => 1,
    };
    Action::requeue(backoff(failures, 0.5))
}

/// Runs the Backup controller until `shutdown` resolves; reconciles in flight finish first.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let backups: Api<DeserializeGuard<Backup>> = Api::all(ctx.client.clone());
    Controller::new(backups, watcher::Config::default())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}
