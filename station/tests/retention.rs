//! Retention of the station's log on real SQLite files: what pruning removes and keeps, the
//! anchor the rest verifies from, and numbering after it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use proptest::prelude::*;
use records::{ChainTip, IntakeId, Payload, Problem, Timestamp};
use station::retention::{DAY_MS, prunable_through};
use station::{CustodyLog, Entry, Error, LogStore};

fn day(d: i64) -> Timestamp {
    at(d * DAY_MS)
}

/// What happens in a test log, one step at a time.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// A kiosk deposit: deposit, receipt printed, drop seen.
    Deposit,
    /// The urn collected.
    Collect,
    /// A hold started on the n-th intake so far (modulo their number).
    Hold(usize),
    /// That intake's hold released.
    Release(usize),
    /// A door opened: an event about no intake.
    Door,
}

/// Appends `steps`, the i-th on day `days[i]`, in one transaction; returns the intakes issued.
fn append(log: &mut CustodyLog, steps: &[(Step, i64)], first_number: u64) -> Vec<IntakeId> {
    let mut entries: Vec<(Timestamp, Entry)> = Vec::new();
    let mut intakes: Vec<IntakeId> = Vec::new();
    for &(step, d) in steps {
        let when = day(d);
        let pick = |intakes: &[IntakeId], n: usize| {
            (!intakes.is_empty()).then(|| intakes[n % intakes.len()])
        };
        match step {
            Step::Deposit => {
                let id = IntakeId::new(station(), first_number + intakes.len() as u64).unwrap();
                intakes.push(id);
                entries.push((
                    when,
                    Entry::NewIntake(Box::new(move |id| deposit(id, when))),
                ));
                entries.push((
                    when,
                    Entry::Payload(Payload::LabelPrinted {
                        intake: id,
                        label: records::LabelKind::Receipt,
                    }),
                ));
                entries.push((when, Entry::Payload(Payload::DropSeen { intake: id })));
            }
            Step::Collect => entries.push((when, Entry::Payload(collection()))),
            Step::Hold(n) => {
                if let Some(intake) = pick(&intakes, n) {
                    entries.push((
                        when,
                        Entry::Payload(Payload::HoldStarted {
                            intake,
                            hold_secs: 86_400,
                        }),
                    ));
                }
            }
            Step::Release(n) => {
                if let Some(intake) = pick(&intakes, n) {
                    entries.push((
                        when,
                        Entry::Payload(Payload::HoldReleased {
                            intake,
                            early: None,
                        }),
                    ));
                }
            }
            Step::Door => entries.push((when, Entry::Payload(Payload::DoorOpened))),
        }
    }
    let appended = log.append_all(entries).unwrap();
    // The ids the steps named are the ids the log issued.
    let issued: Vec<IntakeId> = appended
        .iter()
        .filter_map(|a| match &a.event.payload {
            Payload::Deposit(i) => Some(i.id),
            _ => None,
        })
        .collect();
    assert_eq!(issued, intakes);
    intakes
}

fn collection() -> Payload {
    Payload::UrnCollected {
        seal: text("S1"),
        envelopes: 1,
        first_staff: text("B-1"),
        second_staff: text("B-2"),
    }
}

fn seqs(store: &LogStore) -> Vec<u64> {
    store
        .events_after(0, usize::MAX >> 1)
        .unwrap()
        .iter()
        .map(|e| e.signed.seq)
        .collect()
}

/// Forty days of deposits, a collection on day 30, a hold started on day 2 and never released.
fn scenario(log: &mut CustodyLog) -> Vec<IntakeId> {
    let mut steps = Vec::new();
    for d in 0..40 {
        steps.push((Step::Deposit, d));
        if d == 2 {
            steps.push((Step::Hold(1), d));
        }
        if d == 30 {
            steps.push((Step::Collect, d));
        }
    }
    append(log, &steps, 1)
}

#[test]
fn pruning_keeps_the_unacknowledged_the_held_and_the_uncollected_urn() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let mut log = CustodyLog::open(&path, station(), key()).unwrap();
    let intakes = scenario(&mut log);
    let tip = log.tip().seq;
    let now = day(100).unix_ms;

    // Nothing acknowledged: nothing goes, however old.
    assert_eq!(log.prune(now, 7).unwrap().removed, 0);
    assert_eq!(seqs(log.store()).len() as u64, tip);

    // Everything acknowledged: the held intake (day 1, seq 4..6 and its hold at 10) and
    // everything after it stays, so only day 0's deposit goes.
    log.set_acknowledged(tip).unwrap();
    let pruned = log.prune(now, 7).unwrap();
    assert_eq!(pruned.removed, 3);
    assert_eq!(pruned.anchor.unwrap().seq, 3);
    assert_eq!(log.store().open_holds().unwrap()[0].0, intakes[1]);
    assert!(
        log.store()
            .events_for_intake(&intakes[0])
            .unwrap()
            .is_empty()
    );
    assert_eq!(log.store().events_for_intake(&intakes[1]).unwrap().len(), 4);

    // Released, but not yet acknowledged: the intake's events stay together, so everything
    // from its first event on stays.
    log.append(
        day(41),
        Payload::HoldReleased {
            intake: intakes[1],
            early: None,
        },
    )
    .unwrap();
    assert_eq!(log.prune(now, 7).unwrap().removed, 0);
    // Acknowledged, with the urn collected again: everything before that collection goes.
    let collected = log.append(day(41), collection()).unwrap().seq();
    log.append(day(41), Payload::DoorClosed).unwrap();
    log.set_acknowledged(log.tip().seq).unwrap();
    let fill_before = log.store().urn_fill_events().unwrap();
    let pruned = log.prune(now, 7).unwrap();
    assert_eq!(pruned.anchor.unwrap().seq, collected - 1);
    assert_eq!(pruned.removed, collected - 1 - 3);
    assert_eq!(log.store().urn_fill_events().unwrap(), fill_before);
    assert!(log.store().open_holds().unwrap().is_empty());

    // Recent events stay, acknowledged or not.
    let recent = log.prune(day(41).unix_ms, 30).unwrap();
    assert_eq!(recent.removed, 0);
}

#[test]
fn after_pruning_the_station_restarts_verifies_and_numbers_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let (tip, anchor) = {
        let mut log = CustodyLog::open(&path, station(), key()).unwrap();
        let mut steps: Vec<(Step, i64)> = (0..50).map(|d| (Step::Deposit, d)).collect();
        steps.push((Step::Collect, 50));
        steps.push((Step::Door, 50));
        append(&mut log, &steps, 1);
        log.set_acknowledged(log.tip().seq).unwrap();
        let pruned = log.prune(day(200).unix_ms, 30).unwrap();
        // Every deposit before the collection went.
        assert_eq!(pruned.removed, 150);
        (log.tip(), pruned.anchor.unwrap())
    };
    // With the checkpoint, and without it (verification from the anchor).
    for with_checkpoint in [true, false] {
        if !with_checkpoint {
            std::fs::remove_file(station::checkpoint::path_for(&path)).unwrap();
        }
        let log = CustodyLog::open(&path, station(), key()).unwrap();
        assert_eq!(log.tip(), tip);
        drop(log);
    }
    let store = LogStore::open_existing(&path).unwrap();
    assert_eq!(store.anchor().unwrap(), Some(anchor));
    let keys = store.recorded_keys().unwrap();
    assert_eq!(store.verify(&keys, ChainTip::GENESIS).unwrap(), tip);
    // The outbox starts after the anchor.
    assert_eq!(
        store.events_after(0, 1).unwrap()[0].signed.seq,
        anchor.seq + 1
    );
    drop(store);

    let mut log = CustodyLog::open(&path, station(), key()).unwrap();
    let next = log
        .append_intake(day(201), |id| deposit(id, day(201)))
        .unwrap();
    assert_eq!(next.seq(), tip.seq + 1);
    assert_eq!(next.event.payload.intake().unwrap().number(), 51);
}

/// A log at `path` of two letters and a collection, all acknowledged and pruned but the last event.
fn two_letters_pruned(path: &std::path::Path) -> CustodyLog {
    let mut log = CustodyLog::open(path, station(), key()).unwrap();
    let steps = [
        (Step::Deposit, 0),
        (Step::Deposit, 1),
        (Step::Collect, 2),
        (Step::Door, 2),
    ];
    append(&mut log, &steps, 1);
    log.set_acknowledged(log.tip().seq).unwrap();
    assert_eq!(log.prune(day(100).unix_ms, 7).unwrap().removed, 6);
    log
}

#[test]
fn numbering_never_repeats_even_when_every_deposit_was_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let mut log = two_letters_pruned(&path);
    let next = log
        .append_intake(day(100), |id| deposit(id, day(100)))
        .unwrap();
    assert_eq!(next.event.payload.intake().unwrap().number(), 3);
}

#[test]
fn a_log_whose_anchor_does_not_match_the_next_event_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    drop(two_letters_pruned(&path));
    let conn = rusqlite::Connection::open(&path).unwrap();
    let set = |key: &str, value: String| {
        conn.execute("UPDATE meta SET value = ?2 WHERE key = ?1", [key, &value])
            .unwrap();
    };
    let problem = |e: Error| match e {
        Error::Chain { fault, .. } => fault.problem,
        other => panic!("expected a chain fault, got {other}"),
    };
    set("anchor_hash", records::Hash([9; 32]).to_string());
    let refused = CustodyLog::open(&path, station(), key()).unwrap_err();
    assert!(matches!(problem(refused), Problem::WrongPrevHash));
    let store = LogStore::open_existing(&path).unwrap();
    let keys = store.recorded_keys().unwrap();
    assert!(matches!(
        problem(store.verify(&keys, ChainTip::GENESIS).unwrap_err()),
        Problem::WrongPrevHash
    ));
    drop(store);

    set("anchor_seq", "5".into());
    let refused = CustodyLog::open(&path, station(), key()).unwrap_err();
    assert!(matches!(
        problem(refused),
        Problem::Gap {
            expected: 6,
            found: 7
        }
    ));
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => Just(Step::Deposit),
        1 => Just(Step::Collect),
        2 => (0..50usize).prop_map(Step::Hold),
        2 => (0..50usize).prop_map(Step::Release),
        1 => Just(Step::Door),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever was acknowledged, held or collected, pruning removes only old acknowledged
    /// events nobody needs: the outbox, open holds, the urn's count and each remaining intake's
    /// history are what they were, and the log still verifies.
    #[test]
    fn pruning_never_removes_a_needed_event(
        steps in prop::collection::vec((step(), 0..3i64), 1..80),
        ack_fraction in 0.0..=1.0f64,
        later in 0..120i64,
        keep_days in 7..60u32,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.db");
        let mut log = CustodyLog::open(&path, station(), key()).unwrap();
        // Days that never go back.
        let mut d = 0;
        // A first deposit, so that the log is never empty.
        let steps: Vec<(Step, i64)> = std::iter::once((Step::Deposit, 0))
            .chain(steps).map(|(s, gap)| { d += gap; (s, d) }).collect();
        let intakes = append(&mut log, &steps, 1);
        let tip = log.tip();
        let ack = (tip.seq as f64 * ack_fraction) as u64;
        log.set_acknowledged(ack).unwrap();
        let now = day(d + later).unix_ms;
        let cutoff = now - i64::from(keep_days) * DAY_MS;

        let store = log.store();
        let before = store.events_after(0, 1 << 20).unwrap();
        let holds = store.open_holds().unwrap();
        let fill = store.urn_fill_events().unwrap();
        let histories: Vec<_> = intakes.iter().map(|i| store.events_for_intake(i).unwrap()).collect();
        let planned = prunable_through(store, ack, tip.seq, cutoff).unwrap();

        let pruned = log.prune(now, keep_days).unwrap();
        prop_assert_eq!(pruned.removed, planned);
        let store = log.store();
        let after = store.events_after(0, 1 << 20).unwrap();
        // A prefix went, all of it acknowledged and old.
        prop_assert_eq!(before.len() - after.len(), pruned.removed as usize);
        prop_assert!(pruned.removed <= ack);
        for gone in &before[..pruned.removed as usize] {
            let event = station::log_store::decode(gone).unwrap();
            prop_assert!(event.recorded_at.unix_ms < cutoff);
        }
        prop_assert_eq!(after.last().map(|e| e.signed.seq), Some(tip.seq));
        // What the station works from is unchanged.
        prop_assert_eq!(store.open_holds().unwrap(), holds.clone());
        prop_assert_eq!(store.urn_fill_events().unwrap(), fill);
        for (intake, history) in intakes.iter().zip(&histories) {
            let now_kept = store.events_for_intake(intake).unwrap();
            prop_assert!(now_kept.is_empty() || now_kept == *history, "{intake}: history split");
            if holds.iter().any(|(held, ..)| held == intake) {
                prop_assert_eq!(&now_kept, history);
            }
        }
        let keys = store.recorded_keys().unwrap();
        prop_assert_eq!(store.verify(&keys, ChainTip::GENESIS).unwrap(), tip);
        drop(log);
        let mut log = CustodyLog::open(&path, station(), key()).unwrap();
        let next = log.append_intake(day(d + later), move |id| deposit(id, day(d + later))).unwrap();
        prop_assert_eq!(next.event.payload.intake().unwrap().number(), intakes.len() as u64 + 1);
    }
}
