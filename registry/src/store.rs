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

/// One station's next verified events and the changes they make to its open device alerts
/// (in seq order), as [`RegisterStore::append`] takes them.
#[derive(Debug, Clone, Copy)]
pub struct StationAppend<'a> {
    /// The station.
    pub station: StationCode,
    /// Its events, in seq order, continuing its stored chain.
    pub events: &'a [NewEvent],
    /// What they open or close on the station's device alerts, in seq order.
    pub alerts: &'a [AlertChange],
    /// The nonce of the signed request that brought them, stored in the same commit: a replay
    /// is refused after a crash exactly when what the request stored survived it.
    pub nonce: Option<&'a RequestNonce>,
}

/// A signed request's nonce as the register keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestNonce {
    /// The key that signed the request.
    pub key: KeyId,
    /// The nonce, as signed.
    pub nonce: String,
    /// When the registry saw it (unix ms).
    pub seen_ms: i64,
    /// Nonces seen before this (unix ms) are forgotten when this one is stored.
    pub forget_before_ms: i64,
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

/// What the register holds about one intake: its stored events and its projected row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeState {
    /// Every stored event about it, by recorded time, station, seq.
    pub events: Vec<StoredEvent>,
    /// Its row, if it has been projected before.
    pub record: Option<IntakeRecord>,
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

/// What a clerk account may see and do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClerkRole {
    /// A clerk of one department: sees that department's intakes only, and acknowledges them.
    Clerk {
        /// The department, as the registry's config names it.
        department: String,
    },
    /// The office's admin: sees every intake.
    Admin,
}

impl ClerkRole {
    /// The role's name as stored: `clerk` or `admin`.
    pub fn name(&self) -> &'static str {
        match self {
            ClerkRole::Clerk { .. } => "clerk",
            ClerkRole::Admin => "admin",
        }
    }

    /// The department a clerk is bound to; `None` for an admin.
    pub fn department(&self) -> Option<&str> {
        match self {
            ClerkRole::Clerk { department } => Some(department),
            ClerkRole::Admin => None,
        }
    }
}

/// A clerk account at the registry office.
#[derive(Clone, PartialEq, Eq)]
pub struct ClerkRecord {
    /// What they sign in with.
    pub username: String,
    /// The password's Argon2id hash (PHC string); the password itself is never stored.
    pub password_hash: String,
    /// What they may see.
    pub role: ClerkRole,
    /// A disabled account cannot sign in; it is kept because events name it.
    pub disabled: bool,
    /// When it was added (unix ms).
    pub created_ms: i64,
}

impl std::fmt::Debug for ClerkRecord {
    // The hash is slow to attack, not impossible: it stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClerkRecord")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// Failed sign-ins of one username, the lockout they caused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoginFailures {
    /// Failures since the last success or lockout.
    pub failures: u32,
    /// Sign-ins are refused until then (unix ms); 0 when not locked.
    pub locked_until_ms: i64,
}

/// A signed-in clerk's session. The token itself is never stored, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Whose.
    pub username: String,
    /// When it began (unix ms).
    pub created_ms: i64,
    /// When it ends (unix ms).
    pub expires_ms: i64,
}

/// Which intakes a search wants; every field given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntakeFilter {
    /// The department that has it.
    pub department: Option<String>,
    /// Exactly this intake.
    pub id: Option<IntakeId>,
    /// The case reference contains this (ASCII case does not matter).
    pub reference: Option<String>,
    /// Received at or after (unix ms).
    pub received_from_ms: Option<i64>,
    /// Received before (unix ms).
    pub received_before_ms: Option<i64>,
    /// Deposited at this station.
    pub station: Option<StationCode>,
    /// In this status.
    pub status: Option<IntakeStatus>,
}

/// The register's storage. Every method is one transaction. A backend keeps the outbox of
/// notifications too ([`crate::outbox::OutboxStore`]), fed by the events it stores.
pub trait RegisterStore:
    crate::outbox::OutboxStore
    + crate::insight::InsightStore
    + crate::station_report::ReportStore
    + Send
    + Sync
    + std::fmt::Debug
{
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
    /// Stores stations' next verified events with the changes to their open device alerts
    /// (applied in the order given, which is seq order), and the intakes they change, all or
    /// nothing: several stations' pushes share one durable commit.
    fn append(
        &self,
        appends: &[StationAppend<'_>],
        intakes: &[IntakeRecord],
        received_ms: i64,
    ) -> Result<()>;
    /// Keeps fork evidence and raises an alarm; `None` when this same evidence was already kept
    /// (a station retrying its push must not flood the alarm list).
    fn record_fork(&self, evidence: &ForkEvidence, message: &str) -> Result<Option<Alarm>>;
    /// One intake.
    fn intake(&self, id: IntakeId) -> Result<Option<IntakeRecord>>;
    /// For each of `ids`, its stored events (as [`RegisterStore::intake_events`]) and its row,
    /// all as of one moment: what ingest projects a batch's touched intakes from.
    fn intake_states(&self, ids: &[IntakeId]) -> Result<Vec<IntakeState>>;
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
    /// The keys of one station, by first seen.
    fn station_keys_of(&self, station: StationCode) -> Result<Vec<StationKeyRecord>>;
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
    /// Whether the key's nonce is stored, seen at or after `since_ms`. Reads the last commit
    /// only: the caller keeps nonces on their way to a commit apart itself.
    fn nonce_seen(&self, key: KeyId, nonce: &str, since_ms: i64) -> Result<bool>;
    /// The newest intakes (by date of receipt, then id) that match `filter`, at most `limit`.
    fn search_intakes(&self, filter: &IntakeFilter, limit: usize) -> Result<Vec<IntakeRecord>>;

    /// Adds a clerk account; `false` (nothing changed) when the username is taken.
    fn insert_clerk(&self, clerk: &ClerkRecord) -> Result<bool>;
    /// The account with this username, enabled or not.
    fn clerk(&self, username: &str) -> Result<Option<ClerkRecord>>;
    /// Every account, by username.
    fn clerks(&self) -> Result<Vec<ClerkRecord>>;
    /// Disables an account and ends its sessions; `false` when there is no such account.
    fn disable_clerk(&self, username: &str) -> Result<bool>;
    /// The failed sign-ins recorded for a username (any username, known or not).
    fn login_failures(&self, username: &str) -> Result<LoginFailures>;
    /// Counts a failed sign-in: failures older than `window_ms` are forgotten first; the
    /// `max_failures`th locks the username for `lock_ms` and starts the count again.
    fn record_login_failure(
        &self,
        username: &str,
        now_ms: i64,
        max_failures: u32,
        window_ms: i64,
        lock_ms: i64,
    ) -> Result<LoginFailures>;
    /// Forgets a username's failed sign-ins (after a successful one).
    fn clear_login_failures(&self, username: &str) -> Result<()>;
    /// Keeps a new session under its token's hash; sessions expired by `now_ms` are forgotten.
    fn insert_session(
        &self,
        token_hash: &[u8; 32],
        session: &SessionRecord,
        now_ms: i64,
    ) -> Result<()>;
    /// The session with this token hash and its account, when it has not expired by `now_ms`
    /// and the account is not disabled.
    fn session(
        &self,
        token_hash: &[u8; 32],
        now_ms: i64,
    ) -> Result<Option<(SessionRecord, ClerkRecord)>>;
    /// Ends a session (nothing when there is none).
    fn delete_session(&self, token_hash: &[u8; 32]) -> Result<()>;
    /// Takes and gives back the register's write lock on the connection ingest writes through,
    /// changing nothing: the proof, for the service watchdog, that a push could be stored now.
    fn probe_write(&self) -> Result<()>;
}
