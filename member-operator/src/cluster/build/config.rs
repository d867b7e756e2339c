//! The instance managers' configuration: one ConfigMap `<cluster>-config` with one `config.json`
//! that every instance pod mounts at `/controller/config` (the manager reads it through
//! `PGFED_CONFIG`). It carries the slices of the Cluster spec the manager acts on, in the
//! Cluster's own types and field names (`bootstrap`, `postgresql`, `backup`, `replica`,
//! `externalClusters`, `managed.roles`, `enableSuperuserAccess`), the cluster's Database objects
//! (`databases`), and where the pod builder mounted what (data directory, certificates,
//! credentials).
//!
//! Decisions, and why:
//! - One file for all instances: each manager learns its own name from `POD_NAME`, and only the
//!   instance `targetPrimary` names runs the cluster's `bootstrap`; the others clone from it. So
//!   adding an instance changes nothing here and restarts nobody.
//! - Standbys reach the primary through the `-rw` Service with `sslmode=verify-full`: the server
//!   certificate carries the Service's names, and the replication client certificate
//!   authenticates (no password exists for `streaming_replica`).
//! - `targetPrimary` and fencing are also pushed to running managers over the status API; the
//!   file is what a new or restarted pod starts from. `dynamicVersion` orders the two: the manager
//!   keeps whichever is newer.
//! - A ConfigMap, not a Secret: nothing secret is in it, only names of Secrets and file paths.
//!   The post-init SQL `bootstrap.initdb` references in Secrets and ConfigMaps stays where it
//!   is: the pod builder mounts each referenced key, and `postInitSqlFiles` lists the files.

use super::meta::Owner;
use super::pod::{
    CERTIFICATES_DIR, CREDENTIALS_DIR, PGDATA, POST_INIT_SQL_DIR, post_init_sql_file,
};
use k8s_openapi::api::core::v1::{ConfigMap, ConfigMapVolumeSource, Volume};
use pgfed_api::cluster::{
    BackupConfiguration, BootstrapConfiguration, Cluster, ExternalCluster, ManagedConfiguration,
    PostgresConfiguration, ReplicaClusterConfiguration, ReplicationSlotsConfiguration,
};
use pgfed_api::common::LocalObjectReference;
use pgfed_api::database::ManagedDatabase;
use pgfed_api::names::{POSTGRES_PORT, REPLICATION_USER, service_rw};
use pgfed_api::post_init_sql::PostInitSqlFiles;
use serde::Serialize;
use std::collections::BTreeMap;

/// Key of the configuration in the ConfigMap (the file name the manager reads).
pub const CONFIG_KEY: &str = "config.json";

/// Name of the ConfigMap holding the instance managers' configuration.
pub fn config_map_name(cluster: &str) -> String {
    format!("{cluster}-config")
}

/// What the operator decided that the file must carry beside the spec.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DynamicSettings {
    /// The Secret with the application owner's password (the user's `bootstrap.initdb.secret` or
    /// the generated `<cluster>-app`), when the cluster bootstraps with initdb.
    pub app_secret: Option<String>,
    /// The instance that should be primary (`status.targetPrimary`).
    pub target_primary: Option<String>,
    /// Whether every instance is fenced (`["*"]`); per-instance fencing is pushed to each pod.
    pub fenced_all: bool,
    /// Version of these settings, as pushed to the managers.
    pub version: u64,
    /// Every instance of the cluster, running or not.
    pub instances: Vec<String>,
    /// The `synchronous_standby_names` the primary enforces; `None`: asynchronous replication.
    pub synchronous_standby_names: Option<String>,
    /// The Database objects the primary reconciles (`crate::database::decide::select`).
    pub databases: Vec<ManagedDatabase>,
}

/// `spec.primaryLease` as the manager reads it (whole seconds).
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LeaseTimingsFile {
    /// How long the Lease stays valid after a renewal.
    pub lease_duration_seconds: u64,
    /// How long the primary may go without renewing before it must prove it is not isolated.
    pub renew_deadline_seconds: u64,
    /// How often the Lease is read and renewed.
    pub retry_period_seconds: u64,
}

impl LeaseTimingsFile {
    /// The Cluster's `primaryLease`, CloudNativePG's defaults (15/10/2) where unset. Pure.
    pub fn of(cluster: &Cluster) -> LeaseTimingsFile {
        let lease = cluster.spec.primary_lease.clone().unwrap_or_default();
        let seconds = |v: Option<i32>, default: u64| {
            v.and_then(|v| u64::try_from(v).ok())
                .filter(|v| *v > 0)
                .unwrap_or(default)
        };
        LeaseTimingsFile {
            lease_duration_seconds: seconds(lease.lease_duration_seconds, 15),
            renew_deadline_seconds: seconds(lease.renew_deadline_seconds, 10),
            retry_period_seconds: seconds(lease.retry_period_seconds, 2),
        }
    }
}

/// The manager's configuration file, as the manager's `ManagerConfig` reads it (a subset: the
/// rest keeps the manager's defaults, which match the pod builder's layout).
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ManagerConfigFile {
    /// Cluster name.
    pub cluster_name: String,
    /// PostgreSQL data directory.
    pub pgdata: String,
    /// Where selectors' Secrets are mounted (`<dir>/<secret>/<key>`).
    pub secrets_dir: String,
    /// `spec.bootstrap`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<BootstrapConfiguration>,
    /// The files the pod builder mounted the initdb `*SQLRefs` scripts at, per stage in the
    /// order they run.
    #[serde(skip_serializing_if = "PostInitSqlFiles::is_empty")]
    pub post_init_sql_files: PostInitSqlFiles,
    /// `spec.postgresql`.
    pub postgresql: PostgresConfiguration,
    /// `spec.backup`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupConfiguration>,
    /// `spec.replica`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica: Option<ReplicaClusterConfiguration>,
    /// `backup.barmanObjectStore.wal.partialUploadInterval` in seconds: how often the primary
    /// uploads the WAL segment in progress.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partial_wal_upload_seconds: Option<u64>,
    /// `spec.externalClusters`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub external_clusters: Vec<ExternalCluster>,
    /// `spec.managed.roles` (the primary reconciles them; `services` are the operator's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedConfiguration>,
    /// The cluster's Database objects the primary reconciles, oldest first (a newer object
    /// naming the same database is left out and told why on its status).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<ManagedDatabase>,
    /// `spec.enableSuperuserAccess`: the primary sets `postgres`' password from
    /// `superuserSecret`, or removes it.
    pub enable_superuser_access: bool,
    /// Name of the superuser credentials Secret (the user's `superuserSecret` or the generated
    /// `<cluster>-superuser`), mounted under `secretsDir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub superuser_secret: Option<String>,
    /// `spec.smartShutdownTimeout`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smart_shutdown_timeout: Option<u64>,
    /// `status.targetPrimary`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_primary: Option<String>,
    /// `spec.primaryLease`: the primary holds the Lease named after the cluster.
    pub primary_lease: LeaseTimingsFile,
    /// `spec.switchoverDelay`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub switchover_delay: Option<u64>,
    /// Every instance of the cluster (the primary's high-availability slots).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<String>,
    /// The `synchronous_standby_names` the primary enforces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synchronous_standby_names: Option<String>,
    /// `spec.replicationSlots` (HA slots, user slot synchronization).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication_slots: Option<ReplicationSlotsConfiguration>,
    /// Version of `targetPrimary` and `fenced`, compared with pushed settings.
    pub dynamic_version: u64,
    /// How standbys reach the primary.
    pub primary_connection: PrimaryConnectionFile,
    /// Every instance fenced.
    pub fenced: bool,
    /// TLS material mounted by the pod builder.
    pub certificates: CertificateFilesFile,
}

/// The manager's `primaryConnection`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PrimaryConnectionFile {
    /// libpq parameters.
    pub connection_parameters: BTreeMap<String, String>,
    /// Replication client certificate.
    pub ssl_cert: String,
    /// Its key.
    pub ssl_key: String,
    /// CA of the server certificate.
    pub ssl_root_cert: String,
}

/// The manager's `certificates`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CertificateFilesFile {
    /// Server certificate.
    pub server_cert: String,
    /// Server key.
    pub server_key: String,
    /// CA client certificates are checked against.
    pub client_ca: String,
    /// CA of the server certificate.
    pub server_ca: String,
}

/// Where the pod builder mounts the certificate of `role` (`server`, `replication`, …).
fn certificate_file(role: &str, file: &str) -> String {
    format!("{CERTIFICATES_DIR}/{role}/{file}")
}

/// `spec.bootstrap` with the application owner's Secret named: initdb (also when no method is
/// given, initdb being the default) sets the owner's password from it. Pure.
fn bootstrap(
    spec: Option<&BootstrapConfiguration>,
    app_secret: Option<&str>,
) -> Option<BootstrapConfiguration> {
    let mut bootstrap = spec.cloned().unwrap_or_default();
    let initdb_method = bootstrap.recovery.is_none() && bootstrap.pg_basebackup.is_none();
    if let (true, Some(secret)) = (initdb_method, app_secret) {
        let initdb = bootstrap.initdb.get_or_insert_with(Default::default);
        if initdb.secret.is_none() {
            initdb.secret = Some(LocalObjectReference {
                name: secret.to_string(),
            });
        }
    }
    (bootstrap != BootstrapConfiguration::default()).then_some(bootstrap)
}

/// Seconds a standby waits for the primary's TCP connection to open.
const CONNECT_TIMEOUT_SECS: u32 = 5;
/// Seconds of silence before the first TCP keepalive probe.
const KEEPALIVES_IDLE_SECS: u32 = 5;
/// Seconds between keepalive probes.
const KEEPALIVES_INTERVAL_SECS: u32 = 2;
/// Unanswered probes before the connection is dropped (idle 5 s + 3 × 2 s: gone within 11 s).
const KEEPALIVES_COUNT: u32 = 3;
/// Milliseconds sent data may stay unacknowledged before the connection is dropped.
const TCP_USER_TIMEOUT_MS: u32 = 10_000;

/// The configuration file of `cluster`'s instances; `superuser_secret` is the superuser
/// credentials Secret when `enableSuperuserAccess` is on. Pure.
pub fn manager_config(
    cluster: &Cluster,
    owner: &Owner,
    dynamic: &DynamicSettings,
    superuser_secret: Option<&str>,
) -> ManagerConfigFile {
    let spec = &cluster.spec;
    let connection_parameters = BTreeMap::from([
        ("host".to_string(), service_rw(&owner.name)),
        ("port".to_string(), POSTGRES_PORT.to_string()),
        ("user".to_string(), REPLICATION_USER.to_string()),
        ("dbname".to_string(), "postgres".to_string()),
        ("sslmode".to_string(), "verify-full".to_string()),
        // A standby must notice within seconds that its primary went silent (node stopped,
        // network cut): without these, a dead TCP peer is noticed only by wal_receiver_timeout
        // (60 s) or the kernel's retransmission limit (about 15 minutes).
        (
            "connect_timeout".to_string(),
            CONNECT_TIMEOUT_SECS.to_string(),
        ),
        ("keepalives".to_string(), "1".to_string()),
        (
            "keepalives_idle".to_string(),
            KEEPALIVES_IDLE_SECS.to_string(),
        ),
        (
            "keepalives_interval".to_string(),
            KEEPALIVES_INTERVAL_SECS.to_string(),
        ),
        ("keepalives_count".to_string(), KEEPALIVES_COUNT.to_string()),
        (
            "tcp_user_timeout".to_string(),
            TCP_USER_TIMEOUT_MS.to_string(),
        ),
    ]);
    ManagerConfigFile {
        cluster_name: owner.name.clone(),
        pgdata: PGDATA.to_string(),
        secrets_dir: CREDENTIALS_DIR.to_string(),
        bootstrap: bootstrap(spec.bootstrap.as_ref(), dynamic.app_secret.as_deref()),
        post_init_sql_files: spec
            .bootstrap
            .as_ref()
            .and_then(|b| b.initdb.as_ref())
            .map(|initdb| {
                PostInitSqlFiles::of(initdb, |r| {
                    format!("{POST_INIT_SQL_DIR}/{}", post_init_sql_file(r))
                })
            })
            .unwrap_or_default(),
        postgresql: spec.postgresql.clone().unwrap_or_default(),
        backup: spec.backup.clone(),
        replica: spec.replica.clone(),
        partial_wal_upload_seconds: spec
            .backup
            .as_ref()
            .and_then(|b| b.barman_object_store.as_ref())
            .and_then(|s| s.wal.as_ref())
            .and_then(|w| w.partial_upload_interval.as_deref())
            .and_then(|i| pgfed_api::validation::formats::parse_duration(i).ok())
            .map(|d| d.as_secs().max(1)),
        external_clusters: spec.external_clusters.clone(),
        managed: spec
            .managed
            .as_ref()
            .filter(|m| !m.roles.is_empty())
            .map(|m| ManagedConfiguration {
                roles: m.roles.clone(),
                services: None,
            }),
        databases: dynamic.databases.clone(),
        enable_superuser_access: spec.enable_superuser_access == Some(true),
        superuser_secret: superuser_secret.map(str::to_string),
        smart_shutdown_timeout: spec
            .smart_shutdown_timeout
            .and_then(|t| u64::try_from(t).ok()),
        target_primary: dynamic.target_primary.clone(),
        primary_lease: LeaseTimingsFile::of(cluster),
        switchover_delay: spec.switchover_delay.and_then(|t| u64::try_from(t).ok()),
        instances: dynamic.instances.clone(),
        synchronous_standby_names: dynamic.synchronous_standby_names.clone(),
        replication_slots: spec.replication_slots.clone(),
        dynamic_version: dynamic.version,
        primary_connection: PrimaryConnectionFile {
            connection_parameters,
            ssl_cert: certificate_file("replication", "tls.crt"),
            ssl_key: certificate_file("replication", "tls.key"),
            ssl_root_cert: certificate_file("server-ca", "ca.crt"),
        },
        fenced: dynamic.fenced_all,
        certificates: CertificateFilesFile {
            server_cert: certificate_file("server", "tls.crt"),
            server_key: certificate_file("server", "tls.key"),
            client_ca: certificate_file("client-ca", "ca.crt"),
            server_ca: certificate_file("server-ca", "ca.crt"),
        },
    }
}

/// Why the configuration cannot be rendered.
#[derive(Debug, thiserror::Error)]
#[error("rendering the instance managers' configuration: {0}")]
pub struct ConfigRenderError(#[from] serde_json::Error);

/// The ConfigMap holding `config`. Pure.
pub fn build(owner: &Owner, config: &ManagerConfigFile) -> Result<ConfigMap, ConfigRenderError> {
    let json = serde_json::to_string_pretty(config)?;
    Ok(ConfigMap {
        metadata: owner.child_meta(&config_map_name(&owner.name), BTreeMap::new()),
        data: Some(BTreeMap::from([(CONFIG_KEY.to_string(), json)])),
        ..ConfigMap::default()
    })
}

/// The pod volume that mounts the ConfigMap (the pod builder names it).
pub fn volume(cluster: &str) -> Volume {
    Volume {
        name: "config".into(),
        config_map: Some(ConfigMapVolumeSource {
            name: config_map_name(cluster),
            ..ConfigMapVolumeSource::default()
        }),
        ..Volume::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::build::meta::tests::stored_cluster;
    use pgfed_api::cluster::{BootstrapInitDb, ManagedServices, RoleConfiguration};
    use pgfed_api::common::{
        ConfigMapKeySelector, LocalObjectReference, SecretKeySelector, SqlRefs,
    };

    fn render(cluster: &Cluster, dynamic: &DynamicSettings) -> serde_json::Value {
        let owner = Owner::of(cluster).expect("owner");
        serde_json::to_value(manager_config(cluster, &owner, dynamic, None)).expect("json")
    }

    #[test]
    fn the_file_carries_the_in_progress_wal_upload_interval() {
        let mut cluster = stored_cluster(1);
        let file = |c: &Cluster| render(c, &DynamicSettings::default());
        assert!(file(&cluster).get("partialWalUploadSeconds").is_none());
        cluster.spec.backup = Some(serde_json::from_value(serde_json::json!({
            "barmanObjectStore": {"destinationPath": "s3://b/", "wal": {"partialUploadInterval": "5s"}}
        })).expect("backup"));
        assert_eq!(file(&cluster)["partialWalUploadSeconds"], 5);
    }

    /// The fencing lease rides in `replica` as the Cluster spells it; its store's credentials
    /// are mounted like the backup store's (`credentials::object_store_secrets`).
    #[test]
    fn the_file_carries_the_fencing_lease() {
        let mut cluster = stored_cluster(1);
        cluster.spec.replica = Some(
            serde_json::from_value(serde_json::json!({
                "self": "east", "primary": "east", "source": "west",
                "fencingLease": {
                    "federation": "ns/fed/uid",
                    "leaseDuration": "10s",
                    "objectStore": {"destinationPath": "s3://lease/",
                        "s3Credentials": {"accessKeyId": {"name": "lease-s3", "key": "id"}}}
                }
            }))
            .expect("replica"),
        );
        let json = render(&cluster, &DynamicSettings::default());
        let lease = &json["replica"]["fencingLease"];
        assert_eq!(lease["federation"], "ns/fed/uid");
        assert_eq!(lease["leaseDuration"], "10s");
        assert_eq!(lease["objectStore"]["destinationPath"], "s3://lease/");
        assert_eq!(
            lease["objectStore"]["s3Credentials"]["accessKeyId"]["name"],
            "lease-s3"
        );
    }

    #[test]
    fn the_file_carries_the_replication_slots_settings() {
        let mut cluster = stored_cluster(3);
        cluster.spec.replication_slots = Some(ReplicationSlotsConfiguration {
            high_availability: Some(pgfed_api::cluster::ReplicationSlotsHaConfiguration {
                enabled: Some(true),
                slot_prefix: Some("_pgfed_".into()),
                synchronize_logical_decoding: None,
            }),
            update_interval: Some(10),
            synchronize_replicas: Some(pgfed_api::cluster::SynchronizeReplicasConfiguration {
                enabled: Some(true),
                exclude_patterns: vec!["^tmp_".into()],
            }),
        });
        let json = render(&cluster, &DynamicSettings::default());
        let slots = &json["replicationSlots"];
        assert_eq!(slots["highAvailability"]["slotPrefix"], "_pgfed_");
        assert_eq!(slots["updateInterval"], 10);
        assert_eq!(slots["synchronizeReplicas"]["excludePatterns"][0], "^tmp_");
    }

    #[test]
    fn the_file_uses_the_manager_field_names_and_the_pod_layout() {
        let mut cluster = stored_cluster(3);
        cluster.spec.bootstrap = Some(BootstrapConfiguration {
            initdb: Some(BootstrapInitDb {
                database: Some("shop".into()),
                ..BootstrapInitDb::default()
            }),
            ..BootstrapConfiguration::default()
        });
        let json = render(
            &cluster,
            &DynamicSettings {
                app_secret: Some("pg-app".into()),
                target_primary: Some("pg-1".into()),
                fenced_all: false,
                version: 7,
                instances: Vec::new(),
                synchronous_standby_names: None,
                databases: Vec::new(),
            },
        );
        assert_eq!(json["clusterName"], "pg");
        assert_eq!(json["pgdata"], "/var/lib/postgresql/data/pgdata");
        assert_eq!(json["secretsDir"], "/controller/credentials");
        assert_eq!(json["bootstrap"]["initdb"]["database"], "shop");
        assert_eq!(json["bootstrap"]["initdb"]["secret"]["name"], "pg-app");
        assert_eq!(json["targetPrimary"], "pg-1");
        assert_eq!(json["dynamicVersion"], 7);
        assert_eq!(json["fenced"], false);
        let conn = &json["primaryConnection"];
        assert_eq!(conn["connectionParameters"]["host"], "pg-rw");
        assert_eq!(conn["connectionParameters"]["user"], "streaming_replica");
        assert_eq!(conn["connectionParameters"]["sslmode"], "verify-full");
        // A silent primary is noticed within seconds, not at wal_receiver_timeout.
        assert_eq!(conn["connectionParameters"]["keepalives"], "1");
        assert_eq!(conn["connectionParameters"]["keepalives_idle"], "5");
        assert_eq!(conn["connectionParameters"]["keepalives_count"], "3");
        assert_eq!(conn["connectionParameters"]["tcp_user_timeout"], "10000");
        assert_eq!(
            conn["sslCert"],
            "/controller/certificates/replication/tls.crt"
        );
        assert_eq!(
            conn["sslRootCert"],
            "/controller/certificates/server-ca/ca.crt"
        );
        assert_eq!(
            json["certificates"]["clientCa"],
            "/controller/certificates/client-ca/ca.crt"
        );
        assert!(json.get("backup").is_none());
        assert!(json.get("externalClusters").is_none());
    }

    /// The file the manager must read (`manager/tests/operator_config.rs` parses the same
    /// fixture with the manager's own types and checks no field is ignored). Regenerate with
    /// `PGFED_UPDATE_FIXTURES=1 cargo test -p pgfed-operator config_fixture`.
    #[test]
    fn the_rendered_file_matches_the_contract_fixture() {
        let mut cluster = stored_cluster(3);
        cluster.spec.bootstrap = Some(BootstrapConfiguration {
            initdb: Some(BootstrapInitDb {
                database: Some("shop".into()),
                owner: Some("shop".into()),
                post_init_sql_refs: Some(SqlRefs {
                    secret_refs: vec![SecretKeySelector {
                        name: "init-roles".into(),
                        key: "roles.sql".into(),
                    }],
                    config_map_refs: Vec::new(),
                }),
                post_init_application_sql_refs: Some(SqlRefs {
                    secret_refs: Vec::new(),
                    config_map_refs: vec![ConfigMapKeySelector {
                        name: "init-schema".into(),
                        key: "schema.sql".into(),
                    }],
                }),
                ..BootstrapInitDb::default()
            }),
            ..BootstrapConfiguration::default()
        });
        cluster.spec.postgresql = Some(PostgresConfiguration {
            parameters: std::collections::BTreeMap::from([(
                "work_mem".to_string(),
                "8MB".to_string(),
            )]),
            ..PostgresConfiguration::default()
        });
        cluster.spec.smart_shutdown_timeout = Some(60);
        cluster.spec.enable_superuser_access = Some(true);
        cluster.spec.managed = Some(ManagedConfiguration {
            roles: vec![RoleConfiguration {
                name: "reporting".into(),
                login: Some(true),
                password_secret: Some(LocalObjectReference {
                    name: "reporting-password".into(),
                }),
                in_roles: vec!["pg_read_all_data".into()],
                valid_until: Some("2030-01-01T00:00:00Z".into()),
                ..RoleConfiguration::default()
            }],
            services: None,
        });
        let owner = Owner::of(&cluster).expect("owner");
        let rendered = serde_json::to_string_pretty(&manager_config(
            &cluster,
            &owner,
            &DynamicSettings {
                app_secret: Some("pg-app".into()),
                target_primary: Some("pg-1".into()),
                fenced_all: false,
                version: 7,
                instances: vec!["pg-1".into(), "pg-2".into()],
                synchronous_standby_names: Some("ANY 1 (\"pg-2\")".into()),
                databases: Vec::new(),
            },
            Some("pg-superuser"),
        ))
        .expect("json")
            + "\n";
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/manager-config.json");
        if std::env::var_os("PGFED_UPDATE_FIXTURES").is_some() {
            std::fs::write(&fixture, &rendered).expect("write fixture");
        }
        let stored = std::fs::read_to_string(&fixture).expect("fixture");
        assert_eq!(
            rendered, stored,
            "the managers' configuration changed; regenerate the fixture and check the manager reads it"
        );
    }

    #[test]
    fn post_init_sql_files_are_where_the_pod_builder_mounts_them_in_run_order() {
        let mut cluster = stored_cluster(1);
        let json = render(&cluster, &DynamicSettings::default());
        assert!(json.get("postInitSqlFiles").is_none());
        cluster.spec.bootstrap = Some(
            serde_norway::from_str(
                "initdb:\n  postInitApplicationSQLRefs:\n    configMapRefs: [{name: m, key: a}]\n    secretRefs: [{name: s, key: b}]\n  postInitTemplateSQLRefs: {secretRefs: [{name: s, key: c}]}\n",
            )
            .expect("bootstrap"),
        );
        let json = render(&cluster, &DynamicSettings::default());
        let files = &json["postInitSqlFiles"];
        assert!(files.get("sql").is_none(), "{files}");
        assert_eq!(
            files["template"],
            serde_json::json!([{
                "field": "bootstrap.initdb.postInitTemplateSQLRefs.secretRefs[0]",
                "path": "/controller/post-init-sql/template/secret-0.sql",
            }])
        );
        assert_eq!(
            files["application"],
            serde_json::json!([
                {
                    "field": "bootstrap.initdb.postInitApplicationSQLRefs.secretRefs[0]",
                    "path": "/controller/post-init-sql/application/secret-0.sql",
                },
                {
                    "field": "bootstrap.initdb.postInitApplicationSQLRefs.configMapRefs[0]",
                    "path": "/controller/post-init-sql/application/configmap-0.sql",
                },
            ])
        );
        // The references stay in `bootstrap` (the manager checks each has its file); the SQL
        // itself never enters the ConfigMap.
        assert_eq!(
            json["bootstrap"]["initdb"]["postInitTemplateSQLRefs"]["secretRefs"][0]["name"],
            "s"
        );
    }

    #[test]
    fn the_owner_password_comes_from_the_app_secret_unless_the_user_named_one() {
        let owner_secret = |spec: Option<BootstrapConfiguration>| {
            bootstrap(spec.as_ref(), Some("pg-app"))
                .and_then(|b| b.initdb)
                .and_then(|i| i.secret)
                .map(|s| s.name)
        };
        assert_eq!(owner_secret(None), Some("pg-app".into()));
        let users = BootstrapConfiguration {
            initdb: Some(BootstrapInitDb {
                secret: Some(LocalObjectReference {
                    name: "mine".into(),
                }),
                ..BootstrapInitDb::default()
            }),
            ..BootstrapConfiguration::default()
        };
        assert_eq!(owner_secret(Some(users)), Some("mine".into()));
        let clone = BootstrapConfiguration {
            pg_basebackup: Some(Default::default()),
            ..BootstrapConfiguration::default()
        };
        assert_eq!(owner_secret(Some(clone)), None);
        assert_eq!(bootstrap(None, None), None);
    }

    #[test]
    fn fencing_every_instance_and_no_target_yet() {
        let json = render(
            &stored_cluster(1),
            &DynamicSettings {
                app_secret: None,
                target_primary: None,
                fenced_all: true,
                version: 0,
                instances: Vec::new(),
                synchronous_standby_names: None,
                databases: Vec::new(),
            },
        );
        assert_eq!(json["fenced"], true);
        assert!(json.get("targetPrimary").is_none());
    }

    #[test]
    fn the_config_map_carries_one_file_and_the_pod_volume_names_it() {
        let cluster = stored_cluster(1);
        let owner = Owner::of(&cluster).expect("owner");
        let map = build(
            &owner,
            &manager_config(&cluster, &owner, &DynamicSettings::default(), None),
        )
        .expect("config map");
        assert_eq!(map.metadata.name.as_deref(), Some("pg-config"));
        let data = map.data.expect("data");
        assert_eq!(data.keys().collect::<Vec<_>>(), vec![CONFIG_KEY]);
        let parsed: serde_json::Value =
            serde_json::from_str(&data[CONFIG_KEY]).expect("valid json");
        assert_eq!(parsed["clusterName"], "pg");
        let volume = volume("pg");
        assert_eq!(
            volume.config_map.expect("config map volume").name,
            "pg-config"
        );
    }

    #[test]
    fn the_database_objects_reach_the_managers() {
        let cluster = stored_cluster(1);
        assert!(
            render(&cluster, &DynamicSettings::default())
                .get("databases")
                .is_none()
        );
        let dynamic = DynamicSettings {
            databases: vec![ManagedDatabase {
                object: "shop".into(),
                uid: Some("u1".into()),
                generation: Some(4),
                reclaim: true,
                spec: serde_json::from_value(serde_json::json!({
                    "cluster": {"name": "pg"}, "name": "shop", "owner": "app",
                    "extensions": [{"name": "hstore"}]
                }))
                .expect("spec"),
            }],
            ..DynamicSettings::default()
        };
        assert_eq!(
            render(&cluster, &dynamic)["databases"],
            serde_json::json!([{
                "object": "shop", "uid": "u1", "generation": 4, "reclaim": true,
                "spec": {"cluster": {"name": "pg"}, "name": "shop", "owner": "app",
                         "extensions": [{"name": "hstore"}]}
            }])
        );
    }

    #[test]
    fn managed_roles_and_superuser_access_reach_the_managers_without_the_services() {
        let mut cluster = stored_cluster(1);
        let json = render(&cluster, &DynamicSettings::default());
        assert!(json.get("managed").is_none());
        assert_eq!(json["enableSuperuserAccess"], false);
        assert!(json.get("superuserSecret").is_none());
        cluster.spec.enable_superuser_access = Some(true);
        cluster.spec.managed = Some(ManagedConfiguration {
            roles: vec![RoleConfiguration {
                name: "reporting".into(),
                ..RoleConfiguration::default()
            }],
            services: Some(ManagedServices::default()),
        });
        let owner = Owner::of(&cluster).expect("owner");
        let json = serde_json::to_value(manager_config(
            &cluster,
            &owner,
            &DynamicSettings::default(),
            Some("pg-superuser"),
        ))
        .expect("json");
        assert_eq!(json["managed"]["roles"][0]["name"], "reporting");
        assert!(json["managed"].get("services").is_none());
        assert_eq!(json["enableSuperuserAccess"], true);
        assert_eq!(json["superuserSecret"], "pg-superuser");
    }
}
