#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Bad pictures change nothing and crash nothing: garbage, truncated files and enormous images
//! are refused with a clear error before decoding, and no input makes the decoder panic.

use std::io::Cursor;

use image::{GrayImage, ImageFormat, Luma};
use proptest::prelude::*;
use station::template::{Fields, Template};
use station::vision::{DecodeError, Decoder, Effort, ImageLimits, LoadError, load_image};

fn receipt_png() -> Vec<u8> {
    let page = Template::builtin("receipt-58mm")
        .unwrap()
        .render(&Fields::sample())
        .unwrap();
    encode(&page, ImageFormat::Png)
}

fn encode(image: &GrayImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

#[test]
fn a_printed_receipt_reads_from_png_jpeg_webp_and_tiff_files() {
    let page = Template::builtin("receipt-58mm")
        .unwrap()
        .render(&Fields::sample())
        .unwrap();
    let decoder = Decoder::default();
    let expected = decoder.decode(&page, Effort::Thorough, None).unwrap().text;
    for format in [
        ImageFormat::Png,
        ImageFormat::Jpeg,
        ImageFormat::WebP,
        ImageFormat::Tiff,
    ] {
        let loaded = load_image(&encode(&page, format), &ImageLimits::default())
            .unwrap_or_else(|e| panic!("{format:?}: {e}"));
        let code = decoder.decode(&loaded, Effort::Thorough, None);
        assert_eq!(code.map(|c| c.text), Ok(expected.clone()), "{format:?}");
    }
}

#[test]
fn truncated_files_are_refused_as_damaged_at_every_length() {
    let png = receipt_png();
    let limits = ImageLimits::default();
    for len in (1..png.len()).step_by(97) {
        match load_image(&png[..len], &limits) {
            Err(LoadError::Damaged(_) | LoadError::UnknownFormat) => {}
            other => panic!("{len} of {} bytes: {other:?}", png.len()),
        }
    }
}

#[test]
fn an_enormous_image_is_refused_from_its_header_before_any_pixel_is_decoded() {
    // A PNG header claiming 100 000 × 100 000 pixels, then nothing: decoding it would need
    // 10 GB. Built by hand, since no encoder would write it.
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    png.extend_from_slice(&13u32.to_be_bytes());
    png.extend_from_slice(&ihdr);
    png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    let refused = load_image(&png, &ImageLimits::default());
    assert!(
        matches!(
            refused,
            Err(LoadError::TooLarge { .. } | LoadError::OverLimits)
        ),
        "{refused:?}"
    );
    let message = refused.unwrap_err().to_string();
    assert!(
        message.contains("za duży") || message.contains("przekracza"),
        "{message}"
    );

    let decoder = Decoder::default();
    let wide = GrayImage::new(20_000, 10);
    assert_eq!(
        decoder.decode(&wide, Effort::Thorough, None),
        Err(DecodeError::TooLarge {
            width: 20_000,
            height: 10
        })
    );
}

/// PNG's CRC-32 (ISO 3309), bit by bit: the test needs it for one chunk.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn garbage_is_refused_with_a_message_in_polish_and_english() {
    let refused = load_image(b"%PDF-1.7 not an image", &ImageLimits::default()).unwrap_err();
    assert_eq!(refused, LoadError::UnknownFormat);
    assert!(refused.to_string().contains(" / "), "{refused}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random bytes, and a real receipt's file with bytes overwritten: refused or read, never a
    /// panic.
    #[test]
    fn no_file_makes_loading_or_decoding_panic(
        noise in proptest::collection::vec(any::<u8>(), 0..2000),
        at in any::<prop::sample::Index>(),
    ) {
        let decoder = Decoder { budget: std::time::Duration::from_millis(200), ..Decoder::default() };
        let limits = ImageLimits::default();
        if let Ok(image) = load_image(&noise, &limits) {
            let _ = decoder.decode(&image, Effort::Thorough, None);
        }
        let mut png = receipt_png();
        let start = at.index(png.len());
        for (i, b) in noise.iter().take(16).enumerate() {
            if let Some(p) = png.get_mut(start + i) {
                *p = *b;
            }
        }
        if let Ok(image) = load_image(&png, &limits) {
            let _ = decoder.decode(&image, Effort::Thorough, None);
        }
    }

    /// Any grey pixels at any size: a code or a clear error.
    #[test]
    fn no_frame_makes_the_decoder_panic(
        width in 1u32..120,
        pixels in proptest::collection::vec(any::<u8>(), 1..12_000),
    ) {
        let height = pixels.len() as u32 / width;
        let luma: Vec<u8> = pixels[..(width * height) as usize].to_vec();
        let result = Decoder::default().decode_luma(luma, width, height, Effort::Frame, None);
        if height == 0 {
            prop_assert_eq!(result, Err(DecodeError::NoPixels));
        }
    }
}

#[test]
fn stripes_and_checkerboards_that_look_like_finder_patterns_do_not_panic() {
    let decoder = Decoder::default();
    for period in 1..12u32 {
        let stripes = GrayImage::from_fn(300, 300, |x, _| {
            Luma([if (x / period) % 2 == 0 { 0 } else { 255 }])
        });
        let checks = GrayImage::from_fn(300, 300, |x, y| {
            Luma([if ((x / period) + (y / period)) % 2 == 0 {
                0
            } else {
                255
            }])
        });
        for image in [stripes, checks] {
            let r = decoder.decode(&image, Effort::Thorough, None);
            assert!(!matches!(r, Err(DecodeError::TooLarge { .. })), "{r:?}");
        }
    }
}
