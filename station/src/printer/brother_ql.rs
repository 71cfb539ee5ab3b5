//! Brother QL label printers (QL-570/700/800/810W/820NWB): the raster command language on
//! continuous tape at 300 dpi, the printer's 32-byte status frames, and an emulator of the
//! printer's side of both.
//!
//! Written from Brother's *Software Developer's Manual — Raster Command Reference
//! QL-800/810W/820NWB* (v1.01, 2016) and the *Brother QL Series Command Reference
//! (QL-500/550/560/570/580N/650TD/700/1050/1060N)* (v6.0, 2011). Section numbers are the QL-800
//! manual's.
//!
//! A job, as [`BrotherQl::encode_page`] sends it (§2.1):
//!
//! ```text
//! 00 × 200              invalidate
//! 1B 40                 ESC @    initialise
//! 1B 69 61 01           ESC i a  switch to raster mode
//! 1B 69 7A …10 bytes    ESC i z  print information: media, width, raster line count
//! 1B 69 4D 40           ESC i M  various mode: auto cut
//! 1B 69 41 01           ESC i A  cut every 1 label (only with auto cut)
//! 1B 69 4B 08           ESC i K  expanded mode: cut at end
//! 1B 69 64 23 00        ESC i d  feed margin, 35 dots
//! 4D 02                 M        TIFF (PackBits) compression (only when configured)
//! 67 00 n d1…dn         g        one raster line per page row (5A `Z`: a blank one, compressed)
//! 1A                    Control-Z  print with feeding
//! ```
//!
//! Why not a crate: the `brother_ql` crates on crates.io send uncompressed lines only, and the
//! PackBits crates implement Apple's/TIFF's general scheme rather than Brother's variant (a line
//! always expands to exactly 90 bytes; if packing does not pay, the line goes as one 91-byte
//! literal run). The Python `brother_ql` package leans on a separate `packbits` module. The
//! protocol is small, so it is written here from the manuals, with a test per manual example.
//!
//! Compression is off by default: the QL-570/700 reference lists TIFF mode only for the
//! QL-580N/650TD/1050/1060N and the QL-800 manual says the QL-800 does not support it; the
//! QL-810W/820NWB do, and [`QlConfig::compression`] turns it on for them.

use image::GrayImage;

use super::{EmulatorError, EmulatorOutput, EncodeError, Language, Page, StatusReply, is_dot};
use crate::devices::{PrinterErrorKind, PrinterStatus};

const ESC: u8 = 0x1B;

/// Length of the invalidate run (§2.1: "sends a 200-byte invalidate command").
const INVALIDATE_LEN: usize = 200;

/// `ESC i z` media type byte for continuous length tape (§4, print information command).
const MEDIA_CONTINUOUS: u8 = 0x0A;

/// `ESC i z` valid flags: media type (0x02), media width (0x04), printer recovery always on
/// (0x80). Media length (0x08) is left out because continuous tape has none; 0x86 is the value
/// of the manual's own continuous-tape example (§2.1).
const PRINT_INFO_FLAGS: u8 = 0x86;

/// Feed margin on continuous tape in dots: 35 dots = 3 mm, the manual's value (§2.1, §2.3.3).
const FEED_MARGIN_DOTS: u16 = 35;

/// The longest page one job can carry: 1 m of tape at 300 dpi (§2.3.4).
pub const MAX_PAGE_LINES: u32 = 11_811;

/// Length of every status frame the printer sends (§4, `ESC i S`).
pub const STATUS_FRAME_LEN: usize = 32;

/// The status information request alone, `ESC i S`, for use while a job may still be printing
/// (see [`BrotherQl::status_query`] for why the standalone query is longer).
pub const STATUS_REQUEST: [u8; 3] = [ESC, b'i', b'S'];

/// A continuous tape as the print head sees it (§2.3.2, page size table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QlTape {
    /// Tape width in millimetres, as `ESC i z` sends it and the status reports it.
    pub width_mm: u8,
    /// How many head dots print on the tape.
    pub printable_dots: u32,
    /// Head dots left of the printable area, looking at the printed side with the label read the
    /// right way up (the manual's "left margin" column).
    pub left_offset_dots: u32,
}

impl QlTape {
    /// 62 mm continuous tape (DK-22205) on a 720-dot head: 12 dots, 696 printable, 12 dots.
    pub const CONTINUOUS_62MM: QlTape = QlTape {
        width_mm: 62,
        printable_dots: 696,
        left_offset_dots: 12,
    };

    /// The continuous tapes of the 720-dot QL models, by width in mm, from the manual's page
    /// size table: `None` for a width the table does not have.
    pub fn continuous(width_mm: u8) -> Option<QlTape> {
        let (left, printable) = match width_mm {
            12 => (585, 106),
            29 => (408, 306),
            38 => (295, 413),
            50 => (154, 554),
            54 => (130, 590),
            62 => (12, 696),
            _ => return None,
        };
        Some(QlTape {
            width_mm,
            printable_dots: printable,
            left_offset_dots: left,
        })
    }
}

/// How the station drives its QL printer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QlConfig {
    /// Dots across the print head: 720 on every model named here (90 bytes per raster line).
    pub head_dots: u32,
    /// The tape loaded.
    pub tape: QlTape,
    /// Cut the tape after each label.
    pub auto_cut: bool,
    /// Send raster lines PackBits-compressed (QL-810W/820NWB; not the QL-570/700/800).
    pub compression: bool,
}

impl Default for QlConfig {
    /// A 720-dot QL with 62 mm continuous tape, cutting after each label, uncompressed.
    fn default() -> Self {
        QlConfig {
            head_dots: 720,
            tape: QlTape::CONTINUOUS_62MM,
            auto_cut: true,
            compression: false,
        }
    }
}

/// Why a [`QlConfig`] cannot drive a printer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QlConfigError {
    /// The head width is not a whole number of bytes the raster command can carry.
    #[error(
        "brother_ql: head_dots = {0}: must be a multiple of 8 up to 1296 (720 on QL-5xx/7xx/8xx)"
    )]
    Head(u32),
    /// The tape's printable area does not lie on the head.
    #[error(
        "brother_ql: tape of {width_mm} mm: {left} + {printable} dots do not fit a {head}-dot head"
    )]
    TapeOffHead {
        /// The tape's width in mm.
        width_mm: u8,
        /// Its left offset in dots.
        left: u32,
        /// Its printable width in dots.
        printable: u32,
        /// The head width in dots.
        head: u32,
    },
    /// The tape has no width or no printable dots.
    #[error("brother_ql: the tape has no width or no printable dots")]
    EmptyTape,
}

/// The Brother QL raster language, as the station speaks it.
#[derive(Debug, Clone)]
pub struct BrotherQl {
    config: QlConfig,
}

impl Default for BrotherQl {
    /// [`QlConfig::default`]: 62 mm continuous tape, auto cut, no compression.
    fn default() -> Self {
        BrotherQl {
            config: QlConfig::default(),
        }
    }
}

impl BrotherQl {
    /// An encoder for `config`, refused if the tape does not fit the head.
    pub fn new(config: QlConfig) -> Result<BrotherQl, QlConfigError> {
        let head = config.head_dots;
        if head == 0 || !head.is_multiple_of(8) || head > 1296 {
            return Err(QlConfigError::Head(head));
        }
        let tape = config.tape;
        if tape.width_mm == 0 || tape.printable_dots == 0 {
            return Err(QlConfigError::EmptyTape);
        }
        if tape
            .left_offset_dots
            .checked_add(tape.printable_dots)
            .is_none_or(|end| end > head)
        {
            return Err(QlConfigError::TapeOffHead {
                width_mm: tape.width_mm,
                left: tape.left_offset_dots,
                printable: tape.printable_dots,
                head,
            });
        }
        Ok(BrotherQl { config })
    }

    /// The configuration this encoder was made with.
    pub fn config(&self) -> &QlConfig {
        &self.config
    }

    /// The print information command (`ESC i z`) for a page of `raster_lines` lines on the
    /// configured continuous tape, as the first page of its job.
    pub fn print_information(&self, raster_lines: u32) -> [u8; 13] {
        let n = raster_lines.to_le_bytes();
        [
            ESC,
            b'i',
            b'z',
            PRINT_INFO_FLAGS,
            MEDIA_CONTINUOUS,
            self.config.tape.width_mm,
            // Media length: none on continuous tape.
            0x00,
            n[0],
            n[1],
            n[2],
            n[3],
            // Starting page: every job here is one page.
            0x00,
            0x00,
        ]
    }

    /// What `frame` means for this encoder's jobs: the printer's own state, or
    /// [`PrinterErrorKind::WrongMedia`] when it is ready but holds a tape other than the configured
    /// one (a job for 62 mm tape sent to a printer holding 29 mm tape fails with "replace media").
    pub fn check_media(&self, frame: &QlStatusFrame) -> PrinterStatus {
        let status = frame.printer_status();
        if status != PrinterStatus::Ready {
            return status;
        }
        if frame.media_type != MEDIA_CONTINUOUS || frame.media_width_mm != self.config.tape.width_mm
        {
            return PrinterStatus::Error(PrinterErrorKind::WrongMedia);
        }
        PrinterStatus::Ready
    }

    fn head_bytes(&self) -> usize {
        (self.config.head_dots / 8) as usize
    }

    /// One page row as head bytes, placed and mirrored.
    fn raster_line(&self, row: &[u8], line: &mut [u8]) {
        line.fill(0);
        let head = self.config.head_dots as usize;
        let left = self.config.tape.left_offset_dots as usize;
        for (x, &luma) in row.iter().enumerate() {
            if is_dot(luma) {
                // A raster line starts (first byte, top bit) at the head's pin 0, which prints the
                // right-hand edge of the label as it is read; the page size table's "left margin"
                // is counted from the other end of the head (§2.3.2, §2.3.5). So a row goes out
                // right to left, the page's last column first: sent as it is, every label would
                // come out as its mirror image, and narrow tapes would get their dots off the tape.
                let pin = head - 1 - (left + x);
                line[pin / 8] |= 0x80 >> (pin % 8);
            }
        }
    }
}

impl Language for BrotherQl {
    fn name(&self) -> &'static str {
        "brother_ql"
    }

    fn encode_page(&self, page: &Page) -> Result<Vec<u8>, EncodeError> {
        let (width, height) = page.dimensions();
        if width == 0 || height == 0 {
            return Err(EncodeError::Empty);
        }
        let max = self.config.tape.printable_dots;
        if width > max {
            return Err(EncodeError::TooWide { width, max });
        }
        if height > MAX_PAGE_LINES {
            return Err(EncodeError::TooLong {
                height,
                max: MAX_PAGE_LINES,
            });
        }
        let bytes = self.head_bytes();
        let mut out = Vec::with_capacity(INVALIDATE_LEN + 40 + (bytes + 3) * height as usize);
        // A job cut off half way (the station restarted mid-send, a cable was pulled) leaves the
        // printer inside a command, perhaps 40 bytes into a 90-byte raster line. Zeros complete
        // whatever it was waiting for as blank data, and once it is back at a command boundary a
        // NUL is a command that does nothing, so this job starts from a clean state. 200 is the
        // manual's length, longer than any command's parameters.
        out.resize(INVALIDATE_LEN, 0x00);
        out.extend_from_slice(&[ESC, b'@']);
        out.extend_from_slice(&[ESC, b'i', b'a', 0x01]);
        out.extend_from_slice(&self.print_information(height));
        let auto_cut = self.config.auto_cut;
        out.extend_from_slice(&[ESC, b'i', b'M', if auto_cut { 0x40 } else { 0x00 }]);
        if auto_cut {
            out.extend_from_slice(&[ESC, b'i', b'A', 0x01]);
        }
        out.extend_from_slice(&[ESC, b'i', b'K', if auto_cut { 0x08 } else { 0x00 }]);
        let [margin_lo, margin_hi] = FEED_MARGIN_DOTS.to_le_bytes();
        out.extend_from_slice(&[ESC, b'i', b'd', margin_lo, margin_hi]);
        if self.config.compression {
            out.extend_from_slice(&[b'M', 0x02]);
        }
        let mut line = vec![0u8; bytes];
        for row in page.as_raw().chunks_exact(width as usize) {
            self.raster_line(row, &mut line);
            if self.config.compression {
                if line.iter().all(|&b| b == 0) {
                    out.push(b'Z');
                } else {
                    let packed = packbits(&line);
                    // A packed line is at most bytes + ⌈bytes / 128⌉ ≤ 1296 / 8 + 2 bytes long.
                    out.extend_from_slice(&[b'g', 0x00, packed.len() as u8]);
                    out.extend_from_slice(&packed);
                }
            } else {
                out.extend_from_slice(&[b'g', 0x00, bytes as u8]);
                out.extend_from_slice(&line);
            }
        }
        out.push(0x1A);
        Ok(out)
    }

    /// Invalidate, `ESC @`, `ESC i S`: the printer may still be inside a command from an aborted
    /// job, and would read a bare `ESC i S` as that command's parameters. `ESC @` also cancels
    /// printing (§4), so while a job may still be printing send [`STATUS_REQUEST`] alone, or
    /// just read the frames the printer sends by itself ([`read_frame`]).
    fn status_query(&self) -> Vec<u8> {
        let mut out = vec![0x00; INVALIDATE_LEN];
        out.extend_from_slice(&[ESC, b'@']);
        out.extend_from_slice(&STATUS_REQUEST);
        out
    }

    /// Reads the 32-byte reply; frames the printer sent by itself before it (a job's "printing
    /// completed", a phase change) are skipped. A ready printer holding another tape than the
    /// configured one reads as [`PrinterErrorKind::WrongMedia`] (see [`BrotherQl::check_media`]).
    fn read_status(&self, reply: &[u8]) -> StatusReply {
        let mut rest = reply;
        loop {
            match read_frame(rest) {
                QlFrameRead::NeedMore => return StatusReply::NeedMore,
                QlFrameRead::Skip(_) => {
                    let shown: Vec<String> =
                        rest.iter().take(4).map(|b| format!("{b:02X}")).collect();
                    return StatusReply::Invalid(format!(
                        "not a Brother status frame: starts {} (expected 80 20 42 and 30 or 34)",
                        shown.join(" ")
                    ));
                }
                QlFrameRead::Frame(frame) => match frame.status_type {
                    QlStatusType::Reply | QlStatusType::ErrorOccurred | QlStatusType::TurnedOff => {
                        return StatusReply::Status(self.check_media(&frame));
                    }
                    _ => rest = rest.get(STATUS_FRAME_LEN..).unwrap_or_default(),
                },
            }
        }
    }
}

/// Packs one raster line with PackBits as §4 "M Select compression mode" describes it: a run of
/// 2 to 128 equal bytes becomes `-(n - 1)` and the byte, a stretch of 1 to 128 unequal bytes
/// becomes `n - 1` and the bytes; if that comes out longer than the line itself, the line goes
/// as plain literal runs instead (one 91-byte run for a 90-byte line, as the manual says).
fn packbits(line: &[u8]) -> Vec<u8> {
    fn literal(bytes: &[u8], out: &mut Vec<u8>) {
        for chunk in bytes.chunks(128) {
            out.push((chunk.len() - 1) as u8);
            out.extend_from_slice(chunk);
        }
    }
    let mut out = Vec::with_capacity(line.len() + 2);
    let mut literal_start = 0;
    let mut i = 0;
    while i < line.len() {
        let byte = line[i];
        let run = line[i..]
            .iter()
            .take(128)
            .take_while(|&&b| b == byte)
            .count();
        if run >= 2 {
            literal(&line[literal_start..i], &mut out);
            // -(run - 1) as a two's complement byte.
            out.push((257 - run) as u8);
            out.push(byte);
            i += run;
            literal_start = i;
        } else {
            i += 1;
        }
    }
    literal(&line[literal_start..], &mut out);
    if out.len() > line.len() {
        out.clear();
        literal(line, &mut out);
    }
    out
}

/// What a status frame is (byte 18, status type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QlStatusType {
    /// 0x00: the reply to `ESC i S`.
    Reply,
    /// 0x01: a page finished printing.
    PrintingCompleted,
    /// 0x02: an error stopped printing; the error bytes say which, if any.
    ErrorOccurred,
    /// 0x04: the printer is being switched off.
    TurnedOff,
    /// 0x05: a notification (byte 22: cooling started or finished).
    Notification,
    /// 0x06: the printer moved between receiving and printing (byte 19).
    PhaseChange,
    /// Any other value.
    Other(u8),
}

impl QlStatusType {
    fn from_byte(byte: u8) -> QlStatusType {
        match byte {
            0x00 => QlStatusType::Reply,
            0x01 => QlStatusType::PrintingCompleted,
            0x02 => QlStatusType::ErrorOccurred,
            0x04 => QlStatusType::TurnedOff,
            0x05 => QlStatusType::Notification,
            0x06 => QlStatusType::PhaseChange,
            other => QlStatusType::Other(other),
        }
    }
}

/// The printer's phase (byte 19, phase type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QlPhase {
    /// 0x00: waiting to receive data.
    Receiving,
    /// 0x01: printing.
    Printing,
    /// Any other value.
    Other(u8),
}

/// One 32-byte status frame, as the printer sends it in reply to `ESC i S` or by itself while
/// printing (§4, status information request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QlStatusFrame {
    /// Byte 3: '4' (0x34) on the QL-710W/720NW/800/810W/820NWB, '0' (0x30) on older models.
    pub series_code: u8,
    /// Byte 4: the model ('8' QL-800, '9' QL-810W, 'A' QL-820NWB …).
    pub model_code: u8,
    /// Byte 8: error information 1 (bit 0 no media, 1 end of media, 2 cutter jam, 4 printer in
    /// use, 5 printer turned off, 6 high-voltage adapter, 7 fan motor error).
    pub error_info_1: u8,
    /// Byte 9: error information 2 (bit 0 replace media, 1 expansion buffer full,
    /// 2 communication error, 3 communication buffer full, 4 cover open, 5 cancel key,
    /// 6 media cannot be fed, 7 system error).
    pub error_info_2: u8,
    /// Byte 10: width of the loaded media in mm (0 without media).
    pub media_width_mm: u8,
    /// Byte 11: 0x0A continuous tape, 0x0B die-cut labels, 0x00 none.
    pub media_type: u8,
    /// Byte 15: the mode last set with `ESC i M`.
    pub mode: u8,
    /// Byte 17: label length in mm, 0 for continuous tape.
    pub media_length_mm: u8,
    /// Byte 18.
    pub status_type: QlStatusType,
    /// Byte 19.
    pub phase: QlPhase,
    /// Bytes 20–21, high byte first.
    pub phase_number: u16,
    /// Byte 22: notification number (0x03 cooling started, 0x04 cooling finished).
    pub notification: u8,
}

/// What a status frame tells the host about a job it sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QlJobEvent {
    /// The reply to a status request; says nothing about a job.
    Reply,
    /// The printer started printing.
    Printing,
    /// The printer is back to waiting for data.
    Receiving,
    /// The page printed.
    Completed,
    /// The job failed, for this reason.
    Failed(PrinterStatus),
    /// A notification (cooling started 0x03, finished 0x04); printing goes on after it.
    Notification(u8),
    /// The printer is being switched off.
    TurnedOff,
    /// A status type this code does not know.
    Unknown(u8),
}

/// How far reading a status frame from the front of a buffer got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QlFrameRead {
    /// What is there starts like a frame; read more.
    NeedMore,
    /// A whole frame: its 32 bytes are consumed.
    Frame(QlStatusFrame),
    /// The first `n` bytes cannot start a frame: drop them and read again.
    Skip(usize),
}

/// Reads one status frame from the front of `buf`, the way a reader of the printer's stream
/// resynchronises: bytes that cannot start a frame are skipped, never guessed at.
pub fn read_frame(buf: &[u8]) -> QlFrameRead {
    let Some(&first) = buf.first() else {
        return QlFrameRead::NeedMore;
    };
    if first != 0x80 {
        let next = buf.iter().position(|&b| b == 0x80).unwrap_or(buf.len());
        return QlFrameRead::Skip(next);
    }
    // Print head mark, size, 'B', then the series code.
    let header_ok = buf.get(1).is_none_or(|&b| b == 0x20)
        && buf.get(2).is_none_or(|&b| b == b'B')
        && buf.get(3).is_none_or(|&b| b == b'0' || b == b'4');
    if !header_ok {
        return QlFrameRead::Skip(1);
    }
    let Some(frame) = buf.get(..STATUS_FRAME_LEN) else {
        return QlFrameRead::NeedMore;
    };
    QlFrameRead::Frame(QlStatusFrame {
        series_code: frame[3],
        model_code: frame[4],
        error_info_1: frame[8],
        error_info_2: frame[9],
        media_width_mm: frame[10],
        media_type: frame[11],
        mode: frame[15],
        media_length_mm: frame[17],
        status_type: QlStatusType::from_byte(frame[18]),
        phase: match frame[19] {
            0x00 => QlPhase::Receiving,
            0x01 => QlPhase::Printing,
            other => QlPhase::Other(other),
        },
        phase_number: u16::from_be_bytes([frame[20], frame[21]]),
        notification: frame[22],
    })
}

impl QlStatusFrame {
    /// The printer's state by its error bytes alone (no check of which tape is loaded; see
    /// [`BrotherQl::check_media`]).
    pub fn printer_status(&self) -> PrinterStatus {
        let (e1, e2) = (self.error_info_1, self.error_info_2);
        if e1 & 0x03 != 0 {
            // No media, end of media.
            return PrinterStatus::PaperOut;
        }
        if e2 & 0x10 != 0 {
            return PrinterStatus::CoverOpen;
        }
        if e1 & 0x04 != 0 {
            return PrinterStatus::Error(PrinterErrorKind::Cutter);
        }
        if e2 & 0x01 != 0 {
            // "Replace media": the loaded roll is not what the job's ESC i z asked for.
            return PrinterStatus::Error(PrinterErrorKind::WrongMedia);
        }
        if e2 & 0x40 != 0 {
            return PrinterStatus::Error(PrinterErrorKind::PaperJam);
        }
        if e1 & 0x20 != 0 || self.status_type == QlStatusType::TurnedOff {
            // It will print nothing until someone switches it on: to a person, that is offline.
            return PrinterStatus::Offline;
        }
        if e1 & 0x10 != 0 {
            // In use by another host or interface: wait for it, or go and see.
            return PrinterStatus::Error(PrinterErrorKind::Paused);
        }
        if e1 != 0 || e2 != 0 || self.status_type == QlStatusType::ErrorOccurred {
            // High-voltage adapter, fan motor, buffer and communication errors, the cancel key,
            // a system error, and "error occurred" with no bit set at all (real printers send
            // that too): nothing a person can be told more precisely.
            return PrinterStatus::Error(PrinterErrorKind::Other);
        }
        if self.media_type == 0x00 {
            return PrinterStatus::PaperOut;
        }
        PrinterStatus::Ready
    }

    /// What this frame tells the host about the job it sent.
    pub fn job_event(&self) -> QlJobEvent {
        match self.status_type {
            QlStatusType::Reply => QlJobEvent::Reply,
            QlStatusType::PrintingCompleted => QlJobEvent::Completed,
            QlStatusType::ErrorOccurred => QlJobEvent::Failed(self.printer_status()),
            QlStatusType::TurnedOff => QlJobEvent::TurnedOff,
            QlStatusType::Notification => QlJobEvent::Notification(self.notification),
            QlStatusType::PhaseChange => match self.phase {
                QlPhase::Printing => QlJobEvent::Printing,
                QlPhase::Receiving => QlJobEvent::Receiving,
                QlPhase::Other(b) => QlJobEvent::Unknown(b),
            },
            QlStatusType::Other(b) => QlJobEvent::Unknown(b),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The printer's side. Written again from the manual, sharing nothing with the encoder above.
// ---------------------------------------------------------------------------------------------

/// Bytes in one raster line of the emulated 720-pin head.
const EMU_LINE: usize = 90;
/// Pins on the emulated head.
const EMU_PINS: usize = 720;
/// The emulated printer refuses pages longer than 1 m of tape (§2.3.4); this bounds its memory
/// at about 1 MB of raster.
const EMU_MAX_LINES: usize = 11_811;

/// Which `ESC i …` or plain command is collecting its parameter bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    DynamicMode,
    PrintInfo,
    Various,
    CutEvery,
    Expanded,
    Margin,
    AutoStatus,
    Compression,
    RasterHead,
}

impl Op {
    fn parameter_bytes(self) -> usize {
        match self {
            Op::PrintInfo => 10,
            Op::Margin | Op::RasterHead => 2,
            _ => 1,
        }
    }
}

/// Where the byte parser is between two input bytes.
#[derive(Debug)]
enum Parse {
    Command,
    Escape,
    EscapeI,
    Parameters { op: Op, got: [u8; 10], have: usize },
    RasterData { data: Vec<u8>, need: usize },
}

/// What the last `ESC i z` announced.
#[derive(Debug, Clone, Copy)]
struct Announced {
    flags: u8,
    kind: u8,
    width_mm: u8,
    length_mm: u8,
    lines: usize,
}

/// An emulated QL-810W with a continuous tape loaded: consumes the raster language in chunks of
/// any size, prints pages, answers `ESC i S`, and sends the frames a real QL sends by itself
/// while it prints.
#[derive(Debug)]
pub struct BrotherQlEmulator {
    /// Bytes consumed since the emulator was made.
    position: u64,
    parse: Parse,
    /// The loaded tape: width in mm, pins left of its print area, print area pins.
    tape_mm: u8,
    tape_left: usize,
    tape_area: usize,
    raster_mode: bool,
    tiff: bool,
    various_mode: u8,
    announced: Option<Announced>,
    lines: Vec<[u8; EMU_LINE]>,
}

impl Default for BrotherQlEmulator {
    fn default() -> Self {
        BrotherQlEmulator::new()
    }
}

impl BrotherQlEmulator {
    /// A QL-810W with 62 mm continuous tape loaded.
    pub fn new() -> BrotherQlEmulator {
        BrotherQlEmulator {
            position: 0,
            parse: Parse::Command,
            tape_mm: 62,
            tape_left: 12,
            tape_area: 696,
            raster_mode: false,
            tiff: false,
            various_mode: 0,
            announced: None,
            lines: Vec::new(),
        }
    }

    /// A QL-810W with another continuous tape loaded (12, 29, 38, 50, 54 or 62 mm); `None` for a
    /// width the manual's page size table does not list.
    pub fn with_continuous_tape(width_mm: u8) -> Option<BrotherQlEmulator> {
        // Pins left of the print area and print area pins, per tape width (§2.3.2).
        let (left, area) = match width_mm {
            62 => (12, 696),
            54 => (130, 590),
            50 => (154, 554),
            38 => (295, 413),
            29 => (408, 306),
            12 => (585, 106),
            _ => return None,
        };
        Some(BrotherQlEmulator {
            tape_mm: width_mm,
            tape_left: left,
            tape_area: area,
            ..BrotherQlEmulator::new()
        })
    }

    fn initialise(&mut self) {
        self.raster_mode = false;
        self.tiff = false;
        self.various_mode = 0;
        self.announced = None;
        self.lines.clear();
    }

    fn step(
        &mut self,
        byte: u8,
        condition: PrinterStatus,
        out: &mut Vec<EmulatorOutput>,
    ) -> Result<(), String> {
        match std::mem::replace(&mut self.parse, Parse::Command) {
            Parse::Command => self.command(byte, condition, out),
            Parse::Escape => match byte {
                b'@' => {
                    self.initialise();
                    Ok(())
                }
                b'i' => {
                    self.parse = Parse::EscapeI;
                    Ok(())
                }
                other => Err(format!("unknown command ESC {other:#04x}")),
            },
            Parse::EscapeI => {
                let op = match byte {
                    b'S' => {
                        self.status_request(condition, out);
                        return Ok(());
                    }
                    b'a' => Op::DynamicMode,
                    b'z' => Op::PrintInfo,
                    b'M' => Op::Various,
                    b'A' => Op::CutEvery,
                    b'K' => Op::Expanded,
                    b'd' => Op::Margin,
                    b'!' => Op::AutoStatus,
                    other => return Err(format!("unknown command ESC i {other:#04x}")),
                };
                self.parse = Parse::Parameters {
                    op,
                    got: [0; 10],
                    have: 0,
                };
                Ok(())
            }
            Parse::Parameters { op, mut got, have } => {
                got[have] = byte;
                let have = have + 1;
                if have < op.parameter_bytes() {
                    self.parse = Parse::Parameters { op, got, have };
                    Ok(())
                } else {
                    self.parameters(op, &got[..have])
                }
            }
            Parse::RasterData { mut data, need } => {
                data.push(byte);
                if data.len() < need {
                    self.parse = Parse::RasterData { data, need };
                    Ok(())
                } else {
                    self.raster_data(&data)
                }
            }
        }
    }

    fn command(
        &mut self,
        byte: u8,
        condition: PrinterStatus,
        out: &mut Vec<EmulatorOutput>,
    ) -> Result<(), String> {
        let op = match byte {
            // Invalidate: NUL does nothing between commands.
            0x00 => return Ok(()),
            0x1B => {
                self.parse = Parse::Escape;
                return Ok(());
            }
            b'M' => Op::Compression,
            b'g' => Op::RasterHead,
            b'Z' => {
                if !self.tiff {
                    return Err("Z (zero raster line) outside TIFF compression mode".into());
                }
                self.accept_line([0; EMU_LINE])?;
                return Ok(());
            }
            // FF prints and stays at the page's end; Control-Z prints and feeds. Either way
            // the page comes out whole here.
            0x0C | 0x1A => return self.print(condition, out),
            other => return Err(format!("unknown command {other:#04x}")),
        };
        self.parse = Parse::Parameters {
            op,
            got: [0; 10],
            have: 0,
        };
        Ok(())
    }

    fn parameters(&mut self, op: Op, p: &[u8]) -> Result<(), String> {
        match op {
            Op::DynamicMode => match p[0] {
                0x01 => self.raster_mode = true,
                // ESC/P and P-touch Template: not raster, and not emulated.
                0x00 | 0x03 => self.raster_mode = false,
                other => return Err(format!("ESC i a {other:#04x}: no such command mode")),
            },
            Op::PrintInfo => {
                if !self.lines.is_empty() {
                    return Err("ESC i z in the middle of a page".into());
                }
                if p[0] & !0xCE != 0 {
                    return Err(format!("ESC i z: undefined valid flags {:#04x}", p[0]));
                }
                if p[1] != 0x0A && p[1] != 0x0B {
                    return Err(format!("ESC i z: unknown media type {:#04x}", p[1]));
                }
                if p[8] > 1 || p[9] != 0 {
                    return Err(format!(
                        "ESC i z: page byte {:#04x} and last byte {:#04x} (must be 0/1 and 0)",
                        p[8], p[9]
                    ));
                }
                let lines = u32::from_le_bytes([p[4], p[5], p[6], p[7]]) as usize;
                if lines > EMU_MAX_LINES {
                    return Err(format!(
                        "ESC i z announces {lines} raster lines; at most {EMU_MAX_LINES} fit 1 m"
                    ));
                }
                self.announced = Some(Announced {
                    flags: p[0],
                    kind: p[1],
                    width_mm: p[2],
                    length_mm: p[3],
                    lines,
                });
            }
            Op::Various => self.various_mode = p[0],
            Op::CutEvery => {
                if p[0] == 0 {
                    return Err("ESC i A 0: labels per cut must be 1-255".into());
                }
            }
            Op::Expanded => {
                if p[0] & 0x01 != 0 {
                    return Err("ESC i K: two-colour printing is not emulated".into());
                }
                if p[0] & 0x40 != 0 {
                    return Err("ESC i K: high resolution (600 dpi feed) is not emulated".into());
                }
            }
            Op::Margin | Op::AutoStatus => {}
            Op::Compression => match p[0] {
                0x00 => self.tiff = false,
                0x02 => self.tiff = true,
                other => return Err(format!("M {other:#04x}: no such compression mode")),
            },
            Op::RasterHead => {
                self.check_line_welcome()?;
                if p[0] != 0x00 {
                    return Err(format!("g {:#04x}: the first byte must be 0", p[0]));
                }
                let need = usize::from(p[1]);
                let fits = if self.tiff {
                    // Packing that does not pay is sent as one 91-byte literal run (§4, M).
                    (1..=EMU_LINE + 1).contains(&need)
                } else {
                    need == EMU_LINE
                };
                if !fits {
                    return Err(format!(
                        "g with {need} data bytes ({} mode)",
                        if self.tiff { "TIFF" } else { "uncompressed" }
                    ));
                }
                self.parse = Parse::RasterData {
                    data: Vec::with_capacity(need),
                    need,
                };
            }
        }
        Ok(())
    }

    fn raster_data(&mut self, data: &[u8]) -> Result<(), String> {
        let line = if self.tiff {
            unpack_tiff(data)?
        } else {
            let mut line = [0; EMU_LINE];
            line.copy_from_slice(data);
            line
        };
        self.accept_line(line)
    }

    fn accept_line(&mut self, line: [u8; EMU_LINE]) -> Result<(), String> {
        self.check_line_welcome()?;
        self.lines.push(line);
        Ok(())
    }

    /// Whether a raster line may come now: in raster mode, announced, and not one too many.
    fn check_line_welcome(&self) -> Result<(), String> {
        if !self.raster_mode {
            return Err("raster line while not in raster mode (ESC i a 01)".into());
        }
        let Some(announced) = self.announced else {
            return Err("raster line before the print information command (ESC i z)".into());
        };
        if self.lines.len() >= announced.lines {
            return Err(format!(
                "more raster lines than the {} ESC i z announced",
                announced.lines
            ));
        }
        Ok(())
    }

    fn print(
        &mut self,
        condition: PrinterStatus,
        out: &mut Vec<EmulatorOutput>,
    ) -> Result<(), String> {
        if !self.raster_mode {
            return Err("print command while not in raster mode".into());
        }
        let Some(announced) = self.announced.take() else {
            return Err("print command without a print information command (ESC i z)".into());
        };
        let lines = std::mem::take(&mut self.lines);
        if lines.len() != announced.lines {
            return Err(format!(
                "ESC i z announced {} raster lines, {} arrived",
                announced.lines,
                lines.len()
            ));
        }
        if lines.is_empty() {
            return Err("print command for a page with no raster lines".into());
        }
        if condition == PrinterStatus::Offline {
            return Ok(());
        }
        let (e1, mut e2) = fault_bits(condition);
        // With its flag set, a media field that differs from the loaded roll is a "replace
        // media" error (§4, ESC i z). The emulated roll is continuous tape, no length.
        let wrong_kind = announced.flags & 0x02 != 0 && announced.kind != 0x0A;
        let wrong_width = announced.flags & 0x04 != 0 && announced.width_mm != self.tape_mm;
        let wrong_length = announced.flags & 0x08 != 0 && announced.length_mm != 0;
        if wrong_kind || wrong_width || wrong_length {
            e2 |= 0x01;
        }
        if e1 != 0 || e2 != 0 {
            out.push(EmulatorOutput::Reply(
                self.frame(0x02, 0x01, e1, e2, condition).to_vec(),
            ));
            return Ok(());
        }
        let page = self.render(&lines)?;
        out.push(EmulatorOutput::Reply(
            self.frame(0x06, 0x01, 0, 0, condition).to_vec(),
        ));
        out.push(EmulatorOutput::Page(page));
        out.push(EmulatorOutput::Reply(
            self.frame(0x01, 0x01, 0, 0, condition).to_vec(),
        ));
        out.push(EmulatorOutput::Reply(
            self.frame(0x06, 0x00, 0, 0, condition).to_vec(),
        ));
        Ok(())
    }

    /// The printed tape's print area, as the label is read.
    fn render(&self, lines: &[[u8; EMU_LINE]]) -> Result<GrayImage, String> {
        let width = self.tape_area;
        let mut pixels = vec![255u8; width * lines.len()];
        for (y, line) in lines.iter().enumerate() {
            for pin in 0..EMU_PINS {
                if line[pin / 8] & (0x80 >> (pin % 8)) == 0 {
                    continue;
                }
                // Pin 0 (the first byte's top bit) prints the label's right-hand edge: the
                // column from the label's left is counted from the other end of the head.
                let column = EMU_PINS - 1 - pin;
                if column < self.tape_left || column >= self.tape_left + width {
                    return Err(format!(
                        "raster line {y} sets pin {pin}, outside the {} mm tape's print area",
                        self.tape_mm
                    ));
                }
                pixels[y * width + column - self.tape_left] = 0;
            }
        }
        GrayImage::from_raw(width as u32, lines.len() as u32, pixels)
            .ok_or_else(|| "page buffer of the wrong size".to_string())
    }

    fn status_request(&self, condition: PrinterStatus, out: &mut Vec<EmulatorOutput>) {
        if condition == PrinterStatus::Offline {
            // A switched-off or unplugged printer says nothing.
            return;
        }
        let (e1, e2) = fault_bits(condition);
        out.push(EmulatorOutput::Reply(
            self.frame(0x00, 0x00, e1, e2, condition).to_vec(),
        ));
    }

    /// A status frame as a QL-810W sends it.
    fn frame(
        &self,
        status_type: u8,
        phase: u8,
        error_1: u8,
        error_2: u8,
        condition: PrinterStatus,
    ) -> [u8; 32] {
        let mut f = [0u8; 32];
        f[0] = 0x80;
        f[1] = 0x20;
        f[2] = b'B';
        f[3] = b'4';
        f[4] = b'9';
        f[5] = b'0';
        f[6] = b'0';
        f[8] = error_1;
        f[9] = error_2;
        if condition != PrinterStatus::PaperOut {
            f[10] = self.tape_mm;
            f[11] = 0x0A;
        }
        f[15] = self.various_mode;
        f[18] = status_type;
        f[19] = phase;
        f
    }
}

/// The error bytes 8 and 9 a QL sets in `condition`.
fn fault_bits(condition: PrinterStatus) -> (u8, u8) {
    match condition {
        PrinterStatus::Ready | PrinterStatus::PaperLow | PrinterStatus::Offline => (0, 0),
        PrinterStatus::PaperOut => (0x01, 0),
        PrinterStatus::CoverOpen => (0, 0x10),
        PrinterStatus::Error(PrinterErrorKind::Cutter) => (0x04, 0),
        PrinterStatus::Error(PrinterErrorKind::WrongMedia) => (0, 0x01),
        PrinterStatus::Error(PrinterErrorKind::PaperJam) => (0, 0x40),
        PrinterStatus::Error(PrinterErrorKind::Paused) => (0x10, 0),
        // The head overheating stops a QL through its cooling fan's error.
        PrinterStatus::Error(PrinterErrorKind::HeadTemperature) => (0x80, 0),
        PrinterStatus::Error(PrinterErrorKind::BadReply | PrinterErrorKind::Other) => (0, 0x80),
    }
}

/// Expands one TIFF (PackBits) raster line to the head's 90 bytes, refusing anything that does
/// not come out at exactly 90 (§4, M: "this becomes 90 bytes when it is expanded").
fn unpack_tiff(data: &[u8]) -> Result<[u8; EMU_LINE], String> {
    let mut line = [0u8; EMU_LINE];
    let mut filled = 0;
    let mut rest = data;
    while let Some((&count, after)) = rest.split_first() {
        let signed = count as i8;
        if signed == -128 {
            // TIFF's no-op header; Brother's description has no such thing.
            return Err("PackBits header 0x80".into());
        }
        if signed >= 0 {
            let n = signed as usize + 1;
            let Some(bytes) = after.get(..n) else {
                return Err(format!(
                    "PackBits literal of {n} bytes runs past the line's data"
                ));
            };
            let Some(target) = line.get_mut(filled..filled + n) else {
                return Err("PackBits line expands past 90 bytes".into());
            };
            target.copy_from_slice(bytes);
            filled += n;
            rest = &after[n..];
        } else {
            let n = (1 - i16::from(signed)) as usize;
            let Some((&byte, after_byte)) = after.split_first() else {
                return Err("PackBits run without its byte".into());
            };
            let Some(target) = line.get_mut(filled..filled + n) else {
                return Err("PackBits line expands past 90 bytes".into());
            };
            target.fill(byte);
            filled += n;
            rest = after_byte;
        }
    }
    if filled != EMU_LINE {
        return Err(format!(
            "PackBits line expands to {filled} bytes, not {EMU_LINE}"
        ));
    }
    Ok(line)
}

impl super::Emulator for BrotherQlEmulator {
    fn feed(
        &mut self,
        bytes: &[u8],
        condition: PrinterStatus,
    ) -> Result<Vec<EmulatorOutput>, EmulatorError> {
        let mut out = Vec::new();
        for &byte in bytes {
            if let Err(reason) = self.step(byte, condition, &mut out) {
                let offset = self.position;
                // A real printer would need an invalidate and ESC @ now; start over from a
                // command boundary with the page dropped.
                self.position += 1;
                self.parse = Parse::Command;
                self.announced = None;
                self.lines.clear();
                return Err(EmulatorError {
                    language: "brother_ql",
                    reason,
                    offset,
                });
            }
            self.position += 1;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn packbits_manual_example() {
        // §4 "M Select compression mode": 20 × 00, 2 × 22, then 6 different bytes.
        let mut input = vec![0x00; 20];
        input.extend_from_slice(&[0x22, 0x22, 0x23, 0xBA, 0xBF, 0xA2, 0x22, 0x2B]);
        assert_eq!(
            packbits(&input),
            vec![
                0xED, 0x00, 0xFF, 0x22, 0x05, 0x23, 0xBA, 0xBF, 0xA2, 0x22, 0x2B
            ]
        );
    }

    #[test]
    fn packbits_manual_example_as_a_whole_line() {
        // The example's 28 bytes, then the line's remaining 62 bytes of zeros: "even if 00h
        // continues until the end, it cannot be omitted".
        let mut input = vec![0x00; 20];
        input.extend_from_slice(&[0x22, 0x22, 0x23, 0xBA, 0xBF, 0xA2, 0x22, 0x2B]);
        input.resize(90, 0x00);
        let packed = packbits(&input);
        assert_eq!(
            packed,
            vec![
                0xED, 0x00, 0xFF, 0x22, 0x05, 0x23, 0xBA, 0xBF, 0xA2, 0x22, 0x2B, 0xC3, 0x00
            ]
        );
        assert_eq!(unpack_tiff(&packed).unwrap().to_vec(), input);
    }

    #[test]
    fn packbits_that_does_not_pay_is_one_91_byte_literal() {
        // Alternating pairs and singles pack to more than 90 bytes.
        let input: Vec<u8> = (0..90u8)
            .map(|i| if i % 3 == 2 { i } else { 0xA0 + (i / 3) % 2 })
            .collect();
        let packed = packbits(&input);
        assert_eq!(packed.len(), 91);
        assert_eq!(packed[0], 0x59);
        assert_eq!(&packed[1..], &input[..]);
    }

    #[test]
    fn packbits_long_runs_split_at_128() {
        let packed = packbits(&[0xAA; 200]);
        // 128 → -127 = 0x81, then 72 → -71 = 0xB9.
        assert_eq!(packed, vec![0x81, 0xAA, 0xB9, 0xAA]);
        let line = packbits(&[0x00; 90]);
        assert_eq!(line, vec![0xA7, 0x00]);
    }

    #[test]
    fn unpack_refuses_lines_of_the_wrong_length_and_0x80() {
        assert!(unpack_tiff(&[0xA8, 0x00]).is_err(), "89 bytes");
        assert!(unpack_tiff(&[0xA6, 0x00]).is_err(), "91 bytes");
        assert!(unpack_tiff(&[0x80, 0xA7, 0x00]).is_err());
        assert!(unpack_tiff(&[0x05, 0x01]).is_err(), "literal past the end");
        assert!(unpack_tiff(&[0xA7]).is_err(), "run without its byte");
    }

    proptest! {
        #[test]
        fn packbits_round_trips_through_the_emulator_decoder(
            line in prop::collection::vec(
                prop_oneof![Just(0x00u8), Just(0xFFu8), any::<u8>()], 90)
        ) {
            let packed = packbits(&line);
            prop_assert!(packed.len() <= 91);
            prop_assert_eq!(unpack_tiff(&packed).unwrap().to_vec(), line);
        }

        #[test]
        fn packbits_round_trips_runs(
            runs in prop::collection::vec((any::<u8>(), 1usize..40), 1..20)
        ) {
            let mut line: Vec<u8> =
                runs.iter().flat_map(|&(b, n)| std::iter::repeat_n(b, n)).collect();
            line.resize(90, 0);
            let packed = packbits(&line);
            prop_assert_eq!(unpack_tiff(&packed).unwrap().to_vec(), line);
        }
    }
}
