//! Certificates the user provides (cert-manager or by hand): used as given, signing with a user CA, refusals by Secret and key.

use super::*;

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
