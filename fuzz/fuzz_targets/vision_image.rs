//! Any bytes as an image file, as a camera frame, and as a V4L2 camera's GREY, YUYV or MJPEG
//! buffer: urna's image loading, pixel conversion and QR decoding refuse or read them, and never
//! panic (a decoder's panic is caught and reported as an error, which this target also accepts;
//! anything escaping the guard fails it).
//! Run: `cargo fuzz run vision_image` in `fuzz/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use station::vision::pixels::{Layout, PixelFormat, to_frame};
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
    // The same bytes as a V4L2 camera's buffer: the first four pick format, size and stride.
    if let [format, width, height, stride, buffer @ ..] = data {
        let format = PixelFormat::PREFERENCE[usize::from(*format) % 3];
        let layout = Layout {
            format,
            width: u32::from(*width),
            height: u32::from(*height),
            stride: u32::from(*stride) * 2,
        };
        if let Ok(frame) = to_frame(&layout, buffer, &limits) {
            assert_eq!(
                frame.luma.len() as u64,
                u64::from(frame.width) * u64::from(frame.height)
            );
        }
    }
});
