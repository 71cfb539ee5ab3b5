#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Every label and receipt urna prints with a QR code must read back through urna's own image
//! decoder — as rendered, and as a camera or a scanner sees it: blurred, rotated, scaled down,
//! with noise, and all of those at once. A receipt whose code the kiosk's camera cannot read back
//! is a receipt the resident cannot use at the counter.
//!
//! The expected texts come from each template's TOML file, not from the template code.

use std::path::Path;

use image::{GrayImage, Luma};
use station::template::{Field, Fields, Template, builtin_names};
use station::vision::{Decoder, Effort};

const RECEIPT_PAYLOAD: &str =
    "URNA1:GWU2-2223-X:1763769600:0a1b2c3d:MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43UOV3HO6DZPI";

/// The `data` of each QR element in the template's own file, its fields filled in.
fn expected_texts(template: &Template, fields: &Fields) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../label-templates")
        .join(format!("{}.toml", template.name()));
    let table: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let Some(elements) = table.get("element").and_then(toml::Value::as_array) else {
        return Vec::new();
    };
    elements
        .iter()
        .filter(|e| e.get("kind").and_then(toml::Value::as_str) == Some("qr"))
        .map(|e| {
            let mut text = e
                .get("data")
                .and_then(toml::Value::as_str)
                .unwrap()
                .to_owned();
            for field in Field::ALL {
                if let Some(value) = fields.get(*field) {
                    text = text.replace(&format!("{{{field}}}"), value);
                }
            }
            text
        })
        .collect()
}

/// Printed pages with a QR code: (description, page, expected text).
fn printed() -> Vec<(String, GrayImage, String)> {
    let values = [
        ("sample values", Fields::sample()),
        (
            "a real receipt",
            Fields::sample()
                .with(Field::IntakeId, "GWU2-2223-X")
                .with(Field::ReceiptPayload, RECEIPT_PAYLOAD)
                .with(Field::Category, "Skargi i wnioski — zażółć gęślą jaźń"),
        ),
    ];
    let mut out = Vec::new();
    for name in builtin_names() {
        let template = Template::builtin(name).unwrap();
        for (what, fields) in &values {
            let texts = expected_texts(&template, fields);
            assert!(
                texts.len() <= 1,
                "{name}: one QR code per page is what is decoded"
            );
            if let Some(text) = texts.into_iter().next() {
                let page = template.render(fields).unwrap();
                out.push((format!("{name} with {what}"), page, text));
            }
        }
    }
    assert!(out.len() >= 4, "the receipts with QR codes were found");
    out
}

/// A small deterministic generator, so that a failure reproduces.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Roughly normal, mean 0, standard deviation about `sigma`.
    fn gauss(&mut self, sigma: f32) -> f32 {
        let sum: f32 = (0..4).map(|_| (self.next() % 1000) as f32 / 1000.0).sum();
        (sum - 2.0) * sigma * 1.73
    }
}

/// The page in grey with a white border, as paper is on a desk.
fn on_desk(page: &GrayImage) -> GrayImage {
    let mut out = GrayImage::from_pixel(page.width() + 80, page.height() + 80, Luma([235]));
    image::imageops::overlay(&mut out, page, 40, 40);
    out
}

fn blurred(page: &GrayImage, sigma: f32) -> GrayImage {
    image::imageops::blur(page, sigma)
}

/// Rotated by `degrees` about the centre, bilinear, corners filled white.
fn rotated(page: &GrayImage, degrees: f32) -> GrayImage {
    let (w, h) = (page.width() as f32, page.height() as f32);
    let (sin, cos) = degrees.to_radians().sin_cos();
    let (nw, nh) = (
        (w * cos.abs() + h * sin.abs()).ceil(),
        (w * sin.abs() + h * cos.abs()).ceil(),
    );
    GrayImage::from_fn(nw as u32, nh as u32, |x, y| {
        let (dx, dy) = (x as f32 - nw / 2.0, y as f32 - nh / 2.0);
        let sx = cos * dx + sin * dy + w / 2.0;
        let sy = -sin * dx + cos * dy + h / 2.0;
        let at = |x: f32, y: f32| -> f32 {
            if x < 0.0 || y < 0.0 || x >= w || y >= h {
                255.0
            } else {
                f32::from(page.get_pixel(x as u32, y as u32).0[0])
            }
        };
        let (fx, fy) = (sx - sx.floor(), sy - sy.floor());
        let (x0, y0) = (sx.floor(), sy.floor());
        let v = at(x0, y0) * (1.0 - fx) * (1.0 - fy)
            + at(x0 + 1.0, y0) * fx * (1.0 - fy)
            + at(x0, y0 + 1.0) * (1.0 - fx) * fy
            + at(x0 + 1.0, y0 + 1.0) * fx * fy;
        Luma([v.round().clamp(0.0, 255.0) as u8])
    })
}

fn scaled(page: &GrayImage, factor: f32) -> GrayImage {
    image::imageops::resize(
        page,
        (page.width() as f32 * factor) as u32,
        (page.height() as f32 * factor) as u32,
        image::imageops::FilterType::Triangle,
    )
}

/// Sensor noise of standard deviation `sigma`, and a low-contrast print (black at 60, paper at
/// 210), seeded by `seed`.
fn noisy(page: &GrayImage, sigma: f32, seed: u64) -> GrayImage {
    let mut noise = Noise(seed | 1);
    let mut out = page.clone();
    for p in out.iter_mut() {
        let v = 60.0 + f32::from(*p) * 150.0 / 255.0 + noise.gauss(sigma);
        *p = v.round().clamp(0.0, 255.0) as u8;
    }
    out
}

type Distortion = Box<dyn Fn(&GrayImage) -> GrayImage>;

/// Each way the page is seen, applied to the page on a desk.
fn distortions() -> Vec<(&'static str, Distortion)> {
    vec![
        ("as printed", Box::new(|p| p.clone())),
        ("blurred", Box::new(|p| blurred(p, 1.5))),
        ("rotated 90°", Box::new(image::imageops::rotate90)),
        ("rotated 180°", Box::new(image::imageops::rotate180)),
        ("rotated 17°", Box::new(|p| rotated(p, 17.0))),
        ("rotated -40°", Box::new(|p| rotated(p, -40.0))),
        ("scaled to 60%", Box::new(|p| scaled(p, 0.6))),
        ("with noise", Box::new(|p| noisy(p, 25.0, 7))),
        (
            "photographed: rotated, blurred, scaled, noisy",
            Box::new(|p| noisy(&scaled(&blurred(&rotated(p, 8.0), 1.2), 0.75), 15.0, 11)),
        ),
    ]
}

#[test]
fn every_printed_qr_code_reads_back_as_rendered_and_as_a_camera_sees_it() {
    let decoder = Decoder::default();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (page_name, page, expected) in printed() {
        let page = on_desk(&page);
        for (how, distort) in distortions() {
            let seen = distort(&page);
            checked += 1;
            match decoder.decode(&seen, Effort::Thorough, None) {
                Ok(code) if code.text == expected => {}
                Ok(code) => failures.push(format!("{page_name}, {how}: read {:?}", code.text)),
                Err(e) => failures.push(format!("{page_name}, {how}: {e}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} did not read:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_camera_frame_of_a_receipt_reads_with_the_quick_strategies() {
    let decoder = Decoder::default();
    for (page_name, page, expected) in printed() {
        let frame = noisy(&blurred(&on_desk(&page), 1.0), 10.0, 3);
        let code = decoder.decode(&frame, Effort::Frame, None);
        assert_eq!(code.map(|c| c.text), Ok(expected), "{page_name}");
    }
}
