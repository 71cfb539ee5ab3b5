//! Outputs that fall back to a safe level when the caller stops refreshing them (Klipper's
//! `max_duration`): a lamp goes off and a lock locks if the station hangs or dies.

use embedded_hal::digital::{OutputPin, PinState};

use crate::{Duration, Error, Instant};

/// An [`OutputPin`] with a watchdog deadline.
///
/// The pin is driven to its safe level at once by [`new`](Self::new). Any other level set with
/// [`set`](Self::set) holds only until `max_duration` after the last `set` or
/// [`refresh`](Self::refresh); the first [`poll`](Self::poll) at or after that deadline drives the pin
/// back to the safe level. Once that has happened only a new `set` drives it away again: a late
/// `refresh` does not revive it. The safe level itself needs no refreshing.
#[derive(Debug)]
pub struct SafeOutput<P> {
    pin: P,
    safe: PinState,
    max_duration: Duration,
    level: PinState,
    deadline: Option<Instant>,
    fallbacks: u32,
}

impl<P: OutputPin> SafeOutput<P> {
    /// Takes `pin` and drives it to `safe`.
    ///
    /// # Errors
    ///
    /// [`Error::Pin`] if the pin cannot be driven; the pin is dropped with the error.
    pub fn new(
        mut pin: P,
        safe: PinState,
        max_duration: Duration,
    ) -> Result<Self, Error<P::Error>> {
        pin.set_state(safe).map_err(Error::Pin)?;
        Ok(Self {
            pin,
            safe,
            max_duration,
            level: safe,
            deadline: None,
            fallbacks: 0,
        })
    }

    /// Drives the pin to `level` at `now`; a level other than the safe one must then be refreshed
    /// within `max_duration`.
    ///
    /// # Errors
    ///
    /// [`Error::Pin`] if the pin cannot be driven; the previous level and deadline stay in force.
    pub fn set(&mut self, level: PinState, now: Instant) -> Result<(), Error<P::Error>> {
        self.pin.set_state(level).map_err(Error::Pin)?;
        self.level = level;
        self.deadline = (level != self.safe).then(|| now.saturating_add(self.max_duration));
        Ok(())
    }

    /// Pushes the deadline to `now + max_duration`. Returns false (and does nothing) when there is
    /// nothing to refresh: the output is at its safe level, or its deadline has already passed.
    pub fn refresh(&mut self, now: Instant) -> bool {
        match self.deadline {
            Some(deadline) if now < deadline => {
                self.deadline = Some(now.saturating_add(self.max_duration));
                true
            }
            _ => false,
        }
    }

    /// Checks the deadline at `now`; drives the pin to the safe level if it has passed. Returns true
    /// when it fell back on this call. Call it regularly, and more often than `max_duration`.
    ///
    /// # Errors
    ///
    /// [`Error::Pin`] if the pin cannot be driven; the deadline stays passed, so the next poll tries
    /// again.
    pub fn poll(&mut self, now: Instant) -> Result<bool, Error<P::Error>> {
        match self.deadline {
            Some(deadline) if now >= deadline => {
                self.pin.set_state(self.safe).map_err(Error::Pin)?;
                self.level = self.safe;
                self.deadline = None;
                self.fallbacks = self.fallbacks.saturating_add(1);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The level the pin was last driven to.
    pub const fn level(&self) -> PinState {
        self.level
    }

    /// True when the pin is at its safe level.
    pub fn is_safe(&self) -> bool {
        self.level == self.safe
    }

    /// The instant by which the next refresh is due; `None` at the safe level.
    pub const fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// How many times the output has fallen back to safe since start.
    pub const fn fallbacks(&self) -> u32 {
        self.fallbacks
    }

    /// Gives the pin back, at whatever level it was last driven to.
    pub fn release(self) -> P {
        self.pin
    }
}
