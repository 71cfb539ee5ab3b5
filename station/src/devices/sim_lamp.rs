//! The simulated lamp over the slot: it only remembers whether it is on, for the control page.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::devices::Lamp;

/// A lamp that keeps its state in memory.
#[derive(Debug, Default)]
pub struct SimLamp {
    on: AtomicBool,
}

impl SimLamp {
    /// Whether the lamp is lit.
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }
}

impl Lamp for SimLamp {
    fn set(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }
}
