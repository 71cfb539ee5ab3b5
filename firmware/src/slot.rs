//! Counting envelopes on the slot's IR beam: a break of the right length is an envelope, a short one
//! is noise, a long one is a jam.

use crate::{Duration, Events, Instant};

/// How beam breaks are judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotConfig {
    /// A break shorter than this is noise (a fly, a flicker), counted but not an envelope.
    pub min_break: Duration,
    /// A break longer than this is a jam (an envelope stuck in the slot, a hand, tape over the beam).
    pub max_break: Duration,
}

/// What the slot counter tells the station.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlotEvent {
    /// One envelope fell through: a break of `min_break..=max_break`.
    EnvelopePassed,
    /// The beam has been broken for longer than `max_break`.
    Jam,
    /// The beam is clear again after a jam. The jammed break is not counted as an envelope.
    JamCleared,
    /// A break shorter than `min_break` ended; ignored, counted in [`SlotCounter::noise`].
    Noise,
}

/// The slot envelope counter. Feed it the (lightly debounced) "beam is broken" level with
/// [`update`](Self::update), on every change and regularly in between (for jam detection).
///
/// Each break is judged on its own, so two envelopes falling close together are two envelopes as long
/// as the beam is seen clear between them; a debouncer in front merges gaps shorter than its own
/// debounce time, so keep that time well below the shortest real gap.
#[derive(Debug, Clone)]
pub struct SlotCounter {
    config: SlotConfig,
    broken_since: Option<Instant>,
    jammed: bool,
    envelopes: u32,
    noise: u32,
    jams: u32,
}

impl SlotCounter {
    /// A counter that starts with the beam taken as clear.
    pub const fn new(config: SlotConfig) -> Self {
        Self {
            config,
            broken_since: None,
            jammed: false,
            envelopes: 0,
            noise: 0,
            jams: 0,
        }
    }

    /// Takes the beam level (`broken`) at `now` and returns what happened.
    pub fn update(&mut self, broken: bool, now: Instant) -> Events<SlotEvent> {
        let mut events = Events::new();
        match (self.broken_since, broken) {
            (None, true) => self.broken_since = Some(now),
            (Some(since), true) => {
                if !self.jammed && now.saturating_since(since) > self.config.max_break {
                    self.jammed = true;
                    self.jams = self.jams.saturating_add(1);
                    events.push(SlotEvent::Jam);
                }
            }
            (Some(since), false) => {
                self.broken_since = None;
                let length = now.saturating_since(since);
                if self.jammed {
                    self.jammed = false;
                    events.push(SlotEvent::JamCleared);
                } else if length > self.config.max_break {
                    // Not updated while the jam lasted: report it and its end together.
                    self.jams = self.jams.saturating_add(1);
                    events.push(SlotEvent::Jam);
                    events.push(SlotEvent::JamCleared);
                } else if length < self.config.min_break {
                    self.noise = self.noise.saturating_add(1);
                    events.push(SlotEvent::Noise);
                } else {
                    self.envelopes = self.envelopes.saturating_add(1);
                    events.push(SlotEvent::EnvelopePassed);
                }
            }
            (None, false) => {}
        }
        events
    }

    /// Envelopes counted since start.
    pub const fn envelopes(&self) -> u32 {
        self.envelopes
    }

    /// Breaks ignored as noise since start.
    pub const fn noise(&self) -> u32 {
        self.noise
    }

    /// Jams since start.
    pub const fn jams(&self) -> u32 {
        self.jams
    }

    /// True while the beam is jammed.
    pub const fn is_jammed(&self) -> bool {
        self.jammed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    extern crate std;
    use std::{vec, vec::Vec};

    const CONFIG: SlotConfig = SlotConfig {
        min_break: Duration::from_millis(15),
        max_break: Duration::from_millis(2_000),
    };

    fn feed(slot: &mut SlotCounter, steps: &[(bool, u64)]) -> Vec<SlotEvent> {
        steps
            .iter()
            .flat_map(|&(broken, ms)| slot.update(broken, Instant::from_millis(ms)))
            .collect()
    }

    #[test]
    fn envelope_noise_and_two_close_envelopes() {
        let mut slot = SlotCounter::new(CONFIG);
        let events = feed(
            &mut slot,
            &[
                (true, 100),
                (false, 140), // 40 ms: envelope
                (true, 200),
                (false, 205), // 5 ms: noise
                (true, 300),
                (false, 315), // exactly min: envelope
                (true, 320),  // 5 ms later another one
                (false, 360),
            ],
        );
        assert_eq!(
            events,
            vec![
                SlotEvent::EnvelopePassed,
                SlotEvent::Noise,
                SlotEvent::EnvelopePassed,
                SlotEvent::EnvelopePassed
            ]
        );
        assert_eq!((slot.envelopes(), slot.noise(), slot.jams()), (3, 1, 0));
    }

    #[test]
    fn jam_and_recovery() {
        let mut slot = SlotCounter::new(CONFIG);
        let events = feed(
            &mut slot,
            &[
                (true, 0),
                (true, 2_000),
                (true, 2_001),
                (true, 5_000),
                (false, 9_000),
            ],
        );
        assert_eq!(events, vec![SlotEvent::Jam, SlotEvent::JamCleared]);
        assert!(!slot.is_jammed());
        assert_eq!((slot.envelopes(), slot.jams()), (0, 1));
        // A jam seen only when the beam clears is still a jam.
        let events = feed(&mut slot, &[(true, 10_000), (false, 12_001)]);
        assert_eq!(events, vec![SlotEvent::Jam, SlotEvent::JamCleared]);
        assert_eq!(slot.jams(), 2);
    }
}
