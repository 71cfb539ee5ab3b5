//! The serial barcode scanner (USB CDC-ACM or RS-232): a task that reads the port, decodes codes
//! with [`ScanDecoder`] and sends them to the workflow as [`Input`]s, reconnecting by itself.
//!
//! The port is opened by its stable path (`/dev/serial/by-id/…`, a udev symlink that follows the
//! scanner from one USB socket to another), so a replug finds it again. Like OctoPrint's serial
//! reader, garbage is counted rather than failed on, and the scanner is declared gone only after
//! a run of failed reads (an unplugged USB port answers every read with an error or end of file).
//! Connection changes reach the workflow as [`Input::ScannerConnected`], once per change.

use std::future::Future;
use std::path::PathBuf;
use std::pin::{Pin, pin};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_serial::SerialStream;

use crate::config::ConfigError;
use crate::devices::Input;
use crate::devices::scan_decoder::{
    Decoded, DecoderConfig, DecoderStats, MAX_MAX_LEN, ScanDecoder,
};
use crate::devices::scanner_output::{ScannerOutput, Stop};
use crate::workflow::MAX_SCAN_CHARS;

/// The config section these keys live in, used to name a key in errors (`scanner.baud`).
pub const SECTION: &str = "scanner";

/// Parity bit setting.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Parity {
    /// No parity bit (nearly every USB scanner).
    #[default]
    None,
    /// Odd parity.
    Odd,
    /// Even parity.
    Even,
}

/// How to reach the scanner and read it: the `[scanner]` section of `station.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SerialScannerConfig {
    /// The port, by a path that survives replugging: `/dev/serial/by-id/usb-…`.
    pub path: PathBuf,
    /// Bits per second (RS-232 scanners: usually 9600; ignored by USB CDC-ACM).
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// Parity.
    #[serde(default)]
    pub parity: Parity,
    /// Data bits, 5 to 8.
    #[serde(default = "default_data_bits")]
    pub data_bits: u8,
    /// Stop bits, 1 or 2.
    #[serde(default = "default_stop_bits")]
    pub stop_bits: u8,
    /// Whether the scanner is set to prefix AIM symbology identifiers (`]Q1` …), to strip.
    #[serde(default)]
    pub aim_ids: bool,
    /// Longest code in bytes; longer ones are dropped as garbage.
    #[serde(default = "default_max_len")]
    pub max_len: usize,
    /// A partial code with no terminator is dropped after the line is idle this long, so half
    /// a code never sticks to the front of the next one.
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// First wait before reopening a port that failed or went away; doubles on each failure.
    #[serde(default = "default_reconnect_min_ms")]
    pub reconnect_min_ms: u64,
    /// Longest wait between attempts to reopen the port.
    #[serde(default = "default_reconnect_max_ms")]
    pub reconnect_max_ms: u64,
    /// Failed reads in a row (error or end of file) before the scanner is declared gone.
    #[serde(default = "default_failures_before_gone")]
    pub failures_before_gone: u32,
}

fn default_baud() -> u32 {
    9600
}
fn default_data_bits() -> u8 {
    8
}
fn default_stop_bits() -> u8 {
    1
}
fn default_max_len() -> usize {
    // The workflow accepts MAX_SCAN_CHARS characters; in UTF-8 those may take 4 bytes each.
    4 * MAX_SCAN_CHARS
}
fn default_idle_timeout_ms() -> u64 {
    500
}
fn default_reconnect_min_ms() -> u64 {
    250
}
fn default_reconnect_max_ms() -> u64 {
    10_000
}
fn default_failures_before_gone() -> u32 {
    3
}

fn problem(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key: format!("{SECTION}.{key}"),
        problem: problem.into(),
    }
}

impl SerialScannerConfig {
    /// The defaults, for the scanner at `path`.
    pub fn new(path: impl Into<PathBuf>) -> SerialScannerConfig {
        SerialScannerConfig {
            path: path.into(),
            baud: default_baud(),
            parity: Parity::None,
            data_bits: default_data_bits(),
            stop_bits: default_stop_bits(),
            aim_ids: false,
            max_len: default_max_len(),
            idle_timeout_ms: default_idle_timeout_ms(),
            reconnect_min_ms: default_reconnect_min_ms(),
            reconnect_max_ms: default_reconnect_max_ms(),
            failures_before_gone: default_failures_before_gone(),
        }
    }

    /// Parses the section's TOML text (the keys of `[scanner]`) and checks it.
    pub fn from_toml(text: &str) -> Result<SerialScannerConfig, ConfigError> {
        let config: SerialScannerConfig = toml::from_str(text).map_err(|e| ConfigError {
            key: SECTION.to_owned(),
            problem: e.message().to_owned(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks ranges, naming the key that is wrong.
    /// Opens the port as the reader does (also used by `urna doctor` to check it).
    pub fn open(&self) -> tokio_serial::Result<SerialStream> {
        let c = self;
        let builder = tokio_serial::new(c.path.to_string_lossy(), c.baud)
            .data_bits(match c.data_bits {
                5 => tokio_serial::DataBits::Five,
                6 => tokio_serial::DataBits::Six,
                7 => tokio_serial::DataBits::Seven,
                _ => tokio_serial::DataBits::Eight,
            })
            .parity(match c.parity {
                Parity::None => tokio_serial::Parity::None,
                Parity::Odd => tokio_serial::Parity::Odd,
                Parity::Even => tokio_serial::Parity::Even,
            })
            .stop_bits(match c.stop_bits {
                2 => tokio_serial::StopBits::Two,
                _ => tokio_serial::StopBits::One,
            })
            .flow_control(tokio_serial::FlowControl::None);
        // Opens non-blocking, exclusively (no second reader steals codes), in raw mode.
        SerialStream::open(&builder)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.path.to_str() {
            Some(p) if self.path.is_absolute() => {
                if p.contains('\0') {
                    return Err(problem("path", "must not contain a NUL byte"));
                }
            }
            _ => {
                return Err(problem(
                    "path",
                    "must be an absolute UTF-8 path, such as /dev/serial/by-id/usb-…",
                ));
            }
        }
        if !(50..=4_000_000).contains(&self.baud) {
            return Err(problem("baud", "must be between 50 and 4000000"));
        }
        if !(5..=8).contains(&self.data_bits) {
            return Err(problem("data_bits", "must be 5, 6, 7 or 8"));
        }
        if !(1..=2).contains(&self.stop_bits) {
            return Err(problem("stop_bits", "must be 1 or 2"));
        }
        if !(1..=MAX_MAX_LEN).contains(&self.max_len) {
            return Err(problem(
                "max_len",
                format!("must be between 1 and {MAX_MAX_LEN} bytes"),
            ));
        }
        if !(10..=60_000).contains(&self.idle_timeout_ms) {
            return Err(problem("idle_timeout_ms", "must be between 10 and 60000"));
        }
        if !(1..=60_000).contains(&self.reconnect_min_ms) {
            return Err(problem("reconnect_min_ms", "must be between 1 and 60000"));
        }
        if !(self.reconnect_min_ms..=600_000).contains(&self.reconnect_max_ms) {
            return Err(problem(
                "reconnect_max_ms",
                "must be at least reconnect_min_ms and at most 600000",
            ));
        }
        if !(1..=100).contains(&self.failures_before_gone) {
            return Err(problem("failures_before_gone", "must be between 1 and 100"));
        }
        Ok(())
    }

    fn decoder(&self) -> DecoderConfig {
        DecoderConfig {
            aim_ids: self.aim_ids,
            max_len: self.max_len,
        }
    }
}

/// What the reader saw over its life, garbage included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScannerStats {
    /// The decoder's counts (codes, skipped codes by reason, bytes).
    pub decoder: DecoderStats,
    /// Times the port was opened.
    pub opened: u64,
    /// Times an open failed (no such device, permission, busy).
    pub open_failures: u64,
    /// Times the scanner was declared gone after a run of failed reads.
    pub gone: u64,
    /// Reads that failed: an error, or end of file (what a hung-up tty answers).
    pub failed_reads: u64,
}

/// Pause after a failed read, times the failures so far: a flaky read is retried soon, a dead
/// port does not spin.
const FAILURE_PAUSE: Duration = Duration::from_millis(20);

/// Reads the scanner at `config.path` until `shutdown` resolves or `inputs` is closed, sending
/// [`Input::Scanned`] for each code and [`Input::ScannerConnected`] when it goes away or comes
/// back. The workflow starts out assuming a scanner, so the first message is `false` if the port
/// cannot be opened, and nothing if it can. Returns what it counted; fails only on a bad config.
pub async fn run<F: Future>(
    config: SerialScannerConfig,
    inputs: mpsc::Sender<Input>,
    shutdown: F,
) -> Result<ScannerStats, ConfigError> {
    config.validate()?;
    let mut shutdown = pin!(shutdown);
    let mut reader = Reader {
        decoder: ScanDecoder::new(config.decoder()),
        config,
        out: ScannerOutput::new(inputs),
        noisy: false,
        stats: ScannerStats::default(),
    };
    let Stop = reader.run(shutdown.as_mut()).await;
    Ok(reader.stats())
}

struct Reader {
    config: SerialScannerConfig,
    out: ScannerOutput,
    decoder: ScanDecoder,
    /// Whether a skip was logged since the last good code: a garbage burst logs one warning,
    /// and the rest only counts.
    noisy: bool,
    stats: ScannerStats,
}

/// What ended one wait on the port.
enum Event {
    Read(std::io::Result<usize>),
    Idle,
    Shutdown,
}

impl Reader {
    fn stats(&self) -> ScannerStats {
        ScannerStats {
            decoder: self.decoder.stats(),
            ..self.stats
        }
    }

    async fn run<F: Future>(&mut self, mut shutdown: Pin<&mut F>) -> Stop {
        let min = Duration::from_millis(self.config.reconnect_min_ms);
        let max = Duration::from_millis(self.config.reconnect_max_ms);
        let mut backoff = min;
        let path = self.config.path.display().to_string();
        loop {
            match self.open() {
                Ok(port) => {
                    self.stats.opened += 1;
                    tracing::info!("scanner: {path} open");
                    let opened_at = tokio::time::Instant::now();
                    if let Err(stop) = self.out.set_connected(true, shutdown.as_mut()).await {
                        return stop;
                    }
                    if let Err(stop) = self.read_until_gone(port, shutdown.as_mut()).await {
                        return stop;
                    }
                    self.stats.gone += 1;
                    tracing::warn!("scanner: {path} went away (unplugged?); reconnecting");
                    // Only a connection that lasted starts the backoff afresh: a flapping
                    // cable or a port that opens but cannot be read is retried ever more slowly,
                    // so the custody log does not fill with connect/disconnect pairs.
                    if opened_at.elapsed() >= max {
                        backoff = min;
                    }
                }
                Err(e) => {
                    self.stats.open_failures += 1;
                    // Said once per outage, not at every retry.
                    if self.out.connected() {
                        tracing::warn!("scanner: cannot open {path}: {e}; retrying");
                    } else {
                        tracing::debug!("scanner: cannot open {path}: {e}");
                    }
                }
            }
            if let Err(stop) = self.out.set_connected(false, shutdown.as_mut()).await {
                return stop;
            }
            tokio::select! {
                biased;
                _ = shutdown.as_mut() => return Stop,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(max);
        }
    }

    fn open(&self) -> tokio_serial::Result<SerialStream> {
        self.config.open()
    }

    /// Reads codes until the port fails `failures_before_gone` times in a row.
    async fn read_until_gone<F: Future>(
        &mut self,
        mut port: SerialStream,
        mut shutdown: Pin<&mut F>,
    ) -> Result<(), Stop> {
        let idle = Duration::from_millis(self.config.idle_timeout_ms);
        let mut buf = [0u8; 4096];
        let mut failures = 0u32;
        loop {
            let partial = self.decoder.has_partial();
            let event = tokio::select! {
                biased;
                _ = shutdown.as_mut() => Event::Shutdown,
                read = port.read(&mut buf) => Event::Read(read),
                () = tokio::time::sleep(idle), if partial => Event::Idle,
            };
            let what = match event {
                Event::Shutdown => return Err(Stop),
                Event::Idle => {
                    self.flush_partial();
                    continue;
                }
                Event::Read(Ok(0)) => "end of file".to_owned(),
                Event::Read(Ok(n)) => {
                    failures = 0;
                    self.feed(&buf[..n], shutdown.as_mut()).await?;
                    continue;
                }
                Event::Read(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Event::Read(Err(e)) => e.to_string(),
            };
            failures += 1;
            self.stats.failed_reads += 1;
            tracing::debug!("scanner: read failed ({failures} in a row): {what}");
            if failures >= self.config.failures_before_gone {
                self.flush_partial();
                return Ok(());
            }
            tokio::select! {
                biased;
                _ = shutdown.as_mut() => return Err(Stop),
                () = tokio::time::sleep(FAILURE_PAUSE * failures) => {}
            }
        }
    }

    /// Decodes freshly read bytes and sends every code.
    async fn feed<F: Future>(
        &mut self,
        mut bytes: &[u8],
        mut shutdown: Pin<&mut F>,
    ) -> Result<(), Stop> {
        loop {
            let (used, decoded) = self.decoder.decode(bytes);
            bytes = &bytes[used..];
            match decoded {
                Decoded::NeedMore => return Ok(()),
                Decoded::Code { text, symbology } => {
                    self.noisy = false;
                    if let Some(id) = symbology {
                        tracing::debug!("scanner: {} code ({id})", id.name().unwrap_or("other"));
                    }
                    self.out
                        .send(Input::Scanned(text), shutdown.as_mut())
                        .await?;
                }
                skipped @ Decoded::Skipped { .. } => self.log_skip(&skipped),
            }
        }
    }

    fn flush_partial(&mut self) {
        if let Some(skipped) = self.decoder.flush() {
            self.log_skip(&skipped);
        }
    }

    fn log_skip(&mut self, skipped: &Decoded) {
        if let Decoded::Skipped { bytes, reason } = skipped {
            if self.noisy {
                tracing::debug!("scanner: skipped {bytes} bytes: {reason}");
            } else {
                tracing::warn!(
                    "scanner: skipped {bytes} bytes: {reason} (further garbage only counted)"
                );
                self.noisy = true;
            }
        }
    }
}
