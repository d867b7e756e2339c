//! Pure decisions of the Cluster controller: given what was observed, what to do next. No I/O;
//! every function here is table-tested.

pub mod archiving;
pub mod election;
pub mod fencing;
pub mod hibernation;
pub mod phase;
pub mod pod_problems;
pub mod primary;
pub mod quorum;
pub mod rejoin;
pub mod replica;
pub mod reseed;
pub mod role_labels;
pub mod rollout;
pub mod scale;
pub mod sync;
pub mod upgrade;
pub mod wal_position;
