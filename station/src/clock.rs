//! Wall-clock readings for events. A Raspberry Pi has no battery clock: until the time is set it
//! boots at 1970 or at the last saved time, so a reading before urna's own build year cannot be
//! right and is flagged untrusted. (Watching NTP synchronisation and clock steps comes with the
//! field-inputs and operations work.)

use std::time::{SystemTime, UNIX_EPOCH};

use records::Timestamp;

/// 2026-01-01T00:00:00Z: no correct clock reads earlier than this for urna.
const EARLIEST_PLAUSIBLE_MS: i64 = 1_767_225_600_000;

/// The current wall-clock time, flagged by whether it is plausible.
pub fn now() -> Timestamp {
    let unix_ms = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    };
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
