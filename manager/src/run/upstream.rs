//! The address a standby streams from, pinned: the role is built with its `primary_conninfo`'s
//! host resolved into `hostaddr` before it is written, and while a standby runs, its role file is
//! compared on every step with the one that would be written now, and rewritten when the pinned
//! address changed (a recreated Service), so the supervisor reloads postgres
//! (`primary_conninfo` is reloadable). An unchanged address renders the same file: nothing is
//! rewritten or reloaded.

use crate::config::{ConfigError, ManagerConfig};
use crate::instance::configure;
use crate::net::pin::Pinner;
use crate::net::resolve::Resolve;
use crate::pg::conf::{self, ROLE_CONF, Role};
use std::path::Path;

/// [`configure::startup_role`] with its upstream's host address pinned.
pub async fn startup_role<R: Resolve>(
    cfg: &ManagerConfig,
    previous: Option<&str>,
    pins: &Pinner<R>,
) -> Result<Role, ConfigError> {
    let role = configure::startup_role(cfg, previous)?;
    Ok(pins.pin_role(role).await)
}

/// Rewrites the role file of a running standby when the role it would be written with now
/// differs from it; true when it did (postgres should reload). Only a standby's file that sets
/// `primary_conninfo` is touched: a primary's, or one between roles, is the business of the
/// steps that change roles.
pub async fn repin<R: Resolve>(
    cfg: &ManagerConfig,
    config_file: &Path,
    previous: Option<&str>,
    pins: &Pinner<R>,
) -> bool {
    if !cfg.pgdata.join("standby.signal").exists() {
        return false;
    }
    let Ok(on_disk) = std::fs::read_to_string(cfg.pgdata.join(ROLE_CONF)) else {
        return false;
    };
    if conf::role_conf_primary_conninfo(&on_disk).is_none() {
        return false;
    }
    let role = match startup_role(cfg, previous, pins).await {
        Ok(
            role @ Role::Standby {
                primary_conninfo: Some(_),
                ..
            },
        ) => role,
        _ => return false,
    };
    if configure::role_conf(cfg, config_file, &role) == on_disk {
        return false;
    }
    match configure::write_role(cfg, config_file, &role) {
        Ok(()) => {
            tracing::info!("the upstream's pinned address changed: primary_conninfo rewritten");
            true
        }
        Err(e) => {
            tracing::error!(error = %e, label = e.label(), "cannot rewrite primary_conninfo");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::resolve::ResolveError;
    use std::collections::BTreeMap;
    use std::net::IpAddr;
    use std::sync::{Arc, Mutex};

    struct Table(Mutex<BTreeMap<String, IpAddr>>);

    impl Resolve for Arc<Table> {
        async fn resolve(&self, host: &str) -> Result<IpAddr, ResolveError> {
            let found = self.0.lock().expect("table").get(host).copied();
            found.ok_or_else(|| ResolveError::NoAddress {
                host: host.to_string(),
            })
        }
    }

    #[tokio::test]
    async fn a_changed_address_is_rewritten_once_and_a_primary_is_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = ManagerConfig::parse(&format!(
            "clusterName: pg\ninstanceName: pg-1\npgdata: {}\ntargetPrimary: pg-2\n\
             primaryConnection:\n  connectionParameters: {{host: pg-rw}}\n",
            dir.path().display()
        ))
        .expect("configuration");
        let file = Path::new("/etc/pgfed/config.json");
        let table = Arc::new(Table(Mutex::new(BTreeMap::new())));
        let set = |ip: &str| {
            table
                .0
                .lock()
                .expect("table")
                .insert("pg-rw".into(), ip.parse().expect("address"))
        };
        set("10.96.0.12");
        // Looked up again on every call, as if every step found the address stale.
        let pins = Pinner::with_resolver(Some(table.clone()), std::time::Duration::ZERO);
        let role_file = || std::fs::read_to_string(dir.path().join(ROLE_CONF)).unwrap_or_default();

        // A primary's files are not touched.
        configure::write_role(&cfg, file, &Role::Primary).expect("primary");
        assert!(!repin(&cfg, file, None, &pins).await);

        // A standby written without pinning (by a bootstrap step) is pinned.
        let plain = configure::startup_role(&cfg, None).expect("role");
        configure::write_role(&cfg, file, &plain).expect("standby");
        assert!(repin(&cfg, file, None, &pins).await);
        assert!(
            role_file().contains("hostaddr=10.96.0.12"),
            "{}",
            role_file()
        );
        // Unchanged: not rewritten.
        assert!(!repin(&cfg, file, None, &pins).await);

        // The Service is recreated: the background lookup learns the new address, the next step
        // rewrites the file once.
        set("10.96.0.99");
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(repin(&cfg, file, None, &pins).await);
        assert!(
            role_file().contains("hostaddr=10.96.0.99"),
            "{}",
            role_file()
        );
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!repin(&cfg, file, None, &pins).await);
    }
}
