//! The Raspberry Pi's own GPIO through rppal (cargo feature `rpi`): opens the pins named in
//! [`GpioConfig`] with their pull resistors and hands them, as rppal's embedded-hal 1.0 pins, to
//! the same [`gpio::run`](super::gpio::run) task that the simulation and the tests drive.
//!
//! Edges are found by polling every `sample_interval_ms` (1 ms), not by rppal's interrupts:
//! rppal delivers async interrupts as callbacks on its own thread, which would add a second path
//! (and a thread hand-off) that no test here can exercise; reading three pins' levels from the
//! memory-mapped registers each millisecond costs microseconds. Not yet tried on a real Pi.

use rppal::gpio::{Gpio, InputPin, OutputPin};

use crate::devices::gpio::{GpioConfig, GpioError, GpioPins, InputWiring, Pull};

/// The urn's pins on a Pi.
pub type RpiPins = GpioPins<InputPin, InputPin, InputPin, OutputPin>;

/// Opens GPIO and the four pins in `config` (checked first). The lamp starts off.
///
/// # Errors
///
/// [`GpioError::NotAPi`] on a machine without the Pi's GPIO (every developer's laptop and CI);
/// [`GpioError::Open`] when the Pi's GPIO cannot be used (permissions, a pin in use), saying what
/// to do; [`GpioError::Config`] for an invalid config.
pub fn open(config: &GpioConfig) -> Result<RpiPins, GpioError> {
    config.validate()?;
    let gpio = Gpio::new().map_err(open_error)?;
    let input = |name: &str, wiring: &InputWiring| -> Result<InputPin, GpioError> {
        let pin = gpio
            .get(wiring.pin)
            .map_err(|e| pin_error(name, wiring.pin, e))?;
        Ok(match wiring.pull {
            Pull::Up => pin.into_input_pullup(),
            Pull::Down => pin.into_input_pulldown(),
            Pull::None => pin.into_input(),
        })
    };
    let door = input("door", &config.door)?;
    let slot = input("slot", &config.slot)?;
    let button = input("button", &config.button)?;
    let lamp = gpio
        .get(config.lamp.pin)
        .map_err(|e| pin_error("lamp", config.lamp.pin, e))?;
    // Start at the off level, so that opening the pin never flashes the lamp.
    let lamp = if config.lamp.active_low {
        lamp.into_output_high()
    } else {
        lamp.into_output_low()
    };
    Ok(GpioPins {
        door,
        slot,
        button,
        lamp,
    })
}

/// Whether this machine looks like it has the Pi's GPIO: for `urna doctor` and for offering
/// simulation before trying.
pub fn available() -> bool {
    match Gpio::new() {
        Ok(_) => true,
        Err(e) => !matches!(open_error(e), GpioError::NotAPi),
    }
}

fn open_error(e: rppal::gpio::Error) -> GpioError {
    match e {
        // rppal reads the model from /proc/device-tree or /proc/cpuinfo first: anything else is
        // not a Pi. A Pi without /dev/gpiomem (an odd kernel, a container without the device)
        // is, for the station's purpose, the same case.
        rppal::gpio::Error::UnknownModel => GpioError::NotAPi,
        rppal::gpio::Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
            GpioError::NotAPi
        }
        rppal::gpio::Error::PermissionDenied(path) => GpioError::Open(format!(
            "permission denied on {path}: add the station's user to the gpio group"
        )),
        other => GpioError::Open(other.to_string()),
    }
}

fn pin_error(name: &str, pin: u8, e: rppal::gpio::Error) -> GpioError {
    GpioError::Open(format!(
        "gpio.{name}.pin = {pin}: {e} (is another program or a device-tree overlay using it?)"
    ))
}
