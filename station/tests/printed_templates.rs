#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Every shipped label template, printed the way a station prints it, and read back by something
//! that is not the renderer.
//!
//! Each built-in template is rendered with the sample values and with a realistic receipt
//! (a real-looking signed payload, Polish category and station name), encoded in every
//! configuration of the language its printer family speaks (ESC/POS, ZPL with and without ASCII
//! compression, Brother QL raster with and without PackBits), and fed in irregular chunks to that
//! language's emulator, which is written from the manual independently of the encoder. The one
//! page it prints must be the rendered page dot for dot; the only difference allowed is the
//! padding the language documents (ESC/POS raster rows are whole bytes, a Brother QL prints
//! across the tape's whole printable width), and that padding must be white.
//!
//! The QR codes a template draws are read from its own TOML file, not through the template code,
//! and every one must scan with rqrr from the printed page as exactly the value it was given:
//! a receipt whose code scans as something else, or does not scan, is a receipt the office
//! cannot verify. ZPL output is also rendered by labelize, a ZPL renderer written by others, which
//! must draw the same dots and whose picture must scan the same.
//!
//! Why: the encoders and emulators are tested on synthetic pages elsewhere; this ties them to what
//! the station really prints, so a template paired with the wrong printer family, a page wider
//! than its printer's head, or an encoder bug that only real label content triggers fails here
//! and not at the kiosk.

use std::io::Cursor;
use std::path::Path;

use image::GrayImage;
use labelize::{DrawerOptions, Renderer, ZplParser};
use station::devices::PrinterStatus;
use station::printer::brother_ql::{BrotherQl, BrotherQlEmulator, QlConfig, QlTape};
use station::printer::escpos::{EscPos, EscPosEmulator};
use station::printer::zpl::{Zpl, ZplEmulator};
use station::printer::{Emulator, EmulatorOutput, Language, is_dot};
use station::template::{Field, Fields, PrinterFamily, Template, builtin_names};

/// A receipt payload as the kiosk prints it (id, time, key id, signature).
const RECEIPT_PAYLOAD: &str =
    "URNA1:GWU2-2223-X:1763769600:0a1b2c3d:MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43UOV3HO6DZPI";

/// Chunk sizes the bytes reach the emulator in, in turn: single bytes, odd sizes, a USB-sized
/// read and a large one, so that no command boundary lines up with a chunk boundary.
const CHUNKS: [usize; 4] = [1, 7, 300, 4096];

/// The values a template is printed with, and what to call them in a failure.
fn value_sets() -> Vec<(&'static str, Fields)> {
    vec![
        ("sample values", Fields::sample()),
        (
            "a real receipt",
            Fields::sample()
                .with(Field::IntakeId, "GWU2-2223-X")
                .with(Field::ReceiptPayload, RECEIPT_PAYLOAD)
                .with(
                    Field::Category,
                    "Skargi, wnioski i petycje — zażółć gęślą jaźń / Complaints",
                )
                .with(
                    Field::StationName,
                    "Biuro Obsługi Mieszkańców, Łódź-Śródmieście (wejście od ul. Piotrkowskiej)",
                ),
        ),
    ]
}

fn builtins() -> Vec<Template> {
    builtin_names()
        .map(|name| Template::builtin(name).unwrap_or_else(|e| panic!("{name}: {e}")))
        .collect()
}

/// One way of printing a template: an encoder, a fresh emulator of the printer it talks to, and
/// the width of the page that printer prints.
struct Printing {
    /// The language and its configuration, for failure messages.
    name: String,
    encoder: Box<dyn Language>,
    emulator: fn(&Template) -> Box<dyn Emulator>,
    /// Width of the printed page for a rendered page of the template's width.
    printed_width: u32,
}

/// Every configuration of the language `template`'s printer family speaks. The match is
/// exhaustive: a new family does not compile until it is printed here.
fn printings(template: &Template) -> Vec<Printing> {
    let name = template.name();
    let width = template.width_dots();
    match template.printer() {
        PrinterFamily::Escpos => {
            assert_eq!(
                template.dpi(),
                203,
                "{name}: ESC/POS printers print 203 dpi"
            );
            // The paper says which printer: 58 mm paper goes in a 384-dot printer, 80 mm in a
            // 576-dot one.
            let paper_mm = template.width_mm().round() as u32;
            let head = match paper_mm {
                58 => EscPos::WIDTH_58MM,
                80 => EscPos::WIDTH_80MM,
                other => panic!("{name}: no ESC/POS printer takes {other} mm paper"),
            };
            assert!(
                width <= head,
                "{name}: {width} dots across, the {paper_mm} mm printer's head has {head}"
            );
            let emulator: fn(&Template) -> Box<dyn Emulator> = |_| Box::new(EscPosEmulator::new());
            let printed_width = width.div_ceil(8) * 8;
            [EscPos::DEFAULT_BAND_ROWS, EscPos::MAX_BAND_ROWS]
                .into_iter()
                .map(|band| Printing {
                    name: format!("escpos ({head}-dot head, {band}-row bands)"),
                    encoder: Box::new(EscPos::new(head).with_band_rows(band)),
                    emulator,
                    printed_width,
                })
                .collect()
        }
        PrinterFamily::Zpl => {
            // labelize is asked for 8 dots/mm below, and the Zebra printers urna drives are
            // 203 dpi models.
            assert_eq!(
                template.dpi(),
                203,
                "{name}: the Zebra printers print 203 dpi"
            );
            let emulator: fn(&Template) -> Box<dyn Emulator> = |_| Box::new(ZplEmulator::new());
            [true, false]
                .into_iter()
                .map(|compress| Printing {
                    name: format!(
                        "zpl ({}-dot head, {})",
                        Zpl::WIDTH_4IN_203DPI,
                        if compress { "compressed" } else { "plain hex" }
                    ),
                    encoder: Box::new(Zpl::new(Zpl::WIDTH_4IN_203DPI).with_compression(compress)),
                    emulator,
                    printed_width: width,
                })
                .collect()
        }
        PrinterFamily::BrotherQl => {
            assert_eq!(
                template.dpi(),
                300,
                "{name}: Brother QL printers print 300 dpi"
            );
            let tape_mm = template.width_mm().round() as u8;
            let tape = QlTape::continuous(tape_mm)
                .unwrap_or_else(|| panic!("{name}: Brother makes no {tape_mm} mm continuous tape"));
            assert_eq!(tape, QlConfig::default().tape, "{name}: the 62 mm tape");
            let emulator: fn(&Template) -> Box<dyn Emulator> = |t| {
                let tape_mm = t.width_mm().round() as u8;
                Box::new(BrotherQlEmulator::with_continuous_tape(tape_mm).unwrap())
            };
            let mut out = vec![Printing {
                name: "brother_ql (default: 62 mm tape, uncompressed)".to_owned(),
                encoder: Box::new(BrotherQl::default()),
                emulator,
                printed_width: tape.printable_dots,
            }];
            let compressed = BrotherQl::new(QlConfig {
                tape,
                compression: true,
                ..QlConfig::default()
            })
            .unwrap();
            out.push(Printing {
                name: "brother_ql (62 mm tape, PackBits)".to_owned(),
                encoder: Box::new(compressed),
                emulator,
                printed_width: tape.printable_dots,
            });
            out
        }
    }
}

/// Feeds `bytes` to `emulator` in chunks of [`CHUNKS`] in turn, starting with the `start`th
/// size, and returns the pages it printed (status frames and replies are left out).
fn print(
    emulator: &mut dyn Emulator,
    bytes: &[u8],
    start: usize,
) -> Result<Vec<GrayImage>, String> {
    let mut pages = Vec::new();
    let mut rest = bytes;
    let mut i = start;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(CHUNKS[i % CHUNKS.len()].min(rest.len()));
        for output in emulator
            .feed(chunk, PrinterStatus::Ready)
            .map_err(|e| format!("the emulator refused the job: {e}"))?
        {
            if let EmulatorOutput::Page(page) = output {
                pages.push(page);
            }
        }
        rest = tail;
        i += 1;
    }
    Ok(pages)
}

/// Whether `printed` is `rendered`, dot for dot, on a page `printed_width` wide whose columns
/// right of the rendered width are white.
fn same_dots(rendered: &GrayImage, printed: &GrayImage, printed_width: u32) -> Result<(), String> {
    if printed.dimensions() != (printed_width, rendered.height()) {
        return Err(format!(
            "the printed page is {}×{} dots, expected {printed_width}×{} (rendered {}×{})",
            printed.width(),
            printed.height(),
            rendered.height(),
            rendered.width(),
            rendered.height()
        ));
    }
    let mut wrong = 0usize;
    let mut first = None;
    for (x, y, p) in printed.enumerate_pixels() {
        let expected = x < rendered.width() && is_dot(rendered.get_pixel(x, y).0[0]);
        if is_dot(p.0[0]) != expected {
            wrong += 1;
            first.get_or_insert((x, y, expected));
        }
    }
    match first {
        None => Ok(()),
        Some((x, y, expected)) => Err(format!(
            "{wrong} dots differ; the first at ({x}, {y}){} should be {}",
            if x >= rendered.width() {
                ", in the padding,"
            } else {
                ""
            },
            if expected { "black" } else { "white" }
        )),
    }
}

/// The texts of the QR codes rqrr finds in `image`, sorted; a code found that does not decode
/// is an error.
fn scan(image: &GrayImage) -> Result<Vec<String>, String> {
    let mut prepared = rqrr::PreparedImage::prepare(image.clone());
    let mut texts = prepared
        .detect_grids()
        .into_iter()
        .map(|grid| {
            grid.decode()
                .map(|(_, text)| text)
                .map_err(|e| format!("a QR code was found that does not decode: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    texts.sort();
    Ok(texts)
}

/// Whether the QR codes in `image` carry exactly `expected` (sorted), no more and no fewer.
fn scans_as(image: &GrayImage, expected: &[String]) -> Result<(), String> {
    let found = scan(image)?;
    if found == expected {
        Ok(())
    } else {
        Err(format!(
            "the QR codes scan as {found:?}, expected exactly {expected:?}"
        ))
    }
}

/// The `data` of every `kind = "qr"` element in the template's file, read from the TOML itself
/// so that the test does not take the template code's word for which codes it draws.
fn qr_patterns(template: &Template) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../label-templates")
        .join(format!("{}.toml", template.name()));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let table: toml::Table = text
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let Some(elements) = table.get("element").and_then(toml::Value::as_array) else {
        return Vec::new();
    };
    elements
        .iter()
        .filter(|e| e.get("kind").and_then(toml::Value::as_str) == Some("qr"))
        .map(|e| {
            e.get("data")
                .and_then(toml::Value::as_str)
                .unwrap_or_else(|| panic!("{}: a qr element without data", template.name()))
                .to_owned()
        })
        .collect()
}

/// `pattern` with its `{field}`s replaced by their values (and `{{`, `}}` by braces), as exactly
/// as a code must carry them.
fn fill(pattern: &str, fields: &Fields) -> String {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let brace = &rest[i..];
        if brace.starts_with("{{") || brace.starts_with("}}") {
            out.push_str(&brace[..1]);
            rest = &brace[2..];
        } else {
            let end = brace
                .find('}')
                .unwrap_or_else(|| panic!("unclosed field in {pattern:?}"));
            let field = Field::from_name(&brace[1..end])
                .unwrap_or_else(|| panic!("unknown field in {pattern:?}"));
            out.push_str(fields.get(field).expect("every field has a value"));
            rest = &brace[end + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// The texts the template's QR codes must scan as with `fields`, sorted; also checks that the
/// template itself says it encodes every field its codes hold.
fn expected_qr_texts(template: &Template, fields: &Fields) -> Vec<String> {
    let patterns = qr_patterns(template);
    for pattern in &patterns {
        for field in Field::ALL {
            if pattern.contains(&format!("{{{field}}}")) {
                assert!(
                    template.encodes(*field),
                    "{}: its QR code holds {{{field}}} but encodes({field}) is false",
                    template.name()
                );
            }
        }
    }
    let mut texts: Vec<String> = patterns.iter().map(|p| fill(p, fields)).collect();
    texts.sort();
    texts
}

/// Renders ZPL with labelize at 8 dots/mm on a label `width` × `height` dots.
fn labelize(zpl: &[u8], width: u32, height: u32) -> Result<GrayImage, String> {
    let labels = ZplParser::new()
        .parse(zpl)
        .map_err(|e| format!("labelize cannot parse the ZPL: {e}"))?;
    let [label] = labels.as_slice() else {
        return Err(format!(
            "labelize found {} label formats, expected one",
            labels.len()
        ));
    };
    let mut png = Cursor::new(Vec::new());
    let options = DrawerOptions {
        label_width_mm: f64::from(width) / 8.0,
        label_height_mm: f64::from(height) / 8.0,
        dpmm: 8,
        ..DrawerOptions::default()
    };
    Renderer::new()
        .draw_label_as_png(label, &mut png, options)
        .map_err(|e| format!("labelize cannot draw the label: {e}"))?;
    Ok(image::load_from_memory(png.get_ref())
        .map_err(|e| format!("labelize's PNG does not load: {e}"))?
        .to_luma8())
}

/// Prints every built-in template of `family` through every configuration of its language and
/// checks the page and its QR codes; returns how many templates with QR codes were checked.
fn check_family(family: PrinterFamily) -> usize {
    let templates: Vec<Template> = builtins()
        .into_iter()
        .filter(|t| t.printer() == family)
        .collect();
    assert!(!templates.is_empty(), "no built-in template for {family}");
    let mut with_qr = 0;
    for template in &templates {
        let name = template.name();
        let mut has_qr = false;
        for (values, fields) in value_sets() {
            let rendered = template
                .render(&fields)
                .unwrap_or_else(|e| panic!("{name} with {values}: {e}"));
            let expected = expected_qr_texts(template, &fields);
            has_qr |= !expected.is_empty();
            // The rendered page itself scans: otherwise a failure below would blame the printer.
            if let Err(e) = scans_as(&rendered, &expected) {
                panic!("{name} with {values}, as rendered: {e}");
            }
            for (n, printing) in printings(template).into_iter().enumerate() {
                let context = format!("{name} in {} with {values}", printing.name);
                let bytes = printing
                    .encoder
                    .encode_page(&rendered)
                    .unwrap_or_else(|e| panic!("{context}: cannot encode: {e}"));
                let mut emulator = (printing.emulator)(template);
                let pages = print(emulator.as_mut(), &bytes, n)
                    .unwrap_or_else(|e| panic!("{context}: {e}"));
                let [page] = pages.as_slice() else {
                    panic!("{context}: {} pages printed, expected one", pages.len());
                };
                if let Err(e) = same_dots(&rendered, page, printing.printed_width) {
                    panic!("{context}: {e}");
                }
                if let Err(e) = scans_as(page, &expected) {
                    panic!("{context}, printed: {e}");
                }
            }
        }
        with_qr += usize::from(has_qr);
    }
    with_qr
}

#[test]
fn escpos_templates_print_dot_for_dot_and_their_qr_codes_scan() {
    // The receipts at both widths carry the resident's QR code.
    assert!(check_family(PrinterFamily::Escpos) >= 2);
}

#[test]
fn zpl_templates_print_dot_for_dot_and_their_qr_codes_scan() {
    // The 100 × 150 mm envelope label carries a copy of the receipt's QR code.
    assert!(check_family(PrinterFamily::Zpl) >= 1);
}

#[test]
fn brother_ql_templates_print_dot_for_dot_and_their_qr_codes_scan() {
    check_family(PrinterFamily::BrotherQl);
}

#[test]
fn zpl_templates_render_dot_for_dot_in_labelize_and_their_qr_codes_scan_there() {
    let mut checked = 0;
    let mut with_qr = 0;
    for template in builtins() {
        if template.printer() != PrinterFamily::Zpl {
            continue;
        }
        let name = template.name();
        let mut has_qr = false;
        for (values, fields) in value_sets() {
            let rendered = template
                .render(&fields)
                .unwrap_or_else(|e| panic!("{name} with {values}: {e}"));
            let expected = expected_qr_texts(&template, &fields);
            has_qr |= !expected.is_empty();
            for compress in [true, false] {
                let context = format!(
                    "{name} in zpl ({}) rendered by labelize, with {values}",
                    if compress { "compressed" } else { "plain hex" }
                );
                let zpl = Zpl::new(Zpl::WIDTH_4IN_203DPI)
                    .with_compression(compress)
                    .encode_page(&rendered)
                    .unwrap_or_else(|e| panic!("{context}: cannot encode: {e}"));
                let drawn = labelize(&zpl, rendered.width(), rendered.height())
                    .unwrap_or_else(|e| panic!("{context}: {e}"));
                if let Err(e) = same_dots(&rendered, &drawn, rendered.width()) {
                    panic!("{context}: {e}");
                }
                if let Err(e) = scans_as(&drawn, &expected) {
                    panic!("{context}: {e}");
                }
            }
        }
        checked += 1;
        with_qr += usize::from(has_qr);
    }
    assert!(checked >= 2, "the Zebra templates are checked");
    assert!(with_qr >= 1, "a Zebra template with a QR code is checked");
}

/// The checks themselves: a page off by one dot, black padding, a wrong size, and a QR code
/// carrying anything but exactly the payload are all caught.
#[test]
fn the_checks_catch_one_wrong_dot_and_one_wrong_character() {
    let template = Template::builtin("receipt-58mm").unwrap();
    let fields = value_sets().pop().unwrap().1;
    let rendered = template.render(&fields).unwrap();
    let (w, h) = rendered.dimensions();
    assert!(same_dots(&rendered, &rendered, w).is_ok());

    // One dot in the middle of the page.
    let mut flipped = rendered.clone();
    let p = flipped.get_pixel_mut(w / 2, h / 2);
    p.0[0] = 255 - p.0[0];
    let e = same_dots(&rendered, &flipped, w).unwrap_err();
    assert!(e.starts_with("1 dots differ"), "{e}");

    // One black dot in padding, and a page of the wrong size.
    let mut padded = GrayImage::from_pixel(w + 8, h, image::Luma([255]));
    image::imageops::replace(&mut padded, &rendered, 0, 0);
    assert!(same_dots(&rendered, &padded, w + 8).is_ok());
    padded.put_pixel(w + 3, 0, image::Luma([0]));
    assert!(
        same_dots(&rendered, &padded, w + 8)
            .unwrap_err()
            .contains("in the padding")
    );
    assert!(same_dots(&rendered, &rendered, w + 8).is_err());

    // The payload exactly, not a prefix of it, not with one character changed, not twice.
    let payload = RECEIPT_PAYLOAD.to_owned();
    assert_eq!(expected_qr_texts(&template, &fields), vec![payload.clone()]);
    assert!(scans_as(&rendered, std::slice::from_ref(&payload)).is_ok());
    let mut altered = payload.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] ^= 0x01;
    let altered = String::from_utf8(altered).unwrap();
    assert!(scans_as(&rendered, &[altered]).is_err());
    assert!(scans_as(&rendered, &[payload[..payload.len() - 1].to_owned()]).is_err());
    assert!(scans_as(&rendered, &[payload.clone(), payload]).is_err());
    assert!(scans_as(&rendered, &[]).is_err());
}

#[test]
fn fields_fill_qr_patterns_as_written() {
    let fields = Fields::new()
        .with(Field::IntakeId, "GW7K-222K-8")
        .with(Field::StatusUrl, "https://x.pl/s");
    assert_eq!(
        fill("{status_url}?id={intake_id}&{{x}}", &fields),
        "https://x.pl/s?id=GW7K-222K-8&{x}"
    );
}
