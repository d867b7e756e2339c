//! The pgfed member operator: the admission webhook (with its certificate, renewed while it
//! runs), leader election among its replicas, the Cluster (`cluster`), Backup (`backup`),
//! ScheduledBackup (`scheduled_backup`) and Database (`database`) controllers run by the leader,
//! the mutual-TLS client of the instance managers (`instances`) and the operator's metrics. `main.rs` only parses arguments (`cli`) and calls into here.
#![forbid(unsafe_code)]

pub mod backup;
pub mod cli;
pub mod cluster;
pub mod crd_command;
pub mod database;
pub mod instances;
pub mod leader;
pub mod manager_binary;
pub mod metrics;
pub mod pki;
pub mod scheduled_backup;
pub mod telemetry;
pub mod webhook;
