//! The manager's configuration file: the slice of a CloudNativePG-shaped Cluster spec an instance
//! needs, with the same field names (`bootstrap.initdb`, `bootstrap.recovery.recoveryTarget`,
//! `postgresql.parameters`, `backup.barmanObjectStore`, `replica`, `externalClusters`), so switching to
//! the `pgfed_api::cluster` types later is a rename. Read from JSON or YAML; no Kubernetes involved.

use pgfed_api::barman::BarmanObjectStoreConfiguration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Everything one instance manager needs to know about its instance and its cluster.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ManagerConfig {
    /// Cluster name; the default Barman server name.
    pub cluster_name: String,
    /// This instance's name (pod name in Kubernetes).
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
    /// How the first instance comes to life.
    #[serde(default)]
    pub bootstrap: Option<Bootstrap>,
    /// PostgreSQL configuration.
    #[serde(default)]
    pub postgresql: PostgresConfiguration,
    /// Where this cluster archives WAL and stores base backups.
    #[serde(default)]
    pub backup: Option<BackupConfiguration>,
    /// Replica-cluster settings: which external cluster to replay from.
    #[serde(default)]
    pub replica: Option<ReplicaClusterConfiguration>,
    /// Other clusters this one can restore or stream from.
    #[serde(default)]
    pub external_clusters: Vec<ExternalCluster>,
    /// Seconds a smart shutdown may take before the manager escalates to fast.
    #[serde(default = "default_smart_shutdown_timeout")]
    pub smart_shutdown_timeout: u64,
    /// The instance that should be this cluster's primary (CloudNativePG's `status.targetPrimary`).
    /// When it names this instance, `instance run` converges the role: promote (at the replica's
    /// promotion token, if any) when the cluster is the primary cluster, demote when it is a
    /// replica cluster.
    #[serde(default)]
    pub target_primary: Option<String>,
    /// How this cluster's standbys stream from its current primary. When `targetPrimary` names
    /// another instance, `instance run` keeps this one a standby of it: a running primary steps
    /// down, is rewound with pg_rewind and restarts streaming from the new primary; a standby is
    /// re-pointed with a reload. Unset: standbys follow `replica.source` only.
    #[serde(default)]
    pub primary_connection: Option<PrimaryConnection>,
    /// Fenced: postgres is kept stopped while the manager keeps running.
    #[serde(default)]
    pub fenced: bool,
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

/// `spec.bootstrap`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Bootstrap {
    /// Create a new cluster with initdb.
    #[serde(default)]
    pub initdb: Option<BootstrapInitDb>,
    /// Restore a base backup from an external cluster's object store.
    #[serde(default)]
    pub recovery: Option<BootstrapRecovery>,
    /// Clone a running primary with pg_basebackup.
    #[serde(default, rename = "pg_basebackup")]
    pub pg_basebackup: Option<BootstrapPgBaseBackup>,
}

/// `spec.bootstrap.initdb`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapInitDb {
    /// Application database (default `app`).
    #[serde(default)]
    pub database: Option<String>,
    /// Owner of the application database (default: the database name).
    #[serde(default)]
    pub owner: Option<String>,
    /// Secret (basic-auth: `username`, `password`) with the owner's credentials.
    #[serde(default)]
    pub secret: Option<LocalObjectReference>,
    /// Extra initdb options.
    #[serde(default)]
    pub options: Vec<String>,
    /// Enable data page checksums.
    #[serde(default)]
    pub data_checksums: Option<bool>,
    /// Template encoding (default UTF8).
    #[serde(default)]
    pub encoding: Option<String>,
    /// LC_COLLATE.
    #[serde(default)]
    pub locale_collate: Option<String>,
    /// LC_CTYPE.
    #[serde(default, rename = "localeCType")]
    pub locale_ctype: Option<String>,
    /// Locale for everything else.
    #[serde(default)]
    pub locale: Option<String>,
    /// WAL segment size in MB (a power of two from 1 to 1024).
    #[serde(default)]
    pub wal_segment_size: Option<u32>,
    /// SQL run as superuser in the `postgres` database after initdb.
    #[serde(default, rename = "postInitSQL")]
    pub post_init_sql: Vec<String>,
    /// SQL run as superuser in the application database after it is created.
    #[serde(default, rename = "postInitApplicationSQL")]
    pub post_init_application_sql: Vec<String>,
}

/// `{name: ...}`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct LocalObjectReference {
    /// Object name.
    pub name: String,
}

/// `spec.bootstrap.recovery`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapRecovery {
    /// External cluster whose object store holds the backup and WAL.
    pub source: String,
    /// Where recovery stops.
    #[serde(default)]
    pub recovery_target: Option<RecoveryTarget>,
}

/// `spec.bootstrap.recovery.recoveryTarget`: the Cluster type itself, so the backup selection in
/// `pgfed_api::barman::select` reads the manager's configuration and a Cluster spec alike.
pub use pgfed_api::cluster::RecoveryTarget;

/// `spec.bootstrap.pg_basebackup`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct BootstrapPgBaseBackup {
    /// External cluster to clone.
    pub source: String,
}

/// `spec.postgresql`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct PostgresConfiguration {
    /// User parameters for postgresql.conf.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    /// Extra pg_hba.conf lines, inserted before pgfed's defaults.
    #[serde(default)]
    pub pg_hba: Vec<String>,
    /// Extra pg_ident.conf lines.
    #[serde(default)]
    pub pg_ident: Vec<String>,
}

/// `spec.backup`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BackupConfiguration {
    /// The object store receiving WAL and base backups.
    pub barman_object_store: Option<BarmanObjectStoreConfiguration>,
}

/// `spec.replica`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaClusterConfiguration {
    /// This cluster's name in the distributed topology.
    #[serde(default, rename = "self")]
    pub self_name: Option<String>,
    /// The cluster currently primary.
    #[serde(default)]
    pub primary: Option<String>,
    /// The external cluster to replicate from.
    pub source: String,
    /// Force replica mode on or off.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Demotion token of the former primary: promote only once replayed exactly to it.
    #[serde(default)]
    pub promotion_token: Option<String>,
}

/// How to reach the instance that `targetPrimary` names, for streaming replication and pg_rewind.
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

/// `spec.externalClusters[]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalCluster {
    /// Name referenced by `replica.source` and `bootstrap.*.source`.
    pub name: String,
    /// libpq connection parameters (host, port, user, dbname, sslmode…).
    #[serde(default)]
    pub connection_parameters: BTreeMap<String, String>,
    /// Client certificate file for TLS authentication.
    #[serde(default)]
    pub ssl_cert: Option<PathBuf>,
    /// Client key file.
    #[serde(default)]
    pub ssl_key: Option<PathBuf>,
    /// CA bundle to verify the server.
    #[serde(default)]
    pub ssl_root_cert: Option<PathBuf>,
    /// Its object store (Barman Cloud layout).
    #[serde(default)]
    pub barman_object_store: Option<BarmanObjectStoreConfiguration>,
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
    5432
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
fn default_probe_port() -> u16 {
    8000
}
fn default_status_port() -> u16 {
    8001
}
fn default_metrics_port() -> u16 {
    9187
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
    #[error("invalid configuration {path}: {message}")]
    Parse {
        /// File.
        path: PathBuf,
        /// Parser message.
        message: String,
    },
    /// A source named in the configuration is not an external cluster with an object store.
    #[error("external cluster {0:?} is not defined or has no barmanObjectStore")]
    UnknownSource(String),
    /// The cluster has no `backup.barmanObjectStore`.
    #[error("backup.barmanObjectStore is not configured")]
    NoBackupStore,
}

impl ManagerConfig {
    /// Reads a JSON or YAML configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses JSON, falling back to YAML (a superset) for a better error message.
    pub fn parse(text: &str) -> Result<Self, String> {
        match serde_json::from_str(text) {
            Ok(c) => Ok(c),
            Err(json_err) => serde_norway::from_str(text)
                .map_err(|yaml_err| format!("not JSON ({json_err}) nor YAML ({yaml_err})")),
        }
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
        let Some(replica) = &self.replica else {
            return false;
        };
        if let Some(enabled) = replica.enabled {
            return enabled;
        }
        match &replica.primary {
            Some(primary) => replica.self_name.as_deref().unwrap_or(&self.cluster_name) != primary,
            None => false,
        }
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

    /// Spool directory for prefetched WAL.
    /// This instance's name: `instanceName`, or the cluster name for a one-instance setup.
    pub fn me(&self) -> &str {
        self.instance_name.as_deref().unwrap_or(&self.cluster_name)
    }

    /// The other instance `targetPrimary` names, when that is not this one.
    pub fn other_target_primary(&self) -> Option<&str> {
        self.target_primary.as_deref().filter(|t| *t != self.me())
    }

    /// libpq connection string of the other instance `targetPrimary` names, when there is one and
    /// `primaryConnection` says how to reach it.
    pub fn target_primary_conninfo(&self) -> Option<String> {
        let primary = self.other_target_primary()?;
        let conn = self.primary_connection.as_ref()?;
        Some(crate::instance::follow::primary_conninfo(conn, primary))
    }

    pub fn spool_dir(&self) -> PathBuf {
        self.wal_restore_spool
            .clone()
            .unwrap_or_else(|| self.pgdata.join("pgfed_wal_spool"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn rejects_garbage() {
        assert!(ManagerConfig::parse("pgdata: [").is_err());
        assert!(ManagerConfig::parse("{}").is_err());
    }
}
