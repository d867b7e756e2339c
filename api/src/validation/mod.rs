//! Admission validation as pure functions: every error names the field path and the rule broken.
//! The webhook serves exactly these functions; tests call them directly.

mod cluster;
mod cluster_update;
pub mod federation;
pub mod formats;
pub mod not_implemented;
mod object_store;
mod others;
mod plugins;
pub mod unsupported;

pub use cluster::{check_own_archive, validate_cluster, validate_cluster_create};
pub use cluster_update::validate_cluster_update;
pub use federation::{validate_federation, validate_federation_update};
pub use object_store::{validate_object_store, validate_object_store_resource};
pub use others::{
    validate_backup, validate_backup_update, validate_cluster_image_catalog, validate_database,
    validate_database_update, validate_image_catalog, validate_pooler, validate_publication,
    validate_scheduled_backup, validate_subscription,
};

use std::fmt;

/// One broken rule: the path of the field (`spec.replica.source`) and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the offending field, starting at `spec` (or `metadata`).
    pub field: String,
    /// The rule, phrased for the user.
    pub rule: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.rule)
    }
}

/// Accumulates field errors so one admission answer lists every problem at once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    /// Records a broken rule at `field`.
    pub fn push(&mut self, field: impl Into<String>, rule: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            rule: rule.into(),
        });
    }

    /// Records the error of a check, if any, with its message as the rule.
    pub fn check<E: fmt::Display>(&mut self, field: impl Into<String>, result: Result<(), E>) {
        if let Err(rule) = result {
            self.push(field, rule.to_string());
        }
    }

    /// Whether no rule was broken.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Converts to a `Result`, for callers that stop at the first invalid object.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "{}", parts.join("; "))
    }
}

impl std::error::Error for FieldErrors {}

/// Reports every name that appears more than once in `names`, at `path[i].name`.
fn check_unique<'a>(
    errors: &mut FieldErrors,
    path: &str,
    names: impl IntoIterator<Item = &'a str>,
) {
    let mut seen = std::collections::BTreeSet::new();
    for (i, name) in names.into_iter().enumerate() {
        if !seen.insert(name) {
            errors.push(
                format!("{path}[{i}].name"),
                format!("duplicate name {name:?}"),
            );
        }
    }
}
