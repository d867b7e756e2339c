//! How the reconcile reads its pods and claims: readiness, deletion, which instance a claim
//! belongs to, and the instances as the scale decision sees them. Pure.

use crate::cluster::build::pvc;
use crate::cluster::decide::scale::ObservedInstance;
use crate::cluster::observe::Observed;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::ResourceExt;
use pgfed_api::names::{LABEL_INSTANCE_NAME, instance_serial};
use std::collections::BTreeMap;

/// Whether the pod is Ready.
pub fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Whether the object is being deleted.
pub fn terminating<K: kube::Resource>(obj: &K) -> bool {
    obj.meta().deletion_timestamp.is_some()
}

/// Serial of the instance a claim belongs to.
pub fn pvc_serial(cluster: &str, pvc: &PersistentVolumeClaim) -> Option<u32> {
    pvc.labels()
        .get(LABEL_INSTANCE_NAME)
        .and_then(|instance| instance_serial(cluster, instance))
}

/// Whether the claim holds an instance's data directory.
fn is_data_pvc(pvc: &PersistentVolumeClaim) -> bool {
    pvc.labels().get(pvc::LABEL_PVC_ROLE).map(String::as_str) == Some(pvc::PvcRole::Data.label())
}

/// The instances as the scale decision sees them.
pub fn scale_view(name: &str, observed: &Observed) -> Vec<ObservedInstance> {
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
