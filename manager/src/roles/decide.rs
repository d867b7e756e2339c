//! What to do about the managed roles: the roles the spec asks for against the rows of
//! `pg_authid` the primary has, as SQL statements in the order they must run, and the status
//! that reports each role. Pure; `apply` reads the inputs and runs the statements.

use crate::pg::sql;
use pgfed_api::cluster::{ManagedRolesStatus, RoleConfiguration};
use pgfed_api::common::EnsureOption;
use std::collections::{BTreeMap, BTreeSet};

/// `byStatus` key of roles whose state matches the spec.
pub const RECONCILED: &str = "reconciled";
/// `byStatus` key of roles PostgreSQL has but the spec does not name.
pub const NOT_MANAGED: &str = "not-managed";
/// `byStatus` key of roles the manager never touches (see [`Reserved`]).
pub const RESERVED: &str = "reserved";

/// A role as the primary has it (`pg_authid`, its comment and the roles it is a member of).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedRole {
    /// rolname.
    pub name: String,
    /// rolsuper.
    pub superuser: bool,
    /// rolinherit.
    pub inherit: bool,
    /// rolcreaterole.
    pub createrole: bool,
    /// rolcreatedb.
    pub createdb: bool,
    /// rolcanlogin.
    pub login: bool,
    /// rolreplication.
    pub replication: bool,
    /// rolbypassrls.
    pub bypassrls: bool,
    /// rolconnlimit.
    pub connection_limit: i64,
    /// rolvaliduntil as seconds since the epoch (±infinity kept as such); None: unset.
    pub valid_until: Option<f64>,
    /// rolpassword: the stored verifier, None when the role has no password.
    pub password: Option<String>,
    /// The role's comment.
    pub comment: Option<String>,
    /// Names of the roles it is a direct member of.
    pub in_roles: Vec<String>,
}

/// What the spec asks for a role's password, resolved from the mounted Secret.
#[derive(Clone, Debug, PartialEq)]
pub enum WantedPassword {
    /// No `passwordSecret` and no `disablePassword`: whatever the role has stays.
    Keep,
    /// `disablePassword`: no password (PASSWORD NULL).
    Null,
    /// The Secret's password, as a fresh SCRAM verifier to send and a fingerprint of the password
    /// to recognise it later without keeping it.
    Set {
        /// SCRAM-SHA-256 verifier of the password.
        verifier: String,
        /// Fingerprint of the password (never sent or shown).
        fingerprint: u64,
    },
    /// The Secret cannot be read; the error says which file, never a value.
    Unavailable(String),
}

/// A role of `spec.managed.roles` with its password resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredRole {
    /// The role as the spec has it.
    pub spec: RoleConfiguration,
    /// Its password.
    pub password: WantedPassword,
}

/// The password the manager last set on a role: the fingerprint of the password and the verifier
/// it sent. While the role still has that verifier and the Secret that password, nothing is
/// sent again; a password changed by hand (another verifier) or in the Secret is set again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedPassword {
    /// Fingerprint of the password.
    pub fingerprint: u64,
    /// Verifier sent.
    pub verifier: String,
}

/// Passwords the manager set, by role name (kept in memory by the caller).
pub type AppliedPasswords = BTreeMap<String, AppliedPassword>;

/// Roles the manager never creates, alters or drops: PostgreSQL's superuser, the replication
/// user, the application owner, and PostgreSQL's own `pg_*` roles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reserved {
    /// The application database owner (`bootstrap.initdb.owner`).
    pub app_owner: String,
}

impl Reserved {
    /// True when `name` is reserved.
    pub fn contains(&self, name: &str) -> bool {
        name == "postgres"
            || name == crate::pg::hba::REPLICATION_USER
            || name == self.app_owner
            || name.starts_with("pg_")
    }
}

/// When a statement runs: every role is created or altered before any membership is granted (a
/// role may be a member of another created in the same pass), and roles are dropped last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// CREATE/ALTER ROLE and COMMENT.
    Define,
    /// GRANT/REVOKE membership.
    Membership,
    /// DROP ROLE.
    Drop,
}

/// One statement for one role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    /// When it runs.
    pub stage: Stage,
    /// The role it is about; a failure is reported against it and skips its later statements.
    pub role: String,
    /// The statement (may carry a SCRAM verifier, never a password).
    pub sql: String,
    /// A password this statement sets, to remember once it succeeded.
    pub sets_password: Option<AppliedPassword>,
}

/// The decision for one pass.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Statements in the order they run.
    pub actions: Vec<Action>,
    /// Roles of the spec that are acted on or already in shape (reconciled unless an action or
    /// an error says otherwise).
    pub managed: BTreeSet<String>,
    /// Roles that cannot be reconciled before any statement runs, with the reasons.
    pub errors: BTreeMap<String, Vec<String>>,
    /// Reserved roles, named by the spec or present.
    pub reserved: BTreeSet<String>,
    /// Roles present but not in the spec.
    pub not_managed: BTreeSet<String>,
}

/// Compares the spec's roles with the observed ones. Pure.
pub fn plan(
    desired: &[DesiredRole],
    observed: &[ObservedRole],
    reserved: &Reserved,
    applied: &AppliedPasswords,
) -> Plan {
    let mut out = Plan::default();
    let by_name: BTreeMap<&str, &ObservedRole> =
        observed.iter().map(|r| (r.name.as_str(), r)).collect();
    for role in observed {
        if reserved.contains(&role.name) {
            out.reserved.insert(role.name.clone());
        } else if !desired.iter().any(|d| d.spec.name == role.name) {
            out.not_managed.insert(role.name.clone());
        }
    }
    for d in desired {
        let name = &d.spec.name;
        if reserved.contains(name) {
            out.reserved.insert(name.clone());
            continue;
        }
        out.managed.insert(name.clone());
        let current = by_name.get(name.as_str()).copied();
        if d.spec.ensure == Some(EnsureOption::Absent) {
            if current.is_some() {
                out.actions.push(action(
                    Stage::Drop,
                    name,
                    format!("DROP ROLE {}", sql::ident(name)),
                ));
            }
            continue;
        }
        match role_actions(d, current, applied) {
            Ok(actions) => out.actions.extend(actions),
            Err(errors) => {
                out.errors.insert(name.clone(), errors);
            }
        }
    }
    out.actions.sort_by_key(|a| a.stage);
    out
}

fn action(stage: Stage, role: &str, sql: String) -> Action {
    Action {
        stage,
        role: role.to_string(),
        sql,
        sets_password: None,
    }
}

/// The statements that bring one present role in line, or why it cannot be.
fn role_actions(
    d: &DesiredRole,
    current: Option<&ObservedRole>,
    applied: &AppliedPasswords,
) -> Result<Vec<Action>, Vec<String>> {
    let spec = &d.spec;
    let mut errors = Vec::new();
    if spec.disable_password == Some(true) && spec.password_secret.is_some() {
        errors.push("passwordSecret and disablePassword are mutually exclusive".to_string());
    }
    if let WantedPassword::Unavailable(e) = &d.password {
        errors.push(e.clone());
    }
    let valid_until = match spec
        .valid_until
        .as_deref()
        .map(parse_valid_until)
        .transpose()
    {
        Ok(v) => v,
        Err(e) => {
            errors.push(e);
            None
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let name = sql::ident(&spec.name);
    let mut actions = Vec::new();
    let password = password_change(
        &spec.name,
        &d.password,
        current.map(|c| &c.password),
        applied,
    );
    let valid_until_clause = match (valid_until, current.and_then(|c| c.valid_until)) {
        (Some((_, wanted)), Some(have)) if (wanted - have).abs() < 1e-3 => None,
        (Some((text, _)), _) => Some(format!(" VALID UNTIL {}", sql::literal(text))),
        // Unset in the spec: no expiry, which an existing finite one must lose.
        (None, Some(have)) if have.is_finite() => Some(" VALID UNTIL 'infinity'".to_string()),
        (None, _) => None,
    };
    let options = role_options(spec);
    let define = match current {
        None => Some(format!("CREATE ROLE {name} WITH{options}")),
        Some(c) if role_options_of(c) != options => {
            Some(format!("ALTER ROLE {name} WITH{options}"))
        }
        Some(_) if password.is_some() || valid_until_clause.is_some() => {
            Some(format!("ALTER ROLE {name} WITH"))
        }
        Some(_) => None,
    };
    if let Some(mut statement) = define {
        let mut sets_password = None;
        if let Some((clause, applied)) = &password {
            statement.push(' ');
            statement.push_str(clause);
            sets_password = applied.clone();
        }
        if let Some(clause) = &valid_until_clause {
            statement.push_str(clause);
        }
        actions.push(Action {
            sets_password,
            ..action(Stage::Define, &spec.name, statement)
        });
    }
    let wanted_comment = spec.comment.as_deref().unwrap_or_default();
    let have_comment = current
        .and_then(|c| c.comment.as_deref())
        .unwrap_or_default();
    if wanted_comment != have_comment {
        let value = spec
            .comment
            .as_deref()
            .filter(|c| !c.is_empty())
            .map_or_else(|| "NULL".to_string(), sql::literal);
        actions.push(action(
            Stage::Define,
            &spec.name,
            format!("COMMENT ON ROLE {name} IS {value}"),
        ));
    }
    let have: BTreeSet<&str> = current
        .map(|c| c.in_roles.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let want: BTreeSet<&str> = spec.in_roles.iter().map(String::as_str).collect();
    for grant in want.difference(&have) {
        actions.push(action(
            Stage::Membership,
            &spec.name,
            format!("GRANT {} TO {name}", sql::ident(grant)),
        ));
    }
    for revoke in have.difference(&want) {
        actions.push(action(
            Stage::Membership,
            &spec.name,
            format!("REVOKE {} FROM {name}", sql::ident(revoke)),
        ));
    }
    Ok(actions)
}

/// The attribute list of CREATE/ALTER ROLE for the spec, every attribute spelled out so an
/// ALTER resets what the spec leaves at its default (CloudNativePG's defaults: INHERIT and no
/// connection limit, everything else off).
fn role_options(spec: &RoleConfiguration) -> String {
    attributes(
        spec.superuser.unwrap_or(false),
        spec.createdb.unwrap_or(false),
        spec.createrole.unwrap_or(false),
        spec.inherit.unwrap_or(true),
        spec.login.unwrap_or(false),
        spec.replication.unwrap_or(false),
        spec.bypassrls.unwrap_or(false),
        spec.connection_limit.unwrap_or(-1),
    )
}

fn role_options_of(c: &ObservedRole) -> String {
    attributes(
        c.superuser,
        c.createdb,
        c.createrole,
        c.inherit,
        c.login,
        c.replication,
        c.bypassrls,
        c.connection_limit,
    )
}

#[allow(clippy::too_many_arguments)]
fn attributes(
    superuser: bool,
    createdb: bool,
    createrole: bool,
    inherit: bool,
    login: bool,
    replication: bool,
    bypassrls: bool,
    connection_limit: i64,
) -> String {
    let flag = |on: bool, word: &str| {
        if on {
            format!(" {word}")
        } else {
            format!(" NO{word}")
        }
    };
    [
        flag(superuser, "SUPERUSER"),
        flag(createdb, "CREATEDB"),
        flag(createrole, "CREATEROLE"),
        flag(inherit, "INHERIT"),
        flag(login, "LOGIN"),
        flag(replication, "REPLICATION"),
        flag(bypassrls, "BYPASSRLS"),
        format!(" CONNECTION LIMIT {connection_limit}"),
    ]
    .concat()
}

/// The PASSWORD clause a role needs, if any, and the password it sets. `have` is None for a role
/// that does not exist yet. Pure; shared by the managed roles and `postgres`' superuser access.
pub fn password_change(
    role: &str,
    wanted: &WantedPassword,
    have: Option<&Option<String>>,
    applied: &AppliedPasswords,
) -> Option<(String, Option<AppliedPassword>)> {
    match wanted {
        WantedPassword::Keep | WantedPassword::Unavailable(_) => None,
        WantedPassword::Null => match have {
            Some(None) => None,
            _ => Some(("PASSWORD NULL".to_string(), None)),
        },
        WantedPassword::Set {
            verifier,
            fingerprint,
        } => {
            let unchanged = applied.get(role).is_some_and(|a| {
                a.fingerprint == *fingerprint
                    && have.is_some_and(|h| h.as_deref() == Some(a.verifier.as_str()))
            });
            (!unchanged).then(|| {
                (
                    format!("PASSWORD {}", sql::literal(verifier)),
                    Some(AppliedPassword {
                        fingerprint: *fingerprint,
                        verifier: verifier.clone(),
                    }),
                )
            })
        }
    }
}

/// `validUntil` (an RFC 3339 timestamp, as Kubernetes writes times) and its epoch seconds.
fn parse_valid_until(text: &str) -> Result<(&str, f64), String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| (text, t.timestamp_micros() as f64 / 1e6))
        .map_err(|e| format!("validUntil is not an RFC 3339 timestamp: {e}"))
}

/// The status of a pass: `plan`'s classification with the roles whose statements failed moved to
/// `cannotReconcile`. Pure.
pub fn status(plan: &Plan, failed: &BTreeMap<String, Vec<String>>) -> ManagedRolesStatus {
    let mut cannot = plan.errors.clone();
    for (role, errors) in failed {
        cannot
            .entry(role.clone())
            .or_default()
            .extend(errors.iter().cloned());
    }
    let mut by_status = BTreeMap::new();
    let reconciled: Vec<String> = plan
        .managed
        .iter()
        .filter(|r| !cannot.contains_key(*r))
        .cloned()
        .collect();
    for (key, names) in [
        (RECONCILED, reconciled),
        (NOT_MANAGED, plan.not_managed.iter().cloned().collect()),
        (RESERVED, plan.reserved.iter().cloned().collect()),
    ] {
        if !names.is_empty() {
            by_status.insert(key.to_string(), names);
        }
    }
    ManagedRolesStatus {
        by_status,
        cannot_reconcile: cannot,
        password_status: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgfed_api::common::LocalObjectReference;

    fn reserved() -> Reserved {
        Reserved {
            app_owner: "app".into(),
        }
    }

    fn spec(name: &str) -> RoleConfiguration {
        RoleConfiguration {
            name: name.into(),
            ..Default::default()
        }
    }

    fn keep(spec: RoleConfiguration) -> DesiredRole {
        DesiredRole {
            spec,
            password: WantedPassword::Keep,
        }
    }

    /// A role as CREATE ROLE with CloudNativePG's defaults leaves it.
    fn observed(name: &str) -> ObservedRole {
        ObservedRole {
            name: name.into(),
            inherit: true,
            connection_limit: -1,
            ..Default::default()
        }
    }

    fn sqls(plan: &Plan) -> Vec<&str> {
        plan.actions.iter().map(|a| a.sql.as_str()).collect()
    }

    const DEFAULTS: &str = " NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT NOLOGIN NOREPLICATION NOBYPASSRLS CONNECTION LIMIT -1";

    #[test]
    fn statements_for_each_difference() {
        let login = RoleConfiguration {
            login: Some(true),
            connection_limit: Some(5),
            ..spec("reporting")
        };
        let secret = WantedPassword::Set {
            verifier: "SCRAM-SHA-256$4096:c2FsdA==$a:b".into(),
            fingerprint: 7,
        };
        let cases: Vec<(&str, DesiredRole, Option<ObservedRole>, Vec<String>)> = vec![
            ("in shape: nothing", keep(spec("r")), Some(observed("r")), vec![]),
            (
                "missing: created with every attribute",
                keep(spec("r")),
                None,
                vec![format!("CREATE ROLE \"r\" WITH{DEFAULTS}")],
            ),
            (
                "attributes differ: altered",
                keep(login.clone()),
                Some(observed("reporting")),
                vec!["ALTER ROLE \"reporting\" WITH NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT LOGIN NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 5".into()],
            ),
            (
                "an attribute the spec leaves at its default is reset",
                keep(spec("r")),
                Some(ObservedRole { createdb: true, inherit: false, ..observed("r") }),
                vec![format!("ALTER ROLE \"r\" WITH{DEFAULTS}")],
            ),
            (
                "new role with a password: the verifier, never the password",
                DesiredRole { spec: spec("r"), password: secret.clone() },
                None,
                vec![format!("CREATE ROLE \"r\" WITH{DEFAULTS} PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$a:b'")],
            ),
            (
                "password never applied by this manager: set",
                DesiredRole { spec: spec("r"), password: secret.clone() },
                Some(ObservedRole { password: Some("SCRAM-SHA-256$other".into()), ..observed("r") }),
                vec!["ALTER ROLE \"r\" WITH PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$a:b'".into()],
            ),
            (
                "disablePassword on a role with one: NULL",
                DesiredRole { spec: RoleConfiguration { disable_password: Some(true), ..spec("r") }, password: WantedPassword::Null },
                Some(ObservedRole { password: Some("SCRAM-SHA-256$x".into()), ..observed("r") }),
                vec!["ALTER ROLE \"r\" WITH PASSWORD NULL".into()],
            ),
            (
                "disablePassword on a role without one: nothing",
                DesiredRole { spec: RoleConfiguration { disable_password: Some(true), ..spec("r") }, password: WantedPassword::Null },
                Some(observed("r")),
                vec![],
            ),
            (
                "validUntil set",
                keep(RoleConfiguration { valid_until: Some("2030-01-01T00:00:00Z".into()), ..spec("r") }),
                Some(observed("r")),
                vec!["ALTER ROLE \"r\" WITH VALID UNTIL '2030-01-01T00:00:00Z'".into()],
            ),
            (
                "validUntil already there (same instant, another spelling)",
                keep(RoleConfiguration { valid_until: Some("2030-01-01T01:00:00+01:00".into()), ..spec("r") }),
                Some(ObservedRole { valid_until: Some(1_893_456_000.0), ..observed("r") }),
                vec![],
            ),
            (
                "validUntil removed from the spec: no expiry",
                keep(spec("r")),
                Some(ObservedRole { valid_until: Some(1_893_456_000.0), ..observed("r") }),
                vec!["ALTER ROLE \"r\" WITH VALID UNTIL 'infinity'".into()],
            ),
            (
                "validUntil infinity and unset in the spec: nothing",
                keep(spec("r")),
                Some(ObservedRole { valid_until: Some(f64::INFINITY), ..observed("r") }),
                vec![],
            ),
            (
                "comment set, quoted",
                keep(RoleConfiguration { comment: Some("Bob's role".into()), ..spec("r") }),
                Some(observed("r")),
                vec!["COMMENT ON ROLE \"r\" IS 'Bob''s role'".into()],
            ),
            (
                "comment removed",
                keep(spec("r")),
                Some(ObservedRole { comment: Some("old".into()), ..observed("r") }),
                vec!["COMMENT ON ROLE \"r\" IS NULL".into()],
            ),
            (
                "membership granted and revoked",
                keep(RoleConfiguration { in_roles: vec!["pg_read_all_data".into(), "kept".into()], ..spec("r") }),
                Some(ObservedRole { in_roles: vec!["kept".into(), "pg_monitor".into()], ..observed("r") }),
                vec![
                    "GRANT \"pg_read_all_data\" TO \"r\"".into(),
                    "REVOKE \"pg_monitor\" FROM \"r\"".into(),
                ],
            ),
            (
                "absent and present: dropped",
                keep(RoleConfiguration { ensure: Some(EnsureOption::Absent), ..spec("r") }),
                Some(observed("r")),
                vec!["DROP ROLE \"r\"".into()],
            ),
            (
                "absent and gone: nothing",
                keep(RoleConfiguration { ensure: Some(EnsureOption::Absent), ..spec("r") }),
                None,
                vec![],
            ),
            (
                "a name needing quotes stays one identifier",
                keep(spec("we\"ird")),
                None,
                vec![format!("CREATE ROLE \"we\"\"ird\" WITH{DEFAULTS}")],
            ),
        ];
        for (what, desired, current, want) in cases {
            let got = plan(
                &[desired],
                &current.into_iter().collect::<Vec<_>>(),
                &reserved(),
                &AppliedPasswords::new(),
            );
            assert_eq!(sqls(&got), want, "{what}");
            assert!(got.errors.is_empty(), "{what}: {:?}", got.errors);
        }
    }

    #[test]
    fn a_password_this_manager_set_is_not_sent_again_until_it_or_the_role_changes() {
        let verifier = "SCRAM-SHA-256$4096:bmV3$c:d".to_string();
        let wanted = |fingerprint| DesiredRole {
            spec: spec("r"),
            password: WantedPassword::Set {
                verifier: verifier.clone(),
                fingerprint,
            },
        };
        let sent = "SCRAM-SHA-256$4096:b2xk$a:b".to_string();
        let applied = AppliedPasswords::from([(
            "r".to_string(),
            AppliedPassword {
                fingerprint: 1,
                verifier: sent.clone(),
            },
        )]);
        let role = |password: &str| ObservedRole {
            password: Some(password.into()),
            ..observed("r")
        };
        let cases = [
            ("same password, same verifier", 1, role(&sent), 0),
            ("the Secret changed", 2, role(&sent), 1),
            (
                "changed by hand in PostgreSQL",
                1,
                role("SCRAM-SHA-256$hand"),
                1,
            ),
        ];
        for (what, fingerprint, current, statements) in cases {
            let got = plan(&[wanted(fingerprint)], &[current], &reserved(), &applied);
            assert_eq!(got.actions.len(), statements, "{what}");
            if let Some(a) = got.actions.first() {
                assert_eq!(
                    a.sets_password,
                    Some(AppliedPassword {
                        fingerprint,
                        verifier: verifier.clone()
                    }),
                    "{what}"
                );
            }
        }
    }

    #[test]
    fn roles_are_defined_before_memberships_and_dropped_last() {
        let desired = vec![
            keep(RoleConfiguration {
                ensure: Some(EnsureOption::Absent),
                ..spec("a-old")
            }),
            keep(RoleConfiguration {
                in_roles: vec!["z-group".into()],
                ..spec("b-member")
            }),
            keep(spec("z-group")),
        ];
        let got = plan(
            &desired,
            &[observed("a-old")],
            &reserved(),
            &AppliedPasswords::new(),
        );
        let stages: Vec<(Stage, &str)> = got
            .actions
            .iter()
            .map(|a| (a.stage, a.role.as_str()))
            .collect();
        assert_eq!(
            stages,
            vec![
                (Stage::Define, "b-member"),
                (Stage::Define, "z-group"),
                (Stage::Membership, "b-member"),
                (Stage::Drop, "a-old"),
            ]
        );
    }

    #[test]
    fn reserved_and_unmanaged_roles_are_reported_and_never_touched() {
        let desired = vec![
            keep(RoleConfiguration {
                login: Some(true),
                ..spec("postgres")
            }),
            keep(RoleConfiguration {
                ensure: Some(EnsureOption::Absent),
                ..spec("app")
            }),
            keep(spec("pg_monitor")),
            keep(spec("streaming_replica")),
            keep(spec("mine")),
        ];
        let present = ["postgres", "streaming_replica", "app", "legacy", "mine"]
            .map(observed)
            .to_vec();
        let got = plan(&desired, &present, &reserved(), &AppliedPasswords::new());
        assert!(got.actions.is_empty(), "{:?}", got.actions);
        let st = status(&got, &BTreeMap::new());
        assert_eq!(
            st.by_status[RESERVED],
            vec!["app", "pg_monitor", "postgres", "streaming_replica"]
        );
        assert_eq!(st.by_status[NOT_MANAGED], vec!["legacy"]);
        assert_eq!(st.by_status[RECONCILED], vec!["mine"]);
    }

    #[test]
    fn a_role_that_cannot_be_reconciled_is_reported_by_name_while_others_go_on() {
        let desired = vec![
            keep(RoleConfiguration {
                valid_until: Some("next tuesday".into()),
                ..spec("bad-date")
            }),
            keep(RoleConfiguration {
                disable_password: Some(true),
                password_secret: Some(LocalObjectReference { name: "s".into() }),
                ..spec("both")
            }),
            DesiredRole {
                spec: spec("no-secret"),
                password: WantedPassword::Unavailable("cannot read secret gone/password".into()),
            },
            keep(spec("fine")),
            keep(spec("fails-in-sql")),
        ];
        let got = plan(&desired, &[], &reserved(), &AppliedPasswords::new());
        assert_eq!(
            got.actions
                .iter()
                .map(|a| a.role.as_str())
                .collect::<Vec<_>>(),
            vec!["fine", "fails-in-sql"]
        );
        let failed = BTreeMap::from([(
            "fails-in-sql".to_string(),
            vec!["GRANT: role \"missing\" does not exist".to_string()],
        )]);
        let st = status(&got, &failed);
        assert_eq!(st.by_status[RECONCILED], vec!["fine"]);
        assert_eq!(
            st.cannot_reconcile.keys().collect::<Vec<_>>(),
            vec!["bad-date", "both", "fails-in-sql", "no-secret"]
        );
        assert!(st.cannot_reconcile["bad-date"][0].contains("validUntil"));
        assert!(st.cannot_reconcile["both"][0].contains("mutually exclusive"));
    }
}
