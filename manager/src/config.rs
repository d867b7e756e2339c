//! The manager's configuration file: the slice of a Cluster an instance needs, in the Cluster's
//! own types (`pgfed_api::cluster`: `bootstrap`, `postgresql`, `backup`, `replica`,
//! `externalClusters`, `managed`, `enableSuperuserAccess`, with CloudNativePG's field names) and
//! the cluster's Database objects (`databases`), so the member operator renders it straight
//! from the cluster's objects, plus what only the instance knows (its data directory, ports,
//! mounted secrets and certificates, the target primary and how to reach it). Read from JSON or
//! YAML; no Kubernetes involved.
//!
//! A Cluster field the manager does not implement is refused by name by the command that would
//! need it (see [`ConfigError::Unsupported`]), never silently ignored; fields that are the
//! operator's business (scheduling, the owner of a restored database, …) are not read.

use crate::pg::conninfo;
use crate::secrets::selector_path;
use pgfed_api::barman::BarmanObjectStoreConfiguration;
use pgfed_api::cluster::{
    BackupConfiguration, BootstrapConfiguration, ExternalCluster, ManagedConfiguration,
    PostgresConfiguration, ReplicaClusterConfiguration, ReplicationSlotsConfiguration,
};
use pgfed_api::database::ManagedDatabase;
use pgfed_api::post_init_sql::PostInitSqlFiles;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Everything one instance manager needs to know about its instance and its cluster.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ManagerConfig {
    /// Cluster name; the default Barman server name.
    pub cluster_name: String,
    /// This instance's name. Unset: the `POD_NAME` environment variable when the file is loaded
    /// (so one file serves every instance of a cluster), else the cluster name.
    #[serde(default)]
    pub instance_name: Option<String>,
    /// PostgreSQL data directory.
    pub pgdata: PathBuf,
    /// PostgreSQL TCP port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Directory for PostgreSQL's Unix socket.
    #[serde(default = "default_socket_dir")]
    pub socket_dir: PathBuf,
    /// Directory holding PostgreSQL's binaries (`initdb`, `pg_ctl`, …).
    #[serde(default = "default_pg_bindir")]
    pub pg_bindir: PathBuf,
    /// Where mounted secrets live: `<secretsDir>/<secret name>/<key>`, as a projected volume mounts them.
    #[serde(default = "default_secrets_dir")]
    pub secrets_dir: PathBuf,
    /// Where tablespaces of a restored backup go (`<dir>/<name>`); unset keeps their original paths.
    #[serde(default)]
    pub tablespaces_dir: Option<PathBuf>,
    /// Directory where wal-restore keeps prefetched segments.
    #[serde(default)]
    pub wal_restore_spool: Option<PathBuf>,
    /// Every this many seconds, while this instance is the primary and archives to
    /// `backup.barmanObjectStore`, the WAL segment it is writing is uploaded, up to what is
    /// flushed, to `<serverName>/pgfed-partial/` in that store (outside the Barman `wals/` tree),
    /// so replica clusters replaying this store lag by seconds instead of `archive_timeout`.
    /// Each upload carries the whole segment so far, so the store receives up to a segment per
    /// interval under a steady write load. Unset or 0: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_wal_upload_seconds: Option<u64>,
    /// How the first instance comes to life (`spec.bootstrap`): `initdb` (`instance init`),
    /// `recovery` from an external cluster's object store (`instance restore`) or
    /// `pg_basebackup` (`instance join`). Each command refuses the options it does not implement
    /// (initdb `import`, `localeProvider`, `icuLocale`; recovery from a `backup` or
    /// `volumeSnapshots`). The initdb `*SQLRefs` run from the files `postInitSqlFiles` lists.
    /// The application `database`, `owner` and `secret` of `recovery` and `pg_basebackup` are
    /// not applied: the copied data brings its roles.
    #[serde(default)]
    pub bootstrap: Option<BootstrapConfiguration>,
    /// Where the scripts of `bootstrap.initdb`'s `postInitSQLRefs`, `postInitTemplateSQLRefs`
    /// and `postInitApplicationSQLRefs` are mounted, per stage in the order they run, each with
    /// the field naming it. The manager cannot read Secrets or ConfigMaps: the operator mounts
    /// every referenced key as a file. `instance init` refuses a reference with no file here.
    #[serde(default, skip_serializing_if = "PostInitSqlFiles::is_empty")]
    pub post_init_sql_files: PostInitSqlFiles,
    /// PostgreSQL configuration (`spec.postgresql`): `parameters`, `pg_hba`, `pg_ident` and
    /// `shared_preload_libraries` (added to the parameter's list) are applied; `ldap` is refused
    /// (not implemented yet); `synchronous` and `syncReplicaElectionConstraint` are the
    /// operator's business (it computes `synchronousStandbyNames`); `promotionTimeout` and
    /// `enableAlterSystem` are not read.
    #[serde(default)]
    pub postgresql: PostgresConfiguration,
    /// Where this cluster archives WAL and stores base backups (`spec.backup`); `barmanObjectStore`
    /// is read, and `retentionPolicy`, which the primary applies to that store (`run::retention`);
    /// the rest (volume snapshots, backup target) is the operator's business.
    #[serde(default)]
    pub backup: Option<BackupConfiguration>,
    /// Replica-cluster settings (`spec.replica`): which external cluster to replay from, whether
    /// this cluster is the primary one, the promotion token, the replay delay.
    #[serde(default)]
    pub replica: Option<ReplicaClusterConfiguration>,
    /// Other clusters this one can restore or stream from (`spec.externalClusters`). The
    /// `sslCert`, `sslKey` and `sslRootCert` selectors name files under
    /// `<secretsDir>/<secret>/<key>`, which libpq reads directly (the key must be mode 0600, or
    /// 0640 and owned by root); `password` is refused where a connection is made, as the manager
    /// authenticates with client certificates only.
    #[serde(default)]
    pub external_clusters: Vec<ExternalCluster>,
    /// Declaratively managed objects (`spec.managed`): the primary reconciles `roles` (see
    /// [`crate::roles`]); `services` is the operator's business and not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedConfiguration>,
    /// The cluster's Database objects, as the operator hands them over (its own choice among
    /// objects naming one database twice already made): the primary creates, alters and drops
    /// the databases, their schemas, extensions, foreign data wrappers and servers (see
    /// [`crate::databases`]) and reports each object in the status document's `databases`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<ManagedDatabase>,
    /// `spec.enableSuperuserAccess`: true, the primary gives `postgres` the password of
    /// `superuserSecret`; false, it sets `postgres`' password to NULL (local peer and
    /// certificate authentication keep working).
    #[serde(default)]
    pub enable_superuser_access: bool,
    /// Name of the mounted Secret whose `password` key is `postgres`' password when
    /// `enableSuperuserAccess` is true (`<secretsDir>/<name>/password`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superuser_secret: Option<String>,
    /// Seconds a smart shutdown may take before the manager escalates to fast.
    #[serde(default = "default_smart_shutdown_timeout")]
    pub smart_shutdown_timeout: u64,
    /// The instance that should be this cluster's primary (CloudNativePG's `status.targetPrimary`).
    /// When it names this instance, `instance run` converges the role: promote (at the replica's
    /// promotion token, if any) when the cluster is the primary cluster, demote when it is a
    /// replica cluster.
    #[serde(default)]
    pub target_primary: Option<String>,
    /// Every instance of the cluster, running or not (the primary keeps a high-availability
    /// replication slot for each of the others).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<String>,
    /// The `synchronous_standby_names` this instance enforces while it is the primary, as the
    /// operator chose it; unset: no synchronous replication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synchronous_standby_names: Option<String>,
    /// Replication slots (`spec.replicationSlots`): the primary keeps a high-availability slot
    /// for each other instance, standbys keep copies of the primary's slots so they exist after a
    /// failover (see the `slots` module). Unset: CloudNativePG's defaults (HA slots and user slot
    /// synchronization on, prefix `_pgfed_`, every 30 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_slots: Option<ReplicationSlotsConfiguration>,
    /// How this cluster's standbys stream from its current primary. When `targetPrimary` names
    /// another instance, `instance run` keeps this one a standby of it: a running primary steps
    /// down, is rewound with pg_rewind and restarts streaming from the new primary; a standby is
    /// re-pointed with a reload. Unset: standbys follow `replica.source` only.
    #[serde(default)]
    pub primary_connection: Option<PrimaryConnection>,
    /// The cluster's primary Lease (`spec.primaryLease`): when set, the primary holds the Lease
    /// named after the cluster in the pod's namespace, a standby promotes and an instance starts
    /// as a primary only while holding it, and a primary that can renew it neither reaches the
    /// API server nor has a standby streaming stops accepting writes. Unset: no Lease (an instance
    /// run outside Kubernetes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_lease: Option<LeaseTimings>,
    /// Seconds a primary stepping down in a switchover may take to stop cleanly (fast shutdown)
    /// before it is stopped immediately (`spec.switchoverDelay`).
    #[serde(default = "default_switchover_delay")]
    pub switchover_delay: u64,
    /// Fenced: postgres is kept stopped while the manager keeps running.
    #[serde(default)]
    pub fenced: bool,
    /// Version of this file's `targetPrimary` and `fenced`, on the scale of the settings the
    /// operator pushes to `PUT /pg/config`: pushed settings override the file's until the file
    /// carries a higher `dynamicVersion`. Unset: the file's values apply only while nothing was
    /// pushed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_version: Option<u64>,
    /// Where the settings pushed to `PUT /pg/config` are kept, so they survive a restart of the
    /// manager's container (not a new pod: the operator's configuration file has the current
    /// values by then).
    #[serde(default = "default_dynamic_config_file")]
    pub dynamic_config_file: PathBuf,
    /// Port of the kubelet probes (`/healthz`, `/readyz`, `/startupz`).
    #[serde(default = "default_probe_port")]
    pub probe_port: u16,
    /// Port of the mutual-TLS status API.
    #[serde(default = "default_status_port")]
    pub status_port: u16,
    /// Port of Prometheus `/metrics`.
    #[serde(default = "default_metrics_port")]
    pub metrics_port: u16,
    /// Extra metrics queries in postgres_exporter's YAML format.
    #[serde(default)]
    pub custom_queries_file: Option<PathBuf>,
    /// TLS material for the server, replication and the status API.
    #[serde(default)]
    pub certificates: Option<CertificateFiles>,
}

/// How long the primary Lease lasts and how often it is renewed (`spec.primaryLease`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LeaseTimings {
    /// How long the Lease stays valid after a renewal.
    #[serde(default = "default_lease_duration")]
    pub lease_duration_seconds: u64,
    /// How long the primary may go without renewing before it must prove it is not isolated.
    #[serde(default = "default_renew_deadline")]
    pub renew_deadline_seconds: u64,
    /// How often every instance reads the Lease and the primary renews it.
    #[serde(default = "default_retry_period")]
    pub retry_period_seconds: u64,
}

impl Default for LeaseTimings {
    fn default() -> Self {
        Self {
            lease_duration_seconds: default_lease_duration(),
            renew_deadline_seconds: default_renew_deadline(),
            retry_period_seconds: default_retry_period(),
        }
    }
}

impl LeaseTimings {
    /// How long the Lease stays valid after a renewal.
    pub fn duration(&self) -> chrono::Duration {
        chrono::Duration::seconds(i64::try_from(self.lease_duration_seconds).unwrap_or(15))
    }
    /// How long the primary may go without renewing.
    pub fn renew_deadline(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.renew_deadline_seconds)
    }
    /// How often the Lease is read and renewed (at least a second).
    pub fn retry_period(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.retry_period_seconds.max(1))
    }
}

fn default_lease_duration() -> u64 {
    15
}
fn default_renew_deadline() -> u64 {
    10
}
fn default_retry_period() -> u64 {
    2
}
fn default_switchover_delay() -> u64 {
    3600
}

/// How to reach the instance that `targetPrimary` names, for streaming replication and pg_rewind.
/// Manager-only (a Cluster has no such field): the operator points it at the replication client
/// certificate it mounts into every instance, so it holds file paths, not secret selectors.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PrimaryConnection {
    /// libpq parameters (`host`, `port`, `user`, `sslmode`, …). `{primary}` in a value is replaced
    /// by the target primary's instance name, e.g. `host: "{primary}.pg-headless"`; a host that
    /// always resolves to the primary (CloudNativePG's `<cluster>-rw` Service) needs none.
    #[serde(default)]
    pub connection_parameters: BTreeMap<String, String>,
    /// Client certificate (replication user) file.
    #[serde(default)]
    pub ssl_cert: Option<PathBuf>,
    /// Client key file.
    #[serde(default)]
    pub ssl_key: Option<PathBuf>,
    /// CA that signed the primary's server certificate.
    #[serde(default)]
    pub ssl_root_cert: Option<PathBuf>,
}

impl PrimaryConnection {
    /// libpq connection string for this cluster's primary `primary`, with `{primary}` in
    /// parameter values replaced by its instance name. Pure.
    pub fn conninfo(&self, primary: &str) -> String {
        conninfo::render(
            self.connection_parameters
                .iter()
                .map(|(k, v)| (k.as_str(), v.replace("{primary}", primary)))
                .chain(conninfo::tls_files(
                    self.ssl_cert.as_deref(),
                    self.ssl_key.as_deref(),
                    self.ssl_root_cert.as_deref(),
                )),
        )
    }
}

/// PEM files mounted into the pod.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CertificateFiles {
    /// Server certificate (PostgreSQL and the status API).
    pub server_cert: PathBuf,
    /// Server key.
    pub server_key: PathBuf,
    /// CA that signs client certificates (replication, operator).
    pub client_ca: PathBuf,
    /// CA that signed the server certificate (for peers verifying us).
    #[serde(default)]
    pub server_ca: Option<PathBuf>,
}

fn default_port() -> u16 {
    pgfed_api::names::POSTGRES_PORT
}
fn default_socket_dir() -> PathBuf {
    PathBuf::from("/controller/run")
}
fn default_pg_bindir() -> PathBuf {
    std::env::var_os("PG_BINDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"))
}
fn default_secrets_dir() -> PathBuf {
    PathBuf::from("/etc/pgfed/secrets")
}
fn default_dynamic_config_file() -> PathBuf {
    PathBuf::from("/controller/dynamic-config.json")
}
fn default_probe_port() -> u16 {
    pgfed_api::names::MANAGER_PROBE_PORT
}
fn default_status_port() -> u16 {
    pgfed_api::names::MANAGER_STATUS_PORT
}
fn default_metrics_port() -> u16 {
    pgfed_api::names::METRICS_PORT
}
fn default_smart_shutdown_timeout() -> u64 {
    180
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is neither valid JSON nor YAML of the expected shape.
    #[error("invalid configuration {path}: {source}")]
    Parse {
        /// File.
        path: PathBuf,
        /// What both parsers said.
        source: ParseError,
    },
    /// A source named in the configuration is not an external cluster with an object store.
    #[error("external cluster {0:?} is not defined or has no barmanObjectStore")]
    UnknownSource(String),
    /// The cluster has no `backup.barmanObjectStore`.
    #[error("backup.barmanObjectStore is not configured")]
    NoBackupStore,
    /// A Cluster field is set that the command needing it does not implement: refused rather than
    /// ignored, so a configuration rendered from a Cluster never silently loses a setting.
    #[error("{field} is not supported by the instance manager: {reason}")]
    Unsupported {
        /// The field, as a path in the configuration (`bootstrap.initdb.import`).
        field: String,
        /// Why, or what to use instead.
        reason: String,
    },
}

impl ConfigError {
    /// A short, stable name of the cause, for metrics labels and Events.
    pub fn label(&self) -> &'static str {
        match self {
            ConfigError::Read { .. } => "config_read",
            ConfigError::Parse { .. } => "config_parse",
            ConfigError::UnknownSource(_) => "unknown_source",
            ConfigError::NoBackupStore => "no_backup_store",
            ConfigError::Unsupported { .. } => "unsupported",
        }
    }
}

/// Text that is neither JSON nor YAML of the configuration's shape: both parsers' reasons, as
/// either may be the format the author meant.
#[derive(Debug, thiserror::Error)]
#[error("not JSON ({json}) nor YAML ({yaml})")]
pub struct ParseError {
    /// The JSON parser's reason.
    pub json: serde_json::Error,
    /// The YAML parser's reason.
    pub yaml: serde_norway::Error,
}

/// Refuses the first field of `fields` (its name under `prefix`, and whether it is set) that is
/// set, for a command that does not implement any of them. Pure.
pub fn refuse_unsupported(
    prefix: &str,
    fields: &[(&str, bool)],
    reason: &str,
) -> Result<(), ConfigError> {
    match fields.iter().find(|(_, set)| *set) {
        Some((name, _)) => Err(ConfigError::Unsupported {
            field: format!("{prefix}.{name}"),
            reason: reason.to_string(),
        }),
        None => Ok(()),
    }
}

impl ManagerConfig {
    /// Reads a JSON or YAML configuration file; an absent `instanceName` is taken from the
    /// `POD_NAME` environment variable (see [`ManagerConfig::named_after_pod`]).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text)
            .map(|c| c.named_after_pod(std::env::var("POD_NAME").ok()))
            .map_err(|source| ConfigError::Parse {
                path: path.to_path_buf(),
                source,
            })
    }

    /// This configuration with `instanceName` set to `pod_name` when the file has none: the
    /// operator mounts one file into every instance of a cluster and tells each pod its name in
    /// `POD_NAME`. An empty pod name counts as none. Pure.
    pub fn named_after_pod(mut self, pod_name: Option<String>) -> Self {
        if self.instance_name.is_none() {
            self.instance_name = pod_name.filter(|n| !n.is_empty());
        }
        self
    }

    /// Parses JSON, falling back to YAML (a superset) for a better error message.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        match serde_json::from_str(text) {
            Ok(c) => Ok(c),
            Err(json) => serde_norway::from_str(text).map_err(|yaml| ParseError { json, yaml }),
        }
    }

    /// `archive_mode`: off without an object store; `always` when the cluster takes part in a
    /// replica topology (it has `spec.replica`, whether it is the primary cluster or a replica),
    /// so a designated primary archives the WAL it replays, and a promotion or demotion never
    /// waits on a restart for this postmaster-level setting; `on` otherwise.
    pub fn archive_mode(&self) -> &'static str {
        match (self.backup_store().is_ok(), self.replica.is_some()) {
            (false, _) => "off",
            (true, true) => "always",
            (true, false) => "on",
        }
    }

    /// Whether this instance acknowledges WAL to archive without uploading it: with
    /// `archive_mode = always` every standby is asked to archive what it receives, but only the
    /// target primary (a replica cluster's designated primary) uploads; the others' WAL is the
    /// same WAL, already archived by it.
    pub fn leaves_archiving_to_the_primary(&self) -> bool {
        self.archive_mode() == "always" && self.other_target_primary().is_some()
    }

    /// The object store this cluster archives to.
    pub fn backup_store(&self) -> Result<&BarmanObjectStoreConfiguration, ConfigError> {
        self.backup
            .as_ref()
            .and_then(|b| b.barman_object_store.as_ref())
            .ok_or(ConfigError::NoBackupStore)
    }

    /// The object store of the external cluster named `name`.
    pub fn external_store(
        &self,
        name: &str,
    ) -> Result<&BarmanObjectStoreConfiguration, ConfigError> {
        self.external_cluster(name)
            .and_then(|c| c.barman_object_store.as_ref())
            .ok_or_else(|| ConfigError::UnknownSource(name.to_string()))
    }

    /// The external cluster named `name`.
    pub fn external_cluster(&self, name: &str) -> Option<&ExternalCluster> {
        self.external_clusters.iter().find(|c| c.name == name)
    }

    /// True when this cluster is a replica cluster (CNPG rule: `enabled` wins, otherwise
    /// self != primary).
    pub fn is_replica_cluster(&self) -> bool {
        self.replica
            .as_ref()
            .is_some_and(|r| r.is_replica(&self.cluster_name))
    }

    /// Where wal-restore reads WAL from: an explicit source (the recovery bootstrap names its
    /// `bootstrap.recovery.source`), else the replica source while a replica cluster, else our own
    /// archive (crash recovery, followers of our own primary).
    pub fn restore_store(
        &self,
        from: Option<&str>,
    ) -> Result<(&BarmanObjectStoreConfiguration, String), ConfigError> {
        if let Some(name) = from {
            return Ok((self.external_store(name)?, name.to_string()));
        }
        if self.is_replica_cluster()
            && let Some(r) = &self.replica
        {
            return Ok((self.external_store(&r.source)?, r.source.clone()));
        }
        Ok((self.backup_store()?, self.cluster_name.clone()))
    }

    /// This instance's name: `instanceName` (or the pod name it was given at load), or the cluster
    /// name for a one-instance setup.
    pub fn me(&self) -> &str {
        self.instance_name.as_deref().unwrap_or(&self.cluster_name)
    }

    /// The other instance `targetPrimary` names, when that is not this one.
    pub fn other_target_primary(&self) -> Option<&str> {
        self.target_primary.as_deref().filter(|t| *t != self.me())
    }

    /// libpq connection string of the other instance `targetPrimary` names, when there is one and
    /// `primaryConnection` says how to reach it. Its `application_name` is this instance's name
    /// unless `primaryConnection` sets one: the file is shared by every instance, and the primary's
    /// `pg_stat_replication` (the status document's `replicationInfo`) names each standby by it.
    /// With `synchronizeLogicalDecoding`, `dbname` is `postgres` unless set.
    pub fn target_primary_conninfo(&self) -> Option<String> {
        let primary = self.other_target_primary()?;
        let mut conn = self.primary_connection.clone()?;
        conn.connection_parameters
            .entry("application_name".to_string())
            .or_insert_with(|| self.me().to_string());
        // PostgreSQL 17's slot synchronization connects to a database through primary_conninfo.
        let logical = self
            .replication_slots
            .as_ref()
            .and_then(|s| s.high_availability.as_ref())
            .and_then(|h| h.synchronize_logical_decoding)
            .unwrap_or(false);
        if logical {
            conn.connection_parameters
                .entry("dbname".to_string())
                .or_insert_with(|| "postgres".to_string());
        }
        Some(conn.conninfo(primary))
    }

    /// libpq connection string for the external cluster `c`, its TLS selectors resolved to the
    /// files mounted under `secretsDir`. Refuses `password`: the manager authenticates with client
    /// certificates only and writes no password file. Pure.
    pub fn external_conninfo(&self, c: &ExternalCluster) -> Result<String, ConfigError> {
        if c.password.is_some() {
            return Err(ConfigError::Unsupported {
                field: format!("externalClusters[{}].password", c.name),
                reason: "authenticate with sslCert and sslKey".to_string(),
            });
        }
        let file = |s: &Option<_>| s.as_ref().map(|s| selector_path(&self.secrets_dir, s));
        let (cert, key, root) = (file(&c.ssl_cert), file(&c.ssl_key), file(&c.ssl_root_cert));
        Ok(conninfo::render(
            c.connection_parameters
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .chain(conninfo::tls_files(
                    cert.as_deref(),
                    key.as_deref(),
                    root.as_deref(),
                )),
        ))
    }

    /// Spool directory for prefetched WAL.
    pub fn spool_dir(&self) -> PathBuf {
        self.wal_restore_spool
            .clone()
            .unwrap_or_else(|| self.pgdata.join("pgfed_wal_spool"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgfed_api::k8s_openapi::api::core::v1::SecretKeySelector;

    fn cfg(yaml: &str) -> ManagerConfig {
        ManagerConfig::parse(yaml).expect("config")
    }

    #[test]
    fn parses_cnpg_field_names_from_yaml() {
        let c = cfg(r#"
clusterName: a
pgdata: /data
bootstrap:
  initdb:
    database: app
    dataChecksums: true
    localeCType: C
    walSegmentSize: 32
    postInitSQL: ["select 1"]
  recovery:
    source: origin
    recoveryTarget: {backupID: "20260101T000000", targetLSN: "0/3000000", exclusive: true}
backup:
  barmanObjectStore:
    destinationPath: s3://bucket/path
    endpointURL: http://127.0.0.1:9000
    wal: {compression: gzip, maxParallel: 8}
"#);
        let initdb = c
            .bootstrap
            .as_ref()
            .and_then(|b| b.initdb.as_ref())
            .expect("initdb");
        assert_eq!(initdb.locale_ctype.as_deref(), Some("C"));
        assert_eq!(initdb.wal_segment_size, Some(32));
        let target = c
            .bootstrap
            .as_ref()
            .and_then(|b| b.recovery.as_ref())
            .and_then(|r| r.recovery_target.as_ref())
            .expect("target");
        assert_eq!(target.backup_id.as_deref(), Some("20260101T000000"));
        assert_eq!(target.exclusive, Some(true));
        let store = c.backup_store().expect("store");
        assert_eq!(store.wal.as_ref().and_then(|w| w.max_parallel), Some(8));
        assert_eq!(c.port, 5432);
    }

    #[test]
    fn replica_cluster_rule() {
        let cases = [
            ("", false),
            ("replica: {source: b}", false),
            ("replica: {source: b, enabled: true}", true),
            ("replica: {source: b, primary: b}", true),
            ("replica: {source: b, primary: a}", false),
            ("replica: {source: b, self: x, primary: a}", true),
            ("replica: {source: b, primary: b, enabled: false}", false),
        ];
        for (extra, want) in cases {
            let c = cfg(&format!("clusterName: a\npgdata: /d\n{extra}\n"));
            assert_eq!(c.is_replica_cluster(), want, "{extra}");
        }
    }

    #[test]
    fn the_sections_of_a_cluster_spec_drop_in() {
        let spec: pgfed_api::cluster::ClusterSpec = serde_norway::from_str(
            r#"
instances: 3
bootstrap:
  recovery: {source: origin, database: app, owner: app, recoveryTarget: {targetName: before}}
postgresql:
  parameters: {shared_buffers: 256MB}
  pg_hba: ["host all all 10.0.0.0/8 scram-sha-256"]
backup:
  retentionPolicy: 30d
  barmanObjectStore: {destinationPath: "s3://b/", wal: {compression: zstd}}
replica: {self: b, primary: a, source: origin}
externalClusters:
  - name: origin
    connectionParameters: {host: origin.example, user: streaming_replica}
    sslCert: {name: origin-replication, key: tls.crt}
    barmanObjectStore: {destinationPath: "s3://a/"}
"#,
        )
        .expect("cluster spec");
        let c = ManagerConfig {
            cluster_name: "b".into(),
            pgdata: "/data".into(),
            bootstrap: spec.bootstrap.clone(),
            postgresql: spec.postgresql.clone().unwrap_or_default(),
            backup: spec.backup.clone(),
            replica: spec.replica.clone(),
            external_clusters: spec.external_clusters.clone(),
            ..Default::default()
        };
        assert!(c.is_replica_cluster());
        assert_eq!(
            c.external_store("origin").expect("store").destination_path,
            "s3://a/"
        );
        // What the operator writes is what the manager reads back.
        let text = serde_json::to_string(&c).expect("json");
        assert_eq!(ManagerConfig::parse(&text).expect("parse"), c);
        assert!(
            text.contains(r#""sslCert":{"key":"tls.crt","name":"origin-replication"}"#),
            "{text}"
        );
    }

    #[test]
    fn primary_conninfo_names_the_target() {
        let mut c = PrimaryConnection::default();
        c.connection_parameters
            .insert("host".into(), "{primary}.pg-headless".into());
        c.connection_parameters
            .insert("user".into(), "streaming_replica".into());
        c.ssl_root_cert = Some("/certs/ca.crt".into());
        assert_eq!(
            c.conninfo("pg-2"),
            "host=pg-2.pg-headless user=streaming_replica sslrootcert=/certs/ca.crt"
        );
    }

    #[test]
    fn a_standby_names_itself_to_the_primary_unless_told_otherwise() {
        let shared = "clusterName: pg\npgdata: /d\ntargetPrimary: pg-1\n\
                      primaryConnection: {connectionParameters: {host: '{primary}.pg'}}\n";
        let c = cfg(shared).named_after_pod(Some("pg-3".into()));
        assert_eq!(
            c.target_primary_conninfo().as_deref(),
            Some("application_name=pg-3 host=pg-1.pg")
        );
        let told = cfg(&shared.replace("host:", "application_name: x, host:"))
            .named_after_pod(Some("pg-3".into()));
        assert_eq!(
            told.target_primary_conninfo().as_deref(),
            Some("application_name=x host=pg-1.pg")
        );
        // The target primary itself has no upstream.
        let primary = cfg(shared).named_after_pod(Some("pg-1".into()));
        assert_eq!(primary.target_primary_conninfo(), None);
    }

    fn selector(name: &str, key: &str) -> Option<SecretKeySelector> {
        Some(SecretKeySelector {
            name: name.into(),
            key: key.into(),
            ..Default::default()
        })
    }

    #[test]
    fn external_conninfo_quotes_values_and_finds_tls_files_among_the_secrets() {
        let mut c = ExternalCluster {
            name: "a".into(),
            ssl_cert: selector("replication", "tls.crt"),
            ssl_key: selector("replication", "tls.key"),
            ssl_root_cert: selector("a-ca", "ca.crt"),
            ..Default::default()
        };
        c.connection_parameters
            .insert("host".into(), "10.0.0.1".into());
        c.connection_parameters
            .insert("application_name".into(), "my app".into());
        let manager = cfg("clusterName: a\npgdata: /d\nsecretsDir: /etc/pgfed/secrets\n");
        assert_eq!(
            manager.external_conninfo(&c).expect("conninfo"),
            "application_name='my app' host=10.0.0.1 \
             sslcert=/etc/pgfed/secrets/replication/tls.crt \
             sslkey=/etc/pgfed/secrets/replication/tls.key \
             sslrootcert=/etc/pgfed/secrets/a-ca/ca.crt"
        );
    }

    #[test]
    fn external_conninfo_refuses_a_password() {
        let c = ExternalCluster {
            name: "far".into(),
            password: selector("far-pw", "password"),
            ..Default::default()
        };
        let err = cfg("clusterName: a\npgdata: /d\n")
            .external_conninfo(&c)
            .expect_err("password refused");
        assert!(
            err.to_string().contains("externalClusters[far].password"),
            "{err}"
        );
    }

    #[test]
    fn the_instance_name_comes_from_the_file_then_the_pod_then_the_cluster() {
        let shared = "clusterName: pg\npgdata: /d\n";
        let named = "clusterName: pg\ninstanceName: pg-7\npgdata: /d\n";
        let cases = [
            (shared, Some("pg-2"), "pg-2"),
            (shared, None, "pg"),
            (shared, Some(""), "pg"),
            (named, Some("pg-2"), "pg-7"),
            (named, None, "pg-7"),
        ];
        for (file, pod, want) in cases {
            let c = cfg(file).named_after_pod(pod.map(str::to_string));
            assert_eq!(c.me(), want, "{file:?} POD_NAME={pod:?}");
        }
    }

    #[test]
    fn rejects_garbage() {
        assert!(ManagerConfig::parse("pgdata: [").is_err());
        let err = ManagerConfig::parse("{}").expect_err("no clusterName");
        assert!(err.to_string().contains("clusterName"), "{err}");
        assert!(err.yaml.to_string().contains("clusterName"), "{err}");
    }
}
