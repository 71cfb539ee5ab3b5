//! Printing an intake's labels (the envelope label, the receipt, the quarantine bin's label) from
//! the loaded templates, and recording each print as a `label_printed` event. The kiosk and the
//! mailroom print the same labels the same way; only what they print differs.

use std::sync::Arc;

use records::{Channel, Device, IntakeId, LabelKind, Payload, Text, Timestamp};

use crate::clock;
use crate::config::{Category, StationConfig};
use crate::devices::{PrintJob, Printer, PrinterStatus};
use crate::printer::setup::LabelTemplates;
use crate::shared_log::SharedLog;
use crate::template::{Field, Fields, Template};

/// What "unknown" reads as on a label, for fields staff could not fill in.
pub const NO_DATA: &str = "brak danych / no data";

/// Why a label was not printed.
#[derive(Debug)]
pub enum PrintFailure {
    /// The receipt's signature could not be made (the log's key is unusable).
    Sign(crate::Error),
    /// A value did not fit the template (an overlong reference on a fixed-size label).
    Render(String),
    /// The printer refused the job; nothing of it was printed.
    Printer(LabelKind, PrinterStatus),
}

impl std::fmt::Display for PrintFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrintFailure::Sign(e) => write!(f, "receipt not signed: {e}"),
            PrintFailure::Render(e) => write!(f, "label not rendered: {e}"),
            PrintFailure::Printer(label, status) => write!(f, "{label:?} not printed: {status:?}"),
        }
    }
}

/// The events a printer's change of state calls for. From one alert straight to another (paper
/// out, then the cover opened to load it) the first is cleared and the second raised: every
/// raised fault is cleared one day, so the registry's list of open faults never keeps a stale
/// one. Paper running low is raised too, though the printer still prints: staff can bring
/// paper before it runs out.
pub fn fault_events(previous: PrinterStatus, now: PrinterStatus) -> Vec<Payload> {
    let mut events = Vec::new();
    if let Some(fault) = previous.alert_name()
        && now.alert_name() != Some(fault)
    {
        events.push(Payload::FaultCleared {
            device: Device::Printer,
            fault: Text::sanitized(fault),
        });
    }
    if let Some(fault) = now.alert_name()
        && previous.alert_name() != Some(fault)
    {
        events.push(Payload::FaultRaised {
            device: Device::Printer,
            fault: Text::sanitized(fault),
        });
    }
    events
}

/// An intake as its labels show it.
#[derive(Debug, Clone)]
pub struct IntakeLabel<'a> {
    /// The intake.
    pub intake: IntakeId,
    /// The legal date of receipt.
    pub received_at: Timestamp,
    /// How it came.
    pub channel: Channel,
    /// What it is about.
    pub category: &'a Category,
    /// The case reference, when known.
    pub reference: Option<&'a str>,
}

/// How a channel reads on a label, Polish / English.
pub fn channel_text(channel: Channel) -> &'static str {
    match channel {
        Channel::Urn => "urna / urn",
        Channel::Counter => "biuro podawcze / counter",
        Channel::Post => "poczta / post",
    }
}

/// Prints an intake's labels, `kinds` in order (the envelope label, then the receipt), recording
/// each print; stops at the first failure, so a receipt never comes out without its envelope
/// label.
pub async fn print_intake(
    config: &StationConfig,
    log: &SharedLog,
    printer: &Arc<dyn Printer>,
    templates: &Arc<LabelTemplates>,
    label: &IntakeLabel<'_>,
    kinds: &[LabelKind],
) -> Result<(), PrintFailure> {
    let intake = label.intake;
    let payload = log
        .sign_receipt(intake, label.received_at.unix_ms.div_euclid(1000))
        .await
        .map_err(PrintFailure::Sign)?
        .to_string();
    let received = clock::local_text(label.received_at);
    let fields = Fields::new()
        .with(Field::IntakeId, intake.to_string())
        .with(Field::DepositTime, &received)
        .with(
            Field::DepositDate,
            clock::local_date_text(label.received_at),
        )
        .with(Field::StationName, &config.name)
        .with(Field::Place, &config.place)
        .with(
            Field::Category,
            format!("{} / {}", label.category.name_pl, label.category.name_en),
        )
        .with(Field::Department, &label.category.department)
        .with(Field::Channel, channel_text(label.channel))
        .with(Field::Reference, label.reference.unwrap_or(NO_DATA))
        .with(Field::ReceiptPayload, &payload)
        .with(Field::StatusUrl, &config.status_url)
        .with(Field::PrintedAt, clock::local_text(clock::now()));
    let templates = templates.clone();
    let kinds = kinds.to_vec();
    let jobs = tokio::task::spawn_blocking(move || -> Result<Vec<PrintJob>, String> {
        kinds
            .into_iter()
            .map(|kind| {
                let template = match kind {
                    LabelKind::Envelope => &templates.envelope,
                    LabelKind::Receipt => &templates.receipt,
                    LabelKind::Bin => &templates.bin,
                };
                job(template, &fields, kind, intake, &payload)
            })
            .collect()
    })
    .await
    .map_err(|e| PrintFailure::Render(e.to_string()))?
    .map_err(PrintFailure::Render)?;
    for job in jobs {
        print_recorded(log, printer, job, &[intake]).await?;
    }
    Ok(())
}

/// The quarantine bin's label: "do not open before" the end of the longest hold in the bin.
#[derive(Debug, Clone)]
pub struct BinLabel {
    /// The bin's name, e.g. `GWK2-2026-11-22-3`.
    pub bin: String,
    /// When the last hold in the bin ends, rounded up to the minute.
    pub open_after: Timestamp,
    /// Every intake in the bin; each gets its own `label_printed` event.
    pub intakes: Vec<IntakeId>,
}

/// Prints a bin label and records it for every intake in the bin.
pub async fn print_bin(
    config: &StationConfig,
    log: &SharedLog,
    printer: &Arc<dyn Printer>,
    templates: &Arc<LabelTemplates>,
    bin: &BinLabel,
) -> Result<(), PrintFailure> {
    let Some(&first) = bin.intakes.first() else {
        return Ok(());
    };
    let fields = Fields::new()
        .with(Field::Bin, &bin.bin)
        .with(Field::HoldUntil, clock::local_text(bin.open_after))
        .with(Field::HoldUntilDate, clock::local_date_text(bin.open_after))
        .with(Field::HoldUntilTime, clock::local_time_text(bin.open_after))
        .with(Field::StationName, &config.name)
        .with(Field::Place, &config.place)
        .with(Field::IntakeId, first.to_string())
        .with(Field::PrintedAt, clock::local_text(clock::now()));
    let templates = templates.clone();
    let job = tokio::task::spawn_blocking(move || {
        job(&templates.bin, &fields, LabelKind::Bin, first, "")
    })
    .await
    .map_err(|e| PrintFailure::Render(e.to_string()))?
    .map_err(PrintFailure::Render)?;
    print_recorded(log, printer, job, &bin.intakes).await
}

fn job(
    template: &Template,
    fields: &Fields,
    label: LabelKind,
    intake: IntakeId,
    payload: &str,
) -> Result<PrintJob, String> {
    Ok(PrintJob {
        label,
        intake,
        image: template.render(fields).map_err(|e| e.to_string())?,
        qr_text: template
            .encodes(Field::ReceiptPayload)
            .then(|| payload.to_owned()),
    })
}

/// Prints one job and records it for `intakes`, all in one transaction.
async fn print_recorded(
    log: &SharedLog,
    printer: &Arc<dyn Printer>,
    job: PrintJob,
    intakes: &[IntakeId],
) -> Result<(), PrintFailure> {
    let label = job.label;
    let device = printer.clone();
    tokio::task::spawn_blocking(move || device.print(&job))
        .await
        .unwrap_or(Err(PrinterStatus::Offline))
        .map_err(|status| PrintFailure::Printer(label, status))?;
    let now = clock::now();
    let printed = intakes
        .iter()
        .map(|&intake| (now, Payload::LabelPrinted { intake, label }))
        .collect();
    if let Err(e) = log.append_all(printed).await {
        // The label is out of the printer whatever the log says; a log that cannot commit
        // stops the next intake anyway.
        tracing::error!("printed {label:?} not recorded: {e}");
    }
    Ok(())
}
