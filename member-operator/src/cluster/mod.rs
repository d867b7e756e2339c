//! The Cluster controller. A reconcile is a pipeline — observe, decide, build, apply, status —
//! and each step lives in its own module: [`observe`] reads, `decide` holds the pure decisions
//! (what to do next), `build` the pure builders of the objects a Cluster owns (one file per
//! kind), [`apply`] is the only writer, [`status`] builds and writes the status; [`reconcile`]
//! sequences them and [`controller`] runs it for every Cluster.

pub mod apply;
pub mod build;
pub mod controller;
pub mod decide;
pub mod election_view;
pub mod error;
pub mod lease_watch;
pub mod managers;
pub mod observe;
pub mod plugin_stores;
pub mod post_init_refs;
pub mod reconcile;
pub mod recovery_backup;
pub mod reseed;
pub mod status;

use crate::webhook::secret::{ApiAccess, access};

/// Every call the Cluster controller makes, as RBAC names them (cluster-wide: Clusters live in
/// any namespace). `manifests/rbac.yaml` grants exactly these and the webhook's; a test compares
/// both ways. Keep in step with `observe`, `apply`, `status` and `controller`.
pub const API_ACCESS: &[ApiAccess] = &[
    // The Clusters: watched, their status written.
    access("pgfed.io", "clusters", "list"),
    access("pgfed.io", "clusters", "watch"),
    access("pgfed.io", "clusters/status", "patch"),
    // Image catalogs: read for the operand image, watched so a changed catalog rolls its Clusters.
    access("pgfed.io", "imagecatalogs", "get"),
    access("pgfed.io", "imagecatalogs", "list"),
    access("pgfed.io", "imagecatalogs", "watch"),
    access("pgfed.io", "clusterimagecatalogs", "get"),
    access("pgfed.io", "clusterimagecatalogs", "list"),
    access("pgfed.io", "clusterimagecatalogs", "watch"),
    // ObjectStores named by the Barman Cloud plugin entries: read for the effective spec,
    // watched so a changed store reaches the Clusters that name it.
    access("pgfed.io", "objectstores", "get"),
    access("pgfed.io", "objectstores", "list"),
    access("pgfed.io", "objectstores", "watch"),
    // Children: watched (metadata) and listed by the Cluster label; written by server-side
    // apply (patch, and create for an object that does not exist yet), deleted only when this
    // Cluster controls them.
    access("", "pods", "list"),
    access("", "pods", "watch"),
    access("", "pods", "create"),
    access("", "pods", "patch"),
    access("", "pods", "delete"),
    access("", "persistentvolumeclaims", "list"),
    access("", "persistentvolumeclaims", "watch"),
    access("", "persistentvolumeclaims", "create"),
    access("", "persistentvolumeclaims", "patch"),
    access("", "persistentvolumeclaims", "delete"),
    access("", "services", "list"),
    access("", "services", "watch"),
    access("", "services", "create"),
    access("", "services", "patch"),
    access("", "services", "delete"),
    access("", "secrets", "get"),
    access("", "secrets", "list"),
    access("", "secrets", "watch"),
    access("", "secrets", "create"),
    access("", "secrets", "patch"),
    access("", "configmaps", "get"),
    access("", "configmaps", "list"),
    access("", "configmaps", "watch"),
    access("", "configmaps", "create"),
    access("", "configmaps", "patch"),
    access("", "serviceaccounts", "list"),
    access("", "serviceaccounts", "create"),
    access("", "serviceaccounts", "patch"),
    access("policy", "poddisruptionbudgets", "list"),
    access("policy", "poddisruptionbudgets", "watch"),
    access("policy", "poddisruptionbudgets", "create"),
    access("policy", "poddisruptionbudgets", "patch"),
    access("policy", "poddisruptionbudgets", "delete"),
    // The instances' Role and RoleBinding (read and renew the primary Lease), applied like the
    // other children; granting get/update on Leases needs the operator to hold them too.
    access("rbac.authorization.k8s.io", "roles", "list"),
    access("rbac.authorization.k8s.io", "roles", "create"),
    access("rbac.authorization.k8s.io", "roles", "patch"),
    access("rbac.authorization.k8s.io", "rolebindings", "list"),
    access("rbac.authorization.k8s.io", "rolebindings", "create"),
    access("rbac.authorization.k8s.io", "rolebindings", "patch"),
    // The primary Leases: created, listed with the children, watched so an expired one
    // triggers a failover at once, and read by the election.
    access("coordination.k8s.io", "leases", "get"),
    access("coordination.k8s.io", "leases", "list"),
    access("coordination.k8s.io", "leases", "watch"),
    access("coordination.k8s.io", "leases", "create"),
    access("coordination.k8s.io", "leases", "patch"),
    access("coordination.k8s.io", "leases", "update"),
    // Nodes running instance pods, read by name for the failure domains of synchronous standbys.
    access("", "nodes", "get"),
    // Database objects: watched, listed per Cluster for the managers' configuration, their
    // status written from the primary's report, their finalizer taken off once the primary
    // dropped the database.
    access("pgfed.io", "databases", "list"),
    access("pgfed.io", "databases", "watch"),
    access("pgfed.io", "databases", "patch"),
    access("pgfed.io", "databases/status", "patch"),
    // Backups: listed for `firstRecoverabilityPoint`.
    access("pgfed.io", "backups", "list"),
    // Events on transitions.
    access("events.k8s.io", "events", "create"),
    access("events.k8s.io", "events", "patch"),
];
