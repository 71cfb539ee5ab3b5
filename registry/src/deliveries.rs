//! What the admin sees of outgoing notifications: `GET /api/deliveries` (JSON, `?failing=true`
//! for the failing ones only), `GET /api/deliveries/{id}` (one delivery with its attempt log)
//! and the page `/admin/deliveries`, which lists the failing deliveries first. Admins only: a
//! webhook's URL and a department's addresses are not every clerk's business.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::auth::Clerk;
use crate::error::Error;
use crate::http::{AppState, Failure};
use crate::openapi::schemas;
use crate::outbox::{Attempt, Delivery};
use crate::pages::escape;
use crate::store::ClerkRole;

/// Most deliveries one request lists.
pub const MAX_LIST: usize = 500;
/// How many the page lists below the failing ones.
const PAGE_RECENT: usize = 50;

/// `?failing=` and `?limit=`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    #[serde(default)]
    failing: bool,
    limit: Option<usize>,
}

#[derive(Debug, Serialize)]
struct DeliveryView<'a> {
    #[serde(flatten)]
    delivery: &'a Delivery,
    /// Not delivered after `failing_after` attempts (still retried).
    failing: bool,
}

#[derive(Debug, Serialize)]
struct ListView<'a> {
    failing_after: u32,
    deliveries: Vec<DeliveryView<'a>>,
}

#[derive(Debug, Serialize)]
struct OneView<'a> {
    #[serde(flatten)]
    delivery: DeliveryView<'a>,
    attempts: &'a [Attempt],
}

async fn read<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&dyn crate::RegisterStore) -> crate::Result<T> + Send + 'static,
) -> Result<T, Failure> {
    let store = state.registry.store();
    tokio::task::spawn_blocking(move || f(store.as_ref()))
        .await
        .map_err(|e| Failure::from(Error::Task(e.to_string())))?
        .map_err(Failure::from)
}

/// Refuses a signed-in clerk who is not the admin.
pub(crate) fn admin_only(clerk: &Clerk) -> Result<(), Failure> {
    if clerk.0.role == ClerkRole::Admin {
        Ok(())
    } else {
        Err(Failure::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Tylko dla administratora / Admins only",
        ))
    }
}

fn failing_after(state: &AppState) -> u32 {
    state.registry.config().notifications.retry.failing_after
}

#[utoipa::path(
    get,
    path = "/api/deliveries",
    tag = "admin",
    params(
        ("failing" = Option<bool>, Query, description = "Only those undelivered after `failing_after` attempts"),
        ("limit" = Option<u32>, Query, description = "Most deliveries, 1 to 500 (default 100)"),
    ),
    responses(
        (status = 200, description = "The deliveries, newest first", body = schemas::DeliveryList),
        (status = 400, description = "A parameter that cannot be read, or an unknown one", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not the admin", body = schemas::ApiError),
    ),
    security(("clerk_session" = [])),
)]
/// `GET /api/deliveries`: the newest deliveries (or the failing ones), newest first.
pub(crate) async fn list(
    State(state): State<AppState>,
    clerk: Clerk,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, Failure> {
    admin_only(&clerk)?;
    let Query(q) =
        query.map_err(|r| Failure::new(StatusCode::BAD_REQUEST, "bad_request", r.body_text()))?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_LIST {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("limit is 1 to {MAX_LIST}"),
        ));
    }
    let after = failing_after(&state);
    let only = q.failing.then_some(after);
    let found = read(&state, move |s| s.deliveries(only, limit)).await?;
    Ok(Json(ListView {
        failing_after: after,
        deliveries: found
            .iter()
            .map(|d| DeliveryView {
                delivery: d,
                failing: d.failing(after),
            })
            .collect(),
    })
    .into_response())
}

#[utoipa::path(
    get,
    path = "/api/deliveries/{id}",
    tag = "admin",
    params(("id" = i64, Path, description = "The delivery's id")),
    responses(
        (status = 200, description = "The delivery and its attempts", body = schemas::DeliveryDetail),
        (status = 400, description = "Not a number", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
        (status = 403, description = "Not the admin", body = schemas::ApiError),
        (status = 404, description = "No such delivery", body = schemas::ApiError),
    ),
    security(("clerk_session" = [])),
)]
/// `GET /api/deliveries/{id}`: one delivery and every attempt made.
pub(crate) async fn one(
    State(state): State<AppState>,
    clerk: Clerk,
    id: Result<Path<i64>, PathRejection>,
) -> Result<Response, Failure> {
    admin_only(&clerk)?;
    let Path(id) = id.map_err(|_| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "a delivery id is a number",
        )
    })?;
    let (found, attempts) = read(&state, move |s| Ok((s.delivery(id)?, s.attempts(id)?))).await?;
    let Some(found) = found else {
        return Err(Failure::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no delivery has the id {id}"),
        ));
    };
    let after = failing_after(&state);
    Ok(Json(OneView {
        delivery: DeliveryView {
            delivery: &found,
            failing: found.failing(after),
        },
        attempts: &attempts,
    })
    .into_response())
}

fn time(ms: Option<i64>) -> String {
    ms.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map(|t| {
            t.to_zoned(jiff::tz::TimeZone::system())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| "—".into())
}

fn rows(deliveries: &[Delivery]) -> String {
    let mut out = String::new();
    for d in deliveries {
        let state = if d.delivered_ms.is_some() {
            "dostarczone / delivered".to_owned()
        } else {
            format!("ponawiane o / retrying at {}", time(d.next_ms))
        };
        out.push_str(&format!(
            "<tr><td>{id}</td><td><a href=\"/intakes/{intake}\">{intake}</a></td><td>{dep}</td>\
             <td>{kind}</td><td>{target}</td><td>{attempts}</td><td>{last}</td><td>{error}</td>\
             <td>{state}</td></tr>\n",
            id = d.id,
            intake = d.intake,
            dep = escape(&d.department),
            kind = d.kind.name(),
            target = escape(&d.target),
            attempts = d.attempts,
            last = time(d.last_ms),
            error = escape(d.last_error.as_deref().unwrap_or("")),
            state = escape(&state),
        ));
    }
    out
}

const HEAD: &str = "<tr><th>nr / no.</th><th>pismo / intake</th><th>wydział / department</th>\
     <th>kanał / via</th><th>odbiorca / target</th><th>próby / attempts</th>\
     <th>ostatnia próba / last attempt</th><th>błąd / error</th><th>stan / state</th></tr>";

#[utoipa::path(
    get,
    path = "/admin/deliveries",
    tag = "admin",
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to `/login?next=…`", headers(("Location" = String))),
        (status = 403, description = "Not the admin", content_type = "text/html", body = String),
    ),
    security(("clerk_session" = [])),
)]
/// `GET /admin/deliveries`: the failing deliveries, then the newest ones.
pub(crate) async fn page(State(state): State<AppState>, clerk: Clerk) -> Response {
    if admin_only(&clerk).is_err() {
        return (
            StatusCode::FORBIDDEN,
            Html(
                "<!doctype html>\n<html lang=\"pl\"><head><meta charset=\"utf-8\">\
                 <title>403</title></head><body><p>Tylko dla administratora. / Admins only.</p>\
                 </body></html>\n",
            ),
        )
            .into_response();
    }
    let after = failing_after(&state);
    let found = read(&state, move |s| {
        Ok((
            s.deliveries(Some(after), MAX_LIST)?,
            s.deliveries(None, PAGE_RECENT)?,
        ))
    })
    .await;
    let (failing, recent) = match found {
        Ok(f) => f,
        Err(f) => return f.into_response(),
    };
    let failing_html = if failing.is_empty() {
        "<p>Brak nieudanych powiadomień. / No failing notifications.</p>".to_owned()
    } else {
        format!(
            "<p class=\"failing\">{n} powiadomień nie dotarło po {after} lub więcej próbach; \
             są ponawiane. / {n} notifications have failed {after} or more times; they are \
             being retried.</p><table>{HEAD}{}</table>",
            rows(&failing),
            n = failing.len(),
        )
    };
    Html(format!(
        "<!doctype html>\n<html lang=\"pl\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>Powiadomienia / Notifications</title><style>{STYLE}</style></head><body>\
         <h1>Powiadomienia wydziałów / Department notifications</h1>\
         <section id=\"failing\"><h2>Nieudane / Failing</h2>{failing_html}</section>\
         <section id=\"recent\"><h2>Ostatnie / Recent</h2><table>{HEAD}{}</table></section>\
         </body></html>\n",
        rows(&recent)
    ))
    .into_response()
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}\
table{border-collapse:collapse;width:100%}\
th,td{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}\
th{background:#f3f3f3}\
.failing{background:#fde8ea;border-left:.4rem solid #b00020;padding:.75rem 1rem}";
