//! Custody-log speed on this machine's disk: one durable append (commit with synchronous=FULL),
//! bulk appends in one transaction, verification of a stored log, and the kiosk's start-up
//! count of the urn's envelopes in a long log.
//! Run: `cargo bench -p station --bench custody_log`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use records::{ChainTip, Channel, Intake, Payload, Text, Timestamp};
use station::{CustodyLog, Entry, LogStore, StationKey};

fn at(i: i64) -> Timestamp {
    Timestamp {
        unix_ms: 1_763_768_771_000 + i,
        trusted: true,
    }
}

fn deposit(id: records::IntakeId, when: Timestamp) -> Payload {
    Payload::Deposit(Intake {
        id,
        received_at: when,
        channel: Channel::Urn,
        category: Text::new("podatki").unwrap(),
        reference: Some(Text::new("GKM.6220.12.2020").unwrap()),
        sender: None,
        attachments: None,
    })
}

fn benches(c: &mut Criterion) {
    // On the project's disk, not a tmpfs: fsync cost is the point.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let station = "GW7K".parse().unwrap();
    let path = dir.path().join("bench.db");
    let mut log = CustodyLog::open(&path, station, StationKey::from_seed([1; 32])).unwrap();

    let mut group = c.benchmark_group("custody log");
    group.sample_size(50);
    let mut i = 0;
    group.bench_function("append one deposit (durable commit)", |b| {
        b.iter(|| {
            i += 1;
            let when = at(i);
            log.append_intake(when, move |id| deposit(id, when))
                .unwrap()
        })
    });
    group.throughput(Throughput::Elements(1000));
    group.sample_size(10);
    group.bench_function("append 1000 deposits in one transaction", |b| {
        b.iter(|| {
            let entries = (0..1000).map(|k| {
                let when = at(k);
                let build: Box<dyn FnOnce(records::IntakeId) -> Payload> =
                    Box::new(move |id| deposit(id, when));
                (when, Entry::NewIntake(build))
            });
            log.append_all(entries).unwrap()
        })
    });
    group.finish();
    drop(log);

    let verify_path = dir.path().join("verify.db");
    let mut log = CustodyLog::open(&verify_path, station, StationKey::from_seed([2; 32])).unwrap();
    let entries = (0..20_000).map(|k| {
        let when = at(k);
        let build: Box<dyn FnOnce(records::IntakeId) -> Payload> =
            Box::new(move |id| deposit(id, when));
        (when, Entry::NewIntake(build))
    });
    log.append_all(entries).unwrap();
    drop(log);
    let store = LogStore::open_existing(&verify_path).unwrap();
    let keys = store.recorded_keys().unwrap();
    let mut group = c.benchmark_group("verify stored log");
    group.throughput(Throughput::Elements(20_000));
    group.sample_size(10);
    group.bench_function("20k events from SQLite, all cores", |b| {
        b.iter(|| store.verify(&keys, ChainTip::GENESIS).unwrap())
    });
    group.finish();
    drop(store);

    // A year of a busy urn: 100,000 deposits, each with its drop, a collection every 500, so
    // the kiosk at start folds only the last few hundred events but SQLite looks at them all.
    let fill_path = dir.path().join("fill.db");
    let mut log = CustodyLog::open(&fill_path, station, StationKey::from_seed([3; 32])).unwrap();
    for batch in 0..200 {
        let mut entries: Vec<(Timestamp, Entry)> = Vec::new();
        for k in 0..500 {
            let when = at(batch * 500 + k);
            let build: Box<dyn FnOnce(records::IntakeId) -> Payload> =
                Box::new(move |id| deposit(id, when));
            entries.push((when, Entry::NewIntake(build)));
        }
        let appended = log.append_all(entries).unwrap();
        let mut drops: Vec<(Timestamp, Entry)> = appended
            .iter()
            .filter_map(|a| a.event.payload.intake())
            .map(|intake| (at(0), Entry::Payload(Payload::DropSeen { intake })))
            .collect();
        // The last batch is still in the urn: 500 envelopes since the last collection.
        if batch == 199 {
            log.append_all(drops).unwrap();
            break;
        }
        drops.push((
            at(0),
            Entry::Payload(Payload::UrnCollected {
                seal: Text::new("PL-1").unwrap(),
                envelopes: 500,
                first_staff: Text::new("1001").unwrap(),
                second_staff: Text::new("1002").unwrap(),
            }),
        ));
        log.append_all(drops).unwrap();
    }
    drop(log);
    let store = LogStore::open_existing(&fill_path).unwrap();
    let mut group = c.benchmark_group("kiosk start-up");
    group.sample_size(20);
    group.bench_function("urn fill from a 200k-event log", |b| {
        b.iter(|| {
            let mut fill = station::urn_fill::UrnFill::new(400);
            for event in store.urn_fill_events().unwrap() {
                fill.observe(&event.payload);
            }
            assert_eq!(fill.envelopes(), 500);
            fill.envelopes()
        })
    });
    group.finish();
}

criterion_group!(custody_log, benches);
criterion_main!(custody_log);
