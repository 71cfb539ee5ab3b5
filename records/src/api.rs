//! The registry's HTTP API, as both sides see it: request and response bodies.
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `POST /api/stations/{code}/events` | [`PushRequest`] | 200 [`PushResponse`]; 401 unsigned, unknown, pending or revoked key (the message names the fingerprint to approve); 409 fork; 422 chain break ([`ApiError`]) |
//! | `POST /api/stations/{code}/keys` | `{"statement": …}`, a key rotation signed by the old and the new key ([`crate::rotation`]) | 200 (again: `replayed`); 401 old key unknown, revoked or not approved; 409 a different successor |
//! | `GET /api/stations/{code}/acknowledged` | — | 200 [`PushResponse`] |
//! | `POST /api/stations/{code}/report` | [`StationReport`], signed like a push | 204; 400 not a report; 401 as a push; 404 from a registry older than reports |
//! | `GET /api/intakes/{id}` | — | 200 [`IntakeView`]; 404 |
//! | `POST /api/receipts/verify` | the receipt text (`text/plain`) | 200 [`ReceiptVerdict`] |
//! | `GET /api/alerts` | — | 200 [`DeviceAlerts`] |
//! | `GET /api/collections/{seal}` | — | 200 [`CollectionView`]; 404 no collection with that seal |
//!
//! Every request from a station is signed with its key in the manner of RFC 9421
//! ([`crate::http_signature`]); pushes must be, reads are checked when signed.
//!
//! Events travel as [`SignedEvent`]s: the canonical bytes and the signature, so the registry
//! verifies exactly what the station signed.

use serde::{Deserialize, Serialize};

use crate::chain::SignedEvent;
use crate::event::{Channel, Device, Timestamp};
use crate::intake_id::IntakeId;

/// Most events in one push; a station sends its backlog in batches of at most this many.
pub const MAX_PUSH_EVENTS: usize = 500;
/// Largest push body the registry reads, in bytes.
pub const MAX_PUSH_BYTES: usize = 4 * 1024 * 1024;

/// A station's events, in seq order, continuing after what the registry acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    /// The events.
    pub events: Vec<SignedEvent>,
}

/// The highest seq the registry holds for the station with nothing missing before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushResponse {
    /// Every event up to and including this seq is stored.
    pub acknowledged: u64,
}

/// Largest station report body the registry reads, in bytes: a report is a few numbers, and
/// this leaves room for the fields later versions add.
pub const MAX_REPORT_BYTES: usize = 4 * 1024;

/// What a station says about itself besides its events, sent after its sync rounds (at most
/// about once a minute, and when its backlog has drained): the registry keeps the latest one
/// and shows the station's backlog from it.
///
/// Versioning: a field added later is optional (`#[serde(default)]`), so a newer registry still
/// reads an older station's report. An older registry refuses a report with a field it does not
/// know (400, unknown fields are denied) or does not have the route at all (404); a station then
/// stops reporting for a while and carries on syncing, so a newer station never depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationReport {
    /// The highest seq in the station's own log (0 for an empty log). The registry's backlog
    /// for the station is this minus the last seq it holds, never below 0.
    pub log_tip: u64,
}

/// What went wrong, for any 4xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiError {
    /// A stable machine-readable code: `unknown_station`, `fork`, `chain`, `bad_request`, `not_found`.
    pub error: String,
    /// A sentence for a person.
    pub message: String,
    /// Where the registry's copy ends (on `fork` and `chain`), so a station can resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<u64>,
    /// The seq the error is about, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// Where an intake is now, as the registry last heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntakeStatus {
    /// Deposited; waiting in the urn or at the counter.
    Deposited,
    /// Taken to the mailroom.
    Collected,
    /// In a sanitising hold.
    Held,
    /// Hold over; ready to forward.
    Released,
    /// Sent on to the department.
    Forwarded,
    /// The department confirmed it has it.
    Acknowledged,
}

impl IntakeStatus {
    /// What a resident or clerk reads: Polish, then English.
    pub fn label(self) -> &'static str {
        match self {
            IntakeStatus::Deposited => "Złożone w urnie / Deposited",
            IntakeStatus::Collected => "Odebrane z urny / Collected",
            IntakeStatus::Held => "W kwarantannie / In sanitising hold",
            IntakeStatus::Released => "Po kwarantannie / Hold over",
            IntakeStatus::Forwarded => "Przekazane do wydziału / Forwarded to the department",
            IntakeStatus::Acknowledged => "Przyjęte przez wydział / Received by the department",
        }
    }
}

/// One entry of an intake's custody timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// The station that recorded it.
    pub station: String,
    /// That station's seq.
    pub seq: u64,
    /// Event kind, e.g. `deposit`, `collected`.
    pub kind: String,
    /// When it was recorded.
    pub recorded_at: Timestamp,
    /// A short human description (department, hold length, reason …), may be empty.
    pub detail: String,
}

/// An intake and its whole custody timeline, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntakeView {
    /// The id.
    pub id: IntakeId,
    /// The legal date of receipt.
    pub received_at: Timestamp,
    /// How it came.
    pub channel: Channel,
    /// Category as chosen.
    pub category: String,
    /// The department the category maps to (or the one it was forwarded to).
    pub department: String,
    /// Reference from the resident's form, if any.
    pub reference: Option<String>,
    /// Where it is now.
    pub status: IntakeStatus,
    /// Every event about it, in order.
    pub timeline: Vec<TimelineEntry>,
}

/// The registry's answer about a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptVerdict {
    /// Signed by an enrolled station's key, unaltered, and matching the register.
    pub genuine: bool,
    /// Why (in English; pages show their own Polish text beside it).
    pub reason: String,
    /// The intake's id, if the receipt named a valid one.
    pub intake: Option<IntakeId>,
    /// Where it is now, when genuine and known to the register.
    pub status: Option<IntakeStatus>,
}

/// Whether a device alert clears by itself or needs a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A fault the station raised and will clear when the device recovers (paper out, full urn).
    Fault,
    /// Something that happened and stays on the list until staff deal with it (a door opened
    /// outside a collection).
    Alarm,
}

/// One thing at a station that staff must look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceAlert {
    /// The station's code.
    pub station: String,
    /// The station's name, for people.
    pub station_name: String,
    /// The device.
    pub device: Device,
    /// What is wrong, as the station named it (`paper_out`, `full`, `door_opened_outside_collection`).
    pub what: String,
    /// Fault or alarm.
    pub kind: AlertKind,
    /// When the station recorded it.
    pub since: Timestamp,
    /// The station's event that raised it.
    pub seq: u64,
}

/// Every open device alert, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceAlerts {
    /// The alerts.
    pub alerts: Vec<DeviceAlert>,
}

impl DeviceAlert {
    /// What the alert means for staff: Polish, then English. Both the registry's pages and the
    /// mailroom's screen say it, so it is worded once, here.
    pub fn phrase(&self) -> (String, String) {
        alert_phrase(self.device, &self.what)
    }
}

/// Staff's words for a device problem as stations name it: Polish, then English. A name this
/// code does not know is shown as `device: name`, so nothing is hidden.
pub fn alert_phrase(device: Device, what: &str) -> (String, String) {
    let known = match (device, what) {
        (Device::Printer, "paper_out") => Some(("brak papieru w drukarce", "printer out of paper")),
        (Device::Printer, "paper_low") => {
            Some(("kończy się papier w drukarce", "printer paper running low"))
        }
        (Device::Printer, "cover_open") => Some(("otwarta pokrywa drukarki", "printer cover open")),
        (Device::Printer, "offline") => Some(("drukarka nie odpowiada", "printer not answering")),
        (Device::Printer, "paper_jam") => Some((
            "papier zaciął się w drukarce",
            "paper jammed in the printer",
        )),
        (Device::Printer, "wrong_media") => Some((
            "niewłaściwy papier w drukarce",
            "wrong paper in the printer",
        )),
        (Device::Urn, "nearly_full") => {
            Some(("urna prawie pełna (80 %)", "urn nearly full (80 %)"))
        }
        (Device::Urn, "full") => Some((
            "urna pełna: nie przyjmuje pism",
            "urn full: takes no letters",
        )),
        (Device::Door, "door_opened_outside_collection") => Some((
            "drzwi urny otwarte poza odbiorem",
            "urn door opened outside a collection",
        )),
        (Device::Door, "door_chatter") => Some((
            "czujnik drzwi urny daje niepewny odczyt",
            "urn door sensor chattering",
        )),
        (Device::Slot, "envelope_without_deposit") => Some((
            "koperta bez etykiety w urnie",
            "an envelope without a label in the urn",
        )),
        (Device::Slot, "slot_jam") => Some(("szczelina urny zablokowana", "urn slot blocked")),
        (Device::Scanner, "unplugged") => {
            Some(("czytnik kodów odłączony", "code reader unplugged"))
        }
        (Device::Storage, "log_behind_registry") => Some((
            "dziennik stacji krótszy niż rejestr",
            "station log behind the registry",
        )),
        _ => None,
    };
    match known {
        Some((pl, en)) => (pl.to_owned(), en.to_owned()),
        None => {
            let raw = format!("{}: {what}", device_name(device));
            (raw.clone(), raw)
        }
    }
}

/// A device's name as events and the API spell it.
pub fn device_name(device: Device) -> &'static str {
    match device {
        Device::Scanner => "scanner",
        Device::Printer => "printer",
        Device::Door => "door",
        Device::Slot => "slot",
        Device::Registry => "registry",
        Device::Storage => "storage",
        Device::Urn => "urn",
    }
}

/// One deposit of an urn collection, as the mailroom checks the bag in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectedDeposit {
    /// The intake.
    pub intake: IntakeId,
    /// How many envelopes the slot saw fall for it (0 when not seen, 2 or more when a
    /// resident put several envelopes under one label).
    pub drops_seen: u32,
}

/// What an urn recorded for one collection: the envelopes the mailroom should find in the bag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionView {
    /// The urn's station code.
    pub station: String,
    /// The urn's name.
    pub station_name: String,
    /// The seal on the bag.
    pub seal: String,
    /// When the urn recorded the collection.
    pub collected_at: Timestamp,
    /// How many envelopes the urn counted since the collection before.
    pub urn_count: u32,
    /// The two staff who emptied it (badge ids).
    pub staff: [String; 2],
    /// The deposits made since the collection before, oldest first.
    pub deposits: Vec<CollectedDeposit>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_station_report_is_one_number_and_nothing_else() {
        let report = StationReport { log_tip: 42 };
        let text = serde_json::to_string(&report).unwrap();
        assert_eq!(text, r#"{"log_tip":42}"#);
        assert_eq!(
            serde_json::from_str::<StationReport>(&text).unwrap(),
            report
        );
        for bad in [
            r#"{}"#,
            r#"{"log_tip":-1}"#,
            r#"{"log_tip":"42"}"#,
            r#"{"log_tip":42,"more":1}"#,
        ] {
            assert!(serde_json::from_str::<StationReport>(bad).is_err(), "{bad}");
        }
    }
}
