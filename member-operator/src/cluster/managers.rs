//! Talking to a Cluster's instance managers: reading every instance's status and pushing the
//! dynamic settings (fencing, target primary) that must reach a running manager within a second
//! rather than through kubelet's ConfigMap sync. The operator's client certificate is signed by
//! the Cluster's client CA (the key of a generated CA never leaves the operator); managers are
//! verified against the server CA under the `-rw` Service's name, which every server certificate
//! carries.

use super::build::certs::{CA_CERT, CA_KEY, CertRole};
use crate::instances::{ClientCertificates, InstanceClient, InstanceClientError};
use chrono::Utc;
use k8s_openapi::api::core::v1::{Pod, Secret};
use pgfed_api::cluster::{
    CertificatesConfiguration, PostgresConfiguration, ReplicaClusterConfiguration,
};
use pgfed_api::instance::{DynamicConfig, InstanceStatus, PushedReplica};
use pgfed_api::names::service_rw;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Why the managers cannot be reached at all (each instance's own failure is just its absence).
#[derive(Debug, thiserror::Error)]
pub enum ManagersError {
    /// A CA Secret lacks a key the operator needs to speak to the managers.
    #[error(
        "Secret {secret} has no {key}: the operator cannot authenticate to the instance managers"
    )]
    MissingKey {
        /// The Secret.
        secret: String,
        /// The key.
        key: &'static str,
    },
    /// The client certificate could not be issued.
    #[error("issuing the operator's client certificate: {0}")]
    Issue(#[from] crate::pki::PkiError),
    /// The client could not be configured.
    #[error(transparent)]
    Client(#[from] InstanceClientError),
}

fn key<'a>(
    secrets: &'a BTreeMap<String, Secret>,
    secret: &str,
    key: &'static str,
) -> Result<&'a [u8], ManagersError> {
    secrets
        .get(secret)
        .and_then(|s| s.data.as_ref())
        .and_then(|d| d.get(key))
        .map(|v| v.0.as_slice())
        .ok_or_else(|| ManagersError::MissingKey {
            secret: secret.to_string(),
            key,
        })
}

/// A client for the managers of Cluster `name` in `namespace`.
pub fn client(
    certificates: &ClientCertificates,
    secrets: &BTreeMap<String, Secret>,
    name: &str,
    namespace: &str,
    config: &CertificatesConfiguration,
) -> Result<InstanceClient, ManagersError> {
    let client_ca = CertRole::ClientCa.secret(name, config).0;
    let server_ca = CertRole::ServerCa.secret(name, config).0;
    let ca_cert = String::from_utf8_lossy(key(secrets, &client_ca, CA_CERT)?).into_owned();
    let ca_key = String::from_utf8_lossy(key(secrets, &client_ca, CA_KEY)?).into_owned();
    let identity = certificates.for_ca(&ca_cert, &ca_key, Utc::now())?;
    let server_ca_pem = key(secrets, &server_ca, CA_CERT)?;
    let server_name = format!("{}.{namespace}.svc", service_rw(name));
    Ok(InstanceClient::new(server_ca_pem, &server_name, &identity)?)
}

/// The pod IP of every running instance pod, by instance name. Pure.
pub fn addresses(pods: &BTreeMap<String, Pod>) -> Vec<(String, IpAddr)> {
    pods.iter()
        .filter(|(_, p)| p.metadata.deletion_timestamp.is_none())
        .filter_map(|(name, p)| {
            let ip = p.status.as_ref()?.pod_ip.as_ref()?.parse().ok()?;
            Some((name.clone(), ip))
        })
        .collect()
}

/// The status of every instance that answered.
pub async fn statuses(
    client: &InstanceClient,
    pods: &BTreeMap<String, Pod>,
) -> BTreeMap<String, InstanceStatus> {
    let mut out = BTreeMap::new();
    for (instance, result) in client.fetch_all(&addresses(pods)).await {
        match result {
            Ok(status) => {
                out.insert(instance, status);
            }
            Err(e) => {
                tracing::debug!(instance, error = %e, cause = e.label(), "instance manager did not answer")
            }
        }
    }
    out
}

/// The dynamic settings instance `name` should run with. Pure.
pub fn desired(name: &str, cluster: &ClusterSettings<'_>) -> DynamicConfig {
    DynamicConfig {
        version: cluster.version,
        target_primary: cluster.target_primary.map(str::to_string),
        fenced: cluster.fenced.contains(name),
        postgresql: Some(cluster.postgresql.clone()),
        instances: cluster.instances.to_vec(),
        synchronous_standby_names: cluster.synchronous_standby_names.map(str::to_string),
        replica: Some(PushedReplica {
            spec: cluster.replica.cloned(),
        }),
        databases: Some(cluster.databases.to_vec()),
    }
}

/// The cluster-wide settings every manager receives (fencing is per instance).
pub struct ClusterSettings<'a> {
    /// Which instances are fenced.
    pub fenced: &'a super::decide::fencing::Fenced,
    /// `status.targetPrimary`.
    pub target_primary: Option<&'a str>,
    /// `spec.postgresql`.
    pub postgresql: &'a PostgresConfiguration,
    /// Every instance of the cluster.
    pub instances: &'a [String],
    /// The `synchronous_standby_names` the primary enforces.
    pub synchronous_standby_names: Option<&'a str>,
    /// `spec.replica`: a demotion or promotion starts at once, not when kubelet syncs the
    /// ConfigMap.
    pub replica: Option<&'a ReplicaClusterConfiguration>,
    /// The Database objects the primary acts on: a changed object is applied at once too.
    pub databases: &'a [pgfed_api::database::ManagedDatabase],
    /// Version of these settings.
    pub version: u64,
}

/// Brings every answering instance's dynamic settings to what `want` gives for it: reads what
/// is in effect and pushes only where it differs. Returns the instances changed, with what was
/// pushed. A refused (older) version or an instance that does not answer is logged and retried
/// by the next reconcile.
pub async fn converge(
    client: &InstanceClient,
    pods: &BTreeMap<String, Pod>,
    want: impl Fn(&str) -> DynamicConfig,
) -> Converged {
    let mut out = Converged::default();
    let pushed = &mut out.pushed;
    for (instance, ip) in addresses(pods) {
        let wanted = want(&instance);
        match client.config(ip).await {
            Ok(current) if current.same_settings(&wanted) => {
                out.newest_kept = out.newest_kept.max(current.version);
                continue;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(instance, error = %e, cause = e.label(), "instance manager did not answer");
                continue;
            }
        }
        match client.push_config(ip, &wanted).await {
            Ok(()) => pushed.push((instance, wanted)),
            Err(e) => {
                tracing::warn!(instance, error = %e, cause = e.label(), "pushing settings to the instance manager failed")
            }
        }
    }
    out
}

/// What one round of [`converge`] did.
#[derive(Debug, Default)]
pub struct Converged {
    /// The instances given new settings this turn, with them.
    pub pushed: Vec<(String, DynamicConfig)>,
    /// The highest `version` (the operator's push time, in Unix milliseconds) among the settings
    /// the other instances already had.
    pub newest_kept: u64,
}

impl Converged {
    /// Whether every instance has had its settings for at least `age` at `now_ms`: a manager
    /// applies pushed settings within about a second, so before that what it reports (a
    /// parameter's `pending_restart`) may still describe the old ones.
    pub fn settled(&self, now_ms: u64, age: std::time::Duration) -> bool {
        let age = u64::try_from(age.as_millis()).unwrap_or(u64::MAX);
        self.pushed.is_empty() && now_ms.saturating_sub(self.newest_kept) >= age
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::decide::fencing::Fenced;

    #[allow(dead_code)]
    fn reported(fenced: &[(&str, bool)]) -> BTreeMap<String, InstanceStatus> {
        fenced
            .iter()
            .map(|(n, f)| {
                (
                    n.to_string(),
                    InstanceStatus {
                        instance_name: n.to_string(),
                        fenced: *f,
                        ..InstanceStatus::default()
                    },
                )
            })
            .collect()
    }

    #[test]
    fn each_instance_gets_its_own_fencing_and_the_shared_settings() {
        let fenced = Fenced {
            instances: ["pg-2".to_string()].into(),
            ..Fenced::default()
        };
        let pg = PostgresConfiguration::default();
        let instances = ["pg-1".to_string(), "pg-2".to_string()];
        let settings = |version| ClusterSettings {
            fenced: &fenced,
            target_primary: Some("pg-1"),
            postgresql: &pg,
            instances: &instances,
            synchronous_standby_names: Some("ANY 1 (\"pg-2\")"),
            replica: None,
            databases: &[],
            version,
        };
        let two = desired("pg-2", &settings(9));
        let one = desired("pg-1", &settings(9));
        assert!(two.fenced && !one.fenced);
        assert_eq!(two.target_primary.as_deref(), Some("pg-1"));
        assert_eq!(two.postgresql.as_ref(), Some(&pg));
        assert_eq!(one.instances, instances);
        // no replica section is pushed as such, so removing one reaches the managers
        assert_eq!(one.replica, Some(PushedReplica { spec: None }));
        assert_eq!(
            one.synchronous_standby_names.as_deref(),
            Some("ANY 1 (\"pg-2\")")
        );
        // the version does not make settings differ
        assert!(one.same_settings(&desired("pg-1", &settings(10))));
        assert!(!one.same_settings(&two));
    }

    #[test]
    fn settings_are_settled_when_nothing_was_pushed_and_the_newest_is_old_enough() {
        let age = std::time::Duration::from_secs(2);
        let kept = |newest_kept| Converged {
            pushed: Vec::new(),
            newest_kept,
        };
        assert!(kept(10_000).settled(12_000, age));
        assert!(!kept(10_500).settled(12_000, age));
        let pushed = Converged {
            pushed: vec![("pg-1".into(), DynamicConfig::default())],
            newest_kept: 0,
        };
        assert!(!pushed.settled(u64::MAX, age));
    }

    #[test]
    fn addresses_skip_pods_without_an_ip() {
        let pod = |ip: Option<&str>| Pod {
            status: Some(k8s_openapi::api::core::v1::PodStatus {
                pod_ip: ip.map(str::to_string),
                ..Default::default()
            }),
            ..Pod::default()
        };
        let pods = BTreeMap::from([
            ("pg-1".to_string(), pod(Some("10.100.1.5"))),
            ("pg-2".to_string(), pod(None)),
        ]);
        assert_eq!(
            addresses(&pods),
            vec![("pg-1".to_string(), "10.100.1.5".parse().expect("ip"))]
        );
    }
}
