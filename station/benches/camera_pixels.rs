//! The cost of turning a V4L2 camera's 1280×720 buffers into grey frames, per frame: GREY
//! (a copy), YUYV (every other byte) and MJPEG (a JPEG decode): the CPU a webcam takes before
//! the decoder sees a pixel.
//! Run: `cargo bench -p station --bench camera_pixels`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{Criterion, criterion_group, criterion_main};
use image::GrayImage;
use station::vision::ImageLimits;
use station::vision::pixels::{Layout, PixelFormat, to_frame};
use std::hint::black_box;

const W: u32 = 1280;
const H: u32 = 720;

/// A 1280×720 scene with a code in it and some texture, as a camera sees a resident's phone.
fn scene() -> GrayImage {
    let code = qrcode::QrCode::new(b"URNA1:GWU2-2223-X:1763769600:0a1b2c3d").unwrap();
    let code = code
        .render::<image::Luma<u8>>()
        .module_dimensions(6, 6)
        .build();
    let mut scene = GrayImage::from_fn(W, H, |x, y| {
        image::Luma([120 + ((x.wrapping_mul(31) ^ y.wrapping_mul(17)) % 60) as u8])
    });
    image::imageops::overlay(&mut scene, &code, 500, 200);
    scene
}

fn benches(c: &mut Criterion) {
    let scene = scene();
    let limits = ImageLimits::default();
    let grey = scene.as_raw().clone();
    let yuyv: Vec<u8> = scene.as_raw().iter().flat_map(|&y| [y, 128]).collect();
    let mut mjpeg = Vec::new();
    let rgb = image::DynamicImage::ImageLuma8(scene.clone()).into_rgb8();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut mjpeg, 80)
        .encode_image(&rgb)
        .unwrap();
    let mut group = c.benchmark_group("camera_pixels_1280x720");
    for (name, format, bytes) in [
        ("grey", PixelFormat::Grey, &grey),
        ("yuyv", PixelFormat::Yuyv, &yuyv),
        ("mjpeg", PixelFormat::Mjpeg, &mjpeg),
    ] {
        let layout = Layout {
            format,
            width: W,
            height: H,
            stride: 0,
        };
        group.bench_function(name, |b| {
            b.iter(|| to_frame(&layout, black_box(bytes), &limits).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches_group, benches);
criterion_main!(benches_group);
