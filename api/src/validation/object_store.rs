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
    if let Some(interval) = store
        .wal
        .as_ref()
        .and_then(|w| w.partial_upload_interval.as_deref())
    {
        match super::formats::parse_duration(interval) {
            Ok(d) if d < std::time::Duration::from_secs(1) => errors.push(
                format!("{path}.wal.partialUploadInterval"),
                format!("{interval} is below the 1s minimum"),
            ),
            Ok(_) => {}
            Err(e) => errors.push(format!("{path}.wal.partialUploadInterval"), e.to_string()),
        }
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

/// Validates an `ObjectStore` resource: its `configuration` as any object store block, plus what
/// only an ObjectStore has. Its `serverName` must stay empty, as the Barman Cloud plugin requires:
/// the server is named by each Cluster's plugin entry (`parameters.serverName`, else the cluster's
/// name), since many clusters share one ObjectStore. pgfed archives and backs up in the instance
/// manager, with no sidecar, so `instanceSidecarConfiguration` has nothing to configure.
pub fn validate_object_store_resource(spec: &crate::object_store::ObjectStoreSpec) -> FieldErrors {
    let mut errors = FieldErrors::default();
    validate_object_store(&mut errors, "spec.configuration", &spec.configuration);
    if spec.configuration.server_name.is_some() {
        errors.push(
            "spec.configuration.serverName",
            "must be empty in an ObjectStore: name the server in the Cluster's plugin parameters (serverName), else the cluster's name is used",
        );
    }
    if let Some(policy) = &spec.retention_policy {
        errors.check(
            "spec.retentionPolicy",
            super::formats::check_retention_policy(policy),
        );
    }
    if let Some(sidecar) = &spec.instance_sidecar_configuration {
        const PATH: &str = "spec.instanceSidecarConfiguration";
        const NO_SIDECAR: &str = "pgfed runs no sidecar: the instance manager archives and backs up in-process; remove it";
        let set = [
            ("env", !sidecar.env.is_empty()),
            (
                "resources",
                sidecar
                    .resources
                    .as_ref()
                    .is_some_and(|r| *r != Default::default()),
            ),
            ("logLevel", sidecar.log_level.is_some()),
            (
                "additionalContainerArgs",
                !sidecar.additional_container_args.is_empty(),
            ),
        ];
        for (field, _) in set.iter().filter(|(_, set)| *set) {
            errors.push(format!("{PATH}.{field}"), NO_SIDECAR);
        }
        if sidecar.retention_policy_interval_seconds.is_some() {
            errors.push(
                format!("{PATH}.retentionPolicyIntervalSeconds"),
                "pgfed's primary applies the retention policy every hour; remove it",
            );
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(spec: serde_json::Value) -> Vec<String> {
        let spec = serde_json::from_value(spec).expect("object store spec");
        validate_object_store_resource(&spec)
            .0
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn object_store_resources() {
        let configuration = json!({"destinationPath": "s3://backups/", "endpointURL": "http://minio:9000",
            "s3Credentials": {"accessKeyId": {"name": "minio", "key": "ACCESS_KEY_ID"},
                              "secretAccessKey": {"name": "minio", "key": "ACCESS_SECRET_KEY"}},
            "wal": {"compression": "gzip"}});
        let cases: Vec<(serde_json::Value, Vec<&str>)> = vec![
            (
                json!({"configuration": configuration, "retentionPolicy": "30d",
                       "instanceSidecarConfiguration": {"resources": {}}}),
                vec![],
            ),
            (
                json!({"configuration": {"destinationPath": "s3://b/", "serverName": "pg"},
                       "retentionPolicy": "thirty days"}),
                vec![
                    "spec.configuration.serverName: must be empty in an ObjectStore: name the server in the Cluster's plugin parameters (serverName), else the cluster's name is used",
                    "spec.retentionPolicy: \"thirty days\" is not a retention policy: expected <number><d|w|m>, e.g. 30d",
                ],
            ),
            (
                json!({"configuration": configuration, "instanceSidecarConfiguration": {
                    "retentionPolicyIntervalSeconds": 1800,
                    "resources": {"requests": {"memory": "64Mi"}},
                    "env": [{"name": "AWS_REGION", "value": "eu"}]}}),
                vec![
                    "spec.instanceSidecarConfiguration.env: pgfed runs no sidecar: the instance manager archives and backs up in-process; remove it",
                    "spec.instanceSidecarConfiguration.resources: pgfed runs no sidecar: the instance manager archives and backs up in-process; remove it",
                    "spec.instanceSidecarConfiguration.retentionPolicyIntervalSeconds: pgfed's primary applies the retention policy every hour; remove it",
                ],
            ),
        ];
        for (spec, want) in cases {
            assert_eq!(errors(spec.clone()), want, "{spec}");
        }
    }
}
