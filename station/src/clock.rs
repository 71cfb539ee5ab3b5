//! Wall-clock readings for events. A Raspberry Pi has no battery clock: until the time is set it
//! boots at 1970 or at the last saved time, so a reading before urna's own build year cannot be
//! right and is flagged untrusted. (Watching NTP synchronisation and clock steps comes with the
//! field-inputs and operations work.)

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use records::Timestamp;

/// 2026-01-01T00:00:00Z: no correct clock reads earlier than this for urna.
const EARLIEST_PLAUSIBLE_MS: i64 = 1_767_225_600_000;

/// The largest simulated offset, either way: a century, which reaches 1970 from any time urna
/// runs at without overflowing a reading.
pub const MAX_SIMULATED_OFFSET_SECS: i64 = 100 * 366 * 24 * 3600;

/// Added to every reading, in simulation only, so the demo and the tests can step the wall clock
/// or boot with a wrong one without touching the machine's. One per process: every station in a
/// process reads the same wall clock, as on one machine.
static SIMULATED_OFFSET_SECS: AtomicI64 = AtomicI64::new(0);

/// Sets the simulated wall clock's offset from the machine's, within
/// [`MAX_SIMULATED_OFFSET_SECS`]. Only simulation (its config key and control API) calls this.
pub fn set_simulated_offset_secs(secs: i64) {
    let secs = secs.clamp(-MAX_SIMULATED_OFFSET_SECS, MAX_SIMULATED_OFFSET_SECS);
    SIMULATED_OFFSET_SECS.store(secs, Ordering::Relaxed);
}

/// The current wall-clock time, flagged by whether it is plausible.
pub fn now() -> Timestamp {
    let machine_ms = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    };
    let unix_ms = machine_ms.saturating_add(
        SIMULATED_OFFSET_SECS
            .load(Ordering::Relaxed)
            .saturating_mul(1000),
    );
    Timestamp {
        unix_ms,
        trusted: unix_ms >= EARLIEST_PLAUSIBLE_MS,
    }
}

/// A reading as local time for people: `2026-11-21 14:05` in Europe/Warsaw.
pub fn local_text(t: Timestamp) -> String {
    local_format(t, "%Y-%m-%d %H:%M")
}

/// The date alone of [`local_text`].
pub fn local_date_text(t: Timestamp) -> String {
    local_format(t, "%Y-%m-%d")
}

/// The time of day alone of [`local_text`]: `14:05`.
pub fn local_time_text(t: Timestamp) -> String {
    local_format(t, "%H:%M")
}

/// The start of the local (Europe/Warsaw) day that `t` falls in, as unix milliseconds.
pub fn local_day_start_ms(t: Timestamp) -> i64 {
    let zone = jiff::tz::TimeZone::get("Europe/Warsaw").unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_millisecond(t.unix_ms)
        .ok()
        .and_then(|ts| ts.to_zoned(zone).start_of_day().ok())
        .map_or(t.unix_ms, |day| day.timestamp().as_millisecond())
}

fn local_format(t: Timestamp, format: &str) -> String {
    let zone = jiff::tz::TimeZone::get("Europe/Warsaw").unwrap_or(jiff::tz::TimeZone::UTC);
    match jiff::Timestamp::from_millisecond(t.unix_ms) {
        Ok(ts) => ts.to_zoned(zone).strftime(format).to_string(),
        Err(_) => "—".to_owned(),
    }
}
