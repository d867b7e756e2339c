//! The supervision loop of `instance run`: bootstraps an empty data directory, starts the
//! postmaster, reloads when the configuration file or the pushed dynamic settings change (woken at
//! once by a push), restarts when a changed parameter needs it, restarts after a crash, fences and
//! unfences, converges the role the configuration asks for, carries a recorded demotion through,
//! and on SIGTERM shuts down smart, then fast, then immediate. SIGTERM is heard in every state:
//! each step of the loop is abandoned when it comes.

mod demotion;
mod divergence;
mod entitlement;
mod settings;
mod start;

use super::converge::{converge_role, pending_restart};
use super::decide::{Action, Target, decide};
use super::lease::{Acquired, PrimaryLease};
use super::postmaster::Postmaster;
use super::rejoin::{self, RejoinState};
use super::shared::Shared;
use super::{
    RunError, diverged, dynamic, http, jsonlog, metrics, source_divergence, upgrade, upstream,
};
use crate::config::ManagerConfig;
use crate::instance::demote;
use crate::instance::{InstanceError, configure, reclone};
use crate::net::pin::Pinner;
use crate::net::resolve::SystemResolver;
use crate::pg::ctl;
use pgfed_api::instance::DynamicConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{Mutex, Notify, RwLock, watch};

/// How long a former primary waits before trying pg_rewind again when the new primary is not
/// reachable yet.
const FOLLOW_RETRY: Duration = Duration::from_secs(5);
/// How long a demotion that could not go on (postgres did not stop, the archive refused the last
/// WAL) waits before it is tried again.
const DEMOTION_RETRY: Duration = Duration::from_secs(5);
/// How long an isolated primary's fast shutdown may take before it is stopped immediately: it
/// must stop accepting writes before any other instance can take the Lease.
const ISOLATED_STOP_TIMEOUT_SECS: u64 = 2;

/// Set once SIGTERM or SIGINT arrived.
struct Termination(watch::Receiver<bool>);

impl Termination {
    fn install() -> Result<Termination, RunError> {
        let listen = |kind, name| {
            signal(kind).map_err(|source| RunError::Signal {
                signal: name,
                source,
            })
        };
        let mut term = listen(SignalKind::terminate(), "SIGTERM")?;
        let mut int = listen(SignalKind::interrupt(), "SIGINT")?;
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            let _ = tx.send(true);
        });
        Ok(Termination(rx))
    }

    /// Returns once termination was asked for.
    async fn requested(&mut self) {
        let _ = self.0.wait_for(|terminated| *terminated).await;
    }
}

/// How postgres may start, as far as a recorded demotion is concerned.
#[derive(Debug, PartialEq, Eq)]
enum StartAs {
    /// In the role the configuration asks for.
    Configured,
    /// As the primary it still is (its demotion starts over once it runs).
    Primary,
    /// Not at all: a demotion is under way.
    NotNow,
}

struct Supervisor {
    config_file: PathBuf,
    /// The configuration file as last read.
    file_cfg: ManagerConfig,
    /// The pushed settings `cfg` was made with.
    applied: Option<DynamicConfig>,
    /// What the instance runs with: `file_cfg` with the dynamic settings in effect.
    cfg: ManagerConfig,
    shared: Arc<Shared>,
    postmaster: Postmaster,
    /// Modification time of the configuration file last read.
    seen: Option<SystemTime>,
    /// Where this instance streams from while another instance is primary; remembered so a
    /// standby that becomes the target keeps receiving from the former primary until that one has
    /// stopped.
    upstream: Option<String>,
    retry_follow_at: Option<Instant>,
    retry_demotion_at: Option<Instant>,
    /// The cluster's primary Lease, when the configuration asks for one.
    lease: Option<Arc<PrimaryLease>>,
    /// Whether this instance runs as the primary the configuration names, and so should hold
    /// and renew the Lease (read by the Lease keeper).
    want_lease: Arc<AtomicBool>,
    /// Pins the upstream's address into `primary_conninfo`.
    pins: Pinner<SystemResolver>,
    /// What the attempts to follow the new primary found so far.
    rejoin: RejoinState,
    /// Why the pending re-clone is needed, for its report.
    reclone_reason: String,
    /// Whether this standby looks diverged from its primary's timeline, over time.
    diverged: diverged::Watch,
    /// Set when a diverged standby was stopped: the next start rewinds it first.
    rewind_standby: bool,
    /// Whether this replica cluster's designated primary diverged from its source's history.
    source: source_divergence::Watch,
}

/// Tells the liveness probe a re-clone runs, until dropped (also when SIGTERM abandons the step).
struct Recloning<'a>(&'a Shared);

impl<'a> Recloning<'a> {
    fn flag(shared: &'a Shared) -> Recloning<'a> {
        shared.recloning.store(true, Ordering::SeqCst);
        Recloning(shared)
    }
}

impl Drop for Recloning<'_> {
    fn drop(&mut self) {
        self.0.recloning.store(false, Ordering::SeqCst);
    }
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn later(at: Option<Instant>) -> bool {
    at.is_some_and(|t| Instant::now() < t)
}

impl Supervisor {
    /// One turn of the loop.
    async fn step(&mut self) {
        if let Some(status) = self.postmaster.reap_exited() {
            tracing::warn!(%status, "postmaster exited; restarting it");
        }
        // `|`, not `||`: a running standby's pinned upstream address is checked on every step.
        let changed = self.reload_config().await
            | (self.postmaster.running()
                && upstream::repin(
                    &self.cfg,
                    &self.config_file,
                    self.upstream.as_deref(),
                    &self.pins,
                )
                .await);
        // Fenced by the configuration, or by this instance itself when it could not renew the
        // federation's fencing lease: either way postgres stays stopped.
        let by_lease = self.shared.fenced_by_lease.read().await.is_some();
        let fenced = self.cfg.fenced || by_lease;
        // Only a server running as a primary holds the Lease: a standby named the target takes it
        // when it promotes (standby.signal is gone from then on).
        self.want_lease.store(
            self.postmaster.running()
                && !fenced
                && Target::of(&self.cfg) == Target::Me
                && !self.cfg.pgdata.join("standby.signal").exists(),
            Ordering::SeqCst,
        );
        self.stop_if_not_entitled().await;
        if self.postmaster.running() && !fenced {
            converge_role(
                &self.cfg,
                &self.config_file,
                &mut self.postmaster,
                &self.shared.demotion_token,
                self.lease.as_deref(),
            )
            .await;
            self.stop_if_diverged().await;
        }
        self.stop_if_source_unfollowable().await;
        let start_as = self.carry_on_demotion().await;
        let running = self.postmaster.running();
        // A parameter that takes effect only at start waits for the operator, which restarts the
        // instances one at a time (standbys first), never all at once.
        let requested = self.shared.restart_requested.load(Ordering::SeqCst);
        let restart = running && !changed && requested && pending_restart(&self.cfg).await;
        if requested && running && !changed && !restart {
            tracing::info!("restart requested, but no changed parameter needs one: ignored");
            self.shared.restart_requested.store(false, Ordering::SeqCst);
        }
        match decide(fenced, running, changed, restart) {
            Action::Nothing => {}
            Action::Start => self.start(start_as).await,
            Action::Stop if by_lease && !self.cfg.fenced => {
                // Writes must stop before the lease can be taken over: no smart shutdown.
                tracing::error!("fenced by the fencing lease: stopping postgres");
                let plan = ctl::escalation(ctl::StopMode::Fast, 0, ISOLATED_STOP_TIMEOUT_SECS);
                if let Err(e) = self.postmaster.stop(&self.cfg, plan).await {
                    tracing::error!(error = %e, label = e.label(), "postgres did not stop");
                }
                if let Some(lease) = &self.lease {
                    lease.release().await;
                }
            }
            Action::Stop => {
                tracing::info!("fenced: stopping postgres");
                self.stop(ctl::StopMode::Fast).await;
                if let Some(lease) = &self.lease {
                    lease.release().await;
                }
            }
            Action::Reload => {
                let c = self.cfg.clone();
                match crate::instance::blocking("reload", move || Ok(ctl::reload(&c)?)).await {
                    Ok(()) => tracing::info!("configuration reloaded"),
                    Err(e) => tracing::error!(error = %e, label = e.label(), "reload failed"),
                }
            }
            Action::Restart => {
                tracing::info!("restarting: a changed parameter needs it");
                self.shared.restart_requested.store(false, Ordering::SeqCst);
                self.stop(ctl::StopMode::Fast).await;
            }
        }
        self.shared
            .postgres_running
            .store(self.postmaster.running(), Ordering::SeqCst);
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Runs until SIGTERM/SIGINT.
pub async fn run(config_file: PathBuf) -> Result<(), RunError> {
    let mut termination = Termination::install()?;
    let file_cfg = ManagerConfig::load(&config_file).map_err(InstanceError::from)?;
    // Settings pushed before a restart of this container still hold; unreadable ones are
    // dropped (the operator wrote the same decisions into the configuration file, and pushes
    // again).
    let pushed = dynamic::load(&file_cfg.dynamic_config_file).unwrap_or_else(|e| {
        tracing::error!(error = %e, label = e.label(), "ignoring the kept dynamic settings");
        None
    });
    let cfg = dynamic::effective(&file_cfg, pushed.as_ref());
    // A container that starts afresh (no postmaster handed over by an in-place upgrade) may find
    // lock files that its predecessor's postmaster left in the volumes: those no live postgres
    // holds go before anything starts one (pg_rewind's single-user crash recovery included).
    if upgrade::handed_over_postmaster().is_none() {
        crate::pg::stale_lock::remove_stale(&cfg, crate::pg::stale_lock::DeadPid::Stale);
    }
    // Bootstraps a missing or half-built data directory (cleaning up only its own partial work),
    // or does nothing for a complete one; interruptible by SIGTERM.
    tokio::select! {
        biased;
        _ = termination.requested() => return Ok(()),
        bootstrapped = crate::instance::bootstrap::ensure(&cfg, &config_file) => bootstrapped?,
    }
    // A re-clone that was finished by the bootstrap above, or interrupted after its swap, leaves
    // its scratch directories beside PGDATA.
    if let Err(e) = reclone::remove_leftovers(&cfg) {
        tracing::warn!(error = %e, "cannot remove a re-clone's leftovers");
    }
    // After a manager restart the role file still says where this standby streamed from.
    let upstream: Option<String> = cfg.target_primary_conninfo().or_else(|| {
        std::fs::read_to_string(cfg.pgdata.join(crate::pg::conf::ROLE_CONF))
            .ok()
            .and_then(|text| crate::pg::conf::role_conf_primary_conninfo(&text))
    });
    let pins = Pinner::system();
    configure::write_all(
        &cfg,
        &config_file,
        &upstream::startup_role(&cfg, upstream.as_deref(), &pins)
            .await
            .map_err(InstanceError::from)?,
    )
    .map_err(InstanceError::from)?;
    let custom = match &cfg.custom_queries_file {
        Some(f) => {
            let text =
                std::fs::read_to_string(f).map_err(|source| RunError::CustomQueriesFile {
                    path: f.clone(),
                    source,
                })?;
            metrics::parse_queries(&text)?
        }
        None => Default::default(),
    };
    let published = demote::read_record(&cfg.pgdata)
        .ok()
        .flatten()
        .and_then(|d| d.published_token().map(str::to_string));
    let executable = upgrade::own_executable().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot locate the manager's own executable");
        PathBuf::new()
    });
    let shared = shared_state(&cfg, pushed.clone(), published, executable.clone());
    serve(&cfg, shared.clone(), custom).await?;
    let digested = shared.clone();
    tokio::task::spawn_blocking(move || match upgrade::file_digest(&executable) {
        Ok(digest) => {
            tracing::info!(version = env!("CARGO_PKG_VERSION"), %digest, "instance manager");
            let _ = digested.digest.set(digest);
        }
        Err(e) => tracing::warn!(
            error = %e,
            "cannot read the manager's own executable: no in-place upgrade"
        ),
    });
    spawn_workers(&shared);
    let (stop_tx, stop_rx) = watch::channel(false);
    let log_offsets = follow_logs(&cfg, &stop_rx);

    let lease = match PrimaryLease::for_config(&cfg) {
        Ok(lease) => lease.map(Arc::new),
        Err(e) => {
            // Without the Lease no promotion is safe: the instance runs, but never as a primary.
            tracing::error!(error = %e, "the primary lease is unusable");
            return Err(RunError::Lease(e));
        }
    };
    let want_lease = Arc::new(AtomicBool::new(false));
    if let Some(lease) = &lease {
        tokio::spawn(keep_lease(lease.clone(), want_lease.clone()));
    }
    let mut supervisor = Supervisor {
        seen: mtime(&config_file),
        config_file,
        file_cfg,
        applied: pushed,
        cfg,
        shared,
        postmaster: upgrade::handed_over_postmaster()
            .map(Postmaster::adopt)
            .unwrap_or_default(),
        upstream,
        retry_follow_at: None,
        retry_demotion_at: None,
        lease,
        want_lease,
        pins,
        rejoin: RejoinState::default(),
        reclone_reason: String::new(),
        diverged: diverged::Watch::default(),
        rewind_standby: false,
        source: source_divergence::Watch::default(),
    };
    let shared = supervisor.shared.clone();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            biased;
            _ = termination.requested() => break,
            _ = shared.reexec.notified() => {
                // Between two steps: every decision is on disk, the postmaster is handed over.
                // The short pause lets the answer to the upload leave first.
                tokio::time::sleep(Duration::from_millis(300)).await;
                let offsets: Vec<u64> =
                    log_offsets.iter().map(|o| o.load(Ordering::SeqCst)).collect();
                let e = upgrade::reexec(
                    &shared.executable,
                    supervisor.postmaster.pid(),
                    &offsets,
                );
                tracing::error!(error = %e, "cannot re-execute the new manager; the old one goes on");
                continue;
            }
            _ = shared.settings_pushed.notified() => {}
            _ = tick.tick() => {}
        }
        // A step waits for postgres, pg_ctl, pg_rewind or the object store; SIGTERM abandons it
        // (every step it completed is on disk) and shuts down.
        tokio::select! {
            biased;
            _ = termination.requested() => break,
            _ = supervisor.step() => {}
        }
        shared.last_step.store(unix_now(), Ordering::SeqCst);
    }
    tracing::info!("shutting down: smart, fast after smartShutdownTimeout, then immediate");
    shared.backups.abandon();
    supervisor.postmaster.shutdown(&supervisor.cfg).await;
    supervisor.want_lease.store(false, Ordering::SeqCst);
    if let Some(lease) = &supervisor.lease {
        lease.release().await;
    }
    let _ = stop_tx.send(true);
    Ok(())
}

/// The state the supervisor shares with the status API, the probes and the workers.
fn shared_state(
    cfg: &ManagerConfig,
    pushed: Option<DynamicConfig>,
    published: Option<String>,
    executable: PathBuf,
) -> Arc<Shared> {
    Arc::new(Shared {
        fenced: AtomicBool::new(cfg.fenced),
        fenced_by_lease: RwLock::new(None),
        postgres_running: AtomicBool::new(false),
        config: RwLock::new(cfg.clone()),
        demotion_token: RwLock::new(published),
        pushed: Mutex::new(pushed),
        settings_pushed: Notify::new(),
        managed_roles: RwLock::new(None),
        databases: RwLock::new(None),
        restart_requested: AtomicBool::new(false),
        executable,
        digest: std::sync::OnceLock::new(),
        upgrading: Mutex::new(()),
        reexec: Notify::new(),
        last_step: AtomicU64::new(unix_now()),
        rejoin: RwLock::new(rejoin::load(&cfg.pgdata)),
        recloning: AtomicBool::new(false),
        backups: super::backups::Backups::new(),
        retention: RwLock::new(None),
        source_divergence: RwLock::new(None),
    })
}

/// Starts the workers that run beside the supervision loop: managed roles and databases,
/// replication slots, backup retention, the in-progress WAL uploads and the fencing lease.
fn spawn_workers(shared: &Arc<Shared>) {
    tokio::spawn(super::managed::run(
        shared.clone(),
        super::managed::Roles::default(),
    ));
    tokio::spawn(super::managed::run(
        shared.clone(),
        super::managed::Databases,
    ));
    tokio::spawn(super::slots::keep(shared.clone()));
    tokio::spawn(super::retention::run(shared.clone()));
    tokio::spawn(super::partial_wal::run(shared.clone()));
    tokio::spawn(super::fencing_lease::run(shared.clone()));
}

/// Forwards PostgreSQL's log files as JSON lines on stdout until `stop` is set; returns the
/// offsets reached, which an in-place upgrade hands to the next manager. After such an upgrade,
/// forwarding goes on where the previous image stopped.
fn follow_logs(cfg: &ManagerConfig, stop: &watch::Receiver<bool>) -> Vec<Arc<AtomicU64>> {
    let handed_over = upgrade::handed_over_log_offsets();
    ["log/postgres.json", "log/postgres"]
        .iter()
        .enumerate()
        .map(|(i, file)| {
            let offset = Arc::new(AtomicU64::new(handed_over.get(i).copied().unwrap_or(0)));
            tokio::spawn(jsonlog::follow(
                cfg.pgdata.join(file),
                "postgres",
                stop.clone(),
                offset.clone(),
            ));
            offset
        })
        .collect()
}

/// Reads the primary Lease every retry period, so that its holder's silence can be told from
/// its renewals; while this instance runs as the primary, takes and renews it instead.
async fn keep_lease(lease: Arc<PrimaryLease>, want: Arc<AtomicBool>) {
    let mut tick = tokio::time::interval(lease.retry_period());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if want.load(Ordering::SeqCst) {
            match lease.keep().await {
                Acquired::Held => {}
                Acquired::HeldBy { holder, .. } => {
                    tracing::error!(%holder, "another instance holds the primary lease")
                }
                Acquired::Missing => tracing::warn!("the primary lease does not exist"),
                Acquired::NotNow(reason) => {
                    tracing::warn!(%reason, "the primary lease is not renewed")
                }
            }
        } else if let Err(reason) = lease.read().await {
            tracing::debug!(%reason, "cannot read the primary lease");
        }
    }
}

async fn serve(
    cfg: &ManagerConfig,
    shared: Arc<Shared>,
    custom: std::collections::BTreeMap<String, metrics::CustomQuery>,
) -> Result<(), RunError> {
    let bind = |port: u16| async move {
        tokio::net::TcpListener::bind(("0.0.0.0", port))
            .await
            .map_err(|source| RunError::Bind { port, source })
    };
    let probes = http::probes(shared.clone(), cfg.certificates.is_none());
    let l = bind(cfg.probe_port).await?;
    tokio::spawn(async move { axum::serve(l, probes).await });
    let metrics = http::metrics_router(shared.clone(), custom);
    let l = bind(cfg.metrics_port).await?;
    tokio::spawn(async move { axum::serve(l, metrics).await });
    if let Some(files) = &cfg.certificates {
        let acceptor = http::tls_acceptor(files)?;
        let tcp = bind(cfg.status_port).await?;
        let router = http::status_router(shared);
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
