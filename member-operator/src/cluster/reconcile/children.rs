//! The children every instance needs before it runs: the managers' configuration, the
//! ServiceAccount with its Role and RoleBinding, the primary Lease, the Services and the
//! PodDisruptionBudgets; and, last among the writes, the removal of the Services and budgets
//! this Cluster controls but no longer builds.

use crate::cluster::apply::{self, ensure};
use crate::cluster::build::config::{self, DynamicSettings};
use crate::cluster::build::meta::Owner;
use crate::cluster::build::{account, pdb, service};
use crate::cluster::error::ReconcileError;
use crate::cluster::observe::Observed;
use kube::{Client, ResourceExt};
use pgfed_api::cluster::Cluster;

/// The Services and PodDisruptionBudgets built this turn, by name.
pub struct Built {
    /// The Services.
    pub services: Vec<String>,
    /// The PodDisruptionBudgets.
    pub pdbs: Vec<String>,
}

/// Writes the children that are missing or differ from what the spec asks.
pub async fn ensure_all(
    client: &Client,
    cluster: &Cluster,
    owner: &Owner,
    observed: &Observed,
    dynamic: &DynamicSettings,
    superuser_secret: Option<&str>,
) -> Result<Built, ReconcileError> {
    let name = &owner.name;
    let config_map = config::build(
        owner,
        &config::manager_config(cluster, owner, dynamic, superuser_secret),
    )?;
    let config_name = config_map.name_any();
    ensure(client, config_map, observed.config_maps.get(&config_name)).await?;
    let sa = account::build(cluster, owner);
    ensure(client, sa, observed.service_accounts.get(name)).await?;
    ensure(client, account::role(owner), observed.roles.get(name)).await?;
    ensure(
        client,
        account::role_binding(owner),
        observed.role_bindings.get(name),
    )
    .await?;
    // Created once, empty; from then on only the managers write it (holder and renewals).
    if !observed.leases.contains_key(name) {
        ensure(client, account::primary_lease(owner), None).await?;
    }
    let services = service::build(cluster, owner)?;
    let mut built_services = Vec::new();
    for desired in services {
        let svc = desired.service;
        built_services.push(svc.name_any());
        let live = observed.services.get(&svc.name_any());
        ensure(client, svc, live).await?;
    }
    let mut built_pdbs = Vec::new();
    for budget in pdb::build(cluster, owner) {
        built_pdbs.push(budget.name_any());
        let live = observed.pdbs.get(&budget.name_any());
        ensure(client, budget, live).await?;
    }
    Ok(Built {
        services: built_services,
        pdbs: built_pdbs,
    })
}

/// Deletes the Services and PodDisruptionBudgets this Cluster controls and did not build.
pub async fn remove_orphans(
    client: &Client,
    owner: &Owner,
    observed: &Observed,
    built: &Built,
) -> Result<(), ReconcileError> {
    for o in apply::orphans(&observed.services, &built.services, &owner.uid) {
        apply::delete_owned(client, o, &owner.uid).await?;
    }
    for o in apply::orphans(&observed.pdbs, &built.pdbs, &owner.uid) {
        apply::delete_owned(client, o, &owner.uid).await?;
    }
    // Secrets are never orphan-deleted (a credential no longer generated, e.g. the superuser's
    // after `enableSuperuserAccess: false`, stays until the Cluster goes): losing one cannot be
    // undone, keeping one costs nothing.
    Ok(())
}
