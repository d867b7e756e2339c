//! Checks that only apply when a Cluster is updated: changes that would lose data (CloudNativePG's
//! rules: volumes only grow, the WAL volume and tablespaces stay, the data directory's owner stays).

use super::formats::parse_quantity;
use super::{FieldErrors, validate_cluster};
use crate::cluster::{ClusterSpec, StorageConfiguration};

/// Validates an update of Cluster `name` from `old` to `new`: the full create-time validation of
/// `new` plus the immutability rules.
pub fn validate_cluster_update(name: &str, old: &ClusterSpec, new: &ClusterSpec) -> FieldErrors {
    let mut errors = validate_cluster(name, new);
    check_volume_update(
        &mut errors,
        "spec.storage",
        old.storage.as_ref(),
        new.storage.as_ref(),
    );
    match (&old.wal_storage, &new.wal_storage) {
        (Some(_), None) => errors.push(
            "spec.walStorage",
            "cannot be removed once added: the WAL volume holds data not yet archived",
        ),
        (old_wal, new_wal) => check_volume_update(
            &mut errors,
            "spec.walStorage",
            old_wal.as_ref(),
            new_wal.as_ref(),
        ),
    }
    for (i, ts) in old.tablespaces.iter().enumerate() {
        match new.tablespaces.iter().find(|t| t.name == ts.name) {
            None => errors.push(
                format!("spec.tablespaces[{i}]"),
                format!(
                    "tablespace {:?} cannot be removed: its volumes hold data",
                    ts.name
                ),
            ),
            Some(new_ts) => {
                check_volume_update(
                    &mut errors,
                    &format!("spec.tablespaces[{i}].storage"),
                    Some(&ts.storage),
                    Some(&new_ts.storage),
                );
            }
        }
    }
    if old.postgres_uid.unwrap_or(26) != new.postgres_uid.unwrap_or(26) {
        errors.push(
            "spec.postgresUID",
            "is immutable: the data directory is owned by the old UID",
        );
    }
    if old.postgres_gid.unwrap_or(26) != new.postgres_gid.unwrap_or(26) {
        errors.push(
            "spec.postgresGID",
            "is immutable: the data directory is owned by the old GID",
        );
    }
    errors
}

fn check_volume_update(
    errors: &mut FieldErrors,
    path: &str,
    old: Option<&StorageConfiguration>,
    new: Option<&StorageConfiguration>,
) {
    let (Some(old), Some(new)) = (old, new) else {
        return;
    };
    if let (Some(old_size), Some(new_size)) = (&old.size, &new.size)
        && let (Ok(o), Ok(n)) = (parse_quantity(old_size), parse_quantity(new_size))
        && n < o
    {
        errors.push(
            format!("{path}.size"),
            format!("cannot shrink from {old_size} to {new_size}: volumes only grow"),
        );
    }
}
