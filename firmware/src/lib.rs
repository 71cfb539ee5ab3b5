//! urna's urn logic over embedded-hal 1.0 traits: input debouncing, the door state machine,
//! envelope counting on the slot beam, lamp and buzzer patterns, and outputs with safe fallbacks.
//!
//! The crate is `#![no_std]`, has no allocator and no clock: every call that depends on time takes
//! an [`Instant`] (milliseconds on the caller's monotonic clock). The same code runs inside the
//! station on the Raspberry Pi's own pins (through rppal's embedded-hal pins) and could run on a
//! microcontroller beside it (see `hw-docs/microcontroller.md`).
//!
//! # Modules
//!
//! - [`time`]: [`Instant`] and [`Duration`], milliseconds handed in by the caller.
//! - [`debounce`]: [`Debounce`] (the logic over levels) and [`Debouncer`] (owns an `InputPin`).
//! - [`door`]: [`Door`], closed / open / open too long, with chatter reported as a fault.
//! - [`slot`]: [`SlotCounter`], envelopes from IR beam breaks; noise and jams.
//! - [`pattern`]: [`Pattern`], lamp and buzzer levels as a function of time.
//! - [`output`]: [`SafeOutput`], an `OutputPin` that falls back to a safe level unless refreshed.
//!
//! # Usage
//!
//! One loop iteration per millisecond or so: read the inputs, feed the state machines, drive the
//! outputs, refresh them. Here with embedded-hal-mock pins standing in for the Pi's:
//!
//! ```
//! use embedded_hal::digital::PinState;
//! use embedded_hal_mock::eh1::digital::{Mock, State, Transaction};
//! use firmware::{
//!     Debouncer, Door, DoorConfig, DoorEvent, Duration, Instant, Pattern, SafeOutput,
//! };
//!
//! // The reed switch pulls the input low while the door is closed.
//! // Each mock is told, in order, what the code must do with it.
//! let reed = Mock::new(&[Transaction::get(State::Low)]);
//! let lamp = Mock::new(&[
//!     Transaction::set(State::Low),  // new(): safe level first
//!     Transaction::set(State::High), // the blink pattern's first half second
//!     Transaction::set(State::Low),  // fallback: nobody refreshed it
//! ]);
//!
//! let mut door_input = Debouncer::new(reed, Duration::from_millis(20));
//! let mut door = Door::new(DoorConfig {
//!     open_too_long: Duration::from_secs(120),
//!     chatter_window: Duration::from_secs(2),
//!     chatter_limit: 6,
//! });
//! let mut lamp = SafeOutput::new(lamp, PinState::Low, Duration::from_millis(500))?;
//!
//! let now = Instant::from_millis(1_000);
//! if let Some(level) = door_input.poll(now)? {
//!     let events: Vec<DoorEvent> = door.update(level == PinState::High, now).collect();
//!     assert_eq!(events, [DoorEvent::Closed]);
//! }
//! lamp.set(Pattern::SlowBlink.level(Duration::ZERO), now)?;
//!
//! // The station stops refreshing: half a second later the lamp is off again.
//! assert!(lamp.poll(Instant::from_millis(1_500))?);
//! assert!(lamp.is_safe());
//!
//! // Give the pins back; the mocks check that everything expected happened.
//! door_input.release().done();
//! lamp.release().done();
//! # Ok::<(), firmware::Error<embedded_hal_mock::eh1::MockError>>(())
//! ```
#![no_std]
#![deny(unsafe_code, missing_docs)]

pub mod debounce;
pub mod door;
mod error;
mod events;
pub mod output;
pub mod pattern;
pub mod slot;
pub mod time;

pub use debounce::{Debounce, Debouncer};
pub use door::{Door, DoorConfig, DoorEvent, DoorState};
pub use error::Error;
pub use events::{Events, MAX_EVENTS};
pub use output::SafeOutput;
pub use pattern::Pattern;
pub use slot::{SlotConfig, SlotCounter, SlotEvent};
pub use time::{Duration, Instant};
