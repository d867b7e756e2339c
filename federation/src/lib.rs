//! The pgfed federation controller: one PostgreSQL primary across regions. It runs in a hub
//! Kubernetes cluster, creates and updates every member's Cluster from the Federation
//! (`member`), moves the primary by demote → token → promote when `spec.primary` changes
//! (`switchover`), reports every member and its lag in the Federation's status (`status`, `lag`),
//! detaches removed members (`detach`), and fails over to another region when the primary region
//! is lost and `failover.mode` is `Automatic`: whom to promote (`failover`), the persisted steps
//! (`regional`), the fencing lease in object storage (`lease_store`).
//! `main.rs` only parses arguments and calls into here.
#![forbid(unsafe_code)]

pub mod apply;
pub mod cli;
pub mod clients;
pub mod controller;
pub mod counted;
pub mod detach;
pub mod failover;
pub mod lag;
pub mod lease_store;
pub mod member;
pub mod metrics;
pub mod observe;
pub mod regional;
pub mod reseed;
pub mod run;
pub mod status;
pub mod switchover;
pub mod turn;
