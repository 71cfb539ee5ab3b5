//! The reports' and the fleet page's reads, and the stations' "last seen" mark
//! ([`InsightStore`] for [`SqliteStore`]).

use records::StationCode;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, collect, corrupt};
use crate::error::Result;
use crate::insight::{DepositRow, HoldRow, InsightStore, StationFacts};

/// The schema of the "last seen" marks, appended to [`super::MIGRATIONS`]. A table of its own
/// rather than a column of `stations`: a pending station is seen before it is enrolled, and the
/// mark is written outside ingest's transaction.
pub(super) const MIGRATION: &str = r"
CREATE TABLE station_seen (
    station      TEXT PRIMARY KEY,
    last_seen_ms INTEGER NOT NULL
);
";

/// [`InsightStore::deposits_between`]'s query.
const DEPOSITS_BETWEEN: &str = "SELECT station, received_ms, channel, category FROM intakes
     WHERE received_ms >= ?1 AND received_ms < ?2 AND (?3 IS NULL OR department = ?3)
     ORDER BY received_ms, id";

/// [`InsightStore::holds_between`]'s query.
const HOLDS_BETWEEN: &str =
    "SELECT e.intake, e.kind, e.recorded_ms FROM events e JOIN intakes i ON i.id = e.intake
     WHERE e.kind IN ('hold_started', 'hold_released')
       AND i.received_ms >= ?1 AND i.received_ms < ?2
       AND (?3 IS NULL OR i.department = ?3)
     ORDER BY e.intake, e.recorded_ms, e.station, e.seq";

impl InsightStore for SqliteStore {
    fn deposits_between(
        &self,
        from_ms: i64,
        before_ms: i64,
        department: Option<&str>,
    ) -> Result<Vec<DepositRow>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(DEPOSITS_BETWEEN)?;
        collect(stmt.query(params![from_ms, before_ms, department])?, |r| {
            Ok(DepositRow {
                station: r.get(0)?,
                received_ms: r.get(1)?,
                channel: r.get(2)?,
                category: r.get(3)?,
            })
        })
    }

    fn holds_between(
        &self,
        from_ms: i64,
        before_ms: i64,
        department: Option<&str>,
    ) -> Result<Vec<HoldRow>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(HOLDS_BETWEEN)?;
        collect(stmt.query(params![from_ms, before_ms, department])?, |r| {
            let kind: String = r.get(1)?;
            Ok(HoldRow {
                intake: r.get(0)?,
                started: kind == "hold_started",
                recorded_ms: r.get(2)?,
            })
        })
    }

    fn note_seen(&self, station: StationCode, now_ms: i64, granularity_ms: i64) -> Result<()> {
        let conn = self.conn()?;
        // A mark younger than the granularity is left alone: the statement then changes no
        // page, and SQLite commits it without writing (or syncing) anything.
        conn.prepare_cached(
            "INSERT INTO station_seen (station, last_seen_ms) VALUES (?1, ?2)
             ON CONFLICT (station) DO UPDATE SET last_seen_ms = excluded.last_seen_ms
             WHERE excluded.last_seen_ms >= station_seen.last_seen_ms + ?3",
        )?
        .execute(params![station.as_str(), now_ms, granularity_ms])?;
        Ok(())
    }

    fn station_facts(&self) -> Result<Vec<StationFacts>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT s.code,
                    (SELECT last_seen_ms FROM station_seen WHERE station = s.code),
                    (SELECT max(seq) FROM events WHERE station = s.code),
                    (SELECT max(seq) FROM events WHERE station = s.code AND kind = 'urn_collected')
             FROM stations s ORDER BY s.code",
        )?;
        let rows = collect(stmt.query([])?, |r| {
            let code: String = r.get(0)?;
            let last_seen_ms: Option<i64> = r.get(1)?;
            let tip: Option<i64> = r.get(2)?;
            let collected: Option<i64> = r.get(3)?;
            Ok((code, last_seen_ms, tip, collected))
        })?;
        let mut last_event = conn
            .prepare_cached("SELECT seq, canonical FROM events WHERE station = ?1 AND seq = ?2")?;
        // Urn deposits since the last emptying: an urn's envelopes come through the channel
        // `urn`; a mailroom's deposits (counter, post) fill nothing.
        let mut urn_deposits = conn.prepare_cached(
            "SELECT count(*) FROM events e JOIN intakes i ON i.id = e.intake
             WHERE e.station = ?1 AND e.kind = 'deposit' AND e.seq > ?2 AND i.channel = 'urn'",
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for (code, last_seen_ms, tip, collected) in rows {
            let station: StationCode = code
                .parse()
                .map_err(|_| corrupt(format_args!("station code {code:?}")))?;
            let last = match tip {
                Some(seq) => last_event
                    .query_row(params![code, seq], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
                    })
                    .optional()?,
                None => None,
            };
            let last = last
                .map(|(seq, canonical)| {
                    records::encoding::decode(&canonical)
                        .map(|e| (seq, e.recorded_at))
                        .map_err(|e| corrupt(format_args!("stored event {code} {seq}: {e}")))
                })
                .transpose()?;
            let fill: i64 =
                urn_deposits.query_row(params![code, collected.unwrap_or(0)], |r| r.get(0))?;
            out.push(StationFacts {
                station,
                last_seen_ms,
                acknowledged: last.map_or(0, |(seq, _)| u64::try_from(seq).unwrap_or(0)),
                last_event: last.map(|(_, at)| at),
                urn_collected: collected.is_some(),
                urn_deposits_since_collection: u64::try_from(fill).unwrap_or(0),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::query_plan;
    use super::*;

    /// The reports read a month out of a register that keeps years: neither the holds nor the
    /// deposits may read the whole `events` or `intakes` table to find it.
    #[test]
    fn the_reports_reads_go_through_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("register.db")).unwrap();
        let conn = store.conn().unwrap();
        for sql in [HOLDS_BETWEEN, DEPOSITS_BETWEEN] {
            let plan = query_plan(&conn, sql, params![0, i64::MAX, None::<String>]);
            assert!(
                plan.iter().all(|step| !step.starts_with("SCAN")),
                "{sql}\n{plan:#?}"
            );
        }
    }
}
