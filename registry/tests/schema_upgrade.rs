//! Upgrades keep every event: a register left by an older urna (each schema version before the
//! current one) is opened by this build, migrated, and still holds every station's events byte
//! for byte, each chain verifying from genesis with the station's key, and ingest carries on
//! from where it stopped. Generic over `MIGRATIONS`: a migration added later is tested from every
//! older version without touching this file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::*;
use records::{ChainTip, ChainVerifier, KeyId, KeyRing, SignedEvent, StationCode};
use registry::sqlite::{MIGRATIONS, SCHEMA_VERSION};
use registry::{Registry, RegistryConfig};
use rusqlite::Connection;

/// The columns of `table` in the database `schema` (`main` or an attached one).
fn columns(conn: &Connection, schema: &str, table: &str) -> Vec<String> {
    conn.prepare(&format!("SELECT name FROM {schema}.pragma_table_info(?1)"))
        .unwrap()
        .query_map([table], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Copies into `to` (a register at an older schema) every row of the register at `from` that
/// the older schema has room for: its tables, the columns they had then. Triggers are set aside
/// while copying, so a table a trigger fills holds exactly the rows it held, not a second copy.
fn copy_rows(from: &Path, to: &Connection) {
    to.execute("ATTACH DATABASE ?1 AS current", [from.to_str().unwrap()])
        .unwrap();
    let triggers: Vec<(String, String)> = to
        .prepare("SELECT name, sql FROM main.sqlite_schema WHERE type = 'trigger'")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (name, _) in &triggers {
        to.execute_batch(&format!("DROP TRIGGER main.{name}"))
            .unwrap();
    }
    // Real tables (and any virtual table, through its own columns), not their shadow tables nor
    // SQLite's own, except the AUTOINCREMENT counters.
    let tables: Vec<String> = to
        .prepare(
            "SELECT name FROM pragma_table_list WHERE schema = 'main'
               AND type IN ('table', 'virtual')
               AND (name NOT LIKE 'sqlite\\_%' ESCAPE '\\' OR name = 'sqlite_sequence')",
        )
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
    for (_, sql) in &triggers {
        to.execute_batch(sql).unwrap();
    }
    to.execute_batch("DETACH DATABASE current").unwrap();
}

/// Every stored event, by station and seq, as the register holds it (with its stored hash).
fn stored_events(path: &Path) -> Vec<(String, SignedEvent, Vec<u8>)> {
    let conn = Connection::open(path).unwrap();
    conn.prepare(
        "SELECT station, seq, canonical, key_id, signature, hash FROM events ORDER BY station, seq",
    )
    .unwrap()
    .query_map([], |r| {
        let key_id: String = r.get(3)?;
        let signature: Vec<u8> = r.get(4)?;
        Ok((
            r.get::<_, String>(0)?,
            SignedEvent {
                seq: r.get::<_, i64>(1)? as u64,
                canonical: r.get(2)?,
                key_id: KeyId::try_from(key_id).unwrap(),
                signature: signature.try_into().unwrap(),
            },
            r.get::<_, Vec<u8>>(5)?,
        ))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// Each station's chain, verified from genesis: seq without gaps, hashes, signatures.
fn verify_chains(path: &Path, stations: &[&Sim]) {
    let events = stored_events(path);
    for sim in stations {
        let mine: Vec<_> = events
            .iter()
            .filter(|(code, _, _)| *code == sim.code.as_str())
            .collect();
        assert_eq!(mine.len() as u64, sim.seq, "{}", sim.code);
        let mut ring = KeyRing::new();
        ring.add(sim.key.verifying_key()).unwrap();
        let mut verifier = ChainVerifier::new(sim.code, &ring, ChainTip::GENESIS);
        for (_, signed, hash) in mine {
            verifier
                .verify(std::slice::from_ref(signed))
                .unwrap_or_else(|e| panic!("{} seq {}: {e:?}", sim.code, signed.seq));
            assert_eq!(verifier.tip().hash.0.as_slice(), hash.as_slice());
        }
        assert_eq!(verifier.tip().hash, sim.tip, "{}", sim.code);
    }
}

fn user_version(path: &Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

async fn enrol(registry: &Registry, sim: &Sim, name: &str) {
    registry
        .enrol(sim.code, name, sim.key.verifying_key())
        .await
        .unwrap();
    registry
        .approve(&records::fingerprint(&sim.key.verifying_key()), None)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_register_from_every_older_schema_upgrades_keeping_every_event_and_its_chain() {
    let dir = tempfile::tempdir().unwrap();
    let current = dir.path().join("current").join("register.db");
    std::fs::create_dir_all(current.parent().unwrap()).unwrap();
    let mut urn = Sim::new("GW7K", 1);
    let mut mailroom = Sim::new("GW7M", 2);
    let mut deposits = Vec::new();
    {
        let registry = Registry::open(&current, RegistryConfig::demo()).unwrap();
        enrol(&registry, &urn, "Urna").await;
        enrol(&registry, &mailroom, "Kancelaria").await;
        let mut events = Vec::new();
        for i in 0..30 {
            let (id, deposit, _) = urn.deposit("inne", Some(&format!("GKM.{i}.2020")));
            deposits.push(id);
            events.push(deposit);
            if i % 5 == 0 {
                events.push(urn.door());
            }
        }
        registry.push(urn.code, events).await.unwrap();
        let events: Vec<_> = (0..5).map(|_| mailroom.door()).collect();
        registry.push(mailroom.code, events).await.unwrap();
    }
    let originals = stored_events(&current);
    assert_eq!(originals.len() as u64, urn.seq + mailroom.seq);

    const {
        assert!(
            SCHEMA_VERSION >= 2,
            "one older schema at least, or this tests nothing"
        )
    };
    for version in 1..SCHEMA_VERSION {
        let path = dir.path().join(format!("v{version}")).join("register.db");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "journal_mode", "WAL").unwrap();
            for sql in &MIGRATIONS[..version as usize] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", version).unwrap();
            copy_rows(&current, &conn);
        }
        assert_eq!(user_version(&path), version);
        // What lives beside the register (the registry's own key) comes along, as in a backup.
        for entry in std::fs::read_dir(current.parent().unwrap()).unwrap() {
            let entry = entry.unwrap();
            if !entry
                .file_name()
                .to_string_lossy()
                .starts_with("register.db")
            {
                std::fs::copy(entry.path(), path.with_file_name(entry.file_name())).unwrap();
            }
        }

        let registry = Registry::open(&path, RegistryConfig::demo())
            .unwrap_or_else(|e| panic!("v{version}: {e}"));
        assert_eq!(user_version(&path), SCHEMA_VERSION, "v{version}");
        let upgraded = stored_events(&path);
        assert_eq!(upgraded.len(), originals.len(), "v{version}");
        for (old, new) in originals.iter().zip(&upgraded) {
            assert_eq!(old, new, "v{version}");
        }
        verify_chains(&path, &[&urn, &mailroom]);
        for sim in [&urn, &mailroom] {
            assert_eq!(
                registry.acknowledged(sim.code).await.unwrap(),
                sim.seq,
                "v{version} {}",
                sim.code
            );
        }
        for id in &deposits {
            assert!(
                registry.intake(*id).await.unwrap().is_some(),
                "v{version}: {id} lost"
            );
        }

        // Ingest carries on: each station's next event chains onto the last one kept, signed
        // with the key the register approved before the upgrade.
        for sim in [&urn, &mailroom] {
            let mut next = sim.clone();
            let event = next.door();
            let code: StationCode = sim.code;
            registry
                .push(code, vec![event])
                .await
                .unwrap_or_else(|e| panic!("v{version} {code}: {e}"));
            assert_eq!(
                registry.acknowledged(code).await.unwrap(),
                sim.seq + 1,
                "v{version} {code}"
            );
        }
    }
}
