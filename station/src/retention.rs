//! Retention of the station's own custody log: an SD card must not fill up over the years.
//!
//! The register of incoming correspondence is the registry's; the station's log is its outbox
//! and its working memory. Events may leave it once the registry has acknowledged them, they are
//! older than `[retention] station_keep_days`, and nothing the station still works from needs
//! them: an open hold, the urn's count since its last collection, an intake whose later events
//! remain. What is removed is always a prefix of the log; its last event's seq and hash stay as
//! the anchor the rest verifies from ([`crate::log_store::LogStore::anchor`]), with the highest
//! intake number removed, so numbering never repeats.

use std::time::Duration;

use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};

use crate::config::ConfigError;
use crate::error::Result;
use crate::log_store::LogStore;
use crate::shared_log::SharedLog;
use crate::shutdown::Shutdown;

/// A day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;

/// The first pruning waits this long after start-up, so a station restarting in a loop does no
/// work beyond starting; then once a day.
const FIRST_PRUNE: Duration = Duration::from_secs(10 * 60);
const PRUNE_EVERY: Duration = Duration::from_secs(24 * 3600);

/// `[retention]` in `station.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Days the station keeps events in its own log after the registry acknowledged them. Older
    /// ones are removed once a day unless an open hold, the urn's count since its last collection
    /// or a later event about the same intake still needs them. The register keeps everything
    /// by its own rules; unacknowledged events are never removed.
    pub station_keep_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            station_keep_days: 90,
        }
    }
}

impl RetentionConfig {
    /// Checks the ranges, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let range = 7..=36_500;
        if !range.contains(&self.station_keep_days) {
            return Err(ConfigError {
                key: "retention.station_keep_days".into(),
                problem: format!(
                    "{} is outside {}..={}",
                    self.station_keep_days,
                    range.start(),
                    range.end()
                ),
            });
        }
        Ok(())
    }
}

/// What one pruning did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    /// Events removed.
    pub removed: u64,
    /// The anchor the log now verifies from, if anything was ever removed.
    pub anchor: Option<records::ChainTip>,
}

/// The highest seq such that it and every event before it may be removed (0: none), given the
/// registry's acknowledgement, the log's last seq and the cut-off time (station clock, ms).
pub fn prunable_through(
    store: &LogStore,
    acknowledged: u64,
    tip: u64,
    cutoff_ms: i64,
) -> Result<u64> {
    // Never the last event: the log's tip is read from it.
    let mut through = acknowledged.min(tip.saturating_sub(1));
    let lower = |through: &mut u64, needed_from: Option<i64>| {
        if let Some(seq) = needed_from {
            *through = (*through).min((seq as u64).saturating_sub(1));
        }
    };
    let first = |sql: &str, bound: Option<i64>| -> Result<Option<i64>> {
        let mut stmt = store.conn.prepare_cached(sql)?;
        let found = match bound {
            Some(b) => stmt.query_row([b], |r| r.get::<_, Option<i64>>(0)),
            None => stmt.query_row([], |r| r.get::<_, Option<i64>>(0)),
        };
        Ok(found.optional()?.flatten())
    };
    // Old enough: a prefix, so one recent event (or one from a clock that ran ahead) stops it.
    lower(
        &mut through,
        first(
            "SELECT MIN(seq) FROM events WHERE recorded_ms >= ?1",
            Some(cutoff_ms),
        )?,
    );
    // Open holds: everything about an intake still held stays (as `LogStore::open_holds`).
    lower(
        &mut through,
        first(
            "SELECT MIN(seq) FROM events WHERE intake_id IN
               (SELECT intake_id FROM events WHERE kind = 'hold_started' AND intake_id NOT IN
                  (SELECT intake_id FROM events WHERE kind = 'hold_released'))",
            None,
        )?,
    );
    // The urn's count since its last collection (as `LogStore::urn_fill_events`): from that
    // collection on, or, never collected, from the first event the count reads.
    let collected = first(
        "SELECT MAX(seq) FROM events WHERE kind = 'urn_collected'",
        None,
    )?;
    let urn_from = match collected {
        Some(seq) => Some(seq),
        None if first("SELECT MIN(seq) FROM events WHERE kind = 'drop_seen'", None)?.is_some() => {
            first(
                "SELECT MIN(seq) FROM events
                 WHERE kind IN ('drop_seen', 'alarm', 'fault_raised', 'fault_cleared')",
                None,
            )?
        }
        None => None,
    };
    lower(&mut through, urn_from);
    // An intake's events go together or not at all, so that what the station reads of an intake
    // (its stage at the mailroom, whether its bin label was printed) is all or nothing.
    while through > 0 {
        let split = first(
            "SELECT MIN(first) FROM
               (SELECT MIN(seq) AS first, MAX(seq) AS last FROM events
                WHERE intake_id IS NOT NULL GROUP BY intake_id)
             WHERE first <= ?1 AND last > ?1",
            Some(through as i64),
        )?;
        match split {
            Some(seq) => lower(&mut through, Some(seq)),
            None => break,
        }
    }
    Ok(through)
}

/// Prunes the log once a day until `shutdown`, and only while the wall clock is trusted: a clock
/// years ahead would make every event look old.
pub async fn run(log: SharedLog, config: RetentionConfig, shutdown: Shutdown) {
    let mut wait = FIRST_PRUNE;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.clone().wait() => return,
        }
        wait = PRUNE_EVERY;
        let now = crate::clock::now();
        if !now.trusted {
            tracing::info!("retention: the clock is not trusted; nothing pruned today");
            continue;
        }
        let days = config.station_keep_days;
        match log.with(move |l| l.prune(now.unix_ms, days)).await {
            Ok(Pruned { removed: 0, .. }) => {}
            Ok(Pruned { removed, anchor }) => tracing::info!(
                removed,
                anchor_seq = anchor.map_or(0, |a| a.seq),
                "retention: removed acknowledged events older than {days} days from the station's log"
            ),
            Err(e) => tracing::warn!("retention: pruning the log failed: {e}"),
        }
    }
}
