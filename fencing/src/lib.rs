//! The federation's fencing lease: one JSON object in an object store that says which member
//! region may accept writes, and at which epoch. The primary region's manager renews it; the
//! federation controller watches it and, once it has stopped changing for long enough, takes it
//! over for the replica region it promotes.
//!
//! - [`lease`]: what the object holds, and the pure transitions (create, renew, take over).
//! - [`decide`]: the pure timing rules — when the holder must fence itself, when an observer may
//!   consider the lease expired — and why the two together never let two regions write at once.
//! - [`store`]: the calls on the object store. Every write is conditional (create-if-absent or
//!   update-if-unchanged); a store that cannot make a write conditional gets a typed error,
//!   never an unconditional write.
#![forbid(unsafe_code)]

pub mod decide;
pub mod lease;
pub mod store;

pub use decide::{HolderClock, Observation};
pub use lease::{FORMAT_VERSION, Lease, Stored, Version};
pub use store::{FencingLease, LeaseError, lease_path};
