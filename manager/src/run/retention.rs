//! When `backup.retentionPolicy` is applied: by the primary only (the one instance whose
//! archiver writes the store, so two instances never prune the same area), while postgres runs
//! and the instance is not fenced, a minute after it became primary and then every hour. The
//! outcome of the last pass is published in the status document's `retention`.

use super::shared::Shared;
use crate::backup::retention_run;
use crate::config::ManagerConfig;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often the loop looks at the role and the configuration.
const TICK: Duration = Duration::from_secs(10);
/// Delay between becoming primary and the first pass: the promotion's own work goes first.
const FIRST_PASS_AFTER: Duration = Duration::from_secs(60);
/// Between two passes. Backups are taken at most a few times a day; pruning more often only
/// costs listings.
pub const PERIOD: Duration = Duration::from_secs(3600);

/// Whether this instance applies the policy now: the target primary, running, not fenced, with
/// a policy and an object store. Pure.
pub fn applies(cfg: &ManagerConfig, running: bool, fenced: bool) -> bool {
    running
        && !fenced
        && cfg.target_primary.as_deref() == Some(cfg.me())
        && cfg
            .backup
            .as_ref()
            .is_some_and(|b| b.retention_policy.is_some() && b.barman_object_store.is_some())
}

/// Whether a pass is due, given since when the instance has been applying and when the last
/// pass ran. Pure.
pub fn due(since: Instant, last: Option<Instant>, now: Instant) -> bool {
    match last {
        None => now.duration_since(since) >= FIRST_PASS_AFTER,
        Some(at) => now.duration_since(at) >= PERIOD,
    }
}

/// Runs for the life of the manager.
pub async fn run(shared: Arc<Shared>) {
    let mut since: Option<Instant> = None;
    let mut last: Option<Instant> = None;
    let mut tick = tokio::time::interval(TICK);
    loop {
        tick.tick().await;
        let cfg = shared.config.read().await.clone();
        let running = shared.postgres_running.load(Ordering::SeqCst);
        let fenced = shared.fenced.load(Ordering::SeqCst);
        if !applies(&cfg, running, fenced) {
            since = None;
            last = None;
            *shared.retention.write().await = None;
            continue;
        }
        let started = *since.get_or_insert_with(Instant::now);
        if !due(started, last, Instant::now()) {
            continue;
        }
        let now = chrono::Utc::now();
        let result = retention_run::run_pass(&cfg, now, false).await;
        if let Err(e) = &result {
            tracing::warn!(error = %e, "retention pass deleted nothing or stopped part-way");
        }
        let policy = cfg
            .backup
            .as_ref()
            .and_then(|b| b.retention_policy.clone())
            .unwrap_or_default();
        *shared.retention.write().await = Some(retention_run::report(&policy, now, &result));
        last = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_pass_waits_a_minute_then_one_per_period() {
        let t0 = Instant::now();
        assert!(!due(t0, None, t0 + Duration::from_secs(59)));
        assert!(due(t0, None, t0 + FIRST_PASS_AFTER));
        let last = t0 + FIRST_PASS_AFTER;
        assert!(!due(t0, Some(last), last + PERIOD - Duration::from_secs(1)));
        assert!(due(t0, Some(last), last + PERIOD));
    }

    #[test]
    fn only_the_running_unfenced_target_primary_with_a_policy_applies_it() {
        let cfg: ManagerConfig = serde_json::from_value(serde_json::json!({
            "clusterName": "pg", "instanceName": "pg-1", "pgdata": "/d",
            "targetPrimary": "pg-1",
            "backup": {"retentionPolicy": "30d",
                       "barmanObjectStore": {"destinationPath": "s3://b/p"}}
        }))
        .expect("config");
        assert!(applies(&cfg, true, false));
        assert!(!applies(&cfg, false, false));
        assert!(!applies(&cfg, true, true));
        let standby = ManagerConfig {
            target_primary: Some("pg-2".into()),
            ..cfg.clone()
        };
        assert!(!applies(&standby, true, false));
        let mut no_policy = cfg.clone();
        if let Some(b) = no_policy.backup.as_mut() {
            b.retention_policy = None;
        }
        assert!(!applies(&no_policy, true, false));
    }
}
