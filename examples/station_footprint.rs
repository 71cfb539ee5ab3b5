//! Station footprint (issue 9): start-up time on a custody log of 1,000,000 events, idle RSS,
//! RSS under a deposit load, and the binary's size.
//!
//! `cargo build --release --bin urna --examples && target/release/examples/station_footprint
//! [EVENTS]` (default 1,000,000). It writes a real log through the station's own log API
//! (`CustodyLog::append_all`, 20,000 signed events a transaction: an urn's day of deposits,
//! labels, receipts and drops, with a collection every 300 envelopes, all acknowledged by the
//! registry as on a station that syncs), then starts `target/release/urna station` on it as its
//! own process, a simulated urn kiosk as under systemd: the time to start is from spawning the
//! process to its `READY=1` on `NOTIFY_SOCKET` (sent once its pages answer). It is started once
//! on an empty log and three times on the full one. On the last start it waits 10 s and reads
//! `VmRSS`/`VmHWM` from `/proc/PID/status`, then makes deposits through the simulated button
//! and slot (as the control page does) and reads them again. No registry runs.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use records::{
    ChainTip, Channel, Intake, IntakeId, LabelKind, Payload, StationCode, Text, Timestamp,
};
use station::{CustodyLog, Entry, LogStore, StationKey};

const STATION: &str = "GWU2";
/// Envelopes between two collections of the urn.
const COLLECT_EVERY: u64 = 300;
const PER_TRANSACTION: usize = 20_000;
const LOAD_DEPOSITS: usize = 200;

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("station_footprint: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let events: u64 = match std::env::args().nth(1) {
        Some(n) => n.parse().context("EVENTS must be a number")?,
        None => 1_000_000,
    };
    let urna = PathBuf::from("target/release/urna");
    if !urna.exists() {
        bail!(
            "{} is missing: run `cargo build --release` first",
            urna.display()
        );
    }
    let scratch = tempfile::tempdir_in("target").context("a scratch directory under target/")?;

    let binary = std::fs::metadata(&urna)?.len();
    let stripped_path = scratch.path().join("urna-stripped");
    let stripped = Command::new("strip")
        .arg("-o")
        .arg(&stripped_path)
        .arg(&urna)
        .status()
        .ok()
        .filter(|s| s.success())
        .and_then(|_| std::fs::metadata(&stripped_path).ok())
        .map(|m| m.len());
    println!(
        "binary: {} bytes ({:.1} MiB); stripped: {}",
        binary,
        mib(binary),
        stripped.map_or("strip failed".to_owned(), |s| format!(
            "{s} bytes ({:.1} MiB)",
            mib(s)
        ))
    );

    let empty = prepare(&scratch.path().join("empty"))?;
    let full = prepare(&scratch.path().join("full"))?;
    let written = Instant::now();
    let size = write_log(&full, events)?;
    println!(
        "log: {events} events written in {:.1} s; custody.db {} bytes ({:.0} MiB)",
        written.elapsed().as_secs_f64(),
        size,
        mib(size)
    );
    let verified = Instant::now();
    let store = LogStore::open_existing(&full.join(station::runtime::LOG_FILE))?;
    let tip = store.verify(&store.recorded_keys()?, ChainTip::GENESIS)?;
    drop(store);
    println!(
        "full verification of the chain (no checkpoint), in this process: {} events in {:.2} s",
        tip.seq,
        verified.elapsed().as_secs_f64()
    );

    let runtime = tokio::runtime::Runtime::new()?;
    let service = Service::start(&urna, &empty)?;
    println!(
        "start, empty log: READY=1 after {:.0} ms",
        service.ready_after.as_secs_f64() * 1000.0
    );
    service.stop()?;
    for run in 1..=3 {
        let service = Service::start(&urna, &full)?;
        println!(
            "start {run}, {events} events: READY=1 after {:.0} ms",
            service.ready_after.as_secs_f64() * 1000.0
        );
        if run < 3 {
            service.stop()?;
            continue;
        }
        std::thread::sleep(Duration::from_secs(10));
        println!("idle 10 s after READY: {}", memory(service.pid())?);
        let load = Instant::now();
        runtime.block_on(deposits(&service.url, LOAD_DEPOSITS))?;
        println!(
            "after {LOAD_DEPOSITS} deposits in {:.1} s: {}",
            load.elapsed().as_secs_f64(),
            memory(service.pid())?
        );
        std::thread::sleep(Duration::from_secs(10));
        println!("idle 10 s later: {}", memory(service.pid())?);
        service.stop()?;
    }
    Ok(())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A station's data directory with its key and `station.toml`.
fn prepare(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    StationKey::generate_to_file(&dir.join("station.key"))?;
    let port = free_port()?;
    std::fs::write(
        dir.join("station.toml"),
        format!(
            r#"station = "{STATION}"
name = "Urna"
place = "Urząd"
role = "urn"
simulation = true
data_dir = "{data}"
key_file = "{data}/station.key"
registry_url = "http://127.0.0.1:{absent}"
status_url = "http://127.0.0.1:{absent}/status"
default_category = "inne"
hold_secs = 86400
drop_timeout_secs = 30
listen = "127.0.0.1:{port}"

[kiosk]
capacity = 100000

[gpio]
slot_max_break_ms = 100

[[categories]]
id = "inne"
name_pl = "Inne sprawy"
name_en = "Other matters"
department = "Kancelaria ogólna"
"#,
            data = dir.display(),
            absent = free_port()?,
        ),
    )?;
    Ok(dir.to_owned())
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Writes `events` signed events into the log in `dir`, all acknowledged; returns the file's size.
fn write_log(dir: &Path, events: u64) -> Result<u64> {
    let station: StationCode = STATION.parse()?;
    let key = StationKey::load(&dir.join("station.key"))?;
    let path = dir.join(station::runtime::LOG_FILE);
    let mut log = CustodyLog::open(&path, station, key)?;
    // Back in time by about 20 s an event, so the last is recorded about now.
    let start_ms = station::clock::now().unix_ms - events as i64 * 20_000;
    let mut stream = envelope_events(station).take(events as usize).enumerate();
    loop {
        let batch: Vec<(Timestamp, Entry)> = stream
            .by_ref()
            .take(PER_TRANSACTION)
            .map(|(n, payload)| {
                let at = Timestamp {
                    unix_ms: start_ms + n as i64 * 20_000,
                    trusted: true,
                };
                (at, Entry::Payload(payload))
            })
            .collect();
        if batch.is_empty() {
            break;
        }
        log.append_all(batch)?;
    }
    log.set_acknowledged(log.tip().seq)?;
    drop(log);
    Ok(std::fs::metadata(&path)?.len())
}

/// An urn's events, endlessly: per envelope its deposit, label, receipt and drop; every
/// [`COLLECT_EVERY`] envelopes the door, the collection and the door again.
fn envelope_events(station: StationCode) -> impl Iterator<Item = Payload> {
    let text = Text::sanitized;
    (1u64..).flat_map(move |n| {
        let intake = IntakeId::new(station, n).unwrap_or_else(|_| unreachable!());
        let mut payloads = vec![
            Payload::Deposit(Intake {
                id: intake,
                received_at: Timestamp {
                    unix_ms: 0,
                    trusted: true,
                },
                channel: Channel::Urn,
                category: text("inne"),
                reference: (n % 3 == 0).then(|| text(&format!("GKM.{n:05}.11.2026"))),
                sender: None,
                attachments: None,
            }),
            Payload::LabelPrinted {
                intake,
                label: LabelKind::Envelope,
            },
            Payload::LabelPrinted {
                intake,
                label: LabelKind::Receipt,
            },
            Payload::DropSeen { intake },
        ];
        if n % COLLECT_EVERY == 0 {
            payloads.extend([
                Payload::DoorOpened,
                Payload::UrnCollected {
                    seal: text(&format!("S{n}")),
                    envelopes: COLLECT_EVERY as u32,
                    first_staff: text("1001"),
                    second_staff: text("1002"),
                },
                Payload::DoorClosed,
            ]);
        }
        payloads
    })
}

/// `urna station` running as its own process.
struct Service {
    child: Child,
    url: String,
    ready_after: Duration,
}

impl Service {
    /// Starts the station in `dir` and waits for its READY=1.
    fn start(urna: &Path, dir: &Path) -> Result<Service> {
        let socket_path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&socket_path);
        let socket = UnixDatagram::bind(&socket_path)?;
        socket.set_read_timeout(Some(Duration::from_secs(60)))?;
        let config = dir.join("station.toml");
        let listen = std::fs::read_to_string(&config)?
            .lines()
            .find_map(|l| {
                l.strip_prefix("listen = ")
                    .map(|v| v.trim_matches('"').to_owned())
            })
            .context("no listen in station.toml")?;
        let started = Instant::now();
        let child = Command::new(urna)
            .arg("station")
            .arg("--config")
            .arg(&config)
            .env("NOTIFY_SOCKET", &socket_path)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("station.log"))?)
            .spawn()?;
        let mut service = Service {
            child,
            url: format!("http://{listen}"),
            ready_after: Duration::ZERO,
        };
        let mut buf = [0u8; 4096];
        loop {
            let n = socket
                .recv(&mut buf)
                .context("no READY=1 within 60 s (see station.log)")?;
            if String::from_utf8_lossy(&buf[..n])
                .lines()
                .any(|l| l == "READY=1")
            {
                service.ready_after = started.elapsed();
                return Ok(service);
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(mut self) -> Result<()> {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id())?);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)?;
        let status = self.child.wait()?;
        if !status.success() {
            bail!("the station stopped with {status}");
        }
        Ok(())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// VmRSS, VmHWM and the thread count of a process.
fn memory(pid: u32) -> Result<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map_or("?".to_owned(), |v| v.trim().to_owned())
    };
    Ok(format!(
        "VmRSS {}, VmHWM {}, threads {}",
        field("VmRSS:"),
        field("VmHWM:"),
        field("Threads:")
    ))
}

/// Makes `count` deposits at the kiosk through the simulated button and slot, one after another.
async fn deposits(url: &str, count: usize) -> Result<()> {
    let client = reqwest::Client::new();
    let step = |client: reqwest::Client, wanted: &'static str, within: Duration| async move {
        let deadline = Instant::now() + within;
        loop {
            let state: serde_json::Value = client
                .get(format!("{url}/kiosk/state"))
                .send()
                .await?
                .json()
                .await?;
            if state["step"] == wanted {
                return Ok::<_, anyhow::Error>(state);
            }
            if Instant::now() > deadline {
                bail!("the kiosk did not reach {wanted}: {state}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    for _ in 0..count {
        // A press the button's debouncing takes for the end of the last one is pressed again,
        // as a resident would.
        let mut presses = 0;
        loop {
            client.post(format!("{url}/sim/button")).send().await?;
            presses += 1;
            match step(client.clone(), "drop", Duration::from_secs(2)).await {
                Ok(_) => break,
                Err(_) if presses < 5 => continue,
                Err(e) => return Err(e),
            }
        }
        client.post(format!("{url}/sim/slot")).send().await?;
        step(client.clone(), "done", Duration::from_secs(10)).await?;
    }
    Ok(())
}
