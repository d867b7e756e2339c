//! The WAL segment in progress reaches a replica cluster through the object store within
//! seconds (`partialWalUploadSeconds`), with no segment switch: region A's primary under
//! `instance run` uploads it to `<server>/pgfed-partial/`, region B's designated primary replays
//! bucket A only. PostgreSQL asks again for a segment it replayed zero-padded and gets the longer
//! copy, then the archived one; copies of archived segments are deleted; uploads resume after an
//! object store outage. wal-restore prefers the archive, never answers a history file from the
//! in-progress copies, and stops serving a timeline once a newer one exists; barman-cloud never
//! sees them. After a switchover the former primary follows the new one's segment in progress.

mod common;

use common::minio::Minio;
use common::node::{Node, s3_store};
use pgfed_api::barman::CompressionType;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Generous: a noisy machine is slow, not wrong. Nothing here asserts on time.
const WAIT: Duration = Duration::from_secs(60);
const LONG: Duration = Duration::from_secs(300);
const BUCKET: &str = "bucket-a";
const PARTIALS: &str = "region-a/pgfed-partial/";

fn store(minio: &Minio) -> Value {
    s3_store(
        minio,
        BUCKET,
        json!({"wal": {"compression": "zstd", "maxParallel": 4}}),
    )
}

/// Region A archiving to bucket A (with `archive_timeout` at an hour, so only the in-progress
/// copies can carry WAL before a switch), a base backup, and region B restored from it as a
/// replica cluster replaying bucket A only.
fn regions(minio: &Minio, upload_seconds: Option<u64>) -> (Node, Node) {
    minio.create_bucket(BUCKET);
    let mut a = Node::new("region-a", "region-a");
    a.cfg["postgresql"]["parameters"]["archive_timeout"] = json!("1h");
    a.set("backup", json!({"barmanObjectStore": store(minio)}));
    a.set("targetPrimary", json!("region-a"));
    if let Some(s) = upload_seconds {
        a.set("partialWalUploadSeconds", json!(s));
    }
    let mut b = Node::new("region-b", "region-b");
    b.set(
        "externalClusters",
        json!([{"name": "region-a", "barmanObjectStore": store(minio)}]),
    );
    b.set(
        "replica",
        json!({"primary": "region-a", "source": "region-a"}),
    );
    b.set("bootstrap", json!({"recovery": {"source": "region-a"}}));
    a.init_and_start();
    a.psql("app", "CREATE TABLE feed(phase int, n int)");
    a.manager_ok(&["backup"]);
    b.manager_ok(&["instance", "restore"]);
    b.manager_ok(&["instance", "start"]);
    (a, b)
}

/// The segment holding the primary's flushed WAL.
fn current_segment(a: &Node) -> String {
    a.psql(
        "postgres",
        "SELECT pg_walfile_name(pg_current_wal_flush_lsn())",
    )
}

fn last_archived(a: &Node) -> String {
    a.psql(
        "postgres",
        "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver",
    )
}

/// The segments that have an in-progress copy in bucket A.
fn in_progress_segments(minio: &Minio) -> Vec<String> {
    minio
        .list(BUCKET, PARTIALS)
        .iter()
        .filter_map(|k| k.strip_prefix(PARTIALS))
        .map(|o| o.split('.').next().unwrap_or(o).to_string())
        .collect()
}

/// Region B's PostgreSQL logs, where restore_command's own log lines land.
fn replica_logs(b: &Node) -> String {
    ["log/postgres", "log/postgres.json", "log/startup.log"]
        .iter()
        .map(|f| std::fs::read_to_string(b.pgdata().join(f)).unwrap_or_default())
        .collect()
}

/// How many times wal-restore answered a request for `segment` with its in-progress copy.
fn served_in_progress(b: &Node, segment: &str) -> usize {
    replica_logs(b)
        .lines()
        .filter(|l| {
            l.contains(&format!("\"wal\":\"{segment}\"")) && l.contains("in_progress: true")
        })
        .count()
}

fn manager_log(n: &Node) -> String {
    std::fs::read_to_string(n.dir.path().join("manager.log")).unwrap_or_default()
}

/// Inserts `rows` rows of `phase` and returns the segment they went to.
fn insert_phase(a: &Node, phase: u32, rows: u32) -> String {
    a.psql(
        "app",
        &format!("INSERT INTO feed SELECT {phase}, g FROM generate_series(1, {rows}) g"),
    );
    current_segment(a)
}

/// Waits until region B holds `rows` rows of `phase`; returns how long that took (printed,
/// never asserted).
fn wait_replayed(b: &Node, phase: u32, rows: u32, deadline: Duration) -> Duration {
    let start = Instant::now();
    b.wait_query(
        "app",
        &format!("SELECT count(*) FROM feed WHERE phase = {phase}"),
        &rows.to_string(),
        deadline,
    );
    start.elapsed()
}

#[test]
fn the_segment_in_progress_reaches_the_replica_cluster_without_a_switch() {
    let mut minio = Minio::start();
    let (mut a, b) = regions(&minio, Some(1));
    // Region A under `instance run`: the uploader is one of its tasks.
    a.manager_ok(&["instance", "stop", "--mode", "fast"]);
    a.set("probePort", json!(common::free_port()));
    a.set("statusPort", json!(common::free_port()));
    a.set("metricsPort", json!(common::free_port()));
    // A client left connected would hold a smart shutdown this long.
    a.set("smartShutdownTimeout", json!(600));
    let mut run_a = a.run_manager();
    a.wait_query("postgres", "SELECT pg_is_in_recovery()", "f", LONG);

    // 1. Rows written to the segment in progress reach region B with no switch and no archiving.
    let segment = insert_phase(&a, 1, 100);
    assert!(last_archived(&a).as_str() < segment.as_str());
    let took = wait_replayed(&b, 1, 100, WAIT);
    eprintln!("phase 1: region B replayed the rows {took:?} after the commit");
    assert_eq!(
        current_segment(&a),
        segment,
        "the segment switched meanwhile"
    );
    assert!(
        last_archived(&a).as_str() < segment.as_str(),
        "the segment was archived meanwhile"
    );
    assert!(
        in_progress_segments(&minio).contains(&segment),
        "no in-progress copy of {segment}: {:?}",
        minio.list(BUCKET, "region-a/")
    );
    assert!(
        !minio
            .list(BUCKET, "region-a/wals/")
            .iter()
            .any(|k| k.contains(&segment)),
        "the in-progress copy must never go under wals/"
    );
    let served = served_in_progress(&b, &segment);
    assert!(
        served >= 1,
        "not served from its in-progress copy:\n{}",
        replica_logs(&b)
    );

    // 2. PostgreSQL asks again for the segment it replayed zero-padded, and gets a longer copy.
    assert_eq!(insert_phase(&a, 2, 100), segment);
    let took = wait_replayed(&b, 2, 100, WAIT);
    eprintln!("phase 2: region B replayed the rows {took:?} after the commit");
    assert_eq!(
        current_segment(&a),
        segment,
        "the segment switched meanwhile"
    );
    assert!(
        served_in_progress(&b, &segment) > served,
        "the same segment was not asked for again"
    );
    assert!(
        !b.pgdata().join("pgfed_wal_spool").join(&segment).exists(),
        "an in-progress copy went into the prefetch spool"
    );

    // 3. The segment completes: region B has everything from the archive, and the in-progress
    //    copies of archived segments are deleted.
    insert_phase(&a, 3, 100);
    a.psql("postgres", "SELECT pg_switch_wal()");
    a.wait_archived(&segment, LONG);
    b.wait_query("app", "SELECT count(*) FROM feed", "300", LONG);
    common::wait_for("the copies of archived segments deleted", WAIT, || {
        let archived = last_archived(&a);
        let left: Vec<String> = in_progress_segments(&minio)
            .into_iter()
            .filter(|s| *s <= archived)
            .collect();
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("{left:?} left, {archived} archived"))
        }
    });

    // 4. The object store goes away: the uploader reports it and keeps trying; once it is back,
    //    uploads resume and region B catches up, still without a switch.
    minio.stop();
    let segment = insert_phase(&a, 4, 100);
    common::wait_for("the uploader to report the outage", WAIT, || {
        if manager_log(&a).contains("is not uploaded") {
            Ok(())
        } else {
            Err(manager_log(&a))
        }
    });
    assert_eq!(
        a.psql("app", "SELECT count(*) FROM feed WHERE phase = 4"),
        "100",
        "the primary must go on while the store is down"
    );
    minio.restart();
    let took = wait_replayed(&b, 4, 100, WAIT);
    eprintln!("phase 4: region B replayed the rows {took:?} after the store came back");
    assert_eq!(
        current_segment(&a),
        segment,
        "the segment switched meanwhile"
    );
    common::wait_for("the uploader to report it resumed", WAIT, || {
        if manager_log(&a).contains("uploads resumed") {
            Ok(())
        } else {
            Err(manager_log(&a))
        }
    });
    // The uploader keeps no session open between rounds: a smart shutdown is not held up.
    let stopping = Instant::now();
    assert!(run_a.terminate().success(), "manager did not exit cleanly");
    assert!(
        stopping.elapsed() < Duration::from_secs(120),
        "the smart shutdown waited {:?} for a client",
        stopping.elapsed()
    );
}

/// Uploads `data` (the start of segment `name`), zstd-compressed, as its in-progress copy.
fn put_in_progress(minio: &Minio, n: &Node, name: &str, data: &[u8]) {
    let packed =
        pgfed_manager::compression::compress(Some(CompressionType::Zstd), data).expect("compress");
    let file = n.dir.path().join(format!("{name}.upload"));
    std::fs::write(&file, packed).expect("write");
    minio.put_file(BUCKET, &format!("{PARTIALS}{name}.zst"), &file);
}

/// `wal-restore name dest` with region B's configuration, from its PGDATA (as PostgreSQL runs
/// it): the restored bytes, or None when it found nothing.
fn restore_on_b(b: &Node, name: &str) -> Option<Vec<u8>> {
    let dest = b.dir.path().join(format!("restored-{name}"));
    let _ = std::fs::remove_file(&dest);
    let out = b.manager_with(&["wal-restore"], &[name, &dest.display().to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        Some(std::fs::read(&dest).expect("restored file"))
    } else {
        assert!(
            stderr.contains("not found in the archive"),
            "wal-restore {name} failed: {stderr}"
        );
        assert!(!dest.exists(), "a file was left for {name}");
        None
    }
}

#[test]
fn the_archive_wins_history_files_never_come_from_copies_and_a_newer_timeline_stops_them() {
    let minio = Minio::start();
    // No uploader: every in-progress copy here is put by the test.
    let (a, b) = regions(&minio, None);
    // wal-restore is run by hand below; region B's own PostgreSQL must not race it.
    b.manager_ok(&["instance", "stop", "--mode", "fast"]);

    // An archived segment with a (shorter) in-progress copy: the archived one is served.
    let archived = insert_phase(&a, 1, 500);
    a.psql("postgres", "SELECT pg_switch_wal()");
    a.wait_archived(&archived, LONG);
    let packed = a.dir.path().join("archived.zst");
    minio.get_file(
        BUCKET,
        &format!("region-a/wals/{}/{archived}.zst", &archived[..16]),
        &packed,
    );
    let complete = pgfed_manager::compression::decompress(
        Some(CompressionType::Zstd),
        &std::fs::read(&packed).expect("read"),
    )
    .expect("zstd");
    put_in_progress(&minio, &a, &archived, &complete[..64 << 10]);
    let restored = restore_on_b(&b, &archived).expect("the archived segment");
    assert!(
        restored == complete,
        "the in-progress copy won over the archive"
    );

    // The segment in progress on region A, up to its flush: served zero-padded.
    insert_phase(&a, 2, 100);
    let at = a.psql(
        "postgres",
        "SELECT file_name || ' ' || file_offset FROM pg_walfile_name_offset(pg_current_wal_flush_lsn())",
    );
    let (current, offset) = at.split_once(' ').expect("name and offset");
    let offset: usize = offset.parse().expect("offset");
    let on_disk = std::fs::read(a.pgdata().join("pg_wal").join(current)).expect("segment");
    put_in_progress(&minio, &a, current, &on_disk[..offset]);
    let restored = restore_on_b(&b, current).expect("the in-progress copy");
    assert_eq!(
        restored.len(),
        complete.len(),
        "not padded to the segment size"
    );
    assert!(restored[..offset] == on_disk[..offset]);
    assert!(
        restored[offset..].iter().all(|b| *b == 0),
        "not zero-padded"
    );
    // barman-cloud-wal-restore does not see it (exit 1: not found).
    let barman_dest = b.dir.path().join("barman-restored");
    let out = minio
        .barman_cloud("barman-cloud-wal-restore")
        .args([&format!("s3://{BUCKET}/"), "region-a", current])
        .arg(&barman_dest)
        .output()
        .expect("barman-cloud-wal-restore");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(!barman_dest.exists());
    // Region A reading its own archive is no replica cluster: never served there.
    let own = a.manager_with(&["wal-restore"], &[current, "/dev/null"]);
    assert!(!own.status.success(), "served outside a replica cluster");

    // A history file is never answered from an in-progress copy.
    let history = a.dir.path().join("00000002.history");
    std::fs::write(&history, "1\t0/3000000\tno recovery target specified\n").expect("write");
    minio.put_file(BUCKET, &format!("{PARTIALS}00000002.history"), &history);
    assert_eq!(restore_on_b(&b, "00000002.history"), None);

    // Once a newer timeline's history is archived, timeline 1's copies are no longer served.
    minio.put_file(BUCKET, "region-a/wals/00000002.history", &history);
    assert_eq!(restore_on_b(&b, current), None);
}

/// Region `name` of a two-region pair, archiving to its own bucket with in-progress uploads
/// every second, `replica` as given, under `instance run` on ports of its own.
fn region(minio: &Minio, name: &str, bucket: &str, replica: Value) -> (Node, u16) {
    let external = |n: &str, b: &str| json!({"name": n, "barmanObjectStore": s3_store(minio, b, json!({"wal": {"compression": "gzip"}}))});
    let mut n = Node::new(name, name);
    n.cfg["postgresql"]["parameters"]["archive_timeout"] = json!("1h");
    let own = s3_store(minio, bucket, json!({"wal": {"compression": "gzip"}}));
    n.set("backup", json!({"barmanObjectStore": own}));
    n.set(
        "externalClusters",
        json!([
            external("region-a", "bucket-a"),
            external("region-b", "bucket-b")
        ]),
    );
    n.set("replica", replica);
    n.set("targetPrimary", json!(name));
    n.set("partialWalUploadSeconds", json!(1));
    let probe = common::free_port();
    n.set("probePort", json!(probe));
    n.set("statusPort", json!(common::free_port()));
    n.set("metricsPort", json!(common::free_port()));
    (n, probe)
}

/// Two regions under `instance run`, each node with its probe port and manager.
struct Pair {
    a: (Node, u16, common::ChildGuard),
    b: (Node, u16, common::ChildGuard),
}

/// Region A primary (a base backup taken), region B a replica cluster restored from it and
/// following it; both running under their managers.
fn running_pair(minio: &Minio) -> Pair {
    minio.create_bucket("bucket-a");
    minio.create_bucket("bucket-b");
    let (a, probe_a) = region(
        minio,
        "region-a",
        "bucket-a",
        json!({"primary": "region-a", "source": "region-b"}),
    );
    let (mut b, probe_b) = region(
        minio,
        "region-b",
        "bucket-b",
        json!({"primary": "region-a", "source": "region-a"}),
    );
    b.set("bootstrap", json!({"recovery": {"source": "region-a"}}));
    a.init_and_start();
    a.psql("app", "CREATE TABLE feed(phase int, n int)");
    a.manager_ok(&["backup"]);
    a.manager_ok(&["instance", "stop", "--mode", "fast"]);
    b.manager_ok(&["instance", "restore"]);
    let run_a = a.run_manager();
    let run_b = b.run_manager();
    a.wait_query("postgres", "SELECT pg_is_in_recovery()", "f", LONG);
    b.wait_query("postgres", "SELECT pg_is_in_recovery()", "t", LONG);
    Pair {
        a: (a, probe_a, run_a),
        b: (b, probe_b, run_b),
    }
}

#[test]
fn after_a_switchover_the_former_primary_follows_the_new_ones_segment_in_progress() {
    let minio = Minio::start();
    let pair = running_pair(&minio);
    let (mut a, probe_a, mut run_a) = pair.a;
    let (mut b, probe_b, mut run_b) = pair.b;

    // Region B follows region A's segment in progress.
    let segment = insert_phase(&a, 1, 100);
    wait_replayed(&b, 1, 100, WAIT);
    assert_eq!(
        current_segment(&a),
        segment,
        "the segment switched meanwhile"
    );

    // Switchover: region A demotes and publishes its token, region B promotes exactly there.
    a.set(
        "replica",
        json!({"primary": "region-b", "source": "region-b"}),
    );
    let token = common::wait_for("region A's demotion token", LONG, || {
        common::published_token(probe_a)
    });
    b.set(
        "replica",
        json!({"primary": "region-b", "source": "region-a", "promotionToken": token}),
    );
    common::wait_primary("region B to promote", probe_b, LONG);
    assert_eq!(b.psql("app", "SELECT count(*) FROM feed"), "100");

    // Region A, now a replica cluster of bucket B, follows region B's segment in progress on
    // the new timeline, with no switch on region B.
    let segment = insert_phase(&b, 2, 100);
    assert!(
        segment.starts_with("00000002"),
        "not on timeline 2: {segment}"
    );
    let took = wait_replayed(&a, 2, 100, WAIT);
    eprintln!("after the switchover: region A replayed region B's rows {took:?} after the commit");
    assert_eq!(
        current_segment(&b),
        segment,
        "the segment switched meanwhile"
    );
    assert!(
        last_archived(&b).as_str() < segment.as_str(),
        "the segment was archived meanwhile"
    );
    assert_eq!(a.psql("app", "SELECT count(*) FROM feed"), "200");

    // Region A archives what it replays (`archive_mode = always`), but never the zero-padded
    // in-progress copy it replayed: once region B archives the segment complete, region A
    // archives that complete segment into its own bucket, and its archiver never hits a conflict.
    b.psql("postgres", "SELECT pg_switch_wal()");
    insert_phase(&b, 3, 10);
    common::wait_for(
        "region A to archive the segment it replayed in progress",
        LONG,
        || {
            let archived = last_archived(&a);
            if archived.as_str() >= segment.as_str() {
                Ok(())
            } else {
                Err(format!("last archived {archived:?}\n{}", replica_logs(&a)))
            }
        },
    );
    let logs = replica_logs(&a);
    assert!(
        !logs.contains("refusing to archive"),
        "region A archived something it later had to refuse:\n{logs}"
    );
    // Whichever came first (the complete segment restored, or the archive of the copy waiting
    // for it), region A's archive holds exactly region B's complete segment.
    let archived = |bucket: &str, server: &str| -> Vec<u8> {
        let prefix = format!("{server}/wals/{}/", &segment[..16]);
        let key = minio
            .list(bucket, &prefix)
            .into_iter()
            .find(|k| k.contains(segment.as_str()))
            .unwrap_or_else(|| panic!("{segment} is not in {bucket}/{prefix}"));
        let file = a.dir.path().join(format!("{bucket}-{segment}.gz"));
        minio.get_file(bucket, &key, &file);
        let mut out = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(&file).expect("open")),
            &mut out,
        )
        .expect("gunzip");
        out
    };
    assert!(
        archived("bucket-a", "region-a") == archived("bucket-b", "region-b"),
        "region A archived {segment} with other content than region B's complete segment"
    );
    assert!(
        run_a.terminate().success(),
        "region A's manager did not exit cleanly"
    );
    assert!(
        run_b.terminate().success(),
        "region B's manager did not exit cleanly"
    );
}

/// A regional failover: region A is lost while region B replays its segment in progress, so the
/// complete segment never reaches bucket A. Region B is promoted without a token. Its archiver,
/// which waited for region A's complete segment while B was a replica, archives the copy it
/// replayed as `<segment>.partial` (never under the complete segment's name) and goes on to
/// archive B's own timeline.
#[test]
fn a_replica_promoted_after_its_source_was_lost_archives_the_copy_it_replayed_as_partial() {
    let minio = Minio::start();
    let pair = running_pair(&minio);
    let (a, _, run_a) = pair.a;
    let (mut b, probe_b, mut run_b) = pair.b;

    // Region B replays region A's segment in progress; region A is lost before completing it.
    let segment = insert_phase(&a, 1, 100);
    wait_replayed(&b, 1, 100, WAIT);
    drop(run_a);
    a.kill_postmaster();
    assert!(
        !minio
            .list("bucket-a", "region-a/wals/")
            .iter()
            .any(|k| k.contains(&segment)),
        "region A completed {segment} before it was lost"
    );

    // The failover: region B promoted, no token.
    b.set(
        "replica",
        json!({"primary": "region-b", "source": "region-a"}),
    );
    common::wait_primary("region B to promote", probe_b, LONG);
    assert_eq!(b.psql("app", "SELECT count(*) FROM feed"), "100");

    // Region B's archiver goes past the segment it replayed in progress: its own timeline's
    // segments reach bucket B.
    insert_phase(&b, 2, 10);
    let own = b.psql(
        "postgres",
        "SELECT pg_walfile_name(pg_current_wal_flush_lsn())",
    );
    assert!(own.starts_with("00000002"), "not on timeline 2: {own}");
    b.psql("postgres", "SELECT pg_switch_wal()");
    common::wait_for("region B to archive its own timeline", LONG, || {
        let archived = last_archived(&b);
        if archived.as_str() >= own.as_str() {
            Ok(())
        } else {
            Err(format!("last archived {archived:?}\n{}", manager_log(&b)))
        }
    });
    let prefix = format!("region-b/wals/{}/", &segment[..16]);
    let stored = minio.list("bucket-b", &prefix);
    assert!(
        stored
            .iter()
            .any(|k| k.contains(&format!("{segment}.partial"))),
        "{segment}.partial is not in bucket B: {stored:?}"
    );
    assert!(
        !stored
            .iter()
            .any(|k| k.contains(&segment) && !k.contains(".partial")),
        "the copy went under the complete segment's name: {stored:?}"
    );
    assert!(
        run_b.terminate().success(),
        "region B's manager did not exit cleanly"
    );
}

/// Region B's archiver asked to archive an in-progress copy of a segment its archive already
/// holds whole: restore served the copy while the archiver was finishing the segment, so no
/// record of it survives. Nothing in the copy is missing from the archive: done, nothing
/// written. A copy with a byte the archived segment does not have is still refused, and the
/// archived segment is untouched.
#[test]
fn a_replicas_archiver_takes_an_in_progress_copy_of_a_segment_archived_whole_as_done() {
    let minio = Minio::start();
    let pair = running_pair(&minio);
    let (a, _, _run_a) = pair.a;
    let (b, _, _run_b) = pair.b;

    let segment = insert_phase(&a, 1, 2000);
    a.psql("postgres", "SELECT pg_switch_wal()");
    b.wait_archived(&segment, LONG);
    let key = format!("region-b/wals/{}/{segment}.gz", &segment[..16]);
    let packed = b.dir.path().join("archived.gz");
    minio.get_file("bucket-b", &key, &packed);
    let read_archived = || {
        pgfed_manager::compression::decompress(
            Some(CompressionType::Gzip),
            &std::fs::read(&packed).expect("read"),
        )
        .expect("gzip")
    };
    let complete = read_archived();
    let written = complete
        .iter()
        .rposition(|b| *b != 0)
        .expect("the segment has WAL");
    // Half of what the segment holds, zero-padded: what restore serves of a segment in progress.
    let mut copy = complete[..written / 2].to_vec();
    copy.resize(complete.len(), 0);

    let wal_dir = b.dir.path().join("copies");
    std::fs::create_dir_all(&wal_dir).expect("mkdir");
    let file = wal_dir.join(&segment);
    std::fs::write(&file, &copy).expect("write the copy");
    let out = b.manager_with(&["wal-archive"], &[&file.display().to_string()]);
    assert!(
        out.status.success(),
        "the in-progress copy was refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    copy[written / 4] ^= 0xff;
    std::fs::write(&file, &copy).expect("write the altered copy");
    let out = b.manager_with(&["wal-archive"], &[&file.display().to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "an altered copy was taken as archived"
    );
    assert!(stderr.contains("already exists"), "{stderr}");

    minio.get_file("bucket-b", &key, &packed);
    assert!(read_archived() == complete, "the archived segment changed");
}
