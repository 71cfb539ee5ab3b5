//! Property tests over random edge timings: inputs are random sequences of (level, duration) steps,
//! sampled every millisecond, and each machine is checked against a plain model written from the
//! specification (runs of equal level), not from the code.

use std::cell::Cell;
use std::convert::Infallible;
use std::rc::Rc;

use embedded_hal::digital::{ErrorType, OutputPin, PinState};
use firmware::{
    Debounce, Door, DoorConfig, DoorEvent, Duration, Instant, Pattern, SafeOutput, SlotConfig,
    SlotCounter, SlotEvent,
};
use proptest::prelude::*;

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// One level per millisecond.
fn timeline(steps: &[(bool, u64)]) -> Vec<bool> {
    steps
        .iter()
        .flat_map(|&(level, len)| std::iter::repeat_n(level, len as usize))
        .collect()
}

/// Maximal runs of equal level: (level, start, length).
fn runs(samples: &[bool]) -> Vec<(bool, u64, u64)> {
    let mut out: Vec<(bool, u64, u64)> = Vec::new();
    for (i, &level) in samples.iter().enumerate() {
        match out.last_mut() {
            Some((l, _, len)) if *l == level => *len += 1,
            _ => out.push((level, i as u64, 1)),
        }
    }
    out
}

fn steps(max_len: u64) -> impl Strategy<Value = Vec<(bool, u64)>> {
    prop::collection::vec((any::<bool>(), 1..=max_len), 0..60)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The debouncer reports exactly the runs longer than the debounce time that differ from the last
    /// reported level, each once, `debounce` after the run began; and never a level that did not hold
    /// for the whole debounce time before the report.
    #[test]
    fn debouncer_reports_each_stable_change_once(
        initial in any::<bool>(),
        debounce in 0u64..=25,
        steps in steps(40),
    ) {
        let samples = timeline(&steps);
        let mut logic = Debounce::new(PinState::from(initial), ms(debounce));
        let mut reports = Vec::new();
        for (i, &level) in samples.iter().enumerate() {
            if let Some(new) = logic.update(PinState::from(level), t(i as u64)) {
                reports.push((i as u64, new == PinState::High));
            }
        }

        let mut expected = Vec::new();
        let mut stable = initial;
        for (level, start, len) in runs(&samples) {
            if level != stable && len > debounce {
                expected.push((start + debounce, level));
                stable = level;
            }
        }
        prop_assert_eq!(&reports, &expected);

        let mut previous = initial;
        for &(at, level) in &reports {
            prop_assert_ne!(level, previous, "a report must be a change");
            let from = (at - debounce) as usize;
            prop_assert!(
                samples[from..=at as usize].iter().all(|&s| s == level),
                "reported {} at {} without {} ms of stability", level, at, debounce
            );
            previous = level;
        }
    }

    /// The slot counter judges every break by its length alone: [min, max] is an envelope, shorter is
    /// noise, longer is a jam followed by its clearing; breaks 1 ms apart are still separate.
    #[test]
    fn slot_counter_matches_break_lengths(
        min in 1u64..=20,
        extra in 0u64..=30,
        mut steps in steps(60),
    ) {
        let max = min + extra;
        steps.push((false, 1)); // every break ends
        let samples = timeline(&steps);
        let mut slot = SlotCounter::new(SlotConfig { min_break: ms(min), max_break: ms(max) });
        let mut events = Vec::new();
        for (i, &broken) in samples.iter().enumerate() {
            events.extend(slot.update(broken, t(i as u64)));
        }

        let mut expected = Vec::new();
        for (broken, _, len) in runs(&samples) {
            if !broken {
                continue;
            }
            if len > max {
                expected.extend([SlotEvent::Jam, SlotEvent::JamCleared]);
            } else if len < min {
                expected.push(SlotEvent::Noise);
            } else {
                expected.push(SlotEvent::EnvelopePassed);
            }
        }
        prop_assert_eq!(&events, &expected);
        let count = |e: SlotEvent| expected.iter().filter(|&&x| x == e).count() as u32;
        prop_assert_eq!(slot.envelopes(), count(SlotEvent::EnvelopePassed));
        prop_assert_eq!(slot.noise(), count(SlotEvent::Noise));
        prop_assert_eq!(slot.jams(), count(SlotEvent::Jam));
        prop_assert!(!slot.is_jammed());
    }

    /// Beam -> debouncer -> counter: when every break and every gap outlasts the debounce time, the
    /// debouncer shifts both edges alike and the count is exactly that of the raw break lengths.
    #[test]
    fn debounced_slot_counts_properly_separated_breaks(
        debounce in 0u64..=8,
        min in 1u64..=20,
        extra in 0u64..=30,
        lens in prop::collection::vec(0u64..=60, 0..40),
    ) {
        let max = min + extra;
        // Alternate clear and broken runs, each longer than the debounce time.
        let mut steps: Vec<(bool, u64)> = lens
            .iter()
            .enumerate()
            .map(|(i, &len)| (i % 2 == 1, debounce + 1 + len))
            .collect();
        steps.push((false, debounce + 1));
        let samples = timeline(&steps);
        let mut beam = Debounce::new(PinState::Low, ms(debounce));
        let mut slot = SlotCounter::new(SlotConfig { min_break: ms(min), max_break: ms(max) });
        for (i, &broken) in samples.iter().enumerate() {
            let _ = beam.update(PinState::from(broken), t(i as u64));
            let _ = slot.update(beam.level() == PinState::High, t(i as u64)).count();
        }
        let breaks: Vec<u64> = runs(&samples).into_iter().filter(|r| r.0).map(|r| r.2).collect();
        let in_range = breaks.iter().filter(|&&l| (min..=max).contains(&l)).count() as u32;
        prop_assert_eq!(slot.envelopes(), in_range);
        prop_assert_eq!(slot.noise(), breaks.iter().filter(|&&l| l < min).count() as u32);
        prop_assert_eq!(slot.jams(), breaks.iter().filter(|&&l| l > max).count() as u32);
    }

    /// Whatever the caller does, after any poll the output is away from its safe level only if it was
    /// set there and kept alive (set or refreshed) less than `max_duration` ago; and it follows the
    /// specified deadline exactly.
    #[test]
    fn safe_output_always_goes_safe_after_deadline(
        safe_high in any::<bool>(),
        max in 1u64..=50,
        ops in prop::collection::vec(op(), 0..80),
    ) {
        let safe = PinState::from(safe_high);
        let pin = FakePin::default();
        let seen = pin.level.clone();
        let mut out = SafeOutput::new(pin, safe, ms(max)).unwrap();
        prop_assert_eq!(seen.get(), Some(safe));

        let mut now = 0u64;
        let mut model_level = safe;
        let mut model_deadline: Option<u64> = None;
        let mut last_keepalive: Option<u64> = None;
        for op in ops {
            match op {
                Op::Wait(d) => now += d,
                Op::Set(high) => {
                    let level = PinState::from(high);
                    out.set(level, t(now)).unwrap();
                    model_level = level;
                    model_deadline = (level != safe).then_some(now + max);
                    last_keepalive = Some(now);
                }
                Op::Refresh => {
                    let alive = model_deadline.is_some_and(|d| now < d);
                    prop_assert_eq!(out.refresh(t(now)), alive);
                    if alive {
                        model_deadline = Some(now + max);
                        last_keepalive = Some(now);
                    }
                }
                Op::Poll => {
                    let due = model_deadline.is_some_and(|d| now >= d);
                    prop_assert_eq!(out.poll(t(now)), Ok(due));
                    if due {
                        model_level = safe;
                        model_deadline = None;
                    }
                    let level = seen.get();
                    if level != Some(safe) {
                        prop_assert!(
                            last_keepalive.is_some_and(|k| now < k + max),
                            "still unsafe at {} with max {}", now, max
                        );
                    }
                }
            }
            prop_assert_eq!(seen.get(), Some(model_level));
        }
        // Whatever state it was left in, a poll past every deadline makes it safe.
        let _ = out.poll(t(now + max)).unwrap();
        prop_assert_eq!(seen.get(), Some(safe));
    }

    /// Door events are well formed whatever the reed switch does: openings and closings alternate,
    /// "open too long" only follows an opening, chatter faults open and close in pairs with nothing
    /// reported in between, a fault is raised only on more than `limit` changes within the window and
    /// ends only after a quiet window; with no chatter window, every run is reported.
    #[test]
    fn door_events_are_well_formed(
        window in 0u64..=200,
        limit in 1u8..=6,
        too_long in 1u64..=100,
        steps in steps(60),
    ) {
        let samples = timeline(&steps);
        let config = DoorConfig {
            open_too_long: ms(too_long),
            chatter_window: ms(window),
            chatter_limit: limit,
        };
        let mut door = Door::new(config);
        let mut timed = Vec::new();
        for (i, &open) in samples.iter().enumerate() {
            timed.extend(door.update(open, t(i as u64)).map(|e| (i as u64, e)));
        }
        let changes: Vec<u64> = (1..samples.len())
            .filter(|&i| samples[i] != samples[i - 1])
            .map(|i| i as u64)
            .collect();
        let changes_in_window = |at: u64| {
            changes.iter().filter(|&&c| c <= at && c + window > at).count() as u32
        };
        for &(at, e) in &timed {
            match e {
                DoorEvent::Chatter { .. } => prop_assert!(changes_in_window(at) > u32::from(limit)),
                DoorEvent::ChatterEnded { .. } => prop_assert_eq!(changes_in_window(at), 0),
                _ => {}
            }
        }
        let events: Vec<DoorEvent> = timed.into_iter().map(|(_, e)| e).collect();

        let mut open: Option<bool> = None;
        let mut too_long_seen = false;
        let mut chattering = false;
        for &e in &events {
            match e {
                DoorEvent::Opened | DoorEvent::Closed | DoorEvent::OpenTooLong => {
                    prop_assert!(!chattering, "{:?} reported during chatter", e);
                }
                _ => {}
            }
            match e {
                DoorEvent::Opened => {
                    prop_assert_ne!(open, Some(true));
                    open = Some(true);
                    too_long_seen = false;
                }
                DoorEvent::Closed => {
                    prop_assert_ne!(open, Some(false));
                    open = Some(false);
                }
                DoorEvent::OpenTooLong => {
                    prop_assert_eq!(open, Some(true));
                    prop_assert!(!too_long_seen);
                    too_long_seen = true;
                }
                DoorEvent::Chatter { count } => {
                    prop_assert!(!chattering);
                    prop_assert_eq!(count, u32::from(limit) + 1);
                    chattering = true;
                }
                DoorEvent::ChatterEnded { count } => {
                    prop_assert!(chattering);
                    prop_assert!(count > u32::from(limit));
                    chattering = false;
                }
            }
        }
        if window == 0 {
            let expected: Vec<DoorEvent> = runs(&samples)
                .into_iter()
                .flat_map(|(open, _, len)| {
                    if !open {
                        vec![DoorEvent::Closed]
                    } else if len > too_long {
                        vec![DoorEvent::Opened, DoorEvent::OpenTooLong]
                    } else {
                        vec![DoorEvent::Opened]
                    }
                })
                .collect();
            prop_assert_eq!(events, expected);
        }
    }

    /// Blinking patterns repeat with their period and are on half the time.
    #[test]
    fn blink_patterns_are_periodic(at in 0u64..1_000_000) {
        prop_assert_eq!(Pattern::SlowBlink.level(ms(at)), Pattern::SlowBlink.level(ms(at + 1_000)));
        prop_assert_eq!(Pattern::FastBlink.level(ms(at)), Pattern::FastBlink.level(ms(at + 250)));
        prop_assert_ne!(Pattern::SlowBlink.level(ms(at)), Pattern::SlowBlink.level(ms(at + 500)));
        prop_assert_ne!(Pattern::FastBlink.level(ms(at)), Pattern::FastBlink.level(ms(at + 125)));
        prop_assert_eq!(Pattern::Off.level(ms(at)), PinState::Low);
        prop_assert_eq!(Pattern::On.level(ms(at)), PinState::High);
    }
}

#[derive(Debug, Clone)]
enum Op {
    Set(bool),
    Refresh,
    Poll,
    Wait(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<bool>().prop_map(Op::Set),
        Just(Op::Refresh),
        Just(Op::Poll),
        (0u64..=40).prop_map(Op::Wait),
    ]
}

/// An output pin that only remembers the last level it was driven to.
#[derive(Debug, Default)]
struct FakePin {
    level: Rc<Cell<Option<PinState>>>,
}

impl ErrorType for FakePin {
    type Error = Infallible;
}

impl OutputPin for FakePin {
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.level.set(Some(PinState::Low));
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        self.level.set(Some(PinState::High));
        Ok(())
    }
}
