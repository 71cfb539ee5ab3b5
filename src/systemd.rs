//! Telling systemd how a service is doing (`sd_notify(3)`): `READY=1` once it serves, `STATUS=`
//! lines for `systemctl status`, `WATCHDOG=1` while it is alive, `STOPPING=1` on SIGTERM.
//!
//! The protocol is one datagram per message on the Unix socket named by `NOTIFY_SOCKET`; it is
//! written here on std's `UnixDatagram` rather than through a crate because that is all there is
//! to it (abstract socket names included), and the workspace's lock file stays untouched.
//! Without `NOTIFY_SOCKET` (a shell, the tests, the demo) every call does nothing.
//!
//! Liveness is proven, not assumed: the watchdog pings only after the service answered an HTTP
//! request on its own listener, so a wedged accept loop or a runtime whose workers are all
//! stuck stops the pings and systemd restarts the service (`WatchdogSec=` in the units). What
//! that answer does not prove (the registry's register) is a [`Check`] asked beside it.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;
use std::pin::Pin;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where to send notifications, taken from the environment systemd gives a `Type=notify` unit.
#[derive(Debug)]
pub struct Notifier {
    socket: Option<(UnixDatagram, std::os::unix::net::SocketAddr)>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID`. A socket that cannot be used
    /// is logged once and ignored: a service must not fail to start over its notifications.
    pub fn from_env() -> Notifier {
        let socket = std::env::var_os("NOTIFY_SOCKET").and_then(|name| {
            match open(name.as_encoded_bytes()) {
                Ok(socket) => Some(socket),
                Err(e) => {
                    tracing::warn!("NOTIFY_SOCKET {}: {e}", name.to_string_lossy());
                    None
                }
            }
        });
        // WATCHDOG_PID names the process the watchdog is meant for; a child started with the
        // same environment must not ping on its parent's behalf.
        let for_us = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_none_or(|pid| pid == std::process::id());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|usec| usec.parse::<u64>().ok())
            .filter(|&usec| usec > 0 && for_us && socket.is_some())
            // Half the deadline, as sd_watchdog_enabled(3) advises: one late ping is not fatal.
            .map(|usec| Duration::from_micros(usec / 2));
        Notifier { socket, watchdog }
    }

    /// A notifier that sends nothing.
    pub fn disabled() -> Notifier {
        Notifier {
            socket: None,
            watchdog: None,
        }
    }

    /// How often to ping the watchdog, when systemd watches this process.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
    }

    /// Sends one message (`KEY=value` lines); failures are logged, never returned.
    pub fn notify(&self, message: &str) {
        let Some((socket, addr)) = &self.socket else {
            return;
        };
        if let Err(e) = socket.send_to_addr(message.as_bytes(), addr) {
            tracing::warn!("sd_notify: {e}");
        }
    }

    /// The service serves: systemd's start job completes, and units ordered after it start.
    pub fn ready(&self, status: &str) {
        self.notify(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    /// A line for `systemctl status`.
    pub fn status(&self, status: &str) {
        self.notify(&format!("STATUS={}", one_line(status)));
    }

    /// The service is shutting down on request (not failing).
    pub fn stopping(&self) {
        self.notify("STOPPING=1\nSTATUS=stopping");
    }
}

/// A STATUS value is one line: a newline would start another assignment.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}

fn open(name: &[u8]) -> std::io::Result<(UnixDatagram, std::os::unix::net::SocketAddr)> {
    let addr = match name.strip_prefix(b"@") {
        Some(abstract_name) => {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(abstract_name)?
        }
        None => std::os::unix::net::SocketAddr::from_pathname(std::path::Path::new(
            std::ffi::OsStr::from_bytes(name),
        ))?,
    };
    Ok((UnixDatagram::unbound()?, addr))
}

/// An HTTP request to the service's own listener: the proof that it serves.
#[derive(Debug, Clone)]
pub struct Probe {
    addr: SocketAddr,
    path: &'static str,
}

impl Probe {
    /// Asks `path` of the service listening on `listen`; a wildcard address is reached on
    /// loopback.
    pub fn new(listen: SocketAddr, path: &'static str) -> Probe {
        let mut addr = listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
            });
        }
        Probe { addr, path }
    }

    /// The response's status code and body, if an HTTP answer came within `timeout`.
    pub async fn ask(&self, timeout: Duration) -> Option<(u16, Vec<u8>)> {
        tokio::time::timeout(timeout, self.exchange())
            .await
            .ok()
            .flatten()
    }

    async fn exchange(&self) -> Option<(u16, Vec<u8>)> {
        let mut stream = TcpStream::connect(self.addr).await.ok()?;
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: urna-watchdog\r\nConnection: close\r\n\r\n",
            self.path, self.addr
        );
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        // A status page is small; a cap keeps a misbehaving answer from growing memory.
        stream
            .take(256 * 1024)
            .read_to_end(&mut response)
            .await
            .ok()?;
        let text = std::str::from_utf8(response.get(..12)?).ok()?;
        let code = text.strip_prefix("HTTP/1.")?.get(2..5)?.parse().ok()?;
        let body = match response.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(end) => response.split_off(end + 4),
            None => Vec::new(),
        };
        Some((code, body))
    }

    /// Returns once the service answers (any HTTP status: the server is up).
    pub async fn answered(&self) {
        loop {
            if self.ask(Duration::from_secs(1)).await.is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// What answers to the check's question: `Ok`, or why not.
pub type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Something the service needs that an HTTP answer does not prove (the registry's register),
/// asked beside the probe: no ping while it fails or has not answered.
pub struct Check {
    /// What it checks, for the journal and STATUS (`the register`).
    pub what: &'static str,
    /// Asks it once.
    pub run: Box<dyn Fn() -> CheckFuture + Send + Sync>,
    /// The STATUS line to go back to once it answers again.
    pub healthy: String,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check").field("what", &self.what).finish()
    }
}

/// One [`Check`] at a time: a question still unanswered at the next tick is waited on again,
/// never asked a second time, so a store that hangs holds one task, not one per tick.
struct Asking {
    check: Check,
    pending: Option<tokio::task::JoinHandle<Result<(), String>>>,
}

impl Asking {
    async fn ask(&mut self, within: Duration) -> Result<(), String> {
        let run = &self.check.run;
        let task = self.pending.get_or_insert_with(|| tokio::spawn(run()));
        match tokio::time::timeout(within, task).await {
            Ok(joined) => {
                self.pending = None;
                joined.unwrap_or_else(|e| Err(e.to_string()))
            }
            Err(_) => Err(format!("no answer within {within:?}")),
        }
    }
}

/// Pings the watchdog every `interval` for as long as the service answers its probe and `check`
/// (if any) passes; `status` turns an answer's body into a STATUS line when it says more than
/// "alive" (the station's sync). Runs until aborted.
pub async fn watchdog(
    notifier: std::sync::Arc<Notifier>,
    interval: Duration,
    probe: Probe,
    status: fn(&[u8]) -> Option<String>,
    check: Option<Check>,
) {
    let mut last_status = None;
    let mut check = check.map(|check| Asking {
        check,
        pending: None,
    });
    // Why the check last failed, while it does: STATUS changes only when this does.
    let mut failing: Option<String> = None;
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        // Side by side, so that one tick waits at most one interval.
        let (answer, checked) = tokio::join!(probe.ask(interval), async {
            match &mut check {
                Some(asking) => asking.ask(interval).await,
                None => Ok(()),
            }
        });
        let what = check.as_ref().map_or("", |asking| asking.check.what);
        match (&answer, checked) {
            (Some(_), Ok(())) => notifier.notify("WATCHDOG=1"),
            // No ping: if this lasts past WatchdogSec, systemd restarts the service.
            (None, _) => {
                tracing::warn!(
                    "watchdog: no answer on {}{} within {interval:?}",
                    probe.addr,
                    probe.path
                );
                continue;
            }
            (Some(_), Err(why)) => {
                tracing::warn!("watchdog: {what} does not answer: {why}");
                if failing.as_ref() != Some(&why) {
                    notifier.status(&format!("{what} does not answer: {why}"));
                    failing = Some(why);
                }
                continue;
            }
        }
        if failing.take().is_some() {
            tracing::info!("watchdog: {what} answers again");
            if let Some(asking) = &check {
                notifier.status(&asking.check.healthy);
            }
            last_status = None;
        }
        if let Some((_, body)) = answer {
            let now = status(&body);
            if now.is_some() && now != last_status {
                if let Some(text) = &now {
                    notifier.status(text);
                }
                last_status = now;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use std::sync::Arc;

    fn notifier_to(path: &std::path::Path) -> Notifier {
        Notifier {
            socket: Some(open(path.as_os_str().as_encoded_bytes()).unwrap()),
            watchdog: Some(Duration::from_millis(50)),
        }
    }

    fn received(socket: &UnixDatagram) -> Vec<String> {
        socket.set_nonblocking(true).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = socket.recv(&mut buf) {
            out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        out
    }

    #[tokio::test]
    async fn the_watchdog_pings_only_while_the_service_answers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).unwrap();
        let notifier = Arc::new(notifier_to(&path));

        // A listener whose connections are accepted by the kernel but never answered: a hung
        // service. The probe times out and no ping goes out.
        let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let probe = Probe::new(hung.local_addr().unwrap(), "/");
        let dog = tokio::spawn(watchdog(
            notifier.clone(),
            Duration::from_millis(50),
            probe,
            |_| None,
            None,
        ));
        tokio::time::sleep(Duration::from_millis(400)).await;
        dog.abort();
        assert_eq!(received(&socket), Vec::<String>::new());

        // A service that answers: pings, and a STATUS line when the answer says something new.
        let addr = answering_ok().await;
        let dog = tokio::spawn(watchdog(
            notifier,
            Duration::from_millis(50),
            Probe::new(addr, "/"),
            |body| Some(String::from_utf8_lossy(body).into_owned()),
            None,
        ));
        tokio::time::sleep(Duration::from_millis(400)).await;
        dog.abort();
        let got = received(&socket);
        assert!(
            got.iter().filter(|m| *m == "WATCHDOG=1").count() >= 3,
            "{got:?}"
        );
        assert_eq!(
            got.iter().filter(|m| *m == "STATUS=ok").count(),
            1,
            "{got:?}"
        );
    }

    /// A service on loopback that answers every request `200 ok`.
    async fn answering_ok() -> std::net::SocketAddr {
        let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = live.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = live.accept().await {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    .await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_check_that_hangs_stops_the_pings_and_is_asked_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).unwrap();
        let addr = answering_ok().await;
        let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = asked.clone();
        let check = Check {
            what: "the store",
            run: Box::new(move || {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Box::pin(std::future::pending())
            }),
            healthy: "serving".into(),
        };
        let dog = tokio::spawn(watchdog(
            Arc::new(notifier_to(&path)),
            Duration::from_millis(50),
            Probe::new(addr, "/"),
            |_| None,
            Some(check),
        ));
        tokio::time::sleep(Duration::from_millis(400)).await;
        dog.abort();
        let got = received(&socket);
        assert!(!got.iter().any(|m| m == "WATCHDOG=1"), "{got:?}");
        assert_eq!(
            got,
            vec!["STATUS=the store does not answer: no answer within 50ms".to_owned()]
        );
        assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn without_notify_socket_nothing_is_sent_and_nothing_fails() {
        let notifier = Notifier::disabled();
        notifier.ready("serving");
        notifier.stopping();
        assert_eq!(notifier.watchdog_interval(), None);
    }

    #[test]
    fn a_status_stays_one_line() {
        assert_eq!(one_line("a\nREADY=1"), "a READY=1");
    }
}
