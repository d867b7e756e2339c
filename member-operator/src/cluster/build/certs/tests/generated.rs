//! Certificates the operator generates: chains that verify, the plan over their life, renewal on the same CA key.

use super::*;

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
