//! Tests of the certificate plan and builder: chains verified as TLS clients and PostgreSQL
//! verify them (rustls/webpki), the life of generated certificates, user Secrets.

use super::*;
use crate::cluster::build::meta::Owner;
use crate::cluster::build::meta::tests::stored_cluster;
use crate::pki::tests::at;
use crate::pki::{CaSigner, KeyedCertificate, LeafRequest, LeafUsage, Validity};
use chrono::{DateTime, Utc};
use k8s_openapi::ByteString;
use pgfed_api::names::REPLICATION_USER;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub(super) fn owner() -> Owner {
    Owner::of(&stored_cluster(1)).expect("stored cluster")
}

pub(super) fn observe(config: &CertificatesConfiguration, secrets: &[Secret]) -> ObservedCerts {
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
pub(super) fn reconcile(
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

pub(super) fn value(secrets: &[Secret], name: &str, key: &str) -> String {
    let secret = secrets
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no Secret {name}"));
    SecretData::from_secret(secret)
        .get_str(key)
        .unwrap_or_else(|| panic!("no key {key} in {name}"))
        .to_string()
}

pub(super) fn without(secrets: &[Secret], name: &str, key: Option<&str>) -> Vec<Secret> {
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

pub(super) fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from(
        pki::inspect_pem(pem.as_bytes())
            .expect("pem")
            .der()
            .to_vec(),
    )
}

pub(super) fn unix(now: DateTime<Utc>) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(now.timestamp()).expect("after 1970"),
    ))
}

pub(super) fn roots(ca_pem: &str) -> Arc<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der(ca_pem)).expect("root");
    Arc::new(roots)
}

pub(super) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// What a TLS client of PostgreSQL does: verify the server certificate for `name`.
pub(super) fn verify_server(
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
pub(super) fn verify_client(
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
pub(super) type LifeCase<'a> = (
    &'a str,
    &'a CertificatesConfiguration,
    Vec<Secret>,
    DateTime<Utc>,
    [Action; 3],
);

/// (case, config, Secrets, the step refused, Secret and key its error must name)
pub(super) type RefusalCase<'a> = (
    &'a str,
    &'a CertificatesConfiguration,
    Vec<Secret>,
    fn(&CertPlan) -> &Step,
    &'a str,
    &'a str,
);

pub(super) const GENERATED: [&str; 3] = ["pg-ca", "pg-replication", "pg-server"];

/// What the next reconcile plans right after one was applied: "keep" when it settled.
pub(super) fn plan_after(
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

mod generated;
mod user_secrets;

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
fn debug_output_never_contains_secret_material() {
    let (_, _, secrets) = reconcile(&CertificatesConfiguration::default(), &[], at(0));
    let observed = observe(&CertificatesConfiguration::default(), &secrets);
    let key = value(&secrets, "pg-ca", CA_KEY);
    let body = key.lines().nth(1).expect("key body");
    let shown = format!("{observed:?}");
    assert!(shown.contains(CA_KEY), "keys are listed: {shown}");
    assert!(!shown.contains(body));
}
