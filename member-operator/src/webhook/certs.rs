//! Certificates of the webhook: a self-signed CA and a serving certificate for the webhook
//! Service's DNS names, and the decisions around them (renew now? what to do with what the Secret
//! holds? which CAs does the API server trust?). Everything here is pure.

use crate::pki::{self, CaSigner, LeafRequest, LeafUsage, PkiError, Validity};
use chrono::{DateTime, Duration, NaiveTime, Utc};

/// How long a generated serving certificate is valid.
pub const VALIDITY: Duration = Duration::days(90);
/// How often a running operator looks at the Secret even when its own certificate is far from
/// renewal: another replica may have renewed it, and this one must then serve the new one.
pub const CHECK_INTERVAL: Duration = Duration::minutes(10);

/// PEM material of the webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookCertificate {
    /// The CAs the API server must trust: the CA that signed `cert_pem` first, then the CA of the
    /// certificate it replaced, so replicas still serving that one are trusted until they reload.
    /// Goes into the webhook configurations' caBundle.
    pub ca_pem: String,
    /// Serving certificate.
    pub cert_pem: String,
    /// Serving key.
    pub key_pem: String,
    /// When the serving certificate was issued (the start of its validity for renewal purposes).
    pub not_before: DateTime<Utc>,
    /// When the serving certificate expires.
    pub not_after: DateTime<Utc>,
}

/// The DNS names a Service is reached by from the API server.
pub fn service_dns_names(service: &str, namespace: &str) -> Vec<String> {
    pki::service_dns_names(service, namespace, "cluster.local")
}

/// Generates a fresh CA and a serving certificate for `service.namespace`, valid from a day ago
/// (clock skew) until `now + VALIDITY`. `previous_ca_pem` is the bundle of the certificate this
/// one replaces (None for the first one): its newest CA stays trusted next to the new one.
pub fn generate(
    service: &str,
    namespace: &str,
    now: DateTime<Utc>,
    previous_ca_pem: Option<&str>,
) -> Result<WebhookCertificate, PkiError> {
    // Day precision is plenty for a 90-day certificate.
    let day = |t: DateTime<Utc>| t.with_time(NaiveTime::MIN).single().unwrap_or(t);
    let not_after = now + VALIDITY;
    let ca = pki::self_signed_ca(
        "pgfed webhook CA",
        None,
        Validity {
            not_before: day(now - Duration::days(1)),
            not_after: day(not_after + Duration::days(1)),
        },
    )?;
    let leaf = CaSigner::from_pem(&ca.cert_pem, &ca.key_pem)?.sign(
        &LeafRequest {
            common_name: format!("{service}.{namespace}.svc"),
            dns_names: service_dns_names(service, namespace),
            usage: LeafUsage::Server,
        },
        None,
        Validity {
            not_before: day(now - Duration::days(1)),
            not_after: day(not_after),
        },
    )?;
    Ok(WebhookCertificate {
        ca_pem: ca_bundle(&ca.cert_pem, previous_ca_pem),
        cert_pem: leaf.cert_pem,
        key_pem: leaf.key_pem,
        not_before: now,
        not_after,
    })
}

/// The caBundle after a renewal: the new CA, then the newest CA of the previous bundle. Older
/// ones are dropped (the certificates they signed expired long ago), so the bundle never grows.
pub fn ca_bundle(new_ca_pem: &str, previous_bundle: Option<&str>) -> String {
    match previous_bundle.and_then(first_pem_certificate) {
        Some(previous) if previous.trim() != new_ca_pem.trim() => {
            format!("{}\n{}\n", new_ca_pem.trim_end(), previous.trim_end())
        }
        _ => new_ca_pem.to_string(),
    }
}

/// The first `CERTIFICATE` block of a PEM bundle.
fn first_pem_certificate(bundle: &str) -> Option<&str> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = bundle.find(BEGIN)?;
    let end = start + bundle[start..].find(END)? + END.len();
    Some(&bundle[start..end])
}

/// When a certificate valid from `not_before` to `not_after` is renewed: once two thirds of its
/// validity have passed (60 of 90 days), which leaves a month of retries before it expires.
pub fn renewal_time(not_before: DateTime<Utc>, not_after: DateTime<Utc>) -> DateTime<Utc> {
    not_before + (not_after - not_before) * 2 / 3
}

/// Whether `cert` must be replaced at `now`.
pub fn renewal_due(cert: &WebhookCertificate, now: DateTime<Utc>) -> bool {
    now >= renewal_time(cert.not_before, cert.not_after)
}

/// How long a running operator waits before it looks at its certificate again: until renewal is
/// due, but never longer than [`CHECK_INTERVAL`].
pub fn next_check(cert: &WebhookCertificate, now: DateTime<Utc>) -> std::time::Duration {
    let until_renewal = renewal_time(cert.not_before, cert.not_after) - now;
    until_renewal
        .min(CHECK_INTERVAL)
        .to_std()
        .unwrap_or(std::time::Duration::ZERO)
}

/// What the certificate Secret holds when the operator reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stored {
    /// No Secret.
    Missing,
    /// A Secret without a complete certificate (a key or an annotation missing or unreadable).
    /// `ca_pem` is whatever CA bundle it still carries.
    Incomplete {
        /// The version a replacement must be conditional on.
        resource_version: String,
        /// The CA bundle it holds, if any.
        ca_pem: Option<String>,
    },
    /// A complete certificate.
    Complete {
        /// The version a replacement must be conditional on.
        resource_version: String,
        /// The certificate.
        certificate: WebhookCertificate,
    },
}

/// What to do with the Secret. Every write is conditional, so when two replicas decide to write
/// at once the API server lets exactly one through; the other reads the Secret again and, finding
/// the winner's fresh certificate, adopts it (`Use`). No replica ever overwrites another's CA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Serve what the Secret holds.
    Use(WebhookCertificate),
    /// Create the Secret (create-only: fails if another replica created it first).
    Create,
    /// Replace the Secret if it is still at `resource_version` (fails if another replica replaced
    /// it first), keeping `previous_ca_pem` trusted next to the new CA.
    Replace {
        /// The version the replacement is conditional on.
        resource_version: String,
        /// The bundle of the certificate being replaced.
        previous_ca_pem: Option<String>,
    },
}

/// Decides what to do with the stored certificate at `now`.
pub fn plan(stored: Stored, now: DateTime<Utc>) -> Plan {
    match stored {
        Stored::Missing => Plan::Create,
        Stored::Incomplete {
            resource_version,
            ca_pem,
        } => Plan::Replace {
            resource_version,
            previous_ca_pem: ca_pem,
        },
        Stored::Complete {
            resource_version,
            certificate,
        } => {
            if renewal_due(&certificate, now) {
                Plan::Replace {
                    resource_version,
                    previous_ca_pem: Some(certificate.ca_pem),
                }
            } else {
                Plan::Use(certificate)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(days: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::days(10_000 + days)
    }

    fn issued(days: i64) -> WebhookCertificate {
        WebhookCertificate {
            ca_pem: format!("CA issued on day {days}"),
            cert_pem: "CERT".into(),
            key_pem: "KEY".into(),
            not_before: at(days),
            not_after: at(days) + VALIDITY,
        }
    }

    #[test]
    fn renewal_is_due_at_two_thirds_of_the_validity() {
        // (issued on day, now on day, renew?)
        let cases = [
            (0, 0, false),
            (0, 59, false),
            (0, 60, true),
            (0, 89, true),
            (0, 120, true),
            (30, 60, false),
        ];
        for (issued_on, today, want) in cases {
            assert_eq!(
                renewal_due(&issued(issued_on), at(today)),
                want,
                "issued on day {issued_on}, today day {today}"
            );
        }
    }

    #[test]
    fn next_check_is_capped_and_never_negative() {
        let cert = issued(0);
        // (now, wait)
        let cases = [
            (at(0), CHECK_INTERVAL),
            (at(60) - Duration::minutes(3), Duration::minutes(3)),
            (at(60), Duration::zero()),
            (at(70), Duration::zero()),
        ];
        for (now, want) in cases {
            assert_eq!(
                next_check(&cert, now),
                want.to_std().expect("positive"),
                "{now}"
            );
        }
    }

    #[test]
    fn plans_for_what_the_secret_holds() {
        let fresh = issued(0);
        let old = issued(-61);
        let now = at(0);
        let rv = || "42".to_string();
        // (stored, plan)
        let cases = [
            (Stored::Missing, Plan::Create),
            (
                Stored::Incomplete {
                    resource_version: rv(),
                    ca_pem: None,
                },
                Plan::Replace {
                    resource_version: rv(),
                    previous_ca_pem: None,
                },
            ),
            (
                Stored::Incomplete {
                    resource_version: rv(),
                    ca_pem: Some("CA".into()),
                },
                Plan::Replace {
                    resource_version: rv(),
                    previous_ca_pem: Some("CA".into()),
                },
            ),
            (
                Stored::Complete {
                    resource_version: rv(),
                    certificate: old.clone(),
                },
                Plan::Replace {
                    resource_version: rv(),
                    previous_ca_pem: Some(old.ca_pem.clone()),
                },
            ),
            // The loser of a race reads the winner's fresh certificate and serves it.
            (
                Stored::Complete {
                    resource_version: rv(),
                    certificate: fresh.clone(),
                },
                Plan::Use(fresh.clone()),
            ),
        ];
        for (stored, want) in cases {
            assert_eq!(plan(stored.clone(), now), want, "{stored:?}");
        }
    }

    #[test]
    fn the_bundle_keeps_the_newest_previous_ca_only() {
        let pem = |n: u8| format!("-----BEGIN CERTIFICATE-----\n{n}\n-----END CERTIFICATE-----\n");
        // (new CA, previous bundle, resulting bundle)
        let cases = [
            (pem(1), None, pem(1)),
            (pem(2), Some(pem(1)), format!("{}{}", pem(2), pem(1))),
            (
                pem(3),
                Some(format!("{}{}", pem(2), pem(1))),
                format!("{}{}", pem(3), pem(2)),
            ),
            (pem(1), Some(pem(1)), pem(1)),
            (pem(1), Some("not PEM".to_string()), pem(1)),
        ];
        for (new, previous, want) in cases {
            assert_eq!(ca_bundle(&new, previous.as_deref()), want, "{previous:?}");
        }
    }

    #[tokio::test]
    async fn generated_certificate_serves_tls_for_the_service_name() {
        use std::sync::Arc;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let cert = generate("pgfed-webhook", "pgfed-system", Utc::now(), None).expect("generate");
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

    #[test]
    fn a_renewed_bundle_trusts_the_new_and_the_previous_ca() {
        let first = generate("pgfed-webhook", "pgfed-system", Utc::now(), None).expect("first");
        let second = generate(
            "pgfed-webhook",
            "pgfed-system",
            Utc::now(),
            Some(&first.ca_pem),
        )
        .expect("second");
        let blocks = second.ca_pem.matches("BEGIN CERTIFICATE").count();
        assert_eq!(blocks, 2, "{}", second.ca_pem);
        let previous = first_pem_certificate(&first.ca_pem).expect("first CA");
        assert!(second.ca_pem.contains(previous), "previous CA kept");
        assert!(
            !second.ca_pem.starts_with(previous),
            "the new CA comes first"
        );
    }
}
