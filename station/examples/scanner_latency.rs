//! Time from a code's last byte on a pseudo-terminal to the station seeing it as an input,
//! over 1,000 codes: `cargo run --release -p station --example scanner_latency`.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
use station::devices::Input;
use station::devices::serial_scanner::{SerialScannerConfig, run};

const CODES: usize = 1000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pair = nix::pty::openpty(None, None)?;
    let mut termios = tcgetattr(&pair.slave)?;
    cfmakeraw(&mut termios);
    tcsetattr(&pair.slave, SetArg::TCSANOW, &termios)?;
    let slave = std::fs::read_link(format!("/proc/self/fd/{}", pair.slave.as_raw_fd()))?;
    let mut scanner = std::fs::File::from(pair.master);

    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run(SerialScannerConfig::new(slave), tx, async move {
        let _ = stopped.await;
    }));
    // Let the task open the port before timing anything.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut latencies = Vec::with_capacity(CODES);
    for i in 0..CODES {
        let code = format!("GKM.6220.{i}.2020\r\n");
        let sent = Instant::now();
        scanner.write_all(code.as_bytes())?;
        loop {
            match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await? {
                Some(Input::Scanned(text)) if code.trim_end() == text => break,
                Some(_) => continue,
                None => return Err("the scanner task stopped".into()),
            }
        }
        latencies.push(sent.elapsed());
    }
    let _ = stop.send(());
    let _ = task.await;
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "{CODES} codes: p50 {:?}, p99 {:?}, max {:?}",
        at(0.50),
        at(0.99),
        latencies[latencies.len() - 1]
    );
    Ok(())
}
