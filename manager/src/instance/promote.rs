//! Promotion. With a demotion token the replica promotes only once its restartpoint is exactly at
//! the token's shutdown checkpoint (same system, same timeline, same REDO LSN): it waits while
//! behind and refuses when the token is foreign or already passed, so no transaction is lost and
//! the demoted primary can follow without a rewind.

use super::{InstanceError, RoleError, blocking, configure, demote};
use crate::config::ManagerConfig;
use crate::pg::conf::Role;
use crate::pg::{controldata, ctl, io, sql};
use crate::wal::restore::clear_spool;
use pgfed_api::token::{DemotionToken, PromotionDecision, check_promotion};
use std::path::Path;
use std::time::{Duration, Instant};

/// Promotes the local standby; with `token`, only at the token's checkpoint.
pub async fn promote(
    cfg: &ManagerConfig,
    config_file: &Path,
    token: Option<&str>,
    timeout: Duration,
) -> Result<(), InstanceError> {
    if let Some(token) = token {
        let token = DemotionToken::decode(token).map_err(RoleError::from)?;
        wait_for_token(cfg, &token, timeout).await?;
    }
    // On a blocking thread: the supervisor keeps hearing SIGTERM while pg_ctl waits.
    let c = cfg.clone();
    blocking("pg_ctl promote", move || Ok(ctl::promote(&c)?)).await?;
    // The control file names the new timeline only after a checkpoint; pg_rewind of the former
    // primary reads the timeline from there, so make it true right away.
    sql::execute(&sql::connect(cfg, "postgres").await?, "CHECKPOINT").await?;
    clear_spool(cfg).map_err(io("clearing the WAL spool"))?;
    configure::write_role(cfg, config_file, &Role::Primary)?;
    // A primary again: a demotion this instance went through earlier is over.
    demote::clear_record(&cfg.pgdata)?;
    let c = cfg.clone();
    blocking("pg_ctl reload", move || Ok(ctl::reload(&c)?)).await
}

/// Polls until the replica is exactly at the token, or fails on refusal or timeout.
pub async fn wait_for_token(
    cfg: &ManagerConfig,
    token: &DemotionToken,
    timeout: Duration,
) -> Result<(), InstanceError> {
    let deadline = Instant::now() + timeout;
    loop {
        match promotion_decision(cfg, token).await? {
            PromotionDecision::Promote => return Ok(()),
            PromotionDecision::Refuse(reason) => {
                return Err(RoleError::PromotionRefused { reason }.into());
            }
            PromotionDecision::Wait(reason) => {
                if Instant::now() >= deadline {
                    return Err(RoleError::TokenNotReached { reason }.into());
                }
                tracing::info!(%reason, "waiting for the replica to reach the promotion token");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// One check: a restartpoint, then pg_controldata against the token.
pub async fn promotion_decision(
    cfg: &ManagerConfig,
    token: &DemotionToken,
) -> Result<PromotionDecision, InstanceError> {
    let client = sql::connect(cfg, "postgres").await?;
    let in_recovery: bool = client
        .query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .map_err(|source| crate::pg::PgError::Sql {
            context: "pg_is_in_recovery".into(),
            source,
        })?
        .get(0);
    if !in_recovery {
        return Ok(PromotionDecision::Refuse(
            "this instance is already a primary".into(),
        ));
    }
    // A restartpoint moves the control file's REDO location to the last replayed checkpoint.
    sql::execute(&client, "CHECKPOINT").await?;
    let cd = controldata::read(&cfg.pg_bindir, &cfg.pgdata)?;
    Ok(check_promotion(token, &cd.replica_checkpoint()?))
}
