//! `kubectl pgfed`: the commands that need no cluster live here; the ones that talk to the API
//! server join as their issues land.
#![forbid(unsafe_code)]

pub mod validate;
