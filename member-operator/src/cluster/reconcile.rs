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

use super::apply::{self, ensure};
use super::build::certs::{self, ObservedCerts, SecretData};
use super::build::config::{self, DynamicSettings};
use super::build::credentials::{self, Login};
use super::build::meta::Owner;
use super::build::pod::{
    self, ANNOTATION_POD_SPEC_HASH, InstanceRole, PodInput, PodSecrets, pod_spec_hash,
};
use super::build::{account, pdb, pvc, service};
use super::decide::phase::{Phase, PhaseInput, phase};
use super::decide::primary::PrimaryInput;
use super::decide::rollout::{self, RolloutInstance, RolloutStep};
use super::decide::scale::{self, ObservedInstance, ScaleStep};
use super::decide::upgrade::{self, ManagerInstance, UpgradeStep};
use super::election_view::{election_instances, lease_view};
use super::error::ReconcileError;
use super::observe::{Observed, observe};
use super::status::{self, StatusInput};
use chrono::DateTime;
use chrono::Utc;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret};
use kube::{Client, ResourceExt};
use pgfed_api::cluster::phase as phases;
use pgfed_api::cluster::{Cluster, ClusterStatus, PrimaryUpdateMethod, PrimaryUpdateStrategy};
use pgfed_api::image_catalog::{ClusterImageCatalog, ImageCatalog};
use pgfed_api::names::{
    LABEL_INSTANCE_NAME, LABEL_INSTANCE_ROLE, instance_name, instance_serial, secret_app,
    secret_superuser,
};
use std::collections::{BTreeMap, BTreeSet};

/// How long every manager must have had its settings before an in-place restart is decided on
/// what they report: a manager applies pushed settings within about a second.
const SETTINGS_SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

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

/// The Secrets this Cluster's spec names: certificate Secrets and credentials.
fn referenced_secrets(cluster: &Cluster, name: &str) -> BTreeSet<String> {
    let spec = &cluster.spec;
    let mut names = certs::secrets_to_read(name, &spec.certificates.clone().unwrap_or_default());
    names.insert(app_secret_name(cluster, name));
    if let Some(s) = &spec.superuser_secret {
        names.insert(s.name.clone());
    }
    let roles = spec.managed.iter().flat_map(|m| &m.roles);
    names.extend(roles.filter_map(|r| r.password_secret.as_ref().map(|s| s.name.clone())));
    for external in &spec.external_clusters {
        let tls = [
            &external.ssl_cert,
            &external.ssl_key,
            &external.ssl_root_cert,
        ];
        names.extend(tls.into_iter().flatten().map(|s| s.name.clone()));
    }
    let stores = spec
        .backup
        .iter()
        .filter_map(|b| b.barman_object_store.as_ref())
        .chain(spec.fencing_lease_store())
        .chain(
            spec.external_clusters
                .iter()
                .filter_map(|e| e.barman_object_store.as_ref()),
        );
    for store in stores {
        names.extend(
            store
                .secret_selectors()
                .into_iter()
                .map(|(_, s)| s.name.clone()),
        );
    }
    names
}

fn app_secret_name(cluster: &Cluster, name: &str) -> String {
    cluster
        .spec
        .bootstrap
        .as_ref()
        .and_then(|b| b.initdb.as_ref())
        .and_then(|i| i.secret.as_ref())
        .map_or_else(|| secret_app(name), |s| s.name.clone())
}

/// A new random password: 32 characters from 62, about 190 bits.
fn generate_password() -> Result<String, ReconcileError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 64];
    getrandom::fill(&mut bytes).map_err(|e| ReconcileError::Random(e.to_string()))?;
    // Rejection sampling keeps the characters uniform.
    let password: String = bytes
        .iter()
        .filter(|b| usize::from(**b) < 248)
        .take(32)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    if password.len() < 32 {
        return Err(ReconcileError::Random("not enough random bytes".into()));
    }
    Ok(password)
}

fn secret_value(secret: &Secret, key: &str) -> Option<String> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .and_then(|v| String::from_utf8(v.0.clone()).ok())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key).cloned())
        })
}

/// The credentials Secret `name` for `username`: the user's (which must exist and hold a
/// password) or the generated one (its password kept once generated).
fn credentials_secret(
    observed: &Observed,
    owner: &Owner,
    settings: &Settings,
    name: &str,
    user_given: Option<&str>,
    login: (&str, &str),
) -> Result<Option<Secret>, ReconcileError> {
    if let Some(field) = user_given {
        let secret =
            observed
                .secrets
                .get(name)
                .ok_or_else(|| ReconcileError::MissingReference {
                    kind: "Secret",
                    name: name.to_string(),
                    field: field.to_string(),
                })?;
        if secret_value(secret, "password").is_none() {
            return Err(ReconcileError::MissingKey {
                kind: "Secret",
                name: name.to_string(),
                key: "password".into(),
                field: field.to_string(),
            });
        }
        return Ok(None);
    }
    let password = match observed
        .secrets
        .get(name)
        .filter(|s| apply::owned_by(*s, &owner.uid))
        .and_then(|s| secret_value(s, "password"))
    {
        Some(existing) => existing,
        None => generate_password()?,
    };
    let login = Login {
        username: login.0.to_string(),
        password,
        dbname: login.1.to_string(),
    };
    Ok(Some(credentials::build(
        owner,
        name,
        &login,
        &settings.cluster_domain,
    )))
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn terminating<K: kube::Resource>(obj: &K) -> bool {
    obj.meta().deletion_timestamp.is_some()
}

/// Serial of the instance a claim belongs to.
fn pvc_serial(cluster: &str, pvc: &PersistentVolumeClaim) -> Option<u32> {
    pvc.labels()
        .get(LABEL_INSTANCE_NAME)
        .and_then(|instance| instance_serial(cluster, instance))
}

fn is_data_pvc(pvc: &PersistentVolumeClaim) -> bool {
    pvc.labels().get(pvc::LABEL_PVC_ROLE).map(String::as_str) == Some(pvc::PvcRole::Data.label())
}

/// The instances as the scale decision sees them.
fn scale_view(name: &str, observed: &Observed) -> Vec<ObservedInstance> {
    let mut by_serial: BTreeMap<u32, ObservedInstance> = BTreeMap::new();
    let entry = |m: &mut BTreeMap<u32, ObservedInstance>, serial| {
        m.entry(serial)
            .or_insert(ObservedInstance {
                serial,
                has_pod: false,
                has_data_pvc: false,
                ready: false,
            })
            .serial
    };
    for (pod_name, p) in &observed.pods {
        if let Some(serial) = instance_serial(name, pod_name) {
            entry(&mut by_serial, serial);
            if let Some(i) = by_serial.get_mut(&serial) {
                i.has_pod = !terminating(p);
                i.ready = pod_ready(p) && !terminating(p);
            }
        }
    }
    for p in observed.pvcs.values() {
        if let Some(serial) = pvc_serial(name, p)
            && is_data_pvc(p)
            && !terminating(p)
        {
            entry(&mut by_serial, serial);
            if let Some(i) = by_serial.get_mut(&serial) {
                i.has_data_pvc = true;
            }
        }
    }
    by_serial.into_values().collect()
}

/// The operand image: `imageName`, or the catalog entry for `imageCatalogRef.major`.
async fn operand_image(client: &Client, cluster: &Cluster) -> Result<String, ReconcileError> {
    let spec = &cluster.spec;
    if let Some(image) = &spec.image_name {
        return Ok(image.clone());
    }
    let Some(reference) = &spec.image_catalog_ref else {
        return Ok(pgfed_api::names::DEFAULT_POSTGRES_IMAGE.to_string());
    };
    let namespace = cluster.namespace().unwrap_or_default();
    let missing = || ReconcileError::MissingReference {
        kind: if reference.kind == "ClusterImageCatalog" {
            "ClusterImageCatalog"
        } else {
            "ImageCatalog"
        },
        name: reference.name.clone(),
        field: "spec.imageCatalogRef".into(),
    };
    let images = if reference.kind == "ClusterImageCatalog" {
        let api: kube::Api<ClusterImageCatalog> = kube::Api::all(client.clone());
        api.get_opt(&reference.name)
            .await
            .map_err(ReconcileError::kube("reading the ClusterImageCatalog"))?
            .ok_or_else(missing)?
            .spec
            .images
    } else {
        let api: kube::Api<ImageCatalog> = kube::Api::namespaced(client.clone(), &namespace);
        api.get_opt(&reference.name)
            .await
            .map_err(ReconcileError::kube("reading the ImageCatalog"))?
            .ok_or_else(missing)?
            .spec
            .images
    };
    images
        .into_iter()
        .find(|i| i.major == reference.major)
        .map(|i| i.image)
        .ok_or_else(|| {
            ReconcileError::Invalid(format!(
                "spec.imageCatalogRef.major: {} {} has no image for major {}",
                reference.kind, reference.name, reference.major
            ))
        })
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
    let mut observed = observe(client, cluster, &referenced_secrets(cluster, &name)).await?;

    // Certificates.
    let cert_config = spec.certificates.clone().unwrap_or_default();
    let to_read = certs::secrets_to_read(&name, &cert_config);
    let observed_certs = ObservedCerts {
        cluster: name.clone(),
        namespace: owner.namespace.clone(),
        cluster_domain: settings.cluster_domain.clone(),
        config: cert_config.clone(),
        secrets: observed
            .secrets
            .iter()
            .filter(|(n, _)| to_read.contains(*n))
            .map(|(n, s)| (n.clone(), SecretData::from_secret(s)))
            .collect(),
    };
    let cert_plan = certs::plan(&observed_certs, now);
    let issued = certs::build(&owner, &observed_certs, &cert_plan, now)?;
    for secret in issued.secrets {
        let live = observed.secrets.get(&secret.name_any());
        ensure(client, secret, live).await?;
    }

    // Credentials.
    let app_name = app_secret_name(cluster, &name);
    let initdb = spec.bootstrap.as_ref().and_then(|b| b.initdb.as_ref());
    let creates_app_owner = spec.bootstrap.as_ref().is_none_or(|b| b.initdb.is_some());
    let mut app_secret = None;
    if creates_app_owner {
        let database = initdb
            .and_then(|i| i.database.clone())
            .unwrap_or_else(|| pgfed_api::names::DEFAULT_DATABASE.to_string());
        let owner_role = initdb
            .and_then(|i| i.owner.clone())
            .unwrap_or_else(|| database.clone());
        let user_given = initdb
            .and_then(|i| i.secret.as_ref())
            .map(|_| "spec.bootstrap.initdb.secret");
        if let Some(secret) = credentials_secret(
            &observed,
            &owner,
            settings,
            &app_name,
            user_given,
            (&owner_role, &database),
        )? {
            ensure(client, secret, observed.secrets.get(&app_name)).await?;
        }
        app_secret = Some(app_name.clone());
    }
    let mut superuser_secret = None;
    if spec.enable_superuser_access == Some(true) {
        let su_name = spec
            .superuser_secret
            .as_ref()
            .map_or_else(|| secret_superuser(&name), |s| s.name.clone());
        let user_given = spec
            .superuser_secret
            .as_ref()
            .map(|_| "spec.superuserSecret");
        if let Some(secret) = credentials_secret(
            &observed,
            &owner,
            settings,
            &su_name,
            user_given,
            ("postgres", "*"),
        )? {
            ensure(client, secret, observed.secrets.get(&su_name)).await?;
        }
        superuser_secret = Some(su_name);
    }
    let role_secrets =
        credentials::role_password_secrets(cluster, |n| observed.secrets.contains_key(n)).map_err(
            |m| ReconcileError::MissingReference {
                kind: "Secret",
                name: m.name,
                field: m.field,
            },
        )?;

    let missing = |m: credentials::MissingRoleSecret| ReconcileError::MissingReference {
        kind: "Secret",
        name: m.name,
        field: m.field,
    };
    let mut external_secrets =
        credentials::external_cluster_secrets(cluster, |n| observed.secrets.contains_key(n))
            .map_err(missing)?;
    // The object stores' credentials: the manager archives WAL and takes backups with them.
    external_secrets.extend(
        credentials::object_store_secrets(cluster, |n| observed.secrets.contains_key(n))
            .map_err(missing)?,
    );

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
        app_secret: app_secret.clone(),
        target_primary: pushed_target.clone(),
        fenced_all: fenced.all,
        version: u64::try_from(cluster.metadata.generation.unwrap_or(0)).unwrap_or(0),
        instances: instance_names.clone(),
        synchronous_standby_names: synchronous_standby_names.clone(),
        databases: database_selection.managed.clone(),
    };
    let config_map = config::build(
        &owner,
        &config::manager_config(cluster, &owner, &dynamic, superuser_secret.as_deref()),
    )?;
    let config_name = config_map.name_any();
    ensure(client, config_map, observed.config_maps.get(&config_name)).await?;
    let sa = account::build(cluster, &owner);
    ensure(client, sa, observed.service_accounts.get(&name)).await?;
    ensure(client, account::role(&owner), observed.roles.get(&name)).await?;
    ensure(
        client,
        account::role_binding(&owner),
        observed.role_bindings.get(&name),
    )
    .await?;
    // Created once, empty; from then on only the managers write it (holder and renewals).
    if !observed.leases.contains_key(&name) {
        ensure(client, account::primary_lease(&owner), None).await?;
    }
    let services = service::build(cluster, &owner)?;
    let mut built_services = Vec::new();
    for desired in services {
        let svc = desired.service;
        built_services.push(svc.name_any());
        let live = observed.services.get(&svc.name_any());
        ensure(client, svc, live).await?;
    }
    let mut built_pdbs = Vec::new();
    for budget in pdb::build(cluster, &owner) {
        built_pdbs.push(budget.name_any());
        let live = observed.pdbs.get(&budget.name_any());
        ensure(client, budget, live).await?;
    }

    let image = operand_image(client, cluster).await?;

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
                certificates: issued.status,
                image,
                reported: &reported,
                fenced: &fenced,
                now,
            },
        )
        .await;
    }

    // Pods.
    let secrets = PodSecrets {
        server_tls: certs::CertRole::ServerTls.secret(&name, &cert_config).0,
        server_ca: certs::CertRole::ServerCa.secret(&name, &cert_config).0,
        replication_tls: certs::CertRole::Replication.secret(&name, &cert_config).0,
        client_ca: certs::CertRole::ClientCa.secret(&name, &cert_config).0,
        app: app_secret,
        superuser: superuser_secret,
        roles: role_secrets,
        external: external_secrets,
    };
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
    let mut actions: Vec<(&'static str, String)> = Vec::new();
    let mut latest_generated = latest;
    match step {
        ScaleStep::Bootstrap { serial } | ScaleStep::AddStandby { serial } => {
            for claim in pvc::build(cluster, &owner, &instance_name(&name, serial))? {
                let live = observed.pvcs.get(&claim.name_any());
                if live.is_none() {
                    ensure(client, claim, None).await?;
                }
            }
            apply::create_pod(client, &build_pod(serial)?).await?;
            latest_generated = latest_generated.max(serial);
            actions.push((
                "CreatingInstance",
                format!("creating instance {}", instance_name(&name, serial)),
            ));
        }
        ScaleStep::RecreatePod { serial } => {
            apply::create_pod(client, &build_pod(serial)?).await?;
            actions.push((
                "RecreatingInstance",
                format!(
                    "recreating the pod of instance {} on its volumes",
                    instance_name(&name, serial)
                ),
            ));
        }
        ScaleStep::Remove { serial, reason } => {
            let instance = instance_name(&name, serial);
            if let Some(p) = observed.pods.get(&instance) {
                apply::delete_owned(client, p, &owner.uid).await?;
            }
            for claim in observed
                .pvcs
                .values()
                .filter(|c| pvc_serial(&name, c) == Some(serial))
            {
                apply::delete_owned(client, claim, &owner.uid).await?;
            }
            actions.push(("RemovingInstance", reason.message(&instance)));
        }
        ScaleStep::WaitFor { .. } | ScaleStep::Converged | ScaleStep::CannotScaleDown => {}
    }

    // Claims grow in place when the spec asks for more (never shrink, never recreated).
    let mut resize_failures: Vec<(&'static str, String)> = Vec::new();
    let resize_in_use = spec
        .storage
        .as_ref()
        .and_then(|s| s.resize_in_use_volumes)
        .unwrap_or(true);
    for serial in instances
        .iter()
        .filter(|i| i.has_data_pvc)
        .map(|i| i.serial)
    {
        for claim in pvc::build(cluster, &owner, &instance_name(&name, serial))? {
            let Some(live) = observed.pvcs.get(&claim.name_any()) else {
                continue;
            };
            if let Some(size) = pvc::grow_to(&claim, live, resize_in_use) {
                let patch = serde_json::json!({
                    "spec": {"resources": {"requests": {"storage": size}}}
                });
                // A StorageClass without volume expansion refuses: that is reported, and the
                // cluster carries on at its present size.
                match apply::merge_patch(client, live, &patch).await {
                    Ok(()) => actions.push((
                        "ResizingVolume",
                        format!("growing claim {} to {size}", live.name_any()),
                    )),
                    Err(e) => resize_failures.push(("ResizeFailed", e.to_string())),
                }
            }
        }
    }

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

    // Whether every manager has had its settings long enough for what it reports to reflect
    // them; in-place restarts wait for it (see below).
    let mut settings_settled = false;
    // Fencing, the target primary and PostgreSQL's configuration reach running managers at once,
    // over their status API (the ConfigMap is what a new pod starts from).
    if let Ok(client) = &managers {
        let version = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        let postgresql = spec.postgresql.clone().unwrap_or_default();
        let settings = super::managers::ClusterSettings {
            fenced: &fenced,
            target_primary: pushed_target.as_deref(),
            postgresql: &postgresql,
            instances: &instance_names,
            synchronous_standby_names: synchronous_standby_names.as_deref(),
            replica: spec.replica.as_ref(),
            databases: &database_selection.managed,
            version,
        };
        // Only the managers that answered this turn: one that did not (its node stopped, cut
        // off) would cost a connect timeout per call while a failover waits for this turn.
        let answering: BTreeMap<String, Pod> = observed
            .pods
            .iter()
            .filter(|(instance, _)| reported.contains_key(*instance))
            .map(|(instance, pod)| (instance.clone(), pod.clone()))
            .collect();
        let converged = super::managers::converge(client, &answering, |instance| {
            super::managers::desired(instance, &settings)
        })
        .await;
        settings_settled = converged.settled(version, SETTINGS_SETTLE);
        for (instance, config) in converged.pushed {
            let was_fenced = reported.get(&instance).is_some_and(|s| s.fenced);
            if config.fenced != was_fenced {
                let verb = if config.fenced {
                    "fencing"
                } else {
                    "unfencing"
                };
                actions.push(("Fencing", format!("{verb} instance {instance}")));
            }
        }
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
    let mut outdated = 0u32;
    let mut waiting_for_user = false;
    let mut restarting_primary = false;
    let mut manager_upgrade: Option<String> = None;
    let mut rollout_switchover: Option<String> = None;
    if matches!(step, ScaleStep::Converged | ScaleStep::WaitFor { .. }) {
        let mut view = Vec::new();
        let mut managers_view = Vec::new();
        let mut spec_current = BTreeSet::new();
        for (pod_name, p) in &observed.pods {
            let Some(serial) = instance_serial(&name, pod_name) else {
                continue;
            };
            if terminating(p) {
                continue;
            }
            let report = reported.get(pod_name);
            let want = pod_spec_hash(&build_pod(serial)?);
            // The manager comes with a new pod when it cannot come in place: the operator has no
            // binary to send, or the running manager predates in-place upgrades.
            let in_place =
                settings.manager.is_some() && report.is_none_or(|s| !s.manager_version.is_empty());
            let manager_current =
                in_place || pod::bootstrap_image(p) == Some(settings.operator_image.as_str());
            let current_spec =
                p.annotations().get(ANNOTATION_POD_SPEC_HASH) == Some(&want) && manager_current;
            if current_spec {
                spec_current.insert(serial);
            }
            // A parameter change PostgreSQL applies only at start (its manager reports
            // `pending_restart`) restarts the instances in place, in the rollout's order;
            // reloadable ones were applied by the manager with a reload.
            let pending_restart = report.is_some_and(|s| s.pending_restart);
            let ready = pod_ready(p) && report.is_none_or(|s| s.postgres_running);
            let primary = Some(pod_name) == current_primary.as_ref();
            outdated += u32::from(!current_spec || pending_restart);
            view.push(RolloutInstance {
                serial,
                current: current_spec && !pending_restart,
                ready,
                primary,
            });
            managers_view.push(ManagerInstance {
                serial,
                primary,
                ready,
                digest: report.and_then(reported_manager_digest),
            });
        }
        let supervised = spec.primary_update_strategy == Some(PrimaryUpdateStrategy::Supervised);
        let ip_of = |instance: &str| {
            super::managers::addresses(&observed.pods)
                .into_iter()
                .find(|(n, _)| n == instance)
                .map(|(_, ip)| ip)
        };
        let primary_first = current_primary
            .as_ref()
            .and_then(|p| reported.get(p))
            .is_some_and(|s| s.pending_restart_lowers_standby_minimum);
        match rollout::next_step(&view, supervised, primary_first) {
            // A restart for `pending_restart` waits until every manager has had the new settings
            // for a while: one that has not applied them yet reports no pending restart, and
            // the primary would go first instead of last.
            RolloutStep::ReplaceStandby(serial) | RolloutStep::ReplacePrimary(serial)
                if spec_current.contains(&serial) && !settings_settled => {}
            RolloutStep::ReplaceStandby(serial) | RolloutStep::ReplacePrimary(serial)
                if spec_current.contains(&serial) =>
            {
                let instance = instance_name(&name, serial);
                restarting_primary = Some(&instance) == current_primary.as_ref();
                if let (Ok(client), Some(ip)) = (&managers, ip_of(&instance)) {
                    match client.request_restart(ip).await {
                        Ok(()) => actions.push((
                            "RestartingInstance",
                            format!("restarting instance {instance} in place: a changed parameter needs it"),
                        )),
                        Err(e) => tracing::warn!(cluster = %name, instance, error = %e, cause = e.label(), "asking for a restart failed"),
                    }
                }
            }
            // `primaryUpdateMethod: switchover`: the primary hands over to the most advanced
            // standby first; it is replaced as a standby afterwards.
            RolloutStep::ReplacePrimary(serial)
                if spec.primary_update_method == Some(PrimaryUpdateMethod::Switchover)
                    && !primary_changing =>
            {
                let instance = instance_name(&name, serial);
                if let Some((to, why)) =
                    super::decide::election::most_advanced(&instance, &election_view)
                {
                    actions.push((
                        "SwitchingOver",
                        format!("rolling update: switching over from {instance} to {to}, {why}, before replacing {instance}"),
                    ));
                    rollout_switchover = Some(to);
                }
            }
            RolloutStep::ReplaceStandby(serial) | RolloutStep::ReplacePrimary(serial) => {
                let instance = instance_name(&name, serial);
                if let Some(p) = observed.pods.get(&instance) {
                    apply::delete_owned(client, p, &owner.uid).await?;
                }
                actions.push((
                    "UpdatingInstance",
                    format!("rolling update: replacing the pod of {instance}"),
                ));
            }
            RolloutStep::WaitForUser(_) => waiting_for_user = true,
            RolloutStep::Wait => {}
            RolloutStep::Done => {
                if let (Some(binary), Ok(managers)) = (&settings.manager, &managers) {
                    match upgrade::next_step(&managers_view, &binary.digest) {
                        UpgradeStep::Done => {}
                        UpgradeStep::Wait { outdated } => {
                            manager_upgrade = Some(format!(
                                "{outdated} instance manager(s) to upgrade in place; waiting for every instance to be ready"
                            ));
                        }
                        UpgradeStep::Upgrade { serial, outdated } => {
                            let instance = instance_name(&name, serial);
                            manager_upgrade = Some(format!(
                                "upgrading the instance manager of {instance} in place ({outdated} to go)"
                            ));
                            if let Some(ip) = ip_of(&instance) {
                                match upload_manager(managers, binary, ip).await {
                                    Ok(()) => actions.push((
                                        "UpgradingInstanceManager",
                                        format!("instance {instance} runs the operator's manager now (in place; postgres keeps running)"),
                                    )),
                                    Err(e) => warnings.push((
                                        "InstanceManagerUpgradeFailed",
                                        format!("upgrading the manager of {instance} in place: {e}"),
                                    )),
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    // Role labels, which `-rw`/`-ro` select on (decide::role_labels says who and in which order).
    let labelled_primary =
        super::decide::role_labels::labelled_primary(pushed_target.as_deref(), &reported);
    let live_pods: BTreeMap<String, &Pod> = observed
        .pods
        .iter()
        .filter(|(_, p)| !terminating(*p))
        .map(|(n, p)| (n.clone(), p))
        .collect();
    let current_labels: BTreeMap<String, Option<bool>> = live_pods
        .iter()
        .map(|(n, p)| {
            let label = p.labels().get(LABEL_INSTANCE_ROLE).map(String::as_str);
            let role = match label {
                Some(l) if l == InstanceRole::Primary.label() => Some(true),
                Some(l) if l == InstanceRole::Replica.label() => Some(false),
                _ => None,
            };
            (n.clone(), role)
        })
        .collect();
    for change in super::decide::role_labels::changes(&current_labels, labelled_primary.as_deref())
    {
        let Some(p) = live_pods.get(&change.pod) else {
            continue;
        };
        let role = if change.primary {
            InstanceRole::Primary
        } else {
            InstanceRole::Replica
        };
        let labels = BTreeMap::from([(LABEL_INSTANCE_ROLE.to_string(), role.label().to_string())]);
        apply::set_labels(client, *p, &labels).await?;
    }

    // Orphans: only objects this Cluster controls and did not build.
    for o in apply::orphans(&observed.services, &built_services, &owner.uid) {
        apply::delete_owned(client, o, &owner.uid).await?;
    }
    for o in apply::orphans(&observed.pdbs, &built_pdbs, &owner.uid) {
        apply::delete_owned(client, o, &owner.uid).await?;
    }
    // Secrets are never orphan-deleted (a credential no longer generated, e.g. the superuser's
    // after `enableSuperuserAccess: false`, stays until the Cluster goes): losing one cannot be
    // undone, keeping one costs nothing.

    // Status.
    let ready = u32::try_from(instances.iter().filter(|i| i.ready).count()).unwrap_or(0);
    let Phase {
        phase: mut phase_now,
        mut reason,
    } = phase(&PhaseInput {
        step: step.clone(),
        target_primary: target_serial,
        primary_elected: current_primary.is_some(),
        desired,
        ready,
        outdated,
    });
    // A pod that cannot start says why, in the phase reason; an Event when first seen.
    let problems = super::decide::pod_problems::pod_problems(&observed.pods, &observed.pvcs);
    if !problems.is_empty() && phase_now != phases::HEALTHY {
        let previous = old_status.phase_reason.clone().unwrap_or_default();
        for problem in problems.values() {
            if !previous.contains(problem.as_str()) {
                warnings.push(("InstanceNotStarting", problem.clone()));
            }
        }
        reason = problems.values().cloned().collect::<Vec<_>>().join("; ");
    }
    let topology = super::decide::replica::replica_status(
        standing,
        spec.replica.as_ref(),
        designated_raw
            .as_ref()
            .map(|(n, r)| (n.as_str(), r.as_ref())),
        old_status.demotion_token.as_deref(),
        old_status.last_promotion_token.as_deref(),
    );
    if let (false, Some((ha_phase, why))) = (handed_over, primary_plan.phase.clone()) {
        phase_now = ha_phase;
        reason = why;
    } else if waiting_for_user {
        phase_now = phases::WAITING_FOR_USER;
        reason = "the primary runs an outdated pod and primaryUpdateStrategy is supervised".into();
    } else if restarting_primary {
        phase_now = phases::PRIMARY_RESTARTING;
        reason = "a changed parameter needs a restart of the primary".into();
    } else if let Some((promoting, why)) = topology.phase.clone() {
        phase_now = promoting;
        reason = why;
    } else if let Some(why) = manager_upgrade
        && phase_now == phases::HEALTHY
    {
        phase_now = phases::ONLINE_UPGRADING;
        reason = why;
    }
    let mut new_status = status::build(&StatusInput {
        cluster,
        observed: &observed,
        phase: phase_now,
        phase_reason: reason,
        target_primary: rollout_switchover.clone().or(target_primary.clone()),
        current_primary: current_primary.clone(),
        latest_generated,
        certificates: issued.status,
        image,
        reported: &reported,
        fenced: &fenced,
        failing_since,
        sync_replication: super::decide::sync::condition(
            &sync_plan,
            cluster.metadata.generation,
            now,
        ),
        now,
    });
    new_status.rejoins_reported = rejoins.published;
    new_status.wal_position = super::decide::wal_position::wal_position(
        standing,
        designated_raw.as_ref().and_then(|(_, r)| r.as_ref()),
        old_status.wal_position.as_ref(),
        now,
    );
    // The replica topology: tokens and the switch conditions; an Event when a token appears.
    if topology.demotion_token.is_some() && topology.demotion_token != old_status.demotion_token {
        actions.push((
            "DemotionTokenPublished",
            "demoted to a replica cluster; the demotion token is in status.demotionToken".into(),
        ));
    }
    if topology.last_promotion_token.is_some()
        && topology.last_promotion_token != old_status.last_promotion_token
    {
        actions.push((
            "PromotedToPrimaryCluster",
            "promoted at the promotion token: this is the primary cluster now".into(),
        ));
    }
    new_status.demotion_token = topology.demotion_token.clone();
    new_status.last_promotion_token = topology.last_promotion_token.clone();
    new_status.conditions.retain(|c| {
        !super::decide::replica::CONDITIONS.contains(&c.type_.as_str())
            || topology.conditions.iter().any(|t| t.0 == c.type_)
    });
    for (type_, ok, why, message) in &topology.conditions {
        status::set_condition(
            &mut new_status.conditions,
            status::condition(
                type_,
                *ok,
                why,
                message.clone(),
                cluster.metadata.generation,
                now,
            ),
        );
    }
    if let Some((warning, reason, note)) =
        super::decide::archiving::archiving_event(&old_status.conditions, &new_status.conditions)
    {
        if warning {
            warnings.push((reason, note));
        } else {
            actions.push((reason, note));
        }
    }
    let reseed_warning = super::reseed::report(
        &reseed_step,
        &mut new_status,
        cluster.metadata.generation,
        now,
    );
    warnings.extend(reseed_warning);
    status::write_if_changed_at(
        client,
        cluster,
        own_status_version.as_deref(),
        &old_status,
        new_status,
    )
    .await?;
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

/// The manager digest an instance reports, as the in-place upgrade reads it: empty for a manager
/// that predates in-place upgrades (it reports no version either), None while a new manager is
/// still digesting itself (it reports its version at once). Pure.
fn reported_manager_digest(status: &pgfed_api::instance::InstanceStatus) -> Option<String> {
    match (
        status.manager_version.is_empty(),
        status.manager_hash.is_empty(),
    ) {
        (true, _) => Some(String::new()),
        (false, true) => None,
        (false, false) => Some(status.manager_hash.clone()),
    }
}

/// Sends the operator's manager to the instance at `ip`.
async fn upload_manager(
    managers: &crate::instances::InstanceClient,
    binary: &crate::manager_binary::ManagerBinary,
    ip: std::net::IpAddr,
) -> Result<(), ManagerUploadError> {
    let file = binary.open().await.map_err(ManagerUploadError::Read)?;
    Ok(managers.upload_manager(ip, file, &binary.digest).await?)
}

/// Why an in-place upgrade of one manager failed (it is tried again by a later reconcile).
#[derive(Debug, thiserror::Error)]
enum ManagerUploadError {
    /// The operator's own copy cannot be opened.
    #[error("reading the operator's manager: {0}")]
    Read(#[source] std::io::Error),
    /// The manager refused it or did not answer.
    #[error(transparent)]
    Send(#[from] crate::instances::InstanceClientError),
}

/// What the hibernation step needs besides the observation.
struct HibernateInput<'a> {
    target_primary: Option<String>,
    current_primary: Option<String>,
    latest_generated: u32,
    certificates: pgfed_api::cluster::CertificatesStatus,
    image: String,
    reported: &'a BTreeMap<String, pgfed_api::instance::InstanceStatus>,
    fenced: &'a super::decide::fencing::Fenced,
    now: chrono::DateTime<Utc>,
}

/// Takes a hibernating cluster one step further and writes its status: phase "Waiting for user
/// action" (only the user resumes it) and condition `pgfed.io/hibernation`.
async fn hibernate(
    client: &Client,
    cluster: &Cluster,
    owner: &Owner,
    observed: &Observed,
    old_status: &ClusterStatus,
    input: HibernateInput<'_>,
) -> Result<Outcome, ReconcileError> {
    use super::decide::hibernation::{HibernatingPod, HibernationStep, next_step};
    let pods: Vec<HibernatingPod> = observed
        .pods
        .iter()
        .filter(|(n, _)| instance_serial(&owner.name, n).is_some())
        .map(|(n, p)| HibernatingPod {
            name: n.clone(),
            terminating: terminating(p),
        })
        .collect();
    let mut actions = Vec::new();
    let step = next_step(&pods, input.current_primary.as_deref());
    if let HibernationStep::Delete(names) = &step {
        for name in names {
            if let Some(p) = observed.pods.get(name) {
                apply::delete_owned(client, p, &owner.uid).await?;
                actions.push((
                    "Hibernating",
                    format!("hibernation: stopping instance {name}"),
                ));
            }
        }
    }
    let hibernated = step == HibernationStep::Hibernated;
    let reason = if hibernated {
        "hibernated: every pod removed, every volume kept; set pgfed.io/hibernation to off to resume"
    } else {
        "hibernating: stopping the instances, the primary first"
    };
    let mut new_status = status::build(&StatusInput {
        cluster,
        observed,
        phase: phases::WAITING_FOR_USER,
        phase_reason: reason.to_string(),
        target_primary: input.target_primary,
        current_primary: input.current_primary,
        latest_generated: input.latest_generated,
        certificates: input.certificates,
        image: input.image,
        reported: input.reported,
        fenced: input.fenced,
        failing_since: None,
        // Hibernated: no primary, no synchronous replication to report on.
        sync_replication: None,
        now: input.now,
    });
    status::set_condition(
        &mut new_status.conditions,
        status::condition(
            status::HIBERNATION_CONDITION,
            hibernated,
            if hibernated {
                "Hibernated"
            } else {
                "Hibernating"
            },
            reason.to_string(),
            cluster.metadata.generation,
            input.now,
        ),
    );
    status::write_if_changed(client, cluster, old_status, new_status).await?;
    Ok(Outcome {
        phase: phases::WAITING_FOR_USER,
        previous_phase: old_status.phase.clone(),
        actions,
        warnings: Vec::new(),
        converging: !hibernated,
        primary_changing: false,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manager_still_digesting_itself_is_not_mistaken_for_an_old_one() {
        let status = |version: &str, hash: &str| pgfed_api::instance::InstanceStatus {
            manager_version: version.into(),
            manager_hash: hash.into(),
            ..Default::default()
        };
        assert_eq!(
            reported_manager_digest(&status("", "")),
            Some(String::new())
        );
        assert_eq!(reported_manager_digest(&status("0.1.0", "")), None);
        assert_eq!(
            reported_manager_digest(&status("0.1.0", "abc")),
            Some("abc".into())
        );
    }
}
