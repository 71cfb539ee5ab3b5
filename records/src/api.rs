//! The registry's HTTP API, as both sides see it: request and response bodies.
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `POST /api/stations/{code}/events` | [`PushRequest`] | 200 [`PushResponse`]; 401 unknown station; 409 fork; 422 chain break ([`ApiError`]) |
//! | `GET /api/stations/{code}/acknowledged` | — | 200 [`PushResponse`] |
//! | `GET /api/intakes/{id}` | — | 200 [`IntakeView`]; 404 |
//! | `POST /api/receipts/verify` | the receipt text (`text/plain`) | 200 [`ReceiptVerdict`] |
//!
//! Events travel as [`SignedEvent`]s: the canonical bytes and the signature, so the registry
//! verifies exactly what the station signed.

use serde::{Deserialize, Serialize};

use crate::chain::SignedEvent;
use crate::event::{Channel, Timestamp};
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
