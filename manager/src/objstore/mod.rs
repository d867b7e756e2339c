//! Opens the object store named by a `barmanObjectStore` configuration (S3 and S3-compatible, Azure
//! Blob, Google Cloud Storage, a local directory) and gives the rest of the manager one small API
//! rooted at `<destinationPath>/<serverName>/`.
//!
//! [`destination`] reads the URL, [`providers`] builds each provider's client; this module is the
//! I/O API the WAL and backup code use.

pub mod destination;
pub mod providers;

pub use destination::{Destination, parse_destination, server_identity, server_name};
pub use providers::{
    AzureAccess, azure_access, gcs_key_base_url, parse_connection_string,
    payload_integrity_from_tls,
};

use crate::secrets::SecretError;
use bytes::Bytes;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, TagSet};
use pgfed_api::barman::BarmanObjectStoreConfiguration;
use std::path::Path;
use std::sync::Arc;

/// Why an object store could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `destinationPath` is not one of the supported URL shapes.
    #[error(
        "unsupported destinationPath {0:?}: expected s3://bucket/path, gs://bucket/path, \
         https://<account>.blob.core.windows.net/<container>/path, \
         http[s]://<host>[:port]/<account>/<container>/path (Azurite), azure://container/path or file:///dir"
    )]
    BadDestination(String),
    /// A referenced credential could not be read.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The object store client rejected the configuration or a request failed.
    #[error("object store {url}: {source}")]
    Store {
        /// The destination involved.
        url: String,
        /// Cause.
        source: object_store::Error,
    },
    /// Local I/O around an object transfer failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Cause.
        source: std::io::Error,
    },
}

impl StoreError {
    /// A short, stable name for metrics and Events.
    pub fn label(&self) -> &'static str {
        match self {
            StoreError::BadDestination(_) => "bad_destination",
            StoreError::Secret(_) => "secret",
            StoreError::Store { .. } => "object_store",
            StoreError::Io { .. } => "io",
        }
    }
}

/// What a create-only write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateOutcome {
    /// No object had the name; it now holds the bytes given.
    Created,
    /// An object with the name already exists; nothing was written.
    AlreadyExists,
    /// The provider cannot make a write conditional (S3 with `AWS_CONDITIONAL_PUT=disabled`);
    /// nothing was written.
    Unsupported,
}

/// One Barman server's area in an object store: everything lives under `root`.
#[derive(Clone, Debug)]
pub struct Archive {
    store: Arc<dyn ObjectStore>,
    root: String,
    url: String,
}

/// Opens the store `cfg` names and returns it with the prefix `destinationPath` gives inside
/// it (empty at the root of a bucket), for objects that live beside the Barman servers rather
/// than under one (the federation's fencing lease).
pub fn open_root(
    cfg: &BarmanObjectStoreConfiguration,
    secrets: &Path,
) -> Result<(Arc<dyn ObjectStore>, String), StoreError> {
    providers::build(cfg, parse_destination(&cfg.destination_path)?, secrets)
}

impl Archive {
    /// Opens the store for `cfg`; `default_server` is used when `serverName` is unset.
    pub fn open(
        cfg: &BarmanObjectStoreConfiguration,
        default_server: &str,
        secrets: &Path,
    ) -> Result<Self, StoreError> {
        let (store, prefix) = open_root(cfg, secrets)?;
        let root = [prefix.as_str(), server_name(cfg, default_server)]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("/");
        Ok(Archive {
            store,
            root,
            url: cfg.destination_path.clone(),
        })
    }

    /// The destination URL, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The full object path of `key` (relative to the server root).
    pub fn path(&self, key: &str) -> ObjPath {
        if self.root.is_empty() {
            ObjPath::from(key)
        } else {
            ObjPath::from(format!("{}/{key}", self.root))
        }
    }

    /// The underlying store, for multipart uploads and streaming reads.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// Wraps an object_store error with this archive's URL.
    pub fn wrap(&self, source: object_store::Error) -> StoreError {
        StoreError::Store {
            url: self.url.clone(),
            source,
        }
    }

    /// Base names of the objects directly inside directory `key`.
    pub async fn list_dir(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let res = self.store.list_with_delimiter(Some(&self.path(key))).await;
        match res {
            Ok(list) => Ok(list
                .objects
                .into_iter()
                .filter_map(|o| o.location.filename().map(str::to_string))
                .collect()),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(self.wrap(e)),
        }
    }

    /// Names of the sub-directories of directory `key`.
    pub async fn list_subdirs(&self, key: &str) -> Result<Vec<String>, StoreError> {
        match self.store.list_with_delimiter(Some(&self.path(key))).await {
            Ok(list) => Ok(list
                .common_prefixes
                .into_iter()
                .filter_map(|p| p.filename().map(str::to_string))
                .collect()),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(self.wrap(e)),
        }
    }

    /// Every object under directory `key`, at any depth: its key relative to the server root
    /// and when it was last modified. All or nothing: an error on any page is an error, never a
    /// shorter list (retention deletes on the strength of this listing).
    pub async fn list_all(
        &self,
        key: &str,
    ) -> Result<Vec<(String, chrono::DateTime<chrono::Utc>)>, StoreError> {
        use futures::TryStreamExt;
        let root = self.path("");
        let objects: Vec<object_store::ObjectMeta> = self
            .store
            .list(Some(&self.path(key)))
            .try_collect()
            .await
            .map_err(|e| self.wrap(e))?;
        Ok(objects
            .into_iter()
            .map(|o| {
                let relative = match o.location.prefix_match(&root) {
                    Some(parts) => parts
                        .map(|p| p.as_ref().to_string())
                        .collect::<Vec<_>>()
                        .join("/"),
                    None => o.location.to_string(),
                };
                (relative, o.last_modified)
            })
            .collect())
    }

    /// Deletes one object; one that is already gone counts as deleted.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.wrap(e)),
        }
    }

    /// Reads a whole object; `None` when it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        match self.store.get(&self.path(key)).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(|e| self.wrap(e))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.wrap(e)),
        }
    }

    /// Writes a whole object, replacing any object of that name.
    pub async fn put(&self, key: &str, data: Bytes) -> Result<(), StoreError> {
        self.put_tagged(key, PutPayload::from_bytes(data), TagSet::default())
            .await
    }

    /// Writes a whole object with `tags`, replacing any object of that name.
    pub async fn put_tagged(
        &self,
        key: &str,
        payload: PutPayload,
        tags: TagSet,
    ) -> Result<(), StoreError> {
        let opts = PutOptions {
            tags,
            ..PutOptions::default()
        };
        self.store
            .put_opts(&self.path(key), payload, opts)
            .await
            .map(|_| ())
            .map_err(|e| self.wrap(e))
    }

    /// Writes a whole object with `tags` only if no object has that name, atomically in the store
    /// (S3 `If-None-Match: *`, Azure `If-None-Match: *`, GCS `ifGenerationMatch=0`, a hard link on
    /// a local directory): of two concurrent writers exactly one creates it.
    pub async fn put_new(
        &self,
        key: &str,
        payload: PutPayload,
        tags: TagSet,
    ) -> Result<CreateOutcome, StoreError> {
        let opts = PutOptions {
            mode: PutMode::Create,
            tags,
            ..PutOptions::default()
        };
        match self.store.put_opts(&self.path(key), payload, opts).await {
            Ok(_) => Ok(CreateOutcome::Created),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(CreateOutcome::AlreadyExists),
            Err(object_store::Error::NotImplemented { .. }) => Ok(CreateOutcome::Unsupported),
            Err(e) => Err(self.wrap(e)),
        }
    }
}
