//! One builder per provider (S3 and S3-compatible, Google Cloud Storage, Azure Blob, a local
//! directory): credentials from the mounted secrets, endpoints and TLS from the configuration, and
//! the client settings every provider shares. The pure rules that decide endpoints and credentials
//! are table-tested here; nothing here reads or writes objects.

use super::StoreError;
use super::destination::Destination;
use crate::secrets::read_selector;
use object_store::aws::AmazonS3Builder;
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::{ClientOptions, ObjectStore, RetryConfig};
use pgfed_api::barman::BarmanObjectStoreConfiguration;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Opens the store a parsed destination names, with the credentials `cfg` refers to, and
/// returns it with the prefix inside it under which the Barman servers live.
pub(super) fn build(
    cfg: &BarmanObjectStoreConfiguration,
    destination: Destination,
    secrets: &Path,
) -> Result<(Arc<dyn ObjectStore>, String), StoreError> {
    let wrap = |source| StoreError::Store {
        url: cfg.destination_path.clone(),
        source,
    };
    Ok(match destination {
        Destination::S3 { bucket, prefix } => (
            Arc::new(s3(cfg, bucket, secrets)?.build().map_err(wrap)?),
            prefix,
        ),
        Destination::Gcs { bucket, prefix } => (
            Arc::new(gcs(cfg, bucket, secrets)?.build().map_err(wrap)?),
            prefix,
        ),
        Destination::Azure {
            account,
            container,
            prefix,
            endpoint,
        } => {
            let b = azure(cfg, account, container, endpoint, secrets)?;
            (Arc::new(b.build().map_err(wrap)?), prefix)
        }
        Destination::Local { dir } => {
            std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
                context: format!("creating {dir}"),
                source,
            })?;
            let fs = object_store::local::LocalFileSystem::new_with_prefix(&dir).map_err(wrap)?;
            (Arc::new(fs.with_automatic_cleanup(true)), String::new())
        }
    })
}

/// S3 and S3-compatible servers. Create-only writes (`If-None-Match: *`) are on by default in
/// object_store; a server that rejects that header can be served with `AWS_CONDITIONAL_PUT=disabled`
/// in the environment, and WAL archiving then falls back to list-and-compare.
fn s3(
    cfg: &BarmanObjectStoreConfiguration,
    bucket: String,
    secrets: &Path,
) -> Result<AmazonS3Builder, StoreError> {
    // Environment first (AWS_* variables, IAM role), then the explicit secrets win.
    let mut b = AmazonS3Builder::from_env()
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
    Ok(b.with_unsigned_payload(payload_integrity_from_tls(cfg.endpoint_url.as_deref())))
}

/// Google Cloud Storage (and fake-gcs-server, named by its service-account key).
fn gcs(
    cfg: &BarmanObjectStoreConfiguration,
    bucket: String,
    secrets: &Path,
) -> Result<GoogleCloudStorageBuilder, StoreError> {
    let mut b = GoogleCloudStorageBuilder::from_env()
        .with_bucket_name(bucket)
        .with_retry(retry());
    let mut opts = client_options(cfg, secrets)?;
    if let Some(s) = cfg
        .google_credentials
        .as_ref()
        .and_then(|g| g.application_credentials.as_ref())
    {
        let key = read_selector(secrets, s)?;
        // An emulator's key names its plain-HTTP endpoint (`gcs_base_url`); the client
        // refuses http:// unless told otherwise.
        if cfg.endpoint_url.is_none()
            && gcs_key_base_url(&key).is_some_and(|u| u.starts_with("http://"))
        {
            opts = opts.with_allow_http(true);
        }
        b = b.with_service_account_key(key);
    }
    if let Some(endpoint) = &cfg.endpoint_url {
        b = b.with_base_url(endpoint);
    }
    Ok(b.with_client_options(opts))
}

/// Azure Blob Storage and emulators such as Azurite.
fn azure(
    cfg: &BarmanObjectStoreConfiguration,
    account: Option<String>,
    container: String,
    endpoint: Option<String>,
    secrets: &Path,
) -> Result<MicrosoftAzureBuilder, StoreError> {
    let creds = cfg.azure_credentials.as_ref();
    let connection_string = creds
        .and_then(|c| c.connection_string.as_ref())
        .map(|s| read_selector(secrets, s))
        .transpose()?;
    let mut access = azure_access(
        account.as_deref(),
        endpoint.as_deref(),
        connection_string.as_deref(),
        cfg.endpoint_url.as_deref(),
    );
    if let Some(c) = creds {
        if let Some(s) = &c.storage_account {
            access.account = Some(read_selector(secrets, s)?);
        }
        if let Some(s) = &c.storage_key {
            access.access_key = Some(read_selector(secrets, s)?);
        }
        if let Some(s) = &c.storage_sas_token {
            access.sas_token = Some(read_selector(secrets, s)?);
        }
    }
    let mut opts = client_options(cfg, secrets)?;
    if access
        .endpoint
        .as_deref()
        .is_some_and(|e| e.starts_with("http://"))
    {
        opts = opts.with_allow_http(true);
    }
    let mut b = MicrosoftAzureBuilder::from_env()
        .with_container_name(container)
        .with_client_options(opts)
        .with_retry(retry());
    if let Some(a) = access.account {
        b = b.with_account(a);
    }
    if let Some(e) = access.endpoint {
        b = b.with_endpoint(e);
    }
    if let Some(k) = access.access_key {
        b = b.with_access_key(k);
    }
    if let Some(t) = access.sas_token {
        // The builder's own parser percent-decodes the signature (`sig=...%2B...%3D`).
        b = b.with_config(AzureConfigKey::SasKey, t);
    }
    Ok(b)
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

/// Splits an Azure connection string `Key=Value;Key=Value`. Pure.
pub fn parse_connection_string(s: &str) -> Vec<(String, String)> {
    s.split(';')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// How an Azure container is reached and with which key material, before the
/// `storageAccount`/`storageKey`/`storageSasToken` secrets are applied on top.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AzureAccess {
    /// Storage account name.
    pub account: Option<String>,
    /// Blob service endpoint; `None` is the public cloud's `https://<account>.blob.core.windows.net`.
    pub endpoint: Option<String>,
    /// Shared key.
    pub access_key: Option<String>,
    /// Shared access signature, as a query string.
    pub sas_token: Option<String>,
}

/// Resolves an Azure destination as barman-cloud does: a connection string names the account,
/// endpoint and credentials (its `BlobEndpoint`, else
/// `<DefaultEndpointsProtocol>://<AccountName>.blob.<EndpointSuffix>`), the destination path fills
/// in what it leaves out, and `endpointURL` overrides the endpoint. Pure.
pub fn azure_access(
    dest_account: Option<&str>,
    dest_endpoint: Option<&str>,
    connection_string: Option<&str>,
    endpoint_url: Option<&str>,
) -> AzureAccess {
    let mut access = AzureAccess {
        account: dest_account.map(str::to_string),
        endpoint: dest_endpoint.map(str::to_string),
        ..AzureAccess::default()
    };
    if let Some(cs) = connection_string {
        let kv = parse_connection_string(cs);
        let get = |key: &str| {
            kv.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.clone())
                .filter(|v| !v.is_empty())
        };
        if let Some(a) = get("AccountName") {
            access.account = Some(a);
        }
        if let Some(e) = get("BlobEndpoint") {
            access.endpoint = Some(e.trim_end_matches('/').to_string());
        } else if let Some(a) = get("AccountName") {
            let protocol = get("DefaultEndpointsProtocol").unwrap_or_else(|| "https".into());
            let suffix = get("EndpointSuffix").unwrap_or_else(|| "core.windows.net".into());
            access.endpoint = Some(format!("{protocol}://{a}.blob.{suffix}"));
        }
        access.access_key = get("AccountKey");
        access.sas_token = get("SharedAccessSignature");
    }
    if let Some(e) = endpoint_url {
        access.endpoint = Some(e.to_string());
    }
    access
}

/// The `gcs_base_url` of a service-account key (set by emulators such as fake-gcs-server), if the
/// key is JSON and has one. Pure.
pub fn gcs_key_base_url(key: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(key)
        .ok()?
        .get("gcs_base_url")?
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn azure_access_precedence() {
        let azurite_cs = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;\
                          BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1/;";
        let access = |account: Option<&str>,
                      endpoint: Option<&str>,
                      key: Option<&str>,
                      sas: Option<&str>| {
            AzureAccess {
                account: account.map(str::to_string),
                endpoint: endpoint.map(str::to_string),
                access_key: key.map(str::to_string),
                sas_token: sas.map(str::to_string),
            }
        };
        let cases = [
            // Public cloud: everything from the path, endpoint left to the client's default.
            (
                (Some("acct"), None, None, None),
                access(Some("acct"), None, None, None),
            ),
            // Emulator path: its endpoint is kept.
            (
                (Some("dev"), Some("http://h:1/dev"), None, None),
                access(Some("dev"), Some("http://h:1/dev"), None, None),
            ),
            // An Azurite connection string names endpoint, account and key.
            (
                (Some("dev"), Some("http://h:1/dev"), Some(azurite_cs), None),
                access(
                    Some("devstoreaccount1"),
                    Some("http://127.0.0.1:10000/devstoreaccount1"),
                    Some("a2V5"),
                    None,
                ),
            ),
            // Without BlobEndpoint the endpoint is derived like the Azure SDKs do.
            (
                (
                    Some("acct"),
                    None,
                    Some("AccountName=other;AccountKey=k==;EndpointSuffix=core.chinacloudapi.cn"),
                    None,
                ),
                access(
                    Some("other"),
                    Some("https://other.blob.core.chinacloudapi.cn"),
                    Some("k=="),
                    None,
                ),
            ),
            // A SAS connection string.
            (
                (
                    None,
                    None,
                    Some(
                        "BlobEndpoint=https://a.blob.core.windows.net;SharedAccessSignature=sv=2020-08-04&sig=x%3D",
                    ),
                    None,
                ),
                access(
                    None,
                    Some("https://a.blob.core.windows.net"),
                    None,
                    Some("sv=2020-08-04&sig=x%3D"),
                ),
            ),
            // endpointURL overrides every other source.
            (
                (
                    Some("dev"),
                    Some("http://h:1/dev"),
                    Some(azurite_cs),
                    Some("https://proxy/dev"),
                ),
                access(
                    Some("devstoreaccount1"),
                    Some("https://proxy/dev"),
                    Some("a2V5"),
                    None,
                ),
            ),
        ];
        for ((account, endpoint, cs, url), want) in cases {
            assert_eq!(
                azure_access(account, endpoint, cs, url),
                want,
                "{account:?} {endpoint:?} {cs:?} {url:?}"
            );
        }
    }

    #[test]
    fn gcs_key_base_urls() {
        let cases = [
            (
                r#"{"private_key": "k", "gcs_base_url": "http://127.0.0.1:4443", "disable_oauth": true}"#,
                Some("http://127.0.0.1:4443"),
            ),
            (r#"{"type": "service_account", "private_key": "k"}"#, None),
            ("not json", None),
            (r#"{"gcs_base_url": 7}"#, None),
        ];
        for (key, want) in cases {
            assert_eq!(gcs_key_base_url(key).as_deref(), want, "{key}");
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
