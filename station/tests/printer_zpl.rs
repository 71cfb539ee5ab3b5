//! ZPL end to end: random pages through the encoder (plain and compressed) and the independent
//! emulator in random chunk splits come back dot for dot; `~HS` replies are read right or
//! refused; an out-of-paper printer prints nothing and says so; a QR code survives the trip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use image::{GrayImage, Luma};
use proptest::prelude::*;
use station::devices::{PrinterErrorKind, PrinterStatus};
use station::label::{LabelSize, Layout};
use station::printer::zpl::{Zpl, ZplEmulator};
use station::printer::{Emulator, EmulatorOutput, Language, StatusReply, is_dot};

/// A page of `w` × `h`: grey noise (any luma, thresholded by the encoder) or white with black
/// rectangles (long runs, black and white tails, repeated rows — what compression works on).
fn page_strategy(max_w: u32, max_h: u32) -> impl Strategy<Value = GrayImage> {
    (1..=max_w, 1..=max_h).prop_flat_map(|(w, h)| {
        (
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), (w * h) as usize),
            proptest::collection::vec((0..w, 0..h, 1..=w, 1..=h), 0..6),
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

/// A `~HS` reply laid out as in the guide, with the flags given.
fn host_status(flags: [bool; 8]) -> Vec<u8> {
    let f = flags.map(u8::from);
    let [
        paper_out,
        pause,
        corrupt,
        under,
        over,
        head_up,
        ribbon,
        transfer,
    ] = f;
    format!(
        "\x02030,{paper_out},{pause},1218,000,0,0,0,000,{corrupt},{under},{over}\x03\r\n\
         \x02001,0,{head_up},{ribbon},{transfer},2,6,0,00000000,1,000\x03\r\n\
         \x021234,0\x03\r\n"
    )
    .into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn pages_round_trip_through_the_emulator(
        page in page_strategy(120, 100),
        compress in any::<bool>(),
        sizes in proptest::collection::vec(1usize..200, 1..8),
    ) {
        let encoder = Zpl::new(Zpl::WIDTH_4IN_203DPI).with_compression(compress);
        let bytes = encoder.encode_page(&page).unwrap();
        let mut emulator = ZplEmulator::new();
        let out = feed_in_chunks(&mut emulator, &bytes, &sizes, PrinterStatus::Ready);
        prop_assert!(replies(&out).is_empty());
        let printed = pages(&out);
        prop_assert_eq!(printed.len(), 1);
        let printed = printed[0];
        // The guide's narrowest print width is 2 dots: a 1-dot page gains a white column.
        let (w, h) = page.dimensions();
        prop_assert_eq!(printed.dimensions(), (w.max(2), h));
        for (x, y, p) in printed.enumerate_pixels() {
            let expected = if x < w && is_dot(page.get_pixel(x, y).0[0]) { 0 } else { 255 };
            prop_assert_eq!(p.0[0], expected, "dot ({}, {})", x, y);
        }
    }

    #[test]
    fn any_reply_bytes_are_read_without_panic_and_consistently(
        reply in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        if let StatusReply::Status(_) = Zpl::new(832).read_status(&reply) {
            prop_assert_eq!(reply.iter().filter(|&&b| b == 0x02).count(), 3);
            prop_assert!(reply.ends_with(b"\x03\r\n"));
        }
    }

    #[test]
    fn printable_garbage_is_never_a_status(text in "[ -~\r\n]{0,200}") {
        let reply = Zpl::new(832).read_status(text.as_bytes());
        prop_assert!(!matches!(reply, StatusReply::Status(_)));
    }

    #[test]
    fn well_formed_replies_say_what_their_flags_say(flags in any::<[bool; 8]>()) {
        let [paper_out, pause, corrupt, under, over, head_up, ribbon, transfer] = flags;
        let reply = host_status(flags);
        let encoder = Zpl::new(832);
        for n in 0..reply.len() {
            prop_assert_eq!(encoder.read_status(&reply[..n]), StatusReply::NeedMore);
        }
        let StatusReply::Status(status) = encoder.read_status(&reply) else {
            panic!("a well-formed reply was refused");
        };
        prop_assert_eq!(status == PrinterStatus::CoverOpen, head_up);
        prop_assert_eq!(status == PrinterStatus::PaperOut, !head_up && paper_out);
        let fault = paper_out || pause || corrupt || under || over || head_up || (ribbon && transfer);
        prop_assert_eq!(status.can_print(), !fault);
        prop_assert_ne!(status, PrinterStatus::PaperLow);
        if status == PrinterStatus::Error(PrinterErrorKind::HeadTemperature) {
            prop_assert!(under || over);
        }
        let mut extra = reply.clone();
        extra.push(b'0');
        prop_assert!(matches!(encoder.read_status(&extra), StatusReply::Invalid(_)));
    }
}

#[test]
fn the_emulator_answers_the_encoder_s_query_for_each_condition() {
    let encoder = Zpl::new(Zpl::WIDTH_4IN_203DPI);
    for condition in [
        PrinterStatus::Ready,
        PrinterStatus::PaperOut,
        PrinterStatus::CoverOpen,
        PrinterStatus::Error(PrinterErrorKind::HeadTemperature),
        PrinterStatus::Error(PrinterErrorKind::Other),
        PrinterStatus::Error(PrinterErrorKind::Paused),
    ] {
        let mut emulator = ZplEmulator::new();
        let out = feed_in_chunks(&mut emulator, &encoder.status_query(), &[1], condition);
        let reply = replies(&out);
        // The reply read as it trickles in: incomplete until its last byte.
        for n in 0..reply.len() {
            assert_eq!(encoder.read_status(&reply[..n]), StatusReply::NeedMore);
        }
        assert_eq!(encoder.read_status(&reply), StatusReply::Status(condition));
    }
}

#[test]
fn out_of_paper_prints_nothing_and_says_so() {
    let encoder = Zpl::new(Zpl::WIDTH_4IN_203DPI);
    let page = GrayImage::from_pixel(406, 203, Luma([0]));
    let mut job = encoder.encode_page(&page).unwrap();
    job.extend(encoder.status_query());
    let mut emulator = ZplEmulator::new();
    let out = feed_in_chunks(&mut emulator, &job, &[5, 1, 77], PrinterStatus::PaperOut);
    assert!(pages(&out).is_empty());
    assert_eq!(
        encoder.read_status(&replies(&out)),
        StatusReply::Status(PrinterStatus::PaperOut)
    );
    let out = feed_in_chunks(
        &mut emulator,
        &encoder.encode_page(&page).unwrap(),
        &[64],
        PrinterStatus::Ready,
    );
    assert_eq!(pages(&out), vec![&page]);
}

#[test]
fn a_qr_survives_the_trip_and_compression_pays() {
    let text = "URNA1:GW7K-0017:1763768771:Zm9yZ2VkLW9yLW5vdC1sZXQtdGhlLXJlZ2lzdHJ5LXNheQ";
    let mut layout = Layout::new(LabelSize::PAPER_58MM);
    layout.gap(20);
    layout.qr(text, 3, 8).unwrap();
    let page = layout.finish();
    let plain = Zpl::new(Zpl::WIDTH_4IN_203DPI)
        .with_compression(false)
        .encode_page(&page)
        .unwrap();
    let compressed = Zpl::new(Zpl::WIDTH_4IN_203DPI).encode_page(&page).unwrap();
    // A QR code's rows repeat module after module: compression sends a fraction of plain hex.
    assert!(
        compressed.len() * 4 < plain.len(),
        "{} vs {}",
        compressed.len(),
        plain.len()
    );
    for bytes in [plain, compressed] {
        let mut emulator = ZplEmulator::new();
        let out = feed_in_chunks(&mut emulator, &bytes, &[333, 1, 4096], PrinterStatus::Ready);
        let printed = pages(&out);
        assert_eq!(printed, vec![&page]);
        let mut prepared = rqrr::PreparedImage::prepare(printed[0].clone());
        let grids = prepared.detect_grids();
        assert_eq!(grids.len(), 1);
        assert_eq!(grids[0].decode().unwrap().1, text);
    }
}
