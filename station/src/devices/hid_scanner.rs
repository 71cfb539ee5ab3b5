//! The USB HID barcode scanner in keyboard-wedge mode: a task that reads the scanner's key
//! events from its evdev device, decodes them with [`WedgeDecoder`] and sends codes to the
//! workflow as [`Input`]s, reconnecting by itself after an unplug.
//!
//! The device is grabbed exclusively (`EVIOCGRAB`), so the codes a resident scans are not also
//! typed into the kiosk's page or a console. It is opened by a stable path
//! (`/dev/input/by-id/usb-…-event-kbd`, a udev symlink that follows the scanner between USB
//! sockets), so a replug finds it again.
//!
//! The evdev binding itself needs the cargo feature `hid`; the reader loop is generic over a
//! [`KeySource`], so the same loop reads recorded event sequences in tests.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::{Pin, pin};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::config::ConfigError;
use crate::devices::Input;
use crate::devices::keyboard_wedge::{KeyEvent, WedgeDecoded, WedgeDecoder};
use crate::devices::scan_decoder::{Decoded, DecoderConfig, DecoderStats, MAX_MAX_LEN};
use crate::devices::scanner_output::{ScannerOutput, Stop};
use crate::workflow::MAX_SCAN_CHARS;

/// The config section these keys live in, used to name a key in errors.
pub const SECTION: &str = "hid_scanner";

/// How to reach the scanner and read it: the `[hid_scanner]` section of `station.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HidScannerConfig {
    /// The scanner's event device by a path that survives replugging:
    /// `/dev/input/by-id/usb-…-event-kbd`.
    pub path: PathBuf,
    /// Whether to take the device for urna alone. Only a bench set-up that wants to see the
    /// codes typed in a terminal as well turns this off.
    #[serde(default = "default_grab")]
    pub grab: bool,
    /// Whether the scanner is set to prefix AIM symbology identifiers (`]Q1` …), to strip.
    #[serde(default)]
    pub aim_ids: bool,
    /// Longest code in characters (all ASCII through a keyboard wedge); longer are dropped.
    #[serde(default = "default_max_len")]
    pub max_len: usize,
    /// A partial code with no terminator is dropped after the scanner is quiet this long.
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// First wait before reopening a device that failed or went away; doubles on each failure.
    #[serde(default = "default_reconnect_min_ms")]
    pub reconnect_min_ms: u64,
    /// Longest wait between attempts to reopen the device.
    #[serde(default = "default_reconnect_max_ms")]
    pub reconnect_max_ms: u64,
}

fn default_grab() -> bool {
    true
}
fn default_max_len() -> usize {
    MAX_SCAN_CHARS
}
fn default_idle_timeout_ms() -> u64 {
    // Scanners type a code in a burst, a few ms per key; a long pause means a lost terminator.
    500
}
fn default_reconnect_min_ms() -> u64 {
    250
}
fn default_reconnect_max_ms() -> u64 {
    10_000
}

fn problem(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key: format!("{SECTION}.{key}"),
        problem: problem.into(),
    }
}

impl HidScannerConfig {
    /// The defaults, for the scanner at `path`.
    pub fn new(path: impl Into<PathBuf>) -> HidScannerConfig {
        HidScannerConfig {
            path: path.into(),
            grab: default_grab(),
            aim_ids: false,
            max_len: default_max_len(),
            idle_timeout_ms: default_idle_timeout_ms(),
            reconnect_min_ms: default_reconnect_min_ms(),
            reconnect_max_ms: default_reconnect_max_ms(),
        }
    }

    /// Checks every value, naming the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.path.as_os_str().is_empty() {
            return Err(problem("path", "must name the scanner's event device"));
        }
        if !(1..=MAX_MAX_LEN).contains(&self.max_len) {
            return Err(problem(
                "max_len",
                format!("must be between 1 and {MAX_MAX_LEN}"),
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
        Ok(())
    }

    fn decoder(&self) -> DecoderConfig {
        DecoderConfig {
            aim_ids: self.aim_ids,
            max_len: self.max_len,
        }
    }
}

/// Where key events come from: the scanner's evdev device, or in tests a recording.
pub trait KeySource: Send {
    /// The next key event (other event types are skipped by the source); an error means the
    /// device is gone.
    fn next_key(&mut self) -> impl Future<Output = io::Result<KeyEvent>> + Send;
}

/// Opens a [`KeySource`] again and again: once at start and after every unplug.
pub trait OpenKeySource: Send {
    /// The source it opens.
    type Source: KeySource;
    /// Opens (and grabs, if so configured) the device.
    fn open(&mut self, config: &HidScannerConfig) -> io::Result<Self::Source>;
}

/// What the reader saw over its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HidScannerStats {
    /// The byte decoder's counts (codes, skipped codes by reason).
    pub decoder: DecoderStats,
    /// Codes dropped because they had keys with no US-layout meaning.
    pub unmapped_codes: u64,
    /// Times the device was opened.
    pub opened: u64,
    /// Times an open failed (no such device, permission, grabbed by another program).
    pub open_failures: u64,
    /// Times the device went away while open.
    pub gone: u64,
}

/// Reads the scanner until `shutdown` resolves or `inputs` is closed, sending
/// [`Input::Scanned`] for each code and [`Input::ScannerConnected`] on each change of connection
/// (the workflow starts out assuming a scanner). Fails only on a bad config.
pub async fn run_with<O: OpenKeySource, F: Future>(
    config: HidScannerConfig,
    opener: O,
    inputs: mpsc::Sender<Input>,
    shutdown: F,
) -> Result<HidScannerStats, ConfigError> {
    config.validate()?;
    let mut shutdown = pin!(shutdown);
    let mut reader = Reader {
        decoder: WedgeDecoder::new(config.decoder()),
        config,
        opener,
        out: ScannerOutput::new(inputs),
        stats: HidScannerStats::default(),
    };
    let Stop = reader.run(shutdown.as_mut()).await;
    Ok(HidScannerStats {
        decoder: reader.decoder.stats(),
        unmapped_codes: reader.decoder.unmapped_codes(),
        ..reader.stats
    })
}

/// Reads the scanner's evdev device (cargo feature `hid`); see [`run_with`].
pub async fn run<F: Future>(
    config: HidScannerConfig,
    inputs: mpsc::Sender<Input>,
    shutdown: F,
) -> Result<HidScannerStats, ConfigError> {
    run_with(config, evdev_source::Evdev, inputs, shutdown).await
}

struct Reader<O> {
    config: HidScannerConfig,
    opener: O,
    out: ScannerOutput,
    decoder: WedgeDecoder,
    stats: HidScannerStats,
}

impl<O: OpenKeySource> Reader<O> {
    async fn run<F: Future>(&mut self, mut shutdown: Pin<&mut F>) -> Stop {
        let min = Duration::from_millis(self.config.reconnect_min_ms);
        let max = Duration::from_millis(self.config.reconnect_max_ms);
        let mut backoff = min;
        let path = self.config.path.display().to_string();
        loop {
            match self.opener.open(&self.config) {
                Ok(source) => {
                    self.stats.opened += 1;
                    tracing::info!("HID scanner: {path} open");
                    let opened_at = tokio::time::Instant::now();
                    if let Err(stop) = self.out.set_connected(true, shutdown.as_mut()).await {
                        return stop;
                    }
                    if let Err(stop) = self.read_until_gone(source, shutdown.as_mut()).await {
                        return stop;
                    }
                    self.stats.gone += 1;
                    tracing::warn!("HID scanner: {path} went away (unplugged?); reconnecting");
                    // A connection that lasted starts the backoff afresh; a flapping one is
                    // retried ever more slowly.
                    if opened_at.elapsed() >= max {
                        backoff = min;
                    }
                }
                Err(e) => {
                    self.stats.open_failures += 1;
                    if self.out.connected() {
                        tracing::warn!("HID scanner: cannot open {path}: {e}; retrying");
                    } else {
                        tracing::debug!("HID scanner: cannot open {path}: {e}");
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

    async fn read_until_gone<F: Future>(
        &mut self,
        mut source: O::Source,
        mut shutdown: Pin<&mut F>,
    ) -> Result<(), Stop> {
        let idle = Duration::from_millis(self.config.idle_timeout_ms);
        loop {
            let partial = self.decoder.has_partial();
            let event = tokio::select! {
                biased;
                _ = shutdown.as_mut() => return Err(Stop),
                event = source.next_key() => Some(event),
                () = tokio::time::sleep(idle), if partial => None,
            };
            let answer = match event {
                None => self.decoder.flush(),
                Some(Ok(key)) => self.decoder.key(key),
                Some(Err(e)) => {
                    tracing::debug!("HID scanner: read failed: {e}");
                    if let Some(flushed) = self.decoder.flush() {
                        log_drop(&flushed);
                    }
                    return Ok(());
                }
            };
            match answer {
                Some(WedgeDecoded::Decoded(Decoded::Code { text, .. })) => {
                    self.out
                        .send(Input::Scanned(text), shutdown.as_mut())
                        .await?;
                }
                Some(dropped) => log_drop(&dropped),
                None => {}
            }
        }
    }
}

fn log_drop(dropped: &WedgeDecoded) {
    match dropped {
        WedgeDecoded::Unmapped { keys, first } => tracing::warn!(
            "HID scanner: dropped a code with {keys} key(s) a US keyboard cannot type (first: \
             key code {first}); set the scanner to US layout and ASCII output"
        ),
        WedgeDecoded::Decoded(Decoded::Skipped { bytes, reason }) => {
            tracing::warn!("HID scanner: skipped {bytes} characters: {reason}");
        }
        WedgeDecoded::Decoded(_) => {}
    }
}

/// The evdev binding: the real device, with the `hid` feature.
pub mod evdev_source {
    #[cfg(not(feature = "hid"))]
    use std::io;

    #[cfg(not(feature = "hid"))]
    use super::{HidScannerConfig, KeyEvent, KeySource, OpenKeySource};

    /// Opens the configured evdev device.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Evdev;

    /// Without the `hid` feature there is no evdev binding; opening says so plainly.
    #[cfg(not(feature = "hid"))]
    #[derive(Debug)]
    pub enum NoDevice {}

    #[cfg(not(feature = "hid"))]
    impl KeySource for NoDevice {
        async fn next_key(&mut self) -> io::Result<KeyEvent> {
            match *self {}
        }
    }

    #[cfg(not(feature = "hid"))]
    impl OpenKeySource for Evdev {
        type Source = NoDevice;
        fn open(&mut self, _: &HidScannerConfig) -> io::Result<NoDevice> {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this urna was built without HID scanner support (cargo feature `hid`)",
            ))
        }
    }

    #[cfg(feature = "hid")]
    pub use with_evdev::EvdevKeys;

    #[cfg(feature = "hid")]
    mod with_evdev {
        use std::io;

        use evdev::{Device, EventStream, EventType};

        use super::super::{HidScannerConfig, KeyEvent, KeySource, OpenKeySource};
        use super::Evdev;

        /// An open, grabbed scanner's key events.
        pub struct EvdevKeys {
            events: EventStream,
        }

        impl std::fmt::Debug for EvdevKeys {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("EvdevKeys").finish_non_exhaustive()
            }
        }

        impl KeySource for EvdevKeys {
            async fn next_key(&mut self) -> io::Result<KeyEvent> {
                loop {
                    // evdev's stream resynchronises after SYN_DROPPED (kernel buffer overrun) by
                    // synthesising the missing key changes, so shift state stays right.
                    let event = self.events.next_event().await?;
                    if event.event_type() == EventType::KEY {
                        return Ok(KeyEvent {
                            code: event.code(),
                            value: event.value(),
                        });
                    }
                }
            }
        }

        impl OpenKeySource for Evdev {
            type Source = EvdevKeys;
            fn open(&mut self, config: &HidScannerConfig) -> io::Result<EvdevKeys> {
                let mut device = Device::open(&config.path)?;
                let is_keyboard = device.supported_events().contains(EventType::KEY);
                if !is_keyboard {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "{} reports no keys: not a keyboard-wedge scanner",
                            config.path.display()
                        ),
                    ));
                }
                if config.grab {
                    device.grab().map_err(|e| {
                        io::Error::new(
                            e.kind(),
                            format!("cannot take the scanner for urna alone (EVIOCGRAB): {e}"),
                        )
                    })?;
                }
                Ok(EvdevKeys {
                    events: device.into_event_stream()?,
                })
            }
        }
    }
}
