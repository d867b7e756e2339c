//! The pgfed member operator: today the admission webhook (with its certificate, renewed while it
//! runs) and the operator's metrics; the Cluster controller joins it with its issue (its pure builders
//! are in `cluster::build`, not yet driven by a reconciler).
//! `main.rs` only parses arguments (`cli`) and calls into here.
#![forbid(unsafe_code)]

pub mod cli;
pub mod cluster;
pub mod crd_command;
pub mod instances;
pub mod leader;
pub mod metrics;
pub mod pki;
pub mod telemetry;
pub mod webhook;
