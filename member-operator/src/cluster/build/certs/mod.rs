//! The certificates of a Cluster, as CloudNativePG lays them out:
//! - a server CA (`<cluster>-ca`: `ca.crt`, `ca.key`) that signs the server certificate;
//! - the server certificate (`<cluster>-server`, `kubernetes.io/tls`) for every name of the
//!   Cluster's Services and `certificates.serverAltDNSNames`;
//! - a client CA PostgreSQL trusts for certificate authentication, the server CA itself unless the
//!   user gives `certificates.clientCASecret`;
//! - the `streaming_replica` client certificate (`<cluster>-replication`) standbys stream with.
//!
//! A Secret the user names in `spec.certificates` (cert-manager's, typically) is used as given:
//! it is validated, never written. [`plan`] decides per Secret what to do at `now`; [`build`]
//! carries the plan out into the Secrets to apply and the `status.certificates` to report.
//! Leaf certificates last 90 days and are renewed 7 days before they expire; the generated CA
//! lasts a year and is renewed 30 days before, on the same key and name, so certificates it
//! signed stay trusted by clients holding either CA certificate. Secret contents are never
//! logged: `Debug` shows key names only.
//!
//! The server certificate does not carry the pods' names: pods are created without a headless
//! Service, so their names resolve nowhere, and standbys stream from the `-rw` Service name,
//! which the certificate does carry.

mod issue;
mod plan;
#[cfg(test)]
mod tests;

pub use issue::*;
pub use plan::*;

use crate::pki;
use chrono::Duration;
use k8s_openapi::api::core::v1::Secret;
use pgfed_api::cluster::CertificatesConfiguration;
use pgfed_api::names::{
    secret_ca, secret_replication, secret_server, service_r, service_ro, service_rw,
};
use std::collections::{BTreeMap, BTreeSet};

/// How long a generated server or client certificate is valid.
pub const LEAF_VALIDITY: Duration = Duration::days(90);
/// How long before expiry a generated leaf certificate is renewed.
pub const LEAF_RENEW_BEFORE: Duration = Duration::days(7);
/// How long a generated CA is valid.
pub const CA_VALIDITY: Duration = Duration::days(365);
/// How long before expiry the generated CA is renewed (on its key): clients that copied `ca.crt`
/// have this long to pick up the new one.
pub const CA_RENEW_BEFORE: Duration = Duration::days(30);
/// Certificates are valid from this long before they are issued, for readers whose clock lags.
const CLOCK_SKEW: Duration = Duration::hours(1);

/// Key of a CA certificate in a Secret.
pub const CA_CERT: &str = "ca.crt";
/// Key of a CA private key in a Secret.
pub const CA_KEY: &str = "ca.key";
/// Key of a TLS certificate in a `kubernetes.io/tls` Secret.
pub const TLS_CERT: &str = "tls.crt";
/// Key of a TLS private key in a `kubernetes.io/tls` Secret.
pub const TLS_KEY: &str = "tls.key";

/// The contents of a Secret as read from the API server. `Debug` lists the keys, not the values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretData(BTreeMap<String, Vec<u8>>);

impl std::fmt::Debug for SecretData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl SecretData {
    /// The data of `secret` (`stringData` over `data`, as the API server merges them).
    pub fn from_secret(secret: &Secret) -> Self {
        let mut data: BTreeMap<String, Vec<u8>> = secret
            .data
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.0.clone()))
            .collect();
        for (k, v) in secret.string_data.iter().flatten() {
            data.insert(k.clone(), v.clone().into_bytes());
        }
        Self(data)
    }

    /// Data from `(key, value)` pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
        )
    }

    fn get(&self, key: &str) -> Option<&[u8]> {
        self.0.get(key).map(Vec::as_slice)
    }

    fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(|v| std::str::from_utf8(v).ok())
    }
}

/// What the reconciler read for the certificates of one Cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedCerts {
    /// Cluster name.
    pub cluster: String,
    /// Cluster namespace.
    pub namespace: String,
    /// DNS domain of the Kubernetes cluster (usually `cluster.local`).
    pub cluster_domain: String,
    /// `spec.certificates` (empty when absent).
    pub config: CertificatesConfiguration,
    /// The Secrets of [`secrets_to_read`] that exist, by name.
    pub secrets: BTreeMap<String, SecretData>,
}

impl ObservedCerts {
    /// The names the server certificate of this Cluster must carry.
    pub fn server_dns_names(&self) -> Vec<String> {
        server_dns_names(
            &self.cluster,
            &self.namespace,
            &self.cluster_domain,
            &self.config.server_alt_dns_names,
        )
    }
}

/// The part a certificate Secret plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CertRole {
    /// CA of the server certificate.
    ServerCa,
    /// CA PostgreSQL verifies client certificates with.
    ClientCa,
    /// The server certificate.
    ServerTls,
    /// The `streaming_replica` client certificate.
    Replication,
}

impl CertRole {
    /// The `spec.certificates` field that names the user's Secret for this role.
    pub fn field(self) -> &'static str {
        match self {
            Self::ServerCa => "serverCASecret",
            Self::ClientCa => "clientCASecret",
            Self::ServerTls => "serverTLSSecret",
            Self::Replication => "replicationTLSSecret",
        }
    }

    fn user_secret(self, config: &CertificatesConfiguration) -> Option<&str> {
        match self {
            Self::ServerCa => config.server_ca_secret.as_deref(),
            Self::ClientCa => config.client_ca_secret.as_deref(),
            Self::ServerTls => config.server_tls_secret.as_deref(),
            Self::Replication => config.replication_tls_secret.as_deref(),
        }
        .filter(|name| !name.is_empty())
    }

    fn generated_secret(self, cluster: &str) -> String {
        match self {
            // One generated CA plays both CA roles, as CloudNativePG's does.
            Self::ServerCa | Self::ClientCa => secret_ca(cluster),
            Self::ServerTls => secret_server(cluster),
            Self::Replication => secret_replication(cluster),
        }
    }

    /// The Secret playing this role for `cluster`, and whether the user gave it.
    pub fn secret(self, cluster: &str, config: &CertificatesConfiguration) -> (String, bool) {
        match self.user_secret(config) {
            Some(name) => (name.to_string(), true),
            None => (self.generated_secret(cluster), false),
        }
    }
}

const ROLES: [CertRole; 4] = [
    CertRole::ServerCa,
    CertRole::ClientCa,
    CertRole::ServerTls,
    CertRole::Replication,
];

/// The Secrets the reconciler must read (those that exist go into [`ObservedCerts::secrets`]).
pub fn secrets_to_read(cluster: &str, config: &CertificatesConfiguration) -> BTreeSet<String> {
    ROLES
        .iter()
        .map(|role| role.secret(cluster, config).0)
        .collect()
}

/// The names the server certificate carries: every name of the `-rw`, `-ro` and `-r` Services in
/// the cluster's DNS domain, then `extra` (`serverAltDNSNames`), without duplicates.
pub fn server_dns_names(
    cluster: &str,
    namespace: &str,
    cluster_domain: &str,
    extra: &[String],
) -> Vec<String> {
    let mut names = Vec::new();
    for service in [service_rw(cluster), service_ro(cluster), service_r(cluster)] {
        names.extend(pki::service_dns_names(&service, namespace, cluster_domain));
    }
    for name in extra {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

/// Name of the generated CA: its certificate is renewed under the same name, which is what keeps
/// the certificates it signed verifying.
pub fn ca_common_name(cluster: &str, namespace: &str) -> String {
    format!("pgfed CA {namespace}/{cluster}")
}
