//! ZPL II, the language of Zebra label printers (a ZD421 at 203 dpi: 2×1 in and 100×150 mm
//! labels, up to 832 dots across).
//!
//! A page goes out as one label format: `^XA`, label home, print width and label length, the
//! image as `^GFA` graphic fields (ASCII hexadecimal, by default with ZPL's ASCII compression),
//! `^XZ`. Status is asked with `~HS`, whose reply is three `STX … ETX CR LF` strings of
//! comma-separated fields. Written from Zebra's "ZPL II Programming Guide" (45541L, the x.10
//! edition, and the current online edition: the `^GF`, `^FO`, `^PW`, `^LL`, `^LH` and `~HS`
//! pages, and "Alternative Data Compression Scheme for ~DG and ~DB Commands", which `^GFA`
//! data follows).
//!
//! No crate from crates.io is used: the ZPL crates found are under copyleft licences, which
//! this project does not take in, and the little that is needed — one graphic field and one
//! status reply — is written here from the guide.

use image::{GrayImage, Luma};

use super::{
    Emulator, EmulatorError, EmulatorOutput, EncodeError, Language, Page, StatusReply, is_dot,
};
use crate::devices::{PrinterErrorKind, PrinterStatus};

const STX: u8 = 0x02;
const ETX: u8 = 0x03;
const CR: u8 = 0x0D;
const LF: u8 = 0x0A;

/// The ZPL encoder: a page as one label format holding `^GFA` graphic fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zpl {
    max_width: u32,
    compress: bool,
}

impl Zpl {
    /// Dots across the head of a 4-inch printer at 203 dpi, such as the ZD421.
    pub const WIDTH_4IN_203DPI: u32 = 832;
    /// The longest label `^LL` takes, in dots.
    pub const MAX_LABEL_LENGTH: u32 = 32_000;
    /// The most bytes one `^GF` field may hold: the guide's range of its byte counts is 1 to
    /// 99999. A longer image goes as several fields one below the other.
    pub const MAX_FIELD_BYTES: u32 = 99_999;

    /// An encoder for a printer whose head is `max_width_dots` wide, compressing graphic data.
    pub fn new(max_width_dots: u32) -> Self {
        Zpl {
            max_width: max_width_dots,
            compress: true,
        }
    }

    /// The same encoder, with ZPL's ASCII compression of graphic data or plain hexadecimal.
    /// Compression sends a receipt-like label in a fraction of the bytes, which matters on a
    /// 9600-baud serial line; plain hex is for printers that mishandle it.
    pub fn with_compression(self, compress: bool) -> Self {
        Zpl { compress, ..self }
    }

    /// The widest page taken, in dots.
    pub fn max_width(&self) -> u32 {
        self.max_width
    }

    /// Whether graphic data is compressed.
    pub fn compresses(&self) -> bool {
        self.compress
    }

    fn encode_with_field_limit(
        &self,
        page: &Page,
        field_limit: u32,
    ) -> Result<Vec<u8>, EncodeError> {
        let (width, height) = page.dimensions();
        if width == 0 || height == 0 {
            return Err(EncodeError::Empty);
        }
        let row_bytes = width.div_ceil(8);
        if width > self.max_width || row_bytes > field_limit {
            return Err(EncodeError::TooWide {
                width,
                max: self.max_width.min(field_limit * 8),
            });
        }
        if height > Self::MAX_LABEL_LENGTH {
            return Err(EncodeError::TooLong {
                height,
                max: Self::MAX_LABEL_LENGTH,
            });
        }
        let rows_per_field = field_limit / row_bytes;
        let mut packed = Vec::with_capacity((row_bytes * height) as usize);
        for row in page.as_raw().chunks(width as usize) {
            pack_row(row, &mut packed);
        }
        let mut out = Vec::with_capacity(packed.len() / 2 + 64);
        // ^LH0,0: the label home is a saved setting, and a stale offset would shift the image.
        // The guide's smallest print width is 2 dots; a 1-dot page gets a white column.
        let print_width = width.max(2);
        out.extend_from_slice(format!("^XA^LH0,0^PW{print_width}^LL{height}").as_bytes());
        let mut top = 0;
        for field in packed.chunks((rows_per_field * row_bytes) as usize) {
            let bytes = field.len();
            out.extend_from_slice(
                format!("^FO0,{top}^GFA,{bytes},{bytes},{row_bytes},").as_bytes(),
            );
            if self.compress {
                compress_field(field, row_bytes as usize, &mut out);
            } else {
                for &b in field {
                    out.extend_from_slice(&hex_pair(b));
                }
            }
            out.extend_from_slice(b"^FS");
            top += bytes as u32 / row_bytes;
        }
        out.extend_from_slice(b"^XZ");
        Ok(out)
    }
}

impl Language for Zpl {
    fn name(&self) -> &'static str {
        "zpl"
    }

    /// `^XA^LH0,0^PW<width (at least 2)>^LL<height>`, then `^FO0,<y>^GFA,<bytes>,<bytes>,<bytes per row>,<data>^FS`
    /// for each stripe of at most [`Zpl::MAX_FIELD_BYTES`], then `^XZ`.
    fn encode_page(&self, page: &Page) -> Result<Vec<u8>, EncodeError> {
        self.encode_with_field_limit(page, Self::MAX_FIELD_BYTES)
    }

    fn status_query(&self) -> Vec<u8> {
        b"~HS".to_vec()
    }

    /// Reads the three strings of the `~HS` reply: string 1's paper out, pause, under and over
    /// temperature and corrupt RAM flags, string 2's head up, ribbon out and thermal transfer
    /// flags. Field counts (12, 11, 2) and flag values (0 or 1) are checked, so that garbage is
    /// [`StatusReply::Invalid`] rather than a status.
    ///
    /// A printer that does not answer is not handled here — the link reports it
    /// [`PrinterStatus::Offline`] — and no reply must never be read as ready: Zebra's guide says
    /// a printer that is out of media or ribbon, has its head open or too hot, stays silent to
    /// `~HS`, so silence is often exactly the fault.
    fn read_status(&self, reply: &[u8]) -> StatusReply {
        match parse_host_status(reply) {
            Ok(Some(fields)) => StatusReply::Status(status_from_fields(&fields)),
            Ok(None) => StatusReply::NeedMore,
            Err(reason) => StatusReply::Invalid(reason),
        }
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex_pair(b: u8) -> [u8; 2] {
    [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0x0F)]]
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

/// ZPL's ASCII compression, row by row: `:` for a row equal to the one before, `,` or `!` for a
/// row's tail of all-white or all-black whole bytes, and repeat counts (`G`–`Y` for 1–19, `g`–`z`
/// for 20–400) before a hex digit that repeats. Runs never cross a row's end, and fills start on
/// a byte boundary: the guide leaves both cases unclear, so they are not relied on.
fn compress_field(field: &[u8], row_bytes: usize, out: &mut Vec<u8>) {
    let mut previous: Option<&[u8]> = None;
    for row in field.chunks(row_bytes) {
        // The first row is never `:` — there is nothing to repeat, and a leading colon would
        // announce :B64: or :Z64: data.
        if previous == Some(row) {
            out.push(b':');
            continue;
        }
        previous = Some(row);
        let last = row[row.len() - 1];
        let (body, fill) = match last {
            0x00 | 0xFF => {
                let end = row.iter().rposition(|&b| b != last).map_or(0, |i| i + 1);
                (&row[..end], Some(if last == 0x00 { b',' } else { b'!' }))
            }
            _ => (row, None),
        };
        let mut digits = body.iter().flat_map(|&b| hex_pair(b)).peekable();
        while let Some(digit) = digits.next() {
            let mut run = 1;
            while digits.next_if_eq(&digit).is_some() {
                run += 1;
            }
            push_run(digit, run, out);
        }
        if let Some(fill) = fill {
            out.push(fill);
        }
    }
}

/// The longest run one count prefix says: 400 (`z`) + 19 (`Y`).
const MAX_RUN: usize = 419;

fn push_run(digit: u8, mut run: usize, out: &mut Vec<u8>) {
    while run > 0 {
        let take = run.min(MAX_RUN);
        // A count only pays from three repeats on; two digits are as short as a count and one.
        if take < 3 {
            out.extend(std::iter::repeat_n(digit, take));
        } else {
            let (twenties, ones) = (take / 20, take % 20);
            if twenties > 0 {
                out.push(b'g' + (twenties - 1) as u8);
            }
            if ones > 0 {
                out.push(b'G' + (ones - 1) as u8);
            }
            out.push(digit);
        }
        run -= take;
    }
}

/// The fields of the three `~HS` strings, once all have arrived.
type HostStatusFields = [Vec<String>; 3];

/// Field counts of `~HS` strings 1, 2 and 3 in the guide.
const HS_FIELDS: [usize; 3] = [12, 11, 2];
/// Longer than any genuine string; a frame without its ETX by then is not `~HS`.
const HS_MAX_STRING: usize = 80;

/// `Ok(None)` while the reply is a valid beginning of three strings.
fn parse_host_status(reply: &[u8]) -> Result<Option<HostStatusFields>, String> {
    let mut rest = reply;
    let mut strings: [Vec<String>; 3] = Default::default();
    for (i, &expected) in HS_FIELDS.iter().enumerate() {
        let n = i + 1;
        let Some((&first, after_stx)) = rest.split_first() else {
            return Ok(None);
        };
        if first != STX {
            return Err(format!(
                "string {n} does not start with STX (got 0x{first:02X})"
            ));
        }
        let (body, after_etx) = match after_stx.iter().position(|&b| b == ETX) {
            Some(end) => (&after_stx[..end], Some(&after_stx[end + 1..])),
            None => (after_stx, None),
        };
        if body.len() > HS_MAX_STRING {
            return Err(format!("string {n} is longer than any ~HS string"));
        }
        if let Some(&bad) = body.iter().find(|&&b| !(b.is_ascii_digit() || b == b',')) {
            return Err(format!(
                "string {n} holds 0x{bad:02X}, which is not a digit or comma"
            ));
        }
        let fields: Vec<String> = body
            .split(|&b| b == b',')
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        if fields.len() > expected {
            return Err(format!("string {n} has more than {expected} fields"));
        }
        let Some(after_etx) = after_etx else {
            return Ok(None);
        };
        if fields.len() != expected {
            return Err(format!(
                "string {n} has {} fields, not {expected}",
                fields.len()
            ));
        }
        if let Some(k) = fields.iter().position(String::is_empty) {
            return Err(format!("field {} of string {n} is empty", k + 1));
        }
        match after_etx {
            [] | [CR] => return Ok(None),
            [CR, LF, tail @ ..] => rest = tail,
            _ => return Err(format!("string {n} does not end with ETX CR LF")),
        }
        strings[i] = fields;
    }
    if !rest.is_empty() {
        return Err(format!("{} bytes after the third string", rest.len()));
    }
    // Fields that the guide defines as flags; anything but 0 or 1 there is not a ~HS reply.
    let flags: [&[usize]; 3] = [&[1, 2, 5, 6, 7, 9, 10, 11], &[2, 3, 4, 7], &[1]];
    for (n, (fields, indexes)) in strings.iter().zip(flags).enumerate() {
        for &k in indexes {
            if fields[k] != "0" && fields[k] != "1" {
                return Err(format!(
                    "field {} of string {} is {:?}, not a 0/1 flag",
                    k + 1,
                    n + 1,
                    fields[k]
                ));
            }
        }
    }
    Ok(Some(strings))
}

fn status_from_fields(fields: &HostStatusFields) -> PrinterStatus {
    let on = |s: usize, k: usize| fields[s][k] == "1";
    let paper_out = on(0, 1);
    let paused = on(0, 2);
    let corrupt_ram = on(0, 9);
    let under_temperature = on(0, 10);
    let over_temperature = on(0, 11);
    let head_up = on(1, 2);
    let ribbon_out = on(1, 3);
    let thermal_transfer = on(1, 4);
    if head_up {
        PrinterStatus::CoverOpen
    } else if paper_out {
        PrinterStatus::PaperOut
    } else if ribbon_out && thermal_transfer {
        // Without a ribbon a thermal-transfer printer prints nothing; in direct thermal mode the
        // flag means nothing. There is no ribbon status of its own to report.
        PrinterStatus::Error(PrinterErrorKind::Other)
    } else if over_temperature || under_temperature {
        PrinterStatus::Error(PrinterErrorKind::HeadTemperature)
    } else if corrupt_ram {
        // Lost configuration means default media settings: labels would come out misplaced.
        PrinterStatus::Error(PrinterErrorKind::Other)
    } else if paused {
        // A paused Zebra queues formats and prints none until someone presses its button.
        PrinterStatus::Error(PrinterErrorKind::Paused)
    } else {
        PrinterStatus::Ready
    }
}

/// The printer's side of ZPL II, for the simulated printer and the tests: a streaming parser
/// written from the guide, sharing no code with [`Zpl`].
///
/// It takes label formats `^XA … ^XZ` holding `^LH`, `^PW`, `^LL`, `^FO`, `^GFA` (plain or
/// compressed hexadecimal) and `^FS`, and emits a page at `^XZ`, `^PW` × `^LL` in size (where
/// one is missing, as far as the graphics reach); print width, label length and label home are
/// kept from format to format as a printer keeps them. `~HS` is answered wherever it arrives.
/// Commands that change nothing in the image (`^CI`, `^PR`, `^MD`, `^MN`, `^MM`, `^MT`, `^FX`,
/// `^PQ1`, `^PON`, `^LRN`, `^PMN`, `^LS0`, `^LT0`, `~SD`, `~TA`) are accepted when well formed
/// and ignored; anything else is an error. A printer whose condition cannot print at `^XZ`
/// loses the label; an [`PrinterStatus::Offline`] one does not answer `~HS`.
#[derive(Debug, Clone)]
pub struct ZplEmulator {
    offset: u64,
    state: ZState,
    print_width: Option<u32>,
    label_length: Option<u32>,
    label_home: (u32, u32),
    format: Option<Format>,
    quiet_on_faults: bool,
}

#[derive(Debug, Clone)]
enum ZState {
    Between,
    Name {
        prefix: u8,
        name: [u8; 2],
        len: usize,
        start: u64,
    },
    Params {
        prefix: u8,
        name: [u8; 2],
        params: Vec<u8>,
        start: u64,
    },
}

#[derive(Debug, Clone, Default)]
struct Format {
    origin: (u32, u32),
    graphics: Vec<Graphic>,
    stored: usize,
}

#[derive(Debug, Clone)]
struct Graphic {
    x: u32,
    y: u32,
    row_bytes: usize,
    data: Vec<u8>,
}

/// Widest page the emulator takes, in dots (a 600 dpi, 6.8-inch head is 4080).
const EMU_MAX_WIDTH: u32 = 4096;
/// Dots in one page at most, bounding memory (64 MB).
const EMU_MAX_AREA: u64 = 64 << 20;
/// Graphic bytes held in one format at most.
const EMU_MAX_STORED: usize = 16 << 20;
/// Longest command accepted: a full `^GFA` field in plain hex, with room for line breaks.
const EMU_MAX_PARAMS: usize = 2 * 99_999 + 4096;

impl Default for ZplEmulator {
    fn default() -> Self {
        Self::new()
    }
}

impl ZplEmulator {
    /// A printer just switched on: no width, length or label home set.
    pub fn new() -> Self {
        ZplEmulator {
            offset: 0,
            state: ZState::Between,
            print_width: None,
            label_length: None,
            label_home: (0, 0),
            format: None,
            quiet_on_faults: false,
        }
    }

    /// The same emulator, silent to `~HS` while out of paper, with the head open, too hot, or
    /// out of ribbon — what Zebra's guide says some printers do — so that the station's
    /// handling of a silent printer can be tested.
    pub fn quiet_on_faults(self, quiet: bool) -> Self {
        ZplEmulator {
            quiet_on_faults: quiet,
            ..self
        }
    }

    fn error_at(offset: u64, reason: impl Into<String>) -> EmulatorError {
        EmulatorError {
            language: "zpl",
            reason: reason.into(),
            offset,
        }
    }

    fn step(
        &mut self,
        b: u8,
        condition: PrinterStatus,
        out: &mut Vec<EmulatorOutput>,
    ) -> Result<(), EmulatorError> {
        let state = std::mem::replace(&mut self.state, ZState::Between);
        self.state = match state {
            ZState::Between => match b {
                b'^' | b'~' => ZState::Name {
                    prefix: b,
                    name: [0; 2],
                    len: 0,
                    start: self.offset,
                },
                b' ' | b'\t' | CR | LF => ZState::Between,
                _ => {
                    return Err(Self::error_at(
                        self.offset,
                        format!("byte 0x{b:02X} outside any command"),
                    ));
                }
            },
            ZState::Name {
                prefix,
                mut name,
                len,
                start,
            } => {
                if !b.is_ascii_alphanumeric() {
                    return Err(Self::error_at(
                        start,
                        format!("0x{b:02X} in a command name"),
                    ));
                }
                name[len] = b.to_ascii_uppercase();
                if len == 0 {
                    ZState::Name {
                        prefix,
                        name,
                        len: 1,
                        start,
                    }
                } else if takes_no_parameters(prefix, name) {
                    // Run at once: nothing can follow, and `~HS` must not wait for more input.
                    self.execute(prefix, name, &[], start, condition, out)?;
                    ZState::Between
                } else {
                    ZState::Params {
                        prefix,
                        name,
                        params: Vec::new(),
                        start,
                    }
                }
            }
            ZState::Params {
                prefix,
                name,
                mut params,
                start,
            } => match b {
                b'^' | b'~' => {
                    self.execute(prefix, name, &params, start, condition, out)?;
                    ZState::Name {
                        prefix: b,
                        name: [0; 2],
                        len: 0,
                        start: self.offset,
                    }
                }
                // The guide lets line breaks in anywhere for readability; they carry nothing.
                CR | LF => ZState::Params {
                    prefix,
                    name,
                    params,
                    start,
                },
                _ => {
                    if params.len() >= EMU_MAX_PARAMS {
                        return Err(Self::error_at(start, "command longer than any valid one"));
                    }
                    params.push(b);
                    ZState::Params {
                        prefix,
                        name,
                        params,
                        start,
                    }
                }
            },
        };
        Ok(())
    }

    fn execute(
        &mut self,
        prefix: u8,
        name: [u8; 2],
        params: &[u8],
        start: u64,
        condition: PrinterStatus,
        out: &mut Vec<EmulatorOutput>,
    ) -> Result<(), EmulatorError> {
        let command = format!("{}{}{}", prefix as char, name[0] as char, name[1] as char);
        let fail = |reason: String| Self::error_at(start, format!("{command}: {reason}"));
        let params = std::str::from_utf8(params)
            .ok()
            .filter(|p| p.is_ascii())
            .ok_or_else(|| fail("parameters are not ASCII".into()))?;
        if prefix == b'~' {
            return match &name {
                b"HS" => {
                    if let Some(reply) = self.host_status(condition) {
                        out.push(EmulatorOutput::Reply(reply));
                    }
                    Ok(())
                }
                b"SD" | b"TA" => plain_parameters(params).map_err(fail),
                _ => Err(fail("not a command the emulator knows".into())),
            };
        }
        if &name == b"XA" {
            if self.format.is_some() {
                return Err(fail("a format starts inside another".into()));
            }
            self.format = Some(Format::default());
            return Ok(());
        }
        let Some(format) = self.format.as_mut() else {
            return Err(fail("outside ^XA … ^XZ".into()));
        };
        match &name {
            b"XZ" => {
                let format = std::mem::take(format);
                self.format = None;
                if let Some(page) = self.render(&format).map_err(fail)?
                    && condition.can_print()
                {
                    out.push(EmulatorOutput::Page(page));
                }
            }
            b"FS" => format.origin = (0, 0),
            b"FO" => {
                let fields = split_fields(params, 3).map_err(&fail)?;
                let x = number_or(fields.first(), 0, 0, 32_000).map_err(&fail)?;
                let y = number_or(fields.get(1), 0, 0, 32_000).map_err(&fail)?;
                number_or(fields.get(2), 0, 0, 2).map_err(&fail)?;
                format.origin = (x, y);
            }
            b"LH" => {
                let fields = split_fields(params, 2).map_err(&fail)?;
                let x = number_or(fields.first(), 0, 0, 32_000).map_err(&fail)?;
                let y = number_or(fields.get(1), 0, 0, 32_000).map_err(&fail)?;
                self.label_home = (x, y);
            }
            b"PW" => {
                let fields = split_fields(params, 1).map_err(&fail)?;
                self.print_width = Some(number(fields.first(), 2, EMU_MAX_WIDTH).map_err(&fail)?);
            }
            b"LL" => {
                let fields = split_fields(params, 1).map_err(&fail)?;
                self.label_length = Some(number(fields.first(), 1, 32_000).map_err(&fail)?);
            }
            b"GF" => {
                let graphic = decode_graphic(params).map_err(&fail)?;
                let (x, y) = (
                    self.label_home.0 + format.origin.0,
                    self.label_home.1 + format.origin.1,
                );
                format.stored += graphic.1.len();
                if format.stored > EMU_MAX_STORED {
                    return Err(fail(
                        "more graphic data in one format than the emulator keeps".into(),
                    ));
                }
                format.graphics.push(Graphic {
                    x,
                    y,
                    row_bytes: graphic.0,
                    data: graphic.1,
                });
            }
            b"FX" => {}
            b"CI" | b"PR" | b"MD" | b"MN" | b"MM" | b"MT" => {
                plain_parameters(params).map_err(fail)?;
            }
            b"PQ" => {
                plain_parameters(params).map_err(&fail)?;
                let fields = split_fields(params, 4).map_err(&fail)?;
                if number_or(fields.first(), 1, 1, 99_999_999).map_err(&fail)? != 1 {
                    return Err(fail("the emulator prints one copy of a format".into()));
                }
            }
            b"PO" | b"LR" | b"PM" => {
                if !matches!(params.trim(), "N" | "") {
                    return Err(fail(format!(
                        "{params:?}: only the normal setting (N) is emulated"
                    )));
                }
            }
            b"LS" | b"LT" => {
                if number_or(Some(&params.trim()), 0, 0, 0).is_err() {
                    return Err(fail(format!("{params:?}: only 0 is emulated")));
                }
            }
            _ => return Err(fail("not a command the emulator knows".into())),
        }
        Ok(())
    }

    /// The page a finished format prints, or `None` when it has no size at all.
    fn render(&self, format: &Format) -> Result<Option<GrayImage>, String> {
        let reach_x = format
            .graphics
            .iter()
            .map(|g| g.x + (g.row_bytes * 8) as u32)
            .max()
            .unwrap_or(0);
        let reach_y = format
            .graphics
            .iter()
            .map(|g| g.y + (g.data.len() / g.row_bytes) as u32)
            .max()
            .unwrap_or(0);
        let width = self.print_width.unwrap_or(reach_x);
        let length = self.label_length.unwrap_or(reach_y);
        if width == 0 || length == 0 {
            return Ok(None);
        }
        if width > EMU_MAX_WIDTH || u64::from(width) * u64::from(length) > EMU_MAX_AREA {
            return Err(format!(
                "a {width} × {length} label is beyond the emulator's limits"
            ));
        }
        let mut page = GrayImage::from_pixel(width, length, Luma([255]));
        for g in &format.graphics {
            for (r, row) in g.data.chunks(g.row_bytes).enumerate() {
                let y = g.y + r as u32;
                if y >= length {
                    break;
                }
                for (i, &byte) in row.iter().enumerate() {
                    for bit in 0..8 {
                        let x = g.x + (i * 8 + bit) as u32;
                        // Dots beyond the print width fall off the head, as on a printer.
                        if byte & (0x80 >> bit) != 0 && x < width {
                            page.put_pixel(x, y, Luma([0]));
                        }
                    }
                }
            }
        }
        Ok(Some(page))
    }

    /// The three strings a printer in `condition` sends for `~HS`; `None` when it stays silent.
    fn host_status(&self, condition: PrinterStatus) -> Option<Vec<u8>> {
        let (mut paper_out, mut paused, mut over_temperature) = (0, 0, 0);
        let (mut head_up, mut ribbon_out, mut thermal_transfer) = (0, 0, 0);
        let fault = match condition {
            PrinterStatus::Ready | PrinterStatus::PaperLow => false,
            PrinterStatus::Offline => return None,
            PrinterStatus::Error(PrinterErrorKind::BadReply) => {
                return Some(b"\x02PRINTER ERROR\x03\r\n".to_vec());
            }
            PrinterStatus::PaperOut => {
                paper_out = 1;
                true
            }
            PrinterStatus::CoverOpen => {
                head_up = 1;
                true
            }
            PrinterStatus::Error(PrinterErrorKind::HeadTemperature) => {
                over_temperature = 1;
                true
            }
            PrinterStatus::Error(PrinterErrorKind::Other) => {
                ribbon_out = 1;
                thermal_transfer = 1;
                true
            }
            PrinterStatus::Error(_) => {
                // ~HS has no flag for a cutter, a jam or wrong media; a Zebra stops on them and
                // waits for the operator, which the pause flag shows.
                paused = 1;
                false
            }
        };
        if fault && self.quiet_on_faults {
            return None;
        }
        let length = self.label_length.unwrap_or(0);
        let partial = u8::from(self.format.is_some());
        // 030: 9600 baud, 8 data bits, 1 stop bit, no parity, XON/XOFF.
        let reply = format!(
            "\x02030,{paper_out},{paused},{length:04},000,0,0,{partial},000,0,0,{over_temperature}\x03\r\n\
             \x02000,0,{head_up},{ribbon_out},{thermal_transfer},2,0,0,00000000,1,000\x03\r\n\
             \x021234,0\x03\r\n"
        );
        Some(reply.into_bytes())
    }
}

impl Emulator for ZplEmulator {
    fn feed(
        &mut self,
        bytes: &[u8],
        condition: PrinterStatus,
    ) -> Result<Vec<EmulatorOutput>, EmulatorError> {
        let mut out = Vec::new();
        for &b in bytes {
            let result = self.step(b, condition, &mut out);
            self.offset += 1;
            if let Err(e) = result {
                // Drop the broken format, as a printer discards one it cannot parse.
                self.state = ZState::Between;
                self.format = None;
                return Err(e);
            }
        }
        Ok(out)
    }
}

fn takes_no_parameters(prefix: u8, name: [u8; 2]) -> bool {
    matches!(
        (prefix, &name),
        (b'^', b"XA") | (b'^', b"XZ") | (b'^', b"FS") | (b'~', b"HS")
    )
}

fn plain_parameters(params: &str) -> Result<(), String> {
    if params.len() <= 40
        && params
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b',' | b'-' | b'.' | b' '))
    {
        Ok(())
    } else {
        Err(format!("malformed parameters {params:?}"))
    }
}

fn split_fields(params: &str, most: usize) -> Result<Vec<&str>, String> {
    let fields: Vec<&str> = if params.is_empty() {
        Vec::new()
    } else {
        params.split(',').map(str::trim).collect()
    };
    if fields.len() > most {
        return Err(format!(
            "{} parameters, at most {most} expected",
            fields.len()
        ));
    }
    Ok(fields)
}

fn number(field: Option<&&str>, min: u32, max: u32) -> Result<u32, String> {
    let text = field.copied().unwrap_or("");
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.len() > 9 {
        return Err(format!("{text:?} is not a number"));
    }
    let value: u32 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if value < min || value > max {
        return Err(format!("{value} is outside {min}..={max}"));
    }
    Ok(value)
}

fn number_or(field: Option<&&str>, default: u32, min: u32, max: u32) -> Result<u32, String> {
    match field {
        None | Some(&"") => Ok(default),
        Some(_) => number(field, min, max),
    }
}

/// Decodes `^GF`'s parameters `A,b,c,d,data` to (bytes per row, image bytes).
fn decode_graphic(params: &str) -> Result<(usize, Vec<u8>), String> {
    let mut parts = params.splitn(5, ',');
    let kind = parts.next().unwrap_or("").trim();
    let (Some(b), Some(c), Some(d), Some(data)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("expected A,b,c,d,data".into());
    };
    if kind != "A" && !kind.is_empty() {
        return Err(format!(
            "compression type {kind:?}: only A (ASCII hex) is emulated"
        ));
    }
    let b = number(Some(&b.trim()), 1, 99_999)?;
    let total = number(Some(&c.trim()), 1, 99_999)? as usize;
    let row_bytes = number(Some(&d.trim()), 1, 99_999)? as usize;
    if b as usize != total {
        return Err(format!(
            "binary byte count {b} differs from the field count {total}"
        ));
    }
    if !total.is_multiple_of(row_bytes) {
        return Err(format!("{total} bytes are not whole rows of {row_bytes}"));
    }
    if row_bytes * 8 > EMU_MAX_WIDTH as usize {
        return Err(format!(
            "rows of {row_bytes} bytes are wider than the emulator's head"
        ));
    }
    let bytes = expand_hex(data.as_bytes(), row_bytes, total)?;
    Ok((row_bytes, bytes))
}

/// Expands ASCII hex with the guide's compression into exactly `total` bytes.
fn expand_hex(data: &[u8], row_bytes: usize, total: usize) -> Result<Vec<u8>, String> {
    let row_digits = 2 * row_bytes;
    let mut out: Vec<u8> = Vec::with_capacity(total);
    // The current row, one hex digit's value per entry.
    let mut row: Vec<u8> = Vec::with_capacity(row_digits);
    let mut count = 0usize;
    let mut previous_row: Option<std::ops::Range<usize>> = None;
    for (i, &c) in data.iter().enumerate() {
        let at = |what: &str| format!("{what} at data character {i}");
        if row.is_empty() && out.len() == total && !matches!(c, b' ' | CR | LF) {
            return Err(at("data beyond the field's byte count"));
        }
        match c {
            b'0'..=b'9' | b'A'..=b'F' | b'a'..=b'f' => {
                let value = match c {
                    b'0'..=b'9' => c - b'0',
                    b'A'..=b'F' => c - b'A' + 10,
                    _ => c - b'a' + 10,
                };
                let n = count.max(1);
                count = 0;
                // Whether a run may carry on into the next row the guide does not say; an
                // encoder relying on either reading is wrong for some printer.
                if row.len() + n > row_digits {
                    return Err(at("a repeat runs past the end of its row"));
                }
                row.extend(std::iter::repeat_n(value, n));
            }
            b'G'..=b'Y' => count += usize::from(c - b'G' + 1),
            b'g'..=b'z' => count += 20 * usize::from(c - b'g' + 1),
            b',' | b'!' => {
                if count != 0 {
                    return Err(at("a repeat count before a fill"));
                }
                // Older guides say an odd number of zeros needs one written out before the
                // comma: a fill starts on a byte boundary.
                if !row.len().is_multiple_of(2) {
                    return Err(at("a fill in the middle of a byte"));
                }
                let value = if c == b',' { 0x0 } else { 0xF };
                row.resize(row_digits, value);
            }
            b':' => {
                if count != 0 || !row.is_empty() {
                    return Err(at("a row repeat in the middle of a row"));
                }
                let Some(range) = previous_row.clone() else {
                    return Err(at(
                        "a row repeat with no row before it (B64/Z64 data is not emulated)",
                    ));
                };
                if out.len() + row_bytes > total {
                    return Err(at("data beyond the field's byte count"));
                }
                out.extend_from_within(range);
                previous_row = Some(out.len() - row_bytes..out.len());
                continue;
            }
            b' ' | CR | LF => continue,
            _ => return Err(at(&format!("0x{c:02X} is not graphic data"))),
        }
        if row.len() == row_digits {
            if out.len() + row_bytes > total {
                return Err(at("data beyond the field's byte count"));
            }
            let start = out.len();
            out.extend(row.chunks(2).map(|pair| (pair[0] << 4) | pair[1]));
            previous_row = Some(start..out.len());
            row.clear();
        }
    }
    if count != 0 {
        return Err("a repeat count at the end of the data".into());
    }
    if !row.is_empty() {
        return Err("the data ends in the middle of a row".into());
    }
    if out.len() != total {
        return Err(format!(
            "the data holds {} bytes; the field count says {total}",
            out.len()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(rows: &[&str]) -> Page {
        let width = rows[0].len() as u32;
        let mut image = GrayImage::from_pixel(width, rows.len() as u32, Luma([255]));
        for (y, row) in rows.iter().enumerate() {
            for (x, c) in row.chars().enumerate() {
                if c == '#' {
                    image.put_pixel(x as u32, y as u32, Luma([0]));
                }
            }
        }
        image
    }

    fn bytes_page(row_bytes: &[&[u8]]) -> Page {
        let width = row_bytes[0].len() as u32 * 8;
        let mut image = GrayImage::from_pixel(width, row_bytes.len() as u32, Luma([255]));
        for (y, row) in row_bytes.iter().enumerate() {
            for (i, &b) in row.iter().enumerate() {
                for bit in 0..8 {
                    if b & (0x80 >> bit) != 0 {
                        image.put_pixel((i * 8 + bit) as u32, y as u32, Luma([0]));
                    }
                }
            }
        }
        image
    }

    fn encode(encoder: Zpl, page: &Page) -> String {
        String::from_utf8(encoder.encode_page(page).unwrap()).unwrap()
    }

    fn status(reply: &[u8]) -> StatusReply {
        Zpl::new(Zpl::WIDTH_4IN_203DPI).read_status(reply)
    }

    const THREE_ROWS: [&str; 3] = ["#.......########", "##.#.#.#........", "...............#"];

    #[test]
    fn golden_plain_hex() {
        let encoder = Zpl::new(Zpl::WIDTH_4IN_203DPI).with_compression(false);
        assert_eq!(
            encode(encoder, &page(&THREE_ROWS)),
            "^XA^LH0,0^PW16^LL3^FO0,0^GFA,6,6,2,80FFD5000001^FS^XZ"
        );
        // 10 dots: two bytes a row, the padding white; ^PW is the page's own width.
        assert_eq!(
            encode(encoder, &page(&["#........#"])),
            "^XA^LH0,0^PW10^LL1^FO0,0^GFA,2,2,2,8040^FS^XZ"
        );
        // ^PW takes 2 dots at least.
        assert_eq!(
            encode(encoder, &page(&["#", "."])),
            "^XA^LH0,0^PW2^LL2^FO0,0^GFA,2,2,1,8000^FS^XZ"
        );
    }

    #[test]
    fn golden_field_split() {
        let encoder = Zpl::new(Zpl::WIDTH_4IN_203DPI).with_compression(false);
        let bytes = encoder
            .encode_with_field_limit(&page(&THREE_ROWS), 4)
            .unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "^XA^LH0,0^PW16^LL3^FO0,0^GFA,4,4,2,80FFD500^FS^FO0,2^GFA,2,2,2,0001^FS^XZ"
        );
    }

    #[test]
    fn golden_compression() {
        let encoder = Zpl::new(Zpl::WIDTH_4IN_203DPI);
        // Row 1: FF FF then white bytes: four F's (J = 4) and a comma.
        // Row 2: the same row again: a colon.
        // Row 3: 0F 00 00 01: 0, F, five 0's (K = 5), 1.
        // Row 4: all white: a comma alone.
        let p = bytes_page(&[
            &[0xFF, 0xFF, 0x00, 0x00],
            &[0xFF, 0xFF, 0x00, 0x00],
            &[0x0F, 0x00, 0x00, 0x01],
            &[0x00, 0x00, 0x00, 0x00],
        ]);
        assert_eq!(
            encode(encoder, &p),
            "^XA^LH0,0^PW32^LL4^FO0,0^GFA,16,16,4,JF,:0FK01,^FS^XZ"
        );
        // 24 A's: g (20) + J (4). All black: an exclamation mark alone. 12 34 then black.
        let p = bytes_page(&[
            &[0xAA; 12],
            &[0xFF; 12],
            &[
                0x12, 0x34, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            ],
        ]);
        assert_eq!(
            encode(encoder, &p),
            "^XA^LH0,0^PW96^LL3^FO0,0^GFA,36,36,12,gJA!1234!^FS^XZ"
        );
        // Two repeats stay literal; three take a count (I = 3).
        let p = bytes_page(&[&[0x11, 0x12], &[0x11, 0x1A]]);
        assert_eq!(
            encode(encoder, &p),
            "^XA^LH0,0^PW16^LL2^FO0,0^GFA,4,4,2,I12I1A^FS^XZ"
        );
    }

    #[test]
    fn golden_compression_of_long_runs() {
        // 500 bytes of 0x55: 1000 fives, said as 419 (z = 400, Y = 19) twice and 162
        // (n = 160, H = 2): no count above 419 is relied on.
        let encoder = Zpl::new(4000);
        let p = bytes_page(&[&[0x55; 500]]);
        assert_eq!(
            encode(encoder, &p),
            "^XA^LH0,0^PW4000^LL1^FO0,0^GFA,500,500,500,zY5zY5nH5^FS^XZ"
        );
    }

    #[test]
    fn refuses_wide_empty_and_long_pages() {
        let encoder = Zpl::new(Zpl::WIDTH_4IN_203DPI);
        assert_eq!(
            encoder.encode_page(&GrayImage::new(833, 1)),
            Err(EncodeError::TooWide {
                width: 833,
                max: 832
            })
        );
        assert_eq!(
            encoder.encode_page(&GrayImage::new(0, 1)),
            Err(EncodeError::Empty)
        );
        assert_eq!(
            encoder.encode_page(&GrayImage::new(1, 0)),
            Err(EncodeError::Empty)
        );
        assert_eq!(
            encoder.encode_page(&GrayImage::new(8, 32_001)),
            Err(EncodeError::TooLong {
                height: 32_001,
                max: 32_000
            })
        );
    }

    #[test]
    fn a_100_by_150_mm_label_goes_in_fields_within_the_guide_s_range() {
        let encoder = Zpl::new(Zpl::WIDTH_4IN_203DPI).with_compression(false);
        let bytes = encode(encoder, &GrayImage::from_pixel(800, 1200, Luma([255])));
        // 100 bytes a row: 999 rows (99900 bytes) in the first field, 201 in the second.
        assert!(bytes.starts_with("^XA^LH0,0^PW800^LL1200^FO0,0^GFA,99900,99900,100,"));
        assert!(bytes.contains("^FS^FO0,999^GFA,20100,20100,100,"));
        assert!(bytes.ends_with("^FS^XZ"));
        let mut emulator = ZplEmulator::new();
        let out = emulator
            .feed(bytes.as_bytes(), PrinterStatus::Ready)
            .unwrap();
        let [EmulatorOutput::Page(p)] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(p.dimensions(), (800, 1200));
    }

    #[test]
    fn golden_status_query() {
        assert_eq!(Zpl::new(832).status_query(), b"~HS".to_vec());
    }

    /// A ready ZD421-like printer's reply, laid out as the guide gives the three strings.
    const READY: &[u8] = b"\x02030,0,0,1218,000,0,0,0,000,0,0,0\x03\r\n\
        \x02001,0,0,0,0,2,6,0,00000000,1,000\x03\r\n\
        \x021234,0\x03\r\n";

    #[test]
    fn golden_status_replies() {
        use PrinterErrorKind as K;
        use PrinterStatus as S;
        // String 1: aaa,b(paper out),c(pause),dddd,eee,f,g,h,iii,j(corrupt RAM),k(under),l(over).
        // String 2: mmm,n,o(head up),p(ribbon out),q(thermal transfer),r,s,t,uuuuuuuu,v,www.
        const S2: &str = "\x02001,0,0,0,0,2,6,0,00000000,1,000\x03\r\n";
        const S3: &str = "\x021234,0\x03\r\n";
        let s1_cases: [(&str, PrinterStatus); 7] = [
            ("030,0,0,1218,000,0,0,0,000,0,0,0", S::Ready),
            ("030,1,0,1218,000,0,0,0,000,0,0,0", S::PaperOut),
            // Media out usually pauses the printer too; paper out is what to report.
            ("030,1,1,1218,000,0,0,0,000,0,0,0", S::PaperOut),
            ("030,0,1,1218,000,0,0,0,000,0,0,0", S::Error(K::Paused)),
            (
                "030,0,0,1218,000,0,0,0,000,0,0,1",
                S::Error(K::HeadTemperature),
            ),
            (
                "030,0,0,1218,000,0,0,0,000,0,1,0",
                S::Error(K::HeadTemperature),
            ),
            ("030,0,0,1218,000,0,0,0,000,1,0,0", S::Error(K::Other)),
        ];
        for (s1, expected) in s1_cases {
            let reply = format!("\x02{s1}\x03\r\n{S2}{S3}");
            assert_eq!(
                status(reply.as_bytes()),
                StatusReply::Status(expected),
                "{s1}"
            );
        }
        let s2_cases: [(&str, &str, PrinterStatus); 5] = [
            (
                "030,0,0,1218,000,0,0,0,000,0,0,0",
                "001,0,1,0,0,2,6,0,00000000,1,000",
                S::CoverOpen,
            ),
            // Head open while out of paper and paused: the head is reported first.
            (
                "030,1,1,1218,000,0,0,0,000,0,0,0",
                "001,0,1,0,0,2,6,0,00000000,1,000",
                S::CoverOpen,
            ),
            (
                "030,0,0,1218,000,0,0,0,000,0,0,0",
                "001,0,0,1,1,2,6,0,00000000,1,000",
                S::Error(K::Other),
            ),
            // Ribbon out in direct thermal mode means nothing.
            (
                "030,0,0,1218,000,0,0,0,000,0,0,0",
                "001,0,0,1,0,2,6,0,00000000,1,000",
                S::Ready,
            ),
            // Temperature outranks a pause.
            (
                "030,0,1,1218,000,0,0,0,000,0,0,1",
                "001,0,0,0,1,2,6,0,00000000,1,000",
                S::Error(K::HeadTemperature),
            ),
        ];
        for (s1, s2, expected) in s2_cases {
            let reply = format!("\x02{s1}\x03\r\n\x02{s2}\x03\r\n{S3}");
            assert_eq!(
                status(reply.as_bytes()),
                StatusReply::Status(expected),
                "{s1} {s2}"
            );
        }
        assert_eq!(status(READY), StatusReply::Status(S::Ready));
    }

    #[test]
    fn truncated_and_foreign_replies() {
        let full = READY;
        for n in 0..full.len() {
            assert_eq!(status(&full[..n]), StatusReply::NeedMore, "first {n} bytes");
        }
        let invalid = |bytes: &[u8]| matches!(status(bytes), StatusReply::Invalid(_));
        assert!(invalid(b"OK"));
        assert!(invalid(b"\x12\x12\x12\x12"));
        assert!(invalid(&[full, b"\x02"].concat()));
        // String 1 with 11 fields, string 2 with 12.
        assert!(invalid(b"\x02030,0,0,1218,000,0,0,0,000,0,0\x03\r\n"));
        assert!(invalid(b"\x02030,0,0,1218,000,0,0,0,000,0,0,0\x03\r\n\x02001,0,0,0,0,2,6,0,00000000,1,000,7\x03"));
        // A flag of 2, a letter, an empty field, a missing LF.
        assert!(invalid(b"\x02030,2,0,1218,000,0,0,0,000,0,0,0\x03\r\n\x02001,0,0,0,0,2,6,0,00000000,1,000\x03\r\n\x021234,0\x03\r\n"));
        assert!(invalid(b"\x02030,X"));
        assert!(invalid(b"\x02030,,0,1218,000,0,0,0,000,0,0,0\x03\r\n"));
        assert!(invalid(b"\x02030,0,0,1218,000,0,0,0,000,0,0,0\x03\r\r"));
        // No ETX within any plausible length.
        assert!(invalid(&[&[STX][..], &[b'0'; 100]].concat()));
    }

    fn feed_all(
        emulator: &mut ZplEmulator,
        bytes: &[u8],
        condition: PrinterStatus,
    ) -> Vec<EmulatorOutput> {
        emulator.feed(bytes, condition).expect("valid ZPL")
    }

    #[test]
    fn emulator_answers_host_status_for_every_condition() {
        use PrinterErrorKind as K;
        use PrinterStatus as S;
        let encoder = Zpl::new(832);
        for condition in [
            S::Ready,
            S::PaperOut,
            S::CoverOpen,
            S::Error(K::HeadTemperature),
            S::Error(K::Other),
            S::Error(K::Paused),
        ] {
            let out = feed_all(&mut ZplEmulator::new(), b"~HS", condition);
            let [EmulatorOutput::Reply(bytes)] = out.as_slice() else {
                panic!("{out:?}")
            };
            assert_eq!(encoder.read_status(bytes), StatusReply::Status(condition));
        }
        let out = feed_all(&mut ZplEmulator::new(), b"~HS", S::PaperLow);
        let [EmulatorOutput::Reply(bytes)] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(encoder.read_status(bytes), StatusReply::Status(S::Ready));
        let out = feed_all(&mut ZplEmulator::new(), b"~HS", S::Error(K::Cutter));
        let [EmulatorOutput::Reply(bytes)] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(
            encoder.read_status(bytes),
            StatusReply::Status(S::Error(K::Paused))
        );
        assert!(feed_all(&mut ZplEmulator::new(), b"~HS", S::Offline).is_empty());
        let out = feed_all(&mut ZplEmulator::new(), b"~HS", S::Error(K::BadReply));
        let [EmulatorOutput::Reply(bytes)] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert!(matches!(
            encoder.read_status(bytes),
            StatusReply::Invalid(_)
        ));
        let mut quiet = ZplEmulator::new().quiet_on_faults(true);
        assert!(feed_all(&mut quiet, b"~HS", S::PaperOut).is_empty());
        assert_eq!(feed_all(&mut quiet, b"~HS", S::Ready).len(), 1);
    }

    #[test]
    fn emulator_answers_host_status_mid_format() {
        let mut emulator = ZplEmulator::new();
        let out = feed_all(&mut emulator, b"^XA^PW16^LL1~HS", PrinterStatus::Ready);
        let [EmulatorOutput::Reply(bytes)] = out.as_slice() else {
            panic!("{out:?}")
        };
        // Label length 1, partial format flag set.
        assert!(bytes.starts_with(b"\x02030,0,0,0001,000,0,0,1,"));
        let out = feed_all(
            &mut emulator,
            b"^FO0,0^GFA,2,2,2,FF00^FS^XZ",
            PrinterStatus::Ready,
        );
        assert!(matches!(out.as_slice(), [EmulatorOutput::Page(_)]));
    }

    #[test]
    fn emulator_places_graphics_at_the_field_origin_and_label_home() {
        let zpl =
            b"^XA^CI28^PW24^LL6^LH2,1^FO8,2^GFA,2,2,1,80:^FS^FO0,0^GFA,1,1,1,01^FS^PQ1,0,1,Y^XZ";
        let out = feed_all(&mut ZplEmulator::new(), zpl, PrinterStatus::Ready);
        let [EmulatorOutput::Page(p)] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(p.dimensions(), (24, 6));
        let black: Vec<(u32, u32)> = p
            .enumerate_pixels()
            .filter(|(_, _, l)| l.0[0] == 0)
            .map(|(x, y, _)| (x, y))
            .collect();
        assert_eq!(black, vec![(9, 1), (10, 3), (10, 4)]);
    }

    #[test]
    fn emulator_loses_labels_it_cannot_print() {
        let bytes = Zpl::new(832).encode_page(&page(&THREE_ROWS)).unwrap();
        for condition in [
            PrinterStatus::PaperOut,
            PrinterStatus::CoverOpen,
            PrinterStatus::Offline,
        ] {
            let mut emulator = ZplEmulator::new();
            assert!(feed_all(&mut emulator, &bytes, condition).is_empty());
            let out = feed_all(&mut emulator, &bytes, PrinterStatus::Ready);
            assert!(matches!(out.as_slice(), [EmulatorOutput::Page(_)]));
        }
    }

    #[test]
    fn emulator_rejects_garbage_with_its_offset() {
        // Text after a parameter is part of it: ^PW's number is "8hello", found wrong when the
        // next command ends it, and reported where ^PW starts.
        assert!(
            ZplEmulator::new()
                .feed(b"^XA^PW8\r\nhello", PrinterStatus::Ready)
                .is_ok()
        );
        let e = ZplEmulator::new()
            .feed(b"^XA^PW8\r\nhello^XZ", PrinterStatus::Ready)
            .unwrap_err();
        assert_eq!((e.language, e.offset), ("zpl", 3));
        let e = ZplEmulator::new()
            .feed(b"\r\nX", PrinterStatus::Ready)
            .unwrap_err();
        assert_eq!(e.offset, 2);
        for bad in [
            &b"^XA^XA"[..],
            b"^XZ",
            b"^FO0,0^XA",
            b"^XA^ZZ^XZ",
            b"~ZZ^XA",
            b"^XA^PW0^XZ",
            b"^XA^PQ2^XZ",
            b"^XA^POI^XZ",
            b"^XA^LS10^XZ",
            b"^XA^CI28;DROP^XZ",
            b"^XA^GFB,1,1,1,A^XZ",
            b"^XA^GFA,2,2,1,FF^XZ",
            b"^XA^GFA,2,1,1,FFFF^XZ",
            b"^XA^GFA,3,3,2,FFFFFF^XZ",
            b"^XA^GFA,2,2,2,FFFFFF^XZ",
            b"^XA^GFA,2,2,2,:B64:AAAA^XZ",
            b"^XA^GFA,2,2,2,F,^XZ",
            b"^XA^GFA,2,2,2,KF^XZ",
            b"^XA^GFA,2,2,2,FFFG^XZ",
            b"^XA^GFA,4,4,2,FFFF:F^XZ",
            b"^XA^GFA,2,2,2,FF*F^XZ",
            b"^X\x00",
        ] {
            assert!(
                ZplEmulator::new().feed(bad, PrinterStatus::Ready).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn emulator_expands_the_guide_s_compression_examples() {
        // "M6" is seven 6's; "vMB" is 327 B's; a comma pads the row with white, "!" with black,
        // ":" repeats the previous row. CR LF inside the data carry nothing.
        assert_eq!(
            expand_hex(b"M6F", 4, 4).unwrap(),
            vec![0x66, 0x66, 0x66, 0x6F]
        );
        let b = expand_hex(b"vMBB", 164, 164).unwrap();
        assert!(b.iter().all(|&x| x == 0xBB));
        assert_eq!(
            expand_hex(b"F0,\r\n!:", 3, 9).unwrap(),
            vec![0xF0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        );
        assert_eq!(
            expand_hex(b"MvB", 164, 164).unwrap_err(),
            "the data ends in the middle of a row"
        );
    }
}
