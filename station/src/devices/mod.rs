//! The hardware boundary: every device the station uses is a trait here, with a real backend (on
//! the Pi) and a simulated one (demo and tests). Everything above these traits is the same code
//! in production, the demo and the tests.
//!
//! Input devices (scanner, button, door and slot sensors) do not have a trait of their own: each
//! backend is a task that turns what its device does into [`Input`]s on one channel, which the
//! workflow reads. Output devices (printer, lamp) are traits the workflow calls.

pub mod gpio;
#[cfg(feature = "rpi")]
pub mod rpi;
pub mod scan_decoder;
pub mod serial_scanner;
pub mod sim_pins;
pub mod sim_printer;

use image::GrayImage;
use records::{IntakeId, LabelKind};
use serde::{Deserialize, Serialize};

/// Something a person or a sensor did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The scanner (or camera) read a code; the text as read, without the line ending.
    Scanned(String),
    /// The physical button was pressed.
    ButtonPressed,
    /// The service door opened or closed.
    Door {
        /// Whether it is now open.
        open: bool,
    },
    /// One envelope passed the slot's light beam.
    EnvelopeDropped,
    /// The scanner was plugged in (true) or went away (false).
    ScannerConnected(bool),
}

/// What a printer says about itself. A closed set, so every state has a message for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrinterStatus {
    /// Ready to print.
    Ready,
    /// Out of paper or labels.
    PaperOut,
    /// The cover is open.
    CoverOpen,
    /// Not answering (unplugged, switched off).
    Offline,
}

impl PrinterStatus {
    /// The fault's name in events (`paper_out` …); `None` when ready.
    pub fn fault_name(self) -> Option<&'static str> {
        match self {
            PrinterStatus::Ready => None,
            PrinterStatus::PaperOut => Some("paper_out"),
            PrinterStatus::CoverOpen => Some("cover_open"),
            PrinterStatus::Offline => Some("offline"),
        }
    }

    /// What the person at the device reads: Polish, then English.
    pub fn message(self) -> &'static str {
        match self {
            PrinterStatus::Ready => "Drukarka gotowa / Printer ready",
            PrinterStatus::PaperOut => {
                "Brak papieru w drukarce — prosimy zgłosić obsłudze / The printer is out of paper — please tell the staff"
            }
            PrinterStatus::CoverOpen => "Otwarta pokrywa drukarki / The printer cover is open",
            PrinterStatus::Offline => "Drukarka nie odpowiada / The printer is not responding",
        }
    }
}

/// One thing to print: a 1-bit image at the printer's resolution (pixels are 0 or 255).
#[derive(Debug, Clone)]
pub struct PrintJob {
    /// Which item it is.
    pub label: LabelKind,
    /// The intake it is for.
    pub intake: IntakeId,
    /// The raster, black = 0, white = 255.
    pub image: GrayImage,
    /// What the printed QR code says, if there is one: a simulated printer shows it, so the
    /// demo's visitor can check the receipt without a phone.
    pub qr_text: Option<String>,
}

/// A label or receipt printer.
pub trait Printer: Send + Sync {
    /// The printer's state now (asks the device where its language allows).
    fn status(&self) -> PrinterStatus;
    /// Prints the job; on failure says why, and nothing was printed.
    fn print(&self, job: &PrintJob) -> Result<(), PrinterStatus>;
}

/// The lamp above the slot (and, later, other simple outputs).
pub trait Lamp: Send + Sync {
    /// Switches the lamp.
    fn set(&self, on: bool);
}
