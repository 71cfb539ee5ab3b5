//! Crash durability with real processes: a child appends events and reports each seq only after
//! `append` returned; it is killed with SIGKILL at random moments. After every kill the log opens,
//! passes `quick_check`, verifies, has no gap, and holds every seq the child reported.
//!
//! `URNA_CRASH_KILLS` sets the number of kills (default 50; `scripts/crash-soak` runs 1,000).
//! SIGKILL loses the process, not the kernel's page cache: power cuts are the "Proof under
//! stress" issue's to simulate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use records::{ChainTip, Payload};
use station::{CustodyLog, LogStore};

const CHILD_ENV: &str = "URNA_CRASH_CHILD_DB";
const REPORT: &str = "committed ";

/// The child's body. Run only by `crash_durability`, as this same test binary with the
/// environment variable set; on its own it is skipped.
#[test]
#[ignore = "runs only as the child process of crash_durability"]
fn crash_child() {
    let Ok(db) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut log = CustodyLog::open(std::path::Path::new(&db), station(), key()).unwrap();
    let mut i: i64 = 0;
    loop {
        i += 1;
        let when = at(i);
        let appended = if i % 3 == 0 {
            log.append(when, Payload::DoorOpened).unwrap()
        } else {
            log.append_intake(when, move |id| deposit(id, when))
                .unwrap()
        };
        // Printed only after append returned: this is the promise made to a person.
        println!("{REPORT}{}", appended.seq());
    }
}

/// A small xorshift generator: kill timing needs spread, not cryptographic quality.
struct Jitter(u64);

impl Jitter {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

#[test]
fn crash_durability() {
    let kills: usize = std::env::var("URNA_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("log.db");
    let me = std::env::current_exe().unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash_durability: {kills} kills, jitter seed {seed}");
    let mut jitter = Jitter(seed);
    let mut promised: u64 = 0;
    let mut kills_mid_run = 0;
    for round in 0..kills {
        let mut child = Command::new(&me)
            .args([
                "crash_child",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &db)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut seqs = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(seq) = line.strip_prefix(REPORT) {
                    seqs.push(seq.trim().parse::<u64>().unwrap());
                }
            }
            seqs
        });
        // Kill anywhere from during start-up (verification, checkpoint) to mid-append.
        let wait = Duration::from_millis(2 + jitter.next(60));
        let started = Instant::now();
        std::thread::sleep(wait);
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert!(!status.success(), "round {round}: child exited by itself");
        let seqs = reader.join().unwrap();
        if !seqs.is_empty() {
            kills_mid_run += 1;
        }
        for pair in seqs.windows(2) {
            assert_eq!(pair[1], pair[0] + 1, "round {round}: child skipped a seq");
        }
        if let Some(&last) = seqs.last() {
            promised = promised.max(last);
        }

        // The log opens (quick_check runs on every open), the chain verifies from seq 1 with no
        // gap, and every seq the child reported is there.
        let store = match LogStore::open_existing(&db) {
            Ok(store) => store,
            // Killed while the very first start was creating the file, before its schema
            // committed: nothing was promised yet, and the station must carry on from it.
            Err(station::Error::NotALog { .. }) if promised == 0 => {
                CustodyLog::open(&db, station(), key())
                    .unwrap_or_else(|e| panic!("round {round}: schema-less file: {e}"));
                continue;
            }
            Err(e) => panic!("round {round} (killed after {:?}): {e}", started.elapsed()),
        };
        let tip = store
            .verify(&store.recorded_keys().unwrap(), ChainTip::GENESIS)
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(
            tip.seq >= promised,
            "round {round}: seq {promised} was reported committed but the log ends at {}",
            tip.seq
        );
        drop(store);
        // And the station can carry on from it.
        CustodyLog::open(&db, station(), key()).unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
    assert!(
        kills_mid_run * 2 >= kills,
        "most kills should land while the child is appending ({kills_mid_run} of {kills} did)"
    );
    eprintln!("crash_durability: {promised} events promised and all present after {kills} kills");
}

/// What a kill during the very first start can leave: an empty file, or an SQLite file with no
/// tables yet. Nothing was promised from it, and the station takes it up as a new log.
#[test]
fn a_first_start_killed_before_its_schema_committed_is_taken_up() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let tableless = dir.path().join("tableless.db");
    let conn = rusqlite::Connection::open(&tableless).unwrap();
    conn.pragma_update(None, "journal_mode", "wal").unwrap();
    drop(conn);
    for db in [empty, tableless] {
        let mut log = CustodyLog::open(&db, station(), key())
            .unwrap_or_else(|e| panic!("{}: {e}", db.display()));
        log.append(
            records::Timestamp {
                unix_ms: 1_763_768_771_000,
                trusted: true,
            },
            Payload::DoorOpened,
        )
        .unwrap();
    }
}
