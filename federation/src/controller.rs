//! The Federation controller: watches Federations in the hub, polls every member's Cluster, and
//! turns the pure decisions (`switchover`, `member`, `status`) into writes: member Clusters
//! (server-side apply, only when what it would write changed), the seed Backup a new member
//! bootstraps from, Events and the Federation's status (only when it changed).
//!
//! Members live behind other API servers and are not watched: a Federation is requeued every few
//! seconds while a switchover or a member's creation is under way, and every
//! [`IDLE_REQUEUE`] otherwise.

use crate::clients::MemberClients;
use crate::detach;
use crate::failover;
use crate::lease_store::{LeaseRead, Leases};
use crate::member::{self, Placement, Roles};
use crate::metrics::{FederationLabels, Metrics};
use crate::regional;
use crate::status::{self, Observed};
use crate::switchover::{self, MemberView, Standing};
use chrono::Utc;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use pgfed_api::backup::Backup;
use pgfed_api::cluster::{Cluster, ClusterSpec, condition as cluster_condition};
use pgfed_api::federation::{FailoverMode, Federation, failover_step, federation_phase};
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

/// A member's Cluster as read this turn.
struct Read {
    client: Option<Client>,
    cluster: Option<Cluster>,
    observed: Observed,
}

async fn read_member(
    ctx: &Context,
    fed: &Federation,
    ns: &str,
    m: &pgfed_api::federation::FederationMember,
) -> Read {
    let place = member::placement(fed, m);
    let mut observed = Observed {
        view: MemberView {
            name: m.name.clone(),
            ..MemberView::default()
        },
        region: m.region.clone(),
        place: place.clone(),
        kubeconfig: m.kubeconfig_secret_ref.clone(),
        ..Observed::default()
    };
    let client = match ctx.members.client(&ctx.client, ns, m).await {
        Ok(c) => c,
        Err(e) => {
            observed.error = Some(e.to_string());
            return Read {
                client: None,
                cluster: None,
                observed,
            };
        }
    };
    let api: Api<Cluster> = Api::namespaced(client.clone(), &place.namespace);
    match api.get_opt(&place.name).await {
        Ok(cluster) => {
            observed.view.reachable = true;
            if let Some(c) = &cluster {
                let st = c.status.clone().unwrap_or_default();
                let switch = st
                    .conditions
                    .iter()
                    .find(|c| c.type_ == cluster_condition::REPLICA_CLUSTER_SWITCH)
                    .map(|c| c.reason.as_str());
                observed.view.standing = Standing::from_reason(switch);
                observed.view.demotion_token = st.demotion_token.clone();
                observed.view.last_promotion_token = st.last_promotion_token.clone();
                observed.view.system_id = st.system_id.clone();
                observed.view.timeline = st.timeline_id;
                observed.view.told = c.spec.replica.as_ref().and_then(|r| {
                    Some(Roles {
                        primary: r.primary.clone()?,
                        promotion_token: r.promotion_token.clone(),
                    })
                });
                observed.cluster = Some(st);
            } else {
                observed.error = Some(format!(
                    "Cluster {}/{} does not exist yet",
                    place.namespace, place.name
                ));
            }
            Read {
                client: Some(client),
                cluster,
                observed,
            }
        }
        Err(e) => {
            observed.error = Some(format!(
                "reading Cluster {}/{}: {e}",
                place.namespace, place.name
            ));
            Read {
                client: None,
                cluster: None,
                observed,
            }
        }
    }
}

fn spec_hash(spec: &ClusterSpec) -> String {
    use std::hash::{Hash, Hasher};
    let text = serde_json::to_string(spec).unwrap_or_default();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// The seed Backup a member bootstraps from: the holder's newest completed base backup, asked
/// for when the holder has none. `Ok(true)` once one exists.
async fn seed_backup(
    client: &Client,
    place: &Placement,
    holder: Option<&Cluster>,
) -> Result<bool, kube::Error> {
    let Some(holder) = holder else {
        return Ok(false);
    };
    let st = holder.status.clone().unwrap_or_default();
    if st.last_successful_backup.is_some() || st.first_recoverability_point.is_some() {
        return Ok(true);
    }
    if st.phase.as_deref() != Some(pgfed_api::cluster::phase::HEALTHY) {
        return Ok(false);
    }
    let name = format!("{}-federation-seed", place.name);
    if ask_backup(client, place, &name).await? {
        tracing::info!(cluster = %place.name, namespace = %place.namespace, "asked for the base backup new members bootstrap from");
    }
    Ok(false)
}

/// Creates the Backup `name` of the member Cluster at `place` unless it exists; `Ok(true)` when
/// this call created it.
async fn ask_backup(client: &Client, place: &Placement, name: &str) -> Result<bool, kube::Error> {
    let backups: Api<Backup> = Api::namespaced(client.clone(), &place.namespace);
    if backups.get_opt(name).await?.is_some() {
        return Ok(false);
    }
    let backup: Backup = serde_json::from_value(serde_json::json!({
        "apiVersion": "pgfed.io/v1", "kind": "Backup",
        "metadata": {"name": name, "namespace": place.namespace},
        "spec": {"cluster": {"name": place.name}}
    }))
    .map_err(kube::Error::SerdeError)?;
    match backups.create(&PostParams::default(), &backup).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
        Err(e) => Err(e),
    }
}

async fn event(
    ctx: &Context,
    reference: &ObjectReference,
    warning: bool,
    reason: &str,
    note: String,
) {
    let ev = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.to_string(),
        action: reason.to_string(),
        note: Some(note),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, reference).await {
        tracing::warn!(error = %e, reason, "publishing an Event failed");
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
    let mut decision = None;
    let failover_turn = match (&old.failover, &lease_cfg) {
        (Some(progress), None) if progress.step == failover_step::TAKING_LEASE => {
            Some(regional::Turn {
                plan: switchover::Plan {
                    roles: Default::default(),
                    holder: progress.from.clone(),
                    events: vec![(
                        true,
                        "FailoverAbandoned",
                        format!(
                            "automatic failover from {} to {} abandoned: failover.mode is no longer Automatic; nothing was changed",
                            progress.from, progress.to
                        ),
                    )],
                    ..switchover::Plan::default()
                },
                progress: None,
                record: None,
                lease: regional::LeaseAction::Keep,
                set_spec_primary: None,
            })
        }
        (Some(progress), _) => Some(regional::advance(progress, lease_view, &views, now)),
        (None, Some(_)) if old.switchover.is_none() => {
            let members = regional::candidates(&observed);
            let d = failover::decide(&failover::Input {
                mode: FailoverMode::Automatic,
                lease: lease_view,
                primary: &holder_now,
                primary_system_id: regional::primary_system_id(&old, &observed, &holder_now),
                primary_position: regional::primary_position(&old, &holder_now),
                members: &members,
                limit: regional::data_loss_limit(&fed),
                switchover_in_progress: false,
            });
            let turn = match &d {
                failover::Decision::Promote {
                    member,
                    epoch,
                    data_loss_bound_bytes,
                    data_loss_bound_seconds,
                } => {
                    let progress = regional::start(
                        &holder_now,
                        member,
                        *epoch,
                        *data_loss_bound_bytes,
                        *data_loss_bound_seconds,
                        now,
                    );
                    let mut turn = regional::advance(&progress, lease_view, &views, now);
                    turn.plan.events.insert(
                        0,
                        (
                            true,
                            "FailoverStarted",
                            format!(
                                "{holder_now} is lost (its fencing lease has not changed for {}s): promoting {member}",
                                lease_view.map(|l| l.unchanged_for.as_secs()).unwrap_or_default()
                            ),
                        ),
                    );
                    Some(turn)
                }
                _ => None,
            };
            decision = Some(d);
            turn
        }
        _ => None,
    };
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
    // After a failover, the promoted member's first base backup on its new timeline: the lost
    // region re-seeds from it when it returns, and point-in-time recovery starts there.
    if let Some(holder) = reads
        .iter()
        .find(|r| Some(r.observed.view.name.as_str()) == new_status.current_primary.as_deref())
        && let Some(client) = &holder.client
    {
        let healthy = holder
            .cluster
            .as_ref()
            .and_then(|c| c.status.as_ref())
            .and_then(|s| s.phase.as_deref())
            == Some(pgfed_api::cluster::phase::HEALTHY);
        let place = &holder.observed.place;
        if let Some(backup) = regional::failover_backup(&new_status, &place.name, healthy) {
            match ask_backup(client, place, &backup).await {
                Ok(created) => {
                    if created {
                        event(
                            &ctx,
                            &fed.object_ref(&()),
                            false,
                            "FailoverBackupRequested",
                            format!(
                                "asked {} for Backup {}/{backup}: the first base backup of its new timeline",
                                holder.observed.view.name, place.namespace
                            ),
                        )
                        .await;
                    }
                    if let Some(record) = new_status.last_failover.as_mut() {
                        record.base_backup = Some(backup);
                    }
                }
                Err(e) => {
                    busy = true;
                    tracing::warn!(federation = %name, backup = %backup, error = %e, "cannot ask for the base backup after the failover; retrying");
                }
            }
        }
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
    // The fencing lease: taken over for a failover's target, or handed from a demoted primary to
    // the member that holds or takes the primary. A member about to promote is not told to
    // while the lease still names another member (its manager would fence it at once).
    let taking = match progress_step(&plan) {
        Some(step) if step != switchover::step::DEMOTING => plan
            .progress
            .as_ref()
            .map_or(plan.holder.clone(), |p| p.to.clone()),
        _ => plan.holder.clone(),
    };
    let mut held_back: Option<String> = None;
    if let (Some(cfg), Some(LeaseRead::Seen { stored, view })) = (&lease_cfg, &lease_read) {
        let to = match failover_turn.as_ref().map(|t| &t.lease) {
            Some(regional::LeaseAction::TakeOver { to }) => Some(to.clone()),
            Some(regional::LeaseAction::Keep) => None,
            None => regional::handover(view, &taking, &views).then(|| taking.clone()),
        };
        if let Some(to) = to {
            busy = true;
            match ctx
                .leases
                .take_over(&ctx.client, &fed, cfg, stored, &to)
                .await
            {
                Ok(taken) => {
                    tracing::info!(federation = %name, from = %view.holder, to = %to, epoch = taken.lease.epoch, "fencing lease taken over");
                    event(
                        &ctx,
                        &fed.object_ref(&()),
                        false,
                        "FencingLeaseTakenOver",
                        format!(
                            "the fencing lease passed from {} (epoch {}) to {to} (epoch {})",
                            view.holder, view.epoch, taken.lease.epoch
                        ),
                    )
                    .await;
                }
                Err(e) => {
                    tracing::warn!(federation = %name, to = %to, error = %e, "taking the fencing lease over failed; retrying");
                    held_back = Some(to);
                }
            }
        }
    }

    // Member Clusters: created (a replica once the holder has a base backup) or brought to what
    // the plan tells them.
    let holder_cluster = reads
        .iter()
        .find(|r| r.observed.view.name == plan.holder)
        .and_then(|r| r.cluster.clone());
    let holder_read = reads.iter().find(|r| r.observed.view.name == plan.holder);
    for r in &reads {
        let Some(client) = &r.client else { continue };
        let member_name = &r.observed.view.name;
        let roles = plan.roles.get(member_name).cloned().unwrap_or(Roles {
            primary: plan.holder.clone(),
            promotion_token: None,
        });
        if r.cluster.is_none() && *member_name != plan.holder {
            busy = true;
            let seeded = match holder_read.and_then(|h| h.client.as_ref().map(|c| (c, &h.observed.place))) {
                Some((hc, hp)) => seed_backup(hc, hp, holder_cluster.as_ref()).await.unwrap_or_else(|e| {
                    tracing::warn!(federation = %name, error = %e, "cannot ask for the seed backup");
                    false
                }),
                None => false,
            };
            if !seeded {
                continue;
            }
        }
        if held_back.as_deref() == Some(member_name.as_str()) {
            continue;
        }
        let existing = r.cluster.as_ref().map(|c| &c.spec);
        let Some(mut spec) =
            member::member_spec(&fed, member_name, &roles, existing, Some(&plan.holder))
        else {
            continue;
        };
        if *member_name == taking
            && let Some(read) = &lease_read
        {
            let carries = existing
                .and_then(|s| s.replica.as_ref())
                .is_some_and(|r| r.fencing_lease.is_some());
            let absent = matches!(read, LeaseRead::Absent);
            if !regional::armed(read.view(), absent, member_name, carries)
                && let Some(replica) = spec.replica.as_mut()
            {
                replica.fencing_lease = None;
            }
        }
        let hash = spec_hash(&spec);
        let applied = r
            .cluster
            .as_ref()
            .and_then(|c| c.annotations().get(ANNOTATION_SPEC_HASH).cloned());
        if applied.as_deref() == Some(hash.as_str()) {
            continue;
        }
        let mut desired = member::member_cluster(&fed, member_name, &r.observed.place, spec);
        desired
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(ANNOTATION_SPEC_HASH.to_string(), hash);
        let api: Api<Cluster> = Api::namespaced(client.clone(), &r.observed.place.namespace);
        let params = PatchParams::apply(FIELD_MANAGER).force();
        match api
            .patch(&r.observed.place.name, &params, &Patch::Apply(&desired))
            .await
        {
            Ok(_) => {
                let verb = if r.cluster.is_some() {
                    "updated"
                } else {
                    "created"
                };
                tracing::info!(federation = %name, member = %member_name, primary = %roles.primary, verb, "member Cluster applied");
                if r.cluster.is_none() {
                    event(
                        &ctx,
                        &fed.object_ref(&()),
                        false,
                        "MemberCreated",
                        format!(
                            "created Cluster {}/{} of member {member_name}",
                            r.observed.place.namespace, r.observed.place.name
                        ),
                    )
                    .await;
                }
            }
            Err(e) => {
                busy = true;
                tracing::warn!(federation = %name, member = %member_name, error = %e, "applying the member Cluster failed");
                event(
                    &ctx,
                    &fed.object_ref(&()),
                    true,
                    "MemberApplyFailed",
                    format!("member {member_name}: {e}"),
                )
                .await;
            }
        }
    }

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

/// The step of the switchover in `plan`, if one runs.
fn progress_step(plan: &switchover::Plan) -> Option<&str> {
    plan.progress.as_ref().map(|p| p.step.as_str())
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
