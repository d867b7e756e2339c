//! `kubectl pgfed`: `validate` checks manifests offline; `promote` asks for a switchover; the
//! other commands join as their issues land.
#![forbid(unsafe_code)]

pub mod promote;
pub mod validate;
