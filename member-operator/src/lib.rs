//! The pgfed member operator: today the admission webhook (with its certificate, renewed while it
//! runs) and the operator's metrics; the Cluster controllers join it as their issues land.
//! `main.rs` only parses arguments (`cli`) and calls into here.
#![forbid(unsafe_code)]

pub mod cli;
pub mod metrics;
pub mod telemetry;
pub mod webhook;
