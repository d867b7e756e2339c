//! The pgfed member operator: admission webhook today; the Cluster controllers join it as their
//! issues land. `main.rs` only parses arguments and calls into here.
#![forbid(unsafe_code)]

pub mod crd_command;
pub mod telemetry;
pub mod webhook;
