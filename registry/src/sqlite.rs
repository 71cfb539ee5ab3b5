//! The register in one SQLite file: the [`RegisterStore`] for a single office.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use records::api::{AlertKind, IntakeStatus, device_name};
use records::{
    ChainTip, Channel, Device, Hash, IntakeId, KeyId, SignedEvent, StationCode, Timestamp,
    VerifyingKey,
};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use crate::error::{Error, Result};
use crate::store::{
    Alarm, AlertChange, ClerkRecord, ClerkRole, DeviceAlertRecord, ForkEvidence, IntakeFilter,
    IntakeRecord, IntakeState, KeyState, LoginFailures, RegisterStore, RotationRecord,
    SessionRecord, StationAppend, StationKeyRecord, StationRecord, StoredEvent,
};

mod checkpoint;
mod insight;
mod outbox;

/// The kinds `events_by_kind` holds, as the SQL term of its partial index. A query uses that
/// index only when its own WHERE repeats this term word for word (SQLite proves a partial index
/// usable by matching terms, not by evaluating them), so both are built from this one macro.
macro_rules! indexed_kinds {
    () => {
        "kind IN ('urn_collected', 'hold_started', 'hold_released')"
    };
}

/// The kinds [`RegisterStore::events_of_kind`] can list: those in [`indexed_kinds!`].
const INDEXED_KINDS: [&str; 3] = ["urn_collected", "hold_started", "hold_released"];

/// Each entry moves the schema from version `i` to `i + 1`; never edit one that has shipped.
/// Public so tests can build a register as an older urna left it.
pub const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE stations (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    public_key  BLOB NOT NULL,
    enrolled_ms INTEGER NOT NULL
);
CREATE TABLE events (
    station     TEXT NOT NULL REFERENCES stations(code),
    seq         INTEGER NOT NULL,
    canonical   BLOB NOT NULL,
    key_id      TEXT NOT NULL,
    signature   BLOB NOT NULL,
    hash        BLOB NOT NULL,
    kind        TEXT NOT NULL,
    intake      TEXT,
    recorded_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    PRIMARY KEY (station, seq)
);
CREATE INDEX events_by_intake ON events(intake, recorded_ms, station, seq) WHERE intake IS NOT NULL;
CREATE TABLE intakes (
    id          TEXT PRIMARY KEY,
    station     TEXT NOT NULL REFERENCES stations(code),
    received_ms INTEGER NOT NULL,
    trusted     INTEGER NOT NULL,
    channel     TEXT NOT NULL,
    category    TEXT NOT NULL,
    department  TEXT NOT NULL,
    reference   TEXT,
    status      TEXT NOT NULL,
    updated_ms  INTEGER NOT NULL
);
CREATE INDEX intakes_by_received ON intakes(received_ms);
CREATE INDEX intakes_by_department ON intakes(department, received_ms);
CREATE TABLE forks (
    id          INTEGER PRIMARY KEY,
    station     TEXT NOT NULL REFERENCES stations(code),
    seq         INTEGER NOT NULL,
    canonical   BLOB NOT NULL,
    key_id      TEXT NOT NULL,
    signature   BLOB NOT NULL,
    seen_ms     INTEGER NOT NULL,
    UNIQUE (station, seq, canonical)
);
CREATE TABLE alarms (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    station     TEXT NOT NULL,
    seq         INTEGER,
    message     TEXT NOT NULL,
    raised_ms   INTEGER NOT NULL
);
",
    r"
CREATE TABLE device_alerts (
    station       TEXT NOT NULL REFERENCES stations(code),
    device        TEXT NOT NULL,
    what          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    since_ms      INTEGER NOT NULL,
    since_trusted INTEGER NOT NULL,
    PRIMARY KEY (station, device, what)
);
CREATE INDEX device_alerts_by_since ON device_alerts(since_ms, station, seq);
",
    r"
CREATE INDEX events_by_kind ON events(kind, station, seq);
",
    // Station keys in every state (pending approval, approved, retired by a rotation, revoked),
    // and the request nonces seen. `stations.public_key` stays the station's current key. The
    // stations enrolled before this version are approved: they were trusted already (see
    // `backfill_station_keys`, which computes their key ids).
    r"
CREATE TABLE station_keys (
    key_id        TEXT PRIMARY KEY,
    station       TEXT NOT NULL,
    public_key    BLOB NOT NULL UNIQUE,
    state         TEXT NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL,
    changed_ms    INTEGER NOT NULL
);
CREATE INDEX station_keys_by_station ON station_keys(station, first_seen_ms);
CREATE TABLE request_nonces (
    key_id  TEXT NOT NULL,
    nonce   TEXT NOT NULL,
    seen_ms INTEGER NOT NULL,
    PRIMARY KEY (key_id, nonce)
);
CREATE INDEX request_nonces_by_seen ON request_nonces(seen_ms);
",
    // Accepted key rotations, with the signed statement kept as evidence. A key is retired once,
    // so the old key alone names a rotation.
    r"
CREATE TABLE key_rotations (
    old_key_id  TEXT PRIMARY KEY,
    station     TEXT NOT NULL,
    new_key_id  TEXT NOT NULL UNIQUE,
    from_seq    INTEGER NOT NULL,
    statement   TEXT NOT NULL,
    accepted_ms INTEGER NOT NULL
);
CREATE INDEX key_rotations_by_station ON key_rotations(station, from_seq);
",
    // Clerk accounts (Argon2id password hashes only), their sessions (the token's SHA-256 only,
    // with an expiry) and failed sign-ins per username, known or not, for the lockout.
    r"
CREATE TABLE clerks (
    username      TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('clerk', 'admin')),
    department    TEXT,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_ms    INTEGER NOT NULL,
    CHECK ((role = 'clerk') = (department IS NOT NULL))
);
CREATE TABLE clerk_sessions (
    token_hash BLOB PRIMARY KEY,
    username   TEXT NOT NULL REFERENCES clerks(username),
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE INDEX clerk_sessions_by_expiry ON clerk_sessions(expires_ms);
CREATE TABLE login_failures (
    username        TEXT PRIMARY KEY,
    failures        INTEGER NOT NULL,
    last_ms         INTEGER NOT NULL,
    locked_until_ms INTEGER NOT NULL
);
CREATE INDEX login_failures_by_last ON login_failures(last_ms);
CREATE INDEX intakes_by_station ON intakes(station, received_ms);
",
    // The outbox of notifications to departments (webhooks, e-mail), fed by a trigger on
    // `events`, and its delivery log: see `outbox.rs` beside this file.
    outbox::MIGRATION,
    // When each station last sent a signed request: see `insight.rs` beside this file.
    insight::MIGRATION,
    // Each station's retention anchor and the retention runs applied: see `crate::retention`.
    crate::retention::MIGRATION,
    // Each station's latest report of its own log's tip: see `crate::station_report`.
    crate::station_report::MIGRATION,
    // `events_by_kind` only for the kinds looked up by kind. Indexing every event cost ingest
    // one more place in the file to write per event (each station's rows of each kind sit
    // apart), a third of the bytes each commit wrote, for deposits nobody lists by kind.
    concat!(
        "DROP INDEX events_by_kind;
CREATE INDEX events_by_kind ON events(kind, station, seq) WHERE ",
        indexed_kinds!(),
        ";"
    ),
    // The outbox's journal only for the kinds departments are told about.
    outbox::NOTIFIED_KINDS_MIGRATION,
    // The journal written by ingest's own statements rather than by a trigger.
    outbox::JOURNAL_IN_APPEND_MIGRATION,
];

/// [`RegisterStore::events_of_kind`]'s query, on the partial `events_by_kind`.
const EVENTS_OF_KIND: &str = concat!(
    "SELECT station, received_ms, seq, canonical, key_id, signature FROM events
     WHERE kind = ?1 AND ",
    indexed_kinds!(),
    " ORDER BY received_ms, station, seq"
);

/// The version whose migration creates `station_keys`.
const STATION_KEYS_VERSION: usize = 4;

/// The newest schema version this code writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The register in an SQLite file (WAL, `synchronous=FULL`: an acknowledged event survives a
/// power cut, because the station deletes nothing but trusts the acknowledgement to stop resending).
#[derive(Debug)]
pub struct SqliteStore {
    // First, so that it is dropped (its thread stopped) before the connections close: the
    // writer's close then checkpoints what is left and removes the WAL.
    checkpointer: checkpoint::Checkpointer,
    // One connection: the register's load is a few thousand events a day, and one writer at a
    // time is what SQLite allows anyway.
    conn: Mutex<Connection>,
    // The reads every request makes before it is verified (its key, the station, its tip, its
    // rotations), on a second connection: WAL lets them see the last commit while the writer
    // waits for the disk, instead of queueing behind that wait on the one connection.
    reader: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the register at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let mut conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(
            None,
            "wal_autocheckpoint",
            checkpoint::WRITER_CHECKPOINT_PAGES,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn)?;
        let reader = Connection::open(path)?;
        reader.pragma_update(None, "query_only", "ON")?;
        reader.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(SqliteStore {
            checkpointer: checkpoint::Checkpointer::start(path)?,
            conn: Mutex::new(conn),
            reader: Mutex::new(reader),
        })
    }

    fn conn(&self) -> Result<MutexGuard<'_, Connection>> {
        usable(&self.conn)
    }

    fn reader(&self) -> Result<MutexGuard<'_, Connection>> {
        usable(&self.reader)
    }
}

/// A connection's lock, taken whatever a panic while it was held left on it. A transaction
/// rolls back when the panic unwinds through it, so the connection is only ever found inside
/// one if the rollback itself failed: it is rolled back here, and the connection used again.
/// Refusing it instead (a poisoned lock stays poisoned) would refuse every later push and page
/// until the registry was restarted.
fn usable(lock: &Mutex<Connection>) -> Result<MutexGuard<'_, Connection>> {
    match lock.lock() {
        Ok(conn) => Ok(conn),
        Err(poisoned) => {
            let conn = poisoned.into_inner();
            if !conn.is_autocommit() {
                conn.execute_batch("ROLLBACK")?;
            }
            tracing::warn!("a register connection was in use by a panic; going on with it");
            lock.clear_poison();
            Ok(conn)
        }
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql)?;
        if version + 1 == STATION_KEYS_VERSION {
            backfill_station_keys(&tx)?;
        }
        tx.pragma_update(None, "user_version", version as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

/// Key ids are SHA-256 prefixes, which SQL cannot compute: the stations enrolled before
/// `station_keys` existed get their approved key row here.
fn backfill_station_keys(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    let stations = {
        let mut stmt = tx.prepare("SELECT code, name, public_key, enrolled_ms FROM stations")?;
        collect(stmt.query([])?, station_row)?
    };
    for s in stations {
        tx.execute(
            "INSERT INTO station_keys (key_id, station, public_key, state, first_seen_ms,
                                       last_seen_ms, changed_ms)
             VALUES (?1, ?2, ?3, 'approved', ?4, ?4, ?4)",
            params![
                KeyId::of(&s.key).to_string(),
                s.code.as_str(),
                s.key.as_bytes().as_slice(),
                s.enrolled_ms
            ],
        )?;
    }
    Ok(())
}

fn key_state_from(name: &str) -> Result<KeyState> {
    Ok(match name {
        "pending" => KeyState::Pending,
        "approved" => KeyState::Approved,
        "retired" => KeyState::Retired,
        "revoked" => KeyState::Revoked,
        other => return Err(corrupt(format_args!("key state {other:?}"))),
    })
}

const KEY_COLUMNS: &str = "station, public_key, state, first_seen_ms, last_seen_ms, changed_ms";

/// Most decoded keys [`decode_key`] keeps: a fleet's worth, about 200 bytes each.
const MAX_DECODED_KEYS: usize = 2048;

/// A stored public key, decoded. Decoding is an Ed25519 point decompression, and every push reads
/// its request's key, its station's record and its station's keys again, so the decoded keys are
/// kept by their bytes (the same bytes decode to the same key, whichever row holds them).
fn decode_key(bytes: Vec<u8>) -> Result<VerifyingKey> {
    static DECODED: std::sync::LazyLock<Mutex<HashMap<[u8; 32], VerifyingKey>>> =
        std::sync::LazyLock::new(|| Mutex::new(HashMap::new()));
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| corrupt("station key is not 32 bytes"))?;
    if let Some(key) = DECODED.lock().ok().and_then(|m| m.get(&bytes).copied()) {
        return Ok(key);
    }
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| corrupt("station key is not a key"))?;
    if let Ok(mut decoded) = DECODED.lock() {
        if decoded.len() >= MAX_DECODED_KEYS {
            decoded.clear();
        }
        decoded.insert(bytes, key);
    }
    Ok(key)
}

fn key_row(row: &Row<'_>) -> Result<StationKeyRecord> {
    Ok(StationKeyRecord {
        station: station_code(&row.get::<_, String>(0)?)?,
        key: decode_key(row.get(1)?)?,
        state: key_state_from(&row.get::<_, String>(2)?)?,
        first_seen_ms: row.get(3)?,
        last_seen_ms: row.get(4)?,
        changed_ms: row.get(5)?,
    })
}

const ROTATION_COLUMNS: &str = "station, old_key_id, new_key_id, from_seq, statement, accepted_ms";

fn rotation_row(row: &Row<'_>) -> Result<RotationRecord> {
    let key_id =
        |i: usize| -> Result<KeyId> { KeyId::try_from(row.get::<_, String>(i)?).map_err(corrupt) };
    Ok(RotationRecord {
        station: station_code(&row.get::<_, String>(0)?)?,
        old_key: key_id(1)?,
        new_key: key_id(2)?,
        from_seq: seq_from_sql(row.get(3)?)?,
        statement: row.get(4)?,
        accepted_ms: row.get(5)?,
    })
}

fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::Corrupt(what.to_string())
}

fn station_code(text: &str) -> Result<StationCode> {
    text.parse()
        .map_err(|e| corrupt(format_args!("station code {text:?}: {e}")))
}

fn seq_to_sql(seq: u64) -> Result<i64> {
    i64::try_from(seq).map_err(|_| Error::BadRequest(format!("seq {seq} is out of range")))
}

fn seq_from_sql(seq: i64) -> Result<u64> {
    u64::try_from(seq).map_err(|_| corrupt(format_args!("negative seq {seq}")))
}

fn status_name(status: IntakeStatus) -> &'static str {
    match status {
        IntakeStatus::Deposited => "deposited",
        IntakeStatus::Collected => "collected",
        IntakeStatus::Held => "held",
        IntakeStatus::Released => "released",
        IntakeStatus::Forwarded => "forwarded",
        IntakeStatus::Acknowledged => "acknowledged",
    }
}

fn status_from(name: &str) -> Result<IntakeStatus> {
    Ok(match name {
        "deposited" => IntakeStatus::Deposited,
        "collected" => IntakeStatus::Collected,
        "held" => IntakeStatus::Held,
        "released" => IntakeStatus::Released,
        "forwarded" => IntakeStatus::Forwarded,
        "acknowledged" => IntakeStatus::Acknowledged,
        other => return Err(corrupt(format_args!("intake status {other:?}"))),
    })
}

fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Urn => "urn",
        Channel::Counter => "counter",
        Channel::Post => "post",
    }
}

fn channel_from(name: &str) -> Result<Channel> {
    Ok(match name {
        "urn" => Channel::Urn,
        "counter" => Channel::Counter,
        "post" => Channel::Post,
        other => return Err(corrupt(format_args!("channel {other:?}"))),
    })
}

fn device_from(name: &str) -> Result<Device> {
    Ok(match name {
        "scanner" => Device::Scanner,
        "printer" => Device::Printer,
        "door" => Device::Door,
        "slot" => Device::Slot,
        "registry" => Device::Registry,
        "storage" => Device::Storage,
        "urn" => Device::Urn,
        other => return Err(corrupt(format_args!("device {other:?}"))),
    })
}

fn alert_kind_name(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::Fault => "fault",
        AlertKind::Alarm => "alarm",
    }
}

fn alert_kind_from(name: &str) -> Result<AlertKind> {
    Ok(match name {
        "fault" => AlertKind::Fault,
        "alarm" => AlertKind::Alarm,
        other => return Err(corrupt(format_args!("alert kind {other:?}"))),
    })
}

/// Reads `(station, received_ms, seq, canonical, key_id, signature)`.
fn stored_event(row: &Row<'_>) -> Result<StoredEvent> {
    Ok(StoredEvent {
        station: station_code(&row.get::<_, String>(0)?)?,
        received_ms: row.get(1)?,
        signed: signed_event(row, 2)?,
    })
}

/// Reads `(seq, canonical, key_id, signature)` starting at column `at`.
fn signed_event(row: &Row<'_>, at: usize) -> Result<SignedEvent> {
    let seq = seq_from_sql(row.get(at)?)?;
    let canonical: Vec<u8> = row.get(at + 1)?;
    let key_id: String = row.get(at + 2)?;
    let signature: Vec<u8> = row.get(at + 3)?;
    Ok(SignedEvent {
        seq,
        canonical,
        key_id: KeyId::try_from(key_id).map_err(corrupt)?,
        signature: signature
            .try_into()
            .map_err(|_| corrupt("signature is not 64 bytes"))?,
    })
}

const INTAKE_COLUMNS: &str =
    "id, received_ms, trusted, channel, category, department, reference, status, updated_ms";

fn intake_row(row: &Row<'_>) -> Result<IntakeRecord> {
    let id: String = row.get(0)?;
    Ok(IntakeRecord {
        id: id
            .parse()
            .map_err(|e| corrupt(format_args!("intake id {id:?}: {e}")))?,
        received_at: Timestamp {
            unix_ms: row.get(1)?,
            trusted: row.get(2)?,
        },
        channel: channel_from(&row.get::<_, String>(3)?)?,
        category: row.get(4)?,
        department: row.get(5)?,
        reference: row.get(6)?,
        status: status_from(&row.get::<_, String>(7)?)?,
        updated_ms: row.get(8)?,
    })
}

fn station_row(row: &Row<'_>) -> Result<StationRecord> {
    let code: String = row.get(0)?;
    Ok(StationRecord {
        code: station_code(&code)?,
        name: row.get(1)?,
        key: decode_key(row.get(2)?)?,
        enrolled_ms: row.get(3)?,
    })
}

fn device_alert_row(row: &Row<'_>) -> Result<DeviceAlertRecord> {
    Ok(DeviceAlertRecord {
        station: station_code(&row.get::<_, String>(0)?)?,
        station_name: row.get(1)?,
        device: device_from(&row.get::<_, String>(2)?)?,
        what: row.get(3)?,
        kind: alert_kind_from(&row.get::<_, String>(4)?)?,
        seq: seq_from_sql(row.get(5)?)?,
        since: Timestamp {
            unix_ms: row.get(6)?,
            trusted: row.get(7)?,
        },
    })
}

fn alarm_row(row: &Row<'_>) -> Result<Alarm> {
    Ok(Alarm {
        id: row.get(0)?,
        kind: row.get(1)?,
        station: row.get(2)?,
        seq: row
            .get::<_, Option<i64>>(3)?
            .map(seq_from_sql)
            .transpose()?,
        message: row.get(4)?,
        raised_ms: row.get(5)?,
    })
}

const CLERK_COLUMNS: &str = "username, password_hash, role, department, disabled, created_ms";

fn clerk_row(row: &Row<'_>) -> Result<ClerkRecord> {
    let role = match (
        row.get::<_, String>(2)?.as_str(),
        row.get::<_, Option<String>>(3)?,
    ) {
        ("clerk", Some(department)) => ClerkRole::Clerk { department },
        ("admin", None) => ClerkRole::Admin,
        (other, _) => return Err(corrupt(format_args!("clerk role {other:?}"))),
    };
    Ok(ClerkRecord {
        username: row.get(0)?,
        password_hash: row.get(1)?,
        role,
        disabled: row.get(4)?,
        created_ms: row.get(5)?,
    })
}

/// Every stored event about intake `id`, by recorded time, station, seq.
fn intake_events_on(conn: &Connection, id: &str) -> Result<Vec<StoredEvent>> {
    // Sorted here, not by ORDER BY: the bundled SQLite marks a cached statement that sorts rows
    // found by a bound parameter to be prepared again whenever its bindings are cleared, which
    // rusqlite's cache does after every use; ingest reads each touched intake's events, so that
    // parse was a tenth of the registry's CPU under load.
    let mut stmt = conn.prepare_cached(
        "SELECT station, received_ms, seq, canonical, key_id, signature, recorded_ms
         FROM events WHERE intake = ?1",
    )?;
    let mut found = collect(stmt.query(params![id])?, |r| {
        Ok((r.get::<_, i64>(6)?, stored_event(r)?))
    })?;
    found.sort_by_key(|(recorded_ms, e)| (*recorded_ms, e.station, e.signed.seq));
    Ok(found.into_iter().map(|(_, e)| e).collect())
}

/// Intake `id`'s row.
fn intake_on(conn: &Connection, id: &str) -> Result<Option<IntakeRecord>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {INTAKE_COLUMNS} FROM intakes WHERE id = ?1"
    ))?;
    let rows = stmt.query(params![id])?;
    Ok(collect(rows, intake_row)?.into_iter().next())
}

fn failures_from_sql(failures: i64) -> u32 {
    u32::try_from(failures.max(0)).unwrap_or(u32::MAX)
}

/// Collects mapped rows, keeping our error type (row mappers may fail on corrupt data).
fn collect<T>(
    mut rows: rusqlite::Rows<'_>,
    mut f: impl FnMut(&Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(f(row)?);
    }
    Ok(out)
}

impl RegisterStore for SqliteStore {
    fn station(&self, code: StationCode) -> Result<Option<StationRecord>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT code, name, public_key, enrolled_ms FROM stations WHERE code = ?1",
        )?;
        let rows = stmt.query(params![code.as_str()])?;
        Ok(collect(rows, station_row)?.into_iter().next())
    }

    fn insert_station(&self, station: &StationRecord) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO stations (code, name, public_key, enrolled_ms) VALUES (?1, ?2, ?3, ?4)",
            params![
                station.code.as_str(),
                station.name,
                station.key.as_bytes().as_slice(),
                station.enrolled_ms
            ],
        )?;
        // Enrolled by code and name, but trusted only once an admin approves the key.
        tx.execute(
            "INSERT INTO station_keys (key_id, station, public_key, state, first_seen_ms,
                                       last_seen_ms, changed_ms)
             VALUES (?1, ?2, ?3, 'pending', ?4, ?4, ?4)
             ON CONFLICT (key_id) DO NOTHING",
            params![
                KeyId::of(&station.key).to_string(),
                station.code.as_str(),
                station.key.as_bytes().as_slice(),
                station.enrolled_ms
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn stations(&self) -> Result<Vec<StationRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT code, name, public_key, enrolled_ms FROM stations ORDER BY code",
        )?;
        collect(stmt.query([])?, station_row)
    }

    fn tip(&self, code: StationCode) -> Result<ChainTip> {
        let conn = self.reader()?;
        let found: Option<(i64, Vec<u8>)> = conn
            .query_row(
                "SELECT seq, hash FROM events WHERE station = ?1 ORDER BY seq DESC LIMIT 1",
                params![code.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match found {
            None => Ok(ChainTip::GENESIS),
            Some((seq, hash)) => Ok(ChainTip {
                seq: seq_from_sql(seq)?,
                hash: Hash(
                    hash.try_into()
                        .map_err(|_| corrupt("hash is not 32 bytes"))?,
                ),
            }),
        }
    }

    fn events_between(&self, code: StationCode, from: u64, to: u64) -> Result<Vec<SignedEvent>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT seq, canonical, key_id, signature FROM events
             WHERE station = ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY seq",
        )?;
        let rows = stmt.query(params![code.as_str(), seq_to_sql(from)?, seq_to_sql(to)?])?;
        collect(rows, |r| signed_event(r, 0))
    }

    fn events_of_kind(&self, kind: &str) -> Result<Vec<StoredEvent>> {
        if !INDEXED_KINDS.contains(&kind) {
            // Listing any other kind would read the whole register.
            return Err(Error::Task(format!(
                "events of kind {kind:?} are not indexed"
            )));
        }
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(EVENTS_OF_KIND)?;
        let rows = stmt.query(params![kind])?;
        collect(rows, stored_event)
    }

    fn intake_events(&self, id: IntakeId) -> Result<Vec<StoredEvent>> {
        let conn = self.conn()?;
        intake_events_on(&conn, &id.to_string())
    }

    fn intake_states(&self, ids: &[IntakeId]) -> Result<Vec<IntakeState>> {
        let mut conn = self.conn()?;
        // One read transaction for the whole batch: each statement on its own began and ended
        // one, taking and releasing the WAL's read lock every time, and that made these reads
        // a third of the writer's time under 500 stations.
        let tx = conn.transaction()?;
        let mut states = Vec::with_capacity(ids.len());
        for id in ids {
            let id = id.to_string();
            states.push(IntakeState {
                events: intake_events_on(&tx, &id)?,
                record: intake_on(&tx, &id)?,
            });
        }
        tx.commit()?;
        Ok(states)
    }

    fn append(
        &self,
        appends: &[StationAppend<'_>],
        intakes: &[IntakeRecord],
        received_ms: i64,
    ) -> Result<()> {
        let mut conn = self.conn()?;
        // Said again here, whatever an earlier caller left on the connection (see
        // `remember_nonce`): this is the commit a station is told about.
        conn.pragma_update(None, "synchronous", "FULL")?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO events (station, seq, canonical, key_id, signature, hash, kind,
                                     intake, recorded_ms, received_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            let mut journal = tx.prepare_cached(outbox::JOURNAL_INSERT)?;
            for e in appends
                .iter()
                .flat_map(|a| a.events.iter().map(move |e| (a.station, e)))
            {
                let (station, e) = e;
                insert.execute(params![
                    station.as_str(),
                    seq_to_sql(e.signed.seq)?,
                    e.signed.canonical,
                    e.signed.key_id.to_string(),
                    e.signed.signature.as_slice(),
                    e.hash.0.as_slice(),
                    e.kind,
                    e.intake.map(|i| i.to_string()),
                    e.recorded_ms,
                    received_ms,
                ])?;
                outbox::journal(&mut journal, station.as_str(), e)?;
            }
            let mut upsert = tx.prepare_cached(
                "INSERT INTO intakes (id, station, received_ms, trusted, channel, category,
                                      department, reference, status, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (id) DO UPDATE SET
                    received_ms = excluded.received_ms, trusted = excluded.trusted,
                    channel = excluded.channel, category = excluded.category,
                    department = excluded.department, reference = excluded.reference,
                    status = excluded.status, updated_ms = excluded.updated_ms",
            )?;
            // Expired nonces go with the first new one, as `remember_nonce` does: bounded,
            // without a sweep of its own.
            let forget_before = appends
                .iter()
                .filter_map(|a| a.nonce.map(|n| n.forget_before_ms))
                .min();
            if let Some(before) = forget_before {
                tx.prepare_cached("DELETE FROM request_nonces WHERE seen_ms < ?1")?
                    .execute(params![before])?;
            }
            // A plain INSERT: a nonce already stored fails the whole commit rather than let a
            // replay's events in. The registry keeps that from happening before it gets here.
            let mut nonce = tx.prepare_cached(
                "INSERT INTO request_nonces (key_id, nonce, seen_ms) VALUES (?1, ?2, ?3)",
            )?;
            for n in appends.iter().filter_map(|a| a.nonce) {
                nonce.execute(params![n.key.to_string(), n.nonce, n.seen_ms])?;
            }
            for i in intakes {
                upsert.execute(params![
                    i.id.to_string(),
                    i.id.station().as_str(),
                    i.received_at.unix_ms,
                    i.received_at.trusted,
                    channel_name(i.channel),
                    i.category,
                    i.department,
                    i.reference,
                    status_name(i.status),
                    i.updated_ms,
                ])?;
            }
            let mut open = tx.prepare_cached(
                "INSERT INTO device_alerts (station, device, what, kind, seq, since_ms, since_trusted)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (station, device, what) DO UPDATE SET
                    kind = excluded.kind, seq = excluded.seq,
                    since_ms = excluded.since_ms, since_trusted = excluded.since_trusted",
            )?;
            let mut close = tx.prepare_cached(
                "DELETE FROM device_alerts
                 WHERE station = ?1 AND device = ?2 AND what = ?3 AND kind = ?4",
            )?;
            for (station, change) in appends
                .iter()
                .flat_map(|a| a.alerts.iter().map(move |c| (a.station, c)))
            {
                match change {
                    AlertChange::Open {
                        device,
                        what,
                        kind,
                        since,
                        seq,
                    } => {
                        open.execute(params![
                            station.as_str(),
                            device_name(*device),
                            what,
                            alert_kind_name(*kind),
                            seq_to_sql(*seq)?,
                            since.unix_ms,
                            since.trusted,
                        ])?;
                    }
                    AlertChange::Close { device, what, kind } => {
                        close.execute(params![
                            station.as_str(),
                            device_name(*device),
                            what,
                            alert_kind_name(*kind),
                        ])?;
                    }
                }
            }
        }
        tx.commit()?;
        self.checkpointer.committed();
        Ok(())
    }

    fn record_fork(&self, evidence: &ForkEvidence, message: &str) -> Result<Option<Alarm>> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let seq = seq_to_sql(evidence.signed.seq)?;
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO forks (station, seq, canonical, key_id, signature, seen_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                evidence.station.as_str(),
                seq,
                evidence.signed.canonical,
                evidence.signed.key_id.to_string(),
                evidence.signed.signature.as_slice(),
                evidence.seen_ms,
            ],
        )?;
        if inserted == 0 {
            return Ok(None);
        }
        tx.execute(
            "INSERT INTO alarms (kind, station, seq, message, raised_ms) VALUES ('fork', ?1, ?2, ?3, ?4)",
            params![evidence.station.as_str(), seq, message, evidence.seen_ms],
        )?;
        let alarm = Alarm {
            id: tx.last_insert_rowid(),
            kind: "fork".into(),
            station: evidence.station.as_str().to_owned(),
            seq: Some(evidence.signed.seq),
            message: message.to_owned(),
            raised_ms: evidence.seen_ms,
        };
        tx.commit()?;
        Ok(Some(alarm))
    }

    fn intake(&self, id: IntakeId) -> Result<Option<IntakeRecord>> {
        let conn = self.conn()?;
        intake_on(&conn, &id.to_string())
    }

    fn intakes(&self, department: Option<&str>, limit: usize) -> Result<Vec<IntakeRecord>> {
        let conn = self.conn()?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {INTAKE_COLUMNS} FROM intakes
             WHERE ?1 IS NULL OR department = ?1
             ORDER BY received_ms DESC, id DESC LIMIT ?2"
        ))?;
        collect(stmt.query(params![department, limit])?, intake_row)
    }

    fn alarms(&self) -> Result<Vec<Alarm>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT id, kind, station, seq, message, raised_ms FROM alarms ORDER BY id DESC",
        )?;
        collect(stmt.query([])?, alarm_row)
    }

    fn device_alerts(&self) -> Result<Vec<DeviceAlertRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT a.station, s.name, a.device, a.what, a.kind, a.seq, a.since_ms, a.since_trusted
             FROM device_alerts a JOIN stations s ON s.code = a.station
             ORDER BY a.since_ms, a.station, a.seq",
        )?;
        collect(stmt.query([])?, device_alert_row)
    }

    fn station_key(&self, id: KeyId) -> Result<Option<StationKeyRecord>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM station_keys WHERE key_id = ?1"
        ))?;
        let rows = stmt.query(params![id.to_string()])?;
        Ok(collect(rows, key_row)?.into_iter().next())
    }

    fn station_keys(&self) -> Result<Vec<StationKeyRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM station_keys ORDER BY station, first_seen_ms, key_id"
        ))?;
        collect(stmt.query([])?, key_row)
    }

    fn station_keys_of(&self, station: StationCode) -> Result<Vec<StationKeyRecord>> {
        let conn = self.reader()?;
        // Sorted here rather than by ORDER BY, for the reason given in `intake_events`.
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {KEY_COLUMNS}, key_id FROM station_keys WHERE station = ?1"
        ))?;
        let mut keys = collect(stmt.query(params![station.as_str()])?, |r| {
            Ok((r.get::<_, String>(6)?, key_row(r)?))
        })?;
        keys.sort_by(|(a_id, a), (b_id, b)| (a.first_seen_ms, a_id).cmp(&(b.first_seen_ms, b_id)));
        Ok(keys.into_iter().map(|(_, k)| k).collect())
    }

    fn note_key(
        &self,
        station: StationCode,
        key: &VerifyingKey,
        now_ms: i64,
        max_pending: usize,
    ) -> Result<bool> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id = KeyId::of(key).to_string();
        let seen = tx.execute(
            "UPDATE station_keys SET last_seen_ms = max(last_seen_ms, ?2) WHERE key_id = ?1",
            params![id, now_ms],
        )?;
        if seen == 0 {
            let pending: i64 = tx.query_row(
                "SELECT count(*) FROM station_keys WHERE state = 'pending'",
                [],
                |r| r.get(0),
            )?;
            if usize::try_from(pending).unwrap_or(usize::MAX) >= max_pending {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO station_keys (key_id, station, public_key, state, first_seen_ms,
                                           last_seen_ms, changed_ms)
                 VALUES (?1, ?2, ?3, 'pending', ?4, ?4, ?4)",
                params![id, station.as_str(), key.as_bytes().as_slice(), now_ms],
            )?;
        }
        tx.commit()?;
        Ok(true)
    }

    fn approve_key(&self, id: KeyId, name: &str, now_ms: i64) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (station, key): (String, Vec<u8>) = tx.query_row(
            "SELECT station, public_key FROM station_keys WHERE key_id = ?1",
            params![id.to_string()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        tx.execute(
            "UPDATE station_keys SET state = 'approved', changed_ms = ?2 WHERE key_id = ?1",
            params![id.to_string(), now_ms],
        )?;
        tx.execute(
            "INSERT INTO stations (code, name, public_key, enrolled_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (code) DO UPDATE SET public_key = excluded.public_key",
            params![station, name, key, now_ms],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn revoke_station(&self, station: StationCode, now_ms: i64) -> Result<usize> {
        Ok(self.conn()?.execute(
            "UPDATE station_keys SET state = 'revoked', changed_ms = ?2
             WHERE station = ?1 AND state <> 'revoked'",
            params![station.as_str(), now_ms],
        )?)
    }

    fn rotation_from(&self, old_key: KeyId) -> Result<Option<RotationRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {ROTATION_COLUMNS} FROM key_rotations WHERE old_key_id = ?1"
        ))?;
        let rows = stmt.query(params![old_key.to_string()])?;
        Ok(collect(rows, rotation_row)?.into_iter().next())
    }

    fn rotations(&self, station: StationCode) -> Result<Vec<RotationRecord>> {
        let conn = self.reader()?;
        // Sorted here rather than by ORDER BY, for the reason given in `intake_events`.
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {ROTATION_COLUMNS} FROM key_rotations WHERE station = ?1"
        ))?;
        let mut rotations = collect(stmt.query(params![station.as_str()])?, rotation_row)?;
        rotations.sort_by_key(|r| r.from_seq);
        Ok(rotations)
    }

    fn rotate_key(&self, rotation: &RotationRecord, new_key: &VerifyingKey) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = rotation.accepted_ms;
        tx.execute(
            "INSERT INTO key_rotations (old_key_id, station, new_key_id, from_seq, statement, accepted_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                rotation.old_key.to_string(),
                rotation.station.as_str(),
                rotation.new_key.to_string(),
                seq_to_sql(rotation.from_seq)?,
                rotation.statement,
                now
            ],
        )?;
        tx.execute(
            "UPDATE station_keys SET state = 'retired', changed_ms = ?2 WHERE key_id = ?1",
            params![rotation.old_key.to_string(), now],
        )?;
        tx.execute(
            "INSERT INTO station_keys (key_id, station, public_key, state, first_seen_ms,
                                       last_seen_ms, changed_ms)
             VALUES (?1, ?2, ?3, 'approved', ?4, ?4, ?4)
             ON CONFLICT (key_id) DO UPDATE SET state = 'approved', changed_ms = excluded.changed_ms",
            params![
                rotation.new_key.to_string(),
                rotation.station.as_str(),
                new_key.as_bytes().as_slice(),
                now
            ],
        )?;
        tx.execute(
            "UPDATE stations SET public_key = ?2 WHERE code = ?1",
            params![rotation.station.as_str(), new_key.as_bytes().as_slice()],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn remember_nonce(
        &self,
        key: KeyId,
        nonce: &str,
        now_ms: i64,
        forget_before_ms: i64,
    ) -> Result<bool> {
        let mut conn = self.conn()?;
        // Every request writes a nonce, and a commit of its own waiting for the disk doubled
        // the disk waits of a push. Without that wait the row is still in the WAL before the
        // request goes on (so a replay is refused from then on, by this one connection), and it
        // reaches the disk with the next durable commit: the one that stores what the request
        // brought, before the request is answered. Only a request that changed nothing can have
        // its nonce lost to a power cut, and replaying it changes nothing either.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let remembered = (|| -> Result<bool> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "DELETE FROM request_nonces WHERE seen_ms < ?1",
                params![forget_before_ms],
            )?;
            let fresh = tx.execute(
                "INSERT OR IGNORE INTO request_nonces (key_id, nonce, seen_ms) VALUES (?1, ?2, ?3)",
                params![key.to_string(), nonce, now_ms],
            )?;
            tx.commit()?;
            Ok(fresh == 1)
        })();
        conn.pragma_update(None, "synchronous", "FULL")?;
        remembered
    }

    fn nonce_seen(&self, key: KeyId, nonce: &str, since_ms: i64) -> Result<bool> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT 1 FROM request_nonces WHERE key_id = ?1 AND nonce = ?2 AND seen_ms >= ?3",
        )?;
        Ok(stmt.exists(params![key.to_string(), nonce, since_ms])?)
    }
    fn search_intakes(&self, filter: &IntakeFilter, limit: usize) -> Result<Vec<IntakeRecord>> {
        let conn = self.conn()?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {INTAKE_COLUMNS} FROM intakes
             WHERE (?1 IS NULL OR department = ?1)
               AND (?2 IS NULL OR id = ?2)
               AND (?3 IS NULL OR instr(lower(coalesce(reference, '')), lower(?3)) > 0)
               AND (?4 IS NULL OR received_ms >= ?4)
               AND (?5 IS NULL OR received_ms < ?5)
               AND (?6 IS NULL OR station = ?6)
               AND (?7 IS NULL OR status = ?7)
             ORDER BY received_ms DESC, id DESC LIMIT ?8"
        ))?;
        let rows = stmt.query(params![
            filter.department,
            filter.id.map(|i| i.to_string()),
            filter.reference,
            filter.received_from_ms,
            filter.received_before_ms,
            filter.station.as_ref().map(StationCode::as_str),
            filter.status.map(status_name),
            limit
        ])?;
        collect(rows, intake_row)
    }

    fn insert_clerk(&self, clerk: &ClerkRecord) -> Result<bool> {
        let inserted = self.conn()?.execute(
            "INSERT INTO clerks (username, password_hash, role, department, disabled, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (username) DO NOTHING",
            params![
                clerk.username,
                clerk.password_hash,
                clerk.role.name(),
                clerk.role.department(),
                clerk.disabled,
                clerk.created_ms
            ],
        )?;
        Ok(inserted == 1)
    }

    fn clerk(&self, username: &str) -> Result<Option<ClerkRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {CLERK_COLUMNS} FROM clerks WHERE username = ?1"
        ))?;
        Ok(collect(stmt.query(params![username])?, clerk_row)?
            .into_iter()
            .next())
    }

    fn clerks(&self) -> Result<Vec<ClerkRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {CLERK_COLUMNS} FROM clerks ORDER BY username"
        ))?;
        collect(stmt.query([])?, clerk_row)
    }

    fn disable_clerk(&self, username: &str) -> Result<bool> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found = tx.execute(
            "UPDATE clerks SET disabled = 1 WHERE username = ?1",
            params![username],
        )?;
        tx.execute(
            "DELETE FROM clerk_sessions WHERE username = ?1",
            params![username],
        )?;
        tx.commit()?;
        Ok(found == 1)
    }

    fn login_failures(&self, username: &str) -> Result<LoginFailures> {
        let conn = self.conn()?;
        let found = conn
            .query_row(
                "SELECT failures, locked_until_ms FROM login_failures WHERE username = ?1",
                params![username],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
            )
            .optional()?;
        Ok(
            found.map_or_else(LoginFailures::default, |(f, until)| LoginFailures {
                failures: failures_from_sql(f),
                locked_until_ms: until,
            }),
        )
    }

    fn record_login_failure(
        &self,
        username: &str,
        now_ms: i64,
        max_failures: u32,
        window_ms: i64,
        lock_ms: i64,
    ) -> Result<LoginFailures> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let forget_before = now_ms.saturating_sub(window_ms);
        // Guessed usernames must not pile up: rows with nothing recent and no lock go.
        tx.execute(
            "DELETE FROM login_failures WHERE last_ms < ?1 AND locked_until_ms < ?2",
            params![forget_before, now_ms],
        )?;
        let before: i64 = tx
            .query_row(
                "SELECT failures FROM login_failures WHERE username = ?1",
                params![username],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        let failures = failures_from_sql(before).saturating_add(1);
        let (failures, locked_until_ms) = if failures >= max_failures {
            (0, now_ms.saturating_add(lock_ms))
        } else {
            (failures, 0)
        };
        tx.execute(
            "INSERT INTO login_failures (username, failures, last_ms, locked_until_ms)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (username) DO UPDATE SET failures = excluded.failures,
                last_ms = excluded.last_ms,
                locked_until_ms = max(login_failures.locked_until_ms, excluded.locked_until_ms)",
            params![username, i64::from(failures), now_ms, locked_until_ms],
        )?;
        let locked_until_ms: i64 = tx.query_row(
            "SELECT locked_until_ms FROM login_failures WHERE username = ?1",
            params![username],
            |r| r.get(0),
        )?;
        tx.commit()?;
        Ok(LoginFailures {
            failures,
            locked_until_ms,
        })
    }

    fn clear_login_failures(&self, username: &str) -> Result<()> {
        self.conn()?.execute(
            "DELETE FROM login_failures WHERE username = ?1",
            params![username],
        )?;
        Ok(())
    }

    fn insert_session(
        &self,
        token_hash: &[u8; 32],
        session: &SessionRecord,
        now_ms: i64,
    ) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "DELETE FROM clerk_sessions WHERE expires_ms <= ?1",
            params![now_ms],
        )?;
        tx.execute(
            "INSERT INTO clerk_sessions (token_hash, username, created_ms, expires_ms)
             VALUES (?1, ?2, ?3, ?4)",
            params![
                token_hash.as_slice(),
                session.username,
                session.created_ms,
                session.expires_ms
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn session(
        &self,
        token_hash: &[u8; 32],
        now_ms: i64,
    ) -> Result<Option<(SessionRecord, ClerkRecord)>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT c.username, c.password_hash, c.role, c.department, c.disabled, c.created_ms,
                    s.created_ms, s.expires_ms
             FROM clerk_sessions s JOIN clerks c ON c.username = s.username
             WHERE s.token_hash = ?1 AND s.expires_ms > ?2 AND c.disabled = 0",
        )?;
        let rows = stmt.query(params![token_hash.as_slice(), now_ms])?;
        Ok(collect(rows, |row| {
            let clerk = clerk_row(row)?;
            Ok((
                SessionRecord {
                    username: clerk.username.clone(),
                    created_ms: row.get(6)?,
                    expires_ms: row.get(7)?,
                },
                clerk,
            ))
        })?
        .into_iter()
        .next())
    }

    fn delete_session(&self, token_hash: &[u8; 32]) -> Result<()> {
        self.conn()?.execute(
            "DELETE FROM clerk_sessions WHERE token_hash = ?1",
            params![token_hash.as_slice()],
        )?;
        Ok(())
    }

    fn probe_write(&self) -> Result<()> {
        // A read would pass under WAL whoever holds the write lock; IMMEDIATE must get it (within
        // the busy timeout), as a push's commit must, and writes nothing, so it costs no fsync.
        let conn = self.conn()?;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        conn.execute_batch("ROLLBACK")?;
        Ok(())
    }
}

/// Station reports: one row per station, the latest replacing the one before.
impl crate::station_report::ReportStore for SqliteStore {
    fn record_report(&self, report: &crate::station_report::StoredReport) -> Result<()> {
        self.conn()?
            .prepare_cached(
                "INSERT INTO station_reports (station, log_tip, received_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (station) DO UPDATE SET
                    log_tip = excluded.log_tip, received_ms = excluded.received_ms",
            )?
            .execute(params![
                report.station.as_str(),
                seq_to_sql(report.log_tip)?,
                report.received_ms
            ])?;
        Ok(())
    }

    fn station_reports(&self) -> Result<Vec<crate::station_report::StoredReport>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT station, log_tip, received_ms FROM station_reports ORDER BY station",
        )?;
        collect(stmt.query([])?, |r| {
            Ok(crate::station_report::StoredReport {
                station: station_code(&r.get::<_, String>(0)?)?,
                log_tip: seq_from_sql(r.get(1)?)?,
                received_ms: r.get(2)?,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store::{NewEvent, RequestNonce};

    /// Deposits and the like are not in `events_by_kind`, and the one query by kind still reads
    /// through it rather than the whole table.
    #[test]
    fn only_the_kinds_listed_by_kind_are_indexed_by_kind() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("register.db")).unwrap();
        let conn = store.conn().unwrap();
        let index: String = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'events_by_kind'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(index.ends_with(indexed_kinds!()), "{index}");
        let plan = query_plan(&conn, EVENTS_OF_KIND, ["urn_collected"]);
        assert!(
            plan.iter()
                .any(|step| step.contains("USING INDEX events_by_kind")),
            "{plan:?}"
        );
        drop(conn);
        assert!(store.events_of_kind("deposit").is_err());
        assert!(store.events_of_kind("urn_collected").unwrap().is_empty());
        assert!(INDEXED_KINDS.contains(&crate::projection::URN_COLLECTED));
        for kind in INDEXED_KINDS {
            assert!(indexed_kinds!().contains(&format!("'{kind}'")), "{kind}");
        }
    }

    /// The plan the bundled SQLite makes for `sql` with `params`, one line per step.
    pub(super) fn query_plan(
        conn: &Connection,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Vec<String> {
        conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map(params, |r| r.get(3))
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap()
    }

    /// A new register with station GW7K enrolled: the directory (kept while the test runs), the
    /// store, the code and the key.
    pub(super) fn store_with_one_station() -> (
        tempfile::TempDir,
        SqliteStore,
        StationCode,
        records::VerifyingKey,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("register.db")).unwrap();
        let code: StationCode = "GW7K".parse().unwrap();
        let key = records::SigningKey::from_bytes(&[1; 32]).verifying_key();
        store
            .insert_station(&StationRecord {
                code,
                name: "Urna".into(),
                key,
                enrolled_ms: 1,
            })
            .unwrap();
        (dir, store, code, key)
    }

    /// Stores `events` of station `code`, alone in one commit.
    pub(super) fn append_events(store: &SqliteStore, code: StationCode, events: &[NewEvent]) {
        store
            .append(
                &[StationAppend {
                    station: code,
                    events,
                    alerts: &[],
                    nonce: None,
                }],
                &[],
                1_000,
            )
            .unwrap();
    }

    /// An event to store (its signature is not checked by the store).
    pub(super) fn test_event(
        key: &records::VerifyingKey,
        seq: u64,
        kind: &'static str,
        intake: Option<IntakeId>,
        recorded_ms: i64,
    ) -> NewEvent {
        NewEvent {
            signed: SignedEvent {
                seq,
                canonical: seq.to_le_bytes().to_vec(),
                key_id: KeyId::of(key),
                signature: [0; 64],
            },
            hash: Hash([u8::try_from(seq).unwrap(); 32]),
            kind,
            intake,
            recorded_ms,
        }
    }

    /// The batch read gives, intake by intake, what the single reads give, in the same order.
    #[test]
    fn intake_states_read_each_intake_as_its_own_reads_do() {
        let (_dir, store, code, key) = store_with_one_station();
        let ids: Vec<IntakeId> = (1..=3).map(|n| IntakeId::new(code, n).unwrap()).collect();
        let event = |seq: u64, intake: IntakeId, recorded_ms: i64| {
            test_event(&key, seq, "drop_seen", Some(intake), recorded_ms)
        };
        // The first intake's events stored out of their recorded order; the third has none.
        let events = [
            event(1, ids[0], 50),
            event(2, ids[1], 10),
            event(3, ids[0], 20),
        ];
        append_events(&store, code, &events);
        let states = store.intake_states(&ids).unwrap();
        let one_by_one: Vec<IntakeState> = ids
            .iter()
            .map(|id| IntakeState {
                events: store.intake_events(*id).unwrap(),
                record: store.intake(*id).unwrap(),
            })
            .collect();
        assert_eq!(states, one_by_one);
        let seqs: Vec<Vec<u64>> = states
            .iter()
            .map(|s| s.events.iter().map(|e| e.signed.seq).collect())
            .collect();
        assert_eq!(seqs, [vec![3, 1], vec![2], vec![]]);
    }

    fn synchronous(store: &SqliteStore) -> i64 {
        store
            .conn()
            .unwrap()
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap()
    }

    /// A nonce is written without waiting for the disk; everything after it on the connection,
    /// the commits stations are told about above all, must wait again (2 is FULL).
    #[test]
    fn the_connection_is_durable_again_after_a_nonce() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("register.db")).unwrap();
        assert_eq!(synchronous(&store), 2);
        let key = KeyId([1; 8]);
        assert!(store.remember_nonce(key, "n-1", 1_000, 0).unwrap());
        assert_eq!(synchronous(&store), 2);
        assert!(!store.remember_nonce(key, "n-1", 2_000, 0).unwrap());
        assert_eq!(synchronous(&store), 2);
    }

    /// A push's nonce goes in with its events; were a replay ever to get past the registry's
    /// check, its commit fails whole and stores none of its events.
    #[test]
    fn a_nonce_is_stored_with_the_events_and_a_stored_one_fails_the_commit() {
        let (_dir, store, code, key) = store_with_one_station();
        let event = |seq: u64| test_event(&key, seq, "door_opened", None, 1);
        let nonce = RequestNonce {
            key: KeyId::of(&key),
            nonce: "n-1".into(),
            seen_ms: 1_000,
            forget_before_ms: 0,
        };
        let push = |events: &[NewEvent]| {
            store.append(
                &[StationAppend {
                    station: code,
                    events,
                    alerts: &[],
                    nonce: Some(&nonce),
                }],
                &[],
                1_000,
            )
        };
        push(&[event(1)]).unwrap();
        assert!(store.nonce_seen(nonce.key, "n-1", 0).unwrap());
        assert!(!store.nonce_seen(nonce.key, "n-2", 0).unwrap());
        assert!(push(&[event(2)]).is_err());
        assert_eq!(store.tip(code).unwrap().seq, 1);
    }

    /// A bug that panics with the write connection in hand, a transaction open on it: the
    /// register goes on, without what that transaction had done.
    #[test]
    fn a_panic_with_the_connection_in_hand_leaves_it_usable_and_rolled_back() {
        let (_dir, store, code, key) = store_with_one_station();
        let panicked = std::thread::scope(|s| {
            s.spawn(|| {
                let conn = store.conn().unwrap();
                // Not through a `Transaction`, whose drop would roll back as the panic unwinds.
                conn.execute_batch("BEGIN IMMEDIATE; DELETE FROM stations;")
                    .unwrap();
                panic!("a bug while writing");
            })
            .join()
        });
        assert!(panicked.is_err());
        assert!(store.conn.is_poisoned());
        append_events(&store, code, &[test_event(&key, 1, "door_opened", None, 1)]);
        assert_eq!(store.tip(code).unwrap().seq, 1);
        assert!(store.station(code).unwrap().is_some());
        assert!(!store.conn.is_poisoned());
    }
}
