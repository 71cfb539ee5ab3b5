//! The urn's GPIO: door switch, slot beam and button in, lamp out. Pins (rppal's on the Pi,
//! [`sim_pins`](super::sim_pins) elsewhere) feed the `firmware` crate's logic; its events become
//! [`Input`]s for the workflow and [`GpioEvent`]s (faults, status) for the station to log and show.
//!
//! One task ([`run`]) samples every input each millisecond (a polling design: it is the same on
//! the Pi and in simulation, and 1 ms is far below the shortest debounce), drives the lamp's
//! pattern and refreshes the lamp's watchdog. A watchdog thread beside it turns the lamp off if
//! the task stops refreshing: shut down, cancelled, or the async runtime hung.

use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use embedded_hal::digital::{InputPin, OutputPin, PinState};
use firmware::{
    Debouncer, Door, DoorConfig, DoorEvent, Duration, Instant, Pattern, SafeOutput, SlotConfig,
    SlotCounter, SlotEvent,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use crate::config::ConfigError;
use crate::devices::{Input, Lamp};
use crate::shutdown::Shutdown;

/// The highest BCM GPIO number on the Pi's 40-pin header.
pub const MAX_BCM_PIN: u8 = 27;

/// The pull resistor on an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Pull {
    /// The Pi's internal pull-up (a switch to ground).
    Up,
    /// The Pi's internal pull-down (a switch to 3.3 V).
    Down,
    /// None: the sensor drives the line itself (or an external resistor does).
    None,
}

/// One input's wiring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputWiring {
    /// BCM GPIO number.
    pub pin: u8,
    /// Pull resistor.
    #[serde(default = "default_pull")]
    pub pull: Pull,
    /// True when the input is active (door open, beam broken, button pressed) at the low level.
    pub active_low: bool,
}

/// One output's wiring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputWiring {
    /// BCM GPIO number.
    pub pin: u8,
    /// True when the output is on (lamp lit, lock released) at the low level.
    #[serde(default)]
    pub active_low: bool,
}

fn default_pull() -> Pull {
    Pull::Up
}

/// The `[gpio]` section of a station's config. Every key has a default (see [`Default`]), so a
/// config names only what differs from the reference wiring in `hw-docs/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct GpioConfig {
    /// The service door's reed switch (active = open).
    pub door: InputWiring,
    /// The slot's IR beam receiver (active = beam broken).
    pub slot: InputWiring,
    /// The button beside the slot (active = pressed).
    pub button: InputWiring,
    /// The lamp over the slot.
    pub lamp: OutputWiring,
    /// The door lock, if fitted. Checked here; not driven yet.
    pub lock: Option<OutputWiring>,
    /// Debounce time for the door and the button.
    pub debounce_ms: u64,
    /// Debounce time for the slot beam: short, so that two envelopes close together stay two.
    /// Must be below `slot_min_break_ms`.
    pub slot_debounce_ms: u64,
    /// The door reports "open too long" after this.
    pub door_open_too_long_secs: u64,
    /// The window in which door changes are counted for chatter.
    pub chatter_window_ms: u64,
    /// More door changes than this within the window is a chatter fault.
    pub chatter_limit: u8,
    /// A beam break shorter than this is noise.
    pub slot_min_break_ms: u64,
    /// A beam break longer than this is a jam.
    pub slot_max_break_ms: u64,
    /// The lamp goes off if the GPIO task has not refreshed it for this long.
    pub lamp_refresh_deadline_ms: u64,
    /// How often the inputs are sampled.
    pub sample_interval_ms: u64,
}

impl Default for GpioConfig {
    /// The reference wiring: switches to ground with the Pi's pull-ups. The door's reed switch is
    /// closed (low) while the door is shut, so open is high; the beam receiver pulls low when
    /// the beam is broken; the button pulls low when pressed; the lamp is driven high through a
    /// transistor.
    fn default() -> Self {
        GpioConfig {
            door: InputWiring {
                pin: 17,
                pull: Pull::Up,
                active_low: false,
            },
            slot: InputWiring {
                pin: 27,
                pull: Pull::Up,
                active_low: true,
            },
            button: InputWiring {
                pin: 22,
                pull: Pull::Up,
                active_low: true,
            },
            lamp: OutputWiring {
                pin: 23,
                active_low: false,
            },
            lock: None,
            debounce_ms: 20,
            slot_debounce_ms: 2,
            door_open_too_long_secs: 600,
            chatter_window_ms: 2_000,
            chatter_limit: 6,
            slot_min_break_ms: 15,
            slot_max_break_ms: 2_000,
            lamp_refresh_deadline_ms: 500,
            sample_interval_ms: 1,
        }
    }
}

fn problem(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key: format!("gpio.{key}"),
        problem: problem.into(),
    }
}

fn in_range(key: &str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(problem(key, format!("must be {min}–{max}, not {value}")))
    }
}

impl GpioConfig {
    /// Checks pin numbers (on the header, not the ID EEPROM's 0 and 1, no pin twice) and times.
    /// Errors name the key, as `gpio.door.pin`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut pins: Vec<(&str, u8)> = vec![
            ("door.pin", self.door.pin),
            ("slot.pin", self.slot.pin),
            ("button.pin", self.button.pin),
            ("lamp.pin", self.lamp.pin),
        ];
        if let Some(lock) = &self.lock {
            pins.push(("lock.pin", lock.pin));
        }
        for (i, &(key, pin)) in pins.iter().enumerate() {
            if !(2..=MAX_BCM_PIN).contains(&pin) {
                // 0 and 1 carry the HAT ID EEPROM's I²C bus; above 27 is not on the header.
                return Err(problem(
                    key,
                    format!("BCM pin must be 2–{MAX_BCM_PIN}, not {pin}"),
                ));
            }
            if let Some((other, _)) = pins.iter().take(i).find(|(_, p)| *p == pin) {
                return Err(problem(key, format!("pin {pin} is already gpio.{other}")));
            }
        }
        in_range("debounce_ms", self.debounce_ms, 1, 1_000)?;
        in_range("slot_debounce_ms", self.slot_debounce_ms, 0, 100)?;
        in_range("slot_min_break_ms", self.slot_min_break_ms, 1, 10_000)?;
        in_range("slot_max_break_ms", self.slot_max_break_ms, 1, 60_000)?;
        if self.slot_debounce_ms >= self.slot_min_break_ms {
            return Err(problem(
                "slot_debounce_ms",
                "must be below slot_min_break_ms, or every envelope is filtered out",
            ));
        }
        if self.slot_min_break_ms >= self.slot_max_break_ms {
            return Err(problem(
                "slot_max_break_ms",
                "must be above slot_min_break_ms",
            ));
        }
        in_range(
            "door_open_too_long_secs",
            self.door_open_too_long_secs,
            1,
            86_400,
        )?;
        in_range("chatter_window_ms", self.chatter_window_ms, 10, 600_000)?;
        in_range(
            "chatter_limit",
            u64::from(self.chatter_limit),
            1,
            u64::from(firmware::door::MAX_CHATTER_LIMIT),
        )?;
        in_range("sample_interval_ms", self.sample_interval_ms, 1, 10)?;
        if self.sample_interval_ms > self.debounce_ms {
            return Err(problem(
                "sample_interval_ms",
                "must not exceed debounce_ms, or bounces slip between samples",
            ));
        }
        in_range(
            "lamp_refresh_deadline_ms",
            self.lamp_refresh_deadline_ms,
            10,
            60_000,
        )?;
        // The task refreshes every sample; leave room for a few late ticks before falling back.
        if self.lamp_refresh_deadline_ms < 4 * self.sample_interval_ms {
            return Err(problem(
                "lamp_refresh_deadline_ms",
                "must be at least 4 × sample_interval_ms",
            ));
        }
        Ok(())
    }

    fn door_logic(&self) -> DoorConfig {
        DoorConfig {
            open_too_long: Duration::from_secs(self.door_open_too_long_secs),
            chatter_window: Duration::from_millis(self.chatter_window_ms),
            chatter_limit: self.chatter_limit,
        }
    }

    fn slot_logic(&self) -> SlotConfig {
        SlotConfig {
            min_break: Duration::from_millis(self.slot_min_break_ms),
            max_break: Duration::from_millis(self.slot_max_break_ms),
        }
    }
}

/// Why GPIO could not be opened or run.
#[derive(Debug, thiserror::Error)]
pub enum GpioError {
    /// Not a Raspberry Pi (or its GPIO device is missing): the one error a developer's machine gives.
    #[error(
        "this machine has no Raspberry Pi GPIO (/dev/gpiomem); run the station with simulation = true"
    )]
    NotAPi,
    /// The GPIO device is there but cannot be used (permissions, a pin in use); says what to do.
    #[error("GPIO: {0}")]
    Open(String),
    /// The config is not usable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A pin could not be driven when the task started.
    #[error("GPIO pin {pin}: {detail}")]
    Pin {
        /// Which pin (`door`, `slot`, `button`, `lamp`).
        pin: &'static str,
        /// The HAL's error.
        detail: String,
    },
}

/// Which of the urn's pins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PinName {
    /// The door switch.
    Door,
    /// The slot beam.
    Slot,
    /// The button.
    Button,
    /// The lamp.
    Lamp,
}

impl PinName {
    /// The name in config and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            PinName::Door => "door",
            PinName::Slot => "slot",
            PinName::Button => "button",
            PinName::Lamp => "lamp",
        }
    }
}

/// Faults and status from the GPIO task, beside the [`Input`]s: for the station's log, its fault
/// events and the kiosk's messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum GpioEvent {
    /// The door has been open longer than `door_open_too_long_secs`.
    DoorOpenTooLong,
    /// Fault: the door switch changes too often (loose magnet, failing reed). Openings and
    /// closings are not reported while it lasts.
    DoorChatter {
        /// Changes within the window when raised.
        count: u32,
    },
    /// The door switch has been quiet for a whole window again; the settled state follows as an
    /// [`Input::Door`] if it changed.
    DoorChatterEnded {
        /// All changes from the start of the chatter to its end.
        count: u32,
    },
    /// Fault: the slot beam has been broken longer than `slot_max_break_ms`.
    SlotJam,
    /// The beam is clear again after a jam.
    SlotJamCleared,
    /// A beam break too short to be an envelope (counted, not a fault).
    SlotNoise,
    /// Fault: a pin could not be read or driven. Raised once, cleared by [`GpioEvent::PinOk`].
    PinFault {
        /// Which pin.
        pin: PinName,
        /// The HAL's error.
        detail: String,
    },
    /// The pin works again.
    PinOk {
        /// Which pin.
        pin: PinName,
    },
    /// The lamp's watchdog turned it off because it was not refreshed in time (the task or the
    /// runtime stalled). Reported when the task runs again.
    LampFellBack {
        /// Fallbacks since start.
        total: u32,
    },
    /// The task drove the lamp again after a fallback: the watchdog's fault is over.
    LampRelit,
}

impl GpioEvent {
    /// The fault's name for a `fault raised` event (`door_chatter` …); `None` for status.
    pub fn fault_name(&self) -> Option<&'static str> {
        match self {
            GpioEvent::DoorOpenTooLong => Some("door_open_too_long"),
            GpioEvent::DoorChatter { .. } => Some("door_chatter"),
            GpioEvent::SlotJam => Some("slot_jam"),
            GpioEvent::PinFault { .. } => Some("gpio_pin"),
            GpioEvent::LampFellBack { .. } => Some("lamp_watchdog"),
            GpioEvent::DoorChatterEnded { .. }
            | GpioEvent::SlotJamCleared
            | GpioEvent::SlotNoise
            | GpioEvent::PinOk { .. }
            | GpioEvent::LampRelit => None,
        }
    }

    /// The fault this event clears (`door_chatter` for [`GpioEvent::DoorChatterEnded`] …).
    pub fn clears(&self) -> Option<&'static str> {
        match self {
            GpioEvent::DoorChatterEnded { .. } => Some("door_chatter"),
            GpioEvent::SlotJamCleared => Some("slot_jam"),
            GpioEvent::PinOk { .. } => Some("gpio_pin"),
            GpioEvent::LampRelit => Some("lamp_watchdog"),
            _ => None,
        }
    }

    /// The device a fault is about, in custody events.
    pub fn device(&self) -> records::Device {
        match self {
            GpioEvent::DoorOpenTooLong
            | GpioEvent::DoorChatter { .. }
            | GpioEvent::DoorChatterEnded { .. }
            | GpioEvent::PinFault {
                pin: PinName::Door, ..
            }
            | GpioEvent::PinOk { pin: PinName::Door } => records::Device::Door,
            _ => records::Device::Slot,
        }
    }

    /// What the person at the urn reads: Polish, then English.
    pub fn message(&self) -> &'static str {
        match self {
            GpioEvent::DoorOpenTooLong => {
                "Drzwi serwisowe otwarte zbyt długo / The service door has been open too long"
            }
            GpioEvent::DoorChatter { .. } => {
                "Czujnik drzwi niesprawny — prosimy zgłosić obsłudze / The door sensor is faulty — please tell the staff"
            }
            GpioEvent::DoorChatterEnded { .. } => {
                "Czujnik drzwi działa / The door sensor works again"
            }
            GpioEvent::SlotJam => {
                "Szczelina zablokowana — prosimy zgłosić obsłudze / The slot is blocked — please tell the staff"
            }
            GpioEvent::SlotJamCleared => "Szczelina drożna / The slot is clear again",
            GpioEvent::SlotNoise => "Zakłócenie czujnika szczeliny / Slot sensor noise",
            GpioEvent::PinFault { .. } => {
                "Usterka czujników urny — prosimy zgłosić obsłudze / Urn sensor fault — please tell the staff"
            }
            GpioEvent::PinOk { .. } => "Czujniki urny działają / The urn's sensors work again",
            GpioEvent::LampFellBack { .. } => {
                "Lampka wyłączona przez zabezpieczenie / The lamp was switched off by its watchdog"
            }
            GpioEvent::LampRelit => "Lampka znów działa / The lamp works again",
        }
    }
}

/// The urn's four pins, as the task takes them.
#[derive(Debug)]
pub struct GpioPins<D, S, B, L> {
    /// Door switch input.
    pub door: D,
    /// Slot beam input.
    pub slot: S,
    /// Button input.
    pub button: B,
    /// Lamp output.
    pub lamp: L,
}

/// The lamp as the workflow sees it: implements [`Lamp`]; the GPIO task drives the pin.
/// Clone it freely; every clone is the same lamp.
#[derive(Debug, Clone, Default)]
pub struct GpioLamp {
    shared: Arc<LampShared>,
}

#[derive(Debug, Default)]
struct LampShared {
    pattern: AtomicU8,
    /// Bumped on every `set_pattern`, so that setting the same blink again restarts it.
    generation: AtomicU32,
}

fn pattern_code(p: Pattern) -> u8 {
    match p {
        Pattern::Off => 0,
        Pattern::On => 1,
        Pattern::SlowBlink => 2,
        Pattern::FastBlink => 3,
        Pattern::Beep => 4,
    }
}

fn pattern_from(code: u8) -> Pattern {
    match code {
        1 => Pattern::On,
        2 => Pattern::SlowBlink,
        3 => Pattern::FastBlink,
        4 => Pattern::Beep,
        _ => Pattern::Off,
    }
}

impl GpioLamp {
    /// A lamp handle, off.
    pub fn new() -> GpioLamp {
        GpioLamp::default()
    }

    /// Shows `pattern` from now on (restarting it if it was already showing).
    pub fn set_pattern(&self, pattern: Pattern) {
        self.shared
            .pattern
            .store(pattern_code(pattern), Ordering::SeqCst);
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The pattern asked for (what the lamp shows while the task runs).
    pub fn pattern(&self) -> Pattern {
        pattern_from(self.shared.pattern.load(Ordering::SeqCst))
    }

    fn wanted(&self) -> (Pattern, u32) {
        // Generation first: a pattern stored after it is only picked up one sample late.
        let generation = self.shared.generation.load(Ordering::SeqCst);
        (self.pattern(), generation)
    }
}

impl Lamp for GpioLamp {
    fn set(&self, on: bool) {
        self.set_pattern(if on { Pattern::On } else { Pattern::Off });
    }
}

/// Milliseconds since `epoch` on the monotonic clock, as the firmware counts time.
fn since(epoch: std::time::Instant) -> Instant {
    Instant::from_millis(u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means a panic elsewhere while holding it; the output state inside is
    // still a plain level and deadline, so carry on (turning the lamp off matters more).
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The lamp's output, shared by the task (which sets and refreshes it) and the watchdog thread
/// (which only polls it, so a stalled task cannot keep the lamp lit).
struct LampOutput<P: OutputPin> {
    output: Arc<Mutex<SafeOutput<P>>>,
    active_low: bool,
}

impl<P: OutputPin> LampOutput<P> {
    fn level(&self, on: bool) -> PinState {
        PinState::from(on != self.active_low)
    }
}

impl<P: OutputPin> Drop for LampOutput<P> {
    /// However the task ends (shutdown, cancelled, panicked), the lamp goes off with it.
    fn drop(&mut self) {
        let off = self.level(false);
        let _ = lock(&self.output).set(off, Instant::from_millis(0));
    }
}

/// Polls the lamp's deadline from an OS thread, so that the fallback happens even if the async
/// runtime is blocked. Ends when the task drops the output.
fn spawn_watchdog<P>(
    output: Weak<Mutex<SafeOutput<P>>>,
    epoch: std::time::Instant,
    deadline_ms: u64,
) -> std::io::Result<()>
where
    P: OutputPin + Send + 'static,
{
    let period = std::time::Duration::from_millis((deadline_ms / 4).max(1));
    std::thread::Builder::new()
        .name("urna-lamp-watchdog".into())
        .spawn(move || {
            loop {
                std::thread::sleep(period);
                let Some(output) = output.upgrade() else {
                    return;
                };
                // A pin error is retried on the next period (the deadline stays passed).
                let _ = lock(&output).poll(since(epoch));
            }
        })
        .map(drop)
}

/// One debounced input and whether its last read failed.
struct Sensor<P> {
    input: Debouncer<P>,
    active_low: bool,
    name: PinName,
    failing: bool,
}

impl<P: InputPin> Sensor<P>
where
    P::Error: fmt::Debug,
{
    /// Reads the pin; returns `(first, active)` when the debounced level is reported.
    fn poll(&mut self, now: Instant, events: &Events) -> Option<(bool, bool)> {
        let first = self.input.level().is_none();
        match self.input.poll(now) {
            Ok(level) => {
                if self.failing {
                    self.failing = false;
                    events.send(GpioEvent::PinOk { pin: self.name });
                }
                level.map(|l| (first, (l == PinState::High) != self.active_low))
            }
            Err(e) => {
                if !self.failing {
                    self.failing = true;
                    events.send(GpioEvent::PinFault {
                        pin: self.name,
                        detail: e.to_string(),
                    });
                }
                None
            }
        }
    }

    /// The debounced "active" level, once known.
    fn active(&self) -> Option<bool> {
        self.input
            .level()
            .map(|l| (l == PinState::High) != self.active_low)
    }
}

/// The status channel: never blocks the sampling loop. Status is advisory; a full channel drops
/// the event with a warning in the log rather than delay envelope counting.
struct Events(mpsc::Sender<GpioEvent>);

impl Events {
    fn send(&self, event: GpioEvent) {
        tracing::info!(?event, "gpio");
        if let Err(mpsc::error::TrySendError::Full(event)) = self.0.try_send(event) {
            tracing::warn!(?event, "gpio status channel full; event dropped");
        }
    }
}

/// Runs the urn's GPIO until `shutdown` (or until the workflow's input channel closes).
///
/// Samples `door`, `slot` and `button` every `sample_interval_ms` (1 ms by default) through
/// `firmware`'s [`Debouncer`]s, feeds [`Door`] and [`SlotCounter`], and sends:
/// - [`Input::Door`] on every reported opening and closing (a door found open at start is
///   reported; one found closed is not, as nothing happened);
/// - [`Input::EnvelopeDropped`] for each beam break of `slot_min_break_ms..=slot_max_break_ms`;
/// - [`Input::ButtonPressed`] on each debounced press (not for a button held at start);
/// - [`GpioEvent`]s for faults and status on `events`.
///
/// It also drives the lamp's pattern from `lamp` and refreshes the lamp's watchdog every sample;
/// the lamp is off when this returns, and a watchdog thread switches it off if this task stalls
/// for longer than `lamp_refresh_deadline_ms`.
///
/// Inputs are sent with back-pressure (an envelope must not be lost); `I` is the workflow's message
/// type, anything `From<Input>` (`Input` itself in tests).
///
/// # Errors
///
/// [`GpioError::Config`] for an invalid config; [`GpioError::Pin`] when the lamp cannot be driven
/// off at start or the watchdog thread cannot be started. Pin read errors while running are
/// [`GpioEvent::PinFault`]s, not errors: the task keeps going and recovers with the pin.
pub async fn run<D, S, B, L, I>(
    pins: GpioPins<D, S, B, L>,
    lamp: GpioLamp,
    config: GpioConfig,
    inputs: mpsc::Sender<I>,
    events: mpsc::Sender<GpioEvent>,
    shutdown: Shutdown,
) -> Result<(), GpioError>
where
    D: InputPin,
    S: InputPin,
    B: InputPin,
    L: OutputPin + Send + 'static,
    D::Error: fmt::Debug,
    S::Error: fmt::Debug,
    B::Error: fmt::Debug,
    L::Error: fmt::Debug,
    I: From<Input>,
{
    config.validate()?;
    let epoch = std::time::Instant::now();
    let events = Events(events);

    let off = PinState::from(config.lamp.active_low);
    let deadline = Duration::from_millis(config.lamp_refresh_deadline_ms);
    let output = SafeOutput::new(pins.lamp, off, deadline).map_err(|e| GpioError::Pin {
        pin: "lamp",
        detail: e.to_string(),
    })?;
    let lamp_out = LampOutput {
        output: Arc::new(Mutex::new(output)),
        active_low: config.lamp.active_low,
    };
    spawn_watchdog(
        Arc::downgrade(&lamp_out.output),
        epoch,
        config.lamp_refresh_deadline_ms,
    )
    .map_err(|e| GpioError::Pin {
        pin: "lamp",
        detail: format!("cannot start its watchdog thread: {e}"),
    })?;

    let debounce = Duration::from_millis(config.debounce_ms);
    let mut door = Sensor {
        input: Debouncer::new(pins.door, debounce),
        active_low: config.door.active_low,
        name: PinName::Door,
        failing: false,
    };
    let mut slot = Sensor {
        input: Debouncer::new(pins.slot, Duration::from_millis(config.slot_debounce_ms)),
        active_low: config.slot.active_low,
        name: PinName::Slot,
        failing: false,
    };
    let mut button = Sensor {
        input: Debouncer::new(pins.button, debounce),
        active_low: config.button.active_low,
        name: PinName::Button,
        failing: false,
    };
    let mut door_logic = Door::new(config.door_logic());
    let mut slot_logic = SlotCounter::new(config.slot_logic());
    let mut lamp_shown: Option<(u32, Instant)> = None;
    let mut fallbacks = 0u32;
    let mut lamp_failing = false;
    let mut lamp_fell_back = false;

    // Polling, not edge interrupts: one code path for the Pi and simulation, and a 1 ms tick is
    // well inside every debounce time. (With interrupts, `Debouncer::settles_at` would say how
    // long the task may sleep; with polling every input is simply read every tick.)
    let mut ticks =
        tokio::time::interval(std::time::Duration::from_millis(config.sample_interval_ms));
    // After a stall, sample once and carry on; a burst of catch-up ticks would see nothing new.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let stop = shutdown.wait();
    tokio::pin!(stop);

    let mut found: Vec<Input> = Vec::with_capacity(4);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = ticks.tick() => {}
        }
        let now = since(epoch);

        // Door: the debouncer's changes, and every tick for "open too long" and chatter's end.
        let first_door = door.poll(now, &events).map(|(first, _)| first);
        if let Some(open) = door.active() {
            for event in door_logic.update(open, now) {
                match event {
                    DoorEvent::Opened => found.push(Input::Door { open: true }),
                    // A door closed at start is the normal state, not news.
                    DoorEvent::Closed if first_door == Some(true) => {}
                    DoorEvent::Closed => found.push(Input::Door { open: false }),
                    DoorEvent::OpenTooLong => events.send(GpioEvent::DoorOpenTooLong),
                    DoorEvent::Chatter { count } => events.send(GpioEvent::DoorChatter { count }),
                    DoorEvent::ChatterEnded { count } => {
                        events.send(GpioEvent::DoorChatterEnded { count });
                    }
                }
            }
        }

        // Slot: every tick, so that a jam is seen while the beam is still broken.
        let _ = slot.poll(now, &events);
        if let Some(broken) = slot.active() {
            for event in slot_logic.update(broken, now) {
                match event {
                    SlotEvent::EnvelopePassed => found.push(Input::EnvelopeDropped),
                    SlotEvent::Jam => events.send(GpioEvent::SlotJam),
                    SlotEvent::JamCleared => events.send(GpioEvent::SlotJamCleared),
                    SlotEvent::Noise => events.send(GpioEvent::SlotNoise),
                }
            }
        }

        // Button: a debounced change to pressed; not the level found at start.
        if let Some((false, true)) = button.poll(now, &events) {
            found.push(Input::ButtonPressed);
        }

        // Lamp: the pattern's level now; set it when it changes, refresh it otherwise.
        let (pattern, generation) = lamp.wanted();
        let started = match lamp_shown {
            Some((shown, at)) if shown == generation => at,
            _ => {
                lamp_shown = Some((generation, now));
                now
            }
        };
        let level = lamp_out.level(pattern.level(now.saturating_since(started)) == PinState::High);
        let result = {
            let mut out = lock(&lamp_out.output);
            let result = if out.level() != level {
                out.set(level, now)
            } else {
                out.refresh(now);
                Ok(())
            };
            if out.fallbacks() != fallbacks {
                fallbacks = out.fallbacks();
                lamp_fell_back = true;
                events.send(GpioEvent::LampFellBack { total: fallbacks });
            }
            result
        };
        // Raised and cleared in the same tick when the drive works: the custody log keeps the
        // stall, and the fault does not stay open once the lamp is back.
        if lamp_fell_back && result.is_ok() {
            lamp_fell_back = false;
            events.send(GpioEvent::LampRelit);
        }
        match result {
            Ok(()) if lamp_failing => {
                lamp_failing = false;
                events.send(GpioEvent::PinOk { pin: PinName::Lamp });
            }
            Err(e) if !lamp_failing => {
                lamp_failing = true;
                events.send(GpioEvent::PinFault {
                    pin: PinName::Lamp,
                    detail: e.to_string(),
                });
            }
            _ => {}
        }

        for input in found.drain(..) {
            tracing::debug!(?input, "gpio input");
            if inputs.send(I::from(input)).await.is_err() {
                // The workflow is gone: the station is stopping.
                return Ok(());
            }
        }
    }
    // `lamp_out` drops here and switches the lamp off.
    Ok(())
}
