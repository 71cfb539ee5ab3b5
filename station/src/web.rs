//! The station's web pages and their small JSON API: the kiosk screen (urn role), the staff
//! screen (mailroom role), and in simulation the control page and API that drive the simulated
//! devices (`/sim/...`), as the demo and the tests use them.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use futures_util::Stream;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::WatchStream;

use crate::config::{Role, StationConfig};
use crate::devices::sim_pins::SimPinHandle;
use crate::devices::sim_printer::SimPrinter;
use crate::devices::{Input, PrinterErrorKind, PrinterStatus};
use crate::kiosk::KioskView;
use crate::mailroom::MailroomView;
use crate::sync::SyncStatus;
use crate::workflow::Command;

/// What the pages read and where their buttons go.
#[derive(Debug, Clone)]
pub struct WebState {
    /// The station's configuration.
    pub config: Arc<StationConfig>,
    /// Commands to the workflow.
    pub commands: mpsc::Sender<Command>,
    /// Device inputs, the way the scanner and pin tasks send them: the control page's simulated
    /// scans go this way so that they are counted as scans (`/metrics`) like real ones.
    pub inputs: mpsc::Sender<Input>,
    /// The kiosk's screen (urn role).
    pub kiosk: Option<watch::Receiver<KioskView>>,
    /// The mailroom's screen (mailroom role).
    pub mailroom: Option<watch::Receiver<MailroomView>>,
    /// The connection to the registry.
    pub sync: watch::Receiver<SyncStatus>,
    /// The simulated printer, in simulation only.
    pub sim_printer: Option<Arc<SimPrinter>>,
    /// The simulated urn pins, in simulation on an urn.
    pub sim_pins: Option<SimPinHandles>,
}

/// The control page's hold on the simulated pins: it sets levels; the station's GPIO task reads
/// them through the same debouncing and state machines as real pins.
#[derive(Debug, Clone)]
pub struct SimPinHandles {
    /// Door reed switch (active = open).
    pub door: SimPinHandle,
    /// Slot light beam (active = broken).
    pub slot: SimPinHandle,
    /// The button (active = pressed).
    pub button: SimPinHandle,
    /// The lamp output.
    pub lamp: SimPinHandle,
    /// How long a simulated envelope breaks the beam.
    pub envelope_ms: u64,
    /// How long a simulated press holds the button.
    pub press_ms: u64,
}

/// The station's routes.
pub fn app(state: WebState) -> Router {
    let mut router = Router::new()
        .route("/api/status", get(status))
        .route("/style.css", get(style));
    router = match state.config.role {
        Role::Urn => router
            .route("/", get(|| async { Redirect::to("/kiosk") }))
            .route("/kiosk", get(kiosk_page))
            .route("/kiosk/state", get(kiosk_state))
            .route("/kiosk/stream", get(kiosk_stream))
            .route("/kiosk/start", post(kiosk_start))
            .route("/kiosk/category/{id}", post(kiosk_choose))
            .route("/kiosk/cancel", post(kiosk_cancel))
            .route("/kiosk/service/pin", post(kiosk_service_pin))
            .route("/kiosk/service/seal", post(kiosk_service_seal)),
        Role::Mailroom => router
            .route("/", get(|| async { Redirect::to("/mailroom") }))
            .route("/mailroom", get(mailroom_page))
            .route("/mailroom/state", get(mailroom_state))
            .route("/mailroom/stream", get(mailroom_stream))
            .route("/mailroom/scan", post(mailroom_scan))
            .route("/mailroom/pin", post(mailroom_pin))
            .route("/mailroom/signout", post(mailroom_sign_out))
            .route("/mailroom/bag/finish", post(mailroom_bag_finish))
            .route("/mailroom/bag/cancel", post(mailroom_bag_cancel))
            .route("/mailroom/forwarding", get(mailroom_forwarding))
            .route("/mailroom/early/start", post(mailroom_early_start))
            .route("/mailroom/early/reason", post(mailroom_early_reason))
            .route("/mailroom/early/cancel", post(mailroom_bag_cancel))
            .route(
                "/mailroom/intake",
                post(mailroom_intake)
                    .layer(axum::extract::DefaultBodyLimit::max(MAX_INTAKE_FORM_BYTES)),
            )
            .route("/mailroom/bin", post(mailroom_bin_label))
            .route("/mailroom/forward", post(mailroom_forward_elsewhere)),
    };
    if state.sim_printer.is_some() {
        router = router
            .route("/sim", get(sim_page))
            .route("/sim/scan", post(sim_scan))
            .route("/sim/button", post(sim_button))
            .route("/sim/door", post(sim_door))
            .route("/sim/slot", post(sim_slot))
            .route("/sim/scanner", post(sim_scanner))
            .route("/sim/printer", post(sim_printer))
            .route("/sim/devices", get(sim_devices))
            .route("/sim/labels", get(sim_labels))
            .route("/sim/labels/{file}", get(sim_label_png))
            .route("/sim/clock", post(sim_clock));
    }
    router.with_state(state)
}

/// An answer to a page's button: 202 when the workflow took it, 503 when it is gone.
async fn send(state: &WebState, command: Command) -> Response {
    match state.commands.send(command).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "station is shutting down").into_response(),
    }
}

fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": message })),
    )
        .into_response()
}

#[derive(Serialize)]
struct StationStatus<'a> {
    station: String,
    name: &'a str,
    role: Role,
    sync: SyncStatus,
}

async fn status(State(state): State<WebState>) -> Json<serde_json::Value> {
    let sync = state.sync.borrow().clone();
    let body = StationStatus {
        station: state.config.station.to_string(),
        name: &state.config.name,
        role: state.config.role,
        sync,
    };
    let mut json = serde_json::to_value(body).unwrap_or_default();
    // Top level too, for the kiosk's service screen: the fingerprint the admin approves.
    if let Some(fp) = json
        .pointer("/sync/key_fingerprint")
        .cloned()
        .filter(|f| f != "")
    {
        json["key_fingerprint"] = fp;
    }
    Json(json)
}

fn sse_of<T: Serialize + Clone + Send + Sync + 'static>(
    rx: watch::Receiver<T>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = WatchStream::new(rx).map(|view| {
        Ok(Event::default()
            .json_data(&view)
            .unwrap_or_else(|_| Event::default().data("{}")))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

// ---- kiosk ----

async fn kiosk_state(State(state): State<WebState>) -> Response {
    match &state.kiosk {
        Some(rx) => Json(rx.borrow().clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn kiosk_stream(State(state): State<WebState>) -> Response {
    match state.kiosk {
        Some(rx) => sse_of(rx).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn kiosk_start(State(state): State<WebState>) -> Response {
    send(&state, Command::Start).await
}

async fn kiosk_choose(State(state): State<WebState>, Path(id): Path<String>) -> Response {
    if state.config.category(&id).is_none() {
        return bad_request("unknown category");
    }
    send(&state, Command::Choose(id)).await
}

async fn kiosk_cancel(State(state): State<WebState>) -> Response {
    send(&state, Command::Cancel).await
}

async fn kiosk_page(State(state): State<WebState>) -> Html<String> {
    Html(crate::pages::kiosk(&state.config))
}

// ---- mailroom ----

async fn mailroom_state(State(state): State<WebState>) -> Response {
    match &state.mailroom {
        Some(rx) => Json(rx.borrow().clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn mailroom_stream(State(state): State<WebState>) -> Response {
    match state.mailroom {
        Some(rx) => sse_of(rx).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[derive(Deserialize)]
struct ScanForm {
    code: String,
}

async fn mailroom_scan(State(state): State<WebState>, Form(form): Form<ScanForm>) -> Response {
    send(&state, Command::Input(Input::Scanned(form.code))).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PinForm {
    pin: String,
}

/// Longest PIN the station will hash: longer input is refused before Argon2 sees it.
const MAX_PIN_BYTES: usize = 32;

async fn kiosk_service_pin(State(state): State<WebState>, Json(form): Json<PinForm>) -> Response {
    if form.pin.len() > MAX_PIN_BYTES {
        return bad_request("PIN too long");
    }
    send(&state, Command::Pin(crate::workflow::Pin(form.pin))).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SealForm {
    seal: String,
}

async fn kiosk_service_seal(State(state): State<WebState>, Json(form): Json<SealForm>) -> Response {
    if form.seal.len() > 4 * crate::kiosk::MAX_SEAL_CHARS {
        return bad_request("seal number too long");
    }
    send(&state, Command::Seal(form.seal)).await
}

async fn mailroom_pin(State(state): State<WebState>, Form(form): Form<PinForm>) -> Response {
    // Checked against the account in the workflow; only the length is bounded here, so that a
    // pasted novel is not hashed.
    if form.pin.len() > MAX_PIN_BYTES {
        return bad_request("PIN too long");
    }
    send(&state, Command::Pin(crate::workflow::Pin(form.pin))).await
}

async fn mailroom_sign_out(State(state): State<WebState>) -> Response {
    send(&state, Command::SignOut).await
}

async fn mailroom_bag_finish(State(state): State<WebState>) -> Response {
    send(&state, Command::FinishBag).await
}

async fn mailroom_bag_cancel(State(state): State<WebState>) -> Response {
    send(&state, Command::Cancel).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForwardingQuery {
    department: Option<String>,
}

async fn mailroom_forwarding(
    State(state): State<WebState>,
    Query(query): Query<ForwardingQuery>,
) -> Response {
    let Some(view) = &state.mailroom else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let lists: Vec<_> = view
        .borrow()
        .forwarding
        .iter()
        .filter(|l| {
            query
                .department
                .as_deref()
                .is_none_or(|d| d == l.department)
        })
        .cloned()
        .collect();
    let date = crate::clock::local_date_text(crate::clock::now());
    Html(crate::pages::forwarding(&state.config, &lists, &date)).into_response()
}

async fn mailroom_early_start(State(state): State<WebState>) -> Response {
    send(&state, Command::EarlyRelease(None)).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReasonForm {
    reason: String,
}

async fn mailroom_early_reason(
    State(state): State<WebState>,
    Form(form): Form<ReasonForm>,
) -> Response {
    // Checked in the workflow; bounded here so a pasted file is not carried further.
    if form.reason.len() > 4 * crate::mailroom::REASON_CHARS.end() {
        return bad_request("reason too long");
    }
    send(&state, Command::EarlyRelease(Some(form.reason))).await
}

/// Largest intake form accepted: every field at its limit, with room for percent-encoding.
const MAX_INTAKE_FORM_BYTES: usize = 8 * 1024;

/// Parsed here, checked in the workflow (which answers on the staff's screen).
async fn mailroom_intake(
    State(state): State<WebState>,
    Form(form): Form<crate::mailroom::IntakeForm>,
) -> Response {
    send(&state, Command::Intake(Box::new(form))).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForwardForm {
    department: String,
    reason: String,
}

async fn mailroom_forward_elsewhere(
    State(state): State<WebState>,
    Form(form): Form<ForwardForm>,
) -> Response {
    // Checked in the workflow; bounded here so a pasted file is not carried further.
    if form.reason.len() > 4 * crate::mailroom::CHANGE_REASON_CHARS.end()
        || form.department.len() > 4096
    {
        return bad_request("department or reason too long");
    }
    send(
        &state,
        Command::ForwardElsewhere {
            department: form.department,
            reason: form.reason,
        },
    )
    .await
}

async fn mailroom_bin_label(State(state): State<WebState>) -> Response {
    send(&state, Command::PrintBinLabel).await
}

async fn mailroom_page(State(state): State<WebState>) -> Html<String> {
    Html(crate::pages::mailroom(&state.config))
}

// ---- simulation ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SimScan {
    code: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SimDoor {
    open: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SimScanner {
    connected: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SimPrinterFault {
    fault: String,
    /// Fail only after this many more bytes of the next job: a fault in the middle of a page.
    #[serde(default)]
    after_bytes: Option<u64>,
}

async fn sim_scan(State(state): State<WebState>, Json(body): Json<SimScan>) -> Response {
    match state.inputs.send(Input::Scanned(body.code)).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "station is shutting down").into_response(),
    }
}

async fn sim_button(State(state): State<WebState>) -> Response {
    match &state.sim_pins {
        Some(pins) => {
            pins.button
                .pulse(std::time::Duration::from_millis(pins.press_ms))
                .await;
            StatusCode::ACCEPTED.into_response()
        }
        None => send(&state, Command::Input(Input::ButtonPressed)).await,
    }
}

async fn sim_door(State(state): State<WebState>, Json(body): Json<SimDoor>) -> Response {
    match &state.sim_pins {
        Some(pins) => {
            pins.door.set_active(body.open);
            StatusCode::ACCEPTED.into_response()
        }
        None => send(&state, Command::Input(Input::Door { open: body.open })).await,
    }
}

async fn sim_slot(State(state): State<WebState>) -> Response {
    match &state.sim_pins {
        Some(pins) => {
            pins.slot
                .pulse(std::time::Duration::from_millis(pins.envelope_ms))
                .await;
            StatusCode::ACCEPTED.into_response()
        }
        None => send(&state, Command::Input(Input::EnvelopeDropped)).await,
    }
}

async fn sim_scanner(State(state): State<WebState>, Json(body): Json<SimScanner>) -> Response {
    send(
        &state,
        Command::Input(Input::ScannerConnected(body.connected)),
    )
    .await
}

async fn sim_printer(State(state): State<WebState>, Json(body): Json<SimPrinterFault>) -> Response {
    let status = match body.fault.as_str() {
        "none" => PrinterStatus::Ready,
        "paper_out" => PrinterStatus::PaperOut,
        "cover_open" => PrinterStatus::CoverOpen,
        "offline" => PrinterStatus::Offline,
        "paper_low" => PrinterStatus::PaperLow,
        "paper_jam" => PrinterStatus::Error(PrinterErrorKind::PaperJam),
        _ => {
            return bad_request(
                "fault must be none, paper_low, paper_out, cover_open, paper_jam or offline",
            );
        }
    };
    match &state.sim_printer {
        Some(printer) => {
            match body.after_bytes {
                Some(bytes) => printer.fail_after_bytes(bytes, status),
                None => printer.set_status(status),
            }
            StatusCode::ACCEPTED.into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// What the simulated outputs show now: the printer's state and the lamp.
async fn sim_devices(State(state): State<WebState>) -> Response {
    Json(serde_json::json!({
        "printer": state.sim_printer.as_ref().map(|p| p.status()),
        "lamp": state.sim_pins.as_ref().map(|p| p.lamp.is_active()),
    }))
    .into_response()
}

async fn sim_labels(State(state): State<WebState>) -> Response {
    let Some(printer) = &state.sim_printer else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let labels: Vec<serde_json::Value> = printer
        .printed()
        .into_iter()
        .map(|p| {
            let mut v = serde_json::to_value(&p).unwrap_or_default();
            v["png"] = format!("/sim/labels/{}", p.file).into();
            v
        })
        .collect();
    Json(labels).into_response()
}

async fn sim_label_png(State(state): State<WebState>, Path(file): Path<String>) -> Response {
    let Some(path) = state.sim_printer.as_ref().and_then(|p| p.png_path(&file)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match tokio::fs::read(path).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, "image/png")], bytes).into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn sim_page(State(state): State<WebState>) -> Html<String> {
    Html(crate::pages::sim(&state.config))
}

async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        crate::pages::STYLE,
    )
        .into_response()
}

#[derive(Deserialize)]
struct SimClock {
    offset_secs: i64,
}

/// Steps the simulated wall clock: sets its offset from the machine's, for every station in this
/// process (they share one clock, as on one machine). Answers with the reading it gives now.
async fn sim_clock(Json(body): Json<SimClock>) -> Response {
    let max = crate::clock::MAX_SIMULATED_OFFSET_SECS;
    if !(-max..=max).contains(&body.offset_secs) {
        return bad_request("offset_secs is out of range");
    }
    crate::clock::set_simulated_offset_secs(body.offset_secs);
    tracing::info!(
        "simulation: the wall clock now reads {} s off the machine's",
        body.offset_secs
    );
    Json(crate::clock::now()).into_response()
}
