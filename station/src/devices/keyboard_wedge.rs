//! A USB HID barcode scanner in keyboard-wedge mode types each code as key presses. This module
//! turns those key events back into the scanner's bytes, and those bytes into codes through the
//! same [`ScanDecoder`] the serial scanner uses (terminators, AIM identifiers, length limits).
//! Pure: no device, no clock, so recorded event sequences test it completely.
//!
//! Key codes are Linux input event codes (`linux/input-event-codes.h`), as evdev reports them:
//! the kernel has already turned the scanner's HID usages into them, before any keyboard layout
//! applies. The layout is US, which is what scanners emulate unless set otherwise.
//!
//! Documented limits, which `hw-docs` repeats for the scanner's set-up:
//! - Only printable ASCII comes through: a US keyboard has no key for `ą` or `€`. A key with no
//!   US meaning (F-keys, arrows, Alt+keypad sequences some scanners use for non-ASCII) makes the
//!   whole code unreadable, reported as [`WedgeDecoded::Unmapped`] rather than mistyped.
//! - Keypad keys are read as if Num Lock were on, which is how scanners in keypad mode send
//!   digits.
//! - Caps Lock counts only when this scanner presses it: the device is read alone, so another
//!   keyboard's Caps Lock cannot flip the case of a code (the usual keyboard-wedge trap).
//! - Ctrl with a letter or `[ \ ] ^ _` gives the control character (Ctrl+M = CR, Ctrl+] = GS,
//!   the GS1 separator), as a terminal would.
//! - Enter and keypad Enter end a code as CR; Tab as TAB.

use super::scan_decoder::{Decoded, DecoderConfig, ScanDecoder};

/// evdev's `value` for a key event: released, pressed, or auto-repeated while held.
const RELEASED: i32 = 0;
const PRESSED: i32 = 1;

/// Linux key codes this module reads. Written out, not taken from the evdev crate, so the pure
/// decoder builds without the `hid` feature and the tests check the numbers against the header.
pub mod key {
    #![allow(missing_docs)]
    pub const ESC: u16 = 1;
    pub const N1: u16 = 2;
    pub const N0: u16 = 11;
    pub const MINUS: u16 = 12;
    pub const EQUAL: u16 = 13;
    pub const BACKSPACE: u16 = 14;
    pub const TAB: u16 = 15;
    pub const Q: u16 = 16;
    pub const LEFTBRACE: u16 = 26;
    pub const RIGHTBRACE: u16 = 27;
    pub const ENTER: u16 = 28;
    pub const LEFTCTRL: u16 = 29;
    pub const A: u16 = 30;
    pub const SEMICOLON: u16 = 39;
    pub const APOSTROPHE: u16 = 40;
    pub const GRAVE: u16 = 41;
    pub const LEFTSHIFT: u16 = 42;
    pub const BACKSLASH: u16 = 43;
    pub const Z: u16 = 44;
    pub const COMMA: u16 = 51;
    pub const DOT: u16 = 52;
    pub const SLASH: u16 = 53;
    pub const RIGHTSHIFT: u16 = 54;
    pub const KPASTERISK: u16 = 55;
    pub const LEFTALT: u16 = 56;
    pub const SPACE: u16 = 57;
    pub const CAPSLOCK: u16 = 58;
    pub const NUMLOCK: u16 = 69;
    pub const KP7: u16 = 71;
    pub const KP8: u16 = 72;
    pub const KP9: u16 = 73;
    pub const KPMINUS: u16 = 74;
    pub const KP4: u16 = 75;
    pub const KP5: u16 = 76;
    pub const KP6: u16 = 77;
    pub const KPPLUS: u16 = 78;
    pub const KP1: u16 = 79;
    pub const KP2: u16 = 80;
    pub const KP3: u16 = 81;
    pub const KP0: u16 = 82;
    pub const KPDOT: u16 = 83;
    pub const KPENTER: u16 = 96;
    pub const RIGHTCTRL: u16 = 97;
    pub const KPSLASH: u16 = 98;
    pub const RIGHTALT: u16 = 100;
    pub const LEFTMETA: u16 = 125;
    pub const RIGHTMETA: u16 = 126;
}

/// The three rows of letters, in key-code order (`KEY_Q` = 16 … `KEY_P` = 25 and so on).
const ROW_Q: &[u8; 10] = b"qwertyuiop";
const ROW_A: &[u8; 9] = b"asdfghjkl";
const ROW_Z: &[u8; 7] = b"zxcvbnm";
/// `KEY_1` … `KEY_0`, unshifted and shifted.
const DIGITS: &[u8; 10] = b"1234567890";
const DIGITS_SHIFTED: &[u8; 10] = b"!@#$%^&*()";

/// One key event from the scanner: evdev's `EV_KEY` code and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyEvent {
    /// The Linux key code (`KEY_A` = 30 …).
    pub code: u16,
    /// 0 released, 1 pressed, 2 auto-repeat.
    pub value: i32,
}

/// What one key press means on a US layout, given the modifiers held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typed {
    /// A byte of the code, or its terminator (CR, TAB).
    Byte(u8),
    /// A modifier, a release or a repeat: nothing typed.
    Nothing,
    /// A key with no meaning in a code (F-keys, arrows, Alt+…); carries the key code.
    Unmapped(u16),
}

/// Turns key events into typed bytes, keeping the modifier state.
#[derive(Debug, Clone, Default)]
pub struct UsKeymap {
    left_shift: bool,
    right_shift: bool,
    left_ctrl: bool,
    right_ctrl: bool,
    alt: u8,
    caps_lock: bool,
}

impl UsKeymap {
    /// No modifiers held, Caps Lock off.
    pub fn new() -> UsKeymap {
        UsKeymap::default()
    }

    /// Reads one event.
    pub fn key(&mut self, event: KeyEvent) -> Typed {
        let down = event.value != RELEASED;
        match event.code {
            key::LEFTSHIFT => self.left_shift = down,
            key::RIGHTSHIFT => self.right_shift = down,
            key::LEFTCTRL => self.left_ctrl = down,
            key::RIGHTCTRL => self.right_ctrl = down,
            key::LEFTALT | key::RIGHTALT => {
                // Counted, so that releasing one Alt while the other is held keeps Alt down.
                self.alt = if down {
                    self.alt.saturating_add(1).min(2)
                } else {
                    self.alt.saturating_sub(1)
                };
            }
            key::CAPSLOCK if event.value == PRESSED => self.caps_lock = !self.caps_lock,
            key::CAPSLOCK | key::NUMLOCK | key::LEFTMETA | key::RIGHTMETA => {}
            _ if event.value != PRESSED => {}
            code => return self.press(code),
        }
        Typed::Nothing
    }

    /// Forgets held modifiers: the device went away mid-code, and a new connection starts clean.
    pub fn reset(&mut self) {
        *self = UsKeymap::default();
    }

    fn press(&self, code: u16) -> Typed {
        if self.alt > 0 {
            return Typed::Unmapped(code);
        }
        let shift = self.left_shift || self.right_shift;
        let ctrl = self.left_ctrl || self.right_ctrl;
        let Some((plain, shifted)) = us_key(code) else {
            return Typed::Unmapped(code);
        };
        if ctrl && !matches!(plain, b'\r' | b'\t') {
            // Ctrl turns @ A–Z [ \ ] ^ _ into 0x00–0x1F, as on a terminal; Ctrl with anything
            // else types nothing a code could contain.
            let base = plain.to_ascii_uppercase();
            return match base {
                b'@'..=b'_' => Typed::Byte(base & 0x1f),
                b'2' if shift => Typed::Byte(0x00),
                b'6' if shift => Typed::Byte(0x1e),
                b'-' if shift => Typed::Byte(0x1f),
                _ => Typed::Unmapped(code),
            };
        }
        let byte = if plain.is_ascii_lowercase() {
            // Caps Lock inverts Shift for letters only, as on a PC keyboard.
            if shift != self.caps_lock {
                plain.to_ascii_uppercase()
            } else {
                plain
            }
        } else if shift {
            shifted
        } else {
            plain
        };
        Typed::Byte(byte)
    }
}

/// A key's character on a US keyboard, unshifted and shifted. Keypad keys and terminators give
/// the same byte either way.
fn us_key(code: u16) -> Option<(u8, u8)> {
    let letter = |row: &[u8], first: u16| {
        let b = row[usize::from(code - first)];
        (b, b.to_ascii_uppercase())
    };
    Some(match code {
        key::N1..=key::N0 => {
            let i = usize::from(code - key::N1);
            (DIGITS[i], DIGITS_SHIFTED[i])
        }
        key::MINUS => (b'-', b'_'),
        key::EQUAL => (b'=', b'+'),
        key::TAB => (b'\t', b'\t'),
        16..=25 => letter(ROW_Q, key::Q),
        key::LEFTBRACE => (b'[', b'{'),
        key::RIGHTBRACE => (b']', b'}'),
        key::ENTER | key::KPENTER => (b'\r', b'\r'),
        30..=38 => letter(ROW_A, key::A),
        key::SEMICOLON => (b';', b':'),
        key::APOSTROPHE => (b'\'', b'"'),
        key::GRAVE => (b'`', b'~'),
        key::BACKSLASH => (b'\\', b'|'),
        44..=50 => letter(ROW_Z, key::Z),
        key::COMMA => (b',', b'<'),
        key::DOT => (b'.', b'>'),
        key::SLASH => (b'/', b'?'),
        key::SPACE => (b' ', b' '),
        key::KPASTERISK => (b'*', b'*'),
        key::KPMINUS => (b'-', b'-'),
        key::KPPLUS => (b'+', b'+'),
        key::KPDOT => (b'.', b'.'),
        key::KPSLASH => (b'/', b'/'),
        key::KP7 => (b'7', b'7'),
        key::KP8 => (b'8', b'8'),
        key::KP9 => (b'9', b'9'),
        key::KP4 => (b'4', b'4'),
        key::KP5 => (b'5', b'5'),
        key::KP6 => (b'6', b'6'),
        key::KP1 => (b'1', b'1'),
        key::KP2 => (b'2', b'2'),
        key::KP3 => (b'3', b'3'),
        key::KP0 => (b'0', b'0'),
        _ => return None,
    })
}

/// One answer of the [`WedgeDecoder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WedgeDecoded {
    /// What the byte decoder made of a terminated code (a code, or a skip with its reason).
    Decoded(Decoded),
    /// A code contained keys with no US-layout meaning: dropped whole, never half-typed.
    Unmapped {
        /// How many such keys it had.
        keys: u32,
        /// The first of them, for the log.
        first: u16,
    },
}

/// Key events in, codes out: [`UsKeymap`] in front of a [`ScanDecoder`].
#[derive(Debug, Clone)]
pub struct WedgeDecoder {
    keymap: UsKeymap,
    bytes: ScanDecoder,
    /// Unmapped keys in the current code, and the first one.
    unmapped: Option<(u32, u16)>,
    /// Codes dropped for unmapped keys, over the decoder's life.
    unmapped_codes: u64,
    /// Of those, how many the byte decoder had counted as codes (its typed part was readable).
    uncounted: u64,
}

impl WedgeDecoder {
    /// A decoder with nothing buffered.
    pub fn new(config: DecoderConfig) -> WedgeDecoder {
        WedgeDecoder {
            keymap: UsKeymap::new(),
            bytes: ScanDecoder::new(config),
            unmapped: None,
            unmapped_codes: 0,
            uncounted: 0,
        }
    }

    /// Reads one key event; answers when it ended a code.
    pub fn key(&mut self, event: KeyEvent) -> Option<WedgeDecoded> {
        match self.keymap.key(event) {
            Typed::Nothing => None,
            Typed::Unmapped(code) => {
                let (n, first) = self.unmapped.unwrap_or((0, code));
                self.unmapped = Some((n.saturating_add(1), first));
                None
            }
            Typed::Byte(b) => {
                let (_, decoded) = self.bytes.decode(&[b]);
                match decoded {
                    Decoded::NeedMore => None,
                    decoded => Some(self.finish(decoded)),
                }
            }
        }
    }

    /// Drops a partial code (the device went idle or away mid-code), reporting it if there was
    /// one, and forgets held modifiers.
    pub fn flush(&mut self) -> Option<WedgeDecoded> {
        self.keymap.reset();
        let flushed = self.bytes.flush();
        match (flushed, self.unmapped.take()) {
            (Some(d), None) => Some(WedgeDecoded::Decoded(d)),
            (_, Some((keys, first))) => {
                self.unmapped_codes += 1;
                Some(WedgeDecoded::Unmapped { keys, first })
            }
            (None, None) => None,
        }
    }

    /// Whether part of a code has been typed without its terminator yet.
    pub fn has_partial(&self) -> bool {
        self.bytes.has_partial() || self.unmapped.is_some()
    }

    /// The byte decoder's counts (codes, skips by reason).
    pub fn stats(&self) -> super::scan_decoder::DecoderStats {
        let mut stats = self.bytes.stats();
        stats.codes -= self.uncounted;
        stats
    }

    /// Codes dropped because they had keys with no US-layout meaning.
    pub fn unmapped_codes(&self) -> u64 {
        self.unmapped_codes
    }

    fn finish(&mut self, decoded: Decoded) -> WedgeDecoded {
        match self.unmapped.take() {
            // A terminator alone (an empty line) is not a code, but one after unmapped keys
            // ends a code that was typed and must be reported.
            Some((keys, first)) => {
                self.unmapped_codes += 1;
                if matches!(decoded, Decoded::Code { .. }) {
                    self.uncounted += 1;
                }
                WedgeDecoded::Unmapped { keys, first }
            }
            None => WedgeDecoded::Decoded(decoded),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: u16) -> KeyEvent {
        KeyEvent { code, value: 1 }
    }
    fn release(code: u16) -> KeyEvent {
        KeyEvent { code, value: 0 }
    }

    #[test]
    fn key_codes_match_the_kernel_header() {
        // From linux/input-event-codes.h, written out again by hand.
        let expected = [
            (key::ESC, 1),
            (key::N1, 2),
            (key::N0, 11),
            (key::TAB, 15),
            (key::Q, 16),
            (key::ENTER, 28),
            (key::A, 30),
            (key::LEFTSHIFT, 42),
            (key::Z, 44),
            (key::SLASH, 53),
            (key::RIGHTSHIFT, 54),
            (key::SPACE, 57),
            (key::CAPSLOCK, 58),
            (key::KP7, 71),
            (key::KP0, 82),
            (key::KPDOT, 83),
            (key::KPENTER, 96),
            (key::KPSLASH, 98),
            (key::RIGHTALT, 100),
        ];
        for (ours, header) in expected {
            assert_eq!(ours, header);
        }
    }

    #[test]
    fn letters_follow_the_qwerty_rows() {
        let mut map = UsKeymap::new();
        let typed: Vec<u8> = (16..=25)
            .chain(30..=38)
            .chain(44..=50)
            .filter_map(|c| match map.key(press(c)) {
                Typed::Byte(b) => Some(b),
                _ => None,
            })
            .collect();
        assert_eq!(typed, b"qwertyuiopasdfghjklzxcvbnm");
    }

    #[test]
    fn shift_caps_and_ctrl() {
        let mut map = UsKeymap::new();
        map.key(press(key::LEFTSHIFT));
        assert_eq!(map.key(press(key::A)), Typed::Byte(b'A'));
        assert_eq!(map.key(press(key::N1)), Typed::Byte(b'!'));
        map.key(release(key::LEFTSHIFT));
        assert_eq!(map.key(press(key::N1)), Typed::Byte(b'1'));
        map.key(press(key::CAPSLOCK));
        map.key(release(key::CAPSLOCK));
        assert_eq!(map.key(press(key::A)), Typed::Byte(b'A'));
        assert_eq!(map.key(press(key::N1)), Typed::Byte(b'1'));
        map.key(press(key::RIGHTSHIFT));
        assert_eq!(map.key(press(key::A)), Typed::Byte(b'a'));
        map.key(release(key::RIGHTSHIFT));
        map.key(press(key::LEFTCTRL));
        assert_eq!(map.key(press(key::RIGHTBRACE)), Typed::Byte(0x1d));
        assert_eq!(map.key(press(44 + 6)), Typed::Byte(0x0d)); // Ctrl+M
        map.key(release(key::LEFTCTRL));
        assert_eq!(
            map.key(KeyEvent { code: 59, value: 1 }),
            Typed::Unmapped(59)
        ); // F1
    }

    #[test]
    fn repeats_and_releases_type_nothing() {
        let mut map = UsKeymap::new();
        assert_eq!(
            map.key(KeyEvent {
                code: key::A,
                value: 2
            }),
            Typed::Nothing
        );
        assert_eq!(map.key(release(key::A)), Typed::Nothing);
    }
}
