//! `urna station` and `urna registry serve`: one station, or the registry, run from its config
//! file until SIGTERM — what the systemd units start in production.

use std::path::Path;

use anyhow::{Context, Result};
use registry::{Registry, ServerConfig};
use station::StationKey;
use station::config::StationConfig;
use station::shutdown::shutdown_pair;
use tokio::net::TcpListener;

use crate::demo::wait_for_signal;

/// The register's file inside the registry's data directory (as `urna registry approve` reads it).
pub const REGISTER_FILE: &str = "register.db";

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Runs the station configured in `config_path` until Ctrl-C or SIGTERM.
pub async fn station(config_path: &Path) -> Result<()> {
    let config = StationConfig::from_toml(&read(config_path)?)
        .with_context(|| config_path.display().to_string())?;
    let key = StationKey::load(&config.key_file)?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listen = {} is not free", config.listen))?;
    tracing::info!(
        station = %config.station,
        addr = %config.listen,
        fingerprint = %key.fingerprint(),
        simulation = config.simulation,
        "station starting"
    );
    let (trigger, shutdown) = shutdown_pair();
    let mut running = tokio::spawn(station::runtime::run(config, key, listener, shutdown));
    tokio::select! {
        finished = &mut running => return Ok(finished??),
        () = wait_for_signal() => trigger.trigger(),
    }
    Ok(running.await??)
}

/// Runs the registry configured in `config_path` until Ctrl-C or SIGTERM.
pub async fn registry(config_path: &Path) -> Result<()> {
    let config = ServerConfig::from_toml(&read(config_path)?)
        .with_context(|| config_path.display().to_string())?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let registry = Registry::open(&config.data_dir.join(REGISTER_FILE), config.registry())?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listen = {} is not free", config.listen))?;
    registry::serve(listener, registry, wait_for_signal())
        .await
        .context("registry server")
}
