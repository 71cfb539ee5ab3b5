//! The whole station process killed with SIGKILL while residents deposit: `urna station` runs a
//! simulated urn kiosk, a driver presses the button and drops envelopes over the control page as
//! fast as the kiosk lets it, and the process is killed at a random moment. After every kill the
//! custody log opens, its chain verifies with no gap, and every intake a resident was promised —
//! shown on the kiosk as recorded, or whose label or receipt reached the printer — has its
//! deposit in the log. The station then starts again on the same files.
//!
//! `URNA_STATION_KILLS` sets the number of kills (default 50; `scripts/crash-soak` runs 1,000).
//! The log-level kill test (a bare appender, killed mid-append) is `station/tests/crash.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

mod processes;

use processes::{free_port, kiosk_config};
use records::{ChainTip, Payload};
use serde_json::Value;
use station::LogStore;

/// The station process, killed if the test ends early.
struct Station(Child);

impl Drop for Station {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A small xorshift generator: kill timing needs spread, not cryptographic quality.
struct Jitter(u64);

impl Jitter {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

/// Plays residents until aborted: button, then the envelope through the slot, again and again.
/// Every intake the kiosk shows is pushed to `shown` before anything else happens with it;
/// `pressed` is told when the first button press has been sent.
async fn residents(kiosk: String, shown: Arc<Mutex<BTreeSet<String>>>, pressed: Arc<Notify>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    loop {
        let Ok(response) = client.get(format!("{kiosk}/kiosk/state")).send().await else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let Ok(state) = response.json::<Value>().await else {
            continue;
        };
        if let Some(intake) = state["intake"].as_str() {
            shown.lock().unwrap().insert(intake.to_owned());
        }
        let action = match state["step"].as_str() {
            Some("idle") => "button",
            Some("drop") => "slot",
            _ => {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        let _ = client.post(format!("{kiosk}/sim/{action}")).send().await;
        if action == "button" {
            pressed.notify_one();
        }
    }
}

/// The intakes whose label or receipt reached the simulated printer: its PNGs are named
/// `NNNNNN-<intake>-<kind>.png`.
fn printed(labels: &Path) -> BTreeSet<String> {
    let Ok(dir) = std::fs::read_dir(labels) else {
        return BTreeSet::new();
    };
    dir.filter_map(|entry| {
        let name = entry.ok()?.file_name().into_string().ok()?;
        let stem = name.strip_suffix(".png")?;
        // The intake id has dashes of its own; the number and the kind have none.
        let (_number, rest) = stem.split_once('-')?;
        let (intake, _kind) = rest.rsplit_once('-')?;
        Some(intake.to_owned())
    })
    .collect()
}

/// The deposits in the log, after checking the chain from seq 1 with no gap.
fn deposits_in_log(db: &Path, round: usize) -> (u64, BTreeSet<String>) {
    let store = LogStore::open_existing(db).unwrap_or_else(|e| panic!("round {round}: {e}"));
    let tip = store
        .verify(&store.recorded_keys().unwrap(), ChainTip::GENESIS)
        .unwrap_or_else(|e| panic!("round {round}: {e}"));
    let mut deposits = BTreeSet::new();
    let mut after = 0;
    loop {
        let batch = store.events_after(after, 10_000).unwrap();
        let Some(last) = batch.last() else { break };
        after = last.signed.seq;
        for event in &batch {
            let event = records::encoding::decode(&event.signed.canonical).unwrap();
            if let Payload::Deposit(intake) = event.payload {
                deposits.insert(intake.id.to_string());
            }
        }
    }
    (tip.seq, deposits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_killed_during_deposits_keeps_every_promise() {
    let kills: usize = std::env::var("URNA_STATION_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let root = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = kiosk_config(root.path(), port);
    let data = root.path().join("kiosk");
    let db = data.join(station::runtime::LOG_FILE);
    let labels = data.join(station::runtime::LABELS_DIR);
    let kiosk = format!("http://127.0.0.1:{port}");
    let log = root.path().join("station.log");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("station_kill: {kills} kills, jitter seed {seed}");
    let mut jitter = Jitter(seed);
    let shown = Arc::new(Mutex::new(BTreeSet::new()));
    let probe = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let mut last_seq = 0;

    for round in 0..kills {
        let station = Station(
            Command::new(env!("CARGO_BIN_EXE_urna"))
                .args(["station", "--config", config.to_str().unwrap()])
                .env_remove("NOTIFY_SOCKET")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap(),
        );
        // Kill most rounds once the kiosk serves, some while it is still starting up.
        let early = jitter.next(5) == 0;
        if !early {
            let deadline = Instant::now() + Duration::from_secs(30);
            while probe
                .get(format!("{kiosk}/kiosk/state"))
                .send()
                .await
                .is_err()
            {
                assert!(
                    Instant::now() < deadline,
                    "round {round}: the station did not start again; its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let pressed = Arc::new(Notify::new());
        let driver = tokio::spawn(residents(kiosk.clone(), shown.clone(), pressed.clone()));
        if early {
            tokio::time::sleep(Duration::from_millis(jitter.next(300))).await;
        } else {
            // Aim at the deposit: from the press through the commit, the printing and the drop.
            let _ = tokio::time::timeout(Duration::from_secs(10), pressed.notified()).await;
            tokio::time::sleep(Duration::from_millis(jitter.next(800))).await;
        }
        drop(station); // SIGKILL, then reaped
        driver.abort();
        let _ = driver.await;

        if !db.exists() {
            assert!(shown.lock().unwrap().is_empty(), "round {round}");
            continue;
        }
        let (tip, deposits) = deposits_in_log(&db, round);
        assert!(
            tip >= last_seq,
            "round {round}: the log went back from {last_seq} to {tip}"
        );
        last_seq = tip;
        let promised: BTreeSet<String> = shown
            .lock()
            .unwrap()
            .iter()
            .cloned()
            .chain(printed(&labels))
            .collect();
        let missing: Vec<&String> = promised.difference(&deposits).collect();
        assert!(
            missing.is_empty(),
            "round {round}: promised but not in the log: {missing:?}"
        );
    }
    let shown = shown.lock().unwrap().len();
    let printed = printed(&labels).len();
    eprintln!(
        "station_kill: {shown} intakes seen on the kiosk, {printed} pages printed, every one in the log after {kills} kills; log at seq {last_seq}"
    );
    // Enough rounds must have reached a deposit for the test to prove anything (a kill often
    // lands before the commit, which is the point of aiming at random).
    assert!(
        shown + printed >= kills / 5,
        "only {shown} intakes shown and {printed} pages printed in {kills} rounds"
    );
}
