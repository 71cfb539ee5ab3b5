//! Prometheus metrics of one station at `GET /metrics` (OpenMetrics text, through
//! `prometheus-client`), for the office's IT admin: what its custody log took in (deposits,
//! labels and receipts printed, device faults), the scanner's reads, how far the registry holds
//! the log (backlog, the age of the last acknowledgement), and, read at scrape time from where
//! they live, the printer's state, the urn's fill level, the mailroom's open holds, the door and
//! whether the clock is trusted.
//!
//! The log's figures are counted as events are committed ([`LogCounters`], fed by
//! [`crate::shared_log::SharedLog`]): counting them in the log at every scrape would hold the log
//! from deposits. Counters start at zero with the process, as Prometheus expects.
//!
//! Labels are closed sets (event and device names, channels); no intake id, reference or badge.
//! Who may read it: loopback and the addresses in `[metrics] allow`, by the peer address; anyone
//! else gets 403.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use axum::Router;
use axum::extract::rejection::ExtensionRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry as Families;
use records::{Event, Payload};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::devices::PrinterStatus;
use crate::kiosk::KioskView;
use crate::mailroom::MailroomView;
use crate::shared_log::SharedLog;
use crate::sync::SyncStatus;

/// The OpenMetrics text format, which Prometheus asks for first and reads.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every metric's name starts with it.
const PREFIX: &str = "urna_station";

/// `[metrics]`: who may read `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Addresses besides loopback that may read `/metrics` (the office's monitoring host), e.g.
    /// `["192.0.2.10"]`; anyone else gets 403. The peer address decides (the station has no
    /// proxy in front).
    #[serde(default)]
    pub allow: Vec<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ChannelLabels {
    channel: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ItemLabels {
    item: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct FaultLabels {
    device: String,
    fault: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

/// Longest fault name kept as a label: the station's own names are short; anything longer is cut.
const MAX_FAULT_LABEL: usize = 48;

/// What the custody log has taken in since start, and where it stands; kept by
/// [`SharedLog`] as it commits.
#[derive(Debug)]
pub struct LogCounters {
    families: Families,
    deposits: Family<ChannelLabels, Counter>,
    printed: Family<ItemLabels, Counter>,
    faults: Family<FaultLabels, Counter>,
    last_seq: AtomicU64,
    acknowledged: AtomicU64,
    // Unix ms of the registry's last acknowledgement in this run; 0 before the first.
    acknowledged_at_ms: AtomicI64,
    // -1 unknown (no door event in the log), 0 closed, 1 open.
    door: AtomicI64,
}

impl LogCounters {
    /// Counters for a log whose tip is `last_seq`, acknowledged up to `acknowledged`, its door
    /// last seen open or closed (`None`: no door event yet).
    pub fn new(last_seq: u64, acknowledged: u64, door_open: Option<bool>) -> LogCounters {
        let mut families = Families::with_prefix(PREFIX);
        let deposits = Family::<ChannelLabels, Counter>::default();
        families.register(
            "deposits",
            "Deposits committed to the custody log, by channel (urn, counter, post)",
            deposits.clone(),
        );
        let printed = Family::<ItemLabels, Counter>::default();
        families.register(
            "labels_printed",
            "Labels and receipts printed, by item (envelope, receipt, bin)",
            printed.clone(),
        );
        let faults = Family::<FaultLabels, Counter>::default();
        families.register(
            "device_faults",
            "Device faults raised, by device and fault (printer paper_out, cover_open …)",
            faults.clone(),
        );
        LogCounters {
            families,
            deposits,
            printed,
            faults,
            last_seq: AtomicU64::new(last_seq),
            acknowledged: AtomicU64::new(acknowledged),
            acknowledged_at_ms: AtomicI64::new(0),
            door: AtomicI64::new(door_open.map_or(-1, i64::from)),
        }
    }

    /// Counts committed events.
    pub fn committed<'a>(&self, events: impl IntoIterator<Item = &'a Event>) {
        for event in events {
            self.last_seq.fetch_max(event.seq, Ordering::Relaxed);
            match &event.payload {
                Payload::Deposit(intake) => {
                    self.deposits
                        .get_or_create(&ChannelLabels {
                            channel: name_of(&intake.channel),
                        })
                        .inc();
                }
                Payload::LabelPrinted { label, .. } => {
                    self.printed
                        .get_or_create(&ItemLabels {
                            item: name_of(label),
                        })
                        .inc();
                }
                Payload::FaultRaised { device, fault } => {
                    let fault: String = fault.as_str().chars().take(MAX_FAULT_LABEL).collect();
                    self.faults
                        .get_or_create(&FaultLabels {
                            device: name_of(device),
                            fault,
                        })
                        .inc();
                }
                Payload::DoorOpened => self.door.store(1, Ordering::Relaxed),
                Payload::DoorClosed => self.door.store(0, Ordering::Relaxed),
                _ => {}
            }
        }
    }

    /// Notes the registry's acknowledgement, received now.
    pub fn acknowledged(&self, seq: u64) {
        self.acknowledged.store(seq, Ordering::Relaxed);
        self.acknowledged_at_ms
            .store(crate::clock::now().unix_ms, Ordering::Relaxed);
    }
}

/// Whether the log's last door event says the door is open; `None` without one (a mailroom).
pub fn door_open(store: &crate::log_store::LogStore) -> Option<bool> {
    use rusqlite::OptionalExtension as _;
    let last: Option<String> = store
        .conn
        .query_row(
            "SELECT kind FROM events WHERE kind IN ('door_opened', 'door_closed')
             ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .optional()
        .unwrap_or_else(|e| {
            tracing::warn!("metrics: reading the door's last event: {e}");
            None
        });
    last.map(|kind| kind == "door_opened")
}

/// A closed set's snake_case name, as its serde form spells it.
fn name_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => "other".to_owned(),
    }
}

/// The scanner's reads, counted where device inputs reach the workflow.
#[derive(Debug, Clone, Default)]
pub struct ScanCounter(Family<ResultLabels, Counter>);

impl ScanCounter {
    /// Counts one scanned line as the workflow will judge it.
    pub fn scanned(&self, raw: &str, badge_prefix: &str) {
        let result = match crate::scanned::classify(raw, badge_prefix) {
            Ok(_) => "read",
            Err(crate::scanned::ScanRefused::Empty) => "empty",
            Err(crate::scanned::ScanRefused::TooLong { .. }) => "too_long",
            Err(crate::scanned::ScanRefused::ControlCharacters) => "control_characters",
            Err(crate::scanned::ScanRefused::DamagedReceipt(_)) => "damaged_receipt",
            Err(crate::scanned::ScanRefused::DamagedLabel(_)) => "damaged_label",
            Err(crate::scanned::ScanRefused::DamagedBadge) => "damaged_badge",
        };
        self.0.get_or_create(&ResultLabels { result }).inc();
    }
}

/// What `/metrics` reads.
#[derive(Debug, Clone)]
pub struct MetricsState {
    /// The custody log, with its [`LogCounters`].
    pub log: SharedLog,
    /// The connection to the registry.
    pub sync: watch::Receiver<SyncStatus>,
    /// The kiosk's screen (urn role).
    pub kiosk: Option<watch::Receiver<KioskView>>,
    /// The mailroom's screen (mailroom role).
    pub mailroom: Option<watch::Receiver<MailroomView>>,
    /// The scanner's reads.
    pub scans: ScanCounter,
    /// `[metrics] allow`.
    pub allow: Arc<[IpAddr]>,
}

/// The `/metrics` route, to merge into the station's router.
pub fn router(state: MetricsState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(state)
}

/// Whether `peer` may read the metrics: loopback, or listed. No peer (a router called without a
/// socket) is refused.
pub fn allowed(peer: Option<SocketAddr>, allow: &[IpAddr]) -> bool {
    let Some(peer) = peer else {
        return false;
    };
    let ip = peer.ip().to_canonical();
    ip.is_loopback() || allow.iter().any(|a| a.to_canonical() == ip)
}

async fn scrape(
    State(state): State<MetricsState>,
    // Absent when the router runs without a socket: refused below.
    peer: Result<ConnectInfo<SocketAddr>, ExtensionRejection>,
) -> Response {
    let peer = peer.ok().map(|ConnectInfo(addr)| addr);
    if !allowed(peer, &state.allow) {
        return (
            StatusCode::FORBIDDEN,
            "Metryki tylko dla adresów z [metrics] allow / Metrics only for the addresses in [metrics] allow\n",
        )
            .into_response();
    }
    match render(&state) {
        Ok(text) => (
            [
                (header::CONTENT_TYPE, CONTENT_TYPE),
                (header::CACHE_CONTROL, "no-store"),
            ],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!("metrics: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "metrics could not be written\n",
            )
                .into_response()
        }
    }
}

/// A gauge set to `value`, registered under `name`.
fn gauge(families: &mut Families, name: &str, help: &str, value: i64) {
    let g = Gauge::<i64>::default();
    g.set(value);
    families.register(name, help, g);
}

fn printer_state(status: PrinterStatus) -> &'static str {
    match status {
        PrinterStatus::Ready => "ready",
        PrinterStatus::PaperLow => "paper_low",
        PrinterStatus::PaperOut => "paper_out",
        PrinterStatus::CoverOpen => "cover_open",
        PrinterStatus::Offline => "offline",
        PrinterStatus::Error(_) => "error",
    }
}

/// Every state the printer can be in, so a state-set reads 0 for those it is not in.
const PRINTER_STATES: [&str; 6] = [
    "ready",
    "paper_low",
    "paper_out",
    "cover_open",
    "offline",
    "error",
];

fn render(state: &MetricsState) -> Result<String, std::fmt::Error> {
    let counters = state.log.counters();
    let mut now = Families::with_prefix(PREFIX);
    let scans = state.scans.0.clone();
    now.register(
        "scans",
        "Codes the scanners read, by how the station judged them (read, or why not)",
        scans,
    );
    let last_seq = counters.last_seq.load(Ordering::Relaxed);
    let acknowledged = counters.acknowledged.load(Ordering::Relaxed);
    let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    gauge(
        &mut now,
        "log_last_seq",
        "Seq of the custody log's last committed event",
        to_i64(last_seq),
    );
    gauge(
        &mut now,
        "log_acknowledged_seq",
        "Last seq the registry acknowledged holding",
        to_i64(acknowledged),
    );
    gauge(
        &mut now,
        "sync_backlog_events",
        "Events committed but not yet acknowledged by the registry",
        to_i64(last_seq.saturating_sub(acknowledged)),
    );
    let sync = state.sync.borrow().clone();
    gauge(
        &mut now,
        "registry_connected",
        "1 when the last attempt to reach the registry succeeded",
        i64::from(sync.connected),
    );
    let clock = crate::clock::now();
    let at = counters.acknowledged_at_ms.load(Ordering::Relaxed);
    if at > 0 {
        let age = Gauge::<f64, AtomicU64>::default();
        age.set(clock.unix_ms.saturating_sub(at).max(0) as f64 / 1000.0);
        now.register(
            "last_acknowledgement_age_seconds",
            "Seconds since the registry last acknowledged this log (a push or a check)",
            age,
        );
    }
    gauge(
        &mut now,
        "clock_trusted",
        "1 when the station trusts its wall clock",
        i64::from(clock.trusted),
    );
    match counters.door.load(Ordering::Relaxed) {
        -1 => {}
        open => gauge(
            &mut now,
            "door_open",
            "1 while the urn's service door is open",
            open,
        ),
    }
    let printer = Family::<StateLabels, Gauge>::default();
    let current = if let Some(kiosk) = &state.kiosk {
        let view = kiosk.borrow();
        gauge(
            &mut now,
            "urn_envelopes",
            "Envelopes in the urn since its last collection",
            i64::from(view.urn.envelopes),
        );
        gauge(
            &mut now,
            "urn_capacity",
            "Envelopes the urn holds ([kiosk] capacity)",
            i64::from(view.urn.capacity),
        );
        gauge(
            &mut now,
            "scanner_connected",
            "1 when the urn's scanner is connected",
            i64::from(view.scanner_connected),
        );
        Some(printer_state(view.printer))
    } else {
        None
    };
    let current = match &state.mailroom {
        Some(mailroom) => {
            let view = mailroom.borrow();
            gauge(
                &mut now,
                "holds_open",
                "Envelopes in a sanitising hold at the mailroom",
                i64::try_from(view.held.len()).unwrap_or(i64::MAX),
            );
            // The mailroom's screen tells only whether the printer is ready.
            Some(if view.printer.is_none() {
                "ready"
            } else {
                "error"
            })
        }
        None => current,
    };
    if let Some(current) = current {
        for s in PRINTER_STATES {
            printer
                .get_or_create(&StateLabels { state: s })
                .set(i64::from(s == current));
        }
        now.register(
            "printer_state",
            "1 for the state the label printer is in",
            printer,
        );
    }
    let mut out = String::with_capacity(4096);
    encode_registry(&mut out, &counters.families)?;
    encode_registry(&mut out, &now)?;
    // One `# EOF` for both: OpenMetrics allows nothing after it.
    encode_eof(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_loopback_and_listed_peers_may_read() {
        let monitor: IpAddr = "192.0.2.10".parse().unwrap();
        let at = |s: &str| Some(s.parse::<SocketAddr>().unwrap());
        assert!(allowed(at("127.0.0.1:1"), &[]));
        assert!(allowed(at("[::1]:1"), &[]));
        assert!(!allowed(at("192.0.2.10:1"), &[]));
        assert!(allowed(at("192.0.2.10:1"), &[monitor]));
        assert!(allowed(at("[::ffff:192.0.2.10]:1"), &[monitor]));
        assert!(!allowed(at("192.0.2.11:1"), &[monitor]));
        assert!(!allowed(None, &[monitor]));
    }

    #[test]
    fn closed_sets_are_named_as_in_events() {
        assert_eq!(name_of(&records::Channel::Urn), "urn");
        assert_eq!(name_of(&records::LabelKind::Receipt), "receipt");
        assert_eq!(name_of(&records::Device::Printer), "printer");
    }
}
