//! Retention of the register: `urna registry retention --dry-run | --apply`.
//!
//! The register of incoming correspondence is kept as long as the office's archival rules say
//! (its instrukcja kancelaryjna and the JRWA category of the register), not as long as a disk
//! allows; so nothing is ever removed on its own. Without `[retention]` in `registry.toml` the
//! register is kept forever and this refuses to run. With it, an admin removes, per station,
//! the oldest events whose whole intake (every event about it, from every station) lies before
//! the cut-off, with the intakes left without events and their notification deliveries. Each
//! station's last removed event stays as its anchor (seq and chain hash): what remains still
//! verifies, from the anchor on. What was removed is logged and recorded as counts, never content.

use std::path::Path;

use records::{ChainTip, ChainVerifier, Hash, KeyRing, SignedEvent, StationCode};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The schema this module keeps, appended to [`crate::sqlite::MIGRATIONS`]: each station's
/// anchor, and a row per applied retention run (counts only).
pub(crate) const MIGRATION: &str = r"
CREATE TABLE retention_anchors (
    station TEXT PRIMARY KEY REFERENCES stations(code),
    seq     INTEGER NOT NULL,
    hash    BLOB NOT NULL
);
CREATE TABLE retention_runs (
    id         INTEGER PRIMARY KEY,
    applied_ms INTEGER NOT NULL,
    cutoff_ms  INTEGER NOT NULL,
    events     INTEGER NOT NULL,
    intakes    INTEGER NOT NULL
);
";

/// A year, as archival periods count them, in milliseconds (365.25 days).
const YEAR_MS: i64 = 31_557_600_000;

/// `[retention]` in `registry.toml`. Absent: the register is kept forever.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Whole years an intake and its events stay in the register after it was received, as the
    /// office's archival rules set them for the register of incoming correspondence. Removal
    /// happens only when an admin runs `urna registry retention --apply`.
    pub register_keep_years: u32,
}

impl RetentionConfig {
    /// Checks the range, naming the key.
    pub fn validate(&self) -> Result<()> {
        if !(1..=200).contains(&self.register_keep_years) {
            return Err(Error::Config(format!(
                "retention.register_keep_years: {} is outside 1..=200",
                self.register_keep_years
            )));
        }
        Ok(())
    }

    /// Events recorded before this (ms) may go.
    pub fn cutoff_ms(&self, now_ms: i64) -> i64 {
        now_ms.saturating_sub(i64::from(self.register_keep_years) * YEAR_MS)
    }
}

/// What a retention run removes (or, dry, would remove) from one station's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StationCut {
    /// The station.
    pub station: String,
    /// Its events up to and including this seq go; it becomes the anchor.
    pub through: u64,
    /// How many events that is.
    pub events: u64,
}

/// The outcome of a run: counts only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Events recorded before this went (station clocks, ms).
    pub cutoff_ms: i64,
    /// Per station with anything to remove.
    pub stations: Vec<StationCut>,
    /// Events removed.
    pub events: u64,
    /// Intakes removed (their every event removed, received before the cut-off).
    pub intakes: u64,
    /// Whether anything was removed (`--apply`) or only counted (`--dry-run`).
    pub applied: bool,
}

/// Runs retention on the register at `path`: counts what `config` allows to go, and with `apply`
/// removes it in one transaction and verifies every station's remaining chain from its anchor.
/// Refuses without a config: the register's default is to keep everything.
pub fn run(
    path: &Path,
    config: Option<&RetentionConfig>,
    now_ms: i64,
    apply: bool,
) -> Result<Report> {
    let Some(config) = config else {
        return Err(Error::Config(
            "brak sekcji [retention] w registry.toml: rejestr jest przechowywany bez końca, nic \
             nie usunięto / no [retention] in registry.toml: the register is kept forever; \
             nothing removed"
                .into(),
        ));
    };
    config.validate()?;
    if !path.is_file() {
        return Err(Error::Config(format!(
            "{} does not exist: is data_dir the registry's data directory?",
            path.display()
        )));
    }
    // Opening the store migrates the file, so the tables this needs exist.
    drop(crate::sqlite::SqliteStore::open(path)?);
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let cutoff_ms = config.cutoff_ms(now_ms);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let stations = cuts(&tx, cutoff_ms)?;
    let events = stations.iter().map(|c| c.events).sum();
    let intakes = if apply {
        remove(&tx, &stations, cutoff_ms)?
    } else {
        removable_intakes(&tx, &stations, cutoff_ms)?
    };
    let report = Report {
        cutoff_ms,
        stations,
        events,
        intakes,
        applied: apply,
    };
    if apply {
        tx.execute(
            "INSERT INTO retention_runs(applied_ms, cutoff_ms, events, intakes)
             VALUES (?1, ?2, ?3, ?4)",
            params![now_ms, cutoff_ms, events as i64, intakes as i64],
        )?;
        tx.commit()?;
        verify_remaining(&conn)?;
        tracing::info!(
            cutoff_ms,
            events,
            intakes,
            stations = report.stations.len(),
            "retention: removed from the register"
        );
    }
    Ok(report)
}

/// Per station, the prefix of its chain that may go: events recorded before the cut-off whose
/// intake (if any) was received before it and has no event at or after it, never the station's
/// last event (ingest continues from it).
fn cuts(conn: &Connection, cutoff_ms: i64) -> Result<Vec<StationCut>> {
    let stations = stations_with_events(conn)?;
    let mut out = Vec::new();
    for station in stations {
        let (first, last): (i64, i64) = conn.query_row(
            "SELECT MIN(seq), MAX(seq) FROM events WHERE station = ?1",
            [&station],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let needed: Option<i64> = conn
            .query_row(
                "SELECT MIN(seq) FROM events e WHERE station = ?1 AND (
                   recorded_ms >= ?2
                   OR (intake IS NOT NULL AND (
                         EXISTS (SELECT 1 FROM events o WHERE o.intake = e.intake
                                 AND o.recorded_ms >= ?2)
                      OR EXISTS (SELECT 1 FROM intakes i WHERE i.id = e.intake
                                 AND i.received_ms >= ?2))))",
                params![station, cutoff_ms],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        let through = needed.unwrap_or(last + 1).min(last) - 1;
        if through >= first {
            out.push(StationCut {
                events: (through - first + 1) as u64,
                station,
                through: through as u64,
            });
        }
    }
    Ok(out)
}

fn stations_with_events(conn: &Connection) -> Result<Vec<String>> {
    Ok(conn
        .prepare("SELECT DISTINCT station FROM events ORDER BY station")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

/// Intakes received before the cut-off none of whose events would remain.
const ORPHANED_INTAKES: &str = "SELECT id FROM intakes WHERE received_ms < ?1 AND NOT EXISTS
     (SELECT 1 FROM events e WHERE e.intake = intakes.id AND NOT EXISTS
        (SELECT 1 FROM cut c WHERE c.station = e.station AND e.seq <= c.through))";

fn with_cuts<T>(
    conn: &Connection,
    cuts: &[StationCut],
    f: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    conn.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS cut (station TEXT PRIMARY KEY, through INTEGER NOT NULL);
         DELETE FROM temp.cut;",
    )?;
    for c in cuts {
        conn.execute(
            "INSERT INTO temp.cut(station, through) VALUES (?1, ?2)",
            params![c.station, c.through as i64],
        )?;
    }
    let out = f(conn);
    conn.execute_batch("DROP TABLE temp.cut")?;
    out
}

fn removable_intakes(conn: &Connection, cuts: &[StationCut], cutoff_ms: i64) -> Result<u64> {
    with_cuts(conn, cuts, |conn| {
        let n: i64 = conn.query_row(
            &format!("SELECT count(*) FROM ({ORPHANED_INTAKES})"),
            [cutoff_ms],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    })
}

/// Removes the cut events, the intakes left without any, their deliveries, and records anchors.
fn remove(conn: &Connection, cuts: &[StationCut], cutoff_ms: i64) -> Result<u64> {
    with_cuts(conn, cuts, |conn| {
        conn.execute(
            &format!("CREATE TEMP TABLE gone AS {ORPHANED_INTAKES}"),
            [cutoff_ms],
        )?;
        let intakes = conn.execute(
            "DELETE FROM intakes WHERE id IN (SELECT id FROM temp.gone)",
            [],
        )?;
        conn.execute(
            "DELETE FROM delivery_attempts WHERE delivery IN
               (SELECT id FROM deliveries WHERE intake IN (SELECT id FROM temp.gone))",
            [],
        )?;
        conn.execute(
            "DELETE FROM deliveries WHERE intake IN (SELECT id FROM temp.gone)",
            [],
        )?;
        conn.execute_batch("DROP TABLE temp.gone")?;
        for c in cuts {
            let hash: Vec<u8> = conn.query_row(
                "SELECT hash FROM events WHERE station = ?1 AND seq = ?2",
                params![c.station, c.through as i64],
                |r| r.get(0),
            )?;
            conn.execute(
                "DELETE FROM outbox_events WHERE station = ?1 AND seq <= ?2",
                params![c.station, c.through as i64],
            )?;
            conn.execute(
                "DELETE FROM events WHERE station = ?1 AND seq <= ?2",
                params![c.station, c.through as i64],
            )?;
            conn.execute(
                "INSERT INTO retention_anchors(station, seq, hash) VALUES (?1, ?2, ?3)
                 ON CONFLICT(station) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                params![c.station, c.through as i64, hash],
            )?;
        }
        Ok(intakes as u64)
    })
}

/// The anchor of `station`'s chain in the register: where what remains starts.
pub fn anchor(conn: &Connection, station: &str) -> Result<ChainTip> {
    let found: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT seq, hash FROM retention_anchors WHERE station = ?1",
            [station],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match found {
        None => Ok(ChainTip::GENESIS),
        Some((seq, hash)) => Ok(ChainTip {
            seq: seq as u64,
            hash: Hash(
                hash.try_into()
                    .map_err(|_| Error::Corrupt("a retention anchor's hash".into()))?,
            ),
        }),
    }
}

/// Verifies every station's chain in the register from its anchor (genesis when nothing was
/// removed) with every key the register has known for it; returns each station's tip.
pub fn verify_remaining(conn: &Connection) -> Result<Vec<(StationCode, ChainTip)>> {
    let stations = stations_with_events(conn)?;
    let mut out = Vec::new();
    for station in stations {
        let code: StationCode = station
            .parse()
            .map_err(|e| Error::Corrupt(format!("station code {station:?}: {e}")))?;
        let mut ring = KeyRing::new();
        let keys: Vec<Vec<u8>> = conn
            .prepare("SELECT public_key FROM station_keys WHERE station = ?1")?
            .query_map([&station], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for key in keys {
            let bytes: [u8; 32] = key
                .try_into()
                .map_err(|_| Error::Corrupt("a station key is not 32 bytes".into()))?;
            ring.add_bytes(&bytes)
                .map_err(|e| Error::Corrupt(format!("station {station}'s key: {e}")))?;
        }
        let mut verifier = ChainVerifier::new(code, &ring, anchor(conn, &station)?);
        let mut stmt = conn.prepare(
            "SELECT seq, canonical, key_id, signature FROM events WHERE station = ?1 ORDER BY seq",
        )?;
        let mut rows = stmt.query([&station])?;
        let mut batch: Vec<SignedEvent> = Vec::new();
        let mut flush = |batch: &mut Vec<SignedEvent>| -> Result<()> {
            verifier.verify_with_hashes(batch).map_err(|fault| {
                Error::Corrupt(format!(
                    "station {station}'s chain in the register: {fault}"
                ))
            })?;
            batch.clear();
            Ok(())
        };
        while let Some(row) = rows.next()? {
            let key_id: String = row.get(2)?;
            let signature: Vec<u8> = row.get(3)?;
            batch.push(SignedEvent {
                seq: row.get::<_, i64>(0)? as u64,
                canonical: row.get(1)?,
                key_id: key_id.try_into().map_err(Error::Corrupt)?,
                signature: signature
                    .try_into()
                    .map_err(|_| Error::Corrupt("a signature is not 64 bytes".into()))?,
            });
            if batch.len() == 4096 {
                flush(&mut batch)?;
            }
        }
        flush(&mut batch)?;
        out.push((code, verifier.tip()));
    }
    Ok(out)
}
