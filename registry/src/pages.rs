//! Server-rendered HTML: the clerk page, one page per intake, and the resident's status page.
//! Polish first, English beside it. Every text that came from a station, a resident or config
//! goes through [`escape`].

use std::fmt::Write as _;
use std::sync::LazyLock;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use jiff::tz::TimeZone;
use records::Timestamp;
use records::api::{AlertKind, DeviceAlert, IntakeView, ReceiptVerdict};

use crate::auth::Clerk;
use crate::clerks::{Scope, Session};
use crate::config::RegistryConfig;
use crate::http::{AppState, CLERK_PAGE_ROWS, parse_intake, search_query};
use crate::openapi::schemas;
use crate::projection::channel_name;
use crate::search::{self, STATUS_NAMES, Search};
use crate::store::{Alarm, ClerkRole, IntakeRecord};

/// The verdict in Polish, for the resident; the English reason stays beside it.
fn reason_pl(v: &records::api::ReceiptVerdict) -> &'static str {
    match (v.genuine, v.status) {
        (true, Some(_)) => "potwierdzenie podpisane przez urnę i zgodne z rejestrem",
        (true, None) => {
            "podpis prawdziwy, ale przesyłki nie ma jeszcze w rejestrze (urna przesyła dane w ciągu kilku minut)"
        }
        (false, _) => "potwierdzenie nieprawdziwe, zmienione albo nieczytelne",
    }
}

/// Makes text safe inside HTML elements and quoted attributes.
pub fn escape(text: &str) -> String {
    html_escape::encode_quoted_attribute(text).into_owned()
}

/// Percent-encodes a query value or path segment.
fn url_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub(crate) static WARSAW: LazyLock<TimeZone> =
    LazyLock::new(|| TimeZone::get("Europe/Warsaw").unwrap_or(TimeZone::UTC));

/// A reading in Warsaw time, as HTML; untrusted readings are marked, since a Pi without NTP may
/// be years off.
pub fn time_html(ts: Timestamp) -> String {
    let text = match jiff::Timestamp::from_millisecond(ts.unix_ms) {
        Ok(t) => t
            .to_zoned(WARSAW.clone())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string(),
        Err(_) => format!("{} ms", ts.unix_ms),
    };
    if ts.trusted {
        escape(&text)
    } else {
        format!(
            "{} <span class=\"untrusted\" title=\"Zegar stacji nie był pewny / the station's clock was not trusted\">⚠ zegar niepewny / clock untrusted</span>",
            escape(&text)
        )
    }
}

fn time_ms_html(ms: i64) -> String {
    time_html(Timestamp {
        unix_ms: ms,
        trusted: true,
    })
}

const STYLE: &str = r"
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}
.alarms{background:#b00020;color:#fff;padding:.75rem 1rem;border-radius:.4rem;margin-bottom:1rem}
.alarms h2{margin:.2rem 0}
.device-alerts{background:#fff1c2;border:.2rem solid #c77700;color:#222;padding:.75rem 1rem;border-radius:.4rem;margin-bottom:1rem}
.device-alerts h2{margin:.2rem 0}
.device-alerts li{margin:.25rem 0}
.device-alerts .kind{display:inline-block;font-size:.8em;padding:0 .35rem;border-radius:.25rem;background:#c77700;color:#fff}
.device-alerts .kind.alarm{background:#b00020}
.untrusted{color:#a05a00;font-size:.85em}
tr.new{animation:flash 4s ease-out}
.new-mail{background:#1b5fbf;color:#fff;padding:.6rem 1rem;border-radius:.4rem;font-size:1.2rem;cursor:pointer}
.whoami{float:right}
.search label{margin-right:.5rem;white-space:nowrap}
.login input{font-size:1.2rem;padding:.4rem;max-width:24rem;width:100%}
@keyframes flash{from{background:#fff3a0}to{background:transparent}}
.genuine{background:#e5f6e8;border-left:.4rem solid #1b7f35;padding:1rem}
.forged{background:#fde8ea;border-left:.4rem solid #b00020;padding:1rem}
input[type=text]{font-size:1.3rem;width:100%;max-width:48rem;padding:.5rem}
button{font-size:1rem;padding:.4rem .8rem}
";

pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"pl\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>\n",
        escape(title)
    )
}

fn category_html(config: &RegistryConfig, id: &str) -> String {
    match config.category(id) {
        Some(c) => format!(
            "{} <small>/ {}</small>",
            escape(&c.name_pl),
            escape(&c.name_en)
        ),
        None => escape(id),
    }
}

/// The clerk table's body rows.
pub fn intake_rows(config: &RegistryConfig, intakes: &[IntakeRecord]) -> String {
    if intakes.is_empty() {
        return "<tr><td colspan=\"6\">Brak przesyłek / No intakes yet</td></tr>".into();
    }
    let mut out = String::new();
    for i in intakes {
        let id = i.id.to_string();
        let _ = write!(
            out,
            "<tr data-id=\"{id_attr}\"><td><a href=\"/intakes/{id_url}\">{id_html}</a></td>\
             <td>{time}</td><td>{channel}</td><td>{category}</td><td>{department}</td><td>{status}</td></tr>",
            id_attr = escape(&id),
            id_url = url_encode(&id),
            id_html = escape(&id),
            time = time_html(i.received_at),
            channel = channel_name(i.channel),
            category = category_html(config, &i.category),
            department = escape(&i.department),
            status = escape(i.status.label()),
        );
    }
    out
}

fn alarms_html(alarms: &[Alarm]) -> String {
    if alarms.is_empty() {
        return String::new();
    }
    let mut out =
        String::from("<section class=\"alarms\" id=\"alarms\"><h2>⚠ Alarmy / Alarms</h2><ul>");
    for a in alarms {
        let _ = write!(
            out,
            "<li>{} — {}: {}</li>",
            time_ms_html(a.raised_ms),
            escape(&a.kind),
            escape(&a.message)
        );
    }
    out.push_str("</ul></section>");
    out
}

/// The box of open device alerts on the clerk page (empty when there are none): one line per
/// alert with the station's name and code, the problem in words and since when.
pub fn device_alerts_html(alerts: &[DeviceAlert]) -> String {
    if alerts.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<section class=\"device-alerts\" id=\"device-alerts\" role=\"alert\">\
         <h2>⚠ Urządzenia wymagają uwagi / Devices need attention</h2><ul>",
    );
    for a in alerts {
        let (pl, en) = records::api::alert_phrase(a.device, &a.what);
        let what = if pl == en {
            escape(&pl)
        } else {
            format!("{} / {}", escape(&pl), escape(&en))
        };
        let kind = match a.kind {
            AlertKind::Fault => "<span class=\"kind fault\">usterka / fault</span>",
            AlertKind::Alarm => "<span class=\"kind alarm\">alarm / alarm</span>",
        };
        let _ = write!(
            out,
            "<li data-station=\"{code}\">{kind} <strong>{name}</strong> ({code}): {what} \
             — od / since {since}</li>",
            code = escape(&a.station),
            name = escape(&a.station_name),
            since = time_html(a.since),
        );
    }
    out.push_str("</ul></section>");
    out
}

const CLERK_SCRIPT: &str = r"
(function(){
  const dep = new URLSearchParams(location.search).get('department') || '';
  const q = dep ? '?department=' + encodeURIComponent(dep) : '';
  let audio = null;
  document.getElementById('sound').addEventListener('click', function(){
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    this.textContent = 'Dźwięk włączony / Sound on';
  });
  function beep(){
    if (!audio) return;
    const o = audio.createOscillator(), g = audio.createGain();
    o.frequency.value = 880; g.gain.value = 0.15;
    o.connect(g); g.connect(audio.destination);
    o.start(); o.stop(audio.currentTime + 0.25);
  }
  function signedOut(r){
    if (r.status === 401) { location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search); return true; }
    return false;
  }
  async function refreshDevices(){
    const r = await fetch('/?fragment=device-alerts');
    if (signedOut(r) || !r.ok) return;
    document.getElementById('devices').innerHTML = await r.text();
  }
  let unseen = 0;
  function announce(id){
    unseen += 1;
    const box = document.getElementById('new-mail');
    box.hidden = false;
    box.textContent = '✉ Nowa przesyłka / New mail: ' + id + (unseen > 1 ? ' (+' + (unseen - 1) + ')' : '');
    document.title = '(' + unseen + ') ' + document.title.replace(/^\(\d+\) /, '');
  }
  document.getElementById('new-mail').addEventListener('click', function(){
    unseen = 0; this.hidden = true;
    document.title = document.title.replace(/^\(\d+\) /, '');
  });
  async function refresh(notice){
    const params = new URLSearchParams(location.search);
    params.set('fragment', 'rows');
    const r = await fetch('/?' + params.toString());
    if (signedOut(r) || !r.ok) return;
    document.getElementById('rows').innerHTML = await r.text();
    if (notice && notice.id) {
      for (const row of document.querySelectorAll('#rows tr')) {
        if (row.dataset.id === notice.id) row.classList.add('new');
      }
    }
  }
  const es = new EventSource('/events/stream' + q);
  es.onmessage = function(e){
    let n; try { n = JSON.parse(e.data); } catch (_) { return; }
    if (n.type === 'alarm' || n.type === 'station_silence') { location.reload(); return; }
    if (n.type === 'device_alerts') { refreshDevices(); return; }
    if (n.type === 'resync') refreshDevices();
    refresh(n);
    if (n.type === 'intake' && n.created) { beep(); announce(n.id); }
  };
  es.onopen = function(){ document.getElementById('live').textContent = '● na żywo / live'; };
  es.onerror = function(){
    document.getElementById('live').textContent = '○ ponowne łączenie… / reconnecting…';
    // An ended session ends the stream: find out, and go to the sign-in page if so.
    refreshDevices();
  };
})();
";

/// The line naming who is signed in, with the sign-out button.
fn whoami_html(session: &Session) -> String {
    let role = match &session.role {
        ClerkRole::Admin => "administrator / admin".to_owned(),
        ClerkRole::Clerk { department } => escape(department),
    };
    format!(
        "<form method=\"post\" action=\"/logout\" class=\"whoami\">\
         Zalogowano / Signed in: <strong id=\"username\">{}</strong> ({role}) \
         <button type=\"submit\">Wyloguj / Sign out</button></form>",
        escape(&session.username)
    )
}

/// Links to the other pages the signed-in clerk may open.
fn nav_html(session: &Session) -> String {
    let admin = if session.role == ClerkRole::Admin {
        " · <a href=\"/admin/stations\" id=\"nav-stations\">Stacje / Stations</a> · \
         <a href=\"/admin/deliveries\" id=\"nav-deliveries\">Powiadomienia / Notifications</a>"
    } else {
        ""
    };
    format!("<nav><a href=\"/reports\" id=\"nav-reports\">Raporty / Reports</a>{admin}</nav>")
}

/// The search form, filled with what was asked.
fn search_form_html(config: &RegistryConfig, session: &Session, search: &Search) -> String {
    let f = &search.filter;
    let value = |v: Option<String>| escape(&v.unwrap_or_default());
    let department = match session.scope() {
        Scope::All => {
            let mut options = String::from("<option value=\"\">Wszystkie / All</option>");
            for dep in config.departments() {
                let selected = if f.department.as_deref() == Some(dep) {
                    " selected"
                } else {
                    ""
                };
                let _ = write!(
                    options,
                    "<option value=\"{v}\"{selected}>{v}</option>",
                    v = escape(dep)
                );
            }
            format!(
                "<label>Wydział / Department <select name=\"department\">{options}</select></label> "
            )
        }
        Scope::Department(d) => format!(
            "<span>Wydział / Department: <strong id=\"department\">{}</strong></span> ",
            escape(&d)
        ),
    };
    let mut statuses = String::from("<option value=\"\">Wszystkie / All</option>");
    for (name, status) in STATUS_NAMES {
        let selected = if f.status == Some(status) {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            statuses,
            "<option value=\"{name}\"{selected}>{}</option>",
            escape(status.label())
        );
    }
    let query = search::query_string(search);
    let csv = if query.is_empty() {
        "/intakes.csv".to_owned()
    } else {
        format!("/intakes.csv?{query}")
    };
    format!(
        "<form method=\"get\" action=\"/\" id=\"search\" class=\"search\">{department}\
         <label>Numer / Id <input type=\"text\" name=\"id\" value=\"{id}\" size=\"14\"></label> \
         <label>Sygnatura / Reference <input type=\"text\" name=\"reference\" value=\"{reference}\" size=\"14\"></label> \
         <label>Od / From <input type=\"date\" name=\"from\" value=\"{from}\"></label> \
         <label>Do / To <input type=\"date\" name=\"to\" value=\"{to}\"></label> \
         <label>Stacja / Station <input type=\"text\" name=\"station\" value=\"{station}\" size=\"5\"></label> \
         <label>Stan / Status <select name=\"status\">{statuses}</select></label> \
         <button type=\"submit\">Szukaj / Search</button> \
         <a href=\"/\">Wyczyść / Clear</a> \
         <a href=\"{csv}\" id=\"csv\" download>Eksport CSV / CSV export</a></form>",
        id = value(f.id.map(|i| i.to_string())),
        reference = value(f.reference.clone()),
        from = value(search.from.map(|d| d.to_string())),
        to = value(search.to.map(|d| d.to_string())),
        station = value(f.station.map(|s| s.to_string())),
        csv = escape(&csv),
    )
}

/// The clerk page, or with `fragment=rows` only its table rows, or with `fragment=device-alerts`
/// only its box of device alerts (what the live script fetches). A clerk sees their
/// department's intakes; an admin all, or one department's. The search's parameters narrow it.
#[utoipa::path(
    get,
    path = "/",
    tag = "pages",
    params(
        schemas::SearchParams,
        ("fragment" = Option<String>, Query, description = "`rows` or `device-alerts`: only that part of the page, for its live script"),
    ),
    responses(
        (status = 200, description = "The page (or the fragment asked for)", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to `/login?next=…`", headers(("Location" = String))),
        (status = 400, description = "A search that cannot be read: the page says why, or with `fragment` (even empty) JSON does", content(
            (String = "text/html"),
            (schemas::ApiError = "application/json"),
        )),
        (status = 401, description = "Not signed in, asking for a fragment", body = schemas::ApiError),
    ),
    security(("clerk_session" = [])),
)]
pub(crate) async fn clerk(
    State(state): State<AppState>,
    Clerk(session): Clerk,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let fragment = query.as_ref().ok().and_then(|Query(pairs)| {
        pairs
            .iter()
            .find(|(k, _)| k == "fragment")
            .map(|(_, v)| v.clone())
    });
    let device_alerts = async || state.registry.device_alerts().await.map(|a| a.alerts);
    if fragment.as_deref() == Some("device-alerts") {
        return match device_alerts().await {
            Ok(a) => Html(device_alerts_html(&a)).into_response(),
            Err(e) => server_error(&e),
        };
    }
    let search = match search_query(query, &["fragment"]) {
        Ok(s) => s,
        Err(f) => {
            let message_text = f.message().to_owned();
            if fragment.is_some() {
                return f.into_response();
            }
            return message(
                StatusCode::BAD_REQUEST,
                "Błędne wyszukiwanie / Bad search",
                &message_text,
            );
        }
    };
    let config = state.registry.config();
    let limit = search.limit.unwrap_or(CLERK_PAGE_ROWS);
    let intakes = match state.registry.search(&search, session.scope(), limit).await {
        Ok(i) => i,
        Err(e) => return server_error(&e),
    };
    if fragment.as_deref() == Some("rows") {
        return Html(intake_rows(config, &intakes)).into_response();
    }
    let alarms = match state.registry.alarms().await {
        Ok(a) => a,
        Err(e) => return server_error(&e),
    };
    let device_alerts = match device_alerts().await {
        Ok(a) => a,
        Err(e) => return server_error(&e),
    };
    let silent = crate::fleet::clerk_page_alert(&state, &session).await;
    let heading = if search.narrows() {
        "Wyniki wyszukiwania / Search results"
    } else {
        "Przesyłki / Intakes"
    };
    let body = format!(
        "{whoami}{nav}{alarms}{silent}<div id=\"devices\">{devices}</div><h1>{heading}</h1>{form}\
         <p><button type=\"button\" id=\"sound\">Włącz dźwięk / Enable sound</button> \
         <span id=\"live\">○</span></p>\
         <p id=\"new-mail\" class=\"new-mail\" role=\"status\" hidden></p>\
         <table><thead><tr><th>Numer / Id</th><th>Data wpływu / Received</th><th>Kanał / Channel</th>\
         <th>Kategoria / Category</th><th>Wydział / Department</th><th>Stan / Status</th></tr></thead>\
         <tbody id=\"rows\">{rows}</tbody></table>\
         <p><a href=\"/status\">Sprawdź potwierdzenie / Check a receipt</a></p>\
         <script>{CLERK_SCRIPT}</script>",
        whoami = whoami_html(&session),
        nav = nav_html(&session),
        alarms = alarms_html(&alarms),
        devices = device_alerts_html(&device_alerts),
        form = search_form_html(config, &session, &search),
        rows = intake_rows(config, &intakes),
    );
    Html(page("Przesyłki / Intakes — urna", &body)).into_response()
}

/// One intake and its whole timeline; another department's intake is not found, as an unknown
/// one.
#[utoipa::path(
    get,
    path = "/intakes/{id}",
    tag = "pages",
    params(("id" = String, Path, description = "The intake's id")),
    responses(
        (status = 200, description = "The intake's page", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to `/login?next=…`", headers(("Location" = String))),
        (status = 400, description = "Not an intake id", content_type = "text/html", body = String),
        (status = 404, description = "Not in the register, or another department's", content_type = "text/html", body = String),
    ),
    security(("clerk_session" = [])),
)]
pub(crate) async fn intake(
    State(state): State<AppState>,
    Clerk(session): Clerk,
    Path(id): Path<String>,
) -> Response {
    let id = match parse_intake(&id) {
        Ok(id) => id,
        Err(_) => {
            return message(
                StatusCode::BAD_REQUEST,
                "Błędny numer / Bad id",
                &format!("{:?}", id),
            );
        }
    };
    match state.registry.intake_in(id, session.scope()).await {
        Ok(Some(view)) => {
            let ack = acknowledge_html(&session, &view);
            Html(intake_page_with(state.registry.config(), &view, &ack)).into_response()
        }
        Ok(None) => not_found(id),
        Err(e) => server_error(&e),
    }
}

fn not_found(id: records::IntakeId) -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Nie znaleziono / Not found",
        &format!("{id}: brak w rejestrze / not in the register"),
    )
}

/// The acknowledge button (for a clerk of the intake's department, once it was forwarded), or
/// what stands in its place.
fn acknowledge_html(session: &Session, view: &IntakeView) -> String {
    use records::api::IntakeStatus;
    let own =
        matches!(&session.role, ClerkRole::Clerk { department } if *department == view.department);
    match view.status {
        IntakeStatus::Acknowledged => {
            "<p id=\"acknowledged\" class=\"genuine\">✔ Odbiór potwierdzony / Receipt acknowledged</p>"
                .to_owned()
        }
        IntakeStatus::Forwarded if own => format!(
            // An intake id is letters, digits and '-': safe in a path as it is.
            "<form method=\"post\" action=\"/intakes/{}/acknowledge\" id=\"acknowledge\">\
             <button type=\"submit\">Potwierdzam odbiór / Acknowledge receipt</button></form>",
            view.id
        ),
        _ => String::new(),
    }
}

/// `POST /intakes/{id}/acknowledge` from the intake page's button: back to the page after.
#[utoipa::path(
    post,
    path = "/intakes/{id}/acknowledge",
    tag = "pages",
    params(("id" = String, Path, description = "The intake's id")),
    responses(
        (status = 303, description = "Acknowledged: back to the intake's page; or not signed in: to `/login`", headers(("Location" = String))),
        (status = 400, description = "Not an intake id", content_type = "text/html", body = String),
        (status = 403, description = "Not a clerk of the intake's department", content_type = "text/html", body = String),
        (status = 404, description = "Not in the register", content_type = "text/html", body = String),
        (status = 409, description = "Not forwarded to the department yet", content_type = "text/html", body = String),
    ),
    security(("clerk_session" = [])),
)]
pub(crate) async fn acknowledge(
    State(state): State<AppState>,
    Clerk(session): Clerk,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = parse_intake(&id) else {
        return message(
            StatusCode::BAD_REQUEST,
            "Błędny numer / Bad id",
            &format!("{:?}", id),
        );
    };
    match state.registry.acknowledge(id, &session).await {
        Ok(_) => axum::response::Redirect::to(&format!("/intakes/{id}")).into_response(),
        Err(crate::Error::NotFound(_)) => not_found(id),
        Err(crate::Error::Forbidden(m)) => message(StatusCode::FORBIDDEN, "Odmowa / Forbidden", &m),
        Err(crate::Error::Conflict(m)) => {
            message(StatusCode::CONFLICT, "Jeszcze nie / Not yet", &m)
        }
        Err(e) => server_error(&e),
    }
}

/// The HTML of one intake's page.
pub fn intake_page(config: &RegistryConfig, view: &IntakeView) -> String {
    intake_page_with(config, view, "")
}

fn intake_page_with(config: &RegistryConfig, view: &IntakeView, actions: &str) -> String {
    let mut timeline = String::new();
    for e in &view.timeline {
        let _ = write!(
            timeline,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            time_html(e.recorded_at),
            escape(&e.station),
            e.seq,
            escape(&e.kind),
            escape(&e.detail)
        );
    }
    let id = view.id.to_string();
    let body = format!(
        "<p><a href=\"/\">← Przesyłki / Intakes</a></p><h1>{id}</h1><table>\
         <tr><th>Data wpływu / Received</th><td>{received}</td></tr>\
         <tr><th>Kanał / Channel</th><td>{channel}</td></tr>\
         <tr><th>Kategoria / Category</th><td>{category}</td></tr>\
         <tr><th>Wydział / Department</th><td>{department}</td></tr>\
         <tr><th>Sygnatura / Reference</th><td>{reference}</td></tr>\
         <tr><th>Stan / Status</th><td id=\"status\">{status}</td></tr></table>{actions}\
         <h2>Historia / Timeline</h2><table><thead><tr><th>Czas / Time</th><th>Stacja / Station</th>\
         <th>Nr / Seq</th><th>Zdarzenie / Event</th><th>Szczegóły / Detail</th></tr></thead><tbody>{timeline}</tbody></table>",
        id = escape(&id),
        received = time_html(view.received_at),
        channel = channel_name(view.channel),
        category = category_html(config, &view.category),
        department = escape(&view.department),
        reference = view.reference.as_deref().map(escape).unwrap_or_default(),
        status = escape(view.status.label()),
    );
    page(&format!("{id} — urna"), &body)
}

/// The resident's status page, empty.
#[utoipa::path(
    get,
    path = "/status",
    tag = "pages",
    responses((status = 200, description = "The form", content_type = "text/html", body = String)),
)]
pub(crate) async fn status_form() -> Html<String> {
    Html(status_page(None, None, None))
}

/// The resident's status page: the form, and the verdict on what was checked. It shows only what
/// the receipt already says and where the letter is: no other intake, no staff names.
pub fn status_page(
    input: Option<&str>,
    verdict: Option<&ReceiptVerdict>,
    error: Option<&str>,
) -> String {
    let mut result = String::new();
    if let Some(v) = verdict {
        let (class, head) = if v.genuine {
            ("genuine", "✔ Potwierdzenie prawdziwe / Genuine receipt")
        } else {
            (
                "forged",
                "✘ Potwierdzenie nieprawdziwe lub nieczytelne / Not a genuine receipt",
            )
        };
        let _ = write!(
            result,
            "<section class=\"{class}\" id=\"verdict\"><h2>{head}</h2><p>Powód: {} / Reason: {}</p>",
            reason_pl(v),
            escape(&v.reason)
        );
        if let Some(id) = v.intake {
            let _ = write!(
                result,
                "<p>Numer przesyłki / Intake: <strong>{}</strong></p>",
                escape(&id.to_string())
            );
        }
        match (v.genuine, v.status) {
            (true, Some(status)) => {
                let _ = write!(
                    result,
                    "<p>Gdzie jest teraz / Where it is now: <strong>{}</strong></p>",
                    escape(status.label())
                );
            }
            (true, None) => result.push_str(
                "<p>Przesyłki nie ma jeszcze w rejestrze; urna przesyła dane co kilka minut. \
                 / Not in the register yet; the urn sends its records every few minutes.</p>",
            ),
            _ => {}
        }
        result.push_str("</section>");
    }
    if let Some(e) = error {
        let _ = write!(
            result,
            "<section class=\"forged\"><p>{}</p></section>",
            escape(e)
        );
    }
    let body = format!(
        "<h1>Sprawdź potwierdzenie / Check your receipt</h1>\
         <p>Zeskanuj kod QR z potwierdzenia albo przepisz jego tekst. \
         / Scan the QR code on your receipt or type its text.</p>\
         <form method=\"post\" action=\"/status\">\
         <input type=\"text\" name=\"receipt\" autofocus autocomplete=\"off\" value=\"{value}\" \
         placeholder=\"URNA1:…\"> <button type=\"submit\">Sprawdź / Check</button></form>{result}",
        value = escape(input.unwrap_or("")),
    );
    page("Sprawdź potwierdzenie / Check your receipt — urna", &body)
}

pub(crate) fn message(status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        "<p><a href=\"/\">← Przesyłki / Intakes</a></p><h1>{}</h1><p>{}</p>",
        escape(title),
        escape(text)
    );
    (status, Html(page(title, &body))).into_response()
}

pub(crate) fn server_error(e: &crate::Error) -> Response {
    tracing::error!(error = %e, "page failed");
    message(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Błąd serwera / Server error",
        "Szczegóły w dzienniku rejestru / Details are in the registry's log",
    )
}
