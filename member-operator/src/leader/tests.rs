//! The election loop against an in-memory Lease shared by several replicas, on tokio's paused
//! clock: who leads, when the leading work stops, and when another replica may take over.

use super::decide::LeaseRecord;
use super::*;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

/// What one replica's Lease calls do.
const WORKING: u8 = 0;
/// Every call fails at once (API server unreachable, refused).
const FAILING: u8 = 1;
/// Every call hangs (a black-holed connection).
const HANGING: u8 = 2;

#[derive(Default)]
struct Shared {
    lease: Option<StoredLease>,
    next_version: u64,
}

/// One replica's view of the Lease every replica shares.
#[derive(Clone)]
struct MemoryLeases {
    shared: Arc<Mutex<Shared>>,
    mode: Arc<AtomicU8>,
}

impl MemoryLeases {
    fn new() -> Self {
        Self {
            shared: Arc::default(),
            mode: Arc::new(AtomicU8::new(WORKING)),
        }
    }

    /// Another replica's view of the same Lease, with its own connectivity.
    fn replica(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            mode: Arc::new(AtomicU8::new(WORKING)),
        }
    }

    fn set_mode(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    fn lease(&self) -> Option<StoredLease> {
        self.shared.lock().expect("lock").lease.clone()
    }

    /// Writes `record` as any writer would (bumping the version).
    fn put(&self, record: LeaseRecord) -> StoredLease {
        let mut shared = self.shared.lock().expect("lock");
        shared.next_version += 1;
        let stored = StoredLease {
            record,
            version: shared.next_version.to_string(),
        };
        shared.lease = Some(stored.clone());
        stored
    }

    async fn reachable(&self) -> Result<(), StoreError> {
        match self.mode.load(Ordering::SeqCst) {
            FAILING => Err(StoreError::NoVersion),
            HANGING => std::future::pending().await,
            _ => Ok(()),
        }
    }
}

impl LeaseStore for MemoryLeases {
    async fn get(&self) -> Result<Option<StoredLease>, StoreError> {
        self.reachable().await?;
        Ok(self.lease())
    }

    async fn create(&self, record: &LeaseRecord) -> Result<StoredLease, StoreError> {
        self.reachable().await?;
        if self.lease().is_some() {
            return Err(StoreError::Conflict);
        }
        Ok(self.put(record.clone()))
    }

    async fn replace(
        &self,
        record: &LeaseRecord,
        version: &str,
    ) -> Result<StoredLease, StoreError> {
        self.reachable().await?;
        match self.lease() {
            Some(current) if current.version == version => Ok(self.put(record.clone())),
            _ => Err(StoreError::Conflict),
        }
    }
}

/// Who did what when: (replica, "started" or "stopped", instant).
type WorkEvent = (&'static str, &'static str, Instant);

/// When a replica's leading work started and stopped.
#[derive(Clone, Default)]
struct WorkLog(Arc<Mutex<Vec<WorkEvent>>>);

impl WorkLog {
    fn record(&self, who: &'static str, what: &'static str) {
        self.0
            .lock()
            .expect("lock")
            .push((who, what, Instant::now()));
    }

    fn when(&self, who: &str, what: &str) -> Option<Instant> {
        self.0
            .lock()
            .expect("lock")
            .iter()
            .find(|(w, e, _)| *w == who && *e == what)
            .map(|(_, _, at)| *at)
    }
}

type Run = tokio::task::JoinHandle<Result<Ended, LeaderError>>;

/// Runs a replica named `who` whose leading work logs its start and waits for cancellation.
fn replica(
    who: &'static str,
    store: MemoryLeases,
    log: &WorkLog,
    shutdown: &CancellationToken,
) -> (Run, watch::Receiver<bool>) {
    let elector = LeaderElector::with_store(store, who.to_string(), Timings::default());
    let leading = elector.is_leader();
    let log = log.clone();
    let shutdown = shutdown.clone();
    let run = tokio::spawn(elector.run(shutdown, move |token| async move {
        log.record(who, "started");
        token.cancelled().await;
        log.record(who, "stopped");
    }));
    (run, leading)
}

async fn wait_until_leading(leading: &mut watch::Receiver<bool>) {
    leading.wait_for(|l| *l).await.expect("elector alive");
}

fn holder(store: &MemoryLeases) -> Option<String> {
    store.lease().and_then(|l| l.record.holder)
}

#[tokio::test(start_paused = true)]
async fn a_lone_replica_creates_the_lease_leads_and_releases_it_on_shutdown() {
    let store = MemoryLeases::new();
    let log = WorkLog::default();
    let shutdown = CancellationToken::new();
    let (run, mut leading) = replica("a", store.clone(), &log, &shutdown);
    wait_until_leading(&mut leading).await;
    assert_eq!(holder(&store).as_deref(), Some("a"));

    // It keeps renewing: a minute later it still leads, on a renewed lease.
    sleep(Duration::from_secs(60)).await;
    assert!(*leading.borrow());
    let lease = store.lease().expect("lease");
    assert!(lease.record.renew_time > lease.record.acquire_time);

    shutdown.cancel();
    assert_eq!(run.await.expect("join").expect("run"), Ended::Shutdown);
    assert!(!*leading.borrow());
    assert!(log.when("a", "stopped").is_some());
    let released = store.lease().expect("lease").record;
    assert_eq!(released.holder, None);
    assert_eq!(released.duration, Some(chrono::Duration::seconds(1)));
}

#[tokio::test(start_paused = true)]
async fn a_second_replica_follows_and_takes_over_at_once_when_the_leader_shuts_down() {
    let a_store = MemoryLeases::new();
    let log = WorkLog::default();
    let a_shutdown = CancellationToken::new();
    let b_shutdown = CancellationToken::new();
    let (a_run, mut a_leading) = replica("a", a_store.clone(), &log, &a_shutdown);
    wait_until_leading(&mut a_leading).await;
    let (b_run, mut b_leading) = replica("b", a_store.replica(), &log, &b_shutdown);

    sleep(Duration::from_secs(120)).await;
    assert!(!*b_leading.borrow(), "a fresh lease is followed");
    assert!(log.when("b", "started").is_none());

    a_shutdown.cancel();
    assert_eq!(a_run.await.expect("join").expect("run"), Ended::Shutdown);
    let released = Instant::now();
    wait_until_leading(&mut b_leading).await;
    assert!(
        Instant::now() - released <= Timings::default().retry_period,
        "a released lease is taken at the next read, not after expiry"
    );
    assert_eq!(holder(&a_store).as_deref(), Some("b"));
    assert_eq!(a_store.lease().expect("lease").record.transitions, 1);
    b_shutdown.cancel();
    assert_eq!(b_run.await.expect("join").expect("run"), Ended::Shutdown);
}

/// A leader cut off from the API server stops its work before the follower can take over,
/// whether its calls fail at once or hang.
#[tokio::test(start_paused = true)]
async fn a_cut_off_leader_stops_its_work_before_the_follower_takes_over() {
    for mode in [FAILING, HANGING] {
        let a_store = MemoryLeases::new();
        let log = WorkLog::default();
        let shutdown = CancellationToken::new();
        let (a_run, mut a_leading) = replica("a", a_store.clone(), &log, &shutdown);
        wait_until_leading(&mut a_leading).await;
        let (b_run, mut b_leading) = replica("b", a_store.replica(), &log, &shutdown);
        sleep(Duration::from_secs(30)).await;

        a_store.set_mode(mode);
        let cut = Instant::now();
        wait_until_leading(&mut b_leading).await;
        let a_stopped = log.when("a", "stopped").expect("a's work was stopped");
        let b_started = log.when("b", "started").expect("b's work started");
        assert!(
            a_stopped < b_started,
            "mode {mode}: the old leader stopped first"
        );
        assert!(
            a_stopped - cut <= Timings::default().lease_duration,
            "mode {mode}: stopped within one lease duration"
        );
        assert!(matches!(a_run.await.expect("join"), Err(LeaderError::Lost)));
        assert!(!*a_leading.borrow());
        shutdown.cancel();
        assert_eq!(b_run.await.expect("join").expect("run"), Ended::Shutdown);
    }
}

#[tokio::test(start_paused = true)]
async fn a_renewal_call_that_hangs_is_given_up_and_retried_before_the_deadline() {
    let store = MemoryLeases::new();
    let log = WorkLog::default();
    let shutdown = CancellationToken::new();
    let (run, mut leading) = replica("a", store.clone(), &log, &shutdown);
    wait_until_leading(&mut leading).await;
    // The renewal sent at 5 s hangs; the API server is back at 6 s.
    store.set_mode(HANGING);
    sleep(Duration::from_secs(6)).await;
    store.set_mode(WORKING);
    sleep(Duration::from_secs(30)).await;
    assert!(*leading.borrow(), "still leading");
    assert!(log.when("a", "stopped").is_none());
    shutdown.cancel();
    assert_eq!(run.await.expect("join").expect("run"), Ended::Shutdown);
}

#[tokio::test(start_paused = true)]
async fn a_lease_left_by_a_dead_replica_is_taken_over_after_one_duration() {
    let store = MemoryLeases::new();
    let old = Utc::now() - chrono::Duration::hours(1);
    store.put(decide::claimed(
        None,
        "ghost",
        old,
        chrono::Duration::seconds(15),
    ));
    let log = WorkLog::default();
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let (run, mut leading) = replica("b", store.clone(), &log, &shutdown);
    wait_until_leading(&mut leading).await;
    let waited = Instant::now() - started;
    // Expiry is judged on b's clock from when it first saw the record: never sooner than one
    // duration, and no later than one more read.
    let timings = Timings::default();
    assert!(waited >= timings.lease_duration, "waited {waited:?}");
    assert!(
        waited <= timings.lease_duration + timings.retry_period,
        "waited {waited:?}"
    );
    assert_eq!(store.lease().expect("lease").record.transitions, 1);
    shutdown.cancel();
    assert_eq!(run.await.expect("join").expect("run"), Ended::Shutdown);
}

#[tokio::test(start_paused = true)]
async fn a_leader_that_finds_another_holder_stops_leading() {
    let store = MemoryLeases::new();
    let log = WorkLog::default();
    let shutdown = CancellationToken::new();
    let (run, mut leading) = replica("a", store.clone(), &log, &shutdown);
    wait_until_leading(&mut leading).await;
    // Someone overwrote the lease (an administrator, a replica with a broken clock).
    let now = Utc::now();
    store.put(decide::claimed(
        None,
        "intruder",
        now,
        chrono::Duration::seconds(15),
    ));
    assert!(matches!(run.await.expect("join"), Err(LeaderError::Lost)));
    assert!(log.when("a", "stopped").is_some());
    assert_eq!(
        holder(&store).as_deref(),
        Some("intruder"),
        "not released: not ours"
    );
}

#[tokio::test(start_paused = true)]
async fn work_that_ends_by_itself_releases_the_lease() {
    let store = MemoryLeases::new();
    let elector = LeaderElector::with_store(store.clone(), "a".into(), Timings::default());
    let ended = elector
        .run(CancellationToken::new(), |_token| async {
            sleep(Duration::from_secs(7)).await;
        })
        .await
        .expect("run");
    assert_eq!(ended, Ended::WorkFinished);
    assert_eq!(holder(&store), None);
}

#[tokio::test(start_paused = true)]
async fn work_that_ignores_cancellation_is_aborted_before_the_lease_can_expire() {
    let store = MemoryLeases::new();
    let elector = LeaderElector::with_store(store.clone(), "a".into(), Timings::default());
    let log = WorkLog::default();
    let work_log = log.clone();
    let started = Instant::now();
    let run = tokio::spawn(
        elector.run(CancellationToken::new(), move |_token| async move {
            // Never looks at its token; dropped when aborted.
            struct Dropped(WorkLog);
            impl Drop for Dropped {
                fn drop(&mut self) {
                    self.0.record("a", "stopped");
                }
            }
            let _guard = Dropped(work_log);
            std::future::pending::<()>().await;
        }),
    );
    sleep(Duration::from_secs(1)).await;
    store.set_mode(FAILING);
    assert!(matches!(run.await.expect("join"), Err(LeaderError::Lost)));
    let stopped = log.when("a", "stopped").expect("aborted");
    assert!(stopped - started < Timings::default().lease_duration);
}

#[tokio::test(start_paused = true)]
async fn on_shutdown_the_work_may_wind_down_while_the_lease_is_still_held() {
    let store = MemoryLeases::new();
    let elector = LeaderElector::with_store(store.clone(), "a".into(), Timings::default());
    let log = WorkLog::default();
    let work_log = log.clone();
    let shutdown = CancellationToken::new();
    let run = tokio::spawn(elector.run(shutdown.clone(), move |token| async move {
        token.cancelled().await;
        // Finishing in-flight reconciles takes a few seconds.
        sleep(Duration::from_secs(3)).await;
        work_log.record("a", "stopped");
    }));
    sleep(Duration::from_secs(6)).await;
    shutdown.cancel();
    assert_eq!(run.await.expect("join").expect("run"), Ended::Shutdown);
    assert!(log.when("a", "stopped").is_some(), "not aborted");
    assert_eq!(holder(&store), None, "released after the work stopped");
}
