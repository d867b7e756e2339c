//! The fencing lease's calls on an object store: read, create, renew, take over. Every write is
//! conditional — create only if absent (`If-None-Match: *` on S3), replace only the version read
//! (`If-Match: <etag>`) — so of two writers racing from the same version exactly one wins. A store
//! that cannot make a write conditional (S3 configured with `aws_conditional_put = disabled`, a
//! local directory for updates) gets [`LeaseError::Unconditional`]; nothing ever falls back to an
//! unconditional write.
//!
//! The store is any [`ObjectStore`], so the manager can pass the one it built from its Cluster's
//! `barmanObjectStore` and the federation controller the one it built for the Federation.

use crate::lease::{DecodeError, Lease, Stored, Version};
use bytes::Bytes;
use chrono::Utc;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Why a lease call did not do what was asked. The contention outcomes ([`AlreadyHeld`],
/// [`Lost`], [`Conflict`], [`Missing`]) are answers about the lease; the others are failures.
///
/// [`AlreadyHeld`]: LeaseError::AlreadyHeld
/// [`Lost`]: LeaseError::Lost
/// [`Conflict`]: LeaseError::Conflict
/// [`Missing`]: LeaseError::Missing
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// `create`: a lease already exists (what it holds is given).
    #[error("fencing lease {key} already exists, held by {} at epoch {}", .stored.lease.holder, .stored.lease.epoch)]
    AlreadyHeld {
        /// The object key.
        key: String,
        /// The lease found, with its version (for a takeover).
        stored: Box<Stored>,
    },
    /// `renew`: the lease is not ours any more (another holder, another epoch, or another
    /// federation's). The holder must fence at once.
    #[error("fencing lease {key} lost: held by {holder} at epoch {epoch}")]
    Lost {
        /// The object key.
        key: String,
        /// Who holds it now.
        holder: String,
        /// At which epoch.
        epoch: u64,
    },
    /// The lease changed after the version given was read (`renew`: still ours, but it changed
    /// again under the one retry; `take_over`: someone else wrote first). Read it again.
    #[error("fencing lease {key} changed since it was read")]
    Conflict {
        /// The object key.
        key: String,
    },
    /// `renew`, `take_over`: there is no lease object (any more).
    #[error("fencing lease {key} does not exist")]
    Missing {
        /// The object key.
        key: String,
    },
    /// The store cannot make this write conditional, or gave no version to make the next write
    /// conditional on. Nothing was written — except when a store accepted a write but reported
    /// no version for it (`operation` then says so), which no supported store does.
    #[error(
        "fencing lease {key}: the object store cannot {operation} conditionally, and the lease is \
         never written unconditionally (on S3-compatible stores, conditional_put must not be disabled)"
    )]
    Unconditional {
        /// The object key.
        key: String,
        /// What could not be made conditional.
        operation: &'static str,
    },
    /// The object at the key is not a lease this program can read.
    #[error("fencing lease {key}: {source}")]
    Unreadable {
        /// The object key.
        key: String,
        /// What is wrong with it.
        source: DecodeError,
    },
    /// The lease could not be turned into JSON.
    #[error("fencing lease {key}: encoding: {source}")]
    Encode {
        /// The object key.
        key: String,
        /// Cause.
        source: serde_json::Error,
    },
    /// The store failed (unreachable, denied, …); the lease is as it was or unknown.
    #[error("fencing lease {key}: {source}")]
    Store {
        /// The object key.
        key: String,
        /// Cause.
        source: object_store::Error,
    },
}

impl LeaseError {
    /// A short, stable name for metrics and Events.
    pub fn label(&self) -> &'static str {
        match self {
            LeaseError::AlreadyHeld { .. } => "already_held",
            LeaseError::Lost { .. } => "lost",
            LeaseError::Conflict { .. } => "conflict",
            LeaseError::Missing { .. } => "missing",
            LeaseError::Unconditional { .. } => "unconditional",
            LeaseError::Unreadable { .. } => "unreadable",
            LeaseError::Encode { .. } => "encode",
            LeaseError::Store { .. } => "object_store",
        }
    }
}

/// The object path of a lease at `key` below `prefix` (the path part of the store's
/// `destinationPath` inside its bucket; empty at the root of a bucket). Pure.
pub fn lease_path(prefix: &str, key: &str) -> Path {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        Path::from(key)
    } else {
        Path::from(format!("{prefix}/{key}"))
    }
}

/// The fencing lease of one federation, at one key of one store.
#[derive(Clone)]
pub struct FencingLease {
    store: Arc<dyn ObjectStore>,
    key: Path,
    federation: String,
    duration: Duration,
}

/// Names the store by its `Display` (provider and bucket) only: a client's `Debug` can carry its
/// credentials (an Azure SAS token, for one).
impl fmt::Debug for FencingLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FencingLease")
            .field("store", &format_args!("{}", self.store))
            .field("key", &self.key)
            .field("federation", &self.federation)
            .field("duration", &self.duration)
            .finish()
    }
}

/// What a conditional write came back with.
enum Written {
    Done(Version),
    /// The condition did not hold: the object exists (create) or changed (update).
    Refused,
}

impl FencingLease {
    /// The lease of `federation` (e.g. `<namespace>/<name>/<uid>`) at `key` in `store`, written
    /// with `duration` (how long a holder accepts writes after a renewal starts).
    pub fn new(
        store: Arc<dyn ObjectStore>,
        key: Path,
        federation: impl Into<String>,
        duration: Duration,
    ) -> FencingLease {
        FencingLease {
            store,
            key,
            federation: federation.into(),
            duration,
        }
    }

    /// The object key.
    pub fn key(&self) -> &Path {
        &self.key
    }

    /// The lease as stored now, with its version; `None` when there is none.
    pub async fn read(&self) -> Result<Option<Stored>, LeaseError> {
        let got = match self.store.get(&self.key).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(source) => return Err(self.store_error(source)),
        };
        let version = Version::new(got.meta.e_tag.clone(), got.meta.version.clone())
            .ok_or_else(|| self.unconditional("read a version of the lease to update"))?;
        let bytes = got.bytes().await.map_err(|e| self.store_error(e))?;
        let lease = Lease::decode(&bytes).map_err(|source| LeaseError::Unreadable {
            key: self.key.to_string(),
            source,
        })?;
        Ok(Some(Stored { lease, version }))
    }

    /// Creates the lease, held by `holder` at epoch 1, only if there is none. When one exists
    /// (another writer was first), nothing is written and [`LeaseError::AlreadyHeld`] says what
    /// is there.
    pub async fn create(&self, holder: &str) -> Result<Stored, LeaseError> {
        let lease = Lease::first(&self.federation, holder, self.duration, Utc::now());
        match self.write(&lease, PutMode::Create).await? {
            Written::Done(version) => Ok(Stored { lease, version }),
            Written::Refused => match self.read().await? {
                Some(stored) => Err(LeaseError::AlreadyHeld {
                    key: self.key.to_string(),
                    stored: Box::new(stored),
                }),
                // Created and deleted again in between: the caller reads and decides anew.
                None => Err(self.conflict()),
            },
        }
    }

    /// Renews the lease `held` (as last read or written) for `holder`: one more renewal, same
    /// epoch, only if the object is still at `held.version`. When it changed, it is read again:
    /// if it is still `holder`'s at the same epoch (an earlier renewal whose answer was lost),
    /// the renewal is retried once on what was read; otherwise [`LeaseError::Lost`].
    pub async fn renew(&self, held: &Stored, holder: &str) -> Result<Stored, LeaseError> {
        let epoch = held.lease.epoch;
        let mut current = self.still_ours(held.clone(), holder, epoch)?;
        for _attempt in 0..2 {
            let lease = current.lease.renewed(Utc::now());
            let mode = PutMode::Update(update_version(&current.version));
            match self.write(&lease, mode).await? {
                Written::Done(version) => return Ok(Stored { lease, version }),
                Written::Refused => {
                    let stored = self.read().await?.ok_or_else(|| self.missing())?;
                    current = self.still_ours(stored, holder, epoch)?;
                }
            }
        }
        Err(self.conflict())
    }

    /// Hands the lease to `holder` at the next epoch with no renewals, only if the object is
    /// still the version in `from`: of two controllers taking over from the same version, one
    /// succeeds and the other gets [`LeaseError::Conflict`] (or [`LeaseError::Missing`]).
    ///
    /// The store's client retries a request whose answer was lost; when the first attempt had
    /// in fact landed, the retry is refused and this reports a conflict although the lease is now
    /// `holder`'s at the next epoch. A caller that reads again sees exactly that.
    pub async fn take_over(&self, from: &Stored, holder: &str) -> Result<Stored, LeaseError> {
        let lease = from
            .lease
            .taken_over(&self.federation, holder, self.duration, Utc::now());
        let mode = PutMode::Update(update_version(&from.version));
        match self.write(&lease, mode).await? {
            Written::Done(version) => Ok(Stored { lease, version }),
            // S3 answers a conditional update of a missing object as a failed precondition.
            Written::Refused => match self.read().await? {
                Some(_) => Err(self.conflict()),
                None => Err(self.missing()),
            },
        }
    }

    /// `stored` when it is `holder`'s in this federation at `epoch`; otherwise the lease is lost.
    fn still_ours(&self, stored: Stored, holder: &str, epoch: u64) -> Result<Stored, LeaseError> {
        if stored.lease.is_held_by(&self.federation, holder, epoch) {
            Ok(stored)
        } else {
            Err(LeaseError::Lost {
                key: self.key.to_string(),
                holder: stored.lease.holder,
                epoch: stored.lease.epoch,
            })
        }
    }

    /// One conditional write of `lease`.
    async fn write(&self, lease: &Lease, mode: PutMode) -> Result<Written, LeaseError> {
        let operation = match mode {
            PutMode::Create => "create the lease",
            PutMode::Update(_) => "replace the lease",
            // Only conditional modes reach here; refuse rather than write blindly.
            PutMode::Overwrite => return Err(self.unconditional("overwrite the lease")),
        };
        let body = lease.encode().map_err(|source| LeaseError::Encode {
            key: self.key.to_string(),
            source,
        })?;
        let opts = PutOptions {
            mode,
            ..PutOptions::default()
        };
        let payload = PutPayload::from_bytes(Bytes::from(body));
        match self.store.put_opts(&self.key, payload, opts).await {
            Ok(put) => Version::new(put.e_tag, put.version)
                .map(Written::Done)
                .ok_or_else(|| self.unconditional("learn the version it wrote")),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(Written::Refused),
            Err(
                object_store::Error::NotImplemented { .. }
                | object_store::Error::NotSupported { .. },
            ) => Err(self.unconditional(operation)),
            Err(source) => Err(self.store_error(source)),
        }
    }

    fn store_error(&self, source: object_store::Error) -> LeaseError {
        LeaseError::Store {
            key: self.key.to_string(),
            source,
        }
    }

    fn unconditional(&self, operation: &'static str) -> LeaseError {
        LeaseError::Unconditional {
            key: self.key.to_string(),
            operation,
        }
    }

    fn conflict(&self) -> LeaseError {
        LeaseError::Conflict {
            key: self.key.to_string(),
        }
    }

    fn missing(&self) -> LeaseError {
        LeaseError::Missing {
            key: self.key.to_string(),
        }
    }
}

fn update_version(version: &Version) -> UpdateVersion {
    UpdateVersion {
        e_tag: version.e_tag.clone(),
        version: version.version.clone(),
    }
}
