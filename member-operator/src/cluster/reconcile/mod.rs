//! One reconcile of a Cluster: observe → decide → build → apply → status. Every decision is a
//! pure function in `decide`, every object comes from a pure builder in `build`; this module only
//! sequences them and hands the results to `apply` and `status`.
//!
//! Order matters and is chosen so that a reconcile interrupted anywhere (the operator killed, an
//! API call failing) leaves nothing a later reconcile cannot finish: certificates and credentials
//! first (pods mount them), then the managers' configuration and ServiceAccount, Services and
//! PodDisruptionBudgets, then at most one instance step (create, recreate, remove or replace one
//! pod), then the role labels that `-rw` and `-ro` select on, then the status, then the status
//! and finalizers of the Database objects naming the Cluster. Orphan clean-up runs last among
//! the writes to children and only on objects this Cluster controls.
//!
//! Each step with side effects is its own module: `credentials` (certificates and credentials),
//! `children` (the managers' configuration, account, Lease, Services, budgets, orphans),
//! `instances` (one instance step, claim growth), `push` (settings to running managers),
//! `rollout` (rolling update and in-place upgrades), `labels` (role labels), `hibernate`, and
//! `report` (the status). `view` reads pods and claims; `image` resolves the operand image.

mod children;
mod credentials;
mod hibernate;
mod image;
mod instances;
mod labels;
mod push;
mod report;
mod rollout;
mod view;

use super::build::config::{self, DynamicSettings};
use super::build::meta::Owner;
use super::build::pod::{self, InstanceRole, PodInput};
use super::decide::phase::Overrides;
use super::decide::primary::PrimaryInput;
use super::decide::scale::{self, ScaleStep};
use super::election_view::{election_instances, lease_view};
use super::error::ReconcileError;
use super::observe::observe;
use super::status;
use chrono::DateTime;
use chrono::Utc;
use hibernate::{HibernateInput, hibernate};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use pgfed_api::cluster::phase as phases;
use pgfed_api::cluster::{Cluster, ClusterStatus};
use pgfed_api::names::{instance_name, instance_serial};
use std::collections::{BTreeMap, BTreeSet};
use view::{pod_ready, scale_view};

/// What the reconcile needs besides the Cluster.
#[derive(Clone)]
pub struct Settings {
    /// The operator's image (carries the manager the instances run).
    pub operator_image: String,
    /// The manager binary rolled out in place to running instances; None when the operator
    /// cannot read it (instances then get a new manager with a new pod).
    pub manager: Option<crate::manager_binary::ManagerBinary>,
    /// DNS domain of the Kubernetes cluster.
    pub cluster_domain: String,
    /// The operator's client certificates for the managers' status API, per cluster CA.
    pub certificates: crate::instances::ClientCertificates,
}

/// What one reconcile did, for the controller's requeue and Events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The phase written.
    pub phase: &'static str,
    /// The phase before.
    pub previous_phase: Option<String>,
    /// Instance actions taken (for Events): reason, message.
    pub actions: Vec<(&'static str, String)>,
    /// Problems first seen this time (for Warning Events): reason, message.
    pub warnings: Vec<(&'static str, String)>,
    /// Whether the cluster is still converging (requeue soon).
    pub converging: bool,
    /// Whether the primary is changing hands (failover, switchover): requeue at once.
    pub primary_changing: bool,
}

/// Reconciles `cluster` (its spec already defaulted and validated). Returns what it did.
pub async fn reconcile(
    client: &Client,
    cluster: &Cluster,
    settings: &Settings,
) -> Result<Outcome, ReconcileError> {
    // Everything below works on the spec with `bootstrap.recovery.backup` turned into the
    // object store it names.
    let resolved = super::recovery_backup::effective(client, cluster).await?;
    let cluster = resolved.as_ref().unwrap_or(cluster);
    let owner = Owner::of(cluster)?;
    let name = owner.name.clone();
    let spec = &cluster.spec;
    let old_status = cluster.status.clone().unwrap_or_default();
    let now = Utc::now();
    let mut observed = observe(
        client,
        cluster,
        &credentials::referenced_secrets(cluster, &name),
    )
    .await?;

    let credentials =
        credentials::ensure_all(client, cluster, &owner, settings, &observed, now).await?;
    let cert_config = spec.certificates.clone().unwrap_or_default();

    // What the instance managers report (none answer before the first pod runs).
    let managers = super::managers::client(
        &settings.certificates,
        &observed.secrets,
        &name,
        &owner.namespace,
        &cert_config,
    );
    let mut reported = match &managers {
        Ok(client) if !observed.pods.is_empty() => {
            super::managers::statuses(client, &observed.pods).await
        }
        Ok(_) => BTreeMap::new(),
        // Before the first pod there is nobody to reach (and the CA may be new this turn).
        Err(e) if !observed.pods.is_empty() => {
            tracing::warn!(cluster = %name, error = %e, "cannot reach the instance managers");
            BTreeMap::new()
        }
        Err(_) => BTreeMap::new(),
    };

    // A replica cluster's designated primary, or one waiting to promote, runs in recovery but
    // holds the cluster's primary role: every decision below sees it as the primary. Its raw
    // report is kept for the topology's status (demotion under way, token).
    let standing = super::decide::replica::standing(&name, spec.replica.as_ref(), &reported);
    let designated_raw = old_status
        .target_primary
        .as_ref()
        .map(|t| (t.clone(), reported.get(t).cloned()));
    super::decide::replica::designated_primary_acts(
        &mut reported,
        standing,
        old_status.target_primary.as_deref(),
    );

    // A designated primary diverged from its source (decide::reseed): replaced by a new instance
    // seeded from the source, its claims kept aside; the replacement is this turn's whole work.
    let reseed_step = super::reseed::step(
        &name,
        &observed,
        &old_status,
        standing == super::decide::replica::Standing::Replica,
        designated_raw.as_ref().and_then(|(_, r)| r.as_ref()),
        now,
    );
    if let super::decide::reseed::ReseedStep::Replace(r) = &reseed_step {
        return super::reseed::carry_out(
            client,
            cluster,
            &owner.uid,
            &observed,
            &old_status,
            r,
            now,
        )
        .await;
    }
    // Claims set aside by a replacement are no instance's any more.
    super::reseed::without_set_aside(&mut observed);

    // Instances: which step, and who is the primary.
    let instances = scale_view(&name, &observed);
    let desired = u32::try_from(spec.instances).unwrap_or(0);
    let latest = old_status
        .latest_generated_node
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0);
    let target_serial = old_status
        .target_primary
        .as_deref()
        .and_then(|t| instance_serial(&name, t));
    let primaries: BTreeSet<u32> = target_serial.into_iter().collect();
    let maintenance = scale::NodeMaintenance::of(spec.node_maintenance_window.as_ref());
    let step = scale::next_step(desired, latest, &instances, &primaries, maintenance);
    let target_primary = match (&old_status.target_primary, step.clone()) {
        (Some(t), _) => Some(t.clone()),
        (None, ScaleStep::Bootstrap { serial }) => Some(instance_name(&name, serial)),
        (None, _) => None,
    };

    // The primary: kept, failed over, or switched over (pure plan over pods, reports, Lease).
    let fenced = super::decide::fencing::fenced_instances(cluster);
    let lease_view = observed
        .leases
        .get(&name)
        .map(lease_view)
        .unwrap_or_default();
    let election_view = election_instances(&name, &observed, &reported, &fenced);
    let failing_since = old_status
        .current_primary_failing_since_timestamp
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    // A hibernating cluster removes its pods on purpose, the primary's first: nothing fails over.
    let hibernating =
        super::decide::hibernation::requested(cluster).map_err(ReconcileError::Invalid)?;
    let primary_plan = if hibernating {
        super::decide::primary::PrimaryPlan {
            target: target_primary.clone(),
            pushed: target_primary.clone(),
            ..Default::default()
        }
    } else {
        super::decide::primary::plan(&PrimaryInput {
            target: target_primary.as_deref(),
            current: old_status.current_primary.as_deref(),
            failing_since,
            failover_delay: chrono::Duration::seconds(i64::from(spec.failover_delay.unwrap_or(0))),
            instances: &election_view,
            lease: &lease_view,
            quorum: spec
                .postgresql
                .as_ref()
                .and_then(|p| p.synchronous.as_ref())
                .filter(|s| s.failover_quorum == Some(true))
                .and(old_status.failover_quorum.as_ref()),
            now,
        })
    };
    let target_primary = primary_plan.target.clone();
    let target_serial = target_primary
        .as_deref()
        .and_then(|t| instance_serial(&name, t));
    let pushed_target = primary_plan.pushed.clone();
    let primary_changing = primary_plan.phase.is_some();

    // Managers' configuration, ServiceAccount, Services, PodDisruptionBudgets.
    // Every instance that has (or is about to get) volumes; the primary keeps a slot for each.
    let mut instance_names: Vec<String> = instances
        .iter()
        .filter(|i| i.has_data_pvc)
        .map(|i| instance_name(&name, i.serial))
        .collect();
    if let ScaleStep::Bootstrap { serial } | ScaleStep::AddStandby { serial } = step {
        instance_names.push(instance_name(&name, serial));
    }
    instance_names.sort();
    instance_names.dedup();
    // Synchronous replication (decide::sync): which standbys the primary's commits wait for.
    let sync_plan = {
        use super::decide::sync;
        // The primary the managers are told about: after a failover or switchover, the new one.
        let primary = pushed_target.clone().or_else(|| {
            reported
                .iter()
                .find(|(_, s)| s.is_primary && s.postgres_running)
                .map(|(n, _)| n.clone())
        });
        let nodes = if sync::needs_nodes(cluster) {
            super::observe::node_labels(client, &observed.pods).await
        } else {
            BTreeMap::new()
        };
        let input = sync::gather(
            cluster,
            primary,
            &instance_names,
            &observed.pods,
            &reported,
            &nodes,
            pod_ready,
        );
        sync::plan(&input)
    };
    let synchronous_standby_names = sync_plan.standby_names.clone();
    // The cluster's Database objects: those the primary acts on go into the configuration and
    // are pushed to the running managers with the other dynamic settings (applied within
    // seconds).
    let databases = crate::database::apply::of_cluster(client, &owner.namespace, &name)
        .await
        .map_err(ReconcileError::kube("listing the Database objects"))?;
    let database_selection = crate::database::decide::select(
        &databases,
        spec.replica.as_ref().is_some_and(|r| r.is_replica(&name)),
    );
    let dynamic = DynamicSettings {
        app_secret: credentials.secrets.app.clone(),
        target_primary: pushed_target.clone(),
        fenced_all: fenced.all,
        version: u64::try_from(cluster.metadata.generation.unwrap_or(0)).unwrap_or(0),
        instances: instance_names.clone(),
        synchronous_standby_names: synchronous_standby_names.clone(),
        databases: database_selection.managed.clone(),
    };
    let built = children::ensure_all(
        client,
        cluster,
        &owner,
        &observed,
        &dynamic,
        credentials.secrets.superuser.as_deref(),
    )
    .await?;

    let image = image::operand_image(client, cluster).await?;

    // Hibernation: every pod removed (the primary's first), every claim kept.
    if hibernating {
        return hibernate(
            client,
            cluster,
            &owner,
            &observed,
            &old_status,
            HibernateInput {
                target_primary,
                current_primary: old_status.current_primary.clone(),
                latest_generated: latest,
                certificates: credentials.certificates,
                image,
                reported: &reported,
                fenced: &fenced,
                now,
            },
        )
        .await;
    }

    // Pods.
    let secrets = credentials.secrets;
    let build_pod = |serial: u32| -> Result<Pod, ReconcileError> {
        let role = if Some(serial) == target_serial {
            InstanceRole::Primary
        } else {
            InstanceRole::Replica
        };
        Ok(pod::build(&PodInput {
            cluster,
            owner: &owner,
            serial,
            role,
            operand_image: &image,
            operator_image: &settings.operator_image,
            secrets: &secrets,
            config_volume: config::volume(&name),
        })?)
    };
    if matches!(step, ScaleStep::Bootstrap { .. }) {
        // The first instance runs the post-init SQL: its Secrets and ConfigMaps must exist.
        super::post_init_refs::check(client, cluster).await?;
    }
    let mut own_status_version = cluster.metadata.resource_version.clone();
    if let ScaleStep::Bootstrap { serial } = &step
        && old_status.target_primary.is_none()
    {
        // The first instance is the target primary, persisted before it exists: a turn that
        // fails after creating it, or one started from a copy read before, must not take it for
        // a standby (nothing would recompute the target then).
        own_status_version = status::record_bootstrap_target(
            client,
            cluster,
            &instance_name(&name, *serial),
            *serial,
            now,
        )
        .await?;
    }
    let (latest_generated, mut actions) = instances::carry_out(
        client, cluster, &owner, &observed, &step, latest, &build_pod,
    )
    .await?;
    // Claims grow in place when the spec asks for more (never shrink, never recreated).
    let (grown, resize_failures) =
        instances::grow_claims(client, cluster, &owner, &observed, &instances).await?;
    actions.extend(grown);

    // The primary: the one instance whose manager reports a running primary; before any
    // report, the target once its pod is ready.
    let reporting_primary: Vec<&String> = reported
        .iter()
        .filter(|(_, s)| s.is_primary && s.postgres_running)
        .map(|(n, _)| n)
        .collect();
    let current_primary = match (reporting_primary.as_slice(), &target_primary) {
        ([one], _) => Some((*one).clone()),
        ([], Some(t))
            if old_status.current_primary.is_none()
                && reported.is_empty()
                && observed.pods.get(t).is_some_and(pod_ready) =>
        {
            Some(t.clone())
        }
        _ => old_status.current_primary.clone(),
    };
    // A failover or switchover is over once its target reports as the primary.
    let handed_over = current_primary.is_some()
        && current_primary == target_primary
        && current_primary != old_status.current_primary;
    if let (true, Some(old), Some(new)) = (
        handed_over,
        old_status.current_primary.as_ref(),
        current_primary.as_ref(),
    ) {
        actions.push((
            "PrimaryChanged",
            format!("{new} is the primary now (was {old})"),
        ));
    }
    actions.extend(primary_plan.events.iter().cloned());
    let failing_since = if handed_over {
        None
    } else {
        primary_plan.failing_since
    };

    // Fencing, the target primary and PostgreSQL's configuration reach running managers at once.
    let mut settings_settled = false;
    if let Ok(managers) = &managers {
        let (settled, fencing) = push::push_settings(
            managers,
            cluster,
            &observed,
            &reported,
            push::Pushed {
                fenced: &fenced,
                target_primary: pushed_target.as_deref(),
                instances: &instance_names,
                synchronous_standby_names: synchronous_standby_names.as_deref(),
                databases: &database_selection.managed,
            },
            now,
        )
        .await;
        settings_settled = settled;
        actions.extend(fencing);
    }

    let mut warnings = resize_failures;
    warnings.extend(primary_plan.warnings.iter().cloned());
    // A former primary that was re-cloned or refused by pg_rewind: a Warning per occurrence.
    let existing: BTreeSet<String> = observed
        .pods
        .keys()
        .chain(reported.keys())
        .cloned()
        .collect();
    let rejoins =
        super::decide::rejoin::rejoin_events(&old_status.rejoins_reported, &reported, &existing);
    warnings.extend(rejoins.warnings.iter().cloned());
    // Rolling update, when the instance count is settled or an instance is awaited (a pod stuck
    // on an outdated spec is replaced then); then the in-place upgrade of the managers.
    let rollout = if matches!(step, ScaleStep::Converged | ScaleStep::WaitFor { .. }) {
        rollout::roll(
            client,
            rollout::RolloutInput {
                cluster,
                owner: &owner,
                settings,
                observed: &observed,
                reported: &reported,
                managers: &managers,
                current_primary: &current_primary,
                election_view: &election_view,
                settings_settled,
                primary_changing,
                build_pod: &build_pod,
            },
        )
        .await?
    } else {
        rollout::Rollout::default()
    };
    actions.extend(rollout.actions);
    warnings.extend(rollout.warnings);

    labels::set_role_labels(client, &observed, pushed_target.as_deref(), &reported).await?;
    // Orphans: only objects this Cluster controls and did not build.
    children::remove_orphans(client, &owner, &observed, &built).await?;

    let reported_status = report::write(
        client,
        report::Turn {
            cluster,
            old_status: &old_status,
            own_status_version: own_status_version.as_deref(),
            observed: &observed,
            reported: &reported,
            instances: &instances,
            step: &step,
            desired,
            target_serial,
            target_primary: rollout.switchover_to.clone().or(target_primary.clone()),
            current_primary: current_primary.clone(),
            latest_generated,
            certificates: credentials.certificates,
            image,
            fenced: &fenced,
            failing_since,
            sync_plan: &sync_plan,
            rejoins_published: rejoins.published,
            standing,
            designated_raw: designated_raw.as_ref(),
            reseed_step: &reseed_step,
            outdated: rollout.outdated,
            under_way: Overrides {
                primary_change: primary_plan.phase.clone().filter(|_| !handed_over),
                waiting_for_user: rollout.waiting_for_user,
                restarting_primary: rollout.restarting_primary,
                topology: None,
                manager_upgrade: rollout.manager_upgrade,
            },
            now,
        },
    )
    .await?;
    let phase_now = reported_status.phase;
    actions.extend(reported_status.actions);
    warnings.extend(reported_status.warnings);
    // The Database objects, after the Cluster's own status: their status from what the
    // primary's manager reported, their finalizer off once it dropped their database.
    let database_reports = current_primary
        .as_ref()
        .and_then(|p| reported.get(p))
        .and_then(|s| s.databases.clone())
        .unwrap_or_default();
    crate::database::apply::settle(client, &databases, &database_selection, &database_reports)
        .await
        .map_err(ReconcileError::kube("updating the Database objects"))?;
    Ok(Outcome {
        phase: phase_now,
        previous_phase: old_status.phase.clone(),
        actions,
        warnings,
        converging: phase_now != phases::HEALTHY,
        primary_changing,
    })
}

/// The status of a Cluster whose definition is invalid or whose references are missing: the
/// phase says so, with the cause; nothing else is touched.
pub async fn report_blocked(
    client: &Client,
    cluster: &Cluster,
    error: &ReconcileError,
) -> Result<(), ReconcileError> {
    let old: ClusterStatus = cluster.status.clone().unwrap_or_default();
    let new = status::blocked(cluster, error, Utc::now());
    status::write_if_changed(client, cluster, &old, new).await
}
