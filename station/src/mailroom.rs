//! The mailroom counter's workflow (thin): one scan of an envelope's label moves it one step —
//! collected into a sanitising hold, released when the hold is over (never before), forwarded to
//! its category's department. Each step is a custody event, committed before it is shown.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use records::api::IntakeView;
use records::{IntakeId, Payload, Text, Timestamp};
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use crate::alerts_feed::AlertsView;
use crate::clock;
use crate::config::StationConfig;
use crate::devices::{Input, Printer, PrinterStatus};
use crate::hold_clock::{HoldClock, HoldProgress};
use crate::printer::setup::LabelTemplates;
use crate::scanned::{Scanned, classify};
use crate::shared_log::SharedLog;
use crate::shutdown::Shutdown;
use crate::staff::{self, Lockout, PinCheck, SharedStaff, StaffMember, StaffRole};
use crate::workflow::{Command, Pin};

mod bag;
mod bin;
mod department;
mod early;
mod intake;
mod printer;
pub use bag::{BagView, ConfirmStep};
pub use department::{CHANGE_REASON_CHARS, Change, ForwardView, check_change};
pub use early::{EarlyView, REASON_CHARS};
pub use intake::{
    IntakeForm, MAX_ATTACHMENTS, REFERENCE_CHARS, Refused, SENDER_CHARS, ValidIntake,
    validate as validate_intake,
};

/// The result of the last scan, for the staff screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScanResult {
    /// Whether the step was taken.
    pub ok: bool,
    /// The intake scanned, if the code was one.
    pub intake: Option<String>,
    /// What happened, Polish.
    pub message_pl: String,
    /// What happened, English.
    pub message_en: String,
}

/// An envelope in a sanitising hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Held {
    /// Its id.
    pub intake: String,
    /// When the hold should end, local time: the wall clock now plus what is left, for people
    /// only (`—` while the wall clock is not trusted). The hold clock decides.
    pub until: String,
    /// Seconds of the hold left on the hold clock, rounded up; 0 once it may be released.
    pub remaining_secs: u64,
    /// Whether it may be released now.
    pub releasable: bool,
}

/// About when a hold ends, on the wall clock: for people only, and only while the clock is
/// trusted.
fn hold_end_estimate(now: Timestamp, progress: &HoldProgress) -> Option<Timestamp> {
    let left_ms = i64::try_from(progress.remaining().as_millis()).unwrap_or(i64::MAX);
    now.trusted.then(|| Timestamp {
        unix_ms: now.unix_ms.saturating_add(left_ms),
        trusted: true,
    })
}

/// Everything the mailroom page shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MailroomView {
    /// The last scan's result.
    pub last: Option<ScanResult>,
    /// Envelopes in a hold, in the order they were collected.
    pub held: Vec<Held>,
    /// Open device alerts at the office's stations, from the registry.
    pub devices: AlertsView,
    /// Who is signed in, or where the sign-in stands.
    pub staff: StaffView,
    /// A collection bag being checked in.
    pub bag: Option<BagView>,
    /// An early release offered or under way.
    pub early: Option<EarlyView>,
    /// A released envelope that may be sent to another department than its category's.
    pub forward: Option<ForwardView>,
    /// What is wrong with the label printer, Polish / English; `None` when it is ready.
    pub printer: Option<String>,
    /// Today's forwarding lists, by department.
    pub forwarding: Vec<crate::forwarding::ForwardingList>,
    /// Counts the results shown, so the page can tell a new result from the same one again.
    pub results: u64,
    /// Counts up with every change.
    pub version: u64,
}

/// Where the staff sign-in stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInStep {
    /// Nobody is signed in: scan a badge.
    #[default]
    SignedOut,
    /// A badge was scanned: type its PIN.
    AwaitingPin,
    /// Someone is signed in.
    SignedIn,
}

/// The sign-in as the screen shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StaffView {
    /// The step.
    pub step: SignInStep,
    /// The badge scanned or signed in.
    pub badge: Option<String>,
    /// The signed-in staff member's name.
    pub name: Option<String>,
    /// Their role.
    pub role: Option<StaffRole>,
}

/// How long a scanned badge waits for its PIN.
const PIN_WAIT: Duration = Duration::from_secs(60);

/// How often the list of holds is refreshed, so "releasable" appears on time.
const REFRESH: Duration = Duration::from_secs(5);

/// What the mailroom reacts to.
#[derive(Debug)]
pub struct MailroomInputs {
    /// Scans and touches.
    pub commands: mpsc::Receiver<Command>,
    /// The office's device alerts, as the registry last told them.
    pub alerts: watch::Receiver<AlertsView>,
}

/// What the mailroom prints with: envelope labels and receipts for post and counter intake,
/// and quarantine bin labels.
#[allow(missing_debug_implementations)] // the device traits are not Debug
pub struct MailroomOutputs {
    /// The label printer.
    pub printer: Arc<dyn Printer>,
    /// The templates, checked against the printer at start.
    pub templates: Arc<LabelTemplates>,
}

/// Runs the mailroom until `shutdown`.
pub async fn run(
    config: Arc<StationConfig>,
    log: SharedLog,
    MailroomInputs {
        mut commands,
        mut alerts,
    }: MailroomInputs,
    outputs: Option<MailroomOutputs>,
    view: watch::Sender<MailroomView>,
    shutdown: Shutdown,
) {
    // Lookups are signed like every request to the registry; without a key (unit tests) the
    // mailroom works on what its own log says.
    let client =
        crate::signed_client::SignedClient::from_key_file(&config.registry_url, &config.key_file)
            .ok();
    let staff = staff::open_shared(&config.data_dir).await;
    let mailroom = Mailroom {
        hold_clock: HoldClock::new(
            log.clone(),
            config.longest_hold(),
            config.hold_clock_save_secs,
        ),
        config,
        log,
        client,
        view,
        staff,
        session: Mutex::new(Session::SignedOut),
        bag: Mutex::new(None),
        early: Mutex::new(early::Early::None),
        forward: Mutex::new(None),
        // Assumed ready until asked, so that a printer already at fault at start is recorded.
        printer_status: Mutex::new(PrinterStatus::Ready),
        printer: outputs.as_ref().map(|o| o.printer.clone()),
        templates: outputs.map(|o| o.templates),
    };
    mailroom.refresh_holds().await;
    mailroom.refresh_forwarding().await;
    mailroom.check_printer().await;
    let mut forwarding_day = clock::local_day_start_ms(clock::now());
    let mut alerts_open = true;
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(Command::Input(Input::Scanned(raw))) => {
                    let result = mailroom.scan(&raw).await;
                    mailroom.show(result);
                    mailroom.refresh_holds().await;
                    mailroom.refresh_forwarding().await;
                }
                Some(Command::Pin(pin)) => {
                    let result = match mailroom.bag_pin(pin).await {
                        Ok(result) => result,
                        Err(pin) => match mailroom.early_pin(pin).await {
                            Ok(result) => result,
                            Err(pin) => mailroom.enter_pin(pin).await,
                        },
                    };
                    mailroom.show(result);
                }
                Some(Command::FinishBag) => {
                    let result = mailroom.finish_bag();
                    mailroom.show(result);
                }
                Some(Command::Cancel) => {
                    let cancelled = mailroom
                        .cancel_early()
                        .or_else(|| mailroom.cancel_forward())
                        .or_else(|| mailroom.cancel_bag());
                    if let Some(result) = cancelled {
                        mailroom.show(result);
                    }
                }
                Some(Command::EarlyRelease(reason)) => {
                    let result = mailroom.early_step(reason);
                    mailroom.show(result);
                }
                Some(Command::Intake(form)) => {
                    let result = mailroom.intake(*form).await;
                    mailroom.check_printer().await;
                    mailroom.show(result);
                    mailroom.refresh_holds().await;
                }
                Some(Command::ForwardElsewhere { department, reason }) => {
                    let result = mailroom.forward_elsewhere(&department, &reason).await;
                    mailroom.show(result);
                    mailroom.refresh_forwarding().await;
                }
                Some(Command::PrintBinLabel) => {
                    let result = mailroom.print_bin_label().await;
                    mailroom.check_printer().await;
                    mailroom.show(result);
                }
                Some(Command::SignOut) => {
                    if let Some(result) = mailroom.sign_out(false).await {
                        mailroom.show(result);
                    }
                }
                Some(_) => {}
                None => return,
            },
            _ = tokio::time::sleep(REFRESH) => {
                mailroom.refresh_holds().await;
                mailroom.check_printer().await;
                let day = clock::local_day_start_ms(clock::now());
                if day != forwarding_day {
                    forwarding_day = day;
                    mailroom.refresh_forwarding().await;
                }
                if let Some(result) = mailroom.expire_session().await {
                    mailroom.show(result);
                }
            }
            changed = alerts.changed(), if alerts_open => {
                // The feed stops only at shutdown; until then, keep the last list.
                alerts_open = changed.is_ok();
                let devices = alerts.borrow_and_update().clone();
                mailroom.view.send_modify(|v| {
                    v.devices = devices;
                    v.version += 1;
                });
            }
            _ = shutdown.clone().wait() => return,
        }
    }
}

/// How long a lookup at the registry may keep staff waiting.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

struct Mailroom {
    config: Arc<StationConfig>,
    log: SharedLog,
    client: Option<crate::signed_client::SignedClient>,
    view: watch::Sender<MailroomView>,
    /// Time that certainly passed, which holds are judged by: no wall-clock step, and no
    /// restart on a wrong clock, ends one early.
    hold_clock: HoldClock,
    /// The staff accounts; `None` when the file cannot be opened (nobody can sign in).
    staff: Option<SharedStaff>,
    /// Who is signed in.
    session: Mutex<Session>,
    /// The collection bag being checked in.
    bag: Mutex<Option<bag::BagCheck>>,
    /// An early release offered or under way.
    early: Mutex<early::Early>,
    /// A released envelope waiting to be forwarded, which may go elsewhere.
    forward: Mutex<Option<ForwardView>>,
    /// The label printer; without one, intakes are recorded and staff write the id by hand.
    printer: Option<Arc<dyn Printer>>,
    /// The label templates.
    templates: Option<Arc<LabelTemplates>>,
    /// The printer's state when last asked.
    printer_status: Mutex<PrinterStatus>,
}

/// The sign-in, on the monotonic clock (a wall-clock step neither ends nor extends a session).
enum Session {
    SignedOut,
    AwaitingPin {
        badge: String,
        since: Instant,
    },
    SignedIn {
        member: StaffMember,
        last_active: Instant,
    },
}

/// Where an intake stands in this station's own log.
enum Stage {
    NotCollected,
    Held { until: Timestamp },
    Released,
    Forwarded { department: String },
}

fn failure(intake: Option<IntakeId>, pl: impl Into<String>, en: impl Into<String>) -> ScanResult {
    ScanResult {
        ok: false,
        intake: intake.map(|i| i.to_string()),
        message_pl: pl.into(),
        message_en: en.into(),
    }
}

fn notice(ok: bool, pl: impl Into<String>, en: impl Into<String>) -> ScanResult {
    ScanResult {
        ok,
        intake: None,
        message_pl: pl.into(),
        message_en: en.into(),
    }
}

fn success(intake: IntakeId, pl: impl Into<String>, en: impl Into<String>) -> ScanResult {
    ScanResult {
        ok: true,
        intake: Some(intake.to_string()),
        message_pl: pl.into(),
        message_en: en.into(),
    }
}

impl Mailroom {
    async fn stage(&self, intake: IntakeId) -> Result<Stage, String> {
        let events = self
            .log
            .events_for_intake(intake)
            .await
            .map_err(|e| e.to_string())?;
        let mut stage = Stage::NotCollected;
        for event in events {
            stage = match event.payload {
                Payload::HoldStarted { hold_secs, .. } => Stage::Held {
                    until: Timestamp {
                        unix_ms: event.recorded_at.unix_ms + i64::from(hold_secs) * 1000,
                        trusted: event.recorded_at.trusted,
                    },
                },
                Payload::HoldReleased { .. } => Stage::Released,
                Payload::Forwarded { department, .. } => Stage::Forwarded {
                    department: department.to_string(),
                },
                _ => stage,
            };
        }
        Ok(stage)
    }

    /// What the registry knows of the intake (its category and department).
    async fn lookup(&self, intake: IntakeId) -> Option<IntakeView> {
        let client = self.client.as_ref()?;
        let response = client
            .get(&format!("/api/intakes/{intake}"), Some(LOOKUP_TIMEOUT))
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json::<IntakeView>().await.ok()
    }

    async fn scan(&self, raw: &str) -> ScanResult {
        let scanned = match classify(raw, &self.config.badge_prefix) {
            Ok(Scanned::Badge(badge)) => {
                if let Some(result) = self.early_badge(&badge).or_else(|| self.bag_badge(&badge)) {
                    return result;
                }
                return self.badge_scanned(badge).await;
            }
            other => other,
        };
        if let Some(refused) = self.require_session() {
            return refused;
        }
        let intake = match scanned {
            Ok(Scanned::Label(id)) => id,
            Ok(Scanned::Receipt(receipt)) => receipt.intake,
            Ok(Scanned::Reference(code)) => match crate::kiosk::seal_number(code.as_str()) {
                Some(seal) => return self.seal_scanned(&seal).await,
                None => {
                    return failure(
                        None,
                        "To nie jest etykieta urny ani plomba. Zeskanuj kod z koperty.",
                        "That is neither an urna label nor a seal. Scan the code on the envelope.",
                    );
                }
            },
            Ok(Scanned::Badge(_)) => {
                return failure(
                    None,
                    "To nie jest etykieta urny. Zeskanuj kod z koperty.",
                    "That is not an urna label. Scan the code on the envelope.",
                );
            }
            Err(refused) => {
                let said = refused.message();
                return failure(None, said.pl, said.en);
            }
        };
        self.lapse_early_offer();
        let note = match self.bag_envelope(intake) {
            Ok(note) => note,
            Err(again) => return again,
        };
        let mut result = self.step(intake).await;
        self.offer_forward_if_released(Some(intake)).await;
        if let Some((pl, en)) = note {
            // Not on the urn's list: said first, and shown as something to look at.
            result.ok = false;
            result.message_pl = format!("{pl}{}", result.message_pl);
            result.message_en = format!("{en}{}", result.message_en);
        }
        result
    }

    /// Moves an envelope one step: into a hold, out of it when the hold is over, to its
    /// department.
    async fn step(&self, intake: IntakeId) -> ScanResult {
        let stage = match self.stage(intake).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("mailroom: reading the log: {e}");
                return failure(
                    Some(intake),
                    "Błąd zapisu stanowiska — wezwij administratora.",
                    "Station storage error — call the administrator.",
                );
            }
        };
        let now = clock::now();
        match stage {
            Stage::NotCollected => {
                // Without the category (registry unreachable, deposit not synced yet) the
                // longest hold any category has is used: a hold may be too long, never too short.
                let category = self.lookup(intake).await.map(|v| v.category);
                let hold_secs = category
                    .as_deref()
                    .map(|c| self.config.hold_for(c))
                    .unwrap_or_else(|| self.config.longest_hold());
                match self.start_hold(now, intake, hold_secs, true).await {
                    Ok(()) => {
                        let until = clock::local_text(Timestamp {
                            unix_ms: now.unix_ms + i64::from(hold_secs) * 1000,
                            trusted: now.trusted,
                        });
                        success(
                            intake,
                            format!("Przyjęto. Kwarantanna do {until}."),
                            format!("Collected. Held until {until}."),
                        )
                    }
                    Err(e) => self.storage_failure(intake, e),
                }
            }
            Stage::Held { until: planned } => {
                // The hold clock decides: time that certainly passed since the hold started. The
                // wall clock only says, for people, about when that will be.
                let progress = match self.hold_clock.hold(intake).await {
                    Ok(Some(progress)) => progress,
                    found => {
                        tracing::error!(
                            "mailroom: no hold of {intake} on the hold clock: {found:?}"
                        );
                        self.offer_early(intake);
                        return failure(
                            Some(intake),
                            "Nie wiadomo, ile jeszcze trwa kwarantanna — wezwij administratora. Nie wydawaj wcześniej.",
                            "The station cannot tell how long the hold still lasts — call the administrator. Do not release it earlier.",
                        );
                    }
                };
                if !progress.is_over() {
                    self.offer_early(intake);
                    let left = progress.remaining_text();
                    let (mut pl, mut en) = match hold_end_estimate(now, &progress) {
                        Some(end) => (
                            format!(
                                "Kwarantanna trwa jeszcze {left} (do ok. {}). Nie wydawaj wcześniej.",
                                clock::local_text(end)
                            ),
                            format!(
                                "The hold lasts {left} more (until about {}). Do not release it earlier.",
                                clock::local_text(end)
                            ),
                        ),
                        None => (
                            format!("Kwarantanna trwa jeszcze {left}. Nie wydawaj wcześniej."),
                            format!("The hold lasts {left} more. Do not release it earlier."),
                        ),
                    };
                    // The end recorded with the hold (and printed on its bin's label) came from the
                    // wall clock then; say why it is not what counts when the two disagree.
                    let moved = hold_end_estimate(now, &progress).is_some_and(|end| {
                        planned.trusted && (end.unix_ms - planned.unix_ms).abs() > 60_000
                    });
                    if moved {
                        pl.push_str(" Zegar stanowiska przestawiono albo stanowisko było wyłączone: liczy się czas, który na pewno minął.");
                        en.push_str(
                            " The station's clock was changed, or the station was off: the time that certainly passed counts.",
                        );
                    }
                    return failure(Some(intake), pl, en);
                }
                match self
                    .log
                    .append(
                        now,
                        Payload::HoldReleased {
                            intake,
                            early: None,
                        },
                    )
                    .await
                {
                    Ok(_) => success(
                        intake,
                        "Kwarantanna zakończona. Zeskanuj ponownie, aby przekazać do wydziału.",
                        "Hold over. Scan again to forward it to the department.",
                    ),
                    Err(e) => self.storage_failure(intake, e),
                }
            }
            Stage::Released => {
                let Some(found) = self.lookup(intake).await else {
                    return failure(
                        Some(intake),
                        "Brak połączenia z kancelarią — nie wiadomo, do którego wydziału. Spróbuj ponownie.",
                        "Cannot reach the registry to find the department. Try again.",
                    );
                };
                let department = Text::sanitized(&found.department);
                let shown = department.to_string();
                match self
                    .log
                    .append(now, Payload::Forwarded { intake, department })
                    .await
                {
                    Ok(_) => success(
                        intake,
                        format!("Przekazano do: {shown}."),
                        format!("Forwarded to: {shown}."),
                    ),
                    Err(e) => self.storage_failure(intake, e),
                }
            }
            Stage::Forwarded { department } => failure(
                Some(intake),
                format!("Już przekazano do: {department}."),
                format!("Already forwarded to: {department}."),
            ),
        }
    }

    /// Starts an envelope's sanitising hold, after recording that it was collected from the urn
    /// when it was.
    async fn start_hold(
        &self,
        now: Timestamp,
        intake: IntakeId,
        hold_secs: u32,
        collected: bool,
    ) -> crate::Result<()> {
        let mut events = Vec::with_capacity(2);
        if collected {
            events.push((now, Payload::Collected { intake }));
        }
        events.push((now, Payload::HoldStarted { intake, hold_secs }));
        self.log.append_all(events).await?;
        self.hold_clock.hold_started(intake).await;
        Ok(())
    }

    fn session(&self) -> std::sync::MutexGuard<'_, Session> {
        // Only this task uses it; a poisoned lock still holds a whole state.
        self.session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Shows a result and the sign-in state on the screen.
    fn show(&self, result: ScanResult) {
        let staff = match &*self.session() {
            Session::SignedOut => StaffView::default(),
            Session::AwaitingPin { badge, .. } => StaffView {
                step: SignInStep::AwaitingPin,
                badge: Some(badge.clone()),
                name: None,
                role: None,
            },
            Session::SignedIn { member, .. } => StaffView {
                step: SignInStep::SignedIn,
                badge: Some(member.badge.clone()),
                name: Some(member.name.clone()),
                role: Some(member.role),
            },
        };
        let bag = self
            .bag
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|b| b.view());
        let early = self.early.lock().unwrap_or_else(|p| p.into_inner()).view();
        let forward = self.forward_view();
        self.view.send_modify(|v| {
            v.last = Some(result);
            v.results += 1;
            v.staff = staff;
            v.bag = bag;
            v.early = early;
            v.forward = forward;
            v.version += 1;
        });
    }

    /// `None` when someone is signed in (their idle time starts again); else the refusal to show.
    fn require_session(&self) -> Option<ScanResult> {
        (!self.touch_session()).then(|| {
            failure(
                None,
                "Najpierw zaloguj się: zeskanuj swoją kartę i wpisz PIN.",
                "Sign in first: scan your badge and type your PIN.",
            )
        })
    }

    /// Whether someone is signed in; if so, their session's idle time starts again.
    fn touch_session(&self) -> bool {
        match &mut *self.session() {
            Session::SignedIn { last_active, .. } => {
                *last_active = Instant::now();
                true
            }
            _ => false,
        }
    }

    async fn badge_scanned(&self, badge: String) -> ScanResult {
        let signed_in = match &*self.session() {
            Session::SignedIn { member, .. } => Some(member.badge.clone()),
            _ => None,
        };
        match signed_in {
            // One's own badge again: the quickest way to sign out with a scanner in hand.
            Some(own) if own == badge => self
                .sign_out(false)
                .await
                .unwrap_or_else(|| notice(true, "Wylogowano.", "Signed out.")),
            Some(_) => failure(
                None,
                "Ktoś jest już zalogowany. Najpierw wyloguj się (zeskanuj swoją kartę ponownie).",
                "Someone is signed in. Sign out first (scan your own badge again).",
            ),
            None => {
                *self.session() = Session::AwaitingPin {
                    badge,
                    since: Instant::now(),
                };
                notice(true, "Wpisz PIN.", "Type your PIN.")
            }
        }
    }

    async fn enter_pin(&self, pin: Pin) -> ScanResult {
        let badge = match &*self.session() {
            Session::AwaitingPin { badge, since } if since.elapsed() < PIN_WAIT => badge.clone(),
            _ => {
                *self.session() = Session::SignedOut;
                return failure(
                    None,
                    "Najpierw zeskanuj kartę, potem wpisz PIN.",
                    "Scan your badge first, then type the PIN.",
                );
            }
        };
        let Some(staff) = self.staff.clone() else {
            return failure(
                None,
                "Logowanie niedostępne — wezwij administratora.",
                "Sign-in unavailable — call the administrator.",
            );
        };
        let lockout = Lockout::from_config(&self.config.staff);
        let checked = match staff::check_pin(&staff, &badge, pin, lockout).await {
            Ok(checked) => checked,
            Err(e) => {
                tracing::error!("mailroom: PIN check for badge {badge} failed: {e}");
                *self.session() = Session::SignedOut;
                return failure(
                    None,
                    "Błąd sprawdzania PIN-u — wezwij administratora.",
                    "The PIN could not be checked — call the administrator.",
                );
            }
        };
        match checked {
            PinCheck::Accepted(member) => {
                let event = Payload::StaffSignedIn {
                    staff: Text::sanitized(&member.badge),
                    role: Text::sanitized(member.role.as_str()),
                };
                if let Err(e) = self.log.append(clock::now(), event).await {
                    tracing::error!("mailroom: sign-in not recorded: {e}");
                    *self.session() = Session::SignedOut;
                    return failure(
                        None,
                        "Błąd zapisu stanowiska — wezwij administratora.",
                        "Station storage error — call the administrator.",
                    );
                }
                tracing::info!("mailroom: badge {} signed in", member.badge);
                let name = member.name.clone();
                *self.session() = Session::SignedIn {
                    member,
                    last_active: Instant::now(),
                };
                notice(
                    true,
                    format!("Zalogowano: {name}."),
                    format!("Signed in: {name}."),
                )
            }
            PinCheck::Wrong { attempts_left } => {
                tracing::warn!("mailroom: wrong PIN for badge {badge}");
                failure(
                    None,
                    format!("Zły PIN. Pozostało prób: {attempts_left}."),
                    format!("Wrong PIN. Tries left: {attempts_left}."),
                )
            }
            PinCheck::LockedOut { until_ms } => {
                tracing::warn!("mailroom: badge {badge} locked after wrong PINs");
                *self.session() = Session::SignedOut;
                let until = clock::local_text(Timestamp {
                    unix_ms: until_ms,
                    trusted: true,
                });
                failure(
                    None,
                    format!("Za dużo błędnych PIN-ów. Karta zablokowana do {until}."),
                    format!("Too many wrong PINs. The badge is locked until {until}."),
                )
            }
            PinCheck::NotAllowed => {
                tracing::warn!("mailroom: badge {badge} is unknown or disabled");
                *self.session() = Session::SignedOut;
                failure(
                    None,
                    "Ta karta nie może się tu zalogować.",
                    "This badge cannot sign in here.",
                )
            }
        }
    }

    /// Signs out whoever is signed in, recording it; `None` when nobody was.
    async fn sign_out(&self, timed_out: bool) -> Option<ScanResult> {
        let previous = std::mem::replace(&mut *self.session(), Session::SignedOut);
        let Session::SignedIn { member, .. } = previous else {
            return None;
        };
        let event = Payload::StaffSignedOut {
            staff: Text::sanitized(&member.badge),
        };
        if let Err(e) = self.log.append(clock::now(), event).await {
            tracing::error!("mailroom: sign-out not recorded: {e}");
        }
        tracing::info!("mailroom: badge {} signed out", member.badge);
        Some(if timed_out {
            notice(
                true,
                "Sesja wygasła: wylogowano po czasie bezczynności.",
                "Session expired: signed out after a time without activity.",
            )
        } else {
            notice(true, "Wylogowano.", "Signed out.")
        })
    }

    /// Signs out a session idle for longer than the configured time, and forgets a badge whose
    /// PIN never came.
    async fn expire_session(&self) -> Option<ScanResult> {
        let timeout = Duration::from_secs(u64::from(self.config.staff.session_timeout_secs));
        let expired = match &*self.session() {
            Session::SignedIn { last_active, .. } => last_active.elapsed() >= timeout,
            Session::AwaitingPin { since, .. } if since.elapsed() >= PIN_WAIT => {
                return Some(self.forget_badge());
            }
            _ => false,
        };
        if expired {
            self.sign_out(true).await
        } else {
            None
        }
    }

    fn forget_badge(&self) -> ScanResult {
        *self.session() = Session::SignedOut;
        notice(
            false,
            "Nie wpisano PIN-u. Zeskanuj kartę ponownie.",
            "No PIN was typed. Scan your badge again.",
        )
    }

    fn storage_failure(&self, intake: IntakeId, e: crate::Error) -> ScanResult {
        tracing::error!("mailroom: event not recorded: {e}");
        failure(
            Some(intake),
            "Nie zapisano — błąd stanowiska. Wezwij administratora.",
            "Not recorded — station error. Call the administrator.",
        )
    }

    /// Today's forwarding lists. Read from the log only when they can have changed (at start,
    /// after a scan, and when the day turns), not on every tick of the hold list: the query
    /// reads the whole log.
    async fn refresh_forwarding(&self) {
        let today = clock::local_day_start_ms(clock::now());
        let forwarded = self
            .log
            .with(move |log| log.store().events_of_kind_since("forwarded", today))
            .await
            .unwrap_or_default();
        let forwarding = crate::forwarding::lists(&forwarded);
        self.view.send_if_modified(|v| {
            if v.forwarding == forwarding {
                return false;
            }
            v.forwarding = forwarding;
            v.version += 1;
            true
        });
    }

    /// The hold list with every envelope's countdown. Each refresh also advances the hold clock
    /// and saves it, so a crash loses no more than the time since the last one.
    async fn refresh_holds(&self) {
        let holds = match self.hold_clock.open_holds().await {
            Ok(holds) => holds,
            Err(e) => {
                // The last list stays up; nothing is released by it without asking the hold
                // clock again.
                tracing::error!("mailroom: the hold list cannot be read: {e}");
                return;
            }
        };
        let now = clock::now();
        let held = holds
            .iter()
            .map(|hold| Held {
                intake: hold.intake.to_string(),
                until: hold_end_estimate(now, hold)
                    .map_or_else(|| "—".to_owned(), clock::local_text),
                remaining_secs: hold.remaining_secs(),
                releasable: hold.is_over(),
            })
            .collect::<Vec<_>>();
        self.view.send_if_modified(|v| {
            if v.held == held {
                return false;
            }
            v.held = held;
            v.version += 1;
            true
        });
    }
}
