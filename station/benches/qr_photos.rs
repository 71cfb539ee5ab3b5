//! urna's QR decoder over real photos (`../shared/data/qr-photos/`, 132 pictures each with its
//! expected text), next to rqrr and rxing alone, and frames per second at 1280×720.
//! Not part of the tests: run `scripts/bench-qr`, which also runs zxing-cpp and ZBar on the same
//! pixels, or `cargo bench -p station --bench qr_photos` for urna's figures alone.
//!
//! Each picture is read once into 8-bit grey before timing, so every decoder times the decode call
//! alone on the same pixels; with `URNA_QR_EXPORT=DIR` those pixels are also written there as
//! raw 8-bit grey (`N.gray`, its size in `N.size`), with the expected texts, for the other decoders.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use image::GrayImage;
use station::vision::roi::Rect;
use station::vision::{Decoder, Effort, ImageLimits, guard, load_image};

/// One photo and what it says.
struct Photo {
    name: String,
    image: GrayImage,
    expected: String,
}

fn photos(dir: &Path) -> Vec<Photo> {
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for sub in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&sub)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("png" | "jpg" | "jpeg" | "webp" | "tif" | "tiff")
                )
            })
            .collect();
        files.sort();
        for file in files {
            let Ok(expected) = std::fs::read_to_string(file.with_extension("txt")) else {
                continue;
            };
            let bytes = std::fs::read(&file).unwrap();
            let image = load_image(&bytes, &ImageLimits::default())
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let name = format!(
                "{}/{}",
                sub.file_name().unwrap().to_string_lossy(),
                file.file_name().unwrap().to_string_lossy()
            );
            out.push(Photo {
                name,
                image,
                expected,
            });
        }
    }
    out
}

/// A decoder under test: the text it reads, if any.
type Read<'a> = Box<dyn Fn(&GrayImage) -> Option<String> + 'a>;

fn rqrr_alone(image: &GrayImage) -> Option<String> {
    let mut prepared = rqrr::PreparedImage::prepare(image.clone());
    prepared
        .detect_grids()
        .into_iter()
        .find_map(|g| g.decode().ok().map(|(_, text)| text))
}

fn rxing_alone(image: &GrayImage) -> Option<String> {
    let mut hints = rxing::DecodeHints {
        TryHarder: Some(true),
        AlsoInverted: Some(true),
        ..rxing::DecodeHints::default()
    };
    rxing::helpers::detect_in_luma_slice_with_hints(
        image.as_raw(),
        image.width(),
        image.height(),
        Some(rxing::BarcodeFormat::QR_CODE),
        &mut hints,
    )
    .ok()
    .map(|r| r.getText().to_owned())
}

/// The median of `runs` timings of one decode, and its text.
fn timed(read: &Read, image: &GrayImage, runs: usize) -> (Option<String>, Duration) {
    let mut times = Vec::with_capacity(runs);
    let mut text = None;
    for _ in 0..runs {
        let start = Instant::now();
        // A panicking decoder (rqrr does on some photos) reads nothing; it does not end the run.
        text = guard::run(|| read(image)).ok().flatten();
        times.push(start.elapsed());
    }
    times.sort();
    (text, times[times.len() / 2])
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A 1280×720 frame: a grey, textured scene with a receipt's code somewhere in it.
fn frame_with_code(text: &str, at: (i64, i64)) -> GrayImage {
    let mut frame = GrayImage::from_fn(1280, 720, |x, y| {
        let v = 110 + ((x * 7 + y * 13) % 40) as u8 + ((x / 64 + y / 64) % 2) as u8 * 30;
        image::Luma([v])
    });
    let code = qrcode::QrCode::new(text.as_bytes()).unwrap();
    let drawn = code
        .render::<image::Luma<u8>>()
        .module_dimensions(4, 4)
        .build();
    image::imageops::overlay(&mut frame, &drawn, at.0, at.1);
    frame
}

fn frames_per_second() {
    let decoder = Decoder::default();
    let text = "URNA1:GWU2-2223-X:1763769600:0a1b2c3d:MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43UOV3HO6DZPI";
    let with_code = frame_with_code(text, (700, 250));
    let empty = frame_with_code("", (-10_000, -10_000));
    let region = decoder
        .decode(&with_code, Effort::Frame, None)
        .ok()
        .and_then(|c| c.bounds);
    let cases: [(&str, &GrayImage, Option<Rect>); 3] = [
        ("code in view, region tracked", &with_code, region),
        ("code in view, no region", &with_code, None),
        ("no code in view", &empty, None),
    ];
    println!("\nframes per second at 1280×720 (urna, Effort::Frame, one thread):");
    for (name, frame, region) in cases {
        let start = Instant::now();
        let mut n = 0u32;
        while start.elapsed() < Duration::from_secs(2) {
            let _ = decoder.decode(frame, Effort::Frame, region);
            n += 1;
        }
        let fps = f64::from(n) / start.elapsed().as_secs_f64();
        println!("FPS\t{name}\t{fps:.0}");
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is expected.
    let dir = std::env::var_os("URNA_QR_PHOTOS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/qr-photos")
        });
    let runs: usize = std::env::var("URNA_QR_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    // rqrr alone panics on some photos; the guard catches it, and the default hook's backtrace
    // would only bury the table.
    std::panic::set_hook(Box::new(|_| {}));
    let photos = photos(&dir);
    println!(
        "{} photos from {}, median of {runs} runs each",
        photos.len(),
        dir.display()
    );
    if let Some(export) = std::env::var_os("URNA_QR_EXPORT") {
        let export = PathBuf::from(export);
        std::fs::create_dir_all(&export).unwrap();
        for (i, photo) in photos.iter().enumerate() {
            std::fs::write(export.join(format!("{i:03}.gray")), photo.image.as_raw()).unwrap();
            let (w, h) = photo.image.dimensions();
            std::fs::write(export.join(format!("{i:03}.size")), format!("{w} {h}")).unwrap();
            std::fs::write(export.join(format!("{i:03}.txt")), &photo.expected).unwrap();
            std::fs::write(export.join(format!("{i:03}.name")), &photo.name).unwrap();
        }
    }
    let decoder = Decoder::default();
    let urna: Read = Box::new(|image| {
        decoder
            .decode(image, Effort::Thorough, None)
            .ok()
            .map(|c| c.text)
    });
    let decoders: Vec<(&str, Read)> = vec![
        ("urna (rxing + rqrr cascade)", urna),
        ("rqrr 0.11 alone", Box::new(rqrr_alone)),
        ("rxing 0.9 alone (try harder)", Box::new(rxing_alone)),
    ];
    let verbose = std::env::var_os("URNA_QR_VERBOSE").is_some();
    for (name, read) in &decoders {
        let mut correct = 0;
        let mut times = Vec::new();
        for photo in &photos {
            let (text, time) = timed(read, &photo.image, runs);
            times.push(time);
            if text.as_deref() == Some(photo.expected.as_str()) {
                correct += 1;
            } else if verbose {
                println!("  {name}: {} missed (read {text:?})", photo.name);
            }
        }
        times.sort();
        println!(
            "ROW\t{name}\t{correct}/{}\t{:.3}\t{:.3}",
            photos.len(),
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.95))
        );
    }
    frames_per_second();
}
