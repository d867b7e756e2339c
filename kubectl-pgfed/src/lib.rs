//! `kubectl pgfed`: `validate` checks manifests offline; `promote` asks for a switchover;
//! `backup` creates a Backup; `status` reports on a Cluster; `federation status|switchover`
//! report on a Federation and move its primary region. The other commands join as their issues
//! land.
#![forbid(unsafe_code)]

pub mod backup;
pub mod cluster_status;
pub mod federation;
pub mod lookup;
pub mod output;
pub mod promote;
pub mod validate;
