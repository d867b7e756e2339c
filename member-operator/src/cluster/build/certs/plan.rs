//! The decision: what to do with each certificate Secret of a Cluster at a given time.

use super::*;
use crate::pki::{CertificateFacts, InspectError};
use chrono::{DateTime, Utc};
use pgfed_api::names::REPLICATION_USER;
use std::collections::BTreeSet;

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
    /// The operator must sign with a user CA whose subject it cannot write back as the issuer
    /// of what it signs (a multi-valued RDN, or an attribute type twice).
    #[error(
        "the CA certificate in key {key} of Secret {secret} has a subject name the operator cannot sign with (one attribute per RDN, each type once); give the certificates it would sign instead"
    )]
    UnsupportedCaName {
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
    /// A user Secret has the name of a Secret the operator generates for another role; writing it
    /// would overwrite the user's.
    #[error(
        "Secret {secret} is named in certificates.{field} but is also the name of the Secret the operator generates for certificates.{generated_for}; name it differently or give certificates.{generated_for} too"
    )]
    NameClash {
        /// Secret name.
        secret: String,
        /// The field naming the user's Secret.
        field: &'static str,
        /// The role the operator would generate it for.
        generated_for: &'static str,
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
    pub(super) fn steps(&self) -> [&Step; 4] {
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

/// The user field naming `secret`, if the user gave a Secret of that name for any role.
fn user_field_naming(config: &CertificatesConfiguration, secret: &str) -> Option<&'static str> {
    ROLES
        .iter()
        .find(|role| role.user_secret(config) == Some(secret))
        .map(|role| role.field())
}

/// Refuses to generate into a Secret the user gave for another role.
fn clash(observed: &ObservedCerts, role: CertRole, secret: &str) -> Option<Action> {
    user_field_naming(&observed.config, secret).map(|field| {
        Action::Invalid(UserSecretError::NameClash {
            secret: secret.to_string(),
            field,
            generated_for: role.field(),
        })
    })
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

/// Checks that key `key` of a user Secret holds the private key of `facts`; `why` says why the
/// key is needed when it is needed only sometimes.
fn user_key(
    secret: &str,
    data: &SecretData,
    facts: &CertificateFacts,
    key: &'static str,
    why: &'static str,
) -> Result<(), UserSecretError> {
    let pem = data.get_str(key).ok_or(UserSecretError::MissingKey {
        secret: secret.to_string(),
        key,
        why,
    })?;
    if facts.has_key(pem) {
        Ok(())
    } else {
        Err(UserSecretError::KeyMismatch {
            secret: secret.to_string(),
            key,
        })
    }
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
                if must_sign && !facts.signs_with_exact_name {
                    return Err(UserSecretError::UnsupportedCaName {
                        secret: secret.clone(),
                        key: CA_CERT,
                    });
                }
                if must_sign {
                    user_key(
                        &secret,
                        data,
                        &facts,
                        CA_KEY,
                        " (the operator signs the certificate it does not find in spec.certificates with it)",
                    )?;
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
    if let Some(action) = clash(observed, role, &secret) {
        return CaOutcome {
            step: step(action),
            facts: None,
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
    } else if let Some(action) = clash(observed, role, &secret) {
        action
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
    user_key(secret, data, &facts, TLS_KEY, "")?;
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
    let server_names = observed.server_dns_names();
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
