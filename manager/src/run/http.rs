//! HTTP endpoints of a running instance: kubelet probes (`/healthz`, `/readyz`, `/startupz`) on
//! the probe port, the status document, the dynamic settings (`GET`/`PUT /pg/config`), restart
//! requests (`POST /pg/restart`), in-place upgrades (`PUT /manager/binary`), base backups
//! (`POST /pg/backup`, `GET /pg/backup/<name>`) and WAL switches (`POST /pg/wal/switch`) on a TLS
//! port that requires a client certificate signed by the cluster's client CA (plain `/pg/status`
//! on the probe port only when no certificates are configured, for development; settings are never
//! accepted there), and Prometheus `/metrics`.

use super::backups::Admission as BackupAdmission;
use super::dynamic::{self, Admission};
use super::metrics::{CustomQuery, scrape};
use super::shared::Shared;
use super::status::{collect, ready};
use crate::config::CertificateFiles;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post, put};
use pgfed_api::instance::{
    BACKUP_PATH, BackupRefusal, BackupRequest, CONFIG_PATH, DynamicConfig, MANAGER_BINARY_PATH,
    MANAGER_HASH_HEADER, RESTART_PATH, STATUS_PATH, WAL_SWITCH_PATH,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio_rustls::TlsAcceptor;

/// State of the metrics endpoint: shared instance state and the custom queries.
type MetricsState = (Arc<Shared>, Arc<BTreeMap<String, CustomQuery>>);

/// How long the supervisor may go without finishing a step before the liveness probe fails (a
/// step waits at most for a bounded query, pg_ctl or pg_rewind).
const STUCK_AFTER_SECS: u64 = 120;

async fn healthz(State(s): State<Arc<Shared>>) -> StatusCode {
    // Alive while the supervisor turns: it restarts a crashed postmaster itself, and keeps
    // postgres down on purpose at times (fenced, waiting to rewind, for the primary Lease);
    // restarting the container would help with neither.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = s.last_step.load(Ordering::SeqCst);
    // A re-clone copies the whole database in one step: restarting the container would start
    // the copy over, forever.
    if s.postgres_running.load(Ordering::SeqCst)
        || s.recloning.load(Ordering::SeqCst)
        || now.saturating_sub(last) < STUCK_AFTER_SECS
    {
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
    st.manager_version = env!("CARGO_PKG_VERSION").to_string();
    st.manager_hash = s.digest.get().cloned().unwrap_or_default();
    st.demotion_token = s.demotion_token.read().await.clone();
    // A record that cannot be read counts as under way: the operator must not fail over from a
    // primary whose demotion state is unknown.
    st.demotion_under_way = crate::instance::demote::read_record(&cfg.pgdata)
        .map(|d| d.is_some_and(|d| d.published_token().is_none()))
        .unwrap_or(true);
    st.rejoin = s.rejoin.read().await.clone();
    st.fenced_by_lease = s.fenced_by_lease.read().await.clone();
    st.diverged_from_source = s.source_divergence.read().await.clone();
    if st.is_primary {
        st.managed_roles = s.managed_roles.read().await.clone();
        st.databases = s.databases.read().await.clone();
        st.retention = s.retention.read().await.clone();
    }
    Json(st).into_response()
}

/// `GET /pg/config`: the dynamic settings in effect.
async fn get_config(State(s): State<Arc<Shared>>) -> Response {
    let pushed = s.pushed.lock().await;
    let cfg = s.config.read().await;
    Json(dynamic::shown(&cfg, pushed.as_ref())).into_response()
}

/// Why a push was refused, for the operator.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Refused {
    /// What went wrong.
    error: String,
    /// The version in effect, when the push lost against it.
    #[serde(skip_serializing_if = "Option::is_none")]
    version_in_effect: Option<u64>,
}

fn refused(code: StatusCode, error: String, version_in_effect: Option<u64>) -> Response {
    (
        code,
        Json(Refused {
            error,
            version_in_effect,
        }),
    )
        .into_response()
}

/// `PUT /pg/config`: checks the pushed settings against those in effect (see
/// [`dynamic::admit`]), keeps an accepted update on disk before answering and wakes the
/// supervisor. A refused or unkept update changes nothing.
async fn put_config(State(s): State<Arc<Shared>>, Json(update): Json<DynamicConfig>) -> Response {
    let mut pushed = s.pushed.lock().await;
    let cfg = s.config.read().await.clone();
    match dynamic::admit(dynamic::in_effect(&cfg, pushed.as_ref()).as_ref(), &update) {
        Admission::AlreadyInEffect => Json(update).into_response(),
        Admission::Stale { in_effect } => refused(
            StatusCode::CONFLICT,
            format!(
                "version {} is older than version {in_effect} in effect",
                update.version
            ),
            Some(in_effect),
        ),
        Admission::Conflict { in_effect } => refused(
            StatusCode::CONFLICT,
            format!("version {in_effect} is in effect with other settings"),
            Some(in_effect),
        ),
        Admission::Apply => {
            let (path, kept) = (cfg.dynamic_config_file.clone(), update.clone());
            let stored = tokio::task::spawn_blocking(move || dynamic::store(&path, &kept)).await;
            let error = match stored {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(e) => Some(format!("keeping the settings: {e}")),
            };
            if let Some(error) = error {
                tracing::error!(%error, "pushed settings not kept; nothing changed");
                return refused(StatusCode::INTERNAL_SERVER_ERROR, error, None);
            }
            tracing::info!(
                version = update.version,
                target_primary = update.target_primary.as_deref().unwrap_or_default(),
                fenced = update.fenced,
                "dynamic settings accepted"
            );
            *pushed = Some(update.clone());
            s.settings_pushed.notify_one();
            Json(update).into_response()
        }
    }
}

/// `POST /pg/restart`: the operator asks for a restart of postgres, which the supervisor does
/// at its next step if a changed parameter still needs one (a repeated request restarts once).
async fn restart(State(s): State<Arc<Shared>>) -> StatusCode {
    s.restart_requested.store(true, Ordering::SeqCst);
    s.settings_pushed.notify_one();
    tracing::info!("restart requested by the operator");
    StatusCode::ACCEPTED
}

/// `PUT /manager/binary`: an in-place upgrade. The body is the new manager, the header its
/// SHA-256; it is installed only when both agree and it runs, then the supervisor re-executes it
/// between two steps (postgres keeps running). 200 with the installed digest, 400 when the binary
/// was refused (nothing changed), 409 while another upload is being installed.
async fn put_manager(
    State(s): State<Arc<Shared>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Ok(_installing) = s.upgrading.try_lock() else {
        return refused(
            StatusCode::CONFLICT,
            "an upgrade is being installed".into(),
            None,
        );
    };
    let announced = headers
        .get(MANAGER_HASH_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let running = s.digest.get().cloned().unwrap_or_default();
    let exe = s.executable.clone();
    let (current, digest) = (running.clone(), announced.clone());
    let installed = tokio::task::spawn_blocking(move || {
        super::upgrade::install(&exe, &current, &digest, &body)
    })
    .await;
    match installed {
        Ok(Ok(super::upgrade::Installed::AlreadyRunning)) => {
            Json(serde_json::json!({ "managerHash": announced })).into_response()
        }
        Ok(Ok(super::upgrade::Installed::New)) => {
            tracing::info!(
                from = %running,
                to = %announced,
                "new manager installed; re-executing it (postgres keeps running)"
            );
            s.reexec.notify_one();
            Json(serde_json::json!({ "managerHash": announced })).into_response()
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, label = e.label(), "new manager refused; nothing changed");
            refused(StatusCode::BAD_REQUEST, e.to_string(), None)
        }
        Err(e) => refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("installing the manager: {e}"),
            None,
        ),
    }
}

/// How long WAL archiving may fail without progress while an operator-started backup waits on it.
const BACKUP_ARCHIVE_STALL: std::time::Duration = std::time::Duration::from_secs(300);
/// How long an operator-started backup on a standby waits for its last segment in the store
/// (the operator asks the primary to switch segments meanwhile, so this bounds a fault).
const BACKUP_END_WAL_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

fn backup_refusal(
    code: StatusCode,
    s: &Shared,
    error: String,
    running: Option<String>,
) -> Response {
    (
        code,
        Json(BackupRefusal {
            error,
            session_id: s.backups.session_id.clone(),
            running,
        }),
    )
        .into_response()
}

/// `POST /pg/backup`: starts a base backup of this instance for the Backup named in the request,
/// in the background (202 with its record), or returns the record of the one already started
/// for that name (200); 409 while another Backup runs here.
async fn start_backup(
    State(s): State<Arc<Shared>>,
    Json(request): Json<BackupRequest>,
) -> Response {
    if request.name.is_empty() {
        return backup_refusal(StatusCode::BAD_REQUEST, &s, "no Backup name".into(), None);
    }
    let cfg = s.config.read().await.clone();
    let where_to = cfg.backup_store().ok().map(|store| {
        (
            store.destination_path.clone(),
            crate::objstore::server_name(store, &cfg.cluster_name).to_string(),
        )
    });
    match s.backups.request(&request.name, cfg.me(), where_to) {
        BackupAdmission::Existing(progress) => Json(*progress).into_response(),
        BackupAdmission::Busy { running } => backup_refusal(
            StatusCode::CONFLICT,
            &s,
            format!("backup {running} is running on this instance"),
            Some(running),
        ),
        BackupAdmission::Start => {
            let name = request.name;
            tracing::info!(backup = %name, "base backup requested by the operator");
            let shared = s.clone();
            let task_name = name.clone();
            let task = tokio::spawn(async move {
                let options = crate::backup::take::BackupOptions {
                    backup_id: None,
                    archive_stall_timeout: BACKUP_ARCHIVE_STALL,
                    end_wal_timeout: BACKUP_END_WAL_WAIT,
                };
                let (reporter, reported) = (shared.clone(), task_name.clone());
                let result = crate::backup::take::take_backup(&cfg, &options, &move |step| {
                    reporter.backups.milestone(&reported, step)
                })
                .await;
                match &result {
                    Ok(r) => {
                        tracing::info!(backup = %task_name, backup_id = %r.backup_id, "base backup completed")
                    }
                    Err(e) => {
                        tracing::error!(backup = %task_name, error = %e, label = e.label(), "base backup failed")
                    }
                }
                shared
                    .backups
                    .finish(&task_name, result.map_err(|e| e.to_string()));
            });
            s.backups.track(&name, task.abort_handle());
            let progress = s.backups.get(&name).unwrap_or_default();
            (StatusCode::ACCEPTED, Json(progress)).into_response()
        }
    }
}

/// `GET /pg/backup/<name>`: the record of a backup started in this session; 404 (with the
/// session) when there is none, e.g. because the manager restarted since it started.
async fn backup_progress(State(s): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    match s.backups.get(&name) {
        Some(progress) => Json(progress).into_response(),
        None => backup_refusal(
            StatusCode::NOT_FOUND,
            &s,
            format!("no backup {name} in this session of the instance manager"),
            None,
        ),
    }
}

/// `POST /pg/wal/switch`: on the primary, switches to a new WAL segment so the one in progress
/// is archived now (a backup taken on a standby ends in it); 409 on a standby.
async fn switch_wal(State(s): State<Arc<Shared>>) -> Response {
    let cfg = s.config.read().await.clone();
    let switched = async {
        let client = crate::pg::sql::connect(&cfg, "postgres").await?;
        let row = client
            .query_one(
                "SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery() THEN NULL \
                 ELSE pg_switch_wal()::text END",
                &[],
            )
            .await
            .map_err(|source| crate::pg::PgError::Sql {
                context: "pg_switch_wal".into(),
                source,
            })?;
        Ok::<_, crate::pg::PgError>((row.get::<_, bool>(0), row.get::<_, Option<String>>(1)))
    }
    .await;
    match switched {
        Ok((false, lsn)) => Json(serde_json::json!({ "lsn": lsn })).into_response(),
        Ok((true, _)) => refused(
            StatusCode::CONFLICT,
            "this instance is a standby: only the primary switches WAL segments".into(),
            None,
        ),
        Err(e) => refused(StatusCode::SERVICE_UNAVAILABLE, e.to_string(), None),
    }
}

async fn metrics(State((s, custom)): State<MetricsState>) -> Response {
    let cfg = s.config.read().await.clone();
    (
        [("content-type", "text/plain; version=0.0.4")],
        scrape(&cfg, &custom).await,
    )
        .into_response()
}

/// The probe router; `with_status` adds plain `/pg/status` (read-only: settings are pushed only
/// over mutual TLS).
pub fn probes(shared: Arc<Shared>, with_status: bool) -> Router {
    let mut r = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/startupz", get(readyz));
    if with_status {
        r = r.route(STATUS_PATH, get(status));
    }
    r.with_state(shared)
}

/// The largest manager binary accepted by `PUT /manager/binary`.
const MAX_MANAGER_BYTES: usize = 512 << 20;

/// The status router served over mutual TLS: the status document, the dynamic settings, restart
/// requests, in-place upgrades, base backups and WAL switches.
pub fn status_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(STATUS_PATH, get(status))
        .route(BACKUP_PATH, post(start_backup))
        .route(&format!("{BACKUP_PATH}/{{name}}"), get(backup_progress))
        .route(WAL_SWITCH_PATH, post(switch_wal))
        .route(CONFIG_PATH, get(get_config).put(put_config))
        .route(RESTART_PATH, post(restart))
        .route(
            MANAGER_BINARY_PATH,
            put(put_manager).layer(DefaultBodyLimit::max(MAX_MANAGER_BYTES)),
        )
        .with_state(shared)
}

/// The metrics router.
pub fn metrics_router(shared: Arc<Shared>, custom: BTreeMap<String, CustomQuery>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state((shared, Arc::new(custom)))
}

/// Why the status API's TLS cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A mounted PEM file cannot be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The PEM material does not make a TLS configuration; pgfed-tls says why.
    #[error("status API TLS: {0}")]
    Material(#[source] pgfed_tls::TlsError),
}

/// Builds the status API's TLS acceptor: the server certificate, and client certificates required
/// and verified against the client CA.
pub fn tls_acceptor(files: &CertificateFiles) -> Result<TlsAcceptor, TlsError> {
    let read = |p: &std::path::Path| {
        std::fs::read(p).map_err(|source| TlsError::Read {
            path: p.to_path_buf(),
            source,
        })
    };
    pgfed_tls::acceptor(
        &read(&files.server_cert)?,
        &read(&files.server_key)?,
        Some(&read(&files.client_ca)?),
    )
    .map_err(TlsError::Material)
}
