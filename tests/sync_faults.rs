//! Sync under faults (issue 9): a station's sync pushes its custody log to a real registry
//! (`registry::serve` over a SQLite file) through a fault-injecting proxy on loopback
//! ([`fault_proxy`]), while the test appends deposits, changes the faults, and restarts
//! the registry and the station. After healing, within a bounded time, the registry must hold
//! exactly the station's log: seqs 1..=N, the same canonical bytes, key ids, signatures and
//! hashes, one row each, acknowledged at N on both sides, and no fork alarm.
//!
//! The model-based test is a hand-written sequence of generated operations run by proptest's
//! `TestRunner` rather than `proptest-state-machine`: every operation is valid in every state
//! (no preconditions to track), the reference model is simply "the station log's events" (the
//! log itself is read back as the expectation), and the operations are async, which that
//! crate's synchronous `apply` would need to wrap in `block_on` anyway. A `Vec` of operations
//! shrinks the same way (dropping and simplifying operations) with no new dependency.
//!
//! Heal times are printed (`cargo test -p urna --test sync_faults -- --nocapture`); only the
//! bound on them is asserted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/fault_proxy.rs"]
mod fault_proxy;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fault_proxy::{Fault, FaultProxy, Mode};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use records::{Channel, Intake, IntakeId, Payload, StationCode, Text, Timestamp};
use registry::{Registry, RegistryConfig};
use station::StationKey;
use station::custody_log::{CustodyLog, Entry};
use station::shared_log::SharedLog;
use station::shutdown::{ShutdownTrigger, shutdown_pair};
use station::signed_client::SignedClient;
use station::sync::SyncStatus;
use tokio::sync::watch;
use tokio::task::JoinHandle;

const STATION: &str = "GWU7";
const KEY_SEED: [u8; 32] = [7; 32];
/// After healing, the registry must hold the station's whole log within this time. A request
/// caught by a half-open connection that is never released waits out the station's request
/// timeout (20 s) first, then its retry pause.
const HEAL_BOUND: Duration = Duration::from_secs(30);
/// Categories of the demo registry config, and one it does not know (mapped to the default).
const CATEGORIES: [&str; 3] = ["podatki", "budownictwo", "nieznana"];

/// A registry serving one SQLite file; stopped and opened again over the same file.
struct RegistryServer {
    trigger: ShutdownTrigger,
    task: JoinHandle<std::io::Result<()>>,
    url: String,
}

async fn start_registry(db: &Path, key: &StationKey, first: bool) -> RegistryServer {
    let registry = Registry::open(db, RegistryConfig::demo()).unwrap();
    if first {
        let code: StationCode = STATION.parse().unwrap();
        registry
            .enrol(code, "Urna testowa", key.public())
            .await
            .unwrap();
        registry.approve(&key.fingerprint(), None).await.unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (trigger, shutdown) = shutdown_pair();
    let task = tokio::spawn(registry::serve(listener, registry, shutdown.wait()));
    RegistryServer { trigger, task, url }
}

impl RegistryServer {
    fn addr(&self) -> std::net::SocketAddr {
        self.url.trim_start_matches("http://").parse().unwrap()
    }

    async fn stop(self) {
        self.trigger.trigger();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the registry stops within 10 s")
            .unwrap()
            .unwrap();
    }
}

/// The station's sync task, as the station runs it, on a runtime of its own: stopping it is
/// like the station's process ending, which waits for the log work still in flight (a sync
/// stopped mid-request may have a read of the log running on a blocking thread). Only then is
/// the log opened again, as a restarted station would.
struct SyncTask {
    trigger: ShutdownTrigger,
    task: JoinHandle<()>,
    status: watch::Receiver<SyncStatus>,
    /// `None` once stopped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for SyncTask {
    /// A test that failed drops its rig inside the test's runtime, where waiting is not allowed.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn start_sync(log: &SharedLog, proxy_url: &str) -> SyncTask {
    let key = StationKey::from_seed(KEY_SEED);
    let client = SignedClient::new(proxy_url, &key).unwrap();
    let (tx, status) = watch::channel(SyncStatus::default());
    let (trigger, shutdown) = shutdown_pair();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let task = runtime.spawn(station::sync::run(
        log.clone(),
        STATION.parse().unwrap(),
        client,
        tx,
        shutdown,
    ));
    SyncTask {
        trigger,
        task,
        status,
        runtime: Some(runtime),
    }
}

impl SyncTask {
    async fn stop(mut self) {
        self.trigger.trigger();
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("the sync stops within 10 s")
            .unwrap();
        if let Some(runtime) = self.runtime.take() {
            tokio::task::spawn_blocking(move || runtime.shutdown_timeout(Duration::from_secs(10)))
                .await
                .unwrap();
        }
    }
}

async fn open_log(path: PathBuf) -> SharedLog {
    let log = tokio::task::spawn_blocking(move || {
        CustodyLog::open(
            &path,
            STATION.parse().unwrap(),
            StationKey::from_seed(KEY_SEED),
        )
    })
    .await
    .unwrap()
    .unwrap();
    SharedLog::new(log)
}

fn deposit(id: IntakeId, at: Timestamp, n: usize) -> Payload {
    Payload::Deposit(Intake {
        id,
        received_at: at,
        channel: Channel::Urn,
        category: Text::new(CATEGORIES[n % CATEGORIES.len()]).unwrap(),
        reference: n
            .is_multiple_of(2)
            .then(|| Text::new(format!("SO-{n}")).unwrap()),
        sender: None,
        attachments: None,
    })
}

/// A registry, a station log with its sync, and the proxy between them.
struct Rig {
    dir: tempfile::TempDir,
    registry: Option<RegistryServer>,
    proxy: FaultProxy,
    /// `None` only while the log is closed for a restart.
    log: Option<SharedLog>,
    sync: Option<SyncTask>,
    appended: usize,
}

impl Rig {
    async fn start() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let key = StationKey::from_seed(KEY_SEED);
        let registry = start_registry(&dir.path().join("registry.sqlite"), &key, true).await;
        let proxy = FaultProxy::start(registry.addr()).await;
        let log = open_log(dir.path().join("custody.sqlite")).await;
        let sync = start_sync(&log, &proxy.url());
        Rig {
            dir,
            registry: Some(registry),
            proxy,
            log: Some(log),
            sync: Some(sync),
            appended: 0,
        }
    }

    fn log(&self) -> &SharedLog {
        self.log.as_ref().expect("the log is open")
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("registry.sqlite")
    }

    /// `n` deposits, each committed on its own, as the kiosk commits them.
    async fn append(&mut self, n: usize) {
        for _ in 0..n {
            let at = station::clock::now();
            let k = self.appended;
            self.log()
                .append_intake(at, move |id| deposit(id, at, k))
                .await
                .unwrap();
            self.appended += 1;
        }
    }

    /// `n` deposits in one transaction (more than one push's worth when `n` > 500).
    async fn append_batch(&mut self, n: usize) {
        let at = station::clock::now();
        let first = self.appended;
        self.log()
            .with(move |log| {
                log.append_all((0..n).map(|i| {
                    let build: Box<dyn FnOnce(IntakeId) -> Payload> =
                        Box::new(move |id| deposit(id, at, first + i));
                    (at, Entry::NewIntake(build))
                }))
            })
            .await
            .unwrap();
        // `with` does not wake the sync as the append methods do; an empty append does.
        self.log().append_all(Vec::new()).await.unwrap();
        self.appended += n;
    }

    async fn restart_registry(&mut self, down: Duration) {
        if let Some(r) = self.registry.take() {
            r.stop().await;
        }
        tokio::time::sleep(down).await;
        let key = StationKey::from_seed(KEY_SEED);
        let r = start_registry(&self.db(), &key, false).await;
        self.proxy.set_upstream(r.addr());
        self.registry = Some(r);
    }

    async fn restart_station(&mut self, reopen_log: bool) {
        if let Some(s) = self.sync.take() {
            s.stop().await;
        }
        if reopen_log {
            // The sync's runtime has ended: this handle is the last one, so the file is closed.
            self.log = None;
            self.log = Some(open_log(self.dir.path().join("custody.sqlite")).await);
        }
        self.sync = Some(start_sync(self.log(), &self.proxy.url()));
    }

    async fn apply(&mut self, op: &Op) {
        match *op {
            Op::Append(n) => self.append(usize::from(n)).await,
            Op::AppendBatch(n) => self.append_batch(usize::from(n)).await,
            Op::Faults(mode) => self.proxy.set_mode(mode),
            Op::RestartRegistry { down_ms } => {
                self.restart_registry(Duration::from_millis(u64::from(down_ms)))
                    .await
            }
            Op::RestartStation { reopen_log } => self.restart_station(reopen_log).await,
            Op::Wait(ms) => tokio::time::sleep(Duration::from_millis(u64::from(ms))).await,
        }
    }

    /// What the station's log holds: (seq, canonical, key id, signature, hash) of every event.
    async fn station_events(&self) -> Vec<Row> {
        self.log()
            .with(|log| log.store().events_after(0, 1_000_000))
            .await
            .unwrap()
            .into_iter()
            .map(|e| Row {
                seq: e.signed.seq,
                canonical: e.signed.canonical,
                key_id: e.signed.key_id.to_string(),
                signature: e.signed.signature.to_vec(),
                hash: e.hash.0.to_vec(),
            })
            .collect()
    }

    fn status(&self) -> SyncStatus {
        self.sync
            .as_ref()
            .map(|s| s.status.borrow().clone())
            .unwrap_or_default()
    }

    /// Heals the proxy and waits until the registry and the station agree on the log's end;
    /// then checks the registry holds exactly the station's log. Returns the time it took.
    async fn heal_and_check(&mut self, what: &str, release_held: bool) -> Duration {
        let healed = Instant::now();
        self.proxy.heal(release_held);
        let n = self.log().with(|log| Ok(log.tip().seq)).await.unwrap();
        assert_eq!(
            n as usize, self.appended,
            "{what}: the log holds what was appended"
        );
        let db = self.db();
        loop {
            let (count, max) = registry_extent(&db);
            let acknowledged = self.status().acknowledged;
            if count == n && max == n && acknowledged == n {
                break;
            }
            assert!(
                healed.elapsed() < HEAL_BOUND,
                "{what}: {:?} after healing the registry holds {count} events (up to seq {max}) \
                 and the station heard acknowledged {acknowledged}, of {n}; sync status {:?}; \
                 proxy did {:?}",
                HEAL_BOUND,
                self.status(),
                self.proxy.tally(),
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let took = healed.elapsed();
        self.check_exact(what, n).await;
        took
    }

    /// The registry holds exactly the station's log, nothing twice, no fork.
    async fn check_exact(&self, what: &str, n: u64) {
        let station = self.station_events().await;
        let stored = registry_events(&self.db());
        assert_eq!(station.len() as u64, n, "{what}: station log length");
        assert_eq!(
            stored.len(),
            station.len(),
            "{what}: the registry holds {} rows for {} events",
            stored.len(),
            station.len()
        );
        for (i, (s, r)) in station.iter().zip(&stored).enumerate() {
            assert_eq!(s.seq, i as u64 + 1, "{what}: station seqs are gapless");
            assert!(
                s == r,
                "{what}: seq {} differs between station and registry",
                s.seq
            );
        }
        let conn = rusqlite::Connection::open(self.db()).unwrap();
        let count = |sql: &str| -> i64 {
            conn.query_row(sql, [STATION], |r| r.get(0))
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        };
        assert_eq!(
            count("SELECT count(*) FROM forks WHERE station = ?1"),
            0,
            "{what}: a fork was recorded"
        );
        assert_eq!(
            count("SELECT count(*) FROM alarms WHERE station = ?1"),
            0,
            "{what}: an alarm was raised"
        );
        // Every event is a deposit: one intake each in the register, none twice.
        assert_eq!(
            count("SELECT count(*) FROM intakes WHERE station = ?1") as u64,
            n,
            "{what}: intakes in the register"
        );
        // The registry's own answer, asked directly, and the station's record of it.
        let url = format!(
            "{}/api/stations/{STATION}/acknowledged",
            self.registry.as_ref().unwrap().url
        );
        let answer: serde_json::Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
        assert_eq!(
            answer["acknowledged"], n,
            "{what}: the registry's acknowledged"
        );
        let kept = self.log().with(|log| log.acknowledged()).await.unwrap();
        assert_eq!(
            kept, n,
            "{what}: the acknowledged seq the station's log keeps"
        );
    }

    async fn stop(mut self) {
        if let Some(s) = self.sync.take() {
            s.stop().await;
        }
        self.proxy.heal(true);
        if let Some(r) = self.registry.take() {
            r.stop().await;
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Row {
    seq: u64,
    canonical: Vec<u8>,
    key_id: String,
    signature: Vec<u8>,
    hash: Vec<u8>,
}

/// (rows, highest seq) of the station in the registry's file.
fn registry_extent(db: &Path) -> (u64, u64) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT count(*), COALESCE(MAX(seq), 0) FROM events WHERE station = ?1",
        [STATION],
        |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
    )
    .unwrap()
}

fn registry_events(db: &Path) -> Vec<Row> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT seq, canonical, key_id, signature, hash FROM events
             WHERE station = ?1 ORDER BY seq",
        )
        .unwrap();
    stmt.query_map([STATION], |r| {
        Ok(Row {
            seq: r.get::<_, i64>(0)? as u64,
            canonical: r.get(1)?,
            key_id: r.get(2)?,
            signature: r.get(3)?,
            hash: r.get(4)?,
        })
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// One step of the model-based test.
#[derive(Debug, Clone)]
enum Op {
    /// Deposits, one transaction each.
    Append(u8),
    /// Deposits in one transaction.
    AppendBatch(u16),
    /// How the proxy treats requests from now on.
    Faults(Mode),
    /// Stop the registry, wait, open the same file again.
    RestartRegistry { down_ms: u16 },
    /// Stop the sync task and start a new one (on the log opened again, or the same handle).
    RestartStation { reopen_log: bool },
    /// Let time pass.
    Wait(u16),
}

fn fault() -> impl Strategy<Value = Fault> {
    proptest::sample::select(Fault::ALL.to_vec())
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![
        fault().prop_map(Mode::Always),
        (any::<u64>(), 20u8..=90).prop_map(|(seed, percent)| Mode::Mixed { seed, percent }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (1u8..=6).prop_map(Op::Append),
        1 => (100u16..=650).prop_map(Op::AppendBatch),
        3 => mode().prop_map(Op::Faults),
        1 => (0u16..=400).prop_map(|down_ms| Op::RestartRegistry { down_ms }),
        1 => any::<bool>().prop_map(|reopen_log| Op::RestartStation { reopen_log }),
        2 => (0u16..=600).prop_map(Op::Wait),
    ]
}

#[test]
fn station_log_sync_and_registry_agree_after_any_faults() {
    let cases = std::env::var("URNA_SYNC_FAULT_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let config = ProptestConfig {
        failure_persistence: None,
        max_shrink_iters: 16,
        ..ProptestConfig::with_cases(cases)
    };
    let mut runner = TestRunner::new(config);
    let heals: Mutex<Vec<(Duration, usize, usize, u64)>> = Mutex::new(Vec::new());
    // The faults the run starts with (the station's first pushes meet them), then the steps.
    let cases = (mode(), proptest::collection::vec(op(), 1..=12));
    let result = runner.run(&cases, |(first, ops)| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (took, n, faulted) = rt.block_on(async {
            let mut rig = Rig::start().await;
            rig.proxy.set_mode(first);
            for op in &ops {
                rig.apply(op).await;
            }
            let took = rig
                .heal_and_check(&format!("{first:?} then {ops:?}"), true)
                .await;
            let faulted: u64 = rig
                .proxy
                .tally()
                .iter()
                .filter(|((f, _), _)| *f != Fault::Pass)
                .map(|(_, n)| n)
                .sum();
            let n = rig.appended;
            rig.stop().await;
            (took, n, faulted)
        });
        heals.lock().unwrap().push((took, ops.len(), n, faulted));
        Ok(())
    });
    let heals = heals.into_inner().unwrap();
    for (i, (took, ops, n, faulted)) in heals.iter().enumerate() {
        println!(
            "case {i:2}: {ops:2} operations, {n:4} events, {faulted:3} requests faulted, healed in {took:?}"
        );
    }
    if let Some(max) = heals.iter().map(|h| h.0).max() {
        println!(
            "heal time over {} runs (shrinking included): max {max:?}",
            heals.len()
        );
    }
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Each fault kind in turn, then the restarts, each followed by healing, so a failure names
/// what it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_fault_kind_in_turn() {
    let mut rig = Rig::start().await;
    rig.append(3).await;
    let took = rig.heal_and_check("no fault", true).await;
    println!("{:<26} healed in {took:?}", "no fault");
    for fault in Fault::ALL {
        let what = fault.name();
        rig.proxy.set_mode(Mode::Always(fault));
        let before = rig.proxy.count(fault, "POST");
        rig.append(3).await;
        // The fault must have met a push, or this step proves nothing.
        let hit = Instant::now();
        while rig.proxy.count(fault, "POST") == before {
            assert!(
                hit.elapsed() < Duration::from_secs(10),
                "{what}: no push met the fault; proxy did {:?}",
                rig.proxy.tally()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if fault == Fault::HalfOpen {
            assert_eq!(rig.proxy.held(), 1, "{what}: the push is held");
        }
        if matches!(fault, Fault::DropResponse | Fault::ResetMidResponse) {
            // The registry committed a push the station has not heard of.
            let committed = Instant::now();
            while registry_extent(&rig.db()).1 <= rig.status().acknowledged {
                assert!(
                    committed.elapsed() < Duration::from_secs(10),
                    "{what}: no push committed unheard: registry holds {:?}, station heard {}",
                    registry_extent(&rig.db()),
                    rig.status().acknowledged
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        // Held connections stay held: the station must give up on them by itself.
        let took = rig.heal_and_check(&what, false).await;
        println!("{what:<26} healed in {took:?}");
    }

    rig.restart_registry(Duration::ZERO).await;
    let took = rig.heal_and_check("registry restart (idle)", false).await;
    println!("{:<26} healed in {took:?}", "registry restart (idle)");

    if let Some(r) = rig.registry.take() {
        r.stop().await;
    }
    rig.append(4).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let key = StationKey::from_seed(KEY_SEED);
    let r = start_registry(&rig.db(), &key, false).await;
    rig.proxy.set_upstream(r.addr());
    rig.registry = Some(r);
    let took = rig.heal_and_check("registry down, then back", false).await;
    println!("{:<26} healed in {took:?}", "registry down, then back");

    // The registry stops while the proxy holds a push: the registry never sees it.
    rig.proxy.set_mode(Mode::Always(Fault::Delay { ms: 1500 }));
    rig.append(2).await;
    rig.restart_registry(Duration::from_millis(200)).await;
    let took = rig.heal_and_check("registry restart mid-push", false).await;
    println!("{:<26} healed in {took:?}", "registry restart mid-push");

    rig.proxy.set_mode(Mode::Always(Fault::DropResponse));
    rig.append(2).await;
    rig.restart_station(true).await;
    rig.append(2).await;
    let took = rig.heal_and_check("station restart", false).await;
    println!("{:<26} healed in {took:?}", "station restart");

    println!("proxy did: {:?}", rig.proxy.tally());
    rig.stop().await;
}

/// Regression: a push the network duplicated reaches the registry twice; the second copy is
/// refused as a replayed nonce (401 `replayed`). The station told its staff "the registry does
/// not know this station yet (enrol its key)", which sends them to fix the wrong thing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_duplicated_request_is_not_reported_as_an_unenrolled_station() {
    let mut rig = Rig::start().await;
    rig.append(1).await;
    rig.heal_and_check("before", true).await;
    rig.proxy.set_mode(Mode::Always(Fault::Duplicate {
        answer_second: true,
    }));
    rig.append(1).await;
    let mut status = rig.sync.as_ref().unwrap().status.clone();
    let error = tokio::time::timeout(
        Duration::from_secs(10),
        status.wait_for(|s| s.last_error.is_some()),
    )
    .await
    .expect("the station reports the refusal")
    .unwrap()
    .last_error
    .clone()
    .unwrap();
    assert!(error.contains("replayed"), "{error}");
    assert!(!error.contains("enrol"), "{error}");
    rig.heal_and_check("after", true).await;
    rig.stop().await;
}
