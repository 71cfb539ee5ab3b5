//! A long outage (issue 9): fourteen days of an urn's events logged with the registry out of
//! reach, then the registry comes back and the station's own sync drains the backlog.
//!
//! `cargo build --release --bin urna --example long_outage && target/release/examples/long_outage
//! [DAYS] [LETTERS_PER_DAY]` (defaults 14 and 1,905: ten times Gliwice's 2020 rate of about 8,000
//! letters in six weeks). Each letter is what a kiosk deposit logs (deposit, envelope label
//! printed, receipt printed, drop seen); each day ends with a collection (door opened, urn
//! collected, door closed). The events go through the station's real custody log, timestamps
//! spread over the days. The sync first runs against a closed port (the events stay in the log,
//! unacknowledged), then `target/release/urna registry serve` starts as its own process with the
//! station's key approved, and the station's real sync (`station::sync::run`, the signed client)
//! runs until the registry acknowledges the last event. It checks that the register holds exactly
//! the station's log (count and last hash) and prints the figures BENCHMARKS.md records.

#[path = "common/registry_process.rs"]
mod registry_process;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use records::{Channel, Intake, LabelKind, Payload, StationCode, Text, Timestamp};
use registry_process::{arg, free_port, peak_rss_kb, start_registry, terminate};
use station::shared_log::SharedLog;
use station::shutdown::shutdown_pair;
use station::signed_client::SignedClient;
use station::sync::{self, SyncStatus};
use station::{CustodyLog, Entry, StationKey};
use tokio::sync::watch;

const DAY_MS: i64 = 86_400_000;
/// 2026-11-01 00:00 UTC: the outage's first day.
const START_MS: i64 = 1_793_491_200_000;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("long_outage: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let days: u64 = arg(1, 14)?;
    let per_day: u64 = arg(2, 1_905)?;
    let urna = PathBuf::from("target/release/urna");
    if !urna.exists() {
        bail!(
            "{} is missing: run `cargo build --release --bin urna` first",
            urna.display()
        );
    }
    let dir = tempfile::tempdir_in("target").context("a scratch directory under target/")?;
    let code: StationCode = "GW7K".parse()?;
    let key = StationKey::from_seed([11; 32]);
    let log_path = dir.path().join("custody.db");

    let started = Instant::now();
    let mut log = CustodyLog::open(&log_path, code, StationKey::from_seed([11; 32]))?;
    let letters = fill(&mut log, days, per_day)?;
    let tip = log.tip();
    println!(
        "{days} days, {letters} letters, {} events logged offline in {:.1} s; log {} (db + wal)",
        tip.seq,
        started.elapsed().as_secs_f64(),
        mb(files_size(&log_path))
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let shared = SharedLog::new(log);

    // The registry out of reach: a port nobody listens on.
    let closed = format!("http://127.0.0.1:{}", free_port()?);
    let offline = runtime.block_on(sync_until(
        &shared,
        code,
        &key,
        &closed,
        |s| s.last_error.is_some(),
        Duration::from_secs(10),
    ))?;
    let kept = runtime.block_on(shared.with(|l| Ok((l.tip().seq, l.acknowledged()?))))?;
    println!(
        "registry unreachable: sync says {:?}; log still holds {} events, {} acknowledged",
        offline.last_error.unwrap_or_default(),
        kept.0,
        kept.1
    );
    if kept != (tip.seq, 0) {
        bail!("the log changed while the registry was unreachable: {kept:?}");
    }

    let port = free_port()?;
    runtime.block_on(approve(dir.path(), code, &key))?;
    let mut server = start_registry(&urna, dir.path(), port)?;
    let url = format!("http://127.0.0.1:{port}");
    let drained = runtime.block_on(async {
        wait_ready(&url, code, &key).await?;
        let began = Instant::now();
        let status = sync_until(
            &shared,
            code,
            &key,
            &url,
            |s| s.acknowledged == tip.seq,
            Duration::from_secs(3_600),
        )
        .await?;
        Ok::<_, anyhow::Error>((began.elapsed(), status, peak_rss_kb(server.id())?))
    });
    let _ = terminate(server.id());
    let _ = server.wait();
    let (wall, status, registry_rss_kb) = drained?;
    drop(shared);

    let (count, last_seq, last_hash) = register_copy(&dir.path().join("register.db"), code)?;
    let holds_all = count == tip.seq && last_seq == tip.seq && last_hash == tip.hash.0.as_slice();
    println!(
        "drained: {} events acknowledged in {:.2} s = {:.0} events/s",
        status.acknowledged,
        wall.as_secs_f64(),
        tip.seq as f64 / wall.as_secs_f64()
    );
    println!(
        "registry: peak RSS {} MB; register {} (db + wal) after the drain",
        registry_rss_kb / 1024,
        mb(files_size(&dir.path().join("register.db")))
    );
    println!(
        "station (this process, log and sync): peak RSS {} MB",
        peak_rss_kb(std::process::id())? / 1024
    );
    println!(
        "register holds {count} events up to seq {last_seq}; last hash {} the station's",
        if holds_all { "equals" } else { "DIFFERS FROM" }
    );
    if !holds_all {
        bail!("the register does not hold exactly the station's log");
    }
    Ok(())
}

/// `days` of an urn at `per_day` letters a day, as the kiosk logs them; returns the letters.
fn fill(log: &mut CustodyLog, days: u64, per_day: u64) -> Result<u64> {
    let category = Text::new("podatki")?;
    let staff = (Text::new("B-1001")?, Text::new("B-1002")?);
    let mut letters = 0;
    for day in 0..days as i64 {
        let day_start = START_MS + day * DAY_MS;
        // A deposit every this many ms over the day; one transaction per hundred letters (how
        // the log is committed does not change what it holds or what sync does with it).
        let every = DAY_MS / (per_day as i64 + 1);
        for chunk_start in (0..per_day as i64).step_by(100) {
            let mut entries: Vec<(Timestamp, Entry)> = Vec::with_capacity(400);
            for n in chunk_start..(chunk_start + 100).min(per_day as i64) {
                let at = |s: i64| Timestamp {
                    unix_ms: day_start + n * every + s * 1_000,
                    trusted: true,
                };
                let received_at = at(0);
                let category = category.clone();
                entries.push((
                    received_at,
                    Entry::NewIntake(Box::new(move |id| {
                        Payload::Deposit(Intake {
                            id,
                            received_at,
                            channel: Channel::Urn,
                            category,
                            reference: None,
                            sender: None,
                            attachments: None,
                        })
                    })),
                ));
                // A new log issues ids 1, 2, 3 … in order: this letter's is the count so far.
                let id = records::IntakeId::new(log.station(), letters + 1)?;
                letters += 1;
                for (s, payload) in [
                    (
                        2,
                        Payload::LabelPrinted {
                            intake: id,
                            label: LabelKind::Envelope,
                        },
                    ),
                    (
                        4,
                        Payload::LabelPrinted {
                            intake: id,
                            label: LabelKind::Receipt,
                        },
                    ),
                    (9, Payload::DropSeen { intake: id }),
                ] {
                    entries.push((at(s), Entry::Payload(payload)));
                }
            }
            log.append_all(entries)?;
        }
        let evening = |m: i64| Timestamp {
            unix_ms: day_start + DAY_MS - 600_000 + m * 60_000,
            trusted: true,
        };
        log.append_all([
            (evening(0), Entry::Payload(Payload::DoorOpened)),
            (
                evening(1),
                Entry::Payload(Payload::UrnCollected {
                    seal: Text::new(format!("S{day:05}"))?,
                    envelopes: per_day as u32,
                    first_staff: staff.0.clone(),
                    second_staff: staff.1.clone(),
                }),
            ),
            (evening(2), Entry::Payload(Payload::DoorClosed)),
        ])?;
    }
    Ok(letters)
}

/// Runs the station's sync against `url` until `done` holds for its status; returns that status.
async fn sync_until(
    log: &SharedLog,
    code: StationCode,
    key: &StationKey,
    url: &str,
    done: impl Fn(&SyncStatus) -> bool,
    limit: Duration,
) -> Result<SyncStatus> {
    let client = SignedClient::new(url, key).map_err(anyhow::Error::msg)?;
    let (status_tx, mut status_rx) = watch::channel(SyncStatus::default());
    let (trigger, shutdown) = shutdown_pair();
    let task = tokio::spawn(sync::run(log.clone(), code, client, status_tx, shutdown));
    let reached = matches!(
        tokio::time::timeout(limit, status_rx.wait_for(|s| done(s))).await,
        Ok(Ok(_))
    );
    let status = status_rx.borrow().clone();
    trigger.trigger();
    task.await?;
    if !reached {
        bail!("sync did not get there within {limit:?}: {status:?}");
    }
    Ok(status)
}

/// The station enrolled and approved before the server opens the register, as an admin would
/// have done with `urna registry approve`.
async fn approve(dir: &Path, code: StationCode, key: &StationKey) -> Result<()> {
    let registry =
        registry::Registry::open(&dir.join("register.db"), registry::RegistryConfig::demo())?;
    registry.enrol(code, "urna test", key.public()).await?;
    registry.approve(&key.fingerprint(), None).await?;
    Ok(())
}

async fn wait_ready(url: &str, code: StationCode, key: &StationKey) -> Result<()> {
    let client = SignedClient::new(url, key).map_err(anyhow::Error::msg)?;
    let path = format!("/api/stations/{code}/acknowledged");
    let ready = Instant::now();
    loop {
        if let Ok(answer) = client.get(&path, Some(Duration::from_secs(1))).await
            && answer.status().is_success()
        {
            return Ok(());
        }
        if ready.elapsed() > Duration::from_secs(20) {
            bail!("the registry did not answer within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An SQLite file and its write-ahead log together.
fn files_size(db: &Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    [db.to_owned(), PathBuf::from(wal)]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// The register's copy of the station's log: how many events, the last seq and its hash.
fn register_copy(db: &Path, code: StationCode) -> Result<(u64, u64, Vec<u8>)> {
    let conn = rusqlite::Connection::open(db)?;
    let code = code.to_string();
    let count: i64 = conn.query_row(
        "SELECT count(*) FROM events WHERE station = ?1",
        [&code],
        |r| r.get(0),
    )?;
    let (seq, hash): (i64, Vec<u8>) = conn.query_row(
        "SELECT seq, hash FROM events WHERE station = ?1 ORDER BY seq DESC LIMIT 1",
        [&code],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((count as u64, seq as u64, hash))
}
