//! What `/metrics` costs: the exposition's size and render time with many stations enrolled, and
//! the request middleware's bookkeeping per answered request.
//!
//! `cargo run --release -p registry --example metrics_cost -- [STATIONS]` (default 500). Each
//! station is enrolled, approved and pushes one signed deposit, so every per-station series is
//! there; the register lives in a temporary directory.

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use records::signing::sign_event;
use records::{
    Channel, Event, Hash, Intake, IntakeId, Payload, SignedEvent, SigningKey, StationCode, Text,
    Timestamp,
};
use registry::{Registry, RegistryConfig};

fn code(n: u32) -> Result<StationCode, Box<dyn std::error::Error>> {
    // Four characters of the station code alphabet: `n` written in its base.
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    let base = ALPHABET.len() as u32;
    let text: String = (0..4)
        .rev()
        .map(|i| ALPHABET[(n / base.pow(i) % base) as usize] as char)
        .collect();
    Ok(text.parse()?)
}

fn deposit(
    station: StationCode,
    key: &SigningKey,
) -> Result<SignedEvent, Box<dyn std::error::Error>> {
    let at = Timestamp {
        unix_ms: jiff::Timestamp::now().as_millisecond(),
        trusted: true,
    };
    let event = Event {
        station,
        seq: 1,
        recorded_at: at,
        prev_hash: Hash::GENESIS,
        payload: Payload::Deposit(Intake {
            id: IntakeId::new(station, 1)?,
            received_at: at,
            channel: Channel::Urn,
            category: Text::sanitized("podatki"),
            reference: None,
            sender: None,
            attachments: None,
        }),
    };
    Ok(sign_event_into(key, &event))
}

fn sign_event_into(key: &SigningKey, event: &Event) -> SignedEvent {
    let canonical = records::encoding::encode(event);
    let signature = sign_event(key, &canonical);
    SignedEvent {
        seq: event.seq,
        key_id: records::KeyId::of(&key.verifying_key()),
        canonical,
        signature,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let stations: u32 = std::env::args().nth(1).map_or(Ok(500), |s| s.parse())?;
    let dir = tempfile::tempdir()?;
    let registry = Registry::open(&dir.path().join("registry.sqlite"), RegistryConfig::demo())?;
    for n in 0..stations {
        let mut seed = [7u8; 32];
        seed[..4].copy_from_slice(&n.to_le_bytes());
        let key = SigningKey::from_bytes(&seed);
        let station = code(n)?;
        registry
            .enrol(station, &format!("Urna {n}"), key.verifying_key())
            .await?;
        registry
            .approve(&records::fingerprint(&key.verifying_key()), None)
            .await?;
        registry
            .push(station, vec![deposit(station, &key)?])
            .await?;
    }

    let mut renders = Vec::new();
    let mut size = 0;
    let mut lines = 0;
    for _ in 0..21 {
        let started = Instant::now();
        let text = registry::metrics::render(&registry).await?;
        renders.push(started.elapsed());
        size = text.len();
        lines = text.lines().count();
    }
    println!(
        "{stations} stations: /metrics is {size} bytes, {lines} lines; render median {:?} (21 runs)",
        median(renders)
    );

    // The middleware's work per answered request, on a warm family (the common case).
    let metrics = registry.metrics();
    let routes = [
        "/api/stations/{code}/events",
        "/api/intakes/{id}",
        "/status",
    ];
    let calls = 1_000_000u32;
    let started = Instant::now();
    for i in 0..calls {
        metrics.answered(
            routes[i as usize % routes.len()],
            &Method::GET,
            StatusCode::OK,
            Duration::from_micros(u64::from(i % 5000)),
        );
    }
    let per_call = started.elapsed() / calls;
    println!("middleware bookkeeping: {per_call:?} per request ({calls} calls, one thread)");
    Ok(())
}
