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
use futures_util::{Stream, StreamExt};
use records::api::{
    ApiError, MAX_PUSH_BYTES, MAX_PUSH_EVENTS, MAX_REPORT_BYTES, PushRequest, StationReport,
};
use records::rotation::RotationRequest;
use records::{IntakeId, StationCode};
use serde::Deserialize;
use tokio::sync::watch;
use tokio_stream::wrappers::BroadcastStream;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::auth::{self, Clerk, MaybeClerk};
use crate::clerks::Scope;
use crate::error::Error;
use crate::openapi::schemas;
use crate::pages;
use crate::registry::Registry;
use crate::request_auth::Signed;
use crate::search;

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
    /// The resident status checks' allowance per client.
    pub(crate) status_limiter: Arc<crate::rate_limit::StatusLimiter>,
    /// When each station was last marked seen, so a busy one costs no write per request.
    pub(crate) seen_marks: Arc<crate::fleet::SeenMarks>,
}

impl AppState {
    /// State for [`app`] over `registry`.
    pub fn new(registry: Registry) -> Self {
        AppState {
            registry,
            closing: Arc::new(watch::channel(false).0),
            status_limiter: Arc::default(),
            seen_marks: Arc::default(),
        }
    }

    /// Ends every live stream; [`serve`] calls it when shutdown begins.
    pub fn close_streams(&self) {
        self.closing.send_replace(true);
    }
}

/// The registry's router: API, live stream and pages, within the server's limits (`[http]`).
pub fn app(state: AppState) -> Router {
    let (router, _) = routes().split_for_parts();
    crate::limits::apply(router, &state.registry.config().http)
        // Outside the limits, so that their 408 and 503 answers are counted too.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .with_state(state)
}

/// Every route, each with its description: [`app`] serves them, `/openapi.json` describes them
/// ([`crate::openapi`]). A route added here any other way than `.routes(routes!(…))` would be
/// served undescribed; the tests refuse that.
pub fn routes() -> OpenApiRouter<AppState> {
    use crate::{deliveries, fleet, reports};
    OpenApiRouter::with_openapi(crate::openapi::base())
        .routes(routes!(push_events).layer(DefaultBodyLimit::max(MAX_PUSH_BYTES)))
        .routes(routes!(acknowledged))
        .routes(routes!(station_report).layer(DefaultBodyLimit::max(MAX_REPORT_BYTES)))
        .routes(routes!(rotate_key).layer(DefaultBodyLimit::max(MAX_ROTATION_BODY)))
        .routes(routes!(search_json))
        .routes(routes!(intake_json))
        .routes(routes!(acknowledge_json))
        .routes(routes!(export_csv))
        .routes(routes!(pages::acknowledge))
        .routes(
            routes!(auth::login_form, auth::login_submit)
                .layer(DefaultBodyLimit::max(auth::MAX_LOGIN_FORM)),
        )
        .routes(routes!(auth::logout))
        .routes(routes!(verify_receipt).layer(DefaultBodyLimit::max(MAX_RECEIPT_BODY)))
        .routes(routes!(device_alerts))
        .routes(routes!(collection_json))
        .routes(routes!(collection_json_empty))
        // Admin only (checked in the handlers).
        .routes(routes!(deliveries::list))
        .routes(routes!(deliveries::one))
        .routes(routes!(deliveries::page))
        .routes(routes!(fleet::api))
        .routes(routes!(fleet::page_handler))
        // Clerks and admins, scoped in the handlers.
        .routes(routes!(reports::page_handler))
        .routes(routes!(reports::csv_handler))
        .routes(routes!(event_stream))
        .routes(routes!(pages::clerk))
        .routes(routes!(pages::intake))
        .routes(
            routes!(pages::status_form, status_check).layer(DefaultBodyLimit::max(MAX_STATUS_FORM)),
        )
        .routes(routes!(crate::openapi::openapi_json))
        .routes(routes!(crate::metrics::scrape))
}

/// Serves the registry on `listener` until `shutdown` completes, then finishes open requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    registry: Registry,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // A secret file that cannot be read stops the start, naming the key.
    let notifier = crate::notifier::Notifier::start(registry.clone())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    let watcher = crate::fleet::Watcher::start(registry.clone());
    let state = AppState::new(registry);
    let closer = state.clone();
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "registry listening");
    }
    // The peer's address feeds the status checks' rate limit.
    let served = axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("registry shutting down");
        closer.close_streams();
    })
    .await;
    notifier.stop().await;
    watcher.stop();
    served
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

    /// What the body says, for people.
    pub(crate) fn message(&self) -> &str {
        &self.1.message
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
            Error::NotFound(message) => Failure::new(StatusCode::NOT_FOUND, "not_found", message),
            Error::Forbidden(message) => Failure::new(StatusCode::FORBIDDEN, "forbidden", message),
            Error::Conflict(message) => Failure::new(StatusCode::CONFLICT, "conflict", message),
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

/// A station's events, continuing after what the registry acknowledged.
#[utoipa::path(
    post,
    path = "/api/stations/{code}/events",
    tag = "stations",
    params(("code" = String, Path, description = "The station's code, e.g. `GW7K`")),
    request_body(content = schemas::PushRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Stored (again: nothing changed)", body = schemas::PushResponse),
        (status = 400, description = "Not a push request, or too many events", body = schemas::ApiError),
        (status = 401, description = "Unsigned, unknown, pending or revoked key, or a bad signature", body = schemas::ApiError),
        (status = 409, description = "A fork: a different event at an accepted seq", body = schemas::ApiError),
        (status = 413, description = "Body over 4 MiB", body = schemas::ApiError),
        (status = 422, description = "The chain breaks (a gap or a wrong previous hash)", body = schemas::ApiError),
    ),
    security(("station_signature" = [])),
)]
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
    // The signature, the nonce and the push in one trip to the blocking pool, the nonce
    // committed with the events.
    let answer = signed.push(&state, code, request.events).await?;
    Ok(Json(answer).into_response())
}

/// The highest seq the registry holds of the station, nothing missing before it.
#[utoipa::path(
    get,
    path = "/api/stations/{code}/acknowledged",
    tag = "stations",
    params(("code" = String, Path, description = "The station's code, e.g. `GW7K`")),
    responses(
        (status = 200, description = "What the registry holds", body = schemas::PushResponse),
        (status = 400, description = "A body that cannot be read", body = schemas::ApiError),
        (status = 401, description = "An unknown station, or a signature that is wrong", body = schemas::ApiError),
    ),
    security((), ("station_signature" = [])),
)]
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

/// What a station reports about itself: its log's tip, from which the fleet view shows its
/// backlog ([`crate::station_report`]). Signed and checked exactly as a push.
#[utoipa::path(
    post,
    path = "/api/stations/{code}/report",
    tag = "stations",
    params(("code" = String, Path, description = "The station's code, e.g. `GW7K`")),
    request_body(content = schemas::StationReport, content_type = "application/json"),
    responses(
        (status = 204, description = "Kept as the station's latest report"),
        (status = 400, description = "Not a station report (nothing is kept)", body = schemas::ApiError),
        (status = 401, description = "Unsigned, unknown, pending or revoked key, a replayed nonce, or a bad signature", body = schemas::ApiError),
        (status = 413, description = "Body over 4 KiB", body = schemas::ApiError),
    ),
    security(("station_signature" = [])),
)]
async fn station_report(
    State(state): State<AppState>,
    Path(code): Path<String>,
    signed: Result<Signed, Failure>,
) -> Result<Response, Failure> {
    let code = parse_station(&code)?;
    let signed = signed?;
    // As a push: a malformed body is a 400 whoever sent it, and reading it keeps nothing.
    let report: StationReport = serde_json::from_slice(&signed.body).map_err(|e| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!(
                "To nie jest raport stacji (oczekiwano {{\"log_tip\": liczba}}) / \
                 Not a station report (expected {{\"log_tip\": number}}): {e}"
            ),
        )
    })?;
    signed.require(&state, code).await?;
    state.registry.record_report(code, report).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(
    post,
    path = "/api/stations/{code}/keys",
    tag = "stations",
    params(("code" = String, Path, description = "The station's code, e.g. `GW7K`")),
    request_body(content = schemas::RotationRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The new key is approved (`replayed`: it was before)", body = schemas::RotationAccepted),
        (status = 400, description = "Not a rotation statement", body = schemas::ApiError),
        (status = 401, description = "The old key is unknown, revoked or not approved, or a signature fails", body = schemas::ApiError),
        (status = 409, description = "The old key already has a different successor", body = schemas::ApiError),
        (status = 413, description = "Body over 2 KiB", body = schemas::ApiError),
        (status = 415, description = "Not `application/json`", body = schemas::ApiError),
        (status = 422, description = "JSON of the wrong shape", body = schemas::ApiError),
    ),
)]
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

/// Who may read an intake, a collection or the device alerts: a station of the office (a signed
/// request by an approved key: the mailroom looks up any letter) or a signed-in clerk, within
/// their scope. Anyone else gets 401.
fn reader_scope(clerk: MaybeClerk, signed: Signed) -> Result<Scope, Failure> {
    if signed.optional(None)?.is_some() {
        return Ok(Scope::All);
    }
    match clerk.0 {
        Some(session) => Ok(session.scope()),
        None => Err(auth::unauthenticated()),
    }
}

/// An intake and its custody timeline, for a station or a clerk who may see it.
#[utoipa::path(
    get,
    path = "/api/intakes/{id}",
    tag = "intakes",
    params(("id" = String, Path, description = "The intake's id, as on its label and receipt")),
    responses(
        (status = 200, description = "The intake", body = schemas::IntakeView),
        (status = 400, description = "Not an intake id", body = schemas::ApiError),
        (status = 401, description = "Neither a session nor a valid station signature", body = schemas::ApiError),
        (status = 404, description = "Not in the register, or another department's", body = schemas::ApiError),
    ),
    security(("clerk_session" = []), ("station_signature" = [])),
)]
async fn intake_json(
    State(state): State<AppState>,
    Path(id): Path<String>,
    clerk: MaybeClerk,
    signed: Signed,
) -> Result<Response, Failure> {
    let scope = reader_scope(clerk, signed)?;
    let id = parse_intake(&id)?;
    // Another department's intake is "not in the register" for this caller, as an unknown one.
    match state.registry.intake_in(id, scope).await? {
        Some(view) => Ok(Json(view).into_response()),
        None => Err(Failure::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("intake {id} is not in the register"),
        )),
    }
}

/// What an urn recorded for the collection whose bag has this seal.
#[utoipa::path(
    get,
    path = "/api/collections/{seal}",
    tag = "intakes",
    params(("seal" = String, Path, description = "The seal on the bag")),
    responses(
        (status = 200, description = "The collection; a clerk sees their department's deposits only", body = schemas::CollectionView),
        (status = 400, description = "Not a seal", body = schemas::ApiError),
        (status = 401, description = "Neither a session nor a valid station signature", body = schemas::ApiError),
        (status = 404, description = "No collection with that seal", body = schemas::ApiError),
    ),
    security(("clerk_session" = []), ("station_signature" = [])),
)]
async fn collection_json(
    State(state): State<AppState>,
    Path(seal): Path<String>,
    clerk: MaybeClerk,
    signed: Signed,
) -> Result<Response, Failure> {
    let scope = reader_scope(clerk, signed)?;
    match state.registry.collection_in(&seal, scope).await? {
        Some(view) => Ok(Json(view).into_response()),
        None => Err(Failure::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no urn collection with seal {seal} is in the register"),
        )),
    }
}

/// `{seal}` matches no empty segment; an empty seal is a bad request all the same.
#[utoipa::path(
    get,
    path = "/api/collections/",
    tag = "intakes",
    responses(
        (status = 400, description = "No seal", body = schemas::ApiError),
        (status = 401, description = "Neither a session nor a valid station signature", body = schemas::ApiError),
    ),
    security(("clerk_session" = []), ("station_signature" = [])),
)]
async fn collection_json_empty(
    state: State<AppState>,
    clerk: MaybeClerk,
    signed: Signed,
) -> Result<Response, Failure> {
    collection_json(state, Path(String::new()), clerk, signed).await
}

/// A resident's receipt checked: genuine, forged or altered.
#[utoipa::path(
    post,
    path = "/api/receipts/verify",
    tag = "residents",
    request_body(content = String, content_type = "text/plain", description = "The receipt's text (`URNA1:…`)"),
    responses(
        (status = 200, description = "The verdict", body = schemas::ReceiptVerdict),
        (status = 400, description = "Not UTF-8 text", body = schemas::ApiError),
        (status = 413, description = "Body over 1 KiB", body = schemas::ApiError),
        (status = 429, description = "Too many checks from this address", body = schemas::ApiError,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
)]
async fn verify_receipt(
    _quota: crate::rate_limit::StatusQuota,
    State(state): State<AppState>,
    body: Result<String, StringRejection>,
) -> Result<Response, Failure> {
    let text = body.map_err(|r| Failure::new(r.status(), "bad_request", r.body_text()))?;
    let verdict = state.registry.verify_receipt(&text).await?;
    Ok(Json(verdict).into_response())
}

/// Every open device alert, for stations and clerks.
#[utoipa::path(
    get,
    path = "/api/alerts",
    tag = "intakes",
    responses(
        (status = 200, description = "The alerts, oldest first", body = schemas::DeviceAlerts),
        (status = 400, description = "A body that cannot be read", body = schemas::ApiError),
        (status = 401, description = "Neither a session nor a valid station signature", body = schemas::ApiError),
    ),
    security(("clerk_session" = []), ("station_signature" = [])),
)]
async fn device_alerts(
    State(state): State<AppState>,
    clerk: MaybeClerk,
    signed: Signed,
) -> Result<Response, Failure> {
    // Devices belong to no department: every clerk sees them.
    reader_scope(clerk, signed)?;
    Ok(Json(state.registry.device_alerts().await?).into_response())
}

/// `?department=` on an admin's stream; empty means all.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DepartmentQuery {
    pub department: Option<String>,
}

impl DepartmentQuery {
    pub fn department(&self) -> Option<&str> {
        self.department.as_deref().filter(|d| !d.is_empty())
    }
}

/// The live notices of the clerk's department (an admin: all, or `?department=`), as
/// server-sent events; open until the session ends or the server stops.
#[utoipa::path(
    get,
    path = "/events/stream",
    tag = "intakes",
    params(("department" = Option<String>, Query, description = "An admin's narrowing to one department")),
    responses(
        (status = 200, description = "One JSON notice per `data:` line", content_type = "text/event-stream", body = String),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
    ),
    security(("clerk_session" = [])),
)]
async fn event_stream(
    State(state): State<AppState>,
    Clerk(session): Clerk,
    query: Result<Query<DepartmentQuery>, QueryRejection>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    // A clerk hears their own department, whatever the query says; an admin may narrow to one.
    let department = match session.scope() {
        Scope::Department(d) => Some(d),
        Scope::All => query
            .ok()
            .and_then(|Query(q)| q.department().map(str::to_owned)),
    };
    // The stream ends with the session; the page then finds itself signed out.
    let left_ms = session.expires_ms - jiff::Timestamp::now().as_millisecond();
    let expiry = tokio::time::sleep(std::time::Duration::from_millis(
        u64::try_from(left_ms).unwrap_or(0),
    ));
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
            tokio::select! {
                _ = closing.wait_for(|closed| *closed) => {}
                () = expiry => {}
            }
        });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// The status page's form.
#[derive(Debug, Deserialize)]
pub(crate) struct StatusForm {
    receipt: String,
}

/// The status page's form sent: the page again, with the verdict.
#[utoipa::path(
    post,
    path = "/status",
    tag = "pages",
    request_body(content = schemas::StatusForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The page with the verdict", content_type = "text/html", body = String),
        (status = 400, description = "A form that cannot be read", content_type = "text/html", body = String),
        (status = 413, description = "Form over 4 KiB", content_type = "text/html", body = String),
        (status = 415, description = "Not a form", content_type = "text/html", body = String),
        (status = 422, description = "No `receipt` field", content_type = "text/html", body = String),
        (status = 429, description = "Too many checks from this address", content_type = "text/html", body = String,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
)]
async fn status_check(
    _quota: crate::rate_limit::StatusQuota,
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

/// The query pairs of a search route, or the 400 that says why they cannot be read.
pub(crate) fn search_query(
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    extra: &[&str],
) -> Result<search::Search, Failure> {
    let Query(pairs) =
        query.map_err(|r| Failure::new(StatusCode::BAD_REQUEST, "bad_query", r.body_text()))?;
    search::parse(&pairs, extra)
        .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, "bad_query", e.0))
}

/// One intake in a search answer.
#[derive(Debug, serde::Serialize)]
struct IntakeRow {
    id: IntakeId,
    received_at: records::Timestamp,
    channel: records::Channel,
    category: String,
    department: String,
    reference: Option<String>,
    status: records::api::IntakeStatus,
}

#[utoipa::path(
    get,
    path = "/api/intakes",
    tag = "intakes",
    params(schemas::SearchParams),
    responses(
        (status = 200, description = "The intakes that match", body = schemas::SearchAnswer),
        (status = 400, description = "A parameter that cannot be read, or an unknown one", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
    ),
    security(("clerk_session" = [])),
)]
/// `GET /api/intakes?id=&reference=&from=&to=&station=&status=&department=&limit=`: the
/// intakes the clerk may see that match, newest first.
async fn search_json(
    State(state): State<AppState>,
    Clerk(session): Clerk,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Failure> {
    let search = search_query(query, &[])?;
    let limit = search.limit.unwrap_or(search::DEFAULT_API_ROWS);
    let rows: Vec<IntakeRow> = state
        .registry
        .search(&search, session.scope(), limit)
        .await?
        .into_iter()
        .map(|i| IntakeRow {
            id: i.id,
            received_at: i.received_at,
            channel: i.channel,
            category: i.category,
            department: i.department,
            reference: i.reference,
            status: i.status,
        })
        .collect();
    Ok(Json(serde_json::json!({ "count": rows.len(), "intakes": rows })).into_response())
}

#[utoipa::path(
    get,
    path = "/intakes.csv",
    tag = "intakes",
    params(schemas::SearchParams),
    responses(
        (status = 200, description = "The register's fields as CSV", content_type = "text/csv", body = String),
        (status = 400, description = "A parameter that cannot be read, or an unknown one", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
    ),
    security(("clerk_session" = [])),
)]
/// `GET /intakes.csv?…` (the search's parameters): the register's fields as CSV.
async fn export_csv(
    State(state): State<AppState>,
    Clerk(session): Clerk,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, Failure> {
    let search = search_query(query, &[])?;
    let rows = state.registry.export(&search, session.scope()).await?;
    let body = search::csv(state.registry.config(), &rows)
        .map_err(|e| Failure::from(Error::Task(format!("writing the CSV: {e}"))))?;
    tracing::info!(username = %session.username, rows = rows.len(), "register exported as CSV");
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"rejestr-przesylek.csv\"",
            ),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response())
}

#[utoipa::path(
    post,
    path = "/api/intakes/{id}/acknowledge",
    tag = "intakes",
    params(("id" = String, Path, description = "The intake's id, as on its label and receipt")),
    responses(
        (status = 200, description = "Acknowledged (`recorded`: by this request)", body = schemas::Acknowledged),
        (status = 400, description = "Not an intake id", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not a clerk of the intake's department", body = schemas::ApiError),
        (status = 404, description = "Not in the register", body = schemas::ApiError),
        (status = 409, description = "Not forwarded to the department yet", body = schemas::ApiError),
    ),
    security(("clerk_session" = [])),
)]
/// `POST /api/intakes/{id}/acknowledge`: the clerk's department confirms it has the letter.
async fn acknowledge_json(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Clerk(session): Clerk,
) -> Result<Response, Failure> {
    let id = parse_intake(&id)?;
    let done = state.registry.acknowledge(id, &session).await?;
    Ok(Json(serde_json::json!({
        "intake": done.intake,
        "recorded": done.recorded,
        "seq": done.seq,
        "status": records::api::IntakeStatus::Acknowledged,
    }))
    .into_response())
}
