//! `kubectl pgfed`: `validate` checks manifests offline; `promote` asks for a switchover;
//! `backup` creates a Backup; the other commands join as their issues land.
#![forbid(unsafe_code)]

pub mod backup;
pub mod promote;
pub mod validate;
