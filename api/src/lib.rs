//! The `pgfed.io/v1` API: CRD types, defaulting and validation as pure functions, shared names and
//! token formats. No I/O lives here; every binary of the workspace speaks this vocabulary.
#![forbid(unsafe_code)]
// kube-derive takes one `printcolumn(...)` per column; clippy reads the repeated `type_ = ...`
// arguments of sibling columns as duplicated attributes.
#![allow(clippy::duplicated_attributes)]

pub mod admission;
pub mod backup;
pub mod barman;
pub mod cluster;
pub mod common;
pub mod crds;
pub mod database;
pub mod database_role;
pub mod defaults;
pub mod federation;
pub mod image_catalog;
pub mod instance;
pub mod lsn;
pub mod names;
pub mod object_store;
pub mod plugins;
pub mod pooler;
pub mod post_init_sql;
pub mod postgres_params;
pub mod token;
pub mod validation;

pub use k8s_openapi;
pub use kube;
