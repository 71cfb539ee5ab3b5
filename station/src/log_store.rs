//! The custody log's SQLite file: opening it safely, its schema and migrations, reading events
//! back, and verifying them. Writing lives in [`crate::custody_log`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use records::encoding;
use records::rotation::{self, KeyRotation};
use records::{
    ChainFault, ChainTip, ChainVerifier, Event, Hash, KeyId, KeyRing, Problem, SignedEvent,
    StationCode,
};
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};

use crate::checkpoint;
use crate::error::{Error, Result};

/// Schema migrations, applied in order; `PRAGMA user_version` counts how many have run.
/// Never edit a released entry: add a new one. Public so tests can build a log as an older urna
/// left it (`station/tests/log_upgrade.rs`).
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    intake_id   TEXT,
    intake_no   INTEGER UNIQUE,
    recorded_ms INTEGER NOT NULL,
    canonical   BLOB NOT NULL,
    hash        BLOB NOT NULL,
    key_id      BLOB NOT NULL,
    signature   BLOB NOT NULL
) STRICT;
CREATE INDEX events_by_intake ON events(intake_id);
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
CREATE TABLE keys (
    key_id     BLOB PRIMARY KEY,
    public_key BLOB NOT NULL
) STRICT;
"#,
    // The hold clock (`crate::hold_clock`): the station's own bookkeeping beside the signed
    // events, never part of them or of what is sent to the registry.
    r#"
CREATE TABLE hold_clock (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    counter_ms        INTEGER NOT NULL CHECK (counter_ms >= 0),
    last_wall_ms      INTEGER NOT NULL,
    last_wall_trusted INTEGER NOT NULL CHECK (last_wall_trusted IN (0, 1))
) STRICT;
CREATE TABLE hold_starts (
    intake_id TEXT PRIMARY KEY,
    clock_ms  INTEGER NOT NULL CHECK (clock_ms >= 0)
) STRICT;
"#,
    // Look-ups by kind: the mailroom's open holds (every 5 s and after every scan) and today's
    // forwarding lists (after every scan) read the whole log without it, while holding it, so a
    // year's log made each scan wait for them. `intake_id` lets the open holds be told from the
    // released ones inside the index, `recorded_ms` today's forwardings.
    r#"
CREATE INDEX events_by_kind ON events(kind, intake_id, recorded_ms);
"#,
    // The open holds, kept as the log grows: telling them from the released ones through the
    // index still read every hold the log ever held, 25–43 ms after a year here (a Pi's tenth
    // of a second or more, every 5 s and after every scan, with scans waiting). Kept by
    // triggers, so that every way events come and go (appends, retention) keeps it, in the same
    // transaction. A hold started for an intake whose hold was ever released does not open
    // again, as the query this replaced read it.
    r#"
CREATE TABLE open_holds (
    seq       INTEGER PRIMARY KEY,
    intake_id TEXT NOT NULL
) STRICT;
CREATE INDEX open_holds_by_intake ON open_holds(intake_id);
INSERT INTO open_holds (seq, intake_id)
    SELECT seq, intake_id FROM events WHERE kind = 'hold_started' AND intake_id NOT IN
        (SELECT intake_id FROM events WHERE kind = 'hold_released');
CREATE TRIGGER hold_opens AFTER INSERT ON events
    WHEN NEW.kind = 'hold_started' AND NOT EXISTS
        (SELECT 1 FROM events WHERE kind = 'hold_released' AND intake_id = NEW.intake_id)
BEGIN
    INSERT INTO open_holds (seq, intake_id) VALUES (NEW.seq, NEW.intake_id);
END;
CREATE TRIGGER hold_closes AFTER INSERT ON events WHEN NEW.kind = 'hold_released'
BEGIN
    DELETE FROM open_holds WHERE intake_id = NEW.intake_id;
END;
CREATE TRIGGER hold_pruned AFTER DELETE ON events WHEN OLD.kind = 'hold_started'
BEGIN
    DELETE FROM open_holds WHERE seq = OLD.seq;
END;
"#,
];

/// The newest schema this build knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Rows read per round while verifying: enough to keep both cores busy, little memory.
const VERIFY_ROUND: usize = 16 * 1024;

/// `meta` keys of the retention anchor and of the highest intake number removed with it.
const ANCHOR_SEQ: &str = "anchor_seq";
const ANCHOR_HASH: &str = "anchor_hash";
pub(crate) const PRUNED_INTAKE_NO: &str = "pruned_intake_no";

/// [`LogStore::open_holds`]'s query: the open holds' own table, then each one's event by seq.
const OPEN_HOLDS: &str = "SELECT e.canonical FROM open_holds o JOIN events e ON e.seq = o.seq
 ORDER BY o.seq";

/// [`LogStore::events_of_kind_since`]'s query.
const OF_KIND_SINCE: &str =
    "SELECT canonical FROM events WHERE kind = ?1 AND recorded_ms >= ?2 ORDER BY seq";

/// One stored event, as a row.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// The signed event.
    pub signed: SignedEvent,
    /// Its chain hash as stored.
    pub hash: Hash,
}

/// An open custody-log database.
#[derive(Debug)]
pub struct LogStore {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
}

impl LogStore {
    /// Opens (creating if needed) and migrates the log at `path` for writing.
    pub(crate) fn open_for_writing(path: &Path) -> Result<LogStore> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut store = Self::open_with(path, flags)?;
        store.migrate()?;
        Ok(store)
    }

    /// Opens an existing log for inspection (show, export, verify); never creates or migrates.
    pub fn open_existing(path: &Path) -> Result<LogStore> {
        if !path.is_file() {
            return Err(Error::NotALog {
                path: path.to_owned(),
                detail: "no such file".into(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let store = Self::open_with(path, flags)?;
        let version = store.schema_version()?;
        if version == 0 {
            return Err(store.not_a_log("it has no urna schema"));
        }
        if version < SCHEMA_VERSION {
            return Err(store.not_a_log(&format!(
                "schema {version} is older than {SCHEMA_VERSION}; open it once with the station to upgrade it"
            )));
        }
        Ok(store)
    }

    fn open_with(path: &Path, flags: OpenFlags) -> Result<LogStore> {
        let conn = Connection::open_with_flags(path, flags).map_err(|e| classify(path, e))?;
        let store = LogStore {
            conn,
            path: path.to_owned(),
        };
        // The verifier's reader (the only read-only open) reads a file its writer has just
        // checked: a second whole-file check would double the start-up time of a long log.
        let check = !flags.contains(OpenFlags::SQLITE_OPEN_READ_ONLY);
        store.configure(check).map_err(|e| match e {
            Error::Sqlite(e) => classify(path, e),
            other => other,
        })?;
        Ok(store)
    }

    /// Durability settings. WAL must be set outside any transaction: inside one SQLite silently
    /// keeps the old mode, so the answer is checked.
    fn configure(&self, quick_check: bool) -> Result<()> {
        self.conn.busy_timeout(Duration::from_secs(5))?;
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::JournalMode {
                path: self.path.clone(),
                mode,
            });
        }
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        self.conn.pragma_update(None, "foreign_keys", "ON")?;
        let synchronous: i64 = self
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))?;
        if synchronous != 2 {
            return Err(Error::Corrupt {
                path: self.path.clone(),
                detail: format!("synchronous is {synchronous}, not FULL (2)"),
            });
        }
        if !quick_check {
            return Ok(());
        }
        let check: String = self
            .conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if check != "ok" {
            return Err(Error::Corrupt {
                path: self.path.clone(),
                detail: format!("quick_check: {check}"),
            });
        }
        Ok(())
    }

    fn schema_version(&self) -> Result<i64> {
        let version: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(Error::SchemaTooNew {
                path: self.path.clone(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        Ok(version)
    }

    fn migrate(&mut self) -> Result<()> {
        let version = self.schema_version()?;
        if version == 0 {
            let tables: i64 =
                self.conn
                    .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
            if tables != 0 {
                return Err(self.not_a_log("it is an SQLite database of something else"));
            }
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
            tx.commit()?;
        }
        Ok(())
    }

    fn not_a_log(&self, detail: &str) -> Error {
        Error::NotALog {
            path: self.path.clone(),
            detail: detail.to_owned(),
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The station this log belongs to, once it has one.
    pub fn station(&self) -> Result<Option<StationCode>> {
        let Some(text) = self.meta("station")? else {
            return Ok(None);
        };
        text.parse()
            .map(Some)
            .map_err(|_| self.not_a_log("its station code is invalid"))
    }

    pub(crate) fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// The highest seq the registry acknowledged (0 when none).
    pub fn acknowledged(&self) -> Result<u64> {
        Ok(self
            .meta("acknowledged")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Where the stored chain starts once retention removed older events
    /// ([`crate::retention`]): the seq and chain hash of the last event removed, which the first
    /// remaining event must follow. `None` while nothing was removed.
    pub fn anchor(&self) -> Result<Option<ChainTip>> {
        let (Some(seq), Some(hash)) = (self.meta(ANCHOR_SEQ)?, self.meta(ANCHOR_HASH)?) else {
            return Ok(None);
        };
        let seq: u64 = seq
            .parse()
            .map_err(|_| self.not_a_log("its retention anchor's seq is not a number"))?;
        let hash = Hash::try_from(hash)
            .map_err(|e| self.not_a_log(&format!("its retention anchor's hash: {e}")))?;
        Ok(Some(ChainTip { seq, hash }))
    }

    /// The first remaining event must follow the retention anchor, whatever the checkpoint says:
    /// an anchor that does not match is a log put together from pieces.
    fn check_anchor(&self) -> Result<()> {
        let Some(anchor) = self.anchor()? else {
            return Ok(());
        };
        let first: Option<(i64, Vec<u8>)> = self
            .conn
            .query_row(
                "SELECT seq, canonical FROM events ORDER BY seq LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((seq, canonical)) = first else {
            return Err(self.not_a_log("it has a retention anchor but no events after it"));
        };
        let chain = |problem| Error::Chain {
            path: self.path.clone(),
            fault: ChainFault {
                seq: seq as u64,
                problem,
            },
        };
        if seq as u64 != anchor.seq + 1 {
            return Err(chain(Problem::Gap {
                expected: anchor.seq + 1,
                found: seq as u64,
            }));
        }
        let event = encoding::decode(&canonical).map_err(|f| chain(Problem::Malformed(f)))?;
        if event.prev_hash != anchor.hash {
            return Err(chain(Problem::WrongPrevHash));
        }
        Ok(())
    }

    /// Removes every event up to and including `through` in one transaction, recording the
    /// anchor the rest verifies from and the highest intake number removed (numbers are never
    /// issued twice). Returns how many events were removed. Which events may go is
    /// [`crate::retention`]'s decision; this only refuses to remove the last event, which the
    /// log's tip is read from.
    pub(crate) fn prune_through(&mut self, through: u64) -> Result<u64> {
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let last: i64 =
            tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?;
        let through = through.min((last as u64).saturating_sub(1));
        let hash: Option<Vec<u8>> = tx
            .query_row(
                "SELECT hash FROM events WHERE seq = ?1",
                [through as i64],
                |r| r.get(0),
            )
            .optional()?;
        let Some(hash) = hash else {
            return Ok(0);
        };
        let hash = Hash(hash.try_into().map_err(|_| Error::RowMismatch {
            path,
            seq: through,
            column: "hash",
        })?);
        tx.execute(
            "INSERT INTO meta(key, value) VALUES (?1, CAST(
                 (SELECT COALESCE(MAX(intake_no), 0) FROM events WHERE seq <= ?2) AS TEXT))
             ON CONFLICT(key) DO UPDATE SET value = CAST(MAX(CAST(value AS INTEGER),
                 CAST(excluded.value AS INTEGER)) AS TEXT)",
            params![PRUNED_INTAKE_NO, through as i64],
        )?;
        let removed = tx.execute("DELETE FROM events WHERE seq <= ?1", [through as i64])?;
        for (key, value) in [
            (ANCHOR_SEQ, through.to_string()),
            (ANCHOR_HASH, hash.to_string()),
        ] {
            tx.execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
        }
        tx.commit()?;
        Ok(removed as u64)
    }

    /// The last event's seq and hash, as stored (not verified).
    pub fn stored_tip(&self) -> Result<ChainTip> {
        let row = self
            .conn
            .query_row(
                "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)),
            )
            .optional()?;
        match row {
            None => Ok(ChainTip::GENESIS),
            Some((seq, hash)) => Ok(ChainTip {
                seq: seq as u64,
                hash: self.hash_from(seq as u64, hash)?,
            }),
        }
    }

    /// The stored hash of the event at `seq`, if there is one.
    pub(crate) fn stored_hash(&self, seq: u64) -> Result<Option<Hash>> {
        let hash: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT hash FROM events WHERE seq = ?1",
                [seq as i64],
                |r| r.get(0),
            )
            .optional()?;
        hash.map(|h| self.hash_from(seq, h)).transpose()
    }

    fn hash_from(&self, seq: u64, bytes: Vec<u8>) -> Result<Hash> {
        bytes.try_into().map(Hash).map_err(|_| Error::RowMismatch {
            path: self.path.clone(),
            seq,
            column: "hash",
        })
    }

    /// The public keys recorded in the log (the station's own, and after rotation its earlier ones).
    pub fn recorded_keys(&self) -> Result<KeyRing> {
        let mut ring = KeyRing::new();
        let mut stmt = self.conn.prepare("SELECT public_key FROM keys")?;
        let keys = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        for key in keys {
            let bytes: [u8; 32] = key?
                .try_into()
                .map_err(|_| self.not_a_log("a recorded public key is not 32 bytes"))?;
            ring.add_bytes(&bytes)
                .map_err(|e| self.not_a_log(&format!("a recorded public key is unusable: {e}")))?;
        }
        Ok(ring)
    }

    /// The key rotations recorded in this log (`urna rotate-key`), oldest first. Each is kept in
    /// `meta` under `rotation:<old key id>`: the statement is signed, so it needs no table of its
    /// own nor a schema change, and a key is retired once.
    pub fn rotations(&self) -> Result<Vec<KeyRotation>> {
        let mut stmt = self
            .conn
            .prepare("SELECT value FROM meta WHERE key LIKE 'rotation:%'")?;
        let texts = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for text in texts {
            let rotation = rotation::parse_verified(&text?).map_err(|e| Error::Corrupt {
                path: self.path.clone(),
                detail: format!("a recorded key rotation: {e}"),
            })?;
            out.push(rotation);
        }
        out.sort_by_key(|r| r.from_seq);
        Ok(out)
    }

    /// The meta key a rotation away from `old` is recorded under.
    pub(crate) fn rotation_key(old: KeyId) -> String {
        format!("rotation:{old}")
    }

    /// Events after `after` that a rotated key signed at or after the seq it handed over: the
    /// first one's seq and key, if any.
    fn signed_after_retirement(&self, after: u64) -> Result<Option<(u64, KeyId)>> {
        for r in self.rotations()? {
            let from = r.from_seq.max(after.saturating_add(1));
            let found: Option<i64> = self.conn.query_row(
                "SELECT min(seq) FROM events WHERE seq >= ?1 AND key_id = ?2",
                params![
                    i64::try_from(from).unwrap_or(i64::MAX),
                    r.old_key_id().0.as_slice()
                ],
                |row| row.get(0),
            )?;
            if let Some(seq) = found {
                return Ok(Some((seq as u64, r.old_key_id())));
            }
        }
        Ok(None)
    }

    /// Up to `limit` events after `after`, in seq order: the outbox a sync pushes from.
    pub fn events_after(&self, after: u64, limit: usize) -> Result<Vec<StoredEvent>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, canonical, key_id, signature, hash FROM events
             WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after as i64, limit as i64], |r| {
            Ok(RawEvent {
                seq: r.get(0)?,
                canonical: r.get(1)?,
                key_id: r.get(2)?,
                signature: r.get(3)?,
                hash: r.get(4)?,
            })
        })?;
        let mut out = Vec::new();
        for raw in rows {
            out.push(self.stored_from(raw?)?);
        }
        Ok(out)
    }

    /// Every event about `intake` in this log, oldest first.
    pub fn events_for_intake(&self, intake: &records::IntakeId) -> Result<Vec<Event>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, canonical FROM events WHERE intake_id = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map([intake.to_string()], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, canonical) = row?;
            let event = encoding::decode(&canonical).map_err(|fault| Error::Chain {
                path: self.path.clone(),
                fault: records::ChainFault {
                    seq: seq as u64,
                    problem: records::Problem::Malformed(fault),
                },
            })?;
            out.push(event);
        }
        Ok(out)
    }

    /// Every hold started and not released, oldest first: the intake, the hold's length and
    /// when, by the wall clock, it started. (Whether a hold is over is the hold clock's to say:
    /// `crate::hold_clock`.)
    pub fn open_holds(&self) -> Result<Vec<(records::IntakeId, u32, records::Timestamp)>> {
        let mut stmt = self.conn.prepare_cached(OPEN_HOLDS)?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::new();
        for row in rows {
            // Every stored row was verified when it was written; `verify` reports any that
            // was altered since, so an undecodable one is skipped here, not fatal.
            if let Ok(event) = encoding::decode(&row?)
                && let records::Payload::HoldStarted { intake, hold_secs } = event.payload
            {
                out.push((intake, hold_secs, event.recorded_at));
            }
        }
        Ok(out)
    }

    /// The events that say how full the urn is: from the last collection on, the envelopes
    /// seen falling and the urn's alerts, oldest first.
    pub fn urn_fill_events(&self) -> Result<Vec<Event>> {
        // The last collection newest first, stopping at the first found: `MAX(seq)` with this
        // filter read the whole table (nothing indexes `kind`), a second at start on a long log.
        let mut stmt = self.conn.prepare_cached(
            "SELECT canonical FROM events
             WHERE seq >= COALESCE((SELECT seq FROM events WHERE kind = 'urn_collected'
                                    ORDER BY seq DESC LIMIT 1), 0)
               AND kind IN ('drop_seen', 'alarm', 'fault_raised', 'fault_cleared', 'urn_collected')
             ORDER BY seq",
        )?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::new();
        for row in rows {
            // Every stored row was verified when it was written; `verify` reports any that
            // was altered since, so an undecodable one is skipped here, not fatal.
            if let Ok(event) = encoding::decode(&row?) {
                out.push(event);
            }
        }
        Ok(out)
    }

    /// Events of one kind recorded at or after `since_ms` (station clock), oldest first.
    pub fn events_of_kind_since(&self, kind: &str, since_ms: i64) -> Result<Vec<Event>> {
        let mut stmt = self.conn.prepare_cached(OF_KIND_SINCE)?;
        let rows = stmt.query_map(params![kind, since_ms], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::new();
        for row in rows {
            // As in `open_holds`: `verify` reports an altered row; a list skips it.
            if let Ok(event) = encoding::decode(&row?) {
                out.push(event);
            }
        }
        Ok(out)
    }

    /// The last `n` events, oldest first.
    pub fn tail(&self, n: usize) -> Result<Vec<StoredEvent>> {
        let tip = self.stored_tip()?.seq;
        self.events_after(tip.saturating_sub(n as u64), n)
    }

    /// Verifies every event after `start` against `keys`: signatures, links, seq without gaps, the
    /// stored hash, and that each indexed column agrees with the signed event. Returns the tip.
    ///
    /// A second connection reads the next rows while this thread and the signature workers
    /// verify the current ones, so reading SQLite does not leave a core idle.
    pub fn verify(&self, keys: &KeyRing, start: ChainTip) -> Result<ChainTip> {
        let station = match self.station()? {
            Some(s) => s,
            None if self.stored_tip()?.seq == 0 => return Ok(ChainTip::GENESIS),
            None => return Err(self.not_a_log("it has events but no station code")),
        };
        // Events before the anchor were removed by retention: the chain verifies from it, and
        // the first remaining event must follow it exactly.
        let start = match self.anchor()? {
            Some(anchor) if anchor.seq > start.seq => anchor,
            _ => start,
        };
        let mut verifier = ChainVerifier::new(station, keys, start);
        std::thread::scope(|scope| {
            let (rows_tx, rows_rx) = std::sync::mpsc::sync_channel::<Result<Vec<Row>>>(2);
            let path = self.path.clone();
            scope.spawn(move || {
                let reader = match Self::open_with(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                ) {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = rows_tx.send(Err(e));
                        return;
                    }
                };
                let mut after = start.seq;
                loop {
                    let batch = reader.rows_after(after, VERIFY_ROUND);
                    let done = match &batch {
                        Ok(rows) => match rows.last() {
                            Some(last) => {
                                after = last.stored.signed.seq;
                                false
                            }
                            None => true,
                        },
                        Err(_) => true,
                    };
                    // The receiver hangs up on the first fault; then there is nothing to do.
                    if rows_tx.send(batch).is_err() || done {
                        return;
                    }
                }
            });
            for batch in rows_rx {
                let rows = batch?;
                if rows.is_empty() {
                    break;
                }
                let signed: Vec<SignedEvent> =
                    rows.iter().map(|r| r.stored.signed.clone()).collect();
                let verified =
                    verifier
                        .verify_with_hashes(&signed)
                        .map_err(|fault| Error::Chain {
                            path: self.path.clone(),
                            fault,
                        })?;
                for (row, (event, hash)) in rows.iter().zip(&verified) {
                    if *hash != row.stored.hash {
                        return Err(self.row_mismatch(event.seq, "hash"));
                    }
                    if let Some(column) = row.disagreement_with(event) {
                        return Err(self.row_mismatch(event.seq, column));
                    }
                }
            }
            // A retired key vouches only for the events before its rotation.
            if let Some((seq, key)) = self.signed_after_retirement(start.seq)? {
                return Err(Error::Chain {
                    path: self.path.clone(),
                    fault: ChainFault {
                        seq,
                        problem: Problem::UnknownKey(key),
                    },
                });
            }
            Ok(verifier.tip())
        })
    }

    /// Rows with their index columns, for verification.
    fn rows_after(&self, after: u64, limit: usize) -> Result<Vec<Row>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, canonical, key_id, signature, hash, kind, intake_id, intake_no, recorded_ms
             FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after as i64, limit as i64], |r| {
            Ok((
                RawEvent {
                    seq: r.get(0)?,
                    canonical: r.get(1)?,
                    key_id: r.get(2)?,
                    signature: r.get(3)?,
                    hash: r.get(4)?,
                },
                r.get::<_, String>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, Option<i64>>(7)?,
                r.get::<_, i64>(8)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (raw, kind, intake_id, intake_no, recorded_ms) = row?;
            out.push(Row {
                stored: self.stored_from(raw)?,
                kind,
                intake_id,
                intake_no,
                recorded_ms,
            });
        }
        Ok(out)
    }

    fn stored_from(&self, raw: RawEvent) -> Result<StoredEvent> {
        let seq = raw.seq as u64;
        Ok(StoredEvent {
            signed: SignedEvent {
                seq,
                canonical: raw.canonical,
                key_id: KeyId(
                    raw.key_id
                        .try_into()
                        .map_err(|_| self.row_mismatch(seq, "key_id"))?,
                ),
                signature: raw
                    .signature
                    .try_into()
                    .map_err(|_| self.row_mismatch(seq, "signature"))?,
            },
            hash: self.hash_from(seq, raw.hash)?,
        })
    }

    /// Compares the log with the checkpoint beside it and returns where verification may start:
    /// the checkpoint's tip, or the beginning when there is no checkpoint. A log that ends before
    /// the checkpoint, holds another event there, or forgot an acknowledgement was rolled back.
    pub fn check_checkpoint(&self) -> Result<ChainTip> {
        self.check_anchor()?;
        let Some(cp) = checkpoint::load(&self.path)? else {
            return Ok(ChainTip::GENESIS);
        };
        let rolled_back = |detail: String| Error::RolledBack {
            path: self.path.clone(),
            detail,
        };
        let last = self.stored_tip()?.seq;
        if last < cp.seq {
            return Err(rolled_back(format!(
                "the log ends at seq {last}, but seq {} was verified before; events {}..={} are missing",
                cp.seq,
                last + 1,
                cp.seq
            )));
        }
        let acknowledged = self.acknowledged()?;
        if acknowledged < cp.acknowledged {
            return Err(rolled_back(format!(
                "the registry had acknowledged seq {}, but the log says {acknowledged}",
                cp.acknowledged
            )));
        }
        let differs = || {
            rolled_back(format!(
                "seq {}: the event differs from the one verified before",
                cp.seq
            ))
        };
        match self.anchor()? {
            // The checkpoint's event was removed by retention: the anchor vouches for it, and
            // verification starts from the anchor.
            Some(anchor) if cp.seq <= anchor.seq => {
                if cp.seq == anchor.seq && cp.hash != anchor.hash {
                    return Err(differs());
                }
                Ok(anchor)
            }
            _ => {
                if cp.seq > 0 && self.stored_hash(cp.seq)? != Some(cp.hash) {
                    return Err(differs());
                }
                Ok(cp.tip())
            }
        }
    }

    fn row_mismatch(&self, seq: u64, column: &'static str) -> Error {
        Error::RowMismatch {
            path: self.path.clone(),
            seq,
            column,
        }
    }
}

/// An event row as SQLite returns it.
struct RawEvent {
    seq: i64,
    canonical: Vec<u8>,
    key_id: Vec<u8>,
    signature: Vec<u8>,
    hash: Vec<u8>,
}

/// An event row with the columns that index it.
struct Row {
    stored: StoredEvent,
    kind: String,
    intake_id: Option<String>,
    intake_no: Option<i64>,
    recorded_ms: i64,
}

impl Row {
    /// The first index column that does not say what the signed event says.
    fn disagreement_with(&self, event: &Event) -> Option<&'static str> {
        let expected = IndexColumns::of(event);
        if self.kind != expected.kind {
            Some("kind")
        } else if self.intake_id != expected.intake_id {
            Some("intake_id")
        } else if self.intake_no != expected.intake_no {
            Some("intake_no")
        } else if self.recorded_ms != event.recorded_at.unix_ms {
            Some("recorded_ms")
        } else {
            None
        }
    }
}

/// The columns stored beside an event so it can be found without decoding every row.
pub(crate) struct IndexColumns {
    pub kind: &'static str,
    pub intake_id: Option<String>,
    /// Set only on the event that issued the intake id (the deposit).
    pub intake_no: Option<i64>,
}

impl IndexColumns {
    pub fn of(event: &Event) -> IndexColumns {
        let issued = match &event.payload {
            records::Payload::Deposit(intake) => Some(intake.id.number() as i64),
            _ => None,
        };
        IndexColumns {
            kind: event.payload.kind_name(),
            intake_id: event.payload.intake().map(|id| id.to_string()),
            intake_no: issued,
        }
    }
}

/// Decodes a stored event (for show and export).
pub fn decode(stored: &StoredEvent) -> Result<Event, encoding::DecodeError> {
    encoding::decode(&stored.signed.canonical)
}

/// Turns SQLite's "not a database" into a message about the file.
fn classify(path: &Path, e: rusqlite::Error) -> Error {
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => Error::NotALog {
            path: path.to_owned(),
            detail: "it is not an SQLite database".into(),
        },
        Some(ErrorCode::DatabaseCorrupt) => Error::Corrupt {
            path: path.to_owned(),
            detail: e.to_string(),
        },
        Some(ErrorCode::CannotOpen) => Error::NotALog {
            path: path.to_owned(),
            detail: "it cannot be opened (does its directory exist?)".into(),
        },
        _ => Error::Sqlite(e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn plan(store: &LogStore, sql: &str, args: &[&str]) -> Vec<String> {
        store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map(rusqlite::params_from_iter(args), |r| r.get(3))
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap()
    }

    /// The mailroom's look-ups read neither the whole log nor every hold it ever held: both run
    /// while the log is held, after every scan.
    #[test]
    fn the_mailroom_look_ups_read_only_what_they_list() {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open_for_writing(&dir.path().join("custody.db")).unwrap();
        let forwarded = plan(&store, OF_KIND_SINCE, &["forwarded", "0"]);
        assert!(
            forwarded
                .iter()
                .all(|step| !step.starts_with("SCAN events")),
            "{forwarded:?}"
        );
        assert!(
            forwarded.iter().any(|step| step.contains("events_by_kind")),
            "{forwarded:?}"
        );
        let open = plan(&store, OPEN_HOLDS, &[]);
        assert_eq!(
            open,
            ["SCAN o", "SEARCH e USING INTEGER PRIMARY KEY (rowid=?)"],
            "{open:?}"
        );
    }

    /// What the open holds were before they had a table of their own: the definition the
    /// table must keep to.
    const OPEN_HOLDS_FROM_THE_LOG: &str = "SELECT seq FROM events WHERE kind = 'hold_started'
         AND intake_id NOT IN (SELECT intake_id FROM events WHERE kind = 'hold_released')
         ORDER BY seq";

    /// The seqs of the open holds as the table keeps them, and as the whole log says.
    fn open_hold_seqs(store: &LogStore) -> (Vec<u64>, Vec<u64>) {
        let seqs = |sql: &str| -> Vec<u64> {
            store
                .conn
                .prepare(sql)
                .unwrap()
                .query_map([], |r| r.get::<_, i64>(0).map(|s| s as u64))
                .unwrap()
                .collect::<std::result::Result<_, _>>()
                .unwrap()
        };
        (
            seqs("SELECT seq FROM open_holds ORDER BY seq"),
            seqs(OPEN_HOLDS_FROM_THE_LOG),
        )
    }

    fn hold(log: &mut crate::CustodyLog, number: u64, started: bool) -> u64 {
        let intake = records::IntakeId::new("GW7K".parse().unwrap(), number).unwrap();
        let payload = if started {
            records::Payload::HoldStarted {
                intake,
                hold_secs: 60,
            }
        } else {
            records::Payload::HoldReleased {
                intake,
                early: None,
            }
        };
        let at = records::Timestamp {
            unix_ms: 1_763_768_771_000,
            trusted: true,
        };
        log.append(at, payload).unwrap().event.seq
    }

    /// Holds started, released, started twice, started again after a release, and some of
    /// the log removed by retention: the table lists what reading the whole log would.
    #[test]
    fn the_open_holds_table_lists_what_the_log_says_is_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("custody.db");
        let mut log = crate::CustodyLog::open(
            &path,
            "GW7K".parse().unwrap(),
            crate::StationKey::from_seed([7; 32]),
        )
        .unwrap();
        let first = hold(&mut log, 1, true);
        let second = hold(&mut log, 2, true);
        hold(&mut log, 1, false);
        let third = hold(&mut log, 3, true);
        let third_again = hold(&mut log, 3, true);
        // Held again after its release: it stays released, as the log was always read.
        hold(&mut log, 1, true);
        let (kept, read) = open_hold_seqs(log.store());
        assert_eq!(kept, read);
        assert_eq!(kept, [second, third, third_again]);
        assert!(first < second);
        let listed: Vec<u64> = log
            .store()
            .open_holds()
            .unwrap()
            .iter()
            .map(|(intake, _, _)| intake.number())
            .collect();
        assert_eq!(listed, [2, 3, 3]);

        // Retention removes the log's head up to the second hold, through a store of its own.
        LogStore::open_for_writing(&path)
            .unwrap()
            .prune_through(second)
            .unwrap();
        let (kept, read) = open_hold_seqs(log.store());
        assert_eq!(kept, read);
        assert_eq!(kept, [third, third_again]);
    }

    /// A log from before the table: the upgrade fills it from the events already there.
    #[test]
    fn the_upgrade_fills_the_open_holds_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("custody.db");
        let open = |path: &Path| {
            crate::CustodyLog::open(
                path,
                "GW7K".parse().unwrap(),
                crate::StationKey::from_seed([7; 32]),
            )
            .unwrap()
        };
        let expected = {
            let mut log = open(&path);
            hold(&mut log, 1, true);
            let open_one = hold(&mut log, 2, true);
            hold(&mut log, 1, false);
            vec![open_one]
        };
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TRIGGER hold_opens; DROP TRIGGER hold_closes; DROP TRIGGER hold_pruned;
             DROP TABLE open_holds; PRAGMA user_version = 3;",
        )
        .unwrap();
        drop(conn);
        let log = open(&path);
        let (kept, read) = open_hold_seqs(log.store());
        assert_eq!((kept, read), (expected.clone(), expected));
    }
}
