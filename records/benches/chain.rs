//! Signing, strict verification and whole-chain verification rates.
//! Run: `cargo bench -p records --bench chain`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use records::encoding::encode;
use records::signing::{sign_event, verify_event, verify_events};
use records::{
    ChainTip, ChainVerifier, Channel, Event, Hash, Intake, IntakeId, KeyId, KeyRing, Payload,
    SignedEvent, SigningKey, StationCode, Text, Timestamp,
};
use std::hint::black_box;

fn deposit(station: StationCode, seq: u64, prev: Hash) -> Event {
    Event {
        station,
        seq,
        recorded_at: Timestamp {
            unix_ms: 1_763_768_771_000 + seq as i64,
            trusted: true,
        },
        prev_hash: prev,
        payload: Payload::Deposit(Intake {
            id: IntakeId::new(station, seq).unwrap(),
            received_at: Timestamp {
                unix_ms: 1_763_768_771_000 + seq as i64,
                trusted: true,
            },
            channel: Channel::Urn,
            category: Text::new("podatki").unwrap(),
            reference: Some(Text::new("GKM.6220.12.2020").unwrap()),
            sender: None,
            attachments: None,
        }),
    }
}

fn chain(key: &SigningKey, station: StationCode, n: u64) -> Vec<SignedEvent> {
    let key_id = KeyId::of(&key.verifying_key());
    let mut prev = Hash::GENESIS;
    (1..=n)
        .map(|seq| {
            let canonical = encode(&deposit(station, seq, prev));
            prev = Hash::link(&prev, &canonical);
            SignedEvent {
                seq,
                signature: sign_event(key, &canonical),
                canonical,
                key_id,
            }
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let key = SigningKey::from_bytes(&[7; 32]);
    let station: StationCode = "GW7K".parse().unwrap();
    let canonical = encode(&deposit(station, 1, Hash::GENESIS));
    let signature = sign_event(&key, &canonical);
    let public = key.verifying_key();

    c.bench_function("encode deposit", |b| {
        let e = deposit(station, 1, Hash::GENESIS);
        b.iter(|| encode(black_box(&e)))
    });
    c.bench_function("sign event", |b| {
        b.iter(|| sign_event(&key, black_box(&canonical)))
    });
    c.bench_function("verify event (strict)", |b| {
        b.iter(|| verify_event(&public, black_box(&canonical), &signature))
    });

    // What the registry does for each push: one batch equation for the push's events.
    let push = chain(&key, station, 30);
    let items: Vec<_> = push
        .iter()
        .map(|e| (&public, e.canonical.as_slice(), &e.signature))
        .collect();
    let mut batch = c.benchmark_group("verify push");
    batch.throughput(Throughput::Elements(push.len() as u64));
    batch.bench_function("30 events, one key, batched", |b| {
        b.iter(|| verify_events(black_box(&items)))
    });
    batch.finish();

    let events = chain(&key, station, 10_000);
    let mut keys = KeyRing::new();
    keys.add(public).unwrap();
    let mut group = c.benchmark_group("verify chain");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.sample_size(10);
    group.bench_function("10k events, all cores", |b| {
        b.iter_batched(
            || ChainVerifier::new(station, &keys, ChainTip::GENESIS),
            |mut v| v.verify(&events).unwrap().len(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(chain_benches, benches);
criterion_main!(chain_benches);
