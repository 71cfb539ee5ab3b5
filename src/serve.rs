//! `urna station` and `urna registry serve`: one station, or the registry, run from its config
//! file until SIGTERM — what the systemd units start in production.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use registry::{Registry, ServerConfig};
use station::StationKey;
use station::config::StationConfig;
use station::shutdown::shutdown_pair;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::demo::wait_for_signal;
use crate::systemd::{self, Check, Notifier, Probe};

/// The register's file inside the registry's data directory (as `urna registry approve` reads it).
pub const REGISTER_FILE: &str = "register.db";

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// Runs the station configured in `config_path` until Ctrl-C or SIGTERM, telling systemd when it
/// serves and, while it answers on its port, that it is alive.
pub async fn station(config_path: &Path) -> Result<()> {
    let notifier = Arc::new(Notifier::from_env());
    notifier.status("starting: opening the custody log");
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
    // The station's pages answer only once its log is open and its workflow runs: the same
    // request proves readiness, then liveness.
    let probe = Probe::new(config.listen, "/api/status");
    let serving = format!("station {} serving on {}", config.station, config.listen);
    let (trigger, shutdown) = shutdown_pair();
    let running = tokio::spawn(station::runtime::run(config, key, listener, shutdown));
    supervise(
        running,
        notifier,
        probe,
        serving,
        station_status,
        None,
        move || trigger.trigger(),
    )
    .await
}

/// The station's sync, from its `/api/status`, as a line for `systemctl status`.
fn station_status(body: &[u8]) -> Option<String> {
    let status: serde_json::Value = serde_json::from_slice(body).ok()?;
    let sync = &status["sync"];
    Some(match sync["last_error"].as_str() {
        Some(error) if sync["connected"] != true => format!("events not synced: {error}"),
        _ => format!(
            "registry holds every event up to seq {}",
            sync["acknowledged"].as_u64().unwrap_or(0)
        ),
    })
}

/// Runs the registry configured in `config_path` until Ctrl-C or SIGTERM, with the same
/// notifications as the station.
pub async fn registry(config_path: &Path) -> Result<()> {
    let notifier = Arc::new(Notifier::from_env());
    notifier.status("starting: opening the register");
    let config = ServerConfig::from_toml(&read(config_path)?)
        .with_context(|| config_path.display().to_string())?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let registry = Registry::open(&config.data_dir.join(REGISTER_FILE), config.registry())?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listen = {} is not free", config.listen))?;
    // The residents' status form: public (no clerk session to hold, no refusal logged) and cheap.
    // An answer means the accept loop and a runtime worker move, nothing more: no public GET
    // reads the register, and none should be made to (a public route's answer must not carry
    // the register's paths or errors). The register is asked in-process instead, on the
    // connection and lock pushes are stored through: it must be able to take its write lock
    // within the probe's time (a hung writer, a disk that no longer answers, another program
    // holding the file's write lock). Until it can, no ping: systemd restarts the registry after
    // WatchdogSec, and `systemctl status` says why. A write held longer than WatchdogSec would
    // count as a hang too; ingest's commits take milliseconds.
    let probe = Probe::new(config.listen, "/status");
    let serving = format!("registry serving on {}", config.listen);
    let register = registry.clone();
    let check = Check {
        what: "the register",
        run: Box::new(move || {
            let register = register.clone();
            Box::pin(async move { register.probe_store().await.map_err(|e| e.to_string()) })
        }),
        healthy: serving.clone(),
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        registry::serve(listener, registry, async move {
            let _ = stop_rx.await;
        })
        .await
        .context("registry server")
    });
    supervise(
        running,
        notifier,
        probe,
        serving,
        |_| None,
        Some(check),
        move || {
            let _ = stop_tx.send(());
        },
    )
    .await
}

/// Waits for the service in `running` to answer `probe`, says READY=1, pings the watchdog while
/// it answers (and `check` passes), and on Ctrl-C or SIGTERM says STOPPING=1, calls `stop` and
/// waits for it to end.
async fn supervise<E>(
    mut running: JoinHandle<std::result::Result<(), E>>,
    notifier: Arc<Notifier>,
    probe: Probe,
    serving: String,
    status: fn(&[u8]) -> Option<String>,
    check: Option<Check>,
    stop: impl FnOnce(),
) -> Result<()>
where
    anyhow::Error: From<E>,
{
    let signal = wait_for_signal();
    tokio::pin!(signal);
    tokio::select! {
        finished = &mut running => return Ok(finished??),
        () = &mut signal => {
            notifier.stopping();
            stop();
            return Ok(running.await??);
        }
        () = probe.answered() => {}
    }
    tracing::info!("{serving}");
    notifier.ready(&serving);
    let watchdog = notifier.watchdog_interval().map(|every| {
        tokio::spawn(systemd::watchdog(
            notifier.clone(),
            every,
            probe,
            status,
            check,
        ))
    });
    let finished = tokio::select! {
        finished = &mut running => Some(finished),
        () = &mut signal => None,
    };
    if let Some(dog) = watchdog {
        dog.abort();
    }
    let finished = match finished {
        Some(finished) => finished,
        None => {
            notifier.stopping();
            stop();
            running.await
        }
    };
    Ok(finished??)
}
