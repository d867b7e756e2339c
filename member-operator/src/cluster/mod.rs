//! The Cluster controller's pieces. The reconcile is a pipeline — observe, decide, build, apply,
//! status — and each step lives in its own module; `build` holds the pure builders of the objects
//! a Cluster owns, one file per kind, testable without a Kubernetes API server.

pub mod build;
