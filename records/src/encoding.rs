//! The canonical byte encoding of an event: the bytes that are hashed into the chain and signed.
//!
//! Written by hand rather than with a serde format: these bytes are signed and kept for years, so
//! they must never change because a dependency was upgraded, and every byte is specified here.
//! Changing anything below means a new version number; decoders keep accepting the old ones.
//!
//! ```text
//! event       = version:u8 (=1) station:4 seq:u64 recorded_at:timestamp prev_hash:32 kind:u8 body
//! timestamp   = unix_ms:i64 trusted:bool
//! bool        = 0x00 | 0x01
//! text        = len:u16 utf8[len]            (len ≤ 1024, no control or text-direction characters)
//! option<x>   = 0x00 | 0x01 x
//! intake_id   = station:4 number:u64          (the check character is derived, not stored)
//! list<x>     = count:u16 x[count]           (count ≤ 250)
//! integers    = big-endian, fixed width
//!
//! kind  body
//!  1    deposit          intake_id received_at:timestamp channel:u8 category:text
//!                        reference:option<text> sender:option<text> attachments:option<u16>
//!  2    label_printed    intake_id label:u8
//!  3    drop_seen        intake_id
//!  4    drop_not_seen    intake_id
//!  5    door_opened      (empty)
//!  6    door_closed      (empty)
//!  7    collected        intake_id
//!  8    hold_started     intake_id hold_secs:u32
//!  9    hold_released    intake_id early:option<supervisor:text reason:text>
//! 10    forwarded        intake_id department:text
//! 11    acknowledged     intake_id department:text clerk:text
//! 12    fault_raised     device:u8 fault:text
//! 13    fault_cleared    device:u8 fault:text
//! 14    clock_untrusted  reason:text
//! 15    clock_trusted    (empty)
//! 16    alarm            device:u8 alarm:text
//! 17    urn_collected    seal:text envelopes:u32 first_staff:text second_staff:text
//! 18    staff_signed_in  staff:text role:text
//! 19    staff_signed_out staff:text
//! 20    checked_in       seal:text urn_count:u32 received:u32 missing:list<intake_id>
//!                        unexpected:list<intake_id> first_staff:text second_staff:text
//! 21    department_changed intake_id from:text to:text reason:text staff:text
//!
//! channel: 1 urn, 2 counter, 3 post
//! label:   1 envelope, 2 receipt, 3 bin
//! device:  1 scanner, 2 printer, 3 door, 4 slot, 5 registry, 6 storage, 7 urn
//! ```
//!
//! Decoding is strict: trailing bytes, a bool other than 0/1, an unknown tag, bad UTF-8 or an
//! over-long text are errors, so every event has exactly one encoding.

use crate::chain::Hash;
use crate::event::{
    Channel, Device, EarlyRelease, Event, Intake, LabelKind, MAX_LISTED_INTAKES, MAX_TEXT_BYTES,
    Payload, Text, Timestamp,
};
use crate::intake_id::{IntakeId, STATION_CODE_LEN, StationCode};

/// The encoding version this code writes.
pub const ENCODING_VERSION: u8 = 1;
/// No valid event is longer than this; longer input is refused before it is parsed.
pub const MAX_EVENT_BYTES: usize = 8 * 1024;

/// Why bytes are not a canonical event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// More than [`MAX_EVENT_BYTES`].
    #[error("event is {0} bytes long; at most {MAX_EVENT_BYTES} are allowed")]
    TooLong(usize),
    /// A version this code does not know.
    #[error("unsupported event encoding version {0}")]
    UnsupportedVersion(u8),
    /// Input ended inside a field.
    #[error("event ends early at byte {at}: {field} needs {needed} more bytes")]
    Truncated {
        /// Offset where the field starts.
        at: usize,
        /// The field being read.
        field: &'static str,
        /// Bytes still needed.
        needed: usize,
    },
    /// A tag byte with no meaning.
    #[error("byte {at}: {value} is not a valid {field}")]
    BadTag {
        /// Offset of the tag.
        at: usize,
        /// What was being read.
        field: &'static str,
        /// The byte found.
        value: u8,
    },
    /// A text that is not valid UTF-8, too long, or has control characters.
    #[error("byte {at}: {field} is not acceptable text")]
    BadText {
        /// Offset of the text.
        at: usize,
        /// Which field.
        field: &'static str,
    },
    /// A station code or intake id outside the alphabet or range.
    #[error("byte {at}: {field} is not a valid id")]
    BadId {
        /// Offset of the id.
        at: usize,
        /// Which field.
        field: &'static str,
    },
    /// A list longer than [`MAX_LISTED_INTAKES`].
    #[error("byte {at}: {field} lists {count} intakes; at most {MAX_LISTED_INTAKES} are allowed")]
    ListTooLong {
        /// Offset of the count.
        at: usize,
        /// Which list.
        field: &'static str,
        /// The count found.
        count: usize,
    },
    /// Bytes left over after a whole event.
    #[error("{0} bytes left over after the event")]
    TrailingBytes(usize),
}

/// Encodes `event` canonically.
pub fn encode(event: &Event) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(128));
    w.u8(ENCODING_VERSION);
    w.bytes(event.station.as_bytes());
    w.u64(event.seq);
    w.timestamp(event.recorded_at);
    w.bytes(&event.prev_hash.0);
    match &event.payload {
        Payload::Deposit(intake) => {
            w.u8(1);
            w.intake_id(intake.id);
            w.timestamp(intake.received_at);
            w.u8(match intake.channel {
                Channel::Urn => 1,
                Channel::Counter => 2,
                Channel::Post => 3,
            });
            w.text(&intake.category);
            w.option(intake.reference.as_ref(), Writer::text);
            w.option(intake.sender.as_ref(), Writer::text);
            w.option(intake.attachments.as_ref(), |w, n| {
                w.bytes(&n.to_be_bytes())
            });
        }
        Payload::LabelPrinted { intake, label } => {
            w.u8(2);
            w.intake_id(*intake);
            w.u8(match label {
                LabelKind::Envelope => 1,
                LabelKind::Receipt => 2,
                LabelKind::Bin => 3,
            });
        }
        Payload::DropSeen { intake } => {
            w.u8(3);
            w.intake_id(*intake);
        }
        Payload::DropNotSeen { intake } => {
            w.u8(4);
            w.intake_id(*intake);
        }
        Payload::DoorOpened => w.u8(5),
        Payload::DoorClosed => w.u8(6),
        Payload::Collected { intake } => {
            w.u8(7);
            w.intake_id(*intake);
        }
        Payload::HoldStarted { intake, hold_secs } => {
            w.u8(8);
            w.intake_id(*intake);
            w.bytes(&hold_secs.to_be_bytes());
        }
        Payload::HoldReleased { intake, early } => {
            w.u8(9);
            w.intake_id(*intake);
            w.option(early.as_ref(), |w, e| {
                w.text(&e.supervisor);
                w.text(&e.reason);
            });
        }
        Payload::Forwarded { intake, department } => {
            w.u8(10);
            w.intake_id(*intake);
            w.text(department);
        }
        Payload::Acknowledged {
            intake,
            department,
            clerk,
        } => {
            w.u8(11);
            w.intake_id(*intake);
            w.text(department);
            w.text(clerk);
        }
        Payload::FaultRaised { device, fault } => {
            w.u8(12);
            w.device(*device);
            w.text(fault);
        }
        Payload::FaultCleared { device, fault } => {
            w.u8(13);
            w.device(*device);
            w.text(fault);
        }
        Payload::ClockUntrusted { reason } => {
            w.u8(14);
            w.text(reason);
        }
        Payload::ClockTrusted => w.u8(15),
        Payload::Alarm { device, alarm } => {
            w.u8(16);
            w.device(*device);
            w.text(alarm);
        }
        Payload::UrnCollected {
            seal,
            envelopes,
            first_staff,
            second_staff,
        } => {
            w.u8(17);
            w.text(seal);
            w.bytes(&envelopes.to_be_bytes());
            w.text(first_staff);
            w.text(second_staff);
        }
        Payload::StaffSignedIn { staff, role } => {
            w.u8(18);
            w.text(staff);
            w.text(role);
        }
        Payload::StaffSignedOut { staff } => {
            w.u8(19);
            w.text(staff);
        }
        Payload::CheckedIn {
            seal,
            urn_count,
            received,
            missing,
            unexpected,
            first_staff,
            second_staff,
        } => {
            w.u8(20);
            w.text(seal);
            w.bytes(&urn_count.to_be_bytes());
            w.bytes(&received.to_be_bytes());
            w.intake_list(missing);
            w.intake_list(unexpected);
            w.text(first_staff);
            w.text(second_staff);
        }
        Payload::DepartmentChanged {
            intake,
            from,
            to,
            reason,
            staff,
        } => {
            w.u8(21);
            w.intake_id(*intake);
            w.text(from);
            w.text(to);
            w.text(reason);
            w.text(staff);
        }
    }
    w.0
}

/// Decodes canonical bytes; anything that [`encode`] would not have produced is an error.
pub fn decode(bytes: &[u8]) -> Result<Event, DecodeError> {
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(DecodeError::TooLong(bytes.len()));
    }
    let mut r = Reader { bytes, at: 0 };
    let version = r.u8("version")?;
    if version != ENCODING_VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let station = r.station("station")?;
    let seq = r.u64("seq")?;
    let recorded_at = r.timestamp("recorded_at")?;
    let prev_hash = Hash(r.array("prev_hash")?);
    let kind_at = r.at;
    let payload = match r.u8("kind")? {
        1 => {
            let id = r.intake_id()?;
            let received_at = r.timestamp("received_at")?;
            let channel_at = r.at;
            let channel = match r.u8("channel")? {
                1 => Channel::Urn,
                2 => Channel::Counter,
                3 => Channel::Post,
                value => return Err(r.bad_tag(channel_at, "channel", value)),
            };
            let category = r.text("category")?;
            let reference = r.option("reference", |r| r.text("reference"))?;
            let sender = r.option("sender", |r| r.text("sender"))?;
            let attachments = r.option("attachments", |r| {
                r.array("attachments").map(u16::from_be_bytes)
            })?;
            Payload::Deposit(Intake {
                id,
                received_at,
                channel,
                category,
                reference,
                sender,
                attachments,
            })
        }
        2 => {
            let intake = r.intake_id()?;
            let label_at = r.at;
            let label = match r.u8("label")? {
                1 => LabelKind::Envelope,
                2 => LabelKind::Receipt,
                3 => LabelKind::Bin,
                value => return Err(r.bad_tag(label_at, "label", value)),
            };
            Payload::LabelPrinted { intake, label }
        }
        3 => Payload::DropSeen {
            intake: r.intake_id()?,
        },
        4 => Payload::DropNotSeen {
            intake: r.intake_id()?,
        },
        5 => Payload::DoorOpened,
        6 => Payload::DoorClosed,
        7 => Payload::Collected {
            intake: r.intake_id()?,
        },
        8 => Payload::HoldStarted {
            intake: r.intake_id()?,
            hold_secs: u32::from_be_bytes(r.array("hold_secs")?),
        },
        9 => Payload::HoldReleased {
            intake: r.intake_id()?,
            early: r.option("early", |r| {
                Ok(EarlyRelease {
                    supervisor: r.text("supervisor")?,
                    reason: r.text("reason")?,
                })
            })?,
        },
        10 => Payload::Forwarded {
            intake: r.intake_id()?,
            department: r.text("department")?,
        },
        11 => Payload::Acknowledged {
            intake: r.intake_id()?,
            department: r.text("department")?,
            clerk: r.text("clerk")?,
        },
        12 => Payload::FaultRaised {
            device: r.device()?,
            fault: r.text("fault")?,
        },
        13 => Payload::FaultCleared {
            device: r.device()?,
            fault: r.text("fault")?,
        },
        14 => Payload::ClockUntrusted {
            reason: r.text("reason")?,
        },
        15 => Payload::ClockTrusted,
        16 => Payload::Alarm {
            device: r.device()?,
            alarm: r.text("alarm")?,
        },
        17 => Payload::UrnCollected {
            seal: r.text("seal")?,
            envelopes: u32::from_be_bytes(r.array("envelopes")?),
            first_staff: r.text("first_staff")?,
            second_staff: r.text("second_staff")?,
        },
        18 => Payload::StaffSignedIn {
            staff: r.text("staff")?,
            role: r.text("role")?,
        },
        19 => Payload::StaffSignedOut {
            staff: r.text("staff")?,
        },
        20 => Payload::CheckedIn {
            seal: r.text("seal")?,
            urn_count: u32::from_be_bytes(r.array("urn_count")?),
            received: u32::from_be_bytes(r.array("received")?),
            missing: r.intake_list("missing")?,
            unexpected: r.intake_list("unexpected")?,
            first_staff: r.text("first_staff")?,
            second_staff: r.text("second_staff")?,
        },
        21 => Payload::DepartmentChanged {
            intake: r.intake_id()?,
            from: r.text("from")?,
            to: r.text("to")?,
            reason: r.text("reason")?,
            staff: r.text("staff")?,
        },
        value => return Err(r.bad_tag(kind_at, "event kind", value)),
    };
    let left = bytes.len() - r.at;
    if left != 0 {
        return Err(DecodeError::TrailingBytes(left));
    }
    Ok(Event {
        station,
        seq,
        recorded_at,
        prev_hash,
        payload,
    })
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_be_bytes());
    }
    fn timestamp(&mut self, t: Timestamp) {
        self.bytes(&t.unix_ms.to_be_bytes());
        self.u8(u8::from(t.trusted));
    }
    fn text(&mut self, t: &Text) {
        // Text is at most MAX_TEXT_BYTES long, so the length always fits in u16.
        let len = t.as_str().len().min(MAX_TEXT_BYTES) as u16;
        self.bytes(&len.to_be_bytes());
        self.bytes(t.as_str().as_bytes());
    }
    fn intake_id(&mut self, id: IntakeId) {
        self.bytes(id.station().as_bytes());
        self.u64(id.number());
    }
    fn intake_list(&mut self, ids: &[IntakeId]) {
        // The payload's builder keeps lists within MAX_LISTED_INTAKES; a longer one is cut
        // here rather than written with a count that would not decode.
        let ids = &ids[..ids.len().min(MAX_LISTED_INTAKES)];
        self.bytes(&(ids.len() as u16).to_be_bytes());
        for id in ids {
            self.intake_id(*id);
        }
    }
    fn device(&mut self, d: Device) {
        self.u8(match d {
            Device::Scanner => 1,
            Device::Printer => 2,
            Device::Door => 3,
            Device::Slot => 4,
            Device::Registry => 5,
            Device::Storage => 6,
            Device::Urn => 7,
        });
    }
    fn option<T>(&mut self, v: Option<&T>, write: impl FnOnce(&mut Self, &T)) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                write(self, v);
            }
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&[u8], DecodeError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let out = &self.bytes[self.at..end];
                self.at = end;
                Ok(out)
            }
            None => Err(DecodeError::Truncated {
                at: self.at,
                field,
                needed: self.at + n - self.bytes.len(),
            }),
        }
    }
    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }
    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, field)?[0])
    }
    fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        self.array(field).map(u64::from_be_bytes)
    }
    fn bad_tag(&self, at: usize, field: &'static str, value: u8) -> DecodeError {
        DecodeError::BadTag { at, field, value }
    }
    fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        let at = self.at;
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(self.bad_tag(at, field, value)),
        }
    }
    fn timestamp(&mut self, field: &'static str) -> Result<Timestamp, DecodeError> {
        Ok(Timestamp {
            unix_ms: i64::from_be_bytes(self.array(field)?),
            trusted: self.bool(field)?,
        })
    }
    fn station(&mut self, field: &'static str) -> Result<StationCode, DecodeError> {
        let at = self.at;
        let bytes: [u8; STATION_CODE_LEN] = self.array(field)?;
        StationCode::from_bytes(bytes).map_err(|_| DecodeError::BadId { at, field })
    }
    fn intake_id(&mut self) -> Result<IntakeId, DecodeError> {
        let at = self.at;
        let station = self.station("intake id")?;
        let number = self.u64("intake id")?;
        IntakeId::new(station, number).map_err(|_| DecodeError::BadId {
            at,
            field: "intake id",
        })
    }
    fn intake_list(&mut self, field: &'static str) -> Result<Vec<IntakeId>, DecodeError> {
        let at = self.at;
        let count = u16::from_be_bytes(self.array(field)?) as usize;
        if count > MAX_LISTED_INTAKES {
            return Err(DecodeError::ListTooLong { at, field, count });
        }
        (0..count).map(|_| self.intake_id()).collect()
    }
    fn device(&mut self) -> Result<Device, DecodeError> {
        let at = self.at;
        Ok(match self.u8("device")? {
            1 => Device::Scanner,
            2 => Device::Printer,
            3 => Device::Door,
            4 => Device::Slot,
            5 => Device::Registry,
            6 => Device::Storage,
            7 => Device::Urn,
            value => return Err(self.bad_tag(at, "device", value)),
        })
    }
    fn text(&mut self, field: &'static str) -> Result<Text, DecodeError> {
        let at = self.at;
        let len = u16::from_be_bytes(self.array(field)?) as usize;
        if len > MAX_TEXT_BYTES {
            return Err(DecodeError::BadText { at, field });
        }
        let raw = self.take(len, field)?;
        let s = std::str::from_utf8(raw).map_err(|_| DecodeError::BadText { at, field })?;
        Text::new(s).map_err(|_| DecodeError::BadText { at, field })
    }
    fn option<T>(
        &mut self,
        field: &'static str,
        read: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        if self.bool(field)? {
            read(self).map(Some)
        } else {
            Ok(None)
        }
    }
}
