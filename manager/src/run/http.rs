//! HTTP endpoints of a running instance: kubelet probes (`/healthz`, `/readyz`, `/startupz`) on
//! the probe port, the status document on a TLS port that requires a client certificate signed by
//! the cluster's client CA (plain `/pg/status` on the probe port only when no certificates are
//! configured, for development), and Prometheus `/metrics`.

use super::metrics::{CustomQuery, scrape};
use super::status::{collect, ready};
use super::supervisor::Shared;
use crate::config::CertificateFiles;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio_rustls::TlsAcceptor;

/// State of the metrics endpoint: shared instance state and the custom queries.
type MetricsState = (Arc<Shared>, Arc<BTreeMap<String, CustomQuery>>);

async fn healthz(State(s): State<Arc<Shared>>) -> StatusCode {
    // A fenced instance is alive by design: postgres is stopped on purpose.
    if s.fenced.load(Ordering::SeqCst) || s.postgres_running.load(Ordering::SeqCst) {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

async fn readyz(State(s): State<Arc<Shared>>) -> StatusCode {
    let cfg = s.config.read().await.clone();
    if ready(&cfg).await {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn status(State(s): State<Arc<Shared>>) -> Response {
    let cfg = s.config.read().await.clone();
    let mut st = collect(&cfg, s.fenced.load(Ordering::SeqCst)).await;
    st.demotion_token = s.demotion_token.read().await.clone();
    Json(st).into_response()
}

async fn metrics(State((s, custom)): State<MetricsState>) -> Response {
    let cfg = s.config.read().await.clone();
    (
        [("content-type", "text/plain; version=0.0.4")],
        scrape(&cfg, &custom).await,
    )
        .into_response()
}

/// The probe router; `with_status` adds plain `/pg/status`.
pub fn probes(shared: Arc<Shared>, with_status: bool) -> Router {
    let mut r = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/startupz", get(readyz));
    if with_status {
        r = r.route("/pg/status", get(status));
    }
    r.with_state(shared)
}

/// The status router served over mutual TLS.
pub fn status_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/pg/status", get(status))
        .with_state(shared)
}

/// The metrics router.
pub fn metrics_router(shared: Arc<Shared>, custom: BTreeMap<String, CustomQuery>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state((shared, Arc::new(custom)))
}

/// Builds the status API's TLS acceptor: the server certificate, and client certificates required
/// and verified against the client CA.
pub fn tls_acceptor(files: &CertificateFiles) -> Result<TlsAcceptor, String> {
    let read =
        |p: &std::path::Path| std::fs::read(p).map_err(|e| format!("reading {}: {e}", p.display()));
    pgfed_tls::acceptor(
        &read(&files.server_cert)?,
        &read(&files.server_key)?,
        Some(&read(&files.client_ca)?),
    )
    .map_err(|e| e.to_string())
}
