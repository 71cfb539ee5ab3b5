//! Running one station: opens its log, starts its workflow, the sync to the registry and its web
//! pages, and stops them all on shutdown.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::config::{Role, StationConfig};
use crate::custody_log::CustodyLog;
use crate::devices::sim_lamp::SimLamp;
use crate::devices::sim_printer::SimPrinter;
use crate::devices::{Lamp, Printer};
use crate::error::{Error, Result, io};
use crate::keys::StationKey;
use crate::kiosk::{self, KioskView};
use crate::mailroom::{self, MailroomView};
use crate::shared_log::SharedLog;
use crate::shutdown::Shutdown;
use crate::sync::{self, SyncStatus};
use crate::web::{self, WebState};

/// The custody log's file name inside the station's data directory.
pub const LOG_FILE: &str = "custody.db";
/// Where the simulated printer puts its labels, inside the data directory.
pub const LABELS_DIR: &str = "labels";

/// Runs the station on `listener` until `shutdown`.
pub async fn run(
    config: StationConfig,
    key: StationKey,
    listener: TcpListener,
    shutdown: Shutdown,
) -> Result<()> {
    if !config.simulation {
        // The Pi's device backends arrive with the field-inputs and printer issues; until then a
        // station without simulation would take deposits it cannot receipt.
        return Err(Error::NotALog {
            path: config.data_dir.clone(),
            detail: "only simulated hardware is available in this build; set simulation = true"
                .into(),
        });
    }
    let config = Arc::new(config);
    std::fs::create_dir_all(&config.data_dir).map_err(io(&config.data_dir))?;
    let log_path = config.data_dir.join(LOG_FILE);
    let station = config.station;
    let log = tokio::task::spawn_blocking(move || CustodyLog::open(&log_path, station, key))
        .await
        .map_err(|e| Error::Io {
            path: config.data_dir.clone(),
            source: std::io::Error::other(e.to_string()),
        })??;
    let log = SharedLog::new(log);
    let labels = config.data_dir.join(LABELS_DIR);
    let sim_printer = Arc::new(SimPrinter::new(labels.clone()).map_err(io(&labels))?);
    let sim_lamp = Arc::new(SimLamp::default());

    let (commands_tx, commands_rx) = mpsc::channel(64);
    let (sync_tx, sync_rx) = watch::channel(SyncStatus::default());
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(sync::run(
        log.clone(),
        config.station,
        config.registry_url.clone(),
        sync_tx,
        shutdown.clone(),
    ));
    let (kiosk_view, mailroom_view) = match config.role {
        Role::Urn => {
            let (tx, rx) = watch::channel(KioskView::initial());
            let printer: Arc<dyn Printer> = sim_printer.clone();
            let lamp: Arc<dyn Lamp> = sim_lamp.clone();
            tasks.spawn(kiosk::run(
                config.clone(),
                log.clone(),
                printer,
                lamp,
                commands_rx,
                tx,
                shutdown.clone(),
            ));
            (Some(rx), None)
        }
        Role::Mailroom => {
            let (tx, rx) = watch::channel(MailroomView::default());
            tasks.spawn(mailroom::run(
                config.clone(),
                log.clone(),
                commands_rx,
                tx,
                shutdown.clone(),
            ));
            (None, Some(rx))
        }
    };
    let state = WebState {
        config: config.clone(),
        commands: commands_tx,
        kiosk: kiosk_view,
        mailroom: mailroom_view,
        sync: sync_rx,
        sim_printer: Some(sim_printer),
        sim_lamp: Some(sim_lamp),
    };
    let served = axum::serve(listener, web::app(state))
        .with_graceful_shutdown(shutdown.clone().wait())
        .await;
    // The workflow and the sync stop on the same signal; wait so the log is closed cleanly
    // (its checkpoint written) before returning.
    while tasks.join_next().await.is_some() {}
    drop(log);
    served.map_err(io("station web server"))
}
