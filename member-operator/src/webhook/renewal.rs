//! Keeps the webhook certificate valid while the operator runs: renews it at two thirds of its
//! validity, serves the new one without a restart, and keeps the webhook configurations' caBundle
//! trusting it. Another replica's renewal is picked up the same way (read, publish, reload).

use super::certs::{WebhookCertificate, next_check};
use super::secret::{CertificateError, ensure_certificate, inject_ca_bundle};
use crate::metrics::Metrics;
use kube::Client;
use pgfed_tls::CertificateReloader;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The name the renewal loop reports its rounds under in the reconcile metrics.
pub const CONTROLLER: &str = "webhook-certificate";
/// How long to wait after a failed round before the next one.
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// Where the webhook's certificate lives and who trusts it.
#[derive(Clone, Debug)]
pub struct CertificateTargets {
    /// Namespace of the operator (holds the Secret).
    pub namespace: String,
    /// Secret holding the CA bundle, serving certificate and key.
    pub secret: String,
    /// Service the API server calls the webhook through (the certificate's names).
    pub service: String,
    /// MutatingWebhookConfiguration whose caBundle trusts the CA.
    pub mutating_configuration: String,
    /// ValidatingWebhookConfiguration whose caBundle trusts the CA.
    pub validating_configuration: String,
}

/// Why a renewal round failed.
#[derive(Debug, thiserror::Error)]
pub enum RenewalError {
    /// Reading or writing the Secret or the webhook configurations failed.
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    /// The stored certificate could not be served.
    #[error("serving the renewed webhook certificate: {0}")]
    Tls(#[from] pgfed_tls::TlsError),
}

impl RenewalError {
    /// A short, stable name of the cause, for metrics and Events.
    pub fn label(&self) -> &'static str {
        match self {
            RenewalError::Certificate(e) => e.label(),
            RenewalError::Tls(e) => e.label(),
        }
    }
}

/// Makes sure the Secret holds a certificate that is not due for renewal and that the webhook
/// configurations trust its CA. The caBundle is written before the caller serves a new
/// certificate, so the API server never meets a certificate it cannot verify.
pub async fn ensure_published(
    client: &Client,
    targets: &CertificateTargets,
) -> Result<WebhookCertificate, CertificateError> {
    let cert = ensure_certificate(
        client,
        &targets.namespace,
        &targets.secret,
        &targets.service,
    )
    .await?;
    inject_ca_bundle(
        client,
        &targets.mutating_configuration,
        &targets.validating_configuration,
        &cert.ca_pem,
    )
    .await?;
    Ok(cert)
}

/// One round: returns the certificate to serve from now on, reloaded into `reloader` when it
/// differs from `serving`.
pub async fn renew_once(
    client: &Client,
    targets: &CertificateTargets,
    serving: &WebhookCertificate,
    reloader: &CertificateReloader,
) -> Result<WebhookCertificate, RenewalError> {
    let stored = ensure_published(client, targets).await?;
    if stored.cert_pem != serving.cert_pem || stored.key_pem != serving.key_pem {
        reloader.reload(stored.cert_pem.as_bytes(), stored.key_pem.as_bytes())?;
        tracing::info!(not_after = %stored.not_after, "serving the renewed webhook certificate");
    }
    Ok(stored)
}

/// Runs for the life of the operator: a round whenever renewal is due or [`CHECK_INTERVAL`]
/// (`certs`) has passed, every round counted in `metrics`.
///
/// [`CHECK_INTERVAL`]: super::certs::CHECK_INTERVAL
pub async fn keep_renewed(
    client: Client,
    targets: CertificateTargets,
    mut serving: WebhookCertificate,
    reloader: CertificateReloader,
    metrics: Arc<Metrics>,
) {
    let mut wait = next_check(&serving, chrono::Utc::now());
    loop {
        tokio::time::sleep(wait).await;
        let started = Instant::now();
        let result = renew_once(&client, &targets, &serving, &reloader).await;
        metrics.reconciled(
            CONTROLLER,
            started.elapsed(),
            result.as_ref().err().map(RenewalError::label),
        );
        wait = match result {
            Ok(cert) => {
                serving = cert;
                next_check(&serving, chrono::Utc::now())
            }
            Err(e) => {
                tracing::warn!(error = %e, "webhook certificate renewal failed; retrying");
                RETRY_AFTER
            }
        };
    }
}
