//! `instance run`: the manager as PID 1 — supervises postgres, serves probes, status and metrics,
//! and turns PostgreSQL's log into JSON lines on stdout.

pub mod http;
pub mod jsonlog;
pub mod metrics;
pub mod status;
pub mod supervisor;
