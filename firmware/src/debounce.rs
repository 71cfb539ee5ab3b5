//! Input debouncing: a change is reported only once the new level has held for the debounce time.
//!
//! The shape is embassy's debounce example (wait for an edge, wait the debounce time, look again),
//! turned inside out so that it needs no executor and no clock: the caller samples the level and
//! passes the time in. [`Debounce`] is the bare logic over levels; [`Debouncer`] owns an
//! [`InputPin`] and reads it.

use embedded_hal::digital::{InputPin, PinState};

use crate::{Duration, Error, Instant};

/// The debounce logic alone, fed with levels the caller read (from a pin, an interrupt, a test).
///
/// Feed it every sample, or at least every edge plus one call at [`settles_at`](Self::settles_at):
/// any sample showing the old level again cancels a pending change, so a change is reported only if
/// every sample since it began showed the new level, for at least the debounce time. Each stable
/// change is reported exactly once, `debounce` after its first sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Debounce {
    debounce: Duration,
    stable: PinState,
    pending_since: Option<Instant>,
}

impl Debounce {
    /// Starts at the `initial` level (not reported) with the given debounce time.
    pub const fn new(initial: PinState, debounce: Duration) -> Self {
        Self {
            debounce,
            stable: initial,
            pending_since: None,
        }
    }

    /// Takes one sample `level` seen at `now`; returns the new level when a change has become stable.
    pub fn update(&mut self, level: PinState, now: Instant) -> Option<PinState> {
        if level == self.stable {
            self.pending_since = None;
            return None;
        }
        let since = *self.pending_since.get_or_insert(now);
        if now.saturating_since(since) >= self.debounce {
            self.stable = level;
            self.pending_since = None;
            Some(level)
        } else {
            None
        }
    }

    /// The last reported (stable) level.
    pub const fn level(&self) -> PinState {
        self.stable
    }

    /// When a pending change will be reported if the level holds: a caller driven by edge
    /// interrupts sets a timer for this instant. `None` when nothing is pending.
    pub fn settles_at(&self) -> Option<Instant> {
        self.pending_since
            .map(|since| since.saturating_add(self.debounce))
    }
}

/// A debounced input: owns an [`InputPin`], reads it on every [`poll`](Self::poll).
///
/// The first successful poll reports the level it finds (so that the consumer learns the starting
/// state); after that only stable changes are reported. Give the pin back with
/// [`release`](Self::release).
#[derive(Debug)]
pub struct Debouncer<P> {
    pin: P,
    debounce: Duration,
    logic: Option<Debounce>,
}

impl<P: InputPin> Debouncer<P> {
    /// Wraps `pin`; does not touch it yet.
    pub const fn new(pin: P, debounce: Duration) -> Self {
        Self {
            pin,
            debounce,
            logic: None,
        }
    }

    /// Reads the pin at `now`. Returns `Some(level)` on the first read and whenever a change has
    /// held for the debounce time, `None` otherwise.
    ///
    /// # Errors
    ///
    /// [`Error::Pin`] when the pin cannot be read; the debounce state is left as it was.
    pub fn poll(&mut self, now: Instant) -> Result<Option<PinState>, Error<P::Error>> {
        let level = PinState::from(self.pin.is_high().map_err(Error::Pin)?);
        match &mut self.logic {
            Some(logic) => Ok(logic.update(level, now)),
            None => {
                self.logic = Some(Debounce::new(level, self.debounce));
                Ok(Some(level))
            }
        }
    }

    /// The last reported level, `None` before the first successful poll.
    pub fn level(&self) -> Option<PinState> {
        self.logic.as_ref().map(Debounce::level)
    }

    /// When a pending change will be reported if the level holds (see [`Debounce::settles_at`]).
    pub fn settles_at(&self) -> Option<Instant> {
        self.logic.as_ref().and_then(Debounce::settles_at)
    }

    /// Gives the pin back.
    pub fn release(self) -> P {
        self.pin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn bounce_shorter_than_debounce_is_ignored() {
        let mut d = Debounce::new(PinState::Low, Duration::from_millis(20));
        assert_eq!(d.update(PinState::High, t(0)), None);
        assert_eq!(d.settles_at(), Some(t(20)));
        assert_eq!(d.update(PinState::Low, t(5)), None);
        assert_eq!(d.settles_at(), None);
        assert_eq!(d.update(PinState::High, t(10)), None);
        assert_eq!(d.update(PinState::High, t(29)), None);
        assert_eq!(d.update(PinState::High, t(30)), Some(PinState::High));
        assert_eq!(d.update(PinState::High, t(31)), None);
        assert_eq!(d.level(), PinState::High);
    }

    #[test]
    fn zero_debounce_reports_at_once() {
        let mut d = Debounce::new(PinState::High, Duration::ZERO);
        assert_eq!(d.update(PinState::Low, t(7)), Some(PinState::Low));
        assert_eq!(d.update(PinState::High, t(7)), Some(PinState::High));
    }
}
