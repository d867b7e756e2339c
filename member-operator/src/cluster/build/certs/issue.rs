//! Carrying a plan out: the generated Secrets to apply and `status.certificates`.

use super::*;
use crate::cluster::build::meta::Owner;
use crate::pki::{CaSigner, KeyedCertificate, LeafRequest, LeafUsage, PkiError, Validity};
use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::ByteString;
use pgfed_api::cluster::CertificatesStatus;
use pgfed_api::names::{REPLICATION_USER, service_rw};
use std::collections::BTreeMap;

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

/// Why `step`, which the plan says cannot be carried out, is refused.
fn refusal(step: &Step) -> CertBuildError {
    match &step.action {
        Action::Blocked { ca_secret } => CertBuildError::Blocked {
            secret: step.secret.clone(),
            ca_secret: ca_secret.clone(),
        },
        Action::Invalid(e) => e.clone().into(),
        _ => CertBuildError::Stale(step.secret.clone()),
    }
}

pub(super) fn rfc3339(t: DateTime<Utc>) -> String {
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
        let ca_name = ca_common_name(&observed.cluster, &observed.namespace);
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
            Action::Invalid(_) | Action::Blocked { .. } => return Err(refusal(step)),
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

    let leaves = [
        (
            &plan.server_tls,
            &server_ca,
            LeafRequest {
                common_name: format!(
                    "{}.{}.svc",
                    service_rw(&observed.cluster),
                    observed.namespace
                ),
                dns_names: observed.server_dns_names(),
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
            Action::Invalid(_) | Action::Blocked { .. } => return Err(refusal(step)),
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
