//! The registry's open device alerts (a printer out of paper, a full urn, a door opened outside
//! a collection), fetched for the mailroom's screen: the staff who refill printers and empty urns
//! learn of it where they work, from any urn of the office.

use std::time::Duration;

use records::api::{AlertKind, DeviceAlerts};
use serde::Serialize;
use tokio::sync::watch;

use crate::clock;
use crate::shutdown::Shutdown;
use crate::signed_client::SignedClient;

/// How often the registry is asked. One small GET per mailroom station: nothing for the
/// registry, and soon enough for a resident waiting at an urn with no paper.
pub const POLL: Duration = Duration::from_secs(3);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// One alert as the mailroom screen shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertLine {
    /// The station's code.
    pub station: String,
    /// The station's name.
    pub station_name: String,
    /// Fault (clears by itself) or alarm (stays until dealt with).
    pub kind: AlertKind,
    /// What is wrong, Polish.
    pub text_pl: String,
    /// What is wrong, English.
    pub text_en: String,
    /// Since when, local time.
    pub since: String,
}

/// What the mailroom knows of the office's devices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AlertsView {
    /// Whether the last request reached the registry; when not, `alerts` is the last known list.
    pub reachable: bool,
    /// The open alerts, oldest first.
    pub alerts: Vec<AlertLine>,
}

/// Turns the registry's answer into screen lines.
pub fn lines(answer: &DeviceAlerts) -> Vec<AlertLine> {
    answer
        .alerts
        .iter()
        .map(|alert| {
            let (text_pl, text_en) = alert.phrase();
            AlertLine {
                station: alert.station.clone(),
                station_name: alert.station_name.clone(),
                kind: alert.kind,
                text_pl,
                text_en,
                since: clock::local_text(alert.since),
            }
        })
        .collect()
}

/// Asks the registry for its alerts every [`POLL`] until `shutdown`, publishing each change.
pub async fn run(client: SignedClient, out: watch::Sender<AlertsView>, shutdown: Shutdown) {
    loop {
        let fetched = fetch(&client).await;
        out.send_if_modified(|view| {
            let next = match &fetched {
                Ok(answer) => AlertsView {
                    reachable: true,
                    alerts: lines(answer),
                },
                Err(_) => AlertsView {
                    reachable: false,
                    alerts: view.alerts.clone(),
                },
            };
            if *view == next {
                return false;
            }
            *view = next;
            true
        });
        if let Err(e) = fetched {
            tracing::debug!("alerts: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = shutdown.clone().wait() => return,
        }
    }
}

async fn fetch(client: &SignedClient) -> Result<DeviceAlerts, String> {
    let response = client.get("/api/alerts", Some(REQUEST_TIMEOUT)).await?;
    if !response.status().is_success() {
        return Err(format!("registry answered {}", response.status()));
    }
    // Bounded: a list this long is not one the registry meant to send.
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if body.len() > 1024 * 1024 {
        return Err(format!("alert list of {} bytes refused", body.len()));
    }
    serde_json::from_slice(&body).map_err(|e| format!("alert list unreadable: {e}"))
}
