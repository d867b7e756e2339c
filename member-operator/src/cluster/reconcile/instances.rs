//! One instance step (create, recreate on its volumes, or remove one instance) and the growth
//! of claims the spec asks to be larger.

use super::view::pvc_serial;
use crate::cluster::apply::{self, ensure};
use crate::cluster::build::meta::Owner;
use crate::cluster::build::pvc;
use crate::cluster::decide::scale::{ObservedInstance, ScaleStep};
use crate::cluster::error::ReconcileError;
use crate::cluster::observe::Observed;
use k8s_openapi::api::core::v1::Pod;
use kube::{Client, ResourceExt};
use pgfed_api::cluster::Cluster;
use pgfed_api::names::instance_name;

/// Carries out `step`; returns the highest instance serial generated since the cluster was
/// created (`latest`, or the new instance's) and the actions taken (for Events).
pub async fn carry_out(
    client: &Client,
    cluster: &Cluster,
    owner: &Owner,
    observed: &Observed,
    step: &ScaleStep,
    latest: u32,
    build_pod: &(dyn Fn(u32) -> Result<Pod, ReconcileError> + Sync),
) -> Result<(u32, Vec<(&'static str, String)>), ReconcileError> {
    let name = &owner.name;
    let mut latest = latest;
    let mut out = Vec::new();
    match *step {
        ScaleStep::Bootstrap { serial } | ScaleStep::AddStandby { serial } => {
            for claim in pvc::build(cluster, owner, &instance_name(name, serial))? {
                let live = observed.pvcs.get(&claim.name_any());
                if live.is_none() {
                    ensure(client, claim, None).await?;
                }
            }
            apply::create_pod(client, &build_pod(serial)?).await?;
            latest = latest.max(serial);
            out.push((
                "CreatingInstance",
                format!("creating instance {}", instance_name(name, serial)),
            ));
        }
        ScaleStep::RecreatePod { serial } => {
            apply::create_pod(client, &build_pod(serial)?).await?;
            out.push((
                "RecreatingInstance",
                format!(
                    "recreating the pod of instance {} on its volumes",
                    instance_name(name, serial)
                ),
            ));
        }
        ScaleStep::Remove { serial, ref reason } => {
            let instance = instance_name(name, serial);
            if let Some(p) = observed.pods.get(&instance) {
                apply::delete_owned(client, p, &owner.uid).await?;
            }
            for claim in observed
                .pvcs
                .values()
                .filter(|c| pvc_serial(name, c) == Some(serial))
            {
                apply::delete_owned(client, claim, &owner.uid).await?;
            }
            out.push(("RemovingInstance", reason.message(&instance)));
        }
        ScaleStep::WaitFor { .. } | ScaleStep::Converged | ScaleStep::CannotScaleDown => {}
    }
    Ok((latest, out))
}

/// Grows the claims of the instances that have volumes to the size the spec asks (never
/// shrinks, never recreates). Returns the claims grown and, separately, the refusals (a
/// StorageClass without volume expansion): those are reported and the cluster carries on at its
/// present size.
pub async fn grow_claims(
    client: &Client,
    cluster: &Cluster,
    owner: &Owner,
    observed: &Observed,
    instances: &[ObservedInstance],
) -> Result<(Vec<(&'static str, String)>, Vec<(&'static str, String)>), ReconcileError> {
    let name = &owner.name;
    let spec = &cluster.spec;
    let mut grown = Vec::new();
    let mut failures = Vec::new();
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
        for claim in pvc::build(cluster, owner, &instance_name(name, serial))? {
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
                    Ok(()) => grown.push((
                        "ResizingVolume",
                        format!("growing claim {} to {size}", live.name_any()),
                    )),
                    Err(e) => failures.push(("ResizeFailed", e.to_string())),
                }
            }
        }
    }
    Ok((grown, failures))
}
