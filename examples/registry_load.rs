//! Many stations pushing at once to one registry (issue 9's load figures), and SQLite's raw
//! insert rate for the same rows on the same disk beside it.
//!
//! `cargo build --release && cargo run --release --example registry_load -- [STATIONS]
//! [ENVELOPES_PER_STATION] [EVENTS_PER_PUSH]` (defaults 500, 40, 30). It runs `target/release/urna
//! registry serve` as its own process (so that its CPU time and memory are its own), approves
//! every station's key in the register first, signs every station's events the way a station
//! does (three per envelope: deposit, receipt printed, drop seen), then lets every station push
//! its backlog at the same moment through the stations' own signed client, each push waiting for
//! the one before as a station's sync does. It checks that the registry acknowledges every event
//! and prints the figures BENCHMARKS.md records. `URNA_BIN=path` measures another build of
//! `urna` instead of `target/release/urna`.

#[path = "common/registry_process.rs"]
mod registry_process;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use records::api::{PushRequest, PushResponse};
use records::signing::sign_event;
use records::{
    ChainTip, Channel, Event, Hash, Intake, IntakeId, LabelKind, Payload, SignedEvent, StationCode,
    Text, Timestamp,
};
use registry_process::{arg, free_port, peak_rss_kb, start_registry, terminate};
use station::StationKey;
use station::signed_client::SignedClient;

struct Station {
    code: StationCode,
    key: StationKey,
    events: Vec<SignedEvent>,
    /// What the register stores beside each event: its chain hash, kind and intake.
    columns: Vec<(Hash, &'static str, String)>,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("registry_load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let stations: usize = arg(1, 500)?;
    let envelopes: usize = arg(2, 40)?;
    let per_push: usize = arg(3, 30)?;
    // Another build of the registry may be measured beside this one (a before-and-after in the
    // same minutes) without replacing the binary everyone else's tools use.
    let urna = std::env::var_os("URNA_BIN")
        .map_or_else(|| PathBuf::from("target/release/urna"), PathBuf::from);
    if !urna.exists() {
        bail!(
            "{} is missing: run `cargo build --release` first",
            urna.display()
        );
    }
    let dir = tempfile::tempdir_in("target").context("a scratch directory under target/")?;

    let started = Instant::now();
    let fleet: Vec<Station> = (0..stations)
        .map(|n| station(n, envelopes))
        .collect::<Result<_>>()?;
    let total: usize = fleet.iter().map(|s| s.events.len()).sum();
    println!(
        "{stations} stations, {total} events signed in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let port = free_port()?;
    runtime.block_on(approve_all(dir.path(), &fleet))?;
    let mut server = start_registry(&urna, dir.path(), port)?;
    let outcome = runtime.block_on(push_all(port, &fleet, per_push, server.id()));
    let _ = terminate(server.id());
    let _ = server.wait();
    let pushed = outcome?;

    let raw = raw_insert_rate(dir.path(), &fleet, per_push, RawOrder::StationByStation)?;
    let raw_as_pushed = raw_insert_rate(dir.path(), &fleet, per_push, RawOrder::AsPushed)?;
    let mut latencies = pushed.latencies;
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    let rate = total as f64 / pushed.wall.as_secs_f64();
    println!(
        "pushed and acknowledged: {total} events in {:.2} s = {rate:.0} events/s",
        pushed.wall.as_secs_f64()
    );
    println!(
        "push latency ({} pushes of up to {per_push}): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        ms(pct(0.5)),
        ms(pct(0.99)),
        ms(pct(1.0))
    );
    println!(
        "registry process: {:.2} s CPU over {:.2} s wall ({:.0} % of one core), peak RSS {} MB",
        pushed.cpu.as_secs_f64(),
        pushed.wall.as_secs_f64(),
        100.0 * pushed.cpu.as_secs_f64() / pushed.wall.as_secs_f64(),
        pushed.peak_rss_kb / 1024
    );
    println!(
        "registry wrote {:.1} KB to the disk per event ({:.0} MB in all)",
        pushed.written as f64 / 1024.0 / total as f64,
        pushed.written as f64 / 1e6
    );
    println!(
        "registry CPU per event {:.0} µs; the stations' side (this process) used {:.2} s CPU over the same time ({:.0} % of one core)",
        1e6 * pushed.cpu.as_secs_f64() / total as f64,
        pushed.clients_cpu.as_secs_f64(),
        100.0 * pushed.clients_cpu.as_secs_f64() / pushed.wall.as_secs_f64()
    );
    println!(
        "raw SQLite insert of the same rows, {per_push} per transaction (WAL, synchronous=FULL), station by station: {raw:.0} rows/s; the registry reached {:.0} % of it",
        100.0 * rate / raw
    );
    println!(
        "the same raw insert in the order the pushes arrive (one push of each station in turn): {raw_as_pushed:.0} rows/s; the registry reached {:.0} % of it",
        100.0 * rate / raw_as_pushed
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Station number `n`'s code: two fixed characters and two from the id alphabet, so that 961
/// stations have distinct codes.
fn code(n: usize) -> Result<StationCode> {
    let alphabet = records::intake_id::ALPHABET;
    if n >= alphabet.len() * alphabet.len() {
        bail!("at most {} stations", alphabet.len() * alphabet.len());
    }
    let text = format!(
        "XQ{}{}",
        alphabet[n / alphabet.len()] as char,
        alphabet[n % alphabet.len()] as char
    );
    Ok(text.parse()?)
}

fn station(n: usize, envelopes: usize) -> Result<Station> {
    let code = code(n)?;
    let mut seed = [7u8; 32];
    seed[..8].copy_from_slice(&(n as u64).to_le_bytes());
    let key = StationKey::from_seed(seed);
    let category = Text::new("podatki")?;
    let mut tip = ChainTip::GENESIS;
    let mut events = Vec::with_capacity(envelopes * 3);
    let mut columns = Vec::with_capacity(envelopes * 3);
    let base_ms = 1_763_768_771_000 + (n as i64) * 7;
    for e in 0..envelopes {
        let id = IntakeId::new(code, e as u64 + 1)?;
        let when = |k: i64| Timestamp {
            unix_ms: base_ms + (e as i64) * 60_000 + k * 1_000,
            trusted: true,
        };
        let payloads = [
            Payload::Deposit(Intake {
                id,
                received_at: when(0),
                channel: Channel::Urn,
                category: category.clone(),
                reference: None,
                sender: None,
                attachments: None,
            }),
            Payload::LabelPrinted {
                intake: id,
                label: LabelKind::Receipt,
            },
            Payload::DropSeen { intake: id },
        ];
        for (k, payload) in payloads.into_iter().enumerate() {
            let event = Event {
                station: code,
                seq: tip.seq + 1,
                recorded_at: when(k as i64),
                prev_hash: tip.hash,
                payload,
            };
            let canonical = records::encoding::encode(&event);
            let hash = Hash::link(&tip.hash, &canonical);
            columns.push((hash, event.payload.kind_name(), id.to_string()));
            let signature = sign_event(key.signing_key(), &canonical);
            events.push(SignedEvent {
                seq: event.seq,
                canonical,
                key_id: key.key_id(),
                signature,
            });
            tip = ChainTip {
                seq: event.seq,
                hash,
            };
        }
    }
    Ok(Station {
        code,
        key,
        events,
        columns,
    })
}

/// Every station enrolled and approved in the register before the server opens it, as an admin
/// would have done with `urna registry approve`.
async fn approve_all(dir: &Path, fleet: &[Station]) -> Result<()> {
    let registry =
        registry::Registry::open(&dir.join("register.db"), registry::RegistryConfig::demo())?;
    for s in fleet {
        registry
            .enrol(s.code, &s.code.to_string(), s.key.public())
            .await?;
        registry.approve(&s.key.fingerprint(), None).await?;
    }
    Ok(())
}

struct Pushed {
    wall: Duration,
    latencies: Vec<Duration>,
    cpu: Duration,
    /// This process's own CPU time over the same interval: the stations' side shares the cores.
    clients_cpu: Duration,
    peak_rss_kb: u64,
    /// Bytes the registry had the kernel write to the disk (WAL frames, checkpoints).
    written: u64,
}

async fn push_all(port: u16, fleet: &[Station], per_push: usize, pid: u32) -> Result<Pushed> {
    let url = format!("http://127.0.0.1:{port}");
    let clients: Vec<SignedClient> = fleet
        .iter()
        .map(|s| SignedClient::new(&url, &s.key).map_err(anyhow::Error::msg))
        .collect::<Result<_>>()?;
    let ready = Instant::now();
    loop {
        let path = format!("/api/stations/{}/acknowledged", fleet[0].code);
        if let Ok(answer) = clients[0].get(&path, Some(Duration::from_secs(1))).await
            && answer.status().is_success()
        {
            break;
        }
        if ready.elapsed() > Duration::from_secs(20) {
            bail!("the registry did not answer within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let cpu_before = cpu_time(pid)?;
    let written_before = written_bytes(pid)?;
    let clients_before = cpu_time(std::process::id())?;
    let start = Arc::new(tokio::sync::Barrier::new(fleet.len() + 1));
    let mut tasks = Vec::new();
    for (s, client) in fleet.iter().zip(clients) {
        let batches: Vec<Vec<SignedEvent>> = s.events.chunks(per_push).map(<[_]>::to_vec).collect();
        let path = format!("/api/stations/{}/events", s.code);
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let mut latencies = Vec::with_capacity(batches.len());
            for events in batches {
                let last = events.last().map_or(0, |e| e.seq);
                let sent = Instant::now();
                let answer = client
                    .post_json(&path, &PushRequest { events })
                    .await
                    .map_err(anyhow::Error::msg)?;
                let status = answer.status();
                if !status.is_success() {
                    bail!(
                        "{path}: {status}: {}",
                        answer.text().await.unwrap_or_default()
                    );
                }
                let ack: PushResponse = answer.json().await?;
                latencies.push(sent.elapsed());
                if ack.acknowledged != last {
                    bail!(
                        "{path}: acknowledged {} after sending up to {last}",
                        ack.acknowledged
                    );
                }
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    start.wait().await;
    let began = Instant::now();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let wall = began.elapsed();
    let cpu = cpu_time(pid)? - cpu_before;
    let clients_cpu = cpu_time(std::process::id())? - clients_before;
    Ok(Pushed {
        wall,
        latencies,
        cpu,
        clients_cpu,
        peak_rss_kb: peak_rss_kb(pid)?,
        written: written_bytes(pid)? - written_before,
    })
}

/// Bytes process `pid` has caused to be written to storage (`write_bytes` in /proc/PID/io).
fn written_bytes(pid: u32) -> Result<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io"))?;
    let line = io
        .lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .context("no write_bytes in /proc/PID/io")?;
    Ok(line.trim().parse()?)
}

/// User and system CPU time of process `pid`, from /proc (clock ticks of 10 ms, Linux's usual
/// USER_HZ).
fn cpu_time(pid: u32) -> Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces; fields are counted after its closing parenthesis.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    Ok(Duration::from_millis(ticks * 10))
}

/// The order the raw inserts take the fleet's pushes in.
#[derive(Clone, Copy)]
enum RawOrder {
    /// Each station's whole backlog before the next station's: every transaction appends to the
    /// same few pages, the most favourable order there is.
    StationByStation,
    /// One push of each station in turn, as pushes from every station at once reach the
    /// registry: each transaction lands in another station's part of the table's key.
    AsPushed,
}

/// The same rows into a bare table shaped like the register's `events`, one transaction per
/// `per_push` rows, on the same disk: the most this machine's SQLite can do for them.
fn raw_insert_rate(dir: &Path, fleet: &[Station], per_push: usize, order: RawOrder) -> Result<f64> {
    let file = match order {
        RawOrder::StationByStation => "raw-by-station.db",
        RawOrder::AsPushed => "raw-as-pushed.db",
    };
    let conn = rusqlite::Connection::open(dir.join(file))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(
        "CREATE TABLE events (station TEXT NOT NULL, seq INTEGER NOT NULL, canonical BLOB NOT NULL,
         key_id TEXT NOT NULL, signature BLOB NOT NULL, hash BLOB NOT NULL, kind TEXT NOT NULL,
         intake TEXT, recorded_ms INTEGER NOT NULL, received_ms INTEGER NOT NULL,
         PRIMARY KEY (station, seq));
         CREATE INDEX events_by_intake ON events(intake, recorded_ms, station, seq) WHERE intake IS NOT NULL;",
    )?;
    let rows: usize = fleet.iter().map(|s| s.events.len()).sum();
    // Every push as (its round, its station), in the order inserted: a stable sort by round
    // keeps the stations' order within each round.
    let mut pushes: Vec<(usize, &Station)> = fleet
        .iter()
        .flat_map(|s| (0..s.events.len().div_ceil(per_push)).map(move |round| (round, s)))
        .collect();
    if let RawOrder::AsPushed = order {
        pushes.sort_by_key(|&(round, _)| round);
    }
    let started = Instant::now();
    for (round, s) in pushes {
        let code = s.code.to_string();
        let range = round * per_push..((round + 1) * per_push).min(s.events.len());
        let (batch, columns) = (&s.events[range.clone()], &s.columns[range]);
        let tx = conn.unchecked_transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO events(station, seq, canonical, key_id, signature, hash, kind, intake, recorded_ms, received_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            for (e, (hash, kind, intake)) in batch.iter().zip(columns) {
                insert.execute(rusqlite::params![
                    code,
                    e.seq as i64,
                    e.canonical,
                    e.key_id.to_string(),
                    e.signature.as_slice(),
                    hash.0.as_slice(),
                    kind,
                    intake,
                    1_763_768_771_000_i64 + e.seq as i64,
                    1_763_768_771_000_i64,
                ])?;
            }
        }
        tx.commit()?;
    }
    Ok(rows as f64 / started.elapsed().as_secs_f64())
}
