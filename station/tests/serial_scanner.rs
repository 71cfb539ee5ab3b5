//! The serial scanner task against real pseudo-terminals: the test writes to the pty's master
//! side as a scanner would, the task reads the slave side through a symlink that stands in for
//! `/dev/serial/by-id/…`, and unplugging is closing the master.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
use station::devices::Input;
use station::devices::serial_scanner::{Parity, ScannerStats, SerialScannerConfig, run};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::timeout;

/// Longest any one step may take before the test fails instead of hanging.
const STEP: Duration = Duration::from_secs(5);

/// One pseudo-terminal: the scanner's end (master) and the station's end (slave, by path).
struct Pty {
    master: std::fs::File,
    /// Held open so the slave's raw mode is set before the task opens it.
    _slave: OwnedFd,
    path: PathBuf,
}

fn pty() -> Pty {
    let pair = nix::pty::openpty(None, None).unwrap();
    // Raw from the start: a cooked line discipline would turn CR into LF and echo bytes back
    // before the task gets to set raw mode itself.
    let mut termios = tcgetattr(&pair.slave).unwrap();
    cfmakeraw(&mut termios);
    tcsetattr(&pair.slave, SetArg::TCSANOW, &termios).unwrap();
    let path = std::fs::read_link(format!("/proc/self/fd/{}", pair.slave.as_raw_fd())).unwrap();
    Pty {
        master: std::fs::File::from(pair.master),
        _slave: pair.slave,
        path,
    }
}

impl Pty {
    fn write(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).unwrap();
        self.master.flush().unwrap();
    }
}

/// Points the stable path at `target`, atomically, as udev does with `/dev/serial/by-id`.
fn point(link: &Path, target: &Path) {
    let tmp = link.with_extension("new");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).unwrap();
    std::fs::rename(&tmp, link).unwrap();
}

/// How many of this process's descriptors are open on `path`.
fn open_count(path: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target == path)
        .count()
}

/// Waits until the task has the pty open (the test's own descriptor is one).
async fn wait_open(pty: &Pty) {
    timeout(STEP, async {
        while open_count(&pty.path) < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the scanner task never opened the port");
}

struct Running {
    inputs: mpsc::Receiver<Input>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<ScannerStats, station::config::ConfigError>>,
}

fn start(config: SerialScannerConfig) -> Running {
    let (tx, inputs) = mpsc::channel(64);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(run(config, tx, async move {
        let _ = stopped.await;
    }));
    Running { inputs, stop, task }
}

impl Running {
    async fn next(&mut self) -> Input {
        timeout(STEP, self.inputs.recv())
            .await
            .expect("no input in time")
            .expect("task ended")
    }

    async fn scanned(&mut self) -> String {
        match self.next().await {
            Input::Scanned(text) => text,
            other => panic!("expected a code, got {other:?}"),
        }
    }

    /// Stops the task; checks nothing was left unread; returns its counts.
    async fn finish(mut self) -> ScannerStats {
        self.stop.send(()).unwrap();
        let stats = timeout(STEP, self.task)
            .await
            .expect("no clean stop")
            .unwrap()
            .unwrap();
        assert_eq!(self.inputs.recv().await, None, "inputs left unread");
        stats
    }
}

fn config(link: &Path) -> SerialScannerConfig {
    SerialScannerConfig {
        reconnect_min_ms: 10,
        reconnect_max_ms: 80,
        ..SerialScannerConfig::new(link)
    }
}

/// A stable path in a fresh directory, pointed at `pty`.
fn by_id(pty: &Pty) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("usb-Honeywell_Scanner_1234-if00");
    point(&link, &pty.path);
    (dir, link)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_split_across_writes_and_cr_lf_are_one_code_each() {
    let mut pty = pty();
    let (_dir, link) = by_id(&pty);
    let mut scanner = start(SerialScannerConfig {
        aim_ids: true,
        ..config(&link)
    });
    wait_open(&pty).await;

    for piece in [
        &b"]Q"[..],
        b"1GKM.62",
        b"20.12.2020\r",
        b"\n]C0GW7K-",
        b"000017\r\n",
    ] {
        pty.write(piece);
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    assert_eq!(scanner.scanned().await, "GKM.6220.12.2020");
    assert_eq!(scanner.scanned().await, "GW7K-000017");
    // Every terminator, and CR LF as one: no empty codes in between.
    pty.write(b"A\rB\nC\r\nD\tE\r\n\r\n");
    for expected in ["A", "B", "C", "D", "E"] {
        assert_eq!(scanner.scanned().await, expected);
    }
    // A character split between two writes.
    pty.write("Łó".as_bytes().split_at(3).0);
    tokio::time::sleep(Duration::from_millis(15)).await;
    pty.write(&"Łódź\r".as_bytes()[3..]);
    assert_eq!(scanner.scanned().await, "Łódź");

    let stats = scanner.finish().await;
    assert_eq!(stats.decoder.codes, 8);
    assert_eq!(stats.decoder.skipped_codes, 0);
    assert_eq!((stats.opened, stats.gone), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_bursts_are_counted_and_the_next_code_decodes() {
    let mut pty = pty();
    let (_dir, link) = by_id(&pty);
    let mut scanner = start(config(&link));
    wait_open(&pty).await;

    // Line noise as a wrong baud rate makes it: invalid UTF-8, NUL bytes, stray terminators.
    let burst: &[u8] = b"\xff\xfe\r\0\0A\n\xc5\t\r\n";
    for _ in 0..1000 {
        pty.write(burst);
    }
    pty.write(b"GOOD\r\n");
    assert_eq!(scanner.scanned().await, "GOOD");

    let stats = scanner.finish().await;
    assert_eq!(stats.decoder.codes, 1);
    assert_eq!(stats.decoder.invalid_utf8, 2000);
    assert_eq!(stats.decoder.nul_byte, 1000);
    assert_eq!(stats.decoder.skipped_bytes, 1000 * (2 + 3 + 1));
    assert_eq!(stats.gone, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_without_a_terminator_is_skipped_once_then_codes_flow() {
    let pty = pty();
    let (_dir, link) = by_id(&pty);
    // A long idle limit, so the megabyte counts as one too-long code however the pty paces it.
    let mut scanner = start(SerialScannerConfig {
        max_len: 1024,
        idle_timeout_ms: 30_000,
        ..config(&link)
    });
    wait_open(&pty).await;

    // The pty holds only a few kilobytes, so the writer blocks until the task reads: a thread.
    let mut master = pty.master.try_clone().unwrap();
    let writer = tokio::task::spawn_blocking(move || {
        for _ in 0..256 {
            master.write_all(&[b'x'; 4096]).unwrap();
        }
        master.write_all(b"\r\nAFTER\r\n").unwrap();
    });
    assert_eq!(scanner.scanned().await, "AFTER");
    timeout(STEP, writer).await.unwrap().unwrap();

    let stats = scanner.finish().await;
    assert_eq!(stats.decoder.too_long, 1);
    assert_eq!(stats.decoder.skipped_bytes, 1 << 20);
    assert_eq!(stats.decoder.bytes_in, (1 << 20) + 9);
    assert_eq!(stats.decoder.codes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_a_code_is_dropped_when_the_line_goes_idle() {
    let mut pty = pty();
    let (_dir, link) = by_id(&pty);
    let mut scanner = start(SerialScannerConfig {
        idle_timeout_ms: 50,
        ..config(&link)
    });
    wait_open(&pty).await;

    pty.write(b"HALF");
    tokio::time::sleep(Duration::from_millis(300)).await;
    pty.write(b"WHOLE\r");
    assert_eq!(scanner.scanned().await, "WHOLE");
    let stats = scanner.finish().await;
    assert_eq!(
        (stats.decoder.incomplete, stats.decoder.skipped_bytes),
        (1, 4)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplug_and_replug_are_told_once_each_and_codes_flow_again() {
    let mut first = pty();
    let (_dir, link) = by_id(&first);
    let mut scanner = start(config(&link));
    wait_open(&first).await;
    first.write(b"BEFORE\r\n");
    assert_eq!(scanner.scanned().await, "BEFORE");

    // Unplugged: udev removes the by-id link and the device closes.
    point(&link, &link.with_extension("gone"));
    drop(first);
    assert_eq!(scanner.next().await, Input::ScannerConnected(false));
    // Several reconnect attempts fail meanwhile; none is reported again.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut second = pty();
    point(&link, &second.path);
    assert_eq!(scanner.next().await, Input::ScannerConnected(true));
    second.write(b"]Q1AFTER\r\n");
    assert_eq!(scanner.scanned().await, "]Q1AFTER");

    let stats = scanner.finish().await;
    assert_eq!((stats.opened, stats.gone), (2, 1));
    assert!(stats.open_failures >= 2, "{stats:?}");
    // Declared gone after a run of failed reads, not at the first.
    assert_eq!(stats.failed_reads, 3, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scanner_missing_at_start_is_reported_then_found() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("usb-Zebra_DS2208-if00");
    let mut scanner = start(config(&link));
    assert_eq!(scanner.next().await, Input::ScannerConnected(false));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut pty = pty();
    point(&link, &pty.path);
    assert_eq!(scanner.next().await, Input::ScannerConnected(true));
    pty.write(b"FOUND\r");
    assert_eq!(scanner.scanned().await, "FOUND");
    let stats = scanner.finish().await;
    assert_eq!((stats.opened, stats.gone), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parity_and_stop_bits_from_config_open_the_port() {
    let mut pty = pty();
    let (_dir, link) = by_id(&pty);
    let config = SerialScannerConfig {
        baud: 115_200,
        parity: Parity::Even,
        data_bits: 7,
        stop_bits: 2,
        ..config(&link)
    };
    let mut scanner = start(config);
    wait_open(&pty).await;
    pty.write(b"7E2\r");
    assert_eq!(scanner.scanned().await, "7E2");
    scanner.finish().await;
}

#[tokio::test]
async fn a_bad_config_is_refused_before_any_port_is_touched() {
    let (tx, _rx) = mpsc::channel(1);
    let bad = SerialScannerConfig {
        baud: 0,
        ..SerialScannerConfig::new("/dev/ttyACM0")
    };
    let err = timeout(STEP, run(bad, tx, std::future::pending::<()>()))
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.key, "scanner.baud");
}

#[test]
fn config_defaults_unknown_keys_and_ranges_name_the_key() {
    let path = "/dev/serial/by-id/usb-Honeywell_Scanner_1234-if00";
    let parsed = SerialScannerConfig::from_toml(&format!("path = \"{path}\"")).unwrap();
    assert_eq!(parsed, SerialScannerConfig::new(path));
    assert_eq!(parsed.baud, 9600);
    assert_eq!(parsed.max_len, 4 * station::workflow::MAX_SCAN_CHARS);

    let full = format!(
        "path = \"{path}\"\nbaud = 19200\nparity = \"odd\"\ndata_bits = 7\nstop_bits = 2\n\
         aim_ids = true\nmax_len = 300\nidle_timeout_ms = 200\nreconnect_min_ms = 100\n\
         reconnect_max_ms = 5000\nfailures_before_gone = 5\n"
    );
    let full = SerialScannerConfig::from_toml(&full).unwrap();
    assert_eq!(
        (full.parity, full.aim_ids, full.failures_before_gone),
        (Parity::Odd, true, 5)
    );

    let unknown =
        SerialScannerConfig::from_toml(&format!("path = \"{path}\"\nbaudrate = 9600")).unwrap_err();
    assert!(unknown.problem.contains("baudrate"), "{unknown}");
    let parity = SerialScannerConfig::from_toml(&format!("path = \"{path}\"\nparity = \"mark\""))
        .unwrap_err();
    assert!(parity.problem.contains("mark"), "{parity}");

    for (extra, key) in [
        ("baud = 10", "scanner.baud"),
        ("data_bits = 9", "scanner.data_bits"),
        ("stop_bits = 3", "scanner.stop_bits"),
        ("max_len = 0", "scanner.max_len"),
        ("max_len = 10000000", "scanner.max_len"),
        ("idle_timeout_ms = 0", "scanner.idle_timeout_ms"),
        ("reconnect_min_ms = 0", "scanner.reconnect_min_ms"),
        (
            "reconnect_min_ms = 500\nreconnect_max_ms = 100",
            "scanner.reconnect_max_ms",
        ),
        ("failures_before_gone = 0", "scanner.failures_before_gone"),
    ] {
        let err =
            SerialScannerConfig::from_toml(&format!("path = \"{path}\"\n{extra}")).unwrap_err();
        assert_eq!(err.key, key, "{extra}");
        assert!(err.to_string().contains(key), "{err}");
    }
    let relative = SerialScannerConfig::from_toml("path = \"ttyACM0\"").unwrap_err();
    assert_eq!(relative.key, "scanner.path");
}
