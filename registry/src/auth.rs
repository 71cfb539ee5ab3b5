//! Who is asking: the clerk's session cookie, the sign-in and sign-out routes, and the
//! extractors clerk routes take.
//!
//! The cookie carries a random 256-bit token, `HttpOnly` (no script reads it) and
//! `SameSite=Strict` (no other site's page sends it, so no other site can make a signed-in
//! clerk's browser acknowledge or export anything); `Secure` when the request came through the
//! office's TLS proxy (`X-Forwarded-Proto: https`). The register keeps only the token's SHA-256.
//!
//! A request without a live session is refused: a page request is sent to `/login` (and back
//! after), an API request, a live stream, a CSV export or a fragment the page script fetches
//! gets 401 with a JSON body.

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::clerks::{LoginOutcome, MAX_PASSWORD_BYTES, Session};
use crate::http::{AppState, Failure};
use crate::openapi::schemas;
use crate::pages::{escape, page};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "urna_session";
/// Largest sign-in form: username, password, where to go next.
pub const MAX_LOGIN_FORM: usize = 4 * 1024;

/// The session token the request's cookie carries, if any.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
}

/// Whether a refused request should get JSON rather than a redirect to the sign-in page.
fn wants_json(parts: &Parts) -> bool {
    let path = parts.uri.path();
    path.starts_with("/api/")
        || path.starts_with("/events/")
        || path.ends_with(".csv")
        || parts.uri.query().is_some_and(|q| q.contains("fragment="))
}

async fn session_of(parts: &Parts, state: &AppState) -> Result<Option<Session>, Failure> {
    let Some(token) = cookie_token(&parts.headers) else {
        return Ok(None);
    };
    state.registry.session(&token).await.map_err(Failure::from)
}

/// A signed-in clerk (or admin); requests without a live session are refused (see the module).
#[derive(Debug, Clone)]
pub struct Clerk(pub Session);

impl FromRequestParts<AppState> for Clerk {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match session_of(parts, state).await {
            Ok(Some(session)) => Ok(Clerk(session)),
            Ok(None) if wants_json(parts) => Err(unauthenticated().into_response()),
            Ok(None) => {
                // Back where they were after signing in; a form's POST cannot be repeated by a
                // redirect, so that goes back to the list.
                let next = if parts.method == axum::http::Method::GET {
                    parts.uri.path_and_query().map_or("/", |p| p.as_str())
                } else {
                    "/"
                }
                .to_owned();
                let to = format!(
                    "/login?next={}",
                    percent_encoding::utf8_percent_encode(
                        &next,
                        percent_encoding::NON_ALPHANUMERIC
                    )
                );
                Err(Redirect::to(&to).into_response())
            }
            Err(f) => Err(f.into_response()),
        }
    }
}

/// The session, if the request has a live one; for routes stations may also call.
#[derive(Debug, Clone)]
pub struct MaybeClerk(pub Option<Session>);

impl FromRequestParts<AppState> for MaybeClerk {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        Ok(MaybeClerk(session_of(parts, state).await?))
    }
}

/// The 401 an API caller without a session gets.
pub fn unauthenticated() -> Failure {
    Failure::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "Zaloguj się: POST /login / Sign in first: POST /login",
    )
}

/// `next` as given, when it is a path on this server; `/` otherwise (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && n.len() <= 1024
                && !n.chars().any(char::is_control) =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

fn session_cookie(value: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("urna_session=; Path=/; Max-Age=0"))
}

/// `?next=` on the sign-in page.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

/// The sign-in form.
#[derive(Deserialize)]
pub(crate) struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

/// The sign-in page.
pub fn login_page(next: &str, error: Option<&str>) -> String {
    let error = error.map_or_else(String::new, |e| {
        format!(
            "<section class=\"forged\" id=\"login-error\" role=\"alert\"><p>{}</p></section>",
            escape(e)
        )
    });
    let body = format!(
        "<h1>Logowanie / Sign in</h1>{error}\
         <form method=\"post\" action=\"/login\" class=\"login\">\
         <input type=\"hidden\" name=\"next\" value=\"{next}\">\
         <p><label>Nazwa użytkownika / Username<br>\
         <input type=\"text\" name=\"username\" autocomplete=\"username\" autofocus required maxlength=\"64\"></label></p>\
         <p><label>Hasło / Password<br>\
         <input type=\"password\" name=\"password\" autocomplete=\"current-password\" required maxlength=\"{MAX_PASSWORD_BYTES}\"></label></p>\
         <p><button type=\"submit\">Zaloguj / Sign in</button></p></form>\
         <p><a href=\"/status\">Sprawdź potwierdzenie / Check a receipt</a></p>",
        next = escape(next),
    );
    page("Logowanie / Sign in — urna", &body)
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The sign-in page.
#[utoipa::path(
    get,
    path = "/login",
    tag = "pages",
    params(("next" = Option<String>, Query, description = "Where to go after signing in: a path on this server")),
    responses((status = 200, description = "The sign-in form", content_type = "text/html", body = String)),
)]
pub(crate) async fn login_form(query: Result<Query<NextQuery>, QueryRejection>) -> Response {
    let next = query.ok().and_then(|Query(q)| q.next);
    no_store(Html(login_page(&safe_next(next.as_deref()), None)).into_response())
}

/// The sign-in form sent: a session cookie and on to `next`, or the form again saying why not.
#[utoipa::path(
    post,
    path = "/login",
    tag = "pages",
    request_body(content = schemas::LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: to `next`", headers(
            ("Location" = String),
            ("Set-Cookie" = String, description = "`urna_session=…; HttpOnly; SameSite=Strict`"),
        )),
        (status = 400, description = "A form that cannot be read, or a password too long", content_type = "text/html", body = String),
        (status = 401, description = "Wrong username or password", content_type = "text/html", body = String),
        (status = 413, description = "Form over 4 KiB", content_type = "text/html", body = String),
        (status = 415, description = "Not a form", content_type = "text/html", body = String),
        (status = 422, description = "A field missing", content_type = "text/html", body = String),
        (status = 429, description = "Too many failed attempts: the account is locked for a while", content_type = "text/html", body = String,
            headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
)]
pub(crate) async fn login_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(f)) => f,
        Err(r) => {
            let page = login_page("/", Some(&r.body_text()));
            return no_store((r.status(), Html(page)).into_response());
        }
    };
    let next = safe_next(form.next.as_deref());
    let password = zeroize::Zeroizing::new(form.password);
    if password.len() > MAX_PASSWORD_BYTES {
        let page = login_page(
            &next,
            Some("Hasło jest za długie / The password is too long"),
        );
        return no_store((StatusCode::BAD_REQUEST, Html(page)).into_response());
    }
    match state.registry.login(&form.username, password).await {
        Ok(LoginOutcome::SignedIn { token, session }) => {
            let max_age = (session.expires_ms - jiff::Timestamp::now().as_millisecond()) / 1000;
            let mut response = Redirect::to(&next).into_response();
            response.headers_mut().insert(
                header::SET_COOKIE,
                session_cookie(&token, max_age.max(0), is_https(&headers)),
            );
            no_store(response)
        }
        Ok(LoginOutcome::Refused) => {
            let page = login_page(
                &next,
                Some("Błędna nazwa użytkownika lub hasło / Wrong username or password"),
            );
            no_store((StatusCode::UNAUTHORIZED, Html(page)).into_response())
        }
        Ok(LoginOutcome::Locked { until_ms }) => {
            let left = until_ms - jiff::Timestamp::now().as_millisecond();
            let minutes = (left.max(0) + 59_999) / 60_000;
            let page = login_page(
                &next,
                Some(&format!(
                    "Zbyt wiele nieudanych prób; spróbuj ponownie za {minutes} min / \
                     Too many failed attempts; try again in {minutes} min"
                )),
            );
            let mut response = (StatusCode::TOO_MANY_REQUESTS, Html(page)).into_response();
            if let Ok(v) = HeaderValue::from_str(&(left.max(0) / 1000).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            no_store(response)
        }
        Err(e) => {
            tracing::error!(error = %e, "sign-in failed");
            let page = login_page(
                &next,
                Some(
                    "Błąd serwera; szczegóły w dzienniku rejestru / Server error; details are in the registry's log",
                ),
            );
            no_store((StatusCode::INTERNAL_SERVER_ERROR, Html(page)).into_response())
        }
    }
}

/// Ends the session (if any) and clears the cookie.
#[utoipa::path(
    post,
    path = "/logout",
    tag = "pages",
    responses((status = 303, description = "To `/login`", headers(("Location" = String), ("Set-Cookie" = String)))),
    security((), ("clerk_session" = [])),
)]
pub(crate) async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = cookie_token(&headers)
        && let Err(e) = state.registry.logout(&token).await
    {
        tracing::error!(error = %e, "sign-out failed");
        return Failure::from(e).into_response();
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie("", 0, is_https(&headers)),
    );
    no_store(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_server() {
        assert_eq!(safe_next(Some("/intakes/X?a=1")), "/intakes/X?a=1");
        for bad in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil",
            "x",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; urna_session=tok; b=2"),
        );
        assert_eq!(cookie_token(&headers).as_deref(), Some("tok"));
    }
}
