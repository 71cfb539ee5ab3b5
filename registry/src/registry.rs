//! The [`Registry`]: enrolment, ingest of station pushes, the register's queries and receipt
//! checks, over any [`RegisterStore`].

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use records::api::{
    CollectionView, DeviceAlert, DeviceAlerts, IntakeView, PushResponse, ReceiptVerdict,
};
use records::rotation::{self, RotationAccepted, RotationError};
use records::signing::verify_event;
use records::{
    ChainTip, ChainVerifier, Event, Hash, IntakeId, KeyId, KeyRing, Payload, Problem, ReceiptError,
    ReceiptPayload, SignedEvent, StationCode, VerifyingKey, encoding,
};
use tokio::sync::broadcast;

use records::api::IntakeStatus;

use crate::clerks::{self, LoginOutcome, Scope, Session};
use crate::config::RegistryConfig;
use crate::error::{Error, Result};
use crate::group_commit::{self, Job, WriteQueue};
use crate::key_rings::KeyRings;
use crate::notify::{NOTICE_BUFFER, Notice};
use crate::own_key::{KEY_FILE, RegistryKey, registry_code};
use crate::projection;
use crate::search::{ExportRow, HoldTimes, MAX_CSV_ROWS, Search};
use crate::sqlite::SqliteStore;
use crate::store::{
    Alarm, AlertChange, ForkEvidence, IntakeRecord, KeyState, NewEvent, RegisterStore,
    RequestNonce, RotationRecord, StationAppend, StationKeyRecord, StationRecord,
};
use crate::store::{ClerkRecord, ClerkRole, SessionRecord};

/// The registry office server's core. Cheap to clone: clones share one register.
#[derive(Debug, Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn RegisterStore>,
    config: RegistryConfig,
    notices: broadcast::Sender<Notice>,
    // Ingest reads intakes touched by other stations' events and writes them back; one writer at
    // a time keeps that read-modify-write exact. Only the write is held under it: verifying a
    // push, most of its cost, happens before, under its station's lock alone.
    ingest: Mutex<()>,
    // A station's chain grows one push at a time: its tip is read, the push verified against it
    // and stored with no other push, rotation or revocation of that station in between. Stations
    // are independent chains, so different stations' pushes verify at the same time; a code
    // picks one of a fixed set of locks, so their number stays bounded whoever calls.
    stations: [Mutex<()>; STATION_LOCKS],
    // Pushes that may be on the blocking pool at once. Hundreds of stations pushing together
    // would otherwise each hold a thread parked on the locks above, and the kernel's switching
    // between them cost more than the ingest; the rest wait here, as cheap tasks.
    pushing: tokio::sync::Semaphore,
    // Verified pushes waiting for the writer's next commit; see `Inner::store_verified`.
    write_queue: Arc<WriteQueue<Staged>>,
    // Request nonces taken but not committed yet (a push's rides in the push's own commit).
    // With the register they make the set of nonces seen: a replay racing its original, or
    // arriving while the original is being written, finds it here. See `Registry::claim_nonce`.
    nonces: Mutex<HashSet<(KeyId, String)>>,
    // Signs the registry's own events (acknowledgements); unset for a registry over a bare
    // store, which then records none. Set once, right after construction.
    key: std::sync::OnceLock<RegistryKey>,
    // What `/metrics` counts: kept here, where ingest decides, rather than in the HTTP state.
    metrics: crate::metrics::Metrics,
    // The stations' trusted keys as checked rings, so a push does not check its keys again.
    key_rings: KeyRings,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.write_queue.close();
    }
}

/// One station's verified events, ready to be stored.
#[derive(Debug)]
struct Staged {
    code: StationCode,
    /// The events, decoded, in seq order.
    events: Vec<Event>,
    new_events: Vec<NewEvent>,
    /// What they open or close on the station's device alerts, in seq order, so that a fault
    /// raised and cleared within one push ends closed.
    alerts: Vec<AlertChange>,
    /// The nonce of the request that brought them, committed with them.
    nonce: Option<RequestNonce>,
}

impl Staged {
    fn new(
        code: StationCode,
        verified: Vec<(Event, Hash)>,
        signed: &[SignedEvent],
        nonce: Option<RequestNonce>,
    ) -> Self {
        let new_events = verified
            .iter()
            .zip(signed)
            .map(|((event, hash), signed)| NewEvent {
                signed: signed.clone(),
                hash: *hash,
                kind: event.payload.kind_name(),
                intake: event.payload.intake(),
                recorded_ms: event.recorded_at.unix_ms,
            })
            .collect();
        let alerts: Vec<AlertChange> = verified
            .iter()
            .filter_map(|(e, _)| projection::alert_change(e))
            .collect();
        for change in &alerts {
            if let AlertChange::Open {
                device, what, kind, ..
            } = change
            {
                tracing::warn!(station = %code, device = projection::device_name(*device), %what, ?kind, "device alert");
            }
        }
        Staged {
            code,
            events: verified.into_iter().map(|(e, _)| e).collect(),
            new_events,
            alerts,
            nonce,
        }
    }

    fn last_seq(&self) -> u64 {
        self.events.last().map_or(0, |e| e.seq)
    }
}

/// A request nonce taken by [`Registry::claim_nonce`] and not committed yet; given back when
/// dropped.
#[derive(Debug)]
pub(crate) struct NonceClaim {
    inner: Arc<Inner>,
    nonce: RequestNonce,
}

impl NonceClaim {
    /// Commits the nonce alone, for a request that stores nothing else. Not waiting for the disk
    /// (see [`RegisterStore::remember_nonce`]): only a power cut can lose it, and the request
    /// it refuses again changed nothing. `false` when the register held it already. Blocking.
    pub(crate) fn remember(self) -> Result<bool> {
        let n = &self.nonce;
        self.inner
            .store
            .remember_nonce(n.key, &n.nonce, n.seen_ms, n.forget_before_ms)
    }
}

impl Drop for NonceClaim {
    fn drop(&mut self) {
        if let Ok(mut taken) = self.inner.nonces.lock() {
            taken.remove(&(self.nonce.key, std::mem::take(&mut self.nonce.nonce)));
        }
    }
}

/// How many station locks pushes spread over: well above the cores that verify, so that two
/// busy stations rarely share one.
const STATION_LOCKS: usize = 64;

/// Pushes verified or stored at once: enough that every core still has pushes to verify while
/// those verified wait for the writer's commit (48 rather than 16: 24,000–25,000 → 27,000–28,000
/// events/s from 500 stations; 128 no better).
const PUSH_WORKERS: usize = 48;

/// Most keys kept pending at once: an admin approves a handful; a flood of made-up stations
/// must not fill the register.
pub const MAX_PENDING_KEYS: usize = 256;

/// A fingerprint as typed or scanned, reduced to its 32 hex digits (`-`, spaces and case do not
/// matter); `None` when it is not one.
pub fn normalize_fingerprint(text: &str) -> Option<String> {
    let hex: String = text
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | ':' | '\t'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hex)
}

/// Longest seal number a collection can be looked up by.
pub const MAX_SEAL_CHARS: usize = 32;

/// A seal as a lookup may name it: 1 to [`MAX_SEAL_CHARS`] of `A`–`Z`, `a`–`z`, `0`–`9`, `-`.
fn check_seal(seal: &str) -> Result<()> {
    if !seal.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(Error::BadRequest(
            "a seal number has only the letters A-Z and a-z, digits and '-'".into(),
        ));
    }
    // ASCII from here on: bytes are characters.
    if seal.is_empty() || seal.len() > MAX_SEAL_CHARS {
        return Err(Error::BadRequest(format!(
            "a seal number has 1 to {MAX_SEAL_CHARS} characters, not {}",
            seal.len()
        )));
    }
    Ok(())
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl Registry {
    /// Opens (or creates) the SQLite register at `db_path`.
    pub fn open(db_path: &Path, config: RegistryConfig) -> Result<Registry> {
        let store = SqliteStore::open(db_path)?;
        tracing::info!(path = %db_path.display(), "register opened");
        // Beside the register: the two belong together (the register holds the key's public half).
        let key = RegistryKey::load_or_create(&db_path.with_file_name(KEY_FILE))?;
        Registry::with_store_and_key(Arc::new(store), config, key)
    }

    /// A registry over any store.
    pub fn with_store(store: Arc<dyn RegisterStore>, config: RegistryConfig) -> Result<Registry> {
        config.validate()?;
        let (notices, _) = broadcast::channel(NOTICE_BUFFER);
        let write_queue = Arc::new(WriteQueue::new());
        let inner = Arc::new(Inner {
            store,
            config,
            notices,
            ingest: Mutex::new(()),
            stations: std::array::from_fn(|_| Mutex::new(())),
            pushing: tokio::sync::Semaphore::new(PUSH_WORKERS),
            write_queue: Arc::clone(&write_queue),
            nonces: Mutex::new(HashSet::new()),
            key: std::sync::OnceLock::new(),
            metrics: crate::metrics::Metrics::default(),
            key_rings: KeyRings::default(),
        });
        // The writer holds the registry weakly: it stops when the last clone is dropped.
        let registry = Arc::downgrade(&inner);
        group_commit::spawn_writer(write_queue, move |batch: &[Arc<Job<Staged>>]| {
            if let Some(inner) = registry.upgrade() {
                inner.write_batch(batch);
            }
        })?;
        Ok(Registry { inner })
    }

    /// The configuration.
    pub fn config(&self) -> &RegistryConfig {
        &self.inner.config
    }

    /// The counters `/metrics` shows.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.inner.metrics
    }

    /// Whether the register could store a push now ([`RegisterStore::probe_write`]), on the
    /// connection and lock the pushes use: what the service watchdog asks besides an HTTP answer.
    pub async fn probe_store(&self) -> Result<()> {
        self.blocking(|inner| inner.store.probe_write()).await
    }

    /// The store, for the notification worker and its admin routes ([`crate::notifier`]).
    pub(crate) fn store(&self) -> Arc<dyn RegisterStore> {
        Arc::clone(&self.inner.store)
    }

    /// Listens to live notices from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.inner.notices.subscribe()
    }

    /// Sends a live notice that does not come from ingest (the fleet watcher's).
    pub(crate) fn announce(&self, notice: Notice) {
        // No listener is no error: nobody has a page open.
        let _ = self.inner.notices.send(notice);
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| Error::Task(e.to_string()))?
    }

    /// Enrols a station with its public key, pending approval ([`Registry::approve`]): until
    /// then its requests are refused. Enrolling the same code with the same key again changes
    /// nothing; another key for a known code is refused (a station changes keys by rotation).
    pub async fn enrol(&self, code: StationCode, name: &str, key: VerifyingKey) -> Result<()> {
        let name = name.to_owned();
        self.blocking(move |inner| {
            // Refuses weak keys before anything is stored.
            KeyRing::new().add(key)?;
            match inner.store.station(code)? {
                Some(existing) if existing.key == key => Ok(()),
                Some(existing) => Err(Error::KeyMismatch {
                    code,
                    enrolled: records::fingerprint(&existing.key),
                }),
                None => {
                    inner.store.insert_station(&StationRecord {
                        code,
                        name,
                        key,
                        enrolled_ms: now_ms(),
                    })?;
                    tracing::info!(station = %code, fingerprint = %records::fingerprint(&key), "station enrolled, key pending approval");
                    Ok(())
                }
            }
        })
        .await
    }

    /// Approves the key with this fingerprint (as typed or scanned), pending since the station
    /// first called or since it was enrolled. The station is created, named `name` (its code
    /// when `None`), if only its key was known. Approving an approved key changes nothing.
    /// Refused: a fingerprint no pending key has, a revoked or retired key, and a station that
    /// has another approved key (revoke it first, or let the station rotate).
    pub async fn approve(&self, fingerprint: &str, name: Option<&str>) -> Result<StationKeyRecord> {
        let wanted = normalize_fingerprint(fingerprint).ok_or_else(|| {
            Error::Enrolment(format!(
                "{fingerprint:?} is not a key fingerprint (32 hex digits, e.g. 3f2a-09bc-…)"
            ))
        })?;
        let name = name.map(str::to_owned);
        let fingerprint = fingerprint.to_owned();
        self.blocking(move |inner| {
            let _one_at_a_time = inner.lock();
            let keys = inner.store.station_keys()?;
            let Some(found) = keys
                .iter()
                .find(|k| k.fingerprint().replace('-', "") == wanted)
            else {
                return Err(Error::Enrolment(format!(
                    "no station has asked with the key {fingerprint}; start the station so it \
                     calls the registry, then approve it"
                )));
            };
            match found.state {
                KeyState::Approved => return Ok(found.clone()),
                KeyState::Revoked | KeyState::Retired => {
                    return Err(Error::Enrolment(format!(
                        "the key {} of station {} is {}; it cannot be approved again \
                         (give the station a new key)",
                        found.fingerprint(),
                        found.station,
                        found.state.name()
                    )));
                }
                KeyState::Pending => {}
            }
            if let Some(other) = keys
                .iter()
                .find(|k| k.station == found.station && k.state == KeyState::Approved)
            {
                return Err(Error::Enrolment(format!(
                    "station {} already has the approved key {}; revoke the station first, or \
                     let it rotate its key",
                    found.station,
                    other.fingerprint()
                )));
            }
            let name = match (name, inner.store.station(found.station)?) {
                (Some(n), _) => n,
                (None, Some(s)) => s.name,
                (None, None) => found.station.to_string(),
            };
            let now = now_ms();
            inner.store.approve_key(found.key_id(), &name, now)?;
            tracing::info!(station = %found.station, fingerprint = %found.fingerprint(), "station key approved");
            Ok(StationKeyRecord {
                state: KeyState::Approved,
                changed_ms: now,
                ..found.clone()
            })
        })
        .await
    }

    /// Revokes every key of the station: whatever it sends from now on is refused. Its stored
    /// events stay. Returns how many keys were revoked (0 when none was left to revoke).
    pub async fn revoke(&self, code: StationCode) -> Result<usize> {
        self.blocking(move |inner| {
            let _this_station = inner.lock_station(code);
            let _one_at_a_time = inner.lock();
            let known = inner
                .store
                .station_keys()?
                .iter()
                .any(|k| k.station == code);
            if !known {
                return Err(Error::UnknownStation(code.to_string()));
            }
            if code == registry_code() {
                return Err(Error::Enrolment(format!(
                    "{code} is the registry's own code: its key signs the registry's events and \
                     cannot be revoked"
                )));
            }
            let revoked = inner.store.revoke_station(code, now_ms())?;
            tracing::warn!(station = %code, revoked, "station revoked: its requests are refused from now on");
            Ok(revoked)
        })
        .await
    }

    /// Takes a station's key rotation statement ([`records::rotation`]): when the old key is the
    /// station's approved key and both signatures verify, the old key is retired (its events
    /// before `from_seq` and its receipts still verify; its requests are refused) and the new key
    /// approved. The same statement again changes nothing. Refused, and logged: a statement that
    /// does not parse or verify, an old key that is unknown, pending, revoked or another
    /// station's, a new key already known otherwise than as this station's pending key, an old
    /// key already rotated to another key, and a `from_seq` the registry's copy already reached
    /// (those events were signed by the old key).
    pub async fn rotate(&self, code: StationCode, text: &str) -> Result<RotationAccepted> {
        let text = text.to_owned();
        let outcome = self.blocking(move |inner| inner.rotate(code, &text)).await;
        if let Err(Error::Rotation { code: reason, .. }) = &outcome {
            tracing::warn!(station = %code, reason, "key rotation refused");
        }
        outcome
    }

    /// Every station key the registry knows, in every state: what an admin page lists.
    pub async fn station_keys(&self) -> Result<Vec<StationKeyRecord>> {
        // The registry's own chain is no station of the fleet.
        let own = registry_code();
        self.blocking(move |inner| {
            let mut keys = inner.store.station_keys()?;
            keys.retain(|k| k.station != own);
            Ok(keys)
        })
        .await
    }

    /// The keys waiting for an admin's approval.
    pub async fn pending_keys(&self) -> Result<Vec<StationKeyRecord>> {
        Ok(self
            .station_keys()
            .await?
            .into_iter()
            .filter(|k| k.state == KeyState::Pending)
            .collect())
    }

    // A signed request's checks run on the blocking pool in one trip with what the request then
    // does (for a push, the push itself): each trip is a thread hand-over there and back, and
    // at a few thousand requests a second those hand-overs cost more than the lookups.

    /// The key with this id, in whatever state. Blocking.
    pub(crate) fn station_key_now(&self, id: KeyId) -> Result<Option<StationKeyRecord>> {
        self.inner.store.station_key(id)
    }

    /// Notes a key that proved possession by signing a request: pending if new, `last_seen`
    /// otherwise; `false` when too many keys are pending to record another. Blocking.
    pub(crate) fn note_key_now(&self, code: StationCode, key: VerifyingKey) -> Result<bool> {
        // Refuses weak keys before anything is stored.
        KeyRing::new().add(key)?;
        self.inner
            .store
            .note_key(code, &key, now_ms(), MAX_PENDING_KEYS)
    }

    /// Takes a request nonce, to be remembered for `keep_ms`: `None` when it was seen within that
    /// time, or is held by a request not committed yet (a replay racing its original, or sent
    /// while the original is being written). The claim holds the nonce until it is committed,
    /// with the push's events ([`Registry::push_claimed`]) or alone ([`NonceClaim::remember`]),
    /// and gives it back when dropped. Blocking.
    pub(crate) fn claim_nonce(
        &self,
        key: KeyId,
        nonce: &str,
        keep_ms: i64,
    ) -> Result<Option<NonceClaim>> {
        let now = now_ms();
        let nonce = RequestNonce {
            key,
            nonce: nonce.to_owned(),
            seen_ms: now,
            forget_before_ms: now.saturating_sub(keep_ms),
        };
        if !self
            .inner
            .taken_nonces()?
            .insert((key, nonce.nonce.clone()))
        {
            return Ok(None);
        }
        let claim = NonceClaim {
            inner: Arc::clone(&self.inner),
            nonce,
        };
        // Read only once claimed: a request holding this nonce gives it back only after its
        // commit, so this read sees that commit whenever it no longer finds the claim.
        let n = &claim.nonce;
        if self
            .inner
            .store
            .nonce_seen(n.key, &n.nonce, n.forget_before_ms)?
        {
            return Ok(None);
        }
        Ok(Some(claim))
    }

    /// A turn among the pushes allowed on the blocking pool at once ([`PUSH_WORKERS`]).
    pub(crate) async fn push_turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>> {
        self.inner
            .pushing
            .acquire()
            .await
            .map_err(|e| Error::Task(e.to_string()))
    }

    /// [`Registry::push`] for a signed request whose nonce `claim` holds, on the blocking pool,
    /// during a [`Registry::push_turn`]. The nonce is committed in the same transaction as the
    /// events when any are stored (so that it survives a crash whenever they do), and alone
    /// otherwise; before the answer either way.
    pub(crate) fn push_claimed(
        &self,
        code: StationCode,
        events: &[SignedEvent],
        claim: NonceClaim,
    ) -> Result<PushResponse> {
        let mut nonce_stored = false;
        let pushed = self
            .inner
            .push(code, events, Some(&claim.nonce), &mut nonce_stored);
        if let Err(e) = &pushed {
            self.inner.metrics.push_refused(e);
        }
        if !nonce_stored && !claim.remember()? {
            // Claimed, so in no commit of this registry: only another process writing this
            // register could have stored it.
            tracing::warn!(station = %code, "a push's nonce was already in the register");
        }
        pushed
    }

    /// Whether a station with this code is enrolled (approved or not).
    pub(crate) async fn station_known(&self, code: StationCode) -> Result<bool> {
        self.blocking(move |inner| Ok(inner.store.station(code)?.is_some()))
            .await
    }

    /// Every enrolled station.
    pub async fn stations(&self) -> Result<Vec<StationRecord>> {
        // The registry's own chain is no station of the fleet.
        let own = registry_code();
        self.blocking(move |inner| {
            let mut stations = inner.store.stations()?;
            stations.retain(|s| s.code != own);
            Ok(stations)
        })
        .await
    }

    /// The highest seq stored for the station with nothing missing before it.
    pub async fn acknowledged(&self, code: StationCode) -> Result<u64> {
        self.blocking(move |inner| {
            inner
                .store
                .station(code)?
                .ok_or_else(|| Error::UnknownStation(code.to_string()))?;
            Ok(inner.store.tip(code)?.seq)
        })
        .await
    }

    /// Takes a station's push: ignores what is already stored, verifies and stores what is new,
    /// and refuses a fork or a broken chain after keeping the valid prefix.
    pub async fn push(&self, code: StationCode, events: Vec<SignedEvent>) -> Result<PushResponse> {
        let _turn = self
            .inner
            .pushing
            .acquire()
            .await
            .map_err(|e| Error::Task(e.to_string()))?;
        let pushed = self
            .blocking(move |inner| inner.push(code, &events, None, &mut false))
            .await;
        if let Err(e) = &pushed {
            self.inner.metrics.push_refused(e);
        }
        pushed
    }

    /// One intake with its whole timeline.
    pub async fn intake(&self, id: IntakeId) -> Result<Option<IntakeView>> {
        self.blocking(move |inner| inner.intake_view(id)).await
    }

    /// The newest intakes, optionally of one department.
    pub async fn intakes(
        &self,
        department: Option<String>,
        limit: usize,
    ) -> Result<Vec<IntakeRecord>> {
        self.blocking(move |inner| inner.store.intakes(department.as_deref(), limit))
            .await
    }

    /// The urn collection whose bag carries `seal` (the newest the registry stored, if several),
    /// with the deposits the mailroom should find in it; `None` when no collection has that seal.
    /// A seal that is empty, too long or not made of letters, digits and `-` is a bad request.
    pub async fn collection(&self, seal: &str) -> Result<Option<CollectionView>> {
        check_seal(seal)?;
        let seal = seal.to_owned();
        self.blocking(move |inner| inner.collection(&seal)).await
    }

    /// Every alarm, newest first.
    pub async fn alarms(&self) -> Result<Vec<Alarm>> {
        self.blocking(|inner| inner.store.alarms()).await
    }

    /// Every open device alert at every station (a printer out of paper, a full urn, a door
    /// opened outside a collection), oldest first.
    pub async fn device_alerts(&self) -> Result<DeviceAlerts> {
        self.blocking(|inner| {
            let alerts = inner
                .store
                .device_alerts()?
                .into_iter()
                .map(|a| DeviceAlert {
                    station: a.station.as_str().to_owned(),
                    station_name: a.station_name,
                    device: a.device,
                    what: a.what,
                    kind: a.kind,
                    since: a.since,
                    seq: a.seq,
                })
                .collect();
            Ok(DeviceAlerts { alerts })
        })
        .await
    }

    /// Checks a receipt's text against the enrolled keys and the register.
    pub async fn verify_receipt(&self, text: &str) -> Result<ReceiptVerdict> {
        let text = text.to_owned();
        self.blocking(move |inner| inner.verify_receipt(&text))
            .await
    }

    /// Keeps a station's report of its own log ([`crate::station_report`]) as its latest,
    /// received now; the caller checked that the station signed it. A tip below what the register
    /// holds is kept as said (the station may have been restored from an older copy of its log);
    /// one beyond what the register can store is a bad request, and nothing is kept.
    pub async fn record_report(
        &self,
        code: StationCode,
        report: records::api::StationReport,
    ) -> Result<()> {
        if i64::try_from(report.log_tip).is_err() {
            return Err(Error::BadRequest(format!(
                "Numer zdarzenia {tip} poza zakresem / log_tip {tip} is out of range",
                tip = report.log_tip
            )));
        }
        let report = crate::station_report::StoredReport {
            station: code,
            log_tip: report.log_tip,
            received_ms: now_ms(),
        };
        self.blocking(move |inner| inner.store.record_report(&report))
            .await?;
        tracing::debug!(station = %code, log_tip = report.log_tip, "station report kept");
        Ok(())
    }
}

/// Is `offered` really the station's, signed under `seq`? Only then is a mismatch a fork worth an
/// alarm; anything else is noise that anyone who knows a station code could send.
fn check_signed_by(
    code: StationCode,
    ring: &KeyRing,
    offered: &SignedEvent,
) -> Result<(), Problem> {
    let event = encoding::decode(&offered.canonical).map_err(Problem::Malformed)?;
    if event.seq != offered.seq {
        return Err(Problem::SeqMismatch {
            filed: offered.seq,
            inside: event.seq,
        });
    }
    if event.station != code {
        return Err(Problem::WrongStation(event.station));
    }
    let Some(key) = ring.get(&offered.key_id) else {
        return Err(Problem::UnknownKey(offered.key_id));
    };
    if !verify_event(key, &offered.canonical, &offered.signature) {
        return Err(Problem::BadSignature);
    }
    Ok(())
}

fn decode_stored(signed: &SignedEvent) -> Result<Event> {
    encoding::decode(&signed.canonical)
        .map_err(|e| Error::Corrupt(format!("stored event seq {}: {e}", signed.seq)))
}

/// Takes a lock that orders the register's writes and guards no data of its own, whatever a
/// panic while it was held left on it. What it orders lives in the register, whose transaction
/// rolled back as the panic unwound, so nothing is half-done; refusing every later push instead
/// (a poisoned lock stays poisoned) would stop ingest until someone restarted the registry.
fn order_lock(lock: &Mutex<()>) -> std::sync::MutexGuard<'_, ()> {
    lock.lock().unwrap_or_else(|poisoned| {
        tracing::warn!("a lock of the register's writes was held by a panic; going on");
        lock.clear_poison();
        poisoned.into_inner()
    })
}

/// Timeline order: recorded time, then station, then seq.
fn timeline_key(e: &Event) -> (i64, StationCode, u64) {
    (e.recorded_at.unix_ms, e.station, e.seq)
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        order_lock(&self.ingest)
    }

    /// The lock of `code`'s chain; taken before [`Inner::lock`], never after it.
    fn lock_station(&self, code: StationCode) -> std::sync::MutexGuard<'_, ()> {
        let slot = code.as_str().bytes().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        order_lock(&self.stations[slot % STATION_LOCKS])
    }

    fn rotate(&self, code: StationCode, text: &str) -> Result<RotationAccepted> {
        let refuse = |code, message: String| Err(Error::Rotation { code, message });
        let rotation = match rotation::parse_verified(text) {
            Ok(r) => r,
            Err(e @ (RotationError::OldSignature | RotationError::NewSignature)) => {
                return refuse(
                    "bad_signature",
                    format!("Podpis oświadczenia o zmianie klucza nie zgadza się / {e}"),
                );
            }
            Err(e) => {
                return refuse(
                    "bad_request",
                    format!("To nie jest oświadczenie o zmianie klucza / {e}"),
                );
            }
        };
        let (old_id, new_id) = (rotation.old_key_id(), rotation.new_key_id());
        let old_fp = records::fingerprint(&rotation.old_key);
        let new_fp = records::fingerprint(&rotation.new_key);
        if rotation.station != code {
            return refuse(
                "wrong_station",
                format!(
                    "Oświadczenie dotyczy stacji {}, nie {code} / The statement is about station {}, not {code}",
                    rotation.station, rotation.station
                ),
            );
        }
        let accepted = |replayed| RotationAccepted {
            station: code.to_string(),
            from_seq: rotation.from_seq,
            old_fingerprint: old_fp.clone(),
            new_fingerprint: new_fp.clone(),
            replayed,
        };
        let _this_station = self.lock_station(code);
        let _one_at_a_time = self.lock();
        if let Some(done) = self.store.rotation_from(old_id)? {
            if done.statement == text {
                return Ok(accepted(true));
            }
            // The old key signed two different successors: whoever holds it is not to be trusted
            // with a third. Worth an admin's attention, not a silent refusal.
            tracing::error!(station = %code, old = %old_fp, "a key already rotated signed another rotation statement");
            return refuse(
                "rotation_conflict",
                format!(
                    "Klucz {old_fp} stacji {code} już zastąpiono innym kluczem /                      Station {code}'s key {old_fp} was already replaced by another key"
                ),
            );
        }
        let Some(old) = self.store.station_key(old_id)? else {
            return refuse(
                "unknown_key",
                format!(
                    "Rejestr nie zna klucza {old_fp} / The registry does not know key {old_fp}"
                ),
            );
        };
        if old.station != code {
            return refuse(
                "wrong_station",
                format!(
                    "Klucz {old_fp} należy do stacji {} / Key {old_fp} belongs to station {}",
                    old.station, old.station
                ),
            );
        }
        match old.state {
            KeyState::Approved => {}
            KeyState::Pending => {
                return refuse(
                    "not_approved",
                    format!(
                        "Klucz {old_fp} nie został zatwierdzony; zatwierdź nowy klucz zamiast zmiany /                          Key {old_fp} was never approved; approve the new key instead"
                    ),
                );
            }
            KeyState::Revoked => {
                return refuse(
                    "revoked",
                    format!(
                        "Klucz {old_fp} stacji {code} został unieważniony / Station {code}'s key {old_fp} was revoked"
                    ),
                );
            }
            KeyState::Retired => {
                return refuse(
                    "key_replaced",
                    format!(
                        "Klucz {old_fp} stacji {code} już zastąpiono / Station {code}'s key {old_fp} was already replaced"
                    ),
                );
            }
        }
        if let Some(new) = self.store.station_key(new_id)?
            && (new.station != code || new.state != KeyState::Pending)
        {
            // A pending key of this station is the new key calling before its statement arrived;
            // anything else (revoked, another station's) must not be approved by a rotation.
            return refuse(
                "rotation_conflict",
                format!(
                    "Nowy klucz {new_fp} jest już znany rejestrowi ({} stacji {}) /                      The new key {new_fp} is already known to the registry ({} for station {})",
                    new.state.name(),
                    new.station,
                    new.state.name(),
                    new.station
                ),
            );
        }
        let tip = self.store.tip(code)?;
        if tip.seq >= rotation.from_seq {
            return refuse(
                "rotation_conflict",
                format!(
                    "Rejestr ma już zdarzenia stacji {code} do nr {} podpisane starym kluczem;                      zmiana od nr {} przyszła za późno / The registry already holds station {code}'s                      events up to seq {}, signed by the old key; a rotation from seq {} comes too late",
                    tip.seq, rotation.from_seq, tip.seq, rotation.from_seq
                ),
            );
        }
        self.store.rotate_key(
            &RotationRecord {
                station: code,
                old_key: old_id,
                new_key: new_id,
                from_seq: rotation.from_seq,
                statement: text.to_owned(),
                accepted_ms: now_ms(),
            },
            &rotation.new_key,
        )?;
        tracing::info!(station = %code, old = %old_fp, new = %new_fp, from_seq = rotation.from_seq, "station key rotated");
        Ok(accepted(false))
    }

    /// The first event of `events` signed by a retired key at or after the seq its rotation
    /// handed over to the next key: from there on that key vouches for nothing.
    fn first_after_retirement(
        &self,
        code: StationCode,
        events: &[SignedEvent],
    ) -> Result<Option<usize>> {
        let rotations = self.store.rotations(code)?;
        if rotations.is_empty() {
            return Ok(None);
        }
        let retired_from: BTreeMap<KeyId, u64> =
            rotations.iter().map(|r| (r.old_key, r.from_seq)).collect();
        Ok(events.iter().position(|e| {
            retired_from
                .get(&e.key_id)
                .is_some_and(|from| e.seq >= *from)
        }))
    }

    /// The keys the station's events and receipts may be signed with: its approved key and the
    /// ones it rotated away from. Pending and revoked keys vouch for nothing.
    fn trusted_ring(&self, code: StationCode) -> Result<Arc<KeyRing>> {
        // Only this station's rows: every push reads them, and reading the whole fleet's keys
        // cost more than verifying the push.
        let trusted: Vec<VerifyingKey> = self
            .store
            .station_keys_of(code)?
            .into_iter()
            .filter(|k| matches!(k.state, KeyState::Approved | KeyState::Retired))
            .map(|k| k.key)
            .collect();
        self.key_rings.ring_of(code, &trusted)
    }

    /// `nonce`, when given, is stored with the events; `nonce_stored` says whether it was.
    fn push(
        &self,
        code: StationCode,
        events: &[SignedEvent],
        nonce: Option<&RequestNonce>,
        nonce_stored: &mut bool,
    ) -> Result<PushResponse> {
        let _this_station = self.lock_station(code);
        let station = self
            .store
            .station(code)?
            .ok_or_else(|| Error::UnknownStation(code.to_string()))?;
        let ring = self.trusted_ring(code)?;
        if ring.is_empty() {
            // Enrolled but not approved, or revoked: nothing of it is taken.
            return Err(Error::UnknownStation(code.to_string()));
        }
        let start = self.store.tip(code)?;

        let old = events.iter().take_while(|e| e.seq <= start.seq).count();
        let (resent, fresh) = events.split_at(old);
        self.compare_resent(&station, &ring, start, resent)?;
        self.metrics.events("duplicate", resent.len());
        if fresh.is_empty() {
            return Ok(PushResponse {
                acknowledged: start.seq,
            });
        }

        // Events a retired key signed after its rotation are cut off before verification, so the
        // valid prefix is kept and the rest refused as signed by a key not trusted there.
        let beyond = self.first_after_retirement(code, fresh)?;
        let (fresh, retired_beyond) = match beyond {
            Some(at) => (&fresh[..at], fresh.get(at)),
            None => (fresh, None),
        };
        let mut verifier = ChainVerifier::new(code, &ring, start);
        let (verified, fault) = match verifier.verify_with_hashes(fresh) {
            Ok(v) => (v, None),
            Err(fault) => {
                // The verifier stopped at the fault; its tip says how many events before it
                // were good. Walk them again to get them back, so the valid prefix is kept.
                let good = (verifier.tip().seq - start.seq) as usize;
                let prefix = ChainVerifier::new(code, &ring, start)
                    .verify_with_hashes(&fresh[..good])
                    .map_err(|f| Error::Task(format!("re-verifying a verified prefix: {f}")))?;
                (prefix, Some((fault, good)))
            }
        };
        let stored = verified.len();
        let acknowledged = self.store_verified(code, verified, fresh, nonce)?;
        *nonce_stored = nonce.is_some() && stored > 0;
        self.metrics.events("accepted", stored);

        match fault {
            None if retired_beyond.is_some() => {
                let offered = retired_beyond.map_or(0, |e| e.seq);
                let key = retired_beyond.map(|e| e.key_id).unwrap_or(KeyId([0; 8]));
                tracing::warn!(station = %code, acknowledged, seq = offered, keyid = %key, "push refused: signed by a key retired before this seq");
                Err(Error::Chain {
                    seq: offered,
                    problem: Problem::UnknownKey(key),
                    acknowledged,
                })
            }
            None => {
                tracing::info!(station = %code, acknowledged, stored, "push stored");
                Ok(PushResponse { acknowledged })
            }
            Some((fault, at)) if fault.problem == Problem::Fork => {
                if let Some(offered) = fresh.get(at) {
                    self.raise_fork(code, offered)?;
                }
                Err(Error::Fork {
                    seq: fault.seq,
                    acknowledged,
                })
            }
            Some((fault, _)) => {
                tracing::warn!(station = %code, acknowledged, %fault, "push refused: chain broken");
                Err(Error::Chain {
                    seq: fault.seq,
                    problem: fault.problem,
                    acknowledged,
                })
            }
        }
    }

    /// Events at seqs already stored must be exactly what is stored; a different one is a fork.
    fn compare_resent(
        &self,
        station: &StationRecord,
        ring: &KeyRing,
        start: ChainTip,
        resent: &[SignedEvent],
    ) -> Result<()> {
        let (Some(lo), Some(hi)) = (
            resent.iter().map(|e| e.seq).min(),
            resent.iter().map(|e| e.seq).max(),
        ) else {
            return Ok(());
        };
        // A station resends a contiguous run; anything wider is refused before it is read, so
        // an unauthenticated request cannot make the registry load a station's whole history.
        if hi - lo >= resent.len() as u64 {
            return Err(Error::Chain {
                seq: hi,
                problem: Problem::OutOfOrder {
                    found: hi,
                    tip: start.seq,
                },
                acknowledged: start.seq,
            });
        }
        let stored: BTreeMap<u64, SignedEvent> = self
            .store
            .events_between(station.code, lo, hi)?
            .into_iter()
            .map(|e| (e.seq, e))
            .collect();
        let chain = |seq, problem| Error::Chain {
            seq,
            problem,
            acknowledged: start.seq,
        };
        for offered in resent {
            match stored.get(&offered.seq) {
                Some(s) if s.canonical == offered.canonical && s.key_id == offered.key_id => {}
                Some(_) => {
                    check_signed_by(station.code, ring, offered)
                        .map_err(|problem| chain(offered.seq, problem))?;
                    self.raise_fork(station.code, offered)?;
                    return Err(Error::Fork {
                        seq: offered.seq,
                        acknowledged: start.seq,
                    });
                }
                None => {
                    return Err(chain(
                        offered.seq,
                        Problem::OutOfOrder {
                            found: offered.seq,
                            tip: start.seq,
                        },
                    ));
                }
            }
        }
        Ok(())
    }

    fn raise_fork(&self, code: StationCode, offered: &SignedEvent) -> Result<()> {
        let message = format!(
            "Rozwidlenie dziennika: stacja {code} podpisała inne zdarzenie nr {seq}, niż zapisane / \
             Fork: station {code} signed a different event #{seq} than the one stored",
            seq = offered.seq
        );
        let evidence = ForkEvidence {
            station: code,
            signed: offered.clone(),
            seen_ms: now_ms(),
        };
        tracing::error!(station = %code, seq = offered.seq, "fork: different signed event at an accepted seq");
        if let Some(alarm) = self.store.record_fork(&evidence, &message)? {
            let _ = self.notices.send(Notice::Alarm {
                id: alarm.id,
                station: alarm.station,
                seq: alarm.seq,
                message: alarm.message,
            });
        }
        Ok(())
    }

    /// Stores verified events, the intakes they change and the device alerts they open or close,
    /// then tells the listeners. Returns the new acknowledged seq. The caller holds `code`'s
    /// station lock and not the ingest lock: the push waits for the register's writer thread,
    /// which stores it in one transaction with every other push that was verified meanwhile, so
    /// that a few hundred stations pushing at once share durable commits instead of queueing
    /// one disk wait each.
    fn store_verified(
        &self,
        code: StationCode,
        verified: Vec<(Event, Hash)>,
        signed: &[SignedEvent],
        nonce: Option<&RequestNonce>,
    ) -> Result<u64> {
        if verified.is_empty() {
            return Ok(self.store.tip(code)?.seq);
        }
        self.write_queue
            .submit(Staged::new(code, verified, signed, nonce.cloned()))
    }

    /// The writer's side of [`Inner::store_verified`]: one transaction for the whole batch.
    fn write_batch(&self, batch: &[Arc<Job<Staged>>]) {
        let _one_writer = self.lock();
        let group: Vec<&Staged> = batch.iter().map(|j| &j.work).collect();
        match (self.commit_staged(&group), batch) {
            (Ok(()), _) => batch.iter().for_each(|j| j.finish(Ok(j.work.last_seq()))),
            (Err(e), [only]) => only.finish(Err(e)),
            // Nothing of the batch was stored; one push's failure must not fail the others.
            (Err(_), _) => {
                for j in batch {
                    j.finish(self.commit_staged(&[&j.work]).map(|()| j.work.last_seq()));
                }
            }
        }
    }

    fn taken_nonces(&self) -> Result<std::sync::MutexGuard<'_, HashSet<(KeyId, String)>>> {
        self.nonces
            .lock()
            .map_err(|_| Error::Task("nonce lock poisoned".into()))
    }

    /// Stores several stations' verified events in one transaction, with the intakes they change
    /// (each projected once, from its stored events and every staged one), then tells the
    /// listeners. The caller holds the ingest lock.
    fn commit_staged(&self, group: &[&Staged]) -> Result<()> {
        let now = now_ms();
        // The batch's events by intake, in one pass: looking each touched intake's events up
        // in the whole batch was a pass per intake, hundreds per batch under a fleet's load.
        let mut arriving: BTreeMap<IntakeId, Vec<&Event>> = BTreeMap::new();
        for e in group.iter().flat_map(|s| s.events.iter()) {
            if let Some(id) = e.payload.intake() {
                arriving.entry(id).or_default().push(e);
            }
        }
        let touched: Vec<IntakeId> = arriving.keys().copied().collect();
        let states = self.store.intake_states(&touched)?;
        let mut upserts = Vec::new();
        let mut notices = Vec::new();
        for ((id, arrived), state) in arriving.into_iter().zip(states) {
            let mut timeline: Vec<Event> = state
                .events
                .iter()
                .map(|s| decode_stored(&s.signed))
                .collect::<Result<_>>()?;
            timeline.extend(arrived.into_iter().cloned());
            timeline.sort_by_key(timeline_key);
            let Some(after) = projection::project(id, &timeline, &self.config, now) else {
                continue;
            };
            let before = state.record;
            if before
                .as_ref()
                .is_some_and(|b| !projection::changed(b, &after))
            {
                continue;
            }
            notices.push(Notice::Intake {
                id,
                status: after.status,
                department: after.department.clone(),
                created: before.is_none(),
            });
            upserts.push(after);
        }
        for staged in group {
            if !staged.alerts.is_empty() {
                notices.push(Notice::DeviceAlerts {
                    station: staged.code.as_str().to_owned(),
                });
            }
        }
        let appends: Vec<StationAppend<'_>> = group
            .iter()
            .map(|s| StationAppend {
                station: s.code,
                events: &s.new_events,
                alerts: &s.alerts,
                nonce: s.nonce.as_ref(),
            })
            .collect();
        self.store.append(&appends, &upserts, now)?;
        for notice in notices {
            // No listener is normal: nobody has a clerk page open.
            let _ = self.notices.send(notice);
        }
        Ok(())
    }

    fn intake_view(&self, id: IntakeId) -> Result<Option<IntakeView>> {
        let Some(record) = self.store.intake(id)? else {
            return Ok(None);
        };
        let timeline = self
            .store
            .intake_events(id)?
            .iter()
            .map(|s| decode_stored(&s.signed).map(|e| projection::timeline_entry(&e)))
            .collect::<Result<_>>()?;
        Ok(Some(IntakeView {
            id,
            received_at: record.received_at,
            channel: record.channel,
            category: record.category,
            department: record.department,
            reference: record.reference,
            status: record.status,
            timeline,
        }))
    }

    fn collection(&self, seal: &str) -> Result<Option<CollectionView>> {
        // Every urn collection, in the order stored; a few per urn and day.
        let collections: Vec<Event> = self
            .store
            .events_of_kind(projection::URN_COLLECTED)?
            .iter()
            .map(|s| decode_stored(&s.signed))
            .collect::<Result<_>>()?;
        let Some(this) = collections.iter().rev().find(
            |e| matches!(&e.payload, Payload::UrnCollected { seal: s, .. } if s.as_str() == seal),
        ) else {
            return Ok(None);
        };
        let previous = collections
            .iter()
            .filter(|e| e.station == this.station && e.seq < this.seq)
            .map(|e| e.seq)
            .max()
            .unwrap_or(0);
        let window: Vec<Event> = if this.seq > previous + 1 {
            self.store
                .events_between(this.station, previous + 1, this.seq - 1)?
                .iter()
                .map(decode_stored)
                .collect::<Result<_>>()?
        } else {
            Vec::new()
        };
        let station = self.store.station(this.station)?.ok_or_else(|| {
            Error::Corrupt(format!(
                "events of station {} that is not enrolled",
                this.station
            ))
        })?;
        Ok(projection::collection_view(this, &station.name, &window))
    }

    fn verify_receipt(&self, text: &str) -> Result<ReceiptVerdict> {
        let verdict = |genuine, reason: String, intake, status| ReceiptVerdict {
            genuine,
            reason,
            intake,
            status,
        };
        let receipt: ReceiptPayload = match text.parse() {
            Ok(r) => r,
            Err(e) => return Ok(verdict(false, e.to_string(), None, None)),
        };
        let id = receipt.intake;
        let Some(station) = self.store.station(id.station())? else {
            return Ok(verdict(
                false,
                format!(
                    "station {} named by the receipt is not enrolled",
                    id.station()
                ),
                Some(id),
                None,
            ));
        };
        let ring = self.trusted_ring(station.code)?;
        match receipt.verify(&ring) {
            Ok(()) => {}
            Err(ReceiptError::UnknownKey(k)) => {
                return Ok(verdict(
                    false,
                    format!(
                        "signed by key {k}, which is not station {}'s key",
                        id.station()
                    ),
                    Some(id),
                    None,
                ));
            }
            Err(e) => return Ok(verdict(false, e.to_string(), Some(id), None)),
        }
        let Some(record) = self.store.intake(id)? else {
            return Ok(verdict(
                true,
                "the signature is genuine, but the intake is not in the register yet \
                 (the station has not sent it; this is normal for a few minutes)"
                    .into(),
                Some(id),
                None,
            ));
        };
        if record.received_at.unix_ms.div_euclid(1000) != receipt.deposited_at {
            return Ok(verdict(
                false,
                "altered: the deposit time on the receipt differs from the register's".into(),
                Some(id),
                None,
            ));
        }
        Ok(verdict(
            true,
            "genuine: signed by the station and matching the register".into(),
            Some(id),
            Some(record.status),
        ))
    }
}

/// Makes sure the register holds the registry's own chain under [`registry_code`], with `key`
/// approved: on first start it is enrolled and approved as a station would be. A register whose
/// own code has another key is refused: the events already signed would no longer verify.
fn ensure_own_station(store: &dyn RegisterStore, key: &RegistryKey) -> Result<()> {
    let code = registry_code();
    let name = "Rejestr / Registry";
    match store.station(code)? {
        None => {
            let now = now_ms();
            store.insert_station(&StationRecord {
                code,
                name: name.to_owned(),
                key: key.public(),
                enrolled_ms: now,
            })?;
            store.approve_key(key.key_id(), name, now)?;
            tracing::info!(code = %code, fingerprint = %key.fingerprint(), "registry's own chain begun");
            Ok(())
        }
        Some(s) if s.key == key.public() => match store.station_key(key.key_id())? {
            Some(k) if k.state == KeyState::Approved => Ok(()),
            other => Err(Error::RegistryKey(format!(
                "the register holds the registry's key {} as {}, not approved",
                key.fingerprint(),
                other.map_or("unknown", |k| k.state.name())
            ))),
        },
        Some(s) => Err(Error::RegistryKey(format!(
            "the register's own chain ({code}) is signed by key {}, but the key file holds {}; \
             restore the registry's key file from the backup (a new key cannot continue a chain)",
            records::fingerprint(&s.key),
            key.fingerprint()
        ))),
    }
}

/// What acknowledging did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    /// The intake.
    pub intake: IntakeId,
    /// `true` when this request recorded the acknowledgement; `false` when it was already.
    pub recorded: bool,
    /// The registry's event that records it, when this request recorded one.
    pub seq: Option<u64>,
}

impl Registry {
    /// A registry over any store that signs its own events with `key`; the register is given
    /// the registry's own chain on first use ([`crate::own_key::REGISTRY_CODE`]).
    pub fn with_store_and_key(
        store: Arc<dyn RegisterStore>,
        config: RegistryConfig,
        key: RegistryKey,
    ) -> Result<Registry> {
        ensure_own_station(store.as_ref(), &key)?;
        let registry = Registry::with_store(store, config)?;
        registry
            .inner
            .key
            .set(key)
            .map_err(|_| Error::Task("the registry's key was set twice".into()))?;
        Ok(registry)
    }

    /// The public key the registry's own events are signed with, if it has one.
    pub fn public_key(&self) -> Option<VerifyingKey> {
        self.inner.key.get().map(RegistryKey::public)
    }

    /// Adds a clerk account (`role` a department's clerk, or admin) with `password`, which is
    /// kept only as its Argon2id hash. Refused: a bad username or password, a taken username.
    pub async fn add_clerk(
        &self,
        username: &str,
        password: zeroize::Zeroizing<String>,
        role: ClerkRole,
    ) -> Result<ClerkRecord> {
        let username = clerks::normalize_username(username)?;
        clerks::check_new_password(&password)?;
        let role = match role {
            ClerkRole::Clerk { department } => ClerkRole::Clerk {
                department: clerks::check_department(&department)?,
            },
            ClerkRole::Admin => ClerkRole::Admin,
        };
        if let Some(d) = role.department()
            && !self.config().departments().contains(&d)
        {
            tracing::warn!(
                username,
                department = d,
                "clerk added to a department this registry's config does not route mail to"
            );
        }
        self.blocking(move |inner| {
            let record = ClerkRecord {
                username,
                password_hash: clerks::hash_password(&password)?,
                role,
                disabled: false,
                created_ms: now_ms(),
            };
            if !inner.store.insert_clerk(&record)? {
                return Err(Error::Conflict(format!(
                    "a clerk named {} exists already",
                    record.username
                )));
            }
            tracing::info!(username = %record.username, role = record.role.name(), "clerk added");
            Ok(record)
        })
        .await
    }

    /// Every clerk account.
    pub async fn clerks(&self) -> Result<Vec<ClerkRecord>> {
        self.blocking(|inner| inner.store.clerks()).await
    }

    /// Disables an account (it can no longer sign in) and ends its sessions.
    pub async fn disable_clerk(&self, username: &str) -> Result<()> {
        let username = clerks::normalize_username(username)?;
        self.blocking(move |inner| {
            if !inner.store.disable_clerk(&username)? {
                return Err(Error::NotFound(format!("no clerk is named {username}")));
            }
            tracing::info!(username, "clerk disabled");
            Ok(())
        })
        .await
    }

    /// Signs a clerk in. Argon2 runs on the blocking pool. Unknown and disabled usernames cost
    /// the same check as known ones. Failures are counted per username and logged with it (never
    /// with the password); [`clerks::MAX_LOGIN_FAILURES`] of them lock it for
    /// [`clerks::LOGIN_LOCKOUT`], and a locked username is refused without a check.
    pub async fn login(
        &self,
        username: &str,
        password: zeroize::Zeroizing<String>,
    ) -> Result<LoginOutcome> {
        let Ok(username) = clerks::normalize_username(username) else {
            // No account can have this name: nothing to count it against.
            tracing::warn!("sign-in refused: not a username");
            return Ok(LoginOutcome::Refused);
        };
        self.blocking(move |inner| inner.login(&username, &password))
            .await
    }

    /// The live session with this cookie token, if any.
    pub async fn session(&self, token: &str) -> Result<Option<Session>> {
        // A token is 43 characters of base64url; anything else opens nothing and costs nothing.
        if token.len() != 43
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Ok(None);
        }
        let hash = clerks::token_hash(token);
        self.blocking(move |inner| {
            Ok(inner
                .store
                .session(&hash, now_ms())?
                .map(|(session, clerk)| Session {
                    username: clerk.username,
                    role: clerk.role,
                    expires_ms: session.expires_ms,
                }))
        })
        .await
    }

    /// Ends the session with this token.
    pub async fn logout(&self, token: &str) -> Result<()> {
        let hash = clerks::token_hash(token);
        self.blocking(move |inner| inner.store.delete_session(&hash))
            .await
    }

    /// One intake with its timeline, when `scope` may see it; `None` otherwise, as for an
    /// unknown id (another department's intake is not there for this caller).
    pub async fn intake_in(&self, id: IntakeId, scope: Scope) -> Result<Option<IntakeView>> {
        Ok(self
            .intake(id)
            .await?
            .filter(|view| scope.allows(&view.department)))
    }

    /// The intakes `search` asks for that `scope` may see, newest first, at most `limit`.
    pub async fn search(
        &self,
        search: &Search,
        scope: Scope,
        limit: usize,
    ) -> Result<Vec<IntakeRecord>> {
        let filter = search.filter.clone();
        self.blocking(move |inner| inner.search(filter, &scope, limit))
            .await
    }

    /// What the CSV export carries: the intakes `search` asks for that `scope` may see, with
    /// their hold times, at most [`MAX_CSV_ROWS`].
    pub async fn export(&self, search: &Search, scope: Scope) -> Result<Vec<ExportRow>> {
        let filter = search.filter.clone();
        self.blocking(move |inner| {
            inner
                .search(filter, &scope, MAX_CSV_ROWS)?
                .into_iter()
                .map(|intake| {
                    let hold = inner.hold_times(intake.id)?;
                    Ok(ExportRow { intake, hold })
                })
                .collect()
        })
        .await
    }

    /// An urn collection as `scope` may see it: a clerk sees only the deposits of their
    /// department (and of those, only ones in the register).
    pub async fn collection_in(&self, seal: &str, scope: Scope) -> Result<Option<CollectionView>> {
        let Some(mut view) = self.collection(seal).await? else {
            return Ok(None);
        };
        if scope == Scope::All {
            return Ok(Some(view));
        }
        self.blocking(move |inner| {
            let mut kept = Vec::new();
            for d in view.deposits {
                if inner
                    .store
                    .intake(d.intake)?
                    .is_some_and(|r| scope.allows(&r.department))
                {
                    kept.push(d);
                }
            }
            view.deposits = kept;
            Ok(Some(view))
        })
        .await
    }

    /// The department confirms it has the letter: a clerk of the intake's department records an
    /// `acknowledged` event in the registry's own chain, signed with the registry's key. Once is
    /// enough: acknowledging again records nothing. Refused: an intake this clerk may not see
    /// ([`Error::NotFound`], as an unknown one), an admin (not of any department), and a letter
    /// not forwarded to the department yet ([`Error::Conflict`]).
    pub async fn acknowledge(&self, id: IntakeId, session: &Session) -> Result<Acknowledgement> {
        let session = session.clone();
        self.blocking(move |inner| inner.acknowledge(id, &session))
            .await
    }
}

impl Inner {
    fn login(&self, username: &str, password: &str) -> Result<LoginOutcome> {
        let now = now_ms();
        let failures = self.store.login_failures(username)?;
        if failures.locked_until_ms > now {
            tracing::warn!(
                username,
                "sign-in refused: username locked after failed attempts"
            );
            return Ok(LoginOutcome::Locked {
                until_ms: failures.locked_until_ms,
            });
        }
        let clerk = self.store.clerk(username)?.filter(|c| !c.disabled);
        let hash = clerk
            .as_ref()
            .map_or(clerks::DUMMY_HASH, |c| c.password_hash.as_str());
        let matches = password.len() <= clerks::MAX_PASSWORD_BYTES
            && clerks::verify_password(password, hash)?;
        let Some(clerk) = clerk.filter(|_| matches) else {
            let ms = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            let after = self.store.record_login_failure(
                username,
                now,
                clerks::MAX_LOGIN_FAILURES,
                ms(clerks::LOGIN_FAILURE_WINDOW),
                ms(clerks::LOGIN_LOCKOUT),
            )?;
            if after.locked_until_ms > now {
                tracing::warn!(username, "sign-in refused: wrong password; username locked");
                return Ok(LoginOutcome::Locked {
                    until_ms: after.locked_until_ms,
                });
            }
            tracing::warn!(
                username,
                failures = after.failures,
                "sign-in refused: wrong username or password"
            );
            return Ok(LoginOutcome::Refused);
        };
        self.store.clear_login_failures(username)?;
        let token = clerks::new_token()?;
        let ttl = i64::try_from(clerks::SESSION_TTL.as_millis()).unwrap_or(i64::MAX);
        let record = SessionRecord {
            username: clerk.username.clone(),
            created_ms: now,
            expires_ms: now.saturating_add(ttl),
        };
        self.store
            .insert_session(&clerks::token_hash(&token), &record, now)?;
        tracing::info!(username, role = clerk.role.name(), "clerk signed in");
        Ok(LoginOutcome::SignedIn {
            token,
            session: Session {
                username: clerk.username,
                role: clerk.role,
                expires_ms: record.expires_ms,
            },
        })
    }

    fn search(
        &self,
        mut filter: crate::store::IntakeFilter,
        scope: &Scope,
        limit: usize,
    ) -> Result<Vec<IntakeRecord>> {
        if let Some(own) = scope.department() {
            // A clerk asking for another department gets nothing, not that department.
            if filter.department.as_deref().is_some_and(|d| d != own) {
                return Ok(Vec::new());
            }
            filter.department = Some(own.to_owned());
        }
        self.store.search_intakes(&filter, limit)
    }

    fn hold_times(&self, id: IntakeId) -> Result<HoldTimes> {
        let mut hold = HoldTimes::default();
        for stored in self.store.intake_events(id)? {
            let event = decode_stored(&stored.signed)?;
            match event.payload {
                Payload::HoldStarted { .. } if hold.started.is_none() => {
                    hold.started = Some(event.recorded_at);
                }
                Payload::HoldReleased { .. }
                    if hold.started.is_some() && hold.released.is_none() =>
                {
                    hold.released = Some(event.recorded_at);
                }
                _ => {}
            }
        }
        Ok(hold)
    }

    // The registry's own events are numbered 1, 2, 3 … under its own code (RGST) and chained and
    // signed exactly as a station's, and stored in the same table through the same verifier and
    // projection. Why its own chain rather than unsigned rows: an acknowledgement is custody
    // evidence like any other ("who at the department confirmed it, when"), so it must be as
    // tamper-evident as the stations' events and checkable with `records` alone; and why not
    // numbered inside any station's chain: only a station's key may extend its chain. Appending
    // under its chain's lock and the ingest lock keeps the chain gapless: one writer at a time.
    fn acknowledge(&self, id: IntakeId, session: &Session) -> Result<Acknowledgement> {
        let not_found = || Error::NotFound(format!("intake {id} is not in the register"));
        let key = self.key.get().ok_or_else(|| {
            Error::RegistryKey("this registry has no key of its own to sign with".into())
        })?;
        let _this_chain = self.lock_station(registry_code());
        let _one_at_a_time = self.lock();
        let record = self
            .store
            .intake(id)?
            .filter(|r| session.scope().allows(&r.department))
            .ok_or_else(not_found)?;
        let ClerkRole::Clerk { department } = &session.role else {
            return Err(Error::Forbidden(
                "Odbiór potwierdza urzędnik wydziału, nie administrator / \
                 Receipt is acknowledged by a clerk of the department, not by an admin"
                    .into(),
            ));
        };
        match record.status {
            IntakeStatus::Acknowledged => {
                return Ok(Acknowledgement {
                    intake: id,
                    recorded: false,
                    seq: None,
                });
            }
            IntakeStatus::Forwarded => {}
            _ => {
                return Err(Error::Conflict(
                    "Przesyłki nie przekazano jeszcze do wydziału / \
                     The letter has not been forwarded to the department yet"
                        .into(),
                ));
            }
        }
        let text =
            |s: &str| records::Text::new(s).map_err(|e| Error::BadRequest(format!("{s:?}: {e}")));
        let code = registry_code();
        let tip = self.store.tip(code)?;
        let event = Event {
            station: code,
            seq: tip.seq + 1,
            // The registry's server keeps NTP time; unlike a Pi it is not started without it.
            recorded_at: records::Timestamp {
                unix_ms: now_ms(),
                trusted: true,
            },
            prev_hash: tip.hash,
            payload: Payload::Acknowledged {
                intake: id,
                department: text(department)?,
                clerk: text(&session.username)?,
            },
        };
        let canonical = encoding::encode(&event);
        let signed = SignedEvent {
            seq: event.seq,
            signature: records::signing::sign_event(key.signing_key(), &canonical),
            canonical,
            key_id: key.key_id(),
        };
        // Verified as a station's would be before it is stored: a wrong key or a broken chain
        // here is a bug, and must not reach the register.
        let ring = self.trusted_ring(code)?;
        let verified = ChainVerifier::new(code, &ring, tip)
            .verify_with_hashes(std::slice::from_ref(&signed))
            .map_err(|f| {
                Error::RegistryKey(format!("the registry's own event does not verify: {f}"))
            })?;
        // Under the ingest lock already: stored alone, not through the write queue.
        let staged = Staged::new(code, verified, std::slice::from_ref(&signed), None);
        self.commit_staged(&[&staged])?;
        tracing::info!(intake = %id, clerk = %session.username, department, seq = event.seq, "receipt acknowledged by the department");
        Ok(Acknowledgement {
            intake: id,
            recorded: true,
            seq: Some(event.seq),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use records::{SigningKey, Timestamp, signing::sign_event};

    /// A bug that panics while a push holds its station's lock and the ingest lock must not
    /// leave every later push refused until the registry is restarted.
    #[tokio::test]
    async fn a_panic_under_the_write_locks_does_not_stop_ingest() {
        let dir = tempfile::tempdir().unwrap();
        let registry =
            Registry::open(&dir.path().join("register.db"), RegistryConfig::demo()).unwrap();
        let key = SigningKey::from_bytes(&[7; 32]);
        let code: StationCode = "GW7K".parse().unwrap();
        registry
            .enrol(code, "Urna", key.verifying_key())
            .await
            .unwrap();
        registry
            .approve(&records::fingerprint(&key.verifying_key()), None)
            .await
            .unwrap();
        let inner = Arc::clone(&registry.inner);
        let panicked = std::thread::spawn(move || {
            let _chain = inner.lock_station(code);
            let _ingest = inner.lock();
            panic!("a bug while storing a push");
        })
        .join();
        assert!(panicked.is_err());
        assert!(registry.inner.ingest.is_poisoned());

        let event = Event {
            station: code,
            seq: 1,
            recorded_at: Timestamp {
                unix_ms: 1_763_768_771_000,
                trusted: true,
            },
            prev_hash: Hash::GENESIS,
            payload: Payload::DoorOpened,
        };
        let canonical = encoding::encode(&event);
        let signed = SignedEvent {
            seq: 1,
            signature: sign_event(&key, &canonical),
            key_id: KeyId::of(&key.verifying_key()),
            canonical,
        };
        let pushed = registry.push(code, vec![signed]).await.unwrap();
        assert_eq!(pushed.acknowledged, 1);
    }
}
