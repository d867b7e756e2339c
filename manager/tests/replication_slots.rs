//! Replication slots under `instance run`, on real PostgreSQL: the primary keeps an HA slot for
//! every other listed instance, a standby streams through its own, standbys keep copies of the
//! other instances' HA slots and of the user's slots (not the excluded ones), advanced as the
//! primary's move, and a slot whose instance (or user slot) goes away goes on both.

mod common;

use common::certs::Pki;
use common::free_port;
use common::node::Node;
use serde_json::{Value, json};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(120);

fn manager_log(node: &Node) -> String {
    std::fs::read_to_string(node.dir.path().join("manager.log")).unwrap_or_default()
}

/// The slot names of `node`, comma-separated in name order.
fn slots(node: &Node) -> String {
    node.psql(
        "postgres",
        "SELECT coalesce(string_agg(slot_name, ',' ORDER BY slot_name), '') FROM pg_replication_slots",
    )
}

fn wait_slots(node: &Node, want: &str, what: &str) {
    common::wait_for(what, LONG, || match slots(node) {
        s if s == want => Ok(()),
        s => Err(format!("slots {s:?}\n{}", manager_log(node))),
    });
}

/// Settings shared by both instances: every instance listed, slots checked every second, user
/// slots starting with `excluded_` left alone.
fn cluster_settings(node: &mut Node, certs: &Value, instances: &[&str]) {
    for (k, v) in [
        ("certificates", certs.clone()),
        ("statusPort", json!(free_port())),
        ("probePort", json!(free_port())),
        ("metricsPort", json!(free_port())),
        ("targetPrimary", json!("pg-a")),
        ("instances", json!(instances)),
        (
            "replicationSlots",
            json!({"highAvailability": {"enabled": true, "slotPrefix": "_pgfed_"},
                   "updateInterval": 1,
                   "synchronizeReplicas": {"enabled": true, "excludePatterns": ["^excluded_"]}}),
        ),
    ] {
        node.set(k, v);
    }
}

#[test]
fn ha_and_user_slots_are_kept_on_the_primary_and_its_standbys() {
    let mut a = Node::new("pg-a", "pg");
    let pki = Pki::new(&a.dir.path().join("pki"));
    let server = pki.issue("pg-rw", &["localhost", "127.0.0.1"]);
    let replica = pki.issue("streaming_replica", &[]);
    let certs = json!({"serverCert": server.cert, "serverKey": server.key, "clientCa": pki.ca});
    let all = ["pg-a", "pg-b", "pg-c"];
    cluster_settings(&mut a, &certs, &all);
    a.manager_ok(&["instance", "init"]);
    let _run_a = a.run_manager();
    a.wait_query("postgres", "SELECT 1", "1", LONG);

    // The primary has a slot for each other instance, never one for itself.
    wait_slots(&a, "_pgfed_pg_b,_pgfed_pg_c", "HA slots on the primary");
    a.psql(
        "postgres",
        "SELECT pg_create_physical_replication_slot('user_slot', true); \
         SELECT pg_create_physical_replication_slot('excluded_slot', true)",
    );

    // pg-b joins and streams through its own slot.
    let mut b = Node::new("pg-b", "pg");
    cluster_settings(&mut b, &certs, &all);
    b.stream_from(&a, &replica, &pki.ca);
    let _run_b = b.run_manager();
    a.wait_query(
        "postgres",
        "SELECT active FROM pg_replication_slots WHERE slot_name = '_pgfed_pg_b'",
        "t",
        LONG,
    );
    assert_eq!(b.psql("postgres", "SHOW primary_slot_name"), "_pgfed_pg_b");

    // pg-b keeps pg-c's HA slot and the user's slot, not its own nor the excluded one.
    wait_slots(&b, "_pgfed_pg_c,user_slot", "copied slots on the standby");

    // pg-c's slot moves on the primary (as when pg-c streams): pg-b's copy follows, as far as
    // pg-b has replayed.
    a.psql(
        "postgres",
        "CREATE TABLE t AS SELECT g FROM generate_series(1, 10000) g; SELECT pg_switch_wal()",
    );
    let moved = a.psql(
        "postgres",
        "SELECT end_lsn FROM pg_replication_slot_advance('_pgfed_pg_c', pg_current_wal_lsn())",
    );
    b.wait_query(
        "postgres",
        &format!(
            "SELECT restart_lsn >= '{moved}'::pg_lsn FROM pg_replication_slots \
             WHERE slot_name = '_pgfed_pg_c'"
        ),
        "t",
        LONG,
    );
    // Never past what the standby replayed.
    assert_eq!(
        b.psql(
            "postgres",
            "SELECT bool_and(restart_lsn <= pg_last_wal_replay_lsn()) FROM pg_replication_slots"
        ),
        "t"
    );

    // The status document lists the slots.
    let status: Value = serde_json::from_str(&a.manager_ok(&["instance", "status"])).expect("json");
    let listed = status["replicationSlots"]
        .as_array()
        .expect("replicationSlots")
        .iter()
        .map(|s| {
            format!(
                "{}:{}:{}",
                s["name"].as_str().unwrap_or_default(),
                s["type"].as_str().unwrap_or_default(),
                s["active"]
            )
        })
        .collect::<Vec<_>>();
    assert_eq!(
        listed,
        [
            "_pgfed_pg_b:physical:true",
            "_pgfed_pg_c:physical:false",
            "excluded_slot:physical:false",
            "user_slot:physical:false"
        ]
    );

    // pg-c leaves the cluster: its slot goes on the primary, then on the standby; the user drops
    // a slot: the standby's copy goes too.
    for node in [&mut a, &mut b] {
        node.set("instances", json!(["pg-a", "pg-b"]));
        node.write_config();
    }
    a.psql("postgres", "SELECT pg_drop_replication_slot('user_slot')");
    wait_slots(
        &a,
        "_pgfed_pg_b,excluded_slot",
        "pg-c's slot dropped on the primary",
    );
    wait_slots(&b, "", "pg-c's and the user's slots dropped on the standby");
    // pg-b still streams through its slot.
    a.wait_query(
        "postgres",
        "SELECT active FROM pg_replication_slots WHERE slot_name = '_pgfed_pg_b'",
        "t",
        LONG,
    );
}
