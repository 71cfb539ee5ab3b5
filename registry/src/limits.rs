//! The server's limits (`[http]`, [`HttpConfig`]): a request gets `request_timeout_secs` from its
//! headers to its answer's headers, body included, or 408; past `max_concurrent_requests` in
//! flight, a request is refused at once with 503 and `Retry-After` instead of waiting in a queue
//! that only grows under load.
//!
//! Both count until the answer's headers are sent, not while its body streams: the live stream
//! (`/events/stream`) answers at once, then stays open without holding a slot or meeting the
//! timeout (it ends with the session or at shutdown).

use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower::load_shed::error::Overloaded;
use tower::timeout::TimeoutLayer;
use tower::timeout::error::Elapsed;

use crate::config::HttpConfig;
use crate::http::{AppState, Failure};

/// Seconds a shed client is asked to wait: requests are short, so a slot is free again soon.
const RETRY_AFTER_SECS: u64 = 1;

/// `router` with the limits around every route (one concurrency count shared by all of them).
pub fn apply(router: Router<AppState>, config: &HttpConfig) -> Router<AppState> {
    let timeout = Duration::from_secs(config.request_timeout_secs.max(1));
    router.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(move |e| refusal(e, timeout)))
            .layer(LoadShedLayer::new())
            .layer(GlobalConcurrencyLimitLayer::new(
                config.max_concurrent_requests.max(1),
            ))
            .layer(TimeoutLayer::new(timeout)),
    )
}

async fn refusal(error: tower::BoxError, timeout: Duration) -> Response {
    if error.is::<Overloaded>() {
        tracing::warn!("request refused: the concurrency limit is reached");
        let mut response = Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            format!(
                "Serwer jest przeciążony; spróbuj za {RETRY_AFTER_SECS} s / The server is busy; try again in {RETRY_AFTER_SECS} s"
            ),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        response
    } else if error.is::<Elapsed>() {
        tracing::warn!(
            timeout_secs = timeout.as_secs(),
            "request cut: not answered in time"
        );
        let mut response = Failure::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!(
                "Żądanie trwało dłużej niż {} s; nic nie zapisano / The request took longer than {} s; nothing was stored",
                timeout.as_secs(),
                timeout.as_secs()
            ),
        )
        .into_response();
        // The rest of a body that came too slowly is not worth reading.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    } else {
        tracing::error!(%error, "request failed in the server's layers");
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the registry's log says more",
        )
        .into_response()
    }
}
