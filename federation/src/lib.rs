//! The pgfed federation controller: one PostgreSQL primary across regions. It runs in a hub
//! Kubernetes cluster, creates and updates every member's Cluster from the Federation
//! (`member`), moves the primary by demote → token → promote when `spec.primary` changes
//! (`switchover`), and reports every member in the Federation's status (`status`).
//! `main.rs` only parses arguments and calls into here.
#![forbid(unsafe_code)]

pub mod cli;
pub mod clients;
pub mod controller;
pub mod failover;
pub mod member;
pub mod run;
pub mod status;
pub mod switchover;
