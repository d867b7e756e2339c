//! The slot keeper of `instance run`: rounds of [`crate::slots::plan`] against the running
//! server, every `updateInterval` and at once when the configuration that decides them changes
//! (a new instance gets its slot on the primary without waiting). Reads the effective
//! configuration from [`Shared`] each round. Every SQL call is bounded in time; a failure is
//! logged with the slot's name and retried next round, never fatal.

use super::converge::bounded;
use super::shared::Shared;
use crate::config::ManagerConfig;
use crate::pg::{PgError, sql};
use crate::slots::plan::{Observed, SlotStep, plan};
use crate::slots::{SlotPolicy, data_major_version, store};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How long one look at, or change to, the local server may take.
const LOCAL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long reading the primary's slots may take.
const PRIMARY_TIMEOUT: Duration = Duration::from_secs(15);
/// How often the keeper checks whether the configuration changed.
const POLL: Duration = Duration::from_secs(1);

/// The part of the configuration a round depends on.
type Decisive = (
    Vec<String>,
    Option<String>,
    Option<pgfed_api::cluster::ReplicationSlotsConfiguration>,
    bool,
);

/// What of `cfg` a round depends on: a change starts a round at once.
fn decisive(cfg: &ManagerConfig) -> Decisive {
    (
        cfg.instances.clone(),
        cfg.target_primary.clone(),
        cfg.replication_slots.clone(),
        cfg.fenced,
    )
}

/// Keeps the slots until the process ends.
pub async fn keep(shared: Arc<Shared>) {
    let mut last_round: Option<Instant> = None;
    let mut last_seen = None;
    let mut warned_logical = false;
    loop {
        tokio::time::sleep(POLL).await;
        let cfg = shared.config.read().await.clone();
        let seen = Some(decisive(&cfg));
        let changed = seen != last_seen;
        let policy = match SlotPolicy::of(cfg.replication_slots.as_ref()) {
            Ok(p) => p,
            Err(e) => {
                // Without valid exclusions a user slot could be copied or dropped against the
                // user's wish: user slots are left alone, HA slots still kept.
                if changed {
                    tracing::error!(error = %e, "user slots are not synchronized");
                }
                SlotPolicy {
                    synchronize_user_slots: false,
                    ..SlotPolicy::without_exclusions(cfg.replication_slots.as_ref())
                }
            }
        };
        let due = last_round.is_none_or(|t| t.elapsed() >= policy.update_interval);
        if !due && !changed {
            continue;
        }
        last_seen = seen;
        if cfg.fenced || !shared.postgres_running.load(Ordering::SeqCst) {
            continue;
        }
        last_round = Some(Instant::now());
        let major = data_major_version(&cfg.pgdata);
        if policy.synchronize_logical_decoding && !warned_logical {
            warned_logical = true;
            if !policy.logical_decoding_synchronized(major) {
                tracing::warn!(
                    major = major.unwrap_or_default(),
                    "replicationSlots.highAvailability.synchronizeLogicalDecoding needs \
                     PostgreSQL 17 or later: ignored"
                );
            }
        }
        if let Err(e) = round(&cfg, &policy).await {
            tracing::warn!(error = %e, label = e.label(), "replication slots: round failed");
        }
    }
}

/// Why a round stopped before changing anything.
#[derive(Debug, thiserror::Error)]
enum RoundError {
    /// The local server did not answer.
    #[error(transparent)]
    Local(#[from] PgError),
    /// The primary's slots could not be read.
    #[error(transparent)]
    Primary(#[from] store::PrimarySlotsError),
}

impl RoundError {
    fn label(&self) -> &'static str {
        match self {
            RoundError::Local(e) => e.label(),
            RoundError::Primary(e) => e.label(),
        }
    }
}

/// One round: observe, plan, apply each step (a failed step is logged and the others go on).
async fn round(cfg: &ManagerConfig, policy: &SlotPolicy) -> Result<(), RoundError> {
    let client = bounded(
        "connecting for replication slots",
        LOCAL_TIMEOUT,
        sql::connect(cfg, "postgres"),
    )
    .await?;
    let (in_recovery, replayed) = bounded(
        "reading the recovery state",
        LOCAL_TIMEOUT,
        store::recovery(&client),
    )
    .await?;
    let local = bounded(
        "listing replication slots",
        LOCAL_TIMEOUT,
        store::local_slots(&client),
    )
    .await?;
    // A standby of another instance copies that instance's slots; the primary, and a replica
    // cluster's designated primary (in recovery but following no instance of this cluster),
    // keep the HA slots of the others.
    let upstream = if in_recovery {
        store::primary_sql_conninfo(cfg)
    } else {
        None
    };
    let steps = match upstream {
        Some(conninfo) => {
            let primary = store::primary_slots(cfg, &conninfo, PRIMARY_TIMEOUT).await?;
            plan(
                policy,
                cfg.me(),
                &Observed::Standby {
                    primary: &primary,
                    local: &local,
                    replayed,
                },
            )
        }
        None => plan(
            policy,
            cfg.me(),
            &Observed::Primary {
                instances: &cfg.instances,
                local: &local,
            },
        ),
    };
    for step in &steps {
        let (what, slot) = match step {
            SlotStep::Create { name } => ("created", name),
            SlotStep::Advance { name, .. } => ("advanced", name),
            SlotStep::Drop { name } => ("dropped", name),
        };
        match bounded(
            "changing a replication slot",
            LOCAL_TIMEOUT,
            store::apply(&client, step),
        )
        .await
        {
            Ok(()) if matches!(step, SlotStep::Advance { .. }) => {
                tracing::debug!(slot = %slot, "replication slot {what}")
            }
            Ok(()) => tracing::info!(slot = %slot, "replication slot {what}"),
            Err(e) => tracing::warn!(
                slot = %slot,
                error = %e,
                label = e.label(),
                "replication slot not {what}; retrying next round"
            ),
        }
    }
    Ok(())
}
