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
fn verify_client(ca_pem: &str, cert_pem: &str, now: DateTime<Utc>) -> Result<(), rustls::Error> {
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

    fn leaf(&self, common_name: &str, usage: LeafUsage, from: i64, to: i64) -> KeyedCertificate {
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
    let (plan, issued, secrets) = reconcile(&config, &[issuer.ca_secret("corp-ca", true)], at(0));
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
    // A CA whose name rcgen cannot write back would sign certificates that chain to nothing
    // (and be re-signed on every reconcile): refused while it is valid.
    let two_ou = [secret("srv", &[(CA_CERT, crate::pki::tests::TWO_OU_CA)])];
    let plan = super::plan(&observe(&ca_only, &two_ou), at(1000));
    assert!(
        matches!(
            &plan.server_ca.action,
            Action::Invalid(UserSecretError::UnsupportedCaName { secret, key: CA_CERT }) if secret == "srv"
        ),
        "{:?}",
        plan.server_ca
    );
    // Used as given when the operator signs nothing with it.
    let plan = super::plan(
        &observe(&cert_manager_config("srv", "cli"), &two_ou),
        at(1000),
    );
    assert!(
        matches!(&plan.server_ca.action, Action::UserProvided { .. }),
        "{:?}",
        plan.server_ca
    );
    // The user's Secret named as the operator names its generated CA is never overwritten.
    let taken = CertificatesConfiguration {
        server_ca_secret: Some("pg-ca".into()),
        ..CertificatesConfiguration::default()
    };
    let observed = observe(&taken, &[issuer.ca_secret("pg-ca", true)]);
    let plan = super::plan(&observed, at(0));
    let Action::Invalid(error) = &plan.client_ca.action else {
        panic!("{:?}", plan.client_ca);
    };
    assert!(error.to_string().contains("clientCASecret"), "{error}");
    assert!(build(&owner(), &observed, &plan, at(0)).is_err());
    // A generated certificate whose user CA is unusable waits for it.
    let plan = super::plan(&observe(&ca_only, &[issuer.ca_secret("srv", false)]), at(0));
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
