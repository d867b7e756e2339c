//! Certificates of the webhook: a self-signed CA and a serving certificate for the webhook
//! Service's DNS names. Generation and the renewal decision are pure.

use chrono::{DateTime, Duration, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// How long a generated serving certificate is valid.
pub const VALIDITY: Duration = Duration::days(90);
/// Renew when less than this is left.
pub const RENEW_BEFORE: Duration = Duration::days(30);

/// PEM material of the webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookCertificate {
    /// CA certificate: goes into the webhook configurations' caBundle.
    pub ca_pem: String,
    /// Serving certificate.
    pub cert_pem: String,
    /// Serving key.
    pub key_pem: String,
    /// When the serving certificate expires.
    pub not_after: DateTime<Utc>,
}

/// The DNS names a Service is reached by from the API server.
pub fn service_dns_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_string(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

/// Generates a fresh CA and a serving certificate for `service.namespace`, valid from an hour ago
/// (clock skew) until `now + VALIDITY`.
pub fn generate(
    service: &str,
    namespace: &str,
    now: DateTime<Utc>,
) -> Result<WebhookCertificate, rcgen::Error> {
    use chrono::Datelike;
    // rcgen takes calendar dates; day precision is plenty for a 90-day certificate.
    // Months (1-12) and days (1-31) always fit in u8.
    let day = |t: DateTime<Utc>| rcgen::date_time_ymd(t.year(), t.month() as u8, t.day() as u8);
    let not_after = now + VALIDITY;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    let mut ca_dn = DistinguishedName::new();
    ca_dn.push(DnType::CommonName, "pgfed webhook CA");
    ca_params.distinguished_name = ca_dn;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_before = day(now - Duration::days(1));
    ca_params.not_after = day(not_after + Duration::days(1));
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut leaf = CertificateParams::new(service_dns_names(service, namespace))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("{service}.{namespace}.svc"));
    leaf.distinguished_name = dn;
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = day(now - Duration::days(1));
    leaf.not_after = day(not_after);
    let leaf_key = KeyPair::generate()?;
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;
    Ok(WebhookCertificate {
        ca_pem: ca_cert.pem(),
        cert_pem: leaf_cert.pem(),
        key_pem: leaf_key.serialize_pem(),
        not_after,
    })
}

/// Whether a certificate expiring at `not_after` (None: unknown) must be replaced at `now`.
pub fn needs_renewal(not_after: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    match not_after {
        None => true,
        Some(t) => t - now < RENEW_BEFORE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_decisions() {
        let now = Utc::now();
        assert!(needs_renewal(None, now));
        assert!(needs_renewal(Some(now + Duration::days(29)), now));
        assert!(needs_renewal(Some(now - Duration::days(1)), now));
        assert!(!needs_renewal(Some(now + Duration::days(31)), now));
    }

    #[tokio::test]
    async fn generated_certificate_serves_tls_for_the_service_name() {
        use std::sync::Arc;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let cert = generate("pgfed-webhook", "pgfed-system", Utc::now()).expect("generate");
        let acceptor = pgfed_tls::acceptor(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes(), None)
            .expect("server config");
        let mut roots = rustls::RootCertStore::empty();
        for ca in rustls_pemfile::certs(&mut cert.ca_pem.as_bytes()) {
            roots.add(ca.expect("ca pem")).expect("root");
        }
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let (client_io, server_io) = tokio::io::duplex(16 * 1024);
        let server = tokio::spawn(async move {
            let mut tls = acceptor.accept(server_io).await.expect("server handshake");
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).await.expect("read");
            tls.write_all(&buf).await.expect("echo");
            tls.flush().await.expect("flush");
        });
        let name = rustls::pki_types::ServerName::try_from("pgfed-webhook.pgfed-system.svc")
            .expect("dns name");
        let mut tls = connector
            .connect(name, client_io)
            .await
            .expect("client handshake verifies the CA and name");
        tls.write_all(b"ping").await.expect("write");
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.expect("read");
        assert_eq!(&buf, b"ping");
        server.await.expect("server task");

        // A different name is refused by the client: the SANs are exactly the Service's names.
        let (client_io, server_io) = tokio::io::duplex(16 * 1024);
        let acceptor = pgfed_tls::acceptor(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes(), None)
            .expect("server config");
        tokio::spawn(async move {
            let _ = acceptor.accept(server_io).await;
        });
        let wrong = rustls::pki_types::ServerName::try_from("evil.example.com").expect("dns name");
        assert!(connector.connect(wrong, client_io).await.is_err());
    }
}
