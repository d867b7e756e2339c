//! The edge of database management: reads `pg_database` on the primary and, for each database
//! whose object names schemas, extensions, wrappers or servers, that database's catalogs over a
//! connection to it; runs what [`super::decide`] and [`super::contents`] planned, one statement
//! at a time (CREATE and DROP DATABASE cannot run in a transaction); and returns one report per
//! object of the configuration. A statement that fails is reported by its kind and PostgreSQL's
//! reason, never its text (an option value may be a secret), and the pass goes on with the
//! statements that do not depend on it. Sessions do not log their statements, for the same reason.

use super::contents::{
    self, ContentsOutcome, Function, ObservedContents, ObservedExtension, ObservedFdw,
    ObservedSchema, ObservedServer,
};
use super::decide::{self, EntryOutcome, ObservedDatabase, Screen};
use crate::config::ManagerConfig;
use crate::pg::{PgError, sql};
use pgfed_api::database::{DatabaseReport, DatabaseSpec, ManagedDatabase};
use std::collections::{BTreeMap, BTreeSet};
use tokio_postgres::Client;

/// One row per database: owner, template and connection settings, default tablespace.
const DATABASES: &str = "SELECT d.datname::text, pg_get_userbyid(d.datdba)::text, d.datistemplate, \
     d.datallowconn, d.datconnlimit, t.spcname::text \
     FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace ORDER BY 1";

/// Schemas and their owners.
const SCHEMAS: &str =
    "SELECT n.nspname::text, pg_get_userbyid(n.nspowner)::text FROM pg_namespace n ORDER BY 1";

/// Extensions, their versions and schemas.
const EXTENSIONS: &str = "SELECT e.extname::text, e.extversion, n.nspname::text \
     FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace ORDER BY 1";

/// The roles an ACL grants USAGE to (`public` for PUBLIC), for the `acl` column of the row.
macro_rules! usage_of {
    ($acl:literal) => {
        concat!(
            "ARRAY(SELECT CASE WHEN a.grantee = 0 THEN 'public' ELSE pg_get_userbyid(a.grantee)::text END \
             FROM aclexplode(",
            $acl,
            ") a WHERE a.privilege_type = 'USAGE')"
        )
    };
}

/// Foreign data wrappers: owner, handler and validator (schema and name), options, USAGE.
const FDWS: &str = concat!(
    "SELECT f.fdwname::text, pg_get_userbyid(f.fdwowner)::text, \
     hn.nspname::text, h.proname::text, vn.nspname::text, v.proname::text, \
     coalesce(f.fdwoptions, '{}')::text[], ",
    usage_of!("f.fdwacl"),
    " FROM pg_foreign_data_wrapper f \
     LEFT JOIN pg_proc h ON h.oid = f.fdwhandler LEFT JOIN pg_namespace hn ON hn.oid = h.pronamespace \
     LEFT JOIN pg_proc v ON v.oid = f.fdwvalidator LEFT JOIN pg_namespace vn ON vn.oid = v.pronamespace \
     ORDER BY 1"
);

/// Foreign servers: their wrapper, options, USAGE.
const SERVERS: &str = concat!(
    "SELECT s.srvname::text, f.fdwname::text, coalesce(s.srvoptions, '{}')::text[], ",
    usage_of!("s.srvacl"),
    " FROM pg_foreign_server s JOIN pg_foreign_data_wrapper f ON f.oid = s.srvfdw ORDER BY 1"
);

/// Reconciles the configuration's databases on the local server, if it is the primary: `None`
/// on a standby (databases are the primary's business), otherwise one report per object, in
/// the configuration's order. An error means the pass could not run at all (the server cannot
/// be reached or read).
pub async fn reconcile(cfg: &ManagerConfig) -> Result<Option<Vec<DatabaseReport>>, PgError> {
    let Some(client) = sql::connect_primary(cfg, "postgres").await? else {
        return Ok(None);
    };
    let observed = databases(&client).await?;
    let screens = decide::screen(&cfg.databases);
    let mut reports = Vec::with_capacity(cfg.databases.len());
    for (entry, screen) in cfg.databases.iter().zip(screens) {
        let current = observed.get(&entry.spec.name);
        let outcome = match screen {
            Screen::Refused(why) => EntryOutcome {
                refused: Some(why),
                failures: Vec::new(),
                exists: current.is_some(),
                contents: ContentsOutcome::NotLookedAt,
            },
            Screen::Act => reconcile_one(cfg, &client, entry, current).await?,
        };
        reports.push(decide::report(entry, &outcome));
    }
    Ok(Some(reports))
}

/// One object: its database, then what goes inside.
async fn reconcile_one(
    cfg: &ManagerConfig,
    client: &Client,
    entry: &ManagedDatabase,
    current: Option<&ObservedDatabase>,
) -> Result<EntryOutcome, PgError> {
    let name = &entry.spec.name;
    let statements = decide::database_statements(entry, current);
    let mut failures = Vec::new();
    for statement in &statements {
        match client.batch_execute(&statement.sql).await {
            Ok(()) => tracing::info!(
                database = %name,
                statement = %sql::statement_kind(&statement.sql),
                "managed database changed"
            ),
            Err(e) => {
                let reason = sql::failure(&statement.sql, &e);
                tracing::warn!(database = %name, field = statement.field, %reason, "managed database cannot be reconciled");
                failures.push((statement.field, reason));
                // A failed DROP stops there: the statements before it prepared it.
                if entry.wants_absent() {
                    break;
                }
            }
        }
    }
    let exists = if statements.is_empty() {
        current.is_some()
    } else {
        client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)",
                &[name],
            )
            .await
            .map_err(sql::query_error("reading pg_database"))?
            .get(0)
    };
    let contents = if exists && !entry.wants_absent() && contents::names_contents(&entry.spec) {
        reconcile_contents(cfg, &entry.spec).await
    } else {
        ContentsOutcome::NotLookedAt
    };
    Ok(EntryOutcome {
        refused: None,
        failures,
        exists,
        contents,
    })
}

/// The schemas, extensions, wrappers and servers of one database, over a connection to it
/// (closed before the next database is looked at).
async fn reconcile_contents(cfg: &ManagerConfig, spec: &DatabaseSpec) -> ContentsOutcome {
    let client = match sql::connect_quiet(cfg, &spec.name).await {
        Ok(c) => c,
        Err(e) => return ContentsOutcome::Unreachable(format!("cannot connect: {e}")),
    };
    let observed = match contents_of(&client).await {
        Ok(o) => o,
        Err(e) => return ContentsOutcome::Unreachable(e.to_string()),
    };
    let plan = contents::plan(spec, &observed);
    let mut failed = plan.errors.clone();
    for action in &plan.actions {
        let key = (action.kind, action.index);
        if failed.contains_key(&key) {
            continue;
        }
        let object = action
            .kind
            .names(spec)
            .get(action.index)
            .copied()
            .unwrap_or_default();
        match client.batch_execute(&action.sql).await {
            Ok(()) => tracing::info!(
                database = %spec.name,
                kind = action.kind.field(),
                object,
                statement = %sql::statement_kind(&action.sql),
                "managed database object changed"
            ),
            Err(e) => {
                let reason = sql::failure(&action.sql, &e);
                tracing::warn!(database = %spec.name, kind = action.kind.field(), object, %reason, "managed database object cannot be reconciled");
                failed.insert(key, reason);
            }
        }
    }
    ContentsOutcome::Reconciled(failed)
}

async fn databases(client: &Client) -> Result<BTreeMap<String, ObservedDatabase>, PgError> {
    let rows = client
        .query(DATABASES, &[])
        .await
        .map_err(sql::query_error("reading pg_database"))?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let d = ObservedDatabase {
                name: r.get(0),
                owner: r.get(1),
                is_template: r.get(2),
                allow_connections: r.get(3),
                connection_limit: r.get(4),
                tablespace: r.get(5),
            };
            (d.name.clone(), d)
        })
        .collect())
}

/// `key=value` items of an options array (the value may hold `=`).
fn options(items: Vec<String>) -> BTreeMap<String, String> {
    items
        .into_iter()
        .filter_map(|item| {
            item.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

fn function(schema: Option<String>, name: Option<String>) -> Option<Function> {
    Some(Function {
        schema: schema?,
        name: name?,
    })
}

async fn contents_of(client: &Client) -> Result<ObservedContents, PgError> {
    let query = |what: &'static str, q: &'static str| async move {
        client.query(q, &[]).await.map_err(sql::query_error(what))
    };
    let schemas = query("reading pg_namespace", SCHEMAS).await?;
    let extensions = query("reading pg_extension", EXTENSIONS).await?;
    let fdws = query("reading pg_foreign_data_wrapper", FDWS).await?;
    let servers = query("reading pg_foreign_server", SERVERS).await?;
    Ok(ObservedContents {
        schemas: schemas
            .into_iter()
            .map(|r| ObservedSchema {
                name: r.get(0),
                owner: r.get(1),
            })
            .collect(),
        extensions: extensions
            .into_iter()
            .map(|r| ObservedExtension {
                name: r.get(0),
                version: r.get(1),
                schema: r.get(2),
            })
            .collect(),
        fdws: fdws
            .into_iter()
            .map(|r| ObservedFdw {
                name: r.get(0),
                owner: r.get(1),
                handler: function(r.get(2), r.get(3)),
                validator: function(r.get(4), r.get(5)),
                options: options(r.get(6)),
                usage: r
                    .get::<_, Vec<String>>(7)
                    .into_iter()
                    .collect::<BTreeSet<_>>(),
            })
            .collect(),
        servers: servers
            .into_iter()
            .map(|r| ObservedServer {
                name: r.get(0),
                fdw: r.get(1),
                options: options(r.get(2)),
                usage: r
                    .get::<_, Vec<String>>(3)
                    .into_iter()
                    .collect::<BTreeSet<_>>(),
            })
            .collect(),
    })
}
