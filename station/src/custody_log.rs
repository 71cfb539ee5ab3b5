//! The station's custody log: every event, numbered without gaps, chained, signed, and committed
//! durably before anyone is told about it. It is also the outbox that sync pushes from.
//!
//! [`CustodyLog::append`] returns only after SQLite has committed with `synchronous=FULL`, so
//! whatever a caller prints or shows after it returned survives a kill or a power cut.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use records::encoding::encode;
use records::rotation::KeyRotation;
use records::signing::sign_event;
use records::{
    ChainTip, Event, Hash, IntakeId, KeyRing, Payload, ReceiptPayload, StationCode, Timestamp,
};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use crate::checkpoint::{self, Checkpoint};
use crate::error::{Error, Result};
use crate::keys::StationKey;
use crate::log_store::{IndexColumns, LogStore, StoredEvent};

/// A checkpoint is written after every this many events (and on open, acknowledgement and close):
/// often enough that putting back an old copy of the file is noticed, rarely enough that the
/// extra fsync costs nothing that matters.
const CHECKPOINT_EVERY: u64 = 32;

/// An event that was committed.
#[derive(Debug, Clone)]
pub struct Appended {
    /// The event as signed.
    pub event: Event,
    /// Its chain hash.
    pub hash: Hash,
}

impl Appended {
    /// Its seq.
    pub fn seq(&self) -> u64 {
        self.event.seq
    }
}

/// A station's custody log, open for appending.
#[derive(Debug)]
pub struct CustodyLog {
    store: LogStore,
    station: StationCode,
    key: StationKey,
    tip: ChainTip,
}

impl CustodyLog {
    /// Opens the log at `path` for `station`, creating it if needed. Verifies the events after the
    /// last checkpoint (all of them the first time), and refuses a log that was rolled back.
    pub fn open(path: &Path, station: StationCode, key: StationKey) -> Result<CustodyLog> {
        let store = LogStore::open_for_writing(path)?;
        match store.station()? {
            Some(found) if found != station => {
                return Err(Error::WrongStation {
                    path: path.to_owned(),
                    found: found.to_string(),
                    expected: station.to_string(),
                });
            }
            Some(_) => {}
            None => {
                store.conn.execute(
                    "INSERT INTO meta(key, value) VALUES ('station', ?1)",
                    [station.as_str()],
                )?;
            }
        }
        if let Some(replaced) = store
            .rotations()?
            .into_iter()
            .find(|r| r.old_key_id() == key.key_id())
        {
            return Err(replaced_key_error(&replaced));
        }
        store.conn.execute(
            "INSERT OR IGNORE INTO keys(key_id, public_key) VALUES (?1, ?2)",
            params![
                key.key_id().0.as_slice(),
                key.public().as_bytes().as_slice()
            ],
        )?;
        let start = store.check_checkpoint()?;
        let keys = store.recorded_keys()?;
        let tip = store.verify(&keys, start)?;
        let log = CustodyLog {
            store,
            station,
            key,
            tip,
        };
        log.write_checkpoint()?;
        Ok(log)
    }

    /// The station whose log this is.
    pub fn station(&self) -> StationCode {
        self.station
    }

    /// The last committed event's seq and hash.
    pub fn tip(&self) -> ChainTip {
        self.tip
    }

    /// Read access to the stored events.
    pub fn store(&self) -> &LogStore {
        &self.store
    }

    /// The public keys this log's events may be signed with.
    pub fn keys(&self) -> Result<KeyRing> {
        self.store.recorded_keys()
    }

    /// Commits an event that does not issue an intake id. Returns after the commit.
    pub fn append(&mut self, recorded_at: Timestamp, payload: Payload) -> Result<Appended> {
        let mut appended = self.append_all([(recorded_at, Entry::Payload(payload))])?;
        appended.pop().ok_or_else(|| unreachable_empty(&self.store))
    }

    /// Commits an event that issues the station's next intake id, which `build` puts in the
    /// payload (a deposit). Returns after the commit.
    pub fn append_intake(
        &mut self,
        recorded_at: Timestamp,
        build: impl FnOnce(IntakeId) -> Payload + 'static,
    ) -> Result<Appended> {
        let build: Box<dyn FnOnce(IntakeId) -> Payload> = Box::new(build);
        let mut appended = self.append_all([(recorded_at, Entry::NewIntake(build))])?;
        appended.pop().ok_or_else(|| unreachable_empty(&self.store))
    }

    /// Commits several events in one transaction (all or none). Returns after the commit.
    pub fn append_all(
        &mut self,
        entries: impl IntoIterator<Item = (Timestamp, Entry)>,
    ) -> Result<Vec<Appended>> {
        let started = std::time::Instant::now();
        let tx = self
            .store
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stored = {
            let last: Option<(i64, Vec<u8>)> = tx
                .query_row(
                    "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            last.map(|(s, _)| s as u64).unwrap_or(0)
        };
        // `urna rotate-key` may have retired this key while the station ran: from then on the
        // log takes nothing more signed by it (the statement says the new key signs what follows).
        let replaced: Option<String> = tx
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [LogStore::rotation_key(self.key.key_id())],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(text) = replaced {
            return Err(match records::rotation::parse_verified(&text) {
                Ok(r) => replaced_key_error(&r),
                Err(e) => Error::Corrupt {
                    path: self.store.path.clone(),
                    detail: format!("a recorded key rotation: {e}"),
                },
            });
        }
        if stored != self.tip.seq {
            return Err(Error::ConcurrentWriter {
                path: self.store.path.clone(),
                expected: self.tip.seq,
                found: stored,
            });
        }
        // Deposits removed by retention left their highest number behind: never issue it again.
        let mut next_intake: u64 = tx.query_row(
            "SELECT MAX(COALESCE((SELECT MAX(intake_no) FROM events), 0),
                        COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1), 0)) + 1",
            [crate::log_store::PRUNED_INTAKE_NO],
            |r| r.get::<_, i64>(0),
        )? as u64;
        let mut tip = self.tip;
        let mut appended = Vec::new();
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO events(seq, kind, intake_id, intake_no, recorded_ms, canonical, hash, key_id, signature)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for (recorded_at, entry) in entries {
                let payload = match entry {
                    Entry::Payload(p) => p,
                    Entry::NewIntake(build) => {
                        let id = IntakeId::new(self.station, next_intake)?;
                        next_intake += 1;
                        build(id)
                    }
                };
                let event = Event {
                    station: self.station,
                    seq: tip.seq + 1,
                    recorded_at,
                    prev_hash: tip.hash,
                    payload,
                };
                let canonical = encode(&event);
                let hash = Hash::link(&tip.hash, &canonical);
                let signature = sign_event(self.key.signing_key(), &canonical);
                let columns = IndexColumns::of(&event);
                insert.execute(params![
                    event.seq as i64,
                    columns.kind,
                    columns.intake_id,
                    columns.intake_no,
                    event.recorded_at.unix_ms,
                    canonical,
                    hash.0.as_slice(),
                    self.key.key_id().0.as_slice(),
                    signature.as_slice(),
                ])?;
                tip = ChainTip {
                    seq: event.seq,
                    hash,
                };
                appended.push(Appended { event, hash });
            }
        }
        let committing = std::time::Instant::now();
        tx.commit()?;
        // For `examples/deposit_latency.rs`: the whole append, and the commit's share of it
        // (the fsyncs of synchronous=FULL).
        tracing::trace!(
            name: "custody_log.commit",
            events = appended.len(),
            append_us = started.elapsed().as_micros() as u64,
            commit_us = committing.elapsed().as_micros() as u64,
            "custody log: committed"
        );
        let before = self.tip.seq;
        self.tip = tip;
        if tip.seq / CHECKPOINT_EVERY != before / CHECKPOINT_EVERY
            && let Err(e) = self.write_checkpoint()
        {
            // The events are committed: report them as such. A missing checkpoint only means
            // the next start verifies from the previous one.
            tracing::warn!(
                "custody log: checkpoint not written after seq {}: {e}",
                tip.seq
            );
        }
        Ok(appended)
    }

    /// Signs the text of a receipt for an intake this station took in.
    pub fn sign_receipt(&self, intake: IntakeId, deposited_at_secs: i64) -> ReceiptPayload {
        ReceiptPayload::sign(intake, deposited_at_secs, self.key.signing_key())
    }

    /// The highest seq the registry acknowledged.
    pub fn acknowledged(&self) -> Result<u64> {
        self.store.acknowledged()
    }

    /// Records that the registry holds every event up to `seq`. Never moves backwards; an
    /// acknowledgement beyond the log's end means this log lost events, and is refused.
    pub fn set_acknowledged(&mut self, seq: u64) -> Result<()> {
        if seq > self.tip.seq {
            return Err(Error::AckBeyondTip {
                acknowledged: seq,
                last: self.tip.seq,
            });
        }
        if seq <= self.acknowledged()? {
            return Ok(());
        }
        self.store.conn.execute(
            "INSERT INTO meta(key, value) VALUES ('acknowledged', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [seq.to_string()],
        )?;
        self.write_checkpoint()
    }

    /// Removes the events that retention allows to go ([`crate::retention::prunable_through`])
    /// and writes a checkpoint; events the registry has not acknowledged always stay.
    pub fn prune(&mut self, now_ms: i64, keep_days: u32) -> Result<crate::retention::Pruned> {
        let cutoff_ms = now_ms.saturating_sub(i64::from(keep_days) * crate::retention::DAY_MS);
        let through = crate::retention::prunable_through(
            &self.store,
            self.acknowledged()?,
            self.tip.seq,
            cutoff_ms,
        )?;
        let removed = if through == 0 {
            0
        } else {
            self.store.prune_through(through)?
        };
        if removed > 0 {
            self.write_checkpoint()?;
        }
        Ok(crate::retention::Pruned {
            removed,
            anchor: self.store.anchor()?,
        })
    }

    /// Events not yet acknowledged, oldest first, at most `limit`.
    pub fn unacknowledged(&self, limit: usize) -> Result<Vec<StoredEvent>> {
        self.store.events_after(self.acknowledged()?, limit)
    }

    /// Records the current tip and acknowledgement beside the log, so that a later open verifies
    /// only what came after, and notices if this file is replaced by an older copy.
    pub fn write_checkpoint(&self) -> Result<()> {
        checkpoint::store(
            &self.store.path,
            &Checkpoint {
                seq: self.tip.seq,
                hash: self.tip.hash,
                acknowledged: self.acknowledged()?,
            },
        )
    }
}

impl Drop for CustodyLog {
    fn drop(&mut self) {
        // Best effort: the next open verifies from the previous checkpoint if this one fails.
        let _ = self.write_checkpoint();
    }
}

fn replaced_key_error(r: &KeyRotation) -> Error {
    Error::Setup(format!(
        "klucz stacji {old} zastąpiono kluczem {new} od zdarzenia nr {seq}; ustaw key_file na nowy \
         klucz i uruchom stację ponownie / the station key {old} was replaced by {new} from seq \
         {seq} (urna rotate-key); set key_file to the new key and restart the station",
        old = records::fingerprint(&r.old_key),
        new = records::fingerprint(&r.new_key),
        seq = r.from_seq,
    ))
}

/// What `urna rotate-key` made.
#[derive(Debug)]
pub struct Rotated {
    /// The statement, as recorded in the log and written beside the new key.
    pub rotation: KeyRotation,
    /// The new key's fingerprint.
    pub new_fingerprint: String,
    /// Where the statement's text was written.
    pub statement_file: PathBuf,
}

/// The statement's file beside a key file: `station-2.key` → `station-2.key.rotation`.
pub fn statement_path(key_file: &Path) -> PathBuf {
    let mut name = key_file.as_os_str().to_owned();
    name.push(".rotation");
    PathBuf::from(name)
}

/// Replaces the station's key: makes a new key at `new_key_file` (mode 0600, never overwriting),
/// signs "`station` replaces the key in `old_key_file` with the new one from the log's next seq
/// on" with both keys, records that statement in the log at `log_path` (with the new public key,
/// so the log verifies across both) and writes it beside the new key.
///
/// The station then runs with `key_file` set to the new key: it refuses to start, or to append
/// anything more, with the old one, and its sync hands the statement to the registry before any
/// event the new key signed. Run it with the station stopped; if the station was running, its
/// next append fails with the same instruction, and nothing is signed past the rotation.
pub fn rotate_key(
    log_path: &Path,
    station: StationCode,
    old_key_file: &Path,
    new_key_file: &Path,
) -> Result<Rotated> {
    let refuse = |path: &Path, message: String| Error::Io {
        path: path.to_owned(),
        source: std::io::Error::other(message),
    };
    let old = StationKey::load(old_key_file)?;
    let mut store = LogStore::open_existing(log_path)?;
    match store.station()? {
        Some(found) if found == station => {}
        Some(found) => {
            return Err(Error::WrongStation {
                path: log_path.to_owned(),
                found: found.to_string(),
                expected: station.to_string(),
            });
        }
        None => {
            return Err(refuse(
                log_path,
                "the log has no station yet: start the station once with its key".into(),
            ));
        }
    }
    if let Some(done) = store
        .rotations()?
        .into_iter()
        .find(|r| r.old_key_id() == old.key_id())
    {
        return Err(refuse(
            old_key_file,
            format!(
                "this key ({}) was already replaced by {} from seq {}; the station runs with the new key",
                old.fingerprint(),
                records::fingerprint(&done.new_key),
                done.from_seq
            ),
        ));
    }
    let last_signer: Option<Vec<u8>> = store
        .conn
        .query_row(
            "SELECT key_id FROM events ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()?;
    if last_signer.is_some_and(|id| id != old.key_id().0.as_slice()) {
        return Err(refuse(
            old_key_file,
            format!(
                "this key ({}) did not sign the log's last event: it is not the station's current key",
                old.fingerprint()
            ),
        ));
    }
    let new = StationKey::generate_to_file(new_key_file)?;
    let tx = store
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    let tip: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?;
    let rotation = KeyRotation::sign(
        station,
        tip as u64 + 1,
        old.signing_key(),
        new.signing_key(),
    );
    tx.execute(
        "INSERT INTO meta(key, value) VALUES (?1, ?2)",
        params![LogStore::rotation_key(old.key_id()), rotation.to_string()],
    )?;
    tx.execute(
        "INSERT OR IGNORE INTO keys(key_id, public_key) VALUES (?1, ?2)",
        params![
            new.key_id().0.as_slice(),
            new.public().as_bytes().as_slice()
        ],
    )?;
    tx.commit()?;
    let statement_file = statement_path(new_key_file);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&statement_file)
        .map_err(crate::error::io(&statement_file))?;
    // Public: two public keys and two signatures; the log holds the same text.
    writeln!(file, "{rotation}")
        .and_then(|()| file.sync_all())
        .map_err(crate::error::io(&statement_file))?;
    tracing::info!(
        station = %station,
        old = %old.fingerprint(),
        new = %new.fingerprint(),
        from_seq = rotation.from_seq,
        "station key rotated in the custody log"
    );
    Ok(Rotated {
        new_fingerprint: new.fingerprint(),
        rotation,
        statement_file,
    })
}

/// What to append: a ready payload, or one built around the next intake id.
pub enum Entry {
    /// A payload that issues no intake id.
    Payload(Payload),
    /// A payload built around the station's next intake id.
    NewIntake(Box<dyn FnOnce(IntakeId) -> Payload>),
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Entry::Payload(p) => f.debug_tuple("Payload").field(p).finish(),
            Entry::NewIntake(_) => f.write_str("NewIntake(..)"),
        }
    }
}

fn unreachable_empty(store: &LogStore) -> Error {
    Error::NotALog {
        path: store.path.clone(),
        detail: "append committed nothing".into(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A station left running through `urna rotate-key` signs nothing more with the old key, and
    /// the log still verifies; the new key continues it.
    #[test]
    fn a_rotation_under_a_running_station_stops_the_old_key() {
        let dir = tempfile::tempdir().unwrap();
        let (log_path, old_file, new_file) = (
            dir.path().join("custody.db"),
            dir.path().join("old.key"),
            dir.path().join("new.key"),
        );
        let station: StationCode = "GW7K".parse().unwrap();
        let old = StationKey::generate_to_file(&old_file).unwrap();
        let mut log = CustodyLog::open(&log_path, station, old).unwrap();
        let at = Timestamp {
            unix_ms: 1_763_771_171_000,
            trusted: true,
        };
        log.append(at, Payload::DoorOpened).unwrap();
        let rotated = rotate_key(&log_path, station, &old_file, &new_file).unwrap();
        assert_eq!(rotated.rotation.from_seq, 2);
        let refused = log.append(at, Payload::DoorClosed).unwrap_err();
        assert!(refused.to_string().contains("key_file"), "{refused}");
        drop(log);

        let new = StationKey::load(&new_file).unwrap();
        let mut log = CustodyLog::open(&log_path, station, new).unwrap();
        log.append(at, Payload::DoorClosed).unwrap();
        let keys = log.keys().unwrap();
        assert_eq!(log.store().verify(&keys, ChainTip::GENESIS).unwrap().seq, 2);
    }
}
