//! Retention across station and registry (issue 10): a station prunes what the registry
//! acknowledged, restarts, verifies from its anchor, numbers on, and its sync delivers what
//! comes next to a real registry (`registry::serve` over SQLite) whose register still verifies;
//! an empty register (one restored from too old a backup) gets a clear refusal, not a gap.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use records::{Channel, Intake, Payload, StationCode, Text, Timestamp};
use registry::{Registry, RegistryConfig};
use station::StationKey;
use station::custody_log::{CustodyLog, Entry};
use station::shared_log::SharedLog;
use station::shutdown::shutdown_pair;
use station::signed_client::SignedClient;
use station::sync::SyncStatus;
use tokio::sync::watch;

const DAY_MS: i64 = 86_400_000;
/// 2026-01-02, a trusted time.
const START_MS: i64 = 1_767_312_000_000;

fn code() -> StationCode {
    "GWU9".parse().unwrap()
}

fn key() -> StationKey {
    StationKey::from_seed([9; 32])
}

fn at(day: i64) -> Timestamp {
    Timestamp {
        unix_ms: START_MS + day * DAY_MS,
        trusted: true,
    }
}

/// A day of an urn: `n` deposits with their drops, then a collection.
fn urn_day(log: &mut CustodyLog, day: i64, n: usize) {
    let mut entries: Vec<(Timestamp, Entry)> = Vec::new();
    for _ in 0..n {
        let when = at(day);
        entries.push((
            when,
            Entry::NewIntake(Box::new(move |id| {
                Payload::Deposit(Intake {
                    id,
                    received_at: when,
                    channel: Channel::Urn,
                    category: Text::new("podatki").unwrap(),
                    reference: None,
                    sender: None,
                    attachments: None,
                })
            })),
        ));
    }
    let deposits = log.append_all(entries).unwrap();
    let drops = deposits.iter().map(|a| {
        let intake = a.event.payload.intake().unwrap();
        (at(day), Entry::Payload(Payload::DropSeen { intake }))
    });
    log.append_all(drops.collect::<Vec<_>>()).unwrap();
    log.append(
        at(day),
        Payload::UrnCollected {
            seal: Text::new("S-1").unwrap(),
            envelopes: n as u32,
            first_staff: Text::new("B-1").unwrap(),
            second_staff: Text::new("B-2").unwrap(),
        },
    )
    .unwrap();
}

async fn serve(db: &Path) -> (String, station::shutdown::ShutdownTrigger) {
    let registry = Registry::open(db, RegistryConfig::demo()).unwrap();
    let key = key();
    registry.enrol(code(), "Urna", key.public()).await.unwrap();
    registry.approve(&key.fingerprint(), None).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (trigger, shutdown) = shutdown_pair();
    tokio::spawn(registry::serve(listener, registry, shutdown.wait()));
    (url, trigger)
}

/// Runs the station's sync against `url` until `done` holds; returns the status then.
async fn sync_until(log: &SharedLog, url: &str, done: impl Fn(&SyncStatus) -> bool) -> SyncStatus {
    let client = SignedClient::new(url, &key()).unwrap();
    let (tx, mut rx) = watch::channel(SyncStatus::default());
    let (trigger, shutdown) = shutdown_pair();
    let task = tokio::spawn(station::sync::run(
        log.clone(),
        code(),
        client,
        tx,
        shutdown,
    ));
    tokio::time::timeout(Duration::from_secs(30), rx.wait_for(|s| done(s)))
        .await
        .expect("sync got there within 30 s")
        .unwrap();
    let status = rx.borrow().clone();
    trigger.trigger();
    task.await.unwrap();
    status
}

fn register_copy(db: &Path) -> Vec<(StationCode, records::ChainTip)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    registry::retention::verify_remaining(&conn).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pruned_station_restarts_numbers_on_and_syncs_and_the_register_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("custody.db");
    let db = dir.path().join("register.db");
    let (url, _registry) = serve(&db).await;

    let mut log = CustodyLog::open(&log_path, code(), key()).unwrap();
    for day in 0..5 {
        urn_day(&mut log, day, 4);
    }
    // Not acknowledged yet: nothing goes, however old.
    assert_eq!(log.prune(at(400).unix_ms, 90).unwrap().removed, 0);
    let log = SharedLog::new(log);
    let tip = log.with(|l| Ok(l.tip())).await.unwrap();
    sync_until(&log, &url, |s| s.acknowledged == tip.seq).await;
    let pruned = log.with(|l| l.prune(at(400).unix_ms, 90)).await.unwrap();
    // Everything but the last collection (which the urn's count starts from).
    assert_eq!(pruned.removed, tip.seq - 1);
    drop(log);

    // The station restarts: it verifies from its anchor and numbers on.
    let mut log = CustodyLog::open(&log_path, code(), key()).unwrap();
    assert_eq!(log.tip(), tip);
    urn_day(&mut log, 400, 2);
    let numbers: Vec<u64> = log
        .store()
        .tail(5)
        .unwrap()
        .iter()
        .filter_map(|e| station::log_store::decode(e).ok())
        .filter_map(|e| match e.payload {
            Payload::Deposit(i) => Some(i.id.number()),
            _ => None,
        })
        .collect();
    assert_eq!(numbers, vec![21, 22]);
    let log = SharedLog::new(log);
    let tip = log.with(|l| Ok(l.tip())).await.unwrap();
    sync_until(&log, &url, |s| s.acknowledged == tip.seq).await;
    assert_eq!(register_copy(&db), vec![(code(), tip)]);

    // A register that lost what the station removed is told so; nothing is sent into a gap.
    let (empty_url, _empty) = serve(&dir.path().join("restored.db")).await;
    let refused = sync_until(&log, &empty_url, |s| s.last_error.is_some()).await;
    let problem = refused.last_error.unwrap();
    assert!(problem.contains("restore the register"), "{problem}");
    assert!(register_copy(&dir.path().join("restored.db")).is_empty());
}
