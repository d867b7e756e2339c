//! Database objects (CloudNativePG's declarative databases). The work is split the way managed
//! roles are: the Cluster controller lists a cluster's Database objects, chooses which ones the
//! primary acts on ([`decide::select`]: the older of two naming one database wins) and puts them
//! in the instance managers' configuration; the primary's manager creates, alters and drops
//! the databases and reports each object in its status document; the Cluster controller then
//! writes each object's status from that report and, for an object deleted with
//! `databaseReclaimPolicy: delete`, removes its finalizer once the primary reported the database
//! dropped ([`apply::settle`]). The Database controller ([`controller`]) covers what the Cluster
//! controller cannot see: an object whose cluster does not exist (its status says so, its
//! finalizer goes at once), and the finalizer following the reclaim policy.

pub mod apply;
pub mod controller;
pub mod decide;

use crate::webhook::secret::{ApiAccess, access};

/// Every call the Database controller makes, as RBAC names them. `manifests/rbac.yaml` grants
/// these; a test compares both ways. Keep in step with `apply` and `controller`.
pub const API_ACCESS: &[ApiAccess] = &[
    // The Database objects: watched, their status written, their finalizer added or removed.
    access("pgfed.io", "databases", "list"),
    access("pgfed.io", "databases", "watch"),
    access("pgfed.io", "databases", "patch"),
    access("pgfed.io", "databases/status", "patch"),
    // Their Clusters: read by name, watched so that a Cluster appearing or going away reaches
    // the objects naming it.
    access("pgfed.io", "clusters", "get"),
    access("pgfed.io", "clusters", "list"),
    access("pgfed.io", "clusters", "watch"),
];
