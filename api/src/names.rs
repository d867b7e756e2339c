//! Names, labels and annotations shared by the operator, the instance manager and the federation
//! controller. One place, so every component agrees on what an object is called.

/// Label and annotation prefix.
pub const PREFIX: &str = "pgfed.io";
/// Label: the Cluster an object belongs to.
pub const LABEL_CLUSTER: &str = "pgfed.io/cluster";
/// Label: the instance (pod) name.
pub const LABEL_INSTANCE_NAME: &str = "pgfed.io/instanceName";
/// Label: `primary` or `replica`, kept current by the operator; the -rw/-ro services select on it.
pub const LABEL_INSTANCE_ROLE: &str = "pgfed.io/instanceRole";
/// Label: `instance` or `pooler`.
pub const LABEL_POD_ROLE: &str = "pgfed.io/podRole";
/// Label: the Federation that manages a member Cluster.
pub const LABEL_FEDERATION: &str = "pgfed.io/federation";
/// Label: the ScheduledBackup that created a Backup (CloudNativePG: `cnpg.io/scheduled-backup`).
pub const LABEL_SCHEDULED_BACKUP: &str = "pgfed.io/scheduled-backup";
/// Annotation: a Backup is a ScheduledBackup's `immediate` one, taken at its creation.
pub const ANNOTATION_IMMEDIATE_BACKUP: &str = "pgfed.io/immediateBackup";
/// Annotation: an instance is fenced (postgres stopped, pod kept). Value: JSON list of instance
/// names, or `["*"]` for all.
pub const ANNOTATION_FENCED_INSTANCES: &str = "pgfed.io/fencedInstances";
/// Annotation: the cluster is hibernated (`on`/`off`).
pub const ANNOTATION_HIBERNATION: &str = "pgfed.io/hibernation";
/// Annotation: reconciliation is suspended (`disabled`).
pub const ANNOTATION_RECONCILIATION: &str = "pgfed.io/reconciliationLoop";

/// Role label values.
pub const ROLE_PRIMARY: &str = "primary";
/// Role label value of standbys.
pub const ROLE_REPLICA: &str = "replica";

/// The replication user; authenticated by client certificate only.
pub const REPLICATION_USER: &str = "streaming_replica";
/// Default application database and owner.
pub const DEFAULT_DATABASE: &str = "app";
/// PostgreSQL's port inside pods.
pub const POSTGRES_PORT: u16 = 5432;
/// The instance manager's plain-HTTP port for the kubelet's probes (`/healthz`, `/readyz`,
/// `/startupz`).
pub const MANAGER_PROBE_PORT: u16 = 8000;
/// The instance manager's status API, mutual TLS only (the operator's one way to see inside a pod).
pub const MANAGER_STATUS_PORT: u16 = 8001;
/// The instance manager's metrics port.
pub const METRICS_PORT: u16 = 9187;
/// PgBouncer metrics port.
pub const PGBOUNCER_METRICS_PORT: u16 = 9127;
/// Default PostgreSQL image (Debian's PostgreSQL 15 with PgBouncer, built by tests/kind-multi).
pub const DEFAULT_POSTGRES_IMAGE: &str = "pgfed/postgresql:15";
/// Default prefix of high-availability replication slots.
pub const DEFAULT_HA_SLOT_PREFIX: &str = "_pgfed_";

/// Pod and data PVC name of instance `serial` (serials start at 1 and are never reused).
pub fn instance_name(cluster: &str, serial: u32) -> String {
    format!("{cluster}-{serial}")
}

/// WAL PVC name of an instance.
pub fn wal_pvc_name(instance: &str) -> String {
    format!("{instance}-wal")
}

/// The part of volume and PVC names that stands for a tablespace: its name lowercased, with `_`
/// and `$` (allowed in tablespace names, not in Kubernetes names) as `-`. Two tablespaces whose
/// names give the same volume name cannot coexist; validation refuses them.
pub fn tablespace_volume_name(tablespace: &str) -> String {
    tablespace.to_ascii_lowercase().replace(['_', '$'], "-")
}

/// Tablespace PVC name of an instance.
pub fn tablespace_pvc_name(instance: &str, tablespace: &str) -> String {
    format!("{instance}-tbs-{}", tablespace_volume_name(tablespace))
}

/// The services of a cluster: read-write (primary), read-only (standbys), read (any).
pub fn service_rw(cluster: &str) -> String {
    format!("{cluster}-rw")
}
/// Read-only service (standbys).
pub fn service_ro(cluster: &str) -> String {
    format!("{cluster}-ro")
}
/// Read service (any instance).
pub fn service_r(cluster: &str) -> String {
    format!("{cluster}-r")
}

/// Secret with the superuser credentials.
pub fn secret_superuser(cluster: &str) -> String {
    format!("{cluster}-superuser")
}
/// Secret with the application owner's credentials.
pub fn secret_app(cluster: &str) -> String {
    format!("{cluster}-app")
}
/// Secret with the cluster CA.
pub fn secret_ca(cluster: &str) -> String {
    format!("{cluster}-ca")
}
/// Secret with the server certificate.
pub fn secret_server(cluster: &str) -> String {
    format!("{cluster}-server")
}
/// Secret with the `streaming_replica` client certificate.
pub fn secret_replication(cluster: &str) -> String {
    format!("{cluster}-replication")
}

/// Parses the serial out of an instance name of `cluster`, e.g. `pg-3` → 3.
pub fn instance_serial(cluster: &str, instance: &str) -> Option<u32> {
    instance
        .strip_prefix(cluster)?
        .strip_prefix('-')?
        .parse()
        .ok()
        .filter(|s| *s > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names_round_trip() {
        assert_eq!(instance_name("pg", 3), "pg-3");
        assert_eq!(instance_serial("pg", "pg-3"), Some(3));
        assert_eq!(instance_serial("pg", "pg-0"), None);
        assert_eq!(instance_serial("pg", "pg-3-wal"), None);
        assert_eq!(instance_serial("pg", "pgx-3"), None);
        assert_eq!(wal_pvc_name("pg-3"), "pg-3-wal");
        assert_eq!(tablespace_pvc_name("pg-3", "hot_data"), "pg-3-tbs-hot-data");
        assert_eq!(tablespace_pvc_name("pg-3", "Hot$Data"), "pg-3-tbs-hot-data");
    }
}
