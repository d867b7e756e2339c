//! The controller's writes to members, each from a decision already taken: member Clusters
//! applied, the fencing lease moved, the Backups asked for (the seed a new member bootstraps
//! from, the first of a promoted member's new timeline), and Events on the Federation.

use crate::controller::{ANNOTATION_SPEC_HASH, Context, FIELD_MANAGER};
use crate::lease_store::LeaseRead;
use crate::member::{self, Placement, Roles};
use crate::observe::Read;
use crate::regional;
use crate::reseed;
use crate::switchover::{self, MemberView};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType};
use kube::{Client, Resource, ResourceExt};
use pgfed_api::backup::Backup;
use pgfed_api::cluster::{Cluster, ClusterSpec, FencingLeaseConfiguration};
use pgfed_api::federation::{Federation, FederationStatus};

pub(crate) fn spec_hash(spec: &ClusterSpec) -> String {
    use std::hash::{Hash, Hasher};
    let text = serde_json::to_string(spec).unwrap_or_default();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// The seed Backup a member bootstraps from: the holder's newest completed base backup, asked
/// for when the holder has none. `Ok(true)` once one exists.
pub(crate) async fn seed_backup(
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

pub(crate) async fn event(
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

/// After a failover, asks the promoted member for the first base backup of its new timeline
/// (the lost region re-seeds from it when it returns, and point-in-time recovery starts there),
/// once, recording its name in `new_status.lastFailover.baseBackup`. Returns whether to come
/// back soon (asking failed).
pub(crate) async fn request_failover_backup(
    ctx: &Context,
    fed: &Federation,
    name: &str,
    reads: &[Read],
    new_status: &mut FederationStatus,
) -> bool {
    let mut busy = false;
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
        if let Some(backup) = regional::failover_backup(new_status, &place.name, healthy) {
            match ask_backup(client, place, &backup).await {
                Ok(created) => {
                    if created {
                        event(
                            ctx,
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
    busy
}

/// Asks the primary member for the base backup a diverged replica member waits for
/// ([`reseed::backup_to_ask`]), with an Event naming who waits and why. Returns whether to come
/// back soon (asking failed).
pub(crate) async fn request_reseed_backup(
    ctx: &Context,
    fed: &Federation,
    reads: &[Read],
    observed: &[crate::status::Observed],
    holder: &str,
) -> bool {
    let Some(reseed::ReseedBackup {
        name: backup,
        waiting,
    }) = reseed::backup_to_ask(observed, holder)
    else {
        return false;
    };
    let Some((client, place)) = reads
        .iter()
        .find(|r| r.observed.view.name == holder)
        .and_then(|r| Some((r.client.as_ref()?, &r.observed.place)))
    else {
        return false;
    };
    match ask_backup(client, place, &backup).await {
        Ok(true) => {
            event(
                ctx,
                &fed.object_ref(&()),
                true,
                "ReseedBackupRequested",
                format!(
                    "{} went past the history of the primary {holder} (a failover inside its \
                     region forked the timeline behind what they had replayed); asked {holder} \
                     for Backup {}/{backup} to re-seed them from, their claims are kept aside",
                    waiting.join(", "),
                    place.namespace
                ),
            )
            .await;
            false
        }
        Ok(false) => false,
        Err(e) => {
            tracing::warn!(federation = %fed.name_any(), backup = %backup, error = %e, "cannot ask for the base backup a diverged member waits for; retrying");
            true
        }
    }
}

/// The fencing lease: taken over for a failover's target, or handed from a demoted primary to
/// the member that holds or takes the primary. Returns the member taking the primary, the member
/// whose apply is held back because the lease could not be moved to it (a member about to
/// promote is not told to while the lease still names another: its manager would fence it at
/// once), and whether to come back soon.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn move_lease(
    ctx: &Context,
    fed: &Federation,
    name: &str,
    lease_cfg: Option<&FencingLeaseConfiguration>,
    lease_read: Option<&LeaseRead>,
    lease_action: Option<&regional::LeaseAction>,
    plan: &switchover::Plan,
    views: &[MemberView],
) -> (String, Option<String>, bool) {
    let mut busy = false;
    let taking = match plan.progress.as_ref().map(|p| p.step.as_str()) {
        Some(step) if step != switchover::step::DEMOTING => plan
            .progress
            .as_ref()
            .map_or(plan.holder.clone(), |p| p.to.clone()),
        _ => plan.holder.clone(),
    };
    let mut held_back: Option<String> = None;
    if let (Some(cfg), Some(LeaseRead::Seen { stored, view })) = (lease_cfg, lease_read) {
        let to = match lease_action {
            Some(regional::LeaseAction::TakeOver { to }) => Some(to.clone()),
            Some(regional::LeaseAction::Keep) => None,
            None => regional::handover(view, &taking, views).then(|| taking.clone()),
        };
        if let Some(to) = to {
            busy = true;
            match ctx
                .leases
                .take_over(&ctx.client, fed, cfg, stored, &to)
                .await
            {
                Ok(taken) => {
                    tracing::info!(federation = %name, from = %view.holder, to = %to, epoch = taken.lease.epoch, "fencing lease taken over");
                    event(
                        ctx,
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

    (taking, held_back, busy)
}

/// Member Clusters: created (a replica once the holder has a base backup) or brought to what
/// `plan` tells them, each applied only when what would be written changed. Returns whether to
/// come back soon.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn apply_members(
    ctx: &Context,
    fed: &Federation,
    name: &str,
    reads: &[Read],
    plan: &switchover::Plan,
    lease_read: Option<&LeaseRead>,
    taking: &str,
    held_back: Option<&str>,
) -> bool {
    let mut busy = false;
    let holder_cluster = reads
        .iter()
        .find(|r| r.observed.view.name == plan.holder)
        .and_then(|r| r.cluster.clone());
    let holder_read = reads.iter().find(|r| r.observed.view.name == plan.holder);
    for r in reads {
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
        if held_back == Some(member_name.as_str()) {
            continue;
        }
        let existing = r.cluster.as_ref().map(|c| &c.spec);
        let Some(mut spec) =
            member::member_spec(fed, member_name, &roles, existing, Some(&plan.holder))
        else {
            continue;
        };
        if *member_name == taking
            && let Some(read) = lease_read
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
        let mut desired = member::member_cluster(fed, member_name, &r.observed.place, spec);
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
                        ctx,
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
                    ctx,
                    &fed.object_ref(&()),
                    true,
                    "MemberApplyFailed",
                    format!("member {member_name}: {e}"),
                )
                .await;
            }
        }
    }

    busy
}
