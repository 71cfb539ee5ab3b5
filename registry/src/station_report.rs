//! What stations report about themselves besides their events (`POST
//! /api/stations/{code}/report`, a [`records::api::StationReport`], signed like a push): the
//! registry keeps each station's latest report with the time it came ([`ReportStore`]), and the
//! fleet view ([`crate::fleet`]) reads the station's backlog from it: [`backlog`].
//!
//! A report changes nothing in the register proper: it is not an event, it is not signed into
//! any chain, and a report that says less than the registry holds (a station restored from an
//! older copy of its log) is kept as it came, for the admin to see.

use records::StationCode;

use crate::error::Result;

/// The schema of the reports, appended to [`crate::sqlite::MIGRATIONS`]: one row per station,
/// its latest report. Keyed by code like `station_seen`, without a reference to `stations`: a
/// report is only taken from an approved key, whose station is enrolled.
pub(crate) const MIGRATION: &str = r"
CREATE TABLE station_reports (
    station     TEXT PRIMARY KEY,
    log_tip     INTEGER NOT NULL,
    received_ms INTEGER NOT NULL
);
";

/// A station's latest report, as the registry keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredReport {
    /// The station.
    pub station: StationCode,
    /// The highest seq in its own log, as it said.
    pub log_tip: u64,
    /// When the registry received it (registry clock, unix ms).
    pub received_ms: i64,
}

/// Where station reports are kept, beside [`crate::RegisterStore`] (which requires it) so that
/// another backend implements it as well.
pub trait ReportStore {
    /// Keeps `report` as its station's latest, in place of the one before, whatever either says.
    fn record_report(&self, report: &StoredReport) -> Result<()>;
    /// Every station's latest report, by code.
    fn station_reports(&self) -> Result<Vec<StoredReport>>;
}

/// The events a station holds that the registry does not: its reported log tip minus the last
/// seq the registry holds of it, never below 0 (a station that reports less than the registry
/// holds was restored from an older copy, and owes nothing). `None` before its first report.
pub fn backlog(reported_tip: Option<u64>, held: u64) -> Option<u64> {
    reported_tip.map(|tip| tip.saturating_sub(held))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backlog_is_what_the_station_has_beyond_the_register() {
        assert_eq!(backlog(None, 5), None);
        assert_eq!(backlog(Some(12), 5), Some(7));
        assert_eq!(backlog(Some(5), 5), Some(0));
        // Restored from an older copy: stored, but it owes nothing.
        assert_eq!(backlog(Some(3), 5), Some(0));
        assert_eq!(backlog(Some(0), 0), Some(0));
    }
}
