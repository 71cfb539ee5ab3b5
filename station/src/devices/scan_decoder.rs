//! The serial scanner's byte decoder: turns whatever a scanner sends, in chunks of any size, into
//! codes, or skips garbage with a reason. Pure: no I/O, no clock, so it is tested exhaustively.
//!
//! Shaped like Klipper's frame decoder (`msgblock_check`): each call answers "need more bytes",
//! "here is a code" or "these bytes were skipped", and never assumes one `read()` is one code.
//! Memory is bounded by the maximum code length, whatever arrives.
//!
//! ```
//! use station::devices::scan_decoder::{Decoded, DecoderConfig, ScanDecoder};
//!
//! let mut decoder = ScanDecoder::new(DecoderConfig { aim_ids: true, max_len: 256 });
//! let mut input: &[u8] = b"]Q1GKM.6220\r\n";
//! let mut codes = Vec::new();
//! loop {
//!     let (used, decoded) = decoder.decode(input);
//!     input = &input[used..];
//!     match decoded {
//!         Decoded::NeedMore => break,
//!         Decoded::Code { text, .. } => codes.push(text),
//!         Decoded::Skipped { .. } => {}
//!     }
//! }
//! assert_eq!(codes, ["GKM.6220"]);
//! ```

use std::fmt;

/// Longest `max_len` anyone may configure: far beyond any code a person scans, and small
/// enough that the buffer stays a trifle.
pub const MAX_MAX_LEN: usize = 64 * 1024;

/// Length of an AIM symbology identifier: `]`, the code character, the modifier.
const AIM_LEN: usize = 3;

/// How the decoder reads the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderConfig {
    /// Whether the scanner prefixes codes with an AIM symbology identifier (`]Q1`, `]C0` …):
    /// when set, a leading identifier is recognised and stripped.
    pub aim_ids: bool,
    /// Longest code in bytes (after the identifier); longer ones are skipped as too long.
    /// Clamped to 1..=[`MAX_MAX_LEN`].
    pub max_len: usize,
}

/// An AIM symbology identifier (ISO/IEC 15424): which kind of barcode was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AimId {
    /// The code character: `Q` QR, `C` Code 128, `d` Data Matrix …
    pub code: char,
    /// The modifier character, whose meaning depends on the code character.
    pub modifier: char,
}

impl AimId {
    /// The symbology's common name, for the symbologies a city hall's forms use.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.code {
            'A' => "Code 39",
            'C' => "Code 128",
            'E' => "EAN/UPC",
            'I' => "Interleaved 2 of 5",
            'L' => "PDF417",
            'Q' => "QR Code",
            'd' => "Data Matrix",
            'z' => "Aztec",
            _ => return None,
        })
    }
}

impl fmt::Display for AimId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "]{}{}", self.code, self.modifier)
    }
}

/// Why bytes were skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// Longer than the maximum code length; everything up to the next terminator was dropped.
    TooLong,
    /// Not valid UTF-8 (line noise, a wrong baud rate or parity).
    InvalidUtf8,
    /// Contained a NUL byte (a scanner powering up, a line break on RS-232).
    NulByte,
    /// Bytes with no terminator before the line went idle or away: half a code.
    Incomplete,
}

impl SkipReason {
    /// The reason's name in logs and status (`too_long` …).
    pub fn name(self) -> &'static str {
        match self {
            SkipReason::TooLong => "too_long",
            SkipReason::InvalidUtf8 => "invalid_utf8",
            SkipReason::NulByte => "nul_byte",
            SkipReason::Incomplete => "incomplete",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One answer of the decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// Every byte given was taken; no code is complete yet.
    NeedMore,
    /// A whole code, without its terminator or identifier.
    Code {
        /// The code's text.
        text: String,
        /// The symbology, when identifiers are on and the scanner sent one.
        symbology: Option<AimId>,
    },
    /// A code's bytes were dropped (reported once per code, at its terminator).
    Skipped {
        /// How many bytes were dropped, not counting the terminator.
        bytes: u64,
        /// Why.
        reason: SkipReason,
    },
}

/// Counts of what the decoder saw, garbage included: counted rather than failed on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecoderStats {
    /// Bytes given to the decoder.
    pub bytes_in: u64,
    /// Codes decoded.
    pub codes: u64,
    /// Codes skipped, for any reason.
    pub skipped_codes: u64,
    /// Bytes in skipped codes.
    pub skipped_bytes: u64,
    /// Codes skipped as too long.
    pub too_long: u64,
    /// Codes skipped as invalid UTF-8.
    pub invalid_utf8: u64,
    /// Codes skipped for a NUL byte.
    pub nul_byte: u64,
    /// Partial codes dropped by [`ScanDecoder::flush`].
    pub incomplete: u64,
    /// Terminators with nothing before them (the LF of CR LF, blank lines): not codes.
    pub empty: u64,
}

/// The incremental decoder. Keep one per port; feed it every byte read, in order.
#[derive(Debug, Clone)]
pub struct ScanDecoder {
    config: DecoderConfig,
    /// The current code's bytes, never longer than `limit`.
    buf: Vec<u8>,
    /// Most bytes `buf` may hold: `max_len`, plus room for an identifier when they are on.
    limit: usize,
    /// Bytes of the current code dropped since it outgrew `limit` (0: not too long).
    overflow: u64,
    /// Whether the current code has had a NUL byte.
    nul: bool,
    stats: DecoderStats,
}

impl ScanDecoder {
    /// A decoder with nothing buffered.
    pub fn new(config: DecoderConfig) -> ScanDecoder {
        let max_len = config.max_len.clamp(1, MAX_MAX_LEN);
        let config = DecoderConfig { max_len, ..config };
        let limit = max_len + if config.aim_ids { AIM_LEN } else { 0 };
        ScanDecoder {
            config,
            buf: Vec::with_capacity(limit),
            limit,
            overflow: 0,
            nul: false,
            stats: DecoderStats::default(),
        }
    }

    /// The configuration in force (with `max_len` clamped).
    pub fn config(&self) -> DecoderConfig {
        self.config
    }

    /// Counts so far.
    pub fn stats(&self) -> DecoderStats {
        self.stats
    }

    /// Bytes of an unfinished code held now (never more than `max_len` + 3).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Whether part of a code has arrived without its terminator yet.
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty() || self.overflow > 0
    }

    /// Takes bytes from the front of `input` up to and including the first terminator, and says
    /// what they made. Returns how many bytes were taken: all of them with [`Decoded::NeedMore`];
    /// call again with the rest after a code or a skip.
    pub fn decode(&mut self, input: &[u8]) -> (usize, Decoded) {
        let mut used = 0;
        // A loop, not recursion: a megabyte of blank lines must not grow the stack.
        loop {
            let rest = &input[used..];
            let Some(at) = rest.iter().position(|&b| is_terminator(b)) else {
                self.take(rest);
                self.stats.bytes_in += rest.len() as u64;
                return (input.len(), Decoded::NeedMore);
            };
            self.take(&rest[..at]);
            self.stats.bytes_in += at as u64 + 1;
            used += at + 1;
            // An empty line is no answer at all: carry on with the rest, so that NeedMore
            // means the input is used up.
            if let Some(decoded) = self.finish() {
                return (used, decoded);
            }
        }
    }

    /// Decodes all of `input`, returning every code and skip (never [`Decoded::NeedMore`]).
    pub fn decode_all(&mut self, mut input: &[u8]) -> Vec<Decoded> {
        let mut out = Vec::new();
        loop {
            let (used, decoded) = self.decode(input);
            input = &input[used..];
            match decoded {
                Decoded::NeedMore => return out,
                other => out.push(other),
            }
        }
    }

    /// Drops a partial code (the line went idle or away mid-code), reporting it if there was one.
    pub fn flush(&mut self) -> Option<Decoded> {
        if !self.has_partial() {
            return None;
        }
        let bytes = self.buf.len() as u64 + self.overflow;
        self.reset();
        Some(self.skip(bytes, SkipReason::Incomplete))
    }

    /// Adds bytes that contain no terminator to the current code, within the limit.
    fn take(&mut self, body: &[u8]) {
        if body.contains(&0) {
            self.nul = true;
        }
        let room = self.limit - self.buf.len();
        if body.len() <= room && self.overflow == 0 {
            self.buf.extend_from_slice(body);
        } else {
            // Too long: the kept bytes count as dropped too, and nothing more is kept, so a
            // megabyte without a terminator costs no more memory than one code.
            self.overflow += (self.buf.len() + body.len()) as u64;
            self.buf.clear();
        }
    }

    /// The current code ended at a terminator: what it was (`None` for an empty line).
    fn finish(&mut self) -> Option<Decoded> {
        if self.overflow > 0 {
            let bytes = self.overflow;
            self.reset();
            return Some(self.skip(bytes, SkipReason::TooLong));
        }
        if self.buf.is_empty() {
            self.stats.empty += 1;
            return None;
        }
        let bytes = self.buf.len() as u64;
        if self.nul {
            self.reset();
            return Some(self.skip(bytes, SkipReason::NulByte));
        }
        let (symbology, start) = match self.aim_prefix() {
            Some(id) => (Some(id), AIM_LEN),
            None => (None, 0),
        };
        if self.buf.len() - start > self.config.max_len {
            self.reset();
            return Some(self.skip(bytes, SkipReason::TooLong));
        }
        let decoded = match std::str::from_utf8(&self.buf[start..]) {
            Ok(text) => {
                self.stats.codes += 1;
                Decoded::Code {
                    text: text.to_owned(),
                    symbology,
                }
            }
            Err(_) => self.skip(bytes, SkipReason::InvalidUtf8),
        };
        self.reset();
        Some(decoded)
    }

    /// The identifier at the start of the current code, when identifiers are on.
    fn aim_prefix(&self) -> Option<AimId> {
        if !self.config.aim_ids {
            return None;
        }
        match self.buf.as_slice() {
            // ISO/IEC 15424: the code character is a letter; the modifier a digit or letter.
            [b']', code, modifier, ..]
                if code.is_ascii_alphabetic() && modifier.is_ascii_alphanumeric() =>
            {
                Some(AimId {
                    code: char::from(*code),
                    modifier: char::from(*modifier),
                })
            }
            _ => None,
        }
    }

    fn skip(&mut self, bytes: u64, reason: SkipReason) -> Decoded {
        let s = &mut self.stats;
        s.skipped_codes += 1;
        s.skipped_bytes += bytes;
        match reason {
            SkipReason::TooLong => s.too_long += 1,
            SkipReason::InvalidUtf8 => s.invalid_utf8 += 1,
            SkipReason::NulByte => s.nul_byte += 1,
            SkipReason::Incomplete => s.incomplete += 1,
        }
        Decoded::Skipped { bytes, reason }
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.overflow = 0;
        self.nul = false;
    }
}

/// CR, LF and TAB end a code. CR LF is one terminator in effect: the LF ends an empty line,
/// which is not a code.
fn is_terminator(b: u8) -> bool {
    matches!(b, b'\r' | b'\n' | b'\t')
}
