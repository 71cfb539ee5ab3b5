//! Clock chaos (issue 9): a mailroom station boots at 1970-01-01 or at 2099-12-31 and its wall
//! clock then jumps back and forward at random (proptest), while it holds mail and syncs to a
//! real registry. Through it all: the log's seqs run 1, 2, 3 … without a gap and the chain
//! verifies; every event recorded on an implausible clock, or on one the registry's clock showed
//! to be off, is flagged as untrusted time; an envelope's remaining hold never shrinks by more
//! than the real time that passed; and the registry takes every event (it does not judge an
//! untrusted station's request times).
//!
//! The clock is the one the station reads (`station::clock`), moved through its simulation
//! offset as the control page moves it. That offset is one per process, so this file is its own
//! test binary, and its cases run one after another.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use common::*;
use proptest::prelude::*;
use records::{ChainTip, IntakeId, Payload};
use serde_json::{Value, json};
use station::LogStore;
use station::config::Role;

const HOUR_SECS: i64 = 3600;
const DAY_SECS: i64 = 24 * HOUR_SECS;
const HOLD_SECS: u32 = 3600;
/// 2099-12-31T00:00:00Z.
const Y2099_SECS: i64 = 4_102_358_400;
/// What the station trusts at most (its plausibility window, `station::clock`).
const EARLIEST_PLAUSIBLE_MS: i64 = 1_767_225_600_000;
const LATEST_PLAUSIBLE_MS: i64 = 2_713_910_400_000;

#[derive(Debug, Clone, Copy)]
enum Jump {
    /// The clock is set this many seconds back (negative) or forward.
    By(i64),
    /// NTP sets it right.
    ToCorrect,
}

fn jumps() -> impl Strategy<Value = Vec<Jump>> {
    // Whole hours, so that the clock is either right or clearly off, never at the edge of what
    // the station tolerates (a minute).
    let jump = prop_oneof![
        3 => (-400 * 24i64..=400 * 24).prop_map(|h| Jump::By(h * HOUR_SECS)),
        2 => (-3i64..=3).prop_map(|h| Jump::By(h * HOUR_SECS)),
        2 => Just(Jump::ToCorrect),
    ];
    prop::collection::vec(jump, 1..5)
}

fn machine_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn label(number: u64) -> IntakeId {
    IntakeId::new(KIOSK.parse().unwrap(), number).unwrap()
}

fn store(dir: &Path) -> LogStore {
    LogStore::open_existing(&dir.join(MAILROOM).join(station::runtime::LOG_FILE)).unwrap()
}

struct Mailroom {
    client: reqwest::Client,
    url: String,
}

impl Mailroom {
    async fn state(&self) -> Value {
        get_json(&self.client, &format!("{}/mailroom/state", self.url)).await
    }

    /// Scans `intake`'s label and waits for its result.
    async fn scan_label(&self, intake: IntakeId) -> Value {
        let version = self.state().await["version"].as_u64().unwrap();
        let url = format!("{}/sim/scan", self.url);
        let code = json!({ "code": intake.to_string() });
        assert_eq!(post(&self.client, &url, Some(code)).await, 202);
        eventually(&format!("the result of scanning {intake}"), || async {
            let state = self.state().await;
            let shown = state["version"].as_u64().unwrap() > version
                && state["last"]["intake"] == intake.to_string();
            shown.then(|| state["last"].clone())
        })
        .await
    }

    /// Seconds left of `intake`'s hold, as the hold list shows it (refreshed by a scan).
    async fn remaining(&self, intake: IntakeId) -> u64 {
        let version = self.state().await["version"].as_u64().unwrap();
        let url = format!("{}/sim/scan", self.url);
        assert_eq!(
            post(&self.client, &url, Some(json!({ "code": "not.a.label" }))).await,
            202
        );
        eventually(&format!("{intake} on a refreshed hold list"), || async {
            let state = self.state().await;
            if state["version"].as_u64().unwrap() <= version {
                return None;
            }
            state["held"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h["intake"] == intake.to_string())
                .and_then(|h| h["remaining_secs"].as_u64())
        })
        .await
    }

    async fn set_clock(&self, offset_secs: i64) {
        let answer = self
            .client
            .post(format!("{}/sim/clock", self.url))
            .json(&json!({ "offset_secs": offset_secs }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200);
    }

    /// Waits until the registry has acknowledged every event in the log.
    async fn synced(&self, dir: &Path) {
        let tip = store(dir).stored_tip().unwrap().seq;
        eventually(&format!("the registry holding seq {tip}"), || async {
            let status = get_json(&self.client, &format!("{}/api/status", self.url)).await;
            (status["sync"]["acknowledged"].as_u64() == Some(tip)).then_some(())
        })
        .await;
    }
}

/// The simulated clock is the process's: one case at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs one case, on a runtime of its own: boot at `start_secs` (unix), then `jumps`.
fn run_case(start_secs: i64, jumps: Vec<Jump>) {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(case(start_secs, jumps));
}

async fn case(start_secs: i64, jumps: Vec<Jump>) {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let registry_addr = prepare(dir);
    let registry = start_registry(dir, registry_addr).await;
    let mut offset = start_secs - machine_secs();
    let (server, url) = start_station_with(dir, MAILROOM, Role::Mailroom, registry_addr, |c| {
        c.hold_secs = HOLD_SECS;
        c.hold_clock_save_secs = 0;
        c.simulated_clock_offset_secs = Some(offset);
    })
    .await;
    let mailroom = Mailroom {
        client: reqwest::Client::new(),
        url,
    };
    // Its port is bound already: the first requests wait for it to serve.
    sign_in(&mailroom.client, &mailroom.url, "1001", "1234").await;
    let held = label(1);
    assert_eq!(mailroom.scan_label(held).await["ok"], true);
    let mut left = mailroom.remaining(held).await;
    let mut seen = Instant::now();
    assert!(left <= u64::from(HOLD_SECS));

    for (n, jump) in jumps.into_iter().enumerate() {
        offset = match jump {
            // Never before 1970 (a Pi's clock does not go there), never past the simulation's
            // reach.
            Jump::By(secs) => (offset + secs).clamp(
                -machine_secs(),
                station::clock::MAX_SIMULATED_OFFSET_SECS - DAY_SECS,
            ),
            Jump::ToCorrect => 0,
        };
        mailroom.set_clock(offset).await;
        // Something recorded on the jumped clock: another envelope's hold.
        assert_eq!(mailroom.scan_label(label(n as u64 + 2)).await["ok"], true);
        let now_left = mailroom.remaining(held).await;
        let passed = seen.elapsed().as_secs() + 1;
        assert!(
            now_left + passed >= left,
            "after a jump to {offset} s off: {now_left} s left, {left} s {passed} s before"
        );
        assert!(now_left > 0, "the hour's hold is not over");
        (left, seen) = (now_left, Instant::now());
        // Once the registry has answered on this clock, the station knows whether it is off:
        // what it records next says so.
        mailroom.synced(dir).await;
        post(
            &mailroom.client,
            &format!("{}/mailroom/signout", mailroom.url),
            None,
        )
        .await;
        sign_in(&mailroom.client, &mailroom.url, "1001", "1234").await;
        let last = store(dir).tail(1).unwrap().remove(0);
        let event = station::log_store::decode(&last).unwrap();
        assert!(
            matches!(event.payload, Payload::StaffSignedIn { .. }),
            "{event:?}"
        );
        let at = event.recorded_at;
        let right = (at.unix_ms / 1000 - machine_secs()).abs() < 60;
        let plausible = (EARLIEST_PLAUSIBLE_MS..LATEST_PLAUSIBLE_MS).contains(&at.unix_ms);
        assert_eq!(
            at.trusted,
            right && plausible,
            "seq {} recorded {} s off the machine's clock",
            last.signed.seq,
            offset
        );
    }
    mailroom.synced(dir).await;

    let store = store(dir);
    let events = store.events_after(0, 100_000).unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e.signed.seq).collect();
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "gapless, in order");
    let keys = store.recorded_keys().unwrap();
    assert_eq!(
        store.verify(&keys, ChainTip::GENESIS).unwrap().seq,
        seqs.len() as u64
    );
    for stored in &events {
        let at = station::log_store::decode(stored).unwrap().recorded_at;
        if !(EARLIEST_PLAUSIBLE_MS..LATEST_PLAUSIBLE_MS).contains(&at.unix_ms) {
            assert!(
                !at.trusted,
                "seq {} at {} ms",
                stored.signed.seq, at.unix_ms
            );
        }
    }
    server.stop().await;
    registry.stop().await;
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 6,
        max_shrink_iters: 8,
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_clock_from_1970_or_2099_jumping_about_breaks_no_order_trust_or_hold(
        in_2099 in any::<bool>(),
        jumps in jumps(),
    ) {
        run_case(if in_2099 { Y2099_SECS } else { 0 }, jumps);
    }
}

/// Both starts, always, whatever the random cases drew.
#[test]
fn both_starts_with_a_jump_each_way() {
    for start in [0, Y2099_SECS] {
        run_case(
            start,
            vec![
                Jump::By(-30 * DAY_SECS),
                Jump::ToCorrect,
                Jump::By(200 * DAY_SECS),
                Jump::By(-2 * HOUR_SECS),
                Jump::ToCorrect,
            ],
        );
    }
}
