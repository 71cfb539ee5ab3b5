//! What the reports and the fleet page read from the register ([`InsightStore`]), kept beside
//! [`crate::RegisterStore`] so that another backend implements it as well.

use records::{StationCode, Timestamp};

use crate::error::Result;

/// One intake, as the reports count it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepositRow {
    /// The station that took it in (its code).
    pub station: String,
    /// Its date of receipt (unix ms).
    pub received_ms: i64,
    /// `urn`, `counter` or `post`.
    pub channel: String,
    /// Its category id.
    pub category: String,
}

/// A hold start or release of an intake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRow {
    /// The intake.
    pub intake: String,
    /// `true` for a start, `false` for a release.
    pub started: bool,
    /// When the station recorded it (unix ms).
    pub recorded_ms: i64,
}

/// What the register knows about one enrolled station's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationFacts {
    /// The station.
    pub station: StationCode,
    /// When it last sent a signed request the registry accepted (unix ms); `None` if never.
    pub last_seen_ms: Option<i64>,
    /// The last seq the registry holds (0 before the first).
    pub acknowledged: u64,
    /// That event's time as the station recorded it, with its clock-trusted flag.
    pub last_event: Option<Timestamp>,
    /// Whether the urn was ever emptied (an `urn_collected` event).
    pub urn_collected: bool,
    /// Urn-channel deposits since the last emptying (or ever).
    pub urn_deposits_since_collection: u64,
}

/// The reads behind `/reports` and `/admin/stations`, and the "last seen" mark.
pub trait InsightStore {
    /// Intakes received in `[from_ms, before_ms)`, of one department when given, by time.
    fn deposits_between(
        &self,
        from_ms: i64,
        before_ms: i64,
        department: Option<&str>,
    ) -> Result<Vec<DepositRow>>;
    /// Hold starts and releases of the intakes received in `[from_ms, before_ms)` (of one
    /// department when given), by intake, then recorded time.
    fn holds_between(
        &self,
        from_ms: i64,
        before_ms: i64,
        department: Option<&str>,
    ) -> Result<Vec<HoldRow>>;
    /// Marks the station seen at `now_ms`; a mark less than `granularity_ms` old may be kept,
    /// so that a busy station costs no write per request.
    fn note_seen(&self, station: StationCode, now_ms: i64, granularity_ms: i64) -> Result<()>;
    /// Every enrolled station's facts, by code.
    fn station_facts(&self) -> Result<Vec<StationFacts>>;
}
