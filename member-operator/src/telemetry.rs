//! Logging: JSON lines on stdout, level from `RUST_LOG` (default info); and the process's
//! shutdown on SIGTERM or Ctrl-C, shared by the operator and the federation controller.

/// Installs the global JSON subscriber. Safe to call once per process.
pub fn init_json_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_env_filter(filter)
        .try_init();
}

/// Cancels `shutdown` on SIGTERM (what Kubernetes sends) or Ctrl-C, from a spawned task.
pub fn cancel_on_signal(shutdown: tokio_util::sync::CancellationToken) {
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
        }
        tracing::info!("shutting down");
        shutdown.cancel();
    });
}
