//! Printer languages and the links to printers: how a 1-bit page becomes the bytes a given printer
//! family understands, how its answer to a status query reads, and how the bytes get there.
//!
//! - [`escpos`] — ESC/POS receipt printers (58 mm and 80 mm): `GS v 0` raster, `DLE EOT n` status;
//! - [`zpl`] — Zebra label printers: `^GFA` graphic fields, `~HS` host status;
//! - [`brother_ql`] — Brother QL label printers: raster mode with compression, the 32-byte status;
//! - [`transport`] — device files, serial ports and raw TCP, with timeouts on everything;
//! - [`link`] — a printer driven through a transport in its language ([`link::LanguagePrinter`]);
//! - [`setup`] — the printers and label templates named in `station.toml`.
//!
//! Each language also has an [`Emulator`]: the printer's side of the same protocol, which the
//! simulated printer uses so that every test and the demo exercise the real encoders. The
//! emulators are written from the same manuals, independently of the encoders, and never share
//! their code: an encoder bug must show up as a page that decodes wrong.
//!
//! All three are written here rather than taken from crates.io; each module says why.

pub mod brother_ql;
pub mod escpos;
pub mod link;
pub mod setup;
pub mod transport;
pub mod zpl;

use image::GrayImage;

use crate::devices::PrinterStatus;

/// A page as the encoders take it: a grey image at the printer's resolution whose pixels darker
/// than mid-grey (< 128) are printed dots. The renderer only ever makes 0 and 255.
pub type Page = GrayImage;

/// Whether a pixel of a [`Page`] is a printed dot.
pub fn is_dot(luma: u8) -> bool {
    luma < 128
}

/// Why a page cannot be encoded for a printer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The page is wider than the print head (or than the language can express).
    #[error("the page is {width} dots wide; this printer prints at most {max} dots")]
    TooWide {
        /// The page's width in dots.
        width: u32,
        /// The widest page the printer or language takes.
        max: u32,
    },
    /// The page has no height or no width.
    #[error("the page is empty")]
    Empty,
    /// The page is taller than the language can express in one job.
    #[error("the page is {height} dots long; this printer prints at most {max} dots in one job")]
    TooLong {
        /// The page's height in dots.
        height: u32,
        /// The longest page the language takes.
        max: u32,
    },
}

/// Where reading a printer's status reply has got to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusReply {
    /// The reply is not complete yet: read more (until the query's timeout).
    NeedMore,
    /// The reply is complete and says this.
    Status(PrinterStatus),
    /// The bytes are not a reply to the query (garbage, another protocol, a truncated frame);
    /// the reason is for the log.
    Invalid(String),
}

/// A printer language, as the station's side speaks it.
pub trait Language: Send + Sync + std::fmt::Debug {
    /// The language's name in config and logs (`escpos`, `zpl`, `brother_ql`).
    fn name(&self) -> &'static str;
    /// The bytes that print `page` as one job, including what the printer needs around it
    /// (initialise, feed, cut).
    fn encode_page(&self, page: &Page) -> Result<Vec<u8>, EncodeError>;
    /// The bytes that ask the printer for its status.
    fn status_query(&self) -> Vec<u8>;
    /// Reads the printer's reply to [`Language::status_query`] as received so far.
    fn read_status(&self, reply: &[u8]) -> StatusReply;
}

/// What an emulated printer does with the bytes it received.
#[derive(Debug, Clone, PartialEq)]
pub enum EmulatorOutput {
    /// It printed a page (black = 0, white = 255), at its own resolution.
    Page(GrayImage),
    /// It sends these bytes back to the host (a status reply).
    Reply(Vec<u8>),
}

/// Why an emulated printer rejected its input: the bytes are not valid in its language. A real
/// printer would print garbage or nothing; tests treat this as an encoder bug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{language} emulator: {reason} (at input byte {offset})")]
pub struct EmulatorError {
    /// The language being spoken.
    pub language: &'static str,
    /// What was wrong.
    pub reason: String,
    /// Offset in the whole input stream since the emulator was made.
    pub offset: u64,
}

/// The printer's side of a language: consumes the bytes a host sends, in chunks of any size,
/// and produces pages and status replies, behaving as the manual says a printer in the given
/// condition does (an out-of-paper printer answers status queries but prints nothing).
pub trait Emulator: Send + std::fmt::Debug {
    /// Feeds the next bytes from the host; `condition` is the printer's state at this moment.
    fn feed(
        &mut self,
        bytes: &[u8],
        condition: PrinterStatus,
    ) -> Result<Vec<EmulatorOutput>, EmulatorError>;
}
