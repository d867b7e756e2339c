//! What to do inside one database: the schemas, extensions, foreign data wrappers and foreign
//! servers its Database object names, against what the database has of them, as statements in
//! the order they must run. Pure; `apply` reads the catalogs and runs the statements.
//!
//! Only what the spec names is touched, and a DROP never cascades: a schema that still holds
//! objects, or a wrapper a server still uses, stays and the object reports why. Options and
//! USAGE grants the spec does not name are left as they are.

use crate::pg::sql;
use pgfed_api::common::EnsureOption;
use pgfed_api::database::{
    DatabaseObjectStatus, DatabaseSpec, DatabaseStatus, ExtensionSpec, FdwSpec, ForeignServerSpec,
    OptionSpec, SchemaSpec, UsageSpec, UsageType,
};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

/// The lists of a Database spec, in the order their objects are created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `spec.schemas`.
    Schema,
    /// `spec.extensions`.
    Extension,
    /// `spec.fdws`.
    Fdw,
    /// `spec.servers`.
    Server,
}

impl Kind {
    /// Every list, in creation order.
    pub const ALL: [Kind; 4] = [Kind::Schema, Kind::Extension, Kind::Fdw, Kind::Server];

    /// The spec field of the list.
    pub fn field(self) -> &'static str {
        match self {
            Kind::Schema => "schemas",
            Kind::Extension => "extensions",
            Kind::Fdw => "fdws",
            Kind::Server => "servers",
        }
    }

    /// The names of the list's entries, in the spec's order.
    pub fn names(self, spec: &DatabaseSpec) -> Vec<&str> {
        match self {
            Kind::Schema => spec.schemas.iter().map(|s| s.name.as_str()).collect(),
            Kind::Extension => spec.extensions.iter().map(|e| e.name.as_str()).collect(),
            Kind::Fdw => spec.fdws.iter().map(|f| f.name.as_str()).collect(),
            Kind::Server => spec.servers.iter().map(|s| s.name.as_str()).collect(),
        }
    }

    /// The status list of this kind.
    pub fn statuses_mut(self, status: &mut DatabaseStatus) -> &mut Vec<DatabaseObjectStatus> {
        match self {
            Kind::Schema => &mut status.schemas,
            Kind::Extension => &mut status.extensions,
            Kind::Fdw => &mut status.fdws,
            Kind::Server => &mut status.servers,
        }
    }
}

/// A schema as `pg_namespace` has it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedSchema {
    /// nspname.
    pub name: String,
    /// The owner's name.
    pub owner: String,
}

/// An extension as `pg_extension` has it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedExtension {
    /// extname.
    pub name: String,
    /// extversion.
    pub version: String,
    /// The schema it lives in.
    pub schema: String,
}

/// A function a wrapper names as its handler or validator.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Function {
    /// Its schema.
    pub schema: String,
    /// Its name.
    pub name: String,
}

/// A foreign data wrapper as `pg_foreign_data_wrapper` has it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedFdw {
    /// fdwname.
    pub name: String,
    /// The owner's name.
    pub owner: String,
    /// The handler, if any.
    pub handler: Option<Function>,
    /// The validator, if any.
    pub validator: Option<Function>,
    /// fdwoptions.
    pub options: BTreeMap<String, String>,
    /// Roles holding USAGE (`public` for PUBLIC).
    pub usage: BTreeSet<String>,
}

/// A foreign server as `pg_foreign_server` has it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedServer {
    /// srvname.
    pub name: String,
    /// The wrapper it uses.
    pub fdw: String,
    /// srvoptions.
    pub options: BTreeMap<String, String>,
    /// Roles holding USAGE (`public` for PUBLIC).
    pub usage: BTreeSet<String>,
}

/// What a database has of the kinds of objects a spec names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObservedContents {
    /// Schemas.
    pub schemas: Vec<ObservedSchema>,
    /// Extensions.
    pub extensions: Vec<ObservedExtension>,
    /// Foreign data wrappers.
    pub fdws: Vec<ObservedFdw>,
    /// Foreign servers.
    pub servers: Vec<ObservedServer>,
}

/// When a statement runs: what others depend on is created first and dropped last (an
/// extension may go into a managed schema, a wrapper's handler comes from an extension, a
/// server uses a wrapper), so every creation comes in the order of [`Kind`], every drop after
/// them in the reverse order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Entries of this kind created or altered.
    Define(Kind),
    /// Entries of this kind dropped.
    Drop(Reverse<Kind>),
}

/// One statement about one entry of the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    /// When it runs.
    pub stage: Stage,
    /// The list of the entry.
    pub kind: Kind,
    /// Its index in the list: a failure is reported against it and skips its later statements.
    pub index: usize,
    /// The statement.
    pub sql: String,
}

/// The decision for one database.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Statements in the order they run.
    pub actions: Vec<Action>,
    /// Entries that cannot be brought in line, with the reason, before anything runs.
    pub errors: BTreeMap<(Kind, usize), String>,
}

/// What happened inside a database in one pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContentsOutcome {
    /// Not looked at: the database is wanted absent, or does not exist.
    NotLookedAt,
    /// The database could not be connected to or read: why.
    Unreachable(String),
    /// The statements ran; the entries that failed, with the reason.
    Reconciled(BTreeMap<(Kind, usize), String>),
}

/// Whether a spec names anything inside its database (if not, the database is not connected to).
pub fn names_contents(spec: &DatabaseSpec) -> bool {
    Kind::ALL.iter().any(|k| !k.names(spec).is_empty())
}

fn absent(ensure: Option<EnsureOption>) -> bool {
    ensure == Some(EnsureOption::Absent)
}

/// Compares the spec's lists with what the database has. Pure.
pub fn plan(spec: &DatabaseSpec, observed: &ObservedContents) -> Plan {
    let mut out = Plan::default();
    let mut add = |kind, index, ensure, planned: Result<Vec<String>, String>| {
        let stage = if absent(ensure) {
            Stage::Drop(Reverse(kind))
        } else {
            Stage::Define(kind)
        };
        match planned {
            Ok(statements) => out.actions.extend(statements.into_iter().map(|sql| Action {
                stage,
                kind,
                index,
                sql,
            })),
            Err(why) => {
                out.errors.insert((kind, index), why);
            }
        }
    };
    for (i, s) in spec.schemas.iter().enumerate() {
        let current = observed.schemas.iter().find(|o| o.name == s.name);
        add(Kind::Schema, i, s.ensure, Ok(schema(s, current)));
    }
    for (i, e) in spec.extensions.iter().enumerate() {
        let current = observed.extensions.iter().find(|o| o.name == e.name);
        add(Kind::Extension, i, e.ensure, Ok(extension(e, current)));
    }
    for (i, f) in spec.fdws.iter().enumerate() {
        let current = observed.fdws.iter().find(|o| o.name == f.name);
        add(Kind::Fdw, i, f.ensure, Ok(fdw(f, current)));
    }
    for (i, s) in spec.servers.iter().enumerate() {
        let current = observed.servers.iter().find(|o| o.name == s.name);
        add(Kind::Server, i, s.ensure, server(s, current));
    }
    out.actions.sort_by_key(|a| a.stage);
    out
}

/// `keyword value`, or nothing when there is no value.
fn clause(keyword: &str, value: Option<String>) -> String {
    value.map(|v| format!(" {keyword} {v}")).unwrap_or_default()
}

fn schema(spec: &SchemaSpec, current: Option<&ObservedSchema>) -> Vec<String> {
    let name = sql::ident(&spec.name);
    let owner = spec.owner.as_deref();
    match (absent(spec.ensure), current) {
        (true, Some(_)) => vec![format!("DROP SCHEMA {name}")],
        (true, None) => Vec::new(),
        (false, None) => vec![format!(
            "CREATE SCHEMA {name}{}",
            clause("AUTHORIZATION", owner.map(sql::ident))
        )],
        (false, Some(c)) => owner
            .filter(|o| *o != c.owner)
            .map(|o| format!("ALTER SCHEMA {name} OWNER TO {}", sql::ident(o)))
            .into_iter()
            .collect(),
    }
}

fn extension(spec: &ExtensionSpec, current: Option<&ObservedExtension>) -> Vec<String> {
    let name = sql::ident(&spec.name);
    let (version, schema) = (spec.version.as_deref(), spec.schema.as_deref());
    match (absent(spec.ensure), current) {
        (true, Some(_)) => vec![format!("DROP EXTENSION {name}")],
        (true, None) => Vec::new(),
        (false, None) => vec![format!(
            "CREATE EXTENSION {name}{}{}",
            clause("SCHEMA", schema.map(sql::ident)),
            clause("VERSION", version.map(sql::literal))
        )],
        (false, Some(c)) => {
            let update = version
                .filter(|v| *v != c.version)
                .map(|v| format!("ALTER EXTENSION {name} UPDATE TO {}", sql::literal(v)));
            let moved = schema
                .filter(|s| *s != c.schema)
                .map(|s| format!("ALTER EXTENSION {name} SET SCHEMA {}", sql::ident(s)));
            update.into_iter().chain(moved).collect()
        }
    }
}

fn fdw(spec: &FdwSpec, current: Option<&ObservedFdw>) -> Vec<String> {
    let object = format!("FOREIGN DATA WRAPPER {}", sql::ident(&spec.name));
    if absent(spec.ensure) {
        return current
            .map(|_| format!("DROP {object}"))
            .into_iter()
            .collect();
    }
    let (handler, validator) = (spec.handler.as_deref(), spec.validator.as_deref());
    let mut out = Vec::new();
    match current {
        None => out.push(format!(
            "CREATE {object}{}{}{}",
            handler
                .map(|h| function_clause("HANDLER", h))
                .unwrap_or_default(),
            validator
                .map(|v| function_clause("VALIDATOR", v))
                .unwrap_or_default(),
            create_options(&spec.options)
        )),
        Some(c) => {
            if let Some(h) = handler.filter(|h| !names_function(h, c.handler.as_ref())) {
                out.push(format!("ALTER {object}{}", function_clause("HANDLER", h)));
            }
            if let Some(v) = validator.filter(|v| !names_function(v, c.validator.as_ref())) {
                out.push(format!("ALTER {object}{}", function_clause("VALIDATOR", v)));
            }
            if let Some(clauses) = alter_options(&spec.options, &c.options) {
                out.push(format!("ALTER {object} OPTIONS ({clauses})"));
            }
        }
    }
    // A new wrapper belongs to the superuser that created it.
    let owner = current.map_or("postgres", |c| c.owner.as_str());
    if let Some(o) = spec.owner.as_deref().filter(|o| *o != owner) {
        out.push(format!("ALTER {object} OWNER TO {}", sql::ident(o)));
    }
    out.extend(usage_statements(
        &object,
        &spec.usage,
        current.map(|c| &c.usage),
    ));
    out
}

fn server(
    spec: &ForeignServerSpec,
    current: Option<&ObservedServer>,
) -> Result<Vec<String>, String> {
    let name = sql::ident(&spec.name);
    if absent(spec.ensure) {
        return Ok(current
            .map(|_| format!("DROP SERVER {name}"))
            .into_iter()
            .collect());
    }
    let mut out = Vec::new();
    match current {
        Some(c) if c.fdw != spec.fdw => {
            return Err(format!(
                "fdw: the server uses the foreign data wrapper {:?}; a server cannot change wrappers (remove it with ensure: absent first)",
                c.fdw
            ));
        }
        None => out.push(format!(
            "CREATE SERVER {name} FOREIGN DATA WRAPPER {}{}",
            sql::ident(&spec.fdw),
            create_options(&spec.options)
        )),
        Some(c) => {
            if let Some(clauses) = alter_options(&spec.options, &c.options) {
                out.push(format!("ALTER SERVER {name} OPTIONS ({clauses})"));
            }
        }
    }
    let object = format!("FOREIGN SERVER {name}");
    out.extend(usage_statements(
        &object,
        &spec.usage,
        current.map(|c| &c.usage),
    ));
    Ok(out)
}

/// ` HANDLER f` / ` NO HANDLER` (for `-`, CloudNativePG's spelling of none). A qualified name
/// (`schema.function`) is quoted part by part.
fn function_clause(keyword: &str, function: &str) -> String {
    if function == "-" {
        return format!(" NO {keyword}");
    }
    let quoted = match function.split_once('.') {
        Some((schema, name)) => format!("{}.{}", sql::ident(schema), sql::ident(name)),
        None => sql::ident(function),
    };
    format!(" {keyword} {quoted}")
}

/// Whether the spec's `wanted` function (a name, `schema.name`, or `-` for none) is `have`.
fn names_function(wanted: &str, have: Option<&Function>) -> bool {
    match have {
        None => wanted == "-",
        Some(f) => wanted == f.name || wanted == format!("{}.{}", f.schema, f.name),
    }
}

/// ` OPTIONS (k 'v', …)` of the options wanted present, or nothing.
fn create_options(options: &[OptionSpec]) -> String {
    let present: Vec<String> = options
        .iter()
        .filter(|o| !absent(o.ensure))
        .map(|o| format!("{} {}", sql::ident(&o.name), sql::literal(&o.value)))
        .collect();
    if present.is_empty() {
        String::new()
    } else {
        format!(" OPTIONS ({})", present.join(", "))
    }
}

/// The `ADD`/`SET`/`DROP` clauses that bring the named options in line, if any differ.
fn alter_options(options: &[OptionSpec], have: &BTreeMap<String, String>) -> Option<String> {
    let clauses: Vec<String> = options
        .iter()
        .filter_map(|o| {
            let name = sql::ident(&o.name);
            let value = sql::literal(&o.value);
            match (absent(o.ensure), have.get(&o.name)) {
                (true, Some(_)) => Some(format!("DROP {name}")),
                (true, None) => None,
                (false, None) => Some(format!("ADD {name} {value}")),
                (false, Some(v)) if *v != o.value => Some(format!("SET {name} {value}")),
                (false, Some(_)) => None,
            }
        })
        .collect();
    (!clauses.is_empty()).then(|| clauses.join(", "))
}

/// GRANT or REVOKE USAGE on `object` for the roles named whose privilege differs.
fn usage_statements(
    object: &str,
    usage: &[UsageSpec],
    have: Option<&BTreeSet<String>>,
) -> Vec<String> {
    let none = BTreeSet::new();
    let have = have.unwrap_or(&none);
    usage
        .iter()
        .filter_map(|u| {
            let role = if u.name.eq_ignore_ascii_case("public") {
                "PUBLIC".to_string()
            } else {
                sql::ident(&u.name)
            };
            let holds = have.contains(&u.name) || (role == "PUBLIC" && have.contains("public"));
            match (u.usage_type.unwrap_or(UsageType::Grant), holds) {
                (UsageType::Grant, false) => Some(format!("GRANT USAGE ON {object} TO {role}")),
                (UsageType::Revoke, true) => Some(format!("REVOKE USAGE ON {object} FROM {role}")),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(f: impl FnOnce(&mut DatabaseSpec)) -> DatabaseSpec {
        let mut s = DatabaseSpec {
            name: "shop".into(),
            owner: "app".into(),
            ..Default::default()
        };
        f(&mut s);
        s
    }

    fn schema(name: &str, owner: Option<&str>, ensure: Option<EnsureOption>) -> SchemaSpec {
        SchemaSpec {
            name: name.into(),
            owner: owner.map(Into::into),
            ensure,
        }
    }

    fn ext(name: &str, version: Option<&str>, schema: Option<&str>) -> ExtensionSpec {
        ExtensionSpec {
            name: name.into(),
            version: version.map(Into::into),
            schema: schema.map(Into::into),
            ensure: None,
        }
    }

    fn option(name: &str, value: &str, ensure: Option<EnsureOption>) -> OptionSpec {
        OptionSpec {
            name: name.into(),
            value: value.into(),
            ensure,
        }
    }

    fn usage(name: &str, t: Option<UsageType>) -> UsageSpec {
        UsageSpec {
            name: name.into(),
            usage_type: t,
        }
    }

    fn sqls(plan: &Plan) -> Vec<&str> {
        plan.actions.iter().map(|a| a.sql.as_str()).collect()
    }

    const ABSENT: Option<EnsureOption> = Some(EnsureOption::Absent);

    #[test]
    fn schemas_and_extensions() {
        let have = ObservedContents {
            schemas: vec![ObservedSchema {
                name: "sales".into(),
                owner: "app".into(),
            }],
            extensions: vec![ObservedExtension {
                name: "hstore".into(),
                version: "1.7".into(),
                schema: "public".into(),
            }],
            ..Default::default()
        };
        let cases: Vec<(&str, DatabaseSpec, Vec<&str>)> = vec![
            ("nothing named: nothing", spec(|_| {}), vec![]),
            (
                "in shape: nothing",
                spec(|s| {
                    s.schemas = vec![schema("sales", Some("app"), None)];
                    s.extensions = vec![ext("hstore", Some("1.7"), Some("public"))];
                }),
                vec![],
            ),
            (
                "missing schema created with its owner, missing extension with version and schema",
                spec(|s| {
                    s.schemas = vec![
                        schema("Reports", Some("bob"), None),
                        schema("plain", None, None),
                    ];
                    s.extensions = vec![ext("pgcrypto", Some("1.3"), Some("Reports"))];
                }),
                vec![
                    "CREATE SCHEMA \"Reports\" AUTHORIZATION \"bob\"",
                    "CREATE SCHEMA \"plain\"",
                    "CREATE EXTENSION \"pgcrypto\" SCHEMA \"Reports\" VERSION '1.3'",
                ],
            ),
            (
                "schema owner changed; an unset owner is left alone",
                spec(|s| s.schemas = vec![schema("sales", Some("bob"), None)]),
                vec!["ALTER SCHEMA \"sales\" OWNER TO \"bob\""],
            ),
            (
                "extension updated and moved",
                spec(|s| s.extensions = vec![ext("hstore", Some("1.8"), Some("sales"))]),
                vec![
                    "ALTER EXTENSION \"hstore\" UPDATE TO '1.8'",
                    "ALTER EXTENSION \"hstore\" SET SCHEMA \"sales\"",
                ],
            ),
            (
                "absent: dropped without cascading, extensions before their schema",
                spec(|s| {
                    s.schemas = vec![schema("sales", None, ABSENT), schema("gone", None, ABSENT)];
                    s.extensions = vec![ExtensionSpec {
                        ensure: ABSENT,
                        ..ext("hstore", None, None)
                    }];
                }),
                vec!["DROP EXTENSION \"hstore\"", "DROP SCHEMA \"sales\""],
            ),
        ];
        for (what, spec, want) in cases {
            let got = plan(&spec, &have);
            assert_eq!(sqls(&got), want, "{what}");
            assert!(got.errors.is_empty(), "{what}");
        }
    }

    fn fdw(name: &str) -> FdwSpec {
        FdwSpec {
            name: name.into(),
            ..Default::default()
        }
    }

    fn server(name: &str, fdw: &str) -> ForeignServerSpec {
        ForeignServerSpec {
            name: name.into(),
            fdw: fdw.into(),
            ..Default::default()
        }
    }

    #[test]
    fn foreign_data_wrappers_and_servers() {
        let handler = Function {
            schema: "public".into(),
            name: "postgres_fdw_handler".into(),
        };
        let have = ObservedContents {
            fdws: vec![ObservedFdw {
                name: "postgres_fdw".into(),
                owner: "postgres".into(),
                handler: Some(handler.clone()),
                validator: None,
                options: BTreeMap::from([("debug".into(), "true".into())]),
                usage: BTreeSet::from(["reader".to_string()]),
            }],
            servers: vec![ObservedServer {
                name: "remote".into(),
                fdw: "postgres_fdw".into(),
                options: BTreeMap::from([
                    ("host".into(), "old".into()),
                    ("port".into(), "5432".into()),
                ]),
                usage: BTreeSet::from(["public".to_string()]),
            }],
            ..Default::default()
        };
        let cases: Vec<(&str, DatabaseSpec, Vec<&str>)> = vec![
            (
                "in shape, handler named plain or qualified: nothing",
                spec(|s| {
                    s.fdws = vec![FdwSpec {
                        handler: Some("postgres_fdw_handler".into()),
                        validator: Some("-".into()),
                        owner: Some("postgres".into()),
                        options: vec![option("debug", "true", None)],
                        usage: vec![
                            usage("reader", None),
                            usage("other", Some(UsageType::Revoke)),
                        ],
                        ..fdw("postgres_fdw")
                    }];
                    s.servers = vec![server("remote", "postgres_fdw")];
                }),
                vec![],
            ),
            (
                "a new wrapper: handler, no validator, options, owner and usage",
                spec(|s| {
                    s.fdws = vec![FdwSpec {
                        handler: Some("ext.my_handler".into()),
                        validator: Some("-".into()),
                        owner: Some("fdw_admin".into()),
                        options: vec![option("a", "it's", None), option("b", "x", ABSENT)],
                        usage: vec![
                            usage("reader", None),
                            usage("nobody", Some(UsageType::Revoke)),
                        ],
                        ..fdw("mine")
                    }];
                }),
                vec![
                    "CREATE FOREIGN DATA WRAPPER \"mine\" HANDLER \"ext\".\"my_handler\" NO VALIDATOR OPTIONS (\"a\" 'it''s')",
                    "ALTER FOREIGN DATA WRAPPER \"mine\" OWNER TO \"fdw_admin\"",
                    "GRANT USAGE ON FOREIGN DATA WRAPPER \"mine\" TO \"reader\"",
                ],
            ),
            (
                "an existing wrapper: handler, validator, options, owner and usage brought in line",
                spec(|s| {
                    s.fdws = vec![FdwSpec {
                        handler: Some("-".into()),
                        validator: Some("public.check".into()),
                        owner: Some("fdw_admin".into()),
                        options: vec![
                            option("debug", "false", None),
                            option("new", "1", None),
                            option("gone", "x", ABSENT),
                        ],
                        usage: vec![
                            usage("reader", Some(UsageType::Revoke)),
                            usage("PUBLIC", None),
                        ],
                        ..fdw("postgres_fdw")
                    }];
                }),
                vec![
                    "ALTER FOREIGN DATA WRAPPER \"postgres_fdw\" NO HANDLER",
                    "ALTER FOREIGN DATA WRAPPER \"postgres_fdw\" VALIDATOR \"public\".\"check\"",
                    "ALTER FOREIGN DATA WRAPPER \"postgres_fdw\" OPTIONS (SET \"debug\" 'false', ADD \"new\" '1')",
                    "ALTER FOREIGN DATA WRAPPER \"postgres_fdw\" OWNER TO \"fdw_admin\"",
                    "REVOKE USAGE ON FOREIGN DATA WRAPPER \"postgres_fdw\" FROM \"reader\"",
                    "GRANT USAGE ON FOREIGN DATA WRAPPER \"postgres_fdw\" TO PUBLIC",
                ],
            ),
            (
                "servers: one created, one altered; PUBLIC's usage revoked",
                spec(|s| {
                    s.servers = vec![
                        ForeignServerSpec {
                            options: vec![
                                option("host", "db.example", None),
                                option("port", "", ABSENT),
                            ],
                            usage: vec![usage("public", Some(UsageType::Revoke))],
                            ..server("remote", "postgres_fdw")
                        },
                        ForeignServerSpec {
                            options: vec![option("dbname", "shop", None)],
                            usage: vec![usage("reader", None)],
                            ..server("other", "postgres_fdw")
                        },
                    ];
                }),
                vec![
                    "ALTER SERVER \"remote\" OPTIONS (SET \"host\" 'db.example', DROP \"port\")",
                    "REVOKE USAGE ON FOREIGN SERVER \"remote\" FROM PUBLIC",
                    "CREATE SERVER \"other\" FOREIGN DATA WRAPPER \"postgres_fdw\" OPTIONS (\"dbname\" 'shop')",
                    "GRANT USAGE ON FOREIGN SERVER \"other\" TO \"reader\"",
                ],
            ),
            (
                "absent: the server dropped before its wrapper",
                spec(|s| {
                    s.fdws = vec![FdwSpec {
                        ensure: ABSENT,
                        ..fdw("postgres_fdw")
                    }];
                    s.servers = vec![ForeignServerSpec {
                        ensure: ABSENT,
                        ..server("remote", "x")
                    }];
                }),
                vec![
                    "DROP SERVER \"remote\"",
                    "DROP FOREIGN DATA WRAPPER \"postgres_fdw\"",
                ],
            ),
        ];
        for (what, spec, want) in cases {
            let got = plan(&spec, &have);
            assert_eq!(sqls(&got), want, "{what}");
            assert!(got.errors.is_empty(), "{what}: {:?}", got.errors);
        }
    }

    #[test]
    fn a_server_cannot_change_wrappers_and_says_so_while_the_others_go_on() {
        let have = ObservedContents {
            servers: vec![ObservedServer {
                name: "remote".into(),
                fdw: "postgres_fdw".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let got = plan(
            &spec(|s| {
                s.servers = vec![server("remote", "file_fdw"), server("new", "file_fdw")];
            }),
            &have,
        );
        assert_eq!(
            sqls(&got),
            ["CREATE SERVER \"new\" FOREIGN DATA WRAPPER \"file_fdw\""]
        );
        assert!(got.errors[&(Kind::Server, 0)].contains("cannot change wrappers"));
    }

    #[test]
    fn objects_are_created_in_dependency_order_and_dropped_in_reverse() {
        let have = ObservedContents {
            schemas: vec![ObservedSchema {
                name: "old".into(),
                owner: "app".into(),
            }],
            extensions: vec![ObservedExtension {
                name: "old_ext".into(),
                ..Default::default()
            }],
            fdws: vec![ObservedFdw {
                name: "old_fdw".into(),
                ..Default::default()
            }],
            servers: vec![ObservedServer {
                name: "old_srv".into(),
                fdw: "old_fdw".into(),
                ..Default::default()
            }],
        };
        let got = plan(
            &spec(|s| {
                // Listed in the reverse of the order they must run in.
                s.servers = vec![
                    ForeignServerSpec {
                        ensure: ABSENT,
                        ..server("old_srv", "old_fdw")
                    },
                    server("srv", "w"),
                ];
                s.fdws = vec![
                    FdwSpec {
                        ensure: ABSENT,
                        ..fdw("old_fdw")
                    },
                    fdw("w"),
                ];
                s.extensions = vec![
                    ExtensionSpec {
                        ensure: ABSENT,
                        ..ext("old_ext", None, None)
                    },
                    ext("postgres_fdw", None, Some("s")),
                ];
                s.schemas = vec![schema("old", None, ABSENT), schema("s", None, None)];
            }),
            &have,
        );
        let order: Vec<(Kind, usize)> = got.actions.iter().map(|a| (a.kind, a.index)).collect();
        assert_eq!(
            order,
            [
                (Kind::Schema, 1),
                (Kind::Extension, 1),
                (Kind::Fdw, 1),
                (Kind::Server, 1),
                (Kind::Server, 0),
                (Kind::Fdw, 0),
                (Kind::Extension, 0),
                (Kind::Schema, 0),
            ]
        );
    }

    #[test]
    fn names_and_values_stay_one_identifier_or_literal() {
        let got = plan(
            &spec(|s| {
                s.schemas = vec![schema("a\"; DROP SCHEMA public; --", None, None)];
                s.extensions = vec![ext("e", Some("1'; DROP TABLE t; --"), None)];
            }),
            &ObservedContents::default(),
        );
        assert_eq!(
            sqls(&got),
            [
                "CREATE SCHEMA \"a\"\"; DROP SCHEMA public; --\"",
                "CREATE EXTENSION \"e\" VERSION '1''; DROP TABLE t; --'",
            ]
        );
    }
}
