//! The side effects that carry out the supervisor's role decisions ([`super::decide`]): look at
//! the running server (each look bounded in time), promote, begin and advance a demotion, step
//! down, and rewind a former primary before it follows the new one.

use super::decide::{PromotionGate, RoleChange, Target, decide_role, promotion_gate};
use super::lease::{Acquired, PrimaryLease};
use super::postmaster::Postmaster;
use crate::config::ManagerConfig;
use crate::instance::demote::{self, Demotion};
use crate::instance::{InstanceError, RoleError, blocking, follow, promote};
use crate::pg::conf::Role;
use crate::pg::{PgError, ctl, sql};
use pgfed_api::token::DemotionToken;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

/// How long a look at the local server may take: a frozen postmaster must not stop the
/// supervisor's loop.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the restartpoint and pg_controldata check against a promotion token may take.
const TOKEN_CHECK_TIMEOUT: Duration = Duration::from_secs(120);

/// `fut`, or [`PgError::NoAnswer`] after `limit`.
pub(super) async fn bounded<T>(
    context: &'static str,
    limit: Duration,
    fut: impl Future<Output = Result<T, PgError>>,
) -> Result<T, PgError> {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or(Err(PgError::NoAnswer {
            context,
            seconds: limit.as_secs(),
        }))
}

/// One boolean query over the Unix socket; `None` when postgres does not answer in time.
async fn query_bool(cfg: &ManagerConfig, context: &'static str, query: &str) -> Option<bool> {
    bounded(context, QUERY_TIMEOUT, async {
        let c = sql::connect(cfg, "postgres").await?;
        c.query_one(query, &[])
            .await
            .map(|r| r.get::<_, bool>(0))
            .map_err(|source| PgError::Sql {
                context: context.to_string(),
                source,
            })
    })
    .await
    .ok()
}

/// Whether postgres is in recovery; `None` when it does not answer.
pub async fn in_recovery(cfg: &ManagerConfig) -> Option<bool> {
    query_bool(cfg, "pg_is_in_recovery", "SELECT pg_is_in_recovery()").await
}

/// Whether the WAL receiver is still streaming from an upstream server.
async fn wal_receiver_streaming(cfg: &ManagerConfig) -> bool {
    query_bool(
        cfg,
        "pg_stat_wal_receiver",
        "SELECT EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')",
    )
    .await
    .unwrap_or(false)
}

/// Whether every one of `others` streams from this primary and answered within `within`: then
/// no instance can have been promoted behind its back (a candidate that streams from it is never
/// promoted), whatever the API server says. One standby on the same side of a partition is not
/// enough: the other side may promote another.
pub async fn every_standby_streaming(
    cfg: &ManagerConfig,
    others: &[String],
    within: Duration,
) -> bool {
    if others.is_empty() {
        return false;
    }
    // Instance names are DNS labels ([a-z0-9-]), safe inside a quoted literal.
    let names = others
        .iter()
        .filter(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(",");
    let query = format!(
        "SELECT count(DISTINCT application_name) = {} FROM pg_stat_replication \
         WHERE state = 'streaming' AND application_name IN ({names}) \
         AND reply_time > now() - make_interval(secs => {})",
        others.len(),
        within.as_secs()
    );
    query_bool(cfg, "pg_stat_replication", &query)
        .await
        .unwrap_or(false)
}

/// Whether a changed parameter waits for a restart.
pub async fn pending_restart(cfg: &ManagerConfig) -> bool {
    query_bool(
        cfg,
        "pending_restart",
        "SELECT EXISTS (SELECT 1 FROM pg_settings WHERE pending_restart)",
    )
    .await
    .unwrap_or(false)
}

/// Performs one step of role convergence on a running postgres. A demotion is only begun here
/// (recorded in PGDATA); [`advance_demotion`] carries it out.
pub async fn converge_role(
    cfg: &ManagerConfig,
    config_file: &Path,
    postmaster: &mut Postmaster,
    demotion_token: &tokio::sync::RwLock<Option<String>>,
    lease: Option<&PrimaryLease>,
) {
    match decide_role(
        Target::of(cfg),
        cfg.is_replica_cluster(),
        in_recovery(cfg).await,
    ) {
        RoleChange::None => {}
        RoleChange::Promote => match gate(cfg).await {
            Ok(PromotionGate::Promote) if !holds_lease(lease).await => {}
            Ok(PromotionGate::Promote) => {
                let promoted =
                    promote::promote(cfg, config_file, None, Duration::from_secs(0)).await;
                match promoted {
                    Ok(()) => {
                        tracing::info!("promoted");
                        *demotion_token.write().await = None;
                    }
                    Err(e) => tracing::error!(error = %e, label = e.label(), "promotion failed"),
                }
            }
            Ok(PromotionGate::Wait(reason)) => tracing::info!(%reason, "waiting to promote"),
            Ok(PromotionGate::Refuse(reason)) => tracing::error!(%reason, "promotion refused"),
            Err(e) => {
                tracing::error!(error = %e, label = e.label(), "cannot check the promotion token")
            }
        },
        RoleChange::Demote => match demote::begin(cfg) {
            Ok(_) => tracing::info!("demotion requested"),
            Err(e) => tracing::error!(error = %e, label = e.label(), "demotion refused"),
        },
        RoleChange::StepDown => {
            tracing::info!(
                target_primary = cfg.target_primary.as_deref().unwrap_or_default(),
                "another instance is the target primary: stepping down to follow it"
            );
            // Fast shutdown is clean: every standby streaming from this one receives the WAL up
            // to the shutdown checkpoint before the postmaster exits.
            let plan = ctl::escalation(ctl::StopMode::Fast, 0, cfg.switchover_delay);
            match postmaster.stop(cfg, plan).await {
                Ok(mode) => {
                    tracing::info!(mode = mode.as_str(), "stepped down");
                    if let Some(lease) = lease {
                        lease.release().await;
                    }
                }
                Err(e) => tracing::error!(
                    error = %e,
                    label = e.label(),
                    "stepping down failed: the former primary did not stop"
                ),
            }
        }
    }
}

/// Takes the primary Lease before a promotion (always true without one).
async fn holds_lease(lease: Option<&PrimaryLease>) -> bool {
    let Some(lease) = lease else {
        return true;
    };
    match lease.acquire().await {
        Acquired::Held => true,
        Acquired::HeldBy { holder, expires } => {
            tracing::info!(%holder, %expires, "waiting to promote: another instance holds the primary lease");
            false
        }
        Acquired::Missing => {
            tracing::warn!("waiting to promote: the primary lease does not exist");
            false
        }
        Acquired::NotNow(reason) => {
            tracing::warn!(%reason, "waiting to promote: cannot take the primary lease");
            false
        }
    }
}

/// Whether a standby asked to promote may do so now: at its promotion token when it has one,
/// else once no former primary streams to it.
async fn gate(cfg: &ManagerConfig) -> Result<PromotionGate, InstanceError> {
    let token = match cfg
        .replica
        .as_ref()
        .and_then(|r| r.promotion_token.as_ref())
    {
        Some(t) => {
            let t = DemotionToken::decode(t).map_err(RoleError::from)?;
            let check =
                tokio::time::timeout(TOKEN_CHECK_TIMEOUT, promote::promotion_decision(cfg, &t))
                    .await
                    .unwrap_or(Err(PgError::NoAnswer {
                        context: "checking the promotion token",
                        seconds: TOKEN_CHECK_TIMEOUT.as_secs(),
                    }
                    .into()))?;
            Some(check)
        }
        None => None,
    };
    let streaming = token.is_none() && wal_receiver_streaming(cfg).await;
    Ok(promotion_gate(token, streaming))
}

/// Takes a recorded demotion as far as it goes now: stopped cleanly, then WAL and token
/// published. Returns the step it reached; an error leaves the record at the last step done, to
/// be retried.
pub async fn advance_demotion(
    cfg: &ManagerConfig,
    config_file: &Path,
    postmaster: &mut Postmaster,
    mut d: Demotion,
) -> Result<Demotion, InstanceError> {
    while !matches!(d, Demotion::Published { .. }) {
        let before_stop = matches!(d, Demotion::Requested);
        let step = demote::advance(cfg, config_file, d).await;
        if before_stop && postmaster.running() && !postmaster.reap_stopped().await {
            tracing::error!("the demoted postmaster has not exited");
        }
        d = step?;
        if let Demotion::ShutDown { token } = &d {
            tracing::info!(%token, "shut down for the demotion; archiving WAL up to the token");
        }
    }
    Ok(d)
}

/// Whether the data directory was last shut down cleanly as a primary (what a demotion token
/// needs); false when pg_controldata cannot tell.
pub async fn cleanly_shut_down(cfg: &ManagerConfig) -> bool {
    let c = cfg.clone();
    blocking("pg_controldata", move || {
        Ok(crate::pg::controldata::read(&c.pg_bindir, &c.pgdata)?)
    })
    .await
    .is_ok_and(|cd| cd.state().is_ok_and(|s| s == "shut down"))
}

/// Before postgres starts as a standby of another instance of the cluster: a data directory
/// that was last a primary (or a standby seen diverged, `divergence`) is rewound from the new primary (pg_rewind finishes crash recovery
/// itself), and this instance's configuration is written again whatever happened. Until this
/// succeeds postgres stays down: a former primary never comes back unrewound.
pub async fn prepare_to_follow(
    cfg: &ManagerConfig,
    config_file: &Path,
    role: &Role,
    divergence: follow::Divergence,
) -> Result<follow::Rewind, InstanceError> {
    if cfg.other_target_primary().is_none() {
        return Ok(follow::Rewind::NotNeeded);
    }
    let (c, file, role) = (cfg.clone(), config_file.to_path_buf(), role.clone());
    blocking("pg_rewind", move || {
        follow::rewind_and_configure(&c, &file, &role, divergence)
    })
    .await
}
