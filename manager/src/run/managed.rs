//! When the declaratively managed objects are reconciled: the roles (`spec.managed.roles` and the
//! superuser's password, see [`crate::roles`]) and the databases (the cluster's Database objects,
//! see [`crate::databases`]). Each kind has its own loop, so a slow pass of one never holds up the
//! other: on the primary, as soon as postgres runs, whenever the configuration that drives it
//! changes (including this instance becoming the target primary), and every minute — a pass with
//! nothing to do costs a few queries. The outcome of the last pass is published in the status
//! document (`managedRoles`, `databases`); a standby publishes none.

use super::shared::Shared;
use crate::config::ManagerConfig;
use crate::roles::apply::{self as roles, Outcome};
use crate::roles::decide::AppliedPasswords;
use pgfed_api::cluster::{ManagedConfiguration, ManagedRolesStatus};
use pgfed_api::database::{DatabaseReport, ManagedDatabase};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// How often a loop looks at the configuration and the postmaster.
const TICK: Duration = Duration::from_secs(2);
/// How often a kind is reconciled when nothing changed (drift made by hand, a rotated Secret).
pub const PERIOD: Duration = Duration::from_secs(60);
/// How soon a pass that could not run (server unreachable, superuser Secret unreadable) is tried
/// again.
const RETRY: Duration = Duration::from_secs(10);

/// One kind of object the primary keeps as the configuration says.
pub trait Keeper: Send + 'static {
    /// The part of the configuration that decides what a pass does.
    type Inputs: Clone + PartialEq + Send + Sync;
    /// What the status document shows of a pass.
    type Report: Send + Sync + 'static;
    /// Why a pass could not run at all.
    type Error: std::fmt::Display + Send;
    /// What is kept, for logs.
    const WHAT: &'static str;
    /// The inputs of `cfg`. Pure.
    fn inputs(cfg: &ManagerConfig) -> Self::Inputs;
    /// One pass: the report on the primary, `None` on a standby (nothing done).
    fn pass(
        &mut self,
        cfg: &ManagerConfig,
    ) -> impl Future<Output = Result<Option<Self::Report>, Self::Error>> + Send;
    /// A short, stable name of the cause of a failed pass, for logs.
    fn label(e: &Self::Error) -> &'static str;
    /// Where the report is published.
    fn published(shared: &Shared) -> &RwLock<Option<Self::Report>>;
}

/// The managed roles and the superuser's password; remembers the passwords it set.
#[derive(Default)]
pub struct Roles {
    applied: AppliedPasswords,
}

/// The part of the configuration the roles follow.
#[derive(Clone, Debug, PartialEq)]
pub struct RoleInputs {
    managed: Option<ManagedConfiguration>,
    enable_superuser_access: bool,
    superuser_secret: Option<String>,
}

impl Keeper for Roles {
    type Inputs = RoleInputs;
    type Report = ManagedRolesStatus;
    type Error = roles::RolesError;
    const WHAT: &'static str = "roles";

    fn inputs(cfg: &ManagerConfig) -> RoleInputs {
        RoleInputs {
            managed: cfg.managed.clone(),
            enable_superuser_access: cfg.enable_superuser_access,
            superuser_secret: cfg.superuser_secret.clone(),
        }
    }

    async fn pass(
        &mut self,
        cfg: &ManagerConfig,
    ) -> Result<Option<ManagedRolesStatus>, Self::Error> {
        Ok(match roles::reconcile(cfg, &mut self.applied).await? {
            Outcome::Primary(status) => Some(status),
            Outcome::Standby => None,
        })
    }

    fn label(e: &Self::Error) -> &'static str {
        e.label()
    }

    fn published(shared: &Shared) -> &RwLock<Option<ManagedRolesStatus>> {
        &shared.managed_roles
    }
}

/// The cluster's Database objects.
pub struct Databases;

impl Keeper for Databases {
    type Inputs = Vec<ManagedDatabase>;
    type Report = Vec<DatabaseReport>;
    type Error = crate::pg::PgError;
    const WHAT: &'static str = "databases";

    fn inputs(cfg: &ManagerConfig) -> Vec<ManagedDatabase> {
        cfg.databases.clone()
    }

    async fn pass(
        &mut self,
        cfg: &ManagerConfig,
    ) -> Result<Option<Vec<DatabaseReport>>, Self::Error> {
        crate::databases::apply::reconcile(cfg).await
    }

    fn label(e: &Self::Error) -> &'static str {
        e.label()
    }

    fn published(shared: &Shared) -> &RwLock<Option<Vec<DatabaseReport>>> {
        &shared.databases
    }
}

/// A kind's inputs and whether this instance is the target primary.
#[derive(Clone, Debug, PartialEq)]
pub struct Inputs<I> {
    of: I,
    target_is_me: bool,
}

impl<I> Inputs<I> {
    /// `of` with `cfg`'s target primary. Pure.
    pub fn of(cfg: &ManagerConfig, of: I) -> Inputs<I> {
        Inputs {
            of,
            target_is_me: cfg.target_primary.as_deref() == Some(cfg.me()),
        }
    }
}

/// Whether a pass is due: postgres runs, and no pass completed since it started, or the inputs
/// changed since the last one, or it was `PERIOD` ago. Pure.
pub fn due<I: PartialEq>(
    running: bool,
    last: Option<&(Inputs<I>, Instant)>,
    now: &Inputs<I>,
    at: Instant,
) -> bool {
    running
        && match last {
            None => true,
            Some((inputs, when)) => inputs != now || at.duration_since(*when) >= PERIOD,
        }
}

/// Keeps one kind for the life of the manager.
pub async fn run<K: Keeper>(shared: Arc<Shared>, mut keeper: K) {
    let mut last: Option<(Inputs<K::Inputs>, Instant)> = None;
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
        let inputs = Inputs::of(&cfg, K::inputs(&cfg));
        if !due(running, last.as_ref(), &inputs, Instant::now()) {
            continue;
        }
        match keeper.pass(&cfg).await {
            Ok(Some(report)) => {
                *K::published(&shared).write().await = Some(report);
                last = Some((inputs, Instant::now()));
            }
            Ok(None) => {
                *K::published(&shared).write().await = None;
                // A standby about to be promoted is looked at again on the next tick.
                if !inputs.target_is_me {
                    last = Some((inputs, Instant::now()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, label = K::label(&e), kind = K::WHAT, "managed objects not reconciled; retrying");
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
        let before = Inputs::of(&cfg, Roles::inputs(&cfg));
        let promoted_cfg = ManagerConfig {
            target_primary: Some("pg-1".into()),
            ..cfg.clone()
        };
        let promoted = Inputs::of(&promoted_cfg, Roles::inputs(&promoted_cfg));
        let superuser_cfg = ManagerConfig {
            enable_superuser_access: true,
            ..cfg.clone()
        };
        let superuser = Inputs::of(&superuser_cfg, Roles::inputs(&superuser_cfg));
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

    #[test]
    fn a_changed_database_object_makes_a_database_pass_due() {
        let cfg = ManagerConfig {
            cluster_name: "pg".into(),
            ..Default::default()
        };
        let t0 = Instant::now();
        let before = Inputs::of(&cfg, Databases::inputs(&cfg));
        let changed_cfg = ManagerConfig {
            databases: vec![ManagedDatabase {
                object: "shop".into(),
                generation: Some(2),
                ..Default::default()
            }],
            ..cfg.clone()
        };
        let changed = Inputs::of(&changed_cfg, Databases::inputs(&changed_cfg));
        let last = Some((before.clone(), t0));
        let soon = t0 + Duration::from_secs(5);
        assert!(!due(true, last.as_ref(), &before, soon));
        assert!(due(true, last.as_ref(), &changed, soon));
        // The roles do not follow the databases.
        assert_eq!(Roles::inputs(&cfg), Roles::inputs(&changed_cfg));
    }
}
