//! Copying the register's WAL into its database file on a thread of its own.
//!
//! SQLite's own checkpoint runs inside the commit that crosses its threshold, on the
//! connection that commits: under 500 stations that was about 15 % of ingest's writer thread's
//! CPU, plus a wait for the database file's fsync, while every push of the next batch waited.
//! Here a thread with its own connection copies the committed pages (a `PASSIVE` checkpoint,
//! which never waits for a reader or the writer) while the writer goes on.
//!
//! The writer's connection keeps an automatic checkpoint at [`WRITER_CHECKPOINT_PAGES`]: the WAL
//! only starts over from its beginning when a write begins with every page copied, which a
//! writer busy without a break rarely gives this thread the moment to see. At that bound the
//! writer copies what is left (little: this thread has copied the rest) and the WAL starts over,
//! so it stays within about that size whatever the load.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::error::{Error, Result};

/// The writer's own checkpoint threshold, in pages of the WAL (4 KiB each): 16 MiB.
pub(super) const WRITER_CHECKPOINT_PAGES: i64 = 4096;

/// The least time between two checkpoints: each one ends with an fsync of the database file,
/// on the disk the writer's commits wait for, and one pass after several commits copies a page
/// that each of them changed once instead of several times.
const GAP: Duration = Duration::from_millis(100);

#[derive(Default)]
struct Signal {
    due: bool,
    stop: bool,
}

/// The checkpoint thread; dropping it stops the thread and waits for it.
pub(super) struct Checkpointer {
    signal: Arc<(Mutex<Signal>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointer").finish_non_exhaustive()
    }
}

impl Checkpointer {
    /// Starts the thread on a connection of its own to the register at `path`.
    pub(super) fn start(path: &Path) -> Result<Checkpointer> {
        let conn = Connection::open(path)?;
        // Synced as the writer's commits are: without a sync of the file after the copy, the
        // WAL could start over while the file does not hold its pages yet.
        conn.pragma_update(None, "synchronous", "FULL")?;
        let signal: Arc<(Mutex<Signal>, Condvar)> = Arc::default();
        let theirs = Arc::clone(&signal);
        let thread = std::thread::Builder::new()
            .name("register-checkpt".into())
            .spawn(move || run(&conn, &theirs))
            .map_err(|e| Error::Task(format!("starting the checkpoint thread: {e}")))?;
        Ok(Checkpointer {
            signal,
            thread: Some(thread),
        })
    }

    /// Says that a commit added pages to the WAL.
    pub(super) fn committed(&self) {
        let (lock, wake) = &*self.signal;
        if let Ok(mut s) = lock.lock() {
            s.due = true;
            wake.notify_one();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (lock, wake) = &*self.signal;
        if let Ok(mut s) = lock.lock() {
            s.stop = true;
            wake.notify_one();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(conn: &Connection, signal: &(Mutex<Signal>, Condvar)) {
    let (lock, wake) = signal;
    loop {
        let Ok(s) = lock.lock() else { return };
        let Ok(mut s) = wake.wait_while(s, |s| !s.due && !s.stop) else {
            return;
        };
        if s.stop {
            return;
        }
        s.due = false;
        drop(s);
        // Another checkpoint running (the writer's own, at its bound) is no error: the pragma
        // reports it in its row and copies nothing.
        if let Err(e) = checkpoint(conn) {
            tracing::warn!(error = %e, "register checkpoint failed; the writer's own will copy the WAL");
        }
        // The gap, cut short by a stop.
        let Ok(s) = lock.lock() else { return };
        if wake.wait_timeout_while(s, GAP, |s| !s.stop).is_err() {
            return;
        }
    }
}

fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use records::IntakeId;

    /// Committed pages reach the database file without the writer copying them: well below the
    /// writer's own threshold, only this thread copies them before the register is closed.
    #[test]
    fn committed_pages_reach_the_database_file_while_the_register_is_open() {
        let (dir, store, code, key) = super::super::tests::store_with_one_station();
        let file = dir.path().join("register.db");
        let before = std::fs::metadata(&file).unwrap().len();
        let mut events: Vec<_> = (1..=200)
            .map(|seq| {
                let intake = IntakeId::new(code, seq).unwrap();
                super::super::tests::test_event(&key, seq, "drop_seen", Some(intake), 0)
            })
            .collect();
        for e in &mut events {
            // Pages enough to see (about 1 MiB), still a tenth of the writer's threshold.
            e.signed.canonical = vec![u8::try_from(e.signed.seq).unwrap(); 5_000];
        }
        super::super::tests::append_events(&store, code, &events);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut now = std::fs::metadata(&file).unwrap().len();
        while now < before + 500_000 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            now = std::fs::metadata(&file).unwrap().len();
        }
        assert!(
            now >= before + 500_000,
            "the database file stayed at {now} bytes (was {before})"
        );
    }
}
