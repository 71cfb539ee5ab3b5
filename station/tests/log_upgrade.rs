//! Upgrades keep every event: a custody log left by an older urna (each schema version before the
//! current one) is opened by this build, migrated, and still holds every event byte for byte,
//! its chain and signatures verifying, its checkpoint and acknowledgement kept, and it goes on
//! taking events. Generic over `MIGRATIONS`: a new migration is tested from every older version
//! without touching this file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::*;
use records::{ChainTip, Payload};
use rusqlite::Connection;
use station::log_store::{MIGRATIONS, SCHEMA_VERSION};
use station::{CustodyLog, Error, LogStore, checkpoint};

/// The columns of `table` in the database `schema` (`main` or an attached one).
fn columns(conn: &Connection, schema: &str, table: &str) -> Vec<String> {
    conn.prepare(&format!("SELECT name FROM {schema}.pragma_table_info(?1)"))
        .unwrap()
        .query_map([table], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Copies into `to` (a log at an older schema) every row of the log at `from` that the older
/// schema has room for: the tables it has, the columns they had. What an older urna wrote is
/// exactly that, since a migration only ever adds.
fn copy_rows(from: &Path, to: &Connection) {
    to.execute("ATTACH DATABASE ?1 AS current", [from.to_str().unwrap()])
        .unwrap();
    let tables: Vec<String> = to
        .prepare("SELECT name FROM main.sqlite_schema WHERE type = 'table'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for table in tables {
        let theirs = columns(to, "current", &table);
        let shared: Vec<String> = columns(to, "main", &table)
            .into_iter()
            .filter(|c| theirs.contains(c))
            .collect();
        if shared.is_empty() {
            continue;
        }
        let list = shared.join(", ");
        to.execute_batch(&format!(
            "INSERT INTO main.{table} ({list}) SELECT {list} FROM current.{table}"
        ))
        .unwrap();
    }
    to.execute_batch("DETACH DATABASE current").unwrap();
}

fn user_version(path: &Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_log_from_every_older_schema_upgrades_keeping_every_event_and_its_chain() {
    let dir = tempfile::tempdir().unwrap();
    // Every kind of event `fill` makes, acknowledged half way, as a station left it.
    let current = dir.path().join("current.db");
    let tip = {
        let mut log = CustodyLog::open(&current, station(), key()).unwrap();
        fill(&mut log, 240);
        log.set_acknowledged(120).unwrap();
        log.write_checkpoint().unwrap();
        log.tip()
    };
    let originals = LogStore::open_existing(&current)
        .unwrap()
        .events_after(0, 100_000)
        .unwrap();
    assert_eq!(originals.len(), 240);

    const {
        assert!(
            SCHEMA_VERSION >= 2,
            "one older schema at least, or this tests nothing"
        )
    };
    for version in 1..SCHEMA_VERSION {
        let path = dir.path().join(format!("v{version}.db"));
        {
            let conn = Connection::open(&path).unwrap();
            conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
                .unwrap();
            for sql in &MIGRATIONS[..version as usize] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", version).unwrap();
            copy_rows(&current, &conn);
        }
        // Every version wrote its checkpoint beside the log.
        std::fs::copy(checkpoint::path_for(&current), checkpoint::path_for(&path)).unwrap();

        // The read-only tools leave an old log alone and say how to upgrade it.
        let refused = LogStore::open_existing(&path).unwrap_err();
        assert!(
            matches!(refused, Error::NotALog { .. }),
            "v{version}: {refused}"
        );
        assert!(
            refused
                .to_string()
                .contains("open it once with the station"),
            "v{version}: {refused}"
        );
        assert_eq!(user_version(&path), version);

        // The station opens it: migrated, verified from its checkpoint, the same tip.
        let mut log =
            CustodyLog::open(&path, station(), key()).unwrap_or_else(|e| panic!("v{version}: {e}"));
        assert_eq!(log.tip(), tip, "v{version}");
        assert_eq!(log.acknowledged().unwrap(), 120, "v{version}");
        assert_eq!(user_version(&path), SCHEMA_VERSION, "v{version}");

        let store = LogStore::open_existing(&path).unwrap();
        let upgraded = store.events_after(0, 100_000).unwrap();
        assert_eq!(upgraded.len(), originals.len(), "v{version}");
        for (old, new) in originals.iter().zip(&upgraded) {
            assert_eq!(old.signed, new.signed, "v{version} seq {}", old.signed.seq);
            assert_eq!(old.hash, new.hash, "v{version} seq {}", old.signed.seq);
        }
        // The whole chain from genesis, every signature, with the keys recorded in the log.
        let keys = store.recorded_keys().unwrap();
        assert_eq!(
            store.verify(&keys, ChainTip::GENESIS).unwrap(),
            tip,
            "v{version}"
        );
        drop(store);

        // And it goes on: the next event chains onto the last one kept.
        let next = log.append(at(1_000_000), Payload::DoorOpened).unwrap();
        assert_eq!(next.seq(), tip.seq + 1, "v{version}");
        drop(log);
        let reopened = CustodyLog::open(&path, station(), key()).unwrap();
        assert_eq!(reopened.tip().seq, tip.seq + 1, "v{version}");
    }
}
