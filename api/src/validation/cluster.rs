//! Validation of a Cluster spec on create (and on every update, before the update-only checks).

use super::formats::{
    check_dns_1035_label, check_path_component, check_pg_name, check_retention_policy,
    check_tablespace_name, check_timestamp, parse_duration, parse_quantity,
};
use super::not_implemented::refuse_not_implemented;
use super::{FieldErrors, check_unique, validate_object_store};
use crate::cluster::{
    BootstrapConfiguration, BootstrapRecovery, ClusterSpec, DEFAULT_FENCING_LEASE_DURATION,
    ExternalCluster, FencingLeaseConfiguration, MIN_FENCING_LEASE_DURATION, RecoveryTarget,
    StorageConfiguration,
};
use crate::lsn::Lsn;
use crate::postgres_params::check_user_parameter;

/// Validates a new Cluster named `name`: [`validate_cluster`] plus the rules that only hold when
/// the cluster is created (an existing primary may later become a replica of another cluster).
pub fn validate_cluster_create(name: &str, spec: &ClusterSpec) -> FieldErrors {
    let mut errors = validate_cluster(name, spec);
    let bootstrap = spec.bootstrap.as_ref();
    let copies_its_source =
        bootstrap.is_some_and(|b| b.recovery.is_some() || b.pg_basebackup.is_some());
    if spec.replica.as_ref().is_some_and(|r| r.is_replica(name)) && !copies_its_source {
        // CloudNativePG's rule: initdb would create an unrelated database, which can never
        // replay its source's WAL.
        errors.push(
            "spec.bootstrap",
            "a replica cluster starts from a copy of its source: bootstrap it with recovery or pg_basebackup",
        );
    }
    errors
}

/// Validates a Cluster named `name`. Returns every broken rule with its field path.
pub fn validate_cluster(name: &str, spec: &ClusterSpec) -> FieldErrors {
    let mut errors = FieldErrors::default();
    // Services are named `<name>-rw` and Service names are DNS-1035 labels (CloudNativePG's rule).
    if let Err(rule) = check_dns_1035_label(name) {
        errors.push("metadata.name", rule.to_string());
    } else if name.len() > 50 {
        // Pods are `<name>-<serial>` and PVCs `<name>-<serial>-wal`: keep room for the suffixes.
        errors.push(
            "metadata.name",
            "at most 50 characters, to leave room for instance suffixes",
        );
    }
    check_instances(&mut errors, spec);
    check_image(&mut errors, spec);
    check_external_clusters(&mut errors, &spec.external_clusters);
    if let Some(bootstrap) = &spec.bootstrap {
        check_bootstrap(&mut errors, bootstrap, &spec.external_clusters);
    }
    check_replica(&mut errors, name, spec);
    check_own_archive(&mut errors, name, spec);
    check_postgresql(&mut errors, spec);
    check_storage(&mut errors, "spec.storage", spec.storage.as_ref(), true);
    check_storage(
        &mut errors,
        "spec.walStorage",
        spec.wal_storage.as_ref(),
        false,
    );
    check_tablespaces(&mut errors, spec);
    check_backup(&mut errors, spec);
    super::plugins::check_cluster_plugins(&mut errors, spec);
    check_managed(&mut errors, name, spec);
    check_timings(&mut errors, spec);
    check_replication_slots(&mut errors, spec);
    refuse_not_implemented(&mut errors, spec);
    errors
}

/// Each exclude pattern of `replicationSlots.synchronizeReplicas` must be a regular expression:
/// the instance managers would otherwise not know which user slots to leave alone.
fn check_replication_slots(errors: &mut FieldErrors, spec: &ClusterSpec) {
    let patterns = spec
        .replication_slots
        .as_ref()
        .and_then(|s| s.synchronize_replicas.as_ref())
        .map(|s| s.exclude_patterns.as_slice())
        .unwrap_or_default();
    for (i, pattern) in patterns.iter().enumerate() {
        if let Err(e) = regex::Regex::new(pattern) {
            errors.push(
                format!("spec.replicationSlots.synchronizeReplicas.excludePatterns[{i}]"),
                format!("{pattern:?} is not a regular expression: {e}"),
            );
        }
    }
}

fn check_instances(errors: &mut FieldErrors, spec: &ClusterSpec) {
    if spec.instances < 1 {
        errors.push(
            "spec.instances",
            format!("{} must be at least 1", spec.instances),
        );
    }
    let min = spec.min_sync_replicas.unwrap_or(0);
    let max = spec.max_sync_replicas.unwrap_or(0);
    if min < 0 {
        errors.push("spec.minSyncReplicas", "must not be negative");
    }
    if max < 0 {
        errors.push("spec.maxSyncReplicas", "must not be negative");
    }
    if max > 0 && max >= spec.instances {
        errors.push(
            "spec.maxSyncReplicas",
            format!("{max} must be less than instances ({})", spec.instances),
        );
    }
    if min > max {
        errors.push(
            "spec.minSyncReplicas",
            format!("{min} must not exceed maxSyncReplicas ({max})"),
        );
    }
    if let Some(sync) = spec
        .postgresql
        .as_ref()
        .and_then(|p| p.synchronous.as_ref())
    {
        if max > 0 || min > 0 {
            errors.push(
                "spec.postgresql.synchronous",
                "cannot be combined with minSyncReplicas/maxSyncReplicas",
            );
        }
        if !sync.pod_failure_domain_keys.is_empty() && !sync.node_failure_domain_keys.is_empty() {
            errors.push(
                "spec.postgresql.synchronous.nodeFailureDomainKeys",
                "podFailureDomainKeys and nodeFailureDomainKeys are mutually exclusive",
            );
        }
        let constraint = spec
            .postgresql
            .as_ref()
            .and_then(|p| p.sync_replica_election_constraint.as_ref());
        if constraint.is_some_and(|c| c.enabled)
            && (!sync.pod_failure_domain_keys.is_empty()
                || !sync.node_failure_domain_keys.is_empty())
        {
            errors.push(
                "spec.postgresql.syncReplicaElectionConstraint",
                "cannot be combined with synchronous podFailureDomainKeys/nodeFailureDomainKeys",
            );
        }
        let candidates = i64::from(spec.instances)
            + sync.standby_names_pre.len() as i64
            + sync.standby_names_post.len() as i64;
        if sync.number < 1 {
            errors.push("spec.postgresql.synchronous.number", "must be at least 1");
        } else if i64::from(sync.number) >= candidates {
            errors.push(
                "spec.postgresql.synchronous.number",
                format!(
                    "{} synchronous standbys need more than {candidates} candidates (instances plus standbyNamesPre and standbyNamesPost)",
                    sync.number
                ),
            );
        }
    }
}

fn check_image(errors: &mut FieldErrors, spec: &ClusterSpec) {
    if spec.image_name.is_some() && spec.image_catalog_ref.is_some() {
        errors.push(
            "spec.imageCatalogRef",
            "imageName and imageCatalogRef are mutually exclusive",
        );
    }
    if let Some(image) = &spec.image_name
        && (image.trim().is_empty() || image.contains(char::is_whitespace))
    {
        errors.push(
            "spec.imageName",
            format!("{image:?} is not an image reference"),
        );
    }
    if let Some(catalog) = &spec.image_catalog_ref {
        if !matches!(
            catalog.kind.as_str(),
            "ImageCatalog" | "ClusterImageCatalog"
        ) {
            errors.push(
                "spec.imageCatalogRef.kind",
                format!(
                    "{:?} must be ImageCatalog or ClusterImageCatalog",
                    catalog.kind
                ),
            );
        }
        if catalog.major < 10 {
            errors.push(
                "spec.imageCatalogRef.major",
                format!("{} is not a supported major version", catalog.major),
            );
        }
    }
    if let Some(policy) = &spec.image_pull_policy
        && !matches!(policy.as_str(), "Always" | "IfNotPresent" | "Never")
    {
        errors.push(
            "spec.imagePullPolicy",
            format!("{policy:?} must be Always, IfNotPresent or Never"),
        );
    }
    for (field, id) in [
        ("spec.postgresUID", spec.postgres_uid),
        ("spec.postgresGID", spec.postgres_gid),
    ] {
        if let Some(id) = id
            && id < 0
        {
            errors.push(
                field,
                "must not be negative: Kubernetes refuses a negative user or group ID",
            );
        }
    }
}

fn check_external_clusters(errors: &mut FieldErrors, externals: &[ExternalCluster]) {
    check_unique(
        errors,
        "spec.externalClusters",
        externals.iter().map(|e| e.name.as_str()),
    );
    for (i, external) in externals.iter().enumerate() {
        let path = format!("spec.externalClusters[{i}]");
        // The name is a directory of the secrets the manager mounts, not a Kubernetes object:
        // `clusterBackupSas` is fine (CloudNativePG's rule).
        errors.check(format!("{path}.name"), check_path_component(&external.name));
        // Secret names and keys become file paths under that directory too.
        for (field, selector) in [
            ("sslCert", &external.ssl_cert),
            ("sslKey", &external.ssl_key),
            ("sslRootCert", &external.ssl_root_cert),
        ] {
            if let Some(selector) = selector {
                errors.check(
                    format!("{path}.{field}.name"),
                    check_path_component(&selector.name),
                );
                errors.check(
                    format!("{path}.{field}.key"),
                    check_path_component(&selector.key),
                );
            }
        }
        if external.connection_parameters.is_empty()
            && external.barman_object_store.is_none()
            && external.plugin.is_none()
        {
            errors.push(
                path.clone(),
                "needs connectionParameters, an object store (barmanObjectStore or plugin) or both",
            );
        }
        if let Some(store) = &external.barman_object_store {
            validate_object_store(errors, &format!("{path}.barmanObjectStore"), store);
        }
    }
}

fn has_external(externals: &[ExternalCluster], name: &str) -> bool {
    externals.iter().any(|e| e.name == name)
}

fn check_bootstrap(
    errors: &mut FieldErrors,
    bootstrap: &BootstrapConfiguration,
    externals: &[ExternalCluster],
) {
    let methods = [
        bootstrap.initdb.is_some(),
        bootstrap.recovery.is_some(),
        bootstrap.pg_basebackup.is_some(),
    ];
    if methods.iter().filter(|m| **m).count() > 1 {
        errors.push(
            "spec.bootstrap",
            "only one of initdb, recovery, pg_basebackup",
        );
    }
    if let Some(initdb) = &bootstrap.initdb {
        if let Some(size) = initdb.wal_segment_size
            && (!(1..=1024).contains(&size) || size.count_ones() != 1)
        {
            errors.push(
                "spec.bootstrap.initdb.walSegmentSize",
                "must be a power of two between 1 and 1024 (MiB)",
            );
        }
        for (field, value) in [("database", &initdb.database), ("owner", &initdb.owner)] {
            if let Some(v) = value {
                errors.check(format!("spec.bootstrap.initdb.{field}"), check_pg_name(v));
            }
        }
        if let Some(provider) = &initdb.locale_provider
            && !matches!(provider.as_str(), "libc" | "icu" | "builtin")
        {
            errors.push(
                "spec.bootstrap.initdb.localeProvider",
                format!("{provider:?} must be libc, icu or builtin"),
            );
        }
        if initdb.icu_locale.is_some() && initdb.locale_provider.as_deref() != Some("icu") {
            errors.push(
                "spec.bootstrap.initdb.icuLocale",
                "requires localeProvider: icu",
            );
        }
        if let Some(import) = &initdb.import {
            let source = &import.source.external_cluster;
            if !has_external(externals, source) {
                errors.push(
                    "spec.bootstrap.initdb.import.source.externalCluster",
                    format!("{source:?} is not listed in spec.externalClusters"),
                );
            }
            if import.databases.is_empty() {
                errors.push(
                    "spec.bootstrap.initdb.import.databases",
                    "at least one database",
                );
            }
            if import.import_type == crate::cluster::ImportType::Microservice {
                if import.databases.len() != 1 || import.databases[0] == "*" {
                    errors.push(
                        "spec.bootstrap.initdb.import.databases",
                        "microservice imports exactly one named database",
                    );
                }
                if !import.roles.is_empty() {
                    errors.push(
                        "spec.bootstrap.initdb.import.roles",
                        "only monolith imports roles",
                    );
                }
            }
        }
    }
    if let Some(recovery) = &bootstrap.recovery {
        check_recovery_sources(errors, recovery, externals);
        for (field, value) in [("database", &recovery.database), ("owner", &recovery.owner)] {
            if let Some(v) = value {
                errors.check(format!("spec.bootstrap.recovery.{field}"), check_pg_name(v));
            }
        }
        if let Some(target) = &recovery.recovery_target {
            check_recovery_target(errors, target);
            // Without a backup ID the latest backup is restored, which may already be past a
            // transaction or restore point: recovery would then end without reaching it
            // (CloudNativePG's rule; a Backup object and snapshots name their backup themselves).
            if (target.target_xid.is_some() || target.target_name.is_some())
                && target.backup_id.is_none()
                && recovery.backup.is_none()
                && recovery.volume_snapshots.is_none()
            {
                errors.push(
                    "spec.bootstrap.recovery.recoveryTarget.backupID",
                    "required with targetXID or targetName: only a backup taken before that point can reach it",
                );
            }
        }
    }
    if let Some(clone) = &bootstrap.pg_basebackup {
        for (field, value) in [("database", &clone.database), ("owner", &clone.owner)] {
            if let Some(v) = value {
                errors.check(
                    format!("spec.bootstrap.pg_basebackup.{field}"),
                    check_pg_name(v),
                );
            }
        }
        match externals.iter().find(|e| e.name == clone.source) {
            None => errors.push(
                "spec.bootstrap.pg_basebackup.source",
                format!("{:?} is not listed in spec.externalClusters", clone.source),
            ),
            Some(e) if e.connection_parameters.is_empty() => errors.push(
                "spec.bootstrap.pg_basebackup.source",
                format!(
                    "external cluster {:?} has no connectionParameters to clone from",
                    clone.source
                ),
            ),
            Some(_) => {}
        }
    }
}

/// A cluster never archives into the archive it recovers or replicates from: its WAL would
/// overwrite its source's (CloudNativePG catches it only when archiving starts, by finding the
/// archive not empty). Public for the operator, which checks it again once ObjectStores named
/// by plugin entries are filled in (admission cannot see them).
pub fn check_own_archive(errors: &mut FieldErrors, name: &str, spec: &ClusterSpec) {
    let Some(own) = spec
        .backup
        .as_ref()
        .and_then(|b| b.barman_object_store.as_ref())
    else {
        return;
    };
    let sources = [
        spec.bootstrap
            .as_ref()
            .and_then(|b| b.recovery.as_ref())
            .and_then(|r| r.source.as_deref()),
        spec.replica.as_ref().map(|r| r.source.as_str()),
    ];
    for source in sources.into_iter().flatten() {
        let Some(store) = spec
            .external_clusters
            .iter()
            .find(|e| e.name == source)
            .and_then(|e| e.barman_object_store.as_ref())
        else {
            continue;
        };
        let archive = store.archive(source);
        if own.archive(name) == archive {
            errors.push(
                "spec.backup.barmanObjectStore.serverName",
                format!(
                    "the cluster would archive into {archive}, the archive of its source {source:?}; give it another destinationPath or serverName"
                ),
            );
            return;
        }
    }
}

/// What a recovery restores from. CloudNativePG's combinations: `volumeSnapshots` excludes
/// `backup` and `recoveryTarget.backupID` (the snapshot is the base backup), and goes together
/// with `source` (snapshots, then WAL from the source's object store up to the target); `backup`
/// and `source` may go together too.
fn check_recovery_sources(
    errors: &mut FieldErrors,
    recovery: &BootstrapRecovery,
    externals: &[ExternalCluster],
) {
    const PATH: &str = "spec.bootstrap.recovery";
    if recovery.backup.is_none() && recovery.source.is_none() && recovery.volume_snapshots.is_none()
    {
        errors.push(
            PATH,
            "needs backup, source or volumeSnapshots: there is nothing to recover from",
        );
    }
    if recovery.volume_snapshots.is_some() {
        if recovery.backup.is_some() {
            errors.push(
                format!("{PATH}.backup"),
                "cannot be combined with volumeSnapshots: the snapshots are the base backup",
            );
        }
        if recovery
            .recovery_target
            .as_ref()
            .is_some_and(|t| t.backup_id.is_some())
        {
            errors.push(
                format!("{PATH}.recoveryTarget.backupID"),
                "cannot be combined with volumeSnapshots: the snapshots are the base backup",
            );
        }
    }
    if let Some(source) = &recovery.source {
        match externals.iter().find(|e| &e.name == source) {
            None => errors.push(
                format!("{PATH}.source"),
                format!("{source:?} is not listed in spec.externalClusters"),
            ),
            // Stricter than CloudNativePG, which also recovers through connectionParameters.
            Some(e) if e.barman_object_store.is_none() && e.plugin.is_none() => errors.push(
                format!("{PATH}.source"),
                format!(
                    "external cluster {source:?} has no object store (barmanObjectStore or plugin): pgfed does not support recovering through connectionParameters yet"
                ),
            ),
            Some(_) => {}
        }
    }
}

fn check_recovery_target(errors: &mut FieldErrors, target: &RecoveryTarget) {
    const PATH: &str = "spec.bootstrap.recovery.recoveryTarget";
    let set = [
        target.target_xid.is_some(),
        target.target_name.is_some(),
        target.target_lsn.is_some(),
        target.target_time.is_some(),
        target.target_immediate == Some(true),
    ];
    if set.iter().filter(|s| **s).count() > 1 {
        errors.push(
            PATH,
            "only one of targetXID, targetName, targetLSN, targetTime, targetImmediate",
        );
    }
    if let Some(lsn) = &target.target_lsn
        && let Err(e) = lsn.parse::<Lsn>()
    {
        errors.push(format!("{PATH}.targetLSN"), e.to_string());
    }
    if let Some(time) = &target.target_time {
        errors.check(format!("{PATH}.targetTime"), check_timestamp(time));
    }
    // PostgreSQL reads recovery_target_xid as a 32-bit transaction ID and would silently cut a
    // larger number to another transaction (CloudNativePG's rule).
    if let Some(xid) = &target.target_xid
        && xid.parse::<u32>().is_err()
    {
        errors.push(
            format!("{PATH}.targetXID"),
            format!("{xid:?} is not a transaction ID: a number from 0 to 4294967295"),
        );
    }
    if let Some(tli) = &target.target_tli
        && !matches!(tli.as_str(), "latest" | "current")
        && tli.parse::<u32>().map_or(true, |t| t == 0)
    {
        errors.push(
            format!("{PATH}.targetTLI"),
            format!("{tli:?} must be latest, current or a positive timeline number"),
        );
    }
    if let Some(name) = &target.target_name {
        if name.is_empty() {
            errors.push(format!("{PATH}.targetName"), "must not be empty");
        } else if name.len() >= 64 {
            errors.push(
                format!("{PATH}.targetName"),
                "must be shorter than 64 bytes: PostgreSQL's restore point names are",
            );
        } else if name.chars().any(char::is_control) {
            errors.push(
                format!("{PATH}.targetName"),
                "must not contain control characters: no restore point can have them",
            );
        }
    }
}

fn check_replica(errors: &mut FieldErrors, name: &str, spec: &ClusterSpec) {
    let Some(replica) = &spec.replica else { return };
    const PATH: &str = "spec.replica";
    let externals = &spec.external_clusters;
    if !has_external(externals, &replica.source) {
        errors.push(
            format!("{PATH}.source"),
            format!(
                "{:?} is not listed in spec.externalClusters",
                replica.source
            ),
        );
    }
    if replica.enabled.is_some() && replica.primary.is_some() {
        errors.push(
            format!("{PATH}.enabled"),
            "cannot be combined with replica.primary",
        );
    }
    // Only the clusters this one connects to must be listed: the source, and the primary when
    // it is another cluster. `self` names this cluster and needs no entry.
    if let Some(primary) = &replica.primary {
        let this = replica.self_name.as_deref().unwrap_or(name);
        if primary != this && !has_external(externals, primary) {
            errors.push(
                format!("{PATH}.primary"),
                format!("{primary:?} is not listed in spec.externalClusters"),
            );
        }
    }
    if replica.promotion_token.is_some() {
        if replica.min_apply_delay.is_some() {
            errors.push(
                format!("{PATH}.promotionToken"),
                "cannot be combined with minApplyDelay: a delayed replica never reaches the token exactly",
            );
        }
        if replica.is_replica(name) {
            errors.push(
                format!("{PATH}.promotionToken"),
                "is only valid when this cluster is being promoted (replica.primary names this cluster)",
            );
        }
        if let Some(token) = &replica.promotion_token
            && let Err(e) = crate::token::DemotionToken::decode(token)
        {
            errors.push(format!("{PATH}.promotionToken"), e.to_string());
        }
    }
    if let Some(delay) = &replica.min_apply_delay {
        errors.check(
            format!("{PATH}.minApplyDelay"),
            parse_duration(delay).map(|_| ()),
        );
    }
    if let Some(lease) = &replica.fencing_lease {
        check_fencing_lease(errors, lease);
    }
}

/// `spec.replica.fencingLease`: a store the lease can be written to, a key, a federation and a
/// holder name that are not empty, and a duration of at least the minimum.
fn check_fencing_lease(errors: &mut FieldErrors, lease: &FencingLeaseConfiguration) {
    const PATH: &str = "spec.replica.fencingLease";
    super::validate_object_store(errors, &format!("{PATH}.objectStore"), &lease.object_store);
    if lease.federation.trim().is_empty() {
        errors.push(format!("{PATH}.federation"), "required");
    }
    let key = lease.key();
    if key.trim().is_empty() || key.starts_with('/') || key.ends_with('/') {
        errors.push(
            format!("{PATH}.key"),
            format!("{key:?} must be an object name under objectStore.destinationPath"),
        );
    }
    if lease.holder.as_deref().is_some_and(|h| h.trim().is_empty()) {
        errors.push(format!("{PATH}.holder"), "must not be empty");
    }
    match lease.lease_duration() {
        Ok(d) if d < MIN_FENCING_LEASE_DURATION => errors.push(
            format!("{PATH}.leaseDuration"),
            format!(
                "{} is below the {}s minimum",
                lease
                    .lease_duration
                    .as_deref()
                    .unwrap_or(DEFAULT_FENCING_LEASE_DURATION),
                MIN_FENCING_LEASE_DURATION.as_secs()
            ),
        ),
        Ok(_) => {}
        Err(e) => errors.push(format!("{PATH}.leaseDuration"), e.to_string()),
    }
}

fn check_postgresql(errors: &mut FieldErrors, spec: &ClusterSpec) {
    let Some(pg) = &spec.postgresql else { return };
    for (key, value) in &pg.parameters {
        errors.check(
            format!("spec.postgresql.parameters.{key}"),
            check_user_parameter(key, value),
        );
    }
    for (i, line) in pg.pg_hba.iter().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let kinds = [
            "local",
            "host",
            "hostssl",
            "hostnossl",
            "hostgssenc",
            "hostnogssenc",
        ];
        let needed = if fields.first() == Some(&"local") {
            4
        } else {
            5
        };
        if fields.is_empty() || !kinds.contains(&fields[0]) || fields.len() < needed {
            errors.push(
                format!("spec.postgresql.pg_hba[{i}]"),
                format!(
                    "{line:?} is not a pg_hba rule: <type> <database> <user> [<address>] <method>; PostgreSQL would refuse to start with it"
                ),
            );
        }
    }
    if let Some(ldap) = &pg.ldap {
        if let Some(scheme) = &ldap.scheme
            && !matches!(scheme.as_str(), "ldap" | "ldaps")
        {
            errors.push(
                "spec.postgresql.ldap.scheme",
                format!("{scheme:?} must be ldap or ldaps"),
            );
        }
        if ldap.bind_as_auth.is_some() && ldap.bind_search_auth.is_some() {
            errors.push(
                "spec.postgresql.ldap",
                "only one of bindAsAuth, bindSearchAuth",
            );
        }
    }
    if let Some(t) = pg.promotion_timeout
        && t < 0
    {
        errors.push("spec.postgresql.promotionTimeout", "must not be negative");
    }
}

fn check_storage(
    errors: &mut FieldErrors,
    path: &str,
    storage: Option<&StorageConfiguration>,
    required: bool,
) {
    let Some(storage) = storage else {
        if required {
            errors.push(path, "required: set size (e.g. 1Gi) or pvcTemplate");
        }
        return;
    };
    match &storage.size {
        Some(size) => match parse_quantity(size) {
            Ok(bytes) if bytes <= 0.0 => errors.push(
                format!("{path}.size"),
                "must be positive: Kubernetes refuses an empty volume",
            ),
            Ok(_) => {}
            Err(e) => errors.push(format!("{path}.size"), e.to_string()),
        },
        None if storage.pvc_template.is_none() => {
            errors.push(format!("{path}.size"), "required unless pvcTemplate is set")
        }
        None => {}
    }
}

fn check_tablespaces(errors: &mut FieldErrors, spec: &ClusterSpec) {
    // Two names that give the same volume name (`Hot_Data` and `hot_data`) would share one PVC.
    let mut volumes = std::collections::BTreeMap::new();
    for (i, ts) in spec.tablespaces.iter().enumerate() {
        let path = format!("spec.tablespaces[{i}]");
        let volume = crate::names::tablespace_volume_name(&ts.name);
        if let Some(other) = volumes.insert(volume.clone(), &ts.name) {
            let rule = if *other == ts.name {
                format!("duplicate name {:?}", ts.name)
            } else {
                format!(
                    "{:?} and {other:?} both give the volume name {volume:?}",
                    ts.name
                )
            };
            errors.push(format!("{path}.name"), rule);
        } else {
            errors.check(format!("{path}.name"), check_tablespace_name(&ts.name));
        }
        check_storage(errors, &format!("{path}.storage"), Some(&ts.storage), true);
    }
}

fn check_backup(errors: &mut FieldErrors, spec: &ClusterSpec) {
    let Some(backup) = &spec.backup else { return };
    if let Some(store) = &backup.barman_object_store {
        validate_object_store(errors, "spec.backup.barmanObjectStore", store);
    }
    if let Some(policy) = &backup.retention_policy {
        errors.check(
            "spec.backup.retentionPolicy",
            check_retention_policy(policy),
        );
    }
}

fn check_managed(errors: &mut FieldErrors, cluster: &str, spec: &ClusterSpec) {
    let Some(managed) = &spec.managed else { return };
    check_unique(
        errors,
        "spec.managed.roles",
        managed.roles.iter().map(|r| r.name.as_str()),
    );
    for (i, role) in managed.roles.iter().enumerate() {
        let path = format!("spec.managed.roles[{i}]");
        errors.check(format!("{path}.name"), check_pg_name(&role.name));
        if matches!(role.name.as_str(), "postgres" | "streaming_replica")
            || role.name.starts_with("pg_")
        {
            errors.push(
                format!("{path}.name"),
                format!(
                    "{:?} is reserved: postgres and streaming_replica are pgfed's, pg_ roles PostgreSQL's",
                    role.name
                ),
            );
        }
        if let Some(limit) = role.connection_limit
            && limit < -1
        {
            errors.push(
                format!("{path}.connectionLimit"),
                "must be -1 (unlimited) or more",
            );
        }
        if let Some(until) = &role.valid_until {
            errors.check(format!("{path}.validUntil"), check_timestamp(until));
        }
        if role.disable_password == Some(true) && role.password_secret.is_some() {
            errors.push(
                format!("{path}.disablePassword"),
                "cannot be combined with passwordSecret",
            );
        }
    }
    if let Some(services) = &managed.services {
        for (i, kind) in services.disabled_default_services.iter().enumerate() {
            if *kind == crate::cluster::ServiceSelectorType::Rw {
                errors.push(
                    format!("spec.managed.services.disabledDefaultServices[{i}]"),
                    "the rw service cannot be disabled",
                );
            }
        }
        let names = services.additional.iter().filter_map(|s| {
            s.service_template
                .metadata
                .as_ref()
                .and_then(|m| m.name.as_deref())
        });
        check_unique(errors, "spec.managed.services.additional", names);
        let reserved = [
            crate::names::service_rw(cluster),
            crate::names::service_ro(cluster),
            crate::names::service_r(cluster),
        ];
        for (i, svc) in services.additional.iter().enumerate() {
            let path = format!("spec.managed.services.additional[{i}].serviceTemplate");
            let name = svc
                .service_template
                .metadata
                .as_ref()
                .and_then(|m| m.name.as_deref());
            match name {
                None => errors.push(format!("{path}.metadata.name"), "required"),
                Some(n) if reserved.iter().any(|r| r == n) => errors.push(
                    format!("{path}.metadata.name"),
                    format!("{n:?} is one of the cluster's own services"),
                ),
                Some(n) => errors.check(format!("{path}.metadata.name"), check_dns_1035_label(n)),
            }
            if svc
                .service_template
                .spec
                .as_ref()
                .and_then(|s| s.selector.as_ref())
                .is_some_and(|s| !s.is_empty())
            {
                errors.push(
                    format!("{path}.spec.selector"),
                    "is set by pgfed from the service's updateStrategy and instance roles",
                );
            }
        }
    }
}

fn check_timings(errors: &mut FieldErrors, spec: &ClusterSpec) {
    for (field, value) in [
        ("spec.startDelay", spec.start_delay),
        ("spec.stopDelay", spec.stop_delay),
        ("spec.smartShutdownTimeout", spec.smart_shutdown_timeout),
        ("spec.switchoverDelay", spec.switchover_delay),
        ("spec.failoverDelay", spec.failover_delay),
        ("spec.livenessProbeTimeout", spec.liveness_probe_timeout),
    ] {
        if let Some(v) = value
            && v < 0
        {
            errors.push(
                field,
                format!("{v} must not be negative: it becomes a pod grace period or probe timing, which Kubernetes refuses below 0"),
            );
        }
    }
    if let Some(lease) = &spec.primary_lease {
        let duration = lease.lease_duration_seconds.unwrap_or(15);
        let renew = lease.renew_deadline_seconds.unwrap_or(10);
        let retry = lease.retry_period_seconds.unwrap_or(2);
        // client-go's leader election refuses these at run time, so the primary could never take
        // its lease (CloudNativePG's rules; renew > 1.2 × retry in whole seconds).
        if duration <= renew {
            errors.push(
                "spec.primaryLease.renewDeadlineSeconds",
                format!("{renew} must be less than leaseDurationSeconds ({duration})"),
            );
        }
        if retry < 1 {
            errors.push(
                "spec.primaryLease.retryPeriodSeconds",
                format!("{retry} must be at least 1"),
            );
        } else if 5 * i64::from(renew) <= 6 * i64::from(retry) {
            errors.push(
                "spec.primaryLease.retryPeriodSeconds",
                format!("{retry} is too close to renewDeadlineSeconds ({renew}): the deadline must exceed 1.2 × the retry period"),
            );
        }
    }
    if let Some(probes) = &spec.probes {
        for (field, probe) in [
            ("startup", &probes.startup),
            ("readiness", &probes.readiness),
        ] {
            if let Some(probe) = probe
                && let Some(lag) = &probe.maximum_lag
            {
                errors.check(
                    format!("spec.probes.{field}.maximumLag"),
                    parse_quantity(&lag.0).map(|_| ()),
                );
            }
        }
    }
}
