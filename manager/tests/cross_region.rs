//! Cross-region switchover at the instance level, the core of pgfed: two instances with no network
//! path between them, each archiving to its own bucket; the replica region replays the primary's
//! bucket only. Demote → token → promote exactly at the token → the old primary follows the new
//! timeline from the other bucket. Back and forth three times while a client keeps writing, no
//! re-clone, no lost transaction. A demotion driven by `instance run` survives a manager restart
//! at each of its steps. Plus the promotion-token fault cases and a corrupt WAL in the bucket.

mod common;

use common::faults::{Fault, FaultyBindir};
use common::minio::Minio;
use common::node::{Node, s3_store};
use common::published_token;
use common::writer::{Writer, missing};
use serde_json::{Value, json};
use std::time::Duration;

const LONG: Duration = Duration::from_secs(300);

struct Regions {
    minio: Minio,
    a: Node,
    b: Node,
}

fn externals(minio: &Minio) -> Value {
    json!([
        {"name": "region-a", "barmanObjectStore": s3_store(minio, "bucket-a", json!({"wal": {"compression": "zstd", "maxParallel": 4}}))},
        {"name": "region-b", "barmanObjectStore": s3_store(minio, "bucket-b", json!({"wal": {"compression": "zstd", "maxParallel": 4}}))},
    ])
}

fn node(minio: &Minio, name: &str, bucket: &str, primary: &str, source: &str) -> Node {
    let mut n = Node::new(name, name);
    n.cfg["postgresql"]["parameters"]["wal_retrieve_retry_interval"] = json!("500ms");
    n.set("backup", json!({"barmanObjectStore": s3_store(minio, bucket, json!({"wal": {"compression": "zstd", "maxParallel": 4}}))}));
    n.set("externalClusters", externals(minio));
    n.set("replica", json!({"primary": primary, "source": source}));
    n.set("bootstrap", json!({
        "initdb": {"database": "app", "owner": "app", "secret": {"name": "app"}, "dataChecksums": true},
        "recovery": {"source": if name == "region-a" { "region-b" } else { "region-a" }},
    }));
    n
}

/// Region A primary with data and a base backup; region B restored from it, replaying bucket A.
fn regions() -> Regions {
    let minio = Minio::start();
    minio.create_bucket("bucket-a");
    minio.create_bucket("bucket-b");
    let a = node(&minio, "region-a", "bucket-a", "region-a", "region-b");
    let b = node(&minio, "region-b", "bucket-b", "region-a", "region-a");
    a.init_and_start();
    a.psql(
        "app",
        "CREATE TABLE ledger(id bigserial PRIMARY KEY, round int, amount numeric, note text)",
    );
    a.psql("app", "INSERT INTO ledger(round, amount, note) SELECT 0, g * 1.5, md5(g::text) FROM generate_series(1, 5000) g");
    a.manager_ok(&["backup"]);
    b.manager_ok(&["instance", "restore"]);
    b.manager_ok(&["instance", "start"]);
    Regions { minio, a, b }
}

/// Every row of the ledger, in one value.
const ALL_ROWS: &str = "SELECT count(*) || ':' || md5(string_agg(id || ',' || round || ',' || amount || ',' || note, ';' ORDER BY id)) FROM ledger";

/// The batch rows (not the writer's, whose count depends on timing).
fn fingerprint(n: &Node) -> String {
    n.psql("app", &format!("{ALL_ROWS} WHERE round >= 0"))
}

/// Waits until `standby` holds exactly the rows of `primary`, writer rows included.
fn wait_same_rows(standby: &Node, primary: &Node, what: &str) {
    let want = primary.psql("app", ALL_ROWS);
    common::wait_for(what, LONG, || {
        let got = standby.try_psql("app", ALL_ROWS)?;
        if got == want { Ok(()) } else { Err(got) }
    });
}

/// The writer's rows (`round = -1`, its label in `note`).
const WRITER_INSERT: &str = "INSERT INTO ledger(round, amount, note) VALUES (-1, 0, {})";

/// A writer that writes to whichever of `nodes` accepts writes.
fn writer(nodes: &[&Node]) -> Writer {
    Writer::start(
        nodes
            .iter()
            .map(|n| (n.dir.path().join("run"), n.port))
            .collect(),
        "app",
        WRITER_INSERT,
    )
}

/// Asserts that `n` holds every row the writer had acknowledged.
fn assert_holds_every_acknowledged_row(n: &Node, acked: &[String]) {
    let present = n.psql("app", "SELECT note FROM ledger WHERE round = -1");
    let lost = missing(acked, &present);
    assert!(
        lost.is_empty(),
        "[{}] {} of {} acknowledged rows lost: {:?}",
        n.name,
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(10)]
    );
}

fn set_primary(n: &mut Node, primary: &str, source: &str, token: Option<&str>) {
    let mut replica = json!({"primary": primary, "source": source});
    if let Some(t) = token {
        replica["promotionToken"] = json!(t);
    }
    n.set("replica", replica);
}

#[test]
fn switchover_back_and_forth_three_times_without_reclone_or_loss() {
    let Regions {
        minio: _minio,
        mut a,
        mut b,
    } = regions();
    let sysid = a.psql(
        "postgres",
        "SELECT system_identifier FROM pg_control_system()",
    );
    assert_eq!(
        b.psql(
            "postgres",
            "SELECT system_identifier FROM pg_control_system()"
        ),
        sysid
    );

    // A client writes through every switch, to whichever region takes writes.
    let writes = writer(&[&a, &b]);
    for round in 1..=3 {
        let (p, r) = if round % 2 == 1 {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        let (pname, rname) = (p.name.clone(), r.name.clone());
        writes.wait_for_more(
            writes.acked(),
            20,
            &format!("round {round}: the writer writing to {pname}"),
        );
        // A write workload on the primary right up to the switch.
        for batch in 0..5 {
            p.psql("app", &format!(
                "INSERT INTO ledger(round, amount, note) SELECT {round}, g * {batch}.25, md5(random()::text) FROM generate_series(1, 2000) g"
            ));
            p.psql(
                "app",
                &format!("UPDATE ledger SET amount = amount + 1 WHERE id % 97 = {batch}"),
            );
        }
        let before = fingerprint(p);
        let tli_before: u32 = p
            .psql(
                "postgres",
                "SELECT timeline_id FROM pg_control_checkpoint()",
            )
            .parse()
            .expect("tli");

        // Demote: the old primary now names the other region as primary and source.
        set_primary(p, &rname, &rname, None);
        let token = p.manager_ok(&["instance", "demote"]);
        let decoded = pgfed_api::token::DemotionToken::decode(&token).expect("token decodes");
        assert_eq!(decoded.system_identifier, sysid);
        assert_eq!(decoded.timeline, tli_before.to_string());
        let partial_key = format!(
            "{pname}/wals/{}/{}.partial.zst",
            &decoded.redo_wal_file[..16],
            decoded.redo_wal_file
        );
        let bucket = if pname == "region-a" {
            "bucket-a"
        } else {
            "bucket-b"
        };
        assert!(
            _minio
                .list(bucket, &format!("{pname}/wals/"))
                .contains(&partial_key),
            "{partial_key} not uploaded"
        );
        p.manager_ok(&["instance", "start"]);
        assert_eq!(
            p.psql("postgres", "SELECT pg_is_in_recovery()"),
            "t",
            "demoted primary must be a standby"
        );

        // Promote the replica exactly at the token.
        set_primary(r, &rname, &pname, Some(&token));
        r.manager_ok(&["instance", "promote", "--token", &token, "--timeout", "600"]);
        assert_eq!(r.psql("postgres", "SELECT pg_is_in_recovery()"), "f");
        assert_eq!(
            fingerprint(r),
            before,
            "round {round}: transactions lost in the switchover"
        );
        let tli_after: u32 = r
            .psql(
                "postgres",
                "SELECT timeline_id FROM pg_control_checkpoint()",
            )
            .parse()
            .expect("tli");
        assert_eq!(tli_after, tli_before + 1);
        writes.wait_for_more(
            writes.acked(),
            20,
            &format!("round {round}: the writer writing to {rname} after the switch"),
        );
        r.psql(
            "app",
            &format!(
                "INSERT INTO ledger(round, amount, note) VALUES ({round}, -1, 'after switch')"
            ),
        );
    }

    // The final replica follows the final primary's new timeline from its bucket only.
    let (primary, standby) = (&b, &a);
    let acked = writes.finish();
    assert_holds_every_acknowledged_row(primary, &acked);
    primary.psql("postgres", "SELECT pg_switch_wal()");
    wait_same_rows(
        standby,
        primary,
        "the standby to replay the new primary's WAL",
    );
    assert_eq!(
        standby.psql(
            "postgres",
            "SELECT system_identifier FROM pg_control_system()"
        ),
        sysid
    );
    assert_holds_every_acknowledged_row(standby, &acked);
    // Neither data directory was ever re-created: region A's bootstrap record is still complete.
    assert!(pgfed_manager::instance::bootstrap::is_complete(&a.pgdata()));
}

fn token_with(base: &str, f: impl FnOnce(&mut pgfed_api::token::DemotionToken)) -> String {
    let mut t = pgfed_api::token::DemotionToken::decode(base).expect("decode");
    f(&mut t);
    t.encode()
}

#[test]
fn promotion_token_faults_refuse_or_wait_never_promote_early() {
    let Regions {
        minio: _minio,
        a,
        b,
    } = regions();
    a.psql(
        "app",
        "INSERT INTO ledger(round, amount, note) VALUES (9, 9, 'x')",
    );
    a.psql("postgres", "SELECT pg_switch_wal()");
    // A token shaped like the real one, built from the primary's current state.
    let cd = std::process::Command::new(common::pg_bindir().join("pg_controldata"))
        .arg(a.pgdata())
        .env("LC_ALL", "C")
        .output()
        .expect("pg_controldata");
    let text = String::from_utf8_lossy(&cd.stdout).into_owned();
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim_start_matches(':').trim().to_string())
            .expect(k)
    };
    let base = pgfed_api::token::DemotionToken {
        system_identifier: field("Database system identifier"),
        timeline: field("Latest checkpoint's TimeLineID"),
        redo_location: "0/1000028".into(),
        redo_wal_file: "000000010000000000000001".into(),
        time_of_latest_checkpoint: field("Time of latest checkpoint"),
        operator_version: "test".into(),
    }
    .encode();
    b.wait_query(
        "app",
        "SELECT count(*) FROM ledger WHERE round = 9",
        "1",
        LONG,
    );

    let cases = [
        (
            "another system",
            token_with(&base, |t| t.system_identifier = "1234567890".into()),
            "system identifier",
        ),
        ("already passed", base.clone(), "past the token"),
        (
            "older timeline",
            token_with(&base, |t| t.timeline = "0".into()),
            "past the token's timeline",
        ),
    ];
    for (what, token, reason) in cases {
        let out = b.manager(&["instance", "promote", "--token", &token, "--timeout", "30"]);
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: promotion must be refused");
        assert!(
            text.contains("promotion refused") && text.contains(reason),
            "{what}: {text}"
        );
        assert_eq!(
            b.psql("postgres", "SELECT pg_is_in_recovery()"),
            "t",
            "{what}: must still be a replica"
        );
    }
    // A token the replica has not reached: it waits (here until the test's short timeout).
    let ahead = token_with(&base, |t| t.redo_location = "FF/1000028".into());
    let out = b.manager(&["instance", "promote", "--token", &ahead, "--timeout", "5"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        text.contains("timed out") && text.contains("has not reached"),
        "{text}"
    );
    assert_eq!(
        b.psql("postgres", "SELECT pg_is_in_recovery()"),
        "t",
        "must never promote early"
    );
    let garbage = b.manager(&[
        "instance",
        "promote",
        "--token",
        "not-a-token",
        "--timeout",
        "5",
    ]);
    assert!(String::from_utf8_lossy(&garbage.stderr).contains("not base64"));
}

#[test]
fn corrupt_wal_in_the_bucket_stalls_replay_without_deleting_and_recovers_when_fixed() {
    let Regions { minio, a, b } = regions();
    // Stop the replica so it cannot fetch the segment before we corrupt it.
    b.manager_ok(&["instance", "stop", "--mode", "fast"]);
    a.psql("app", "INSERT INTO ledger(round, amount, note) SELECT 7, g, 'corrupt-test' FROM generate_series(1, 1000) g");
    // The segment holding those rows (a boundary LSN would name the previous one).
    let seg = a.psql(
        "postgres",
        "SELECT pg_walfile_name(pg_current_wal_insert_lsn())",
    );
    a.psql("postgres", "SELECT pg_switch_wal()");
    a.wait_archived(&seg, LONG);
    let key = format!("region-a/wals/{}/{seg}.zst", &seg[..16]);
    let good = a.dir.path().join("good.zst");
    minio.get_file("bucket-a", &key, &good);
    let garbage = a.dir.path().join("garbage");
    std::fs::write(&garbage, vec![0x42u8; 4096]).expect("write");
    minio.put_file("bucket-a", &key, &garbage);

    b.manager_ok(&["instance", "start"]);
    common::wait_for("the replica to report the corrupt object", LONG, || {
        let logs = ["log/postgres", "log/postgres.json", "log/startup.log"]
            .iter()
            .map(|f| std::fs::read_to_string(b.pgdata().join(f)).unwrap_or_default())
            .collect::<String>();
        if logs.contains(&format!("{seg}.zst")) && logs.contains("is corrupt") {
            Ok(())
        } else {
            Err("not yet".into())
        }
    });
    assert_eq!(
        b.psql("app", "SELECT count(*) FROM ledger WHERE round = 7"),
        "0",
        "replayed a corrupt segment"
    );
    assert_eq!(
        b.psql("postgres", "SELECT pg_is_in_recovery()"),
        "t",
        "replica must keep running and retrying"
    );
    assert!(
        minio.list("bucket-a", "region-a/wals/").contains(&key),
        "corrupt object must not be deleted"
    );

    minio.put_file("bucket-a", &key, &good);
    b.wait_query(
        "app",
        "SELECT count(*) FROM ledger WHERE round = 7",
        "1000",
        LONG,
    );
}

/// `instance run` for `n` with its own ports; returns the child and the probe port.
fn run_manager(n: &mut Node) -> (common::ChildGuard, u16) {
    let probe = common::free_port();
    n.set("probePort", json!(probe));
    n.set("statusPort", json!(common::free_port()));
    n.set("metricsPort", json!(common::free_port()));
    (start_manager(n), probe)
}

/// `instance run` for `n` on the ports it has, its log appended to `manager.log`.
fn start_manager(n: &Node) -> common::ChildGuard {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(n.dir.path().join("manager.log"))
        .expect("manager log");
    let child = common::as_postgres(common::manager_bin())
        .args(["instance", "run", "--config"])
        .arg(n.config_path())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .expect("instance run");
    common::ChildGuard(child)
}

fn manager_log(n: &Node) -> String {
    std::fs::read_to_string(n.dir.path().join("manager.log")).unwrap_or_default()
}

/// Both regions under `instance run`, each its own `targetPrimary`: region A the primary, region B
/// replaying bucket A. Returns each manager and its probe port.
fn under_run(a: &mut Node, b: &mut Node) -> (common::ChildGuard, u16, common::ChildGuard, u16) {
    a.manager_ok(&["instance", "stop", "--mode", "fast"]);
    b.manager_ok(&["instance", "stop", "--mode", "fast"]);
    a.set("targetPrimary", json!("region-a"));
    b.set("targetPrimary", json!("region-b"));
    let (run_a, probe_a) = run_manager(a);
    let (run_b, probe_b) = run_manager(b);
    a.wait_query("postgres", "SELECT pg_is_in_recovery()", "f", LONG);
    b.wait_query("postgres", "SELECT pg_is_in_recovery()", "t", LONG);
    (run_a, probe_a, run_b, probe_b)
}

/// Makes region B the primary cluster with `token` and waits until its manager promoted it.
fn promote_at(b: &mut Node, probe_b: u16, token: &str) {
    set_primary(b, "region-b", "region-a", Some(token));
    common::wait_primary("region B to promote", probe_b, LONG);
}

/// SIGTERMs each manager and asserts a clean exit.
fn terminate(children: &mut [&mut common::ChildGuard]) {
    for child in children.iter_mut() {
        assert!(
            child.terminate().success(),
            "manager did not exit cleanly on SIGTERM"
        );
    }
}

#[test]
fn switchover_driven_only_by_configuration_under_instance_run() {
    let Regions {
        minio: _minio,
        mut a,
        mut b,
    } = regions();
    let (mut run_a, probe_a, mut run_b, probe_b) = under_run(&mut a, &mut b);
    a.psql("app", "INSERT INTO ledger(round, amount, note) SELECT 1, g, 'run' FROM generate_series(1, 3000) g");
    let before = fingerprint(&a);

    // The federation flips replica.primary on region A: its manager demotes it and publishes a token.
    set_primary(&mut a, "region-b", "region-b", None);
    let token = common::wait_for("region A's demotion token in its status", LONG, || {
        published_token(probe_a)
    });
    a.wait_query("postgres", "SELECT pg_is_in_recovery()", "t", LONG);

    // Region B gets the token and becomes the primary cluster: it promotes exactly there.
    promote_at(&mut b, probe_b, &token);
    assert_eq!(
        fingerprint(&b),
        before,
        "transactions lost in the configuration-driven switchover"
    );

    // The demoted region follows the new primary's timeline from bucket B.
    b.psql(
        "app",
        "INSERT INTO ledger(round, amount, note) VALUES (2, 2, 'after')",
    );
    b.psql("postgres", "SELECT pg_switch_wal()");
    wait_same_rows(&a, &b, "region A to replay region B's writes");
    terminate(&mut [&mut run_a, &mut run_b]);
}

/// The demotion step recorded in PGDATA (`requested`, `shutDown`, `published`), if any.
fn demotion_step(n: &Node) -> Option<String> {
    let text = std::fs::read_to_string(n.pgdata().join("pgfed_demotion.json")).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v["step"].as_str().map(str::to_string)
}

fn wait_demotion_step(n: &Node, step: &str) {
    common::wait_for(
        &format!("[{}] demotion step {step}", n.name),
        LONG,
        || match demotion_step(n) {
            Some(s) if s == step => Ok(()),
            other => Err(format!("{other:?}\n{}", manager_log(n))),
        },
    );
}

/// Kills the manager and the postmaster together, as when the container dies.
fn kill_container(n: &Node, manager: common::ChildGuard) {
    drop(manager);
    if n.postmaster_pid()
        .is_some_and(|pid| !common::node::process_gone(pid))
    {
        n.kill_postmaster();
    }
}

/// Points `n`'s own store credentials at a wrong secret (archiving fails), or back.
fn break_archive(n: &Node, broken: bool) {
    let secret = if broken {
        "wrong"
    } else {
        common::minio::SECRET_KEY
    };
    n.write_secret("s3", "ACCESS_SECRET_KEY", secret);
}

#[test]
fn a_demotion_survives_a_manager_restart_at_every_step() {
    let Regions {
        minio: _minio,
        mut a,
        mut b,
    } = regions();
    let faults = FaultyBindir::new(a.dir.path());
    a.set("pgBindir", json!(faults.dir));
    let (mut run_a, probe_a, mut run_b, probe_b) = under_run(&mut a, &mut b);
    let writes = writer(&[&a, &b]);
    writes.wait_for_more(0, 20, "the writer writing to region A");

    // 1. The stop fails: the demotion reports it, region A stays the primary, no token.
    faults.set("pg_ctl.stop", Fault::Fail);
    set_primary(&mut a, "region-b", "region-b", None);
    common::wait_for("two failed stops (fast, immediate), reported", LONG, || {
        let hits = faults.hits("pg_ctl.stop");
        if hits >= 2 && manager_log(&a).contains("postgres did not stop") {
            Ok(())
        } else {
            Err(format!("{hits} hits\n{}", manager_log(&a)))
        }
    });
    assert_eq!(a.psql("postgres", "SELECT pg_is_in_recovery()"), "f");
    assert_eq!(demotion_step(&a).as_deref(), Some("requested"));
    assert!(published_token(probe_a).is_err(), "a token without a stop");
    writes.wait_for_more(writes.acked(), 10, "region A still taking writes");

    // 2. The manager dies while the stop hangs, and postgres with it: the instance is still the
    //    primary. Archiving the last WAL will fail too.
    faults.set("pg_ctl.stop", Fault::Hang);
    let hung = faults.hits("pg_ctl.stop");
    common::wait_for("a hanging stop", LONG, || {
        if faults.hits("pg_ctl.stop") > hung {
            Ok(())
        } else {
            Err(manager_log(&a))
        }
    });
    kill_container(&a, run_a);
    faults.clear("pg_ctl.stop");
    break_archive(&a, true);
    run_a = start_manager(&a);
    // It starts again as the primary, stops cleanly, and records the token's checkpoint; then the
    // archive refuses the last WAL and postgres stays down.
    wait_demotion_step(&a, "shutDown");
    assert!(
        manager_log(&a).contains(r#""as_primary":true"#),
        "not restarted as the primary it still was:\n{}",
        manager_log(&a)
    );
    assert!(
        manager_log(&a).contains("demotion cannot go on yet"),
        "{}",
        manager_log(&a)
    );
    assert!(
        a.try_psql("postgres", "SELECT 1").is_err(),
        "running before its WAL is archived"
    );
    assert!(published_token(probe_a).is_err());

    // 3. The manager dies at that step: its successor keeps postgres down (never a standby yet)
    //    and retries until the archive takes the WAL.
    kill_container(&a, run_a);
    run_a = start_manager(&a);
    std::thread::sleep(Duration::from_secs(8));
    assert!(
        a.try_psql("postgres", "SELECT 1").is_err(),
        "started before the WAL was archived:\n{}",
        manager_log(&a)
    );
    assert_eq!(demotion_step(&a).as_deref(), Some("shutDown"));
    assert!(published_token(probe_a).is_err());
    break_archive(&a, false);
    let token = common::wait_for("region A's token once its WAL is archived", LONG, || {
        published_token(probe_a)
    });
    assert_eq!(demotion_step(&a).as_deref(), Some("published"));
    a.wait_query("postgres", "SELECT pg_is_in_recovery()", "t", LONG);

    // 4. The manager dies after publishing: the token is read back from PGDATA.
    kill_container(&a, run_a);
    run_a = start_manager(&a);
    let again = common::wait_for("region A's token after a restart", LONG, || {
        published_token(probe_a)
    });
    assert_eq!(again, token);
    a.wait_query("postgres", "SELECT pg_is_in_recovery()", "t", LONG);

    // Region B promotes exactly at the token; the writer moves over with it.
    let before = fingerprint(&a);
    promote_at(&mut b, probe_b, &token);
    writes.wait_for_more(writes.acked(), 20, "the writer writing to region B");
    let acked = writes.finish();
    assert_eq!(fingerprint(&b), before);
    assert_holds_every_acknowledged_row(&b, &acked);
    b.psql("postgres", "SELECT pg_switch_wal()");
    wait_same_rows(&a, &b, "region A to replay region B's writes");
    assert_holds_every_acknowledged_row(&a, &acked);
    terminate(&mut [&mut run_a, &mut run_b]);
}

/// The token recorded in PGDATA by a demotion under way.
fn recorded_token(n: &Node) -> pgfed_api::token::DemotionToken {
    let text = std::fs::read_to_string(n.pgdata().join("pgfed_demotion.json")).expect("record");
    let v: Value = serde_json::from_str(&text).expect("record JSON");
    pgfed_api::token::DemotionToken::decode(v["token"].as_str().expect("token")).expect("token")
}

fn redo(t: &pgfed_api::token::DemotionToken) -> pgfed_api::lsn::Lsn {
    t.redo_location.parse().expect("REDO location")
}

#[test]
fn a_demotion_interrupted_by_a_start_begins_again_with_a_new_token() {
    let Regions {
        minio: _minio,
        mut a,
        mut b,
    } = regions();
    // `instance demote` stops region A for its token, then the archive refuses the last WAL.
    set_primary(&mut a, "region-b", "region-b", None);
    break_archive(&a, true);
    let out = a.manager(&["instance", "demote"]);
    assert!(!out.status.success(), "demoted without archiving");
    assert_eq!(demotion_step(&a).as_deref(), Some("shutDown"));
    let stale = recorded_token(&a);
    // Someone starts it again and it writes past that token.
    a.manager_ok(&["instance", "start"]);
    assert_eq!(a.psql("postgres", "SELECT pg_is_in_recovery()"), "f");
    a.psql(
        "app",
        "INSERT INTO ledger(round, amount, note) VALUES (5, 5, 'after the first stop')",
    );
    // The demotion, run again, stops it again: a new token, past the write.
    break_archive(&a, false);
    let token = a.manager_ok(&["instance", "demote"]);
    let fresh = pgfed_api::token::DemotionToken::decode(&token).expect("token");
    assert!(
        redo(&fresh) > redo(&stale),
        "stale token {} reused",
        stale.redo_location
    );
    assert_eq!(demotion_step(&a).as_deref(), Some("published"));
    // Region B promoted at it has the write.
    set_primary(&mut b, "region-b", "region-a", Some(&token));
    b.manager_ok(&["instance", "promote", "--token", &token, "--timeout", "600"]);
    assert_eq!(
        b.psql(
            "app",
            "SELECT count(*) FROM ledger WHERE note = 'after the first stop'"
        ),
        "1"
    );
}
