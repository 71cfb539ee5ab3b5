//! The [`Registry`]: enrolment, ingest of station pushes, the register's queries and receipt
//! checks, over any [`RegisterStore`].

use std::collections::{BTreeMap, BTreeSet};
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

use crate::config::RegistryConfig;
use crate::error::{Error, Result};
use crate::notify::{NOTICE_BUFFER, Notice};
use crate::projection;
use crate::sqlite::SqliteStore;
use crate::store::{
    Alarm, AlertChange, ForkEvidence, IntakeRecord, KeyState, NewEvent, RegisterStore,
    RotationRecord, StationKeyRecord, StationRecord,
};

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
    // Ingest reads intakes touched by other stations' events and writes them back; one push at a
    // time keeps that read-modify-write exact (a few pushes a second at most, each milliseconds).
    ingest: Mutex<()>,
}

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
        Registry::with_store(Arc::new(store), config)
    }

    /// A registry over any store.
    pub fn with_store(store: Arc<dyn RegisterStore>, config: RegistryConfig) -> Result<Registry> {
        config.validate()?;
        let (notices, _) = broadcast::channel(NOTICE_BUFFER);
        Ok(Registry {
            inner: Arc::new(Inner {
                store,
                config,
                notices,
                ingest: Mutex::new(()),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RegistryConfig {
        &self.inner.config
    }

    /// Listens to live notices from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.inner.notices.subscribe()
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
            let _one_at_a_time = inner.lock()?;
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
            let _one_at_a_time = inner.lock()?;
            let known = inner
                .store
                .station_keys()?
                .iter()
                .any(|k| k.station == code);
            if !known {
                return Err(Error::UnknownStation(code.to_string()));
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
        self.blocking(|inner| inner.store.station_keys()).await
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

    /// The key with this id, in whatever state.
    pub(crate) async fn station_key(&self, id: KeyId) -> Result<Option<StationKeyRecord>> {
        self.blocking(move |inner| inner.store.station_key(id))
            .await
    }

    /// Notes a key that proved possession by signing a request: pending if new, `last_seen`
    /// otherwise; `false` when too many keys are pending to record another.
    pub(crate) async fn note_key(&self, code: StationCode, key: VerifyingKey) -> Result<bool> {
        self.blocking(move |inner| {
            // Refuses weak keys before anything is stored.
            KeyRing::new().add(key)?;
            inner.store.note_key(code, &key, now_ms(), MAX_PENDING_KEYS)
        })
        .await
    }

    /// Remembers a request nonce for `keep_ms`; `false` when it was seen within that time.
    pub(crate) async fn remember_nonce(
        &self,
        key: KeyId,
        nonce: String,
        keep_ms: i64,
    ) -> Result<bool> {
        self.blocking(move |inner| {
            let now = now_ms();
            inner
                .store
                .remember_nonce(key, &nonce, now, now.saturating_sub(keep_ms))
        })
        .await
    }

    /// Whether a station with this code is enrolled (approved or not).
    pub(crate) async fn station_known(&self, code: StationCode) -> Result<bool> {
        self.blocking(move |inner| Ok(inner.store.station(code)?.is_some()))
            .await
    }

    /// Every enrolled station.
    pub async fn stations(&self) -> Result<Vec<StationRecord>> {
        self.blocking(|inner| inner.store.stations()).await
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
        self.blocking(move |inner| inner.push(code, &events)).await
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

/// Timeline order: recorded time, then station, then seq.
fn timeline_key(e: &Event) -> (i64, StationCode, u64) {
    (e.recorded_at.unix_ms, e.station, e.seq)
}

impl Inner {
    fn lock(&self) -> Result<std::sync::MutexGuard<'_, ()>> {
        self.ingest
            .lock()
            .map_err(|_| Error::Task("ingest lock poisoned".into()))
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
        let _one_at_a_time = self.lock()?;
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
    fn trusted_ring(&self, code: StationCode) -> Result<KeyRing> {
        let mut ring = KeyRing::new();
        for k in self.store.station_keys()? {
            if k.station == code && matches!(k.state, KeyState::Approved | KeyState::Retired) {
                ring.add(k.key)?;
            }
        }
        Ok(ring)
    }

    fn push(&self, code: StationCode, events: &[SignedEvent]) -> Result<PushResponse> {
        let _one_at_a_time = self.lock()?;
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
        let acknowledged = self.store_verified(code, &verified, fresh)?;

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
                tracing::info!(station = %code, acknowledged, stored = verified.len(), "push stored");
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

    /// Stores verified events, the intakes they change and the device alerts they open or close
    /// in one transaction, then tells the listeners. Returns the new acknowledged seq.
    fn store_verified(
        &self,
        code: StationCode,
        verified: &[(Event, Hash)],
        signed: &[SignedEvent],
    ) -> Result<u64> {
        let Some((last, _)) = verified.last() else {
            return Ok(self.store.tip(code)?.seq);
        };
        let acknowledged = last.seq;
        let now = now_ms();
        let new_events: Vec<NewEvent> = verified
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

        let touched: BTreeSet<IntakeId> = verified
            .iter()
            .filter_map(|(e, _)| e.payload.intake())
            .collect();
        let mut upserts = Vec::new();
        let mut notices = Vec::new();
        for id in touched {
            let mut timeline: Vec<Event> = self
                .store
                .intake_events(id)?
                .iter()
                .map(|s| decode_stored(&s.signed))
                .collect::<Result<_>>()?;
            timeline.extend(
                verified
                    .iter()
                    .filter(|(e, _)| e.payload.intake() == Some(id))
                    .map(|(e, _)| e.clone()),
            );
            timeline.sort_by_key(timeline_key);
            let Some(after) = projection::project(id, &timeline, &self.config, now) else {
                continue;
            };
            let before = self.store.intake(id)?;
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
        // In seq order, so a fault raised and cleared within one push ends closed.
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
        if !alerts.is_empty() {
            notices.push(Notice::DeviceAlerts {
                station: code.as_str().to_owned(),
            });
        }
        self.store
            .append(code, &new_events, &upserts, &alerts, now)?;
        for notice in notices {
            // No listener is normal: nobody has a clerk page open.
            let _ = self.notices.send(notice);
        }
        Ok(acknowledged)
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
