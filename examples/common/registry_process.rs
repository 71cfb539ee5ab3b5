//! What the examples that measure a registry share: `urna registry serve` run as its own
//! process (so that its CPU time and memory are its own), on a free port, stopped with SIGTERM,
//! and its peak memory read from /proc.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};

/// The `n`-th command-line argument as a number, or `default` when absent.
pub fn arg<T: std::str::FromStr>(n: usize, default: T) -> Result<T> {
    match std::env::args().nth(n) {
        Some(text) => text
            .parse()
            .ok()
            .with_context(|| format!("argument {n} ({text:?}) is not a number")),
        None => Ok(default),
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Starts `urna registry serve` with the packaged example's departments and categories, on
/// `port`, keeping its register in `dir`.
pub fn start_registry(urna: &Path, dir: &Path, port: u16) -> Result<Child> {
    let example = std::fs::read_to_string("packaging/etc/registry.toml")?;
    let text: String = example
        .lines()
        .map(|line| {
            if line.starts_with("listen") {
                format!("listen = \"127.0.0.1:{port}\"")
            } else if line.starts_with("data_dir") {
                format!("data_dir = \"{}\"", dir.display())
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let config = dir.join("registry.toml");
    std::fs::write(&config, text)?;
    Command::new(urna)
        .args(["registry", "serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting urna registry serve")
}

/// Asks process `pid` to stop (SIGTERM).
pub fn terminate(pid: u32) -> nix::Result<()> {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
}

/// The peak resident memory of process `pid` so far, in KiB (VmHWM).
pub fn peak_rss_kb(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .context("no VmHWM in /proc/PID/status")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("VmHWM without a number")?
        .parse()?)
}
