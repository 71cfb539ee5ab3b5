//! The pin-owning parts against embedded-hal-mock pins: each test writes out, by hand, every read and
//! every level the code must drive, in order, and `.done()` checks that nothing was left over.

use embedded_hal::digital::PinState;
use embedded_hal_mock::eh1::MockError;
use embedded_hal_mock::eh1::digital::{Mock, State, Transaction};
use firmware::{
    Debouncer, Door, DoorConfig, DoorEvent, Duration, Error, Instant, Pattern, SafeOutput,
    SlotConfig, SlotCounter, SlotEvent,
};
use std::io::ErrorKind;

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

#[test]
fn debouncer_reports_initial_level_then_only_stable_changes() {
    let reed = Mock::new(&[
        Transaction::get(State::Low),  // t=0: first read, reported
        Transaction::get(State::High), // t=1: edge
        Transaction::get(State::Low),  // t=5: bounce back
        Transaction::get(State::High), // t=10: edge again
        Transaction::get(State::High), // t=29: 19 ms stable
        Transaction::get(State::High), // t=30: 20 ms stable: reported
        Transaction::get(State::High), // t=31: nothing new
    ]);
    let mut input = Debouncer::new(reed, ms(20));
    assert_eq!(input.level(), None);
    assert_eq!(input.poll(t(0)), Ok(Some(PinState::Low)));
    assert_eq!(input.poll(t(1)), Ok(None));
    assert_eq!(input.settles_at(), Some(t(21)));
    assert_eq!(input.poll(t(5)), Ok(None));
    assert_eq!(input.settles_at(), None);
    assert_eq!(input.poll(t(10)), Ok(None));
    assert_eq!(input.poll(t(29)), Ok(None));
    assert_eq!(input.poll(t(30)), Ok(Some(PinState::High)));
    assert_eq!(input.poll(t(31)), Ok(None));
    assert_eq!(input.level(), Some(PinState::High));
    input.release().done();
}

#[test]
fn debouncer_returns_pin_error_and_keeps_its_state() {
    let err = MockError::Io(ErrorKind::BrokenPipe);
    let pin = Mock::new(&[
        Transaction::get(State::High),
        Transaction::get(State::Low),
        Transaction::get(State::Low).with_error(err.clone()),
        Transaction::get(State::Low),
    ]);
    let mut input = Debouncer::new(pin, ms(10));
    assert_eq!(input.poll(t(0)), Ok(Some(PinState::High)));
    assert_eq!(input.poll(t(100)), Ok(None));
    assert_eq!(input.poll(t(105)), Err(Error::Pin(err)));
    assert_eq!(input.poll(t(110)), Ok(Some(PinState::Low)));
    input.release().done();
}

#[test]
fn debouncer_first_read_failing_reports_nothing() {
    let err = MockError::Io(ErrorKind::NotConnected);
    let pin = Mock::new(&[
        Transaction::get(State::Low).with_error(err.clone()),
        Transaction::get(State::Low),
    ]);
    let mut input = Debouncer::new(pin, ms(10));
    assert_eq!(input.poll(t(0)), Err(Error::Pin(err)));
    assert_eq!(input.level(), None);
    assert_eq!(input.poll(t(1)), Ok(Some(PinState::Low)));
    input.release().done();
}

#[test]
fn lamp_falls_back_to_off_when_not_refreshed() {
    let lamp = Mock::new(&[
        Transaction::set(State::Low),  // new: safe level
        Transaction::set(State::High), // set on at t=0
        Transaction::set(State::Low),  // poll at t=900: deadline 400 + 500 passed
    ]);
    let mut lamp = SafeOutput::new(lamp, PinState::Low, ms(500)).unwrap();
    assert!(lamp.is_safe());
    assert_eq!(lamp.deadline(), None);
    lamp.set(PinState::High, t(0)).unwrap();
    assert_eq!(lamp.deadline(), Some(t(500)));
    assert!(lamp.refresh(t(400)));
    assert_eq!(lamp.poll(t(899)), Ok(false));
    assert_eq!(lamp.poll(t(900)), Ok(true));
    assert!(lamp.is_safe());
    assert!(
        !lamp.refresh(t(950)),
        "a late refresh must not revive the lamp"
    );
    assert_eq!(lamp.poll(t(5_000)), Ok(false));
    assert_eq!(lamp.fallbacks(), 1);
    lamp.release().done();
}

#[test]
fn refresh_after_the_deadline_but_before_poll_does_not_revive() {
    let lamp = Mock::new(&[
        Transaction::set(State::Low),
        Transaction::set(State::High),
        Transaction::set(State::Low),
    ]);
    let mut lamp = SafeOutput::new(lamp, PinState::Low, ms(100)).unwrap();
    lamp.set(PinState::High, t(0)).unwrap();
    assert!(!lamp.refresh(t(100)));
    assert_eq!(lamp.poll(t(101)), Ok(true));
    lamp.release().done();
}

#[test]
fn lock_wired_locked_high_locks_again_after_deadline() {
    // A lock whose driver locks when its input is high: safe = High.
    let lock = Mock::new(&[
        Transaction::set(State::High), // new: locked
        Transaction::set(State::Low),  // staff unlock at t=0 for at most 3 s
        Transaction::set(State::High), // poll at 3 s: locked again
        Transaction::set(State::High), // explicit lock: safe, no deadline
    ]);
    let mut lock = SafeOutput::new(lock, PinState::High, Duration::from_secs(3)).unwrap();
    lock.set(PinState::Low, t(0)).unwrap();
    assert!(!lock.is_safe());
    assert_eq!(lock.poll(t(2_999)), Ok(false));
    assert_eq!(lock.poll(t(3_000)), Ok(true));
    assert_eq!(lock.level(), PinState::High);
    lock.set(PinState::High, t(4_000)).unwrap();
    assert_eq!(lock.deadline(), None);
    assert_eq!(lock.poll(t(100_000)), Ok(false));
    lock.release().done();
}

#[test]
fn failed_fallback_is_retried_on_next_poll() {
    let err = MockError::Io(ErrorKind::Other);
    let lamp = Mock::new(&[
        Transaction::set(State::Low),
        Transaction::set(State::High),
        Transaction::set(State::Low).with_error(err.clone()),
        Transaction::set(State::Low),
    ]);
    let mut lamp = SafeOutput::new(lamp, PinState::Low, ms(50)).unwrap();
    lamp.set(PinState::High, t(0)).unwrap();
    assert_eq!(lamp.poll(t(50)), Err(Error::Pin(err)));
    assert!(!lamp.is_safe());
    assert_eq!(lamp.poll(t(51)), Ok(true));
    assert!(lamp.is_safe());
    lamp.release().done();
}

#[test]
fn failed_set_keeps_previous_level_and_deadline() {
    let err = MockError::Io(ErrorKind::Other);
    let lamp = Mock::new(&[
        Transaction::set(State::Low),
        Transaction::set(State::High).with_error(err.clone()),
    ]);
    let mut lamp = SafeOutput::new(lamp, PinState::Low, ms(50)).unwrap();
    assert_eq!(lamp.set(PinState::High, t(0)), Err(Error::Pin(err)));
    assert!(lamp.is_safe());
    assert_eq!(lamp.deadline(), None);
    lamp.release().done();
}

#[test]
fn fast_blink_through_a_safe_output() {
    // 125 ms on, 125 ms off, sampled at every quarter period.
    let lamp = Mock::new(&[
        Transaction::set(State::Low),
        Transaction::set(State::High), // 0
        Transaction::set(State::Low),  // 125
        Transaction::set(State::High), // 250
        Transaction::set(State::Low),  // 375
        Transaction::set(State::High), // 500
    ]);
    let mut lamp = SafeOutput::new(lamp, PinState::Low, ms(300)).unwrap();
    for now in [0, 125, 250, 375, 500] {
        lamp.set(Pattern::FastBlink.level(ms(now)), t(now)).unwrap();
        assert_eq!(lamp.poll(t(now)), Ok(false));
    }
    lamp.release().done();
}

#[test]
fn beep_pattern_levels() {
    let buzzer = Mock::new(&[
        Transaction::set(State::Low),
        Transaction::set(State::High), // 0
        Transaction::set(State::Low),  // 100
        Transaction::set(State::High), // 200
        Transaction::set(State::Low),  // 300
        Transaction::set(State::Low),  // 400
    ]);
    let mut buzzer = SafeOutput::new(buzzer, PinState::Low, ms(1_000)).unwrap();
    for now in [0, 100, 200, 300, 400] {
        buzzer.set(Pattern::Beep.level(ms(now)), t(now)).unwrap();
    }
    assert!(Pattern::Beep.is_done(ms(400)));
    buzzer.release().done();
}

#[test]
fn door_reed_through_debouncer_into_door() {
    // Reed switch: low = closed. Read every 10 ms; debounce 20 ms.
    let reads = [
        (0, State::Low),       // start: closed
        (10, State::High),     // door opens, with a bounce:
        (20, State::Low),      //
        (30, State::High),     //
        (40, State::High),     //
        (50, State::High),     // 20 ms stable: opened
        (60_050, State::High), // open a minute: too long
        (70_000, State::Low),
        (70_020, State::Low), // closed
    ];
    let expected: Vec<Transaction> = reads.iter().map(|&(_, s)| Transaction::get(s)).collect();
    let mut input = Debouncer::new(Mock::new(&expected), ms(20));
    let mut door = Door::new(DoorConfig {
        open_too_long: Duration::from_secs(60),
        chatter_window: Duration::from_secs(2),
        chatter_limit: 6,
    });
    let mut events = Vec::new();
    for (now, _) in reads {
        input.poll(t(now)).unwrap();
        let open = input.level() == Some(PinState::High);
        events.extend(door.update(open, t(now)).map(|e| (now, e)));
    }
    assert_eq!(
        events,
        [
            (0, DoorEvent::Closed),
            (50, DoorEvent::Opened),
            (60_050, DoorEvent::OpenTooLong),
            (70_020, DoorEvent::Closed),
        ]
    );
    input.release().done();
}

#[test]
fn slot_beam_through_debouncer_into_counter() {
    // Beam: high = broken. Read every 2 ms, debounce 4 ms, envelopes 10 ms..1 s.
    let mut levels = Vec::new();
    levels.extend([State::Low; 5]);
    levels.extend([State::High; 10]); // 20 ms break: an envelope
    levels.extend([State::Low; 3]); // 6 ms gap
    levels.extend([State::High; 10]); // another envelope, close behind
    levels.extend([State::Low; 5]);
    levels.extend([State::High; 3]); // 6 ms: noise
    levels.extend([State::Low; 5]);
    levels.extend([State::High]); // 2 ms: swallowed by the debouncer
    levels.extend([State::Low; 5]);
    let expected: Vec<Transaction> = levels.iter().map(|&s| Transaction::get(s)).collect();
    let mut beam = Debouncer::new(Mock::new(&expected), ms(4));
    let mut slot = SlotCounter::new(SlotConfig {
        min_break: ms(10),
        max_break: ms(1_000),
    });
    let mut events = Vec::new();
    for i in 0..levels.len() as u64 {
        let now = t(i * 2);
        beam.poll(now).unwrap();
        events.extend(slot.update(beam.level() == Some(PinState::High), now));
    }
    assert_eq!(
        events,
        [
            SlotEvent::EnvelopePassed,
            SlotEvent::EnvelopePassed,
            SlotEvent::Noise
        ]
    );
    assert_eq!((slot.envelopes(), slot.noise(), slot.jams()), (2, 1, 0));
    beam.release().done();
}
