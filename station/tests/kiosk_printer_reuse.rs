//! The kiosk takes a deposit on the strength of its last status poll (issue 9): right after the
//! printer said it can print, a deposit is committed and its label sent with no status query
//! first, and every job is still confirmed after it is sent. A printer that fails between two
//! polls is therefore found after the commit: the deposit stands, the resident is told the label
//! could not print, and the fault is recorded.
//!
//! The kiosk's workflow runs as the station runs it, on a real custody log (SQLite file), with
//! the real link, TCP transport and ZPL encoder to a simulated Zebra printer; ZPL because its
//! printer sends exactly one reply per status query and nothing else, so the replies the device
//! sent count the station's queries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use records::{Device, IntakeId, Payload};
use station::config::StationConfig;
use station::custody_log::CustodyLog;
use station::devices::gpio::GpioLamp;
use station::devices::sim_printer::SimPrinter;
use station::devices::{Input, Lamp, Printer, PrinterStatus};
use station::kiosk::{self, KioskOutputs, KioskView, Step};
use station::printer::link::LinkTimeouts;
use station::printer::setup::{self, LabelTemplates};
use station::shared_log::SharedLog;
use station::shutdown::{ShutdownTrigger, shutdown_pair};
use station::workflow::Command;
use station::{LogStore, StationKey};
use tokio::sync::{mpsc, watch};

fn config_text(dir: &Path) -> String {
    format!(
        r#"
station = "GWU2"
name = "Urna — wejście główne"
place = "Urząd Miejski w Gliwicach, ul. Zwycięstwa 21"
role = "urn"
data_dir = "{data}"
key_file = "{data}/station.key"
registry_url = "http://127.0.0.1:9"
status_url = "https://bip.gliwice.example/status"
default_category = "inne"
hold_secs = 86400
drop_timeout_secs = 30
simulation = true

[[categories]]
id = "inne"
name_pl = "Inne sprawy"
name_en = "Other matters"
department = "Kancelaria ogólna"

[printers.zebra]
language = "zpl"
width_dots = 832

[labels]
envelope = "zebra-2x1in"
receipt = "zebra-100x150"
bin = "zebra-100x150"
"#,
        data = dir.display()
    )
}

/// An urn kiosk's workflow on simulated hardware.
struct Urn {
    device: Arc<SimPrinter>,
    commands: mpsc::Sender<Command>,
    view: watch::Receiver<KioskView>,
    log_path: PathBuf,
    stop: ShutdownTrigger,
    task: tokio::task::JoinHandle<()>,
}

impl Urn {
    async fn start(dir: &Path) -> Urn {
        let config = StationConfig::from_toml(&config_text(dir)).unwrap();
        let (name, printer_config) =
            setup::label_printer(&config.printers, &config.labels, config.simulation).unwrap();
        let templates =
            LabelTemplates::load(&config.labels, Path::new(""), &name, &printer_config).unwrap();
        let key = StationKey::generate_to_file(&dir.join("station.key")).unwrap();
        let log_path = dir.join("custody.sqlite");
        let log = SharedLog::new(CustodyLog::open(&log_path, config.station, key).unwrap());
        let emulated = printer_config.clone();
        let device =
            Arc::new(SimPrinter::new(dir.join("labels"), move || emulated.emulator()).unwrap());
        let printer: Arc<dyn Printer> = Arc::new(
            device
                .station_printer(printer_config.language(), LinkTimeouts::default())
                .unwrap(),
        );
        let lamp: Arc<dyn Lamp> = Arc::new(GpioLamp::new());
        let (commands, commands_rx) = mpsc::channel(8);
        let (view_tx, view) = watch::channel(KioskView::initial());
        let (stop, shutdown) = shutdown_pair();
        let task = tokio::spawn(kiosk::run(
            Arc::new(config),
            log,
            KioskOutputs {
                printer,
                templates,
                lamp,
                staff: None,
            },
            commands_rx,
            view_tx,
            shutdown,
        ));
        Urn {
            device,
            commands,
            view,
            log_path,
            stop,
            task,
        }
    }

    /// The first screen at one of `steps` (from the current one on).
    async fn until(&mut self, steps: &[Step]) -> KioskView {
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                {
                    let view = self.view.borrow_and_update();
                    if steps.contains(&view.step) {
                        return view.clone();
                    }
                }
                self.view.changed().await.unwrap();
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no screen at {steps:?}; last: {:?}", *self.view.borrow()))
    }

    /// Waits until the kiosk's regular poll has been answered, and returns at once: the
    /// kiosk is then in the middle of taking that answer, and its next poll is a second away.
    async fn ready_poll_answered(&self) {
        let before = self.device.stats().replies;
        tokio::time::timeout(Duration::from_secs(30), async {
            while self.device.stats().replies == before {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("the kiosk polled the printer");
        assert_eq!(self.device.status(), PrinterStatus::Ready);
    }

    async fn press_button(&self) {
        self.commands
            .send(Command::Input(Input::ButtonPressed))
            .await
            .unwrap();
    }

    /// The log's events, in order.
    fn events(&self) -> Vec<Payload> {
        LogStore::open_existing(&self.log_path)
            .unwrap()
            .events_after(0, 10_000)
            .unwrap()
            .into_iter()
            .map(|e| {
                records::encoding::decode(&e.signed.canonical)
                    .unwrap()
                    .payload
            })
            .collect()
    }

    async fn stop(self) {
        self.stop.trigger();
        self.task.await.unwrap();
    }
}

fn intake_of(view: &KioskView) -> IntakeId {
    view.intake.as_deref().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_right_after_a_ready_poll_asks_the_printer_nothing_before_its_label() {
    let dir = tempfile::tempdir().unwrap();
    let mut urn = Urn::start(dir.path()).await;
    urn.until(&[Step::Idle]).await;

    for round in 0..3 {
        urn.ready_poll_answered().await;
        let before = urn.device.stats();
        urn.press_button().await;
        let view = urn.until(&[Step::Drop, Step::OutOfOrder]).await;
        let after = urn.device.stats();
        assert_eq!(view.step, Step::Drop, "round {round}: {view:?}");
        assert!(view.message_en.contains("drop"), "round {round}: {view:?}");
        let intake = intake_of(&view);
        assert_eq!(
            after.pages - before.pages,
            2,
            "round {round}: the label and the receipt"
        );
        // One query after each job, confirming it; none before the commit, and none between
        // the envelope label's confirmation and the receipt.
        assert_eq!(
            after.replies - before.replies,
            2,
            "round {round}: status queries from the poll to the drop screen"
        );
        let printed: Vec<_> = urn
            .device
            .printed()
            .into_iter()
            .filter(|p| p.intake == Some(intake))
            .collect();
        assert_eq!(printed.len(), 2, "round {round}: {printed:?}");

        urn.commands
            .send(Command::Input(Input::EnvelopeDropped))
            .await
            .unwrap();
        urn.until(&[Step::Done]).await;
    }
    urn.stop().await;
}

/// The printer goes into `fault` right after answering a poll "ready", and a resident deposits.
async fn fails_between_polls(fault: PrinterStatus) {
    let dir = tempfile::tempdir().unwrap();
    let mut urn = Urn::start(dir.path()).await;
    urn.until(&[Step::Idle]).await;

    urn.ready_poll_answered().await;
    urn.device.set_status(fault);
    urn.press_button().await;
    let view = urn.until(&[Step::Drop, Step::OutOfOrder]).await;

    // The deposit was taken on the poll's word and committed before the printer was found
    // failed: it stands, and the resident is told, Polish first, that nothing printed.
    assert_eq!(view.step, Step::Drop, "{view:?}");
    let intake = intake_of(&view);
    assert!(
        view.message_pl.contains(&intake.to_string())
            && view.message_pl.contains("drukarka zawiodła"),
        "{view:?}"
    );
    assert!(view.message_en.contains("the printer failed"), "{view:?}");
    assert_eq!(view.printer, fault, "{view:?}");
    assert!(
        urn.device
            .printed()
            .iter()
            .all(|p| p.intake != Some(intake)),
        "nothing printed for {intake}"
    );

    let events = urn.events();
    let deposit = events
        .iter()
        .position(|e| matches!(e, Payload::Deposit(i) if i.id == intake))
        .expect("the deposit is in the log");
    let fault_name = fault.alert_name().unwrap();
    let raised = events
        .iter()
        .position(|e| {
            matches!(e, Payload::FaultRaised { device: Device::Printer, fault }
                if fault.as_str() == fault_name)
        })
        .unwrap_or_else(|| panic!("no printer fault {fault_name} in {events:?}"));
    assert!(deposit < raised, "found after the commit: {events:?}");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Payload::LabelPrinted { intake: i, .. } if *i == intake)),
        "no label recorded as printed: {events:?}"
    );

    // The envelope still goes in; the next resident finds the kiosk out of order until the
    // printer is back, and it comes back by itself.
    urn.commands
        .send(Command::Input(Input::EnvelopeDropped))
        .await
        .unwrap();
    urn.until(&[Step::Done]).await;
    urn.press_button().await;
    let view = urn.until(&[Step::OutOfOrder]).await;
    assert!(view.intake.is_none(), "{view:?}");
    urn.device.set_status(PrinterStatus::Ready);
    urn.until(&[Step::Idle]).await;
    urn.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printer_out_of_paper_between_polls_is_found_after_the_commit_and_said() {
    fails_between_polls(PrinterStatus::PaperOut).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_printer_switched_off_between_polls_is_found_after_the_commit_and_said() {
    fails_between_polls(PrinterStatus::Offline).await;
}
