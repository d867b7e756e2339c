//! `instance init` runs the post-init SQL the way CloudNativePG does, on a real PostgreSQL 15:
//! `postInitSQL` then `postInitSQLRefs` in `postgres`, `postInitTemplateSQL` then
//! `postInitTemplateSQLRefs` in `template1`, then the application database (created from
//! `template1`, so it inherits what that stage made), then `postInitApplicationSQL` then
//! `postInitApplicationSQLRefs` in it. A referenced script is a file the operator mounted (listed
//! in `postInitSqlFiles`) and may hold several statements. A failing or missing script is named
//! by its field, never by its text, which may hold secrets.

mod common;

use common::chown_pg;
use common::node::Node;
use serde_json::{Value, json};

/// Every step records itself as a role (roles are cluster-wide, so steps in different databases
/// see each other), named `<n>:<database>:<step>`, `n` being one more than the steps before it:
/// the role names show the order the steps ran in and where each ran.
fn record(step: &str) -> String {
    format!(
        "DO $$ BEGIN EXECUTE format('CREATE ROLE %I', \
           (SELECT count(*) + 1 FROM pg_roles WHERE rolname LIKE '%:%:%') \
           || ':' || current_database() || ':{step}'); END $$"
    )
}

/// Writes `sql` as a mounted script under the node's directory and returns its path.
fn mount_script(n: &Node, file: &str, sql: &str) -> String {
    let path = n.dir.path().join("post-init-sql").join(file);
    let dir = path.parent().expect("parent");
    std::fs::create_dir_all(dir).expect("mkdir");
    chown_pg(dir);
    std::fs::write(&path, sql).expect("script");
    chown_pg(&path);
    path.display().to_string()
}

fn listed(field: &str, path: &str) -> Value {
    json!({"field": format!("bootstrap.initdb.{field}"), "path": path})
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const PASSWORD: &str = "only-in-the-secret-7f3a";

#[test]
fn scripts_run_in_order_in_their_databases_whole_and_unlogged() {
    let mut n = Node::new("post-init-order", "post-init-order");
    // The scripts must stay out of PostgreSQL's log even when it logs every statement.
    n.cfg["postgresql"]["parameters"]["log_statement"] = json!("all");
    let secret_sql = mount_script(
        &n,
        "sql/secret-0.sql",
        &format!(
            "{};\nCREATE ROLE reporter LOGIN PASSWORD '{PASSWORD}';\n",
            record("postInitSQLRefs.secretRefs[0]")
        ),
    );
    let config_map_sql = mount_script(
        &n,
        "sql/configmap-0.sql",
        &format!("{};\n", record("postInitSQLRefs.configMapRefs[0]")),
    );
    let template = mount_script(
        &n,
        "template/configmap-0.sql",
        &format!(
            "{};\nCREATE TABLE inherited_from_template (x int);\nCREATE EXTENSION pgcrypto;\n",
            record("postInitTemplateSQLRefs.configMapRefs[0]")
        ),
    );
    let app_secret = mount_script(
        &n,
        "application/secret-0.sql",
        &format!(
            "{};\nCREATE TABLE items (id int PRIMARY KEY, name text);\n\
             INSERT INTO items VALUES (1, 'one'), (2, 'two');\n\
             -- a comment between statements\n\
             CREATE VIEW item_names AS SELECT name FROM items;\n",
            record("postInitApplicationSQLRefs.secretRefs[0]")
        ),
    );
    let app_config_map = mount_script(
        &n,
        "application/configmap-0.sql",
        &format!(
            "{};\nINSERT INTO items SELECT 3, 'three';\n",
            record("postInitApplicationSQLRefs.configMapRefs[0]")
        ),
    );
    let initdb = &mut n.cfg["bootstrap"]["initdb"];
    initdb["postInitSQL"] = json!([record("postInitSQL[0]")]);
    initdb["postInitTemplateSQL"] = json!([record("postInitTemplateSQL[0]")]);
    initdb["postInitApplicationSQL"] = json!([record("postInitApplicationSQL[0]")]);
    initdb["postInitSQLRefs"] = json!({
        "secretRefs": [{"name": "init", "key": "roles.sql"}],
        "configMapRefs": [{"name": "init", "key": "more.sql"}],
    });
    initdb["postInitTemplateSQLRefs"] =
        json!({"configMapRefs": [{"name": "init", "key": "template.sql"}]});
    initdb["postInitApplicationSQLRefs"] = json!({
        "secretRefs": [{"name": "init", "key": "schema.sql"}],
        "configMapRefs": [{"name": "init", "key": "data.sql"}],
    });
    n.cfg["postInitSqlFiles"] = json!({
        "sql": [
            listed("postInitSQLRefs.secretRefs[0]", &secret_sql),
            listed("postInitSQLRefs.configMapRefs[0]", &config_map_sql),
        ],
        "template": [listed("postInitTemplateSQLRefs.configMapRefs[0]", &template)],
        "application": [
            listed("postInitApplicationSQLRefs.secretRefs[0]", &app_secret),
            listed("postInitApplicationSQLRefs.configMapRefs[0]", &app_config_map),
        ],
    });
    n.write_config();
    let init = n.manager(&["instance", "init"]);
    assert!(init.status.success(), "init failed: {}", stderr(&init));
    n.manager_ok(&["instance", "start"]);

    let steps = n.psql(
        "postgres",
        "SELECT string_agg(rolname, ' | ' ORDER BY split_part(rolname, ':', 1)::int) \
         FROM pg_roles WHERE rolname LIKE '%:%:%'",
    );
    assert_eq!(
        steps,
        [
            "1:postgres:postInitSQL[0]",
            "2:postgres:postInitSQLRefs.secretRefs[0]",
            "3:postgres:postInitSQLRefs.configMapRefs[0]",
            "4:template1:postInitTemplateSQL[0]",
            "5:template1:postInitTemplateSQLRefs.configMapRefs[0]",
            "6:app:postInitApplicationSQL[0]",
            "7:app:postInitApplicationSQLRefs.secretRefs[0]",
            "8:app:postInitApplicationSQLRefs.configMapRefs[0]",
        ]
        .join(" | ")
    );
    // Every statement of a multi-statement script ran.
    assert_eq!(
        n.psql(
            "app",
            "SELECT string_agg(name, ',' ORDER BY name) FROM item_names"
        ),
        "one,three,two"
    );
    assert_eq!(
        n.psql(
            "postgres",
            "SELECT count(*) FROM pg_roles WHERE rolname = 'reporter'"
        ),
        "1"
    );
    // The application database was created from template1 after its scripts ran.
    assert_eq!(
        n.psql(
            "app",
            "SELECT count(*) FROM pg_tables WHERE tablename = 'inherited_from_template'"
        ),
        "1"
    );
    assert_eq!(
        n.psql(
            "app",
            "SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'"
        ),
        "1"
    );
    assert_eq!(
        n.psql(
            "postgres",
            "SELECT count(*) FROM pg_tables WHERE tablename = 'inherited_from_template'"
        ),
        "0",
        "postgres was created by initdb, before the template scripts"
    );
    let output = format!(
        "{}{}{}",
        String::from_utf8_lossy(&init.stdout),
        stderr(&init),
        n.log()
    );
    assert!(
        n.log().contains("statement"),
        "PostgreSQL logs statements in this test: {}",
        n.log()
    );
    assert!(
        !output.contains(PASSWORD),
        "a script's secret was logged:\n{output}"
    );
}

#[test]
fn a_missing_or_failing_script_is_named_by_its_field_never_by_its_text() {
    let mut n = Node::new("post-init-fail", "post-init-fail");
    let first = mount_script(&n, "application/secret-0.sql", "CREATE TABLE t (x int);");
    let second = mount_script(
        &n,
        "application/configmap-0.sql",
        "CREATE TABLE t2 (x int);",
    );
    n.cfg["bootstrap"]["initdb"]["postInitApplicationSQLRefs"] = json!({
        "secretRefs": [{"name": "init", "key": "a.sql"}],
        "configMapRefs": [{"name": "init", "key": "b.sql"}, {"name": "init", "key": "c.sql"}],
    });
    let field = "bootstrap.initdb.postInitApplicationSQLRefs.configMapRefs[1]";

    // A reference the configuration lists no file for: refused before initdb, by name.
    n.cfg["postInitSqlFiles"] = json!({"application": [
        listed("postInitApplicationSQLRefs.secretRefs[0]", &first),
        listed("postInitApplicationSQLRefs.configMapRefs[0]", &second),
    ]});
    n.write_config();
    let out = n.manager(&["instance", "init"]);
    assert!(!out.status.success(), "an unlisted reference is refused");
    assert!(stderr(&out).contains(field), "{}", stderr(&out));
    assert!(
        !n.pgdata().join("PG_VERSION").exists(),
        "refused before initdb"
    );

    // Listed, but the key was not mounted.
    let absent = n
        .dir
        .path()
        .join("post-init-sql/application/configmap-1.sql");
    n.cfg["postInitSqlFiles"]["application"]
        .as_array_mut()
        .expect("list")
        .push(listed(
            "postInitApplicationSQLRefs.configMapRefs[1]",
            &absent.display().to_string(),
        ));
    n.write_config();
    let out = n.manager(&["instance", "init"]);
    assert!(!out.status.success(), "a missing file fails the init");
    let err = stderr(&out);
    assert!(
        err.contains(field) && err.contains(&absent.display().to_string()),
        "{err}"
    );

    // Mounted, and it fails in its second statement: named by field and PostgreSQL's reason.
    mount_script(
        &n,
        "application/configmap-1.sql",
        &format!(
            "CREATE ROLE auditor LOGIN PASSWORD '{PASSWORD}';\n\
             CREATE TABLE missing_schema.audit (x int);\n"
        ),
    );
    let out = n.manager(&["instance", "init"]);
    assert!(!out.status.success(), "a failing script fails the init");
    let err = stderr(&out);
    assert!(
        err.contains(field) && err.contains("schema \"missing_schema\" does not exist"),
        "{err}"
    );
    for text in [PASSWORD, "CREATE ROLE", "CREATE TABLE", "audit ("] {
        assert!(
            !err.contains(text),
            "the script's text {text:?} in the error: {err}"
        );
    }

    // Fixed: the retry starts from scratch and runs every script.
    mount_script(
        &n,
        "application/configmap-1.sql",
        "CREATE TABLE u (x int); CREATE TABLE v (x int);",
    );
    n.init_and_start();
    assert_eq!(
        n.psql(
            "app",
            "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'"
        ),
        "t,t2,u,v"
    );
}
