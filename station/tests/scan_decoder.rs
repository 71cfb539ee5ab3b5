//! The serial scanner's decoder: golden byte streams, garbage, and properties over any split of
//! the input into reads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use station::devices::scan_decoder::{
    AimId, Decoded, DecoderConfig, MAX_MAX_LEN, ScanDecoder, SkipReason,
};

fn decoder(aim_ids: bool, max_len: usize) -> ScanDecoder {
    ScanDecoder::new(DecoderConfig { aim_ids, max_len })
}

fn code(text: &str) -> Decoded {
    Decoded::Code {
        text: text.into(),
        symbology: None,
    }
}

fn aim(text: &str, code: char, modifier: char) -> Decoded {
    Decoded::Code {
        text: text.into(),
        symbology: Some(AimId { code, modifier }),
    }
}

fn skipped(bytes: u64, reason: SkipReason) -> Decoded {
    Decoded::Skipped { bytes, reason }
}

#[test]
fn every_terminator_ends_a_code_and_cr_lf_is_one() {
    let mut d = decoder(false, 64);
    let out = d.decode_all(b"A1\rB2\nC3\r\nD4\tE5\r\n\r\n");
    assert_eq!(
        out,
        [code("A1"), code("B2"), code("C3"), code("D4"), code("E5")]
    );
    let stats = d.stats();
    assert_eq!(stats.codes, 5);
    assert_eq!(stats.skipped_codes, 0);
    assert_eq!(stats.bytes_in, 19);
    assert_eq!(stats.empty, 4);
    assert!(!d.has_partial());
}

#[test]
fn cr_lf_split_across_reads_is_still_one_terminator() {
    let mut d = decoder(false, 64);
    assert_eq!(d.decode(b"GKM.6220\r"), (9, code("GKM.6220")));
    assert_eq!(d.decode(b"\nNEXT"), (5, Decoded::NeedMore));
    assert_eq!(d.decode_all(b"\r\n"), [code("NEXT")]);
}

#[test]
fn decode_answers_need_more_a_code_or_a_skip() {
    let mut d = decoder(false, 4);
    assert_eq!(d.decode(b"AB"), (2, Decoded::NeedMore));
    assert_eq!(d.buffered(), 2);
    // Stops right after the first terminator; the rest is for the next call.
    assert_eq!(d.decode(b"C\rTOOLONG\rX"), (2, code("ABC")));
    assert_eq!(
        d.decode(b"TOOLONG\rX"),
        (8, skipped(7, SkipReason::TooLong))
    );
    assert_eq!(d.decode(b"X"), (1, Decoded::NeedMore));
}

#[test]
fn aim_identifiers_are_stripped_when_on_and_kept_when_off() {
    let input = b"]Q1GKM.6220\r]C0GW7K-000017\r]d2ABC\rplain\r]\r]Q\r]x!y\r";
    let mut on = decoder(true, 64);
    assert_eq!(
        on.decode_all(input),
        [
            aim("GKM.6220", 'Q', '1'),
            aim("GW7K-000017", 'C', '0'),
            aim("ABC", 'd', '2'),
            code("plain"),
            code("]"),
            code("]Q"),
            // `!` is no modifier: not an identifier, the text stays as sent.
            code("]x!y"),
        ]
    );
    let mut off = decoder(false, 64);
    assert_eq!(off.decode_all(b"]Q1GKM\r"), [code("]Q1GKM")]);
    assert_eq!(
        AimId {
            code: 'Q',
            modifier: '1'
        }
        .to_string(),
        "]Q1"
    );
    assert_eq!(
        AimId {
            code: 'Q',
            modifier: '1'
        }
        .name(),
        Some("QR Code")
    );
    assert_eq!(
        AimId {
            code: 'X',
            modifier: '0'
        }
        .name(),
        None
    );
}

#[test]
fn max_len_counts_the_code_not_its_identifier() {
    let mut d = decoder(true, 4);
    assert_eq!(
        d.decode_all(b"]Q1ABCD\r]Q1ABCDE\rABCD\rABCDE\r"),
        [
            aim("ABCD", 'Q', '1'),
            skipped(8, SkipReason::TooLong),
            code("ABCD"),
            skipped(5, SkipReason::TooLong),
        ]
    );
}

#[test]
fn too_long_is_reported_once_at_the_terminator_then_decoding_resumes() {
    let mut d = decoder(false, 16);
    let mut reports = Vec::new();
    for _ in 0..1000 {
        reports.extend(d.decode_all(&[b'x'; 100]));
        assert!(d.buffered() <= 16);
    }
    assert!(reports.is_empty());
    assert!(d.has_partial());
    assert_eq!(
        d.decode_all(b"\r\nGOOD\r\n"),
        [skipped(100_000, SkipReason::TooLong), code("GOOD")]
    );
    let stats = d.stats();
    assert_eq!(
        (stats.too_long, stats.skipped_bytes, stats.codes),
        (1, 100_000, 1)
    );
}

#[test]
fn a_megabyte_without_a_terminator_stays_bounded() {
    let mut d = decoder(true, 1024);
    let noise: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8 | 0x20).collect();
    let noise: Vec<u8> = noise
        .into_iter()
        .filter(|b| !b"\r\n\t".contains(b))
        .collect();
    for chunk in noise.chunks(4096) {
        assert_eq!(d.decode(chunk), (chunk.len(), Decoded::NeedMore));
        assert!(d.buffered() <= 1024 + 3);
    }
    assert_eq!(
        d.decode_all(b"\r]Q1GKM.6220\r"),
        [
            skipped(noise.len() as u64, SkipReason::TooLong),
            aim("GKM.6220", 'Q', '1')
        ]
    );
}

#[test]
fn invalid_utf8_and_nul_bytes_skip_that_code_only() {
    let mut d = decoder(false, 64);
    let out =
        d.decode_all(b"OK1\r\xff\xfeAB\r\0\0\0\rA\0B\r\xc5\x82\xc3\xb3d\xc5\xba\rOK2\r\xc5\r");
    assert_eq!(
        out,
        [
            code("OK1"),
            skipped(4, SkipReason::InvalidUtf8),
            skipped(3, SkipReason::NulByte),
            skipped(3, SkipReason::NulByte),
            code("łódź"),
            code("OK2"),
            // A character cut in two by the terminator.
            skipped(1, SkipReason::InvalidUtf8),
        ]
    );
    let stats = d.stats();
    assert_eq!((stats.codes, stats.invalid_utf8, stats.nul_byte), (3, 2, 2));
    assert_eq!(stats.skipped_codes, 4);
    assert_eq!(stats.skipped_bytes, 4 + 3 + 3 + 1);
}

#[test]
fn a_utf8_character_split_across_reads_decodes() {
    let mut d = decoder(false, 64);
    let bytes = "Wydział Podatków\r".as_bytes();
    let mut out = Vec::new();
    for b in bytes {
        out.extend(d.decode_all(std::slice::from_ref(b)));
    }
    assert_eq!(out, [code("Wydział Podatków")]);
}

#[test]
fn flush_drops_half_a_code_once() {
    let mut d = decoder(false, 64);
    assert_eq!(d.flush(), None);
    d.decode_all(b"HALF");
    assert_eq!(d.flush(), Some(skipped(4, SkipReason::Incomplete)));
    assert_eq!(d.flush(), None);
    assert_eq!(d.decode_all(b"WHOLE\r"), [code("WHOLE")]);
    assert_eq!(d.stats().incomplete, 1);
}

#[test]
fn max_len_is_clamped() {
    assert_eq!(decoder(false, 0).config().max_len, 1);
    assert_eq!(decoder(false, usize::MAX).config().max_len, MAX_MAX_LEN);
}

#[test]
fn a_megabyte_of_blank_lines_does_not_recurse() {
    let mut d = decoder(false, 64);
    assert_eq!(
        d.decode(&vec![b'\n'; 1 << 20]),
        (1 << 20, Decoded::NeedMore)
    );
    assert_eq!(d.stats().empty, 1 << 20);
}

/// Bytes that exercise every path: terminators, `]`, NUL, invalid UTF-8, letters.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => b'A'..=b'Z',
        1 => Just(b'\r'),
        1 => Just(b'\n'),
        1 => Just(b'\t'),
        1 => Just(b']'),
        1 => Just(0u8),
        1 => any::<u8>(),
        1 => Just(0xc5),
        1 => Just(0x82),
    ];
    prop::collection::vec(byte, 0..600)
}

/// Feeds `input` cut at `cuts`, collecting every answer but NeedMore.
fn decode_in_chunks(d: &mut ScanDecoder, input: &[u8], cuts: &[usize]) -> Vec<Decoded> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for end in cuts.into_iter().chain([input.len()]) {
        out.extend(d.decode_all(&input[start..end]));
        start = end;
    }
    out
}

proptest! {
    #[test]
    fn any_split_decodes_as_the_whole(
        input in stream(),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
        aim_ids in any::<bool>(),
        max_len in 1usize..40,
    ) {
        let mut whole = decoder(aim_ids, max_len);
        let expected = whole.decode_all(&input);
        let mut split = decoder(aim_ids, max_len);
        let got = decode_in_chunks(&mut split, &input, &cuts);
        prop_assert_eq!(got, expected);
        prop_assert_eq!(split.stats(), whole.stats());
        prop_assert_eq!(split.flush(), whole.flush());
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_stay_bounded(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..30),
        aim_ids in any::<bool>(),
        max_len in 1usize..64,
    ) {
        let mut d = decoder(aim_ids, max_len);
        let mut total = 0u64;
        for chunk in &chunks {
            let mut rest = chunk.as_slice();
            loop {
                let (used, decoded) = d.decode(rest);
                prop_assert!(used <= rest.len());
                prop_assert!(d.buffered() <= max_len + 3);
                rest = &rest[used..];
                match decoded {
                    Decoded::NeedMore => { prop_assert!(rest.is_empty()); break }
                    Decoded::Code { text, .. } => {
                        prop_assert!(!text.is_empty() && text.len() <= max_len);
                        prop_assert!(!text.contains(['\r', '\n', '\t', '\0']));
                    }
                    Decoded::Skipped { bytes, .. } => prop_assert!(bytes > 0),
                }
            }
            total += chunk.len() as u64;
        }
        d.flush();
        let s = d.stats();
        prop_assert_eq!(s.bytes_in, total);
        prop_assert_eq!(
            s.skipped_codes,
            s.too_long + s.invalid_utf8 + s.nul_byte + s.incomplete
        );
        prop_assert!(s.skipped_bytes <= total);
    }

    #[test]
    fn codes_round_trip(
        codes in prop::collection::vec(
            ("[A-Za-z0-9.:/_ ąęłóżźćńś-]{1,30}", prop::option::of(("[A-Za-z]", "[0-9A-Za-z]")),
             prop::sample::select(vec!["\r", "\n", "\r\n", "\t"])),
            0..20,
        ),
        cuts in prop::collection::vec(any::<usize>(), 0..10),
    ) {
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for (text, id, terminator) in &codes {
            let symbology = id.as_ref().map(|(c, m)| AimId {
                code: c.chars().next().unwrap(),
                modifier: m.chars().next().unwrap(),
            });
            if let Some(id) = symbology {
                input.extend_from_slice(id.to_string().as_bytes());
            }
            input.extend_from_slice(text.as_bytes());
            input.extend_from_slice(terminator.as_bytes());
            expected.push(Decoded::Code { text: text.clone(), symbology });
        }
        let mut d = decoder(true, 30 * 4);
        prop_assert_eq!(decode_in_chunks(&mut d, &input, &cuts), expected);
        prop_assert_eq!(d.stats().skipped_codes, 0);
    }
}
