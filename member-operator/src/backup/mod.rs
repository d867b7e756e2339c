//! The Backup controller: one base backup per Backup object, taken by one instance of its
//! Cluster into the Cluster's object store (`method: barmanObjectStore`, or `method: plugin` with
//! the Barman Cloud plugin, whose ObjectStore the effective Cluster carries as that store). [`target`] chooses the
//! instance and [`decide`] the next step, both pure; [`observe`] reads, [`status`] builds and
//! writes the Backup's status and the Cluster's backup fields; [`controller`] runs it. The
//! instance's manager does the work (`POST /pg/backup` over mutual TLS) and keeps the record.

pub mod controller;
pub mod decide;
pub mod observe;
pub mod status;
pub mod target;

use crate::webhook::secret::{ApiAccess, access};

/// Every call the Backup controller makes, as RBAC names them. `manifests/rbac.yaml` grants
/// these; a test compares both ways. Keep in step with `observe`, `status` and `controller`.
pub const API_ACCESS: &[ApiAccess] = &[
    // The Backups: watched, their status written.
    access("pgfed.io", "backups", "list"),
    access("pgfed.io", "backups", "watch"),
    access("pgfed.io", "backups/status", "patch"),
    // The Cluster read, its backup fields patched; its pods listed, its CA Secrets read to
    // reach the managers.
    access("pgfed.io", "clusters", "get"),
    access("pgfed.io", "clusters/status", "patch"),
    // The ObjectStores the Cluster's Barman Cloud plugin entries name, read by name.
    access("pgfed.io", "objectstores", "get"),
    access("", "pods", "list"),
    access("", "secrets", "get"),
    // Events on transitions.
    access("events.k8s.io", "events", "create"),
    access("events.k8s.io", "events", "patch"),
];
