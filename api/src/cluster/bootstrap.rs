//! `spec.bootstrap`: how the first instance of a cluster comes to exist.

use crate::common::{LocalObjectReference, SqlRefs};
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Exactly one bootstrap method. Default: `initdb`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
pub struct BootstrapConfiguration {
    /// Create an empty cluster with initdb.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initdb: Option<BootstrapInitDb>,
    /// Restore from a backup (object store or volume snapshots), optionally to a point in time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<BootstrapRecovery>,
    /// Clone a running PostgreSQL server with pg_basebackup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_basebackup: Option<BootstrapPgBaseBackup>,
}

/// initdb options.
#[derive(Clone, Debug, Default, Deserialize, Serialize, KubeSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapInitDb {
    /// Name of the application database. Default `app`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Owner of the application database. Default: the database name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Secret (`username`/`password`) of the owner. Generated as `<cluster>-app` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<LocalObjectReference>,
    /// Extra initdb command-line options (deprecated in favour of the dedicated fields).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// Enable data page checksums.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_checksums: Option<bool>,
    /// Template encoding. Default UTF8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// LC_COLLATE. Default C.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale_collate: Option<String>,
    /// LC_CTYPE. Default C.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "localeCType")]
    pub locale_ctype: Option<String>,
    /// Locale for all categories (overrides localeCollate/localeCType).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Locale provider: `libc` or `icu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale_provider: Option<String>,
    /// ICU locale when the provider is `icu`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icu_locale: Option<String>,
    /// Extra collation rules of the default collation when the provider is `icu` (PostgreSQL 16+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icu_rules: Option<String>,
    /// Locale when the provider is `builtin` (PostgreSQL 17+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin_locale: Option<String>,
    /// WAL segment size in MiB: a power of two from 1 to 1024. Default 16.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1024))]
    #[x_kube(validation = Rule::new("self in [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]")
        .message("walSegmentSize must be a power of two between 1 and 1024 (MiB)"))]
    pub wal_segment_size: Option<i32>,
    /// SQL statements run as superuser in the `postgres` database after initdb, before
    /// `postInitSQLRefs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(rename = "postInitSQL")]
    pub post_init_sql: Vec<String>,
    /// SQL statements run as superuser in the application database once it is created, before
    /// `postInitApplicationSQLRefs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(rename = "postInitApplicationSQL")]
    pub post_init_application_sql: Vec<String>,
    /// SQL statements run as superuser in `template1` after `postInitSQLRefs` and before the
    /// application database is created, which therefore inherits what they make. Use with care:
    /// every database created later inherits it too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(rename = "postInitTemplateSQL")]
    pub post_init_template_sql: Vec<String>,
    /// Secret and ConfigMap keys, each holding a SQL script (several statements allowed), run
    /// as superuser in the `postgres` database after `postInitSQL`: `secretRefs` first, then
    /// `configMapRefs`, each in list order. They must exist when the cluster is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "postInitSQLRefs")]
    pub post_init_sql_refs: Option<SqlRefs>,
    /// Secret and ConfigMap keys, each holding a SQL script (several statements allowed), run
    /// as superuser in the application database after `postInitApplicationSQL`: `secretRefs`
    /// first, then `configMapRefs`, each in list order. They must exist when the cluster is
    /// created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "postInitApplicationSQLRefs")]
    pub post_init_application_sql_refs: Option<SqlRefs>,
    /// Secret and ConfigMap keys, each holding a SQL script (several statements allowed), run
    /// as superuser in `template1` after `postInitTemplateSQL`: `secretRefs` first, then
    /// `configMapRefs`, each in list order. They must exist when the cluster is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "postInitTemplateSQLRefs")]
    pub post_init_template_sql_refs: Option<SqlRefs>,
    /// Import databases from an external cluster with pg_dump/pg_restore after initdb.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<Import>,
}

/// Logical import from another PostgreSQL server.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Import {
    /// The external cluster to import from.
    pub source: ImportSource,
    /// `microservice` (one database into the application database) or `monolith` (many databases and roles).
    #[serde(rename = "type")]
    pub import_type: ImportType,
    /// Databases to import (`*` for all in monolith mode).
    pub databases: Vec<String>,
    /// Roles to import (monolith only; `*` for all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// SQL run in the application database after the import (microservice only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(rename = "postImportApplicationSQL")]
    pub post_import_application_sql: Vec<String>,
    /// Import only the schema, no data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_only: Option<bool>,
    /// Extra pg_dump options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pg_dump_extra_options: Vec<String>,
    /// Extra pg_restore options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pg_restore_extra_options: Vec<String>,
    /// pg_restore options for the pre-data section, replacing `pgRestoreExtraOptions` there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pg_restore_predata_options: Vec<String>,
    /// pg_restore options for the data section, replacing `pgRestoreExtraOptions` there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pg_restore_data_options: Vec<String>,
    /// pg_restore options for the post-data section, replacing `pgRestoreExtraOptions` there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pg_restore_postdata_options: Vec<String>,
}

/// The source of an import.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ImportSource {
    /// Name of an entry of `externalClusters`.
    pub external_cluster: String,
}

/// Import mode.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ImportType {
    /// One database into the application database.
    #[default]
    Microservice,
    /// Many databases and roles.
    Monolith,
}

/// Recovery from a backup.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapRecovery {
    /// A Backup object in this namespace to restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupSource>,
    /// An external cluster whose object store holds the backups and WAL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Restore from volume snapshots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_snapshots: Option<DataSource>,
    /// Stop recovery at a point in time, transaction, name or LSN instead of the end of WAL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_target: Option<RecoveryTarget>,
    /// Application database name. Default `app`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Application database owner. Default: the database name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Secret of the owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<LocalObjectReference>,
}

/// A Backup to restore, optionally with the CA of its object store endpoint.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BackupSource {
    /// Name of the Backup object.
    pub name: String,
    /// CA bundle of the object store endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "endpointCA")]
    pub endpoint_ca: Option<crate::common::SecretKeySelector>,
}

/// Volume snapshots to restore.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DataSource {
    /// Snapshot of PGDATA.
    pub storage: k8s_openapi::api::core::v1::TypedLocalObjectReference,
    /// Snapshot of pg_wal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal_storage: Option<k8s_openapi::api::core::v1::TypedLocalObjectReference>,
    /// Snapshots of tablespaces by tablespace name.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub tablespace_storage:
        std::collections::BTreeMap<String, k8s_openapi::api::core::v1::TypedLocalObjectReference>,
}

/// Where point-in-time recovery stops. At most one of targetXID, targetName, targetLSN, targetTime,
/// targetImmediate.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryTarget {
    /// Restore from this backup ID instead of the latest one before the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "backupID")]
    pub backup_id: Option<String>,
    /// Timeline to follow: `latest`, `current` or a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "targetTLI")]
    pub target_tli: Option<String>,
    /// Stop at this transaction ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "targetXID")]
    pub target_xid: Option<String>,
    /// Stop at this restore point (pg_create_restore_point).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_name: Option<String>,
    /// Stop at this LSN (e.g. `0/3000060`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "targetLSN")]
    pub target_lsn: Option<String>,
    /// Stop at this time (RFC 3339, or `YYYY-MM-DD HH:MM:SS[.ffffff][±TZ]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_time: Option<String>,
    /// Stop as soon as the backup is consistent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_immediate: Option<bool>,
    /// Stop just before the target instead of just after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusive: Option<bool>,
}

/// Clone a running server with pg_basebackup.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapPgBaseBackup {
    /// Name of an entry of `externalClusters` with connection parameters.
    pub source: String,
    /// Application database name. Default `app`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// Application database owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Secret of the owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<LocalObjectReference>,
}
