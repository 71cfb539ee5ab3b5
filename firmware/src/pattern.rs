//! Lamp and buzzer patterns: the output level as a pure function of the time since the pattern began.

use embedded_hal::digital::PinState;

use crate::Duration;

/// A lamp or buzzer pattern. "On" is [`PinState::High`]; invert for an active-low output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Pattern {
    /// Always off.
    #[default]
    Off,
    /// Always on.
    On,
    /// 500 ms on, 500 ms off ("waiting for your envelope").
    SlowBlink,
    /// 125 ms on, 125 ms off ("attention: fault").
    FastBlink,
    /// Two 100 ms beeps 100 ms apart, then off for good ("recorded").
    Beep,
}

impl Pattern {
    /// The level `elapsed` after the pattern began.
    pub const fn level(self, elapsed: Duration) -> PinState {
        let ms = elapsed.as_millis();
        let on = match self {
            Pattern::Off => false,
            Pattern::On => true,
            Pattern::SlowBlink => ms % 1_000 < 500,
            Pattern::FastBlink => ms % 250 < 125,
            Pattern::Beep => ms < 100 || (ms >= 200 && ms < 300),
        };
        if on { PinState::High } else { PinState::Low }
    }

    /// True once a one-shot pattern ([`Pattern::Beep`]) has finished; the others never finish.
    pub const fn is_done(self, elapsed: Duration) -> bool {
        matches!(self, Pattern::Beep) && elapsed.as_millis() >= 300
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PinState::{High, Low};

    fn at(p: Pattern, ms: u64) -> PinState {
        p.level(Duration::from_millis(ms))
    }

    #[test]
    fn levels_at_the_edges() {
        assert_eq!(at(Pattern::Off, 0), Low);
        assert_eq!(at(Pattern::On, 123_456), High);
        let slow: [PinState; 5] = [0, 499, 500, 999, 1_000].map(|ms| at(Pattern::SlowBlink, ms));
        assert_eq!(slow, [High, High, Low, Low, High]);
        let fast: [PinState; 5] = [0, 124, 125, 249, 250].map(|ms| at(Pattern::FastBlink, ms));
        assert_eq!(fast, [High, High, Low, Low, High]);
        let beep: [PinState; 7] = [0, 99, 100, 199, 200, 299, 300].map(|ms| at(Pattern::Beep, ms));
        assert_eq!(beep, [High, High, Low, Low, High, High, Low]);
        assert_eq!(at(Pattern::Beep, 10_000), Low);
        assert!(!Pattern::Beep.is_done(Duration::from_millis(299)));
        assert!(Pattern::Beep.is_done(Duration::from_millis(300)));
        assert!(!Pattern::SlowBlink.is_done(Duration::from_secs(3_600)));
    }
}
