//! The pgfed instance manager: runs as PID 1 of every PostgreSQL container, supervises postgres,
//! and carries WAL and base backups between PostgreSQL and object storage in the Barman Cloud
//! layout. `main.rs` only parses arguments and calls [`cli::run`].
#![forbid(unsafe_code)]

pub mod backup;
pub mod cli;
pub mod compression;
pub mod config;
pub mod databases;
pub mod durable;
pub mod install;
pub mod instance;
pub mod net;
pub mod objstore;
pub mod pg;
pub mod roles;
pub mod run;
pub mod secrets;
pub mod slots;
pub mod wal;
