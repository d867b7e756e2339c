//! What to do about the databases themselves: which Database objects are acted on, the CREATE,
//! ALTER and DROP DATABASE statements that bring a database in line with its object, and the
//! report of each object once the statements ran. Pure; `apply` reads the inputs and runs the
//! statements, `contents` plans what goes on inside each database.

use super::contents::{ContentsOutcome, Kind};
use crate::pg::sql;
use pgfed_api::database::{
    DatabaseObjectStatus, DatabaseReport, DatabaseSpec, DatabaseStatus, ManagedDatabase,
    ManagedObjectStatus,
};
use std::collections::BTreeMap;

/// Databases never created, altered or dropped, whatever an object says: PostgreSQL's own.
/// Admission refuses them; an object that bypassed it must not reach them either.
pub const RESERVED: [&str; 3] = ["postgres", "template0", "template1"];

/// A database as `pg_database` has it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedDatabase {
    /// datname.
    pub name: String,
    /// The owner's name.
    pub owner: String,
    /// datistemplate.
    pub is_template: bool,
    /// datallowconn.
    pub allow_connections: bool,
    /// datconnlimit.
    pub connection_limit: i32,
    /// The default tablespace's name.
    pub tablespace: String,
}

/// One statement carrying out one field of a Database spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// The field it carries out, which a failure names (`spec.owner`); `spec` for CREATE
    /// DATABASE, which carries every creation option at once.
    pub field: &'static str,
    /// The statement.
    pub sql: String,
}

/// Whether an object of the configuration is acted on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Screen {
    /// Acted on.
    Act,
    /// Left alone, for this reason.
    Refused(String),
}

/// Screens the configuration's objects in order: one naming a reserved database, or a database
/// an earlier object already names, is refused (the operator hands objects over oldest first and
/// already refuses the newer of two; this keeps the manager safe on its own). Pure.
pub fn screen(entries: &[ManagedDatabase]) -> Vec<Screen> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    entries
        .iter()
        .map(|entry| {
            let name = entry.spec.name.as_str();
            if RESERVED.contains(&name) {
                return Screen::Refused(format!("spec.name: the database {name:?} is reserved"));
            }
            match seen.get(name) {
                Some(first) => Screen::Refused(format!(
                    "spec.name: the database {name:?} is already managed by Database {first}"
                )),
                None => {
                    seen.insert(name, entry.object.as_str());
                    Screen::Act
                }
            }
        })
        .collect()
}

/// The statements that bring the database of `entry` in line, given what `pg_database` has of
/// it. A database is only ever dropped when the entry wants it absent. Pure.
pub fn database_statements(
    entry: &ManagedDatabase,
    current: Option<&ObservedDatabase>,
) -> Vec<Statement> {
    let spec = &entry.spec;
    let name = sql::ident(&spec.name);
    if entry.wants_absent() {
        let field = if entry.reclaim {
            "spec.databaseReclaimPolicy"
        } else {
            "spec.ensure"
        };
        let Some(current) = current else {
            return Vec::new();
        };
        let mut out = Vec::new();
        // PostgreSQL refuses to drop a template database.
        if current.is_template {
            out.push(Statement {
                field,
                sql: format!("ALTER DATABASE {name} WITH IS_TEMPLATE false"),
            });
        }
        out.push(Statement {
            field,
            sql: format!("DROP DATABASE {name}"),
        });
        return out;
    }
    let Some(current) = current else {
        return vec![Statement {
            field: "spec",
            sql: create_database(spec),
        }];
    };
    let mut out = Vec::new();
    let mut alter = |field, differs: bool, clause: String| {
        if differs {
            out.push(Statement {
                field,
                sql: format!("ALTER DATABASE {name} {clause}"),
            });
        }
    };
    alter(
        "spec.owner",
        spec.owner != current.owner,
        format!("OWNER TO {}", sql::ident(&spec.owner)),
    );
    if let Some(allow) = spec.allow_connections {
        alter(
            "spec.allowConnections",
            allow != current.allow_connections,
            format!("WITH ALLOW_CONNECTIONS {allow}"),
        );
    }
    if let Some(limit) = spec.connection_limit {
        alter(
            "spec.connectionLimit",
            limit != current.connection_limit,
            format!("WITH CONNECTION LIMIT {limit}"),
        );
    }
    if let Some(template) = spec.is_template {
        alter(
            "spec.isTemplate",
            template != current.is_template,
            format!("WITH IS_TEMPLATE {template}"),
        );
    }
    if let Some(tablespace) = &spec.tablespace {
        alter(
            "spec.tablespace",
            *tablespace != current.tablespace,
            format!("SET TABLESPACE {}", sql::ident(tablespace)),
        );
    }
    out
}

/// CREATE DATABASE with every option the spec sets. Names (owner, template, tablespace) are
/// identifiers, the other options string literals, so no value can end the statement.
fn create_database(spec: &DatabaseSpec) -> String {
    let mut out = format!(
        "CREATE DATABASE {} OWNER {}",
        sql::ident(&spec.name),
        sql::ident(&spec.owner)
    );
    let mut option = |keyword: &str, value: Option<String>| {
        if let Some(value) = value {
            out.push_str(&format!(" {keyword} {value}"));
        }
    };
    let ident = |v: &Option<String>| v.as_deref().map(sql::ident);
    let literal = |v: &Option<String>| v.as_deref().map(sql::literal);
    option("TEMPLATE", ident(&spec.template));
    option("ENCODING", literal(&spec.encoding));
    option("LOCALE", literal(&spec.locale));
    option("LC_COLLATE", literal(&spec.locale_collate));
    option("LC_CTYPE", literal(&spec.locale_ctype));
    option("LOCALE_PROVIDER", literal(&spec.locale_provider));
    option("ICU_LOCALE", literal(&spec.icu_locale));
    option("ICU_RULES", literal(&spec.icu_rules));
    option("BUILTIN_LOCALE", literal(&spec.builtin_locale));
    option("COLLATION_VERSION", literal(&spec.collation_version));
    option("TABLESPACE", ident(&spec.tablespace));
    option(
        "ALLOW_CONNECTIONS",
        spec.allow_connections.map(|b| b.to_string()),
    );
    option(
        "CONNECTION LIMIT",
        spec.connection_limit.map(|l| l.to_string()),
    );
    option("IS_TEMPLATE", spec.is_template.map(|b| b.to_string()));
    out
}

/// What one pass did about one object.
#[derive(Clone, Debug, PartialEq)]
pub struct EntryOutcome {
    /// Why the object was not acted on, if it was not.
    pub refused: Option<String>,
    /// The database statements that failed: the field and the reason.
    pub failures: Vec<(&'static str, String)>,
    /// Whether the database exists after the pass.
    pub exists: bool,
    /// What happened inside the database.
    pub contents: ContentsOutcome,
}

/// The report of one object: applied when every statement went through and the database is
/// present or absent as asked; otherwise the message says what failed, naming the field. The
/// schemas, extensions, wrappers and servers are reported one by one while the database is
/// wanted present. Pure.
pub fn report(entry: &ManagedDatabase, outcome: &EntryOutcome) -> DatabaseReport {
    let mut messages: Vec<String> = Vec::new();
    let mut objects = DatabaseStatus::default();
    if let Some(why) = &outcome.refused {
        messages.push(why.clone());
    } else {
        messages.extend(
            outcome
                .failures
                .iter()
                .map(|(field, reason)| format!("{field}: {reason}")),
        );
        let absent = entry.wants_absent();
        if !absent && !outcome.exists && outcome.failures.is_empty() {
            messages.push(format!("the database {:?} does not exist", entry.spec.name));
        }
        if !absent {
            let missing = (!outcome.exists).then(|| "the database does not exist".to_string());
            for kind in Kind::ALL {
                let statuses = kind_statuses(&entry.spec, kind, outcome, missing.as_deref());
                // A missing database is said once, above, not once per object.
                let failed = statuses
                    .iter()
                    .enumerate()
                    .filter(|_| missing.is_none())
                    .filter_map(|(i, s)| Some((i, &s.name, s.message.as_ref()?)));
                for (i, name, m) in failed {
                    messages.push(format!("spec.{}[{i}] ({name}): {m}", kind.field()));
                }
                *kind.statuses_mut(&mut objects) = statuses;
            }
        }
    }
    let applied = messages.is_empty();
    objects.object = ManagedObjectStatus {
        observed_generation: entry.generation,
        applied: Some(applied),
        message: (!applied).then(|| messages.join("; ")),
    };
    DatabaseReport {
        object: entry.object.clone(),
        uid: entry.uid.clone(),
        exists: outcome.exists,
        status: objects,
    }
}

/// The status of each entry of one list of the spec (`schemas`, …).
fn kind_statuses(
    spec: &DatabaseSpec,
    kind: Kind,
    outcome: &EntryOutcome,
    missing: Option<&str>,
) -> Vec<DatabaseObjectStatus> {
    kind.names(spec)
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let failure = match (missing, &outcome.contents) {
                (Some(why), _) => Some(why.to_string()),
                (None, ContentsOutcome::Unreachable(why)) => Some(why.clone()),
                (None, ContentsOutcome::Reconciled(failures)) => failures.get(&(kind, i)).cloned(),
                (None, ContentsOutcome::NotLookedAt) => None,
            };
            DatabaseObjectStatus {
                name: name.to_string(),
                applied: failure.is_none(),
                message: failure,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgfed_api::common::{EnsureOption, LocalObjectReference};

    fn entry(object: &str, name: &str) -> ManagedDatabase {
        ManagedDatabase {
            object: object.into(),
            uid: Some(format!("uid-{object}")),
            generation: Some(3),
            reclaim: false,
            spec: DatabaseSpec {
                cluster: LocalObjectReference { name: "pg".into() },
                name: name.into(),
                owner: "app".into(),
                ..Default::default()
            },
        }
    }

    fn with(spec: DatabaseSpec) -> ManagedDatabase {
        ManagedDatabase {
            spec,
            ..entry("db", "shop")
        }
    }

    fn spec() -> DatabaseSpec {
        entry("db", "shop").spec
    }

    /// A database as CREATE DATABASE with no options leaves it, owned by `app`.
    fn observed() -> ObservedDatabase {
        ObservedDatabase {
            name: "shop".into(),
            owner: "app".into(),
            is_template: false,
            allow_connections: true,
            connection_limit: -1,
            tablespace: "pg_default".into(),
        }
    }

    fn sqls(statements: &[Statement]) -> Vec<(&str, &str)> {
        statements
            .iter()
            .map(|s| (s.field, s.sql.as_str()))
            .collect()
    }

    #[test]
    fn statements_for_each_difference() {
        let absent = DatabaseSpec {
            ensure: Some(EnsureOption::Absent),
            ..spec()
        };
        type Case<'a> = (
            &'a str,
            ManagedDatabase,
            Option<ObservedDatabase>,
            Vec<(&'a str, &'a str)>,
        );
        let cases: Vec<Case> = vec![
            ("in shape: nothing", with(spec()), Some(observed()), vec![]),
            (
                "missing: created with its owner",
                with(spec()),
                None,
                vec![("spec", "CREATE DATABASE \"shop\" OWNER \"app\"")],
            ),
            (
                "missing: every creation option, names quoted as identifiers, values as literals",
                with(DatabaseSpec {
                    template: Some("template0".into()),
                    encoding: Some("UTF8".into()),
                    locale_collate: Some("C".into()),
                    locale_ctype: Some("it's".into()),
                    locale_provider: Some("icu".into()),
                    icu_locale: Some("en-US".into()),
                    collation_version: Some("153.120".into()),
                    tablespace: Some("fast".into()),
                    allow_connections: Some(true),
                    connection_limit: Some(10),
                    is_template: Some(false),
                    ..spec()
                }),
                None,
                vec![(
                    "spec",
                    "CREATE DATABASE \"shop\" OWNER \"app\" TEMPLATE \"template0\" ENCODING 'UTF8' \
                     LC_COLLATE 'C' LC_CTYPE 'it''s' LOCALE_PROVIDER 'icu' ICU_LOCALE 'en-US' \
                     COLLATION_VERSION '153.120' TABLESPACE \"fast\" ALLOW_CONNECTIONS true \
                     CONNECTION LIMIT 10 IS_TEMPLATE false",
                )],
            ),
            (
                "owner changed",
                with(DatabaseSpec {
                    owner: "shopkeeper".into(),
                    ..spec()
                }),
                Some(observed()),
                vec![(
                    "spec.owner",
                    "ALTER DATABASE \"shop\" OWNER TO \"shopkeeper\"",
                )],
            ),
            (
                "connection settings and tablespace changed, one statement per field",
                with(DatabaseSpec {
                    allow_connections: Some(false),
                    connection_limit: Some(5),
                    is_template: Some(true),
                    tablespace: Some("slow".into()),
                    ..spec()
                }),
                Some(observed()),
                vec![
                    (
                        "spec.allowConnections",
                        "ALTER DATABASE \"shop\" WITH ALLOW_CONNECTIONS false",
                    ),
                    (
                        "spec.connectionLimit",
                        "ALTER DATABASE \"shop\" WITH CONNECTION LIMIT 5",
                    ),
                    (
                        "spec.isTemplate",
                        "ALTER DATABASE \"shop\" WITH IS_TEMPLATE true",
                    ),
                    (
                        "spec.tablespace",
                        "ALTER DATABASE \"shop\" SET TABLESPACE \"slow\"",
                    ),
                ],
            ),
            (
                "settings the spec leaves unset stay as they are",
                with(spec()),
                Some(ObservedDatabase {
                    allow_connections: false,
                    connection_limit: 3,
                    is_template: true,
                    tablespace: "slow".into(),
                    ..observed()
                }),
                vec![],
            ),
            (
                "creation options of an existing database are not revisited",
                with(DatabaseSpec {
                    encoding: Some("LATIN1".into()),
                    ..spec()
                }),
                Some(observed()),
                vec![],
            ),
            (
                "absent and present: dropped",
                with(absent.clone()),
                Some(observed()),
                vec![("spec.ensure", "DROP DATABASE \"shop\"")],
            ),
            (
                "absent and a template: made an ordinary database, then dropped",
                with(absent.clone()),
                Some(ObservedDatabase {
                    is_template: true,
                    ..observed()
                }),
                vec![
                    (
                        "spec.ensure",
                        "ALTER DATABASE \"shop\" WITH IS_TEMPLATE false",
                    ),
                    ("spec.ensure", "DROP DATABASE \"shop\""),
                ],
            ),
            ("absent and gone: nothing", with(absent), None, vec![]),
            (
                "reclaimed on deletion: dropped",
                ManagedDatabase {
                    reclaim: true,
                    ..with(spec())
                },
                Some(observed()),
                vec![("spec.databaseReclaimPolicy", "DROP DATABASE \"shop\"")],
            ),
            (
                "a name needing quotes stays one identifier",
                with(DatabaseSpec {
                    name: "x\"; DROP DATABASE app; --".into(),
                    ..spec()
                }),
                None,
                vec![(
                    "spec",
                    "CREATE DATABASE \"x\"\"; DROP DATABASE app; --\" OWNER \"app\"",
                )],
            ),
        ];
        for (what, entry, current, want) in cases {
            let got = database_statements(&entry, current.as_ref());
            assert_eq!(sqls(&got), want, "{what}");
        }
    }

    #[test]
    fn reserved_databases_and_second_claims_are_refused_first_come_first_served() {
        let entries = vec![
            entry("a", "shop"),
            entry("b", "postgres"),
            entry("c", "shop"),
            entry("d", "template1"),
            entry("e", "stock"),
        ];
        let got = screen(&entries);
        assert_eq!(got[0], Screen::Act);
        assert_eq!(got[4], Screen::Act);
        let refused: Vec<String> = got
            .iter()
            .filter_map(|s| match s {
                Screen::Refused(why) => Some(why.clone()),
                Screen::Act => None,
            })
            .collect();
        assert_eq!(
            refused,
            [
                "spec.name: the database \"postgres\" is reserved",
                "spec.name: the database \"shop\" is already managed by Database a",
                "spec.name: the database \"template1\" is reserved",
            ]
        );
    }

    fn outcome(exists: bool, contents: ContentsOutcome) -> EntryOutcome {
        EntryOutcome {
            refused: None,
            failures: vec![],
            exists,
            contents,
        }
    }

    fn full() -> ManagedDatabase {
        with(DatabaseSpec {
            schemas: vec![pgfed_api::database::SchemaSpec {
                name: "sales".into(),
                ..Default::default()
            }],
            extensions: vec![
                pgfed_api::database::ExtensionSpec {
                    name: "hstore".into(),
                    ..Default::default()
                },
                pgfed_api::database::ExtensionSpec {
                    name: "nope".into(),
                    ..Default::default()
                },
            ],
            ..spec()
        })
    }

    #[test]
    fn reports_say_what_failed_naming_the_field() {
        let failed = BTreeMap::from([(
            (Kind::Extension, 1),
            "CREATE EXTENSION: extension \"nope\" is not available (0A000)".to_string(),
        )]);
        // What, the object, what the pass did, applied, message, the first objects applied.
        type Case<'a> = (
            &'a str,
            ManagedDatabase,
            EntryOutcome,
            bool,
            Option<&'a str>,
            bool,
        );
        let cases: Vec<Case> = vec![
            (
                "everything applied",
                full(),
                outcome(true, ContentsOutcome::Reconciled(BTreeMap::new())),
                true,
                None,
                true,
            ),
            (
                "one extension failed: named with its index",
                full(),
                outcome(true, ContentsOutcome::Reconciled(failed)),
                false,
                Some(
                    "spec.extensions[1] (nope): CREATE EXTENSION: extension \"nope\" is not available (0A000)",
                ),
                true,
            ),
            (
                "an ALTER failed: named by its field",
                full(),
                EntryOutcome {
                    failures: vec![(
                        "spec.owner",
                        "ALTER DATABASE: role \"x\" does not exist (42704)".into(),
                    )],
                    ..outcome(true, ContentsOutcome::Reconciled(BTreeMap::new()))
                },
                false,
                Some("spec.owner: ALTER DATABASE: role \"x\" does not exist (42704)"),
                true,
            ),
            (
                "not created: the contents are not applied, one message",
                full(),
                EntryOutcome {
                    failures: vec![("spec", "CREATE DATABASE: permission denied (42501)".into())],
                    ..outcome(false, ContentsOutcome::NotLookedAt)
                },
                false,
                Some("spec: CREATE DATABASE: permission denied (42501)"),
                false,
            ),
            (
                "not reachable: every object says why",
                full(),
                outcome(
                    true,
                    ContentsOutcome::Unreachable(
                        "cannot connect: allowConnections is false".into(),
                    ),
                ),
                false,
                Some(
                    "spec.schemas[0] (sales): cannot connect: allowConnections is false; \
                     spec.extensions[0] (hstore): cannot connect: allowConnections is false; \
                     spec.extensions[1] (nope): cannot connect: allowConnections is false",
                ),
                false,
            ),
            (
                "absent and dropped: applied, no objects listed",
                ManagedDatabase {
                    reclaim: true,
                    ..full()
                },
                outcome(false, ContentsOutcome::NotLookedAt),
                true,
                None,
                true,
            ),
            (
                "refused",
                full(),
                EntryOutcome {
                    refused: Some(
                        "spec.name: the database \"shop\" is already managed by Database a".into(),
                    ),
                    ..outcome(true, ContentsOutcome::NotLookedAt)
                },
                false,
                Some("spec.name: the database \"shop\" is already managed by Database a"),
                true,
            ),
        ];
        for (what, entry, outcome, applied, message, objects_applied) in cases {
            let got = report(&entry, &outcome);
            assert_eq!(got.object, "db", "{what}");
            assert_eq!(got.uid.as_deref(), Some("uid-db"), "{what}");
            assert_eq!(got.exists, outcome.exists, "{what}");
            assert_eq!(got.status.object.observed_generation, Some(3), "{what}");
            assert_eq!(got.status.object.applied, Some(applied), "{what}");
            assert_eq!(got.status.object.message.as_deref(), message, "{what}");
            let all = [&got.status.schemas, &got.status.extensions];
            if entry.wants_absent() || outcome.refused.is_some() {
                assert!(all.iter().all(|l| l.is_empty()), "{what}: {got:?}");
            } else {
                assert_eq!(got.status.schemas.len(), 1, "{what}");
                assert_eq!(got.status.extensions.len(), 2, "{what}");
                assert_eq!(
                    got.status.schemas[0].applied && got.status.extensions[0].applied,
                    objects_applied,
                    "{what}: {got:?}"
                );
            }
        }
    }

    #[test]
    fn a_database_that_should_exist_and_does_not_is_not_applied() {
        let got = report(&with(spec()), &outcome(false, ContentsOutcome::NotLookedAt));
        assert_eq!(got.status.object.applied, Some(false));
        assert_eq!(
            got.status.object.message.as_deref(),
            Some("the database \"shop\" does not exist")
        );
    }
}
