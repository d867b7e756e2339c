//! Opens the object store named by a `barmanObjectStore` configuration (S3 and S3-compatible, Azure
//! Blob, Google Cloud Storage, a local directory) and gives the rest of the manager one small API
//! rooted at `<destinationPath>/<serverName>/`.

use crate::secrets::{SecretError, read_selector};
use bytes::Bytes;
use object_store::path::Path as ObjPath;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use pgfed_api::barman::BarmanObjectStoreConfiguration;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Which kind of store a `destinationPath` names, and where inside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// `s3://bucket/prefix`.
    S3 { bucket: String, prefix: String },
    /// `gs://bucket/prefix`.
    Gcs { bucket: String, prefix: String },
    /// `https://<account>.blob.core.windows.net/<container>/prefix` or `azure://container/prefix`
    /// (account from the credentials; endpoint from `endpointURL`).
    Azure {
        account: Option<String>,
        container: String,
        prefix: String,
    },
    /// `file:///directory/prefix`.
    Local { dir: String },
}

/// Why an object store could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `destinationPath` is not one of the supported URL shapes.
    #[error(
        "unsupported destinationPath {0:?}: expected s3://bucket/path, gs://bucket/path, \
         https://<account>.blob.core.windows.net/<container>/path, azure://container/path or file:///dir"
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

/// Parses a `destinationPath`. Pure.
pub fn parse_destination(url: &str) -> Result<Destination, StoreError> {
    let bad = || StoreError::BadDestination(url.to_string());
    let split = |rest: &str| -> (String, String) {
        let rest = rest.trim_matches('/');
        match rest.split_once('/') {
            Some((a, b)) => (a.to_string(), b.trim_matches('/').to_string()),
            None => (rest.to_string(), String::new()),
        }
    };
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = split(rest);
        if bucket.is_empty() {
            return Err(bad());
        }
        return Ok(Destination::S3 { bucket, prefix });
    }
    if let Some(rest) = url.strip_prefix("gs://") {
        let (bucket, prefix) = split(rest);
        if bucket.is_empty() {
            return Err(bad());
        }
        return Ok(Destination::Gcs { bucket, prefix });
    }
    if let Some(rest) = url.strip_prefix("azure://") {
        let (container, prefix) = split(rest);
        if container.is_empty() {
            return Err(bad());
        }
        return Ok(Destination::Azure {
            account: None,
            container,
            prefix,
        });
    }
    if let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    {
        let (host, path) = split(rest);
        if let Some(account) = host.strip_suffix(".blob.core.windows.net") {
            let (container, prefix) = split(&path);
            if container.is_empty() {
                return Err(bad());
            }
            return Ok(Destination::Azure {
                account: Some(account.to_string()),
                container,
                prefix,
            });
        }
        return Err(bad());
    }
    if let Some(rest) = url.strip_prefix("file://") {
        if !rest.starts_with('/') {
            return Err(bad());
        }
        return Ok(Destination::Local {
            dir: rest.to_string(),
        });
    }
    Err(bad())
}

/// One Barman server's area in an object store: everything lives under `root`.
#[derive(Clone, Debug)]
pub struct Archive {
    store: Arc<dyn ObjectStore>,
    root: String,
    url: String,
}

/// Client options shared by every backend: fail fast enough that archive_command returns and
/// PostgreSQL retries, rather than hanging the archiver for minutes.
fn client_options(
    cfg: &BarmanObjectStoreConfiguration,
    secrets: &Path,
) -> Result<ClientOptions, StoreError> {
    let mut opts = ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(300));
    if cfg
        .endpoint_url
        .as_deref()
        .is_some_and(|u| u.starts_with("http://"))
    {
        opts = opts.with_allow_http(true);
    }
    if let Some(ca) = &cfg.endpoint_ca {
        let pem = read_selector(secrets, ca)?;
        let certs =
            object_store::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|source| {
                StoreError::Store {
                    url: cfg.destination_path.clone(),
                    source,
                }
            })?;
        for cert in certs {
            opts = opts.with_root_certificate(cert);
        }
    }
    Ok(opts)
}

/// Whether TLS already protects an S3 request body, so SigV4 need not hash it. Pure.
///
/// Signing the payload makes both ends SHA-256 every byte: on a 16 MiB segment that is most of
/// the client's CPU and a good share of the server's. TLS gives the same integrity guarantee in
/// transit, so the hash is skipped over `https://` (and for AWS itself, which is always HTTPS);
/// over plain `http://` the signed hash is the only protection left, and is kept.
pub fn payload_integrity_from_tls(endpoint_url: Option<&str>) -> bool {
    endpoint_url.is_none_or(|u| {
        u.get(..8)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    })
}

fn retry() -> RetryConfig {
    RetryConfig {
        max_retries: 3,
        retry_timeout: Duration::from_secs(20),
        ..RetryConfig::default()
    }
}

impl Archive {
    /// Opens the store for `cfg`; `default_server` is used when `serverName` is unset.
    pub fn open(
        cfg: &BarmanObjectStoreConfiguration,
        default_server: &str,
        secrets: &Path,
    ) -> Result<Self, StoreError> {
        let url = cfg.destination_path.clone();
        let wrap = |source| StoreError::Store {
            url: url.clone(),
            source,
        };
        let server = cfg
            .server_name
            .clone()
            .unwrap_or_else(|| default_server.to_string());
        let (store, prefix): (Arc<dyn ObjectStore>, String) = match parse_destination(&url)? {
            Destination::S3 { bucket, prefix } => {
                // Environment first (AWS_* variables, IAM role), then the explicit secrets win.
                let mut b = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_client_options(client_options(cfg, secrets)?)
                    .with_retry(retry());
                let creds = cfg
                    .s3_credentials
                    .as_ref()
                    .filter(|c| c.inherit_from_iam_role != Some(true));
                if let Some(c) = creds {
                    if let Some(s) = &c.access_key_id {
                        b = b.with_access_key_id(read_selector(secrets, s)?);
                    }
                    if let Some(s) = &c.secret_access_key {
                        b = b.with_secret_access_key(read_selector(secrets, s)?);
                    }
                    if let Some(s) = &c.session_token {
                        b = b.with_token(read_selector(secrets, s)?);
                    }
                    if let Some(s) = &c.region {
                        b = b.with_region(read_selector(secrets, s)?);
                    }
                }
                if let Some(endpoint) = &cfg.endpoint_url {
                    b = b.with_endpoint(endpoint.clone());
                }
                b = b
                    .with_unsigned_payload(payload_integrity_from_tls(cfg.endpoint_url.as_deref()));
                (Arc::new(b.build().map_err(wrap)?), prefix)
            }
            Destination::Gcs { bucket, prefix } => {
                let mut b = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                    .with_bucket_name(bucket)
                    .with_client_options(client_options(cfg, secrets)?)
                    .with_retry(retry());
                if let Some(s) = cfg
                    .google_credentials
                    .as_ref()
                    .and_then(|g| g.application_credentials.as_ref())
                {
                    b = b.with_service_account_key(read_selector(secrets, s)?);
                }
                if let Some(endpoint) = &cfg.endpoint_url {
                    b = b.with_base_url(endpoint);
                }
                (Arc::new(b.build().map_err(wrap)?), prefix)
            }
            Destination::Azure {
                account,
                container,
                prefix,
            } => {
                let mut b = object_store::azure::MicrosoftAzureBuilder::from_env()
                    .with_container_name(container)
                    .with_client_options(client_options(cfg, secrets)?)
                    .with_retry(retry());
                if let Some(a) = account {
                    b = b.with_account(a);
                }
                if let Some(c) = &cfg.azure_credentials {
                    if let Some(s) = &c.connection_string {
                        for (k, v) in parse_connection_string(&read_selector(secrets, s)?) {
                            b = match k.as_str() {
                                "AccountName" => b.with_account(v),
                                "AccountKey" => b.with_access_key(v),
                                "BlobEndpoint" => b.with_endpoint(v),
                                _ => b,
                            };
                        }
                    }
                    if let Some(s) = &c.storage_account {
                        b = b.with_account(read_selector(secrets, s)?);
                    }
                    if let Some(s) = &c.storage_key {
                        b = b.with_access_key(read_selector(secrets, s)?);
                    }
                    if let Some(s) = &c.storage_sas_token {
                        let token = read_selector(secrets, s)?;
                        let pairs = token
                            .trim_start_matches('?')
                            .split('&')
                            .filter_map(|kv| kv.split_once('='))
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect::<Vec<_>>();
                        b = b.with_sas_authorization(pairs);
                    }
                }
                if let Some(endpoint) = &cfg.endpoint_url {
                    b = b.with_endpoint(endpoint.clone());
                }
                (Arc::new(b.build().map_err(wrap)?), prefix)
            }
            Destination::Local { dir } => {
                std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
                    context: format!("creating {dir}"),
                    source,
                })?;
                let fs =
                    object_store::local::LocalFileSystem::new_with_prefix(&dir).map_err(wrap)?;
                (Arc::new(fs.with_automatic_cleanup(true)), String::new())
            }
        };
        let root = [prefix.as_str(), server.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("/");
        Ok(Archive { store, root, url })
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

    fn err(&self, source: object_store::Error) -> StoreError {
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
            Err(e) => Err(self.err(e)),
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
            Err(e) => Err(self.err(e)),
        }
    }

    /// Reads a whole object; `None` when it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        match self.store.get(&self.path(key)).await {
            Ok(r) => Ok(Some(r.bytes().await.map_err(|e| self.err(e))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Writes a whole object.
    pub async fn put(&self, key: &str, data: Bytes) -> Result<(), StoreError> {
        self.store
            .put(&self.path(key), PutPayload::from_bytes(data))
            .await
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Wraps an object_store error with this archive's URL.
    pub fn wrap(&self, source: object_store::Error) -> StoreError {
        self.err(source)
    }
}

/// Splits an Azure connection string `Key=Value;Key=Value`. Pure.
pub fn parse_connection_string(s: &str) -> Vec<(String, String)> {
    s.split(';')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        let s3 = |b: &str, p: &str| Destination::S3 {
            bucket: b.into(),
            prefix: p.into(),
        };
        let cases = [
            ("s3://bucket", Some(s3("bucket", ""))),
            ("s3://bucket/", Some(s3("bucket", ""))),
            ("s3://bucket/a/b/", Some(s3("bucket", "a/b"))),
            (
                "gs://g/x",
                Some(Destination::Gcs {
                    bucket: "g".into(),
                    prefix: "x".into(),
                }),
            ),
            (
                "https://acct.blob.core.windows.net/cont/p/q",
                Some(Destination::Azure {
                    account: Some("acct".into()),
                    container: "cont".into(),
                    prefix: "p/q".into(),
                }),
            ),
            (
                "azure://cont",
                Some(Destination::Azure {
                    account: None,
                    container: "cont".into(),
                    prefix: String::new(),
                }),
            ),
            (
                "file:///var/backups",
                Some(Destination::Local {
                    dir: "/var/backups".into(),
                }),
            ),
            ("s3://", None),
            ("file://relative", None),
            ("https://example.com/x", None),
            ("ftp://x/y", None),
        ];
        for (url, want) in cases {
            assert_eq!(parse_destination(url).ok(), want, "{url}");
        }
    }

    #[test]
    fn payload_hash_skipped_only_under_tls() {
        let cases = [
            (None, true),
            (Some("https://s3.example.com"), true),
            (Some("HTTPS://s3.example.com"), true),
            (Some("http://127.0.0.1:9000"), false),
            (Some("s3.example.com"), false),
        ];
        for (endpoint, want) in cases {
            assert_eq!(payload_integrity_from_tls(endpoint), want, "{endpoint:?}");
        }
    }

    #[test]
    fn connection_strings() {
        let kv = parse_connection_string(
            "DefaultEndpointsProtocol=http;AccountName=dev;AccountKey=a==;BlobEndpoint=http://h:1/dev;",
        );
        assert!(kv.contains(&("AccountName".into(), "dev".into())));
        assert!(kv.contains(&("AccountKey".into(), "a==".into())));
        assert!(kv.contains(&("BlobEndpoint".into(), "http://h:1/dev".into())));
    }
}
