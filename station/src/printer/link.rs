//! A real printer behind the [`Printer`] trait: a [`Language`] spoken over a [`Transport`].
//!
//! A job is never reported printed on hope. Before it, the printer is asked for its status
//! (unless it said it can print within [`READY_ANSWER_STANDS`], on a connection open since) and
//! the job is refused unless the answer allows printing; after it, the printer is asked again
//! (a Brother QL: its own "printing completed" or "error" frame is awaited), so a printer that
//! ran out of paper or went away in the middle is reported as failed. A printer that does not
//! answer is [`PrinterStatus::Offline`], never "ready". Input nobody asked for is drained
//! before each query, and a reply followed by more bytes is not trusted but asked again.
//!
//! The connection is opened on first use and reopened on the next call after it failed
//! (unplugged, switched off, silent), with a growing pause between attempts so that a dead
//! printer costs the workflow no waiting: within the pause, calls answer "offline" at once.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::brother_ql::{self, QlFrameRead, QlJobEvent};
use super::transport::{PrinterConnection, Transport};
use super::{EncodeError, Language, StatusReply};
use crate::config::ConfigError;
use crate::devices::{PrintJob, Printer, PrinterErrorKind, PrinterStatus};

/// How long each step of talking to a printer may take, and how reconnecting backs off: the
/// `timeouts` of the printer's config, every key optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LinkTimeouts {
    /// Opening the connection (TCP connect, device open).
    pub connect_ms: u64,
    /// A write during which the printer takes no byte at all.
    pub write_ms: u64,
    /// The answer to a status query.
    pub status_ms: u64,
    /// The answer to the status query sent right after a job: longer, as some printers answer
    /// only once the page is out.
    pub confirm_ms: u64,
    /// Quiet time that ends draining stale input before a status query.
    pub drain_quiet_ms: u64,
    /// First pause before reopening a failed connection; doubles on each failure.
    pub reconnect_min_ms: u64,
    /// Longest pause between attempts to reopen.
    pub reconnect_max_ms: u64,
}

impl Default for LinkTimeouts {
    fn default() -> Self {
        LinkTimeouts {
            connect_ms: 3_000,
            write_ms: 5_000,
            status_ms: 1_000,
            confirm_ms: 10_000,
            drain_quiet_ms: 30,
            reconnect_min_ms: 250,
            reconnect_max_ms: 10_000,
        }
    }
}

impl LinkTimeouts {
    /// Checks ranges; `key` is where the timeouts sit in the config (`printer.timeouts`).
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let checks = [
            ("connect_ms", self.connect_ms, 10, 60_000),
            ("write_ms", self.write_ms, 10, 600_000),
            ("status_ms", self.status_ms, 10, 60_000),
            ("confirm_ms", self.confirm_ms, 10, 600_000),
            ("drain_quiet_ms", self.drain_quiet_ms, 1, 1_000),
            ("reconnect_min_ms", self.reconnect_min_ms, 1, 60_000),
            ("reconnect_max_ms", self.reconnect_max_ms, 1, 600_000),
        ];
        for (name, value, min, max) in checks {
            if !(min..=max).contains(&value) {
                return Err(ConfigError {
                    key: format!("{key}.{name}"),
                    problem: format!("must be between {min} and {max}"),
                });
            }
        }
        if self.reconnect_max_ms < self.reconnect_min_ms {
            return Err(ConfigError {
                key: format!("{key}.reconnect_max_ms"),
                problem: "must be at least reconnect_min_ms".into(),
            });
        }
        Ok(())
    }

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }
}

/// A reply that has not ended after this many bytes is not a status reply (the longest, Brother
/// QL's, is 32 bytes; ZPL's `~HS` about 100).
const MAX_REPLY: usize = 4096;

/// Status queries before a garbled reply counts as a bad reply: a reply mixed with late
/// stray bytes is asked again, with growing pauses.
const STATUS_ATTEMPTS: u32 = 4;

/// Longest a drain may go on for a printer that keeps talking.
const DRAIN_LIMIT: Duration = Duration::from_millis(500);

/// How long closing a connection may take.
const CLOSE_WAIT: Duration = Duration::from_millis(200);

/// A printer that said it can print this recently, on a connection open since, is not asked
/// again before a job. Each status exchange waits out two quiet periods (the drain before it and
/// the listen after it, 60 ms by default), which would otherwise sit between a resident's touch
/// and the label: the kiosk takes a deposit on the strength of its own status poll (every
/// second) or of the last job's confirmation, and a receipt follows its envelope label's
/// confirmation. Long enough to cover the kiosk's poll interval, a poll delayed by a deposit
/// in progress, and the commit between the kiosk's decision and the job (see
/// `kiosk::READY_REUSE`, which must stay shorter). A printer that fails inside the window is
/// still found: every job is confirmed after it is sent.
pub const READY_ANSWER_STANDS: Duration = Duration::from_millis(2_500);

/// A printer reached over a [`Transport`] and spoken to in a [`Language`].
///
/// The [`Printer`] trait is synchronous (the workflow calls it from a blocking task), the
/// transports are async: each call runs on this printer's own single-threaded tokio runtime,
/// on a short-lived thread of its own, so it works the same from a blocking task, a plain
/// thread or a test, and never blocks a reactor thread of the caller's runtime. Calls are
/// served one at a time.
#[derive(Debug)]
pub struct LanguagePrinter {
    link: Mutex<Link>,
    /// `None` only while being dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

impl LanguagePrinter {
    /// A printer speaking `language` over `connection`; nothing is opened until the first call.
    pub fn new(
        connection: PrinterConnection,
        language: Box<dyn Language>,
        timeouts: LinkTimeouts,
    ) -> std::io::Result<LanguagePrinter> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let language_name = language.name();
        Ok(LanguagePrinter {
            link: Mutex::new(Link {
                what: format!("{} over {connection}", language.name()),
                connection,
                language,
                timeouts,
                transport: None,
                failures: 0,
                retry_at: None,
                last: None,
                could_print_at: None,
                confirm: if language_name == "brother_ql" {
                    Confirm::BrotherQlFrames
                } else {
                    Confirm::Query
                },
            }),
            runtime: Some(runtime),
        })
    }

    /// The language and connection, for logs (`escpos over tcp 127.0.0.1:9100`).
    pub fn describe(&self) -> String {
        self.lock().what.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Link> {
        self.link.lock().unwrap_or_else(|poisoned| {
            // As after a panicking call (see `run`): a fresh connection.
            let mut link = poisoned.into_inner();
            link.transport = None;
            self.link.clear_poison();
            link
        })
    }

    /// Runs one call on the runtime; a failure to run it at all reads as offline.
    fn run(&self, call: Call<'_>) -> Result<PrinterStatus, PrinterStatus> {
        let Some(runtime) = &self.runtime else {
            return Err(PrinterStatus::Offline);
        };
        let mut link = self.lock();
        let link: &mut Link = &mut link;
        // A runtime cannot be entered from a thread that is already running one (the caller
        // may be inside tokio), so the call gets a thread of its own.
        let ran = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("printer-link".into())
                .spawn_scoped(scope, || runtime.block_on(link.perform(call)))
                .map(|thread| thread.join())
        });
        match ran {
            Ok(Ok(result)) => result,
            Ok(Err(_panicked)) => {
                tracing::error!("printer: a call panicked; reporting the printer offline");
                // It may have stopped in the middle of a job: start over on a fresh connection
                // rather than send a query into a half-written raster.
                link.transport = None;
                Err(PrinterStatus::Offline)
            }
            Err(e) => {
                tracing::error!("printer: cannot start a thread: {e}");
                Err(PrinterStatus::Offline)
            }
        }
    }
}

impl Drop for LanguagePrinter {
    fn drop(&mut self) {
        // Dropping a runtime waits for its tasks, which tokio forbids inside another runtime
        // (the station drops its printer on shutdown, from async code); this one has no
        // tasks of its own to wait for.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Printer for LanguagePrinter {
    fn status(&self) -> PrinterStatus {
        match self.run(Call::Status) {
            Ok(status) | Err(status) => status,
        }
    }

    fn print(&self, job: &PrintJob) -> Result<(), PrinterStatus> {
        self.run(Call::Print(job)).map(|_| ())
    }
}

/// What a caller wants of the link.
#[derive(Debug, Clone, Copy)]
enum Call<'a> {
    Status,
    Print(&'a PrintJob),
}

/// The connection and what is known about it; used by one call at a time.
#[derive(Debug)]
struct Link {
    what: String,
    connection: PrinterConnection,
    language: Box<dyn Language>,
    timeouts: LinkTimeouts,
    transport: Option<Transport>,
    /// Failures in a row (open, I/O, silence) since the printer last answered.
    failures: u32,
    /// No attempt to reopen before this.
    retry_at: Option<Instant>,
    /// The status last logged.
    last: Option<PrinterStatus>,
    /// When the printer last answered that it can print, until the link is lost or it answers
    /// otherwise.
    could_print_at: Option<Instant>,
    confirm: Confirm,
}

/// How a job is confirmed once sent. Chosen by the language's name, as the [`Language`] trait
/// does not say; a method there would be the better home.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Confirm {
    /// Ask the status again: ESC/POS and ZPL answer at once, even while printing.
    Query,
    /// Wait for the frame a Brother QL sends by itself when the page is out or has failed:
    /// its status query starts with `ESC @`, which would cancel a page still printing.
    BrotherQlFrames,
}

/// What came back for one status query.
enum Answer {
    Status(PrinterStatus),
    Invalid(String),
    Silent,
}

impl Link {
    async fn perform(&mut self, call: Call<'_>) -> Result<PrinterStatus, PrinterStatus> {
        match call {
            Call::Status => {
                let status = self.ask_status(true).await;
                Ok(self.observe(status))
            }
            Call::Print(job) => self.print(job).await.map(|()| PrinterStatus::Ready),
        }
    }

    async fn print(&mut self, job: &PrintJob) -> Result<(), PrinterStatus> {
        let just_asked = self.transport.is_some()
            && self
                .could_print_at
                .is_some_and(|at| at.elapsed() < READY_ANSWER_STANDS);
        if !just_asked {
            let before = self.ask_status(true).await;
            let before = self.observe(before);
            if !before.can_print() {
                return Err(before);
            }
        }
        let bytes = match self.language.encode_page(&job.image) {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::error!(
                    "printer: {}: cannot encode the {:?} for {}: {e}",
                    self.what,
                    job.label,
                    job.intake
                );
                return Err(PrinterStatus::Error(match e {
                    // The page was made for other media than the printer's (a template for
                    // wider paper, or longer than the printer takes).
                    EncodeError::TooWide { .. } | EncodeError::TooLong { .. } => {
                        PrinterErrorKind::WrongMedia
                    }
                    EncodeError::Empty => PrinterErrorKind::Other,
                }));
            }
        };
        let write = LinkTimeouts::ms(self.timeouts.write_ms);
        let Some(transport) = self.transport.as_mut() else {
            return Err(self.observe(PrinterStatus::Offline));
        };
        if let Err(e) = transport.write_all(&bytes, write).await {
            self.lost(&format!(
                "writing a job of {} bytes failed: {e}",
                bytes.len()
            ))
            .await;
            return Err(self.observe(PrinterStatus::Offline));
        }
        let after = match self.confirm {
            // The query drains first like any: ESC/POS printers answer `DLE EOT n` sequences
            // that happen to occur inside raster data, and those answers must not be read as
            // the one to this query.
            Confirm::Query => self.ask_status(false).await,
            Confirm::BrotherQlFrames => self.await_ql_frames().await,
        };
        let after = self.observe(after);
        if after.can_print() {
            Ok(())
        } else {
            tracing::warn!(
                "printer: {}: the {:?} for {} was sent but not confirmed: {after:?}",
                self.what,
                job.label,
                job.intake
            );
            Err(after)
        }
    }

    /// Reads the frames a Brother QL sends by itself after a job until one says the page is out
    /// or failed. Without such a frame within the confirmation timeout (a model or setting
    /// that does not send them), asks the status instead, the page presumably done by then.
    async fn await_ql_frames(&mut self) -> PrinterStatus {
        let wait = LinkTimeouts::ms(self.timeouts.confirm_ms);
        let Some(transport) = self.transport.as_mut() else {
            return PrinterStatus::Offline;
        };
        let deadline = tokio::time::Instant::now() + wait;
        let mut frames = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            loop {
                match brother_ql::read_frame(&frames) {
                    QlFrameRead::NeedMore => break,
                    QlFrameRead::Skip(n) => {
                        frames.drain(..n.min(frames.len()));
                    }
                    QlFrameRead::Frame(frame) => {
                        frames.drain(..brother_ql::STATUS_FRAME_LEN.min(frames.len()));
                        match frame.job_event() {
                            QlJobEvent::Completed => return PrinterStatus::Ready,
                            QlJobEvent::Failed(status) => return status,
                            QlJobEvent::TurnedOff => return PrinterStatus::Offline,
                            _ => {}
                        }
                    }
                }
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match transport.read(&mut buf, left).await {
                Ok(Some(n)) => frames.extend_from_slice(&buf[..n]),
                Ok(None) => break,
                Err(e) => {
                    self.lost(&format!("reading the job's outcome failed: {e}"))
                        .await;
                    return PrinterStatus::Offline;
                }
            }
        }
        tracing::warn!(
            "printer: {}: no word on the page within {wait:?}; asking its status",
            self.what
        );
        self.ask_status(false).await
    }

    /// Asks the printer for its status, waiting for the answer the status timeout, or the
    /// longer confirmation timeout after a job (`before_job` false). An answer that makes no
    /// sense is asked again once.
    async fn ask_status(&mut self, before_job: bool) -> PrinterStatus {
        if !self.connect().await {
            return PrinterStatus::Offline;
        }
        let wait = LinkTimeouts::ms(if before_job {
            self.timeouts.status_ms
        } else {
            self.timeouts.confirm_ms
        });
        for attempt in 0..STATUS_ATTEMPTS {
            if attempt > 0 {
                // Let late bytes arrive before the next drain: after a job, an ESC/POS printer
                // answers every DLE EOT pattern inside the raster as a real-time query, and on
                // a busy link those answers can trail the job by more than one quiet period.
                let quiet = LinkTimeouts::ms(self.timeouts.drain_quiet_ms);
                tokio::time::sleep(quiet * (1 << attempt)).await;
            }
            match self.exchange(wait).await {
                Err(e) => {
                    self.lost(&format!("status query failed: {e}")).await;
                    return PrinterStatus::Offline;
                }
                Ok(Answer::Silent) => {
                    // Possibly a half-open connection: the next call starts a fresh one.
                    self.lost(&format!("no answer to a status query within {wait:?}"))
                        .await;
                    return PrinterStatus::Offline;
                }
                Ok(Answer::Status(status)) => {
                    if self.failures > 0 {
                        tracing::info!(
                            "printer: {}: answering again after {} failed attempts",
                            self.what,
                            self.failures
                        );
                    }
                    self.failures = 0;
                    self.retry_at = None;
                    return status;
                }
                Ok(Answer::Invalid(why)) => {
                    tracing::warn!("printer: {}: unreadable status reply: {why}", self.what);
                }
            }
        }
        PrinterStatus::Error(PrinterErrorKind::BadReply)
    }

    /// Drains stale input, sends the status query, and reads until the language says the
    /// reply is complete; then listens a moment longer: bytes after a complete reply mean the
    /// reply was not (only) the answer to this query (a late answer to an earlier one, a status
    /// the printer sent unasked), and it is not trusted.
    async fn exchange(&mut self, wait: Duration) -> std::io::Result<Answer> {
        let quiet = LinkTimeouts::ms(self.timeouts.drain_quiet_ms);
        let write = LinkTimeouts::ms(self.timeouts.write_ms);
        let Some(transport) = self.transport.as_mut() else {
            return Ok(Answer::Silent);
        };
        let stale = transport.drain(quiet, DRAIN_LIMIT).await?;
        if stale > 0 {
            tracing::debug!("printer: {}: drained {stale} stale bytes", self.what);
        }
        transport
            .write_all(&self.language.status_query(), write)
            .await?;
        let deadline = tokio::time::Instant::now() + wait;
        let mut reply = Vec::new();
        let mut buf = [0u8; 256];
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(n) = transport.read(&mut buf, left).await? else {
                return Ok(if reply.is_empty() {
                    Answer::Silent
                } else {
                    Answer::Invalid(format!(
                        "the reply stopped after {} bytes: {}",
                        reply.len(),
                        hex(&reply)
                    ))
                });
            };
            reply.extend_from_slice(&buf[..n]);
            match self.language.read_status(&reply) {
                StatusReply::NeedMore if reply.len() > MAX_REPLY => {
                    return Ok(Answer::Invalid(format!(
                        "no end after {} bytes",
                        reply.len()
                    )));
                }
                StatusReply::NeedMore => {}
                StatusReply::Status(status) => {
                    return Ok(match transport.read(&mut buf, quiet).await? {
                        None => Answer::Status(status),
                        Some(more) => {
                            reply.extend_from_slice(&buf[..more]);
                            Answer::Invalid(format!(
                                "more bytes after a complete reply: {}",
                                hex(&reply)
                            ))
                        }
                    });
                }
                StatusReply::Invalid(why) => {
                    return Ok(Answer::Invalid(format!("{why} ({})", hex(&reply))));
                }
            }
        }
    }

    /// Makes sure a connection is open, unless the last failure was too recent to try again.
    async fn connect(&mut self) -> bool {
        if self.transport.is_some() {
            return true;
        }
        if self.retry_at.is_some_and(|at| Instant::now() < at) {
            return false;
        }
        match self
            .connection
            .open(LinkTimeouts::ms(self.timeouts.connect_ms))
            .await
        {
            Ok(transport) => {
                // Not "back" yet: a switched-off network printer may take the connection and
                // drop it; the first answer says so (see `ask_status`).
                tracing::debug!("printer: {}: connected", self.what);
                self.transport = Some(transport);
                true
            }
            Err(e) => {
                self.lost(&format!("cannot open: {e}")).await;
                false
            }
        }
    }

    /// Drops the connection after a failure and schedules the next attempt.
    async fn lost(&mut self, why: &str) {
        self.could_print_at = None;
        if let Some(transport) = self.transport.take() {
            transport.close(CLOSE_WAIT).await;
        }
        self.failures = self.failures.saturating_add(1);
        let min = self.timeouts.reconnect_min_ms;
        let pause = min
            .saturating_mul(1u64 << self.failures.saturating_sub(1).min(20))
            .min(self.timeouts.reconnect_max_ms.max(min));
        self.retry_at = Some(Instant::now() + Duration::from_millis(pause));
        // Said once per outage; the retries only at debug level.
        if self.failures == 1 {
            tracing::warn!("printer: {}: {why}; will reconnect", self.what);
        } else {
            tracing::debug!(
                "printer: {}: {why} ({} failures in a row; next try in {pause} ms)",
                self.what,
                self.failures
            );
        }
    }

    /// Logs the status when it changed; returns it.
    fn observe(&mut self, status: PrinterStatus) -> PrinterStatus {
        // Every status observed is one the printer (or a failed link) just gave.
        self.could_print_at = status.can_print().then(Instant::now);
        if self.last != Some(status) {
            if status.can_print() {
                tracing::info!("printer: {}: {status:?}", self.what);
            } else {
                tracing::warn!("printer: {}: {status:?}", self.what);
            }
            self.last = Some(status);
        }
        status
    }
}

/// The first bytes of a reply, in hex, for the log.
fn hex(bytes: &[u8]) -> String {
    let shown: Vec<String> = bytes.iter().take(48).map(|b| format!("{b:02x}")).collect();
    let more = if bytes.len() > 48 { " …" } else { "" };
    format!("{}{more}", shown.join(" "))
}
