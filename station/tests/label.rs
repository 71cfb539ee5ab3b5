//! Label and receipt rendering: QR codes that carry exactly the payload, Code128 by the standard's
//! table, pure black and white, the paper's width, every Polish letter, wrapping within the margins.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use image::GrayImage;
use records::{IntakeId, ReceiptPayload, SigningKey};
use station::label::{
    EnvelopeLabel, LabelSize, Layout, Receipt, TextStyle, code128, missing_glyphs,
    render_envelope_label, render_receipt, standard_next_steps, try_render_receipt,
};

const SIZES: [LabelSize; 2] = [LabelSize::PAPER_58MM, LabelSize::PAPER_80MM];

fn intake() -> IntakeId {
    IntakeId::new("GW7K".parse().unwrap(), 17).unwrap()
}

fn payload() -> String {
    ReceiptPayload::sign(intake(), 1_763_768_771, &SigningKey::from_bytes(&[1; 32])).to_string()
}

fn receipt(payload: String, category: &str) -> Receipt {
    Receipt {
        intake: intake(),
        station_name: "Urna przy wejściu głównym".into(),
        place: "Urząd Miasta, ul. Żółkiewskiego 5, Łódź".into(),
        deposited_at: "2025-11-22 00:46".into(),
        category: category.into(),
        payload,
        status_url: "https://urzad.example.pl/status".into(),
        next_steps: standard_next_steps(),
    }
}

fn envelope(category: &str) -> EnvelopeLabel {
    EnvelopeLabel {
        intake: intake(),
        category: category.into(),
        station_name: "Urna przy wejściu głównym".into(),
        deposited_at: "2025-11-22 00:46".into(),
    }
}

fn decode_qrs(image: &GrayImage) -> Vec<String> {
    let mut prepared = rqrr::PreparedImage::prepare(image.clone());
    prepared
        .detect_grids()
        .into_iter()
        .map(|g| g.decode().expect("QR decodes").1)
        .collect()
}

fn black_count(image: &GrayImage) -> usize {
    image.pixels().filter(|p| p.0[0] == 0).count()
}

fn assert_pure_and_within_margins(image: &GrayImage, size: LabelSize) {
    assert_eq!(image.width(), size.width_dots);
    assert!(image.height() > 0);
    let margin = size.dots(1.0);
    for (x, _, p) in image.enumerate_pixels() {
        assert!(p.0[0] == 0 || p.0[0] == 255, "grey pixel {}", p.0[0]);
        if x < margin || x >= size.width_dots - margin {
            assert_eq!(p.0[0], 255, "black in the margin at column {x}");
        }
    }
}

#[test]
fn receipt_qr_decodes_to_exactly_the_signed_payload() {
    let payload = payload();
    assert!(payload.parse::<ReceiptPayload>().is_ok());
    for size in SIZES {
        let image = try_render_receipt(&receipt(payload.clone(), "Podatki"), size).unwrap();
        assert_eq!(decode_qrs(&image), vec![payload.clone()]);
    }
}

#[test]
fn receipt_qr_carries_a_changed_payload_as_changed() {
    let mut altered = payload().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    assert_ne!(altered, payload());
    let image = render_receipt(&receipt(altered.clone(), "Podatki"), LabelSize::PAPER_58MM);
    assert_eq!(decode_qrs(&image), vec![altered]);
}

#[test]
fn receipt_qr_modules_are_whole_dots_of_at_least_three() {
    let image = render_receipt(&receipt(payload(), "Podatki"), LabelSize::PAPER_58MM);
    let mut prepared = rqrr::PreparedImage::prepare(image.clone());
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1);
    let (meta, _) = grids[0].decode().unwrap();
    // The format bits' level field: M is 0b00 (ISO/IEC 18004, table 12).
    assert_eq!(meta.ecc_level, 0, "error correction level M");
    let modules = meta.version.to_size() as u32;
    // rqrr's corner points only locate the code; the dots are counted here. The top-left dark
    // pixel is the corner of the top-left finder pattern, whose top edge is 7 modules long.
    let dark = |x: u32, y: u32| image.get_pixel(x, y).0[0] == 0;
    let (bx, by) = (
        grids[0].bounds[0].x.max(0) as u32,
        grids[0].bounds[0].y.max(0) as u32,
    );
    let (x0, y0) = (by.saturating_sub(20)..by + 20)
        .flat_map(|y| (bx.saturating_sub(20)..bx + 20).map(move |x| (x, y)))
        .find(|&(x, y)| dark(x, y))
        .unwrap();
    let edge = (x0..image.width()).take_while(|&x| dark(x, y0)).count() as u32;
    let side = (y0..image.height()).take_while(|&y| dark(x0, y)).count() as u32;
    assert_eq!(edge, side);
    assert_eq!(edge % 7, 0, "finder edge {edge} dots");
    let module = edge / 7;
    assert!(module >= 3, "module {module} dots");
    // The top-right finder ends exactly `modules` whole modules to the right.
    assert!(dark(x0 + modules * module - 1, y0));
    assert!(!dark(x0 + modules * module, y0));
    // Quiet zone: 4 modules of white left of and above the code.
    assert!((x0 - 4 * module..x0).all(|x| !dark(x, y0)));
    assert!((y0 - 4 * module..y0).all(|y| (x0..x0 + modules * module).all(|x| !dark(x, y))));
}

#[test]
fn rasters_are_pure_black_and_white_at_the_paper_width() {
    for size in SIZES {
        let r = render_receipt(&receipt(payload(), "Podatki i opłaty lokalne"), size);
        assert_pure_and_within_margins(&r, size);
        let e = render_envelope_label(&envelope("Podatki i opłaty lokalne"), size);
        assert_pure_and_within_margins(&e, size);
    }
}

#[test]
fn every_polish_letter_renders_unlike_its_base_letter() {
    let polish = "ąćęłńóśźżĄĆĘŁŃÓŚŹŻ";
    let base = "acelnoszzACELNOSZZ";
    assert_eq!(missing_glyphs(polish), Vec::<char>::new());
    assert_eq!(missing_glyphs("\u{e000}"), vec!['\u{e000}']);
    let render = |c: char, style: TextStyle| {
        let mut l = Layout::new(LabelSize::PAPER_58MM);
        l.text(&c.to_string(), style);
        l.finish()
    };
    // The smallest body size on a receipt, and the bold used for headings.
    for style in [TextStyle::regular(7.5), TextStyle::bold(10.0)] {
        for (p, b) in polish.chars().zip(base.chars()) {
            let (pi, bi) = (render(p, style), render(b, style));
            assert!(black_count(&pi) > 10, "{p} renders almost nothing");
            assert_ne!(pi, bi, "{p} looks like {b}");
            // The accent adds dots (for ł, Ł the stroke does).
            assert!(
                black_count(&pi) > black_count(&bi),
                "{p} has no more ink than {b}"
            );
        }
    }
}

#[test]
fn code128_golden_patterns() {
    // "Hi": start B (104) 211214; 'H' = 40 → 231113; 'i' = 73 → 142112;
    // check (104 + 1·40 + 2·73) mod 103 = 290 mod 103 = 84 → 124112; stop 2331112.
    assert_eq!(code128::symbols("Hi").unwrap(), vec![104, 40, 73, 84, 106]);
    let expected: Vec<u8> = "211214 231113 142112 124112 2331112"
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|d| d - b'0')
        .collect();
    assert_eq!(code128::widths("Hi").unwrap(), expected);

    // "PJJ123C": P=48 J=42 J=42 1=17 2=18 3=19 C=35; check
    // (104 + 48 + 84 + 126 + 68 + 90 + 114 + 245) mod 103 = 879 mod 103 = 55 → 311321.
    assert_eq!(
        code128::symbols("PJJ123C").unwrap(),
        vec![104, 48, 42, 42, 17, 18, 19, 35, 55, 106]
    );
    let expected: Vec<u8> =
        "211214 313121 112133 112133 123221 223211 221132 131321 311321 2331112"
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|d| d - b'0')
            .collect();
    assert_eq!(code128::widths("PJJ123C").unwrap(), expected);

    assert!(code128::symbols("").is_err());
    assert!(code128::symbols("zażółć").is_err());
}

#[test]
fn code128_table_obeys_the_standards_rules() {
    // Every symbol is 11 modules of 3 bars and 3 spaces, bars summing to an even number, no
    // element wider than 4, all different; the stop is 13 modules.
    for (value, p) in code128::PATTERNS.iter().enumerate() {
        let w: Vec<u8> = p.iter().map(|d| d - b'0').collect();
        let total: u8 = w.iter().sum();
        if value == 106 {
            assert_eq!((w.len(), total), (7, 13));
            continue;
        }
        assert_eq!((w.len(), total), (6, 11), "symbol {value}");
        assert!(w.iter().all(|&e| (1..=4).contains(&e)), "symbol {value}");
        assert_eq!((w[0] + w[2] + w[4]) % 2, 0, "symbol {value}");
    }
    let mut all: Vec<&[u8]> = code128::PATTERNS.to_vec();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 107);
}

/// Lengths of alternating runs in a row, starting with white.
fn runs(image: &GrayImage, y: u32) -> Vec<u32> {
    let mut runs = vec![0u32];
    let mut black = false;
    for x in 0..image.width() {
        let is_black = image.get_pixel(x, y).0[0] == 0;
        if is_black != black {
            runs.push(0);
            black = is_black;
        }
        *runs.last_mut().unwrap() += 1;
    }
    runs
}

#[test]
fn envelope_label_carries_the_id_as_code128() {
    let id = intake().to_string();
    let widths: Vec<u32> = code128::widths(&id)
        .unwrap()
        .into_iter()
        .map(u32::from)
        .collect();
    for size in SIZES {
        let image = render_envelope_label(&envelope("Podatki"), size);
        let found = (0..image.height()).any(|y| {
            let r = runs(&image, y);
            // White quiet zone, then exactly the bars and spaces, then white to the edge.
            r.len() == widths.len() + 2
                && (1..=4).any(|m| {
                    r[0] >= 10 * m
                        && r[r.len() - 1] >= 10 * m
                        && r[1..r.len() - 1]
                            .iter()
                            .zip(&widths)
                            .all(|(&a, &w)| a == w * m)
                })
        });
        assert!(found, "no row of the label at {size:?} is the id's barcode");
    }
}

#[test]
fn long_text_wraps_inside_the_margins() {
    let long = "Podatki i opłaty lokalne, w tym podatek od nieruchomości, środków transportowych \
                oraz opłata za gospodarowanie odpadami komunalnymi";
    for size in SIZES {
        let short_r = render_receipt(&receipt(payload(), "Podatki"), size);
        let long_r = render_receipt(&receipt(payload(), long), size);
        assert_pure_and_within_margins(&long_r, size);
        assert!(long_r.height() > short_r.height() + 2 * size.px(10.0) as u32);
        let short_e = render_envelope_label(&envelope("Podatki"), size);
        let long_e = render_envelope_label(&envelope(long), size);
        assert_pure_and_within_margins(&long_e, size);
        assert!(long_e.height() > short_e.height() + 2 * size.px(10.0) as u32);
    }
    // One word wider than the paper (an address) is broken, not cut off.
    let mut r = receipt(payload(), "Podatki");
    r.status_url = format!("https://urzad.example.pl/{}", "status/".repeat(20));
    for size in SIZES {
        assert_pure_and_within_margins(&render_receipt(&r, size), size);
    }
}

#[test]
fn oversized_payload_is_an_error_or_printed_as_text() {
    let huge = "X".repeat(3000);
    assert!(try_render_receipt(&receipt(huge.clone(), "Podatki"), LabelSize::PAPER_58MM).is_err());
    let image = render_receipt(&receipt(huge, "Podatki"), LabelSize::PAPER_58MM);
    assert_pure_and_within_margins(&image, LabelSize::PAPER_58MM);
    assert!(decode_qrs(&image).is_empty());
}
