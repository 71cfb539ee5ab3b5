//! Online backup of a custody log while a station appends to it, and the verified restore.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use records::ChainTip;
use station::backup::{backup, restore};
use station::{CustodyLog, LogStore};

#[test]
fn a_backup_taken_while_deposits_are_appended_verifies_and_restores() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("custody.db");
    make_log(&db, 2_000);
    {
        let mut log = CustodyLog::open(&db, station(), key()).unwrap();
        log.set_acknowledged(1_500).unwrap();
    }
    // A station keeps appending, one durable commit at a time, while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut log = CustodyLog::open(&db, station(), key()).unwrap();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) && n < 2_000 {
                fill(&mut log, 1);
                n += 1;
            }
            n
        })
    };
    let out = dir.path().join("backup.db");
    let copied = backup(&db, &out).unwrap();
    stop.store(true, Ordering::Relaxed);
    let appended_meanwhile = writer.join().unwrap();
    assert!(copied.tip.seq >= 2_000, "{copied:?}");
    assert!(copied.tip.seq <= 2_000 + appended_meanwhile as u64);
    assert_eq!(copied.acknowledged, 1_500);
    assert!(copied.bytes > 0);

    // The original went on; the backup is a consistent snapshot that verifies by itself.
    let store = LogStore::open_existing(&out).unwrap();
    let keys = store.recorded_keys().unwrap();
    assert_eq!(store.verify(&keys, ChainTip::GENESIS).unwrap(), copied.tip);
    drop(store);

    // Neither direction overwrites a file.
    let again = backup(&db, &out).unwrap_err().to_string();
    assert!(again.contains("never overwrites"), "{again}");
    let onto_live = restore(&out, &db).unwrap_err().to_string();
    assert!(onto_live.contains("never overwrites"), "{onto_live}");

    // Restored where the lost log was: the same events, and a station can take it up.
    let restored_path = dir.path().join("restored").join("custody.db");
    std::fs::create_dir_all(restored_path.parent().unwrap()).unwrap();
    let restored = restore(&out, &restored_path).unwrap();
    assert_eq!(restored.tip, copied.tip);
    let mut log = CustodyLog::open(&restored_path, station(), key()).unwrap();
    assert_eq!(log.tip(), copied.tip);
    let next = fill(&mut log, 1);
    assert_eq!(next[0].seq(), copied.tip.seq + 1);
}

#[test]
fn a_damaged_backup_is_not_restored_and_a_non_log_is_not_backed_up() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("custody.db");
    make_log(&db, 50);
    let out = dir.path().join("backup.db");
    backup(&db, &out).unwrap();
    // One byte of one signed event changed in the backup.
    {
        let conn = rusqlite::Connection::open(&out).unwrap();
        conn.execute(
            "UPDATE events SET canonical = CAST(REPLACE(CAST(canonical AS TEXT), 'GW', 'GX') AS BLOB) WHERE seq = 17",
            [],
        )
        .unwrap();
        let changed: Vec<u8> = conn
            .query_row("SELECT canonical FROM events WHERE seq = 17", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert!(!changed.is_empty());
    }
    let target = dir.path().join("restored.db");
    let refused = restore(&out, &target).unwrap_err().to_string();
    assert!(refused.contains("seq 17"), "{refused}");
    assert!(
        !target.exists(),
        "nothing is put in place from a damaged backup"
    );

    let not_a_log = dir.path().join("notes.db");
    std::fs::write(&not_a_log, b"not sqlite at all").unwrap();
    let refused = backup(&not_a_log, &dir.path().join("b2.db"))
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("not an urna custody log") || refused.contains("notes.db"),
        "{refused}"
    );
    assert!(!dir.path().join("b2.db").exists());
}
