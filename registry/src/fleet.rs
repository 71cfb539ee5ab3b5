//! Fleet health, for the admin: per station when it was last seen, how far the registry holds its
//! log and how much of it the station still has to send (its backlog), its printer, how full its
//! urn is, whether its clock is trusted, its open alarms and device alerts; `/admin/stations`
//! (HTML) and `GET /api/fleet` (JSON), admins only.
//!
//! The backlog is the station's log tip as it last reported it ([`crate::station_report`])
//! minus the last seq the registry holds now, never below 0; unknown until the station's first
//! report (a station older than reports never sends one). It is read against the register as it
//! is now, so pushes drain it between reports; a stale report can only make it look smaller than
//! it is, which is why the report's time is shown beside it. No fleet alert is raised on it: a
//! backlog after an outage is normal and drains by itself, so only one that stops draining would
//! be worth an alert, which needs a threshold of its own; `/metrics` carries the figure and the
//! report's age for whatever rule the office's monitoring sets.
//!
//! "Last seen" is the time of the station's last signed request the registry accepted (a push, a
//! look-up of its acknowledged seq, a read); it is marked by [`seen`] outside ingest's
//! transaction, at most once per [`granularity_ms`] ([`SeenMarks`]), so a busy station costs no
//! write per request. A station whose approved key has been quiet for `[fleet] silent_after_secs` is
//! silent: the pages say so, and the [`Watcher`] sends one live notice when it goes silent and
//! one when it comes back.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use records::StationCode;
use records::api::AlertKind;
use serde::Serialize;

use crate::auth::Clerk;
use crate::deliveries::admin_only;
use crate::error::{Error, Result};
use crate::http::{AppState, Failure};
use crate::notify::Notice;
use crate::openapi::schemas;
use crate::pages::{escape, page, time_html};
use crate::registry::Registry;
use crate::station_report::StoredReport;
use crate::store::KeyState;

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// How stale a "last seen" mark may get before a request writes it again: well under the
/// silence threshold, and at most 5 s.
pub fn granularity_ms(silent_after_secs: u64) -> i64 {
    let quarter = i64::try_from(silent_after_secs.saturating_mul(250)).unwrap_or(i64::MAX);
    quarter.clamp(1, 5_000)
}

/// The last "seen" mark each station was given by this server, kept in memory so that a
/// request within [`granularity_ms`] of the last mark neither writes nor queues anything.
#[derive(Debug, Default)]
pub struct SeenMarks(Mutex<HashMap<StationCode, i64>>);

impl SeenMarks {
    /// Whether `station` needs a new mark at `now`; if so, it is taken as marked.
    fn due(&self, station: StationCode, now: i64, granularity: i64) -> bool {
        let Ok(mut marks) = self.0.lock() else {
            return true;
        };
        match marks.get(&station) {
            Some(last) if now.saturating_sub(*last) < granularity => false,
            _ => {
                marks.insert(station, now);
                true
            }
        }
    }
}

/// Marks `station` seen now. The write is spawned, so the request that proved it waits for no
/// write; a failure is logged, never the request's failure.
pub(crate) fn seen(state: &AppState, station: StationCode) {
    let granularity = granularity_ms(state.registry.config().fleet.silent_after_secs);
    let now = now_ms();
    if !state.seen_marks.due(station, now, granularity) {
        return;
    }
    let store = state.registry.store();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = store.note_seen(station, now, granularity) {
            tracing::warn!(%station, error = %e, "could not mark the station seen");
        }
    });
}

/// One open device alert of a station, as the fleet view shows it.
#[derive(Debug, Clone, Serialize)]
pub struct FleetAlert {
    /// The device (`printer`, `slot` …).
    pub device: String,
    /// What is wrong, as the station named it.
    pub what: String,
    /// `fault` or `alarm`.
    pub kind: String,
    /// Polish, then English.
    pub text: String,
    /// When the station recorded it (unix ms).
    pub since_ms: i64,
    /// Whether the station's clock was trusted then.
    pub since_trusted: bool,
}

/// One station's health.
#[derive(Debug, Clone, Serialize)]
pub struct StationHealth {
    /// Its code.
    pub code: String,
    /// Its name.
    pub name: String,
    /// `approved`, `pending`, `retired` or `revoked`: the state of its newest key.
    pub key_state: String,
    /// Its last signed request the registry accepted (unix ms); `None` if never.
    pub last_seen_ms: Option<i64>,
    /// Quiet for longer than `[fleet] silent_after_secs` (only a station with an approved key).
    pub silent: bool,
    /// Events the station holds but the registry does not: its last reported log tip minus
    /// [`StationHealth::acknowledged`], never below 0; `None` before its first report.
    pub backlog: Option<u64>,
    /// The highest seq of its own log, as it last reported; `None` before its first report.
    pub reported_log_tip: Option<u64>,
    /// When that report came (registry clock, unix ms).
    pub reported_ms: Option<i64>,
    /// The last seq the registry holds of it.
    pub acknowledged: u64,
    /// That event's time as the station recorded it (unix ms).
    pub last_event_ms: Option<i64>,
    /// Whether the station's clock was trusted at its last event; `None` before any event.
    pub clock_trusted: Option<bool>,
    /// `ok`, or the printer's open faults (`paper_out`, `cover_open` …) joined by commas.
    pub printer: String,
    /// Urn deposits since the urn was last emptied; `None` for a station that took no urn
    /// deposits and was never emptied (a mailroom counter).
    pub urn_fill: Option<u64>,
    /// Whether the station reports the urn full (an open `full` alert).
    pub urn_full: bool,
    /// Its open alarms (forks) in the register.
    pub alarms: Vec<String>,
    /// Its open device alerts.
    pub device_alerts: Vec<FleetAlert>,
}

/// The whole fleet as the admin sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Fleet {
    /// When this was computed (unix ms).
    pub now_ms: i64,
    /// The configured silence threshold.
    pub silent_after_secs: u64,
    /// Every enrolled station, by code.
    pub stations: Vec<StationHealth>,
}

impl Fleet {
    /// The silent stations.
    pub fn silent(&self) -> impl Iterator<Item = &StationHealth> {
        self.stations.iter().filter(|s| s.silent)
    }
}

/// Reads every station's health now.
pub async fn fleet(registry: &Registry) -> Result<Fleet> {
    let store = registry.store();
    let (facts, reports) = tokio::task::spawn_blocking(move || {
        Ok::<_, Error>((store.station_facts()?, store.station_reports()?))
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))??;
    let reports: BTreeMap<StationCode, StoredReport> =
        reports.into_iter().map(|r| (r.station, r)).collect();
    let stations = registry.stations().await?;
    let keys = registry.station_keys().await?;
    let alarms = registry.alarms().await?;
    let alerts = registry.device_alerts().await?.alerts;
    let silent_after_secs = registry.config().fleet.silent_after_secs;
    let silent_after_ms = i64::try_from(silent_after_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let now = now_ms();
    let facts: BTreeMap<StationCode, _> = facts.into_iter().map(|f| (f.station, f)).collect();
    let mut out = Vec::with_capacity(stations.len());
    for station in stations {
        let code = station.code.as_str().to_owned();
        // The newest key decides: an approved one means the station is expected to speak.
        let key_state = keys
            .iter()
            .filter(|k| k.station == station.code)
            .max_by_key(|k| (k.state == KeyState::Approved, k.changed_ms))
            .map_or(KeyState::Approved, |k| k.state);
        let fact = facts.get(&station.code);
        let last_seen_ms = fact.and_then(|f| f.last_seen_ms);
        // A station never seen counts from its enrolment: it too should have spoken by now.
        let since = last_seen_ms.unwrap_or(station.enrolled_ms);
        let silent = key_state == KeyState::Approved && now.saturating_sub(since) > silent_after_ms;
        let own: Vec<FleetAlert> = alerts
            .iter()
            .filter(|a| a.station == code)
            .map(|a| {
                let (pl, en) = a.phrase();
                FleetAlert {
                    device: crate::projection::device_name(a.device).to_owned(),
                    what: a.what.clone(),
                    kind: match a.kind {
                        AlertKind::Fault => "fault",
                        AlertKind::Alarm => "alarm",
                    }
                    .to_owned(),
                    text: format!("{pl} / {en}"),
                    since_ms: a.since.unix_ms,
                    since_trusted: a.since.trusted,
                }
            })
            .collect();
        let printer_faults: Vec<&str> = own
            .iter()
            .filter(|a| a.device == "printer")
            .map(|a| a.what.as_str())
            .collect();
        let urn_full = own.iter().any(|a| a.what == "full");
        let urn_fill = fact
            .filter(|f| f.urn_collected || f.urn_deposits_since_collection > 0)
            .map(|f| f.urn_deposits_since_collection);
        let acknowledged = fact.map_or(0, |f| f.acknowledged);
        let report = reports.get(&station.code);
        out.push(StationHealth {
            name: station.name,
            key_state: key_state.name().to_owned(),
            last_seen_ms,
            silent,
            backlog: crate::station_report::backlog(report.map(|r| r.log_tip), acknowledged),
            reported_log_tip: report.map(|r| r.log_tip),
            reported_ms: report.map(|r| r.received_ms),
            acknowledged,
            last_event_ms: fact.and_then(|f| f.last_event.map(|t| t.unix_ms)),
            clock_trusted: fact.and_then(|f| f.last_event.map(|t| t.trusted)),
            printer: if printer_faults.is_empty() {
                "ok".to_owned()
            } else {
                printer_faults.join(", ")
            },
            urn_fill,
            urn_full,
            alarms: alarms
                .iter()
                .filter(|a| a.station == code)
                .map(|a| a.message.clone())
                .collect(),
            device_alerts: own,
            code,
        });
    }
    Ok(Fleet {
        now_ms: now,
        silent_after_secs,
        stations: out,
    })
}

fn forbidden_page() -> Response {
    (
        StatusCode::FORBIDDEN,
        Html(page(
            "403 — urna",
            "<p>Tylko dla administratora. / Admins only.</p>",
        )),
    )
        .into_response()
}

#[utoipa::path(
    get,
    path = "/api/fleet",
    tag = "admin",
    responses(
        (status = 200, description = "Every station's health", body = schemas::Fleet),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not the admin", body = schemas::ApiError),
    ),
    security(("clerk_session" = [])),
)]
/// `GET /api/fleet`: [`Fleet`] as JSON.
pub(crate) async fn api(State(state): State<AppState>, clerk: Clerk) -> Result<Response, Failure> {
    admin_only(&clerk)?;
    let fleet = fleet(&state.registry).await?;
    Ok(Json(fleet).into_response())
}

fn ms_html(ms: Option<i64>) -> String {
    match ms {
        Some(ms) => time_html(records::Timestamp {
            unix_ms: ms,
            trusted: true,
        }),
        None => "nigdy / never".to_owned(),
    }
}

/// The backlog cell: the figure and when the station reported, or "—" before any report.
fn backlog_html(s: &StationHealth) -> String {
    match (s.backlog, s.reported_ms) {
        (Some(events), Some(at)) => format!(
            "<span class=\"backlog\">{events}</span><br><small>zgłoszono / reported {}</small>",
            ms_html(Some(at))
        ),
        (Some(events), None) => format!("<span class=\"backlog\">{events}</span>"),
        (None, _) => "<span class=\"backlog\">—</span>".to_owned(),
    }
}

/// The alert box naming the silent stations; empty when none is silent.
pub fn silent_html(fleet: &Fleet) -> String {
    let silent: Vec<&StationHealth> = fleet.silent().collect();
    if silent.is_empty() {
        return String::new();
    }
    let minutes = fleet.silent_after_secs.div_ceil(60);
    let mut out = format!(
        "<section class=\"alarms\" id=\"silent-stations\" role=\"alert\">\
         <h2>Stacje milczą dłużej niż {minutes} min / Stations silent for over {minutes} min</h2><ul>"
    );
    for s in silent {
        let _ = write!(
            out,
            "<li data-station=\"{code}\">{name} ({code}): ostatnio / last seen {seen}</li>",
            code = escape(&s.code),
            name = escape(&s.name),
            seen = ms_html(s.last_seen_ms),
        );
    }
    out.push_str("</ul></section>");
    out
}

/// The silent-stations box for the clerk page: an admin's only, and empty when the fleet cannot
/// be read (the page shows the register all the same; the log says why).
pub(crate) async fn clerk_page_alert(state: &AppState, session: &crate::Session) -> String {
    if session.scope() != crate::Scope::All {
        return String::new();
    }
    match fleet(&state.registry).await {
        Ok(f) => silent_html(&f),
        Err(e) => {
            tracing::error!(error = %e, "fleet health unavailable for the clerk page");
            String::new()
        }
    }
}

#[utoipa::path(
    get,
    path = "/admin/stations",
    tag = "admin",
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to `/login?next=…`", headers(("Location" = String))),
        (status = 403, description = "Not the admin", content_type = "text/html", body = String),
    ),
    security(("clerk_session" = [])),
)]
/// `GET /admin/stations`: every station's health, silent ones first in an alert.
pub(crate) async fn page_handler(State(state): State<AppState>, clerk: Clerk) -> Response {
    if admin_only(&clerk).is_err() {
        return forbidden_page();
    }
    let fleet = match fleet(&state.registry).await {
        Ok(f) => f,
        Err(e) => return Failure::from(e).into_response(),
    };
    let mut rows = String::new();
    for s in &fleet.stations {
        let clock = match s.clock_trusted {
            Some(true) => "pewny / trusted",
            Some(false) => "<span class=\"untrusted\">⚠ niepewny / untrusted</span>",
            None => "—",
        };
        let fill = match (s.urn_fill, s.urn_full) {
            (_, true) => format!(
                "<strong>pełna / full</strong> ({})",
                s.urn_fill.unwrap_or(0)
            ),
            (Some(n), false) => n.to_string(),
            (None, false) => "—".to_owned(),
        };
        let printer = if s.printer == "ok" {
            "sprawna / ok".to_owned()
        } else {
            format!("<strong>{}</strong>", escape(&s.printer))
        };
        let mut alerts = String::new();
        for a in &s.device_alerts {
            let _ = write!(alerts, "<li>{}</li>", escape(&a.text));
        }
        let mut alarms = String::new();
        for a in &s.alarms {
            let _ = write!(alarms, "<li>{}</li>", escape(a));
        }
        let state_cell = if s.silent {
            "<strong>milczy / silent</strong>".to_owned()
        } else {
            escape(&s.key_state)
        };
        let _ = write!(
            rows,
            "<tr data-station=\"{code}\"{class}><td>{name}<br><code>{code}</code></td><td>{state_cell}</td>\
             <td>{seen}</td><td>{backlog}</td><td>{ack}</td><td>{last}</td><td>{clock}</td>\
             <td>{printer}</td><td>{fill}</td><td><ul>{alarms}</ul></td><td><ul>{alerts}</ul></td></tr>",
            code = escape(&s.code),
            class = if s.silent { " class=\"silent\"" } else { "" },
            name = escape(&s.name),
            seen = ms_html(s.last_seen_ms),
            backlog = backlog_html(s),
            ack = s.acknowledged,
            last = ms_html(s.last_event_ms),
        );
    }
    let body = format!(
        "<p><a href=\"/\">← Przesyłki / Intakes</a> · <a href=\"/reports\">Raporty / Reports</a> · \
         <a href=\"/admin/deliveries\">Powiadomienia / Notifications</a></p>\
         <h1>Stacje / Stations</h1>{silent}\
         <p>Zaległość: zdarzenia w dzienniku stacji, których rejestr jeszcze nie ma (numer \
         ostatniego zdarzenia, który stacja zgłosiła, minus ostatni przyjęty numer); „—”: stacja \
         jeszcze jej nie zgłosiła. / Backlog: events in the station's log that the registry does \
         not hold yet (the last seq the station reported minus the last seq held); “—”: the \
         station has not reported it yet.</p>\
         <table><thead><tr><th>Stacja / Station</th><th>Stan / State</th>\
         <th>Ostatnio widziana / Last seen</th><th>Zaległość / Backlog</th>\
         <th>Przyjęte do nr / Acknowledged seq</th><th>Ostatnie zdarzenie / Last event</th>\
         <th>Zegar / Clock</th><th>Drukarka / Printer</th><th>Koperty w urnie / Envelopes in urn</th>\
         <th>Alarmy / Alarms</th><th>Usterki / Device alerts</th></tr></thead>\
         <tbody id=\"stations\">{rows}</tbody></table>",
        silent = silent_html(&fleet),
    );
    Html(page("Stacje / Stations — urna", &body)).into_response()
}

/// Watches the fleet for stations going silent and coming back, and sends one live notice each
/// way. Starts knowing nothing: a station silent at start is announced once.
#[derive(Debug)]
pub struct Watcher {
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    /// Starts watching `registry`.
    pub fn start(registry: Registry) -> Watcher {
        let secs = registry.config().fleet.silent_after_secs;
        // Often enough that a notice comes within a tenth of the threshold; no busier than 10/s.
        let every = Duration::from_millis(secs.saturating_mul(100).clamp(100, 30_000));
        let task = tokio::spawn(async move {
            let mut silent: BTreeSet<String> = BTreeSet::new();
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let fleet = match fleet(&registry).await {
                    Ok(f) => f,
                    Err(e) => {
                        tracing::warn!(error = %e, "fleet watcher could not read the register");
                        continue;
                    }
                };
                for s in &fleet.stations {
                    let was = silent.contains(&s.code);
                    if s.silent == was {
                        continue;
                    }
                    if s.silent {
                        tracing::warn!(station = %s.code, last_seen_ms = ?s.last_seen_ms, "station went silent");
                        silent.insert(s.code.clone());
                    } else {
                        tracing::info!(station = %s.code, "station speaks again");
                        silent.remove(&s.code);
                    }
                    registry.announce(Notice::StationSilence {
                        station: s.code.clone(),
                        silent: s.silent,
                        last_seen_ms: s.last_seen_ms,
                    });
                }
                // A station removed from the fleet is forgotten.
                silent.retain(|c| fleet.stations.iter().any(|s| &s.code == c));
            }
        });
        Watcher { task }
    }

    /// Stops watching.
    pub fn stop(self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_is_finer_than_the_threshold() {
        assert_eq!(granularity_ms(900), 5_000);
        assert_eq!(granularity_ms(2), 500);
        assert_eq!(granularity_ms(0), 1);
    }

    #[test]
    fn a_station_is_marked_once_per_granularity() {
        let marks = SeenMarks::default();
        let code: StationCode = "GW7K".parse().unwrap_or_else(|_| unreachable!());
        let other: StationCode = "MR22".parse().unwrap_or_else(|_| unreachable!());
        assert!(marks.due(code, 10_000, 5_000));
        assert!(!marks.due(code, 14_999, 5_000));
        assert!(marks.due(other, 14_999, 5_000));
        assert!(marks.due(code, 15_000, 5_000));
    }
}
