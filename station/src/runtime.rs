//! Running one station: opens its log, starts its workflow, the sync to the registry and its web
//! pages, and stops them all on shutdown.

use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::alerts_feed::{self, AlertsView};
use crate::config::{Role, StationConfig};
use crate::custody_log::CustodyLog;
use crate::devices::gpio::{self, GpioEvent, GpioLamp};
use crate::devices::sim_pins::SimPins;
use crate::devices::sim_printer::SimPrinter;
use crate::devices::{Input, Lamp, Printer, hid_scanner, serial_scanner};
use crate::error::{Error, Result, io};
use crate::keys::StationKey;
use crate::kiosk::{self, KioskView};
use crate::mailroom::{self, MailroomView};
use crate::printer::link::LinkTimeouts;
use crate::printer::setup::{self, LabelTemplates};
use crate::shared_log::SharedLog;
use crate::shutdown::Shutdown;
use crate::sync::{self, SyncStatus};
use crate::web::{self, SimPinHandles, WebState};
use crate::workflow::Command;

/// The custody log's file name inside the station's data directory.
pub const LOG_FILE: &str = "custody.db";
/// Where the simulated printer puts its labels, inside the data directory.
pub const LABELS_DIR: &str = "labels";

/// Runs the station on `listener` until `shutdown`.
pub async fn run(
    config: StationConfig,
    key: StationKey,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<()> {
    // A simulated wrong clock at boot is set before the log or the workflow reads the time.
    if let Some(offset) = config.simulated_clock_offset_secs {
        crate::clock::set_simulated_offset_secs(offset);
        tracing::info!("simulation: the wall clock reads {offset} s off the machine's");
    }
    // Checked before anything is opened: a template that cannot print on the printer must
    // stop the station, not surface at the first resident's deposit.
    let (printer_name, printer_config) =
        setup::label_printer(&config.printers, &config.labels, config.simulation)
            .map_err(|e| Error::Setup(e.to_string()))?;
    let templates = LabelTemplates::load(
        &config.labels,
        Path::new(""),
        &printer_name,
        &printer_config,
    )
    .map_err(|e| Error::Setup(e.to_string()))?;
    let config = Arc::new(config);
    std::fs::create_dir_all(&config.data_dir).map_err(io(&config.data_dir))?;
    let log_path = config.data_dir.join(LOG_FILE);
    let station = config.station;
    // Every request to the registry is signed with the log's key; the client takes its copy
    // before the key moves into the log.
    let registry = crate::signed_client::SignedClient::new(&config.registry_url, &key)
        .map_err(Error::Setup)?;
    let log = tokio::task::spawn_blocking(move || CustodyLog::open(&log_path, station, key))
        .await
        .map_err(|e| Error::Io {
            path: config.data_dir.clone(),
            source: std::io::Error::other(e.to_string()),
        })??;
    let log = SharedLog::new(log);
    // In simulation the printer is an emulator that speaks the configured printer's language;
    // the station reaches it through the real link, transport and encoder all the same.
    let sim_printer = if config.simulation {
        let labels = config.data_dir.join(LABELS_DIR);
        let emulated = printer_config.clone();
        Some(Arc::new(
            SimPrinter::new(labels.clone(), move || emulated.emulator()).map_err(io(&labels))?,
        ))
    } else {
        None
    };
    let gpio_config = config.gpio.clone().unwrap_or_default();
    let lamp = GpioLamp::new();

    let (commands_tx, commands_rx) = mpsc::channel(64);
    // Device tasks speak `Input`; the workflow takes `Command`s (inputs and screen touches).
    let (inputs_tx, mut inputs_rx) = mpsc::channel::<Input>(64);
    let forward = commands_tx.clone();
    let scans = crate::metrics::ScanCounter::default();
    let (counted, badge_prefix) = (scans.clone(), config.badge_prefix.clone());
    tokio::spawn(async move {
        while let Some(input) = inputs_rx.recv().await {
            if let Input::Scanned(raw) = &input {
                counted.scanned(raw, &badge_prefix);
            }
            if forward.send(Command::Input(input)).await.is_err() {
                return;
            }
        }
    });
    // The fingerprint is known now: the status page must show it before sync first runs, or an
    // admin (or a test) asking early sees no key to approve.
    let (sync_tx, sync_rx) = watch::channel(SyncStatus {
        key_fingerprint: registry.fingerprint(),
        ..SyncStatus::default()
    });
    let mut tasks = tokio::task::JoinSet::new();
    if let Some(scanner) = config.scanner.clone() {
        let inputs = inputs_tx.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move {
            if let Err(e) = serial_scanner::run(scanner, inputs, stop.wait()).await {
                tracing::error!("scanner: {e}");
            }
        });
    }
    if let Some(scanner) = config.hid_scanner.clone() {
        let inputs = inputs_tx.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move {
            if let Err(e) = hid_scanner::run(scanner, inputs, stop.wait()).await {
                tracing::error!("HID scanner: {e}");
            }
        });
    }
    if let Some(folder) = config.vision.as_ref().and_then(|v| v.folder.clone()) {
        tasks.spawn(crate::vision::folder::run(
            folder,
            inputs_tx.clone(),
            shutdown.clone().wait(),
        ));
    }
    let vision = config.vision.clone().unwrap_or_default();
    // A camera that is the urn's only code reader goes away as "the scanner": the kiosk records
    // it and tells the resident to use the button. Beside a hand scanner, or at the mailroom,
    // it is a fault of its own, so a working scanner is not shown as broken.
    let sole_reader = config.role == Role::Urn
        && config.scanner.is_none()
        && config.hid_scanner.is_none()
        && usize::from(vision.camera.is_some()) + usize::from(vision.v4l2.is_some()) == 1;
    if let Some(camera) = vision.camera {
        let presence = camera_presence(&mut tasks, sole_reader, &inputs_tx, &log);
        tasks.spawn(crate::vision::camera::run(
            camera,
            inputs_tx.clone(),
            presence,
            shutdown.clone().wait(),
        ));
    }
    if let Some(camera) = vision.v4l2 {
        let presence = camera_presence(&mut tasks, sole_reader, &inputs_tx, &log);
        tasks.spawn(crate::vision::v4l2::run(
            camera,
            inputs_tx.clone(),
            presence,
            shutdown.clone().wait(),
        ));
    }
    // The urn's pins: in simulation driven from the control page, on a Pi the real ones; both
    // through the same debouncing and state machines (`firmware`).
    let sim_pins =
        (config.role == Role::Urn && config.simulation).then(|| SimPins::new(&gpio_config));
    let pins_task = |tasks: &mut tokio::task::JoinSet<()>| {
        let (events_tx, events_rx) = mpsc::channel::<GpioEvent>(64);
        tasks.spawn(record_gpio_faults(log.clone(), events_rx));
        GpioTask {
            lamp: lamp.clone(),
            config: gpio_config.clone(),
            inputs: inputs_tx.clone(),
            events: events_tx,
            shutdown: shutdown.clone(),
        }
    };
    if config.role == Role::Urn && !config.simulation {
        let pins = open_pi_pins(&gpio_config)?;
        let task = pins_task(&mut tasks);
        tasks.spawn(task.run(pins));
    }
    let pin_handles = sim_pins.as_ref().map(|p| SimPinHandles {
        door: p.door.clone(),
        slot: p.slot.clone(),
        button: p.button.clone(),
        lamp: p.lamp.clone(),
        envelope_ms: (gpio_config.slot_min_break_ms + gpio_config.slot_max_break_ms) / 2,
        press_ms: gpio_config.debounce_ms * 5,
    });
    if let Some(sim) = sim_pins {
        let task = pins_task(&mut tasks);
        tasks.spawn(task.run(sim.pins));
        // A button already down at the GPIO task's first sample is "held at start", not a
        // press; give the task its first samples before the control API can move a pin.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The control page's simulated scans enter where the devices' inputs do (see `WebState`).
    let web_inputs = inputs_tx;
    tasks.spawn(sync::run(
        log.clone(),
        config.station,
        registry.clone(),
        sync_tx,
        shutdown.clone(),
    ));
    tasks.spawn(crate::retention::run(
        log.clone(),
        config.retention.clone(),
        shutdown.clone(),
    ));
    // Both roles print: the kiosk its deposits' labels and receipts, the mailroom post and
    // counter intakes' and the quarantine bins' labels.
    let printer: Arc<dyn Printer> = match &sim_printer {
        Some(sim_printer) => Arc::new(
            sim_printer
                .station_printer(
                    printer_config.language(),
                    // A retry on loopback costs nothing: the printer is back within a second of
                    // the control page's "OK".
                    LinkTimeouts {
                        reconnect_max_ms: 1_000,
                        ..LinkTimeouts::default()
                    },
                )
                .map_err(io("simulated printer"))?,
        ),
        None => match printer_config.connect() {
            Some(printer) => Arc::new(printer.map_err(io(printer_name.as_str()))?),
            None => {
                return Err(Error::Setup(format!(
                    "printers.{printer_name} has no connection; give it one, or set simulation = true"
                )));
            }
        },
    };
    let (kiosk_view, mailroom_view) = match config.role {
        Role::Urn => {
            let (tx, rx) = watch::channel(KioskView::initial());
            let lamp: Arc<dyn Lamp> = Arc::new(lamp.clone());
            tasks.spawn(kiosk::run(
                config.clone(),
                log.clone(),
                kiosk::KioskOutputs {
                    printer,
                    templates,
                    lamp,
                    staff: crate::staff::open_shared(&config.data_dir).await,
                },
                commands_rx,
                tx,
                shutdown.clone(),
            ));
            (Some(rx), None)
        }
        Role::Mailroom => {
            let (tx, rx) = watch::channel(MailroomView::default());
            let (alerts_tx, alerts_rx) = watch::channel(AlertsView::default());
            tasks.spawn(alerts_feed::run(
                registry.clone(),
                alerts_tx,
                shutdown.clone(),
            ));
            tasks.spawn(mailroom::run(
                config.clone(),
                log.clone(),
                mailroom::MailroomInputs {
                    commands: commands_rx,
                    alerts: alerts_rx,
                },
                Some(mailroom::MailroomOutputs {
                    printer,
                    templates: Arc::new(templates),
                }),
                tx,
                shutdown.clone(),
            ));
            (None, Some(rx))
        }
    };
    let metrics = crate::metrics::router(crate::metrics::MetricsState {
        log: log.clone(),
        sync: sync_rx.clone(),
        kiosk: kiosk_view.clone(),
        mailroom: mailroom_view.clone(),
        scans,
        allow: config.metrics.allow.clone().into(),
    });
    let state = WebState {
        config: config.clone(),
        commands: commands_tx,
        inputs: web_inputs,
        kiosk: kiosk_view,
        mailroom: mailroom_view,
        sync: sync_rx,
        sim_printer,
        sim_pins: pin_handles,
    };
    // The peer's address decides who may read `/metrics`.
    let served = axum::serve(
        listener,
        web::app(state)
            .merge(metrics)
            .into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.clone().wait())
    .await;
    // The workflow and the sync stop on the same signal; wait so the log is closed cleanly
    // (its checkpoint written) before returning.
    while tasks.join_next().await.is_some() {}
    drop(log);
    served.map_err(io("station web server"))
}

/// What the GPIO task needs besides its pins.
struct GpioTask {
    lamp: GpioLamp,
    config: gpio::GpioConfig,
    inputs: mpsc::Sender<Input>,
    events: mpsc::Sender<GpioEvent>,
    shutdown: Shutdown,
}

impl GpioTask {
    /// Runs the urn's pins, simulated or real, through `firmware`'s state machines.
    async fn run<D, S, B, L>(self, pins: gpio::GpioPins<D, S, B, L>)
    where
        D: embedded_hal::digital::InputPin + Send + 'static,
        S: embedded_hal::digital::InputPin + Send + 'static,
        B: embedded_hal::digital::InputPin + Send + 'static,
        L: embedded_hal::digital::OutputPin + Send + 'static,
        D::Error: std::fmt::Debug,
        S::Error: std::fmt::Debug,
        B::Error: std::fmt::Debug,
        L::Error: std::fmt::Debug,
    {
        let GpioTask {
            lamp,
            config,
            inputs,
            events,
            shutdown,
        } = self;
        if let Err(e) = gpio::run(pins, lamp, config, inputs, events, shutdown).await {
            tracing::error!("gpio: {e}");
        }
    }
}

/// The Pi's own pins, on a station built with the `rpi` feature.
#[cfg(feature = "rpi")]
fn open_pi_pins(config: &gpio::GpioConfig) -> Result<crate::devices::rpi::RpiPins> {
    crate::devices::rpi::open(config).map_err(|e| Error::Setup(format!("gpio: {e}")))
}

/// Without the `rpi` feature there are no real pins to open.
#[cfg(not(feature = "rpi"))]
fn open_pi_pins(_config: &gpio::GpioConfig) -> Result<crate::devices::sim_pins::SimPinSet> {
    Err(Error::Setup(
        "gpio: this urna was built without Raspberry Pi support (cargo feature rpi); build it with --features rpi, or set simulation = true"
            .into(),
    ))
}

/// Where a camera's going away and coming back is told: as the scanner's connection when it is
/// the urn's only code reader, otherwise as a camera fault in the custody log.
fn camera_presence(
    tasks: &mut tokio::task::JoinSet<()>,
    sole_reader: bool,
    inputs: &mpsc::Sender<Input>,
    log: &SharedLog,
) -> mpsc::Sender<bool> {
    let (presence_tx, mut presence_rx) = mpsc::channel::<bool>(4);
    let (inputs, log) = (inputs.clone(), log.clone());
    tasks.spawn(async move {
        while let Some(present) = presence_rx.recv().await {
            if sole_reader {
                if inputs.send(Input::ScannerConnected(present)).await.is_err() {
                    return;
                }
                continue;
            }
            let (device, fault) = (
                records::Device::Scanner,
                records::Text::sanitized("camera unplugged"),
            );
            let payload = if present {
                records::Payload::FaultCleared { device, fault }
            } else {
                records::Payload::FaultRaised { device, fault }
            };
            if let Err(e) = log.append(crate::clock::now(), payload).await {
                tracing::error!("camera: fault not recorded: {e}");
            }
        }
    });
    presence_tx
}

/// Records the urn's sensor faults (door chatter, slot jam, pin failures) as custody events.
async fn record_gpio_faults(log: SharedLog, mut events: mpsc::Receiver<GpioEvent>) {
    while let Some(event) = events.recv().await {
        tracing::info!("gpio: {}", event.message());
        let device = event.device();
        let payload = match (event.fault_name(), event.clears()) {
            (Some(fault), _) => records::Payload::FaultRaised {
                device,
                fault: records::Text::sanitized(fault),
            },
            (None, Some(fault)) => records::Payload::FaultCleared {
                device,
                fault: records::Text::sanitized(fault),
            },
            (None, None) => continue,
        };
        if let Err(e) = log.append(crate::clock::now(), payload).await {
            tracing::error!("gpio: fault not recorded: {e}");
        }
    }
}
