//! `urna registry serve` and `urna station` under a `Type=notify` unit, as systemd runs them: a
//! Unix datagram socket in NOTIFY_SOCKET, WATCHDOG_USEC set. READY=1 comes only once the port
//! answers, WATCHDOG=1 keeps coming while it does, STOPPING=1 on SIGTERM; without NOTIFY_SOCKET
//! (or with a socket nobody listens on) the services run and stop as before.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod processes;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use processes::{free_port, kiosk_config};

/// Whether an HTTP request to the port gets an answer (any status).
fn answers(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    if stream
        .write_all(b"GET /api/status HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 ")
}

fn registry_config(root: &Path, port: u16) -> std::path::PathBuf {
    let path = root.join("registry.toml");
    std::fs::write(
        &path,
        format!(
            r#"listen = "127.0.0.1:{port}"
data_dir = "{}"
default_department = "Kancelaria ogólna"

[[categories]]
id = "inne"
name_pl = "Inne sprawy"
name_en = "Other matters"
department = "Kancelaria ogólna"
"#,
            root.join("registry").display()
        ),
    )
    .unwrap();
    path
}

/// The process, killed if the test fails before it is stopped.
struct Service(Child);

impl Service {
    fn sigterm(&self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.0.id()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    }

    fn wait(mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "it did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str], env: &[(&str, &str)], log: &Path) -> Service {
    let mut command = Command::new(env!("CARGO_BIN_EXE_urna"));
    command
        .args(args)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    for (k, v) in env {
        command.env(k, v);
    }
    Service(command.spawn().unwrap())
}

/// Every datagram that arrives on `socket`, with whether the port answered right after it.
fn listen(socket: UnixDatagram, port: u16) -> mpsc::Receiver<(String, bool, Instant)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = socket.recv(&mut buf) {
            let message = String::from_utf8_lossy(&buf[..n]).into_owned();
            let serving = message.lines().any(|l| l == "READY=1") && answers(port);
            if tx.send((message, serving, Instant::now())).is_err() {
                return;
            }
        }
    });
    rx
}

fn next(rx: &mpsc::Receiver<(String, bool, Instant)>, log: &Path) -> (String, bool, Instant) {
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| {
            panic!(
                "no notification within 30 s; the service's log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        })
}

/// Runs one service under a notify socket and checks the whole conversation.
fn notifies_systemd(args: &[&str], port: u16, root: &Path, name: &str) {
    let socket_path = root.join(format!("{name}.notify"));
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let log = root.join(format!("{name}.log"));
    let started = Instant::now();
    let service = start(
        args,
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            // A ping every 0.5 s: the test sees several in a few seconds.
            ("WATCHDOG_USEC", "1000000"),
        ],
        &log,
    );
    let messages = listen(socket, port);

    // STATUS lines may come first; the first READY=1 comes when the port already answers.
    let ready_at = loop {
        let (message, serving, at) = next(&messages, &log);
        assert!(!message.contains("WATCHDOG=1"), "a ping before READY=1");
        if message.lines().any(|l| l == "READY=1") {
            assert!(serving, "READY=1 while the port does not answer");
            assert!(
                message
                    .lines()
                    .any(|l| l.starts_with("STATUS=") && l.contains(&format!("127.0.0.1:{port}"))),
                "{message}"
            );
            break at;
        }
        assert!(message.starts_with("STATUS="), "{message:?}");
    };
    assert!(ready_at - started < Duration::from_secs(30));

    // The watchdog keeps being fed, about every 0.5 s.
    let mut pings = Vec::new();
    while pings.len() < 4 {
        let (message, _, at) = next(&messages, &log);
        if message == "WATCHDOG=1" {
            pings.push(at);
        }
    }
    for pair in pings.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap < Duration::from_millis(1000), "pings {gap:?} apart");
    }

    service.sigterm();
    loop {
        let (message, _, _) = next(&messages, &log);
        if message.lines().any(|l| l == "STOPPING=1") {
            break;
        }
    }
    let status = service.wait();
    assert!(
        status.success(),
        "{status}: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[test]
fn the_registry_tells_systemd_it_is_ready_alive_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = registry_config(dir.path(), port);
    notifies_systemd(
        &["registry", "serve", "--config", config.to_str().unwrap()],
        port,
        dir.path(),
        "registry",
    );
}

#[test]
fn the_station_tells_systemd_it_is_ready_alive_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = kiosk_config(dir.path(), port);
    notifies_systemd(
        &["station", "--config", config.to_str().unwrap()],
        port,
        dir.path(),
        "station",
    );
}

#[test]
fn without_a_listening_notify_socket_the_services_run_and_stop_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (registry_port, station_port) = (free_port(), free_port());
    let registry_config = registry_config(root, registry_port);
    let station_config = kiosk_config(root, station_port);
    let nobody = root.join("nobody-listens.notify");
    for (env, name) in [
        (vec![], "plain"),
        (
            vec![
                ("NOTIFY_SOCKET", nobody.to_str().unwrap()),
                ("WATCHDOG_USEC", "1000000"),
            ],
            "dead-socket",
        ),
    ] {
        let registry = start(
            &[
                "registry",
                "serve",
                "--config",
                registry_config.to_str().unwrap(),
            ],
            &env,
            &root.join(format!("registry-{name}.log")),
        );
        let station = start(
            &["station", "--config", station_config.to_str().unwrap()],
            &env,
            &root.join(format!("station-{name}.log")),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while !(answers(registry_port) && answers(station_port)) {
            assert!(Instant::now() < deadline, "{name}: not serving");
            std::thread::sleep(Duration::from_millis(50));
        }
        // Past a few watchdog intervals: failing sends must not stop anything.
        std::thread::sleep(Duration::from_millis(1500));
        assert!(answers(registry_port) && answers(station_port), "{name}");
        for service in [station, registry] {
            service.sigterm();
            assert!(service.wait().success(), "{name}");
        }
    }
}

/// Waits for the first notification `wanted` accepts, and returns it.
fn wait_for(
    rx: &mpsc::Receiver<(String, bool, Instant)>,
    log: &Path,
    wanted: impl Fn(&str) -> bool,
) -> String {
    loop {
        let (message, _, _) = next(rx, log);
        if wanted(&message) {
            return message;
        }
    }
}

#[test]
fn the_registry_feeds_the_watchdog_only_while_its_register_can_take_a_write() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let port = free_port();
    let config = registry_config(root, port);
    let socket_path = root.join("registry.notify");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let log = root.join("registry.log");
    let service = start(
        &["registry", "serve", "--config", config.to_str().unwrap()],
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "1000000"),
        ],
        &log,
    );
    let messages = listen(socket, port);
    wait_for(&messages, &log, |m| m == "WATCHDOG=1");

    // Another program holds the register's write lock, as an admin's `sqlite3` left inside a
    // transaction would: no push could be stored.
    let other = rusqlite::Connection::open(root.join("registry").join("register.db")).unwrap();
    other.busy_timeout(Duration::from_secs(10)).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    // The register's own error, once its busy timeout ran out, says why in `systemctl status`.
    // The question that got it was asked under the lock, and the next one is asked only after
    // it: no ping can follow until the lock is gone.
    let why = wait_for(&messages, &log, |m| {
        m.starts_with("STATUS=the register does not answer") && m.contains("locked")
    });
    assert!(!why.contains(root.to_str().unwrap()), "{why}");
    let quiet_until = Instant::now() + Duration::from_secs(2);
    while let Some(left) = quiet_until.checked_duration_since(Instant::now()) {
        if let Ok((message, _, _)) = messages.recv_timeout(left) {
            assert_ne!(message, "WATCHDOG=1", "a ping while the register is locked");
        }
    }
    // The HTTP server itself answers all along: only the register is stuck.
    assert!(answers(port), "the HTTP server stopped answering");

    // Lock released: the pings come back, and so does the serving line.
    other.execute_batch("ROLLBACK").unwrap();
    wait_for(&messages, &log, |m| m == "WATCHDOG=1");
    wait_for(&messages, &log, |m| {
        m.starts_with("STATUS=registry serving on")
    });

    service.sigterm();
    let status = service.wait();
    assert!(
        status.success(),
        "{status}: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}
