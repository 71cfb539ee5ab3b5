#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! An independent check of the ZPL encoder: its output is rendered by labelize, a ZPL renderer
//! written by others from Zebra's documentation, and the QR code must scan from that picture
//! exactly as from urna's own emulator.

use std::io::Cursor;

use image::GrayImage;
use labelize::{DrawerOptions, Renderer, ZplParser};
use station::label::{LabelSize, Layout};
use station::printer::Language;
use station::printer::zpl::Zpl;

/// Renders ZPL with labelize at 8 dots/mm (203 dpi) on a label of the page's size.
fn labelize_render(zpl: &[u8], width_dots: u32, height_dots: u32) -> GrayImage {
    let labels = ZplParser::new().parse(zpl).unwrap();
    assert_eq!(labels.len(), 1, "one ^XA…^XZ format");
    let mut png = Cursor::new(Vec::new());
    let options = DrawerOptions {
        label_width_mm: f64::from(width_dots) / 8.0,
        label_height_mm: f64::from(height_dots) / 8.0,
        dpmm: 8,
        ..DrawerOptions::default()
    };
    Renderer::new()
        .draw_label_as_png(&labels[0], &mut png, options)
        .unwrap();
    image::load_from_memory(png.get_ref()).unwrap().to_luma8()
}

fn qr_text(image: &GrayImage) -> Option<String> {
    let mut prepared = rqrr::PreparedImage::prepare(image.clone());
    let grids = prepared.detect_grids();
    grids
        .first()
        .and_then(|g| g.decode().ok())
        .map(|(_, text)| text)
}

fn qr_page(text: &str, size: LabelSize) -> GrayImage {
    let mut layout = Layout::new(size);
    layout.gap(16);
    layout.qr(text, 3, 8).unwrap();
    layout.gap(16);
    layout.finish()
}

#[test]
fn labelize_renders_the_encoders_qr_dot_for_dot_and_it_scans() {
    let payload =
        "URNA1:GWU2-2223-X:1763769600:0a1b2c3d:MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43UOV3HO6DZPI";
    // A 2 in wide label and the 100 mm (800-dot) one, with and without compression.
    for width in [406, 800] {
        let page = qr_page(
            payload,
            LabelSize {
                width_dots: width,
                dpi: 203,
            },
        );
        for compress in [true, false] {
            let zpl = Zpl::new(832)
                .with_compression(compress)
                .encode_page(&page)
                .unwrap();
            let rendered = labelize_render(&zpl, page.width(), page.height());
            assert_eq!(
                qr_text(&rendered).as_deref(),
                Some(payload),
                "width {width}, compression {compress}"
            );
            // The graphic field must land where urna put it: every dot the same.
            let differing = page
                .enumerate_pixels()
                .filter(|(x, y, p)| {
                    let theirs = rendered.get_pixel_checked(*x, *y).map_or(255, |q| q.0[0]);
                    (p.0[0] < 128) != (theirs < 128)
                })
                .count();
            assert_eq!(differing, 0, "width {width}, compression {compress}");
        }
    }
}
