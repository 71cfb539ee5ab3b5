//! What custody events mean for the register: an intake's fields and status, folded from its
//! timeline, the one-line detail each timeline entry shows, and what an event opens or closes on
//! the list of device alerts. Pure: no storage, no clock.

use records::api::{AlertKind, IntakeStatus, TimelineEntry};
use records::{Event, IntakeId, Payload};

use crate::config::RegistryConfig;
use crate::store::{AlertChange, IntakeRecord};

/// Folds an intake's events (timeline order, any station) into its register row; `None` until
/// its deposit has arrived (the mailroom's events may reach the registry before the urn's).
pub fn project(
    id: IntakeId,
    timeline: &[Event],
    config: &RegistryConfig,
    now_ms: i64,
) -> Option<IntakeRecord> {
    // The first deposit wins: a second one for the same id is a station fault, and must not
    // silently rewrite what the resident's receipt already proves.
    // Only the station named in the id may deposit it: another station's deposit under that id
    // would claim an envelope it never took in.
    // "First" by the depositing station's seq, not by timeline (clock) order: a clock stepped
    // back must not let a later deposit take the place of the one the receipt proves.
    let deposit = timeline
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::Deposit(intake) if intake.id == id && e.station == id.station() => {
                Some((e.seq, intake))
            }
            _ => None,
        })
        .min_by_key(|(seq, _)| *seq)
        .map(|(_, intake)| intake)?;
    let mut record = IntakeRecord {
        id,
        received_at: deposit.received_at,
        channel: deposit.channel,
        category: deposit.category.as_str().to_owned(),
        department: config.department_for(deposit.category.as_str()).to_owned(),
        reference: deposit.reference.as_ref().map(|r| r.as_str().to_owned()),
        status: IntakeStatus::Deposited,
        updated_ms: now_ms,
    };
    // Status follows the last status-bearing event in timeline order; the deposit only sets the
    // starting point, so a mailroom clock slightly behind the urn's cannot send a letter back.
    for event in timeline {
        match &event.payload {
            Payload::Collected { .. } => record.status = IntakeStatus::Collected,
            Payload::HoldStarted { .. } => record.status = IntakeStatus::Held,
            Payload::HoldReleased { .. } => record.status = IntakeStatus::Released,
            Payload::Forwarded { department, .. } => {
                record.status = IntakeStatus::Forwarded;
                record.department = department.as_str().to_owned();
            }
            Payload::Acknowledged { department, .. } => {
                record.status = IntakeStatus::Acknowledged;
                record.department = department.as_str().to_owned();
            }
            _ => {}
        }
    }
    Some(record)
}

/// What a verified event does to its station's open device alerts:
///
/// - `FaultRaised` opens a [`AlertKind::Fault`] for (device, fault), or moves an open one to this
///   event;
/// - `FaultCleared` closes the open fault of the same device and name (and never an alarm);
/// - `Alarm` opens an [`AlertKind::Alarm`]. Nothing the station sends closes it: it stays open
///   until staff deal with it, and clearing alarms (by an admin, recorded) comes with a later
///   issue;
/// - every other event changes nothing.
pub fn alert_change(event: &Event) -> Option<AlertChange> {
    match &event.payload {
        Payload::FaultRaised { device, fault } => Some(AlertChange::Open {
            device: *device,
            what: fault.as_str().to_owned(),
            kind: AlertKind::Fault,
            since: event.recorded_at,
            seq: event.seq,
        }),
        Payload::FaultCleared { device, fault } => Some(AlertChange::Close {
            device: *device,
            what: fault.as_str().to_owned(),
            kind: AlertKind::Fault,
        }),
        Payload::Alarm { device, alarm } => Some(AlertChange::Open {
            device: *device,
            what: alarm.as_str().to_owned(),
            kind: AlertKind::Alarm,
            since: event.recorded_at,
            seq: event.seq,
        }),
        Payload::Deposit(_)
        | Payload::LabelPrinted { .. }
        | Payload::DropSeen { .. }
        | Payload::DropNotSeen { .. }
        | Payload::DoorOpened
        | Payload::DoorClosed
        | Payload::Collected { .. }
        | Payload::HoldStarted { .. }
        | Payload::HoldReleased { .. }
        | Payload::Forwarded { .. }
        | Payload::Acknowledged { .. }
        | Payload::ClockUntrusted { .. }
        | Payload::ClockTrusted
        | Payload::UrnCollected { .. }
        | Payload::StaffSignedIn { .. }
        | Payload::StaffSignedOut { .. } => None,
    }
}

/// Whether two projections differ in anything a clerk sees.
pub fn changed(before: &IntakeRecord, after: &IntakeRecord) -> bool {
    IntakeRecord {
        updated_ms: after.updated_ms,
        ..before.clone()
    } != *after
}

/// One timeline entry for an event.
pub fn timeline_entry(event: &Event) -> TimelineEntry {
    TimelineEntry {
        station: event.station.as_str().to_owned(),
        seq: event.seq,
        kind: event.payload.kind_name().to_owned(),
        recorded_at: event.recorded_at,
        detail: detail(&event.payload),
    }
}

/// A short description of what an event adds beyond its kind.
pub fn detail(payload: &Payload) -> String {
    match payload {
        Payload::Deposit(i) => {
            let mut s = format!("{}, {}", channel_name(i.channel), i.category.as_str());
            if let Some(r) = &i.reference {
                s.push_str(&format!(", ref. {r}"));
            }
            if let Some(n) = i.attachments {
                s.push_str(&format!(", {n} zał. / attachments"));
            }
            s
        }
        Payload::LabelPrinted { label, .. } => format!("{label:?}").to_lowercase(),
        Payload::HoldStarted { hold_secs, .. } => format!("{hold_secs} s"),
        Payload::HoldReleased { early: Some(e), .. } => format!(
            "przed czasem / early: {}, {}",
            e.supervisor.as_str(),
            e.reason.as_str()
        ),
        Payload::Forwarded { department, .. } => department.as_str().to_owned(),
        Payload::Acknowledged {
            department, clerk, ..
        } => format!("{department}, {clerk}"),
        Payload::FaultRaised { device, fault }
        | Payload::FaultCleared { device, fault }
        | Payload::Alarm {
            device,
            alarm: fault,
        } => {
            format!("{}: {fault}", format!("{device:?}").to_lowercase())
        }
        Payload::UrnCollected {
            seal,
            envelopes,
            first_staff,
            second_staff,
        } => format!("plomba / seal {seal}: {envelopes}; {first_staff}, {second_staff}"),
        Payload::ClockUntrusted { reason } => reason.as_str().to_owned(),
        Payload::StaffSignedIn { staff, role } => format!("{staff} ({role})"),
        Payload::StaffSignedOut { staff } => staff.as_str().to_owned(),
        Payload::HoldReleased { early: None, .. }
        | Payload::DropSeen { .. }
        | Payload::DropNotSeen { .. }
        | Payload::DoorOpened
        | Payload::DoorClosed
        | Payload::Collected { .. }
        | Payload::ClockTrusted => String::new(),
    }
}

pub use records::api::device_name;

/// The channel's name as the API spells it.
pub fn channel_name(channel: records::Channel) -> &'static str {
    match channel {
        records::Channel::Urn => "urn",
        records::Channel::Counter => "counter",
        records::Channel::Post => "post",
    }
}
