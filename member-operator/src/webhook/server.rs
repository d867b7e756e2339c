//! The webhook HTTPS server and the `run` entry point of the operator.

use super::review::{Hook, review};
use super::secret::{ensure_certificate, inject_ca_bundle};
use axum::routing::{get, post};
use axum::{Json, Router};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use pgfed_tls::TlsListener;

/// Options of `pgfed-operator run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Port of the admission webhook (HTTPS).
    #[arg(long, env = "WEBHOOK_PORT", default_value_t = 9443)]
    pub webhook_port: u16,
    /// Namespace the operator runs in (holds the webhook certificate Secret).
    #[arg(long, env = "OPERATOR_NAMESPACE", default_value = "pgfed-system")]
    pub namespace: String,
    /// Service the API server calls the webhook through.
    #[arg(long, default_value = "pgfed-webhook")]
    pub webhook_service: String,
    /// Secret holding the webhook CA and serving certificate.
    #[arg(long, default_value = "pgfed-webhook-cert")]
    pub webhook_secret: String,
    /// MutatingWebhookConfiguration to inject the CA into.
    #[arg(long, default_value = "pgfed-mutating-webhook")]
    pub mutating_configuration: String,
    /// ValidatingWebhookConfiguration to inject the CA into.
    #[arg(long, default_value = "pgfed-validating-webhook")]
    pub validating_configuration: String,
}

/// Why the operator stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No usable Kubernetes client configuration.
    #[error("connecting to the Kubernetes API: {0}")]
    Client(#[from] kube::Error),
    /// Certificate handling failed.
    #[error(transparent)]
    Certificate(#[from] super::secret::CertificateError),
    /// TLS configuration failed.
    #[error("webhook TLS: {0}")]
    Tls(String),
    /// The listener failed.
    #[error("webhook server: {0}")]
    Io(#[from] std::io::Error),
}

fn answer(
    hook: Hook,
    body: AdmissionReview<DynamicObject>,
) -> Json<AdmissionReview<DynamicObject>> {
    let request: Result<AdmissionRequest<DynamicObject>, _> = body.try_into();
    let response = match request {
        Ok(request) => {
            let response = review(hook, &request);
            tracing::info!(
                hook = ?hook,
                kind = %request.kind.kind,
                name = %request.name,
                namespace = request.namespace.as_deref().unwrap_or(""),
                operation = ?request.operation,
                allowed = response.allowed,
                reason = %response.result.message,
                "admission review"
            );
            response
        }
        Err(e) => AdmissionResponse::invalid(e.to_string()),
    };
    Json(response.into_review())
}

/// The webhook routes.
pub fn router() -> Router {
    Router::new()
        .route(
            "/mutate",
            post(|Json(body)| async move { answer(Hook::Mutate, body) }),
        )
        .route(
            "/validate",
            post(|Json(body)| async move { answer(Hook::Validate, body) }),
        )
        .route("/healthz", get(|| async { "ok" }))
}

/// Runs the operator: ensures the webhook certificate, publishes its CA to the API server and
/// serves admission reviews until SIGTERM.
pub async fn run(args: RunArgs) -> Result<(), RunError> {
    // The workspace enables more than one rustls crypto backend through its dependencies, so rustls
    // cannot pick one implicitly; the kube client needs a process-wide default before connecting.
    // An Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = kube::Client::try_default().await?;
    let cert = ensure_certificate(
        &client,
        &args.namespace,
        &args.webhook_secret,
        &args.webhook_service,
    )
    .await?;
    inject_ca_bundle(
        &client,
        &args.mutating_configuration,
        &args.validating_configuration,
        &cert.ca_pem,
    )
    .await?;
    let acceptor = pgfed_tls::acceptor(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes(), None)
        .map_err(RunError::Tls)?;
    let tcp = tokio::net::TcpListener::bind(("0.0.0.0", args.webhook_port)).await?;
    tracing::info!(port = args.webhook_port, "admission webhook listening");
    let listener = TlsListener {
        tcp,
        acceptor,
        name: "webhook",
    };
    axum::serve(listener, router())
        .with_graceful_shutdown(async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
            }
            tracing::info!("shutting down");
        })
        .await?;
    Ok(())
}
