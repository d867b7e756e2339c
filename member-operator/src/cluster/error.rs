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
    /// `bootstrap.recovery.backup` names a Backup that cannot be recovered from (yet).
    #[error(transparent)]
    RecoveryBackup(#[from] super::recovery_backup::RecoveryBackupError),
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
    /// The status patch did not apply to the status on the server: it was computed from a
    /// cached status older than the server's (a JSON patch of the difference refuses to clobber).
    #[error("{action}: the status changed since it was read ({source})")]
    StaleStatus {
        /// What was being written.
        action: String,
        /// The API server's refusal.
        #[source]
        source: kube::Error,
    },
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
            Self::RecoveryBackup(_) => "recovery_backup",
            Self::MissingReference { .. } => "missing_reference",
            Self::MissingKey { .. } => "missing_key",
            Self::Certificates(_) => "certificates",
            Self::Pod(_) => "pod_spec",
            Self::Pvc(_) => "pvc_spec",
            Self::Service(_) => "service_spec",
            Self::Config(_) => "config",
            Self::Random(_) => "random",
            Self::StaleStatus { .. } => "stale_status",
            Self::Kube { .. } => "kube_api",
        }
    }

    /// Whether only a change by the user (of the Cluster or of what it references) can fix it;
    /// otherwise retrying may.
    pub fn needs_user_action(&self) -> bool {
        !matches!(
            self,
            Self::Kube { .. } | Self::StaleStatus { .. } | Self::Random(_)
        )
    }

    /// Wraps an API error with what was being done.
    /// Whether this is a status write refused as stale (see [`Self::StaleStatus`]).
    pub fn is_stale_status(&self) -> bool {
        matches!(self, Self::StaleStatus { .. })
    }

    /// The error of a status patch: a 422 (the JSON patch does not apply) or a 409 means the
    /// status changed on the server since it was read.
    pub fn status_write(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let action = action.into();
        move |source| match &source {
            kube::Error::Api(status) if status.code == 422 || status.code == 409 => {
                Self::StaleStatus { action, source }
            }
            _ => Self::Kube { action, source },
        }
    }

    pub fn kube(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let action = action.into();
        move |source| Self::Kube { action, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            ..kube::core::Status::default()
        }))
    }

    #[test]
    fn a_refused_status_patch_is_stale_only_for_422_and_409() {
        for (code, stale) in [(422, true), (409, true), (500, false), (403, false)] {
            let e = ReconcileError::status_write("writing")(api_error(code));
            assert_eq!(e.is_stale_status(), stale, "{code}");
            assert!(!e.needs_user_action(), "{code}");
        }
        assert!(!ReconcileError::kube("x")(api_error(422)).is_stale_status());
    }
}
