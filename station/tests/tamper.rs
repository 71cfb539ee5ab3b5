//! The tamper suite: a real log file is changed the ways a careless or hostile person could, and
//! every change is detected and reported with the seq where it is.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use records::encoding::encode;
use records::signing::sign_event;
use records::{ChainTip, Event, Hash, Payload, Problem};
use station::{CustodyLog, Error, LogStore};

const EVENTS: usize = 20;

/// A closed log with `EVENTS` events, in its own directory.
fn fresh() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    make_log(&path, EVENTS);
    // Closed: SQLite has moved the WAL into the main file.
    assert!(!dir.path().join("log.db-wal").exists());
    (dir, path)
}

/// What a full verification (`urna log verify`) says about the file.
fn full_verify(path: &Path) -> Result<ChainTip, Error> {
    let store = LogStore::open_existing(path)?;
    store.check_checkpoint()?;
    store.verify(&store.recorded_keys()?, ChainTip::GENESIS)
}

fn sql(path: &Path, statement: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(statement).unwrap();
}

fn fault(err: Error) -> (u64, Problem) {
    match err {
        Error::Chain { fault, .. } => (fault.seq, fault.problem),
        other => panic!("expected a chain fault, got: {other}"),
    }
}

#[test]
fn an_untouched_log_verifies() {
    let (_dir, path) = fresh();
    assert_eq!(full_verify(&path).unwrap().seq, EVENTS as u64);
}

#[test]
fn a_flipped_byte_in_the_file_is_caught_at_its_seq() {
    let (_dir, path) = fresh();
    let store = LogStore::open_existing(&path).unwrap();
    let target = store.events_after(6, 1).unwrap().remove(0);
    drop(store);
    let mut bytes = std::fs::read(&path).unwrap();
    let canonical = &target.signed.canonical;
    // Stale copies of a page may hold the same bytes; flip the byte in every copy so the live
    // one is surely among them. A byte inside the payload (past version, station, seq, time, link).
    let copies: Vec<usize> = bytes
        .windows(canonical.len())
        .enumerate()
        .filter(|(_, w)| *w == canonical.as_slice())
        .map(|(at, _)| at)
        .collect();
    assert!(!copies.is_empty(), "event bytes are in the file");
    for at in copies {
        bytes[at + canonical.len() - 3] ^= 0x01;
    }
    std::fs::write(&path, &bytes).unwrap();
    let (seq, problem) = fault(full_verify(&path).unwrap_err());
    assert_eq!(seq, 7);
    assert!(
        matches!(problem, Problem::BadSignature | Problem::Malformed(_)),
        "{problem}"
    );
}

#[test]
fn every_single_byte_change_of_a_stored_event_is_caught() {
    let (_dir, path) = fresh();
    let store = LogStore::open_existing(&path).unwrap();
    let target = store.events_after(11, 1).unwrap().remove(0);
    drop(store);
    for i in 0..target.signed.canonical.len() {
        let mut changed = target.signed.canonical.clone();
        changed[i] ^= 0x80;
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute(
            "UPDATE events SET canonical = ?1 WHERE seq = 12",
            [&changed],
        )
        .unwrap();
        drop(conn);
        let err = full_verify(&path).unwrap_err();
        assert!(err.to_string().contains("seq 12"), "byte {i}: {err}");
    }
    for i in 0..64 {
        let mut sig = target.signed.signature;
        sig[i] ^= 0x04;
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute(
            "UPDATE events SET canonical = ?1, signature = ?2 WHERE seq = 12",
            rusqlite::params![target.signed.canonical, sig.as_slice()],
        )
        .unwrap();
        drop(conn);
        let (seq, problem) = fault(full_verify(&path).unwrap_err());
        assert_eq!(
            (seq, problem),
            (12, Problem::BadSignature),
            "signature byte {i}"
        );
    }
}

#[test]
fn a_deleted_row_is_a_gap_at_its_seq() {
    let (_dir, path) = fresh();
    sql(&path, "DELETE FROM events WHERE seq = 5");
    let (seq, problem) = fault(full_verify(&path).unwrap_err());
    assert_eq!(seq, 5);
    assert_eq!(
        problem,
        Problem::Gap {
            expected: 5,
            found: 6
        }
    );
}

#[test]
fn two_swapped_rows_are_caught_at_the_first() {
    let (_dir, path) = fresh();
    sql(
        &path,
        "UPDATE events SET seq = -4 WHERE seq = 4;
         UPDATE events SET seq = 4 WHERE seq = 9;
         UPDATE events SET seq = 9 WHERE seq = -4;",
    );
    let (seq, problem) = fault(full_verify(&path).unwrap_err());
    assert_eq!(seq, 4);
    assert_eq!(
        problem,
        Problem::SeqMismatch {
            filed: 4,
            inside: 9
        }
    );
}

#[test]
fn a_row_signed_with_another_key_is_refused() {
    let (_dir, path) = fresh();
    let store = LogStore::open_existing(&path).unwrap();
    let tip = store.stored_tip().unwrap();
    drop(store);
    let event = Event {
        station: station(),
        seq: tip.seq + 1,
        recorded_at: at(999_000),
        prev_hash: tip.hash,
        payload: Payload::DoorClosed,
    };
    let canonical = encode(&event);
    let intruder = other_key();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "INSERT INTO events(seq, kind, intake_id, intake_no, recorded_ms, canonical, hash, key_id, signature)
         VALUES (?1, 'door_closed', NULL, NULL, ?2, ?3, ?4, ?5, ?6)",
        rusqlite::params![
            event.seq as i64,
            event.recorded_at.unix_ms,
            canonical,
            Hash::link(&tip.hash, &canonical).0.as_slice(),
            intruder.key_id().0.as_slice(),
            sign_event(intruder.signing_key(), &canonical).as_slice(),
        ],
    )
    .unwrap();
    drop(conn);
    let (seq, problem) = fault(full_verify(&path).unwrap_err());
    assert_eq!(seq, EVENTS as u64 + 1);
    assert_eq!(problem, Problem::UnknownKey(intruder.key_id()));
    // The station itself refuses to start on it too: the row is past its checkpoint.
    let err = CustodyLog::open(&path, station(), key()).unwrap_err();
    assert!(
        err.to_string().contains(&format!("seq {}", EVENTS + 1)),
        "{err}"
    );
}

#[test]
fn an_edited_index_column_is_caught() {
    let (_dir, path) = fresh();
    sql(&path, "UPDATE events SET kind = 'deposit' WHERE seq = 4");
    let err = full_verify(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::RowMismatch {
                seq: 4,
                column: "kind",
                ..
            }
        ),
        "{err}"
    );
    let (_dir, path) = fresh();
    sql(&path, "UPDATE events SET hash = zeroblob(32) WHERE seq = 8");
    let err = full_verify(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::RowMismatch {
                seq: 8,
                column: "hash",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn events_cut_off_the_end_are_a_rollback() {
    let (_dir, path) = fresh();
    sql(&path, "DELETE FROM events WHERE seq > 15");
    let err = full_verify(&path).unwrap_err();
    assert!(matches!(err, Error::RolledBack { .. }), "{err}");
    assert!(err.to_string().contains("ends at seq 15"), "{err}");
    let err = CustodyLog::open(&path, station(), key()).unwrap_err();
    assert!(matches!(err, Error::RolledBack { .. }), "{err}");
}

#[test]
fn an_older_copy_put_back_is_a_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let old_copy = dir.path().join("old.db");
    make_log(&path, 10);
    std::fs::copy(&path, &old_copy).unwrap();
    {
        let mut log = CustodyLog::open(&path, station(), key()).unwrap();
        fill(&mut log, 10);
    }
    std::fs::copy(&old_copy, &path).unwrap();
    let err = CustodyLog::open(&path, station(), key()).unwrap_err();
    assert!(matches!(err, Error::RolledBack { .. }), "{err}");
    assert!(err.to_string().contains("seq 20"), "{err}");
    assert!(matches!(
        full_verify(&path).unwrap_err(),
        Error::RolledBack { .. }
    ));
}

#[test]
fn a_forgotten_acknowledgement_is_a_rollback() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let old_copy = dir.path().join("old.db");
    make_log(&path, 10);
    std::fs::copy(&path, &old_copy).unwrap();
    {
        let mut log = CustodyLog::open(&path, station(), key()).unwrap();
        log.set_acknowledged(8).unwrap();
    }
    std::fs::copy(&old_copy, &path).unwrap();
    let err = CustodyLog::open(&path, station(), key()).unwrap_err();
    assert!(err.to_string().contains("acknowledged seq 8"), "{err}");
}

#[test]
fn a_different_event_at_the_checkpoint_is_caught() {
    let (_dir, path) = fresh();
    let other = tempfile::tempdir().unwrap();
    let other_path = other.path().join("log.db");
    // Same station and key, different history: seq 20 exists but is not the verified one.
    let mut log = CustodyLog::open(&other_path, station(), key()).unwrap();
    log.append(at(5), Payload::DoorOpened).unwrap();
    fill(&mut log, EVENTS - 1);
    drop(log);
    std::fs::copy(&other_path, &path).unwrap();
    let err = CustodyLog::open(&path, station(), key()).unwrap_err();
    assert!(matches!(err, Error::RolledBack { .. }), "{err}");
    assert!(err.to_string().contains(&format!("seq {EVENTS}")), "{err}");
}
