//! The ScheduledBackup controller: creates a `Backup` at every time of `spec.schedule` (and one at
//! creation with `immediate`), never two for one time and at most one to catch up after the
//! operator was down. The Backup controller executes them.
//!
//! - `schedule`: the cron schedule as times (pure).
//! - `decide`: what to create now and when to wake (pure, table-tested).
//! - `build`: the Backup object (pure).
//! - `reconcile`: observe → decide → create → status.
//! - `status`: the status, written only when it changed.
//! - `controller`: the kube-runtime Controller, Events, backoff.

pub mod build;
pub mod controller;
pub mod decide;
pub mod error;
pub mod reconcile;
pub mod schedule;
pub mod status;

use crate::webhook::secret::{ApiAccess, access};

/// Every call the ScheduledBackup controller makes, as RBAC names them (cluster-wide: schedules
/// live in any namespace). `manifests/rbac.yaml` grants them; a test compares both ways. Keep in
/// step with `reconcile`, `status` and `controller`.
pub const API_ACCESS: &[ApiAccess] = &[
    // The schedules: watched, their status written.
    access("pgfed.io", "scheduledbackups", "list"),
    access("pgfed.io", "scheduledbackups", "watch"),
    access("pgfed.io", "scheduledbackups/status", "patch"),
    // The cluster of a schedule, read by name: does it exist, its uid for an owner reference.
    access("pgfed.io", "clusters", "get"),
    // Backups: created; watched (by the schedule label) to wake the schedule; read by name when
    // the create finds the slot's Backup already there.
    access("pgfed.io", "backups", "list"),
    access("pgfed.io", "backups", "watch"),
    access("pgfed.io", "backups", "create"),
    access("pgfed.io", "backups", "get"),
    // Events: a Backup created, a schedule blocked.
    access("events.k8s.io", "events", "create"),
    access("events.k8s.io", "events", "patch"),
];
