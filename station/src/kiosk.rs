//! The urn kiosk's workflow: a resident scans a form's code or presses the button, picks what the
//! letter is about, gets a label and a receipt, and drops the envelope. The deposit is committed
//! before anything is printed or shown as recorded.

use std::sync::Arc;
use std::time::Duration;

use records::{Channel, Device, Intake, IntakeId, LabelKind, Payload, Text};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};

use crate::clock;
use crate::config::{Category, StationConfig};
use crate::devices::{Input, Lamp, Printer, PrinterStatus};
use crate::kiosk_text::{self as said, Said};
use crate::printer::link::READY_ANSWER_STANDS;
use crate::printer::setup::LabelTemplates;
use crate::printing::{self, IntakeLabel, PrintFailure};
use crate::scanned::{Scanned, classify};
use crate::shared_log::SharedLog;
use crate::shutdown::Shutdown;
use crate::staff::SharedStaff;
use crate::urn_fill::{self, FillLevel, UrnFill};
use crate::workflow::Command;

mod service;
pub use service::{MAX_SEAL_CHARS, SERVICE_TIMEOUT, ServiceView, seal_number};

/// The alarm recorded when the service door opens outside a collection.
pub const DOOR_OPENED_OUTSIDE_COLLECTION: &str = "door_opened_outside_collection";
/// How often the printer is asked for its status, busy or not: a deposit is taken on the
/// strength of the last answer (see [`READY_REUSE`]), so the answer must not grow old while
/// residents keep the kiosk busy.
const PRINTER_POLL: Duration = Duration::from_secs(1);
/// A poll is skipped when the printer said it can print more recently than this (a job's
/// confirmation says so as well as a poll): asking would only hold the printer's link while the
/// next resident may be waiting for a label.
const POLL_SKIP: Duration = Duration::from_millis(500);
/// How long the printer's "can print" stands for a deposit: within it, the deposit is committed
/// and printed with no status query first, which would cost two quiet periods of the link
/// (60 ms) between the resident's touch and the label. It covers a poll interval, a skipped
/// poll and a poll delayed by a deposit in progress. A printer that fails within it is found
/// when the label's job is confirmed, after the commit: the deposit stands, the resident is told
/// the label could not print, and the fault is recorded.
const READY_REUSE: Duration = Duration::from_millis(2_000);
// The link must take the same answer for the job right after, or it would ask again; the
// margin covers the commit between the kiosk's decision and the job.
const _: () = assert!(READY_REUSE.as_millis() + 400 <= READY_ANSWER_STANDS.as_millis());

/// Which screen the kiosk shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Waiting for a resident.
    Idle,
    /// Choosing what the letter is about.
    Choose,
    /// Label and receipt printed: drop the envelope now.
    Drop,
    /// Finished; the result is shown.
    Done,
    /// The kiosk cannot take deposits now (printer fault, storage failure).
    OutOfOrder,
    /// Two staff are emptying the urn.
    Service,
}

/// A category as the screen shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CategoryChoice {
    /// Its id.
    pub id: String,
    /// Polish name.
    pub name_pl: String,
    /// English name.
    pub name_en: String,
    /// Ukrainian name (the English one when none is configured).
    pub name_uk: String,
}

/// How full the urn is, for the service pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct UrnFillView {
    /// Envelopes in the urn since the last collection.
    pub envelopes: u32,
    /// Envelopes it holds.
    pub capacity: u32,
    /// Normal, nearly full or full.
    pub level: FillLevel,
}

/// Everything the kiosk page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KioskView {
    /// The screen.
    pub step: Step,
    /// The main message, Polish.
    pub message_pl: String,
    /// The main message, English.
    pub message_en: String,
    /// The main message, Ukrainian.
    pub message_uk: String,
    /// The intake id of the current deposit.
    pub intake: Option<String>,
    /// The deposit time (the date of receipt), local.
    pub deposited_at: Option<String>,
    /// The reference scanned from the resident's form.
    pub reference: Option<String>,
    /// Categories to choose from (on the choose screen).
    pub categories: Vec<CategoryChoice>,
    /// The printer's state.
    pub printer: PrinterStatus,
    /// Whether the scanner is connected (the button works regardless).
    pub scanner_connected: bool,
    /// How full the urn is.
    pub urn: UrnFillView,
    /// Seconds without a touch before the page goes back to Polish and the start screen.
    pub idle_timeout_secs: u32,
    /// The collection under way, on the service screen.
    pub service: Option<ServiceView>,
    /// Counts up with every change, so a page can tell new from old.
    pub version: u64,
}

impl KioskView {
    /// What the page shows before the kiosk has started.
    pub fn initial() -> KioskView {
        KioskView::idle(PrinterStatus::Ready)
    }

    fn idle(printer: PrinterStatus) -> KioskView {
        let start = said::start();
        KioskView {
            step: Step::Idle,
            message_pl: start.pl,
            message_en: start.en,
            message_uk: start.uk,
            intake: None,
            deposited_at: None,
            reference: None,
            categories: Vec::new(),
            printer,
            scanner_connected: true,
            urn: UrnFillView {
                envelopes: 0,
                capacity: 0,
                level: FillLevel::Normal,
            },
            idle_timeout_secs: 0,
            service: None,
            version: 0,
        }
    }

    fn say(&mut self, said: Said) {
        self.message_pl = said.pl;
        self.message_en = said.en;
        self.message_uk = said.uk;
    }
}

/// The kiosk's state between inputs.
enum State {
    Idle,
    Choose {
        reference: Option<String>,
        until: Instant,
    },
    Drop {
        intake: IntakeId,
        until: Instant,
    },
    Done {
        until: Instant,
        /// The deposit just finished.
        intake: IntakeId,
        /// Whether its envelope was seen falling: if so, a further envelope while this screen
        /// shows went in on the same label; if not, the next one is that envelope, late.
        seen: bool,
    },
    Service {
        stage: service::Stage,
        until: Instant,
    },
}

/// What the kiosk prints on and lights.
#[allow(missing_debug_implementations)] // the device traits are not Debug
pub struct KioskOutputs {
    /// The label and receipt printer.
    pub printer: Arc<dyn Printer>,
    /// The envelope label's and the receipt's templates, checked against the printer.
    pub templates: LabelTemplates,
    /// The lamp above the slot.
    pub lamp: Arc<dyn Lamp>,
    /// The staff accounts that may empty the urn; `None` when they cannot be opened.
    pub staff: Option<SharedStaff>,
}

/// Runs the kiosk until `shutdown`.
pub async fn run(
    config: Arc<StationConfig>,
    log: SharedLog,
    KioskOutputs {
        printer,
        templates,
        lamp,
        staff,
    }: KioskOutputs,
    mut commands: mpsc::Receiver<Command>,
    view: watch::Sender<KioskView>,
    shutdown: Shutdown,
) {
    let mut kiosk = Kiosk {
        fill: UrnFill::new(config.kiosk.capacity),
        config,
        log,
        printer,
        templates: Arc::new(templates),
        lamp,
        view,
        state: State::Idle,
        printer_status: PrinterStatus::Ready,
        ready_at: None,
        scanner_connected: true,
        staff,
    };
    kiosk.load_fill().await;
    kiosk.check_printer().await;
    kiosk.show_idle();
    // A fixed beat rather than a pause after the last command, which a steady flow of
    // deposits would keep putting off.
    let mut poll = tokio::time::interval_at(Instant::now() + PRINTER_POLL, PRINTER_POLL);
    poll.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let deadline = kiosk.deadline();
        tokio::select! {
            command = commands.recv() => match command {
                Some(command) => kiosk.handle(command).await,
                None => return,
            },
            _ = tokio::time::sleep_until(deadline) => kiosk.timed_out().await,
            _ = poll.tick() => kiosk.poll_printer().await,
            _ = shutdown.clone().wait() => return,
        }
    }
}

struct Kiosk {
    config: Arc<StationConfig>,
    log: SharedLog,
    printer: Arc<dyn Printer>,
    /// The envelope label's and the receipt's templates, checked against the printer at start.
    templates: Arc<LabelTemplates>,
    /// Lit over the slot while the kiosk waits for an envelope.
    lamp: Arc<dyn Lamp>,
    view: watch::Sender<KioskView>,
    state: State,
    printer_status: PrinterStatus,
    /// When the printer last said it can print (taken before asking, so never younger than
    /// the link's own record of the answer); `None` once it said otherwise.
    ready_at: Option<Instant>,
    scanner_connected: bool,
    /// Envelopes in the urn since the last collection, and the fill alerts raised.
    fill: UrnFill,
    /// The staff accounts that may empty the urn.
    staff: Option<SharedStaff>,
}

impl Kiosk {
    fn deadline(&self) -> Instant {
        match &self.state {
            State::Idle => Instant::now() + Duration::from_secs(3600),
            State::Choose { until, .. }
            | State::Drop { until, .. }
            | State::Done { until, .. }
            | State::Service { until, .. } => *until,
        }
    }

    fn publish(&self, mut next: KioskView) {
        self.lamp.set(next.step == Step::Drop);
        next.printer = self.printer_status;
        next.scanner_connected = self.scanner_connected;
        next.urn = UrnFillView {
            envelopes: self.fill.envelopes(),
            capacity: self.fill.capacity(),
            level: self.fill.level(),
        };
        next.idle_timeout_secs = self.config.kiosk.idle_timeout_secs;
        self.view.send_modify(|v| {
            next.version = v.version + 1;
            *v = next;
        });
    }

    /// Counts the envelopes in the urn from the log, and raises any fill alert that is due
    /// (the capacity may have been lowered since the last run).
    async fn load_fill(&mut self) {
        match self.log.urn_fill_events().await {
            Ok(events) => {
                for event in &events {
                    self.fill.observe(&event.payload);
                }
            }
            Err(e) => tracing::error!("kiosk: the urn's fill level could not be read: {e}"),
        }
        let due = self.fill.alerts_due();
        if !due.is_empty() {
            self.record(due, "fill alert").await;
        }
        tracing::info!(
            "kiosk: the urn holds {} of {} envelopes",
            self.fill.envelopes(),
            self.fill.capacity()
        );
    }

    /// Commits events in one transaction, each with the fill alerts it makes due.
    async fn record(&mut self, payloads: Vec<Payload>, what: &str) -> bool {
        let mut after = self.fill.clone();
        let mut entries = Vec::new();
        let now = clock::now();
        for payload in payloads {
            after.observe(&payload);
            entries.push((now, payload));
            for due in after.alerts_due() {
                after.observe(&due);
                entries.push((now, due));
            }
        }
        match self.log.append_all(entries).await {
            Ok(_) => {
                self.fill = after;
                true
            }
            Err(e) => {
                tracing::error!("kiosk: {what} not recorded: {e}");
                false
            }
        }
    }

    /// Whether a deposit can be taken and receipted now.
    fn can_take_deposits(&self) -> bool {
        self.printer_status.can_print() && self.fill.level() != FillLevel::Full
    }

    fn show_idle(&mut self) {
        self.state = State::Idle;
        if !self.can_take_deposits() {
            self.show_out_of_order();
            return;
        }
        self.publish(KioskView::idle(self.printer_status));
    }

    fn show_out_of_order(&self) {
        let mut v = KioskView::idle(self.printer_status);
        v.step = Step::OutOfOrder;
        v.say(if self.printer_status.can_print() {
            said::urn_full()
        } else {
            said::printer_out_of_order()
        });
        self.publish(v);
    }

    async fn handle(&mut self, command: Command) {
        if let Command::Input(Input::Door { open }) = command {
            let collecting = if open {
                self.service_door_opened().await
            } else {
                self.service_door_closed().await
            };
            if collecting {
                return;
            }
        }
        match (command, &self.state) {
            (Command::Input(Input::Door { open: true }), _) => {
                // Only a collection, with two staff signed in and the seal recorded, opens the
                // door without an alarm.
                let alarm = Payload::Alarm {
                    device: Device::Door,
                    alarm: text(DOOR_OPENED_OUTSIDE_COLLECTION),
                };
                tracing::warn!("kiosk: the urn's door opened outside a collection");
                self.record(vec![Payload::DoorOpened, alarm], "door opening")
                    .await;
            }
            (Command::Input(Input::Door { open: false }), _) => {
                self.record(vec![Payload::DoorClosed], "door closing").await;
            }
            (Command::Input(Input::ScannerConnected(connected)), _) => {
                self.scanner_connected = connected;
                let (device, fault) = (Device::Scanner, text("unplugged"));
                let payload = if connected {
                    Payload::FaultCleared { device, fault }
                } else {
                    Payload::FaultRaised { device, fault }
                };
                self.record(vec![payload], "scanner event").await;
                let current = self.view.borrow().clone();
                self.publish(current);
            }
            (Command::Input(Input::EnvelopeDropped), State::Drop { intake, .. }) => {
                let intake = *intake;
                if self
                    .record(vec![Payload::DropSeen { intake }], "drop")
                    .await
                {
                    self.show_done(intake, true, said::thanks());
                }
            }
            (
                Command::Input(Input::EnvelopeDropped),
                State::Done {
                    intake, seen: true, ..
                },
            ) => {
                // A second envelope on one label: recorded as a second drop for the intake, so
                // the mailroom's count of envelopes matches what is in the urn.
                let intake = *intake;
                self.record(vec![Payload::DropSeen { intake }], "second envelope")
                    .await;
                self.show_done(intake, true, said::one_label_per_envelope());
            }
            (
                Command::Input(Input::EnvelopeDropped),
                State::Done {
                    intake,
                    seen: false,
                    ..
                },
            ) => {
                // The resident was told the envelope was not seen and to drop it now: this is
                // that envelope, late.
                let intake = *intake;
                if self
                    .record(vec![Payload::DropSeen { intake }], "late drop")
                    .await
                {
                    self.show_done(intake, true, said::thanks());
                }
            }
            (Command::Input(Input::EnvelopeDropped), _) => {
                // An envelope with no label taken for it: it fills the urn all the same, and
                // the mailroom will find it without a deposit.
                tracing::warn!("kiosk: an envelope fell through the slot with no deposit open");
                let alarm = Payload::Alarm {
                    device: Device::Slot,
                    alarm: text(urn_fill::ENVELOPE_WITHOUT_DEPOSIT),
                };
                self.record(vec![alarm], "envelope without a deposit").await;
                if matches!(self.state, State::Idle) {
                    self.show_idle();
                }
            }
            (Command::Input(Input::Scanned(raw)), State::Idle | State::Done { .. }) => {
                match classify(&raw, &self.config.badge_prefix) {
                    Ok(Scanned::Reference(reference)) => {
                        self.show_choose(Some(reference.as_str().to_owned()))
                    }
                    Ok(Scanned::Label(_) | Scanned::Receipt(_)) => {
                        self.show_message(said::urna_code_scanned(&self.config.status_url))
                    }
                    Ok(Scanned::Badge(badge)) => self.start_collection(badge),
                    Err(refused) => self.show_message(refused.message()),
                }
            }
            (Command::Input(Input::Scanned(raw)), State::Service { .. }) => {
                self.service_scan(&raw).await
            }
            (Command::Pin(pin), State::Service { .. }) => self.service_pin(pin).await,
            (Command::Seal(seal), State::Service { .. }) => self.service_seal(&seal),
            (Command::Cancel, State::Service { .. }) => {
                self.end_service(said::service_cancelled()).await
            }
            (Command::Input(Input::Scanned(_)), _) => {}
            (Command::Start, State::Idle | State::Done { .. }) => self.show_choose(None),
            (Command::Input(Input::ButtonPressed), State::Idle | State::Done { .. }) => {
                // With the button alone, the default category leads straight to a receipt.
                let default = self.config.default_category.clone();
                self.deposit(&default, None).await;
            }
            (Command::Input(Input::ButtonPressed), State::Choose { reference, .. }) => {
                let reference = reference.clone();
                let default = self.config.default_category.clone();
                self.deposit(&default, reference).await;
            }
            (Command::Choose(id), State::Choose { reference, .. }) => {
                let reference = reference.clone();
                if self.config.category(&id).is_some() {
                    self.deposit(&id, reference).await;
                }
            }
            (Command::Cancel, State::Choose { .. }) => self.show_idle(),
            _ => {}
        }
    }

    /// The idle screen with a message in place of the usual prompt.
    fn show_message(&mut self, message: Said) {
        if !self.can_take_deposits() {
            self.show_idle();
            return;
        }
        self.state = State::Idle;
        let mut v = KioskView::idle(self.printer_status);
        v.say(message);
        self.publish(v);
    }

    fn show_choose(&mut self, reference: Option<String>) {
        if !self.can_take_deposits() {
            // Through idle, so that the kiosk comes back by itself when the printer does.
            self.show_idle();
            return;
        }
        self.state = State::Choose {
            reference: reference.clone(),
            until: Instant::now() + self.idle_timeout(),
        };
        let mut v = KioskView::idle(self.printer_status);
        v.step = Step::Choose;
        v.say(said::choose());
        v.reference = reference;
        v.categories = self
            .config
            .categories
            .iter()
            .map(|c| CategoryChoice {
                id: c.id.clone(),
                name_pl: c.name_pl.clone(),
                name_en: c.name_en.clone(),
                name_uk: c.name_uk.clone().unwrap_or_else(|| c.name_en.clone()),
            })
            .collect();
        self.publish(v);
    }

    fn idle_timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.config.kiosk.idle_timeout_secs))
    }

    fn show_done(&mut self, intake: IntakeId, seen: bool, message: Said) {
        self.state = State::Done {
            until: Instant::now()
                + Duration::from_secs(u64::from(self.config.kiosk.result_shown_secs)),
            intake,
            seen,
        };
        let mut v = self.view.borrow().clone();
        v.step = Step::Done;
        v.intake = Some(intake.to_string());
        v.say(message);
        v.categories.clear();
        self.publish(v);
    }

    async fn timed_out(&mut self) {
        match &self.state {
            State::Drop { intake, .. } => {
                let intake = *intake;
                self.record(vec![Payload::DropNotSeen { intake }], "missed drop")
                    .await;
                self.show_done(intake, false, said::drop_not_seen());
            }
            State::Choose { .. } | State::Done { .. } => self.show_idle(),
            State::Service { .. } => self.service_timed_out().await,
            State::Idle => {}
        }
    }

    /// Whether the printer's last "can print" is recent enough to take a deposit on.
    fn ready_stands(&self) -> bool {
        self.printer_status.can_print()
            && self.ready_at.is_some_and(|at| at.elapsed() < READY_REUSE)
    }

    /// The regular poll: asks the printer unless it just said it can print.
    async fn poll_printer(&mut self) {
        if self.ready_at.is_some_and(|at| at.elapsed() < POLL_SKIP) {
            return;
        }
        self.check_printer().await;
    }

    /// Asks the printer; records a fault raised or cleared when its state changes.
    async fn check_printer(&mut self) {
        if !self.refresh_printer().await {
            return;
        }
        if matches!(self.state, State::Idle | State::Choose { .. }) {
            self.show_idle();
        } else {
            let current = self.view.borrow().clone();
            self.publish(current);
        }
    }

    /// Asks the printer and records a fault raised or cleared; true when that changed what the
    /// screen should say. The screen is left to the caller.
    async fn refresh_printer(&mut self) -> bool {
        let printer = self.printer.clone();
        let asked = Instant::now();
        let status = tokio::task::spawn_blocking(move || printer.status())
            .await
            .unwrap_or(PrinterStatus::Offline);
        self.ready_at = status.can_print().then_some(asked);
        if status == self.printer_status {
            return false;
        }
        let previous = std::mem::replace(&mut self.printer_status, status);
        let payloads = printing::fault_events(previous, status);
        if payloads.is_empty() {
            return false;
        }
        tracing::info!("kiosk: printer is now {status:?}");
        self.record(payloads, "printer fault").await;
        true
    }

    async fn deposit(&mut self, category_id: &str, reference: Option<String>) {
        if !self.ready_stands() {
            self.check_printer().await;
        }
        if !self.can_take_deposits() {
            // Through idle, not left in the previous step: a kiosk still counting down a
            // finished deposit's screen would otherwise show "out of order" for up to
            // the result's time after the printer is back.
            self.show_idle();
            return;
        }
        let Some(category) = self.config.category(category_id).cloned() else {
            return;
        };
        let now = clock::now();
        let reference_text = reference.as_deref().and_then(|r| Text::new(r).ok());
        let category_text = text(&category.id);
        let appended = self
            .log
            .append_intake(now, move |id| {
                Payload::Deposit(Intake {
                    id,
                    received_at: now,
                    channel: Channel::Urn,
                    category: category_text,
                    reference: reference_text,
                    sender: None,
                    attachments: None,
                })
            })
            .await;
        let intake = match appended {
            Ok(a) => match a.event.payload.intake() {
                Some(id) => id,
                None => return,
            },
            Err(e) => {
                tracing::error!("kiosk: deposit not recorded: {e}");
                let mut v = KioskView::idle(self.printer_status);
                v.step = Step::OutOfOrder;
                v.say(said::storage_out_of_order());
                self.publish(v);
                return;
            }
        };
        // Committed: from here on the deposit exists, whatever happens to the printer.
        let deposited_at = clock::local_text(now);
        let printing = Instant::now();
        let printed = self
            .print_for(intake, &category, now, reference.as_deref())
            .await;
        if printed {
            // Both jobs were confirmed: as good as a poll.
            self.ready_at = Some(printing);
        }
        self.state = State::Drop {
            intake,
            until: Instant::now() + Duration::from_secs(u64::from(self.config.drop_timeout_secs)),
        };
        let mut v = KioskView::idle(self.printer_status);
        v.step = Step::Drop;
        v.intake = Some(intake.to_string());
        v.deposited_at = Some(deposited_at);
        v.reference = reference;
        v.say(if printed {
            said::drop_now()
        } else {
            said::printed_nothing(&intake.to_string())
        });
        self.publish(v);
    }

    /// Prints the envelope label and the receipt, recording each; false if either failed.
    async fn print_for(
        &mut self,
        intake: IntakeId,
        category: &Category,
        now: records::Timestamp,
        reference: Option<&str>,
    ) -> bool {
        let label = IntakeLabel {
            intake,
            received_at: now,
            channel: Channel::Urn,
            category,
            reference,
        };
        let printed = printing::print_intake(
            &self.config,
            &self.log,
            &self.printer,
            &self.templates,
            &label,
            &[LabelKind::Envelope, LabelKind::Receipt],
        )
        .await;
        match printed {
            Ok(()) => true,
            Err(e) => {
                tracing::error!("kiosk: labels for {intake}: {e}");
                if matches!(e, PrintFailure::Printer(..)) {
                    // Recorded now; the deposit's own screen, which follows, says the rest
                    // (not "out of order" first: this resident's letter was taken).
                    self.refresh_printer().await;
                }
                false
            }
        }
    }
}

fn text(s: &str) -> Text {
    Text::sanitized(s)
}
