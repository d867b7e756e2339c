//! Barman Cloud as pure logic: the object-store configuration of cluster backups, external
//! clusters and federation members (this module), where objects live under `destinationPath`
//! ([`layout`]), the `backup.info` format ([`backup_info`]) and which backup a recovery starts
//! from ([`select`]).
//!
//! Field names and shapes follow CloudNativePG's `barmanObjectStore` so manifests move between the two
//! projects unchanged; the layout pgfed writes under `destinationPath` is the Barman Cloud one.
//! The instance manager moves the bytes; the member operator (Backup status, recovery planning)
//! and the federation controller read the same catalog, so the rules live here, beside the
//! configuration, with no I/O: callers list and fetch objects and hand the names and text in.

pub mod backup_info;
pub mod backup_label;
pub mod layout;
pub mod select;

use k8s_openapi::api::core::v1::SecretKeySelector;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where and how WAL and base backups are stored in object storage (Barman Cloud layout).
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BarmanObjectStoreConfiguration {
    /// The path where to store the backup (e.g. `s3://bucket/path/to/folder`, `gs://bucket/path`,
    /// `https://account.blob.core.windows.net/container/path`, or `file:///local/dir`).
    pub destination_path: String,
    /// Endpoint to be used to upload data to the cloud, overriding the automatic endpoint discovery
    /// (needed for S3-compatible servers such as MinIO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "endpointURL")]
    pub endpoint_url: Option<String>,
    /// Secret key holding the CA bundle used to verify the endpoint's TLS certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "endpointCA")]
    pub endpoint_ca: Option<SecretKeySelector>,
    /// The credentials to use to upload data to S3 or an S3-compatible server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_credentials: Option<S3Credentials>,
    /// The credentials to use to upload data to Azure Blob Storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_credentials: Option<AzureCredentials>,
    /// The credentials to use to upload data to Google Cloud Storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub google_credentials: Option<GoogleCredentials>,
    /// The server name on the object store, i.e. the folder under `destinationPath` holding this
    /// cluster's `wals/` and `base/`. Defaults to the cluster name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Tags to add to every uploaded object (S3 object tags; Azure blob index tags).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Tags to add to uploaded timeline history files.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub history_tags: BTreeMap<String, String>,
    /// How WAL files are archived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wal: Option<WalBackupConfiguration>,
    /// How base backups are taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataBackupConfiguration>,
}

impl BarmanObjectStoreConfiguration {
    /// The archive this configuration reads and writes: `destinationPath` and the server name
    /// (`default_server`, the cluster's name, when it names none), as one path. Two clusters
    /// whose archives are equal write into the same WAL and backups.
    pub fn archive(&self, default_server: &str) -> String {
        format!(
            "{}/{}",
            self.destination_path.trim_end_matches('/'),
            self.server_name.as_deref().unwrap_or(default_server)
        )
    }

    /// Every Secret key this configuration reads (endpoint CA and credentials), as
    /// (field path below the configuration, selector), for mounting them into the instances.
    pub fn secret_selectors(&self) -> Vec<(&'static str, &SecretKeySelector)> {
        let s3 = self.s3_credentials.as_ref();
        let azure = self.azure_credentials.as_ref();
        let google = self.google_credentials.as_ref();
        let all: [(&'static str, Option<&SecretKeySelector>); 10] = [
            ("endpointCA", self.endpoint_ca.as_ref()),
            (
                "s3Credentials.accessKeyId",
                s3.and_then(|c| c.access_key_id.as_ref()),
            ),
            (
                "s3Credentials.secretAccessKey",
                s3.and_then(|c| c.secret_access_key.as_ref()),
            ),
            ("s3Credentials.region", s3.and_then(|c| c.region.as_ref())),
            (
                "s3Credentials.sessionToken",
                s3.and_then(|c| c.session_token.as_ref()),
            ),
            (
                "azureCredentials.connectionString",
                azure.and_then(|c| c.connection_string.as_ref()),
            ),
            (
                "azureCredentials.storageAccount",
                azure.and_then(|c| c.storage_account.as_ref()),
            ),
            (
                "azureCredentials.storageKey",
                azure.and_then(|c| c.storage_key.as_ref()),
            ),
            (
                "azureCredentials.storageSasToken",
                azure.and_then(|c| c.storage_sas_token.as_ref()),
            ),
            (
                "googleCredentials.applicationCredentials",
                google.and_then(|c| c.application_credentials.as_ref()),
            ),
        ];
        all.into_iter()
            .filter_map(|(field, selector)| selector.map(|s| (field, s)))
            .collect()
    }
}

/// Credentials for S3 and S3-compatible object stores.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct S3Credentials {
    /// Secret key holding the access key ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "accessKeyId")]
    pub access_key_id: Option<SecretKeySelector>,
    /// Secret key holding the secret access key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<SecretKeySelector>,
    /// Secret key holding the region name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<SecretKeySelector>,
    /// Secret key holding a session token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<SecretKeySelector>,
    /// Use the role of the pod's service account (IRSA / pod identity) instead of static keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "inheritFromIAMRole")]
    pub inherit_from_iam_role: Option<bool>,
}

/// Credentials for Azure Blob Storage.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AzureCredentials {
    /// Secret key holding a full connection string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_string: Option<SecretKeySelector>,
    /// Secret key holding the storage account name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_account: Option<SecretKeySelector>,
    /// Secret key holding the storage account key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_key: Option<SecretKeySelector>,
    /// Secret key holding a shared access signature token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_sas_token: Option<SecretKeySelector>,
    /// Use the pod's Azure workload identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "inheritFromAzureAD")]
    pub inherit_from_azure_ad: Option<bool>,
    /// Use Azure's default credential chain (environment variables, managed identity, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_default_azure_credentials: Option<bool>,
}

/// Credentials for Google Cloud Storage.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GoogleCredentials {
    /// Secret key holding the service account JSON credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_credentials: Option<SecretKeySelector>,
    /// Use the GKE workload identity of the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(rename = "gkeEnvironment")]
    pub gke_environment: Option<bool>,
}

/// How WAL segments are archived.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WalBackupConfiguration {
    /// Compression applied to each archived segment. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<CompressionType>,
    /// Server-side encryption requested from the object store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionType>,
    /// How many WAL files are archived (and prefetched on restore) in parallel. Unset archives one
    /// segment at a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 256))]
    pub max_parallel: Option<i32>,
    /// pgfed: how often the primary uploads the WAL segment it is writing (up to what is
    /// flushed) next to the archive, e.g. `5s`, so replica clusters replaying this store lag by
    /// seconds rather than `archive_timeout`. Each upload carries the segment so far. Unset: off
    /// (a Federation sets it on its members, default `5s`). At least `1s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_upload_interval: Option<String>,
    /// Extra command-line arguments for `barman-cloud-wal-archive`. pgfed archives in-process
    /// without that command, so it refuses this field at admission.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub archive_additional_command_args: Vec<String>,
    /// Extra command-line arguments for `barman-cloud-wal-restore`; refused like
    /// `archiveAdditionalCommandArgs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restore_additional_command_args: Vec<String>,
}

/// How base backups are taken.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DataBackupConfiguration {
    /// Compression applied to the base backup archive. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<CompressionType>,
    /// Server-side encryption requested from the object store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionType>,
    /// Ask PostgreSQL for an immediate checkpoint at the start of the backup instead of a spread one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immediate_checkpoint: Option<bool>,
    /// Number of parallel upload streams. Default: 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 256))]
    pub jobs: Option<i32>,
    /// Extra command-line arguments for `barman-cloud-backup`. pgfed takes base backups
    /// in-process without that command, so it refuses this field at admission.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_command_args: Vec<String>,
    /// Extra command-line arguments for `barman-cloud-restore`; refused like
    /// `additionalCommandArgs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restore_additional_command_args: Vec<String>,
}

/// Compression algorithm for archived WAL and base backups.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CompressionType {
    /// bzip2 (`.bz2`), smallest and slowest.
    Bzip2,
    /// gzip (`.gz`).
    Gzip,
    /// LZ4 (`.lz4`), fastest.
    Lz4,
    /// Snappy (`.snappy`).
    Snappy,
    /// xz (`.xz`).
    Xz,
    /// Zstandard (`.zst`), good ratio at high speed.
    Zstd,
}

impl CompressionType {
    /// The file suffix Barman Cloud uses for objects compressed this way.
    pub fn suffix(self) -> &'static str {
        match self {
            CompressionType::Bzip2 => ".bz2",
            CompressionType::Gzip => ".gz",
            CompressionType::Lz4 => ".lz4",
            CompressionType::Snappy => ".snappy",
            CompressionType::Xz => ".xz",
            CompressionType::Zstd => ".zst",
        }
    }
}

/// Server-side encryption of uploaded objects.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
pub enum EncryptionType {
    /// S3-managed keys.
    #[serde(rename = "AES256")]
    Aes256,
    /// AWS KMS-managed keys.
    #[serde(rename = "aws:kms")]
    AwsKms,
}
