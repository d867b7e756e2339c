//! The security contexts of an instance pod. The defaults run PostgreSQL as `postgresUID/GID`
//! (26) with nothing it does not need: non-root, read-only root filesystem, no privilege
//! escalation, every capability dropped, seccomp `RuntimeDefault` unless `spec.seccompProfile`.
//!
//! A user's `podSecurityContext`/`securityContext` is taken as given and every field it leaves
//! unset gets the default, as CloudNativePG does for the container. For the pod we go one step
//! further than CloudNativePG, which fills only the user, group and seccomp profile: we also
//! fill `runAsNonRoot` and `fsGroup`, so that a user who only adds `supplementalGroups` does not
//! silently lose the group that makes the volumes writable.

use k8s_openapi::api::core::v1::{
    Capabilities, PodSecurityContext, SeccompProfile, SecurityContext,
};
use pgfed_api::cluster::Cluster;

/// UID and GID of `postgres` in the operand image, when the Cluster does not say.
pub const DEFAULT_POSTGRES_ID: i64 = 26;

fn seccomp(cluster: &Cluster) -> SeccompProfile {
    cluster
        .spec
        .seccomp_profile
        .clone()
        .unwrap_or_else(|| SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        })
}

/// The pod-level security context.
pub fn pod_security_context(cluster: &Cluster) -> PodSecurityContext {
    let uid = cluster.spec.postgres_uid.unwrap_or(DEFAULT_POSTGRES_ID);
    let gid = cluster.spec.postgres_gid.unwrap_or(DEFAULT_POSTGRES_ID);
    let mut context = cluster
        .spec
        .pod_security_context
        .clone()
        .unwrap_or_default();
    context.run_as_user.get_or_insert(uid);
    context.run_as_group.get_or_insert(gid);
    context.run_as_non_root.get_or_insert(true);
    context.fs_group.get_or_insert(gid);
    // Apply the group to a volume only when its root does not have it yet: the recursive walk
    // Kubernetes otherwise does on every mount re-opens PGDATA to the group, which PostgreSQL
    // refuses to start on, and costs time on large volumes.
    context
        .fs_group_change_policy
        .get_or_insert_with(|| "OnRootMismatch".to_string());
    if context.seccomp_profile.is_none() {
        context.seccomp_profile = Some(seccomp(cluster));
    }
    context
}

/// The security context of every container of the pod (the init container too).
pub fn container_security_context(cluster: &Cluster) -> SecurityContext {
    let mut context = cluster.spec.security_context.clone().unwrap_or_default();
    if context.capabilities.is_none() {
        context.capabilities = Some(Capabilities {
            add: None,
            drop: Some(vec!["ALL".into()]),
        });
    }
    context.privileged.get_or_insert(false);
    context.run_as_non_root.get_or_insert(true);
    context.read_only_root_filesystem.get_or_insert(true);
    context.allow_privilege_escalation.get_or_insert(false);
    if context.seccomp_profile.is_none() {
        context.seccomp_profile = Some(seccomp(cluster));
    }
    context
}
