//! Label templates: every shipped template loads and renders in pure black and white at its
//! printer's size, QR codes carry exactly the payload in whole-dot modules, Code128 carries the
//! id, every Polish letter prints, and a broken template is refused naming file, element and
//! reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use image::GrayImage;
use proptest::prelude::*;
use records::{IntakeId, ReceiptPayload, SigningKey};
use station::label::code128;
use station::template::{
    ElementKind, Field, Fields, RenderProblem, Template, TemplateError, Templates, builtin_names,
};

fn templates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../label-templates")
}

fn builtins() -> Vec<Template> {
    builtin_names()
        .map(|n| Template::builtin(n).unwrap())
        .collect()
}

fn intake() -> IntakeId {
    IntakeId::new("GW7K".parse().unwrap(), 17).unwrap()
}

fn payload() -> String {
    ReceiptPayload::sign(intake(), 1_763_768_771, &SigningKey::from_bytes(&[1; 32])).to_string()
}

fn fields() -> Fields {
    Fields::sample()
        .with(Field::IntakeId, intake().to_string())
        .with(Field::ReceiptPayload, payload())
}

fn decode_qrs(image: &GrayImage) -> Vec<String> {
    let mut prepared = rqrr::PreparedImage::prepare(image.clone());
    prepared
        .detect_grids()
        .into_iter()
        .map(|g| g.decode().expect("QR decodes").1)
        .collect()
}

fn dark(image: &GrayImage, x: u32, y: u32) -> bool {
    image.get_pixel(x, y).0[0] == 0
}

fn black_count(image: &GrayImage) -> usize {
    image.pixels().filter(|p| p.0[0] == 0).count()
}

fn assert_pure(image: &GrayImage) {
    for p in image.pixels() {
        assert!(p.0[0] == 0 || p.0[0] == 255, "grey pixel {}", p.0[0]);
    }
}

/// Writes `text` to `dir/name` and loads it.
fn load(dir: &Path, name: &str, text: &str) -> Result<Template, TemplateError> {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    Template::load(&path)
}

const HEADER_58: &str = r#"
name = "t"
description = "test"
printer = "escpos"
dpi = 203
width_mm = 58
width_dots = 384
margins_mm = 1
"#;

const HEADER_2X1: &str = r#"
name = "t"
description = "test"
printer = "zpl"
dpi = 203
width_mm = 50.8
height_mm = 25.4
width_dots = 406
margins_mm = 1.5
"#;

#[test]
fn the_shipped_files_are_the_builtin_templates() {
    let mut on_disk: Vec<String> = std::fs::read_dir(templates_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| p.file_stem().unwrap().to_str().unwrap().to_owned())
        .collect();
    on_disk.sort();
    let mut builtin: Vec<String> = builtin_names().map(str::to_owned).collect();
    builtin.sort();
    assert_eq!(on_disk, builtin);
    for name in builtin_names() {
        let from_disk = Template::load(&templates_dir().join(format!("{name}.toml"))).unwrap();
        let compiled = Template::builtin(name).unwrap();
        assert_eq!(from_disk.name(), compiled.name());
        assert_eq!(from_disk.render(&fields()), compiled.render(&fields()));
    }
    for required in [
        "envelope-58mm",
        "receipt-58mm",
        "envelope-80mm",
        "receipt-80mm",
        "brother-ql-62mm",
        "zebra-100x150",
        "zebra-2x1in",
        "quarantine-bin",
    ] {
        assert!(builtin_names().any(|n| n == required), "{required} missing");
    }
}

#[test]
fn shipped_templates_have_the_printers_sizes() {
    let size = |name: &str| {
        let t = Template::builtin(name).unwrap();
        (t.width_dots(), t.height_dots(), t.dpi())
    };
    assert_eq!(size("receipt-58mm"), (384, None, 203));
    assert_eq!(size("envelope-58mm"), (384, None, 203));
    assert_eq!(size("receipt-80mm"), (576, None, 203));
    assert_eq!(size("envelope-80mm"), (576, None, 203));
    assert_eq!(size("brother-ql-62mm"), (696, None, 300));
    assert_eq!(size("zebra-2x1in"), (406, Some(203), 203));
    // 150 mm at 203 dpi is 1198.8 dots.
    assert_eq!(size("zebra-100x150"), (799, Some(1199), 203));
    assert_eq!(size("quarantine-bin"), (799, Some(1199), 203));
}

#[test]
fn every_template_renders_pure_black_and_white_inside_its_margins() {
    for t in builtins() {
        let image = t.render(&fields()).unwrap_or_else(|e| panic!("{e}"));
        assert_pure(&image);
        assert_eq!(image.width(), t.width_dots(), "{}", t.name());
        if let Some(h) = t.height_dots() {
            assert_eq!(image.height(), h, "{}", t.name());
        }
        assert!(black_count(&image) > 1000, "{} is nearly blank", t.name());
        let m = t.margins();
        for (x, y, p) in image.enumerate_pixels() {
            let in_margin = x < m.left
                || x >= image.width() - m.right
                || y < m.top
                || y >= image.height() - m.bottom;
            assert!(
                !(in_margin && p.0[0] == 0),
                "{}: black in the margin at ({x}, {y})",
                t.name()
            );
        }
    }
}

#[test]
fn receipts_carry_what_the_resident_needs() {
    for name in ["receipt-58mm", "receipt-80mm"] {
        let t = Template::builtin(name).unwrap();
        let used = t.fields();
        for f in [
            Field::DepositTime,
            Field::IntakeId,
            Field::Category,
            Field::StationName,
            Field::Place,
            Field::ReceiptPayload,
            Field::StatusUrl,
        ] {
            assert!(used.contains(&f), "{name} lacks {{{f}}}");
        }
        assert!(t.encodes(Field::ReceiptPayload));
    }
    let bin = Template::builtin("quarantine-bin").unwrap().fields();
    for f in [Field::HoldUntilDate, Field::HoldUntilTime, Field::Bin] {
        assert!(bin.contains(&f), "quarantine-bin lacks {{{f}}}");
    }
}

#[test]
fn qr_codes_carry_exactly_the_payload() {
    let mut altered = payload().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(altered).unwrap();
    let mut checked = 0;
    for t in builtins() {
        if !t.encodes(Field::ReceiptPayload) {
            continue;
        }
        for p in [payload(), altered.clone()] {
            let image = t
                .render(&fields().with(Field::ReceiptPayload, p.clone()))
                .unwrap();
            assert_eq!(decode_qrs(&image), vec![p], "{}", t.name());
        }
        checked += 1;
    }
    assert!(checked >= 3, "receipts at both widths and the Zebra label");
}

/// The module size of the one QR code in `image`, measured on its top-left finder pattern.
fn qr_module(image: &GrayImage) -> u32 {
    let mut prepared = rqrr::PreparedImage::prepare(image.clone());
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1);
    let (meta, _) = grids[0].decode().unwrap();
    let modules = meta.version.to_size() as u32;
    let (bx, by) = (
        grids[0].bounds[0].x.max(0) as u32,
        grids[0].bounds[0].y.max(0) as u32,
    );
    let (x0, y0) = (by.saturating_sub(20)..by + 20)
        .flat_map(|y| (bx.saturating_sub(20)..bx + 20).map(move |x| (x, y)))
        .find(|&(x, y)| dark(image, x, y))
        .unwrap();
    // The finder's top edge is 7 modules of dark, its left edge the same.
    let edge = (x0..image.width())
        .take_while(|&x| dark(image, x, y0))
        .count() as u32;
    let side = (y0..image.height())
        .take_while(|&y| dark(image, x0, y))
        .count() as u32;
    assert_eq!(edge, side);
    assert_eq!(
        edge % 7,
        0,
        "finder edge {edge} dots is not 7 whole modules"
    );
    let module = edge / 7;
    // The code ends exactly `modules` whole modules on, with a 4-module quiet zone around it.
    assert!(dark(image, x0 + modules * module - 1, y0));
    assert!(!dark(image, x0 + modules * module, y0));
    assert!((x0 - 4 * module..x0).all(|x| !dark(image, x, y0)));
    assert!((y0 - 4 * module..y0).all(|y| !dark(image, x0, y)));
    module
}

#[test]
fn qr_modules_are_whole_dots() {
    for t in builtins() {
        if !t.encodes(Field::ReceiptPayload) {
            continue;
        }
        let module = qr_module(&t.render(&fields()).unwrap());
        assert!(module >= 3, "{}: module {module} dots", t.name());
    }
    // An exact module size is kept exactly.
    let dir = tempfile::tempdir().unwrap();
    for m in [1, 2, 5] {
        let t = load(
            dir.path(),
            "t.toml",
            &format!(
                "{HEADER_58}\n[[element]]\nkind = \"qr\"\ndata = \"{{receipt_payload}}\"\nmodule_dots = {m}\nec_level = \"H\"\n"
            ),
        )
        .unwrap();
        let image = t.render(&fields()).unwrap();
        assert_pure(&image);
        assert_eq!(qr_module(&image), m);
        assert_eq!(decode_qrs(&image), vec![payload()]);
    }
}

/// Lengths of alternating runs in a row, starting with white.
fn runs(image: &GrayImage, y: u32) -> Vec<u32> {
    let mut runs = vec![0u32];
    let mut black = false;
    for x in 0..image.width() {
        let is_black = dark(image, x, y);
        if is_black != black {
            runs.push(0);
            black = is_black;
        }
        *runs.last_mut().unwrap() += 1;
    }
    runs
}

fn has_barcode(image: &GrayImage, text: &str) -> bool {
    let widths: Vec<u32> = code128::widths(text)
        .unwrap()
        .into_iter()
        .map(u32::from)
        .collect();
    (0..image.height()).any(|y| {
        let r = runs(image, y);
        r.len() == widths.len() + 2
            && (1..=6).any(|m| {
                r[0] >= 10 * m
                    && r[r.len() - 1] >= 10 * m
                    && r[1..r.len() - 1]
                        .iter()
                        .zip(&widths)
                        .all(|(&a, &w)| a == w * m)
            })
    })
}

#[test]
fn envelope_labels_carry_the_id_as_code128() {
    let id = intake().to_string();
    for name in [
        "envelope-58mm",
        "envelope-80mm",
        "brother-ql-62mm",
        "zebra-2x1in",
        "zebra-100x150",
    ] {
        let t = Template::builtin(name).unwrap();
        assert!(t.encodes(Field::IntakeId), "{name}");
        let image = t.render(&fields()).unwrap();
        assert!(
            has_barcode(&image, &id),
            "{name}: no row is the id's barcode"
        );
    }
    // The longest id there can be still fits the smallest label.
    let longest = IntakeId::new(
        "GW7K".parse().unwrap(),
        records::intake_id::MAX_INTAKE_NUMBER,
    )
    .unwrap()
    .to_string();
    let t = Template::builtin("zebra-2x1in").unwrap();
    let image = t
        .render(&fields().with(Field::IntakeId, longest.clone()))
        .unwrap();
    assert!(has_barcode(&image, &longest));
}

#[test]
fn every_polish_letter_prints_unlike_its_base_letter() {
    let polish = "ąćęłńóśźżĄĆĘŁŃÓŚŹŻ";
    let base = "acelnoszzACELNOSZZ";
    let dir = tempfile::tempdir().unwrap();
    for (size, bold) in [(7.5, false), (10.0, true), (40.0, true)] {
        let t = load(
            dir.path(),
            "t.toml",
            &format!(
                "{HEADER_58}\n[[element]]\nkind = \"text\"\ntext = \"{{category}}\"\nsize_pt = {size}\nbold = {bold}\n"
            ),
        )
        .unwrap();
        let render = |c: char| {
            t.render(&Fields::new().with(Field::Category, c.to_string()))
                .unwrap()
        };
        for (p, b) in polish.chars().zip(base.chars()) {
            let (pi, bi) = (render(p), render(b));
            assert_pure(&pi);
            assert!(black_count(&pi) > 10, "{p} prints almost nothing");
            assert_ne!(pi, bi, "{p} prints like {b}");
            assert!(
                black_count(&pi) > black_count(&bi),
                "{p} has no more ink than {b}"
            );
        }
    }
    // Literal Polish text in a template is accepted (the font has every letter) …
    let t = load(
        dir.path(),
        "t.toml",
        &format!("{HEADER_58}\n[[element]]\nkind = \"text\"\ntext = \"{polish}\"\nsize_pt = 9\n"),
    );
    assert!(t.is_ok(), "{t:?}");
    // … and every shipped template prints them in its fields.
    let polish_fields = Field::ALL.iter().fold(fields(), |f, &field| match field {
        Field::IntakeId | Field::ReceiptPayload => f,
        _ => f.with(field, polish),
    });
    for t in builtins() {
        let image = t.render(&polish_fields).unwrap_or_else(|e| panic!("{e}"));
        assert_pure(&image);
    }
}

#[test]
fn a_character_the_font_lacks_is_refused_in_a_template_and_replaced_in_a_value() {
    let dir = tempfile::tempdir().unwrap();
    let e = load(
        dir.path(),
        "t.toml",
        &format!("{HEADER_58}\n[[element]]\nkind = \"text\"\ntext = \"a\u{e000}b\"\nsize_pt = 9\n"),
    )
    .unwrap_err();
    assert_eq!(e.element, Some((1, "text".to_owned())));
    assert!(e.reason.contains("U+E000"), "{e}");
    let t = Template::builtin("receipt-58mm").unwrap();
    let image = t
        .render(&fields().with(Field::Category, "Skarga \u{e000}\u{1f600}\n\u{7}"))
        .unwrap();
    assert_pure(&image);
}

/// A broken template and what its error must say besides the file's name.
struct Broken {
    what: &'static str,
    text: String,
    element: Option<(usize, &'static str)>,
    reason: &'static str,
}

fn text_element(extra: &str) -> String {
    format!("\n[[element]]\nkind = \"text\"\ntext = \"Podatki\"\nsize_pt = 9\n{extra}\n")
}

fn broken_templates() -> Vec<Broken> {
    let qr = |extra: &str| {
        format!("\n[[element]]\nkind = \"qr\"\ndata = \"{{receipt_payload}}\"\n{extra}\n")
    };
    vec![
        Broken {
            what: "unknown key in an element",
            text: format!(
                "{HEADER_58}{}{}",
                text_element(""),
                text_element("colour = \"red\"")
            ),
            element: Some((2, "text")),
            reason: "unknown field `colour`",
        },
        Broken {
            what: "unknown key in the header",
            text: format!("{HEADER_58}paper = \"thermal\"\n{}", text_element("")),
            element: None,
            reason: "unknown field `paper`",
        },
        Broken {
            what: "unknown field",
            text: format!(
                "{HEADER_58}{}\n[[element]]\nkind = \"text\"\ntext = \"Nr {{intake_number}}\"\nsize_pt = 9\n",
                text_element("")
            ),
            element: Some((2, "text")),
            reason: "unknown field {intake_number}",
        },
        Broken {
            what: "module_dots = 0",
            text: format!("{HEADER_58}{}{}", text_element(""), qr("module_dots = 0")),
            element: Some((2, "qr")),
            reason: "module_dots must be at least 1",
        },
        Broken {
            what: "negative size",
            text: format!(
                "{HEADER_58}{}",
                text_element("").replace("size_pt = 9", "size_pt = -9")
            ),
            element: Some((1, "text")),
            reason: "size_pt must be between",
        },
        Broken {
            what: "negative label width",
            text: HEADER_58.replace("width_mm = 58", "width_mm = -58"),
            element: None,
            reason: "width_mm must be more than 0",
        },
        Broken {
            what: "negative code height",
            text: format!(
                "{HEADER_58}\n[[element]]\nkind = \"code128\"\ndata = \"{{intake_id}}\"\nheight_mm = -5\n"
            ),
            element: Some((1, "code128")),
            reason: "height_mm must be more than 0",
        },
        Broken {
            what: "text too wide for a fixed label",
            text: format!(
                "{HEADER_2X1}\n[[element]]\nkind = \"text\"\ntext = \"Nie otwierać przed końcem kwarantanny\"\nsize_pt = 12\nwrap = false\n"
            ),
            element: Some((1, "text")),
            reason: "does not fit",
        },
        Broken {
            what: "a letter wider than the label",
            text: format!(
                "{HEADER_2X1}\n[[element]]\nkind = \"text\"\ntext = \"W\"\nsize_pt = 200\n"
            ),
            element: Some((1, "text")),
            reason: "wider than the",
        },
        Broken {
            what: "content taller than a fixed label",
            text: format!(
                "{HEADER_2X1}{}{}{}",
                text_element("size_pt = 24").replace("size_pt = 9\n", ""),
                text_element("size_pt = 24").replace("size_pt = 9\n", ""),
                text_element("size_pt = 24").replace("size_pt = 9\n", "")
            ),
            element: Some((3, "text")),
            reason: "below the label's bottom margin",
        },
        Broken {
            what: "a growing text on a fixed label without max_lines",
            text: format!(
                "{HEADER_2X1}\n[[element]]\nkind = \"text\"\ntext = \"{{category}}\"\nsize_pt = 8\n"
            ),
            element: Some((1, "text")),
            reason: "needs max_lines",
        },
        Broken {
            what: "an element placed past the label's edge",
            text: format!("{HEADER_2X1}{}", text_element("x_mm = 40\nwidth_mm = 20")),
            element: Some((1, "text")),
            reason: "does not fit the label's 406 dots",
        },
        Broken {
            what: "a QR code that cannot fit at its smallest modules",
            text: format!(
                "{HEADER_2X1}{}",
                qr("min_module_dots = 16\nmax_module_dots = 20")
            ),
            element: Some((1, "qr")),
            reason: "does not fit",
        },
        Broken {
            what: "bad TOML syntax",
            text: format!("{HEADER_58}\n[[element]]\nkind = \"text\ntext = \"x\"\n"),
            element: None,
            reason: "line 11",
        },
        Broken {
            what: "unknown kind",
            text: format!("{HEADER_58}\n[[element]]\nkind = \"circle\"\n"),
            element: Some((1, "circle")),
            reason: "unknown kind",
        },
        Broken {
            what: "a box around more elements than follow",
            text: format!(
                "{HEADER_58}\n[[element]]\nkind = \"box\"\naround = 3\n{}",
                text_element("")
            ),
            element: Some((1, "box")),
            reason: "only 1 element(s) follow",
        },
        Broken {
            what: "a literal that is not Code128",
            text: format!(
                "{HEADER_58}\n[[element]]\nkind = \"code128\"\ndata = \"Łódź {{intake_id}}\"\nheight_mm = 5\n"
            ),
            element: Some((1, "code128")),
            reason: "cannot be written in Code128",
        },
        Broken {
            what: "an unclosed brace",
            text: format!(
                "{HEADER_58}\n[[element]]\nkind = \"text\"\ntext = \"{{intake_id\"\nsize_pt = 9\n"
            ),
            element: Some((1, "text")),
            reason: "no closing",
        },
        Broken {
            what: "margins wider than the label",
            text: HEADER_58.replace("margins_mm = 1", "margins_mm = 30"),
            element: None,
            reason: "leave no room",
        },
        Broken {
            what: "width in dots wider than the paper",
            text: HEADER_58.replace("width_dots = 384", "width_dots = 9000"),
            element: None,
            reason: "width_dots must be between 1 and the paper's",
        },
    ]
}

#[test]
fn broken_templates_are_refused_naming_file_element_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    for b in broken_templates() {
        let path = dir.path().join("t.toml");
        let e = load(dir.path(), "t.toml", &b.text)
            .err()
            .unwrap_or_else(|| panic!("{}: accepted", b.what));
        let shown = e.to_string();
        assert_eq!(e.file, path.display().to_string(), "{}", b.what);
        assert!(
            shown.starts_with(&format!("{}: ", path.display())),
            "{shown}"
        );
        assert_eq!(
            e.element,
            b.element.map(|(i, k)| (i, k.to_owned())),
            "{}: {shown}",
            b.what
        );
        if let Some((i, k)) = b.element {
            assert!(shown.contains(&format!(": element {i} ({k}): ")), "{shown}");
        }
        assert!(
            e.reason.contains(b.reason),
            "{}: expected {:?} in {shown}",
            b.what,
            b.reason
        );
        assert_eq!(shown.lines().count(), 1, "{shown}");
    }
}

#[test]
fn the_name_must_match_the_file_and_a_broken_file_refuses_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{HEADER_58}{}", text_element(""));
    let e = load(dir.path(), "other.toml", &text).unwrap_err();
    assert!(e.reason.contains("does not match the file name"), "{e}");
    std::fs::remove_file(dir.path().join("other.toml")).unwrap();

    // A good file adds to the built-in templates, and one of the same name replaces it.
    std::fs::write(dir.path().join("t.toml"), &text).unwrap();
    std::fs::write(
        dir.path().join("receipt-58mm.toml"),
        text.replace("name = \"t\"", "name = \"receipt-58mm\""),
    )
    .unwrap();
    let set = Templates::with_dir(dir.path()).unwrap();
    assert!(set.get("t").is_some());
    assert!(set.get("envelope-80mm").is_some());
    assert!(
        !set.get("receipt-58mm")
            .unwrap()
            .encodes(Field::ReceiptPayload)
    );

    let broken = dir.path().join("zz-broken.toml");
    std::fs::write(
        &broken,
        format!("{text}\n[[element]]\nkind = \"gap\"\nheight_mm = 0\n"),
    )
    .unwrap();
    let e = Templates::with_dir(dir.path()).unwrap_err();
    assert_eq!(e.file, broken.display().to_string());
    assert_eq!(e.element, Some((2, "gap".to_owned())));
    assert!(Templates::with_dir(&dir.path().join("absent")).is_err());
}

#[test]
fn content_that_outgrows_a_fixed_label_is_an_error_naming_the_element() {
    let dir = tempfile::tempdir().unwrap();
    // A short QR code fits; the receipt's longer payload needs more modules than the label has rows.
    let t = load(
        dir.path(),
        "t.toml",
        r#"
name = "t"
description = "test"
printer = "zpl"
dpi = 203
width_mm = 100
height_mm = 15
margins_mm = 0

[[element]]
kind = "text"
text = "Kopia"
size_pt = 6

[[element]]
kind = "qr"
data = "{receipt_payload}"
module_dots = 3
"#,
    )
    .unwrap();
    assert!(t.render(&fields().with(Field::ReceiptPayload, "X")).is_ok());
    let Err(e) = t.render(&fields()) else {
        panic!("a QR code taller than the label was rendered")
    };
    assert_eq!(e.element, Some((2, ElementKind::Qr)));
    assert!(matches!(e.problem, RenderProblem::Overflow { by_dots } if by_dots > 0));
    assert!(e.to_string().starts_with("t: element 2 (qr): "), "{e}");
}

#[test]
fn a_missing_value_is_an_error_naming_the_field_and_element() {
    let t = Template::builtin("receipt-58mm").unwrap();
    let mut partial = fields();
    partial = partial
        .iter()
        .filter(|(f, _)| *f != Field::Place)
        .map(|(f, v)| (f, v.to_owned()))
        .collect();
    let Err(e) = t.render(&partial) else {
        panic!("rendered without {{place}}")
    };
    assert_eq!(e.problem, RenderProblem::MissingField(Field::Place));
    assert_eq!(e.element.map(|(_, k)| k), Some(ElementKind::Text));
    assert!(e.to_string().contains("{place}"), "{e}");
    // An empty value is a value.
    assert!(t.render(&fields().with(Field::Place, "")).is_ok());
}

#[test]
fn long_values_shrink_wrap_or_end_with_an_ellipsis() {
    let long = "Podatki i opłaty lokalne, w tym podatek od nieruchomości, środków transportowych \
                oraz opłata za gospodarowanie odpadami komunalnymi";
    let dir = tempfile::tempdir().unwrap();
    let one_line = |extra: &str| {
        load(
            dir.path(),
            "t.toml",
            &format!(
                "{HEADER_58}\n[[element]]\nkind = \"text\"\ntext = \"{{category}}\"\nsize_pt = 9\n{extra}\n"
            ),
        )
        .unwrap()
    };
    let height = |t: &Template, v: &str| {
        t.render(&Fields::new().with(Field::Category, v))
            .unwrap()
            .height()
    };
    let wrapped = one_line("");
    let capped = one_line("max_lines = 2");
    let cut = one_line("wrap = false");
    let short = height(&wrapped, "Podatki");
    assert!(height(&wrapped, long) > 3 * (short - 16));
    assert_eq!(height(&cut, long), short);
    let two = height(&capped, long);
    assert!(two > short && two < 2 * short, "{two} vs {short}");
    // The cut line ends in "…": the two renderings differ only at its end.
    let image = cut
        .render(&Fields::new().with(Field::Category, long))
        .unwrap();
    let right_half_ink = image
        .enumerate_pixels()
        .filter(|(x, _, p)| *x > 300 && p.0[0] == 0)
        .count();
    assert!(right_half_ink > 0);
    // A large id shrinks to one line on the small label instead of wrapping.
    let t = Template::builtin("zebra-2x1in").unwrap();
    assert!(
        t.render(&fields().with(Field::IntakeId, "GW7K-ZZZZZZZZZ-8"))
            .is_ok()
    );
}

#[test]
fn placed_elements_and_boxes_go_where_they_are_told() {
    let dir = tempfile::tempdir().unwrap();
    let t = load(
        dir.path(),
        "t.toml",
        &format!(
            r#"{HEADER_2X1}
[[element]]
kind = "box"
x_mm = 2
y_mm = 2
width_mm = 20
height_mm = 10
thickness_dots = 3

[[element]]
kind = "text"
text = "X"
size_pt = 10
x_mm = 30
y_mm = 12

[[element]]
kind = "box"
around = 1
thickness_dots = 2
padding_mm = 1

[[element]]
kind = "line"
thickness_dots = 4
"#
        ),
    )
    .unwrap();
    let image = t.render(&Fields::new()).unwrap();
    assert_pure(&image);
    let d = |mm: f32| (mm * 203.0 / 25.4).round() as u32;
    // The placed box's corners and its empty middle.
    assert!(dark(&image, d(2.0), d(2.0)));
    assert!(dark(&image, d(22.0) - 1, d(12.0) - 1));
    assert!(!dark(&image, d(12.0), d(7.0)));
    // The placed text is right of 30 mm, on its line below 12 mm …
    let line = (d(12.0)..d(12.0) + 20).collect::<Vec<_>>();
    let ink: Vec<u32> = image
        .enumerate_pixels()
        .filter(|(x, y, p)| p.0[0] == 0 && *x > d(23.0) && line.contains(y))
        .map(|(x, _, _)| x)
        .collect();
    assert!(!ink.is_empty());
    assert!(ink.iter().all(|&x| x >= d(30.0)), "{ink:?}");
    // … and the flow goes on below it: the box drawn around the line starts under the text.
    let box_top = (0..image.height())
        .find(|&y| (d(1.5)..406 - d(1.5)).all(|x| dark(&image, x, y)))
        .unwrap();
    assert!(box_top >= d(12.0) + 20, "box at row {box_top}");
}

#[test]
fn fields_from_the_fixed_layouts_fill_the_templates() {
    use station::label::{EnvelopeLabel, Receipt, standard_next_steps};
    let receipt = Receipt {
        intake: intake(),
        station_name: "Urna przy wejściu głównym".into(),
        place: "Urząd Miasta, ul. Żółkiewskiego 5, Łódź".into(),
        deposited_at: "2025-11-22 00:46".into(),
        category: "Podatki".into(),
        payload: payload(),
        status_url: "https://urzad.example.pl/status".into(),
        next_steps: standard_next_steps(),
    };
    let envelope = EnvelopeLabel {
        intake: intake(),
        category: "Podatki".into(),
        station_name: "Urna".into(),
        deposited_at: "2025-11-22 00:46".into(),
    };
    let image = Template::builtin("receipt-58mm")
        .unwrap()
        .render(&Fields::for_receipt(&receipt))
        .unwrap();
    assert_eq!(decode_qrs(&image), vec![payload()]);
    let image = Template::builtin("envelope-58mm")
        .unwrap()
        .render(&Fields::for_envelope(&envelope))
        .unwrap();
    assert!(has_barcode(&image, &intake().to_string()));
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9ąćęłńóśźżĄĆĘŁŃÓŚŹŻ /.,:-]{0,40}",
        "[a-zA-ZąćęłńóśźżĄĆĘŁŃÓŚŹŻ ]{100,400}",
        "[A-Za-z0-9]{1,300}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_values_never_panic_and_print_only_black_and_white(
        values in proptest::collection::vec(value(), Field::ALL.len())
    ) {
        let fields: Fields = Field::ALL.iter().copied().zip(values).collect();
        for t in builtins() {
            if let Ok(image) = t.render(&fields) {
                prop_assert_eq!(image.width(), t.width_dots());
                if let Some(h) = t.height_dots() {
                    prop_assert_eq!(image.height(), h);
                }
                prop_assert!(image.pixels().all(|p| p.0[0] == 0 || p.0[0] == 255));
            }
        }
    }
}
