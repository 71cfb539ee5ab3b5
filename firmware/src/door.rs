//! The service door: closed, open, open too long; a chattering reed switch is a fault, not a stream
//! of openings.

use crate::{Duration, Events, Instant};

/// The largest usable [`DoorConfig::chatter_limit`]; larger values are treated as this one.
pub const MAX_CHATTER_LIMIT: u8 = 15;

/// How the door is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoorConfig {
    /// An open door is reported as [`DoorEvent::OpenTooLong`] once it has been open this long.
    pub open_too_long: Duration,
    /// The window in which changes are counted for chatter; also how long the input must then stay
    /// quiet for the chatter to be over.
    pub chatter_window: Duration,
    /// More than this many changes within `chatter_window` is chatter. Clamped to
    /// `1..=`[`MAX_CHATTER_LIMIT`].
    pub chatter_limit: u8,
}

/// The door as last reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DoorState {
    /// Closed.
    Closed,
    /// Open, for less than the configured limit.
    Open,
    /// Open for longer than the configured limit.
    OpenTooLong,
}

/// What the door machine tells the station.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DoorEvent {
    /// The door opened (or was found open at start).
    Opened,
    /// The door closed (or was found closed at start).
    Closed,
    /// The door has been open for longer than [`DoorConfig::open_too_long`].
    OpenTooLong,
    /// Fault: more than the limit of changes within the window. `count` is the number of changes
    /// in the window. Openings and closings are not reported while the chatter lasts.
    Chatter {
        /// Changes seen within the window when the fault was raised.
        count: u32,
    },
    /// The chatter is over: the input has been quiet for a whole window. The settled state is
    /// reported right after this event if it differs from the last one reported.
    ChatterEnded {
        /// All changes seen from the start of the chatter to its end.
        count: u32,
    },
}

/// The door state machine. Feed it the debounced "door is open" level with
/// [`update`](Self::update), on every change and regularly in between (for the time limits).
#[derive(Debug, Clone)]
pub struct Door {
    config: DoorConfig,
    open: Option<bool>,
    changed_at: Instant,
    reported: Option<DoorState>,
    /// Times of the last `limit + 1` changes, oldest first (only the first `seen` are filled).
    recent: [Instant; MAX_CHATTER_LIMIT as usize + 1],
    seen: usize,
    chatter: Option<u32>,
    chatter_faults: u32,
}

impl Door {
    /// A door whose state is not known yet; the first [`update`](Self::update) reports it.
    pub fn new(config: DoorConfig) -> Self {
        Self {
            config,
            open: None,
            changed_at: Instant::default(),
            reported: None,
            recent: [Instant::default(); MAX_CHATTER_LIMIT as usize + 1],
            seen: 0,
            chatter: None,
            chatter_faults: 0,
        }
    }

    /// Takes the debounced level (`open`) at `now` and returns what changed.
    pub fn update(&mut self, open: bool, now: Instant) -> Events<DoorEvent> {
        let mut events = Events::new();
        match self.open {
            None => {
                self.open = Some(open);
                self.changed_at = now;
            }
            Some(was) if was != open => {
                self.open = Some(open);
                self.changed_at = now;
                if let Some(count) = &mut self.chatter {
                    *count = count.saturating_add(1);
                } else if let Some(count) = self.note_change(now) {
                    self.chatter = Some(count);
                    self.chatter_faults = self.chatter_faults.saturating_add(1);
                    events.push(DoorEvent::Chatter { count });
                }
            }
            Some(_) => {}
        }

        if let Some(count) = self.chatter {
            if now.saturating_since(self.changed_at) < self.config.chatter_window {
                return events;
            }
            self.chatter = None;
            self.seen = 0;
            events.push(DoorEvent::ChatterEnded { count });
        }

        if open {
            if !matches!(
                self.reported,
                Some(DoorState::Open | DoorState::OpenTooLong)
            ) {
                self.reported = Some(DoorState::Open);
                events.push(DoorEvent::Opened);
            }
            if self.reported == Some(DoorState::Open)
                && now.saturating_since(self.changed_at) >= self.config.open_too_long
            {
                self.reported = Some(DoorState::OpenTooLong);
                events.push(DoorEvent::OpenTooLong);
            }
        } else if self.reported != Some(DoorState::Closed) {
            self.reported = Some(DoorState::Closed);
            events.push(DoorEvent::Closed);
        }
        events
    }

    /// Records a change; returns the number of changes in the window if that is now chatter.
    fn note_change(&mut self, now: Instant) -> Option<u32> {
        let limit = self.config.chatter_limit.clamp(1, MAX_CHATTER_LIMIT);
        let keep = usize::from(limit) + 1;
        let ring = self.recent.get_mut(..keep)?;
        if self.seen < keep {
            *ring.get_mut(self.seen)? = now;
            self.seen += 1;
        } else {
            ring.rotate_left(1);
            *ring.last_mut()? = now;
        }
        let oldest = *ring.first()?;
        (self.seen == keep && now.saturating_since(oldest) < self.config.chatter_window)
            .then_some(u32::from(limit) + 1)
    }

    /// The state as last reported; `None` before the first update.
    pub fn state(&self) -> Option<DoorState> {
        self.reported
    }

    /// True while a chatter fault is raised.
    pub fn is_chattering(&self) -> bool {
        self.chatter.is_some()
    }

    /// How many chatter faults have been raised since start.
    pub fn chatter_faults(&self) -> u32 {
        self.chatter_faults
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: DoorConfig = DoorConfig {
        open_too_long: Duration::from_secs(60),
        chatter_window: Duration::from_secs(2),
        chatter_limit: 4,
    };

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn run(door: &mut Door, open: bool, ms: u64) -> Vec<DoorEvent> {
        door.update(open, t(ms)).collect()
    }

    extern crate std;
    use std::{vec, vec::Vec};

    #[test]
    fn start_open_then_too_long_then_closed() {
        let mut door = Door::new(CONFIG);
        assert_eq!(door.state(), None);
        assert_eq!(run(&mut door, true, 1_000), vec![DoorEvent::Opened]);
        assert_eq!(run(&mut door, true, 60_999), vec![]);
        assert_eq!(run(&mut door, true, 61_000), vec![DoorEvent::OpenTooLong]);
        assert_eq!(run(&mut door, true, 90_000), vec![]);
        assert_eq!(door.state(), Some(DoorState::OpenTooLong));
        assert_eq!(run(&mut door, false, 90_001), vec![DoorEvent::Closed]);
        assert_eq!(run(&mut door, true, 95_000), vec![DoorEvent::Opened]);
        assert_eq!(run(&mut door, false, 96_000), vec![DoorEvent::Closed]);
    }

    #[test]
    fn four_changes_in_window_are_fine_five_are_chatter() {
        let mut door = Door::new(CONFIG);
        assert_eq!(run(&mut door, false, 0), vec![DoorEvent::Closed]);
        assert_eq!(run(&mut door, true, 100), vec![DoorEvent::Opened]);
        assert_eq!(run(&mut door, false, 200), vec![DoorEvent::Closed]);
        assert_eq!(run(&mut door, true, 300), vec![DoorEvent::Opened]);
        assert_eq!(run(&mut door, false, 400), vec![DoorEvent::Closed]);
        assert!(!door.is_chattering());
        assert_eq!(
            run(&mut door, true, 500),
            vec![DoorEvent::Chatter { count: 5 }]
        );
        assert!(door.is_chattering());
        assert_eq!(run(&mut door, false, 600), vec![]);
        assert_eq!(run(&mut door, true, 700), vec![]);
        assert_eq!(run(&mut door, true, 2_699), vec![]);
        assert_eq!(
            run(&mut door, true, 2_700),
            vec![DoorEvent::ChatterEnded { count: 7 }, DoorEvent::Opened]
        );
        assert_eq!(door.chatter_faults(), 1);
        assert_eq!(door.state(), Some(DoorState::Open));
    }

    #[test]
    fn slow_changes_are_not_chatter() {
        let mut door = Door::new(CONFIG);
        let _ = run(&mut door, false, 0);
        for i in 1..50u64 {
            let events = run(&mut door, i % 2 == 1, i * 600);
            assert_eq!(events.len(), 1, "at change {i}");
        }
        assert_eq!(door.chatter_faults(), 0);
    }

    #[test]
    fn chatter_that_settles_where_it_began_reports_no_change() {
        let mut door = Door::new(DoorConfig {
            chatter_limit: 1,
            ..CONFIG
        });
        let _ = run(&mut door, false, 0);
        assert_eq!(run(&mut door, true, 10), vec![DoorEvent::Opened]);
        assert_eq!(
            run(&mut door, false, 20),
            vec![DoorEvent::Chatter { count: 2 }]
        );
        assert_eq!(
            run(&mut door, false, 2_020),
            vec![DoorEvent::ChatterEnded { count: 2 }, DoorEvent::Closed]
        );
    }
}
