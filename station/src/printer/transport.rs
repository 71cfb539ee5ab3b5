//! How bytes reach a printer and its answers come back: a USB printer-class device file
//! (`/dev/usb/lpN`), a serial port, or raw TCP (port 9100, "JetDirect"). Every operation has a
//! timeout, so a printer that is unplugged, switched off or wedged costs the station a bounded
//! wait and never a hung workflow.
//!
//! The transports are async (tokio), and [`crate::printer::link::LanguagePrinter`] runs them on
//! a small runtime of its own behind the synchronous [`crate::devices::Printer`] trait. Async
//! rather than blocking because of the serial port: tokio-serial keeps the descriptor
//! non-blocking, while its blocking counterpart (serialport's `TTYPort`) clears `O_NONBLOCK`, so
//! a `write` to a printer holding CTS low (paper out, buffer full) would block with no way to
//! time it out. With every transport on one reactor, the timeouts are written once, here.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::{Instant, timeout};

use crate::config::ConfigError;
pub use crate::devices::serial_scanner::Parity;

/// Which side may pause the other on a serial line.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FlowControl {
    /// None: the printer's buffer had better keep up (USB-serial printers usually do).
    #[default]
    None,
    /// RTS/CTS: the printer drops CTS while busy or out of paper. The usual choice for RS-232
    /// receipt printers.
    Hardware,
    /// XON/XOFF. Only for printers whose replies never contain the bytes 0x11 and 0x13: the
    /// station's serial driver swallows those as flow control. ESC/POS `DLE EOT` replies
    /// qualify; Brother QL's binary status does not.
    Software,
}

/// How to reach a printer: the `connection` key of the printer's config, e.g.
/// `{ kind = "device", path = "/dev/usb/lp0" }`,
/// `{ kind = "serial", path = "/dev/serial/by-id/…", baud = 9600, flow_control = "hardware" }` or
/// `{ kind = "tcp", host = "192.168.1.50", port = 9100 }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum PrinterConnection {
    /// A USB printer-class device (`usblp`), opened read-write. Many ESC/POS printers answer
    /// status queries on its read side; some do not, and then read as offline.
    Device {
        /// The device file; a udev symlink (`/dev/usb/lp-receipt`) survives replugging into
        /// another socket where `/dev/usb/lp0` may not.
        path: PathBuf,
    },
    /// A serial port: RS-232, or a USB-serial adapter.
    Serial {
        /// The port, by a path that survives replugging: `/dev/serial/by-id/usb-…`.
        path: PathBuf,
        /// Bits per second (ignored by USB CDC-ACM printers).
        #[serde(default = "default_baud")]
        baud: u32,
        /// Flow control, as set on the printer.
        #[serde(default)]
        flow_control: FlowControl,
        /// Parity, as set on the printer (8 data bits and 1 stop bit are assumed).
        #[serde(default)]
        parity: Parity,
    },
    /// Raw TCP, as network printers take it (port 9100).
    Tcp {
        /// The printer's host name or address.
        host: String,
        /// The raw-print port.
        #[serde(default = "default_port")]
        port: u16,
    },
}

fn default_baud() -> u32 {
    9600
}
fn default_port() -> u16 {
    9100
}

/// How long an idle TCP connection waits before the kernel probes the peer, how often it
/// probes, and how many unanswered probes end it: a printer switched off mid-connection is
/// noticed within a minute even if the station sends nothing (the status query before each job
/// notices it sooner).
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_RETRIES: u32 = 4;

/// Largest chunk handed to one `write`: small enough that a printer that stops taking data is
/// noticed within one write timeout, big enough not to matter for throughput.
const WRITE_CHUNK: usize = 4096;

impl PrinterConnection {
    /// Checks the values; `key` is where the connection sits in the config
    /// (`printer.connection`), used to name the wrong key.
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let problem = |field: &str, problem: &str| ConfigError {
            key: format!("{key}.{field}"),
            problem: problem.to_owned(),
        };
        match self {
            PrinterConnection::Device { path } | PrinterConnection::Serial { path, .. } => {
                if !path.is_absolute() || path.to_str().is_none_or(|p| p.contains('\0')) {
                    return Err(problem(
                        "path",
                        "must be an absolute UTF-8 path, such as /dev/usb/lp0 or /dev/serial/by-id/usb-…",
                    ));
                }
            }
            PrinterConnection::Tcp { host, port } => {
                if host.trim().is_empty() || host.contains(char::is_whitespace) {
                    return Err(problem("host", "must be a host name or an IP address"));
                }
                if *port == 0 {
                    return Err(problem("port", "must be between 1 and 65535"));
                }
            }
        }
        if let PrinterConnection::Serial { baud, .. } = self
            && !(50..=4_000_000).contains(baud)
        {
            return Err(problem("baud", "must be between 50 and 4000000"));
        }
        Ok(())
    }

    /// Opens the connection, giving up after `connect_timeout`.
    pub async fn open(&self, connect_timeout: Duration) -> io::Result<Transport> {
        let what = self.to_string();
        let stream: Box<dyn Stream> = match self {
            PrinterConnection::Device { path } => {
                Box::new(DeviceFile::open(path, connect_timeout).await?)
            }
            PrinterConnection::Serial {
                path,
                baud,
                flow_control,
                parity,
            } => Box::new(open_serial(path, *baud, *flow_control, *parity)?),
            PrinterConnection::Tcp { host, port } => {
                Box::new(connect_tcp(host, *port, connect_timeout).await?)
            }
        };
        Ok(Transport {
            stream,
            what,
            shutdown_on_close: matches!(self, PrinterConnection::Tcp { .. }),
        })
    }
}

impl fmt::Display for PrinterConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrinterConnection::Device { path } => write!(f, "device {}", path.display()),
            PrinterConnection::Serial { path, baud, .. } => {
                write!(f, "serial {} at {baud} Bd", path.display())
            }
            PrinterConnection::Tcp { host, port } => write!(f, "tcp {host}:{port}"),
        }
    }
}

fn open_serial(
    path: &Path,
    baud: u32,
    flow_control: FlowControl,
    parity: Parity,
) -> io::Result<tokio_serial::SerialStream> {
    let builder = tokio_serial::new(path.to_string_lossy(), baud)
        .data_bits(tokio_serial::DataBits::Eight)
        .stop_bits(tokio_serial::StopBits::One)
        .parity(match parity {
            Parity::None => tokio_serial::Parity::None,
            Parity::Odd => tokio_serial::Parity::Odd,
            Parity::Even => tokio_serial::Parity::Even,
        })
        .flow_control(match flow_control {
            FlowControl::None => tokio_serial::FlowControl::None,
            FlowControl::Hardware => tokio_serial::FlowControl::Hardware,
            FlowControl::Software => tokio_serial::FlowControl::Software,
        });
    // Opens non-blocking, exclusively (a second process cannot interleave its bytes with a
    // job), in raw mode. Opening a tty does not wait for anything, so it needs no timeout.
    tokio_serial::SerialStream::open(&builder).map_err(io::Error::from)
}

async fn connect_tcp(
    host: &str,
    port: u16,
    connect_timeout: Duration,
) -> io::Result<tokio::net::TcpStream> {
    let deadline = Instant::now() + connect_timeout;
    let addrs: Vec<SocketAddr> =
        tokio::time::timeout_at(deadline, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| timed_out("resolving the printer's host name"))??
            .collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host name has no address");
    for addr in addrs {
        match tokio::time::timeout_at(deadline, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                // Status queries are a few bytes: send them now, not after an ACK.
                stream.set_nodelay(true)?;
                let keepalive = socket2::TcpKeepalive::new()
                    .with_time(KEEPALIVE_IDLE)
                    .with_interval(KEEPALIVE_INTERVAL)
                    .with_retries(KEEPALIVE_RETRIES);
                socket2::SockRef::from(&stream).set_tcp_keepalive(&keepalive)?;
                return Ok(stream);
            }
            Ok(Err(e)) => last = e,
            Err(_) => return Err(timed_out("connecting to the printer")),
        }
    }
    Err(last)
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))
}

/// A byte stream to a printer: what every transport is once open.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> Stream for T {}

/// An open connection to a printer. Closing is dropping it (a TCP connection is then closed,
/// a device or port released).
#[derive(Debug)]
pub struct Transport {
    stream: Box<dyn Stream>,
    what: String,
    /// Whether closing sends a shutdown first (TCP only: on a serial port tokio-serial's
    /// shutdown is `tcdrain`, which blocks the thread while the printer holds CTS low).
    shutdown_on_close: bool,
}

impl Transport {
    /// Wraps any byte stream, named `what` in logs (tests use in-memory pipes).
    pub fn from_stream(stream: impl Stream + 'static, what: impl Into<String>) -> Transport {
        Transport {
            stream: Box::new(stream),
            what: what.into(),
            shutdown_on_close: false,
        }
    }

    /// What this connects to, for logs.
    pub fn describe(&self) -> &str {
        &self.what
    }

    /// Writes all of `bytes`. Fails with [`io::ErrorKind::TimedOut`] when the printer takes no
    /// byte for `stall_timeout`: a deadline per lack of progress rather than for the whole job,
    /// because a long raster over 9600 Bd legitimately takes most of a minute, while a printer
    /// that stopped reading should be given up on quickly whatever the job's size.
    pub async fn write_all(&mut self, bytes: &[u8], stall_timeout: Duration) -> io::Result<()> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let chunk = &rest[..rest.len().min(WRITE_CHUNK)];
            match timeout(stall_timeout, self.stream.write(chunk)).await {
                Err(_) => return Err(timed_out("writing to the printer")),
                Ok(Ok(0)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the printer takes no more bytes",
                    ));
                }
                Ok(Ok(n)) => rest = &rest[n..],
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Err(e),
            }
        }
        // No `flush`: TCP and device files have nothing to flush, and on a serial port it is
        // `tcdrain`, which blocks the thread (uncancellably) for as long as the printer holds
        // CTS low.
        Ok(())
    }

    /// Reads what the printer sent, waiting at most `wait`: `Ok(None)` when nothing came. The
    /// printer closing the connection (or a hung-up port) is an error,
    /// [`io::ErrorKind::UnexpectedEof`], as is any other failure to read.
    pub async fn read(&mut self, buf: &mut [u8], wait: Duration) -> io::Result<Option<usize>> {
        if buf.is_empty() {
            return Ok(Some(0));
        }
        loop {
            return match timeout(wait, self.stream.read(buf)).await {
                Err(_) => Ok(None),
                Ok(Ok(0)) => Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the printer closed the connection",
                )),
                Ok(Ok(n)) => Ok(Some(n)),
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => Err(e),
            };
        }
    }

    /// Reads and discards whatever the printer sent unasked (a late answer to an earlier query,
    /// an unsolicited status, line noise), until nothing has come for `quiet`, so that it is
    /// not taken for the answer to the next query. Gives up after `limit` of a printer that
    /// never stops talking. Returns how many bytes were thrown away.
    pub async fn drain(&mut self, quiet: Duration, limit: Duration) -> io::Result<usize> {
        let deadline = Instant::now() + limit;
        let mut buf = [0u8; 512];
        let mut drained = 0;
        loop {
            let wait = quiet.min(deadline.saturating_duration_since(Instant::now()));
            match self.read(&mut buf, wait).await? {
                Some(n) if Instant::now() < deadline => drained += n,
                Some(n) => return Ok(drained + n),
                None => return Ok(drained),
            }
        }
    }

    /// Closes the connection, cleanly where the transport has a notion of it (TCP: a FIN
    /// rather than a reset), waiting at most `wait`.
    pub async fn close(mut self, wait: Duration) {
        if self.shutdown_on_close {
            let _ = timeout(wait, self.stream.shutdown()).await;
        }
    }
}

/// A character device opened non-blocking, read and written through the reactor. tokio's pipe
/// ends are used for it because they take any non-blocking descriptor safely (AsyncFd now asks
/// for `unsafe`); one end reads and a clone of the descriptor writes.
#[derive(Debug)]
pub struct DeviceFile {
    rx: tokio::net::unix::pipe::Receiver,
    tx: tokio::net::unix::pipe::Sender,
}

impl DeviceFile {
    /// Opens `path` read-write and non-blocking, giving up after `open_timeout`.
    pub async fn open(path: &Path, open_timeout: Duration) -> io::Result<DeviceFile> {
        let path = path.to_owned();
        // `open` of a device may sleep in the driver (usblp waits for the device to settle);
        // off the reactor, so the timeout can fire.
        let opening = tokio::task::spawn_blocking(move || {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                // O_NOCTTY: the path may be a tty (a pty stands in for the device in tests).
                .custom_flags(
                    nix::fcntl::OFlag::O_NONBLOCK.bits() | nix::fcntl::OFlag::O_NOCTTY.bits(),
                )
                .open(path)
        });
        let file = match timeout(open_timeout, opening).await {
            Err(_) => return Err(timed_out("opening the printer device")),
            Ok(Err(e)) => return Err(io::Error::other(e)),
            Ok(Ok(opened)) => opened?,
        };
        DeviceFile::from_file(file)
    }

    /// Wraps a file already opened read-write with `O_NONBLOCK` (a device, a pty's master).
    pub fn from_file(file: std::fs::File) -> io::Result<DeviceFile> {
        let writer = file.try_clone()?;
        Ok(DeviceFile {
            rx: tokio::net::unix::pipe::Receiver::from_file_unchecked(file)?,
            tx: tokio::net::unix::pipe::Sender::from_file_unchecked(writer)?,
        })
    }
}

impl AsyncRead for DeviceFile {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.rx).poll_read(cx, buf)
    }
}

impl AsyncWrite for DeviceFile {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tx).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writes go straight to the driver; there is no user-space buffer.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
