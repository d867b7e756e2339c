//! The `pgfed.io/v1` API: CRD types, defaulting and validation as pure functions, shared names and
//! token formats. No I/O lives here; every binary of the workspace speaks this vocabulary.
#![forbid(unsafe_code)]

pub mod barman;
pub mod lsn;
pub mod token;

pub use k8s_openapi;
pub use kube;
