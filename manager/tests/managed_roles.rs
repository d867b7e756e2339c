//! `spec.managed.roles` and `enableSuperuserAccess` on a real primary run by `instance run`:
//! roles created with their attributes, comment, memberships and a password from a mounted Secret
//! (logging in with it over TCP), altered when the spec or the Secret changes, dropped when
//! `ensure: absent`; a role naming a missing role is reported in `cannotReconcile` while the
//! others reconcile; reserved and unmanaged roles are listed and left alone; `postgres` gets the
//! superuser Secret's password, and loses it when superuser access is turned off. No password
//! reaches the manager's or PostgreSQL's log.

mod common;

use common::node::Node;
use common::{curl_status, free_port, wait_for};
use serde_json::{Value, json};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(120);
const REPORTING_PASSWORD: &str = "first 'report' pass\\word";
const ROTATED_PASSWORD: &str = "second-report-password";
const SUPERUSER_PASSWORD: &str = "superuser-secret-pw";

fn login(n: &Node, user: &str, password: &str) -> Result<String, String> {
    n.try_login(user, password, "SELECT current_user")
}

/// The status document's `managedRoles` once `check` accepts it.
fn wait_roles(probe: u16, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    wait_for(what, LONG, || {
        let (code, body) = curl_status([format!("http://127.0.0.1:{probe}/pg/status")])?;
        if code != 200 {
            return Err(format!("{code}: {body}"));
        }
        let status: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        let roles = status["managedRoles"].clone();
        if check(&roles) {
            Ok(roles)
        } else {
            Err(roles.to_string())
        }
    })
}

fn writer(in_roles: &[&str], connection_limit: i64) -> Value {
    json!({"name": "writer", "createdb": true, "login": true, "validUntil": "2040-01-01T00:00:00Z",
           "connectionLimit": connection_limit, "inRoles": in_roles})
}

fn names(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// `managed` with `reporting` and `writer` as given, and the roles that stay the same.
fn roles(reporting: Value, writer: Value) -> Value {
    json!({"roles": [
        reporting,
        writer,
        {"name": "broken", "login": true, "inRoles": ["no_such_role"]},
        {"name": "app", "superuser": true},
        {"name": "streaming_replica", "ensure": "absent"},
    ]})
}

#[test]
fn managed_roles_and_the_superuser_password_follow_the_configuration() {
    let mut n = Node::new("roles", "alpha");
    let probe = free_port();
    n.set("probePort", json!(probe));
    n.set("statusPort", json!(free_port()));
    n.set("metricsPort", json!(free_port()));
    n.write_secret("reporting", "password", REPORTING_PASSWORD);
    n.write_secret("alpha-superuser", "password", SUPERUSER_PASSWORD);
    n.manager_ok(&["instance", "init"]);
    n.set("enableSuperuserAccess", json!(true));
    n.set("superuserSecret", json!("alpha-superuser"));
    n.set(
        "managed",
        roles(
            json!({
                "name": "reporting", "login": true, "connectionLimit": 4, "comment": "reports",
                "passwordSecret": {"name": "reporting"}, "inRoles": ["pg_read_all_data"],
            }),
            writer(&["reporting"], 3),
        ),
    );
    let mut run = n.run_manager();
    n.wait_query("postgres", "SELECT 1", "1", LONG);
    n.psql("postgres", "CREATE ROLE legacy");

    // Created: the good roles reconcile, the one naming a missing role is reported by name.
    let status = wait_roles(probe, "roles reconciled", |r| {
        names(&r["byStatus"]["reconciled"]) == ["reporting", "writer"]
            && names(&r["byStatus"]["not-managed"]).contains(&"legacy")
    });
    assert_eq!(
        names(&status["byStatus"]["reserved"]),
        ["app", "postgres", "streaming_replica"]
    );
    let broken = status["cannotReconcile"]["broken"].to_string();
    assert!(broken.contains("no_such_role"), "{broken}");
    assert_eq!(
        n.psql(
            "postgres",
            "SELECT rolcanlogin, rolconnlimit, shobj_description(oid, 'pg_authid'), \
             pg_has_role('reporting', 'pg_read_all_data', 'MEMBER') FROM pg_authid WHERE rolname = 'reporting'"
        ),
        "t|4|reports|t"
    );
    assert_eq!(
        n.psql(
            "postgres",
            "SELECT rolcreatedb, rolconnlimit, rolvaliduntil = '2040-01-01T00:00:00Z', pg_has_role('writer', 'reporting', 'MEMBER') \
             FROM pg_roles WHERE rolname = 'writer'"
        ),
        "t|3|t|t"
    );
    assert_eq!(
        n.psql(
            "postgres",
            "SELECT rolsuper FROM pg_roles WHERE rolname = 'app' UNION ALL \
             SELECT count(*) > 0 FROM pg_roles WHERE rolname = 'streaming_replica'"
        ),
        "f\nt",
        "reserved roles are never touched"
    );
    assert_eq!(
        login(&n, "reporting", REPORTING_PASSWORD),
        Ok("reporting".into())
    );
    assert_eq!(
        login(&n, "postgres", SUPERUSER_PASSWORD),
        Ok("postgres".into())
    );
    // Not a clear-text password in the catalog: a SCRAM verifier.
    assert_eq!(
        n.psql(
            "postgres",
            "SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = 'reporting'"
        ),
        "SCRAM-SHA-256$"
    );

    // Altered: attributes, comment and membership follow the spec; a rotated Secret is applied.
    n.write_secret("reporting", "password", ROTATED_PASSWORD);
    let altered = json!({
        "name": "reporting", "login": true, "connectionLimit": 2,
        "passwordSecret": {"name": "reporting"},
    });
    n.set("managed", roles(altered.clone(), writer(&["reporting"], 3)));
    n.wait_query(
        "postgres",
        "SELECT rolconnlimit, shobj_description(oid, 'pg_authid') IS NULL, \
         pg_has_role('reporting', 'pg_read_all_data', 'MEMBER') FROM pg_authid WHERE rolname = 'reporting'",
        "2|t|f",
        LONG,
    );
    wait_for("the rotated password", LONG, || {
        login(&n, "reporting", ROTATED_PASSWORD)
    });
    assert!(login(&n, "reporting", REPORTING_PASSWORD).is_err());

    // A pass with nothing to do leaves the verifier alone (the password is not sent again).
    let verifier = n.psql(
        "postgres",
        "SELECT rolpassword FROM pg_authid WHERE rolname = 'reporting'",
    );
    n.set("managed", roles(altered, writer(&["reporting"], 9)));
    n.wait_query(
        "postgres",
        "SELECT rolconnlimit FROM pg_roles WHERE rolname = 'writer'",
        "9",
        LONG,
    );
    assert_eq!(
        n.psql(
            "postgres",
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'reporting'"
        ),
        verifier
    );

    // Dropped, and superuser access turned off: postgres has no password any more.
    n.set("enableSuperuserAccess", json!(false));
    n.set(
        "managed",
        roles(
            json!({"name": "reporting", "ensure": "absent"}),
            writer(&[], 9),
        ),
    );
    n.wait_query(
        "postgres",
        "SELECT count(*) FROM pg_roles WHERE rolname = 'reporting'",
        "0",
        LONG,
    );
    n.wait_query(
        "postgres",
        "SELECT rolpassword IS NULL FROM pg_authid WHERE rolname = 'postgres'",
        "t",
        LONG,
    );
    assert!(login(&n, "reporting", ROTATED_PASSWORD).is_err());
    assert!(login(&n, "postgres", SUPERUSER_PASSWORD).is_err());
    let status = wait_roles(probe, "reporting reconciled as absent", |r| {
        names(&r["byStatus"]["reconciled"]) == ["reporting", "writer"]
            && !names(&r["byStatus"]["not-managed"]).contains(&"reporting")
    });
    assert!(status["cannotReconcile"]["broken"].is_array());
    // The role the spec does not name is still there.
    assert_eq!(
        n.psql(
            "postgres",
            "SELECT count(*) FROM pg_roles WHERE rolname = 'legacy'"
        ),
        "1"
    );

    run.terminate();
    let logs = [
        std::fs::read_to_string(n.dir.path().join("manager.log")).unwrap_or_default(),
        n.log(),
    ]
    .concat();
    for secret in [REPORTING_PASSWORD, ROTATED_PASSWORD, SUPERUSER_PASSWORD] {
        assert!(!logs.contains(secret), "a password is in the logs");
    }
    assert!(logs.contains("managed role changed"), "{logs}");
}
