//! Certificates and credentials, the first writes of a reconcile (pods mount them): the
//! certificate Secrets issued or renewed, the application owner's and the superuser's
//! credentials (the user's, checked, or generated and kept), and the Secrets the pods mount.

use super::Settings;
use crate::cluster::apply::{self, ensure};
use crate::cluster::build::certs::{self, ObservedCerts, SecretData};
use crate::cluster::build::credentials::{self, Login};
use crate::cluster::build::meta::Owner;
use crate::cluster::build::pod::PodSecrets;
use crate::cluster::error::ReconcileError;
use crate::cluster::observe::Observed;
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Secret;
use kube::{Client, ResourceExt};
use pgfed_api::cluster::{CertificatesStatus, Cluster};
use pgfed_api::names::{secret_app, secret_superuser};
use std::collections::BTreeSet;

/// What the pods mount, once it exists, and `status.certificates`.
pub struct Credentials {
    /// The Secrets each instance pod mounts.
    pub secrets: PodSecrets,
    /// The Secret playing each certificate role and when each expires.
    pub certificates: CertificatesStatus,
}

/// Issues or renews the certificates and writes the generated credentials; checks the Secrets
/// the user names. A Secret the spec names but that does not exist is an error naming the field.
pub async fn ensure_all(
    client: &Client,
    cluster: &Cluster,
    owner: &Owner,
    settings: &Settings,
    observed: &Observed,
    now: DateTime<Utc>,
) -> Result<Credentials, ReconcileError> {
    let name = &owner.name;
    let spec = &cluster.spec;

    // Certificates.
    let cert_config = spec.certificates.clone().unwrap_or_default();
    let to_read = certs::secrets_to_read(name, &cert_config);
    let observed_certs = ObservedCerts {
        cluster: name.clone(),
        namespace: owner.namespace.clone(),
        cluster_domain: settings.cluster_domain.clone(),
        config: cert_config.clone(),
        secrets: observed
            .secrets
            .iter()
            .filter(|(n, _)| to_read.contains(*n))
            .map(|(n, s)| (n.clone(), SecretData::from_secret(s)))
            .collect(),
    };
    let cert_plan = certs::plan(&observed_certs, now);
    let issued = certs::build(owner, &observed_certs, &cert_plan, now)?;
    for secret in issued.secrets {
        let live = observed.secrets.get(&secret.name_any());
        ensure(client, secret, live).await?;
    }

    // Credentials.
    let app_name = app_secret_name(cluster, name);
    let initdb = spec.bootstrap.as_ref().and_then(|b| b.initdb.as_ref());
    let creates_app_owner = spec.bootstrap.as_ref().is_none_or(|b| b.initdb.is_some());
    let mut app_secret = None;
    if creates_app_owner {
        let database = initdb
            .and_then(|i| i.database.clone())
            .unwrap_or_else(|| pgfed_api::names::DEFAULT_DATABASE.to_string());
        let owner_role = initdb
            .and_then(|i| i.owner.clone())
            .unwrap_or_else(|| database.clone());
        let user_given = initdb
            .and_then(|i| i.secret.as_ref())
            .map(|_| "spec.bootstrap.initdb.secret");
        if let Some(secret) = credentials_secret(
            observed,
            owner,
            settings,
            &app_name,
            user_given,
            (&owner_role, &database),
        )? {
            ensure(client, secret, observed.secrets.get(&app_name)).await?;
        }
        app_secret = Some(app_name.clone());
    }
    let mut superuser_secret = None;
    if spec.enable_superuser_access == Some(true) {
        let su_name = spec
            .superuser_secret
            .as_ref()
            .map_or_else(|| secret_superuser(name), |s| s.name.clone());
        let user_given = spec
            .superuser_secret
            .as_ref()
            .map(|_| "spec.superuserSecret");
        if let Some(secret) = credentials_secret(
            observed,
            owner,
            settings,
            &su_name,
            user_given,
            ("postgres", "*"),
        )? {
            ensure(client, secret, observed.secrets.get(&su_name)).await?;
        }
        superuser_secret = Some(su_name);
    }
    let missing = |m: credentials::MissingRoleSecret| ReconcileError::MissingReference {
        kind: "Secret",
        name: m.name,
        field: m.field,
    };
    let role_secrets =
        credentials::role_password_secrets(cluster, |n| observed.secrets.contains_key(n))
            .map_err(missing)?;
    let mut external_secrets =
        credentials::external_cluster_secrets(cluster, |n| observed.secrets.contains_key(n))
            .map_err(missing)?;
    // The object stores' credentials: the manager archives WAL and takes backups with them.
    external_secrets.extend(
        credentials::object_store_secrets(cluster, |n| observed.secrets.contains_key(n))
            .map_err(missing)?,
    );
    Ok(Credentials {
        secrets: PodSecrets {
            server_tls: certs::CertRole::ServerTls.secret(name, &cert_config).0,
            server_ca: certs::CertRole::ServerCa.secret(name, &cert_config).0,
            replication_tls: certs::CertRole::Replication.secret(name, &cert_config).0,
            client_ca: certs::CertRole::ClientCa.secret(name, &cert_config).0,
            app: app_secret,
            superuser: superuser_secret,
            roles: role_secrets,
            external: external_secrets,
        },
        certificates: issued.status,
    })
}

/// The Secrets this Cluster's spec names: certificate Secrets and credentials.
pub fn referenced_secrets(cluster: &Cluster, name: &str) -> BTreeSet<String> {
    let spec = &cluster.spec;
    let mut names = certs::secrets_to_read(name, &spec.certificates.clone().unwrap_or_default());
    names.insert(app_secret_name(cluster, name));
    if let Some(s) = &spec.superuser_secret {
        names.insert(s.name.clone());
    }
    let roles = spec.managed.iter().flat_map(|m| &m.roles);
    names.extend(roles.filter_map(|r| r.password_secret.as_ref().map(|s| s.name.clone())));
    for external in &spec.external_clusters {
        let tls = [
            &external.ssl_cert,
            &external.ssl_key,
            &external.ssl_root_cert,
        ];
        names.extend(tls.into_iter().flatten().map(|s| s.name.clone()));
    }
    let stores = spec
        .backup
        .iter()
        .filter_map(|b| b.barman_object_store.as_ref())
        .chain(spec.fencing_lease_store())
        .chain(
            spec.external_clusters
                .iter()
                .filter_map(|e| e.barman_object_store.as_ref()),
        );
    for store in stores {
        names.extend(
            store
                .secret_selectors()
                .into_iter()
                .map(|(_, s)| s.name.clone()),
        );
    }
    names
}

/// The application owner's credentials Secret: the user's, or the generated one.
fn app_secret_name(cluster: &Cluster, name: &str) -> String {
    cluster
        .spec
        .bootstrap
        .as_ref()
        .and_then(|b| b.initdb.as_ref())
        .and_then(|i| i.secret.as_ref())
        .map_or_else(|| secret_app(name), |s| s.name.clone())
}

/// A new random password: 32 characters from 62, about 190 bits.
fn generate_password() -> Result<String, ReconcileError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 64];
    getrandom::fill(&mut bytes).map_err(|e| ReconcileError::Random(e.to_string()))?;
    // Rejection sampling keeps the characters uniform.
    let password: String = bytes
        .iter()
        .filter(|b| usize::from(**b) < 248)
        .take(32)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    if password.len() < 32 {
        return Err(ReconcileError::Random("not enough random bytes".into()));
    }
    Ok(password)
}

/// A key of a Secret, from `data` or `stringData`.
fn secret_value(secret: &Secret, key: &str) -> Option<String> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .and_then(|v| String::from_utf8(v.0.clone()).ok())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key).cloned())
        })
}

/// The credentials Secret `name` for `username`: the user's (which must exist and hold a
/// password) or the generated one (its password kept once generated).
fn credentials_secret(
    observed: &Observed,
    owner: &Owner,
    settings: &Settings,
    name: &str,
    user_given: Option<&str>,
    login: (&str, &str),
) -> Result<Option<Secret>, ReconcileError> {
    if let Some(field) = user_given {
        let secret =
            observed
                .secrets
                .get(name)
                .ok_or_else(|| ReconcileError::MissingReference {
                    kind: "Secret",
                    name: name.to_string(),
                    field: field.to_string(),
                })?;
        if secret_value(secret, "password").is_none() {
            return Err(ReconcileError::MissingKey {
                kind: "Secret",
                name: name.to_string(),
                key: "password".into(),
                field: field.to_string(),
            });
        }
        return Ok(None);
    }
    let password = match observed
        .secrets
        .get(name)
        .filter(|s| apply::owned_by(*s, &owner.uid))
        .and_then(|s| secret_value(s, "password"))
    {
        Some(existing) => existing,
        None => generate_password()?,
    };
    let login = Login {
        username: login.0.to_string(),
        password,
        dbname: login.1.to_string(),
    };
    Ok(Some(credentials::build(
        owner,
        name,
        &login,
        &settings.cluster_domain,
    )))
}
