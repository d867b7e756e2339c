//! Why a ScheduledBackup reconcile stopped: the object itself is unusable (the user must change
//! it: the status and an Event say why, and the controller waits for a change), or something
//! transient failed (the API server: retried with backoff).

use super::build::BuildError;
use super::schedule::ScheduleError;

/// Why a reconcile of a ScheduledBackup did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ScheduledBackupError {
    /// The object does not match the pgfed.io/v1 schema (it bypassed admission).
    #[error("the ScheduledBackup does not match the pgfed.io/v1 schema: {0}")]
    Malformed(String),
    /// `spec.schedule` does not parse (it bypassed admission).
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// The Backup cannot be built (the object was not read from the API server).
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A Backup with the slot's name exists but another schedule or a user created it.
    #[error("Backup {0} exists and was not created by this schedule")]
    NameTaken(String),
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

impl ScheduledBackupError {
    /// A short, stable name of the cause, for the metrics' `error` label and Event reasons.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::Schedule(_) => "invalid_schedule",
            Self::Build(_) => "identity",
            Self::NameTaken(_) => "backup_name_taken",
            Self::Kube { .. } => "kube_api",
        }
    }

    /// Whether only a change of the ScheduledBackup can fix it; otherwise retrying may (a
    /// foreign Backup holding the slot's name is retried with backoff: it may be deleted, and
    /// that deletion does not wake the schedule).
    pub fn needs_user_action(&self) -> bool {
        !matches!(self, Self::Kube { .. } | Self::NameTaken(_))
    }

    /// Wraps an API error with what was being done.
    pub fn kube(action: impl Into<String>) -> impl FnOnce(kube::Error) -> Self {
        let action = action.into();
        move |source| Self::Kube { action, source }
    }
}
