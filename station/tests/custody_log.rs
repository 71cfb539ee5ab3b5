//! The custody log on real SQLite files: appending, reopening, acknowledgement, schema and bad files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use records::{ChainTip, Channel, Payload};
use station::{CustodyLog, Error, LogStore};

#[test]
fn appends_are_numbered_chained_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let appended = make_log(&path, 40);
    assert_eq!(
        appended.iter().map(|a| a.seq()).collect::<Vec<_>>(),
        (1..=40).collect::<Vec<_>>()
    );
    for pair in appended.windows(2) {
        assert_eq!(pair[1].event.prev_hash, pair[0].hash);
    }
    let log = CustodyLog::open(&path, station(), key()).unwrap();
    assert_eq!(log.tip().seq, 40);
    assert_eq!(log.tip().hash, appended[39].hash);
    let store = LogStore::open_existing(&path).unwrap();
    let keys = store.recorded_keys().unwrap();
    assert_eq!(store.verify(&keys, ChainTip::GENESIS).unwrap(), log.tip());
}

#[test]
fn intake_ids_count_up_per_station_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let first = {
        let mut log = CustodyLog::open(&path, station(), key()).unwrap();
        log.append(at(0), Payload::DoorOpened).unwrap();
        log.append_intake(at(1), |id| deposit(id, at(1))).unwrap()
    };
    let mut log = CustodyLog::open(&path, station(), key()).unwrap();
    let second = log.append_intake(at(2), |id| deposit(id, at(2))).unwrap();
    let number = |a: &station::Appended| match &a.event.payload {
        Payload::Deposit(i) => {
            assert_eq!(i.channel, Channel::Urn);
            assert_eq!(i.id.station(), station());
            i.id.number()
        }
        other => panic!("expected a deposit, got {other:?}"),
    };
    assert_eq!(number(&first), 1);
    assert_eq!(number(&second), 2);
}

#[test]
fn acknowledgement_is_the_outbox_position_and_never_goes_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let mut log = CustodyLog::open(&path, station(), key()).unwrap();
    fill(&mut log, 10);
    assert_eq!(log.acknowledged().unwrap(), 0);
    assert_eq!(log.unacknowledged(100).unwrap().len(), 10);
    log.set_acknowledged(6).unwrap();
    log.set_acknowledged(3).unwrap();
    assert_eq!(log.acknowledged().unwrap(), 6);
    let pending: Vec<u64> = log
        .unacknowledged(100)
        .unwrap()
        .iter()
        .map(|e| e.signed.seq)
        .collect();
    assert_eq!(pending, vec![7, 8, 9, 10]);
    assert!(matches!(
        log.set_acknowledged(11),
        Err(Error::AckBeyondTip {
            acknowledged: 11,
            last: 10
        })
    ));
    drop(log);
    let log = CustodyLog::open(&path, station(), key()).unwrap();
    assert_eq!(log.acknowledged().unwrap(), 6);
}

#[test]
fn pragmas_are_wal_and_full() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    let _log = CustodyLog::open(&path, station(), key()).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_log_of_another_station_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    make_log(&path, 3);
    let err = CustodyLog::open(&path, "ZZ22".parse().unwrap(), key()).unwrap_err();
    assert!(matches!(err, Error::WrongStation { .. }), "{err}");
}

#[test]
fn a_database_from_a_newer_urna_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    make_log(&path, 3);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let before = std::fs::read(&path).unwrap();
    let err = CustodyLog::open(&path, station(), key()).unwrap_err();
    assert!(
        matches!(err, Error::SchemaTooNew { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("newer urna"), "{err}");
    assert!(matches!(
        LogStore::open_existing(&path).unwrap_err(),
        Error::SchemaTooNew { .. }
    ));
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn garbage_and_foreign_files_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x5a; 8192]).unwrap();
    let err = CustodyLog::open(&garbage, station(), key()).unwrap_err();
    assert!(matches!(err, Error::NotALog { .. }), "{err}");
    assert!(err.to_string().contains("not an SQLite database"), "{err}");
    assert_eq!(std::fs::read(&garbage).unwrap(), vec![0x5a; 8192]);

    let foreign = dir.path().join("foreign.db");
    let conn = rusqlite::Connection::open(&foreign).unwrap();
    conn.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        .unwrap();
    drop(conn);
    let err = CustodyLog::open(&foreign, station(), key()).unwrap_err();
    assert!(matches!(err, Error::NotALog { .. }), "{err}");

    let missing = dir.path().join("missing.db");
    assert!(matches!(
        LogStore::open_existing(&missing).unwrap_err(),
        Error::NotALog { .. }
    ));
    assert!(!missing.exists());

    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(
        LogStore::open_existing(&empty).unwrap_err(),
        Error::NotALog { .. }
    ));
}

#[test]
fn a_log_truncated_in_the_middle_of_the_file_is_reported_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    make_log(&path, 300);
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 3 * 4096, "log should span several pages");
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len / 2).unwrap();
    drop(file);
    let err = CustodyLog::open(&path, station(), key()).unwrap_err();
    assert!(
        matches!(err, Error::Corrupt { .. } | Error::RolledBack { .. }),
        "{err}"
    );
}

#[test]
fn opening_verifies_only_after_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.db");
    make_log(&path, 50);
    let cp = station::checkpoint::load(&path).unwrap().unwrap();
    assert_eq!(cp.seq, 50);
    // Damage an event before the checkpoint: start-up (which trusts the checkpoint) does not
    // re-read it, but a full verification does.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE events SET signature = zeroblob(64) WHERE seq = 10",
        [],
    )
    .unwrap();
    drop(conn);
    CustodyLog::open(&path, station(), key()).unwrap();
    let store = LogStore::open_existing(&path).unwrap();
    let err = store
        .verify(&store.recorded_keys().unwrap(), ChainTip::GENESIS)
        .unwrap_err();
    assert!(err.to_string().contains("seq 10"), "{err}");
}
