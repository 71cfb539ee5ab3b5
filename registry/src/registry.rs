//! The [`Registry`]: enrolment, ingest of station pushes, the register's queries and receipt
//! checks, over any [`RegisterStore`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use records::api::{
    CollectionView, DeviceAlert, DeviceAlerts, IntakeView, PushResponse, ReceiptVerdict,
};
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
    Alarm, AlertChange, ForkEvidence, IntakeRecord, NewEvent, RegisterStore, StationRecord,
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

    /// Enrols a station with its public key. Enrolling the same code with the same key again
    /// changes nothing; another key for a known code is refused (rotation comes later).
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
                    tracing::info!(station = %code, fingerprint = %records::fingerprint(&key), "station enrolled");
                    Ok(())
                }
            }
        })
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
    key: &VerifyingKey,
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
    if offered.key_id != KeyId::of(key) {
        return Err(Problem::UnknownKey(offered.key_id));
    }
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
    fn push(&self, code: StationCode, events: &[SignedEvent]) -> Result<PushResponse> {
        let _one_at_a_time = self
            .ingest
            .lock()
            .map_err(|_| Error::Task("ingest lock poisoned".into()))?;
        let station = self
            .store
            .station(code)?
            .ok_or_else(|| Error::UnknownStation(code.to_string()))?;
        let start = self.store.tip(code)?;

        let old = events.iter().take_while(|e| e.seq <= start.seq).count();
        let (resent, fresh) = events.split_at(old);
        self.compare_resent(&station, start, resent)?;
        if fresh.is_empty() {
            return Ok(PushResponse {
                acknowledged: start.seq,
            });
        }

        let mut ring = KeyRing::new();
        ring.add(station.key)?;
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
                    check_signed_by(station.code, &station.key, offered)
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
        let mut ring = KeyRing::new();
        ring.add(station.key)?;
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
