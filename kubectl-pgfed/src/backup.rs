//! `kubectl pgfed backup <cluster>`: creates a Backup of the cluster, as CloudNativePG's plugin
//! does (default name `<cluster>-<UTC time>`); the operator then takes it and reports its phase
//! in the Backup's status. The request is checked first with the webhook's own rules, so a
//! mistake gets an answer at the prompt.

use chrono::{DateTime, Utc};
use kube::Client;
use kube::api::{Api, PostParams};
use pgfed_api::backup::{Backup, BackupSpec};
use pgfed_api::cluster::Cluster;
use pgfed_api::common::{BackupMethod, BackupTarget, LocalObjectReference};
use pgfed_api::validation::validate_backup;

/// Why a Backup cannot be created.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BackupCommandError {
    /// A value given on the command line is not one of the allowed ones.
    #[error("--{flag} {value}: expected one of {allowed}")]
    BadValue {
        /// The flag.
        flag: &'static str,
        /// What was given.
        value: String,
        /// The choices.
        allowed: &'static str,
    },
    /// The Backup breaks an admission rule.
    #[error("invalid Backup: {0}")]
    Invalid(String),
    /// The cluster does not exist.
    #[error("cluster {namespace}/{cluster} does not exist")]
    NoCluster {
        /// Namespace.
        namespace: String,
        /// Cluster.
        cluster: String,
    },
    /// An API call failed.
    #[error("{0}")]
    Api(String),
}

/// What the command line asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// The Cluster.
    pub cluster: String,
    /// `--name`.
    pub name: Option<String>,
    /// `--method`.
    pub method: Option<String>,
    /// `--target`.
    pub target: Option<String>,
}

/// The Backup `request` asks for at `now`. Pure.
pub fn backup_for(request: &Request, now: DateTime<Utc>) -> Result<Backup, BackupCommandError> {
    let method = match request.method.as_deref() {
        None => None,
        Some("barmanObjectStore") => Some(BackupMethod::BarmanObjectStore),
        Some("volumeSnapshot") => Some(BackupMethod::VolumeSnapshot),
        Some(other) => {
            return Err(BackupCommandError::BadValue {
                flag: "method",
                value: other.to_string(),
                allowed: "barmanObjectStore, volumeSnapshot",
            });
        }
    };
    let target = match request.target.as_deref() {
        None => None,
        Some("primary") => Some(BackupTarget::Primary),
        Some("prefer-standby") => Some(BackupTarget::PreferStandby),
        Some(other) => {
            return Err(BackupCommandError::BadValue {
                flag: "target",
                value: other.to_string(),
                allowed: "primary, prefer-standby",
            });
        }
    };
    let spec = BackupSpec {
        cluster: LocalObjectReference {
            name: request.cluster.clone(),
        },
        method,
        target,
        ..BackupSpec::default()
    };
    let errors = validate_backup(&spec);
    if !errors.0.is_empty() {
        let text: Vec<String> = errors.0.iter().map(ToString::to_string).collect();
        return Err(BackupCommandError::Invalid(text.join("; ")));
    }
    let name = request
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-{}", request.cluster, now.format("%Y%m%d%H%M%S")));
    Ok(Backup::new(&name, spec))
}

/// Creates the Backup `request` asks for in `namespace`; returns its name.
pub async fn create(
    client: Client,
    namespace: &str,
    request: &Request,
) -> Result<String, BackupCommandError> {
    let backup = backup_for(request, Utc::now())?;
    let clusters: Api<Cluster> = Api::namespaced(client.clone(), namespace);
    let exists = clusters.get_opt(&request.cluster).await.map_err(|e| {
        BackupCommandError::Api(format!(
            "reading cluster {namespace}/{}: {e}",
            request.cluster
        ))
    })?;
    if exists.is_none() {
        return Err(BackupCommandError::NoCluster {
            namespace: namespace.to_string(),
            cluster: request.cluster.clone(),
        });
    }
    let backups: Api<Backup> = Api::namespaced(client, namespace);
    let created = backups
        .create(&PostParams::default(), &backup)
        .await
        .map_err(|e| BackupCommandError::Api(format!("creating the Backup: {e}")))?;
    Ok(created.metadata.name.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-01T10:11:12Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[test]
    fn the_backup_named_by_default_after_the_cluster_and_the_time() {
        let b = backup_for(
            &Request {
                cluster: "pg".into(),
                ..Request::default()
            },
            now(),
        )
        .expect("backup");
        assert_eq!(b.metadata.name.as_deref(), Some("pg-20261201101112"));
        assert_eq!(b.spec.cluster.name, "pg");
        assert_eq!((b.spec.method, b.spec.target), (None, None));
        let json = serde_json::to_value(&b).expect("json");
        assert_eq!(json["apiVersion"], "pgfed.io/v1");
        assert_eq!(json["kind"], "Backup");
    }

    #[test]
    fn flags_become_the_spec_or_are_refused() {
        let b = backup_for(
            &Request {
                cluster: "pg".into(),
                name: Some("nightly".into()),
                method: Some("barmanObjectStore".into()),
                target: Some("primary".into()),
            },
            now(),
        )
        .expect("backup");
        assert_eq!(b.metadata.name.as_deref(), Some("nightly"));
        assert_eq!(b.spec.method, Some(BackupMethod::BarmanObjectStore));
        assert_eq!(b.spec.target, Some(BackupTarget::Primary));
        let bad = |method: Option<&str>, target: Option<&str>| {
            backup_for(
                &Request {
                    cluster: "pg".into(),
                    method: method.map(str::to_string),
                    target: target.map(str::to_string),
                    ..Request::default()
                },
                now(),
            )
            .expect_err("refused")
        };
        assert!(matches!(
            bad(Some("pgbackrest"), None),
            BackupCommandError::BadValue { flag: "method", .. }
        ));
        assert!(matches!(
            bad(None, Some("standby")),
            BackupCommandError::BadValue { flag: "target", .. }
        ));
    }
}
