//! The register's storage interface. Ingest, pages and notifications use only this trait, so a
//! PostgreSQL backend can be added beside [`crate::sqlite::SqliteStore`] without touching them.
//!
//! The methods are blocking: both SQLite and a synchronous PostgreSQL client block, and the
//! [`crate::Registry`] calls them on tokio's blocking pool. The store holds no rules of its own:
//! what an event means for an intake is decided in [`crate::projection`], and the store only
//! keeps the result, in one transaction with the events it came from. The same holds for device
//! alerts: [`crate::projection::alert_change`] says what an event opens or closes, and the store
//! applies those [`AlertChange`]s in the order given.

use records::api::{AlertKind, IntakeStatus};
use records::{
    ChainTip, Channel, Device, Hash, IntakeId, KeyId, SignedEvent, StationCode, Timestamp,
    VerifyingKey,
};

use crate::error::Result;

/// An enrolled station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationRecord {
    /// Its code, the first four characters of its intake ids.
    pub code: StationCode,
    /// A name for people, e.g. `Urna — wejście główne`.
    pub name: String,
    /// The key its events and receipts must be signed with.
    pub key: VerifyingKey,
    /// When it was enrolled (registry clock, unix ms).
    pub enrolled_ms: i64,
}

/// Where a station key stands at this registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Seen (a signed request, or enrolled by code and name) but not approved by an admin: its
    /// requests are refused.
    Pending,
    /// Approved: the station's current key.
    Approved,
    /// Replaced by a rotation: events and receipts it signed still verify; its requests are refused.
    Retired,
    /// Revoked by an admin: nothing it signs is accepted any more.
    Revoked,
}

impl KeyState {
    /// The name stored and shown: `pending`, `approved`, `retired`, `revoked`.
    pub fn name(self) -> &'static str {
        match self {
            KeyState::Pending => "pending",
            KeyState::Approved => "approved",
            KeyState::Retired => "retired",
            KeyState::Revoked => "revoked",
        }
    }
}

/// One station key the registry knows of, in any state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationKeyRecord {
    /// The station it speaks for.
    pub station: StationCode,
    /// The key.
    pub key: VerifyingKey,
    /// Where it stands.
    pub state: KeyState,
    /// When the registry first saw it (unix ms).
    pub first_seen_ms: i64,
    /// When it last signed a request (unix ms).
    pub last_seen_ms: i64,
    /// When its state last changed (unix ms).
    pub changed_ms: i64,
}

impl StationKeyRecord {
    /// Its short id.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.key)
    }

    /// What an admin types to approve it.
    pub fn fingerprint(&self) -> String {
        records::fingerprint(&self.key)
    }
}

/// A key rotation the registry accepted: from `from_seq` on, the station's events are signed by
/// `new_key`; `old_key` (retired) vouches only for the events before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationRecord {
    /// The station.
    pub station: StationCode,
    /// The retired key.
    pub old_key: KeyId,
    /// Its successor.
    pub new_key: KeyId,
    /// The first seq the new key signs.
    pub from_seq: u64,
    /// The statement as received ([`records::KeyRotation`]'s canonical text): the evidence.
    pub statement: String,
    /// When the registry accepted it (unix ms).
    pub accepted_ms: i64,
}

/// A verified event, ready to be stored, with the fields the register is indexed by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// The event as the station signed it.
    pub signed: SignedEvent,
    /// Its chain hash.
    pub hash: Hash,
    /// Its kind name (`deposit`, `collected` …).
    pub kind: &'static str,
    /// The intake it is about, if any.
    pub intake: Option<IntakeId>,
    /// When the station recorded it (unix ms), for timeline order.
    pub recorded_ms: i64,
}

/// A stored event as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// The station that recorded it.
    pub station: StationCode,
    /// The event as the station signed it.
    pub signed: SignedEvent,
    /// When the registry stored it (unix ms).
    pub received_ms: i64,
}

/// One intake of the register, as projected from its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeRecord {
    /// The id.
    pub id: IntakeId,
    /// The legal date of receipt.
    pub received_at: Timestamp,
    /// How it came.
    pub channel: Channel,
    /// Category as chosen.
    pub category: String,
    /// The department that has it, or will.
    pub department: String,
    /// The form's reference, if any.
    pub reference: Option<String>,
    /// Where it is now.
    pub status: IntakeStatus,
    /// When the registry last changed this row (unix ms).
    pub updated_ms: i64,
}

/// A different event offered under a seq the registry already holds: kept as evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkEvidence {
    /// The station whose key signed it.
    pub station: StationCode,
    /// The conflicting event.
    pub signed: SignedEvent,
    /// When the registry saw it (unix ms).
    pub seen_ms: i64,
}

/// Something staff must look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alarm {
    /// Row id.
    pub id: i64,
    /// `fork` for now.
    pub kind: String,
    /// The station it is about.
    pub station: String,
    /// The seq it is about, if any.
    pub seq: Option<u64>,
    /// What happened, for people.
    pub message: String,
    /// When it was raised (unix ms).
    pub raised_ms: i64,
}

/// What one event does to its station's open device alerts. An alert is known by (station,
/// device, what); the station is the one whose events are being appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertChange {
    /// Opens the alert; when it is already open, it takes this event's seq and time.
    Open {
        /// The device.
        device: Device,
        /// What is wrong, as the station named it (`paper_out`).
        what: String,
        /// Fault or alarm.
        kind: AlertKind,
        /// When the station recorded the event.
        since: Timestamp,
        /// The event's seq.
        seq: u64,
    },
    /// Closes the alert if it is open and of this kind; otherwise changes nothing.
    Close {
        /// The device.
        device: Device,
        /// What was wrong.
        what: String,
        /// Only an open alert of this kind is closed.
        kind: AlertKind,
    },
}

/// One open device alert, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAlertRecord {
    /// The station it is at.
    pub station: StationCode,
    /// That station's name, for people.
    pub station_name: String,
    /// The device.
    pub device: Device,
    /// What is wrong, as the station named it.
    pub what: String,
    /// Fault or alarm.
    pub kind: AlertKind,
    /// When the station recorded the event that opened it (or last raised it again).
    pub since: Timestamp,
    /// That event's seq.
    pub seq: u64,
}

/// The register's storage. Every method is one transaction.
pub trait RegisterStore: Send + Sync + std::fmt::Debug {
    /// The station with this code, if enrolled.
    fn station(&self, code: StationCode) -> Result<Option<StationRecord>>;
    /// Enrols a station; the caller has checked the code is free.
    fn insert_station(&self, station: &StationRecord) -> Result<()>;
    /// Every enrolled station, by code.
    fn stations(&self) -> Result<Vec<StationRecord>>;
    /// The last stored event of the station (seq 0 and the genesis hash before the first).
    fn tip(&self, code: StationCode) -> Result<ChainTip>;
    /// The station's stored events with `from ..= to` seqs, in seq order.
    fn events_between(&self, code: StationCode, from: u64, to: u64) -> Result<Vec<SignedEvent>>;
    /// Every stored event of one kind (`urn_collected` …), from any station, in the order the
    /// registry stored them: by received time, then station, then seq.
    fn events_of_kind(&self, kind: &str) -> Result<Vec<StoredEvent>>;
    /// Every stored event about an intake, from any station, by recorded time, station, seq.
    fn intake_events(&self, id: IntakeId) -> Result<Vec<StoredEvent>>;
    /// Stores a station's next verified events, the intakes they change and the changes to the
    /// station's open device alerts (applied in the order given, which is seq order), all or
    /// nothing.
    fn append(
        &self,
        station: StationCode,
        events: &[NewEvent],
        intakes: &[IntakeRecord],
        alerts: &[AlertChange],
        received_ms: i64,
    ) -> Result<()>;
    /// Keeps fork evidence and raises an alarm; `None` when this same evidence was already kept
    /// (a station retrying its push must not flood the alarm list).
    fn record_fork(&self, evidence: &ForkEvidence, message: &str) -> Result<Option<Alarm>>;
    /// One intake.
    fn intake(&self, id: IntakeId) -> Result<Option<IntakeRecord>>;
    /// The newest intakes (by date of receipt), optionally of one department only.
    fn intakes(&self, department: Option<&str>, limit: usize) -> Result<Vec<IntakeRecord>>;
    /// Every alarm, newest first.
    fn alarms(&self) -> Result<Vec<Alarm>>;
    /// Every open device alert, with its station's name: oldest first (by the station's time,
    /// then station and seq).
    fn device_alerts(&self) -> Result<Vec<DeviceAlertRecord>>;

    /// The key with this id, in whatever state.
    fn station_key(&self, id: KeyId) -> Result<Option<StationKeyRecord>>;
    /// Every key known, by station, then first seen.
    fn station_keys(&self) -> Result<Vec<StationKeyRecord>>;
    /// Records a key seen for the first time as pending, or notes that a known key was seen
    /// again (its `last_seen_ms`). A new pending key is not recorded while `max_pending` keys are
    /// already pending (a flood of made-up stations must not fill the register); `false` then.
    fn note_key(
        &self,
        station: StationCode,
        key: &VerifyingKey,
        now_ms: i64,
        max_pending: usize,
    ) -> Result<bool>;
    /// Approves a pending key: it becomes its station's current key, and the station is created
    /// (named `name`) when it is not enrolled yet. The caller checked the state.
    fn approve_key(&self, id: KeyId, name: &str, now_ms: i64) -> Result<()>;
    /// Revokes every key of the station that is not revoked yet; how many were.
    fn revoke_station(&self, station: StationCode, now_ms: i64) -> Result<usize>;
    /// The accepted rotation that retired `old_key`, if any (a key is retired once).
    fn rotation_from(&self, old_key: KeyId) -> Result<Option<RotationRecord>>;
    /// The station's accepted rotations, by `from_seq`.
    fn rotations(&self, station: StationCode) -> Result<Vec<RotationRecord>>;
    /// Applies an accepted rotation, all or nothing: keeps the record, retires the old key,
    /// approves the new one (recording it first if it was never seen) and makes it the station's
    /// current key. The caller checked both keys' states.
    fn rotate_key(&self, rotation: &RotationRecord, new_key: &VerifyingKey) -> Result<()>;
    /// Remembers a request nonce of a key; `false` when it was already seen (a replay). Nonces
    /// seen before `forget_before_ms` are forgotten first.
    fn remember_nonce(
        &self,
        key: KeyId,
        nonce: &str,
        now_ms: i64,
        forget_before_ms: i64,
    ) -> Result<bool>;
}
