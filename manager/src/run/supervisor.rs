//! Supervision of the postmaster as a child process: start, reload when the configuration file
//! changes, restart when a changed parameter needs it, restart after a crash, fence/unfence, and
//! on SIGTERM a smart shutdown escalated to fast after `smartShutdownTimeout`.

use crate::config::ManagerConfig;
use crate::instance::{InstanceError, configure};
use crate::pg::conf::Role;
use crate::pg::{ctl, sql};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tokio::process::{Child, Command};
use tokio::sync::RwLock;

/// How long a former primary waits before trying pg_rewind again when the new primary is not
/// reachable yet.
const FOLLOW_RETRY: Duration = Duration::from_secs(5);

/// State shared with the HTTP handlers.
pub struct Shared {
    /// Current configuration.
    pub config: RwLock<ManagerConfig>,
    /// Fenced by configuration.
    pub fenced: AtomicBool,
    /// The postmaster child is alive.
    pub postgres_running: AtomicBool,
    /// Token of the last demotion performed by this manager.
    pub demotion_token: RwLock<Option<String>>,
}

/// A role change the configuration asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum RoleChange {
    /// Nothing to change.
    None,
    /// Promote this standby (only at the promotion token when one is given).
    Promote,
    /// Demote this primary into a standby of the replica source, with a demotion token.
    Demote,
    /// Another instance is the target primary: stop this primary; it restarts as a standby of the
    /// new one, rewound first (see [`crate::instance::follow::rewind_if_needed`]).
    StepDown,
}

/// Whom `targetPrimary` names, from this instance's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// `targetPrimary` is unset: nothing to converge to.
    Unset,
    /// This instance.
    Me,
    /// Another instance of the cluster.
    Other,
}

impl Target {
    fn of(cfg: &ManagerConfig) -> Target {
        match &cfg.target_primary {
            None => Target::Unset,
            Some(_) if cfg.other_target_primary().is_some() => Target::Other,
            Some(_) => Target::Me,
        }
    }
}

/// Decides a role change from whom `targetPrimary` names, whether this is a replica cluster and
/// whether postgres is in recovery (`None`: unknown, e.g. not accepting connections). Pure.
pub fn decide_role(target: Target, replica_cluster: bool, in_recovery: Option<bool>) -> RoleChange {
    match (target, replica_cluster, in_recovery) {
        (Target::Me, false, Some(true)) => RoleChange::Promote,
        (Target::Me, true, Some(false)) => RoleChange::Demote,
        (Target::Other, _, Some(false)) => RoleChange::StepDown,
        _ => RoleChange::None,
    }
}

async fn in_recovery(cfg: &ManagerConfig) -> Option<bool> {
    let c = sql::connect(cfg, "postgres").await.ok()?;
    c.query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .ok()
        .map(|r| r.get(0))
}

/// Whether the WAL receiver is still streaming from an upstream server.
async fn wal_receiver_streaming(cfg: &ManagerConfig) -> bool {
    let Ok(c) = sql::connect(cfg, "postgres").await else {
        return false;
    };
    c.query_opt(
        "SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming'",
        &[],
    )
    .await
    .ok()
    .flatten()
    .is_some()
}

/// Performs one step of role convergence; returns true when postgres was stopped.
async fn converge_role(cfg: &ManagerConfig, config_file: &Path, shared: &Shared) -> bool {
    match decide_role(
        Target::of(cfg),
        cfg.is_replica_cluster(),
        in_recovery(cfg).await,
    ) {
        RoleChange::None => false,
        RoleChange::Promote => {
            let token = cfg.replica.as_ref().and_then(|r| r.promotion_token.clone());
            if let Some(t) = &token {
                let decision = match pgfed_api::token::DemotionToken::decode(t) {
                    Ok(t) => crate::instance::promote::promotion_decision(cfg, &t).await,
                    Err(e) => Err(InstanceError::Refused(e.to_string())),
                };
                match decision {
                    Ok(pgfed_api::token::PromotionDecision::Promote) => {}
                    Ok(pgfed_api::token::PromotionDecision::Wait(reason)) => {
                        tracing::info!(%reason, "waiting for the promotion token");
                        return false;
                    }
                    Ok(pgfed_api::token::PromotionDecision::Refuse(reason)) => {
                        tracing::error!(%reason, "promotion refused");
                        return false;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot check the promotion token");
                        return false;
                    }
                }
            } else if wal_receiver_streaming(cfg).await {
                // A switchover inside the cluster: the former primary is shutting down and sends
                // its last WAL to its standbys before it stops. Promoting before the stream ends
                // would lose those transactions; a failed primary has no stream, so a failover
                // promotes at once.
                tracing::info!("waiting for the former primary to stop streaming before promoting");
                return false;
            }
            match crate::instance::promote::promote(cfg, config_file, None, Duration::from_secs(0))
                .await
            {
                Ok(()) => tracing::info!("promoted"),
                Err(e) => tracing::error!(error = %e, "promotion failed"),
            }
            false
        }
        RoleChange::Demote => {
            match crate::instance::demote::demote(cfg, config_file).await {
                Ok(token) => {
                    tracing::info!(token = %token.encode(), "demoted; token published in the status");
                    *shared.demotion_token.write().await = Some(token.encode());
                }
                Err(e) => tracing::error!(error = %e, "demotion failed"),
            }
            true
        }
        RoleChange::StepDown => {
            tracing::info!(
                target_primary = cfg.target_primary.as_deref().unwrap_or_default(),
                "another instance is the target primary: stepping down to follow it"
            );
            let c2 = cfg.clone();
            match tokio::task::spawn_blocking(move || ctl::stop(&c2, ctl::StopMode::Fast, 600))
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "stopping the former primary failed"),
                Err(e) => tracing::error!(error = %e, "stop task failed"),
            }
            true
        }
    }
}

/// Before postgres starts as a standby of another instance of the cluster: a data directory
/// that was last a primary is rewound from the new primary (pg_rewind finishes crash recovery
/// itself), and the configuration pg_rewind copied from the source is written again. Until this
/// succeeds postgres stays down: a former primary never comes back unrewound.
async fn prepare_to_follow(
    cfg: &ManagerConfig,
    config_file: &Path,
    role: &Role,
) -> Result<(), InstanceError> {
    let (
        Some(_),
        Role::Standby {
            primary_conninfo: Some(conninfo),
            ..
        },
    ) = (cfg.other_target_primary(), role)
    else {
        return Ok(());
    };
    let (c2, conninfo) = (cfg.clone(), conninfo.clone());
    let rewound = tokio::task::spawn_blocking(move || {
        crate::instance::follow::rewind_if_needed(&c2, &conninfo)
    })
    .await
    .map_err(|e| InstanceError::Refused(format!("pg_rewind task: {e}")));
    // pg_rewind copies the source's configuration files and the signal files were taken away
    // for it: this instance's own files come back in every case.
    let rewritten = configure::write_all(cfg, config_file, role);
    rewound??;
    rewritten?;
    Ok(())
}

/// What the supervisor should do after observing the world. Pure.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing to do.
    Nothing,
    /// Start postgres.
    Start,
    /// Stop postgres and keep it stopped.
    Stop,
    /// Reread configuration files.
    Reload,
    /// Stop and start again.
    Restart,
}

/// Decides the next action. Pure.
pub fn decide(fenced: bool, running: bool, config_changed: bool, pending_restart: bool) -> Action {
    match (fenced, running) {
        (true, true) => Action::Stop,
        (true, false) => Action::Nothing,
        (false, false) => Action::Start,
        (false, true) if pending_restart => Action::Restart,
        (false, true) if config_changed => Action::Reload,
        (false, true) => Action::Nothing,
    }
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn spawn_postgres(cfg: &ManagerConfig) -> Result<Child, InstanceError> {
    crate::instance::bootstrap::require_complete(cfg)?;
    std::fs::create_dir_all(&cfg.socket_dir).map_err(|e| {
        InstanceError::Refused(format!("creating {}: {e}", cfg.socket_dir.display()))
    })?;
    let program = ctl::program(cfg, "postgres");
    Command::new(&program)
        .arg("-D")
        .arg(&cfg.pgdata)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(false)
        .spawn()
        .map_err(|source| {
            InstanceError::Pg(crate::pg::PgError::Spawn {
                program: program.display().to_string(),
                source,
            })
        })
}

async fn pending_restart(cfg: &ManagerConfig) -> bool {
    let Ok(c) = sql::connect(cfg, "postgres").await else {
        return false;
    };
    c.query_one(
        "SELECT EXISTS (SELECT 1 FROM pg_settings WHERE pending_restart)",
        &[],
    )
    .await
    .map(|r| r.get::<_, bool>(0))
    .unwrap_or(false)
}

async fn stop_child(cfg: &ManagerConfig, child: &mut Option<Child>, mode: ctl::StopMode) {
    if let Some(mut c) = child.take() {
        let cfg2 = cfg.clone();
        let _ = tokio::task::spawn_blocking(move || ctl::stop(&cfg2, mode, 600)).await;
        let _ = c.wait().await;
    }
}

/// Runs until SIGTERM/SIGINT.
pub async fn run(config_file: PathBuf) -> Result<(), InstanceError> {
    let cfg = ManagerConfig::load(&config_file)?;
    crate::instance::bootstrap::ensure(&cfg, &config_file).await?;
    // Where this instance streams from while another instance is primary; remembered so a standby
    // that becomes the target keeps receiving from the former primary until that one has stopped.
    // After a manager restart the role file still says where this standby streamed from.
    let mut upstream: Option<String> = cfg.target_primary_conninfo().or_else(|| {
        std::fs::read_to_string(cfg.pgdata.join(crate::pg::conf::ROLE_CONF))
            .ok()
            .and_then(|text| crate::pg::conf::role_conf_primary_conninfo(&text))
    });
    configure::write_all(
        &cfg,
        &config_file,
        &configure::startup_role(&cfg, upstream.as_deref())?,
    )?;
    let custom = match &cfg.custom_queries_file {
        Some(f) => {
            let text = std::fs::read_to_string(f)
                .map_err(|e| InstanceError::Refused(format!("reading {}: {e}", f.display())))?;
            super::metrics::parse_queries(&text).map_err(InstanceError::Refused)?
        }
        None => Default::default(),
    };
    let shared = Arc::new(Shared {
        fenced: AtomicBool::new(cfg.fenced),
        postgres_running: AtomicBool::new(false),
        config: RwLock::new(cfg.clone()),
        demotion_token: RwLock::new(None),
    });
    serve(&cfg, shared.clone(), custom).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(super::jsonlog::follow(
        cfg.pgdata.join("log/postgres.json"),
        "postgres",
        stop_rx.clone(),
    ));
    tokio::spawn(super::jsonlog::follow(
        cfg.pgdata.join("log/postgres"),
        "postgres",
        stop_rx,
    ));

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| InstanceError::Refused(format!("installing the SIGTERM handler: {e}")))?;
    let mut child: Option<Child> = None;
    let mut cfg = cfg;
    let mut seen = mtime(&config_file);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut retry_follow_at: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = tick.tick() => {}
        }
        // Reap a postmaster that exited (crash, or killed): it will be started again below.
        if let Some(c) = child.as_mut()
            && let Ok(Some(status)) = c.try_wait()
        {
            tracing::warn!(%status, "postmaster exited; restarting it");
            child = None;
        }
        let mut changed = false;
        let now = mtime(&config_file);
        if now != seen {
            seen = now;
            match ManagerConfig::load(&config_file) {
                Ok(new) => {
                    changed = true;
                    cfg = new;
                    let role = configure::startup_role(&cfg, upstream.as_deref());
                    if let Some(conninfo) = cfg.target_primary_conninfo() {
                        upstream = Some(conninfo);
                    }
                    let written = role
                        .map_err(InstanceError::from)
                        .and_then(|role| Ok(configure::write_all(&cfg, &config_file, &role)?));
                    if let Err(e) = written {
                        tracing::error!(error = %e, "configuration refused");
                        changed = false;
                    }
                    shared.fenced.store(cfg.fenced, Ordering::SeqCst);
                    *shared.config.write().await = cfg.clone();
                }
                Err(e) => tracing::error!(error = %e, "ignoring an invalid configuration file"),
            }
        }
        if child.is_some() && !cfg.fenced && converge_role(&cfg, &config_file, &shared).await {
            // Demotion stopped postgres cleanly; reap it so it starts again as a standby.
            if let Some(mut c) = child.take() {
                let _ = c.wait().await;
            }
        }
        let running = child.is_some();
        let restart = running && !changed && pending_restart(&cfg).await;
        match decide(cfg.fenced, running, changed, restart) {
            Action::Nothing => {}
            Action::Start if retry_follow_at.is_some_and(|t| Instant::now() < t) => {}
            Action::Start => {
                let prepared = match configure::startup_role(&cfg, upstream.as_deref()) {
                    Ok(role) => prepare_to_follow(&cfg, &config_file, &role)
                        .await
                        .map_err(|e| (e, "cannot rewind from the new primary yet")),
                    Err(e) => Err((e.into(), "configuration refused")),
                };
                if let Err((e, why)) = prepared {
                    tracing::error!(error = %e, "{why}; postgres stays down");
                    retry_follow_at = Some(Instant::now() + FOLLOW_RETRY);
                } else {
                    retry_follow_at = None;
                    match spawn_postgres(&cfg) {
                        Ok(c) => {
                            tracing::info!("postmaster started");
                            child = Some(c);
                        }
                        Err(e) => tracing::error!(error = %e, "cannot start postgres"),
                    }
                }
            }
            Action::Stop => {
                tracing::info!("fenced: stopping postgres");
                stop_child(&cfg, &mut child, ctl::StopMode::Fast).await;
            }
            Action::Reload => {
                let c2 = cfg.clone();
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || ctl::reload(&c2)).await {
                    tracing::error!(error = %e, "reload failed");
                }
                tracing::info!("configuration reloaded");
            }
            Action::Restart => {
                tracing::info!("a changed parameter needs a restart");
                stop_child(&cfg, &mut child, ctl::StopMode::Fast).await;
            }
        }
        shared
            .postgres_running
            .store(child.is_some(), Ordering::SeqCst);
    }
    tracing::info!("shutting down: smart, then fast after smartShutdownTimeout");
    if let Some(mut c) = child.take() {
        let c2 = cfg.clone();
        let _ = tokio::task::spawn_blocking(move || ctl::shutdown(&c2, c2.smart_shutdown_timeout))
            .await;
        let _ = c.wait().await;
    }
    let _ = stop_tx.send(true);
    Ok(())
}

async fn serve(
    cfg: &ManagerConfig,
    shared: Arc<Shared>,
    custom: std::collections::BTreeMap<String, super::metrics::CustomQuery>,
) -> Result<(), InstanceError> {
    let bind = |port: u16| async move {
        tokio::net::TcpListener::bind(("0.0.0.0", port))
            .await
            .map_err(|e| InstanceError::Refused(format!("binding port {port}: {e}")))
    };
    let probes = super::http::probes(shared.clone(), cfg.certificates.is_none());
    let l = bind(cfg.probe_port).await?;
    tokio::spawn(async move { axum::serve(l, probes).await });
    let metrics = super::http::metrics_router(shared.clone(), custom);
    let l = bind(cfg.metrics_port).await?;
    tokio::spawn(async move { axum::serve(l, metrics).await });
    if let Some(files) = &cfg.certificates {
        let acceptor = super::http::tls_acceptor(files).map_err(InstanceError::Refused)?;
        let tcp = bind(cfg.status_port).await?;
        let router = super::http::status_router(shared);
        tokio::spawn(async move {
            let listener = pgfed_tls::TlsListener {
                tcp,
                acceptor,
                name: "status API",
            };
            axum::serve(listener, router).await
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_decisions() {
        use Target::{Me, Other, Unset};
        let cases = [
            ((Me, false, Some(true)), RoleChange::Promote),
            ((Me, false, Some(false)), RoleChange::None),
            ((Me, true, Some(false)), RoleChange::Demote),
            ((Me, true, Some(true)), RoleChange::None),
            ((Me, false, None), RoleChange::None),
            // Another instance is the target: a primary steps down, in any kind of cluster.
            ((Other, false, Some(false)), RoleChange::StepDown),
            ((Other, true, Some(false)), RoleChange::StepDown),
            ((Other, false, Some(true)), RoleChange::None),
            ((Other, false, None), RoleChange::None),
            // Nobody is named: nothing is ours to decide.
            ((Unset, false, Some(true)), RoleChange::None),
            ((Unset, false, Some(false)), RoleChange::None),
            ((Unset, true, Some(false)), RoleChange::None),
        ];
        for ((target, replica, recovery), want) in cases {
            assert_eq!(
                decide_role(target, replica, recovery),
                want,
                "{target:?} {replica} {recovery:?}"
            );
        }
    }

    #[test]
    fn decisions() {
        let cases = [
            ((false, false, false, false), Action::Start),
            ((false, true, false, false), Action::Nothing),
            ((false, true, true, false), Action::Reload),
            ((false, true, true, true), Action::Restart),
            ((false, true, false, true), Action::Restart),
            ((true, true, false, false), Action::Stop),
            ((true, false, true, true), Action::Nothing),
        ];
        for ((fenced, running, changed, pending), want) in cases {
            assert_eq!(
                decide(fenced, running, changed, pending),
                want,
                "{fenced} {running} {changed} {pending}"
            );
        }
    }
}
