//! ESC/POS, the command language of Epson TM-T20/TM-T88-class receipt printers and of the many
//! cheap 58 mm and 80 mm printers that copy it (203 dpi: 384 dots across on 58 mm paper, 576 on
//! 80 mm).
//!
//! A page goes out as `ESC @`, then the image as `GS v 0` raster bit images in bands, then a
//! feed and (where the printer has a cutter) `GS V 66 n`, a partial cut after feeding to the
//! cutter. Status is asked with the four real-time queries `DLE EOT 1` … `DLE EOT 4`, one reply
//! byte each. Written from Epson's ESC/POS command reference (the TM-T88III and TM-L60II
//! editions: `DLE EOT`, `GS V`) and the compatible programming manuals of Bixolon (SRP-350),
//! Citizen (CT-S2000, CBM-1000, iDP3240), HPRT and Cino for `GS v 0`, `ESC d` and the status
//! bits, which all describe the same bytes.
//!
//! No crate from crates.io is used. The `escpos` crate does far more than this (text, code
//! pages, barcodes) and gets the status query wrong: it sends `DLE EOT n 0` for n = 1 … 4, and
//! that 0 — a parameter only the extended queries take — reaches the printer as a stray byte.
//! What is needed here, one raster command, a cut and four status bytes, is small enough to
//! check line by line against the manual.

use image::{GrayImage, Luma};

use super::{
    Emulator, EmulatorError, EmulatorOutput, EncodeError, Language, Page, StatusReply, is_dot,
};
use crate::devices::{PrinterErrorKind, PrinterStatus};

const ESC: u8 = 0x1B;
const GS: u8 = 0x1D;
const DLE: u8 = 0x10;
const EOT: u8 = 0x04;
const LF: u8 = 0x0A;
const CR: u8 = 0x0D;

/// `GS V m n` with m = 66: feed to the cutting position plus n motion units, then cut partially.
/// Partial rather than full: the receipt hangs by a tab instead of dropping inside the urn's
/// printer bay, and every cutter-equipped model takes m = 66.
const CUT_PARTIAL_AFTER_FEED: u8 = 66;

/// Lines fed after the image: on printers without a cutter the last printed row must clear the
/// tear-off edge, which sits a few lines above the head; with a cutter it leaves a bottom margin.
const FEED_LINES: u8 = 3;

/// The ESC/POS encoder: a page as `GS v 0` raster bands, then a feed and an optional cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EscPos {
    max_width: u32,
    band_rows: u32,
    cut: bool,
}

impl EscPos {
    /// Dots across the head of a 58 mm printer at 203 dpi.
    pub const WIDTH_58MM: u32 = 384;
    /// Dots across the head of an 80 mm printer at 203 dpi.
    pub const WIDTH_80MM: u32 = 576;
    /// Rows per `GS v 0` band unless told otherwise.
    pub const DEFAULT_BAND_ROWS: u32 = 64;
    /// The fewest rows a band may have: fewer only adds command overhead and head stops.
    pub const MIN_BAND_ROWS: u32 = 24;
    /// The most rows a band may have. Keeping `yH` zero matters: some clones read only `yL`.
    pub const MAX_BAND_ROWS: u32 = 255;
    /// The longest page encoded, about a metre of paper at 203 dpi. ESC/POS itself has no
    /// limit; a longer receipt can only be a rendering fault, and would empty the roll.
    pub const MAX_PAGE_ROWS: u32 = 8192;

    /// An encoder for a printer whose head is `max_width_dots` wide, with bands of
    /// [`EscPos::DEFAULT_BAND_ROWS`] and a cut after each page.
    pub fn new(max_width_dots: u32) -> Self {
        EscPos {
            max_width: max_width_dots,
            band_rows: Self::DEFAULT_BAND_ROWS,
            cut: true,
        }
    }

    /// The same encoder with bands of `rows` rows, kept within
    /// [`EscPos::MIN_BAND_ROWS`]`..=`[`EscPos::MAX_BAND_ROWS`].
    pub fn with_band_rows(self, rows: u32) -> Self {
        EscPos {
            band_rows: rows.clamp(Self::MIN_BAND_ROWS, Self::MAX_BAND_ROWS),
            ..self
        }
    }

    /// The same encoder, cutting after each page or not (for printers without a cutter, whose
    /// paper is torn off by hand).
    pub fn with_cut(self, cut: bool) -> Self {
        EscPos { cut, ..self }
    }

    /// The widest page taken, in dots.
    pub fn max_width(&self) -> u32 {
        self.max_width
    }

    /// Rows per `GS v 0` band.
    pub fn band_rows(&self) -> u32 {
        self.band_rows
    }

    /// Whether each page ends with a cut.
    pub fn cuts(&self) -> bool {
        self.cut
    }
}

impl Language for EscPos {
    fn name(&self) -> &'static str {
        "escpos"
    }

    /// `ESC @`, then `GS v 0` bands of at most [`EscPos::band_rows`] rows, `ESC d 3`, and
    /// `GS V 66 0` when cutting.
    ///
    /// The image goes in bands because many cheap printers collect a whole `GS v 0` image in a
    /// small buffer before printing it: one command for a 600-row receipt (43 KB at 80 mm)
    /// overflows it, and they print garbage, stop, or reset. Bands of a few KB also let the
    /// printer print while the rest is still on the wire.
    fn encode_page(&self, page: &Page) -> Result<Vec<u8>, EncodeError> {
        let (width, height) = page.dimensions();
        if width == 0 || height == 0 {
            return Err(EncodeError::Empty);
        }
        // GS v 0 counts width in bytes in two bytes, so the language tops out below 2^19 dots.
        let language_max = u32::from(u16::MAX) * 8;
        if width > self.max_width || width > language_max {
            return Err(EncodeError::TooWide {
                width,
                max: self.max_width.min(language_max),
            });
        }
        if height > Self::MAX_PAGE_ROWS {
            return Err(EncodeError::TooLong {
                height,
                max: Self::MAX_PAGE_ROWS,
            });
        }
        let row_bytes = width.div_ceil(8);
        let band_rows = self
            .band_rows
            .clamp(Self::MIN_BAND_ROWS, Self::MAX_BAND_ROWS);
        let bands = height.div_ceil(band_rows);
        let mut out = Vec::with_capacity((row_bytes * height + 8 * bands) as usize + 2 + 3 + 4);
        out.extend_from_slice(&[ESC, b'@']);
        let raw = page.as_raw();
        let mut top = 0;
        while top < height {
            let rows = band_rows.min(height - top);
            let [xl, xh] = le16(row_bytes);
            let [yl, yh] = le16(rows);
            out.extend_from_slice(&[GS, b'v', b'0', 0, xl, xh, yl, yh]);
            for y in top..top + rows {
                let start = (y * width) as usize;
                pack_row(&raw[start..start + width as usize], &mut out);
            }
            top += rows;
        }
        out.extend_from_slice(&[ESC, b'd', FEED_LINES]);
        if self.cut {
            out.extend_from_slice(&[GS, b'V', CUT_PARTIAL_AFTER_FEED, 0]);
        }
        Ok(out)
    }

    /// `DLE EOT 1`, `DLE EOT 2`, `DLE EOT 3`, `DLE EOT 4`: printer, offline cause, error cause
    /// and paper sensor. Real-time commands, so the printer answers even while offline or busy.
    ///
    /// A printer also answers any `10 04 n` that happens to occur inside raster data (the manual
    /// warns of this), so the link must discard what the printer sent during a job before it
    /// asks; [`EscPos::read_status`] rejects surplus bytes rather than guess which are which.
    fn status_query(&self) -> Vec<u8> {
        vec![DLE, EOT, 1, DLE, EOT, 2, DLE, EOT, 3, DLE, EOT, 4]
    }

    /// Reads the four reply bytes, in the order asked. Every status byte has bit 1 and bit 4 set
    /// and bits 0 and 7 clear; a byte that breaks this is not a reply (line noise, a stale
    /// automatic status, another protocol), and the whole reply is [`StatusReply::Invalid`] so
    /// that the link flushes and asks again.
    fn read_status(&self, reply: &[u8]) -> StatusReply {
        if let Some((i, &b)) = reply
            .iter()
            .enumerate()
            .find(|(_, b)| !fixed_bits_hold(**b))
        {
            return StatusReply::Invalid(format!(
                "byte {i} of the reply (0x{b:02X}) is not a DLE EOT status byte: its fixed bits are wrong"
            ));
        }
        match reply {
            [printer, offline, error, paper] => {
                StatusReply::Status(status_from_bytes(*printer, *offline, *error, *paper))
            }
            _ if reply.len() < 4 => StatusReply::NeedMore,
            _ => StatusReply::Invalid(format!(
                "{} bytes where four status bytes were expected",
                reply.len()
            )),
        }
    }
}

fn le16(v: u32) -> [u8; 2] {
    [(v & 0xFF) as u8, ((v >> 8) & 0xFF) as u8]
}

fn pack_row(row: &[u8], out: &mut Vec<u8>) {
    for chunk in row.chunks(8) {
        let mut byte = 0u8;
        for (i, &luma) in chunk.iter().enumerate() {
            if is_dot(luma) {
                byte |= 0x80 >> i;
            }
        }
        out.push(byte);
    }
}

/// Bit 0 off, bit 1 on, bit 4 on, bit 7 off, in every reply to `DLE EOT n`.
fn fixed_bits_hold(b: u8) -> bool {
    b & 0b1001_0011 == 0b0001_0010
}

fn status_from_bytes(printer: u8, offline: u8, error: u8, paper: u8) -> PrinterStatus {
    let cover_open = offline & 0x04 != 0;
    // Epson sets bits 5 and 6 together for "roll paper end sensor: paper not present"; some
    // compatibles set only one of them, so either counts. Bit 5 of the offline cause is the
    // printer having stopped on a paper end, which says the same.
    let paper_end = paper & 0x60 != 0 || offline & 0x20 != 0;
    let cutter = error & 0x08 != 0;
    let unrecoverable = error & 0x20 != 0;
    let auto_recoverable = error & 0x40 != 0;
    let error_stop = offline & 0x40 != 0;
    let is_offline = printer & 0x08 != 0;
    let near_end = paper & 0x0C != 0;
    if cover_open {
        PrinterStatus::CoverOpen
    } else if paper_end {
        PrinterStatus::PaperOut
    } else if cutter {
        PrinterStatus::Error(PrinterErrorKind::Cutter)
    } else if unrecoverable {
        PrinterStatus::Error(PrinterErrorKind::Other)
    } else if auto_recoverable {
        // The manual's auto-recoverable error is the head over temperature: printing resumes by
        // itself once the head has cooled.
        PrinterStatus::Error(PrinterErrorKind::HeadTemperature)
    } else if error_stop {
        PrinterStatus::Error(PrinterErrorKind::Other)
    } else if is_offline {
        PrinterStatus::Offline
    } else if near_end {
        PrinterStatus::PaperLow
    } else {
        PrinterStatus::Ready
    }
}

/// The printer's side of ESC/POS, for the simulated printer and the tests: a byte-level state
/// machine written from the manual, sharing no code with [`EscPos`].
///
/// It understands `ESC @`, `ESC 2`, `ESC 3 n`, `ESC d n`, `ESC J n`, `LF`, `CR`, `GS v 0` (normal
/// scale), `GS V` (all four cut forms of the basic command) and `DLE EOT n`. Raster bands are
/// stacked into the current page; a cut emits everything since the previous cut as one
/// [`EmulatorOutput::Page`], as wide as its widest band. White paper fed between printed rows is
/// part of the page; paper fed after the last printed row (the way to the cutter) is not.
///
/// `DLE EOT n` is answered the moment its third byte arrives, wherever it is — also inside the
/// data of another command, as the manual warns real printers do. A printer whose condition
/// cannot print consumes raster data but loses the page; an [`PrinterStatus::Offline`] printer
/// does not answer at all.
#[derive(Debug, Clone)]
pub struct EscPosEmulator {
    offset: u64,
    state: State,
    /// The two bytes before the current one, for spotting real-time commands anywhere.
    recent: [u8; 2],
    line_spacing: u32,
    /// Packed rows since the last cut; an empty row is a white one.
    rows: Vec<Vec<u8>>,
    /// Rows fed but not yet followed by printing.
    pending_white: u32,
    /// Whether part of the current page was sent while the printer could not print.
    lost: bool,
}

#[derive(Debug, Clone)]
enum State {
    Top,
    Esc,
    EscArg(u8),
    Gs,
    GsRaster0,
    RasterHeader {
        got: [u8; 5],
        len: usize,
    },
    RasterData {
        width: usize,
        rows_left: u32,
        row: Vec<u8>,
    },
    GsCut,
    GsCutFeed,
    Dle,
    DleEot,
}

/// Bytes per raster row the emulator takes: 2048 dots, beyond any receipt printer's head.
const EMU_MAX_ROW_BYTES: usize = 256;
/// Rows between two cuts the emulator keeps, bounding its memory (4 MB at the widest).
const EMU_MAX_ROWS: usize = 16_384;
/// The manual's default line spacing on 203 dpi models: about 3.75 mm.
const EMU_DEFAULT_LINE_SPACING: u32 = 30;

impl Default for EscPosEmulator {
    fn default() -> Self {
        Self::new()
    }
}

impl EscPosEmulator {
    /// A printer just switched on: nothing printed, default line spacing.
    pub fn new() -> Self {
        EscPosEmulator {
            offset: 0,
            state: State::Top,
            recent: [0, 0],
            line_spacing: EMU_DEFAULT_LINE_SPACING,
            rows: Vec::new(),
            pending_white: 0,
            lost: false,
        }
    }

    /// What a person tearing the paper off gets: everything printed since the last cut, for
    /// printers without a cutter. `None` when nothing was printed or the page was lost.
    pub fn tear_off(&mut self) -> Option<GrayImage> {
        self.finish_page(true)
    }

    fn error(&self, reason: impl Into<String>) -> EmulatorError {
        EmulatorError {
            language: "escpos",
            reason: reason.into(),
            offset: self.offset,
        }
    }

    fn watch_realtime(&mut self, b: u8, condition: PrinterStatus, out: &mut Vec<EmulatorOutput>) {
        if self.recent == [DLE, EOT]
            && (1..=4).contains(&b)
            && let Some(reply) = reply_bytes(condition)
        {
            out.push(EmulatorOutput::Reply(vec![reply[usize::from(b - 1)]]));
        }
        self.recent = [self.recent[1], b];
    }

    fn feed_rows(&mut self, rows: u32) {
        self.pending_white = self.pending_white.saturating_add(rows);
    }

    fn start_band(
        &mut self,
        header: [u8; 5],
        condition: PrinterStatus,
    ) -> Result<State, EmulatorError> {
        let [m, xl, xh, yl, yh] = header;
        if m != 0 && m != 48 {
            return Err(self.error(format!(
                "GS v 0 with m = {m}: only normal scale (0 or 48) is emulated"
            )));
        }
        let width = usize::from(xl) + 256 * usize::from(xh);
        let rows = u32::from(yl) + 256 * u32::from(yh);
        if width == 0 || rows == 0 {
            return Err(self.error("GS v 0 with no data (k = 0 is outside the command's range)"));
        }
        if width > EMU_MAX_ROW_BYTES {
            return Err(self.error(format!(
                "GS v 0 rows of {width} bytes; the emulator takes at most {EMU_MAX_ROW_BYTES}"
            )));
        }
        if !condition.can_print() {
            self.lost = true;
        }
        if !self.lost {
            let total = self.rows.len() + self.pending_white as usize + rows as usize;
            if total > EMU_MAX_ROWS {
                return Err(self.error(format!(
                    "more than {EMU_MAX_ROWS} rows without a cut; the emulator keeps no more"
                )));
            }
            let white = std::mem::take(&mut self.pending_white) as usize;
            self.rows.resize(self.rows.len() + white, Vec::new());
        }
        Ok(State::RasterData {
            width,
            rows_left: rows,
            row: Vec::with_capacity(width),
        })
    }

    fn finish_page(&mut self, can_print: bool) -> Option<GrayImage> {
        let rows = std::mem::take(&mut self.rows);
        let lost = std::mem::replace(&mut self.lost, false);
        self.pending_white = 0;
        if lost || !can_print || rows.is_empty() {
            return None;
        }
        let width_bytes = rows.iter().map(Vec::len).max().unwrap_or(0);
        if width_bytes == 0 {
            return None;
        }
        let width = (width_bytes * 8) as u32;
        let mut image = GrayImage::from_pixel(width, rows.len() as u32, Luma([255]));
        for (y, row) in rows.iter().enumerate() {
            for (i, &byte) in row.iter().enumerate() {
                for bit in 0..8 {
                    if byte & (0x80 >> bit) != 0 {
                        image.put_pixel((i * 8 + bit) as u32, y as u32, Luma([0]));
                    }
                }
            }
        }
        Some(image)
    }

    fn cut(&mut self, condition: PrinterStatus, out: &mut Vec<EmulatorOutput>) {
        if let Some(page) = self.finish_page(condition.can_print()) {
            out.push(EmulatorOutput::Page(page));
        }
    }

    fn step(
        &mut self,
        b: u8,
        condition: PrinterStatus,
        out: &mut Vec<EmulatorOutput>,
    ) -> Result<(), EmulatorError> {
        let state = std::mem::replace(&mut self.state, State::Top);
        self.state = match state {
            State::Top => match b {
                ESC => State::Esc,
                GS => State::Gs,
                DLE => State::Dle,
                LF => {
                    self.feed_rows(self.line_spacing);
                    State::Top
                }
                // Carriage return prints the (always empty) line buffer and, with automatic
                // line feed off as shipped, moves nothing.
                CR => State::Top,
                _ => {
                    return Err(self.error(format!(
                        "byte 0x{b:02X} is not a command the emulator knows (text is not emulated)"
                    )));
                }
            },
            State::Esc => match b {
                b'@' => {
                    // Initialising clears the line buffer and the settings, not the paper
                    // already printed, so the page since the last cut stays.
                    self.line_spacing = EMU_DEFAULT_LINE_SPACING;
                    State::Top
                }
                b'2' => {
                    self.line_spacing = EMU_DEFAULT_LINE_SPACING;
                    State::Top
                }
                b'3' | b'd' | b'J' => State::EscArg(b),
                _ => return Err(self.error(format!("unknown command ESC 0x{b:02X}"))),
            },
            State::EscArg(command) => {
                match command {
                    b'3' => self.line_spacing = u32::from(b),
                    b'd' => self.feed_rows(u32::from(b) * self.line_spacing),
                    // ESC J n feeds n vertical motion units: dots, at the default GS P.
                    _ => self.feed_rows(u32::from(b)),
                }
                State::Top
            }
            State::Gs => match b {
                b'v' => State::GsRaster0,
                b'V' => State::GsCut,
                _ => return Err(self.error(format!("unknown command GS 0x{b:02X}"))),
            },
            State::GsRaster0 => {
                if b != b'0' {
                    return Err(self.error(format!("unknown command GS v 0x{b:02X}")));
                }
                State::RasterHeader {
                    got: [0; 5],
                    len: 0,
                }
            }
            State::RasterHeader { mut got, len } => {
                got[len] = b;
                if len + 1 < got.len() {
                    State::RasterHeader { got, len: len + 1 }
                } else {
                    self.start_band(got, condition)?
                }
            }
            State::RasterData {
                width,
                rows_left,
                mut row,
            } => {
                row.push(b);
                if row.len() < width {
                    State::RasterData {
                        width,
                        rows_left,
                        row,
                    }
                } else {
                    if !self.lost {
                        self.rows.push(row);
                    }
                    if rows_left > 1 {
                        State::RasterData {
                            width,
                            rows_left: rows_left - 1,
                            row: Vec::with_capacity(width),
                        }
                    } else {
                        State::Top
                    }
                }
            }
            State::GsCut => match b {
                0 | 48 | 1 | 49 => {
                    self.cut(condition, out);
                    State::Top
                }
                65 | 66 => State::GsCutFeed,
                _ => return Err(self.error(format!("GS V with unsupported mode m = {b}"))),
            },
            State::GsCutFeed => {
                // The feed to the cutter and the n units past it are the tail of this piece of
                // paper, below the last printed row: not part of the page.
                self.cut(condition, out);
                State::Top
            }
            State::Dle => {
                if b != EOT {
                    return Err(self.error(format!("unknown command DLE 0x{b:02X}")));
                }
                State::DleEot
            }
            State::DleEot => {
                if !(1..=4).contains(&b) {
                    return Err(self.error(format!("DLE EOT with n = {b}, outside 1..=4")));
                }
                // Already answered by `watch_realtime` when this byte arrived.
                State::Top
            }
        };
        Ok(())
    }
}

impl Emulator for EscPosEmulator {
    fn feed(
        &mut self,
        bytes: &[u8],
        condition: PrinterStatus,
    ) -> Result<Vec<EmulatorOutput>, EmulatorError> {
        let mut out = Vec::new();
        for &b in bytes {
            self.watch_realtime(b, condition, &mut out);
            if let Err(e) = self.step(b, condition, &mut out) {
                // A real printer resynchronises on whatever comes next; so does the emulator.
                self.state = State::Top;
                self.offset += 1;
                return Err(e);
            }
            self.offset += 1;
        }
        Ok(out)
    }
}

/// The four bytes a printer in `condition` answers to `DLE EOT 1` … `DLE EOT 4`, by the
/// manual's tables; `None` for a printer that does not answer.
fn reply_bytes(condition: PrinterStatus) -> Option<[u8; 4]> {
    // Bits 1 and 4 are fixed on in every status byte.
    const BASE: u8 = 0x12;
    const OFFLINE: u8 = 0x08;
    let (mut printer, mut offline, mut error, mut paper) = (BASE, BASE, BASE, BASE);
    match condition {
        PrinterStatus::Ready => {}
        PrinterStatus::PaperLow => paper |= 0x0C,
        PrinterStatus::PaperOut => {
            printer |= OFFLINE;
            offline |= 0x20;
            // The near-end sensor sees no paper either once the roll has run out.
            paper |= 0x0C | 0x60;
        }
        PrinterStatus::CoverOpen => {
            printer |= OFFLINE;
            offline |= 0x04;
        }
        PrinterStatus::Offline => return None,
        PrinterStatus::Error(PrinterErrorKind::BadReply) => return Some([0xFF; 4]),
        PrinterStatus::Error(PrinterErrorKind::Paused) => {
            // ESC/POS has no pause; the nearest is offline with no cause given.
            printer |= OFFLINE;
        }
        PrinterStatus::Error(kind) => {
            printer |= OFFLINE;
            offline |= 0x40;
            error |= match kind {
                // The manual names paper jams as a cause of the autocutter error.
                PrinterErrorKind::Cutter | PrinterErrorKind::PaperJam => 0x08,
                PrinterErrorKind::HeadTemperature => 0x40,
                _ => 0x20,
            };
        }
    }
    Some([printer, offline, error, paper])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(rows: &[&str]) -> Page {
        let width = rows[0].len() as u32;
        let mut image = GrayImage::from_pixel(width, rows.len() as u32, Luma([255]));
        for (y, row) in rows.iter().enumerate() {
            assert_eq!(row.len() as u32, width);
            for (x, c) in row.chars().enumerate() {
                if c == '#' {
                    image.put_pixel(x as u32, y as u32, Luma([0]));
                }
            }
        }
        image
    }

    fn status(bytes: &[u8]) -> StatusReply {
        EscPos::new(EscPos::WIDTH_58MM).read_status(bytes)
    }

    fn run(
        emulator: &mut EscPosEmulator,
        bytes: &[u8],
        condition: PrinterStatus,
    ) -> Vec<EmulatorOutput> {
        emulator.feed(bytes, condition).expect("valid ESC/POS")
    }

    #[test]
    fn golden_16_by_3_page_with_cut() {
        let p = page(&["#.......########", "##.#.#.#........", "...............#"]);
        // Written from the manual: ESC @; GS v 0 m=0 xL=2 xH=0 yL=3 yH=0, then rows MSB-first;
        // ESC d 3; GS V 66 0.
        let expected: Vec<u8> = vec![
            0x1B, 0x40, //
            0x1D, 0x76, 0x30, 0x00, 0x02, 0x00, 0x03, 0x00, //
            0x80, 0xFF, //
            0xD5, 0x00, //
            0x00, 0x01, //
            0x1B, 0x64, 0x03, //
            0x1D, 0x56, 0x42, 0x00,
        ];
        assert_eq!(
            EscPos::new(EscPos::WIDTH_58MM).encode_page(&p).unwrap(),
            expected
        );
    }

    #[test]
    fn golden_width_padded_to_whole_bytes_without_cut() {
        // 10 dots wide: two bytes per row, the last six bits of the second white.
        let p = page(&["#........#", ".#......#."]);
        let expected: Vec<u8> = vec![
            0x1B, 0x40, //
            0x1D, 0x76, 0x30, 0x00, 0x02, 0x00, 0x02, 0x00, //
            0x80, 0x40, //
            0x40, 0x80, //
            0x1B, 0x64, 0x03,
        ];
        let encoder = EscPos::new(EscPos::WIDTH_58MM).with_cut(false);
        assert_eq!(encoder.encode_page(&p).unwrap(), expected);
    }

    #[test]
    fn golden_band_split() {
        // 8 × 50 with bands of 24: bands of 24, 24 and 2 rows. Row y is black only at dot 0
        // when y is even.
        let rows: Vec<String> = (0..50)
            .map(|y| {
                if y % 2 == 0 {
                    "#.......".to_string()
                } else {
                    "........".to_string()
                }
            })
            .collect();
        let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
        let p = page(&rows);
        let alternating = |n: usize| -> Vec<u8> {
            (0..n)
                .map(|i| if i % 2 == 0 { 0x80 } else { 0x00 })
                .collect()
        };
        let mut expected: Vec<u8> = vec![0x1B, 0x40];
        expected.extend([0x1D, 0x76, 0x30, 0x00, 0x01, 0x00, 24, 0x00]);
        expected.extend(alternating(24));
        expected.extend([0x1D, 0x76, 0x30, 0x00, 0x01, 0x00, 24, 0x00]);
        expected.extend(alternating(24));
        expected.extend([0x1D, 0x76, 0x30, 0x00, 0x01, 0x00, 2, 0x00]);
        expected.extend([0x80, 0x00]);
        expected.extend([0x1B, 0x64, 0x03, 0x1D, 0x56, 0x42, 0x00]);
        let encoder = EscPos::new(EscPos::WIDTH_58MM).with_band_rows(24);
        assert_eq!(encoder.encode_page(&p).unwrap(), expected);
    }

    #[test]
    fn band_rows_are_kept_in_range() {
        assert_eq!(EscPos::new(384).with_band_rows(1).band_rows(), 24);
        assert_eq!(EscPos::new(384).with_band_rows(1000).band_rows(), 255);
        assert_eq!(EscPos::new(384).band_rows(), EscPos::DEFAULT_BAND_ROWS);
    }

    #[test]
    fn refuses_wide_empty_and_endless_pages() {
        let encoder = EscPos::new(EscPos::WIDTH_58MM);
        assert_eq!(
            encoder.encode_page(&GrayImage::new(385, 10)),
            Err(EncodeError::TooWide {
                width: 385,
                max: 384
            })
        );
        assert_eq!(
            encoder.encode_page(&GrayImage::new(0, 10)),
            Err(EncodeError::Empty)
        );
        assert_eq!(
            encoder.encode_page(&GrayImage::new(10, 0)),
            Err(EncodeError::Empty)
        );
        assert_eq!(
            encoder.encode_page(&GrayImage::new(8, 8193)),
            Err(EncodeError::TooLong {
                height: 8193,
                max: 8192
            })
        );
        assert!(
            EscPos::new(EscPos::WIDTH_80MM)
                .encode_page(&GrayImage::new(576, 1))
                .is_ok()
        );
    }

    #[test]
    fn golden_status_query() {
        assert_eq!(
            EscPos::new(384).status_query(),
            vec![
                0x10, 0x04, 0x01, 0x10, 0x04, 0x02, 0x10, 0x04, 0x03, 0x10, 0x04, 0x04
            ]
        );
    }

    #[test]
    fn golden_status_replies() {
        use PrinterErrorKind as K;
        use PrinterStatus as S;
        // Spelled out from the manual's tables: 0x12 is a byte with only the fixed bits.
        let cases: &[([u8; 4], PrinterStatus)] = &[
            ([0x12, 0x12, 0x12, 0x12], S::Ready),
            // Drawer pin high (n=1 bit 2) and the feed button (n=2 bit 3) are not faults.
            ([0x16, 0x12, 0x12, 0x12], S::Ready),
            // Near end: n=4 bits 2 and 3.
            ([0x12, 0x12, 0x12, 0x1E], S::PaperLow),
            // Paper end: n=4 bits 5 and 6, n=2 bit 5 (stopped on paper end), offline.
            ([0x1A, 0x32, 0x12, 0x7E], S::PaperOut),
            // Only the offline cause says paper end.
            ([0x1A, 0x32, 0x12, 0x12], S::PaperOut),
            // Cover open: n=2 bit 2, offline.
            ([0x1A, 0x16, 0x12, 0x12], S::CoverOpen),
            // Cover open while also out of paper: the cover is reported first.
            ([0x1A, 0x36, 0x12, 0x7E], S::CoverOpen),
            // Autocutter error: n=3 bit 3, with n=2 bit 6 (error occurred).
            ([0x1A, 0x52, 0x1A, 0x12], S::Error(K::Cutter)),
            // Unrecoverable error: n=3 bit 5.
            ([0x1A, 0x52, 0x32, 0x12], S::Error(K::Other)),
            // Auto-recoverable error (head temperature): n=3 bit 6.
            ([0x1A, 0x52, 0x52, 0x12], S::Error(K::HeadTemperature)),
            // An error with no cause given.
            ([0x1A, 0x52, 0x12, 0x12], S::Error(K::Other)),
            // Paper out outranks an error.
            ([0x1A, 0x72, 0x1A, 0x7E], S::PaperOut),
            // Offline with no cause (say, paper fed with the button: n=2 bit 3).
            ([0x1A, 0x1A, 0x12, 0x12], S::Offline),
            // Offline outranks a near end.
            ([0x1A, 0x12, 0x12, 0x1E], S::Offline),
        ];
        for (bytes, expected) in cases {
            assert_eq!(
                status(bytes),
                StatusReply::Status(*expected),
                "reply {bytes:02X?}"
            );
        }
    }

    #[test]
    fn truncated_and_foreign_replies() {
        assert_eq!(status(&[]), StatusReply::NeedMore);
        assert_eq!(status(&[0x12]), StatusReply::NeedMore);
        assert_eq!(status(&[0x12, 0x12, 0x12]), StatusReply::NeedMore);
        for foreign in [
            &[0x00][..],
            &[0x12, 0xFF],
            &[0x13, 0x12, 0x12, 0x12],
            &[0x92, 0x12, 0x12, 0x12],
            &[0x12, 0x02, 0x12, 0x12],
            &[0x12, 0x12, 0x10, 0x12],
            b"OK\r\n",
        ] {
            assert!(
                matches!(status(foreign), StatusReply::Invalid(_)),
                "{foreign:02X?}"
            );
        }
        assert!(matches!(status(&[0x12; 5]), StatusReply::Invalid(_)));
    }

    #[test]
    fn emulator_answers_every_query_for_every_condition() {
        use PrinterErrorKind as K;
        use PrinterStatus as S;
        let encoder = EscPos::new(384);
        for condition in [
            S::Ready,
            S::PaperLow,
            S::PaperOut,
            S::CoverOpen,
            S::Error(K::Cutter),
            S::Error(K::HeadTemperature),
            S::Error(K::Other),
        ] {
            let mut emulator = EscPosEmulator::new();
            let reply: Vec<u8> = run(&mut emulator, &encoder.status_query(), condition)
                .into_iter()
                .flat_map(|o| match o {
                    EmulatorOutput::Reply(bytes) => bytes,
                    EmulatorOutput::Page(_) => panic!("a status query printed a page"),
                })
                .collect();
            assert_eq!(reply.len(), 4);
            assert_eq!(encoder.read_status(&reply), StatusReply::Status(condition));
        }
        let mut emulator = EscPosEmulator::new();
        assert!(run(&mut emulator, &encoder.status_query(), S::Offline).is_empty());
        let reply = run(
            &mut emulator,
            &encoder.status_query(),
            S::Error(K::BadReply),
        );
        assert_eq!(reply.len(), 4);
        assert_eq!(reply[0], EmulatorOutput::Reply(vec![0xFF]));
    }

    #[test]
    fn emulator_answers_mid_job_and_inside_raster_data() {
        let mut emulator = EscPosEmulator::new();
        // A band whose data holds 10 04 02: the printer answers it, and still prints the bytes.
        let bytes = [
            0x1D, 0x76, 0x30, 0x00, 0x03, 0x00, 0x01, 0x00, 0x10, 0x04, 0x02,
        ];
        let out = run(&mut emulator, &bytes, PrinterStatus::Ready);
        assert_eq!(out, vec![EmulatorOutput::Reply(vec![0x12])]);
        let out = run(&mut emulator, &[0x1D, 0x56, 0x00], PrinterStatus::Ready);
        let [EmulatorOutput::Page(p)] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!((p.width(), p.height()), (24, 1));
        assert_eq!(p.get_pixel(3, 0).0[0], 0);
        assert_eq!(p.get_pixel(13, 0).0[0], 0);
        assert_eq!(p.get_pixel(22, 0).0[0], 0);
        assert_eq!(p.pixels().filter(|l| l.0[0] == 0).count(), 3);
    }

    #[test]
    fn emulator_feeds_between_bands_but_not_after_the_last() {
        let mut emulator = EscPosEmulator::new();
        let mut bytes = vec![0x1B, 0x40];
        bytes.extend([0x1D, 0x76, 0x30, 0x00, 0x01, 0x00, 0x01, 0x00, 0xFF]);
        bytes.extend([0x1B, 0x4A, 5]); // ESC J 5: five dots
        bytes.extend([0x1D, 0x76, 0x30, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00, 0x01]);
        bytes.extend([0x0A, 0x1B, 0x64, 0x03, 0x1D, 0x56, 0x42, 0x00]);
        let out = run(&mut emulator, &bytes, PrinterStatus::Ready);
        let [EmulatorOutput::Page(p)] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!((p.width(), p.height()), (16, 7));
        assert!((0..8).all(|x| p.get_pixel(x, 0).0[0] == 0));
        assert!((8..16).all(|x| p.get_pixel(x, 0).0[0] == 255));
        assert!((1..6).all(|y| (0..16).all(|x| p.get_pixel(x, y).0[0] == 255)));
        assert_eq!(p.get_pixel(15, 6).0[0], 0);
    }

    #[test]
    fn emulator_loses_pages_it_cannot_print() {
        let encoder = EscPos::new(384);
        let bytes = encoder.encode_page(&page(&["########"])).unwrap();
        for condition in [
            PrinterStatus::PaperOut,
            PrinterStatus::CoverOpen,
            PrinterStatus::Offline,
        ] {
            let mut emulator = EscPosEmulator::new();
            assert!(
                run(&mut emulator, &bytes, condition).is_empty(),
                "{condition:?}"
            );
            // The next page prints as usual once the fault is gone.
            let out = run(&mut emulator, &bytes, PrinterStatus::Ready);
            assert!(matches!(out.as_slice(), [EmulatorOutput::Page(_)]));
        }
        // A fault between the raster and the cut loses the page too.
        let mut emulator = EscPosEmulator::new();
        let split = bytes.len() - 4;
        assert!(run(&mut emulator, &bytes[..split], PrinterStatus::Ready).is_empty());
        assert!(run(&mut emulator, &bytes[split..], PrinterStatus::PaperOut).is_empty());
    }

    #[test]
    fn emulator_tears_off_pages_without_a_cut() {
        let encoder = EscPos::new(384).with_cut(false);
        let mut emulator = EscPosEmulator::new();
        assert!(
            run(
                &mut emulator,
                &encoder.encode_page(&page(&["#......."])).unwrap(),
                PrinterStatus::Ready
            )
            .is_empty()
        );
        let torn = emulator.tear_off().expect("a page");
        assert_eq!((torn.width(), torn.height()), (8, 1));
        assert!(emulator.tear_off().is_none());
    }

    #[test]
    fn emulator_rejects_unknown_bytes_with_their_offset() {
        let mut emulator = EscPosEmulator::new();
        run(&mut emulator, &[0x1B, 0x40], PrinterStatus::Ready);
        let e = emulator
            .feed(&[0x0A, b'A'], PrinterStatus::Ready)
            .unwrap_err();
        assert_eq!(e.offset, 3);
        assert_eq!(e.language, "escpos");
        for bad in [
            &[0x1B, 0x21, 0x00][..],
            &[0x1D, 0x76, 0x31],
            &[0x1D, 0x76, 0x30, 0x01, 1, 0, 1, 0],
            &[0x1D, 0x76, 0x30, 0x00, 0, 0, 1, 0],
            &[0x1D, 0x76, 0x30, 0x00, 0x01, 0x01, 1, 0],
            &[0x1D, 0x56, 0x61, 0x00],
            &[0x10, 0x05, 0x01],
            &[0x10, 0x04, 0x05],
        ] {
            assert!(
                EscPosEmulator::new()
                    .feed(bad, PrinterStatus::Ready)
                    .is_err(),
                "{bad:02X?}"
            );
        }
    }

    #[test]
    fn emulator_bounds_the_page() {
        let mut emulator = EscPosEmulator::new();
        let mut band = vec![0x1D, 0x76, 0x30, 0x00, 0x01, 0x00, 0xFF, 0x00];
        band.extend(std::iter::repeat_n(0xAA, 255));
        let mut result = Ok(Vec::new());
        for _ in 0..(EMU_MAX_ROWS / 255 + 1) {
            result = emulator.feed(&band, PrinterStatus::Ready);
            if result.is_err() {
                break;
            }
        }
        assert!(result.is_err());
    }
}
