//! The HTTP surface: the JSON API stations and tools call, the live notice stream, and the
//! routes of the pages; [`app`] builds the router and [`serve`] runs it until shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection, StringRejection};
use axum::extract::{DefaultBodyLimit, Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::{Stream, StreamExt};
use records::api::{ApiError, MAX_PUSH_BYTES, MAX_PUSH_EVENTS, PushRequest};
use records::rotation::RotationRequest;
use records::{IntakeId, StationCode};
use serde::Deserialize;
use tokio::sync::watch;
use tokio_stream::wrappers::BroadcastStream;

use crate::error::Error;
use crate::pages;
use crate::registry::Registry;
use crate::request_auth::Signed;

/// Largest receipt text body the verify endpoint reads.
const MAX_RECEIPT_BODY: usize = 1024;
/// Largest key rotation body: the statement (about 480 characters) in a little JSON.
const MAX_ROTATION_BODY: usize = 2 * 1024;
/// Largest status-page form: the receipt, URL-encoded, with room for a scanner's extra bytes.
const MAX_STATUS_FORM: usize = 4 * 1024;
/// How many intakes the clerk page lists.
pub(crate) const CLERK_PAGE_ROWS: usize = 200;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The register.
    pub registry: Registry,
    // Set once at shutdown, so that endless live streams end and graceful shutdown can finish.
    closing: Arc<watch::Sender<bool>>,
}

impl AppState {
    /// State for [`app`] over `registry`.
    pub fn new(registry: Registry) -> Self {
        AppState {
            registry,
            closing: Arc::new(watch::channel(false).0),
        }
    }

    /// Ends every live stream; [`serve`] calls it when shutdown begins.
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }
}

/// The registry's router: API, live stream and pages.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route(
            "/api/stations/{code}/events",
            post(push_events).layer(DefaultBodyLimit::max(MAX_PUSH_BYTES)),
        )
        .route("/api/stations/{code}/acknowledged", get(acknowledged))
        .route(
            "/api/stations/{code}/keys",
            post(rotate_key).layer(DefaultBodyLimit::max(MAX_ROTATION_BODY)),
        )
        .route("/api/intakes/{id}", get(intake_json))
        .route(
            "/api/receipts/verify",
            post(verify_receipt).layer(DefaultBodyLimit::max(MAX_RECEIPT_BODY)),
        )
        .route("/api/alerts", get(device_alerts))
        .route("/api/collections/{seal}", get(collection_json))
        // `{seal}` matches no empty segment; an empty seal is a bad request all the same.
        .route(
            "/api/collections/",
            get(|State(state): State<AppState>, signed: Signed| {
                collection_json(State(state), Path(String::new()), signed)
            }),
        )
        .route("/events/stream", get(event_stream))
        .route("/", get(pages::clerk))
        .route("/intakes/{id}", get(pages::intake))
        .route(
            "/status",
            get(pages::status_form)
                .post(status_check)
                .layer(DefaultBodyLimit::max(MAX_STATUS_FORM)),
        )
        .with_state(state)
}

/// Serves the registry on `listener` until `shutdown` completes, then finishes open requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    registry: Registry,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = AppState::new(registry);
    let closer = state.clone();
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "registry listening");
    }
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("registry shutting down");
            closer.close_streams();
        })
        .await
}

/// A 4xx/5xx answer with an [`ApiError`] body.
#[derive(Debug, Clone)]
pub struct Failure(StatusCode, ApiError);

impl Failure {
    pub(crate) fn new(status: StatusCode, error: &str, message: impl Into<String>) -> Self {
        Failure(
            status,
            ApiError {
                error: error.into(),
                message: message.into(),
                acknowledged: None,
                seq: None,
            },
        )
    }

    pub(crate) fn unknown_station(code: &str) -> Self {
        Failure::new(
            StatusCode::UNAUTHORIZED,
            "unknown_station",
            format!("station {code:?} is not enrolled at this registry"),
        )
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        match err {
            Error::UnknownStation(code) => Failure::unknown_station(&code),
            Error::Fork { seq, acknowledged } => {
                let mut f = Failure::new(StatusCode::CONFLICT, "fork", err.to_string());
                f.1.seq = Some(seq);
                f.1.acknowledged = Some(acknowledged);
                f
            }
            Error::Chain {
                seq, acknowledged, ..
            } => {
                let mut f =
                    Failure::new(StatusCode::UNPROCESSABLE_ENTITY, "chain", err.to_string());
                f.1.seq = Some(seq);
                f.1.acknowledged = Some(acknowledged);
                f
            }
            Error::BadRequest(message) => {
                Failure::new(StatusCode::BAD_REQUEST, "bad_request", message)
            }
            Error::Enrolment(message) => Failure::new(StatusCode::CONFLICT, "enrolment", message),
            Error::Rotation { code, message } => {
                let status = match code {
                    "bad_request" => StatusCode::BAD_REQUEST,
                    "rotation_conflict" => StatusCode::CONFLICT,
                    _ => StatusCode::UNAUTHORIZED,
                };
                Failure::new(status, code, message)
            }
            other => {
                // The client learns only that it was not its fault; the detail stays in the log.
                tracing::error!(error = %other, "request failed");
                Failure::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; the registry's log says more",
                )
            }
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

fn parse_station(code: &str) -> Result<StationCode, Failure> {
    code.parse().map_err(|_| Failure::unknown_station(code))
}

async fn push_events(
    State(state): State<AppState>,
    Path(code): Path<String>,
    signed: Result<Signed, Failure>,
) -> Result<Response, Failure> {
    let code = parse_station(&code)?;
    let signed = signed?;
    // The body is read (its size bounded) and parsed before the signature decides: a malformed
    // body is a 400 whoever sent it, and parsing stores nothing.
    let request: PushRequest = serde_json::from_slice(&signed.body).map_err(|e| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("not a push request: {e}"),
        )
    })?;
    if request.events.len() > MAX_PUSH_EVENTS {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!(
                "{} events in one push; at most {MAX_PUSH_EVENTS} are allowed",
                request.events.len()
            ),
        ));
    }
    signed.require(&state, code).await?;
    let answer = state.registry.push(code, request.events).await?;
    Ok(Json(answer).into_response())
}

async fn acknowledged(
    State(state): State<AppState>,
    Path(code): Path<String>,
    signed: Signed,
) -> Result<Response, Failure> {
    let code = parse_station(&code)?;
    signed.optional(Some(code))?;
    let acknowledged = state.registry.acknowledged(code).await?;
    Ok(Json(records::api::PushResponse { acknowledged }).into_response())
}

/// A station's key rotation ([`records::rotation`]). The statement carries its own signatures (the
/// old key's authority and the new key's proof of possession), so the request's signature, which
/// the station makes with its new key, not yet approved, decides nothing here.
async fn rotate_key(
    State(state): State<AppState>,
    Path(code): Path<String>,
    body: Result<Json<RotationRequest>, JsonRejection>,
) -> Result<Response, Failure> {
    let code = parse_station(&code)?;
    let Json(request) = body.map_err(|r| Failure::new(r.status(), "bad_request", r.body_text()))?;
    let accepted = state.registry.rotate(code, &request.statement).await?;
    Ok(Json(accepted).into_response())
}

pub(crate) fn parse_intake(text: &str) -> Result<IntakeId, Failure> {
    text.parse().map_err(|e: records::IdError| {
        Failure::new(StatusCode::BAD_REQUEST, "bad_request", e.to_string())
    })
}

async fn intake_json(
    State(state): State<AppState>,
    Path(id): Path<String>,
    signed: Signed,
) -> Result<Response, Failure> {
    signed.optional(None)?;
    let id = parse_intake(&id)?;
    match state.registry.intake(id).await? {
        Some(view) => Ok(Json(view).into_response()),
        None => Err(Failure::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("intake {id} is not in the register"),
        )),
    }
}

async fn collection_json(
    State(state): State<AppState>,
    Path(seal): Path<String>,
    signed: Signed,
) -> Result<Response, Failure> {
    signed.optional(None)?;
    match state.registry.collection(&seal).await? {
        Some(view) => Ok(Json(view).into_response()),
        None => Err(Failure::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no urn collection with seal {seal} is in the register"),
        )),
    }
}

async fn verify_receipt(
    State(state): State<AppState>,
    body: Result<String, StringRejection>,
) -> Result<Response, Failure> {
    let text = body.map_err(|r| Failure::new(r.status(), "bad_request", r.body_text()))?;
    let verdict = state.registry.verify_receipt(&text).await?;
    Ok(Json(verdict).into_response())
}

async fn device_alerts(State(state): State<AppState>, signed: Signed) -> Result<Response, Failure> {
    signed.optional(None)?;
    Ok(Json(state.registry.device_alerts().await?).into_response())
}

/// `?department=` on the stream and the clerk page; empty means all.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DepartmentQuery {
    pub department: Option<String>,
    pub fragment: Option<String>,
}

impl DepartmentQuery {
    pub fn department(&self) -> Option<&str> {
        self.department.as_deref().filter(|d| !d.is_empty())
    }
}

async fn event_stream(
    State(state): State<AppState>,
    query: Result<Query<DepartmentQuery>, QueryRejection>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let department = query
        .ok()
        .and_then(|Query(q)| q.department().map(str::to_owned));
    let mut closing = state.closing.subscribe();
    let stream = BroadcastStream::new(state.registry.subscribe())
        .filter_map(move |item| {
            let out = match item {
                Ok(notice) if notice.concerns(department.as_deref()) => {
                    serde_json::to_string(&notice).ok()
                }
                Ok(_) => None,
                // Fell behind: the page reloads its table instead of missing a change.
                Err(_) => Some(r#"{"type":"resync"}"#.to_owned()),
            };
            std::future::ready(out.map(|json| Ok(SseEvent::default().data(json))))
        })
        .take_until(async move {
            let _ = closing.wait_for(|closed| *closed).await;
        });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// The status page's form.
#[derive(Debug, Deserialize)]
pub(crate) struct StatusForm {
    receipt: String,
}

async fn status_check(
    State(state): State<AppState>,
    form: Result<Form<StatusForm>, FormRejection>,
) -> Response {
    let text = match form {
        Ok(Form(f)) => f.receipt,
        Err(r) => {
            return (
                r.status(),
                Html(pages::status_page(None, None, Some(&r.body_text()))),
            )
                .into_response();
        }
    };
    match state.registry.verify_receipt(&text).await {
        Ok(verdict) => Html(pages::status_page(Some(&text), Some(&verdict), None)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "receipt check failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html(pages::status_page(
                    Some(&text),
                    None,
                    Some("Błąd serwera; spróbuj ponownie / Server error; please try again"),
                )),
            )
                .into_response()
        }
    }
}
