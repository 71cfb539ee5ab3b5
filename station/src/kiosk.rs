//! The urn kiosk's workflow: a resident scans a form's code or presses the button, picks what the
//! letter is about, gets a label and a receipt, and drops the envelope. The deposit is committed
//! before anything is printed or shown as recorded.

use std::sync::Arc;
use std::time::Duration;

use records::{Channel, Device, Intake, IntakeId, LabelKind, Payload, Text};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::clock;
use crate::config::{Category, StationConfig};
use crate::devices::{Input, Lamp, PrintJob, Printer, PrinterStatus};
use crate::printer::setup::LabelTemplates;
use crate::scanned::{Scanned, classify};
use crate::shared_log::SharedLog;
use crate::shutdown::Shutdown;
use crate::template::{Field, Fields};
use crate::workflow::Command;

/// How long a resident may take to choose a category before the kiosk starts over.
const CHOOSE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the result stays on screen.
const DONE_SHOWN: Duration = Duration::from_secs(15);
/// How often the printer is asked for its status while nothing happens.
const PRINTER_POLL: Duration = Duration::from_secs(1);

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
    /// Counts up with every change, so a page can tell new from old.
    pub version: u64,
}

impl KioskView {
    /// What the page shows before the kiosk has started.
    pub fn initial() -> KioskView {
        KioskView::idle(PrinterStatus::Ready)
    }

    fn idle(printer: PrinterStatus) -> KioskView {
        KioskView {
            step: Step::Idle,
            message_pl: "Zeskanuj kod z formularza albo naciśnij przycisk".into(),
            message_en: "Scan the code on your form, or press the button".into(),
            intake: None,
            deposited_at: None,
            reference: None,
            categories: Vec::new(),
            printer,
            scanner_connected: true,
            version: 0,
        }
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
        /// The intake whose envelope was just seen falling: a further envelope while this
        /// screen shows went in on the same label.
        dropped: Option<IntakeId>,
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
}

/// Runs the kiosk until `shutdown`.
pub async fn run(
    config: Arc<StationConfig>,
    log: SharedLog,
    KioskOutputs {
        printer,
        templates,
        lamp,
    }: KioskOutputs,
    mut commands: mpsc::Receiver<Command>,
    view: watch::Sender<KioskView>,
    shutdown: Shutdown,
) {
    let mut kiosk = Kiosk {
        config,
        log,
        printer,
        templates: Arc::new(templates),
        lamp,
        view,
        state: State::Idle,
        printer_status: PrinterStatus::Ready,
        scanner_connected: true,
    };
    kiosk.check_printer().await;
    kiosk.show_idle();
    loop {
        let deadline = kiosk.deadline();
        tokio::select! {
            command = commands.recv() => match command {
                Some(command) => kiosk.handle(command).await,
                None => return,
            },
            _ = tokio::time::sleep_until(deadline) => kiosk.timed_out().await,
            _ = tokio::time::sleep(PRINTER_POLL) => kiosk.check_printer().await,
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
    scanner_connected: bool,
}

impl Kiosk {
    fn deadline(&self) -> Instant {
        match &self.state {
            State::Idle => Instant::now() + Duration::from_secs(3600),
            State::Choose { until, .. } | State::Drop { until, .. } | State::Done { until, .. } => {
                *until
            }
        }
    }

    fn publish(&self, mut next: KioskView) {
        self.lamp.set(next.step == Step::Drop);
        next.printer = self.printer_status;
        next.scanner_connected = self.scanner_connected;
        self.view.send_modify(|v| {
            next.version = v.version + 1;
            *v = next;
        });
    }

    fn show_idle(&mut self) {
        self.state = State::Idle;
        if !self.printer_status.can_print() {
            self.show_out_of_order();
            return;
        }
        self.publish(KioskView::idle(self.printer_status));
    }

    fn show_out_of_order(&self) {
        let mut v = KioskView::idle(self.printer_status);
        v.step = Step::OutOfOrder;
        v.message_pl = "Urna chwilowo nie przyjmuje przesyłek: nie możemy wydrukować potwierdzenia. Obsługa została powiadomiona.".into();
        v.message_en = "The urn cannot take letters right now: it cannot print your receipt. The staff have been told.".into();
        self.publish(v);
    }

    async fn handle(&mut self, command: Command) {
        match (command, &self.state) {
            (Command::Input(Input::Door { open }), _) => {
                let payload = if open {
                    Payload::DoorOpened
                } else {
                    Payload::DoorClosed
                };
                if let Err(e) = self.log.append(clock::now(), payload).await {
                    tracing::error!("kiosk: door event not recorded: {e}");
                }
            }
            (Command::Input(Input::ScannerConnected(connected)), _) => {
                self.scanner_connected = connected;
                let (device, fault) = (Device::Scanner, text("unplugged"));
                let payload = if connected {
                    Payload::FaultCleared { device, fault }
                } else {
                    Payload::FaultRaised { device, fault }
                };
                if let Err(e) = self.log.append(clock::now(), payload).await {
                    tracing::error!("kiosk: scanner event not recorded: {e}");
                }
                let current = self.view.borrow().clone();
                self.publish(current);
            }
            (Command::Input(Input::EnvelopeDropped), State::Drop { intake, .. }) => {
                let intake = *intake;
                match self
                    .log
                    .append(clock::now(), Payload::DropSeen { intake })
                    .await
                {
                    Ok(_) => self.show_done(
                        intake,
                        true,
                        "Dziękujemy. Przesyłka jest w urnie. Zachowaj potwierdzenie.",
                        "Thank you. Your letter is in the urn. Keep your receipt.",
                    ),
                    Err(e) => tracing::error!("kiosk: drop not recorded: {e}"),
                }
            }
            (
                Command::Input(Input::EnvelopeDropped),
                State::Done {
                    dropped: Some(intake),
                    ..
                },
            ) => {
                // A second envelope on one label: recorded as a second drop for the intake, so
                // the mailroom's count of envelopes matches what is in the urn.
                let intake = *intake;
                if let Err(e) = self
                    .log
                    .append(clock::now(), Payload::DropSeen { intake })
                    .await
                {
                    tracing::error!("kiosk: second envelope not recorded: {e}");
                }
                self.show_done(
                    intake,
                    true,
                    "Do urny wpadła więcej niż jedna koperta na jedną etykietę. Każda koperta potrzebuje własnej etykiety: przy następnych kopertach naciśnij przycisk, by wziąć etykietę dla każdej.",
                    "More than one envelope went in on one label. Each envelope needs its own label: for further envelopes, press the button to take a label for each.",
                );
            }
            (Command::Input(Input::EnvelopeDropped), _) => {
                // An envelope with no label taken for it: the "resident at the urn" issue counts
                // and reports these; here it is only logged.
                tracing::warn!("kiosk: an envelope fell through the slot with no deposit open");
            }
            (Command::Input(Input::Scanned(raw)), State::Idle | State::Done { .. }) => {
                match classify(&raw, &self.config.badge_prefix) {
                    Ok(Scanned::Reference(reference)) => {
                        self.show_choose(Some(reference.as_str().to_owned()))
                    }
                    Ok(Scanned::Label(_) | Scanned::Receipt(_)) => self.show_message(
                        format!(
                            "To jest kod urny, nie formularza. Status przesyłki sprawdzisz na stronie {}.",
                            self.config.status_url
                        ),
                        format!(
                            "That is an urna code, not a form. Check the letter's status at {}.",
                            self.config.status_url
                        ),
                    ),
                    Ok(Scanned::Badge(_)) => self.show_message(
                        "Karta pracownika: obsługa urny odbywa się w kancelarii.".into(),
                        "Staff badge: the urn is serviced from the mailroom.".into(),
                    ),
                    Err(refused) => {
                        let (pl, en) = refused.message();
                        self.show_message(pl.into(), en.into());
                    }
                }
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
    fn show_message(&mut self, pl: String, en: String) {
        self.state = State::Idle;
        let mut v = KioskView::idle(self.printer_status);
        v.message_pl = pl;
        v.message_en = en;
        self.publish(v);
    }

    fn show_choose(&mut self, reference: Option<String>) {
        if !self.printer_status.can_print() {
            // Through idle, so that the kiosk comes back by itself when the printer does.
            self.show_idle();
            return;
        }
        self.state = State::Choose {
            reference: reference.clone(),
            until: Instant::now() + CHOOSE_TIMEOUT,
        };
        let mut v = KioskView::idle(self.printer_status);
        v.step = Step::Choose;
        v.message_pl = "Czego dotyczy pismo? Wybierz albo naciśnij przycisk (inne).".into();
        v.message_en = "What is the letter about? Choose, or press the button (other).".into();
        v.reference = reference;
        v.categories = self
            .config
            .categories
            .iter()
            .map(|c| CategoryChoice {
                id: c.id.clone(),
                name_pl: c.name_pl.clone(),
                name_en: c.name_en.clone(),
            })
            .collect();
        self.publish(v);
    }

    fn show_done(&mut self, intake: IntakeId, dropped: bool, pl: &str, en: &str) {
        self.state = State::Done {
            until: Instant::now() + DONE_SHOWN,
            dropped: dropped.then_some(intake),
        };
        let mut v = self.view.borrow().clone();
        v.step = Step::Done;
        v.intake = Some(intake.to_string());
        v.message_pl = pl.into();
        v.message_en = en.into();
        v.categories.clear();
        self.publish(v);
    }

    async fn timed_out(&mut self) {
        match &self.state {
            State::Drop { intake, .. } => {
                let intake = *intake;
                if let Err(e) = self
                    .log
                    .append(clock::now(), Payload::DropNotSeen { intake })
                    .await
                {
                    tracing::error!("kiosk: missed drop not recorded: {e}");
                }
                self.show_done(
                    intake,
                    false,
                    "Nie zauważyliśmy koperty w otworze. Jeśli jej nie wrzuciłeś, zgłoś się z potwierdzeniem do biura podawczego.",
                    "We did not see the envelope go in. If you did not drop it, take your receipt to the front office.",
                );
            }
            State::Choose { .. } | State::Done { .. } => self.show_idle(),
            State::Idle => {}
        }
    }

    /// Asks the printer; records a fault raised or cleared when its state changes.
    async fn check_printer(&mut self) {
        let printer = self.printer.clone();
        let status = tokio::task::spawn_blocking(move || printer.status())
            .await
            .unwrap_or(PrinterStatus::Offline);
        if status == self.printer_status {
            return;
        }
        let previous = std::mem::replace(&mut self.printer_status, status);
        let payload = match (previous.fault_name(), status.fault_name()) {
            (_, Some(fault)) => Payload::FaultRaised {
                device: Device::Printer,
                fault: text(fault),
            },
            (Some(fault), None) => Payload::FaultCleared {
                device: Device::Printer,
                fault: text(fault),
            },
            (None, None) => return,
        };
        tracing::info!("kiosk: printer is now {status:?}");
        if let Err(e) = self.log.append(clock::now(), payload).await {
            tracing::error!("kiosk: printer fault not recorded: {e}");
        }
        if matches!(self.state, State::Idle | State::Choose { .. }) {
            self.show_idle();
        } else {
            let current = self.view.borrow().clone();
            self.publish(current);
        }
    }

    async fn deposit(&mut self, category_id: &str, reference: Option<String>) {
        self.check_printer().await;
        if !self.printer_status.can_print() {
            // Through idle, not left in the previous step: a kiosk still counting down a
            // finished deposit's screen would otherwise show "out of order" for up to
            // DONE_SHOWN after the printer is back.
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
                v.message_pl =
                    "Urna chwilowo nie działa. Prosimy skorzystać z biura podawczego.".into();
                v.message_en = "The urn is out of order. Please use the front office.".into();
                self.publish(v);
                return;
            }
        };
        // Committed: from here on the deposit exists, whatever happens to the printer.
        let deposited_at = clock::local_text(now);
        let printed = self
            .print_for(intake, &category, now, &deposited_at, reference.as_deref())
            .await;
        self.state = State::Drop {
            intake,
            until: Instant::now() + Duration::from_secs(u64::from(self.config.drop_timeout_secs)),
        };
        let mut v = KioskView::idle(self.printer_status);
        v.step = Step::Drop;
        v.intake = Some(intake.to_string());
        v.deposited_at = Some(deposited_at);
        v.reference = reference;
        if printed {
            v.message_pl =
                "Naklej etykietę na kopertę i wrzuć ją do otworu. Zabierz potwierdzenie.".into();
            v.message_en =
                "Stick the label on the envelope and drop it into the slot. Keep your receipt."
                    .into();
        } else {
            v.message_pl = format!(
                "Przesyłka zarejestrowana jako {intake}, ale drukarka zawiodła. Zapisz ten numer i wrzuć kopertę; obsługa została powiadomiona."
            );
            v.message_en = format!(
                "Your letter is registered as {intake}, but the printer failed. Note this number and drop the envelope; the staff have been told."
            );
        }
        self.publish(v);
    }

    /// Prints the envelope label and the receipt, recording each; false if either failed.
    async fn print_for(
        &mut self,
        intake: IntakeId,
        category: &Category,
        now: records::Timestamp,
        deposited_at: &str,
        reference: Option<&str>,
    ) -> bool {
        let payload = match self
            .log
            .sign_receipt(intake, now.unix_ms.div_euclid(1000))
            .await
        {
            Ok(p) => p.to_string(),
            Err(e) => {
                tracing::error!("kiosk: receipt not signed: {e}");
                return false;
            }
        };
        let intake_text = intake.to_string();
        let fields = Fields::new()
            .with(Field::IntakeId, &intake_text)
            .with(Field::DepositTime, deposited_at)
            .with(Field::DepositDate, clock::local_date_text(now))
            .with(Field::StationName, &self.config.name)
            .with(Field::Place, &self.config.place)
            .with(
                Field::Category,
                format!("{} / {}", category.name_pl, category.name_en),
            )
            .with(Field::Department, &category.department)
            .with(Field::Channel, "urna / urn")
            .with(Field::Reference, reference.unwrap_or("brak / none"))
            .with(Field::ReceiptPayload, &payload)
            .with(Field::StatusUrl, &self.config.status_url)
            .with(Field::PrintedAt, deposited_at);
        let templates = self.templates.clone();
        let jobs = tokio::task::spawn_blocking(move || -> Result<[PrintJob; 2], String> {
            let render = |template: &crate::template::Template| {
                template.render(&fields).map_err(|e| e.to_string())
            };
            Ok([
                PrintJob {
                    label: LabelKind::Envelope,
                    intake,
                    image: render(&templates.envelope)?,
                    qr_text: templates
                        .envelope
                        .encodes(Field::ReceiptPayload)
                        .then(|| payload.clone()),
                },
                PrintJob {
                    label: LabelKind::Receipt,
                    intake,
                    image: render(&templates.receipt)?,
                    qr_text: templates
                        .receipt
                        .encodes(Field::ReceiptPayload)
                        .then(|| payload.clone()),
                },
            ])
        })
        .await;
        let jobs = match jobs {
            Ok(Ok(jobs)) => jobs,
            Ok(Err(e)) => {
                // Every template was rendered with sample values at start, so only a value
                // that does not fit (an overlong reference on a fixed-size label) gets here.
                tracing::error!("kiosk: label for {intake} not rendered: {e}");
                return false;
            }
            Err(_) => return false,
        };
        for job in jobs {
            let printer = self.printer.clone();
            let label_kind = job.label;
            let result = tokio::task::spawn_blocking(move || printer.print(&job))
                .await
                .unwrap_or(Err(PrinterStatus::Offline));
            match result {
                Ok(()) => {
                    if let Err(e) = self
                        .log
                        .append(
                            clock::now(),
                            Payload::LabelPrinted {
                                intake,
                                label: label_kind,
                            },
                        )
                        .await
                    {
                        tracing::error!("kiosk: printed label not recorded: {e}");
                    }
                }
                Err(status) => {
                    tracing::error!(
                        "kiosk: printing {label_kind:?} for {intake} failed: {status:?}"
                    );
                    self.check_printer().await;
                    return false;
                }
            }
        }
        true
    }
}

fn text(s: &str) -> Text {
    Text::sanitized(s)
}
