//! Defaulting as pure functions: what the mutating webhook fills in. Convention over configuration:
//! a Cluster with only `instances` and `storage.size` is complete after `default_cluster`.
//! Defaulting never overrides a value the user set.

use crate::cluster::*;
use crate::common::BackupTarget;
use crate::federation::{FailoverMode, FederationFailover, FederationReplication, FederationSpec};
use crate::names;
use crate::pooler::{PoolMode, PoolerSpec, PoolerType};

fn set<T>(field: &mut Option<T>, value: T) {
    if field.is_none() {
        *field = Some(value);
    }
}

/// Fills every defaulted field of a Cluster spec.
pub fn default_cluster(spec: &mut ClusterSpec) {
    if spec.image_catalog_ref.is_none() {
        set(
            &mut spec.image_name,
            names::DEFAULT_POSTGRES_IMAGE.to_string(),
        );
    }
    set(&mut spec.image_pull_policy, "IfNotPresent".to_string());
    set(&mut spec.postgres_uid, 26);
    set(&mut spec.postgres_gid, 26);
    set(&mut spec.min_sync_replicas, 0);
    set(&mut spec.max_sync_replicas, 0);
    set(&mut spec.enable_superuser_access, false);
    set(&mut spec.start_delay, 3600);
    set(&mut spec.stop_delay, 1800);
    set(&mut spec.smart_shutdown_timeout, 180);
    set(&mut spec.switchover_delay, 3600);
    set(&mut spec.failover_delay, 0);
    set(
        &mut spec.primary_update_strategy,
        PrimaryUpdateStrategy::Unsupervised,
    );
    set(
        &mut spec.primary_update_method,
        PrimaryUpdateMethod::Restart,
    );
    set(&mut spec.log_level, LogLevel::Info);
    set(&mut spec.enable_pdb, true);

    let bootstrap = spec.bootstrap.get_or_insert_with(Default::default);
    if bootstrap.initdb.is_none()
        && bootstrap.recovery.is_none()
        && bootstrap.pg_basebackup.is_none()
    {
        bootstrap.initdb = Some(BootstrapInitDb::default());
    }
    if let Some(initdb) = &mut bootstrap.initdb {
        set(&mut initdb.database, names::DEFAULT_DATABASE.to_string());
        let database = initdb.database.clone().unwrap_or_default();
        set(&mut initdb.owner, database);
        set(&mut initdb.encoding, "UTF8".to_string());
        if initdb.locale.is_none() {
            set(&mut initdb.locale_collate, "C".to_string());
            set(&mut initdb.locale_ctype, "C".to_string());
        }
        set(&mut initdb.wal_segment_size, 16);
    }
    for (db, owner) in [
        bootstrap
            .recovery
            .as_mut()
            .map(|r| (&mut r.database, &mut r.owner)),
        bootstrap
            .pg_basebackup
            .as_mut()
            .map(|b| (&mut b.database, &mut b.owner)),
    ]
    .into_iter()
    .flatten()
    {
        set(db, names::DEFAULT_DATABASE.to_string());
        let database = db.clone().unwrap_or_default();
        set(owner, database);
    }

    let slots = spec.replication_slots.get_or_insert_with(Default::default);
    let ha = slots.high_availability.get_or_insert_with(Default::default);
    set(&mut ha.enabled, true);
    set(
        &mut ha.slot_prefix,
        names::DEFAULT_HA_SLOT_PREFIX.to_string(),
    );
    set(&mut slots.update_interval, 30);
    let sync = slots
        .synchronize_replicas
        .get_or_insert_with(Default::default);
    set(&mut sync.enabled, true);

    let affinity = spec.affinity.get_or_insert_with(Default::default);
    set(&mut affinity.enable_pod_anti_affinity, true);
    set(
        &mut affinity.topology_key,
        "kubernetes.io/hostname".to_string(),
    );
    set(
        &mut affinity.pod_anti_affinity_type,
        PodAntiAffinityType::Preferred,
    );

    let maintenance = spec
        .node_maintenance_window
        .get_or_insert_with(Default::default);
    set(&mut maintenance.reuse_pvc, true);
    set(&mut maintenance.in_progress, false);

    let lease = spec.primary_lease.get_or_insert_with(Default::default);
    set(&mut lease.lease_duration_seconds, 15);
    set(&mut lease.renew_deadline_seconds, 10);
    set(&mut lease.retry_period_seconds, 2);

    let probes = spec.probes.get_or_insert_with(Default::default);
    let liveness = probes.liveness.get_or_insert_with(Default::default);
    let isolation = liveness
        .isolation_check
        .get_or_insert_with(Default::default);
    set(&mut isolation.enabled, true);
    set(&mut isolation.request_timeout, 1000);
    set(&mut isolation.connection_timeout, 1000);

    for storage in [spec.storage.as_mut(), spec.wal_storage.as_mut()]
        .into_iter()
        .flatten()
    {
        set(&mut storage.resize_in_use_volumes, true);
    }

    if let Some(backup) = &mut spec.backup {
        set(&mut backup.target, BackupTarget::PreferStandby);
        if let Some(store) = &mut backup.barman_object_store {
            let data = store.data.get_or_insert_with(Default::default);
            set(&mut data.jobs, 2);
            set(&mut data.immediate_checkpoint, false);
        }
    }
}

/// Fills the defaulted fields of a Pooler spec.
pub fn default_pooler(spec: &mut PoolerSpec) {
    set(&mut spec.pooler_type, PoolerType::Rw);
    set(&mut spec.instances, 1);
    set(&mut spec.pgbouncer.pool_mode, PoolMode::Session);
}

/// Fills the defaulted fields of a Federation spec, including its Cluster template.
pub fn default_federation(spec: &mut FederationSpec) {
    default_cluster(&mut spec.template);
    let failover = spec
        .failover
        .get_or_insert_with(FederationFailover::default);
    set(&mut failover.mode, FailoverMode::Manual);
    set(&mut failover.primary_unreachable_timeout, "60s".to_string());
    set(&mut failover.lease_duration, "30s".to_string());
    set(&mut failover.switchover_step_timeout, "10m".to_string());
    let replication = spec
        .replication
        .get_or_insert_with(FederationReplication::default);
    set(
        &mut replication.partial_wal_upload_interval,
        "5s".to_string(),
    );
    set(&mut replication.streaming, false);
    set(&mut replication.max_acceptable_lag, "60s".to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_cluster_is_complete_and_valid_after_defaulting() {
        let mut spec: ClusterSpec =
            serde_norway::from_str("instances: 3\nstorage:\n  size: 1Gi\n").expect("yaml");
        default_cluster(&mut spec);
        assert_eq!(
            spec.image_name.as_deref(),
            Some(names::DEFAULT_POSTGRES_IMAGE)
        );
        let initdb = spec
            .bootstrap
            .as_ref()
            .and_then(|b| b.initdb.as_ref())
            .expect("initdb");
        assert_eq!(initdb.database.as_deref(), Some("app"));
        assert_eq!(initdb.owner.as_deref(), Some("app"));
        assert_eq!(spec.postgres_uid, Some(26));
        assert_eq!(
            spec.primary_update_strategy,
            Some(PrimaryUpdateStrategy::Unsupervised)
        );
        assert_eq!(spec.enable_pdb, Some(true));
        assert_eq!(
            spec.primary_lease
                .as_ref()
                .and_then(|l| l.lease_duration_seconds),
            Some(15)
        );
        let errors = crate::validation::validate_cluster("pg", &spec);
        assert!(errors.is_empty(), "{errors}");
    }

    #[test]
    fn defaulting_keeps_user_values_and_is_idempotent() {
        let mut spec: ClusterSpec = serde_norway::from_str(
            "instances: 1\nstopDelay: 60\nimageCatalogRef: {kind: ImageCatalog, name: pg, major: 15}\n\
             bootstrap:\n  initdb:\n    database: shop\nstorage: {size: 1Gi}\n",
        )
        .expect("yaml");
        default_cluster(&mut spec);
        assert_eq!(spec.stop_delay, Some(60));
        assert_eq!(
            spec.image_name, None,
            "a catalog reference excludes imageName"
        );
        let initdb = spec
            .bootstrap
            .as_ref()
            .and_then(|b| b.initdb.as_ref())
            .expect("initdb");
        assert_eq!(initdb.owner.as_deref(), Some("shop"));
        let once = spec.clone();
        default_cluster(&mut spec);
        assert_eq!(spec, once);
    }

    #[test]
    fn recovery_bootstrap_is_not_given_initdb() {
        let mut spec: ClusterSpec = serde_norway::from_str(
            "instances: 1\nstorage: {size: 1Gi}\nbootstrap:\n  recovery:\n    source: origin\n",
        )
        .expect("yaml");
        default_cluster(&mut spec);
        let bootstrap = spec.bootstrap.expect("bootstrap");
        assert!(bootstrap.initdb.is_none());
        assert_eq!(
            bootstrap.recovery.and_then(|r| r.owner).as_deref(),
            Some("app")
        );
    }
}
