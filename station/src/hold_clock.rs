//! The hold clock: milliseconds of time that has certainly passed, counted only forward, so that
//! a sanitising hold ends by time that really went by and no wall-clock step can end it early
//! (DESIGN.md, invariant 4).
//!
//! While the station runs, the counter advances by the monotonic clock alone. It is saved in the
//! custody log's file (beside the signed events, not among them: it is the station's own
//! bookkeeping) at every hold start, at every wall-clock step or change of trust, at every credit
//! of downtime, and otherwise at most every `hold_clock_save_secs` (30 s by default: a save every
//! few seconds, at each refresh of the hold list, would be some 17,000 synchronous writes a day to
//! the SD card). A crash loses what passed since the last save, which only makes holds longer. The time the station was off is added at the next start only when two trusted
//! wall-clock readings bound it: the one saved at the last advance and one taken at the start,
//! or, when the clock is not trusted at the start, the first trusted reading later (holds started
//! in between get none of it), and never more than the longest hold (see
//! [`HoldClockState::start`]).
//!
//! [`HoldClockState`] is that logic without I/O; [`HoldClock`] runs it against the log's file.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use records::{IntakeId, Payload, Timestamp};
use rusqlite::{OptionalExtension, params};

use crate::clock;
use crate::error::Result;
use crate::log_store::LogStore;
use crate::shared_log::SharedLog;

/// What is kept of the hold clock between runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SavedHoldClock {
    /// The counter, milliseconds.
    pub counter_ms: u64,
    /// The wall clock when the counter was saved; `trusted` only when the next start may measure
    /// its downtime from this reading.
    pub last_wall: Timestamp,
}

/// What a start or an advance did about the time the station was off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Downtime {
    /// Nothing is waiting to be credited.
    Nothing,
    /// The last run did not end on a trusted clock: its downtime is never credited.
    Unknown,
    /// Waiting for a trusted wall-clock reading later than the one the last run saved.
    Deferred,
    /// This many milliseconds were added to the counter.
    Credited(u64),
    /// This many milliseconds were added once the wall clock was trusted, after the run started.
    /// Holds started since, at or after `run_from_ms` (the counter when the run started), were
    /// counted without them, so their starts move by as much: none of the downtime came before
    /// them. Moving them and saving the counter is one transaction.
    CreditedLate {
        /// Milliseconds added.
        ms: u64,
        /// The counter when the run started.
        run_from_ms: u64,
    },
    /// This many milliseconds were measured but not added: more than the longest hold.
    Refused(u64),
}

/// The hold clock's state and rules, without I/O: readings come in as arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldClockState {
    counter_ms: u64,
    /// The monotonic clock at the last advance, milliseconds since this run started.
    mono_ms: u64,
    /// The wall clock at the last advance.
    wall: Timestamp,
    /// The last run's saved wall-clock reading, while its downtime waits for a trusted reading.
    deferred_from_ms: Option<i64>,
    /// The counter when this run started.
    run_from_ms: u64,
    /// The most downtime credited at once.
    max_credit_ms: u64,
}

impl HoldClockState {
    /// The clock at the start of a run, `wall` being the wall clock now and the monotonic clock
    /// counting from now.
    ///
    /// `max_credit_ms` guards against a wall clock far ahead that the plausibility rule still
    /// trusts: it would make the station look off for days and end every hold at once. Capping
    /// the credit at the longest hold would not help (a credit as long as the longest hold ends
    /// every open hold just the same), so a longer downtime is refused outright. A real downtime
    /// that long (a weekend with the power off) then makes the holds open at the time longer by
    /// the whole downtime; a supervisor may release them early, with a recorded reason. A clock
    /// wrong by less than the longest hold cannot be told from a real downtime by the wall clock
    /// alone; that needs a source of time beside it (NTP's own synchronisation status, or the
    /// registry's clock).
    pub fn start(
        saved: Option<SavedHoldClock>,
        wall: Timestamp,
        max_credit_ms: u64,
    ) -> (HoldClockState, Downtime) {
        let counter_ms = saved.map_or(0, |s| s.counter_ms);
        let mut state = HoldClockState {
            counter_ms,
            mono_ms: 0,
            wall,
            deferred_from_ms: None,
            run_from_ms: counter_ms,
            max_credit_ms,
        };
        let Some(saved) = saved else {
            return (state, Downtime::Nothing);
        };
        if !saved.last_wall.trusted {
            return (state, Downtime::Unknown);
        }
        if wall.trusted && wall.unix_ms >= saved.last_wall.unix_ms {
            let downtime = state.credit(ms_between(saved.last_wall.unix_ms, wall.unix_ms));
            return (state, downtime);
        }
        // An untrusted clock says nothing. A trusted one behind the saved reading shows
        // that one of the two is wrong, most often fake-hwclock restoring the time it saved at
        // shutdown before NTP answers; it is treated as untrusted, and the wait is for a reading
        // that moved past the saved one by more than this run's own monotonic time.
        state.deferred_from_ms = Some(saved.last_wall.unix_ms);
        (state, Downtime::Deferred)
    }

    /// Moves the clock to `mono_ms` on this run's monotonic clock, with `wall` the wall clock now.
    pub fn advance(&mut self, mono_ms: u64, wall: Timestamp) -> Downtime {
        if mono_ms > self.mono_ms {
            self.counter_ms = self.counter_ms.saturating_add(mono_ms - self.mono_ms);
            self.mono_ms = mono_ms;
        }
        self.wall = wall;
        let Some(from) = self.deferred_from_ms else {
            return Downtime::Nothing;
        };
        if !wall.trusted {
            return Downtime::Deferred;
        }
        // What the wall clock moved on since the last run's reading, beyond what the monotonic
        // clock counted since this run started, passed while the station was off.
        let before_start = ms_between(from, wall.unix_ms).saturating_sub(self.mono_ms);
        if before_start == 0 {
            return Downtime::Deferred;
        }
        self.deferred_from_ms = None;
        match self.credit(before_start) {
            Downtime::Credited(ms) => Downtime::CreditedLate {
                ms,
                run_from_ms: self.run_from_ms,
            },
            other => other,
        }
    }

    fn credit(&mut self, ms: u64) -> Downtime {
        if ms > self.max_credit_ms {
            return Downtime::Refused(ms);
        }
        self.counter_ms = self.counter_ms.saturating_add(ms);
        Downtime::Credited(ms)
    }

    /// Milliseconds of time that certainly passed.
    pub fn counter_ms(&self) -> u64 {
        self.counter_ms
    }

    /// Where a hold that started at `start_ms` starts after `downtime` was credited.
    pub fn moved_start(start_ms: u64, downtime: Downtime) -> u64 {
        match downtime {
            Downtime::CreditedLate { ms, run_from_ms } if start_ms >= run_from_ms => {
                start_ms.saturating_add(ms)
            }
            _ => start_ms,
        }
    }

    /// What to keep for the next run. While a downtime is deferred, this run's readings are not
    /// vouched for: the next start would credit this run's unknown downtime along with its own.
    pub fn saved(&self) -> SavedHoldClock {
        SavedHoldClock {
            counter_ms: self.counter_ms,
            last_wall: Timestamp {
                unix_ms: self.wall.unix_ms,
                trusted: self.wall.trusted && self.deferred_from_ms.is_none(),
            },
        }
    }
}

/// Milliseconds from `from` to `to`, 0 when `to` is not later.
fn ms_between(from: i64, to: i64) -> u64 {
    u64::try_from(to.saturating_sub(from)).unwrap_or(0)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Where one envelope's hold stands on the hold clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldProgress {
    /// The envelope.
    pub intake: IntakeId,
    /// How long the hold lasts, milliseconds.
    pub hold_ms: u64,
    /// How much of it has passed, milliseconds.
    pub passed_ms: u64,
}

impl HoldProgress {
    /// Whether the hold is over.
    pub fn is_over(&self) -> bool {
        self.passed_ms >= self.hold_ms
    }

    /// What is left of the hold.
    pub fn remaining(&self) -> Duration {
        Duration::from_millis(self.hold_ms.saturating_sub(self.passed_ms))
    }

    /// What is left in whole seconds, rounded up: 0 only once the hold is over.
    pub fn remaining_secs(&self) -> u64 {
        self.hold_ms.saturating_sub(self.passed_ms).div_ceil(1000)
    }

    /// What is left, for people: `23 h 05 min`, `4 min 09 s`, `42 s`.
    pub fn remaining_text(&self) -> String {
        let secs = self.remaining_secs();
        match secs {
            3600.. => format!("{} h {:02} min", secs / 3600, secs % 3600 / 60),
            60.. => format!("{} min {:02} s", secs / 60, secs % 60),
            _ => format!("{secs} s"),
        }
    }
}

/// The hold clock of a running station, kept in its custody log's file.
#[derive(Debug, Clone)]
pub struct HoldClock {
    log: SharedLog,
    running: Arc<Mutex<Option<Running>>>,
    limits: Limits,
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    max_credit_ms: u64,
    save_every: Duration,
}

#[derive(Debug)]
struct Running {
    state: HoldClockState,
    started: Instant,
    /// What the file holds, and when it was written.
    saved: SavedHoldClock,
    saved_at: Instant,
}

/// How far the wall clock may move from the monotonic clock between two advances before it
/// counts as a step that is saved at once: a step saved late would be credited as downtime by a
/// restart after a crash (up to the longest hold).
const WALL_STEP_MS: u64 = 2_000;

impl HoldClock {
    /// The hold clock kept in `log`, crediting no downtime longer than `longest_hold_secs` (see
    /// [`HoldClockState::start`]) and saved at least every `save_every_secs` while it advances.
    /// It starts, reading what the last run saved, at its first use.
    pub fn new(log: SharedLog, longest_hold_secs: u32, save_every_secs: u32) -> HoldClock {
        HoldClock {
            log,
            running: Arc::new(Mutex::new(None)),
            limits: Limits {
                max_credit_ms: u64::from(longest_hold_secs) * 1000,
                save_every: Duration::from_secs(u64::from(save_every_secs)),
            },
        }
    }

    /// Records that `intake`'s hold starts now on the hold clock. Called right after its
    /// `hold_started` event was committed; should this fail, the hold starts when it is first
    /// seen instead, which is later: a hold may come out too long, never too short.
    pub async fn hold_started(&self, intake: IntakeId) {
        let running = self.running.clone();
        let limits = self.limits;
        let recorded = self
            .log
            .with(move |log| {
                // Saved with the start: a restart must not find the start ahead of the counter
                // by more than the throttle, or the hold would look younger than it is.
                let counter = advanced(&running, log.store(), limits, Save::Now)?;
                start_of(log.store(), intake, counter).map(|_| ())
            })
            .await;
        if let Err(e) = recorded {
            tracing::error!("hold clock: start of {intake}'s hold not recorded: {e}");
        }
    }

    /// Where `intake`'s hold stands now; `None` when it is not in a hold.
    pub async fn hold(&self, intake: IntakeId) -> Result<Option<HoldProgress>> {
        let running = self.running.clone();
        let limits = self.limits;
        self.log
            .with(move |log| {
                let store = log.store();
                let counter = advanced(&running, store, limits, Save::WhenDue)?;
                let Some(hold_secs) = open_hold_of(store, intake)? else {
                    return Ok(None);
                };
                let start = start_of(store, intake, counter)?;
                Ok(Some(progress(intake, hold_secs, start, counter)))
            })
            .await
    }

    /// Every open hold, oldest first, with where it stands now.
    pub async fn open_holds(&self) -> Result<Vec<HoldProgress>> {
        let running = self.running.clone();
        let limits = self.limits;
        self.log
            .with(move |log| {
                let store = log.store();
                let counter = advanced(&running, store, limits, Save::WhenDue)?;
                // One transaction: after an upgrade, every open hold may need its start row.
                let tx = store.conn.unchecked_transaction()?;
                let mut out = Vec::new();
                for (intake, hold_secs) in open_hold_lengths(store)? {
                    let start = start_of(store, intake, counter)?;
                    out.push(progress(intake, hold_secs, start, counter));
                }
                tx.commit()?;
                Ok(out)
            })
            .await
    }
}

fn progress(intake: IntakeId, hold_secs: u32, start_ms: u64, counter_ms: u64) -> HoldProgress {
    HoldProgress {
        intake,
        hold_ms: u64::from(hold_secs) * 1000,
        passed_ms: counter_ms.saturating_sub(start_ms),
    }
}

fn lock(running: &Mutex<Option<Running>>) -> MutexGuard<'_, Option<Running>> {
    // The state is replaced whole at every step; a panic elsewhere cannot leave half of it.
    running
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Whether an advance must reach the file now, or only when [`must_save`] says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Save {
    Now,
    WhenDue,
}

/// Starts the clock if this run has not yet, else advances it; saves it when due; returns the
/// counter. The clock in memory moves only once a save it needed committed: a failed save leaves
/// it where it was, and the next advance tries again from there.
fn advanced(
    running: &Mutex<Option<Running>>,
    store: &LogStore,
    limits: Limits,
    when: Save,
) -> Result<u64> {
    let mut guard = lock(running);
    let (mut next, downtime, first) = match &*guard {
        Some(now) => {
            let mut state = now.state.clone();
            let downtime = state.advance(millis(now.started.elapsed()), clock::now());
            let next = Running {
                state,
                started: now.started,
                saved: now.saved,
                saved_at: now.saved_at,
            };
            (next, downtime, false)
        }
        None => {
            let saved = load(store)?;
            let started = Instant::now();
            let (state, downtime) =
                HoldClockState::start(saved, clock::now(), limits.max_credit_ms);
            tracing::info!(
                "hold clock: started at {} ms{}",
                state.counter_ms(),
                if saved.is_none() { " (first run)" } else { "" }
            );
            let saved = state.saved();
            let next = Running {
                state,
                started,
                saved,
                saved_at: started,
            };
            (next, downtime, true)
        }
    };
    let counter = next.state.counter_ms();
    if !(first || when == Save::Now || must_save(&next, downtime, limits.save_every)) {
        *guard = Some(next);
        return Ok(counter);
    }
    let tx = store.conn.unchecked_transaction()?;
    if let Downtime::CreditedLate { ms, run_from_ms } = downtime {
        store.conn.execute(
            "UPDATE hold_starts SET clock_ms = clock_ms + ?1 WHERE clock_ms >= ?2",
            params![to_sql(ms), to_sql(run_from_ms)],
        )?;
    }
    let saving = next.state.saved();
    save(store, &saving)?;
    tx.commit()?;
    report(downtime);
    next.saved = saving;
    next.saved_at = Instant::now();
    *guard = Some(next);
    Ok(counter)
}

/// Whether `next` must reach the file before anyone relies on it: a credit moved the counter or
/// hold starts, the wall clock stepped or changed trust (a restart after a crash measures its
/// downtime from the saved reading), or the save is due.
fn must_save(next: &Running, downtime: Downtime, save_every: Duration) -> bool {
    if matches!(
        downtime,
        Downtime::Credited(_) | Downtime::CreditedLate { .. } | Downtime::Refused(_)
    ) {
        return true;
    }
    let now = next.state.saved();
    if now.last_wall.trusted != next.saved.last_wall.trusted {
        return true;
    }
    let since_save = next.saved_at.elapsed();
    let wall_moved = now
        .last_wall
        .unix_ms
        .saturating_sub(next.saved.last_wall.unix_ms);
    let mono_moved = i64::try_from(since_save.as_millis()).unwrap_or(i64::MAX);
    wall_moved.abs_diff(mono_moved) > WALL_STEP_MS || since_save >= save_every
}

fn to_sql(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

fn report(downtime: Downtime) {
    match downtime {
        Downtime::Nothing => {}
        Downtime::Unknown => tracing::warn!(
            "hold clock: the last run did not end on a trusted clock; the time the station was off is not credited (open holds run longer by it)"
        ),
        Downtime::Deferred => tracing::debug!(
            "hold clock: waiting for a trusted wall clock to credit the time the station was off"
        ),
        Downtime::Credited(ms) | Downtime::CreditedLate { ms, .. } => {
            tracing::info!("hold clock: credited {} s the station was off", ms / 1000)
        }
        Downtime::Refused(ms) => tracing::warn!(
            "hold clock: the wall clock says the station was off for {} s, longer than the longest hold; not credited, in case the clock is wrong (open holds run longer by it)",
            ms / 1000
        ),
    }
}

/// What the last run saved, if any run did.
pub fn load(store: &LogStore) -> Result<Option<SavedHoldClock>> {
    let row = store
        .conn
        .query_row(
            "SELECT counter_ms, last_wall_ms, last_wall_trusted FROM hold_clock WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, bool>(2)?,
                ))
            },
        )
        .optional()?;
    Ok(row.map(|(counter_ms, unix_ms, trusted)| SavedHoldClock {
        // The schema keeps it non-negative; were it not, starting again from 0 only makes the
        // holds that are open longer.
        counter_ms: u64::try_from(counter_ms).unwrap_or(0),
        last_wall: Timestamp { unix_ms, trusted },
    }))
}

/// Keeps `saved` for the next run.
pub fn save(store: &LogStore, saved: &SavedHoldClock) -> Result<()> {
    store.conn.execute(
        "INSERT INTO hold_clock(id, counter_ms, last_wall_ms, last_wall_trusted) VALUES (1, ?1, ?2, ?3)
         ON CONFLICT(id) DO UPDATE SET counter_ms = excluded.counter_ms,
             last_wall_ms = excluded.last_wall_ms, last_wall_trusted = excluded.last_wall_trusted",
        params![
            to_sql(saved.counter_ms),
            saved.last_wall.unix_ms,
            saved.last_wall.trusted
        ],
    )?;
    Ok(())
}

/// The hold clock's value when `intake`'s hold started, if it was recorded.
pub fn hold_start_ms(store: &LogStore, intake: IntakeId) -> Result<Option<u64>> {
    let start: Option<i64> = store
        .conn
        .query_row(
            "SELECT clock_ms FROM hold_starts WHERE intake_id = ?1",
            [intake.to_string()],
            |r| r.get(0),
        )
        .optional()?;
    // The schema keeps it non-negative; were it not, the latest start possible is the safe one.
    Ok(start.map(|s| u64::try_from(s).unwrap_or(u64::MAX)))
}

/// When `intake`'s hold started, recording `counter_ms` if nothing was recorded: a hold whose
/// start was lost (an older log, or a crash right after its event) starts when first seen.
fn start_of(store: &LogStore, intake: IntakeId, counter_ms: u64) -> Result<u64> {
    if let Some(start) = hold_start_ms(store, intake)? {
        return Ok(start);
    }
    store.conn.execute(
        "INSERT INTO hold_starts(intake_id, clock_ms) VALUES (?1, ?2)",
        params![intake.to_string(), to_sql(counter_ms)],
    )?;
    Ok(counter_ms)
}

/// Every hold started and not released, with its length, oldest first.
fn open_hold_lengths(store: &LogStore) -> Result<Vec<(IntakeId, u32)>> {
    Ok(store
        .open_holds()?
        .into_iter()
        .map(|(intake, hold_secs, _)| (intake, hold_secs))
        .collect())
}

/// The length of `intake`'s hold, if one was started and not released.
fn open_hold_of(store: &LogStore, intake: IntakeId) -> Result<Option<u32>> {
    Ok(store
        .events_for_intake(&intake)?
        .into_iter()
        .fold(None, |open, event| match event.payload {
            Payload::HoldStarted { hold_secs, .. } => Some(hold_secs),
            Payload::HoldReleased { .. } => None,
            _ => open,
        }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use proptest::prelude::*;

    /// 2026-11-22T00:00:00Z.
    const REAL_START: i64 = 1_795_305_600_000;
    const HOUR: u64 = 3_600_000;
    const DAY: i64 = 24 * 3_600_000;
    const LONGEST_HOLD: u64 = 72 * HOUR;

    fn trusted(unix_ms: i64) -> Timestamp {
        Timestamp {
            unix_ms,
            trusted: true,
        }
    }

    fn untrusted(unix_ms: i64) -> Timestamp {
        Timestamp {
            unix_ms,
            trusted: false,
        }
    }

    fn saved_at(counter_ms: u64, wall: Timestamp) -> Option<SavedHoldClock> {
        Some(SavedHoldClock {
            counter_ms,
            last_wall: wall,
        })
    }

    #[test]
    fn a_wall_clock_step_while_running_moves_the_counter_by_monotonic_time_only() {
        let (mut c, _) = HoldClockState::start(None, trusted(REAL_START), LONGEST_HOLD);
        c.advance(1_000, trusted(REAL_START + 2 * DAY));
        assert_eq!(c.counter_ms(), 1_000);
        c.advance(3_000, trusted(REAL_START - DAY));
        assert_eq!(c.counter_ms(), 3_000);
        c.advance(4_000, untrusted(5_000));
        assert_eq!(c.counter_ms(), 4_000);
        // A monotonic reading older than the last one (never from `Instant`) counts nothing.
        c.advance(2_000, trusted(REAL_START));
        assert_eq!(c.counter_ms(), 4_000);
    }

    #[test]
    fn a_restart_on_a_correct_clock_credits_the_downtime() {
        let (c, downtime) = HoldClockState::start(
            saved_at(10_000, trusted(REAL_START)),
            trusted(REAL_START + 90_000),
            LONGEST_HOLD,
        );
        assert_eq!(downtime, Downtime::Credited(90_000));
        assert_eq!(c.counter_ms(), 100_000);
        assert!(c.saved().last_wall.trusted);
    }

    #[test]
    fn a_restart_on_a_clock_far_ahead_credits_nothing() {
        let saved = saved_at(10_000, trusted(REAL_START));
        let (c, downtime) =
            HoldClockState::start(saved, trusted(REAL_START + 5 * DAY), LONGEST_HOLD);
        assert_eq!(downtime, Downtime::Refused(5 * DAY as u64));
        assert_eq!(c.counter_ms(), 10_000);
        // A credit as long as the longest hold is still taken (a real downtime may be that long).
        let (c, downtime) = HoldClockState::start(
            saved,
            trusted(REAL_START + LONGEST_HOLD as i64),
            LONGEST_HOLD,
        );
        assert_eq!(downtime, Downtime::Credited(LONGEST_HOLD));
        assert_eq!(c.counter_ms(), 10_000 + LONGEST_HOLD);
    }

    #[test]
    fn a_restart_on_a_clock_behind_credits_nothing() {
        let (c, downtime) = HoldClockState::start(
            saved_at(10_000, trusted(REAL_START)),
            trusted(REAL_START - DAY),
            LONGEST_HOLD,
        );
        assert_eq!(downtime, Downtime::Deferred);
        assert_eq!(c.counter_ms(), 10_000);
    }

    #[test]
    fn a_restart_at_1970_credits_the_downtime_once_the_clock_is_trusted() {
        let (mut c, downtime) = HoldClockState::start(
            saved_at(10_000, trusted(REAL_START)),
            untrusted(0),
            LONGEST_HOLD,
        );
        assert_eq!(downtime, Downtime::Deferred);
        assert_eq!(c.counter_ms(), 10_000);
        // Until then this run's readings vouch for nothing: a restart now credits nothing.
        assert!(!c.saved().last_wall.trusted);
        assert_eq!(c.advance(5_000, untrusted(5_000)), Downtime::Deferred);
        assert_eq!(c.counter_ms(), 15_000);
        // NTP sets the clock: off for 60 s, then 7 s of this run.
        assert_eq!(
            c.advance(7_000, trusted(REAL_START + 67_000)),
            Downtime::CreditedLate {
                ms: 60_000,
                run_from_ms: 10_000
            }
        );
        assert_eq!(c.counter_ms(), 77_000);
        assert!(c.saved().last_wall.trusted);
        // Once only, whatever the clock does next.
        assert_eq!(
            c.advance(8_000, trusted(REAL_START + DAY)),
            Downtime::Nothing
        );
        assert_eq!(c.counter_ms(), 78_000);
    }

    #[test]
    fn fake_hwclock_then_ntp_credits_the_downtime_when_ntp_steps_the_clock() {
        // The saved time restored at boot, behind the last run's last reading.
        let (mut c, downtime) = HoldClockState::start(
            saved_at(10_000, trusted(REAL_START)),
            trusted(REAL_START - 30_000),
            LONGEST_HOLD,
        );
        assert_eq!(downtime, Downtime::Deferred);
        // The stale clock runs past the saved reading: no more than the monotonic clock did.
        assert_eq!(
            c.advance(40_000, trusted(REAL_START + 10_000)),
            Downtime::Deferred
        );
        assert!(!c.saved().last_wall.trusted);
        // NTP steps it to the real time: off for 120 s, then 41 s of this run.
        assert_eq!(
            c.advance(41_000, trusted(REAL_START + 161_000)),
            Downtime::CreditedLate {
                ms: 120_000,
                run_from_ms: 10_000
            }
        );
        assert_eq!(c.counter_ms(), 10_000 + 41_000 + 120_000);
    }

    #[test]
    fn a_hold_started_before_the_clock_was_trusted_gets_none_of_the_downtime() {
        let (mut c, _) = HoldClockState::start(
            saved_at(10_000, trusted(REAL_START)),
            untrusted(0),
            LONGEST_HOLD,
        );
        c.advance(1_000, untrusted(1_000));
        let before_restart = 9_000;
        let since_restart = c.counter_ms();
        // Off for 8 hours, then 61 s of this run.
        let credited = c.advance(61_000, trusted(REAL_START + 8 * HOUR as i64 + 61_000));
        assert_eq!(
            credited,
            Downtime::CreditedLate {
                ms: 8 * HOUR,
                run_from_ms: 10_000
            }
        );
        let passed = |start| c.counter_ms() - HoldClockState::moved_start(start, credited);
        assert_eq!(passed(since_restart), 60_000);
        assert_eq!(passed(before_restart), 1_000 + 61_000 + 8 * HOUR);
    }

    #[test]
    fn a_run_that_never_had_a_trusted_clock_credits_nothing_at_the_next_start() {
        let (c, downtime) = HoldClockState::start(
            saved_at(10_000, untrusted(5_000)),
            trusted(REAL_START),
            LONGEST_HOLD,
        );
        assert_eq!(downtime, Downtime::Unknown);
        assert_eq!(c.counter_ms(), 10_000);
        // From here on this run's readings count.
        assert!(c.saved().last_wall.trusted);
    }

    #[test]
    fn the_remaining_time_is_rounded_up_and_said_in_units() {
        let intake = IntakeId::new("GW7K".parse().unwrap(), 1).unwrap();
        let at = |hold_ms, passed_ms| HoldProgress {
            intake,
            hold_ms,
            passed_ms,
        };
        assert_eq!(at(6_000, 5_001).remaining_secs(), 1);
        assert!(!at(6_000, 5_999).is_over());
        assert_eq!(at(6_000, 6_000).remaining_secs(), 0);
        assert!(at(6_000, 9_000).is_over());
        assert_eq!(at(86_400_000, 1_000).remaining_text(), "23 h 59 min");
        assert_eq!(at(300_000, 50_500).remaining_text(), "4 min 10 s");
        assert_eq!(at(42_000, 0).remaining_text(), "42 s");
    }

    /// A wall clock in the model: the real time plus an offset.
    #[derive(Debug, Clone, Copy)]
    enum Wall {
        Correct,
        /// Reads this many ms after 1970, and on from there: untrusted.
        Untrusted(i64),
        /// Ahead by this many days: trusted, and wrong by more than the longest hold.
        AheadDays(i64),
        /// Off by this many hours either way, and trusted all the same.
        OffHours(i64),
    }

    /// The longest hold in the model, and so the most downtime credited at once.
    const CAP: u64 = 10 * 60_000;

    fn reading(wall: Wall, real: i64) -> Timestamp {
        let unix_ms = match wall {
            Wall::Correct => real,
            Wall::Untrusted(ms) => ms + (real - REAL_START),
            Wall::AheadDays(days) => real + days * DAY,
            Wall::OffHours(hours) => real + hours * 3_600_000,
        };
        Timestamp {
            unix_ms,
            trusted: unix_ms >= 1_767_225_600_000,
        }
    }

    #[derive(Debug, Clone, Copy)]
    enum Step {
        /// The station runs this long, then advances and saves the clock.
        Run(u64),
        /// A hold starts: the clock advances and saves, and the start is recorded.
        StartHold,
        /// The wall clock is set.
        Set(Wall),
        /// The station stops this long after its last save, and starts again.
        Restart(u64),
    }

    /// A hold in the model: where it starts on the hold clock, and when it started really.
    #[derive(Debug, Clone, Copy)]
    struct Hold {
        start: u64,
        real: i64,
        restarts: u64,
    }

    /// What was seen after a save: the real time, the counter, the holds, restarts so far.
    #[derive(Debug, Clone)]
    struct Seen {
        real: i64,
        counter: u64,
        holds: Vec<Hold>,
        restarts: u64,
    }

    /// Plays `steps` from a first start on a correct clock, as [`advanced`] does: the clock and
    /// the moved starts saved together at every advance and start.
    fn play(steps: &[Step]) -> Vec<Seen> {
        let mut real = REAL_START;
        let mut wall = Wall::Correct;
        let (mut clock, _) = HoldClockState::start(None, reading(wall, real), CAP);
        let mut run_started = real;
        let mut saved = clock.saved();
        let mut holds: Vec<Hold> = Vec::new();
        let mut restarts = 0;
        let mut seen = Vec::new();
        for step in steps.iter().chain([&Step::Run(0)]) {
            let downtime = match *step {
                Step::Run(ms) => {
                    real += ms as i64;
                    clock.advance((real - run_started) as u64, reading(wall, real))
                }
                Step::StartHold => clock.advance((real - run_started) as u64, reading(wall, real)),
                Step::Set(w) => {
                    wall = w;
                    continue;
                }
                Step::Restart(ms) => {
                    real += ms as i64;
                    let downtime;
                    (clock, downtime) =
                        HoldClockState::start(Some(saved), reading(wall, real), CAP);
                    run_started = real;
                    restarts += 1;
                    downtime
                }
            };
            for hold in &mut holds {
                hold.start = HoldClockState::moved_start(hold.start, downtime);
            }
            if let Step::StartHold = step {
                holds.push(Hold {
                    start: clock.counter_ms(),
                    real,
                    restarts,
                });
            }
            saved = clock.saved();
            seen.push(Seen {
                real,
                counter: clock.counter_ms(),
                holds: holds.clone(),
                restarts,
            });
        }
        seen
    }

    fn steps(
        wall: impl Strategy<Value = Wall>,
        longest_downtime: u64,
    ) -> impl Strategy<Value = Vec<Step>> {
        let step = prop_oneof![
            4 => (0..300_000u64).prop_map(Step::Run),
            2 => Just(Step::StartHold),
            2 => wall.prop_map(Step::Set),
            2 => (0..=longest_downtime).prop_map(Step::Restart),
        ];
        proptest::collection::vec(step, 0..60)
    }

    /// Clocks that are right, untrusted, or ahead by days: never wrong by less than the longest
    /// hold while trusted, which no rule on the wall clock alone can tell from the truth.
    fn right_or_obviously_wrong() -> impl Strategy<Value = Wall> {
        prop_oneof![
            Just(Wall::Correct),
            (0..1_700_000_000_000i64).prop_map(Wall::Untrusted),
            (1..4i64).prop_map(Wall::AheadDays),
        ]
    }

    /// Checks the counter never goes back, and that neither it nor any hold has more passed than
    /// the real time since they started, plus `slack_per_restart` for every start since.
    fn check(seen: &[Seen], slack_per_restart: u64) -> Result<(), TestCaseError> {
        let mut counter = 0;
        for now in seen {
            prop_assert!(now.counter >= counter, "the counter went back");
            counter = now.counter;
            prop_assert!(
                now.counter <= (now.real - REAL_START) as u64 + slack_per_restart * now.restarts
            );
            for hold in &now.holds {
                let passed = now.counter - hold.start;
                let allowed = (now.real - hold.real) as u64
                    + slack_per_restart * (now.restarts - hold.restarts);
                prop_assert!(
                    passed <= allowed,
                    "{passed} ms of a hold passed in {} ms",
                    now.real - hold.real
                );
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn no_hold_ever_has_more_passed_than_the_real_time_since_it_started(
            steps in steps(right_or_obviously_wrong(), 3 * CAP)
        ) {
            check(&play(&steps), 0)?;
        }

        #[test]
        fn on_a_correct_clock_holds_lose_nothing_across_restarts(
            steps in steps(Just(Wall::Correct), CAP)
        ) {
            for now in play(&steps) {
                prop_assert_eq!(now.counter, (now.real - REAL_START) as u64);
                for hold in &now.holds {
                    prop_assert_eq!(now.counter - hold.start, (now.real - hold.real) as u64);
                }
            }
        }

        /// The risk left: a trusted clock wrong by hours (fake-hwclock restoring an old time, a
        /// time zone set as UTC) may credit up to the longest hold too much at a start.
        #[test]
        fn any_clock_at_all_adds_at_most_the_longest_hold_per_restart(
            steps in steps(
                prop_oneof![right_or_obviously_wrong(), (-72i64..72).prop_map(Wall::OffHours)],
                3 * CAP,
            )
        ) {
            check(&play(&steps), CAP)?;
        }
    }

    fn open_log(path: &std::path::Path) -> crate::CustodyLog {
        crate::CustodyLog::open(
            path,
            "GW7K".parse().unwrap(),
            crate::StationKey::from_seed([7; 32]),
        )
        .unwrap()
    }

    fn hold_started(log: &mut crate::CustodyLog, number: u64, hold_secs: u32) -> IntakeId {
        let intake = IntakeId::new("GW7K".parse().unwrap(), number).unwrap();
        log.append(clock::now(), Payload::HoldStarted { intake, hold_secs })
            .unwrap();
        intake
    }

    #[test]
    fn a_log_from_before_the_hold_clock_is_upgraded_and_still_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("custody.db");
        {
            let mut log = open_log(&path);
            hold_started(&mut log, 1, 60);
        }
        // Back to the first schema, as a station of the previous release left it.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE hold_clock; DROP TABLE hold_starts; DROP INDEX events_by_kind;
             DROP TRIGGER hold_opens; DROP TRIGGER hold_closes; DROP TRIGGER hold_pruned;
             DROP TABLE open_holds; PRAGMA user_version = 1;",
        )
        .unwrap();
        drop(conn);
        assert!(
            LogStore::open_existing(&path).is_err(),
            "an old schema is named"
        );
        let log = open_log(&path);
        assert_eq!(load(log.store()).unwrap(), None);
        drop(log);
        let store = LogStore::open_existing(&path).unwrap();
        let keys = store.recorded_keys().unwrap();
        assert_eq!(
            store.verify(&keys, records::ChainTip::GENESIS).unwrap().seq,
            1
        );
        // The signed events are untouched by the bookkeeping.
        save(
            &store,
            &SavedHoldClock {
                counter_ms: 5,
                last_wall: trusted(REAL_START),
            },
        )
        .unwrap();
        assert_eq!(
            store.verify(&keys, records::ChainTip::GENESIS).unwrap().seq,
            1
        );
    }

    #[tokio::test]
    async fn refreshes_save_only_when_due_but_a_hold_start_saves_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = SharedLog::new(open_log(&dir.path().join("custody.db")));
        let clock = HoldClock::new(log.clone(), 60, 3_600);
        let saved_now = || async {
            log.with(|log| load(log.store()))
                .await
                .unwrap()
                .unwrap()
                .counter_ms
        };
        clock.open_holds().await.unwrap();
        let first = saved_now().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        clock.open_holds().await.unwrap();
        assert_eq!(saved_now().await, first, "a refresh before the save is due");
        let intake = log.with(|log| Ok(hold_started(log, 1, 60))).await.unwrap();
        clock.hold_started(intake).await;
        let at_start = saved_now().await;
        assert!(at_start >= first + 50, "{first} → {at_start}");
        let start = log
            .with(move |log| hold_start_ms(log.store(), intake))
            .await
            .unwrap();
        assert_eq!(start, Some(at_start));
    }

    #[tokio::test]
    async fn a_hold_without_a_recorded_start_starts_when_first_seen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("custody.db");
        let log = SharedLog::new(open_log(&path));
        let clock = HoldClock::new(log.clone(), 60, 0);
        let first = log.with(|log| Ok(hold_started(log, 1, 60))).await.unwrap();
        clock.hold_started(first).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
        // Its event committed, then a crash before its start was recorded.
        let second = log.with(|log| Ok(hold_started(log, 2, 1))).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        let holds = clock.open_holds().await.unwrap();
        assert_eq!(
            holds.iter().map(|h| h.intake).collect::<Vec<_>>(),
            [first, second]
        );
        assert!(holds[0].passed_ms >= 60, "{holds:?}");
        assert_eq!(holds[1].passed_ms, 0, "{holds:?}");
        let (start_first, start_second, saved) = log
            .with(move |log| {
                Ok((
                    hold_start_ms(log.store(), first)?,
                    hold_start_ms(log.store(), second)?,
                    load(log.store())?,
                ))
            })
            .await
            .unwrap();
        assert!(start_second.unwrap() >= start_first.unwrap() + 60);
        assert_eq!(start_second.unwrap(), saved.unwrap().counter_ms);
        // Over after its second, by the hold clock.
        tokio::time::sleep(Duration::from_millis(1_050)).await;
        let second_now = clock.hold(second).await.unwrap().unwrap();
        assert!(second_now.is_over(), "{second_now:?}");
        assert!(!clock.hold(first).await.unwrap().unwrap().is_over());
        let never_held = IntakeId::new("GW7K".parse().unwrap(), 3).unwrap();
        assert_eq!(clock.hold(never_held).await.unwrap(), None);
    }
}
