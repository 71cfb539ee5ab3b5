//! How long the mailroom's look-ups in its own custody log take once the log is long: the open
//! holds (read every 5 s and after every scan) and today's forwarding lists (after every scan).
//! Both hold the log while they read, so a scan that comes meanwhile waits for them.
//!
//! `cargo run --release --example mailroom_log_queries -- [LETTERS]` (default 62,500: a year of
//! a busy city hall's mailroom at about 250 letters a working day). Each letter is logged as the
//! mailroom logs it (hold started, hold released, forwarded) and the last 50 are still in their
//! hold. Prints the best of five runs of each look-up through the station's own `LogStore`.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use records::{IntakeId, Payload, StationCode, Text, Timestamp};
use station::{CustodyLog, Entry, LogStore, StationKey};

const STATION: &str = "GWK2";
const PER_TRANSACTION: usize = 1_000;
const STILL_HELD: u64 = 50;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mailroom_log_queries: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let letters: u64 = match std::env::args().nth(1) {
        Some(n) => n.parse().context("LETTERS must be a number")?,
        None => 62_500,
    };
    if letters <= STILL_HELD {
        bail!("LETTERS must be more than {STILL_HELD}");
    }
    let scratch = tempfile::tempdir_in("target").context("a scratch directory under target/")?;
    let path = scratch.path().join(station::runtime::LOG_FILE);
    let written = Instant::now();
    let events = write_log(scratch.path(), &path, letters)?;
    println!(
        "mailroom log: {letters} letters, {events} events written in {:.1} s; {:.0} MiB",
        written.elapsed().as_secs_f64(),
        std::fs::metadata(&path)?.len() as f64 / (1024.0 * 1024.0)
    );

    let store = LogStore::open_existing(&path)?;
    let (open, took) = best_of_five(|| Ok(store.open_holds()?.len()))?;
    println!(
        "open holds: {open} found in {:.2} ms",
        took.as_secs_f64() * 1e3
    );
    let today = station::clock::local_day_start_ms(station::clock::now());
    let (forwarded, took) =
        best_of_five(|| Ok(store.events_of_kind_since("forwarded", today)?.len()))?;
    println!(
        "today's forwarding lists: {forwarded} letters found in {:.2} ms",
        took.as_secs_f64() * 1e3
    );
    Ok(())
}

/// The fastest of five runs of `look_up`, and what it found.
fn best_of_five(mut look_up: impl FnMut() -> Result<usize>) -> Result<(usize, Duration)> {
    let mut best = Duration::MAX;
    let mut found = 0;
    for _ in 0..5 {
        let started = Instant::now();
        found = look_up()?;
        best = best.min(started.elapsed());
    }
    Ok((found, best))
}

/// Writes the mailroom's events for `letters` letters, one every 2 minutes of working time and
/// the last ones today, and returns how many events that was.
fn write_log(dir: &Path, path: &Path, letters: u64) -> Result<u64> {
    let station: StationCode = STATION.parse()?;
    let key_file = dir.join("station.key");
    StationKey::generate_to_file(&key_file)?;
    let key = StationKey::load(&key_file)?;
    let mut log = CustodyLog::open(path, station, key)?;
    let now_ms = station::clock::now().unix_ms;
    let start_ms = now_ms - letters as i64 * 120_000;
    let department = Text::sanitized("Wydział Podatków i Opłat");
    let mut payloads = (1..=letters).flat_map(|n| {
        let intake = IntakeId::new(station, n).unwrap_or_else(|_| unreachable!());
        let at = start_ms + n as i64 * 120_000;
        let mut letter = vec![(
            at,
            Payload::HoldStarted {
                intake,
                hold_secs: 86_400,
            },
        )];
        if n <= letters - STILL_HELD {
            letter.push((
                at + 1,
                Payload::HoldReleased {
                    intake,
                    early: None,
                },
            ));
            letter.push((
                at + 2,
                Payload::Forwarded {
                    intake,
                    department: department.clone(),
                },
            ));
        }
        letter
    });
    let mut events = 0;
    loop {
        let batch: Vec<(Timestamp, Entry)> = payloads
            .by_ref()
            .take(PER_TRANSACTION)
            .map(|(unix_ms, payload)| {
                let at = Timestamp {
                    unix_ms,
                    trusted: true,
                };
                (at, Entry::Payload(payload))
            })
            .collect();
        if batch.is_empty() {
            break;
        }
        events += batch.len() as u64;
        log.append_all(batch)?;
    }
    Ok(events)
}
