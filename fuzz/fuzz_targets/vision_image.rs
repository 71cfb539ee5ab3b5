//! Any bytes as an image file, and any bytes as a camera frame: urna's image loading and QR
//! decoding refuse or read them, and never panic (a decoder's panic is caught and reported as an
//! error, which this target also accepts; anything escaping the guard fails it).
//! Run: `cargo fuzz run vision_image` in `fuzz/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use station::vision::{Decoder, Effort, ImageLimits, load_image};

fuzz_target!(|data: &[u8]| {
    // Small limits keep each run fast; the limits themselves are what is exercised.
    let limits = ImageLimits {
        max_bytes: 1 << 20,
        max_pixels: 1 << 18,
        max_side: 2048,
    };
    let decoder = Decoder {
        limits,
        budget: std::time::Duration::from_millis(50),
        ..Decoder::default()
    };
    if let Ok(image) = load_image(data, &limits) {
        let _ = decoder.decode(&image, Effort::Thorough, None);
    }
    // The same bytes as a raw grey frame: the first byte picks the width.
    if let Some((&w, pixels)) = data.split_first() {
        let width = u32::from(w.max(1));
        let height = pixels.len() as u32 / width;
        let luma = pixels[..(width * height) as usize].to_vec();
        let _ = decoder.decode_luma(luma, width, height, Effort::Frame, None);
    }
});
