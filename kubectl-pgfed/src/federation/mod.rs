//! `kubectl pgfed federation status|switchover`: the Federation's state across regions, and
//! moving its primary by setting `spec.primary` (the only trigger the federation controller
//! accepts), then following the controller's progress in the status. The API calls are here;
//! what to print and decide is in the pure modules below.

pub mod follow;
pub mod render;
pub mod request;

use crate::lookup::{LookupError, ObjectRef};
use crate::output::{Format, OutputError, structured};
use chrono::Utc;
use follow::{FollowError, Goal, Verdict};
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use pgfed_api::federation::Federation;
use request::{Request, RequestError};
use std::time::Duration;

/// How often a followed switchover is polled.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Why a federation command failed.
#[derive(Debug, thiserror::Error)]
pub enum FederationCommandError {
    /// The Federation could not be read or written.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// The Federation changed between the check and the write.
    #[error(
        "federation {namespace}/{name} changed while the switchover was being asked for; run the command again"
    )]
    Conflict {
        /// Namespace.
        namespace: String,
        /// Federation name.
        name: String,
    },
    /// The API server returned a Federation without `metadata.generation`, which the follow
    /// step needs to tell this request's outcome from an earlier one's.
    #[error(
        "federation {namespace}/{name} has no metadata.generation, so the switchover cannot be followed; follow it with `kubectl pgfed federation status {name} -n {namespace}`"
    )]
    NoGeneration {
        /// Namespace.
        namespace: String,
        /// Federation name.
        name: String,
    },
    /// The switchover is not asked for.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The switchover was asked for and did not complete while followed.
    #[error(transparent)]
    Follow(#[from] FollowError),
    /// The status could not be written in the format asked for.
    #[error(transparent)]
    Output(#[from] OutputError),
}

/// How `switchover` waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Follow {
    /// `Some(limit)`: follow the status until done, refused or `limit` has passed. `None`: return
    /// once `spec.primary` is set.
    pub wait: Option<Duration>,
}

fn federation(namespace: &str, name: &str) -> ObjectRef {
    ObjectRef {
        kind: "federation",
        resource: "federations.pgfed.io",
        namespace: namespace.to_string(),
        name: name.to_string(),
    }
}

/// The status of Federation `name` in `namespace`: the text report, or `status` as JSON or YAML.
pub async fn status(
    client: Client,
    namespace: &str,
    name: &str,
    format: Format,
) -> Result<String, FederationCommandError> {
    let fed = federation(namespace, name)
        .get(&Api::<Federation>::namespaced(client, namespace))
        .await?;
    match structured(&fed.status.clone().unwrap_or_default(), format)? {
        Some(text) => Ok(text),
        None => Ok(render::render(&fed, Utc::now())),
    }
}

/// Moves the primary of Federation `name` in `namespace` to `member`: checks the request
/// ([`request::check`]), sets `spec.primary` (a merge patch guarded by the resourceVersion read,
/// so a concurrent edit is not overwritten) and, when `follow.wait` is set, polls the status
/// every [`POLL_INTERVAL`], handing `progress` a line whenever the switchover moves on. Returns
/// the closing line: the member holds the primary and the federation is Healthy, or (without
/// waiting) that the switchover was asked for. Errors say what to do next.
pub async fn switchover(
    client: Client,
    namespace: &str,
    name: &str,
    member: &str,
    follow: Follow,
    mut progress: impl FnMut(&str),
) -> Result<String, FederationCommandError> {
    let object = federation(namespace, name);
    let api: Api<Federation> = Api::namespaced(client, namespace);
    let fed = object.get(&api).await?;
    let asked = request::check(&fed, namespace, member)?;
    let generation = match asked {
        Request::SetPrimary => {
            let patch = serde_json::json!({
                "metadata": {"resourceVersion": fed.metadata.resource_version},
                "spec": {"primary": member},
            });
            match api
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(patched) => patched.metadata.generation,
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    return Err(FederationCommandError::Conflict {
                        namespace: namespace.to_string(),
                        name: name.to_string(),
                    });
                }
                Err(e) => return Err(object.api_error("setting spec.primary of")(e).into()),
            }
        }
        Request::AlreadyAsked => fed.metadata.generation,
    }
    .ok_or_else(|| FederationCommandError::NoGeneration {
        namespace: namespace.to_string(),
        name: name.to_string(),
    })?;
    let follow_hint = format!("`kubectl pgfed federation status {name} -n {namespace}`");
    let asked_text = match asked {
        Request::SetPrimary => format!(
            "switchover of federation {namespace}/{name} to {member} requested (generation {generation})"
        ),
        Request::AlreadyAsked => format!(
            "spec.primary of federation {namespace}/{name} already asks for {member} (generation {generation})"
        ),
    };
    let Some(limit) = follow.wait else {
        return Ok(format!("{asked_text}; follow it with {follow_hint}"));
    };
    progress(&format!(
        "{asked_text}; following it for up to {}s (stopping this command does not stop the switchover)",
        limit.as_secs()
    ));
    let goal = Goal {
        namespace: namespace.to_string(),
        name: name.to_string(),
        member: member.to_string(),
        generation,
        limit,
    };
    let started = tokio::time::Instant::now();
    let mut seen = None;
    loop {
        let status = object.get(&api).await?.status.unwrap_or_default();
        let turn = follow::poll(&goal, seen.as_ref(), &status, started.elapsed());
        if let Some(line) = &turn.line {
            progress(line);
        }
        match turn.verdict {
            Verdict::Waiting => seen = turn.seen,
            Verdict::Done(text) => return Ok(text),
            Verdict::Failed(e) => return Err(e.into()),
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
