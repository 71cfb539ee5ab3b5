//! The simulated printer as a device: the station's real [`LanguagePrinter`], transport and
//! encoder on one side, the language's emulator on the other, over TCP on loopback or a real
//! pseudo-terminal. Pages come out as PNGs with the pixels sent; faults before a job refuse it
//! and print nothing; faults in the middle of one fail it and lose the page; unplugging and
//! replugging is survived; numbering carries over a restart; no file is served that it did not
//! print.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use image::{GrayImage, Luma};
use records::{IntakeId, LabelKind};
use station::devices::sim_printer::{PrintedLabel, SimLink, SimPrinter};
use station::devices::{PrintJob, Printer, PrinterErrorKind, PrinterStatus};
use station::label::{self, LabelSize};
use station::printer::brother_ql::{BrotherQl, BrotherQlEmulator, QlConfig};
use station::printer::escpos::{EscPos, EscPosEmulator};
use station::printer::link::{LanguagePrinter, LinkTimeouts, READY_ANSWER_STANDS};
use station::printer::transport::{FlowControl, Parity, PrinterConnection};
use station::printer::zpl::{Zpl, ZplEmulator};
use station::printer::{Emulator, Language};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    EscPos,
    Zpl,
    BrotherQl,
}

const ALL: [Lang; 3] = [Lang::EscPos, Lang::Zpl, Lang::BrotherQl];

impl Lang {
    fn language(self) -> Box<dyn Language> {
        match self {
            Lang::EscPos => Box::new(EscPos::new(EscPos::WIDTH_58MM)),
            Lang::Zpl => Box::new(Zpl::new(Zpl::WIDTH_4IN_203DPI)),
            Lang::BrotherQl => Box::new(BrotherQl::new(QlConfig::default()).unwrap()),
        }
    }

    fn emulator(self) -> Box<dyn Emulator> {
        match self {
            Lang::EscPos => Box::new(EscPosEmulator::new()),
            Lang::Zpl => Box::new(ZplEmulator::new()),
            Lang::BrotherQl => Box::new(BrotherQlEmulator::new()),
        }
    }

    /// The page width the printer prints whole.
    fn width(self) -> u32 {
        match self {
            Lang::EscPos => EscPos::WIDTH_58MM,
            Lang::Zpl => Zpl::WIDTH_4IN_203DPI,
            Lang::BrotherQl => 696,
        }
    }
}

fn timeouts() -> LinkTimeouts {
    LinkTimeouts {
        connect_ms: 1_000,
        write_ms: 1_000,
        status_ms: 500,
        confirm_ms: 2_000,
        drain_quiet_ms: 10,
        reconnect_min_ms: 20,
        reconnect_max_ms: 100,
    }
}

fn intake(n: u64) -> IntakeId {
    IntakeId::new("GW7K".parse().unwrap(), n).unwrap()
}

/// A pattern that differs per intake, so a mixed-up page would show.
fn pattern(width: u32, n: u64) -> GrayImage {
    GrayImage::from_fn(width, 60 + n as u32, |x, y| {
        Luma([if (x + y * n as u32) % 7 < 3 { 0 } else { 255 }])
    })
}

fn job(lang: Lang, n: u64, label: LabelKind) -> PrintJob {
    PrintJob {
        label,
        intake: intake(n),
        image: pattern(lang.width(), n),
        qr_text: None,
    }
}

/// The real thing for ESC/POS: a rendered receipt with its QR code, or an envelope label.
fn rendered(n: u64, label: LabelKind) -> PrintJob {
    let payload = format!("URNA1:{}:signature-{n}", intake(n));
    let image = match label {
        LabelKind::Receipt => label::render_receipt(
            &label::Receipt {
                intake: intake(n),
                station_name: "Urna przy wejściu".into(),
                place: "Urząd Miasta, ul. Główna 1".into(),
                deposited_at: "2025-03-04 10:15".into(),
                category: "Podatki / Taxes".into(),
                payload: payload.clone(),
                status_url: "https://urzad.example/status".into(),
                next_steps: label::standard_next_steps(),
            },
            LabelSize::PAPER_58MM,
        ),
        _ => label::render_envelope_label(
            &label::EnvelopeLabel {
                intake: intake(n),
                category: "Podatki / Taxes".into(),
                station_name: "Urna przy wejściu".into(),
                deposited_at: "2025-03-04 10:15".into(),
            },
            LabelSize::PAPER_58MM,
        ),
    };
    PrintJob {
        label,
        intake: intake(n),
        image,
        qr_text: (label == LabelKind::Receipt).then_some(payload),
    }
}

struct Rig {
    dir: tempfile::TempDir,
    device: Arc<SimPrinter>,
    printer: SimLink,
}

fn rig(lang: Lang) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let device =
        Arc::new(SimPrinter::new(dir.path().join("labels"), move || lang.emulator()).unwrap());
    let printer = device.station_printer(lang.language(), timeouts()).unwrap();
    Rig {
        dir,
        device,
        printer,
    }
}

impl Rig {
    fn labels(&self) -> std::path::PathBuf {
        self.dir.path().join("labels")
    }

    fn pngs(&self) -> Vec<String> {
        pngs(&self.labels())
    }

    fn assert_clean(&self) {
        assert_eq!(self.device.emulator_errors(), []);
        assert_eq!(self.device.stats().dropped_pages, 0);
    }
}

fn pngs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".png"))
        .collect();
    names.sort();
    names
}

/// Waits until `printer` reports `status` (a reconnect waits out the link's pause).
fn settle(printer: &dyn Printer, status: PrinterStatus) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = printer.status();
        if now == status {
            return;
        }
        assert!(Instant::now() < deadline, "still {now:?}, not {status:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<SimPrinter>();
    check::<SimLink>();
    check::<LanguagePrinter>();
}

#[test]
fn escpos_receipts_and_labels_come_out_as_sent() {
    let rig = rig(Lang::EscPos);
    assert_eq!(rig.device.status(), PrinterStatus::Ready);
    assert_eq!(rig.printer.status(), PrinterStatus::Ready);
    assert!(rig.device.printed().is_empty());
    let jobs = [
        rendered(17, LabelKind::Envelope),
        rendered(17, LabelKind::Receipt),
        rendered(18, LabelKind::Envelope),
    ];
    for j in &jobs {
        rig.printer.print(j).unwrap();
    }
    let printed = rig.device.printed();
    let numbers: Vec<u64> = printed.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [3, 2, 1]);
    assert_eq!(
        printed[1].file,
        format!("000002-{}-receipt.png", intake(17))
    );
    for (p, j) in printed.iter().zip(jobs.iter().rev()) {
        assert_eq!((p.label, p.intake), (Some(j.label), Some(j.intake)));
        assert!(p.printed_ms > 1_700_000_000_000);
        let path = rig.device.png_path(&p.file).unwrap();
        assert_eq!(
            image::open(&path).unwrap().to_luma8(),
            j.image,
            "{}",
            p.file
        );
        // Read from the page itself, not taken from the job.
        assert_eq!(p.qr_text, j.qr_text);
    }
    let json = serde_json::to_value(&printed[2]).unwrap();
    assert_eq!(json["number"], 1);
    assert_eq!(json["label"], "envelope");
    assert_eq!(json["intake"], intake(17).to_string());
    assert_eq!(json["file"], printed[2].file);
    assert!(json.get("qr_text").is_none());
    let stats = rig.device.stats();
    assert_eq!((stats.pages, stats.connections), (3, 1));
    rig.assert_clean();
}

#[test]
fn zpl_and_brother_ql_pages_come_out_as_sent() {
    for lang in [Lang::Zpl, Lang::BrotherQl] {
        let rig = rig(lang);
        let jobs = [
            job(lang, 3, LabelKind::Envelope),
            job(lang, 4, LabelKind::Bin),
        ];
        for j in &jobs {
            let started = Instant::now();
            rig.printer.print(j).unwrap();
            // Confirmed by the printer's answer (Brother QL: its "printing completed" frame),
            // not by waiting the confirmation timeout out.
            assert!(started.elapsed() < Duration::from_millis(1_000), "{lang:?}");
        }
        let printed = rig.device.printed();
        assert_eq!(printed.len(), 2, "{lang:?}");
        for (p, j) in printed.iter().zip(jobs.iter().rev()) {
            assert_eq!((p.label, p.intake), (Some(j.label), Some(j.intake)));
            let page = image::open(rig.device.png_path(&p.file).unwrap())
                .unwrap()
                .to_luma8();
            assert_eq!(page.dimensions(), j.image.dimensions(), "{lang:?}");
            assert!(
                page == j.image,
                "{lang:?}: the page differs from what was sent"
            );
        }
        rig.assert_clean();
    }
}

#[test]
fn a_fault_refuses_the_job_prints_nothing_and_clears() {
    for lang in ALL {
        let rig = rig(lang);
        rig.printer
            .print(&job(lang, 1, LabelKind::Receipt))
            .unwrap();
        for fault in [
            PrinterStatus::PaperOut,
            PrinterStatus::CoverOpen,
            PrinterStatus::Error(PrinterErrorKind::PaperJam),
            PrinterStatus::Offline,
        ] {
            let before = rig.pngs();
            rig.device.set_status(fault);
            assert_eq!(rig.device.status(), fault);
            let seen = rig.printer.status();
            assert!(!seen.can_print(), "{lang:?} {fault:?}: seen as {seen:?}");
            if fault != PrinterStatus::Error(PrinterErrorKind::PaperJam) {
                // Paper and cover every language tells apart; jams not all.
                assert_eq!(seen, fault, "{lang:?}");
            }
            let refused = rig
                .printer
                .print(&job(lang, 2, LabelKind::Receipt))
                .unwrap_err();
            assert!(!refused.can_print(), "{lang:?} {fault:?}: {refused:?}");
            assert_eq!(
                rig.pngs(),
                before,
                "{lang:?} {fault:?}: printed while faulted"
            );
            assert_eq!(rig.device.printed().len(), before.len());

            rig.device.set_status(PrinterStatus::Ready);
            settle(&rig.printer, PrinterStatus::Ready);
            rig.printer
                .print(&job(lang, 2, LabelKind::Receipt))
                .unwrap();
            assert_eq!(rig.pngs().len(), before.len() + 1, "{lang:?}");
        }
        let numbers: Vec<u64> = rig.device.printed().iter().map(|p| p.number).collect();
        assert_eq!(numbers, [5, 4, 3, 2, 1], "{lang:?}");
        rig.assert_clean();
    }
}

#[test]
fn paper_running_out_in_the_middle_fails_the_job_and_loses_the_page() {
    for lang in ALL {
        let rig = rig(lang);
        let j = job(lang, 9, LabelKind::Envelope);
        let len = lang.language().encode_page(&j.image).unwrap().len() as u64;
        assert_eq!(rig.printer.status(), PrinterStatus::Ready);
        // Counted from now: the status query before the job comes first, then the job.
        let query = lang.language().status_query().len() as u64;
        rig.device
            .fail_after_bytes(query + len / 2, PrinterStatus::PaperOut);
        assert_eq!(
            rig.printer.print(&j),
            Err(PrinterStatus::PaperOut),
            "{lang:?}"
        );
        assert!(rig.pngs().is_empty(), "{lang:?}: a page came out");
        assert_eq!(rig.device.status(), PrinterStatus::PaperOut);
        assert_eq!(rig.printer.status(), PrinterStatus::PaperOut);

        // New paper: the same job prints, whole.
        rig.device.set_status(PrinterStatus::Ready);
        rig.printer.print(&j).unwrap();
        let printed = rig.device.printed();
        assert_eq!(printed.len(), 1);
        let page = image::open(rig.device.png_path(&printed[0].file).unwrap())
            .unwrap()
            .to_luma8();
        assert!(page == j.image, "{lang:?}");
        rig.assert_clean();
    }
}

#[test]
fn switched_off_in_the_middle_of_a_job_fails_it_and_the_link_comes_back() {
    for lang in ALL {
        let rig = rig(lang);
        let j = job(lang, 5, LabelKind::Receipt);
        let len = lang.language().encode_page(&j.image).unwrap().len() as u64;
        let query = lang.language().status_query().len() as u64;
        assert_eq!(rig.printer.status(), PrinterStatus::Ready);
        rig.device
            .fail_after_bytes(query + len / 3, PrinterStatus::Offline);
        assert_eq!(
            rig.printer.print(&j),
            Err(PrinterStatus::Offline),
            "{lang:?}"
        );
        assert!(rig.pngs().is_empty(), "{lang:?}");
        assert_eq!(rig.printer.status(), PrinterStatus::Offline);

        rig.device.set_status(PrinterStatus::Ready);
        settle(&rig.printer, PrinterStatus::Ready);
        rig.printer.print(&j).unwrap();
        assert_eq!(rig.pngs().len(), 1, "{lang:?}");
        assert!(
            rig.device.stats().connections >= 2,
            "a new connection after the outage"
        );
        rig.assert_clean();
    }
}

#[test]
fn paper_low_still_prints_and_says_so() {
    let rig = rig(Lang::EscPos);
    rig.device.set_status(PrinterStatus::PaperLow);
    assert_eq!(rig.printer.status(), PrinterStatus::PaperLow);
    rig.printer.print(&rendered(1, LabelKind::Receipt)).unwrap();
    assert_eq!(rig.pngs().len(), 1);
}

#[test]
fn stray_status_answers_from_inside_a_raster_do_not_confuse_the_confirmation() {
    // Rows whose bytes spell DLE EOT 1 … DLE EOT 4: the printer answers each as a real-time
    // status query in the middle of the job, as ESC/POS printers do.
    let mut image = GrayImage::from_pixel(384, 200, Luma([255]));
    let spell = [
        0x10u8, 0x04, 0x01, 0x10, 0x04, 0x02, 0x10, 0x04, 0x03, 0x10, 0x04, 0x04,
    ];
    for y in (0..200).step_by(3) {
        for (i, byte) in spell.iter().enumerate() {
            for bit in 0..8 {
                if byte & (0x80 >> bit) != 0 {
                    image.put_pixel((i * 8 + bit) as u32, y, Luma([0]));
                }
            }
        }
    }
    let j = PrintJob {
        label: LabelKind::Receipt,
        intake: intake(7),
        image,
        qr_text: None,
    };
    let bytes = EscPos::new(EscPos::WIDTH_58MM)
        .encode_page(&j.image)
        .unwrap();
    assert!(bytes.windows(3).any(|w| w == [0x10, 0x04, 0x01]));
    let rig = rig(Lang::EscPos);
    for _ in 0..3 {
        rig.printer.print(&j).unwrap();
        assert_eq!(rig.printer.status(), PrinterStatus::Ready);
    }
    // And paper running out late in such a job is still seen, whatever was answered before.
    rig.device
        .fail_after_bytes(12 + bytes.len() as u64 - 20, PrinterStatus::PaperOut);
    assert_eq!(rig.printer.print(&j), Err(PrinterStatus::PaperOut));
    assert_eq!(rig.pngs().len(), 3);
    rig.assert_clean();
}

#[test]
fn a_pty_serves_as_the_serial_port_and_as_the_usb_device_file() {
    for lang in ALL {
        let dir = tempfile::tempdir().unwrap();
        let device =
            Arc::new(SimPrinter::new(dir.path().join("labels"), move || lang.emulator()).unwrap());
        let link = dir.path().join("usb-Printer-if00");
        device.serve_pty(&link).unwrap();
        for connection in [
            PrinterConnection::Serial {
                path: link.clone(),
                baud: 115_200,
                flow_control: FlowControl::None,
                parity: Parity::None,
            },
            PrinterConnection::Device { path: link.clone() },
        ] {
            let printer = SimLink::new(
                device.clone(),
                Arc::new(
                    LanguagePrinter::new(connection.clone(), lang.language(), timeouts()).unwrap(),
                ),
            );
            assert_eq!(
                printer.status(),
                PrinterStatus::Ready,
                "{lang:?} {connection}"
            );
            let j = job(lang, 21, LabelKind::Envelope);
            printer.print(&j).unwrap();
            let newest = &device.printed()[0];
            let page = image::open(device.png_path(&newest.file).unwrap())
                .unwrap()
                .to_luma8();
            assert!(page == j.image, "{lang:?} {connection}");

            // Switched off, a port says nothing: offline once the status timeout is over.
            device.set_status(PrinterStatus::Offline);
            let started = Instant::now();
            assert_eq!(printer.status(), PrinterStatus::Offline);
            assert!(started.elapsed() < Duration::from_secs(2));
            assert_eq!(printer.print(&j), Err(PrinterStatus::Offline));
            device.set_status(PrinterStatus::Ready);
            settle(&printer, PrinterStatus::Ready);
        }
        assert_eq!(device.printed().len(), 2);
        assert_eq!(device.emulator_errors(), []);
    }
}

#[test]
fn unplugged_and_plugged_back_in_the_link_reconnects() {
    // TCP: the listener and its connections close; the same port comes back.
    let rig = rig(Lang::EscPos);
    rig.printer
        .print(&rendered(1, LabelKind::Envelope))
        .unwrap();
    let addr = rig.device.tcp_addr().unwrap();
    rig.device.unplug();
    assert_eq!(rig.printer.status(), PrinterStatus::Offline);
    assert_eq!(
        rig.printer.print(&rendered(2, LabelKind::Envelope)),
        Err(PrinterStatus::Offline)
    );
    rig.device.replug().unwrap();
    assert_eq!(rig.device.tcp_addr(), Some(addr));
    settle(&rig.printer, PrinterStatus::Ready);
    rig.printer
        .print(&rendered(2, LabelKind::Envelope))
        .unwrap();
    assert_eq!(rig.pngs().len(), 2);
    assert_eq!(rig.device.stats().connections, 2);

    // A pty: the station's end hangs up; the replugged device is a new pty behind the same
    // stable path.
    let dir = tempfile::tempdir().unwrap();
    let device =
        Arc::new(SimPrinter::new(dir.path().join("labels"), || Lang::EscPos.emulator()).unwrap());
    let link = dir.path().join("usb-Printer-if00");
    device.serve_pty(&link).unwrap();
    let printer = SimLink::new(
        device.clone(),
        Arc::new(
            LanguagePrinter::new(
                PrinterConnection::Serial {
                    path: link.clone(),
                    baud: 9600,
                    flow_control: FlowControl::None,
                    parity: Parity::None,
                },
                Lang::EscPos.language(),
                timeouts(),
            )
            .unwrap(),
        ),
    );
    printer.print(&rendered(3, LabelKind::Receipt)).unwrap();
    device.unplug();
    assert_eq!(printer.status(), PrinterStatus::Offline);
    device.replug().unwrap();
    // A new pty (the kernel may well give it the freed number again, as a replugged USB
    // device may get its old node).
    assert!(fs::read_link(&link).unwrap().starts_with("/dev/pts/"));
    settle(&printer, PrinterStatus::Ready);
    printer.print(&rendered(4, LabelKind::Receipt)).unwrap();
    let printed = device.printed();
    assert_eq!(printed.len(), 2);
    assert_eq!(printed[0].qr_text, rendered(4, LabelKind::Receipt).qr_text);
}

#[test]
fn a_restart_keeps_numbering_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let labels = dir.path().join("labels");
    let first: Vec<PrintedLabel> = {
        let device = Arc::new(SimPrinter::new(labels.clone(), || Lang::EscPos.emulator()).unwrap());
        let printer = device
            .station_printer(Lang::EscPos.language(), timeouts())
            .unwrap();
        printer.print(&rendered(5, LabelKind::Envelope)).unwrap();
        printer.print(&rendered(5, LabelKind::Receipt)).unwrap();
        printer
            .print(&job(Lang::EscPos, 6, LabelKind::Bin))
            .unwrap();
        // And a page nobody announced, straight through the link.
        let plain = LanguagePrinter::new(
            PrinterConnection::Tcp {
                host: "127.0.0.1".into(),
                port: device.tcp_addr().unwrap().port(),
            },
            Lang::EscPos.language(),
            timeouts(),
        )
        .unwrap();
        plain.print(&job(Lang::EscPos, 7, LabelKind::Bin)).unwrap();
        device.printed()
    };
    assert_eq!(first[0].file, "000004-page.png");
    assert_eq!((first[0].label, first[0].intake), (None, None));
    // Files that are not pages are left alone and not listed.
    fs::write(labels.join("notes.txt"), "x").unwrap();
    fs::write(labels.join("000009-NOT-AN-ID-receipt.png"), "x").unwrap();
    fs::write(labels.join("12-GW7K-2222-2-poster.png"), "x").unwrap();

    let device = Arc::new(SimPrinter::new(labels.clone(), || Lang::EscPos.emulator()).unwrap());
    let again = device.printed();
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
    assert!(device.png_path(&first[0].file).is_some());
    // The receipt's QR text came back from its file; pages without a QR have none.
    assert_eq!(again[2].qr_text, rendered(5, LabelKind::Receipt).qr_text);
    assert_eq!(again[3].qr_text, None);
    let printer = device
        .station_printer(Lang::EscPos.language(), timeouts())
        .unwrap();
    printer.print(&rendered(8, LabelKind::Receipt)).unwrap();
    let newest = &device.printed()[0];
    assert_eq!((newest.number, newest.intake), (5, Some(intake(8))));
    assert!(newest.file.starts_with("000005-"));
}

#[test]
fn png_path_serves_only_what_it_printed() {
    let rig = rig(Lang::EscPos);
    rig.printer.print(&rendered(3, LabelKind::Receipt)).unwrap();
    fs::write(rig.dir.path().join("x"), "secret").unwrap();
    fs::write(rig.labels().join("other.png"), "x").unwrap();
    let file = rig.device.printed()[0].file.clone();
    assert_eq!(rig.device.png_path(&file), Some(rig.labels().join(&file)));
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
        assert_eq!(rig.device.png_path(bad), None, "{bad:?}");
    }
}

#[test]
fn a_job_that_fails_leaves_no_name_for_the_next_page() {
    // The refused job's announcement is withdrawn: the next page carries its own job's name.
    let rig = rig(Lang::EscPos);
    rig.device.set_status(PrinterStatus::CoverOpen);
    assert!(rig.printer.print(&rendered(1, LabelKind::Receipt)).is_err());
    rig.device.set_status(PrinterStatus::Ready);
    rig.printer
        .print(&rendered(2, LabelKind::Envelope))
        .unwrap();
    let printed = rig.device.printed();
    assert_eq!(
        (printed[0].label, printed[0].intake),
        (Some(LabelKind::Envelope), Some(intake(2)))
    );
}

/// A job soon after the printer said it can print is sent without asking again (each question
/// costs two quiet periods on the kiosk's way to a label), even a kiosk's poll interval later;
/// one sent after the answer's time is up asks first. Either way the job is confirmed after it
/// is sent.
#[test]
fn a_job_right_after_a_ready_answer_is_not_asked_about_again() {
    let lang = Lang::EscPos;
    let rig = rig(lang);
    let job = job(lang, 1, LabelKind::Envelope);
    let encoded = lang.language().encode_page(&job.image).unwrap().len() as u64;
    let query = lang.language().status_query().len() as u64;

    assert_eq!(rig.printer.status(), PrinterStatus::Ready);
    let before = rig.device.stats().received_bytes;
    rig.printer.print(&job).unwrap();
    let sent = rig.device.stats().received_bytes - before;
    assert_eq!(sent, encoded + query, "the job and its confirmation only");

    // The kiosk polls every second and takes a deposit on the last answer: a job a poll
    // interval after a "ready" is not asked about either.
    assert_eq!(rig.printer.status(), PrinterStatus::Ready);
    std::thread::sleep(Duration::from_millis(1_200));
    let before = rig.device.stats().received_bytes;
    rig.printer.print(&job).unwrap();
    let sent = rig.device.stats().received_bytes - before;
    assert_eq!(
        sent,
        encoded + query,
        "a poll interval later: no question first"
    );

    std::thread::sleep(READY_ANSWER_STANDS + Duration::from_millis(100));
    let before = rig.device.stats().received_bytes;
    rig.printer.print(&job).unwrap();
    let sent = rig.device.stats().received_bytes - before;
    assert_eq!(sent, query + encoded + query, "asked first, then confirmed");
    rig.assert_clean();
}
