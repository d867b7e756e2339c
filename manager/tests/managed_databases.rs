//! Database objects on a real primary run by `instance run`: a database created with its owner
//! and connection limit, a schema and extensions inside it (one extension that does not exist is
//! reported by name while the rest applies); owner and connection limit altered; a second object
//! naming the same database refused; the database dropped with `ensure: absent` and another one
//! dropped when its object is reclaimed on deletion. A database, and a schema, no object names
//! are never touched, also when the configuration stops naming a database.

mod common;

use common::node::Node;
use common::{free_port, pg_status, wait_for};
use serde_json::{Value, json};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(120);

/// One entry of the configuration's `databases`, as the operator renders it.
fn object(name: &str, generation: i64, spec: Value) -> Value {
    json!({"object": name, "uid": format!("uid-{name}"), "generation": generation,
           "spec": merged_spec(spec)})
}

fn merged_spec(spec: Value) -> Value {
    let mut base = json!({"cluster": {"name": "delta"}, "owner": "app"});
    if let (Some(b), Some(s)) = (base.as_object_mut(), spec.as_object()) {
        for (k, v) in s {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}

/// The report of object `name` once `check` accepts it.
fn wait_report(probe: u16, name: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    wait_for(what, LONG, || {
        let status = pg_status(probe)?;
        let report = status["databases"]
            .as_array()
            .and_then(|all| all.iter().find(|r| r["object"] == name))
            .cloned()
            .unwrap_or_default();
        if check(&report) {
            Ok(report)
        } else {
            Err(status["databases"].to_string())
        }
    })
}

fn shop(generation: i64, owner: &str, limit: i64, extensions: Value) -> Value {
    object(
        "shop",
        generation,
        json!({"name": "shop", "owner": owner, "connectionLimit": limit,
               "schemas": [{"name": "sales", "owner": owner}],
               "extensions": extensions}),
    )
}

#[test]
fn database_objects_are_created_altered_and_dropped_and_nothing_else_is_touched() {
    let mut n = Node::new("databases", "delta");
    let probe = free_port();
    n.set("probePort", json!(probe));
    n.set("statusPort", json!(free_port()));
    n.set("metricsPort", json!(free_port()));
    n.manager_ok(&["instance", "init"]);
    let mut run = n.run_manager();
    n.wait_query("postgres", "SELECT 1", "1", LONG);
    n.psql("postgres", "CREATE ROLE shopkeeper");
    n.psql("postgres", "CREATE DATABASE legacy");
    n.psql("legacy", "CREATE TABLE kept (x int)");

    // Created: the database with its schema and hstore in it; the extension that does not exist
    // is reported by name; the newer object for the same database is refused.
    let extensions = json!([{"name": "hstore", "schema": "sales"}, {"name": "no_such_extension"}]);
    n.set(
        "databases",
        json!([
            shop(1, "app", 10, extensions),
            object("archive", 1, json!({"name": "archive"})),
            object(
                "shop-again",
                1,
                json!({"name": "shop", "owner": "shopkeeper"})
            ),
        ]),
    );
    let report = wait_report(probe, "shop", "shop reported", |r| {
        r["exists"] == true && r["observedGeneration"] == 1
    });
    assert_eq!(report["applied"], false, "{report}");
    let message = report["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("spec.extensions[1] (no_such_extension): CREATE EXTENSION:"),
        "{report}"
    );
    assert_eq!(report["uid"], "uid-shop");
    assert_eq!(
        report["extensions"],
        json!([{"name": "hstore", "applied": true},
               {"name": "no_such_extension", "applied": false,
                "message": message.trim_start_matches("spec.extensions[1] (no_such_extension): ")}])
    );
    assert_eq!(
        report["schemas"],
        json!([{"name": "sales", "applied": true}])
    );
    let refused = wait_report(probe, "shop-again", "the second claim refused", |r| {
        r["applied"] == false
    });
    assert_eq!(
        refused["message"], "spec.name: the database \"shop\" is already managed by Database shop",
        "{refused}"
    );
    assert_eq!(
        n.psql(
            "postgres",
            "SELECT pg_get_userbyid(datdba), datconnlimit FROM pg_database WHERE datname = 'shop'"
        ),
        "app|10"
    );
    assert_eq!(
        n.psql(
            "shop",
            "SELECT n.nspname, pg_get_userbyid(n.nspowner) FROM pg_extension e \
             JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'hstore'"
        ),
        "sales|app"
    );
    assert_eq!(
        n.psql("shop", "SELECT sales.exist('a=>1'::sales.hstore, 'a')"),
        "t",
        "hstore works from its schema"
    );
    wait_report(probe, "archive", "archive applied", |r| {
        r["applied"] == true
    });

    // Altered: owner and connection limit of the database, owner of the schema. A schema no
    // object names is left alone.
    n.psql(
        "shop",
        "CREATE SCHEMA unmanaged; CREATE TABLE unmanaged.t (x int)",
    );
    n.set(
        "databases",
        json!([
            shop(
                2,
                "shopkeeper",
                3,
                json!([{"name": "hstore", "schema": "sales"}])
            ),
            object("archive", 1, json!({"name": "archive"})),
        ]),
    );
    let report = wait_report(probe, "shop", "shop altered", |r| {
        r["observedGeneration"] == 2 && r["applied"] == true
    });
    assert!(report.get("message").is_none(), "{report}");
    assert_eq!(
        n.psql(
            "postgres",
            "SELECT pg_get_userbyid(datdba), datconnlimit FROM pg_database WHERE datname = 'shop'"
        ),
        "shopkeeper|3"
    );
    assert_eq!(
        n.psql(
            "shop",
            "SELECT string_agg(nspname || ':' || pg_get_userbyid(nspowner), ',' ORDER BY nspname) \
             FROM pg_namespace WHERE nspname IN ('sales', 'unmanaged')"
        ),
        "sales:shopkeeper,unmanaged:postgres"
    );

    // Dropped: shop with ensure: absent, archive reclaimed as its object is deleted.
    n.set(
        "databases",
        json!([
            object("shop", 3, json!({"name": "shop", "ensure": "absent"})),
            {"object": "archive", "uid": "uid-archive", "generation": 2, "reclaim": true,
             "spec": merged_spec(json!({"name": "archive"}))},
        ]),
    );
    for name in ["shop", "archive"] {
        let report = wait_report(probe, name, &format!("{name} dropped"), |r| {
            r["exists"] == false && r["applied"] == true
        });
        assert!(report.get("schemas").is_none(), "{report}");
    }
    assert_eq!(
        n.psql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname IN ('shop', 'archive')"
        ),
        "0"
    );
    // The database no object names is still there, with its table.
    assert_eq!(n.psql("legacy", "SELECT count(*) FROM kept"), "0");

    // No objects at all: nothing is dropped because the configuration stopped naming it.
    n.set(
        "databases",
        json!([object("legacy-view", 1, json!({"name": "kept_db"}))]),
    );
    wait_report(probe, "legacy-view", "kept_db created", |r| {
        r["applied"] == true
    });
    n.set("databases", json!([]));
    wait_for("an empty report", LONG, || {
        let status = pg_status(probe)?;
        if status["databases"] == json!([]) {
            Ok(())
        } else {
            Err(status["databases"].to_string())
        }
    });
    assert_eq!(
        n.psql(
            "postgres",
            "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database \
             WHERE datname IN ('kept_db', 'legacy')"
        ),
        "kept_db,legacy"
    );
    let status = pg_status(probe).unwrap_or_default();
    assert_eq!(status["isPrimary"], true, "{status}");

    run.terminate();
    let logs = std::fs::read_to_string(n.dir.path().join("manager.log")).unwrap_or_default();
    assert!(logs.contains("managed database changed"), "{logs}");
}
