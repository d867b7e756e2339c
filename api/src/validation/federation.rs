//! Validation of a Federation: members, primary, template, failover policy.

use super::formats::{check_dns_1035_label, check_dns_label, parse_duration, parse_quantity};
use super::{
    FieldErrors, check_unique, validate_cluster, validate_cluster_update, validate_object_store,
};
use crate::federation::{FailoverMode, FederationMember, FederationSpec};
use crate::postgres_params::check_user_parameter;
use std::time::Duration;

/// Default failover timings, also used by the controller.
pub const DEFAULT_PRIMARY_UNREACHABLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default fencing lease duration.
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(30);

/// Validates a Federation named `name`.
pub fn validate_federation(name: &str, spec: &FederationSpec) -> FieldErrors {
    let mut errors = FieldErrors::default();
    // metadata.name is checked by the template's validation: it is the default Cluster name.
    check_members(&mut errors, name, spec);
    check_template(&mut errors, name, spec);
    check_failover(&mut errors, spec);
    if let Some(replication) = &spec.replication
        && let Some(interval) = &replication.partial_wal_upload_interval
    {
        match parse_duration(interval) {
            Ok(d) if d < Duration::from_secs(1) => errors.push(
                "spec.replication.partialWalUploadInterval",
                format!("{interval} is below the 1s minimum"),
            ),
            Ok(_) => {}
            Err(e) => errors.push("spec.replication.partialWalUploadInterval", e.to_string()),
        }
    }
    if let Some(replication) = &spec.replication
        && let Some(lag) = &replication.max_acceptable_lag
        && let Err(e) = parse_duration(lag)
    {
        errors.push("spec.replication.maxAcceptableLag", e.to_string());
    }
    errors
}

/// Validates an update: everything `validate_federation` checks, the Cluster immutability rules on
/// the template, and that no member's object store moves (its WAL history lives there).
pub fn validate_federation_update(
    name: &str,
    old: &FederationSpec,
    new: &FederationSpec,
) -> FieldErrors {
    let mut errors = validate_federation(name, new);
    for e in validate_cluster_update(name, &old.template, &new.template).0 {
        // Create-time template errors were already reported by validate_federation.
        if !errors
            .0
            .iter()
            .any(|x| x.rule == e.rule && x.field == template_path(&e.field))
        {
            errors.push(template_path(&e.field), e.rule);
        }
    }
    for (i, member) in new.members.iter().enumerate() {
        let Some(before) = old.members.iter().find(|m| m.name == member.name) else {
            continue;
        };
        let location = |m: &FederationMember| {
            m.barman_object_store
                .as_ref()
                .map(|s| (s.destination_path.clone(), s.server_name.clone()))
        };
        if before.barman_object_store.is_some() && location(before) != location(member) {
            errors.push(
                format!("spec.members[{i}].barmanObjectStore.destinationPath"),
                "cannot change: the member's WAL and backups live there; remove the member and add a new one",
            );
        }
        if before.cluster_name != member.cluster_name || before.namespace != member.namespace {
            errors.push(
                format!("spec.members[{i}]"),
                "clusterName and namespace cannot change; remove the member and add a new one",
            );
        }
    }
    if !new.members.iter().any(|m| m.name == old.primary) && old.primary != new.primary {
        // Moving the primary and deleting the old primary member in one edit would leave no one
        // to demote cleanly.
        errors.push(
            "spec.members",
            format!(
                "member {:?} holds the primary; switch the primary away before removing it",
                old.primary
            ),
        );
    }
    errors
}

fn template_path(field: &str) -> String {
    match field.strip_prefix("spec.") {
        Some(rest) => format!("spec.template.{rest}"),
        None => field.to_string(),
    }
}

fn check_members(errors: &mut FieldErrors, name: &str, spec: &FederationSpec) {
    if spec.members.is_empty() {
        errors.push("spec.members", "at least one member");
    }
    check_unique(
        errors,
        "spec.members",
        spec.members.iter().map(|m| m.name.as_str()),
    );
    if !spec.members.iter().any(|m| m.name == spec.primary) {
        let names: Vec<&str> = spec.members.iter().map(|m| m.name.as_str()).collect();
        errors.push(
            "spec.primary",
            format!(
                "{:?} is not a member (members: {})",
                spec.primary,
                names.join(", ")
            ),
        );
    }
    let mut stores = std::collections::BTreeMap::new();
    let mut targets = std::collections::BTreeMap::new();
    for (i, member) in spec.members.iter().enumerate() {
        let path = format!("spec.members[{i}]");
        errors.check(format!("{path}.name"), check_dns_label(&member.name));
        if member.region.trim().is_empty() {
            errors.push(format!("{path}.region"), "required");
        }
        if let Some(ns) = &member.namespace {
            errors.check(format!("{path}.namespace"), check_dns_label(ns));
        }
        if let Some(cluster) = &member.cluster_name {
            errors.check(format!("{path}.clusterName"), check_dns_1035_label(cluster));
        }
        match &member.barman_object_store {
            None => errors.push(
                format!("{path}.barmanObjectStore"),
                "required: every member archives its WAL to its own object store, which the other members read",
            ),
            Some(store) => {
                validate_object_store(errors, &format!("{path}.barmanObjectStore"), store);
                let cluster = member.cluster_name.as_deref().unwrap_or(name);
                let server = store.server_name.as_deref().unwrap_or(cluster);
                let key = format!("{}/{}", store.destination_path.trim_end_matches('/'), server);
                if let Some(other) = stores.insert(key.clone(), member.name.clone()) {
                    errors.push(
                        format!("{path}.barmanObjectStore.destinationPath"),
                        format!("{key} is also used by member {other:?}: two members would overwrite each other's WAL"),
                    );
                }
            }
        }
        let target = (
            member
                .kubeconfig_secret_ref
                .as_ref()
                .map(|s| (s.name.clone(), s.key.clone())),
            member.namespace.clone(),
            member
                .cluster_name
                .clone()
                .unwrap_or_else(|| name.to_string()),
        );
        if let Some(other) = targets.insert(target, member.name.clone()) {
            errors.push(
                path.clone(),
                format!("targets the same Kubernetes cluster, namespace and Cluster name as member {other:?}"),
            );
        }
        if let Some(overrides) = &member.overrides {
            if let Some(n) = overrides.instances
                && n < 1
            {
                errors.push(
                    format!("{path}.overrides.instances"),
                    format!("{n} must be at least 1"),
                );
            }
            for (key, value) in &overrides.parameters {
                errors.check(
                    format!("{path}.overrides.parameters.{key}"),
                    check_user_parameter(key, value),
                );
            }
        }
    }
}

fn check_template(errors: &mut FieldErrors, name: &str, spec: &FederationSpec) {
    for e in validate_cluster(name, &spec.template).0 {
        errors.push(template_path(&e.field), e.rule);
    }
    let t = &spec.template;
    if t.replica.is_some() {
        errors.push(
            "spec.template.replica",
            "is set by the federation controller per member; use spec.primary to choose the primary",
        );
    }
    if t.backup
        .as_ref()
        .is_some_and(|b| b.barman_object_store.is_some())
    {
        errors.push(
            "spec.template.backup.barmanObjectStore",
            "is set per member from spec.members[].barmanObjectStore",
        );
    }
    for (i, external) in t.external_clusters.iter().enumerate() {
        if spec.members.iter().any(|m| m.name == external.name) {
            errors.push(
                format!("spec.template.externalClusters[{i}].name"),
                format!(
                    "{:?} is a member name, reserved for the controller's entries",
                    external.name
                ),
            );
        }
    }
    if t.bootstrap
        .as_ref()
        .is_some_and(|b| b.recovery.is_some() || b.pg_basebackup.is_some())
    {
        errors.push(
            "spec.template.bootstrap",
            "only initdb is allowed: replica members are bootstrapped from the primary's object store by the controller",
        );
    }
}

fn check_failover(errors: &mut FieldErrors, spec: &FederationSpec) {
    let Some(failover) = &spec.failover else {
        return;
    };
    let mut duration = |field: &str, value: &Option<String>, default: Duration| match value {
        None => Some(default),
        Some(v) => match parse_duration(v) {
            Ok(d) if d.is_zero() => {
                errors.push(format!("spec.failover.{field}"), "must be positive");
                None
            }
            Ok(d) => Some(d),
            Err(e) => {
                errors.push(format!("spec.failover.{field}"), e.to_string());
                None
            }
        },
    };
    let unreachable = duration(
        "primaryUnreachableTimeout",
        &failover.primary_unreachable_timeout,
        DEFAULT_PRIMARY_UNREACHABLE_TIMEOUT,
    );
    let lease = duration(
        "leaseDuration",
        &failover.lease_duration,
        DEFAULT_LEASE_DURATION,
    );
    duration(
        "switchoverStepTimeout",
        &failover.switchover_step_timeout,
        Duration::from_secs(600),
    );
    if let (Some(unreachable), Some(lease)) = (unreachable, lease)
        && lease >= unreachable
    {
        errors.push(
            "spec.failover.leaseDuration",
            format!(
                "{}s must be shorter than primaryUnreachableTimeout ({}s), so the old primary stops writing before a new one is promoted",
                lease.as_secs_f64(),
                unreachable.as_secs_f64()
            ),
        );
    }
    if let Some(lease) = lease
        && lease < crate::cluster::MIN_FENCING_LEASE_DURATION
    {
        errors.push(
            "spec.failover.leaseDuration",
            format!(
                "{}s is below the {}s minimum: the primary renews every third of it, and a shorter lease would stop it over an object store's ordinary hiccups",
                lease.as_secs_f64(),
                crate::cluster::MIN_FENCING_LEASE_DURATION.as_secs()
            ),
        );
    }
    match (&failover.mode, &failover.lease_object_store) {
        (Some(FailoverMode::Automatic), None) => errors.push(
            "spec.failover.leaseObjectStore",
            "required when mode is Automatic: the fencing lease that stops the old primary region before another is promoted lives there",
        ),
        (_, Some(store)) => {
            validate_object_store(errors, "spec.failover.leaseObjectStore", store)
        }
        _ => {}
    }
    if let Some(loss) = &failover.maximum_data_loss {
        if let Some(bytes) = &loss.bytes {
            match parse_quantity(bytes) {
                Ok(b) if b < 0.0 => errors.push(
                    "spec.failover.maximumDataLoss.bytes",
                    "must not be negative",
                ),
                Ok(_) => {}
                Err(e) => errors.push("spec.failover.maximumDataLoss.bytes", e.to_string()),
            }
        }
        if let Some(s) = loss.seconds
            && s < 0
        {
            errors.push(
                "spec.failover.maximumDataLoss.seconds",
                "must not be negative",
            );
        }
    }
}
