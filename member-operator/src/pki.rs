//! X.509 building blocks shared by the webhook's certificate and a Cluster's certificates:
//! self-signed CAs (new, or renewed on the same key so everything they signed stays trusted),
//! leaf certificates signed by a CA for server or client authentication, and the facts the
//! operator reads back from a PEM certificate (names, validity, is-CA, who signed it, whether a
//! key belongs to it). No policy lives here: which certificate to issue when is decided by the
//! callers (`webhook::certs`, `cluster::build::certs`).

use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData, SerialNumber,
};
use std::hash::{Hash, Hasher};
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

/// Why a certificate could not be generated or signed.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// rcgen refused the parameters or the key (the message never contains key material).
    #[error("cannot generate the certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// A validity bound is outside what X.509 can encode.
    #[error("the time {0} cannot be written in a certificate")]
    TimeOutOfRange(DateTime<Utc>),
}

/// Why a PEM certificate could not be read.
#[derive(Clone, Debug, thiserror::Error, PartialEq)]
pub enum InspectError {
    /// No `CERTIFICATE` PEM block.
    #[error("no PEM CERTIFICATE block")]
    NotPem,
    /// The block is not a DER X.509 certificate.
    #[error("the certificate does not parse: {0}")]
    Malformed(#[from] x509_parser::error::X509Error),
}

/// When a certificate is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// Start of validity.
    pub not_before: DateTime<Utc>,
    /// End of validity.
    pub not_after: DateTime<Utc>,
}

impl Validity {
    /// Valid from `skew` before `now` (clocks of the readers may lag) for `length` after `now`.
    pub fn from_now(now: DateTime<Utc>, skew: Duration, length: Duration) -> Self {
        Self {
            not_before: now - skew,
            not_after: now + length,
        }
    }
}

/// A certificate and its private key, PEM-encoded. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyedCertificate {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key (PKCS#8).
    pub key_pem: String,
}

impl std::fmt::Debug for KeyedCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedCertificate")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// What a leaf certificate is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeafUsage {
    /// A TLS server (extended key usage serverAuth).
    Server,
    /// A TLS client, e.g. a PostgreSQL user authenticated by certificate (clientAuth).
    Client,
}

/// A leaf certificate to sign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafRequest {
    /// Subject common name (PostgreSQL maps a client certificate's CN to the user).
    pub common_name: String,
    /// DNS subject alternative names (what TLS clients verify a server by).
    pub dns_names: Vec<String>,
    /// Server or client.
    pub usage: LeafUsage,
}

/// The DNS names a Service is reached by inside the Kubernetes cluster whose DNS domain is
/// `cluster_domain` (usually `cluster.local`).
pub fn service_dns_names(service: &str, namespace: &str, cluster_domain: &str) -> Vec<String> {
    vec![
        service.to_string(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.{cluster_domain}"),
    ]
}

/// Writes `validity` into `params` with second precision.
fn set_validity(params: &mut CertificateParams, validity: Validity) -> Result<(), PkiError> {
    let convert = |t: DateTime<Utc>| {
        let month = u8::try_from(t.month()).map_err(|_| PkiError::TimeOutOfRange(t))?;
        let day = u8::try_from(t.day()).map_err(|_| PkiError::TimeOutOfRange(t))?;
        if !(1950..=9999).contains(&t.year()) {
            return Err(PkiError::TimeOutOfRange(t));
        }
        Ok(rcgen::date_time_ymd(t.year(), month, day)
            + std::time::Duration::from_secs(u64::from(t.num_seconds_from_midnight())))
    };
    params.not_before = convert(validity.not_before)?;
    params.not_after = convert(validity.not_after)?;
    Ok(())
}

/// A serial number unique per issuance: certificates renewed on the same key would otherwise get
/// rcgen's key-derived serial again, and two certificates of one issuer must not share a serial.
fn unique_serial(key: &KeyPair, common_name: &str, validity: Validity) -> SerialNumber {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.subject_public_key_info().hash(&mut hasher);
    common_name.hash(&mut hasher);
    let nanos = validity
        .not_before
        .timestamp_nanos_opt()
        .unwrap_or_default();
    let mut bytes = Vec::with_capacity(16);
    bytes.extend_from_slice(&nanos.to_be_bytes());
    bytes.extend_from_slice(&hasher.finish().to_be_bytes());
    // DER integers are signed: a clear top bit keeps the serial positive.
    bytes[0] &= 0x7f;
    SerialNumber::from_slice(&bytes)
}

fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

fn ca_params(name: &str, validity: Validity) -> Result<CertificateParams, PkiError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = common_name(name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    set_validity(&mut params, validity)?;
    Ok(params)
}

/// The key `existing_pem` holds (a renewal), or a new one.
fn key_pair(existing_pem: Option<&str>) -> Result<KeyPair, PkiError> {
    Ok(match existing_pem {
        Some(pem) => KeyPair::from_pem(pem)?,
        None => KeyPair::generate()?,
    })
}

/// A self-signed CA named `name`. With `existing_key_pem` the CA is renewed on that key: since the
/// name and key are unchanged, certificates the previous CA certificate signed verify against
/// the new one, and the new one's signatures verify against the old one.
pub fn self_signed_ca(
    name: &str,
    existing_key_pem: Option<&str>,
    validity: Validity,
) -> Result<KeyedCertificate, PkiError> {
    let key = key_pair(existing_key_pem)?;
    let mut params = ca_params(name, validity)?;
    params.serial_number = Some(unique_serial(&key, name, validity));
    let cert = params.self_signed(&key)?;
    Ok(KeyedCertificate {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A CA able to sign: its certificate and private key.
pub struct CaSigner {
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for CaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CaSigner(<redacted>)")
    }
}

impl CaSigner {
    /// A signer from a CA certificate and its key, both PEM. The issuer name written into the
    /// certificates it signs is read from the CA certificate.
    pub fn from_pem(ca_cert_pem: &str, ca_key_pem: &str) -> Result<Self, PkiError> {
        let key = KeyPair::from_pem(ca_key_pem)?;
        Ok(Self {
            issuer: Issuer::from_ca_cert_pem(ca_cert_pem, key)?,
        })
    }

    /// Signs `request` for `validity`. With `existing_key_pem` the certificate is renewed on that
    /// key; otherwise a fresh key is generated.
    pub fn sign(
        &self,
        request: &LeafRequest,
        existing_key_pem: Option<&str>,
        validity: Validity,
    ) -> Result<KeyedCertificate, PkiError> {
        let key = key_pair(existing_key_pem)?;
        let mut params = CertificateParams::new(request.dns_names.clone())?;
        params.distinguished_name = common_name(&request.common_name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![match request.usage {
            LeafUsage::Server => ExtendedKeyUsagePurpose::ServerAuth,
            LeafUsage::Client => ExtendedKeyUsagePurpose::ClientAuth,
        }];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, validity)?;
        params.serial_number = Some(unique_serial(&key, &request.common_name, validity));
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(KeyedCertificate {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// What the operator needs to know about a certificate it reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateFacts {
    /// Subject common name, if any.
    pub common_name: Option<String>,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// Start of validity.
    pub not_before: DateTime<Utc>,
    /// End of validity.
    pub not_after: DateTime<Utc>,
    /// Whether basic constraints say it is a CA.
    pub is_ca: bool,
    /// Whether certificates this one signs can name it as their issuer byte for byte. rcgen
    /// rebuilds the issuer name from the subject and supports one attribute per RDN, each
    /// attribute type once; other names would produce certificates that chain to nothing.
    pub signs_with_exact_name: bool,
    der: Vec<u8>,
}

/// Reads the first certificate of a PEM bundle (a `tls.crt` may carry its chain after it).
pub fn inspect_pem(pem: &[u8]) -> Result<CertificateFacts, InspectError> {
    let block = Pem::iter_from_buffer(pem)
        .filter_map(Result::ok)
        .find(|p| p.label == "CERTIFICATE")
        .ok_or(InspectError::NotPem)?;
    inspect_der(block.contents)
}

fn parse(der: &[u8]) -> Result<x509_parser::certificate::X509Certificate<'_>, InspectError> {
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => Ok(cert),
        Err(x509_parser::nom::Err::Error(e) | x509_parser::nom::Err::Failure(e)) => {
            Err(InspectError::Malformed(e))
        }
        Err(x509_parser::nom::Err::Incomplete(_)) => Err(InspectError::Malformed(
            x509_parser::error::X509Error::InvalidCertificate,
        )),
    }
}

fn inspect_der(der: Vec<u8>) -> Result<CertificateFacts, InspectError> {
    let cert = parse(&der)?;
    let time = |t: x509_parser::time::ASN1Time| {
        DateTime::from_timestamp(t.timestamp(), 0).ok_or(InspectError::Malformed(
            x509_parser::error::X509Error::InvalidDate,
        ))
    };
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string);
    let dns_names = match cert.subject_alternative_name()? {
        Some(san) => san
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some(dns.to_string()),
                _ => None,
            })
            .collect(),
        None => Vec::new(),
    };
    let not_before = time(cert.validity().not_before)?;
    let not_after = time(cert.validity().not_after)?;
    let is_ca = cert.is_ca();
    let mut types = std::collections::BTreeSet::new();
    let signs_with_exact_name = cert.subject().iter().all(|rdn| {
        let mut attributes = rdn.iter();
        match (attributes.next(), attributes.next()) {
            (Some(attribute), None) => types.insert(attribute.attr_type().to_id_string()),
            _ => false,
        }
    });
    Ok(CertificateFacts {
        common_name,
        dns_names,
        not_before,
        not_after,
        is_ca,
        signs_with_exact_name,
        der,
    })
}

impl CertificateFacts {
    /// Whether the certificate is valid at `now`.
    pub fn valid_at(&self, now: DateTime<Utc>) -> bool {
        self.not_before <= now && now <= self.not_after
    }

    /// Whether `issuer`'s key signed this certificate (the chain a verifier builds).
    pub fn signed_by(&self, issuer: &CertificateFacts) -> bool {
        match (parse(&self.der), parse(&issuer.der)) {
            (Ok(cert), Ok(ca)) => {
                cert.issuer() == ca.subject()
                    && cert.verify_signature(Some(ca.public_key())).is_ok()
            }
            _ => false,
        }
    }

    /// Whether `key_pem` is the private key of this certificate. `false` when it does not parse.
    pub fn has_key(&self, key_pem: &str) -> bool {
        let Ok(key) = KeyPair::from_pem(key_pem) else {
            return false;
        };
        parse(&self.der)
            .map(|cert| cert.public_key().raw == key.subject_public_key_info().as_slice())
            .unwrap_or(false)
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn at(days: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000 + days)
    }

    fn days(from: i64, to: i64) -> Validity {
        Validity {
            not_before: at(from),
            not_after: at(to),
        }
    }

    #[test]
    fn facts_read_back_what_was_signed() {
        let ca = self_signed_ca("test CA", None, days(0, 365)).expect("ca");
        let signer = CaSigner::from_pem(&ca.cert_pem, &ca.key_pem).expect("signer");
        let leaf = signer
            .sign(
                &LeafRequest {
                    common_name: "pg-rw".into(),
                    dns_names: vec!["pg-rw".into(), "pg-rw.ns".into()],
                    usage: LeafUsage::Server,
                },
                None,
                Validity {
                    not_before: at(1) + Duration::seconds(17),
                    not_after: at(91) + Duration::seconds(17),
                },
            )
            .expect("leaf");
        let ca_facts = inspect_pem(ca.cert_pem.as_bytes()).expect("ca facts");
        let facts = inspect_pem(leaf.cert_pem.as_bytes()).expect("leaf facts");
        assert!(ca_facts.is_ca);
        assert!(!facts.is_ca);
        assert!(ca_facts.signs_with_exact_name);
        assert_eq!(facts.common_name.as_deref(), Some("pg-rw"));
        assert_eq!(facts.dns_names, ["pg-rw", "pg-rw.ns"]);
        // Second precision, so expiry decisions are exact.
        assert_eq!(facts.not_after, at(91) + Duration::seconds(17));
        assert_eq!(ca_facts.not_before, at(0));
        assert!(facts.signed_by(&ca_facts));
        assert!(!ca_facts.signed_by(&facts));
        assert!(facts.has_key(&leaf.key_pem));
        assert!(!facts.has_key(&ca.key_pem));
        assert!(!facts.has_key("not a key"));
        assert!(facts.valid_at(at(50)));
        assert!(!facts.valid_at(at(92)));
        assert!(!facts.valid_at(at(0)));
    }

    #[test]
    fn a_ca_renewed_on_its_key_still_verifies_what_it_signed() {
        let first = self_signed_ca("test CA", None, days(0, 365)).expect("ca");
        let leaf = CaSigner::from_pem(&first.cert_pem, &first.key_pem)
            .expect("signer")
            .sign(
                &LeafRequest {
                    common_name: "streaming_replica".into(),
                    dns_names: vec![],
                    usage: LeafUsage::Client,
                },
                None,
                days(0, 90),
            )
            .expect("leaf");
        let renewed = self_signed_ca("test CA", Some(&first.key_pem), days(300, 665)).expect("ca");
        let other = self_signed_ca("test CA", None, days(300, 665)).expect("other ca");
        let leaf = inspect_pem(leaf.cert_pem.as_bytes()).expect("leaf");
        let renewed_facts = inspect_pem(renewed.cert_pem.as_bytes()).expect("renewed");
        assert!(leaf.signed_by(&renewed_facts));
        assert!(renewed_facts.has_key(&first.key_pem));
        assert!(!leaf.signed_by(&inspect_pem(other.cert_pem.as_bytes()).expect("other")));
        assert_ne!(
            inspect_pem(first.cert_pem.as_bytes()).expect("first").der(),
            renewed_facts.der()
        );
    }

    /// A CA made by openssl with `-subj "/OU=db/OU=platform/CN=Two OUs CA"`: two attributes of
    /// one type, which rcgen cannot write back as an issuer name.
    pub(crate) const TWO_OU_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBwTCCAWegAwIBAgIUDklbH9hcVpi7kfy5hxOq2FE6OsgwCgYIKoZIzj0EAwIw
NTELMAkGA1UECwwCZGIxETAPBgNVBAsMCHBsYXRmb3JtMRMwEQYDVQQDDApUd28g
T1VzIENBMCAXDTI2MTEzMDIwMTA1N1oYDzIxMjYxMTA2MjAxMDU3WjA1MQswCQYD
VQQLDAJkYjERMA8GA1UECwwIcGxhdGZvcm0xEzARBgNVBAMMClR3byBPVXMgQ0Ew
WTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAS4H8vxuKaxo3EECkpcVES++TdZWL7Z
hUUPWRJLf9IdynFsTohfnqqvQ/geBnIMFKUKK60+jXdov/H/AkI4ULDao1MwUTAd
BgNVHQ4EFgQUM6pTWH0Q0sRe0NyIZqnbK2CZEiowHwYDVR0jBBgwFoAUM6pTWH0Q
0sRe0NyIZqnbK2CZEiowDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBF
AiEAhvjis4BoIOdXg/KX78OooFES6VQj67zr5apibMwSoKkCIBqe7en6U7iAMB6o
kVd2Zj88T1v7nJ7jEvSIIyY2nkOL
-----END CERTIFICATE-----
";

    #[test]
    fn a_name_rcgen_cannot_write_back_is_flagged() {
        let facts = inspect_pem(TWO_OU_CA.as_bytes()).expect("openssl CA");
        assert!(facts.is_ca);
        assert!(!facts.signs_with_exact_name);
    }

    #[test]
    fn unreadable_pem_is_refused() {
        assert_eq!(inspect_pem(b"hello"), Err(InspectError::NotPem));
        let garbage = "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            inspect_pem(garbage.as_bytes()),
            Err(InspectError::Malformed(_))
        ));
    }

    #[test]
    fn debug_never_shows_a_key() {
        let ca = self_signed_ca("test CA", None, days(0, 1)).expect("ca");
        let secret_part = ca.key_pem.lines().nth(1).expect("key body").to_string();
        assert!(!format!("{ca:?}").contains(&secret_part));
        let signer = CaSigner::from_pem(&ca.cert_pem, &ca.key_pem).expect("signer");
        assert!(!format!("{signer:?}").contains(&secret_part));
    }
}
