//! `pgfed-federation run`: leader election among the controller's replicas, the Federation
//! controller run by the leader, a metrics endpoint, and shutdown on SIGTERM.

use crate::metrics::Metrics;
use axum::Router;
use axum::routing::get;
use pgfed_operator::leader::{LeaderElector, Timings, default_identity};
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Name of the controller's Lease, in its namespace.
pub const LEASE_NAME: &str = "pgfed-federation-leader";

/// Arguments of `run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Namespace of the controller (its leader Lease lives there).
    #[arg(long, env = "POD_NAMESPACE", default_value = "pgfed-system")]
    pub namespace: String,
    /// Port of the metrics endpoint (`/metrics`).
    #[arg(long, env = "METRICS_PORT", default_value_t = 8080)]
    pub metrics_port: u16,
}

/// Why the controller stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No Kubernetes configuration.
    #[error("kubernetes configuration: {0}")]
    Config(#[source] kube::config::InferConfigError),
    /// The Kubernetes client cannot be built.
    #[error("kubernetes client: {0}")]
    Client(#[source] kube::Error),
    /// The metrics port cannot be bound.
    #[error("metrics endpoint: {0}")]
    Metrics(#[source] std::io::Error),
    /// Leadership was lost: the process exits and restarts as a follower.
    #[error(transparent)]
    Leadership(#[from] pgfed_operator::leader::LeaderError),
}

/// Runs until SIGTERM.
pub async fn run(args: &RunArgs) -> Result<(), RunError> {
    // Dependencies enable both of rustls' crypto backends; pick one (Err: already set).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut registry = Registry::default();
    let metrics = Arc::new(Metrics::register(&mut registry));
    let config = kube::Config::infer().await.map_err(RunError::Config)?;
    let client =
        crate::counted::client(config, &metrics.api_requests, "hub").map_err(RunError::Client)?;
    let leader = metrics.leader.clone();
    let registry = Arc::new(registry);
    let shutdown = CancellationToken::new();
    let elector = LeaderElector::new(
        client.clone(),
        &args.namespace,
        LEASE_NAME,
        default_identity(),
        Timings::default(),
    );
    let mut leading = elector.is_leader();
    tokio::spawn(async move {
        while leading.changed().await.is_ok() {
            leader.set(i64::from(*leading.borrow()));
        }
    });
    let election_shutdown = shutdown.clone();
    let controller = tokio::spawn(async move {
        let result = elector
            .run(election_shutdown.clone(), move |work| async move {
                crate::controller::run(client, work, metrics).await;
            })
            .await;
        if result.is_err() {
            election_shutdown.cancel();
        }
        result
    });
    pgfed_operator::telemetry::cancel_on_signal(shutdown.clone());
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", args.metrics_port))
        .await
        .map_err(RunError::Metrics)?;
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let registry = registry.clone();
                async move {
                    let mut out = String::new();
                    match encode(&mut out, &registry) {
                        Ok(()) => out,
                        Err(_) => String::new(),
                    }
                }
            }),
        )
        .route("/healthz", get(|| async { "ok" }));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await
        .map_err(RunError::Metrics)?;
    if let Ok(Err(e)) = controller.await {
        return Err(RunError::Leadership(e));
    }
    Ok(())
}
