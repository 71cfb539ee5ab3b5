//! ESC/POS end to end: random pages through the encoder and the independent emulator in random
//! chunk splits come back dot for dot; status replies are read right or refused; an out-of-paper
//! printer prints nothing and says so; a receipt's QR code survives the trip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use image::{GrayImage, Luma};
use proptest::prelude::*;
use station::devices::{PrinterErrorKind, PrinterStatus};
use station::label::{LabelSize, Layout};
use station::printer::escpos::{EscPos, EscPosEmulator};
use station::printer::{Emulator, EmulatorOutput, Language, StatusReply, is_dot};

/// A page of `w` × `h`: grey noise (any luma, thresholded by the encoder) or white with black
/// rectangles (long runs and repeated rows).
fn page_strategy(max_w: u32, max_h: u32) -> impl Strategy<Value = GrayImage> {
    (1..=max_w, 1..=max_h).prop_flat_map(|(w, h)| {
        (
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), (w * h) as usize),
            proptest::collection::vec((0..w, 0..h, 1..=w, 1..=h), 0..5),
        )
            .prop_map(move |(noisy, noise, rects)| {
                let mut page = if noisy {
                    GrayImage::from_raw(w, h, noise).unwrap()
                } else {
                    GrayImage::from_pixel(w, h, Luma([255]))
                };
                for (x, y, rw, rh) in rects {
                    for yy in y..(y + rh).min(h) {
                        for xx in x..(x + rw).min(w) {
                            page.put_pixel(xx, yy, Luma([0]));
                        }
                    }
                }
                page
            })
    })
}

fn feed_in_chunks(
    emulator: &mut impl Emulator,
    bytes: &[u8],
    sizes: &[usize],
    condition: PrinterStatus,
) -> Vec<EmulatorOutput> {
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        out.extend(
            emulator
                .feed(chunk, condition)
                .expect("the emulator takes the encoder's bytes"),
        );
        rest = tail;
        i += 1;
    }
    out
}

fn pages(out: &[EmulatorOutput]) -> Vec<&GrayImage> {
    out.iter()
        .filter_map(|o| match o {
            EmulatorOutput::Page(p) => Some(p),
            // Raster data may happen to hold 10 04 n, which a printer answers.
            EmulatorOutput::Reply(_) => None,
        })
        .collect()
}

fn replies(out: &[EmulatorOutput]) -> Vec<u8> {
    out.iter()
        .flat_map(|o| match o {
            EmulatorOutput::Reply(bytes) => bytes.clone(),
            EmulatorOutput::Page(_) => Vec::new(),
        })
        .collect()
}

fn assert_same_dots(original: &GrayImage, printed: &GrayImage) {
    let (w, h) = original.dimensions();
    assert_eq!(printed.width(), w.div_ceil(8) * 8, "padded to whole bytes");
    assert_eq!(printed.height(), h);
    for (x, y, p) in printed.enumerate_pixels() {
        let expected = if x < w && is_dot(original.get_pixel(x, y).0[0]) {
            0
        } else {
            255
        };
        assert_eq!(p.0[0], expected, "dot ({x}, {y})");
    }
}

const FIXED: u8 = 0x12;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn pages_round_trip_through_the_emulator(
        page in page_strategy(96, 120),
        band in 24u32..=48,
        sizes in proptest::collection::vec(1usize..200, 1..8),
    ) {
        let encoder = EscPos::new(EscPos::WIDTH_80MM).with_band_rows(band);
        let bytes = encoder.encode_page(&page).unwrap();
        let mut emulator = EscPosEmulator::new();
        let out = feed_in_chunks(&mut emulator, &bytes, &sizes, PrinterStatus::Ready);
        let printed = pages(&out);
        prop_assert_eq!(printed.len(), 1);
        assert_same_dots(&page, printed[0]);
        // A second job on the same printer comes out on its own.
        let out = feed_in_chunks(&mut emulator, &bytes, &sizes, PrinterStatus::PaperLow);
        prop_assert_eq!(pages(&out), vec![printed[0]]);
    }

    #[test]
    fn any_reply_bytes_are_read_without_panic_and_consistently(
        reply in proptest::collection::vec(any::<u8>(), 0..8),
    ) {
        let fixed_ok = reply.iter().all(|b| b & 0x93 == FIXED);
        match EscPos::new(384).read_status(&reply) {
            StatusReply::Status(_) => prop_assert!(reply.len() == 4 && fixed_ok),
            StatusReply::NeedMore => prop_assert!(reply.len() < 4 && fixed_ok),
            StatusReply::Invalid(_) => prop_assert!(reply.len() > 4 || !fixed_ok),
        }
    }

    #[test]
    fn well_formed_replies_say_what_their_bits_say(flags in any::<[u8; 4]>()) {
        // Any combination of the variable bits (2, 3, 5, 6) over the fixed ones.
        let reply = flags.map(|b| (b & 0x6C) | FIXED);
        let [printer, offline, error, paper] = reply;
        let encoder = EscPos::new(384);
        for n in 0..4 {
            prop_assert_eq!(encoder.read_status(&reply[..n]), StatusReply::NeedMore);
        }
        let StatusReply::Status(status) = encoder.read_status(&reply) else {
            panic!("a well-formed reply was refused");
        };
        prop_assert_eq!(status == PrinterStatus::CoverOpen, offline & 0x04 != 0);
        let paper_end = paper & 0x60 != 0 || offline & 0x20 != 0;
        if status == PrinterStatus::PaperOut {
            prop_assert!(paper_end);
        }
        if offline & 0x04 == 0 && paper_end {
            prop_assert_eq!(status, PrinterStatus::PaperOut);
        }
        let fault = offline & 0x64 != 0 || paper & 0x60 != 0 || error & 0x68 != 0 || printer & 0x08 != 0;
        prop_assert_eq!(status.can_print(), !fault);
        prop_assert_eq!(status == PrinterStatus::PaperLow, !fault && paper & 0x0C != 0);
        // Garbage in front of a good reply is refused, not skipped over.
        let mut shifted = vec![0x00];
        shifted.extend_from_slice(&reply);
        prop_assert!(matches!(encoder.read_status(&shifted), StatusReply::Invalid(_)));
    }
}

#[test]
fn the_emulator_answers_the_encoder_s_query_for_each_condition() {
    let encoder = EscPos::new(EscPos::WIDTH_58MM);
    for condition in [
        PrinterStatus::Ready,
        PrinterStatus::PaperLow,
        PrinterStatus::PaperOut,
        PrinterStatus::CoverOpen,
        PrinterStatus::Error(PrinterErrorKind::Cutter),
        PrinterStatus::Error(PrinterErrorKind::HeadTemperature),
        PrinterStatus::Error(PrinterErrorKind::Other),
    ] {
        let mut emulator = EscPosEmulator::new();
        let out = feed_in_chunks(&mut emulator, &encoder.status_query(), &[1], condition);
        assert_eq!(
            encoder.read_status(&replies(&out)),
            StatusReply::Status(condition)
        );
    }
}

#[test]
fn out_of_paper_prints_nothing_and_says_so() {
    let encoder = EscPos::new(EscPos::WIDTH_58MM);
    let page = GrayImage::from_pixel(384, 100, Luma([0]));
    let mut job = encoder.encode_page(&page).unwrap();
    job.extend(encoder.status_query());
    let mut emulator = EscPosEmulator::new();
    let out = feed_in_chunks(&mut emulator, &job, &[7, 1, 300], PrinterStatus::PaperOut);
    assert!(pages(&out).is_empty());
    assert_eq!(
        encoder.read_status(&replies(&out)),
        StatusReply::Status(PrinterStatus::PaperOut)
    );
    // Paper reloaded: the next job prints.
    let out = feed_in_chunks(
        &mut emulator,
        &encoder.encode_page(&page).unwrap(),
        &[64],
        PrinterStatus::Ready,
    );
    assert_eq!(pages(&out).len(), 1);
}

#[test]
fn a_receipt_qr_survives_the_trip() {
    let text = "URNA1:GW7K-0017:1763768771:Zm9yZ2VkLW9yLW5vdC1sZXQtdGhlLXJlZ2lzdHJ5LXNheQ";
    let mut layout = Layout::new(LabelSize::PAPER_58MM);
    layout.gap(20);
    layout.qr(text, 3, 8).unwrap();
    let page = layout.finish();
    let bytes = EscPos::new(EscPos::WIDTH_58MM).encode_page(&page).unwrap();
    let mut emulator = EscPosEmulator::new();
    let out = feed_in_chunks(&mut emulator, &bytes, &[511, 3, 1024], PrinterStatus::Ready);
    let printed = pages(&out);
    assert_eq!(printed.len(), 1);
    assert_eq!(printed[0], &page);
    let mut prepared = rqrr::PreparedImage::prepare(printed[0].clone());
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1);
    assert_eq!(grids[0].decode().unwrap().1, text);
}
