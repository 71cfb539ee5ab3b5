//! `urna doctor`: checks everything a station needs, one line each, with what to do about a
//! failure. Run it after installing, after changing wiring, and whenever something seems wrong.

use std::path::Path;
use std::time::Duration;

use crate::config::StationConfig;
use crate::devices::PrinterStatus;
use crate::keys::StationKey;
use crate::log_store::LogStore;
use crate::runtime::LOG_FILE;
use crate::signed_client::SignedClient;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Fine.
    Ok,
    /// Works, but deserves a look.
    Warn,
    /// Broken: the station cannot do its job until this is fixed.
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// The result.
    pub outcome: Outcome,
    /// What was found, and for a failure what to do.
    pub detail: String,
}

impl Check {
    fn new(name: impl Into<String>, outcome: Outcome, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            outcome,
            detail: detail.into(),
        }
    }
}

/// Below this much free space the log may soon be unable to commit.
const DISK_FAIL_BYTES: u64 = 100 * 1024 * 1024;
/// Below this much free space, warn.
const DISK_WARN_BYTES: u64 = 1024 * 1024 * 1024;
/// Where systemd-timesyncd marks that the clock has been synchronised since boot.
const TIMESYNC_MARKER: &str = "/run/systemd/timesync/synchronized";

/// Runs every check for the station configured by `config`.
pub async fn run(config: &StationConfig) -> Vec<Check> {
    let mut checks = Vec::new();
    let key = match StationKey::load(&config.key_file) {
        Ok(key) => {
            checks.push(Check::new(
                "key",
                Outcome::Ok,
                format!(
                    "{} (fingerprint {fp}); the registry's admin approves this fingerprint: \
                     urna registry approve --fingerprint {fp}",
                    config.key_file.display(),
                    fp = key.fingerprint()
                ),
            ));
            Some(key)
        }
        Err(e) => {
            checks.push(Check::new("key", Outcome::Fail, e.to_string()));
            None
        }
    };
    checks.push(check_log(&config.data_dir.join(LOG_FILE)));
    checks.push(check_disk(&config.data_dir));
    checks.push(check_clock());
    checks.push(check_registry(config, key.as_ref()).await);
    checks.push(check_scanner(config));
    if let Some(check) = check_hid_scanner(config) {
        checks.push(check);
    }
    if let Some(camera) = config.vision.as_ref().and_then(|v| v.v4l2.as_ref()) {
        checks.push(match crate::vision::v4l2::probe(camera) {
            Ok(found) => Check::new("camera", Outcome::Ok, found),
            Err(e) => Check::new(
                "camera",
                Outcome::Fail,
                format!(
                    "{e}; is it plugged in, is the path under /dev/v4l/by-id right, and may the \
                     station's user open it (group video)?"
                ),
            ),
        });
    }
    checks.push(check_gpio(config));
    checks.extend(check_printers(config).await);
    checks
}

fn check_log(path: &Path) -> Check {
    if !path.exists() {
        return Check::new(
            "custody log",
            Outcome::Ok,
            format!(
                "{} does not exist yet; the station creates it on first start",
                path.display()
            ),
        );
    }
    let verified = LogStore::open_existing(path).and_then(|store| {
        let start = store.check_checkpoint()?;
        let tip = store.verify(&store.recorded_keys()?, start)?;
        Ok((tip.seq, store.acknowledged()?))
    });
    match verified {
        Ok((seq, acknowledged)) => Check::new(
            "custody log",
            Outcome::Ok,
            format!(
                "{}: {seq} events, verified since the last checkpoint; the registry has up to seq {acknowledged}",
                path.display()
            ),
        ),
        Err(e) => Check::new(
            "custody log",
            Outcome::Fail,
            format!(
                "{e}; run `urna log verify --db {}` for the details",
                path.display()
            ),
        ),
    }
}

fn check_disk(dir: &Path) -> Check {
    let existing = dir
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    match nix::sys::statvfs::statvfs(existing) {
        Ok(stat) => {
            // The casts are needed on 32-bit Pis, where these counts are narrower.
            #[allow(clippy::unnecessary_cast)]
            let free = (stat.blocks_available() as u64).saturating_mul(stat.fragment_size() as u64);
            let mib = free / (1024 * 1024);
            let (outcome, advice) = if free < DISK_FAIL_BYTES {
                (
                    Outcome::Fail,
                    "; free space now, or the log cannot commit deposits",
                )
            } else if free < DISK_WARN_BYTES {
                (Outcome::Warn, "; less than 1 GiB left")
            } else {
                (Outcome::Ok, "")
            };
            Check::new(
                "disk",
                outcome,
                format!("{mib} MiB free at {}{advice}", existing.display()),
            )
        }
        Err(e) => Check::new(
            "disk",
            Outcome::Fail,
            format!("cannot read free space at {}: {e}", existing.display()),
        ),
    }
}

fn check_clock() -> Check {
    let now = crate::clock::now();
    if !now.trusted {
        return Check::new(
            "clock",
            Outcome::Fail,
            format!(
                "the clock reads {}, which cannot be right; check NTP (timedatectl) — events are flagged untrusted until it is set",
                crate::clock::local_text(now)
            ),
        );
    }
    if Path::new(TIMESYNC_MARKER).exists() {
        Check::new("clock", Outcome::Ok, "synchronised by NTP since boot")
    } else {
        Check::new(
            "clock",
            Outcome::Warn,
            format!(
                "reads {}, but NTP synchronisation cannot be confirmed (no {TIMESYNC_MARKER}); see timedatectl",
                crate::clock::local_text(now)
            ),
        )
    }
}

async fn check_registry(config: &StationConfig, key: Option<&StationKey>) -> Check {
    let path = format!("/api/stations/{}/acknowledged", config.station);
    let timeout = Some(Duration::from_secs(5));
    // Signed as the station's own requests are, so the registry answers as it would answer
    // them (and records a new key as pending approval).
    let answer = match key {
        Some(key) => match SignedClient::new(&config.registry_url, key) {
            Ok(client) => client.get(&path, timeout).await,
            Err(e) => return Check::new("registry", Outcome::Fail, e),
        },
        // Without a usable key (reported above), reachability is still worth knowing.
        None => {
            unsigned_get(&format!(
                "{}{path}",
                config.registry_url.trim_end_matches('/')
            ))
            .await
        }
    };
    match answer {
        Ok(r) if r.status().is_success() => Check::new(
            "registry",
            Outcome::Ok,
            format!(
                "{} reachable; station {} enrolled and approved",
                config.registry_url, config.station
            ),
        ),
        Ok(r) if r.status().as_u16() == 401 => {
            let detail = r
                .json::<records::api::ApiError>()
                .await
                .map(|e| e.message)
                .unwrap_or_default();
            Check::new(
                "registry",
                Outcome::Fail,
                format!(
                    "{} refuses station {}: {detail}{}",
                    config.registry_url,
                    config.station,
                    match key {
                        Some(k) => format!(
                            " — ask the registry admin to approve the fingerprint {}",
                            k.fingerprint()
                        ),
                        None => String::new(),
                    }
                ),
            )
        }
        Ok(r) => Check::new(
            "registry",
            Outcome::Fail,
            format!("{} answered {}", config.registry_url, r.status()),
        ),
        Err(e) => Check::new(
            "registry",
            Outcome::Fail,
            format!(
                "{} unreachable ({e}); deposits are kept and sent when it is back — check the network and registry_url",
                config.registry_url
            ),
        ),
    }
}

async fn unsigned_get(url: &str) -> Result<reqwest::Response, String> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?
        .get(url)
        .send()
        .await
        .map_err(|e| e.to_string())
}

fn check_scanner(config: &StationConfig) -> Check {
    let Some(scanner) = &config.scanner else {
        return Check::new(
            "scanner",
            if config.simulation {
                Outcome::Ok
            } else {
                Outcome::Warn
            },
            "no serial scanner configured; codes come only from the control page (simulation) or the button",
        );
    };
    match scanner.open() {
        Ok(_) => Check::new(
            "scanner",
            Outcome::Ok,
            format!("{} opens", scanner.path.display()),
        ),
        Err(e) => Check::new(
            "scanner",
            Outcome::Fail,
            format!(
                "{} does not open ({e}); is it plugged in, and is the path under /dev/serial/by-id right?",
                scanner.path.display()
            ),
        ),
    }
}

fn check_hid_scanner(config: &StationConfig) -> Option<Check> {
    use crate::devices::hid_scanner::{OpenKeySource, evdev_source::Evdev};
    let scanner = config.hid_scanner.as_ref()?;
    // Opened without the grab: the check must not take the device from a running station.
    let probe = crate::devices::hid_scanner::HidScannerConfig {
        grab: false,
        ..scanner.clone()
    };
    Some(match Evdev.open(&probe) {
        Ok(_) => Check::new(
            "hid scanner",
            Outcome::Ok,
            format!("{} opens and reports keys", scanner.path.display()),
        ),
        Err(e) => Check::new(
            "hid scanner",
            Outcome::Fail,
            format!(
                "{} does not open ({e}); is it plugged in, is the path under /dev/input/by-id right, and may the station's user read it (group input)?",
                scanner.path.display()
            ),
        ),
    })
}

fn check_gpio(config: &StationConfig) -> Check {
    if config.simulation {
        return Check::new("gpio", Outcome::Ok, "simulated pins (simulation = true)");
    }
    #[cfg(feature = "rpi")]
    {
        if crate::devices::rpi::available() {
            Check::new("gpio", Outcome::Ok, "Raspberry Pi GPIO available")
        } else {
            Check::new(
                "gpio",
                Outcome::Fail,
                "this machine has no Raspberry Pi GPIO (/dev/gpiomem); run the station with simulation = true",
            )
        }
    }
    #[cfg(not(feature = "rpi"))]
    Check::new(
        "gpio",
        Outcome::Fail,
        "this urna was built without Raspberry Pi support (cargo feature rpi)",
    )
}

/// One line for the labels' templates, and one per printer: its answer to a status query.
async fn check_printers(config: &StationConfig) -> Vec<Check> {
    use crate::printer::setup::{LabelTemplates, label_printer};
    let mut checks = Vec::new();
    match label_printer(&config.printers, &config.labels, config.simulation) {
        Ok((name, printer)) => checks.push(
            match LabelTemplates::load(&config.labels, std::path::Path::new(""), &name, &printer) {
                Ok(t) => Check::new(
                    "labels",
                    Outcome::Ok,
                    format!(
                        "templates {}, {}, {} load and fit printer {name}",
                        t.envelope.name(),
                        t.receipt.name(),
                        t.bin.name()
                    ),
                ),
                Err(e) => Check::new(
                    "labels",
                    Outcome::Fail,
                    format!("{e}; fix the template or choose another in [labels]"),
                ),
            },
        ),
        Err(e) => checks.push(Check::new("labels", Outcome::Fail, e.to_string())),
    }
    let simulated_default = crate::printer::setup::simulated_default();
    let mut printers: Vec<(String, &crate::printer::setup::PrinterConfig)> = config
        .printers
        .iter()
        .map(|(name, printer)| (format!("printer {name}"), printer))
        .collect();
    if printers.is_empty() {
        if config.simulation {
            printers.push(("printer".into(), &simulated_default));
        } else {
            checks.push(Check::new(
                "printer",
                Outcome::Fail,
                "no printer configured; add [printers.NAME] with its language and connection",
            ));
        }
    }
    for (check_name, printer) in printers {
        let check_name = check_name.as_str();
        // Without a connection (simulation only) the station prints to a simulated device
        // that speaks the language over a real link: ask one the same way, so a status
        // exchange that is broken in that language shows here and not at the first deposit.
        let (link, simulated) = match printer.connect() {
            Some(link) => (link, None),
            None => match simulated_printer(printer) {
                Ok((link, device)) => (Ok(link), Some(device)),
                Err(e) => (Err(e), None),
            },
        };
        let link = match link {
            Ok(link) => link,
            Err(e) => {
                checks.push(Check::new(check_name, Outcome::Fail, e.to_string()));
                continue;
            }
        };
        let describe = match &simulated {
            Some(_) => format!("simulated printer, {}", link.describe()),
            None => link.describe(),
        };
        let status = tokio::task::spawn_blocking(move || {
            use crate::devices::Printer;
            link.status()
        })
        .await
        .unwrap_or(PrinterStatus::Offline);
        drop(simulated);
        checks.push(match status {
            PrinterStatus::Ready => Check::new(check_name, Outcome::Ok, format!("{describe}: ready")),
            PrinterStatus::PaperLow => Check::new(
                check_name,
                Outcome::Warn,
                format!("{describe}: paper low; load a new roll soon"),
            ),
            PrinterStatus::Offline => Check::new(
                check_name,
                Outcome::Fail,
                format!(
                    "{describe}: no answer to a status query; is it on and connected, is the connection in the config right?"
                ),
            ),
            other => Check::new(
                check_name,
                Outcome::Fail,
                format!("{describe}: {}", other.message()),
            ),
        });
    }
    checks
}

/// A simulated printer the doctor asks, and the folder its pages would go to (a status query
/// prints none): under the system's temporary directory, removed with it, so the doctor leaves
/// the station's data directory as it found it.
struct ScratchPrinter {
    device: Option<crate::devices::sim_printer::SimPrinter>,
    dir: std::path::PathBuf,
}

impl Drop for ScratchPrinter {
    fn drop(&mut self) {
        // The device first: it stops listening before its folder goes.
        self.device = None;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A simulated device for `printer`, as the station starts one in simulation, and the station's
/// link to it over TCP on loopback.
fn simulated_printer(
    printer: &crate::printer::setup::PrinterConfig,
) -> std::io::Result<(crate::printer::link::LanguagePrinter, ScratchPrinter)> {
    use crate::devices::sim_printer::SimPrinter;
    use crate::printer::transport::PrinterConnection;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut scratch = ScratchPrinter {
        device: None,
        dir: std::env::temp_dir().join(format!(
            "urna-doctor-printer-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        )),
    };
    let emulated = printer.clone();
    let device = scratch
        .device
        .insert(SimPrinter::new(scratch.dir.clone(), move || {
            emulated.emulator()
        })?);
    let addr = device.serve_tcp()?;
    let link = crate::printer::link::LanguagePrinter::new(
        PrinterConnection::Tcp {
            host: addr.ip().to_string(),
            port: addr.port(),
        },
        printer.language(),
        printer.timeouts,
    )?;
    Ok((link, scratch))
}
