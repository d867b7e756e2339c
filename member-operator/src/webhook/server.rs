//! The webhook HTTPS server and the `run` entry point of the operator.

use super::renewal::{CertificateTargets, ensure_published, keep_renewed};
use super::review::{Hook, review};
use crate::leader::{LEASE_NAME, LeaderElector, Timings, default_identity};
use crate::metrics::{AdmissionHook, AdmissionResult, Metrics};
use axum::routing::{get, post};
use axum::{Json, Router};
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use pgfed_tls::TlsListener;
use std::sync::Arc;

/// Options of `pgfed-operator run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Port of the admission webhook (HTTPS).
    #[arg(long, env = "WEBHOOK_PORT", default_value_t = 9443)]
    pub webhook_port: u16,
    /// Port of the Prometheus metrics (plain HTTP, `/metrics`).
    #[arg(long, env = "METRICS_PORT", default_value_t = 8080)]
    pub metrics_port: u16,
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
    /// The operator's own image: instance pods copy the manager from it.
    #[arg(long, env = "OPERATOR_IMAGE", default_value = "pgfed/pgfed:dev")]
    pub operator_image: String,
    /// DNS domain of the Kubernetes cluster (Service names in certificates and URIs).
    #[arg(long, env = "CLUSTER_DOMAIN", default_value = "cluster.local")]
    pub cluster_domain: String,
    /// The instance manager this operator rolls out to running instances in place; when it
    /// cannot be read, instances get a new manager only when their pods are replaced.
    #[arg(long, env = "MANAGER_BINARY", default_value = crate::manager_binary::DEFAULT_PATH)]
    pub manager_binary: std::path::PathBuf,
    /// This replica's name (Events' reporting instance, leader identity).
    #[arg(long, env = "POD_NAME", default_value = "pgfed-operator")]
    pub pod_name: String,
}

/// The manager binary to roll out in place, digested off the async threads.
async fn manager_binary(path: &std::path::Path) -> Option<crate::manager_binary::ManagerBinary> {
    let p = path.to_path_buf();
    let loaded =
        tokio::task::spawn_blocking(move || crate::manager_binary::ManagerBinary::load(&p)).await;
    match loaded {
        Ok(Ok(binary)) => {
            tracing::info!(path = %binary.path.display(), digest = %binary.digest, "instance manager to roll out in place");
            Some(binary)
        }
        Ok(Err(e)) => {
            tracing::warn!(path = %path.display(), error = %e, "no instance manager to roll out in place: pods are replaced instead");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "digesting the instance manager failed: pods are replaced instead");
            None
        }
    }
}

impl RunArgs {
    /// Where the webhook certificate lives and who trusts it.
    pub fn certificate_targets(&self) -> CertificateTargets {
        CertificateTargets {
            namespace: self.namespace.clone(),
            secret: self.webhook_secret.clone(),
            service: self.webhook_service.clone(),
            mutating_configuration: self.mutating_configuration.clone(),
            validating_configuration: self.validating_configuration.clone(),
        }
    }
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
    Tls(#[from] pgfed_tls::TlsError),
    /// A port could not be bound.
    #[error("binding port {port}: {source}")]
    Bind {
        /// The port.
        port: u16,
        /// Why.
        source: std::io::Error,
    },
    /// The listener failed.
    #[error("webhook server: {0}")]
    Io(#[from] std::io::Error),
    /// This replica led and lost the Lease; it exits to restart as a follower.
    #[error(transparent)]
    Leadership(#[from] crate::leader::LeaderError),
}

impl RunError {
    /// A short, stable name of the cause, for metrics and Events.
    pub fn label(&self) -> &'static str {
        match self {
            RunError::Client(_) => "kube-client",
            RunError::Certificate(e) => e.label(),
            RunError::Tls(e) => e.label(),
            RunError::Bind { .. } => "bind",
            RunError::Io(_) => "io",
            RunError::Leadership(_) => "leadership_lost",
        }
    }
}

fn answer(
    hook: Hook,
    body: AdmissionReview<DynamicObject>,
    metrics: &Metrics,
) -> Json<AdmissionReview<DynamicObject>> {
    let metric_hook = match hook {
        Hook::Mutate => AdmissionHook::Mutate,
        Hook::Validate => AdmissionHook::Validate,
    };
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
            let result = match (response.allowed, &response.patch) {
                (false, _) => AdmissionResult::Denied,
                (true, Some(_)) => AdmissionResult::Patched,
                (true, None) => AdmissionResult::Allowed,
            };
            metrics.admitted(metric_hook, &request.kind.kind, result);
            response
        }
        Err(e) => {
            metrics.admitted(metric_hook, "unknown", AdmissionResult::Denied);
            AdmissionResponse::invalid(e.to_string())
        }
    };
    Json(response.into_review())
}

/// The webhook routes; every review is counted in `metrics`.
pub fn router(metrics: Arc<Metrics>) -> Router {
    let validated = metrics.clone();
    Router::new()
        .route(
            "/mutate",
            post(move |Json(body)| async move { answer(Hook::Mutate, body, &metrics) }),
        )
        .route(
            "/validate",
            post(move |Json(body)| async move { answer(Hook::Validate, body, &validated) }),
        )
        .route("/healthz", get(|| async { "ok" }))
}

async fn bind(port: u16) -> Result<tokio::net::TcpListener, RunError> {
    tokio::net::TcpListener::bind(("0.0.0.0", port))
        .await
        .map_err(|source| RunError::Bind { port, source })
}

/// Runs the operator: ensures the webhook certificate, publishes its CA to the API server, serves
/// admission reviews and metrics, and renews the certificate in the background, until SIGTERM.
pub async fn run(args: RunArgs) -> Result<(), RunError> {
    // The workspace enables more than one rustls crypto backend through its dependencies, so rustls
    // cannot pick one implicitly; the kube client needs a process-wide default before connecting.
    // An Err means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let metrics = Arc::new(Metrics::new());
    let metrics_tcp = bind(args.metrics_port).await?;
    let client = kube::Client::try_default().await?;
    let client_for_controllers = client.clone();
    let targets = args.certificate_targets();
    let cert = ensure_published(&client, &targets).await?;
    let (acceptor, reloader) =
        pgfed_tls::reloadable_acceptor(cert.cert_pem.as_bytes(), cert.key_pem.as_bytes(), None)?;
    let tcp = bind(args.webhook_port).await?;
    tokio::spawn(keep_renewed(
        client,
        targets,
        cert,
        reloader,
        metrics.clone(),
    ));
    let metrics_router = crate::metrics::router(metrics.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(metrics_tcp, metrics_router).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    tracing::info!(
        port = args.webhook_port,
        metrics_port = args.metrics_port,
        "admission webhook listening"
    );
    let listener = TlsListener {
        tcp,
        acceptor,
        name: "webhook",
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    // One cache of the operator's client certificates for both controllers that talk to managers.
    let certificates = crate::instances::ClientCertificates::default();
    let reporter = kube::runtime::events::Reporter {
        controller: "pgfed-operator".into(),
        instance: Some(args.pod_name.clone()),
    };
    let backup_context = Arc::new(crate::backup::controller::Context::new(
        client_for_controllers.clone(),
        certificates.clone(),
        metrics.clone(),
        reporter.clone(),
    ));
    let context = Arc::new(crate::cluster::controller::Context::new(
        client_for_controllers.clone(),
        crate::cluster::reconcile::Settings {
            operator_image: args.operator_image.clone(),
            manager: manager_binary(&args.manager_binary).await,
            cluster_domain: args.cluster_domain.clone(),
            certificates,
        },
        metrics.clone(),
        reporter,
    ));
    let scheduled_backups = Arc::new(crate::scheduled_backup::controller::Context::new(
        client_for_controllers.clone(),
        metrics.clone(),
        kube::runtime::events::Reporter {
            controller: "pgfed-operator".into(),
            instance: Some(args.pod_name.clone()),
        },
    ));
    let database_context = Arc::new(crate::database::controller::Context::new(
        client_for_controllers.clone(),
        metrics.clone(),
    ));
    // Both replicas serve the webhook; only the holder of the Lease runs the controllers.
    let elector = LeaderElector::new(
        client_for_controllers,
        &args.namespace,
        LEASE_NAME,
        default_identity(),
        Timings::default(),
    );
    let mut leading = elector.is_leader();
    let gauge = metrics.clone();
    tokio::spawn(async move {
        while leading.changed().await.is_ok() {
            gauge.set_leader(*leading.borrow());
        }
    });
    let election_shutdown = shutdown.clone();
    let controllers = tokio::spawn(async move {
        let result = elector
            .run(election_shutdown.clone(), move |work| async move {
                tokio::join!(
                    crate::cluster::controller::run(context, work.clone().cancelled_owned()),
                    crate::backup::controller::run(backup_context, work.clone().cancelled_owned()),
                    crate::scheduled_backup::controller::run(
                        scheduled_backups,
                        work.clone().cancelled_owned()
                    ),
                    crate::database::controller::run(database_context, work.cancelled_owned()),
                );
            })
            .await;
        if result.is_err() {
            // Leadership lost: the controllers were stopped before anyone else could lead; the
            // process exits so that it restarts with fresh caches and follows.
            election_shutdown.cancel();
        }
        result
    });
    crate::telemetry::cancel_on_signal(shutdown.clone());
    axum::serve(listener, router(metrics))
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await?;
    // Reconciles in flight finish and the Lease is released before the process exits.
    if let Ok(Err(e)) = controllers.await {
        return Err(RunError::Leadership(e));
    }
    Ok(())
}
