//! The Federation controller: watches Federations in the hub and runs one turn per Federation:
//! every member read in parallel (`observe`), the decisions taken from what was read (`turn` for
//! an automatic failover, `switchover` otherwise, `status` for the new status), the status
//! written first, then the writes each decision calls for (`apply`: the fencing lease, member
//! Clusters, Backups, Events). The status is written only when it changed, a member Cluster
//! only when what would be applied to it changed.
//!
//! Members live behind other API servers and are not watched: a Federation is requeued every few
//! seconds while a switchover or a member's creation is under way, and every
//! [`IDLE_REQUEUE`] otherwise.

use crate::apply::{self, event};
use crate::clients::MemberClients;
use crate::detach;
use crate::lease_store::{LeaseRead, Leases};
use crate::member::{self, Placement};
use crate::metrics::{FederationLabels, Metrics};
use crate::observe::{Read, read_member};
use crate::regional;
use crate::status::{self, Observed};
use crate::switchover::{self, MemberView, Standing};
use crate::turn;
use chrono::Utc;
use futures::StreamExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use pgfed_api::cluster::Cluster;
use pgfed_api::federation::{Federation, federation_phase};
use pgfed_operator::webhook::secret::{ApiAccess, access};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Requeue while something is under way.
pub const BUSY_REQUEUE: Duration = Duration::from_secs(3);
/// Requeue of a steady federation (members are polled, not watched).
pub const IDLE_REQUEUE: Duration = Duration::from_secs(30);
/// Requeue while a replica member is behind (writes are flowing): its lag is reported this often.
pub const LAGGING_REQUEUE: Duration = Duration::from_secs(10);
/// Requeue with automatic failover: the fencing lease is read this often, which bounds how late
/// a lost primary region is noticed past `primaryUnreachableTimeout`.
pub const LEASE_REQUEUE: Duration = Duration::from_secs(5);
/// Requeue while an automatic failover runs.
pub const FAILOVER_REQUEUE: Duration = Duration::from_secs(1);
/// Field manager of the member Clusters' fields the controller sets.
pub const FIELD_MANAGER: &str = "pgfed-federation";
/// Annotation on a member Cluster: the hash of the spec the controller last applied.
pub const ANNOTATION_SPEC_HASH: &str = "pgfed.io/federation-spec-hash";
/// Default `failover.switchoverStepTimeout`.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(600);

/// Every call the controller makes to the hub's API server, for the manifests test (the RBAC
/// grants exactly these). The member calls ([`MEMBER_API_ACCESS`]) are made to the hub too when
/// a member runs there.
pub const HUB_API_ACCESS: &[ApiAccess] = &[
    access("pgfed.io", "federations", "list"),
    access("pgfed.io", "federations", "watch"),
    // spec.primary, set to the member an automatic failover promoted.
    access("pgfed.io", "federations", "patch"),
    access("pgfed.io", "federations/status", "patch"),
    // The kubeconfigs of the members in other Kubernetes clusters.
    access("", "secrets", "get"),
    access("events.k8s.io", "events", "create"),
    access("events.k8s.io", "events", "patch"),
];

/// Every call the controller makes to a member's API server: its Cluster read and applied
/// (server-side apply creates it), the seed Backup read and created.
pub const MEMBER_API_ACCESS: &[ApiAccess] = &[
    access("pgfed.io", "clusters", "get"),
    access("pgfed.io", "clusters", "create"),
    access("pgfed.io", "clusters", "patch"),
    access("pgfed.io", "backups", "get"),
    access("pgfed.io", "backups", "create"),
];

/// Why a reconcile failed (retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The hub's API server refused or failed a call.
    #[error("hub API: {0}")]
    Hub(#[source] kube::Error),
    /// The Federation has no namespace.
    #[error("the Federation has no namespace")]
    NoNamespace,
}

/// What the reconciles share.
pub struct Context {
    /// The hub's client.
    pub client: Client,
    /// Members' clients.
    pub members: MemberClients,
    /// Events on Federations.
    pub recorder: Recorder,
    /// The controller's metrics.
    pub metrics: Arc<Metrics>,
    /// Fencing lease handles and observations, by Federation.
    pub leases: Leases,
}

impl Context {
    /// A context on the hub `client`.
    pub fn new(client: Client, metrics: Arc<Metrics>) -> Self {
        let reporter = Reporter {
            controller: "pgfed-federation".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            members: MemberClients::counting(metrics.api_requests.clone()),
            client,
            metrics,
            leases: Leases::default(),
        }
    }
}

/// One turn over a Federation.
pub async fn reconcile(fed: Arc<Federation>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let ns = fed.namespace().ok_or(ReconcileError::NoNamespace)?;
    let name = fed.name_any();
    // In parallel: an unreachable member's API server costs its timeout once, not per member.
    let reads: Vec<Read> = futures::future::join_all(
        fed.spec
            .members
            .iter()
            .map(|m| read_member(&ctx, &fed, &ns, m)),
    )
    .await;
    let old = fed.status.clone().unwrap_or_default();
    // Members removed from spec.members: detached, or listed until they can be.
    let mut not_detached = Vec::new();
    for gone in detach::removed(&fed) {
        if old.current_primary.as_deref() == Some(gone.name.as_str()) {
            not_detached.push(detach::still_listed(
                &gone,
                "it holds the primary; set spec.primary to another member first",
            ));
            continue;
        }
        match detach_member(&ctx, &ns, &gone).await {
            Ok(()) => {
                event(
                    &ctx,
                    &fed.object_ref(&()),
                    false,
                    "MemberDetached",
                    format!(
                        "member {} left spec.members: its Cluster {}/{} keeps running, no longer managed by the federation",
                        gone.name,
                        gone.namespace.as_deref().unwrap_or_default(),
                        gone.cluster_name.as_deref().unwrap_or_default()
                    ),
                )
                .await;
            }
            Err(why) => not_detached.push(detach::still_listed(&gone, &why.to_string())),
        }
    }
    let step_timeout = fed
        .spec
        .failover
        .as_ref()
        .and_then(|f| f.switchover_step_timeout.as_deref())
        .and_then(|t| pgfed_api::validation::formats::parse_duration(t).ok())
        .unwrap_or(DEFAULT_STEP_TIMEOUT);
    let acceptable = status::max_acceptable_lag(&fed);
    let written = reads
        .iter()
        .find(|r| Some(r.observed.view.name.as_str()) == old.current_primary.as_deref())
        .and_then(|r| r.observed.cluster.as_ref())
        .and_then(|c| c.wal_position.as_ref());
    let views: Vec<MemberView> = reads
        .iter()
        .map(|r| {
            let mut view = r.observed.view.clone();
            let position = r
                .observed
                .cluster
                .as_ref()
                .and_then(|c| c.wal_position.as_ref());
            let lag = crate::lag::lag(written, position);
            if view.standing == Standing::Replica && crate::lag::too_far_behind(&lag, acceptable) {
                view.too_far_behind = Some(format!(
                    "{:.0} s behind the primary, past replication.maxAcceptableLag ({} s)",
                    lag.seconds.unwrap_or_default(),
                    acceptable.as_secs()
                ));
            }
            view
        })
        .collect();
    let now = Utc::now();
    let observed: Vec<Observed> = reads.iter().map(|r| r.observed.clone()).collect();
    let holder_now = old
        .current_primary
        .clone()
        .unwrap_or_else(|| fed.spec.primary.clone());

    // Automatic failover: the fencing lease as read now, and whether the primary region is lost.
    let lease_cfg = member::fencing_lease(&fed);
    let uid = fed.uid().unwrap_or_default();
    let lease_read = match &lease_cfg {
        Some(cfg) => Some(
            ctx.leases
                .read(&ctx.client, &fed, cfg, regional::unreachable_timeout(&fed))
                .await,
        ),
        None => {
            ctx.leases.forget(&uid);
            None
        }
    };
    let lease_view = lease_read.as_ref().and_then(LeaseRead::view);
    let (failover_turn, decision) = turn::failover_turn(&turn::TurnInput {
        old: &old,
        automatic: lease_cfg.is_some(),
        lease: lease_view,
        views: &views,
        observed: &observed,
        holder: &holder_now,
        limit: regional::data_loss_limit(&fed),
        now,
    });
    let deposed = old
        .last_failover
        .as_ref()
        .filter(|f| Some(f.to.as_str()) == old.current_primary.as_deref())
        .map(|f| f.from.as_str());
    let plan = match &failover_turn {
        Some(turn) => turn.plan.clone(),
        None => switchover::plan(&switchover::Input {
            wanted: &fed.spec.primary,
            generation: fed.metadata.generation,
            holder: old.current_primary.as_deref(),
            progress: old.switchover.as_ref(),
            members: &views,
            deposed,
            step_timeout: chrono::Duration::from_std(step_timeout)
                .unwrap_or(chrono::Duration::minutes(10)),
            now,
        }),
    };

    // The decision is persisted before any member is told and before the lease is taken over: a
    // turn that cannot record where the switchover or failover is changes nothing, and a
    // restarted controller resumes from the record.
    let mut busy = plan.progress.is_some();
    let mut new_status = status::build(&fed, &observed, &plan, now);
    new_status.members.extend(not_detached);
    if let Some(turn) = &failover_turn {
        new_status.failover = turn.progress.clone();
        if let Some(record) = &turn.record {
            new_status.last_failover = Some(record.clone());
        }
        if turn.progress.is_some() {
            busy = true;
            new_status.phase = Some(federation_phase::FAILING_OVER.to_string());
        }
    }
    if let Some(read) = &lease_read {
        let lease_state = match read {
            LeaseRead::Unreadable(why) => Err(why.as_str()),
            LeaseRead::Absent => Ok(None),
            LeaseRead::Seen { view, .. } => Ok(Some(view)),
        };
        let (ok, reason, message) =
            regional::condition(lease_state, decision.as_ref(), new_status.failover.as_ref());
        let c = pgfed_operator::cluster::status::condition(
            status::condition::AUTOMATIC_FAILOVER,
            ok,
            reason,
            message,
            fed.metadata.generation,
            now,
        );
        pgfed_operator::cluster::status::set_condition(&mut new_status.conditions, c);
    } else {
        new_status
            .conditions
            .retain(|c| c.type_ != status::condition::AUTOMATIC_FAILOVER);
    }
    // A completed failover names the promoted member in spec.primary before the status drops
    // the progress, so no switchover back to the lost region starts on its own.
    if let Some(to) = failover_turn
        .as_ref()
        .and_then(|t| t.set_spec_primary.as_ref())
        && fed.spec.primary != *to
    {
        let api: Api<Federation> = Api::namespaced(ctx.client.clone(), &ns);
        api.patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"primary": to}})),
        )
        .await
        .map_err(ReconcileError::Hub)?;
    }
    if apply::request_failover_backup(&ctx, &fed, &name, &reads, &mut new_status).await {
        busy = true;
    }
    if new_status.failover.is_none()
        && apply::request_reseed_backup(&ctx, &fed, &reads, &observed, &plan.holder).await
    {
        busy = true;
    }
    if observed
        .iter()
        .any(|o| o.view.standing == Standing::Unknown)
    {
        busy = true;
    }
    if Some(&new_status) != fed.status.as_ref() {
        // Server-side apply: a field the new status no longer has (a finished switchover) is
        // removed, which a merge patch of the serialized status would leave in place.
        let api: Api<Federation> = Api::namespaced(ctx.client.clone(), &ns);
        let body = serde_json::json!({
            "apiVersion": "pgfed.io/v1", "kind": "Federation",
            "status": new_status,
        });
        api.patch_status(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(ReconcileError::Hub)?;
    }
    let labels = FederationLabels {
        namespace: ns.clone(),
        federation: name.clone(),
    };
    ctx.metrics.observe(&labels, &old, &new_status);
    for (warning, reason, note) in &plan.events {
        if *reason == "SwitchoverCompleted"
            && let Some(started) = old
                .switchover
                .as_ref()
                .and_then(|p| p.started_at.as_deref())
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        {
            let took = now - started.with_timezone(&Utc);
            ctx.metrics
                .switchover_completed(&labels, took.num_milliseconds() as f64 / 1000.0);
        }
        event(&ctx, &fed.object_ref(&()), *warning, reason, note.clone()).await;
    }
    let (taking, held_back, moving) = apply::move_lease(
        &ctx,
        &fed,
        &name,
        lease_cfg.as_ref(),
        lease_read.as_ref(),
        failover_turn.as_ref().map(|t| &t.lease),
        &plan,
        &views,
    )
    .await;
    let applying = apply::apply_members(
        &ctx,
        &fed,
        &name,
        &reads,
        &plan,
        lease_read.as_ref(),
        &taking,
        held_back.as_deref(),
    )
    .await;
    busy |= moving || applying;

    let requeue = if new_status.failover.is_some() {
        FAILOVER_REQUEUE
    } else if busy {
        BUSY_REQUEUE
    } else if new_status.max_lag_bytes.unwrap_or_default() > 0 {
        LAGGING_REQUEUE
    } else {
        IDLE_REQUEUE
    };
    Ok(Action::requeue(if lease_cfg.is_some() {
        requeue.min(LEASE_REQUEUE)
    } else {
        requeue
    }))
}

/// Why a removed member's Cluster could not be detached this turn (retried next turn).
#[derive(Debug, thiserror::Error)]
enum DetachError {
    /// Its API server cannot be reached.
    #[error(transparent)]
    Client(#[from] crate::clients::ClientError),
    /// Its API server refused the patch.
    #[error("Cluster {namespace}/{name}: {source}")]
    Patch {
        namespace: String,
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// Detaches the Cluster of a member removed from `spec.members`; a Cluster that is gone already
/// needs nothing.
async fn detach_member(
    ctx: &Context,
    ns: &str,
    gone: &pgfed_api::federation::MemberStatus,
) -> Result<(), DetachError> {
    let member = detach::as_member(gone);
    let client = ctx.members.client(&ctx.client, ns, &member).await?;
    let place = Placement {
        namespace: member.namespace.clone().unwrap_or_default(),
        name: member.cluster_name.clone().unwrap_or_default(),
    };
    let api: Api<Cluster> = Api::namespaced(client, &place.namespace);
    match api
        .patch(
            &place.name,
            &PatchParams::default(),
            &Patch::Merge(detach::detach_patch(ANNOTATION_SPEC_HASH)),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(source) => Err(DetachError::Patch {
            namespace: place.namespace,
            name: place.name,
            source,
        }),
    }
}

fn error_policy(fed: Arc<Federation>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    ctx.metrics.reconcile_failed(&FederationLabels {
        namespace: fed.namespace().unwrap_or_default(),
        federation: fed.name_any(),
    });
    tracing::warn!(federation = %fed.name_any(), error = %error, "reconcile failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

/// Runs the controller until `stop` is cancelled.
pub async fn run(client: Client, stop: CancellationToken, metrics: Arc<Metrics>) {
    let ctx = Arc::new(Context::new(client.clone(), metrics));
    let federations: Api<Federation> = Api::all(client);
    Controller::new(federations, watcher::Config::default())
        .graceful_shutdown_on(async move { stop.cancelled().await })
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "federation reconcile");
            }
        })
        .await;
}
