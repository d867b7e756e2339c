//! When the roles are reconciled: on the primary, as soon as postgres runs, whenever the
//! configuration that drives them changes (including this instance becoming the target primary),
//! and every minute — a pass with nothing to do costs one query. The status of the last pass is
//! published in the status document's `managedRoles`; a standby publishes none.

use super::shared::Shared;
use crate::config::ManagerConfig;
use crate::roles::apply::{self, Outcome};
use crate::roles::decide::AppliedPasswords;
use pgfed_api::cluster::ManagedConfiguration;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often the loop looks at the configuration and the postmaster.
const TICK: Duration = Duration::from_secs(2);
/// How often roles are reconciled when nothing changed (drift made by hand, a rotated Secret).
pub const PERIOD: Duration = Duration::from_secs(60);
/// How soon a pass that could not run (server unreachable, superuser Secret unreadable) is tried
/// again.
const RETRY: Duration = Duration::from_secs(10);

/// The part of the configuration that decides what a pass does.
#[derive(Clone, Debug, PartialEq)]
pub struct Inputs {
    managed: Option<ManagedConfiguration>,
    enable_superuser_access: bool,
    superuser_secret: Option<String>,
    target_is_me: bool,
}

impl Inputs {
    /// The inputs of `cfg`. Pure.
    pub fn of(cfg: &ManagerConfig) -> Inputs {
        Inputs {
            managed: cfg.managed.clone(),
            enable_superuser_access: cfg.enable_superuser_access,
            superuser_secret: cfg.superuser_secret.clone(),
            target_is_me: cfg.target_primary.as_deref() == Some(cfg.me()),
        }
    }
}

/// Whether a pass is due: postgres runs, and no pass completed since it started, or the inputs
/// changed since the last one, or it was `PERIOD` ago. Pure.
pub fn due(running: bool, last: Option<&(Inputs, Instant)>, now: &Inputs, at: Instant) -> bool {
    running
        && match last {
            None => true,
            Some((inputs, when)) => inputs != now || at.duration_since(*when) >= PERIOD,
        }
}

/// Runs for the life of the manager.
pub async fn run(shared: Arc<Shared>) {
    let mut applied = AppliedPasswords::new();
    let mut last: Option<(Inputs, Instant)> = None;
    let mut tick = tokio::time::interval(TICK);
    loop {
        tick.tick().await;
        let running =
            shared.postgres_running.load(Ordering::SeqCst) && !shared.fenced.load(Ordering::SeqCst);
        if !running {
            // The next start is a new primary, or a standby: reconcile it afresh.
            last = None;
            continue;
        }
        let cfg = shared.config.read().await.clone();
        let inputs = Inputs::of(&cfg);
        if !due(running, last.as_ref(), &inputs, Instant::now()) {
            continue;
        }
        match apply::reconcile(&cfg, &mut applied).await {
            Ok(Outcome::Primary(status)) => {
                *shared.managed_roles.write().await = Some(status);
                last = Some((inputs, Instant::now()));
            }
            Ok(Outcome::Standby) => {
                *shared.managed_roles.write().await = None;
                // A standby about to be promoted is looked at again on the next tick.
                if !inputs.target_is_me {
                    last = Some((inputs, Instant::now()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, label = e.label(), "roles not reconciled; retrying");
                // Due again after RETRY rather than a whole PERIOD.
                let now = Instant::now();
                last = Some((inputs, now.checked_sub(PERIOD - RETRY).unwrap_or(now)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_is_due_on_start_on_change_and_every_minute() {
        let cfg = ManagerConfig {
            cluster_name: "pg".into(),
            instance_name: Some("pg-1".into()),
            ..Default::default()
        };
        let before = Inputs::of(&cfg);
        let promoted = Inputs::of(&ManagerConfig {
            target_primary: Some("pg-1".into()),
            ..cfg.clone()
        });
        let superuser = Inputs::of(&ManagerConfig {
            enable_superuser_access: true,
            ..cfg.clone()
        });
        let t0 = Instant::now();
        let soon = t0 + Duration::from_secs(5);
        let later = t0 + PERIOD;
        let last = Some((before.clone(), t0));
        let cases = [
            ("postgres down", false, None, &before, soon, false),
            ("first pass after a start", true, None, &before, soon, true),
            ("nothing changed", true, last.clone(), &before, soon, false),
            ("a minute later", true, last.clone(), &before, later, true),
            (
                "now the target primary",
                true,
                last.clone(),
                &promoted,
                soon,
                true,
            ),
            (
                "superuser access changed",
                true,
                last.clone(),
                &superuser,
                soon,
                true,
            ),
        ];
        for (what, running, last, now, at, want) in cases {
            assert_eq!(due(running, last.as_ref(), now, at), want, "{what}");
        }
    }
}
