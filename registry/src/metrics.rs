//! Prometheus metrics for the office's IT admin at `GET /metrics` (OpenMetrics text, through
//! `prometheus-client`): HTTP requests by route template and status class with their durations,
//! events ingested, pushes and signed requests refused by reason, status checks refused by the
//! rate limit; and, read from the register at scrape time, the notification deliveries pending
//! and failing and each station's health as `/admin/stations` shows it.
//!
//! Labels are closed sets or station codes: a route is its template (`/api/intakes/{id}`), never
//! the path asked for, so no intake id, reference or name reaches the monitoring system.
//!
//! Who may read it: loopback and the addresses in `[metrics] allow`, judged by the peer address
//! (or, when the peer is the office's proxy on loopback, by the address the proxy added last to
//! `X-Forwarded-For`, as for the status page's rate limit); anyone else gets 403.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use axum::extract::rejection::ExtensionRejection;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry as Families;
use records::Problem;

use crate::error::{Error, Result};
use crate::http::{AppState, Failure};
use crate::registry::Registry;

/// The OpenMetrics text format, which Prometheus asks for first and reads.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every metric's name starts with it.
const PREFIX: &str = "urna_registry";

/// Request durations, seconds: from a cached page (about a millisecond) to a push that waited
/// for its commit behind others (seconds).
const DURATION_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StationLabels {
    station: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KeyStateLabels {
    key_state: String,
}

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// The counters the registry keeps while it runs; one per [`Registry`], shared by its clones.
#[derive(Debug)]
pub struct Metrics {
    families: Families,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram, fn() -> Histogram>,
    events: Family<OutcomeLabels, Counter>,
    pushes_refused: Family<ReasonLabels, Counter>,
    requests_refused: Family<ReasonLabels, Counter>,
    rate_limited: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut families = Families::with_prefix(PREFIX);
        let requests = Family::<RequestLabels, Counter>::default();
        families.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status class",
            requests.clone(),
        );
        let durations = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram,
        );
        families.register(
            "http_request_duration_seconds",
            "Time to the response's head, by route template (a live stream's body is not counted)",
            durations.clone(),
        );
        let events = Family::<OutcomeLabels, Counter>::default();
        families.register(
            "events",
            "Station events pushed: accepted (stored) or duplicate (already held, sent again)",
            events.clone(),
        );
        let pushes_refused = Family::<ReasonLabels, Counter>::default();
        families.register(
            "pushes_refused",
            "Pushes whose events were refused, wholly or from one event on, by reason",
            pushes_refused.clone(),
        );
        let requests_refused = Family::<ReasonLabels, Counter>::default();
        families.register(
            "signed_requests_refused",
            "Station requests refused for their signature, key or nonce, by reason",
            requests_refused.clone(),
        );
        let rate_limited = Counter::default();
        families.register(
            "status_checks_rate_limited",
            "Resident status checks refused by the rate limit (429)",
            rate_limited.clone(),
        );
        Metrics {
            families,
            requests,
            durations,
            events,
            pushes_refused,
            requests_refused,
            rate_limited,
        }
    }
}

impl Metrics {
    /// Counts `n` pushed events with this outcome (`accepted`, `duplicate`).
    pub(crate) fn events(&self, outcome: &'static str, n: usize) {
        if n > 0 {
            self.events
                .get_or_create(&OutcomeLabels { outcome })
                .inc_by(n as u64);
        }
    }

    /// Counts a push that ingest refused with `err` (some of its events may have been stored).
    pub(crate) fn push_refused(&self, err: &Error) {
        self.pushes_refused
            .get_or_create(&ReasonLabels {
                reason: refusal_reason(err),
            })
            .inc();
    }

    /// Counts a signed request refused by [`crate::request_auth`] with this reason.
    pub(crate) fn request_refused(&self, reason: &'static str) {
        self.requests_refused
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Counts a status check the rate limit refused.
    pub(crate) fn rate_limited(&self) {
        self.rate_limited.inc();
    }

    /// Counts one answered request (what the middleware does; public for the cost example).
    pub fn answered(&self, route: &str, method: &Method, status: StatusCode, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method_label(method),
                status: status_class(status),
            })
            .inc();
        self.durations
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(took.as_secs_f64());
    }
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        // Anyone may send any method: an open set would be an open label.
        _ => "other",
    }
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// A closed name for why ingest refused a push.
fn refusal_reason(err: &Error) -> &'static str {
    match err {
        Error::UnknownStation(_) => "unknown_station",
        Error::Fork { .. } => "fork",
        Error::Chain { problem, .. } => match problem {
            Problem::Gap { .. } => "gap",
            Problem::Duplicate => "duplicate",
            Problem::Fork => "fork",
            Problem::OutOfOrder { .. } => "out_of_order",
            Problem::WrongPrevHash => "wrong_prev_hash",
            Problem::BadSignature => "bad_signature",
            Problem::UnknownKey(_) => "unknown_key",
            Problem::UnsupportedVersion(_) => "unsupported_version",
            Problem::Malformed(_) => "malformed",
            Problem::SeqMismatch { .. } => "seq_mismatch",
            Problem::WrongStation(_) => "wrong_station",
        },
        Error::BadRequest(_) => "bad_request",
        _ => "internal",
    }
}

/// Middleware: counts every answer by its route template and times it.
pub(crate) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // Routing has run (this is a router layer): the template is known; 404s have none.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .registry
        .metrics()
        .answered(&route, &method, response.status(), started.elapsed());
    response
}

/// Whether a request from `peer` with these headers may read the metrics: see the module's page.
/// No peer (a router called without a socket) is refused.
pub fn allowed(peer: Option<SocketAddr>, headers: &HeaderMap, allow: &[IpAddr]) -> bool {
    let Some(peer) = peer else {
        return false;
    };
    let client = if peer.ip().is_loopback() {
        crate::rate_limit::forwarded_for(headers).unwrap_or(peer.ip())
    } else {
        peer.ip()
    };
    let client = client.to_canonical();
    client.is_loopback() || allow.iter().any(|a| a.to_canonical() == client)
}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    responses(
        (status = 200, description = "The metrics, OpenMetrics text", content_type = "application/openmetrics-text", body = String),
        (status = 403, description = "Not from loopback or an address in `[metrics] allow`", body = crate::openapi::schemas::ApiError),
    ),
)]
pub(crate) async fn scrape(
    State(state): State<AppState>,
    // Absent when the router runs without a socket: refused below.
    peer: Result<ConnectInfo<SocketAddr>, ExtensionRejection>,
    headers: HeaderMap,
) -> Response {
    let peer = peer.ok().map(|ConnectInfo(addr)| addr);
    let allow = &state.registry.config().metrics.allow;
    if !allowed(peer, &headers, allow) {
        tracing::debug!("metrics refused to an address not in [metrics] allow");
        return Failure::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Metryki tylko dla adresów z [metrics] allow / Metrics only for the addresses in [metrics] allow",
        )
        .into_response();
    }
    match render(&state.registry).await {
        Ok(text) => (
            [
                (header::CONTENT_TYPE, CONTENT_TYPE),
                (header::CACHE_CONTROL, "no-store"),
            ],
            text,
        )
            .into_response(),
        Err(e) => Failure::from(e).into_response(),
    }
}

/// The whole exposition: the running counters, then what the register says now.
pub async fn render(registry: &Registry) -> Result<String> {
    let fleet = crate::fleet::fleet(registry).await?;
    let failing_after = registry.config().notifications.retry.failing_after;
    let store = registry.store();
    let (pending, failing) = tokio::task::spawn_blocking(move || store.undelivered(failing_after))
        .await
        .map_err(|e| Error::Task(e.to_string()))??;

    let mut now = Families::with_prefix(PREFIX);
    let gauge = |now: &mut Families, name: &str, help: &str, value: u64| {
        let g = Gauge::<i64>::default();
        g.set(i64::try_from(value).unwrap_or(i64::MAX));
        now.register(name, help, g);
    };
    gauge(
        &mut now,
        "deliveries_pending",
        "Notifications (webhooks, e-mails) not delivered yet",
        pending,
    );
    gauge(
        &mut now,
        "deliveries_failing",
        "Notifications not delivered after [notifications.retry] failing_after attempts (still retried)",
        failing,
    );

    let stations = Family::<KeyStateLabels, Gauge>::default();
    let station_gauge = || Family::<StationLabels, Gauge>::default();
    let age_gauge = Family::<StationLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default;
    let report_age = age_gauge();
    let (seen_age, silent, acknowledged, clock, printer, fill, full, alerts, alarms, backlog) = (
        age_gauge(),
        station_gauge(),
        station_gauge(),
        station_gauge(),
        station_gauge(),
        station_gauge(),
        station_gauge(),
        station_gauge(),
        station_gauge(),
        station_gauge(),
    );
    let count = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
    for s in &fleet.stations {
        stations
            .get_or_create(&KeyStateLabels {
                key_state: s.key_state.clone(),
            })
            .inc();
        let l = StationLabels {
            station: s.code.clone(),
        };
        if let Some(seen) = s.last_seen_ms {
            seen_age
                .get_or_create(&l)
                .set(fleet.now_ms.saturating_sub(seen).max(0) as f64 / 1000.0);
        }
        silent.get_or_create(&l).set(i64::from(s.silent));
        acknowledged
            .get_or_create(&l)
            .set(i64::try_from(s.acknowledged).unwrap_or(i64::MAX));
        if let Some(trusted) = s.clock_trusted {
            clock.get_or_create(&l).set(i64::from(trusted));
        }
        printer.get_or_create(&l).set(i64::from(s.printer == "ok"));
        if let Some(envelopes) = s.urn_fill {
            fill.get_or_create(&l)
                .set(i64::try_from(envelopes).unwrap_or(i64::MAX));
            full.get_or_create(&l).set(i64::from(s.urn_full));
        }
        alerts.get_or_create(&l).set(count(s.device_alerts.len()));
        alarms.get_or_create(&l).set(count(s.alarms.len()));
        if let Some(events) = s.backlog {
            backlog
                .get_or_create(&l)
                .set(i64::try_from(events).unwrap_or(i64::MAX));
        }
        if let Some(reported) = s.reported_ms {
            report_age
                .get_or_create(&l)
                .set(fleet.now_ms.saturating_sub(reported).max(0) as f64 / 1000.0);
        }
    }
    now.register(
        "stations",
        "Enrolled stations, by the state of their newest key",
        stations,
    );
    now.register(
        "station_last_seen_age_seconds",
        "Seconds since the station's last signed request the registry accepted",
        seen_age,
    );
    now.register(
        "station_silent",
        "1 when the station has been quiet longer than [fleet] silent_after_secs",
        silent,
    );
    now.register(
        "station_acknowledged_seq",
        "The last seq of the station's log the registry holds",
        acknowledged,
    );
    now.register(
        "station_clock_trusted",
        "1 when the station vouched for its clock at its last event",
        clock,
    );
    now.register(
        "station_printer_ok",
        "1 when the station's printer has no open fault",
        printer,
    );
    now.register(
        "station_urn_envelopes",
        "Urn deposits since the urn was last emptied",
        fill,
    );
    now.register(
        "station_urn_full",
        "1 when the urn reports itself full",
        full,
    );
    now.register(
        "station_device_alerts",
        "Open device alerts of the station",
        alerts,
    );
    now.register(
        "station_alarms",
        "Open alarms (forks) of the station",
        alarms,
    );
    now.register(
        "station_backlog_events",
        "Events the station holds that the registry does not: the log tip it last reported minus \
         the last seq held, never below 0 (absent before its first report)",
        backlog,
    );
    now.register(
        "station_report_age_seconds",
        "Seconds since the station's last report of its log tip, which the backlog is read from",
        report_age,
    );

    let mut out = String::with_capacity(16 * 1024 + 600 * fleet.stations.len());
    encode(&mut out, registry.metrics(), &now)
        .map_err(|e| Error::Task(format!("writing the metrics: {e}")))?;
    Ok(out)
}

fn encode(out: &mut String, running: &Metrics, now: &Families) -> std::fmt::Result {
    encode_registry(out, &running.families)?;
    encode_registry(out, now)?;
    // One `# EOF` for both: OpenMetrics allows nothing after it.
    encode_eof(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::HeaderValue;

    fn forwarded(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn loopback_and_listed_addresses_may_read_others_may_not() {
        let monitor: IpAddr = "192.0.2.10".parse().unwrap();
        let none = HeaderMap::new();
        let at = |s: &str| Some(s.parse::<SocketAddr>().unwrap());
        assert!(allowed(at("127.0.0.1:5000"), &none, &[]));
        assert!(allowed(at("[::1]:5000"), &none, &[]));
        assert!(!allowed(at("192.0.2.10:5000"), &none, &[]));
        assert!(allowed(at("192.0.2.10:5000"), &none, &[monitor]));
        assert!(allowed(at("[::ffff:192.0.2.10]:5000"), &none, &[monitor]));
        assert!(!allowed(None, &none, &[monitor]));
        // A remote client's own X-Forwarded-For proves nothing.
        assert!(!allowed(
            at("203.0.113.7:5000"),
            &forwarded("127.0.0.1"),
            &[monitor]
        ));
        // Through the local proxy, the address it added decides.
        assert!(!allowed(
            at("127.0.0.1:5000"),
            &forwarded("203.0.113.7"),
            &[monitor]
        ));
        assert!(allowed(
            at("127.0.0.1:5000"),
            &forwarded("127.0.0.1, 192.0.2.10"),
            &[monitor]
        ));
    }

    #[test]
    fn labels_are_closed_sets() {
        assert_eq!(status_class(StatusCode::NOT_FOUND), "4xx");
        assert_eq!(status_class(StatusCode::from_u16(599).unwrap()), "5xx");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
