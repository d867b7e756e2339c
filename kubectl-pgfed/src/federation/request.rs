//! Whether `kubectl pgfed federation switchover <name> <member>` may ask the controller to move the
//! primary, checked before anything is written so a mistake is answered at the prompt. The
//! controller makes its own, deeper checks (reachability, system identifier) and reports a refusal
//! in the `SwitchoverAllowed` condition, which the follow step reads. Pure.

use pgfed_api::federation::Federation;

/// Why the switchover is not asked for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The member is not in `spec.members`.
    #[error(
        "{member} is not a member of federation {namespace}/{name}; its members are {members}: give one of those names"
    )]
    NotAMember {
        /// Namespace of the Federation.
        namespace: String,
        /// Its name.
        name: String,
        /// What was given.
        member: String,
        /// `name (region)` of every member.
        members: String,
    },
    /// The member holds the primary and nothing else is asked for.
    #[error(
        "{member} already holds the primary of federation {namespace}/{name}; nothing to do (see `kubectl pgfed federation status {name} -n {namespace}`)"
    )]
    AlreadyPrimary {
        /// Namespace of the Federation.
        namespace: String,
        /// Its name.
        name: String,
        /// The member.
        member: String,
    },
    /// Another switchover runs; the controller would only start this one after it.
    #[error(
        "federation {namespace}/{name} is switching its primary from {from} to {to} (step {step}); wait for it to finish (`kubectl pgfed federation status {name} -n {namespace}`), then ask again"
    )]
    Busy {
        /// Namespace of the Federation.
        namespace: String,
        /// Its name.
        name: String,
        /// The member being demoted.
        from: String,
        /// The member being promoted.
        to: String,
        /// The step it is at.
        step: String,
    },
}

/// What to do for a switchover request that may go ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// Set `spec.primary` to the member.
    SetPrimary,
    /// `spec.primary` names the member already but it does not hold the primary yet (the
    /// controller is moving it, or refuses to): nothing to write, only to follow.
    AlreadyAsked,
}

/// Checks asking `fed` (in `namespace`) to move its primary to `member`. Pure.
pub fn check(fed: &Federation, namespace: &str, member: &str) -> Result<Request, RequestError> {
    let name = fed.metadata.name.clone().unwrap_or_default();
    let namespace = namespace.to_string();
    if !fed.spec.members.iter().any(|m| m.name == member) {
        let members: Vec<String> = fed
            .spec
            .members
            .iter()
            .map(|m| format!("{} ({})", m.name, m.region))
            .collect();
        return Err(RequestError::NotAMember {
            namespace,
            name,
            member: member.to_string(),
            members: if members.is_empty() {
                "none".to_string()
            } else {
                members.join(", ")
            },
        });
    }
    let status = fed.status.clone().unwrap_or_default();
    if let Some(p) = status.switchover.filter(|p| p.to != member) {
        return Err(RequestError::Busy {
            namespace,
            name,
            from: p.from,
            to: p.to,
            step: p.step,
        });
    }
    // Before its first turn the controller takes spec.primary as the holder; so do we.
    let holder = status
        .current_primary
        .unwrap_or_else(|| fed.spec.primary.clone());
    match (holder == member, fed.spec.primary == member) {
        (true, true) => Err(RequestError::AlreadyPrimary {
            namespace,
            name,
            member: member.to_string(),
        }),
        (false, true) => Ok(Request::AlreadyAsked),
        // Holding it while spec.primary asks for another member: asking for the holder again
        // cancels that request (it cannot have started, or a switchover would be recorded).
        (_, false) => Ok(Request::SetPrimary),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(primary: &str, status: serde_json::Value) -> Federation {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "pgfed.io/v1", "kind": "Federation",
            "metadata": {"name": "shop", "namespace": "demo"},
            "spec": {
                "primary": primary,
                "members": [
                    {"name": "a", "region": "eu-west"},
                    {"name": "b", "region": "us-east"}
                ],
                "template": {}
            },
            "status": status
        }))
        .expect("federation")
    }

    fn running(from: &str, to: &str) -> serde_json::Value {
        serde_json::json!({"currentPrimary": from,
            "switchover": {"from": from, "to": to, "step": "Promoting"}})
    }

    #[test]
    fn which_requests_go_ahead() {
        use Request::*;
        let settled = serde_json::json!({"currentPrimary": "a"});
        let cases: [(&str, serde_json::Value, &str, Result<Request, &str>); 8] = [
            ("a", settled.clone(), "b", Ok(SetPrimary)),
            ("a", settled.clone(), "a", Err("AlreadyPrimary")),
            ("a", settled.clone(), "c", Err("NotAMember")),
            // spec.primary asks for b, the controller has not moved (refused, or not seen yet).
            ("b", settled.clone(), "b", Ok(AlreadyAsked)),
            // ... and asking for a again withdraws that request.
            ("b", settled, "a", Ok(SetPrimary)),
            ("b", running("a", "b"), "b", Ok(AlreadyAsked)),
            ("b", running("a", "b"), "a", Err("Busy")),
            // No status yet: spec.primary holds it.
            ("a", serde_json::Value::Null, "a", Err("AlreadyPrimary")),
        ];
        for (primary, status, member, want) in cases {
            let got = check(&fed(primary, status.clone()), "demo", member);
            let got = got.map_err(|e| match e {
                RequestError::NotAMember { .. } => "NotAMember",
                RequestError::AlreadyPrimary { .. } => "AlreadyPrimary",
                RequestError::Busy { .. } => "Busy",
            });
            assert_eq!(
                got, want,
                "spec.primary {primary}, status {status}, {member}"
            );
        }
    }

    #[test]
    fn refusals_say_what_to_do() {
        let settled = serde_json::json!({"currentPrimary": "a"});
        let not_member = check(&fed("a", settled.clone()), "demo", "c").expect_err("refused");
        assert_eq!(
            not_member.to_string(),
            "c is not a member of federation demo/shop; its members are a (eu-west), b (us-east): give one of those names"
        );
        let already = check(&fed("a", settled), "demo", "a").expect_err("refused");
        assert_eq!(
            already.to_string(),
            "a already holds the primary of federation demo/shop; nothing to do (see `kubectl pgfed federation status shop -n demo`)"
        );
        let busy = check(&fed("b", running("a", "b")), "demo", "a").expect_err("refused");
        assert_eq!(
            busy.to_string(),
            "federation demo/shop is switching its primary from a to b (step Promoting); wait for it to finish (`kubectl pgfed federation status shop -n demo`), then ask again"
        );
    }
}
