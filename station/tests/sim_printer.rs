//! The simulated printer: PNGs newest first, faults that print nothing, numbering kept across a
//! restart, and no file served that it did not print.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;

use image::{GrayImage, Luma};
use records::{IntakeId, LabelKind};
use station::devices::sim_printer::{PrintedLabel, SimPrinter};
use station::devices::{PrintJob, Printer, PrinterStatus};

fn intake(n: u64) -> IntakeId {
    IntakeId::new("GW7K".parse().unwrap(), n).unwrap()
}

fn job(n: u64, label: LabelKind) -> PrintJob {
    // A pattern that differs per intake, so a mixed-up file would show.
    let image = GrayImage::from_fn(384, 50 + n as u32, |x, y| {
        Luma([if (x + y * n as u32) % 7 < 3 { 0 } else { 255 }])
    });
    PrintJob {
        label,
        intake: intake(n),
        image,
        qr_text: (label == LabelKind::Receipt).then(|| format!("URNA1:{}", intake(n))),
    }
}

fn files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".png"))
        .collect();
    names.sort();
    names
}

#[test]
fn is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<SimPrinter>();
}

#[test]
fn prints_newest_first_as_pngs_with_the_same_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let printer = SimPrinter::new(dir.path().join("labels")).unwrap();
    assert_eq!(printer.status(), PrinterStatus::Ready);
    assert!(printer.printed().is_empty());
    let jobs = [
        job(17, LabelKind::Envelope),
        job(17, LabelKind::Receipt),
        job(18, LabelKind::Envelope),
    ];
    for j in &jobs {
        printer.print(j).unwrap();
    }
    let printed = printer.printed();
    let numbers: Vec<u64> = printed.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [3, 2, 1]);
    assert_eq!(
        printed[1].file,
        format!("000002-{}-receipt.png", intake(17))
    );
    for (p, j) in printed.iter().zip(jobs.iter().rev()) {
        assert_eq!((p.label, p.intake), (j.label, j.intake));
        assert!(p.printed_ms > 1_700_000_000_000);
        let path = printer.png_path(&p.file).unwrap();
        assert_eq!(image::open(&path).unwrap().to_luma8(), j.image);
    }
    let json = serde_json::to_value(&printed[2]).unwrap();
    assert_eq!(json["number"], 1);
    assert_eq!(json["label"], "envelope");
    assert_eq!(json["intake"], intake(17).to_string());
    assert_eq!(json["file"], printed[2].file);
}

#[test]
fn each_fault_refuses_and_writes_nothing_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let printer = SimPrinter::new(dir.path().to_path_buf()).unwrap();
    printer.print(&job(1, LabelKind::Receipt)).unwrap();
    for fault in [
        PrinterStatus::PaperOut,
        PrinterStatus::CoverOpen,
        PrinterStatus::Offline,
    ] {
        let before = files(dir.path());
        printer.set_status(fault);
        assert_eq!(printer.status(), fault);
        assert_eq!(printer.print(&job(2, LabelKind::Receipt)), Err(fault));
        assert_eq!(files(dir.path()), before);
        assert_eq!(printer.printed().len(), before.len());
        printer.set_status(PrinterStatus::Ready);
        assert_eq!(printer.status(), PrinterStatus::Ready);
        printer.print(&job(2, LabelKind::Receipt)).unwrap();
        assert_eq!(files(dir.path()).len(), before.len() + 1);
    }
    let numbers: Vec<u64> = printer.printed().iter().map(|p| p.number).collect();
    assert_eq!(numbers, [4, 3, 2, 1]);
}

#[test]
fn restart_keeps_numbering_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let first: Vec<PrintedLabel> = {
        let printer = SimPrinter::new(dir.path().to_path_buf()).unwrap();
        printer.print(&job(5, LabelKind::Envelope)).unwrap();
        printer.print(&job(5, LabelKind::Receipt)).unwrap();
        printer.print(&job(6, LabelKind::Bin)).unwrap();
        printer.printed()
    };
    // Files that are not labels are left alone and not listed.
    fs::write(dir.path().join("notes.txt"), "x").unwrap();
    fs::write(dir.path().join("000009-NOT-AN-ID-receipt.png"), "x").unwrap();
    fs::write(dir.path().join("12-GW7K-2222-2-poster.png"), "x").unwrap();

    let printer = SimPrinter::new(dir.path().to_path_buf()).unwrap();
    let again = printer.printed();
    let key = |p: &PrintedLabel| {
        (
            p.number,
            p.label,
            p.intake,
            p.file.clone(),
            p.qr_text.clone(),
        )
    };
    assert_eq!(
        again.iter().map(key).collect::<Vec<_>>(),
        first.iter().map(key).collect::<Vec<_>>()
    );
    assert!(printer.png_path(&first[0].file).is_some());
    // The receipt's QR text came back from its file; labels without a QR have none.
    assert_eq!(again[1].qr_text, Some(format!("URNA1:{}", intake(5))));
    assert_eq!(again[0].qr_text, None);
    printer.print(&job(7, LabelKind::Receipt)).unwrap();
    let newest = &printer.printed()[0];
    assert_eq!((newest.number, newest.intake), (4, intake(7)));
    assert!(newest.file.starts_with("000004-"));
}

#[test]
fn png_path_serves_only_what_it_printed() {
    let dir = tempfile::tempdir().unwrap();
    let labels = dir.path().join("labels");
    let printer = SimPrinter::new(labels.clone()).unwrap();
    printer.print(&job(3, LabelKind::Receipt)).unwrap();
    fs::write(dir.path().join("x"), "secret").unwrap();
    fs::write(labels.join("other.png"), "x").unwrap();
    let file = printer.printed()[0].file.clone();
    assert_eq!(printer.png_path(&file), Some(labels.join(&file)));
    for bad in [
        "../x",
        "x",
        "",
        ".",
        "..",
        "other.png",
        "/etc/passwd",
        "000002-GW7K-2225-5-receipt.png",
        &format!("./{file}"),
        &format!("../labels/{file}"),
    ] {
        assert_eq!(printer.png_path(bad), None, "{bad:?}");
    }
}
