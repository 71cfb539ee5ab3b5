//! The outbox in the register's SQLite file ([`OutboxStore`] for [`SqliteStore`]).
//!
//! Every stored event about an intake of a kind departments are told about is journaled in
//! `outbox_events` right after it is stored ([`journal`], called from `SqliteStore::append`),
//! in ingest's own transaction: nothing stored can miss its notice.
//! What an event means for the departments is decided in Rust ([`crate::outbox::plan`]).
//!
//! A trigger on `events` did the journaling until [`JOURNAL_IN_APPEND_MIGRATION`]. A trigger
//! makes every insert into `events` a statement that may have to be undone halfway, so SQLite
//! kept a statement journal of every page each insert touched: about 5 % of the writer's CPU
//! under 500 stations, for a rollback the whole transaction's would cover anyway.

use records::IntakeId;
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use super::{INTAKE_COLUMNS, SqliteStore, collect, corrupt, intake_row};
use crate::error::Result;
use crate::outbox::{Attempt, Delivery, NewDelivery, OutboxStore, Reason, TargetKind, Trigger};
use crate::store::NewEvent;

/// The schema of the outbox, appended to [`super::MIGRATIONS`]. The journal's ids never repeat
/// (AUTOINCREMENT), because consumed rows are deleted and deliveries are keyed by them.
pub(super) const MIGRATION: &str = r"
CREATE TABLE outbox_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    station TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    intake  TEXT NOT NULL
);
CREATE TRIGGER events_to_outbox AFTER INSERT ON events WHEN NEW.intake IS NOT NULL
BEGIN
    INSERT INTO outbox_events (station, seq, kind, intake)
    VALUES (NEW.station, NEW.seq, NEW.kind, NEW.intake);
END;
CREATE TABLE deliveries (
    id           INTEGER PRIMARY KEY,
    position     INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    intake       TEXT NOT NULL,
    department   TEXT NOT NULL,
    kind         TEXT NOT NULL,
    target       TEXT NOT NULL,
    payload      TEXT NOT NULL,
    created_ms   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_ms      INTEGER,
    delivered_ms INTEGER,
    last_ms      INTEGER,
    last_error   TEXT,
    UNIQUE (position, kind, target)
);
CREATE INDEX deliveries_due ON deliveries(next_ms) WHERE delivered_ms IS NULL;
CREATE TABLE delivery_attempts (
    id       INTEGER PRIMARY KEY,
    delivery INTEGER NOT NULL REFERENCES deliveries(id),
    at_ms    INTEGER NOT NULL,
    status   INTEGER,
    error    TEXT,
    next_ms  INTEGER
);
CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts(delivery, id);
";

/// The trigger again, journaling only the kinds [`Reason::for_event_kind`] gives a reason for.
/// Every other event's row was written in ingest's transaction and deleted by the notification
/// worker in another, for nothing: two of a push's three events are labels and drops.
pub(super) const NOTIFIED_KINDS_MIGRATION: &str = r"
DROP TRIGGER events_to_outbox;
CREATE TRIGGER events_to_outbox AFTER INSERT ON events
WHEN NEW.intake IS NOT NULL AND NEW.kind IN ('deposit', 'hold_released', 'forwarded')
BEGIN
    INSERT INTO outbox_events (station, seq, kind, intake)
    VALUES (NEW.station, NEW.seq, NEW.kind, NEW.intake);
END;
";

/// The trigger gone: `SqliteStore::append` journals through [`journal`] instead.
pub(super) const JOURNAL_IN_APPEND_MIGRATION: &str = "DROP TRIGGER events_to_outbox;";

/// Journals `event` when departments are told about its kind ([`Reason::for_event_kind`]),
/// on `insert`, a prepared `INSERT INTO outbox_events (station, seq, kind, intake)`.
pub(super) fn journal(
    insert: &mut rusqlite::CachedStatement<'_>,
    station: &str,
    event: &NewEvent,
) -> Result<()> {
    if let (Some(intake), Some(_)) = (event.intake, Reason::for_event_kind(event.kind)) {
        insert.execute(params![
            station,
            super::seq_to_sql(event.signed.seq)?,
            event.kind,
            intake.to_string()
        ])?;
    }
    Ok(())
}

/// The statement [`journal`] runs.
pub(super) const JOURNAL_INSERT: &str =
    "INSERT INTO outbox_events (station, seq, kind, intake) VALUES (?1, ?2, ?3, ?4)";

const DELIVERY_COLUMNS: &str = "id, reason, intake, department, kind, target, payload, created_ms, \
     attempts, next_ms, delivered_ms, last_ms, last_error";

fn delivery_row(row: &Row<'_>) -> Result<Delivery> {
    let reason: String = row.get(1)?;
    let intake: String = row.get(2)?;
    let kind: String = row.get(4)?;
    let attempts: i64 = row.get(8)?;
    Ok(Delivery {
        id: row.get(0)?,
        reason: Reason::from_name(&reason)
            .ok_or_else(|| corrupt(format_args!("delivery reason {reason:?}")))?,
        intake: parse_intake(&intake)?,
        department: row.get(3)?,
        kind: TargetKind::from_name(&kind)
            .ok_or_else(|| corrupt(format_args!("delivery kind {kind:?}")))?,
        target: row.get(5)?,
        payload: row.get(6)?,
        created_ms: row.get(7)?,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        next_ms: row.get(9)?,
        delivered_ms: row.get(10)?,
        last_ms: row.get(11)?,
        last_error: row.get(12)?,
    })
}

fn parse_intake(text: &str) -> Result<IntakeId> {
    text.parse()
        .map_err(|e| corrupt(format_args!("intake id {text:?}: {e}")))
}

fn attempt_row(row: &Row<'_>) -> Result<Attempt> {
    let status: Option<i64> = row.get(2)?;
    Ok(Attempt {
        delivery: row.get(0)?,
        at_ms: row.get(1)?,
        status: status.and_then(|s| u16::try_from(s).ok()),
        error: row.get(3)?,
        next_ms: row.get(4)?,
    })
}

fn limit_sql(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

impl OutboxStore for SqliteStore {
    fn triggers(&self, limit: usize) -> Result<Vec<Trigger>> {
        let mut conn = self.conn()?;
        // One read transaction: the journal and the intakes as of the same moment.
        let tx = conn.transaction()?;
        let journal: Vec<(i64, String, String)> = {
            let mut stmt = tx.prepare_cached(
                "SELECT id, kind, intake FROM outbox_events ORDER BY id LIMIT ?1",
            )?;
            collect(stmt.query(params![limit_sql(limit)])?, |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
        };
        let mut out = Vec::with_capacity(journal.len());
        {
            let mut intake = tx.prepare_cached(&format!(
                "SELECT {INTAKE_COLUMNS} FROM intakes WHERE id = ?1"
            ))?;
            for (position, kind, id) in journal {
                let intake = if Reason::for_event_kind(&kind).is_some() {
                    collect(intake.query(params![id])?, intake_row)?
                        .into_iter()
                        .next()
                } else {
                    None
                };
                out.push(Trigger {
                    position,
                    kind,
                    intake,
                });
            }
        }
        tx.commit()?;
        Ok(out)
    }

    fn enqueue(&self, through: i64, deliveries: &[NewDelivery], now_ms: i64) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO deliveries (position, reason, intake, department, kind,
                                                   target, payload, created_ms, next_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
            )?;
            for d in deliveries {
                insert.execute(params![
                    d.position,
                    d.reason.name(),
                    d.intake.to_string(),
                    d.department,
                    d.kind.name(),
                    d.target,
                    d.payload,
                    now_ms,
                ])?;
            }
        }
        tx.execute("DELETE FROM outbox_events WHERE id <= ?1", params![through])?;
        tx.commit()?;
        Ok(())
    }

    fn due(&self, now_ms: i64, limit: usize) -> Result<Vec<Delivery>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries
             WHERE delivered_ms IS NULL AND next_ms <= ?1 ORDER BY next_ms, id LIMIT ?2"
        ))?;
        collect(stmt.query(params![now_ms, limit_sql(limit)])?, delivery_row)
    }

    fn next_due_ms(&self) -> Result<Option<i64>> {
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                "SELECT min(next_ms) FROM deliveries WHERE delivered_ms IS NULL",
                [],
                |r| r.get::<_, Option<i64>>(0),
            )
            .optional()?
            .flatten())
    }

    fn record_attempts(&self, attempts: &[Attempt]) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut log = tx.prepare_cached(
                "INSERT INTO delivery_attempts (delivery, at_ms, status, error, next_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut update = tx.prepare_cached(
                "UPDATE deliveries SET attempts = attempts + 1, last_ms = ?2, last_error = ?3,
                                       next_ms = ?4, delivered_ms = ?5
                 WHERE id = ?1 AND delivered_ms IS NULL",
            )?;
            for a in attempts {
                log.execute(params![
                    a.delivery,
                    a.at_ms,
                    a.status.map(i64::from),
                    a.error,
                    a.next_ms
                ])?;
                let delivered = a.error.is_none().then_some(a.at_ms);
                let next = if delivered.is_some() { None } else { a.next_ms };
                update.execute(params![a.delivery, a.at_ms, a.error, next, delivered])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn deliveries(&self, failing_after: Option<u32>, limit: usize) -> Result<Vec<Delivery>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries
             WHERE ?1 IS NULL OR (delivered_ms IS NULL AND attempts >= ?1)
             ORDER BY id DESC LIMIT ?2"
        ))?;
        collect(
            stmt.query(params![failing_after.map(i64::from), limit_sql(limit)])?,
            delivery_row,
        )
    }

    fn undelivered(&self, failing_after: u32) -> Result<(u64, u64)> {
        let conn = self.conn()?;
        // The undelivered rows are the `deliveries_due` index's: no scan of the delivered ones.
        let (pending, failing): (i64, i64) = conn.query_row(
            "SELECT count(*), coalesce(sum(attempts >= ?1), 0) FROM deliveries
             WHERE delivered_ms IS NULL",
            params![i64::from(failing_after)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((
            u64::try_from(pending).unwrap_or(0),
            u64::try_from(failing).unwrap_or(0),
        ))
    }

    fn delivery(&self, id: i64) -> Result<Option<Delivery>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = ?1"
        ))?;
        Ok(collect(stmt.query(params![id])?, delivery_row)?
            .into_iter()
            .next())
    }

    fn attempts(&self, delivery: i64) -> Result<Vec<Attempt>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT delivery, at_ms, status, error, next_ms FROM delivery_attempts
             WHERE delivery = ?1 ORDER BY id",
        )?;
        collect(stmt.query(params![delivery])?, attempt_row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind a notice is sent for is journaled, and no other: an event of each kind is
    /// stored straight into `events` and the journal read back.
    #[test]
    fn the_journal_holds_exactly_the_kinds_departments_are_told_about() {
        const EVERY_KIND_ABOUT_AN_INTAKE: [&str; 10] = [
            "deposit",
            "label_printed",
            "drop_seen",
            "drop_not_seen",
            "collected",
            "hold_started",
            "hold_released",
            "forwarded",
            "acknowledged",
            "department_changed",
        ];
        let (_dir, store, code, key) = super::super::tests::store_with_one_station();
        let intake = IntakeId::new(code, 1).unwrap();
        let events: Vec<_> = (1..)
            .zip(EVERY_KIND_ABOUT_AN_INTAKE)
            .map(|(seq, kind)| super::super::tests::test_event(&key, seq, kind, Some(intake), 0))
            .collect();
        super::super::tests::append_events(&store, code, &events);
        let conn = store.conn().unwrap();
        let journaled: Vec<String> = conn
            .prepare("SELECT kind FROM outbox_events ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        let told: Vec<&str> = EVERY_KIND_ABOUT_AN_INTAKE
            .into_iter()
            .filter(|k| Reason::for_event_kind(k).is_some())
            .collect();
        assert_eq!(journaled, told);
        assert_eq!(told, ["deposit", "hold_released", "forwarded"]);
    }
}
