#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The camera loop against a simulated camera through the same `FrameSource` trait: a receipt
//! held in front of it for many frames is one scan; taken away and shown again, two; frames are
//! read no faster than `max_fps`; and rpicam-vid's raw output, written here byte for byte as its
//! documented YUV 4:2:0 format, comes out as the same frames.

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use image::{GrayImage, Luma};
use station::template::{Field, Fields, Template};
use station::vision::Decoder;
use station::vision::camera::frames_from_reader;
use station::vision::frames::{Frame, FrameError, FrameReader, FrameSource, run_loop};
use station::vision::yuv::YuvReader;

const PAYLOAD: &str =
    "URNA1:GWU2-2223-X:1763769600:0a1b2c3d:MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43UOV3HO6DZPI";

/// A simulated camera: the frames it was given, then the end of the stream.
struct Simulated(VecDeque<Frame>);

impl FrameSource for Simulated {
    fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        Ok(self.0.pop_front())
    }
}

/// A 640×480 scene, with the receipt's code at `at` when given, and a little noise that
/// differs from frame to frame.
fn scene(receipt: Option<&GrayImage>, at: (i64, i64), seed: u32) -> Frame {
    let mut frame = GrayImage::from_fn(640, 480, |x, y| {
        let n =
            (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503) ^ seed.wrapping_mul(97)) % 17;
        Luma([150 + n as u8])
    });
    if let Some(receipt) = receipt {
        image::imageops::overlay(&mut frame, receipt, at.0, at.1);
    }
    Frame {
        width: 640,
        height: 480,
        luma: frame.into_raw(),
    }
}

fn receipt_crop() -> GrayImage {
    let page = Template::builtin("receipt-58mm")
        .unwrap()
        .render(&Fields::sample().with(Field::ReceiptPayload, PAYLOAD))
        .unwrap();
    // The part with the code, as a resident holds it up: found on the page, with some paper
    // around it.
    let bounds = Decoder::default()
        .decode(&page, station::vision::Effort::Thorough, None)
        .unwrap()
        .bounds
        .unwrap()
        .grown(0.2, page.width(), page.height());
    image::imageops::crop_imm(&page, bounds.x, bounds.y, bounds.width, bounds.height).to_image()
}

#[test]
fn a_receipt_held_up_is_one_scan_and_shown_again_is_two() {
    let receipt = receipt_crop();
    let mut frames = VecDeque::new();
    // Held up for 12 frames, moving a little; away for 12; shown again for 5.
    for i in 0..12 {
        frames.push_back(scene(Some(&receipt), (100 + i * 3, 10), i as u32));
    }
    for i in 0..12 {
        frames.push_back(scene(None, (0, 0), 100 + i));
    }
    for i in 0..5 {
        frames.push_back(scene(Some(&receipt), (200, 10), 200 + i as u32));
    }
    let mut source = Simulated(frames);
    // At 60 frames a second, 12 frames away are 200 ms: longer than the 100 ms repeat window.
    let mut reader = FrameReader::new(Decoder::default(), Duration::from_millis(100));
    let mut scans = Vec::new();
    let stop = AtomicBool::new(false);
    run_loop(&mut source, &mut reader, 60, &stop, |text| {
        scans.push(text);
        true
    })
    .unwrap();
    assert_eq!(scans, vec![PAYLOAD.to_owned(), PAYLOAD.to_owned()]);
}

#[test]
fn the_loop_keeps_to_its_frame_rate() {
    let frames: VecDeque<Frame> = (0..10).map(|i| scene(None, (0, 0), i)).collect();
    let mut source = Simulated(frames);
    let mut reader = FrameReader::new(Decoder::default(), Duration::from_millis(100));
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    run_loop(&mut source, &mut reader, 20, &stop, |_| true).unwrap();
    // Ten frames at 20 a second take at least nine periods of 50 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn rpicam_vid_raw_frames_are_read_back_byte_for_byte() {
    // Three 640×480 I420 frames as rpicam-vid writes them: Y plane, then U and V at half size.
    let mut stream = Vec::new();
    let mut expected = Vec::new();
    for i in 0..3 {
        let frame = scene(Some(&receipt_crop()), (50 * i, 0), i as u32);
        stream.extend_from_slice(&frame.luma);
        stream.extend(std::iter::repeat_n(128u8, 2 * 320 * 240));
        expected.push(frame);
    }
    // A pipe hands over whatever it has: read it through a reader that returns odd amounts.
    struct Trickle<'a>(&'a [u8], usize);
    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.1 = self.1 % 5000 + 777;
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let mut input = Trickle(&stream, 0);
    let mut yuv = YuvReader::new(640, 480);
    let mut chunk = vec![0; 4096];
    let mut got = Vec::new();
    while let Some(frame) = frames_from_reader(&mut input, &mut yuv, &mut chunk).unwrap() {
        got.push(frame);
    }
    assert_eq!(got, expected);
    let mut reader = FrameReader::new(Decoder::default(), Duration::from_millis(100));
    assert_eq!(
        reader.read(got.remove(0), Instant::now()),
        Some(PAYLOAD.to_owned())
    );
}
