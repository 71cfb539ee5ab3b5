//! A sanitising hold at the mailroom is never shortened by a clock step, across restarts too
//! (DESIGN.md, invariant 4): the station's wall clock is stepped forward and back while a hold
//! runs, and the station is restarted on the same data booting five days ahead, at 1970 and on a
//! correct clock, each time after a real downtime. What the hold clock saved in the station's file
//! is read between and after the steps to check what was credited, to the millisecond.
//!
//! The simulated wall clock is one per process, so this file is its own test binary and runs its
//! phases one after another in a single test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use records::{IntakeId, Payload};
use serde_json::{Value, json};
use station::LogStore;
use station::config::Role;
use station::hold_clock::{self, SavedHoldClock};

const DAY_SECS: i64 = 24 * 3600;
/// The first run's hold, short enough to see it end.
const SHORT_HOLD_SECS: u32 = 6;
/// The later runs' hold, long enough to outlast every restart here.
const LONG_HOLD_SECS: u32 = 120;

fn store(dir: &Path) -> LogStore {
    LogStore::open_existing(&dir.join(MAILROOM).join(station::runtime::LOG_FILE)).unwrap()
}

/// What the station's hold clock last saved; `None` before its first save.
fn saved(dir: &Path) -> Option<SavedHoldClock> {
    hold_clock::load(&store(dir)).unwrap()
}

fn start_of(dir: &Path, intake: IntakeId) -> u64 {
    hold_clock::hold_start_ms(&store(dir), intake)
        .unwrap()
        .expect("the hold's start is recorded")
}

fn label(number: u64) -> IntakeId {
    IntakeId::new(KIOSK.parse().unwrap(), number).unwrap()
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// What the hold clock saved, taken right after it was saved, with bounds on when that was.
#[derive(Debug, Clone, Copy)]
struct Save {
    counter: u64,
    /// Before the save was asked for.
    not_before: Instant,
    /// After it was seen in the file.
    not_after: Instant,
}

/// One station run at a time over the same data directory.
struct Mailroom {
    dir: std::path::PathBuf,
    registry: std::net::SocketAddr,
    client: reqwest::Client,
    server: Option<Server>,
    url: String,
}

impl Mailroom {
    /// Starts the station with its wall clock `offset_secs` off, holding unknown mail `hold_secs`.
    async fn start(&mut self, offset_secs: i64, hold_secs: u32) -> Save {
        let before = if self
            .dir
            .join(MAILROOM)
            .join(station::runtime::LOG_FILE)
            .exists()
        {
            saved(&self.dir)
        } else {
            None
        };
        let not_before = Instant::now();
        let (server, url) =
            start_station_with(&self.dir, MAILROOM, Role::Mailroom, self.registry, |c| {
                c.hold_secs = hold_secs;
                c.simulated_clock_offset_secs = Some(offset_secs);
                // Every refresh saves, so that the test can read the clock at any moment; the
                // throttle itself is tested beside the hold clock.
                c.hold_clock_save_secs = 0;
            })
            .await;
        self.server = Some(server);
        self.url = url;
        // The station serves once its log is open; the mailroom then starts the hold clock and
        // saves it as it first lists the holds.
        eventually("the station serving", || async {
            let answer = self
                .client
                .get(format!("{}/api/status", self.url))
                .send()
                .await
                .ok()?;
            answer.status().is_success().then_some(())
        })
        .await;
        let counter = eventually("the hold clock's first save", || async {
            let now = saved(&self.dir);
            (now.is_some() && now != before).then(|| now.unwrap().counter_ms)
        })
        .await;
        sign_in(&self.client, &self.url, "1001", "1234").await;
        Save {
            counter,
            not_before,
            not_after: Instant::now(),
        }
    }

    async fn stop(&mut self) {
        self.server.take().unwrap().stop().await;
    }

    async fn state(&self) -> Value {
        get_json(&self.client, &format!("{}/mailroom/state", self.url)).await
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
        let now: Value = answer.json().await.unwrap();
        let machine = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let off = now["unix_ms"].as_i64().unwrap() - machine.as_millis() as i64;
        assert!((off - offset_secs * 1000).abs() < 5_000, "{now}");
    }

    /// Scans `code`; returns the result shown for it, which names `intake`.
    async fn scan(&self, code: &str, intake: Option<IntakeId>) -> Value {
        let version = self.state().await["version"].as_u64().unwrap();
        let intake = intake.map_or(Value::Null, |i| Value::String(i.to_string()));
        assert_eq!(
            post(
                &self.client,
                &format!("{}/sim/scan", self.url),
                Some(json!({ "code": code }))
            )
            .await,
            202
        );
        eventually(&format!("the result of scanning {code}"), || async {
            let state = self.state().await;
            let shown =
                state["version"].as_u64().unwrap() > version && state["last"]["intake"] == intake;
            shown.then(|| state["last"].clone())
        })
        .await
    }

    /// Scans `intake`'s label; returns the result shown for it.
    async fn scan_label(&self, intake: IntakeId) -> Value {
        // After something else, so that its result is told from an equal one before.
        if self.state().await["last"]["intake"] == intake.to_string() {
            self.scan("not.a.label", None).await;
        }
        self.scan(&intake.to_string(), Some(intake)).await
    }

    /// Makes the station save its hold clock now (every scan refreshes the hold list, which
    /// advances and saves it), and returns what it saved.
    async fn save_now(&self) -> Save {
        let before = saved(&self.dir);
        let not_before = Instant::now();
        self.scan("not.a.label", None).await;
        let counter = eventually("a save of the hold clock", || async {
            let now = saved(&self.dir);
            (now != before).then(|| now.unwrap().counter_ms)
        })
        .await;
        Save {
            counter,
            not_before,
            not_after: Instant::now(),
        }
    }

    /// The hold list's entry for `intake` once `shown` says it is the one wanted.
    async fn held(&self, intake: IntakeId, shown: impl Fn(&Value) -> bool) -> Value {
        eventually(&format!("{intake} on the hold list"), || async {
            let state = self.state().await;
            state["held"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h["intake"] == intake.to_string())
                .filter(|h| shown(h))
                .cloned()
        })
        .await
    }
}

/// Whether a hold list entry's end is on the day the wall clock `offset_secs` off gives now.
fn dated(offset_secs: i64) -> impl Fn(&Value) -> bool {
    move |held| {
        let machine = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let day = station::clock::local_date_text(records::Timestamp {
            unix_ms: machine.as_millis() as i64 + offset_secs * 1000,
            trusted: true,
        });
        held["until"].as_str().unwrap().starts_with(&day)
    }
}

/// The counter moved from `from` to `to` by no more than the real time between them.
fn assert_no_faster_than_real(from: Save, to: Save, what: &str) {
    let moved = to.counter - from.counter;
    let most = ms(to.not_after - from.not_before);
    assert!(
        moved <= most,
        "{what}: the counter moved {moved} ms in at most {most} ms"
    );
}

fn assert_refused(result: &Value, intake: IntakeId) {
    assert_eq!(result["ok"], false, "{result}");
    assert_eq!(result["intake"], intake.to_string(), "{result}");
    let said = result["message_pl"].as_str().unwrap();
    assert!(said.contains("Nie wydawaj wcześniej"), "{said}");
    assert!(
        result["message_en"]
            .as_str()
            .unwrap()
            .contains("Do not release")
    );
}

fn hold_events(dir: &Path) -> Vec<String> {
    store(dir)
        .events_after(0, 10_000)
        .unwrap()
        .iter()
        .filter_map(|e| match station::log_store::decode(e).unwrap().payload {
            Payload::HoldStarted { intake, hold_secs } => {
                Some(format!("{intake} held {hold_secs} s"))
            }
            Payload::HoldReleased { intake, early } => {
                Some(format!("{intake} released, early: {}", early.is_some()))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_clock_step_or_restart_on_a_wrong_clock_shortens_a_hold() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let registry_addr = prepare(dir);
    let registry = start_registry(dir, registry_addr).await;
    let mut mailroom = Mailroom {
        dir: dir.to_owned(),
        registry: registry_addr,
        client: reqwest::Client::new(),
        server: None,
        url: String::new(),
    };

    // (a) A short hold, then the wall clock jumps two days ahead: not released, time still left.
    mailroom.start(0, SHORT_HOLD_SECS).await;
    let short = label(1);
    let collected = mailroom.scan_label(short).await;
    assert_eq!(collected["ok"], true, "{collected}");
    // The hold started before its result was shown.
    let short_started = Instant::now();
    mailroom.set_clock(2 * DAY_SECS).await;
    let refused = mailroom.scan_label(short).await;
    assert_refused(&refused, short);
    assert!(
        refused["message_pl"]
            .as_str()
            .unwrap()
            .contains("liczy się czas, który na pewno minął"),
        "{refused}"
    );
    // The list as refreshed on the clock two days ahead.
    let ahead = mailroom.held(short, dated(2 * DAY_SECS)).await;
    assert_eq!(ahead["releasable"], false, "{ahead}");
    let left = ahead["remaining_secs"].as_u64().unwrap();
    assert!((1..=u64::from(SHORT_HOLD_SECS)).contains(&left), "{ahead}");

    // (b) Back to a day behind: still held, nothing cut; released once the real time passed.
    mailroom.set_clock(-DAY_SECS).await;
    let refused = mailroom.scan_label(short).await;
    assert_refused(&refused, short);
    let behind = mailroom.held(short, dated(-DAY_SECS)).await;
    assert_eq!(behind["releasable"], false, "{behind}");
    let left_behind = behind["remaining_secs"].as_u64().unwrap();
    assert!((1..=left).contains(&left_behind), "{behind}");
    assert!(
        short_started.elapsed() < Duration::from_secs(u64::from(SHORT_HOLD_SECS)),
        "the refusals came within the hold"
    );
    let over = short_started + Duration::from_millis(u64::from(SHORT_HOLD_SECS) * 1000 + 200);
    tokio::time::sleep_until(over.into()).await;
    let released = mailroom.scan_label(short).await;
    assert_eq!(released["ok"], true, "{released}");
    assert!(
        released["message_pl"]
            .as_str()
            .unwrap()
            .contains("Kwarantanna zakończona"),
        "{released}"
    );
    let last_of_first_run = mailroom.save_now().await;
    mailroom.stop().await;

    // A restart on the correct clock, the last save having been a day behind: the day is not
    // taken for downtime.
    let booted = mailroom.start(0, LONG_HOLD_SECS).await;
    assert!(
        booted.counter - last_of_first_run.counter < 2_000,
        "{booted:?} after {last_of_first_run:?}"
    );

    // A long hold, to outlast the restarts below.
    let long = label(2);
    let collected = mailroom.scan_label(long).await;
    assert_eq!(collected["ok"], true, "{collected}");
    let long_start = start_of(dir, long);
    let before_stop = mailroom.save_now().await;
    mailroom.stop().await;
    let stopped = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;

    // (c) Booting five days ahead: neither the five days nor the downtime are credited.
    let booted = mailroom.start(5 * DAY_SECS, LONG_HOLD_SECS).await;
    assert!(
        booted.counter - before_stop.counter < ms(booted.not_after - stopped),
        "nothing of the downtime: {booted:?} after {before_stop:?}"
    );
    assert!(booted.counter - before_stop.counter < 1_000, "{booted:?}");
    assert_eq!(start_of(dir, long), long_start);
    assert_refused(&mailroom.scan_label(long).await, long);
    let shown = mailroom.held(long, |_| true).await;
    assert_eq!(shown["releasable"], false, "{shown}");
    assert!(
        shown["remaining_secs"].as_u64().unwrap() > u64::from(LONG_HOLD_SECS) - 10,
        "{shown}"
    );
    // NTP sets the clock right before the next stop, so that run ends on a trusted reading.
    mailroom.set_clock(0).await;
    let before_stop = mailroom.save_now().await;
    mailroom.stop().await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // (c) Booting at 1970: nothing credited at the start; a hold started meanwhile; once the
    // clock is set, the downtime is credited to the hold from before and not to the new one.
    let machine_secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let booted = mailroom.start(3600 - machine_secs, LONG_HOLD_SECS).await;
    assert!(
        booted.counter - before_stop.counter < 1_000,
        "nothing at a start on an untrusted clock: {booted:?} after {before_stop:?}"
    );
    assert_refused(&mailroom.scan_label(long).await, long);
    let during = label(3);
    let during_asked = Instant::now();
    let collected = mailroom.scan_label(during).await;
    assert_eq!(collected["ok"], true, "{collected}");
    let deferred = mailroom.save_now().await;
    assert!(
        deferred.counter - before_stop.counter < ms(deferred.not_after - booted.not_before),
        "still nothing of the downtime: {deferred:?}"
    );
    mailroom.set_clock(0).await;
    let trusted = mailroom.save_now().await;
    // Now the counter has what really passed since the last save before the stop: the downtime
    // too, and no more.
    assert_no_faster_than_real(before_stop, trusted, "after the late credit");
    let real_since = ms(trusted.not_before - before_stop.not_after);
    assert!(
        trusted.counter - before_stop.counter >= real_since,
        "the downtime credited: {trusted:?} after {before_stop:?}, {real_since} ms at least"
    );
    // The hold started during the wait gets none of the downtime before it.
    let during_passed = trusted.counter - start_of(dir, during);
    assert!(
        during_passed <= ms(trusted.not_after - during_asked),
        "{during_passed} ms of a hold started {:?} ago",
        during_asked.elapsed()
    );
    assert_refused(&mailroom.scan_label(long).await, long);
    let before_stop = mailroom.save_now().await;
    mailroom.stop().await;
    let stopped = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;

    // (d) Booting on a correct clock after a real downtime: credited, no more than passed.
    let booted = mailroom.start(0, LONG_HOLD_SECS).await;
    assert_no_faster_than_real(before_stop, booted, "a start on a correct clock");
    assert!(
        booted.counter - before_stop.counter >= ms(booted.not_before - stopped),
        "the downtime credited: {booted:?} after {before_stop:?}"
    );
    // Every envelope held shows its countdown, by the hold clock (as the refresh that saved it
    // computed it).
    let counter = mailroom.save_now().await.counter;
    for intake in [long, during] {
        let passed = counter - start_of(dir, intake);
        let left = (u64::from(LONG_HOLD_SECS) * 1000 - passed).div_ceil(1000);
        let shown = mailroom
            .held(intake, |h| h["remaining_secs"].as_u64() == Some(left))
            .await;
        assert_eq!(shown["releasable"], false, "{shown}");
    }
    assert_refused(&mailroom.scan_label(long).await, long);
    mailroom.stop().await;

    assert_eq!(
        hold_events(dir),
        [
            format!("{short} held {SHORT_HOLD_SECS} s"),
            format!("{short} released, early: false"),
            format!("{long} held {LONG_HOLD_SECS} s"),
            format!("{during} held {LONG_HOLD_SECS} s"),
        ]
    );
    // The bookkeeping beside the events leaves them verifiable.
    let store = store(dir);
    let keys = store.recorded_keys().unwrap();
    store.verify(&keys, records::ChainTip::GENESIS).unwrap();
    registry.stop().await;
}
