//! Pure builders: a Cluster (and what the reconciler observed) in, the desired child objects out.
//! One file per kind. Nothing here talks to the API server; the reconciler applies what these
//! return with server-side apply and removes children with our labels that were not built.

pub mod account;
pub mod certs;
pub mod config;
pub mod credentials;
pub mod meta;
pub mod pdb;
pub mod pod;
pub mod pvc;
pub mod service;
