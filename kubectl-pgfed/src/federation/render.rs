//! `kubectl pgfed federation status` as text: who holds the primary and how far behind the other
//! regions are, then each member, the switchover in progress, the last failover and whatever
//! condition is not True. Pure: (Federation, now) → text. Lag figures may be absent (older
//! controllers do not report them); they print as `-`.

use crate::output::table::{Table, fields};
use crate::output::units::{age, bytes, seconds, when};
use crate::output::{conditions, units};
use chrono::{DateTime, Utc};
use pgfed_api::federation::{FailoverRecord, Federation, FederationStatus, SwitchoverProgress};

/// The text report of `fed` at `now`.
pub fn render(fed: &Federation, now: DateTime<Utc>) -> String {
    let status = fed.status.clone().unwrap_or_default();
    let mut sections = vec![header(fed, &status), members(fed, &status, now)];
    if let Some(p) = &status.switchover {
        sections.push(switchover(p, now));
    }
    if let Some(f) = &status.last_failover {
        sections.push(last_failover(f, now));
    }
    let not_true: Vec<_> = status
        .conditions
        .iter()
        .filter(|c| c.status != "True")
        .collect();
    if !not_true.is_empty() {
        sections.push(format!(
            "Conditions not True\n{}",
            conditions::table(not_true).render()
        ));
    }
    sections.join("\n\n")
}

fn qualified_name(fed: &Federation) -> String {
    let name = fed.metadata.name.clone().unwrap_or_default();
    match &fed.metadata.namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name,
    }
}

fn region_of(fed: &Federation, status: &FederationStatus, member: &str) -> Option<String> {
    status
        .members
        .iter()
        .find(|m| m.name == member)
        .and_then(|m| m.region.clone())
        .or_else(|| {
            fed.spec
                .members
                .iter()
                .find(|m| m.name == member)
                .map(|m| m.region.clone())
        })
}

fn header(fed: &Federation, status: &FederationStatus) -> String {
    let primary = match &status.current_primary {
        None => format!("not reported yet (spec.primary is {})", fed.spec.primary),
        Some(holder) => {
            let region = status
                .current_primary_region
                .clone()
                .or_else(|| region_of(fed, status, holder));
            let mut text = match region {
                Some(r) => format!("{holder} (region {r})"),
                None => holder.clone(),
            };
            // A spec.primary the controller has not acted on (refused, or not seen yet) is the
            // first thing a reader wants to know about.
            if *holder != fed.spec.primary {
                text.push_str(&format!("; spec.primary asks for {}", fed.spec.primary));
            }
            text
        }
    };
    let worst_lag = match (status.max_lag_bytes, status.max_lag_seconds) {
        (None, None) => "-".to_string(),
        (b, s) => format!(
            "{}, {}",
            b.map_or_else(|| "-".to_string(), bytes),
            s.map_or_else(|| "-".to_string(), seconds)
        ),
    };
    let ready = match status.conditions.iter().find(|c| c.type_ == "Ready") {
        None => "not reported yet".to_string(),
        Some(c) if c.message.is_empty() => c.status.clone(),
        Some(c) => format!("{}: {}", c.status, c.message),
    };
    format!(
        "Federation {}\n{}",
        qualified_name(fed),
        fields(&[
            ("Primary", primary),
            ("Phase", status.phase.clone().unwrap_or_default()),
            ("Worst lag", worst_lag),
            ("Ready", ready),
        ])
    )
}

fn members(fed: &Federation, status: &FederationStatus, now: DateTime<Utc>) -> String {
    if status.members.is_empty() {
        let listed: Vec<String> = fed
            .spec
            .members
            .iter()
            .map(|m| format!("{} ({})", m.name, m.region))
            .collect();
        return format!(
            "Members: none reported yet; spec.members lists {}",
            if listed.is_empty() {
                "none".to_string()
            } else {
                listed.join(", ")
            }
        );
    }
    let mut t = Table::new(&[
        "NAME",
        "REGION",
        "REACHABLE",
        "ROLE",
        "PHASE",
        "TIMELINE",
        "LAG BYTES",
        "LAG SECONDS",
        "LAST SEEN",
        "MESSAGE",
    ]);
    for m in &status.members {
        t.row(vec![
            m.name.clone(),
            m.region
                .clone()
                .or_else(|| region_of(fed, status, &m.name))
                .unwrap_or_default(),
            if m.reachable { "yes" } else { "no" }.to_string(),
            m.role.clone().unwrap_or_default(),
            m.phase.clone().unwrap_or_default(),
            m.timeline.map(|t| t.to_string()).unwrap_or_default(),
            m.lag_bytes.map(bytes).unwrap_or_default(),
            m.lag_seconds.map(seconds).unwrap_or_default(),
            age(m.last_seen.as_deref(), now),
            m.message.clone().unwrap_or_default(),
        ]);
    }
    format!("Members\n{}", t.render())
}

fn switchover(p: &SwitchoverProgress, now: DateTime<Utc>) -> String {
    let since = |at: &Option<String>| at.as_deref().and_then(units::parse_time);
    let step = match (since(&p.step_started_at), since(&p.started_at)) {
        (Some(step), Some(start)) => format!(
            "{}, for {} (switchover started {} ago)",
            p.step,
            units::duration(now - step),
            units::duration(now - start)
        ),
        (Some(step), None) => format!("{}, for {}", p.step, units::duration(now - step)),
        (None, Some(start)) => format!(
            "{} (switchover started {} ago)",
            p.step,
            units::duration(now - start)
        ),
        (None, None) => p.step.clone(),
    };
    format!(
        "Switchover {} → {}\n{}",
        p.from,
        p.to,
        fields(&[
            ("Step", step),
            ("Message", p.message.clone().unwrap_or_default()),
        ])
    )
}

fn last_failover(f: &FailoverRecord, now: DateTime<Utc>) -> String {
    let mut text = format!(
        "Last failover: {} → {} at {}",
        f.from,
        f.to,
        when(&f.at, now)
    );
    if let Some(b) = f.data_loss_bound_bytes {
        text.push_str(&format!("; at most {} of WAL lost", bytes(b)));
    }
    if let Some(e) = f.epoch {
        text.push_str(&format!("; fencing epoch {e}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        units::parse_time("2026-12-01T12:00:00Z").expect("time")
    }

    fn federation(status: serde_json::Value) -> Federation {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "pgfed.io/v1", "kind": "Federation",
            "metadata": {"name": "shop", "namespace": "demo", "generation": 4},
            "spec": {
                "primary": "a",
                "members": [
                    {"name": "a", "region": "eu-west"},
                    {"name": "b", "region": "us-east"}
                ],
                "template": {"instances": 1}
            },
            "status": status
        }))
        .expect("federation")
    }

    fn condition(t: &str, s: &str, reason: &str, message: &str) -> serde_json::Value {
        serde_json::json!({"type": t, "status": s, "reason": reason, "message": message,
            "lastTransitionTime": "2026-12-01T11:00:00Z", "observedGeneration": 4})
    }

    #[test]
    fn a_healthy_federation_with_lag_figures() {
        let fed = federation(serde_json::json!({
            "phase": "Healthy", "currentPrimary": "a", "currentPrimaryRegion": "eu-west",
            "maxLagBytes": 1_572_864, "maxLagSeconds": 2.34,
            "members": [
                {"name": "a", "region": "eu-west", "reachable": true, "role": "primary",
                 "phase": "Cluster in healthy state", "timeline": 2, "lagBytes": 0,
                 "lagSeconds": 0.0, "lastSeen": "2026-12-01T11:59:48Z"},
                {"name": "b", "region": "us-east", "reachable": true, "role": "replica",
                 "phase": "Cluster in healthy state", "timeline": 2, "lagBytes": 1_572_864,
                 "lagSeconds": 2.34, "lastSeen": "2026-12-01T11:59:30Z"}
            ],
            "conditions": [
                condition("Ready", "True", "FederationReady", "a holds the primary; every member replays it"),
                condition("SwitchoverAllowed", "True", "Allowed", "spec.primary can move")
            ]
        }));
        let want = "\
Federation demo/shop
Primary:    a (region eu-west)
Phase:      Healthy
Worst lag:  1.5 MiB, 2.3s
Ready:      True: a holds the primary; every member replays it

Members
NAME  REGION   REACHABLE  ROLE     PHASE                     TIMELINE  LAG BYTES  LAG SECONDS  LAST SEEN  MESSAGE
a     eu-west  yes        primary  Cluster in healthy state  2         0 B        0.0s         12s        -
b     us-east  yes        replica  Cluster in healthy state  2         1.5 MiB    2.3s         30s        -";
        assert_eq!(render(&fed, now()), want);
    }

    #[test]
    fn a_switchover_in_progress_with_an_unreachable_member_and_no_lag_figures() {
        let mut fed = federation(serde_json::json!({
            "phase": "Switchover in progress", "currentPrimary": "a",
            "members": [
                {"name": "a", "region": "eu-west", "reachable": true, "role": "demoting",
                 "timeline": 2, "lastSeen": "2026-12-01T11:59:58Z"},
                {"name": "b", "reachable": false, "lastSeen": "2026-12-01T11:50:00Z",
                 "message": "connection refused"}
            ],
            "switchover": {"from": "a", "to": "b", "step": "Demoting",
                "demotionToken": "eyJsb25n", "generation": 4,
                "startedAt": "2026-12-01T11:58:00Z", "stepStartedAt": "2026-12-01T11:59:15Z",
                "message": "waiting for a's demotion token"},
            "lastFailover": {"from": "b", "to": "a", "at": "2026-11-28T12:00:00Z",
                "dataLossBoundBytes": 2048, "epoch": 7},
            "conditions": [
                condition("Ready", "False", "FederationNotReady", "switchover a → b: Demoting (waiting for a's demotion token)"),
                condition("MembersReachable", "False", "Unreachable", "not reachable: b"),
                condition("PrimaryConsistent", "True", "OnePrimary", "a is the only member accepting writes")
            ]
        }));
        fed.spec.primary = "b".into();
        let want = "\
Federation demo/shop
Primary:    a (region eu-west); spec.primary asks for b
Phase:      Switchover in progress
Worst lag:  -
Ready:      False: switchover a → b: Demoting (waiting for a's demotion token)

Members
NAME  REGION   REACHABLE  ROLE      PHASE  TIMELINE  LAG BYTES  LAG SECONDS  LAST SEEN  MESSAGE
a     eu-west  yes        demoting  -      2         -          -            2s         -
b     us-east  no         -         -      -         -          -            10m        connection refused

Switchover a → b
Step:     Demoting, for 45s (switchover started 2m ago)
Message:  waiting for a's demotion token

Last failover: b → a at 2026-11-28T12:00:00Z (3d ago); at most 2.0 KiB of WAL lost; fencing epoch 7

Conditions not True
TYPE              STATUS  REASON              MESSAGE
Ready             False   FederationNotReady  switchover a → b: Demoting (waiting for a's demotion token)
MembersReachable  False   Unreachable         not reachable: b";
        assert_eq!(render(&fed, now()), want);
        assert!(
            !render(&fed, now()).contains("eyJsb25n"),
            "the token stays out of the text"
        );
    }

    #[test]
    fn a_federation_the_controller_has_not_reported_on() {
        let mut fed = federation(serde_json::Value::Null);
        fed.status = None;
        let want = "\
Federation demo/shop
Primary:    not reported yet (spec.primary is a)
Phase:      -
Worst lag:  -
Ready:      not reported yet

Members: none reported yet; spec.members lists a (eu-west), b (us-east)";
        assert_eq!(render(&fed, now()), want);
    }

    #[test]
    fn only_some_lag_figures() {
        let fed = federation(serde_json::json!({"currentPrimary": "a", "maxLagSeconds": 0.5}));
        assert!(
            render(&fed, now()).contains("Worst lag:  -, 0.5s"),
            "{}",
            render(&fed, now())
        );
    }
}
