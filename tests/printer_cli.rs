//! `urna printer status` and `urna label print` against printers on the network: simulated
//! devices on loopback that speak ESC/POS, ZPL and Brother QL, reached through the station's
//! real link, transport and encoders, named in a real station.toml.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Output;

use station::devices::PrinterStatus;
use station::devices::sim_printer::SimPrinter;
use station::printer::brother_ql::BrotherQlEmulator;
use station::printer::escpos::EscPosEmulator;
use station::printer::zpl::ZplEmulator;

const PAYLOAD: &str =
    "URNA1:GWU2-2223-X:1763769600:0a1b2c3d:MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43UOV3HO6DZPI";

struct Printers {
    receipt: SimPrinter,
    zebra: SimPrinter,
    brother: SimPrinter,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

fn printers() -> Printers {
    let dir = tempfile::tempdir().unwrap();
    let receipt = SimPrinter::new(dir.path().join("receipt"), || {
        Box::new(EscPosEmulator::new())
    })
    .unwrap();
    let zebra = SimPrinter::new(dir.path().join("zebra"), || Box::new(ZplEmulator::new())).unwrap();
    let brother = SimPrinter::new(dir.path().join("brother"), || {
        Box::new(BrotherQlEmulator::new())
    })
    .unwrap();
    let [r, z, b] = [&receipt, &zebra, &brother].map(|p| p.serve_tcp().unwrap());
    let text = format!(
        r#"
station = "GWU2"
name = "Urna — wejście główne"
place = "Urząd Miejski"
role = "urn"
data_dir = "{data}"
key_file = "{data}/station.key"
registry_url = "http://127.0.0.1:9"
status_url = "http://127.0.0.1:9/status"
default_category = "inne"
hold_secs = 86400
drop_timeout_secs = 30

[[categories]]
id = "inne"
name_pl = "Inne sprawy"
name_en = "Other matters"
department = "Kancelaria ogólna"

[printers.receipt]
language = "escpos"
width_dots = 576
connection = {{ kind = "tcp", host = "{rh}", port = {rp} }}
timeouts = {{ status_ms = 500, reconnect_min_ms = 10, reconnect_max_ms = 50 }}

[printers.zebra]
language = "zpl"
connection = {{ kind = "tcp", host = "{zh}", port = {zp} }}

[printers.brother]
language = "brother_ql"
tape_mm = 62
connection = {{ kind = "tcp", host = "{bh}", port = {bp} }}

[labels]
printer = "receipt"
envelope = "envelope-80mm"
receipt = "receipt-80mm"
"#,
        data = dir.path().join("data").display(),
        rh = r.ip(),
        rp = r.port(),
        zh = z.ip(),
        zp = z.port(),
        bh = b.ip(),
        bp = b.port(),
    );
    let config = dir.path().join("station.toml");
    std::fs::write(&config, text).unwrap();
    Printers {
        receipt,
        zebra,
        brother,
        config,
        _dir: dir,
    }
}

fn urna(config: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_urna"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn printer_status_reads_each_language_and_fails_unless_it_can_print() {
    let p = printers();
    for name in ["receipt", "zebra", "brother"] {
        let out = urna(&p.config, &["printer", "status", name]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{name}: {stdout}{stderr}");
        assert!(
            stdout.contains("Drukarka gotowa / Printer ready"),
            "{name}: {stdout}"
        );
    }
    p.receipt.set_status(PrinterStatus::PaperOut);
    p.zebra.set_status(PrinterStatus::CoverOpen);
    p.brother.set_status(PrinterStatus::PaperOut);
    for (name, says) in [
        ("receipt", "Brak papieru"),
        ("zebra", "Otwarta pokrywa"),
        ("brother", "Brak papieru"),
    ] {
        let out = urna(&p.config, &["printer", "status", name]);
        let (stdout, stderr) = text(&out);
        assert!(!out.status.success(), "{name}: {stdout}");
        assert!(stdout.contains(says), "{name}: {stdout}");
        assert!(stderr.contains("cannot print now"), "{name}: {stderr}");
    }
    p.receipt.set_status(PrinterStatus::Offline);
    let out = urna(&p.config, &["printer", "status", "receipt"]);
    assert!(!out.status.success());
    assert!(text(&out).0.contains("Drukarka nie odpowiada"));
}

#[test]
fn label_print_sends_the_template_through_the_printers_language() {
    let p = printers();
    let jobs = [
        ("receipt", "receipt-80mm", "receipt", &p.receipt),
        ("zebra", "zebra-100x150", "envelope", &p.zebra),
        ("brother", "brother-ql-62mm", "envelope", &p.brother),
    ];
    for (printer, template, kind, device) in jobs {
        let payload = format!("--field=receipt_payload={PAYLOAD}");
        let out = urna(
            &p.config,
            &[
                "label",
                "print",
                "--printer",
                printer,
                "--template",
                template,
                "--sample",
                "--field",
                "intake_id=GWU2-2223-X",
                &payload,
                "--kind",
                kind,
            ],
        );
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{printer}: {stdout}{stderr}");
        assert!(stdout.contains("printed"), "{stdout}");
        let printed = device.printed();
        assert_eq!(printed.len(), 1, "{printer}: one page");
        if device.emulator_errors().is_empty() {
            // The page, decoded by the printer's emulator from the bytes urna sent.
            let has_qr = station::template::Template::builtin(template)
                .unwrap()
                .encodes(station::template::Field::ReceiptPayload);
            if has_qr {
                assert_eq!(printed[0].qr_text.as_deref(), Some(PAYLOAD), "{printer}");
            }
        } else {
            panic!("{printer}: {:?}", device.emulator_errors());
        }
    }
}

#[test]
fn a_failed_print_says_why_and_prints_nothing() {
    let p = printers();
    p.receipt.set_status(PrinterStatus::PaperOut);
    let out = urna(
        &p.config,
        &[
            "label",
            "print",
            "--printer",
            "receipt",
            "--template",
            "envelope-80mm",
            "--sample",
            "--field",
            "intake_id=GWU2-2223-X",
        ],
    );
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("did not print: Brak papieru"), "{stderr}");
    assert!(p.receipt.printed().is_empty());
}

#[test]
fn unknown_printers_and_templates_too_wide_for_the_head_are_refused() {
    let p = printers();
    let out = urna(&p.config, &["printer", "status", "lobby"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("names no printer \"lobby\" (it names: brother, receipt, zebra)"),
        "{stderr}"
    );
    // A Zebra 100 mm label is 800 dots: wider than an 80 mm receipt printer's 576.
    let out = urna(
        &p.config,
        &[
            "label",
            "print",
            "--printer",
            "receipt",
            "--template",
            "zebra-100x150",
            "--sample",
        ],
    );
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("did not print"), "{stderr}");
    assert!(p.receipt.printed().is_empty());
}
