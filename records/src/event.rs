//! Custody events: everything that happens to an envelope, and to the devices that handle it.
//!
//! An [`Event`] is what a station commits to its log: who (station), which (seq), when (a wall-clock
//! reading that says whether the clock was trusted), the link to the event before it, and what
//! happened ([`Payload`]). The byte form that is hashed and signed is in [`crate::encoding`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::chain::Hash;
use crate::intake_id::{IntakeId, StationCode};

/// Longest text field, in UTF-8 bytes. Enough for a written reason for an early release.
pub const MAX_TEXT_BYTES: usize = 1024;

/// A wall-clock reading. A Raspberry Pi has no battery clock: until NTP (or an operator) has set
/// the time, readings are kept but flagged untrusted, and order is taken from seq alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Timestamp {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub unix_ms: i64,
    /// Whether the station believed its clock when it took this reading.
    pub trusted: bool,
}

/// A short, validated text: at most [`MAX_TEXT_BYTES`] of UTF-8, no control characters and no
/// text-direction overrides,
/// so nothing hostile reaches a label, a page or a log line through it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text(String);

/// Why a text field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Longer than [`MAX_TEXT_BYTES`].
    #[error("text is {0} bytes long; at most {MAX_TEXT_BYTES} are allowed")]
    TooLong(usize),
    /// Contains a control character (newline, tab, escape …) or a bidirectional override, which
    /// could make a label or page show something other than what is stored.
    #[error("text contains a control or text-direction character")]
    ControlCharacter,
}

impl Text {
    /// Validates `s`.
    pub fn new(s: impl Into<String>) -> Result<Self, TextError> {
        let s = s.into();
        if s.len() > MAX_TEXT_BYTES {
            return Err(TextError::TooLong(s.len()));
        }
        if s.chars().any(|c| c.is_control() || is_bidi_control(c)) {
            return Err(TextError::ControlCharacter);
        }
        Ok(Text(s))
    }

    /// `s` made acceptable: control and direction characters become spaces, and it is cut at a
    /// character boundary to [`MAX_TEXT_BYTES`]. For texts urna composes itself.
    pub fn sanitized(s: &str) -> Self {
        let mut out = String::with_capacity(s.len().min(MAX_TEXT_BYTES));
        for c in s.chars() {
            let c = if c.is_control() || is_bidi_control(c) {
                ' '
            } else {
                c
            };
            if out.len() + c.len_utf8() > MAX_TEXT_BYTES {
                break;
            }
            out.push(c);
        }
        Text(out)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Unicode's explicit direction marks, embeddings, overrides and isolates.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

impl TryFrom<String> for Text {
    type Error = TextError;
    fn try_from(s: String) -> Result<Self, TextError> {
        Text::new(s)
    }
}

impl From<Text> for String {
    fn from(t: Text) -> String {
        t.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// How a letter reached the office.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Dropped into an urn.
    Urn,
    /// Handed over at the mailroom counter.
    Counter,
    /// Delivered by post.
    Post,
}

/// One envelope taken in, with what the office needs for its register of incoming correspondence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intake {
    /// The id printed on the envelope's label and the resident's receipt.
    pub id: IntakeId,
    /// The legal date of receipt. Kept apart from the event's own time, which is when it was
    /// registered: a letter that came by post is registered after it arrived.
    pub received_at: Timestamp,
    /// How it came.
    pub channel: Channel,
    /// What it is about, as chosen at the kiosk or counter; config maps it to a department.
    pub category: Text,
    /// The reference scanned from the resident's form or the office's letter, if any.
    pub reference: Option<Text>,
    /// Sender, when recorded (post and counter).
    pub sender: Option<Text>,
    /// Number of attachments, when recorded.
    pub attachments: Option<u16>,
}

/// Which printed item an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelKind {
    /// The label stuck on the envelope.
    Envelope,
    /// The resident's receipt.
    Receipt,
    /// The label on a quarantine bin.
    Bin,
}

/// A device a fault is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    /// Barcode/QR scanner or camera.
    Scanner,
    /// Label or receipt printer.
    Printer,
    /// The urn's service door sensor.
    Door,
    /// The slot's light beam.
    Slot,
    /// The connection to the registry office.
    Registry,
    /// The station's own storage.
    Storage,
    /// The urn's container: how full it is.
    Urn,
}

/// A release before the hold was over: only a supervisor may do it, and must say why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarlyRelease {
    /// Who authorised it.
    pub supervisor: Text,
    /// The written reason.
    pub reason: Text,
}

/// What happened. Post and counter intakes are deposits whose channel says so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Payload {
    /// An envelope was taken in (urn deposit, or received by post / at the counter).
    Deposit(Intake),
    /// A label or receipt was printed for an intake.
    LabelPrinted {
        /// The intake.
        intake: IntakeId,
        /// Which item.
        label: LabelKind,
    },
    /// The slot sensor saw the envelope fall.
    DropSeen {
        /// The intake.
        intake: IntakeId,
    },
    /// The slot sensor did not see the envelope within the time allowed.
    DropNotSeen {
        /// The intake.
        intake: IntakeId,
    },
    /// The urn's service door opened.
    DoorOpened,
    /// The urn's service door closed.
    DoorClosed,
    /// Staff took the envelope from the urn into the mailroom.
    Collected {
        /// The intake.
        intake: IntakeId,
    },
    /// A sanitising hold started.
    HoldStarted {
        /// The intake.
        intake: IntakeId,
        /// How long the hold lasts.
        hold_secs: u32,
    },
    /// The hold ended and the mail may be handled.
    HoldReleased {
        /// The intake.
        intake: IntakeId,
        /// Present when released before the hold was over.
        early: Option<EarlyRelease>,
    },
    /// Sent on to the department that handles it.
    Forwarded {
        /// The intake.
        intake: IntakeId,
        /// The receiving department.
        department: Text,
    },
    /// The department confirmed it has the letter.
    Acknowledged {
        /// The intake.
        intake: IntakeId,
        /// The department.
        department: Text,
        /// The clerk who confirmed.
        clerk: Text,
    },
    /// A device fault began.
    FaultRaised {
        /// Which device.
        device: Device,
        /// What is wrong, e.g. `paper_out`.
        fault: Text,
    },
    /// A device fault is over.
    FaultCleared {
        /// Which device.
        device: Device,
        /// The fault that cleared.
        fault: Text,
    },
    /// The station stopped trusting its clock.
    ClockUntrusted {
        /// Why, e.g. `no NTP sync since boot` or `clock stepped back 3600 s`.
        reason: Text,
    },
    /// The station trusts its clock again.
    ClockTrusted,
    /// Something staff must look at that is not a device failing, e.g. the urn's door opened
    /// outside a collection.
    Alarm {
        /// Which device saw it.
        device: Device,
        /// What happened, e.g. `door_opened_outside_collection`.
        alarm: Text,
    },
    /// Two staff emptied the urn into a sealed bag: from here the urn counts from zero again.
    UrnCollected {
        /// The number on the collection bag's seal.
        seal: Text,
        /// How many envelopes the urn had counted since the previous collection.
        envelopes: u32,
        /// The first of the two staff (badge id).
        first_staff: Text,
        /// The second of the two staff (badge id).
        second_staff: Text,
    },
    /// A staff member signed in at the station: what follows, until they sign out, is theirs.
    StaffSignedIn {
        /// Their badge id.
        staff: Text,
        /// `staff` or `supervisor`.
        role: Text,
    },
    /// The staff member signed out, or the session timed out.
    StaffSignedOut {
        /// Their badge id.
        staff: Text,
    },
    /// A collection bag checked in at the mailroom: each envelope's label scanned and compared
    /// with what the urn recorded, and the result confirmed by two staff.
    CheckedIn {
        /// The seal of the bag.
        seal: Text,
        /// How many envelopes the urn counted for this collection.
        urn_count: u32,
        /// How many envelopes were scanned at check-in.
        received: u32,
        /// Deposits of the collection whose envelope was not in the bag.
        missing: Vec<IntakeId>,
        /// Envelopes in the bag that are not deposits of the collection.
        unexpected: Vec<IntakeId>,
        /// The staff member who scanned (badge id).
        first_staff: Text,
        /// The second staff member, who confirmed (badge id).
        second_staff: Text,
    },
    /// Staff sent the envelope to another department than its category's, and said why. The
    /// `forwarded` event to the new department follows in the same commit.
    DepartmentChanged {
        /// The intake.
        intake: IntakeId,
        /// The department its category maps to, or `?` when that was not known.
        from: Text,
        /// The department it goes to instead.
        to: Text,
        /// The written reason.
        reason: Text,
        /// Who changed it (badge id).
        staff: Text,
    },
}

/// Most intake ids one event lists: a list longer than this does not fit an event.
pub const MAX_LISTED_INTAKES: usize = 250;

impl Payload {
    /// The event kind's stable name, as used in logs, exports and the API.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Payload::Deposit(_) => "deposit",
            Payload::LabelPrinted { .. } => "label_printed",
            Payload::DropSeen { .. } => "drop_seen",
            Payload::DropNotSeen { .. } => "drop_not_seen",
            Payload::DoorOpened => "door_opened",
            Payload::DoorClosed => "door_closed",
            Payload::Collected { .. } => "collected",
            Payload::HoldStarted { .. } => "hold_started",
            Payload::HoldReleased { .. } => "hold_released",
            Payload::Forwarded { .. } => "forwarded",
            Payload::Acknowledged { .. } => "acknowledged",
            Payload::FaultRaised { .. } => "fault_raised",
            Payload::FaultCleared { .. } => "fault_cleared",
            Payload::ClockUntrusted { .. } => "clock_untrusted",
            Payload::ClockTrusted => "clock_trusted",
            Payload::Alarm { .. } => "alarm",
            Payload::UrnCollected { .. } => "urn_collected",
            Payload::StaffSignedIn { .. } => "staff_signed_in",
            Payload::StaffSignedOut { .. } => "staff_signed_out",
            Payload::CheckedIn { .. } => "checked_in",
            Payload::DepartmentChanged { .. } => "department_changed",
        }
    }

    /// The intake the event is about, if it is about one.
    pub fn intake(&self) -> Option<IntakeId> {
        match self {
            Payload::Deposit(intake) => Some(intake.id),
            Payload::LabelPrinted { intake, .. }
            | Payload::DropSeen { intake }
            | Payload::DropNotSeen { intake }
            | Payload::Collected { intake }
            | Payload::HoldStarted { intake, .. }
            | Payload::HoldReleased { intake, .. }
            | Payload::Forwarded { intake, .. }
            | Payload::Acknowledged { intake, .. }
            | Payload::DepartmentChanged { intake, .. } => Some(*intake),
            Payload::DoorOpened
            | Payload::DoorClosed
            | Payload::FaultRaised { .. }
            | Payload::FaultCleared { .. }
            | Payload::ClockUntrusted { .. }
            | Payload::ClockTrusted
            | Payload::Alarm { .. }
            | Payload::UrnCollected { .. }
            | Payload::StaffSignedIn { .. }
            | Payload::StaffSignedOut { .. }
            | Payload::CheckedIn { .. } => None,
        }
    }
}

/// One entry of a station's custody log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The station that recorded it.
    pub station: StationCode,
    /// Its place in that station's log: 1, 2, 3 … with no gaps.
    pub seq: u64,
    /// When it was recorded.
    pub recorded_at: Timestamp,
    /// The chain hash of the event before it (all zeros for seq 1).
    pub prev_hash: Hash,
    /// What happened.
    pub payload: Payload,
}
