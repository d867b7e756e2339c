//! The controller's side of the fencing lease: opening it from `failover.leaseObjectStore` with
//! credentials read from the hub, reading it every turn into an [`Observation`] on the
//! controller's own clock, and taking it over. The rules are in `pgfed_fencing` and
//! [`crate::failover`]; this module only does the I/O.
//!
//! The store client reads credentials from files laid out as the instances have them mounted
//! (`<dir>/<secret>/<key>`), so the controller writes the Secrets it needs into a private
//! directory under `$TMPDIR` (an in-memory volume in the Deployment), readable by itself only.

use crate::failover::LeaseView;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::{Client, ResourceExt};
use pgfed_api::cluster::FencingLeaseConfiguration;
use pgfed_api::federation::Federation;
use pgfed_fencing::{FencingLease, LeaseError, Observation, Stored};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Why the lease could not be opened or read this turn.
#[derive(Debug, thiserror::Error)]
pub enum LeaseAccessError {
    /// A credential Secret could not be read from the hub.
    #[error("reading Secret {namespace}/{name} for failover.leaseObjectStore: {source}")]
    Secret {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// Cause.
        #[source]
        source: kube::Error,
    },
    /// A credential Secret lacks the key the store configuration names.
    #[error("Secret {namespace}/{name} has no key {key:?} (failover.leaseObjectStore)")]
    MissingKey {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The key.
        key: String,
    },
    /// The private credentials directory could not be written.
    #[error("writing the lease store's credentials under {dir}: {source}")]
    Write {
        /// The directory.
        dir: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The store configuration could not be opened.
    #[error("failover.leaseObjectStore: {0}")]
    Open(#[source] pgfed_manager::objstore::StoreError),
    /// `failover.leaseDuration` is unreadable (admission refuses it).
    #[error("failover.leaseDuration: {0}")]
    Duration(#[source] pgfed_api::validation::formats::FormatError),
    /// The store answered with an error.
    #[error(transparent)]
    Lease(#[from] LeaseError),
}

/// The lease as read this turn.
#[derive(Clone, Debug)]
pub enum LeaseRead {
    /// There is no lease object yet.
    Absent,
    /// The lease, with what the controller's observation makes of it.
    Seen {
        /// The object and its version, to take over from.
        stored: Box<Stored>,
        /// Holder, epoch, and whether it has been unchanged for the timeout.
        view: LeaseView,
    },
    /// It could not be read (the reason, for the status).
    Unreadable(String),
}

impl LeaseRead {
    /// The view, when the lease was read.
    pub fn view(&self) -> Option<&LeaseView> {
        match self {
            LeaseRead::Seen { view, .. } => Some(view),
            _ => None,
        }
    }
}

/// Lease handles and observations of every Federation, by uid.
#[derive(Default)]
pub struct Leases {
    handles: Mutex<HashMap<String, (String, FencingLease)>>,
    observations: Mutex<HashMap<String, Observation>>,
}

fn temp_root() -> PathBuf {
    std::env::var_os("TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join("pgfed-federation-leases")
}

impl Leases {
    /// Reads the lease of `fed` (configured as `cfg`) and folds it into the Federation's
    /// observation; `timeout` is `primaryUnreachableTimeout`.
    pub async fn read(
        &self,
        client: &Client,
        fed: &Federation,
        cfg: &FencingLeaseConfiguration,
        timeout: Duration,
    ) -> LeaseRead {
        let uid = fed.uid().unwrap_or_default();
        let lease = match self.handle(client, fed, cfg).await {
            Ok(l) => l,
            Err(e) => return LeaseRead::Unreadable(e.to_string()),
        };
        match lease.read().await {
            Ok(None) => {
                self.lock_observations().remove(&uid);
                LeaseRead::Absent
            }
            Ok(Some(stored)) => {
                let now = Instant::now();
                let mut observations = self.lock_observations();
                let observation = observations
                    .entry(uid)
                    .and_modify(|o| {
                        o.observe(&stored.lease, now);
                    })
                    .or_insert_with(|| Observation::new(&stored.lease, now));
                let view = LeaseView {
                    holder: stored.lease.holder.clone(),
                    epoch: stored.lease.epoch,
                    expired: observation.expired(now, timeout),
                    unchanged_for: observation.unchanged_for(now),
                    writes_until: chrono::Duration::from_std(stored.lease.duration())
                        .ok()
                        .and_then(|d| stored.lease.renewed_at.checked_add_signed(d)),
                };
                LeaseRead::Seen {
                    stored: Box::new(stored),
                    view,
                }
            }
            Err(e) => {
                // A failing store may have been reconfigured or its credentials rotated.
                self.lock_handles().remove(&uid);
                LeaseRead::Unreadable(e.to_string())
            }
        }
    }

    /// Hands the lease read as `from` to `to` at the next epoch (conditional on its version).
    pub async fn take_over(
        &self,
        client: &Client,
        fed: &Federation,
        cfg: &FencingLeaseConfiguration,
        from: &Stored,
        to: &str,
    ) -> Result<Stored, LeaseAccessError> {
        let lease = self.handle(client, fed, cfg).await?;
        Ok(lease.take_over(from, to).await?)
    }

    /// Forgets a Federation (deleted, or no longer with automatic failover).
    /// Called on every turn of a Federation without automatic failover, so it touches the disk
    /// only when a lease was opened for it.
    pub fn forget(&self, uid: &str) {
        self.lock_observations().remove(uid);
        if self.lock_handles().remove(uid).is_some() {
            let _ = std::fs::remove_dir_all(temp_root().join(uid));
        }
    }

    fn lock_handles(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, FencingLease)>> {
        self.handles.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_observations(&self) -> std::sync::MutexGuard<'_, HashMap<String, Observation>> {
        self.observations.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The lease handle, opened anew when the configuration changed.
    async fn handle(
        &self,
        client: &Client,
        fed: &Federation,
        cfg: &FencingLeaseConfiguration,
    ) -> Result<FencingLease, LeaseAccessError> {
        let uid = fed.uid().unwrap_or_default();
        let key = serde_json::to_string(cfg).unwrap_or_default();
        if let Some((k, lease)) = self.lock_handles().get(&uid)
            && *k == key
        {
            return Ok(lease.clone());
        }
        let ns = fed.namespace().unwrap_or_default();
        let dir = temp_root().join(&uid);
        write_credentials(client, &ns, cfg, &dir).await?;
        let (store, prefix) = pgfed_manager::objstore::open_root(&cfg.object_store, &dir)
            .map_err(LeaseAccessError::Open)?;
        let duration = cfg.lease_duration().map_err(LeaseAccessError::Duration)?;
        let lease = FencingLease::new(
            store,
            pgfed_fencing::lease_path(&prefix, cfg.key()),
            cfg.federation.clone(),
            duration,
        );
        self.lock_handles().insert(uid, (key, lease.clone()));
        Ok(lease)
    }
}

/// Writes every Secret key the store configuration names to `<dir>/<secret>/<key>`, mode 0600.
async fn write_credentials(
    client: &Client,
    ns: &str,
    cfg: &FencingLeaseConfiguration,
    dir: &Path,
) -> Result<(), LeaseAccessError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    for (_, selector) in cfg.object_store.secret_selectors() {
        let secret =
            secrets
                .get(&selector.name)
                .await
                .map_err(|source| LeaseAccessError::Secret {
                    namespace: ns.to_string(),
                    name: selector.name.clone(),
                    source,
                })?;
        let value = secret
            .data
            .as_ref()
            .and_then(|d| d.get(&selector.key))
            .map(|b| b.0.clone())
            .ok_or_else(|| LeaseAccessError::MissingKey {
                namespace: ns.to_string(),
                name: selector.name.clone(),
                key: selector.key.clone(),
            })?;
        write_private(&dir.join(&selector.name), &selector.key, &value).map_err(|source| {
            LeaseAccessError::Write {
                dir: dir.display().to_string(),
                source,
            }
        })?;
    }
    Ok(())
}

fn write_private(dir: &Path, key: &str, value: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let path = dir.join(key);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    file.write_all(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_written_readable_by_the_controller_only() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("uid").join("s3-creds");
        write_private(&dir, "ACCESS_KEY_ID", b"minio").expect("write");
        write_private(&dir, "ACCESS_KEY_ID", b"rotated").expect("rewrite");
        let file = dir.join("ACCESS_KEY_ID");
        assert_eq!(std::fs::read(&file).expect("read"), b"rotated");
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dmode = std::fs::metadata(&dir).expect("meta").permissions().mode();
        assert_eq!(dmode & 0o777, 0o700);
    }
}
