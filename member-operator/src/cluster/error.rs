//! Why a Cluster reconcile stopped. Two families, handled differently by the controller: the
//! Cluster's own definition is at fault (the user must change something: a condition says what,
//! and the reconcile waits for a change or for the referenced object to appear), or something
//! transient failed (the API server, a manager that did not answer: requeue with backoff).

use super::build::certs::CertBuildError;
use super::build::config::ConfigRenderError;
use super::build::meta::MetaError;
use super::build::pod::PodError;
use super::build::pvc::PvcError;
use super::build::service::ServiceError;

/// Why a reconcile of a Cluster did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The object the watch delivered is not a valid Cluster (it bypassed admission).
    #[error("the Cluster does not match the pgfed.io/v1 schema: {0}")]
    Malformed(String),
    /// The spec breaks a rule admission enforces (it bypassed admission).
    #[error("invalid cluster definition: {0}")]
    Invalid(String),
    /// The Cluster was not read from the API server (no name, namespace or uid).
    #[error(transparent)]
    Identity(#[from] MetaError),
    /// A Secret or ConfigMap the spec references does not exist.
    #[error("{kind} {name} referenced by {field} does not exist")]
    MissingReference {
        /// Kind of the missing object.
        kind: &'static str,
        /// Its name.
        name: String,
        /// The spec field naming it.
        field: String,
    },
    /// A referenced Secret or ConfigMap lacks a key the operator or the instances need.
    #[error("{kind} {name} referenced by {field} has no key {key}")]
    MissingKey {
        /// Kind of the object.
        kind: &'static str,
        /// Its name.
        name: String,
        /// The key.
        key: String,
        /// The spec field naming it.
        field: String,
    },
    /// The certificates cannot be issued or a user certificate Secret is unusable.
    #[error(transparent)]
    Certificates(#[from] CertBuildError),
    /// A pod cannot be built from the spec.
    #[error(transparent)]
    Pod(#[from] PodError),
    /// A claim cannot be built from the spec.
    #[error(transparent)]
    Pvc(#[from] PvcError),
    /// The Services cannot be built from the spec.
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// The managers' configuration cannot be rendered.
    #[error(transparent)]
    Config(#[from] ConfigRenderError),
    /// No random bytes for a password.
    #[error("generating a password: {0}")]
    Random(String),
    /// A call to the API server failed.
    #[error("{action}: {source}")]
    Kube {
        /// What was being done, on which object.
        action: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

impl ReconcileError {
    /// A short, stable name of the cause, for the metrics' `error` label and Event reasons.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::Invalid(_) => "invalid_spec",
            Self::Identity(_) => "identity",
            Self::MissingReference { .. } => "missing_reference",
            Self::MissingKey { .. } => "missing_key",
            Self::Certificates(_) => "certificates",
            Self::Pod(_) => "pod_spec",
            Self::Pvc(_) => "pvc_spec",
            Self::Service(_) => "service_spec",
            Self::Config(_) => "config",
            Self::Random(_) => "random",
            Self::Kube { .. } => "kube_api",
        }
    }

    /// Whether only a change by the user (of the Cluster or of what it references) can fix it;
    /// otherwise retrying may.
    pub fn needs_user_action(&self) -> bool {
        !matches!(self, Self::Kube { .. } | Self::Random(_))
    }

    /// Wraps an API error with what was being done.
    pub fn kube(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let action = action.into();
        move |source| Self::Kube { action, source }
    }
}
