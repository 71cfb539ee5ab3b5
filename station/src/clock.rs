//! Wall-clock readings for events. A Raspberry Pi has no battery clock: until the time is set it
//! boots at 1970 or at the last saved time, so a reading before urna's own build year cannot be
//! right and is flagged untrusted; so is one decades past it (a dead RTC or a corrupt saved time
//! can read 2099). A plausible reading can still be wrong: when the registry's clock (the `Date`
//! of its answers) says this one is off, readings are flagged untrusted for as long as the clock
//! stays as it was set then; a step (NTP, or someone setting it) replaces that setting and ends
//! the verdict. (Watching NTP synchronisation itself comes with the operations work.)

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use records::Timestamp;

/// 2026-01-01T00:00:00Z: no correct clock reads earlier than this for urna.
const EARLIEST_PLAUSIBLE_MS: i64 = 1_767_225_600_000;

/// 2056-01-01T00:00:00Z: thirty years on, a reading this late is a broken clock, not urna still
/// running unchanged.
const LATEST_PLAUSIBLE_MS: i64 = 2_713_910_400_000;

/// How far the registry's clock may be from ours before ours is taken to be wrong. Tighter than
/// the registry's own tolerance for trusted clocks, so that a request it would refuse as stale
/// is never sent as trusted twice.
pub const REFERENCE_TOLERANCE_MS: i64 = 60_000;

/// How far the wall clock may move against the monotonic clock before it counts as stepped.
const STEP_MS: i64 = 2_000;

/// The clock's setting (wall minus monotonic milliseconds) that the registry's clock showed to
/// be wrong; `i64::MIN` while there is no such verdict.
static JUDGED_WRONG_SETTING: AtomicI64 = AtomicI64::new(i64::MIN);

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

/// The current wall-clock time, flagged by whether it is plausible and not known to be wrong.
pub fn now() -> Timestamp {
    let (unix_ms, setting) = reading();
    Timestamp {
        unix_ms,
        trusted: plausible(unix_ms) && !judged_wrong(setting),
    }
}

/// Whether a reading can be right at all, whatever else is known.
fn plausible(unix_ms: i64) -> bool {
    (EARLIEST_PLAUSIBLE_MS..LATEST_PLAUSIBLE_MS).contains(&unix_ms)
}

fn judged_wrong(setting: i64) -> bool {
    let judged = JUDGED_WRONG_SETTING.load(Ordering::Relaxed);
    judged != i64::MIN && setting.abs_diff(judged) <= STEP_MS as u64
}

/// Compares the clock with a reference clock read at this moment (the registry's `Date`): if they
/// differ by more than [`REFERENCE_TOLERANCE_MS`], readings are untrusted until the clock is
/// stepped. Returns how far ours is ahead of the reference when it is judged wrong.
pub fn compare_with_reference(reference_ms: i64) -> Option<i64> {
    let (unix_ms, setting) = reading();
    let ahead = unix_ms.saturating_sub(reference_ms);
    if ahead.abs() <= REFERENCE_TOLERANCE_MS {
        return None;
    }
    if JUDGED_WRONG_SETTING.swap(setting, Ordering::Relaxed) != setting {
        tracing::warn!(
            "clock: {} s off the registry's; events are flagged as untrusted time until the clock is set",
            ahead / 1000
        );
    }
    Some(ahead)
}

/// Reads an HTTP `Date` header (`Sun, 22 Nov 2026 15:04:38 GMT`) as unix milliseconds.
pub fn parse_http_date(text: &str) -> Option<i64> {
    jiff::fmt::rfc2822::parse(text.trim())
        .ok()
        .map(|zoned| zoned.timestamp().as_millisecond())
}

/// The wall clock now, and its setting: the wall clock minus the monotonic clock, which a step
/// changes and the passing of time does not.
fn reading() -> (i64, i64) {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let monotonic = BASE.get_or_init(Instant::now).elapsed();
    let machine_ms = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    };
    let unix_ms = machine_ms.saturating_add(
        SIMULATED_OFFSET_SECS
            .load(Ordering::Relaxed)
            .saturating_mul(1000),
    );
    let monotonic_ms = i64::try_from(monotonic.as_millis()).unwrap_or(i64::MAX);
    (unix_ms, unix_ms.saturating_sub(monotonic_ms))
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn an_http_date_reads_as_its_instant() {
        assert_eq!(
            parse_http_date("Sun, 22 Nov 2026 15:04:38 GMT"),
            Some(1_795_359_878_000)
        );
        assert_eq!(parse_http_date("yesterday"), None);
        assert_eq!(parse_http_date(""), None);
    }

    #[test]
    fn readings_from_1970_and_2099_are_not_trusted() {
        assert!(!plausible(0));
        assert!(!plausible(EARLIEST_PLAUSIBLE_MS - 1));
        assert!(plausible(EARLIEST_PLAUSIBLE_MS));
        // 2099-12-31T00:00:00Z
        assert!(!plausible(4_102_358_400_000));
        assert!(!plausible(i64::MAX));
    }

    proptest! {
        /// The registry's `Date` is outside input: any text is read or refused, never a panic,
        /// and every date the registry can send reads back as itself.
        #[test]
        fn any_date_header_is_read_or_refused(text in "\\PC{0,40}", secs in 0i64..4_102_444_800) {
            let _ = parse_http_date(&text);
            let formatted = jiff::fmt::rfc2822::DateTimePrinter::new()
                .timestamp_to_rfc9110_string(&jiff::Timestamp::from_second(secs).unwrap())
                .unwrap();
            prop_assert_eq!(parse_http_date(&formatted), Some(secs * 1000));
        }
    }
}
