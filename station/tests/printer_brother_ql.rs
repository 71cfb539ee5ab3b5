//! Brother QL raster: golden bytes written by hand from Brother's Raster Command Reference
//! (QL-800/810W/820NWB v1.01; QL-500…1060N v6.0), the 32-byte status frames, and round trips of
//! pages and QR codes through the emulated printer in arbitrary chunk splits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use image::{GrayImage, Luma};
use proptest::prelude::*;
use station::devices::{PrinterErrorKind, PrinterStatus};
use station::label::{LabelSize, Layout};
use station::printer::brother_ql::{
    BrotherQl, BrotherQlEmulator, MAX_PAGE_LINES, QlConfig, QlConfigError, QlFrameRead, QlJobEvent,
    QlPhase, QlStatusType, QlTape, STATUS_REQUEST, read_frame,
};
use station::printer::{Emulator, EmulatorOutput, EncodeError, Language, StatusReply};

const BLACK: Luma<u8> = Luma([0]);
const WHITE: u8 = 255;

fn page(width: u32, height: u32, dots: &[(u32, u32)]) -> GrayImage {
    let mut image = GrayImage::from_pixel(width, height, Luma([WHITE]));
    for &(x, y) in dots {
        image.put_pixel(x, y, BLACK);
    }
    image
}

/// The tiny page of the golden tests: 696 × 3; row 0 has the first and last printable dots,
/// row 1 is white, row 2 has the first 16 dots.
fn tiny_page() -> GrayImage {
    let mut dots = vec![(0, 0), (695, 0)];
    dots.extend((0..16).map(|x| (x, 2)));
    page(696, 3, &dots)
}

/// A 90-byte raster line with the given bytes set.
fn line(set: &[(usize, u8)]) -> Vec<u8> {
    let mut line = vec![0u8; 90];
    for &(i, b) in set {
        line[i] = b;
    }
    line
}

fn ql(compression: bool, auto_cut: bool) -> BrotherQl {
    BrotherQl::new(QlConfig {
        compression,
        auto_cut,
        ..QlConfig::default()
    })
    .unwrap()
}

/// Feeds `bytes` in chunks of the given sizes (cycled), collecting everything that comes out.
fn feed_in_chunks(
    emulator: &mut BrotherQlEmulator,
    bytes: &[u8],
    sizes: &[usize],
    condition: PrinterStatus,
) -> Vec<EmulatorOutput> {
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let n = (*sizes.next().unwrap()).clamp(1, rest.len());
        let (chunk, after) = rest.split_at(n);
        out.extend(emulator.feed(chunk, condition).unwrap());
        rest = after;
    }
    out
}

fn pages(outputs: &[EmulatorOutput]) -> Vec<GrayImage> {
    outputs
        .iter()
        .filter_map(|o| match o {
            EmulatorOutput::Page(p) => Some(p.clone()),
            EmulatorOutput::Reply(_) => None,
        })
        .collect()
}

fn job_events(outputs: &[EmulatorOutput]) -> Vec<QlJobEvent> {
    outputs
        .iter()
        .filter_map(|o| match o {
            EmulatorOutput::Reply(bytes) => {
                assert_eq!(bytes.len(), 32);
                match read_frame(bytes) {
                    QlFrameRead::Frame(frame) => Some(frame.job_event()),
                    other => panic!("not a frame: {other:?}"),
                }
            }
            EmulatorOutput::Page(_) => None,
        })
        .collect()
}

// ---- golden bytes -----------------------------------------------------------------------------

#[test]
fn tiny_page_compressed_golden() {
    let mut expected = vec![0x00; 200]; // invalidate
    expected.extend_from_slice(&[
        0x1B, 0x40, // ESC @
        0x1B, 0x69, 0x61, 0x01, // ESC i a 01: raster mode
        // ESC i z: flags 86 (kind, width, recover), continuous 0A, 62 mm, length 0, 3 lines, page 0
        0x1B, 0x69, 0x7A, 0x86, 0x0A, 0x3E, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0x1B, 0x69, 0x4D, 0x40, // ESC i M: auto cut
        0x1B, 0x69, 0x41, 0x01, // ESC i A: cut every label
        0x1B, 0x69, 0x4B, 0x08, // ESC i K: cut at end
        0x1B, 0x69, 0x64, 0x23, 0x00, // ESC i d: 35 dots
        0x4D, 0x02, // M 02: TIFF
        // Row 0, mirrored at offset 12: x = 695 is pin 12 (byte 1, 08), x = 0 is pin 707
        // (byte 88, 10). Line: 00 08, 86 × 00, 10 00 → literal 2, run 86, literal 2.
        0x67, 0x00, 0x08, 0x01, 0x00, 0x08, 0xAB, 0x00, 0x01, 0x10, 0x00,
        // Row 1: white.
        0x5A,
        // Row 2: x = 0..16 are pins 707 down to 692: byte 86 0F, byte 87 FF, byte 88 F0.
        // Line: 86 × 00, 0F FF F0 00 → run 86, literal 4: seven bytes.
        0x67, 0x00, 0x07, 0xAB, 0x00, 0x03, 0x0F, 0xFF, 0xF0, 0x00, //
        0x1A, // print with feeding
    ]);
    assert_eq!(ql(true, true).encode_page(&tiny_page()).unwrap(), expected);
}

#[test]
fn tiny_page_uncompressed_golden() {
    let mut expected = vec![0x00; 200];
    expected.extend_from_slice(&[
        0x1B, 0x40, //
        0x1B, 0x69, 0x61, 0x01, //
        0x1B, 0x69, 0x7A, 0x86, 0x0A, 0x3E, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0x1B, 0x69, 0x4D, 0x40, //
        0x1B, 0x69, 0x41, 0x01, //
        0x1B, 0x69, 0x4B, 0x08, //
        0x1B, 0x69, 0x64, 0x23, 0x00,
    ]);
    // No M command: the QL-800 and older models have no compression mode.
    expected.extend_from_slice(&[0x67, 0x00, 0x5A]);
    expected.extend(line(&[(1, 0x08), (88, 0x10)]));
    expected.extend_from_slice(&[0x67, 0x00, 0x5A]);
    expected.extend(line(&[]));
    expected.extend_from_slice(&[0x67, 0x00, 0x5A]);
    expected.extend(line(&[(86, 0x0F), (87, 0xFF), (88, 0xF0)]));
    expected.push(0x1A);
    assert_eq!(ql(false, true).encode_page(&tiny_page()).unwrap(), expected);
}

#[test]
fn without_auto_cut_no_cut_commands() {
    let bytes = ql(false, false).encode_page(&page(10, 1, &[])).unwrap();
    let control = &bytes[219..];
    assert_eq!(
        &control[..13],
        &[
            0x1B, 0x69, 0x4D, 0x00, // ESC i M: no auto cut
            0x1B, 0x69, 0x4B, 0x00, // ESC i K: no cut at end
            0x1B, 0x69, 0x64, 0x23, 0x00,
        ]
    );
    assert_eq!(&control[13..16], &[0x67, 0x00, 0x5A]);
}

#[test]
fn print_information_golden() {
    // The manual's own example (§2.1): 102 mm continuous tape, 0x0709 = 1801 lines.
    let wide = BrotherQl::new(QlConfig {
        head_dots: 1296,
        tape: QlTape {
            width_mm: 102,
            printable_dots: 1164,
            left_offset_dots: 76,
        },
        ..QlConfig::default()
    })
    .unwrap();
    assert_eq!(
        wide.print_information(1801),
        [
            0x1B, 0x69, 0x7A, 0x86, 0x0A, 0x66, 0x00, 0x09, 0x07, 0x00, 0x00, 0x00, 0x00
        ]
    );
    // 62 mm, 11811 = 0x2E23 lines (1 m), little-endian over four bytes.
    assert_eq!(
        BrotherQl::default().print_information(11_811),
        [
            0x1B, 0x69, 0x7A, 0x86, 0x0A, 0x3E, 0x00, 0x23, 0x2E, 0x00, 0x00, 0x00, 0x00
        ]
    );
    assert_eq!(
        BrotherQl::default().print_information(0x0102_0304),
        [
            0x1B, 0x69, 0x7A, 0x86, 0x0A, 0x3E, 0x00, 0x04, 0x03, 0x02, 0x01, 0x00, 0x00
        ]
    );
}

#[test]
fn narrow_tape_sits_at_its_offset_mirrored() {
    // 29 mm tape: 408 pins left of a 306-pin area (§2.3.2). x = 0 is column 408 from the
    // label's left, so pin 719 − 408 = 311: byte 38, bit 7 (01). x = 305 is pin 6: byte 0, 02.
    let ql29 = BrotherQl::new(QlConfig {
        tape: QlTape::continuous(29).unwrap(),
        ..QlConfig::default()
    })
    .unwrap();
    let bytes = ql29
        .encode_page(&page(306, 1, &[(0, 0), (305, 0)]))
        .unwrap();
    assert_eq!(
        &bytes[206..219],
        &[
            0x1B, 0x69, 0x7A, 0x86, 0x0A, 0x1D, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00
        ]
    );
    let mut tail = vec![0x67, 0x00, 0x5A];
    tail.extend(line(&[(0, 0x02), (38, 0x01)]));
    tail.push(0x1A);
    assert!(bytes.ends_with(&tail));

    let mut emulator = BrotherQlEmulator::with_continuous_tape(29).unwrap();
    let out = emulator.feed(&bytes, PrinterStatus::Ready).unwrap();
    assert_eq!(pages(&out), vec![page(306, 1, &[(0, 0), (305, 0)])]);
}

#[test]
fn status_query_golden() {
    let mut expected = vec![0x00; 200];
    expected.extend_from_slice(&[0x1B, 0x40, 0x1B, 0x69, 0x53]);
    assert_eq!(BrotherQl::default().status_query(), expected);
    assert_eq!(STATUS_REQUEST, [0x1B, 0x69, 0x53]);
}

#[test]
fn encoder_refuses_what_it_cannot_print() {
    let ql = BrotherQl::default();
    assert_eq!(
        ql.encode_page(&page(697, 2, &[])),
        Err(EncodeError::TooWide {
            width: 697,
            max: 696
        })
    );
    assert_eq!(
        ql.encode_page(&GrayImage::new(0, 5)),
        Err(EncodeError::Empty)
    );
    assert_eq!(
        ql.encode_page(&GrayImage::new(5, 0)),
        Err(EncodeError::Empty)
    );
    assert_eq!(
        ql.encode_page(&GrayImage::new(8, MAX_PAGE_LINES + 1)),
        Err(EncodeError::TooLong {
            height: MAX_PAGE_LINES + 1,
            max: MAX_PAGE_LINES
        })
    );
    assert_eq!(ql.name(), "brother_ql");
}

#[test]
fn config_must_fit_the_head() {
    let off = QlConfig {
        tape: QlTape {
            width_mm: 62,
            printable_dots: 700,
            left_offset_dots: 30,
        },
        ..QlConfig::default()
    };
    assert!(matches!(
        BrotherQl::new(off),
        Err(QlConfigError::TapeOffHead { .. })
    ));
    let odd = QlConfig {
        head_dots: 721,
        ..QlConfig::default()
    };
    assert_eq!(BrotherQl::new(odd).unwrap_err(), QlConfigError::Head(721));
    assert!(QlTape::continuous(61).is_none());
    assert_eq!(QlTape::continuous(62), Some(QlTape::CONTINUOUS_62MM));
}

// ---- status -----------------------------------------------------------------------------------

/// QL-810W, 62 mm continuous tape, no error, reply to a status request.
const READY_62: [u8; 32] = [
    0x80, 0x20, 0x42, 0x34, 0x39, 0x30, 0x30, 0x00, // mark, size, 'B', series '4', model '9'
    0x00, 0x00, 0x3E, 0x0A, 0x00, 0x00, 0x00,
    0x40, // errors 0 0, 62 mm, continuous, mode auto cut
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, // length 0, reply, receiving, notification 0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/// No media: error 1 bit 0, no width, no type.
const NO_MEDIA: [u8; 32] = [
    0x80, 0x20, 0x42, 0x34, 0x39, 0x30, 0x30, 0x00, //
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/// Cover open: error 2 bit 4.
const COVER_OPEN: [u8; 32] = [
    0x80, 0x20, 0x42, 0x34, 0x39, 0x30, 0x30, 0x00, //
    0x00, 0x10, 0x3E, 0x0A, 0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/// Cutter jam, sent by itself during a job: error 1 bit 2, status type 02 (error occurred),
/// phase 01 (printing).
const CUTTER_JAM: [u8; 32] = [
    0x80, 0x20, 0x42, 0x34, 0x39, 0x30, 0x30, 0x00, //
    0x04, 0x00, 0x3E, 0x0A, 0x00, 0x00, 0x00, 0x40, //
    0x00, 0x00, 0x02, 0x01, 0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/// Replace media: error 2 bit 0, with a 29 mm (1D) roll in a 62 mm job's printer.
const WRONG_MEDIA: [u8; 32] = [
    0x80, 0x20, 0x42, 0x34, 0x39, 0x30, 0x30, 0x00, //
    0x00, 0x01, 0x1D, 0x0A, 0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x02, 0x01, 0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/// No error bit, but a 29 mm roll.
const READY_29: [u8; 32] = [
    0x80, 0x20, 0x42, 0x34, 0x38, 0x30, 0x30, 0x00, // QL-800 ('8')
    0x00, 0x00, 0x1D, 0x0A, 0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

#[test]
fn golden_status_replies() {
    let ql = BrotherQl::default();
    let cases: [(&[u8; 32], PrinterStatus); 6] = [
        (&READY_62, PrinterStatus::Ready),
        (&NO_MEDIA, PrinterStatus::PaperOut),
        (&COVER_OPEN, PrinterStatus::CoverOpen),
        (&CUTTER_JAM, PrinterStatus::Error(PrinterErrorKind::Cutter)),
        (
            &WRONG_MEDIA,
            PrinterStatus::Error(PrinterErrorKind::WrongMedia),
        ),
        (
            &READY_29,
            PrinterStatus::Error(PrinterErrorKind::WrongMedia),
        ),
    ];
    for (reply, status) in cases {
        assert_eq!(
            ql.read_status(reply),
            StatusReply::Status(status),
            "{reply:02X?}"
        );
    }
    // A 29 mm printer is fine for a 29 mm encoder; the frame alone says only "no error".
    let ql29 = BrotherQl::new(QlConfig {
        tape: QlTape::continuous(29).unwrap(),
        ..QlConfig::default()
    })
    .unwrap();
    assert_eq!(
        ql29.read_status(&READY_29),
        StatusReply::Status(PrinterStatus::Ready)
    );
}

#[test]
fn golden_frame_fields() {
    let QlFrameRead::Frame(frame) = read_frame(&CUTTER_JAM) else {
        panic!("a frame");
    };
    assert_eq!(frame.series_code, b'4');
    assert_eq!(frame.model_code, b'9');
    assert_eq!(frame.error_info_1, 0x04);
    assert_eq!(frame.media_width_mm, 62);
    assert_eq!(frame.media_type, 0x0A);
    assert_eq!(frame.mode, 0x40);
    assert_eq!(frame.media_length_mm, 0);
    assert_eq!(frame.status_type, QlStatusType::ErrorOccurred);
    assert_eq!(frame.phase, QlPhase::Printing);
    assert_eq!(
        frame.job_event(),
        QlJobEvent::Failed(PrinterStatus::Error(PrinterErrorKind::Cutter))
    );
}

#[test]
fn unsolicited_frames() {
    let mut completed = READY_62;
    completed[18] = 0x01; // printing completed
    completed[19] = 0x01;
    let mut printing = READY_62;
    printing[18] = 0x06; // phase change
    printing[19] = 0x01; // to printing
    let mut receiving = printing;
    receiving[19] = 0x00; // back to waiting to receive
    let mut bare_error = READY_62;
    bare_error[18] = 0x02; // error occurred, yet no error bit
    let mut cooling = READY_62;
    cooling[18] = 0x05;
    cooling[22] = 0x03;
    let event = |f: &[u8]| match read_frame(f) {
        QlFrameRead::Frame(frame) => frame.job_event(),
        other => panic!("{other:?}"),
    };
    assert_eq!(event(&completed), QlJobEvent::Completed);
    assert_eq!(event(&printing), QlJobEvent::Printing);
    assert_eq!(event(&receiving), QlJobEvent::Receiving);
    assert_eq!(
        event(&bare_error),
        QlJobEvent::Failed(PrinterStatus::Error(PrinterErrorKind::Other))
    );
    assert_eq!(event(&cooling), QlJobEvent::Notification(0x03));
    assert_eq!(event(&READY_62), QlJobEvent::Reply);
    assert_eq!(event(&NO_MEDIA), QlJobEvent::Reply);

    // A reader of the stream resynchronises over garbage.
    let mut stream = vec![0x13, 0x37, 0x80, 0x00];
    stream.extend_from_slice(&completed);
    assert_eq!(read_frame(&stream), QlFrameRead::Skip(2));
    assert_eq!(read_frame(&stream[2..]), QlFrameRead::Skip(1));
    assert!(matches!(read_frame(&stream[4..]), QlFrameRead::Frame(_)));
    assert_eq!(read_frame(&completed[..31]), QlFrameRead::NeedMore);
    assert_eq!(read_frame(&[]), QlFrameRead::NeedMore);

    // read_status skips a job's leftover frames and waits for the reply itself.
    let ql = BrotherQl::default();
    let mut both = completed.to_vec();
    both.extend_from_slice(&COVER_OPEN);
    assert_eq!(
        ql.read_status(&both),
        StatusReply::Status(PrinterStatus::CoverOpen)
    );
    assert_eq!(ql.read_status(&both[..40]), StatusReply::NeedMore);
    assert_eq!(ql.read_status(&completed), StatusReply::NeedMore);
}

#[test]
fn other_error_bits() {
    let ql = BrotherQl::default();
    let status = |e1: u8, e2: u8| {
        let mut f = READY_62;
        f[8] = e1;
        f[9] = e2;
        ql.read_status(&f)
    };
    let s = StatusReply::Status;
    assert_eq!(status(0x02, 0), s(PrinterStatus::PaperOut), "end of media");
    assert_eq!(
        status(0, 0x40),
        s(PrinterStatus::Error(PrinterErrorKind::PaperJam))
    );
    assert_eq!(status(0x20, 0), s(PrinterStatus::Offline), "turned off");
    assert_eq!(
        status(0x10, 0),
        s(PrinterStatus::Error(PrinterErrorKind::Paused))
    );
    for (e1, e2) in [
        (0x40, 0),
        (0x80, 0),
        (0, 0x02),
        (0, 0x04),
        (0, 0x08),
        (0, 0x20),
        (0, 0x80),
    ] {
        assert_eq!(
            status(e1, e2),
            s(PrinterStatus::Error(PrinterErrorKind::Other))
        );
    }
    // No media beats the cover, the cover beats the cutter.
    assert_eq!(status(0x05, 0x10), s(PrinterStatus::PaperOut));
    assert_eq!(status(0x04, 0x10), s(PrinterStatus::CoverOpen));
}

#[test]
fn bad_headers_are_invalid() {
    let ql = BrotherQl::default();
    for (i, bad) in [(0, 0x81), (1, 0x1F), (2, 0x43), (3, 0x31)] {
        let mut f = READY_62;
        f[i] = bad;
        assert!(
            matches!(ql.read_status(&f), StatusReply::Invalid(_)),
            "byte {i}"
        );
        assert!(
            matches!(ql.read_status(&f[..=i]), StatusReply::Invalid(_)),
            "byte {i}, short"
        );
    }
    // The older QL series' code '0' is a header too.
    let mut old = READY_62;
    old[3] = 0x30;
    assert_eq!(
        ql.read_status(&old),
        StatusReply::Status(PrinterStatus::Ready)
    );
    assert_eq!(ql.read_status(&[]), StatusReply::NeedMore);
}

fn frame_strategy() -> impl Strategy<Value = [u8; 32]> {
    (prop::sample::select(vec![0x30u8, 0x34]), any::<[u8; 28]>()).prop_map(|(series, rest)| {
        let mut f = [0u8; 32];
        f[..4].copy_from_slice(&[0x80, 0x20, 0x42, series]);
        f[4..].copy_from_slice(&rest);
        f
    })
}

proptest! {
    #[test]
    fn status_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..100)) {
        let ql = BrotherQl::default();
        let _ = ql.read_status(&bytes);
        match read_frame(&bytes) {
            QlFrameRead::Skip(n) => prop_assert!(n >= 1 && n <= bytes.len()),
            QlFrameRead::NeedMore => prop_assert!(bytes.len() < 32),
            QlFrameRead::Frame(_) => prop_assert!(bytes.len() >= 32),
        }
    }

    #[test]
    fn truncated_reply_needs_more(mut frame in frame_strategy(), cut in 0usize..32) {
        frame[18] = 0x00;
        let ql = BrotherQl::default();
        prop_assert_eq!(ql.read_status(&frame[..cut]), StatusReply::NeedMore);
        prop_assert!(matches!(ql.read_status(&frame), StatusReply::Status(_)));
    }

    #[test]
    fn bad_header_is_invalid(
        frame in frame_strategy(),
        at in 0usize..4,
        value in any::<u8>(),
        len in 1usize..=32,
    ) {
        let mut frame = frame;
        let good = [0x80, 0x20, 0x42];
        prop_assume!(if at < 3 { value != good[at] } else { value != 0x30 && value != 0x34 });
        frame[at] = value;
        let len = len.max(at + 1);
        let ql = BrotherQl::default();
        prop_assert!(matches!(ql.read_status(&frame[..len]), StatusReply::Invalid(_)));
    }
}

// ---- round trips ------------------------------------------------------------------------------

/// A page `width` × `height` with dots from a small generator seeded by `seed`, at a density
/// that also depends on it (some pages nearly white, some nearly black).
fn random_page(width: u32, height: u32, seed: u64) -> GrayImage {
    let mut state = seed | 1;
    let density = seed % 4;
    let mut run_black = false;
    GrayImage::from_fn(width, height, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let black = match density {
            0 => state.is_multiple_of(50),
            1 => state.is_multiple_of(2),
            2 => !state.is_multiple_of(50),
            // Long stretches of one colour, as text and QR modules make.
            _ => {
                if state.is_multiple_of(40) {
                    run_black = !run_black;
                }
                run_black
            }
        };
        Luma([if black { 0 } else { WHITE }])
    })
}

/// What the printer prints for `input`: the input, on a tape 696 dots wide.
fn on_tape(input: &GrayImage) -> GrayImage {
    let mut tape = GrayImage::from_pixel(696, input.height(), Luma([WHITE]));
    for (x, y, p) in input.enumerate_pixels() {
        tape.put_pixel(x, y, *p);
    }
    tape
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn pages_round_trip_in_any_chunks(
        width in prop_oneof![1u32..=696, Just(696u32)],
        height in 1u32..=24,
        seed in any::<u64>(),
        compression in any::<bool>(),
        auto_cut in any::<bool>(),
        sizes in prop::collection::vec(1usize..200, 1..40),
    ) {
        let input = random_page(width, height, seed);
        let bytes = ql(compression, auto_cut).encode_page(&input).unwrap();
        let mut emulator = BrotherQlEmulator::new();
        let out = feed_in_chunks(&mut emulator, &bytes, &sizes, PrinterStatus::Ready);
        prop_assert_eq!(pages(&out), vec![on_tape(&input)]);
        prop_assert_eq!(
            job_events(&out),
            vec![QlJobEvent::Printing, QlJobEvent::Completed, QlJobEvent::Receiving]
        );
    }
}

#[test]
fn two_jobs_in_a_row_print_two_pages() {
    let ql = ql(true, true);
    let (a, b) = (random_page(696, 7, 3), random_page(300, 5, 8));
    let mut bytes = ql.encode_page(&a).unwrap();
    bytes.extend(ql.status_query());
    bytes.extend(ql.encode_page(&b).unwrap());
    let mut emulator = BrotherQlEmulator::new();
    let out = feed_in_chunks(&mut emulator, &bytes, &[64], PrinterStatus::Ready);
    assert_eq!(pages(&out), vec![on_tape(&a), on_tape(&b)]);
    assert_eq!(
        job_events(&out),
        vec![
            QlJobEvent::Printing,
            QlJobEvent::Completed,
            QlJobEvent::Receiving,
            QlJobEvent::Reply,
            QlJobEvent::Printing,
            QlJobEvent::Completed,
            QlJobEvent::Receiving,
        ]
    );
}

#[test]
fn form_feed_prints_and_the_next_page_follows() {
    // Two pages in one job (§2.1): FF ends the first, the second has its own ESC i z (page 1).
    let mut bytes = vec![0x00; 200];
    bytes.extend_from_slice(&[0x1B, 0x40, 0x1B, 0x69, 0x61, 0x01]);
    bytes.extend_from_slice(&[
        0x1B, 0x69, 0x7A, 0x86, 0x0A, 0x3E, 0x00, 0x01, 0, 0, 0, 0x00, 0x00,
    ]);
    bytes.extend_from_slice(&[0x67, 0x00, 0x5A]);
    bytes.extend(line(&[(88, 0x10)])); // x = 0
    bytes.push(0x0C);
    bytes.extend_from_slice(&[
        0x1B, 0x69, 0x7A, 0x86, 0x0A, 0x3E, 0x00, 0x01, 0, 0, 0, 0x01, 0x00,
    ]);
    bytes.extend_from_slice(&[0x67, 0x00, 0x5A]);
    bytes.extend(line(&[(1, 0x08)])); // x = 695
    bytes.push(0x1A);
    let mut emulator = BrotherQlEmulator::new();
    let out = emulator.feed(&bytes, PrinterStatus::Ready).unwrap();
    assert_eq!(
        pages(&out),
        vec![page(696, 1, &[(0, 0)]), page(696, 1, &[(695, 0)])]
    );
}

#[test]
fn printer_that_cannot_print_sends_an_error_frame() {
    let bytes = ql(true, true).encode_page(&tiny_page()).unwrap();
    for condition in [
        PrinterStatus::PaperOut,
        PrinterStatus::CoverOpen,
        PrinterStatus::Error(PrinterErrorKind::Cutter),
        PrinterStatus::Error(PrinterErrorKind::PaperJam),
        PrinterStatus::Error(PrinterErrorKind::WrongMedia),
    ] {
        let mut emulator = BrotherQlEmulator::new();
        let out = feed_in_chunks(&mut emulator, &bytes, &[7, 90, 1], condition);
        assert!(pages(&out).is_empty(), "{condition:?}");
        assert_eq!(job_events(&out), vec![QlJobEvent::Failed(condition)]);
    }
    // Switched off: nothing at all.
    let mut emulator = BrotherQlEmulator::new();
    assert!(
        emulator
            .feed(&bytes, PrinterStatus::Offline)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn job_for_another_tape_fails_with_replace_media() {
    let bytes = BrotherQl::default().encode_page(&tiny_page()).unwrap();
    let mut emulator = BrotherQlEmulator::with_continuous_tape(29).unwrap();
    let out = emulator.feed(&bytes, PrinterStatus::Ready).unwrap();
    assert!(pages(&out).is_empty());
    assert_eq!(
        job_events(&out),
        vec![QlJobEvent::Failed(PrinterStatus::Error(
            PrinterErrorKind::WrongMedia
        ))]
    );
}

#[test]
fn status_round_trips_through_the_emulator() {
    let ql = BrotherQl::default();
    for condition in [
        PrinterStatus::Ready,
        PrinterStatus::PaperOut,
        PrinterStatus::CoverOpen,
        PrinterStatus::Error(PrinterErrorKind::Cutter),
        PrinterStatus::Error(PrinterErrorKind::WrongMedia),
        PrinterStatus::Error(PrinterErrorKind::PaperJam),
        PrinterStatus::Error(PrinterErrorKind::Paused),
        PrinterStatus::Error(PrinterErrorKind::Other),
    ] {
        let mut emulator = BrotherQlEmulator::new();
        let out = feed_in_chunks(&mut emulator, &ql.status_query(), &[3], condition);
        let [EmulatorOutput::Reply(reply)] = out.as_slice() else {
            panic!("one reply for {condition:?}: {out:?}");
        };
        assert_eq!(ql.read_status(reply), StatusReply::Status(condition));
    }
    // A QL cannot tell low paper; an offline one does not answer.
    let mut emulator = BrotherQlEmulator::new();
    let out = emulator
        .feed(&ql.status_query(), PrinterStatus::PaperLow)
        .unwrap();
    let [EmulatorOutput::Reply(reply)] = out.as_slice() else {
        panic!()
    };
    assert_eq!(
        ql.read_status(reply),
        StatusReply::Status(PrinterStatus::Ready)
    );
    let mut emulator = BrotherQlEmulator::new();
    assert!(
        emulator
            .feed(&ql.status_query(), PrinterStatus::Offline)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn raster_line_count_must_match_print_information() {
    let bytes = ql(false, true).encode_page(&tiny_page()).unwrap();
    // ESC i z starts after the invalidate, ESC @ and ESC i a: bytes 206..219, count at 213.
    assert_eq!(&bytes[206..209], &[0x1B, 0x69, 0x7A]);
    for count in [2u8, 4] {
        let mut wrong = bytes.clone();
        wrong[213] = count;
        let err = BrotherQlEmulator::new()
            .feed(&wrong, PrinterStatus::Ready)
            .unwrap_err();
        assert_eq!(err.language, "brother_ql");
        assert!(err.reason.contains("raster lines"), "{err}");
    }
}

#[test]
fn emulator_rejects_what_a_printer_would_not_take() {
    let feed = |bytes: &[u8]| BrotherQlEmulator::new().feed(bytes, PrinterStatus::Ready);
    // An unknown command byte, with its offset in the whole stream.
    let mut emulator = BrotherQlEmulator::new();
    emulator.feed(&[0x00; 10], PrinterStatus::Ready).unwrap();
    let err = emulator
        .feed(&[0x00, 0x42], PrinterStatus::Ready)
        .unwrap_err();
    assert_eq!(err.offset, 11);
    // A raster line before raster mode, before ESC i z, Z without compression.
    assert!(feed(&[0x67, 0x00, 0x5A]).is_err());
    assert!(feed(&[0x1B, 0x69, 0x61, 0x01, 0x67, 0x00, 0x5A]).is_err());
    let mut z = vec![0x1B, 0x69, 0x61, 0x01];
    z.extend_from_slice(&[
        0x1B, 0x69, 0x7A, 0x86, 0x0A, 0x3E, 0x00, 0x01, 0, 0, 0, 0, 0,
    ]);
    z.push(0x5A);
    assert!(feed(&z).is_err());
    // An uncompressed line of 89 bytes; a dot outside the tape's print area (pin 0).
    let mut short = z[..17].to_vec();
    short.extend_from_slice(&[0x67, 0x00, 0x59]);
    assert!(feed(&short).is_err());
    let mut off_tape = z[..17].to_vec();
    off_tape.extend_from_slice(&[0x67, 0x00, 0x5A]);
    off_tape.extend(line(&[(0, 0x80)]));
    off_tape.push(0x1A);
    let err = feed(&off_tape).unwrap_err();
    assert!(err.reason.contains("outside"), "{err}");
    // A print command with nothing announced.
    assert!(feed(&[0x1B, 0x69, 0x61, 0x01, 0x1A]).is_err());
}

#[test]
fn qr_round_trip() {
    let text = "URNA:GW7K-17:2025-11-22T00:46:11Z:MEUCIQDx5y0bS3Qe9kR2vUo8AqZ";
    let mut layout = Layout::new(LabelSize {
        width_dots: 696,
        dpi: 300,
    });
    layout.qr(text, 3, 8).unwrap();
    let label = layout.finish();
    assert_eq!(label.width(), 696);
    for compression in [false, true] {
        let bytes = ql(compression, true).encode_page(&label).unwrap();
        let mut emulator = BrotherQlEmulator::new();
        // USB bulk packets are 64 bytes.
        let out = feed_in_chunks(&mut emulator, &bytes, &[64], PrinterStatus::Ready);
        let printed = pages(&out);
        assert_eq!(printed.len(), 1);
        assert_eq!(printed[0], label);
        let mut prepared = rqrr::PreparedImage::prepare(printed[0].clone());
        let decoded: Vec<String> = prepared
            .detect_grids()
            .into_iter()
            .map(|g| g.decode().unwrap().1)
            .collect();
        assert_eq!(decoded, vec![text.to_string()]);
    }
}
