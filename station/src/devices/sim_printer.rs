//! The simulated printer: a device at the far end of a real connection (a TCP port on
//! 127.0.0.1, or a pseudo-terminal standing in for a serial or USB port) that speaks a printer
//! language through its [`Emulator`]. The station prints to it with the real
//! [`LanguagePrinter`], the real transport and the real encoder, so the demo and every test
//! exercise the bytes a real printer would get.
//!
//! What the emulator prints is stored as a PNG in the printer's folder, for the control page
//! to list and show and for tests to read back; its QR code, if any, is decoded from the
//! picture. Numbering carries on across restarts (it is read back from the file names), so a
//! second demo run still lists the labels of the first.
//!
//! It can be told to fail: [`SimPrinter::set_status`] at once, or
//! [`SimPrinter::fail_after_bytes`] in the middle of a job (the page is then lost, as on a
//! printer that ran out of paper). Offline is a printer that is switched off: on TCP it drops
//! connections, on a pty it reads and says nothing.
//!
//! A page carries no intake id the device could read reliably (an envelope label has only a
//! barcode), so [`SimLink`], the station's side in simulation, tells the device which job the
//! next page is for before sending it; that is the only thing that does not travel as printer
//! bytes.

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use image::{GrayImage, ImageFormat};
use records::{IntakeId, LabelKind};
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::task::{AbortHandle, JoinSet};

use super::{PrintJob, Printer, PrinterStatus};
use crate::printer::link::{LanguagePrinter, LinkTimeouts};
use crate::printer::transport::{DeviceFile, PrinterConnection};
use crate::printer::{Emulator, EmulatorError, EmulatorOutput, Language};

/// One page the simulated printer printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrintedLabel {
    /// Counts up from 1 across restarts; the newest has the highest number.
    pub number: u64,
    /// What was printed, if the station said (see [`SimLink`]).
    pub label: Option<LabelKind>,
    /// The intake it is for, if the station said.
    pub intake: Option<IntakeId>,
    /// The PNG's file name in the printer's folder (no directory).
    pub file: String,
    /// When it was printed (for files from an earlier run: the file's modification time),
    /// unix milliseconds.
    pub printed_ms: i64,
    /// What its QR code says, as read from the page, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr_text: Option<String>,
}

/// What the device has seen, for tests and the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Bytes received from the station, over every connection.
    pub received_bytes: u64,
    /// TCP connections accepted (a reconnect shows as one more).
    pub connections: u64,
    /// Pages stored.
    pub pages: u64,
    /// Pages the emulator produced while the printer could not print, thrown away (the
    /// emulator should not produce them; counted so a test notices).
    pub dropped_pages: u64,
    /// Inputs the emulator rejected (see [`SimPrinter::emulator_errors`]).
    pub emulator_errors: u64,
    /// Replies sent back: one per status query in ZPL; ESC/POS answers each `DLE EOT n`
    /// (four to the station's query, and any such bytes inside a raster), and a Brother QL
    /// also sends frames of its own while printing.
    pub replies: u64,
}

/// The file beside a PNG that keeps its QR code's text across restarts.
fn qr_text_file(png: &str) -> String {
    format!("{png}.qr.txt")
}

fn kind_name(kind: LabelKind) -> &'static str {
    match kind {
        LabelKind::Envelope => "envelope",
        LabelKind::Receipt => "receipt",
        LabelKind::Bin => "bin",
    }
}

/// Reads `000017-GW7K-2223-5-receipt.png` (or `000018-page.png`, a page nobody named) back
/// into its number, intake and kind.
fn parse_file_name(name: &str) -> Option<(u64, Option<(IntakeId, LabelKind)>)> {
    let stem = name.strip_suffix(".png")?;
    let (number, rest) = stem.split_once('-')?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number = number.parse().ok()?;
    if rest == "page" {
        return Some((number, None));
    }
    let (intake, kind) = rest.rsplit_once('-')?;
    let kind = match kind {
        "envelope" => LabelKind::Envelope,
        "receipt" => LabelKind::Receipt,
        "bin" => LabelKind::Bin,
        _ => return None,
    };
    Some((number, Some((intake.parse().ok()?, kind))))
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Makes a fresh emulator: one per connection (TCP) or per plug (pty), so a job cut off
/// halfway does not leave the next one in the middle of a raster.
pub type MakeEmulator = Box<dyn Fn() -> Box<dyn Emulator> + Send + Sync>;

/// A job the station announced; the next page is taken to be it.
#[derive(Debug)]
struct Expected {
    id: u64,
    label: LabelKind,
    intake: IntakeId,
    qr_text: Option<String>,
}

#[derive(Debug)]
struct State {
    status: PrinterStatus,
    /// Bytes still to take before the status changes to the second field.
    fail_after: Option<(u64, PrinterStatus)>,
    /// Oldest first.
    printed: Vec<PrintedLabel>,
    expected: VecDeque<Expected>,
    next_expected: u64,
    stats: SimStats,
    errors: Vec<EmulatorError>,
}

struct Shared {
    dir: PathBuf,
    make_emulator: MakeEmulator,
    state: Mutex<State>,
    /// Held while a page is numbered and written, so pages from two connections do not get
    /// the same number; the state lock is not held for the file I/O (the control page reads
    /// the state from async handlers).
    storing: Mutex<()>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// What a simulated device does when switched off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WhenOff {
    /// Drops the connection (and refuses new ones), as a network printer switched off does.
    HangUp,
    /// Reads and says nothing, as a port whose printer is off does.
    Ignore,
}

#[derive(Debug)]
struct Tcp {
    addr: SocketAddr,
    /// The accept loop; its connections die with it.
    task: Option<AbortHandle>,
}

#[derive(Debug)]
struct Pty {
    link: PathBuf,
    task: Option<AbortHandle>,
    /// The device's own hold on the station's end: without it, the master reads EIO whenever
    /// the station has the port closed, as between a failed query and the reconnect.
    slave: Option<OwnedFd>,
}

#[derive(Debug, Default)]
struct Endpoints {
    tcp: Option<Tcp>,
    pty: Option<Pty>,
}

/// A printer device that speaks a language over TCP on loopback and/or a pseudo-terminal, and
/// writes what it prints to a folder as PNGs. Starts ready.
#[derive(Debug)]
pub struct SimPrinter {
    shared: Arc<Shared>,
    endpoints: Mutex<Endpoints>,
    /// `None` only while being dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every change under these locks is a single assignment or push, so a panic while one was
    // held leaves the value whole and a poisoned lock is still safe to use.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl SimPrinter {
    /// A printer writing into `dir` (created if missing), listing the pages already there,
    /// speaking the language of the emulators `make_emulator` makes. It listens nowhere until
    /// [`SimPrinter::serve_tcp`] or [`SimPrinter::serve_pty`].
    pub fn new(
        dir: PathBuf,
        make_emulator: impl Fn() -> Box<dyn Emulator> + Send + Sync + 'static,
    ) -> io::Result<SimPrinter> {
        fs::create_dir_all(&dir)?;
        let mut printed = Vec::new();
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Some((number, named)) = parse_file_name(&name) else {
                continue;
            };
            let printed_ms = entry
                .metadata()
                .and_then(|m| m.modified())
                .map(unix_ms)
                .unwrap_or(0);
            let qr_text = fs::read_to_string(dir.join(qr_text_file(&name))).ok();
            printed.push(PrintedLabel {
                number,
                label: named.map(|(_, kind)| kind),
                intake: named.map(|(intake, _)| intake),
                file: name,
                printed_ms,
                qr_text,
            });
        }
        printed.sort_by_key(|p| p.number);
        // Its own runtime, so the device works the same under the station's runtime, a test's,
        // or none, and keeps answering while a caller blocks on a print.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("sim-printer")
            .enable_io()
            .enable_time()
            .build()?;
        Ok(SimPrinter {
            shared: Arc::new(Shared {
                dir,
                make_emulator: Box::new(make_emulator),
                state: Mutex::new(State {
                    status: PrinterStatus::Ready,
                    fail_after: None,
                    printed,
                    expected: VecDeque::new(),
                    next_expected: 1,
                    stats: SimStats::default(),
                    errors: Vec::new(),
                }),
                storing: Mutex::new(()),
            }),
            endpoints: Mutex::new(Endpoints::default()),
            runtime: Some(runtime),
        })
    }

    fn runtime(&self) -> io::Result<&tokio::runtime::Runtime> {
        self.runtime
            .as_ref()
            .ok_or_else(|| io::Error::other("the simulated printer is shutting down"))
    }

    /// Listens on a fresh port of 127.0.0.1 (once; later calls return the same address).
    pub fn serve_tcp(&self) -> io::Result<SocketAddr> {
        let mut endpoints = lock(&self.endpoints);
        if let Some(tcp) = &endpoints.tcp {
            return Ok(tcp.addr);
        }
        let (addr, task) = self.listen(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        endpoints.tcp = Some(Tcp {
            addr,
            task: Some(task),
        });
        Ok(addr)
    }

    fn listen(&self, addr: SocketAddr) -> io::Result<(SocketAddr, AbortHandle)> {
        let runtime = self.runtime()?;
        // std's bind sets SO_REUSEADDR, so a replug gets the same port back at once.
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let _entered = runtime.enter();
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let task = runtime.spawn(accept(self.shared.clone(), listener));
        tracing::debug!("simulated printer: listening on {addr}");
        Ok((addr, task.abort_handle()))
    }

    /// Makes a pseudo-terminal and points `link` at the station's end (as udev points
    /// `/dev/serial/by-id/…` at a port), for a station to open as a serial port or a device
    /// file. Returns the pty's own path. Once; later calls return the same path.
    pub fn serve_pty(&self, link: &Path) -> io::Result<PathBuf> {
        let mut endpoints = lock(&self.endpoints);
        if let Some(pty) = &endpoints.pty
            && pty.slave.is_some()
        {
            return fs::read_link(&pty.link);
        }
        let (task, slave, path) = self.open_pty(link)?;
        endpoints.pty = Some(Pty {
            link: link.to_owned(),
            task: Some(task),
            slave: Some(slave),
        });
        Ok(path)
    }

    fn open_pty(&self, link: &Path) -> io::Result<(AbortHandle, OwnedFd, PathBuf)> {
        use nix::fcntl::{FcntlArg, OFlag, fcntl};
        use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};

        let runtime = self.runtime()?;
        let pair = nix::pty::openpty(None, None).map_err(io::Error::from)?;
        // Raw from the start: a cooked line discipline would echo the station's bytes back to
        // it and translate CR and LF inside rasters.
        let mut termios = tcgetattr(&pair.slave).map_err(io::Error::from)?;
        cfmakeraw(&mut termios);
        tcsetattr(&pair.slave, SetArg::TCSANOW, &termios).map_err(io::Error::from)?;
        let path = fs::read_link(format!("/proc/self/fd/{}", pair.slave.as_raw_fd()))?;
        fcntl(
            &pair.master,
            FcntlArg::F_SETFL(OFlag::O_NONBLOCK | OFlag::O_RDWR),
        )
        .map_err(io::Error::from)?;
        let master = {
            let _entered = runtime.enter();
            DeviceFile::from_file(fs::File::from(pair.master))?
        };
        let tmp = link.with_extension("new");
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&path, &tmp)?;
        fs::rename(&tmp, link)?;
        let shared = self.shared.clone();
        let task = runtime.spawn(async move {
            serve(shared, master, WhenOff::Ignore).await;
        });
        tracing::debug!(
            "simulated printer: on {} (as {})",
            path.display(),
            link.display()
        );
        Ok((task.abort_handle(), pair.slave, path))
    }

    /// Pulls the cable: closes the TCP listener and its connections, and the pty (the
    /// station's end reads a hangup). [`SimPrinter::replug`] undoes it.
    pub fn unplug(&self) {
        let mut endpoints = lock(&self.endpoints);
        if let Some(tcp) = &mut endpoints.tcp
            && let Some(task) = tcp.task.take()
        {
            task.abort();
        }
        if let Some(pty) = &mut endpoints.pty {
            if let Some(task) = pty.task.take() {
                task.abort();
            }
            pty.slave = None;
        }
        tracing::info!("simulated printer: unplugged");
    }

    /// Plugs the cable back in: the same TCP port, and a new pty behind the same link (as a
    /// replugged USB device gets a new node behind its stable name).
    pub fn replug(&self) -> io::Result<()> {
        let mut endpoints = lock(&self.endpoints);
        if let Some(tcp) = &mut endpoints.tcp
            && tcp.task.is_none()
        {
            let (_, task) = self.listen(tcp.addr)?;
            tcp.task = Some(task);
        }
        if let Some(pty) = &mut endpoints.pty
            && pty.task.is_none()
        {
            let (task, slave, _) = self.open_pty(&pty.link)?;
            pty.task = Some(task);
            pty.slave = Some(slave);
        }
        tracing::info!("simulated printer: plugged in");
        Ok(())
    }

    /// Where it listens on TCP, if it does.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        lock(&self.endpoints).tcp.as_ref().map(|t| t.addr)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.shared.state)
    }

    /// What the printer is now: what it answers to status queries. `Offline` is switched off.
    pub fn status(&self) -> PrinterStatus {
        self.state().status
    }

    /// Makes the printer be in `status` from now on (and forgets a pending
    /// [`SimPrinter::fail_after_bytes`]).
    pub fn set_status(&self, status: PrinterStatus) {
        let mut state = self.state();
        state.status = status;
        state.fail_after = None;
        drop(state);
        tracing::info!("simulated printer: now {status:?}");
    }

    /// Makes the printer go into `status` once it has received `bytes` more bytes, e.g. run
    /// out of paper in the middle of the next job. The emulator gets the rest of the job in the
    /// new condition; a page it has not finished by then is lost.
    pub fn fail_after_bytes(&self, bytes: u64, status: PrinterStatus) {
        self.state().fail_after = Some((bytes, status));
    }

    /// Says that the next page to come is `label` for `intake` (see [`SimLink`]); returns a
    /// ticket for [`SimPrinter::forget`].
    pub fn expect_page(&self, label: LabelKind, intake: IntakeId, qr_text: Option<String>) -> u64 {
        let mut state = self.state();
        let id = state.next_expected;
        state.next_expected += 1;
        state.expected.push_back(Expected {
            id,
            label,
            intake,
            qr_text,
        });
        id
    }

    /// Withdraws an announced page that never came (its job failed).
    pub fn forget(&self, ticket: u64) {
        self.state().expected.retain(|e| e.id != ticket);
    }

    /// Everything printed, this run and earlier ones, newest first.
    pub fn printed(&self) -> Vec<PrintedLabel> {
        self.state().printed.iter().rev().cloned().collect()
    }

    /// What the device has seen.
    pub fn stats(&self) -> SimStats {
        self.state().stats
    }

    /// Inputs the emulator rejected: with the station's own encoders on the other end, each is
    /// an encoder (or emulator) bug.
    pub fn emulator_errors(&self) -> Vec<EmulatorError> {
        self.state().errors.clone()
    }

    /// The path of a PNG this printer printed, by its file name; `None` for any other name, so
    /// a name from a web request can never reach outside the folder.
    pub fn png_path(&self, file_name: &str) -> Option<PathBuf> {
        self.state()
            .printed
            .iter()
            .any(|p| p.file == file_name)
            .then(|| self.shared.dir.join(file_name))
    }

    /// The station's printer for this device: the real [`LanguagePrinter`] speaking `language`
    /// to it over TCP on loopback, announcing each job's page (see [`SimLink`]). Listens on
    /// TCP if it does not yet.
    pub fn station_printer(
        self: &Arc<Self>,
        language: Box<dyn Language>,
        timeouts: LinkTimeouts,
    ) -> io::Result<SimLink> {
        let addr = self.serve_tcp()?;
        let connection = PrinterConnection::Tcp {
            host: addr.ip().to_string(),
            port: addr.port(),
        };
        Ok(SimLink::new(
            self.clone(),
            Arc::new(LanguagePrinter::new(connection, language, timeouts)?),
        ))
    }
}

impl Drop for SimPrinter {
    fn drop(&mut self) {
        // Dropping a runtime waits for its tasks, which tokio forbids inside another runtime
        // (the demo drops its printer from async code); the tasks here own nothing that needs
        // a clean end, and their sockets and pty close as they are dropped.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Accepts connections until aborted; its connections are aborted with it.
async fn accept(shared: Arc<Shared>, listener: tokio::net::TcpListener) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let mut state = lock(&shared.state);
                    if state.status == PrinterStatus::Offline {
                        // Switched off: the connection is refused as soon as it is made.
                        continue;
                    }
                    state.stats.connections += 1;
                    drop(state);
                    connections.spawn(serve(shared.clone(), stream, WhenOff::HangUp));
                }
                Err(e) => {
                    tracing::warn!("simulated printer: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Speaks the language on one connection until it closes or the printer hangs up.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    shared: Arc<Shared>,
    mut stream: S,
    off: WhenOff,
) {
    let mut emulator = (shared.make_emulator)();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let taken = shared.take(&mut emulator, &buf[..n], off);
        for reply in taken.replies {
            if stream.write_all(&reply).await.is_err() {
                return;
            }
        }
        if taken.hang_up {
            tracing::debug!("simulated printer: switched off; dropping the connection");
            return;
        }
    }
}

#[derive(Debug, Default)]
struct Taken {
    replies: Vec<Vec<u8>>,
    hang_up: bool,
}

impl Shared {
    /// Feeds received bytes to the emulator in the condition of the moment, switching
    /// condition at the byte [`SimPrinter::fail_after_bytes`] named; stores its pages and
    /// returns its replies.
    fn take(&self, emulator: &mut Box<dyn Emulator>, bytes: &[u8], off: WhenOff) -> Taken {
        let mut taken = Taken::default();
        let mut rest = bytes;
        loop {
            let (condition, len) = {
                let mut state = lock(&self.state);
                if let Some((0, status)) = state.fail_after {
                    state.status = status;
                    state.fail_after = None;
                    tracing::info!("simulated printer: now {status:?}, as told, mid-stream");
                }
                if rest.is_empty() {
                    return taken;
                }
                let len = match &mut state.fail_after {
                    Some((left, _)) => {
                        let len = usize::try_from(*left).unwrap_or(usize::MAX).min(rest.len());
                        *left -= len as u64;
                        len
                    }
                    None => rest.len(),
                };
                state.stats.received_bytes += len as u64;
                (state.status, len)
            };
            let (piece, later) = rest.split_at(len);
            rest = later;
            if condition == PrinterStatus::Offline {
                if off == WhenOff::HangUp {
                    taken.hang_up = true;
                    return taken;
                }
                continue;
            }
            match emulator.feed(piece, condition) {
                Ok(outputs) => {
                    for output in outputs {
                        match output {
                            EmulatorOutput::Reply(bytes) => {
                                lock(&self.state).stats.replies += 1;
                                taken.replies.push(bytes);
                            }
                            EmulatorOutput::Page(page) if condition.can_print() => {
                                // The moment the page's last byte arrived, before the PNG is
                                // written: what `examples/deposit_latency.rs` times deposits to.
                                tracing::trace!(
                                    name: "sim_printer.page_complete",
                                    "simulated printer: page complete"
                                );
                                self.store(page)
                            }
                            EmulatorOutput::Page(_) => {
                                tracing::warn!(
                                    "simulated printer: the emulator printed while {condition:?}; page thrown away"
                                );
                                lock(&self.state).stats.dropped_pages += 1;
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!("simulated printer: {e}; starting the emulator afresh");
                    let mut state = lock(&self.state);
                    state.stats.emulator_errors += 1;
                    state.errors.push(e);
                    drop(state);
                    *emulator = (self.make_emulator)();
                }
            }
        }
    }

    /// Numbers a printed page, names it after the job announced for it, and writes it.
    fn store(&self, page: GrayImage) {
        let _one_at_a_time = lock(&self.storing);
        let (number, expected) = {
            let mut state = lock(&self.state);
            let number = state.printed.last().map_or(1, |p| p.number + 1);
            (number, state.expected.pop_front())
        };
        let qr_text = read_qr(&page);
        let file = match &expected {
            Some(e) => format!("{number:06}-{}-{}.png", e.intake, kind_name(e.label)),
            None => format!("{number:06}-page.png"),
        };
        if let Some(e) = &expected
            && e.qr_text.is_some()
            && e.qr_text != qr_text
        {
            tracing::warn!(
                "simulated printer: page {number}'s QR code reads {qr_text:?}, not what the station sent"
            );
        }
        let path = self.dir.join(&file);
        if let Err(e) = page.save_with_format(&path, ImageFormat::Png) {
            tracing::warn!(error = %e, path = %path.display(), "simulated printer could not write");
            // Leave nothing behind that a restart would mistake for a printed page.
            let _ = fs::remove_file(&path);
            return;
        }
        if let Some(text) = &qr_text
            && let Err(e) = fs::write(self.dir.join(qr_text_file(&file)), text)
        {
            tracing::warn!(error = %e, "simulated printer could not keep the QR text");
        }
        let mut state = lock(&self.state);
        state.stats.pages += 1;
        state.printed.push(PrintedLabel {
            number,
            label: expected.as_ref().map(|e| e.label),
            intake: expected.as_ref().map(|e| e.intake),
            file,
            printed_ms: unix_ms(SystemTime::now()),
            qr_text,
        });
    }
}

/// The text of the page's QR code, if it has exactly one that decodes.
fn read_qr(page: &GrayImage) -> Option<String> {
    let mut prepared = rqrr::PreparedImage::prepare(page.clone());
    let grids = prepared.detect_grids();
    let [grid] = grids.as_slice() else {
        return None;
    };
    grid.decode().ok().map(|(_, text)| text)
}

/// The station's printer in simulation: the real [`LanguagePrinter`] to a [`SimPrinter`], plus
/// telling the device which job each page is for, so the control page can list pages by
/// intake.
#[derive(Clone)]
pub struct SimLink {
    device: Arc<SimPrinter>,
    printer: Arc<dyn Printer>,
}

impl std::fmt::Debug for SimLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimLink")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl SimLink {
    /// Announces each job to `device`, then prints it through `printer` (which should reach
    /// `device`).
    pub fn new(device: Arc<SimPrinter>, printer: Arc<dyn Printer>) -> SimLink {
        SimLink { device, printer }
    }
}

impl Printer for SimLink {
    fn status(&self) -> PrinterStatus {
        self.printer.status()
    }

    fn print(&self, job: &PrintJob) -> Result<(), PrinterStatus> {
        let ticket = self
            .device
            .expect_page(job.label, job.intake, job.qr_text.clone());
        let printed = self.printer.print(job);
        // The page is in by the time the printer confirmed (the confirmation is read after
        // the page's bytes); one that never came must not name the next job's page.
        self.device.forget(ticket);
        printed
    }
}
