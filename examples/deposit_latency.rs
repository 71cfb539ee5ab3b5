//! Deposit latency (issue 9): from a scan's last byte on the serial port to the last byte of the
//! deposit's printing at the printer, over many deposits, the FULL-sync commits included.
//!
//! `cargo run --release --example deposit_latency -- [DEPOSITS]` (default 1,000, after 10 not
//! counted). It runs a real urn kiosk station in this process (`station::runtime::run`, as the
//! tests do) with a serial scanner on a pseudo-terminal and the simulated printer, which the
//! station reaches through the real link, TCP transport and ESC/POS encoder. For each deposit
//! it writes a form's code with CR LF to the pty, waits for the category screen on the kiosk's
//! live stream (what the kiosk page reads), touches the category as a resident does, waits for
//! the "drop now" screen, and drops the envelope through the simulated slot beam.
//!
//! The printer side is timed where the printer's emulator completes a page (the
//! `sim_printer.page_complete` trace event, emitted on the device's thread as the chunk holding
//! the page's last byte is fed to it); each commit of the custody log is timed by its
//! `custody_log.commit` trace event. The harness's own reaction (category screen seen → touch
//! sent) is measured and reported beside the totals, and subtracted in the "station only" row.
//! No registry runs: the sync retries in the background, as on a station that is offline.

use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
use serde_json::Value;
use station::config::Role;
use station::devices::serial_scanner::SerialScannerConfig;
use station::shutdown::shutdown_pair;
use tracing::field::{Field, Visit};
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::prelude::*;

const PAGE_COMPLETE: &str = "sim_printer.page_complete";
const COMMIT: &str = "custody_log.commit";
const WARM_UP: usize = 10;

/// One commit of the custody log, as its trace event told it.
#[derive(Debug, Clone, Copy)]
struct Commit {
    at: Instant,
    append_us: u64,
    commit_us: u64,
}

/// What the trace events marked, in the order they came.
#[derive(Debug, Default)]
struct Marks {
    pages: Vec<Instant>,
    commits: Vec<Commit>,
}

/// A tracing layer that listens to the two timing events only.
#[derive(Debug, Clone, Default)]
struct Timing(Arc<Mutex<Marks>>);

impl Timing {
    fn marks(&self) -> MutexGuard<'_, Marks> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn timed(metadata: &Metadata<'_>) -> bool {
    matches!(metadata.name(), PAGE_COMPLETE | COMMIT)
}

#[derive(Default)]
struct Micros {
    append_us: u64,
    commit_us: u64,
}

impl Visit for Micros {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "append_us" => self.append_us = value,
            "commit_us" => self.commit_us = value,
            _ => {}
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl<S: Subscriber> Layer<S> for Timing {
    fn on_event(&self, event: &Event<'_>, _: LayerContext<'_, S>) {
        let at = Instant::now();
        if event.metadata().name() == PAGE_COMPLETE {
            self.marks().pages.push(at);
        } else {
            let mut micros = Micros::default();
            event.record(&mut micros);
            self.marks().commits.push(Commit {
                at,
                append_us: micros.append_us,
                commit_us: micros.commit_us,
            });
        }
    }
}

/// The kiosk's live stream of screens (server-sent events), read as the kiosk page reads it.
struct Screens {
    response: reqwest::Response,
    buffer: String,
}

impl Screens {
    async fn open(client: &reqwest::Client, kiosk: &str) -> Result<Screens> {
        let response = client
            .get(format!("{kiosk}/kiosk/stream"))
            .send()
            .await?
            .error_for_status()?;
        Ok(Screens {
            response,
            buffer: String::new(),
        })
    }

    /// The next screen the kiosk published.
    async fn next(&mut self) -> Result<Value> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let message: String = self.buffer.drain(..end + 2).collect();
                let data: String = message
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(str::trim_start)
                    .collect();
                if data.is_empty() {
                    continue; // a keep-alive
                }
                return Ok(serde_json::from_str(&data)?);
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .context("no screen from the kiosk for 10 s")??
                .context("the kiosk's stream ended")?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Waits for a screen at `step`; returns it and when it was read. Other screens keep
    /// coming while the kiosk waits (a printer poll, a sensor fault), so the wait as a whole
    /// has a deadline too: once a run hung for ten minutes on a deposit whose drop the
    /// simulated slot reported as a jam after a stall of the whole process.
    async fn until(&mut self, step: &str) -> Result<(Value, Instant)> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.next().await?;
            if screen["step"] == step {
                return Ok((screen, Instant::now()));
            }
            if screen["step"] == "out_of_order" {
                bail!("the kiosk went out of order: {screen}");
            }
            if Instant::now() > deadline {
                bail!("no {step:?} screen for 30 s; the last: {screen}");
            }
        }
    }
}

/// One deposit's times, microseconds.
#[derive(Debug, Clone, Copy)]
struct Deposit {
    scan_to_choose: u64,
    reaction: u64,
    scan_to_label: u64,
    scan_to_receipt: u64,
    choice_to_receipt: u64,
    deposit_commit: Commit,
}

fn us(d: Duration) -> u64 {
    d.as_micros() as u64
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("deposit_latency: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let deposits: usize = match std::env::args().nth(1) {
        Some(n) => n.parse().context("DEPOSITS must be a number")?,
        None => 1_000,
    };
    let timing = Timing::default();
    // `DEPOSIT_LATENCY_LOG=info` (any `RUST_LOG`-style filter) also prints the station's log to
    // stderr, to see why a run stalled; off by default, as it costs time on the measured path.
    let log = std::env::var("DEPOSIT_LATENCY_LOG").ok().map(|filter| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(tracing_subscriber::EnvFilter::new(filter))
    });
    // A filter of its own, so that its "not interested" does not silence the log layer.
    tracing_subscriber::registry()
        .with(timing.clone().with_filter(filter_fn(timed)))
        .with(log)
        .init();
    // As `urna station` runs it: tokio's default runtime, one worker per core.
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(measure(deposits, timing))
}

async fn measure(deposits: usize, timing: Timing) -> Result<()> {
    std::fs::create_dir_all("target")?;
    let scratch = tempfile::tempdir_in("target").context("a scratch directory under target/")?;
    let dir = scratch.path().join("GWU2");
    std::fs::create_dir_all(&dir)?;
    let key = station::StationKey::generate_to_file(&dir.join("station.key"))?;

    // The scanner: a pty in raw mode behind a by-id style link, as in tests/scanner.rs.
    let pair = nix::pty::openpty(None, None)?;
    let mut termios = tcgetattr(&pair.slave)?;
    cfmakeraw(&mut termios);
    tcsetattr(&pair.slave, SetArg::TCSANOW, &termios)?;
    let slave = std::fs::read_link(format!("/proc/self/fd/{}", pair.slave.as_raw_fd()))?;
    let link = scratch.path().join("usb-Scanner-if00");
    std::os::unix::fs::symlink(&slave, &link)?;
    let mut scanner = std::fs::File::from(pair.master);

    let absent_registry = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let mut config = urna::demo::station_config(
        "GWU2".parse()?,
        "Urna",
        Role::Urn,
        &dir,
        absent_registry.port(),
        &registry::RegistryConfig::demo(),
    );
    config.scanner = Some(SerialScannerConfig::new(link));
    config.kiosk.capacity = 100_000;
    // A short beam break for the simulated envelope (the default is about a second), so the
    // run takes minutes; the slot is outside what is timed.
    config.gpio = Some(station::devices::gpio::GpioConfig {
        slot_max_break_ms: 100,
        ..Default::default()
    });
    let category = config.default_category.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let kiosk = format!("http://{}", listener.local_addr()?);
    let (trigger, shutdown) = shutdown_pair();
    let station = tokio::spawn(station::runtime::run(config, key, listener, shutdown));

    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut screens = loop {
        match Screens::open(&client, &kiosk).await {
            Ok(s) => break s,
            Err(_) if started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e),
        }
    };
    screens.until("idle").await?;

    let mut times = Vec::with_capacity(deposits);
    for n in 0..WARM_UP + deposits {
        let pages_before = timing.marks().pages.len();
        scanner.write_all(format!("GKM.{n:05}.11.2026\r\n").as_bytes())?;
        let scanned = Instant::now();
        let (_, choose_seen) = screens.until("choose").await?;
        let touched = Instant::now();
        let status = client
            .post(format!("{kiosk}/kiosk/category/{category}"))
            .send()
            .await?
            .status();
        if !status.is_success() {
            bail!("the category touch was answered {status}");
        }
        let (screen, _) = screens.until("drop").await?;
        if screen["message_en"]
            .as_str()
            .is_some_and(|m| m.contains("printer failed"))
        {
            bail!("deposit {n}: the printer failed: {screen}");
        }
        // The station may be told the job went out a moment before the device has fed it to
        // its emulator: wait for both pages.
        let (label, receipt, commits) = loop {
            {
                let marks = timing.marks();
                if let [label, receipt] = marks.pages[pages_before..] {
                    let commits: Vec<Commit> = marks
                        .commits
                        .iter()
                        .filter(|c| c.at >= touched)
                        .copied()
                        .collect();
                    break (label, receipt, commits);
                }
                if marks.pages.len() > pages_before + 2 {
                    bail!("deposit {n}: more than two pages printed");
                }
            }
            if touched.elapsed() > Duration::from_secs(10) {
                bail!("deposit {n}: its pages did not come");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        };
        let deposit_commit = *commits.first().context("no commit after the touch")?;
        let status = client
            .post(format!("{kiosk}/sim/slot"))
            .send()
            .await?
            .status();
        if !status.is_success() {
            bail!("the slot was answered {status}");
        }
        screens.until("done").await?;
        if n >= WARM_UP {
            times.push(Deposit {
                scan_to_choose: us(choose_seen - scanned),
                reaction: us(touched - choose_seen),
                scan_to_label: us(label - scanned),
                scan_to_receipt: us(receipt - scanned),
                choice_to_receipt: us(receipt - touched),
                deposit_commit,
            });
        }
    }
    trigger.trigger();
    station.await??;

    let all_commits: Vec<Commit> = timing.marks().commits.clone();
    println!(
        "{deposits} deposits (after {WARM_UP} not counted); times in ms: p50 / p90 / p99 / max"
    );
    let row = |name: &str, values: Vec<u64>| {
        let q = quantiles(values);
        println!(
            "{name:<48} {:>7.2} {:>7.2} {:>7.2} {:>7.2}",
            q[0], q[1], q[2], q[3]
        );
    };
    row(
        "scan -> envelope label's last byte",
        times.iter().map(|t| t.scan_to_label).collect(),
    );
    row(
        "scan -> receipt's last byte (whole deposit)",
        times.iter().map(|t| t.scan_to_receipt).collect(),
    );
    row(
        "  station only (harness reaction taken off)",
        times
            .iter()
            .map(|t| t.scan_to_receipt - t.reaction)
            .collect(),
    );
    row(
        "  scan -> category screen on the stream",
        times.iter().map(|t| t.scan_to_choose).collect(),
    );
    row(
        "  harness reaction (screen -> touch sent)",
        times.iter().map(|t| t.reaction).collect(),
    );
    row(
        "  touch -> receipt's last byte",
        times.iter().map(|t| t.choice_to_receipt).collect(),
    );
    row(
        "deposit event: append (sign + insert + commit)",
        times.iter().map(|t| t.deposit_commit.append_us).collect(),
    );
    row(
        "deposit event: commit alone (FULL sync)",
        times.iter().map(|t| t.deposit_commit.commit_us).collect(),
    );
    row(
        &format!(
            "every commit of the run ({}): commit alone",
            all_commits.len()
        ),
        all_commits.iter().map(|c| c.commit_us).collect(),
    );
    Ok(())
}

/// p50, p90, p99 and max of microsecond values, in milliseconds (nearest rank).
fn quantiles(mut values: Vec<u64>) -> [f64; 4] {
    values.sort_unstable();
    let Some(&max) = values.last() else {
        return [0.0; 4];
    };
    let rank = |p: f64| {
        let i = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
        values[i] as f64 / 1000.0
    };
    [rank(0.50), rank(0.90), rank(0.99), max as f64 / 1000.0]
}
