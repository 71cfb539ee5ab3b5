//! The hardware boundary: every device the station uses is a trait here, with a real backend (on
//! the Pi) and a simulated one (demo and tests). Everything above these traits is the same code
//! in production, the demo and the tests.
//!
//! Input devices (scanner, button, door and slot sensors) do not have a trait of their own: each
//! backend is a task that turns what its device does into [`Input`]s on one channel, which the
//! workflow reads. Output devices (printer, lamp) are traits the workflow calls.

pub mod gpio;
pub mod hid_scanner;
pub mod keyboard_wedge;
#[cfg(feature = "rpi")]
pub mod rpi;
pub mod scan_decoder;
mod scanner_output;
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

/// What a printer says about itself. A closed set, so every state has a message for a person;
/// every printer language's status reply parses into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrinterStatus {
    /// Ready to print.
    Ready,
    /// Prints, but the paper roll or label stock is nearly finished.
    PaperLow,
    /// Out of paper or labels.
    PaperOut,
    /// The cover is open.
    CoverOpen,
    /// Not answering (unplugged, switched off, or silent when asked).
    Offline,
    /// The printer reports a fault of its own.
    Error(PrinterErrorKind),
}

/// The faults a printer reports beyond paper and cover, as far as its language tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrinterErrorKind {
    /// Paper or labels jammed in the feed.
    PaperJam,
    /// The cutter failed or jammed.
    Cutter,
    /// The print head is too hot (or too cold) to print.
    HeadTemperature,
    /// The loaded media is not the one the job was made for.
    WrongMedia,
    /// The printer is paused, or busy with something a person must finish at the printer.
    Paused,
    /// The printer's answer made no sense (a garbled or foreign reply).
    BadReply,
    /// A fault the printer reports without saying which.
    Other,
}

impl PrinterErrorKind {
    fn name(self) -> &'static str {
        match self {
            PrinterErrorKind::PaperJam => "paper_jam",
            PrinterErrorKind::Cutter => "cutter",
            PrinterErrorKind::HeadTemperature => "head_temperature",
            PrinterErrorKind::WrongMedia => "wrong_media",
            PrinterErrorKind::Paused => "paused",
            PrinterErrorKind::BadReply => "bad_reply",
            PrinterErrorKind::Other => "printer_error",
        }
    }
}

impl PrinterStatus {
    /// Whether a job sent now would print.
    pub fn can_print(self) -> bool {
        matches!(self, PrinterStatus::Ready | PrinterStatus::PaperLow)
    }

    /// The fault's name in events (`paper_out` …); `None` when the printer can print.
    pub fn fault_name(self) -> Option<&'static str> {
        match self {
            PrinterStatus::Ready | PrinterStatus::PaperLow => None,
            PrinterStatus::PaperOut => Some("paper_out"),
            PrinterStatus::CoverOpen => Some("cover_open"),
            PrinterStatus::Offline => Some("offline"),
            PrinterStatus::Error(kind) => Some(kind.name()),
        }
    }

    /// The name staff are alerted by: every fault, and also `paper_low`, so that someone
    /// brings paper before the kiosk has to stop.
    pub fn alert_name(self) -> Option<&'static str> {
        match self {
            PrinterStatus::PaperLow => Some("paper_low"),
            other => other.fault_name(),
        }
    }

    /// What the person at the device reads: Polish, then English.
    pub fn message(self) -> &'static str {
        match self {
            PrinterStatus::Ready => "Drukarka gotowa / Printer ready",
            PrinterStatus::PaperLow => {
                "Kończy się papier w drukarce / The printer's paper is running low"
            }
            PrinterStatus::PaperOut => {
                "Brak papieru w drukarce — prosimy zgłosić obsłudze / The printer is out of paper — please tell the staff"
            }
            PrinterStatus::CoverOpen => "Otwarta pokrywa drukarki / The printer cover is open",
            PrinterStatus::Offline => "Drukarka nie odpowiada / The printer is not responding",
            PrinterStatus::Error(PrinterErrorKind::PaperJam) => {
                "Papier zaciął się w drukarce — prosimy zgłosić obsłudze / Paper is jammed in the printer — please tell the staff"
            }
            PrinterStatus::Error(PrinterErrorKind::WrongMedia) => {
                "W drukarce jest niewłaściwy papier / The printer has the wrong paper loaded"
            }
            PrinterStatus::Error(_) => {
                "Drukarka zgłasza błąd — prosimy zgłosić obsłudze / The printer reports a fault — please tell the staff"
            }
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
