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

use super::meta::Owner;
use crate::pki::{
    self, CaSigner, CertificateFacts, InspectError, KeyedCertificate, LeafRequest, LeafUsage,
    PkiError, Validity,
};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use pgfed_api::cluster::{CertificatesConfiguration, CertificatesStatus};
use pgfed_api::names::{
    REPLICATION_USER, secret_ca, secret_replication, secret_server, service_r, service_ro,
    service_rw,
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

/// Why a user-provided certificate Secret cannot be used. Each names the Secret and the key.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum UserSecretError {
    /// The Secret does not exist.
    #[error("Secret {secret} (certificates.{field}) does not exist")]
    Missing {
        /// Secret name.
        secret: String,
        /// `spec.certificates` field naming it.
        field: &'static str,
    },
    /// A key is missing.
    #[error("Secret {secret} has no key {key}{why}")]
    MissingKey {
        /// Secret name.
        secret: String,
        /// Missing key.
        key: &'static str,
        /// Why the key is needed, when it is needed only sometimes.
        why: &'static str,
    },
    /// A key does not hold a PEM certificate.
    #[error("key {key} of Secret {secret} is not a PEM certificate: {source}")]
    Unreadable {
        /// Secret name.
        secret: String,
        /// Key.
        key: &'static str,
        /// What failed.
        source: InspectError,
    },
    /// The certificate is not valid now.
    #[error(
        "the certificate in key {key} of Secret {secret} is valid only from {not_before} to {not_after}"
    )]
    OutsideValidity {
        /// Secret name.
        secret: String,
        /// Key.
        key: &'static str,
        /// Start of validity.
        not_before: DateTime<Utc>,
        /// End of validity.
        not_after: DateTime<Utc>,
    },
    /// A CA Secret holds a certificate that is not a CA.
    #[error("the certificate in key {key} of Secret {secret} is not a CA certificate")]
    NotACa {
        /// Secret name.
        secret: String,
        /// Key.
        key: &'static str,
    },
    /// A TLS Secret holds a CA certificate.
    #[error(
        "the certificate in key {key} of Secret {secret} is a CA, not a server or client certificate"
    )]
    IsACa {
        /// Secret name.
        secret: String,
        /// Key.
        key: &'static str,
    },
    /// The private key is not the certificate's.
    #[error("key {key} of Secret {secret} is not the private key of its certificate")]
    KeyMismatch {
        /// Secret name.
        secret: String,
        /// Key.
        key: &'static str,
    },
    /// The certificate was not signed by the CA it must chain to.
    #[error(
        "the certificate in key {key} of Secret {secret} is not signed by the CA in Secret {ca_secret}"
    )]
    NotSignedByCa {
        /// Secret name.
        secret: String,
        /// Key.
        key: &'static str,
        /// The CA Secret.
        ca_secret: String,
    },
    /// The replication certificate is for another user.
    #[error(
        "the certificate in key {key} of Secret {secret} has CN {found:?}; replication needs CN={REPLICATION_USER}"
    )]
    WrongCommonName {
        /// Secret name.
        secret: String,
        /// Key.
        key: &'static str,
        /// The common name found.
        found: Option<String>,
    },
    /// A user certificate was given without the CA it chains to.
    #[error(
        "certificates.{field} needs certificates.{needs}: clients verify the certificate with that CA"
    )]
    NeedsCa {
        /// The field given.
        field: &'static str,
        /// The field missing.
        needs: &'static str,
    },
}

/// Why a generated certificate is issued with a new key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateReason {
    /// The Secret does not exist.
    Missing,
    /// The Secret exists but its certificate or key is missing, unreadable or mismatched.
    Unreadable,
    /// Its CA changed (a new CA, or the user switched CA Secrets): it must be signed again.
    NewIssuer,
    /// The names it must carry changed (`serverAltDNSNames`, the replication user).
    NamesChanged,
}

/// What to do with one certificate Secret.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Generated and good until `not_after`: applied again unchanged.
    Keep {
        /// Expiry.
        not_after: DateTime<Utc>,
    },
    /// Generate a new certificate with a new key.
    Create(CreateReason),
    /// Expiring: issue a new certificate on the same key (for the CA: what it signed stays
    /// trusted).
    Renew,
    /// The user's Secret, valid until `not_after`: used as given, never written.
    UserProvided {
        /// Expiry.
        not_after: DateTime<Utc>,
    },
    /// The user's Secret cannot be used.
    Invalid(UserSecretError),
    /// Generated, but the CA to sign it with is an unusable user Secret.
    Blocked {
        /// The CA Secret.
        ca_secret: String,
    },
}

/// One certificate Secret and what to do with it.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Secret name.
    pub secret: String,
    /// What to do.
    pub action: Action,
}

/// What to do with each certificate Secret of a Cluster. When both CAs are generated they are the
/// same Secret, and `client_ca` repeats `server_ca`.
#[derive(Clone, Debug, PartialEq)]
pub struct CertPlan {
    /// The server CA.
    pub server_ca: Step,
    /// The client CA.
    pub client_ca: Step,
    /// The server certificate.
    pub server_tls: Step,
    /// The `streaming_replica` client certificate.
    pub replication: Step,
}

impl CertPlan {
    fn steps(&self) -> [&Step; 4] {
        [
            &self.server_ca,
            &self.client_ca,
            &self.server_tls,
            &self.replication,
        ]
    }

    /// Why user Secrets cannot be used (empty when all can), each error once.
    pub fn errors(&self) -> Vec<&UserSecretError> {
        let mut errors: Vec<&UserSecretError> = Vec::new();
        for step in self.steps() {
            if let Action::Invalid(e) = &step.action
                && !errors.contains(&e)
            {
                errors.push(e);
            }
        }
        errors
    }

    /// When the reconciler must look again even if nothing changes: the earliest renewal of a
    /// kept certificate or expiry of a user certificate.
    pub fn next_check(&self) -> Option<DateTime<Utc>> {
        let role_renews = [
            CA_RENEW_BEFORE,
            CA_RENEW_BEFORE,
            LEAF_RENEW_BEFORE,
            LEAF_RENEW_BEFORE,
        ];
        self.steps()
            .iter()
            .zip(role_renews)
            .filter_map(|(step, renew_before)| match step.action {
                Action::Keep { not_after } => Some(not_after - renew_before),
                Action::UserProvided { not_after } => Some(not_after),
                _ => None,
            })
            .min()
    }
}

/// A CA's step and, when usable, its certificate (what leaves must chain to).
struct CaOutcome {
    step: Step,
    facts: Option<CertificateFacts>,
}

/// Reads key `key` of a user Secret as a certificate valid at `now`.
fn user_certificate(
    secret: &str,
    data: &SecretData,
    key: &'static str,
    now: DateTime<Utc>,
) -> Result<CertificateFacts, UserSecretError> {
    let pem = data.get(key).ok_or(UserSecretError::MissingKey {
        secret: secret.to_string(),
        key,
        why: "",
    })?;
    let facts = pki::inspect_pem(pem).map_err(|source| UserSecretError::Unreadable {
        secret: secret.to_string(),
        key,
        source,
    })?;
    if !facts.valid_at(now) {
        return Err(UserSecretError::OutsideValidity {
            secret: secret.to_string(),
            key,
            not_before: facts.not_before,
            not_after: facts.not_after,
        });
    }
    Ok(facts)
}

/// Reads a generated Secret's certificate and key, if they are present and belong together.
fn generated_certificate(
    data: &SecretData,
    cert_key: &str,
    key_key: &str,
) -> Option<CertificateFacts> {
    let facts = pki::inspect_pem(data.get(cert_key)?).ok()?;
    facts.has_key(data.get_str(key_key)?).then_some(facts)
}

fn plan_ca(
    observed: &ObservedCerts,
    role: CertRole,
    must_sign: bool,
    now: DateTime<Utc>,
) -> CaOutcome {
    let (secret, user) = role.secret(&observed.cluster, &observed.config);
    let data = observed.secrets.get(&secret);
    let step = |action| Step {
        secret: secret.clone(),
        action,
    };
    if user {
        let checked = data
            .ok_or_else(|| UserSecretError::Missing {
                secret: secret.clone(),
                field: role.field(),
            })
            .and_then(|data| {
                let facts = user_certificate(&secret, data, CA_CERT, now)?;
                if !facts.is_ca {
                    return Err(UserSecretError::NotACa {
                        secret: secret.clone(),
                        key: CA_CERT,
                    });
                }
                if must_sign {
                    let key = data.get_str(CA_KEY).ok_or(UserSecretError::MissingKey {
                        secret: secret.clone(),
                        key: CA_KEY,
                        why: " (the operator signs the certificate it does not find in spec.certificates with it)",
                    })?;
                    if !facts.has_key(key) {
                        return Err(UserSecretError::KeyMismatch {
                            secret: secret.clone(),
                            key: CA_KEY,
                        });
                    }
                }
                Ok(facts)
            });
        return match checked {
            Ok(facts) => CaOutcome {
                step: step(Action::UserProvided {
                    not_after: facts.not_after,
                }),
                facts: Some(facts),
            },
            Err(e) => CaOutcome {
                step: step(Action::Invalid(e)),
                facts: None,
            },
        };
    }
    let Some(data) = data else {
        return CaOutcome {
            step: step(Action::Create(CreateReason::Missing)),
            facts: None,
        };
    };
    let expected_name = ca_common_name(&observed.cluster, &observed.namespace);
    match generated_certificate(data, CA_CERT, CA_KEY)
        .filter(|f| f.is_ca && f.common_name.as_deref() == Some(expected_name.as_str()))
    {
        None => CaOutcome {
            step: step(Action::Create(CreateReason::Unreadable)),
            facts: None,
        },
        Some(facts) => CaOutcome {
            step: step(if now >= facts.not_after - CA_RENEW_BEFORE {
                Action::Renew
            } else {
                Action::Keep {
                    not_after: facts.not_after,
                }
            }),
            facts: Some(facts),
        },
    }
}

/// Whether a leaf carries what its role needs: the server names, or the replication user.
fn names_fit(role: CertRole, facts: &CertificateFacts, server_names: &[String]) -> bool {
    match role {
        CertRole::ServerTls => {
            let have: BTreeSet<&String> = facts.dns_names.iter().collect();
            have == server_names.iter().collect()
        }
        _ => facts.common_name.as_deref() == Some(REPLICATION_USER),
    }
}

fn plan_leaf(
    observed: &ObservedCerts,
    role: CertRole,
    ca: &CaOutcome,
    server_names: &[String],
    now: DateTime<Utc>,
) -> Step {
    let (secret, user) = role.secret(&observed.cluster, &observed.config);
    let data = observed.secrets.get(&secret);
    let ca_role = if role == CertRole::ServerTls {
        CertRole::ServerCa
    } else {
        CertRole::ClientCa
    };
    let action = if user {
        check_user_leaf(&secret, data, role, ca_role, ca, observed, now).map_or_else(
            Action::Invalid,
            |facts| Action::UserProvided {
                not_after: facts.not_after,
            },
        )
    } else if matches!(ca.step.action, Action::Invalid(_)) {
        Action::Blocked {
            ca_secret: ca.step.secret.clone(),
        }
    } else {
        match (data, &ca.facts) {
            (None, _) => Action::Create(CreateReason::Missing),
            (Some(data), ca_facts) => match generated_certificate(data, TLS_CERT, TLS_KEY) {
                None => Action::Create(CreateReason::Unreadable),
                Some(facts) => match ca_facts {
                    Some(ca_facts) if facts.signed_by(ca_facts) => {
                        if !names_fit(role, &facts, server_names) {
                            Action::Create(CreateReason::NamesChanged)
                        } else if now >= facts.not_after - LEAF_RENEW_BEFORE {
                            Action::Renew
                        } else {
                            Action::Keep {
                                not_after: facts.not_after,
                            }
                        }
                    }
                    // No CA yet (it is being created) or another CA signed it.
                    _ => Action::Create(CreateReason::NewIssuer),
                },
            },
        }
    };
    Step { secret, action }
}

fn check_user_leaf(
    secret: &str,
    data: Option<&SecretData>,
    role: CertRole,
    ca_role: CertRole,
    ca: &CaOutcome,
    observed: &ObservedCerts,
    now: DateTime<Utc>,
) -> Result<CertificateFacts, UserSecretError> {
    if ca_role.user_secret(&observed.config).is_none() {
        return Err(UserSecretError::NeedsCa {
            field: role.field(),
            needs: ca_role.field(),
        });
    }
    let data = data.ok_or_else(|| UserSecretError::Missing {
        secret: secret.to_string(),
        field: role.field(),
    })?;
    let facts = user_certificate(secret, data, TLS_CERT, now)?;
    if facts.is_ca {
        return Err(UserSecretError::IsACa {
            secret: secret.to_string(),
            key: TLS_CERT,
        });
    }
    let key = data.get_str(TLS_KEY).ok_or(UserSecretError::MissingKey {
        secret: secret.to_string(),
        key: TLS_KEY,
        why: "",
    })?;
    if !facts.has_key(key) {
        return Err(UserSecretError::KeyMismatch {
            secret: secret.to_string(),
            key: TLS_KEY,
        });
    }
    if role == CertRole::Replication && facts.common_name.as_deref() != Some(REPLICATION_USER) {
        return Err(UserSecretError::WrongCommonName {
            secret: secret.to_string(),
            key: TLS_CERT,
            found: facts.common_name.clone(),
        });
    }
    if let Some(ca_facts) = &ca.facts
        && !facts.signed_by(ca_facts)
    {
        return Err(UserSecretError::NotSignedByCa {
            secret: secret.to_string(),
            key: TLS_CERT,
            ca_secret: ca.step.secret.clone(),
        });
    }
    Ok(facts)
}

/// Decides, for each certificate Secret of the Cluster, what to do at `now`.
pub fn plan(observed: &ObservedCerts, now: DateTime<Utc>) -> CertPlan {
    let config = &observed.config;
    let server_names = server_dns_names(
        &observed.cluster,
        &observed.namespace,
        &observed.cluster_domain,
        &config.server_alt_dns_names,
    );
    // A user CA needs its key only when the operator signs the matching certificate.
    let server_ca = plan_ca(
        observed,
        CertRole::ServerCa,
        CertRole::ServerTls.user_secret(config).is_none(),
        now,
    );
    let client_ca = if CertRole::ClientCa.user_secret(config).is_none()
        && CertRole::ServerCa.user_secret(config).is_none()
    {
        CaOutcome {
            step: server_ca.step.clone(),
            facts: server_ca.facts.clone(),
        }
    } else {
        plan_ca(
            observed,
            CertRole::ClientCa,
            CertRole::Replication.user_secret(config).is_none(),
            now,
        )
    };
    CertPlan {
        server_tls: plan_leaf(
            observed,
            CertRole::ServerTls,
            &server_ca,
            &server_names,
            now,
        ),
        replication: plan_leaf(
            observed,
            CertRole::Replication,
            &client_ca,
            &server_names,
            now,
        ),
        server_ca: server_ca.step,
        client_ca: client_ca.step,
    }
}

/// Why the certificate Secrets could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CertBuildError {
    /// A user Secret is unusable (the plan says which and why).
    #[error(transparent)]
    UserSecret(#[from] UserSecretError),
    /// A generated certificate needs a CA that is an unusable user Secret.
    #[error("certificate Secret {secret} cannot be signed: its CA Secret {ca_secret} is unusable")]
    Blocked {
        /// The Secret that cannot be issued.
        secret: String,
        /// The CA Secret.
        ca_secret: String,
    },
    /// The plan does not fit what was observed (it was made from other observations).
    #[error("certificate Secret {0} changed since the plan was made")]
    Stale(String),
    /// Generating or signing failed.
    #[error("issuing certificate Secret {secret}: {source}")]
    Issue {
        /// The Secret being issued.
        secret: String,
        /// What failed.
        source: PkiError,
    },
}

/// What [`build`] produced.
#[derive(Debug)]
pub struct IssuedCerts {
    /// The generated Secrets to apply (kept ones included, so orphan clean-up leaves them alone).
    /// User Secrets are never among them.
    pub secrets: Vec<Secret>,
    /// `status.certificates`: the Secret playing each role and when each expires.
    pub status: CertificatesStatus,
}

/// A CA as built: its certificate and, when the operator may sign with it, its key.
struct CaMaterial {
    cert_pem: String,
    key_pem: Option<String>,
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn secret_object(
    owner: &Owner,
    name: &str,
    type_: Option<&str>,
    data: [(&str, &str); 2],
) -> Secret {
    Secret {
        metadata: owner.child_meta(name, BTreeMap::new()),
        type_: type_.map(str::to_string),
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Secret::default()
    }
}

/// Builds what `plan` decided: the generated Secrets (new, renewed or kept) and the status.
/// Refuses when a user Secret is unusable: nothing is issued against a CA that cannot be used.
pub fn build(
    owner: &Owner,
    observed: &ObservedCerts,
    plan: &CertPlan,
    now: DateTime<Utc>,
) -> Result<IssuedCerts, CertBuildError> {
    if let Some(e) = plan.errors().first() {
        return Err((*e).clone().into());
    }
    let mut secrets: Vec<Secret> = Vec::new();
    let mut expirations: BTreeMap<String, String> = BTreeMap::new();
    let mut expires = |secret: &str, pem: &str| {
        if let Ok(facts) = pki::inspect_pem(pem.as_bytes()) {
            let at = rfc3339(facts.not_after);
            // A Secret playing two roles (cert-manager's ca.crt beside tls.crt) expires first.
            let entry = expirations.entry(secret.to_string()).or_insert(at.clone());
            if at < *entry {
                *entry = at;
            }
        }
    };
    let existing = |step: &Step, key: &str| {
        observed
            .secrets
            .get(&step.secret)
            .and_then(|data| data.get_str(key))
            .map(str::to_string)
            .ok_or_else(|| CertBuildError::Stale(step.secret.clone()))
    };
    let issue_error = |step: &Step| {
        let secret = step.secret.clone();
        move |source| CertBuildError::Issue { secret, source }
    };

    let build_ca = |step: &Step,
                    secrets: &mut Vec<Secret>,
                    expires: &mut dyn FnMut(&str, &str)|
     -> Result<CaMaterial, CertBuildError> {
        let ca_name = ca_common_name(&owner.name, &owner.namespace);
        let validity = Validity::from_now(now, CLOCK_SKEW, CA_VALIDITY);
        let generated = match &step.action {
            Action::UserProvided { .. } => {
                let cert_pem = existing(step, CA_CERT)?;
                expires(&step.secret, &cert_pem);
                return Ok(CaMaterial {
                    cert_pem,
                    key_pem: existing(step, CA_KEY).ok(),
                });
            }
            Action::Keep { .. } => KeyedCertificate {
                cert_pem: existing(step, CA_CERT)?,
                key_pem: existing(step, CA_KEY)?,
            },
            Action::Create(_) => {
                pki::self_signed_ca(&ca_name, None, validity).map_err(issue_error(step))?
            }
            Action::Renew => {
                let key = existing(step, CA_KEY)?;
                pki::self_signed_ca(&ca_name, Some(&key), validity).map_err(issue_error(step))?
            }
            Action::Invalid(e) => return Err(e.clone().into()),
            Action::Blocked { ca_secret } => {
                return Err(CertBuildError::Blocked {
                    secret: step.secret.clone(),
                    ca_secret: ca_secret.clone(),
                });
            }
        };
        expires(&step.secret, &generated.cert_pem);
        secrets.push(secret_object(
            owner,
            &step.secret,
            None,
            [(CA_CERT, &generated.cert_pem), (CA_KEY, &generated.key_pem)],
        ));
        Ok(CaMaterial {
            cert_pem: generated.cert_pem,
            key_pem: Some(generated.key_pem),
        })
    };
    let server_ca = build_ca(&plan.server_ca, &mut secrets, &mut expires)?;
    let client_ca = if plan.client_ca.secret == plan.server_ca.secret {
        CaMaterial {
            cert_pem: server_ca.cert_pem.clone(),
            key_pem: server_ca.key_pem.clone(),
        }
    } else {
        build_ca(&plan.client_ca, &mut secrets, &mut expires)?
    };

    let server_names = server_dns_names(
        &owner.name,
        &owner.namespace,
        &observed.cluster_domain,
        &observed.config.server_alt_dns_names,
    );
    let leaves = [
        (
            &plan.server_tls,
            &server_ca,
            LeafRequest {
                common_name: format!("{}.{}.svc", service_rw(&owner.name), owner.namespace),
                dns_names: server_names,
                usage: LeafUsage::Server,
            },
        ),
        (
            &plan.replication,
            &client_ca,
            LeafRequest {
                common_name: REPLICATION_USER.to_string(),
                dns_names: Vec::new(),
                usage: LeafUsage::Client,
            },
        ),
    ];
    for (step, ca, request) in leaves {
        let sign = |key: Option<&str>| {
            let ca_key = ca
                .key_pem
                .as_deref()
                .ok_or_else(|| CertBuildError::Stale(step.secret.clone()))?;
            CaSigner::from_pem(&ca.cert_pem, ca_key)
                .and_then(|signer| {
                    signer.sign(
                        &request,
                        key,
                        Validity::from_now(now, CLOCK_SKEW, LEAF_VALIDITY),
                    )
                })
                .map_err(issue_error(step))
        };
        let leaf = match &step.action {
            Action::UserProvided { .. } => {
                expires(&step.secret, &existing(step, TLS_CERT)?);
                continue;
            }
            Action::Keep { .. } => KeyedCertificate {
                cert_pem: existing(step, TLS_CERT)?,
                key_pem: existing(step, TLS_KEY)?,
            },
            Action::Create(_) => sign(None)?,
            Action::Renew => sign(Some(&existing(step, TLS_KEY)?))?,
            Action::Invalid(e) => return Err(e.clone().into()),
            Action::Blocked { ca_secret } => {
                return Err(CertBuildError::Blocked {
                    secret: step.secret.clone(),
                    ca_secret: ca_secret.clone(),
                });
            }
        };
        expires(&step.secret, &leaf.cert_pem);
        secrets.push(secret_object(
            owner,
            &step.secret,
            Some("kubernetes.io/tls"),
            [(TLS_CERT, &leaf.cert_pem), (TLS_KEY, &leaf.key_pem)],
        ));
    }

    let status = CertificatesStatus {
        configuration: CertificatesConfiguration {
            server_ca_secret: Some(plan.server_ca.secret.clone()),
            server_tls_secret: Some(plan.server_tls.secret.clone()),
            replication_tls_secret: Some(plan.replication.secret.clone()),
            client_ca_secret: Some(plan.client_ca.secret.clone()),
            server_alt_dns_names: observed.config.server_alt_dns_names.clone(),
        },
        expirations,
    };
    Ok(IssuedCerts { secrets, status })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::build::meta::tests::stored_cluster;
    use crate::pki::tests::at;
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use std::sync::Arc;

    fn owner() -> Owner {
        Owner::of(&stored_cluster(1)).expect("stored cluster")
    }

    fn observe(config: &CertificatesConfiguration, secrets: &[Secret]) -> ObservedCerts {
        ObservedCerts {
            cluster: "pg".into(),
            namespace: "ns".into(),
            cluster_domain: "cluster.local".into(),
            config: config.clone(),
            secrets: secrets
                .iter()
                .map(|s| {
                    (
                        s.metadata.name.clone().unwrap_or_default(),
                        SecretData::from_secret(s),
                    )
                })
                .collect(),
        }
    }

    /// Plans and builds at `now` over `secrets`; returns what was applied merged over `secrets`
    /// (what the API server then holds).
    fn reconcile(
        config: &CertificatesConfiguration,
        secrets: &[Secret],
        now: DateTime<Utc>,
    ) -> (CertPlan, IssuedCerts, Vec<Secret>) {
        let observed = observe(config, secrets);
        let plan = plan(&observed, now);
        let issued = build(&owner(), &observed, &plan, now).expect("build");
        let mut after: BTreeMap<String, Secret> = secrets
            .iter()
            .map(|s| (s.metadata.name.clone().unwrap_or_default(), s.clone()))
            .collect();
        for s in &issued.secrets {
            after.insert(s.metadata.name.clone().unwrap_or_default(), s.clone());
        }
        (plan, issued, after.into_values().collect())
    }

    fn value(secrets: &[Secret], name: &str, key: &str) -> String {
        let secret = secrets
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no Secret {name}"));
        SecretData::from_secret(secret)
            .get_str(key)
            .unwrap_or_else(|| panic!("no key {key} in {name}"))
            .to_string()
    }

    fn without(secrets: &[Secret], name: &str, key: Option<&str>) -> Vec<Secret> {
        secrets
            .iter()
            .filter(|s| key.is_some() || s.metadata.name.as_deref() != Some(name))
            .cloned()
            .map(|mut s| {
                if s.metadata.name.as_deref() == Some(name)
                    && let (Some(key), Some(data)) = (key, s.data.as_mut())
                {
                    data.remove(key);
                }
                s
            })
            .collect()
    }

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from(
            pki::inspect_pem(pem.as_bytes())
                .expect("pem")
                .der()
                .to_vec(),
        )
    }

    fn unix(now: DateTime<Utc>) -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            u64::try_from(now.timestamp()).expect("after 1970"),
        ))
    }

    fn roots(ca_pem: &str) -> Arc<rustls::RootCertStore> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der(ca_pem)).expect("root");
        Arc::new(roots)
    }

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// What a TLS client of PostgreSQL does: verify the server certificate for `name`.
    fn verify_server(
        ca_pem: &str,
        cert_pem: &str,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), rustls::Error> {
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots(ca_pem), provider())
                .build()
                .expect("verifier");
        let name = ServerName::try_from(name.to_string()).expect("dns name");
        verifier
            .verify_server_cert(&der(cert_pem), &[], &name, &[], unix(now))
            .map(|_| ())
    }

    /// What PostgreSQL does with `ssl_ca_file`: verify a client certificate.
    fn verify_client(
        ca_pem: &str,
        cert_pem: &str,
        now: DateTime<Utc>,
    ) -> Result<(), rustls::Error> {
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(roots(ca_pem), provider())
                .build()
                .expect("verifier");
        verifier
            .verify_client_cert(&der(cert_pem), &[], unix(now))
            .map(|_| ())
    }

    /// (case, config, existing Secrets, now, [server CA, server TLS, replication] actions)
    type LifeCase<'a> = (
        &'a str,
        &'a CertificatesConfiguration,
        Vec<Secret>,
        DateTime<Utc>,
        [Action; 3],
    );

    /// (case, config, Secrets, the step refused, Secret and key its error must name)
    type RefusalCase<'a> = (
        &'a str,
        &'a CertificatesConfiguration,
        Vec<Secret>,
        fn(&CertPlan) -> &Step,
        &'a str,
        &'a str,
    );

    const GENERATED: [&str; 3] = ["pg-ca", "pg-replication", "pg-server"];

    #[test]
    fn server_names_cover_every_service_and_the_alt_names_once() {
        let names = server_dns_names(
            "pg",
            "ns",
            "example.internal",
            &["db.example.com".into(), "pg-rw".into()],
        );
        assert_eq!(
            names,
            [
                "pg-rw",
                "pg-rw.ns",
                "pg-rw.ns.svc",
                "pg-rw.ns.svc.example.internal",
                "pg-ro",
                "pg-ro.ns",
                "pg-ro.ns.svc",
                "pg-ro.ns.svc.example.internal",
                "pg-r",
                "pg-r.ns",
                "pg-r.ns.svc",
                "pg-r.ns.svc.example.internal",
                "db.example.com",
            ]
        );
    }

    #[test]
    fn generated_chains_verify_for_every_name_and_for_client_auth() {
        let config = CertificatesConfiguration {
            server_alt_dns_names: vec!["db.example.com".into()],
            ..CertificatesConfiguration::default()
        };
        let now = at(0);
        let (plan, issued, secrets) = reconcile(&config, &[], now);
        let names: Vec<_> = issued
            .secrets
            .iter()
            .filter_map(|s| s.metadata.name.clone())
            .collect();
        assert_eq!(names, ["pg-ca", "pg-server", "pg-replication"]);
        assert_eq!(
            plan.client_ca, plan.server_ca,
            "one generated CA plays both roles"
        );
        let ca = value(&secrets, "pg-ca", CA_CERT);
        let server = value(&secrets, "pg-server", TLS_CERT);
        for name in server_dns_names("pg", "ns", "cluster.local", &config.server_alt_dns_names) {
            verify_server(&ca, &server, &name, now).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert!(verify_server(&ca, &server, "pg-1", now).is_err());
        assert!(
            verify_server(&ca, &server, "pg-rw", at(91)).is_err(),
            "expired"
        );
        let replication = value(&secrets, "pg-replication", TLS_CERT);
        verify_client(&ca, &replication, now).expect("streaming_replica verifies");
        assert_eq!(
            pki::inspect_pem(replication.as_bytes())
                .expect("pem")
                .common_name
                .as_deref(),
            Some(REPLICATION_USER)
        );
        // A server certificate is not a client certificate and vice versa.
        assert!(verify_client(&ca, &server, now).is_err());
        let server_secret = &issued.secrets[1];
        assert_eq!(server_secret.type_.as_deref(), Some("kubernetes.io/tls"));
        assert_eq!(
            server_secret
                .metadata
                .owner_references
                .as_ref()
                .map(Vec::len),
            Some(1)
        );
        assert_eq!(
            issued.status.expirations,
            BTreeMap::from([
                ("pg-ca".to_string(), rfc3339(now + CA_VALIDITY)),
                ("pg-replication".to_string(), rfc3339(now + LEAF_VALIDITY)),
                ("pg-server".to_string(), rfc3339(now + LEAF_VALIDITY)),
            ])
        );
        assert_eq!(
            issued.status.configuration.server_tls_secret.as_deref(),
            Some("pg-server")
        );
        assert_eq!(
            issued.status.configuration.client_ca_secret.as_deref(),
            Some("pg-ca")
        );
    }

    #[test]
    fn plans_the_life_of_generated_certificates() {
        let none = CertificatesConfiguration::default();
        let (_, _, first) = reconcile(&none, &[], at(0));
        let ca_end = at(0) + CA_VALIDITY;
        let leaf_end = at(0) + LEAF_VALIDITY;
        let keep = |not_after| Action::Keep { not_after };
        let create = Action::Create;
        let other_key = pki::self_signed_ca(
            "x",
            None,
            Validity::from_now(at(0), CLOCK_SKEW, CA_VALIDITY),
        )
        .expect("key")
        .key_pem;
        let mut wrong_key = first.clone();
        for s in &mut wrong_key {
            if s.metadata.name.as_deref() == Some("pg-server")
                && let Some(data) = s.data.as_mut()
            {
                data.insert(TLS_KEY.into(), ByteString(other_key.clone().into_bytes()));
            }
        }
        let with_alt = CertificatesConfiguration {
            server_alt_dns_names: vec!["db.example.com".into()],
            ..none.clone()
        };
        // (case, config, secrets, now, [server CA, server TLS, replication])
        let cases: Vec<LifeCase> = vec![
            (
                "nothing yet",
                &none,
                vec![],
                at(0),
                [
                    create(CreateReason::Missing),
                    create(CreateReason::Missing),
                    create(CreateReason::Missing),
                ],
            ),
            (
                "all fresh",
                &none,
                first.clone(),
                at(10),
                [keep(ca_end), keep(leaf_end), keep(leaf_end)],
            ),
            (
                "a day before leaf renewal",
                &none,
                first.clone(),
                at(82),
                [keep(ca_end), keep(leaf_end), keep(leaf_end)],
            ),
            (
                "leaves 7 days from expiry",
                &none,
                first.clone(),
                at(83),
                [keep(ca_end), Action::Renew, Action::Renew],
            ),
            (
                "CA 30 days from expiry",
                &none,
                first.clone(),
                at(335),
                [Action::Renew, Action::Renew, Action::Renew],
            ),
            (
                "CA key lost",
                &none,
                without(&first, "pg-ca", Some(CA_KEY)),
                at(10),
                [
                    create(CreateReason::Unreadable),
                    create(CreateReason::NewIssuer),
                    create(CreateReason::NewIssuer),
                ],
            ),
            (
                "CA deleted",
                &none,
                without(&first, "pg-ca", None),
                at(10),
                [
                    create(CreateReason::Missing),
                    create(CreateReason::NewIssuer),
                    create(CreateReason::NewIssuer),
                ],
            ),
            (
                "server key replaced",
                &none,
                wrong_key,
                at(10),
                [
                    keep(ca_end),
                    create(CreateReason::Unreadable),
                    keep(leaf_end),
                ],
            ),
            (
                "server deleted",
                &none,
                without(&first, "pg-server", None),
                at(10),
                [keep(ca_end), create(CreateReason::Missing), keep(leaf_end)],
            ),
            (
                "alt name added",
                &with_alt,
                first.clone(),
                at(10),
                [
                    keep(ca_end),
                    create(CreateReason::NamesChanged),
                    keep(leaf_end),
                ],
            ),
        ];
        for (case, config, secrets, now, [ca, server, replication]) in cases {
            let plan = plan(&observe(config, &secrets), now);
            assert_eq!(plan.server_ca.action, ca, "{case}: server CA");
            assert_eq!(plan.client_ca, plan.server_ca, "{case}: client CA");
            assert_eq!(plan.server_tls.action, server, "{case}: server");
            assert_eq!(plan.replication.action, replication, "{case}: replication");
            assert!(plan.errors().is_empty(), "{case}");
            // Whatever the plan, building it gives a complete, verifying set.
            let observed = observe(config, &secrets);
            let issued = build(&owner(), &observed, &plan, now).expect(case);
            assert_eq!(issued.secrets.len(), 3, "{case}");
            let mut after = secrets.clone();
            after.retain(|s| !GENERATED.contains(&s.metadata.name.as_deref().unwrap_or_default()));
            after.extend(issued.secrets);
            let ca_pem = value(&after, "pg-ca", CA_CERT);
            verify_server(
                &ca_pem,
                &value(&after, "pg-server", TLS_CERT),
                "pg-rw.ns.svc",
                now,
            )
            .unwrap_or_else(|e| panic!("{case}: {e}"));
            verify_client(&ca_pem, &value(&after, "pg-replication", TLS_CERT), now)
                .unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(plan_after(config, &after, now), "keep", "{case}: settles");
        }
    }

    /// What the next reconcile plans right after one was applied: "keep" when it settled.
    fn plan_after(
        config: &CertificatesConfiguration,
        secrets: &[Secret],
        now: DateTime<Utc>,
    ) -> &'static str {
        let plan = plan(&observe(config, secrets), now);
        if plan
            .steps()
            .iter()
            .all(|s| matches!(s.action, Action::Keep { .. }))
        {
            "keep"
        } else {
            "changes"
        }
    }

    #[test]
    fn renewal_keeps_the_ca_so_existing_clients_keep_trusting() {
        let none = CertificatesConfiguration::default();
        let (_, _, first) = reconcile(&none, &[], at(0));
        let old_ca = value(&first, "pg-ca", CA_CERT);
        let old_ca_key = value(&first, "pg-ca", CA_KEY);

        // Leaf renewal: the CA Secret is re-applied byte for byte; new leaves verify with the
        // CA clients already hold, and keep their keys.
        let (plan, issued, renewed) = reconcile(&none, &first, at(84));
        assert_eq!(plan.server_tls.action, Action::Renew);
        assert_eq!(value(&renewed, "pg-ca", CA_CERT), old_ca);
        assert_eq!(value(&renewed, "pg-ca", CA_KEY), old_ca_key);
        assert_ne!(
            value(&renewed, "pg-server", TLS_CERT),
            value(&first, "pg-server", TLS_CERT)
        );
        assert_eq!(
            value(&renewed, "pg-server", TLS_KEY),
            value(&first, "pg-server", TLS_KEY)
        );
        verify_server(
            &old_ca,
            &value(&renewed, "pg-server", TLS_CERT),
            "pg-ro",
            at(100),
        )
        .expect("renewed server verifies with the old CA after the old one expired");
        assert_eq!(
            issued.status.expirations.get("pg-server"),
            Some(&rfc3339(at(84) + LEAF_VALIDITY))
        );

        // CA renewal, on the same key: certificates it signed before verify with the new CA
        // certificate, and what the new one signs verifies with the old one.
        let (_, _, mid) = reconcile(&none, &renewed, at(300));
        let (plan, _, after) = reconcile(&none, &mid, at(336));
        assert_eq!(plan.server_ca.action, Action::Renew);
        assert!(matches!(plan.server_tls.action, Action::Keep { .. }));
        let new_ca = value(&after, "pg-ca", CA_CERT);
        assert_ne!(new_ca, old_ca);
        assert_eq!(value(&after, "pg-ca", CA_KEY), old_ca_key);
        verify_server(
            &new_ca,
            &value(&mid, "pg-server", TLS_CERT),
            "pg-rw",
            at(370),
        )
        .expect("a leaf of the old CA certificate verifies with the new one");
        verify_client(&old_ca, &value(&mid, "pg-replication", TLS_CERT), at(336))
            .expect("clients holding the old CA certificate still trust");
        assert_eq!(
            pki::inspect_pem(new_ca.as_bytes()).expect("ca").not_after,
            at(336) + CA_VALIDITY
        );
    }

    /// A user CA and certificates it signs, shaped as cert-manager writes Secrets.
    struct UserPki {
        ca: KeyedCertificate,
        signer: CaSigner,
    }

    impl UserPki {
        fn new(name: &str) -> Self {
            let ca = pki::self_signed_ca(
                name,
                None,
                Validity::from_now(at(-10), Duration::zero(), CA_VALIDITY),
            )
            .expect("user ca");
            let signer = CaSigner::from_pem(&ca.cert_pem, &ca.key_pem).expect("signer");
            Self { ca, signer }
        }

        fn leaf(
            &self,
            common_name: &str,
            usage: LeafUsage,
            from: i64,
            to: i64,
        ) -> KeyedCertificate {
            let request = LeafRequest {
                common_name: common_name.into(),
                dns_names: if usage == LeafUsage::Server {
                    server_dns_names("pg", "ns", "cluster.local", &[])
                } else {
                    vec![]
                },
                usage,
            };
            self.signer
                .sign(
                    &request,
                    None,
                    Validity {
                        not_before: at(from),
                        not_after: at(to),
                    },
                )
                .expect("leaf")
        }

        /// A cert-manager Secret: the issuing CA beside the certificate and its key.
        fn cert_manager_secret(&self, name: &str, leaf: &KeyedCertificate) -> Secret {
            secret(
                name,
                &[
                    (CA_CERT, &self.ca.cert_pem),
                    (TLS_CERT, &leaf.cert_pem),
                    (TLS_KEY, &leaf.key_pem),
                ],
            )
        }

        fn ca_secret(&self, name: &str, with_key: bool) -> Secret {
            let mut pairs = vec![(CA_CERT, self.ca.cert_pem.as_str())];
            if with_key {
                pairs.push((CA_KEY, &self.ca.key_pem));
            }
            secret(name, &pairs)
        }
    }

    fn secret(name: &str, pairs: &[(&str, &str)]) -> Secret {
        let mut s = Secret::default();
        s.metadata.name = Some(name.into());
        s.data = Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        );
        s
    }

    fn cert_manager_config(server: &str, client: &str) -> CertificatesConfiguration {
        CertificatesConfiguration {
            server_ca_secret: Some(server.into()),
            server_tls_secret: Some(server.into()),
            client_ca_secret: Some(client.into()),
            replication_tls_secret: Some(client.into()),
            server_alt_dns_names: vec![],
        }
    }

    #[test]
    fn cert_manager_secrets_of_the_example_are_used_as_given() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/cluster-cert-manager.yaml");
        let text = std::fs::read_to_string(&path).expect("example");
        let cluster: pgfed_api::cluster::Cluster = serde_norway::from_str(&text).expect("cluster");
        let config = cluster.spec.certificates.expect("certificates");
        let server_secret = config.server_tls_secret.clone().expect("server secret");
        let client_secret = config
            .replication_tls_secret
            .clone()
            .expect("replication secret");
        let issuer = UserPki::new("cert-manager CA");
        let server = issuer.leaf("pg-rw", LeafUsage::Server, -10, 80);
        let replication = issuer.leaf(REPLICATION_USER, LeafUsage::Client, -10, 70);
        let secrets = [
            issuer.cert_manager_secret(&server_secret, &server),
            issuer.cert_manager_secret(&client_secret, &replication),
        ];
        assert_eq!(
            secrets_to_read("pg", &config),
            BTreeSet::from([server_secret.clone(), client_secret.clone()])
        );
        let observed = observe(&config, &secrets);
        let plan = plan(&observed, at(0));
        for step in plan.steps() {
            assert!(
                matches!(step.action, Action::UserProvided { .. }),
                "{step:?}"
            );
        }
        assert_eq!(plan.next_check(), Some(at(70)), "the earliest user expiry");
        let issued = build(&owner(), &observed, &plan, at(0)).expect("build");
        assert!(issued.secrets.is_empty(), "user Secrets are never written");
        assert_eq!(issued.status.configuration, config);
        assert_eq!(
            issued.status.expirations,
            BTreeMap::from([
                (server_secret, rfc3339(at(80))),
                (client_secret, rfc3339(at(70))),
            ])
        );
    }

    #[test]
    fn a_user_ca_with_its_key_signs_the_certificates_the_user_did_not_give() {
        let issuer = UserPki::new("corporate CA");
        let config = CertificatesConfiguration {
            server_ca_secret: Some("corp-ca".into()),
            ..CertificatesConfiguration::default()
        };
        let (plan, issued, secrets) =
            reconcile(&config, &[issuer.ca_secret("corp-ca", true)], at(0));
        assert!(matches!(plan.server_ca.action, Action::UserProvided { .. }));
        assert_eq!(
            plan.client_ca.secret, "pg-ca",
            "clients still get the generated CA"
        );
        let written: Vec<_> = issued
            .secrets
            .iter()
            .filter_map(|s| s.metadata.name.clone())
            .collect();
        assert_eq!(written, ["pg-ca", "pg-server", "pg-replication"]);
        verify_server(
            &issuer.ca.cert_pem,
            &value(&secrets, "pg-server", TLS_CERT),
            "pg-r.ns.svc.cluster.local",
            at(0),
        )
        .expect("server signed by the user's CA");
        verify_client(
            &value(&secrets, "pg-ca", CA_CERT),
            &value(&secrets, "pg-replication", TLS_CERT),
            at(0),
        )
        .expect("replication signed by the generated client CA");
        assert_eq!(
            plan_after(&config, &secrets, at(1)),
            "changes",
            "user CA is never 'kept'"
        );
        let again = super::plan(&observe(&config, &secrets), at(1));
        assert!(matches!(again.server_tls.action, Action::Keep { .. }));
    }

    #[test]
    fn bad_user_secrets_are_refused_by_name_and_key() {
        let issuer = UserPki::new("user CA");
        let other = UserPki::new("other CA");
        let good_server = issuer.leaf("pg-rw", LeafUsage::Server, -10, 80);
        let good_repl = issuer.leaf(REPLICATION_USER, LeafUsage::Client, -10, 80);
        let expired = issuer.leaf("pg-rw", LeafUsage::Server, -100, -1);
        let foreign = other.leaf("pg-rw", LeafUsage::Server, -10, 80);
        let app_user = issuer.leaf("app", LeafUsage::Client, -10, 80);
        let cm = cert_manager_config("srv", "cli");
        let ca_only = CertificatesConfiguration {
            server_ca_secret: Some("srv".into()),
            ..CertificatesConfiguration::default()
        };
        let tls_only = CertificatesConfiguration {
            server_tls_secret: Some("srv".into()),
            ..CertificatesConfiguration::default()
        };
        let good_cli = issuer.cert_manager_secret("cli", &good_repl);
        let mut mismatched = issuer.cert_manager_secret("srv", &good_server);
        if let Some(data) = mismatched.data.as_mut() {
            data.insert(
                TLS_KEY.into(),
                ByteString(good_repl.key_pem.clone().into_bytes()),
            );
        }
        let garbage = secret(
            "srv",
            &[
                (
                    CA_CERT,
                    "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
                ),
                (TLS_CERT, &good_server.cert_pem),
                (TLS_KEY, &good_server.key_pem),
            ],
        );
        let leaf_as_ca = secret(
            "srv",
            &[
                (CA_CERT, &good_server.cert_pem),
                (TLS_CERT, &good_server.cert_pem),
                (TLS_KEY, &good_server.key_pem),
            ],
        );
        // (case, config, secrets, which step, secret and key the error must name)
        let cases: Vec<RefusalCase> = vec![
            (
                "CA Secret missing",
                &cm,
                vec![good_cli.clone()],
                |p| &p.server_ca,
                "srv",
                "serverCASecret",
            ),
            (
                "CA without key, operator must sign",
                &ca_only,
                vec![issuer.ca_secret("srv", false)],
                |p| &p.server_ca,
                "srv",
                CA_KEY,
            ),
            (
                "CA key of another CA",
                &ca_only,
                vec![secret(
                    "srv",
                    &[(CA_CERT, &issuer.ca.cert_pem), (CA_KEY, &other.ca.key_pem)],
                )],
                |p| &p.server_ca,
                "srv",
                CA_KEY,
            ),
            (
                "CA is not a CA",
                &cm,
                vec![leaf_as_ca, good_cli.clone()],
                |p| &p.server_ca,
                "srv",
                CA_CERT,
            ),
            (
                "CA does not parse",
                &cm,
                vec![garbage, good_cli.clone()],
                |p| &p.server_ca,
                "srv",
                CA_CERT,
            ),
            (
                "server expired",
                &cm,
                vec![
                    issuer.cert_manager_secret("srv", &expired),
                    good_cli.clone(),
                ],
                |p| &p.server_tls,
                "srv",
                TLS_CERT,
            ),
            (
                "server of another CA",
                &cm,
                vec![
                    issuer.cert_manager_secret("srv", &foreign),
                    good_cli.clone(),
                ],
                |p| &p.server_tls,
                "srv",
                TLS_CERT,
            ),
            (
                "server key of another cert",
                &cm,
                vec![mismatched, good_cli.clone()],
                |p| &p.server_tls,
                "srv",
                TLS_KEY,
            ),
            (
                "replication for another user",
                &cm,
                vec![
                    issuer.cert_manager_secret("srv", &good_server),
                    issuer.cert_manager_secret("cli", &app_user),
                ],
                |p| &p.replication,
                "cli",
                TLS_CERT,
            ),
            (
                "server certificate without its CA",
                &tls_only,
                vec![issuer.cert_manager_secret("srv", &good_server)],
                |p| &p.server_tls,
                "serverTLSSecret",
                "serverCASecret",
            ),
        ];
        for (case, config, secrets, step_of, secret_name, key) in cases {
            let observed = observe(config, &secrets);
            let plan = plan(&observed, at(0));
            let step = step_of(&plan);
            let Action::Invalid(error) = &step.action else {
                panic!("{case}: {step:?}");
            };
            let message = error.to_string();
            assert!(
                message.contains(secret_name) && message.contains(key),
                "{case}: {message}"
            );
            assert!(!plan.errors().is_empty(), "{case}");
            assert!(
                matches!(
                    build(&owner(), &observed, &plan, at(0)),
                    Err(CertBuildError::UserSecret(_))
                ),
                "{case}: nothing is issued"
            );
        }
        // A generated certificate whose user CA is unusable waits for it.
        let plan = plan(&observe(&ca_only, &[issuer.ca_secret("srv", false)]), at(0));
        assert_eq!(
            plan.server_tls.action,
            Action::Blocked {
                ca_secret: "srv".into()
            }
        );
        assert!(matches!(
            plan.replication.action,
            Action::Create(CreateReason::Missing)
        ));
    }

    #[test]
    fn debug_output_never_contains_secret_material() {
        let (_, _, secrets) = reconcile(&CertificatesConfiguration::default(), &[], at(0));
        let observed = observe(&CertificatesConfiguration::default(), &secrets);
        let key = value(&secrets, "pg-ca", CA_KEY);
        let body = key.lines().nth(1).expect("key body");
        let shown = format!("{observed:?}");
        assert!(shown.contains(CA_KEY), "keys are listed: {shown}");
        assert!(!shown.contains(body));
    }
}
