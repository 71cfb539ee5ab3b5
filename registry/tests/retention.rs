//! Retention of the register (`urna registry retention`) on a real SQLite file: nothing without
//! a config, a dry run removes nothing, an applied run removes only whole old intakes' events,
//! the rest verifies from each station's anchor, and ingest carries on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use records::{ChainTip, Payload};
use registry::retention::{RetentionConfig, anchor, run, verify_remaining};
use registry::{Error, Registry, RegistryConfig};

const YEAR_MS: i64 = 31_557_600_000;

async fn approved(db: &std::path::Path, sim: &Sim) -> Registry {
    let registry = Registry::open(db, RegistryConfig::demo()).unwrap();
    let key = sim.key.verifying_key();
    registry.enrol(sim.code, "urna", key).await.unwrap();
    registry
        .approve(&records::fingerprint(&key), None)
        .await
        .unwrap();
    registry
}

#[tokio::test]
async fn without_a_config_the_register_is_kept_whole() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("register.db");
    let mut sim = Sim::new("GWU2", 3);
    sim.clock_ms = T0_MS - 30 * YEAR_MS;
    let registry = approved(&db, &sim).await;
    let events = vec![sim.deposit("podatki", None).1, sim.door()];
    registry.push(sim.code, events).await.unwrap();
    for apply in [false, true] {
        let refused = run(&db, None, T0_MS, apply).unwrap_err();
        assert!(matches!(refused, Error::Config(_)), "{refused}");
    }
    assert_eq!(count_rows(&db, "events"), 2);
}

#[tokio::test]
async fn only_whole_old_intakes_go_and_what_remains_verifies_from_the_anchor() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("register.db");
    let mut sim = Sim::new("GWU2", 3);
    let registry = approved(&db, &sim).await;
    let config = RetentionConfig {
        register_keep_years: 5,
    };

    // Ten years ago: three letters, then a fourth whose hold ended only this year.
    sim.clock_ms = T0_MS - 10 * YEAR_MS;
    let mut events = Vec::new();
    let mut old = Vec::new();
    for _ in 0..3 {
        let (id, deposit, _) = sim.deposit("podatki", Some("GKM.6220.1.2015"));
        old.push(id);
        events.push(deposit);
        events.push(sim.event(Payload::DropSeen { intake: id }));
    }
    let (late, deposit, _) = sim.deposit("podatki", None);
    events.push(deposit);
    events.push(sim.door());
    sim.clock_ms = T0_MS - YEAR_MS;
    events.push(sim.event(Payload::HoldReleased {
        intake: late,
        early: None,
    }));
    let (recent, deposit, _) = sim.deposit("podatki", None);
    events.push(deposit);
    registry.push(sim.code, events).await.unwrap();
    let tip = ChainTip {
        seq: sim.seq,
        hash: sim.tip,
    };

    let dry = run(&db, Some(&config), T0_MS, false).unwrap();
    // The three old letters (six events); the late one's deposit stops the cut.
    assert_eq!((dry.events, dry.intakes, dry.applied), (6, 3, false));
    assert_eq!(count_rows(&db, "events"), 10);
    assert_eq!(count_rows(&db, "retention_runs"), 0);

    let applied = run(&db, Some(&config), T0_MS, true).unwrap();
    assert_eq!(
        (applied.events, applied.intakes, applied.applied),
        (6, 3, true)
    );
    assert_eq!(applied.stations[0].through, 6);
    assert_eq!(count_rows(&db, "events"), 4);
    assert_eq!(count_rows(&db, "retention_runs"), 1);
    for id in &old {
        assert!(registry.intake(*id).await.unwrap().is_none());
    }
    assert!(registry.intake(late).await.unwrap().is_some());
    assert!(registry.intake(recent).await.unwrap().is_some());
    let conn = rusqlite::Connection::open(&db).unwrap();
    assert_eq!(anchor(&conn, "GWU2").unwrap().seq, 6);
    assert_eq!(verify_remaining(&conn).unwrap(), vec![(sim.code, tip)]);

    // A second run finds nothing more; ingest carries on from the tip.
    assert_eq!(run(&db, Some(&config), T0_MS, true).unwrap().events, 0);
    let next = sim.door();
    let ack = registry.push(sim.code, vec![next]).await.unwrap();
    assert_eq!(ack.acknowledged, tip.seq + 1);
    // An event the register removed, sent again, is refused and stores nothing.
    let mut replay = Sim::new("GWU2", 3);
    replay.clock_ms = T0_MS - 10 * YEAR_MS;
    let first = replay.deposit("podatki", Some("GKM.6220.1.2015")).1;
    assert!(registry.push(sim.code, vec![first]).await.is_err());
    assert_eq!(count_rows(&db, "events"), 5);

    // An anchor that does not match the first remaining event is found out.
    conn.execute("UPDATE retention_anchors SET hash = ?1", [vec![7u8; 32]])
        .unwrap();
    assert!(verify_remaining(&conn).is_err());
}
