//! The Cluster controller's pieces. The reconcile is a pipeline — observe, decide, build, apply,
//! status — and each step lives in its own module: `decide` holds the pure decisions (what to do
//! next), `build` the pure builders of the objects a Cluster owns, one file per kind; both are
//! testable without a Kubernetes API server. The reconciler that drives them comes with issue 9.

pub mod build;
pub mod decide;
