//! Simulated GPIO pins: embedded-hal 1.0 `InputPin`/`OutputPin`s whose level lives in a shared
//! atomic, with a handle through which the control API, the demo or a test drives (or reads) it.
//!
//! The GPIO task cannot tell these from rppal's pins, so the demo and the tests run the same
//! debouncing, door, slot and lamp code as the Pi does; only the electrical level is pretend.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use embedded_hal::digital::{ErrorType, InputPin, OutputPin, StatefulOutputPin};

/// The level and a count of writes, shared by a pin and its handles.
#[derive(Debug, Default)]
struct Shared {
    high: AtomicBool,
    writes: AtomicU64,
}

/// One simulated pin: give it to the GPIO task as an input or an output.
#[derive(Debug, Clone)]
pub struct SimPin {
    shared: Arc<Shared>,
}

/// The other end of a [`SimPin`]: sets the level an input sees, or reads what an output was
/// driven to. Cheap to clone; every clone drives the same pin.
///
/// `active_low` is how the pin is wired, as in the GPIO config, so that callers can speak of
/// "active" (door open, beam broken, button pressed, lamp lit) and not of volts.
#[derive(Debug, Clone)]
pub struct SimPinHandle {
    shared: Arc<Shared>,
    active_low: bool,
}

impl SimPin {
    /// A pin and its handle, starting at the inactive level for the given wiring (high when
    /// `active_low`, as a pull-up leaves an open switch).
    pub fn pair(active_low: bool) -> (SimPin, SimPinHandle) {
        let shared = Arc::new(Shared::default());
        shared.high.store(active_low, Ordering::SeqCst);
        (
            SimPin {
                shared: shared.clone(),
            },
            SimPinHandle { shared, active_low },
        )
    }
}

impl SimPinHandle {
    /// Sets the electrical level: `true` is high.
    pub fn set_high(&self, high: bool) {
        self.shared.high.store(high, Ordering::SeqCst);
    }

    /// The electrical level now: `true` is high.
    pub fn is_high(&self) -> bool {
        self.shared.high.load(Ordering::SeqCst)
    }

    /// Sets the pin to its active (`true`) or inactive level, whichever voltage that is.
    pub fn set_active(&self, active: bool) {
        self.set_high(active != self.active_low);
    }

    /// Whether the pin is at its active level (for an output: whether the lamp is lit).
    pub fn is_active(&self) -> bool {
        self.is_high() != self.active_low
    }

    /// How many times the GPIO side has driven this pin as an output (a liveness check for tests).
    pub fn writes(&self) -> u64 {
        self.shared.writes.load(Ordering::SeqCst)
    }

    /// Holds the pin active for `length`, then inactive again: a beam break, a button press, a
    /// door opened briefly. Real time (tokio's clock), so the GPIO task sees it as on the Pi.
    pub async fn pulse(&self, length: Duration) {
        self.set_active(true);
        tokio::time::sleep(length).await;
        self.set_active(false);
    }

    /// Toggles the level `edges` times, `every` apart, starting from the inactive level: a bouncing
    /// contact. Ends inactive when `edges` is even.
    pub async fn bounce(&self, edges: u32, every: Duration) {
        for i in 0..edges {
            self.set_active(i % 2 == 0);
            tokio::time::sleep(every).await;
        }
    }
}

impl ErrorType for SimPin {
    type Error = Infallible;
}

impl InputPin for SimPin {
    fn is_high(&mut self) -> Result<bool, Infallible> {
        Ok(self.shared.high.load(Ordering::SeqCst))
    }

    fn is_low(&mut self) -> Result<bool, Infallible> {
        Ok(!self.shared.high.load(Ordering::SeqCst))
    }
}

impl OutputPin for SimPin {
    fn set_high(&mut self) -> Result<(), Infallible> {
        self.shared.high.store(true, Ordering::SeqCst);
        self.shared.writes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn set_low(&mut self) -> Result<(), Infallible> {
        self.shared.high.store(false, Ordering::SeqCst);
        self.shared.writes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

impl StatefulOutputPin for SimPin {
    fn is_set_high(&mut self) -> Result<bool, Infallible> {
        Ok(self.shared.high.load(Ordering::SeqCst))
    }

    fn is_set_low(&mut self) -> Result<bool, Infallible> {
        Ok(!self.shared.high.load(Ordering::SeqCst))
    }
}

/// Four simulated pins as the GPIO task takes them.
pub type SimPinSet = crate::devices::gpio::GpioPins<SimPin, SimPin, SimPin, SimPin>;

/// The simulated pins for one urn, with their handles: what `urna demo` and the tests wire up.
#[derive(Debug)]
pub struct SimPins {
    /// The pins, for [`gpio::run`](crate::devices::gpio::run).
    pub pins: SimPinSet,
    /// Drives the door switch (active = open).
    pub door: SimPinHandle,
    /// Drives the slot beam (active = broken).
    pub slot: SimPinHandle,
    /// Drives the button (active = pressed).
    pub button: SimPinHandle,
    /// Reads the lamp (active = lit).
    pub lamp: SimPinHandle,
}

impl SimPins {
    /// Four pins wired as `config` says (its active levels; pin numbers do not matter here).
    pub fn new(config: &crate::devices::gpio::GpioConfig) -> SimPins {
        let (door_pin, door) = SimPin::pair(config.door.active_low);
        let (slot_pin, slot) = SimPin::pair(config.slot.active_low);
        let (button_pin, button) = SimPin::pair(config.button.active_low);
        let (lamp_pin, lamp) = SimPin::pair(config.lamp.active_low);
        SimPins {
            pins: crate::devices::gpio::GpioPins {
                door: door_pin,
                slot: slot_pin,
                button: button_pin,
                lamp: lamp_pin,
            },
            door,
            slot,
            button,
            lamp,
        }
    }
}
