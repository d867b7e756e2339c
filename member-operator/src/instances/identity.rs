//! The operator's client certificate for the instance managers' status API: CN
//! `pgfed-operator`, clientAuth, one day of validity, signed by a Cluster's client CA. Issued
//! in memory (never stored) and cached per CA, so polling does not sign a certificate per call;
//! reissued when less than an hour is left.

use crate::pki::{CaSigner, KeyedCertificate, LeafRequest, LeafUsage, PkiError, Validity};
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Common name of the operator's client certificate (what a manager sees as its peer).
pub const OPERATOR_CLIENT_NAME: &str = "pgfed-operator";
/// How long an issued client certificate is valid.
const VALIDITY: Duration = Duration::days(1);
/// A cached certificate is reissued when it has less than this left.
const RENEW_BEFORE: Duration = Duration::hours(1);
/// Tolerance for managers whose clock lags the operator's (as the Cluster's certificates allow).
const CLOCK_SKEW: Duration = Duration::hours(1);

/// The operator's client certificate and key, and when it expires. `Debug` never shows the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientIdentity {
    /// Certificate and private key, PEM.
    pub certificate: KeyedCertificate,
    /// End of validity.
    pub not_after: DateTime<Utc>,
}

/// Whether a certificate valid until `not_after` must be reissued at `now`.
fn needs_reissue(not_after: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    not_after - now < RENEW_BEFORE
}

/// Signs a fresh operator client certificate with the CA `ca_cert_pem`/`ca_key_pem`.
pub fn issue(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    now: DateTime<Utc>,
) -> Result<ClientIdentity, PkiError> {
    let signer = CaSigner::from_pem(ca_cert_pem, ca_key_pem)?;
    let validity = Validity::from_now(now, CLOCK_SKEW, VALIDITY);
    let certificate = signer.sign(
        &LeafRequest {
            common_name: OPERATOR_CLIENT_NAME.to_string(),
            dns_names: Vec::new(),
            usage: LeafUsage::Client,
        },
        None,
        validity,
    )?;
    Ok(ClientIdentity {
        certificate,
        not_after: validity.not_after,
    })
}

/// The operator's client certificates, one per client CA, kept in memory. Cheap to share.
#[derive(Clone, Default)]
pub struct ClientCertificates {
    /// Keyed by the CA certificate PEM itself: exact, and a renewed CA gets its own entry.
    issued: Arc<Mutex<HashMap<String, Arc<ClientIdentity>>>>,
}

impl std::fmt::Debug for ClientCertificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientCertificates(<redacted>)")
    }
}

impl ClientCertificates {
    /// The client certificate for the CA `ca_cert_pem`/`ca_key_pem` (a Cluster's `<cluster>-ca`
    /// Secret, keys `ca.crt` and `ca.key`): the cached one while it has more than an hour left,
    /// else a new one.
    pub fn for_ca(
        &self,
        ca_cert_pem: &str,
        ca_key_pem: &str,
        now: DateTime<Utc>,
    ) -> Result<Arc<ClientIdentity>, PkiError> {
        if let Some(cached) = self.lock().get(ca_cert_pem)
            && !needs_reissue(cached.not_after, now)
        {
            return Ok(cached.clone());
        }
        // Signing happens outside the lock; two callers racing both sign, the last one is kept.
        let fresh = Arc::new(issue(ca_cert_pem, ca_key_pem, now)?);
        let mut issued = self.lock();
        // Entries of CAs no longer asked for (deleted clusters, rotated CAs) go once expired.
        issued.retain(|_, identity| identity.not_after > now);
        issued.insert(ca_cert_pem.to_string(), fresh.clone());
        Ok(fresh)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<ClientIdentity>>> {
        // A poisoned lock still holds whole entries: writers only insert complete Arcs.
        match self.issued.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{inspect_pem, self_signed_ca};

    fn at(hours: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000) + Duration::hours(hours)
    }

    fn ca(name: &str) -> crate::pki::KeyedCertificate {
        self_signed_ca(
            name,
            None,
            Validity::from_now(at(0), Duration::zero(), Duration::days(365)),
        )
        .expect("ca")
    }

    #[test]
    fn the_issued_certificate_is_the_operator_client_signed_by_the_ca() {
        let ca = ca("pg client CA");
        let identity = issue(&ca.cert_pem, &ca.key_pem, at(1)).expect("issue");
        let facts = inspect_pem(identity.certificate.cert_pem.as_bytes()).expect("facts");
        let ca_facts = inspect_pem(ca.cert_pem.as_bytes()).expect("ca facts");
        assert_eq!(facts.common_name.as_deref(), Some(OPERATOR_CLIENT_NAME));
        assert!(facts.signed_by(&ca_facts));
        assert!(facts.has_key(&identity.certificate.key_pem));
        assert!(!facts.is_ca);
        assert_eq!(facts.not_after, at(1) + Duration::days(1));
        assert_eq!(identity.not_after, facts.not_after);
        assert!(
            facts.valid_at(at(1) - Duration::minutes(4)),
            "tolerates lagging clocks"
        );
    }

    #[test]
    fn reissue_when_less_than_an_hour_is_left() {
        // (minutes after issuance, reissue?)
        let cases = [
            (0, false),
            (22 * 60, false),
            (23 * 60, false),
            (23 * 60 + 1, true),
            (24 * 60, true),
            (30 * 60, true),
        ];
        for (minutes, expected) in cases {
            assert_eq!(
                needs_reissue(at(0) + VALIDITY, at(0) + Duration::minutes(minutes)),
                expected,
                "{minutes} min after issuance"
            );
        }
    }

    #[test]
    fn certificates_are_cached_per_ca_and_renewed_before_expiry() {
        let certificates = ClientCertificates::default();
        let first_ca = ca("first");
        let second_ca = ca("second");
        let first = certificates
            .for_ca(&first_ca.cert_pem, &first_ca.key_pem, at(0))
            .expect("first");
        let again = certificates
            .for_ca(&first_ca.cert_pem, &first_ca.key_pem, at(22))
            .expect("again");
        assert!(Arc::ptr_eq(&first, &again), "not reissued on every call");
        let other = certificates
            .for_ca(&second_ca.cert_pem, &second_ca.key_pem, at(22))
            .expect("other");
        assert_ne!(other.certificate.cert_pem, first.certificate.cert_pem);
        let renewed = certificates
            .for_ca(
                &first_ca.cert_pem,
                &first_ca.key_pem,
                at(23) + Duration::minutes(1),
            )
            .expect("renewed");
        assert!(!Arc::ptr_eq(&first, &renewed));
        assert!(renewed.not_after > first.not_after);
    }

    #[test]
    fn an_unreadable_ca_key_is_refused() {
        let certificates = ClientCertificates::default();
        let ca = ca("pg client CA");
        assert!(
            certificates
                .for_ca(&ca.cert_pem, "not a key", at(0))
                .is_err()
        );
    }

    #[test]
    fn debug_never_shows_a_key() {
        let ca = ca("pg client CA");
        let identity = issue(&ca.cert_pem, &ca.key_pem, at(0)).expect("issue");
        let secret_part = identity
            .certificate
            .key_pem
            .lines()
            .nth(1)
            .expect("key body")
            .to_string();
        assert!(!format!("{identity:?}").contains(&secret_part));
    }
}
