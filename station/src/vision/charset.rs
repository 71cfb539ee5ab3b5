//! A QR code's bytes to text, when the code's own declaration of its character set is not
//! available: rqrr hands over the bytes of the code's segments but drops the ECI designator that
//! names their set, and the decoder first has rxing re-read rqrr's grid with ECI applied (see
//! `decode::declared_text`); only a grid rxing cannot parse comes here. The set is recognised the
//! way ZXing does when a code declares none: UTF-8 when the bytes are valid UTF-8, Shift_JIS when
//! they are valid Shift_JIS with double-byte characters (what Kanji mode writes), otherwise
//! ISO-8859-1, the standard's default.

/// The text `bytes` carry.
pub fn text(bytes: &[u8]) -> String {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return text.strip_prefix('\u{feff}').unwrap_or(text).to_owned();
    }
    if has_double_byte_sjis(bytes) {
        let (text, _, had_errors) = encoding_rs::SHIFT_JIS.decode(bytes);
        if !had_errors {
            return text.into_owned();
        }
    }
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Whether `bytes` hold at least one Shift_JIS double-byte character (lead byte 0x81–0x9F or
/// 0xE0–0xEF followed by a trail byte), which Latin-1 text almost never does.
fn has_double_byte_sjis(bytes: &[u8]) -> bool {
    bytes.windows(2).any(|pair| {
        matches!(pair[0], 0x81..=0x9f | 0xe0..=0xef) && matches!(pair[1], 0x40..=0x7e | 0x80..=0xfc)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_taken_as_is() {
        assert_eq!(text("Łódź".as_bytes()), "Łódź");
        assert_eq!(text("\u{feff}abc".as_bytes()), "abc");
    }

    #[test]
    fn shift_jis_kanji_is_recognised() {
        // 日本 in Shift_JIS.
        assert_eq!(text(&[0x93, 0xfa, 0x96, 0x7b]), "日本");
    }

    #[test]
    fn other_bytes_are_latin1() {
        assert_eq!(text(&[0x63, 0x61, 0x66, 0xe9]), "café");
    }
}
