//! `urna label render` as a person runs it: a PNG whose QR code reads back exactly, and one-line
//! errors for unknown fields, missing values and broken templates.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

fn urna(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_urna"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_one_line_error(o: &Output, must_contain: &[&str]) {
    assert!(!o.status.success(), "should fail");
    let err = stderr(o);
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    assert!(err.starts_with("urna: error: "), "{err}");
    for part in must_contain {
        assert!(err.contains(part), "expected {part:?} in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

fn decode_qrs(png: &Path) -> Vec<String> {
    let image = image::open(png).unwrap().to_luma8();
    assert!(image.pixels().all(|p| p.0[0] == 0 || p.0[0] == 255));
    let mut prepared = rqrr::PreparedImage::prepare(image);
    prepared
        .detect_grids()
        .into_iter()
        .map(|g| g.decode().unwrap().1)
        .collect()
}

const PAYLOAD: &str = "URNA1:GW7K-222K-8:1763768771:34750F98BD59FCFC:FHLOV7JM2USOKRCYWANUWJFDIUK3JSX7V6EW7WIWXI7YFV2IXMDIZOTS5Q2QUDA5BH2Z3PKKLZKF7LOSDKJCQEB5KPRHSWMSSMAJ6BA";

#[test]
fn renders_a_receipt_whose_qr_reads_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("receipt.png");
    let o = urna(&[
        "label",
        "render",
        "--template",
        "receipt-58mm",
        "--field",
        "intake_id=GW7K-222K-8",
        "--field",
        "deposit_time=2025-11-22 00:46",
        "--field",
        "category=Skargi i wnioski / Complaints",
        "--field",
        "station_name=Urna przy wejściu głównym",
        "--field",
        "place=Urząd Miasta, ul. Żółkiewskiego 5, Łódź",
        "--field",
        &format!("receipt_payload={PAYLOAD}"),
        "--field",
        "status_url=https://urzad.example.pl/status?a=b",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.contains("384 ×") && said.contains("203 dpi"), "{said}");
    assert_eq!(decode_qrs(&out), vec![PAYLOAD.to_owned()]);
    let image = image::open(&out).unwrap().to_luma8();
    assert_eq!(image.width(), 384);
}

#[test]
fn renders_every_builtin_with_sample_values_and_a_template_file() {
    let dir = tempfile::tempdir().unwrap();
    let o = urna(&["label", "list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let list = String::from_utf8_lossy(&o.stdout).into_owned();
    for name in [
        "receipt-58mm",
        "zebra-100x150",
        "quarantine-bin",
        "zebra-2x1in",
    ] {
        assert!(list.contains(name), "{list}");
        let out = dir.path().join(format!("{name}.png"));
        let o = urna(&[
            "label",
            "render",
            "--template",
            name,
            "--sample",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        assert!(image::open(&out).is_ok());
    }
    // A path to a template file, with a field given over a sample one.
    let file = dir.path().join("ticket.toml");
    std::fs::write(
        &file,
        r#"
name = "ticket"
description = "test"
printer = "zpl"
dpi = 203
width_mm = 50.8
height_mm = 50.8
width_dots = 406
margins_mm = 2

[[element]]
kind = "qr"
data = "{bin}"
ec_level = "H"
module_dots = 6
"#,
    )
    .unwrap();
    let out = dir.path().join("ticket.png");
    let o = urna(&[
        "label",
        "render",
        "--template",
        file.to_str().unwrap(),
        "--sample",
        "--field",
        "bin=Pojemnik Ż-7",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(decode_qrs(&out), vec!["Pojemnik Ż-7".to_owned()]);
}

#[test]
fn bad_input_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.png");
    let out = out.to_str().unwrap();
    let render = |extra: &[&str]| {
        let mut args = vec!["label", "render", "--out", out];
        args.extend_from_slice(extra);
        urna(&args)
    };
    assert_one_line_error(
        &render(&[
            "--template",
            "receipt-58mm",
            "--sample",
            "--field",
            "colour=red",
        ]),
        &["unknown field `colour`", "intake_id"],
    );
    assert_one_line_error(
        &render(&[
            "--template",
            "receipt-58mm",
            "--sample",
            "--field",
            "intake_id",
        ]),
        &["key=value"],
    );
    assert_one_line_error(
        &render(&[
            "--template",
            "receipt-58mm",
            "--field",
            "intake_id=GW7K-222K-8",
        ]),
        &[
            "receipt-58mm needs values for",
            "receipt_payload",
            "--sample",
        ],
    );
    assert_one_line_error(
        &render(&["--template", "nope", "--sample"]),
        &["nope", "receipt-58mm"],
    );
    assert!(!Path::new(out).exists());

    let broken = dir.path().join("broken.toml");
    std::fs::write(
        &broken,
        r#"
name = "broken"
description = "test"
printer = "escpos"
dpi = 203
width_mm = 58
width_dots = 384
margins_mm = 1

[[element]]
kind = "text"
text = "Pojemnik {bin_number}"
size_pt = 9
"#,
    )
    .unwrap();
    assert_one_line_error(
        &render(&["--template", broken.to_str().unwrap(), "--sample"]),
        &[
            broken.to_str().unwrap(),
            "element 1 (text)",
            "unknown field {bin_number}",
        ],
    );
    // A broken file in a template folder refuses the folder, naming the file.
    assert_one_line_error(
        &render(&[
            "--template",
            "receipt-58mm",
            "--templates-dir",
            dir.path().to_str().unwrap(),
            "--sample",
        ]),
        &["broken.toml", "element 1 (text)"],
    );
}
