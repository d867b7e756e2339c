//! Validation of `barmanObjectStore` blocks, wherever they appear.

use super::FieldErrors;
use crate::barman::BarmanObjectStoreConfiguration;

/// Object-store URL schemes pgfed can write to.
const SCHEMES: &[&str] = &[
    "s3://", "gs://", "azure://", "https://", "http://", "file://",
];

/// Validates an object store configuration found at `path`.
pub fn validate_object_store(
    errors: &mut FieldErrors,
    path: &str,
    store: &BarmanObjectStoreConfiguration,
) {
    let dest = store.destination_path.trim();
    if dest.is_empty() {
        errors.push(format!("{path}.destinationPath"), "required");
    } else if !SCHEMES.iter().any(|s| dest.starts_with(s)) {
        errors.push(
            format!("{path}.destinationPath"),
            format!(
                "{dest:?} must start with one of {}: the object-store clients pgfed has",
                SCHEMES.join(", ")
            ),
        );
    } else if dest.starts_with("https://") || dest.starts_with("http://") {
        // Azure Blob URLs: https://<account>.blob.core.windows.net/<container>[/path]
        if store.azure_credentials.is_none() {
            errors.push(
                format!("{path}.destinationPath"),
                "an http(s) destination is an Azure Blob URL and needs azureCredentials; use s3:// with endpointURL for S3-compatible servers",
            );
        }
    }
    if let Some(url) = &store.endpoint_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        errors.push(
            format!("{path}.endpointURL"),
            format!("{url:?} must be an http:// or https:// URL"),
        );
    }
    let credentials = [
        store.s3_credentials.is_some(),
        store.azure_credentials.is_some(),
        store.google_credentials.is_some(),
    ];
    if credentials.iter().filter(|c| **c).count() > 1 {
        errors.push(
            path.to_string(),
            "at most one of s3Credentials, azureCredentials, googleCredentials",
        );
    }
    if dest.starts_with("s3://") && store.azure_credentials.is_some() {
        errors.push(
            format!("{path}.azureCredentials"),
            "an s3:// destination needs s3Credentials",
        );
    }
    if dest.starts_with("gs://") && store.s3_credentials.is_some() {
        errors.push(
            format!("{path}.s3Credentials"),
            "a gs:// destination needs googleCredentials",
        );
    }
    if let Some(s3) = &store.s3_credentials {
        let iam = s3.inherit_from_iam_role.unwrap_or(false);
        if !iam && (s3.access_key_id.is_none() || s3.secret_access_key.is_none()) {
            errors.push(
                format!("{path}.s3Credentials"),
                "needs accessKeyId and secretAccessKey, or inheritFromIAMRole: true",
            );
        }
    }
    // The server name is one folder of the Barman layout (`<destinationPath>/<serverName>/wals`),
    // not a Kubernetes name: `pg-backup-Custom-Name` is fine, a '/' would reach into another
    // server's folder.
    if let Some(server) = &store.server_name {
        errors.check(
            format!("{path}.serverName"),
            super::formats::check_path_component(server),
        );
    }
    if let Some(wal) = &store.wal
        && let Some(n) = wal.max_parallel
        && n < 1
    {
        errors.push(
            format!("{path}.wal.maxParallel"),
            format!("{n} must be at least 1"),
        );
    }
    if let Some(data) = &store.data
        && let Some(jobs) = data.jobs
        && jobs < 1
    {
        errors.push(
            format!("{path}.data.jobs"),
            format!("{jobs} must be at least 1"),
        );
    }
}
