//! Reports: `/reports?from=YYYY-MM-DD&to=YYYY-MM-DD` (Warsaw dates) shows deposits per station
//! and day and the hold durations as SVG charts, and the daily figures a city publishes
//! (received per day, by channel, by category, by station) as a table; `/reports.csv` gives the
//! same figures as CSV. An admin sees the whole register, a clerk their department's intakes.
//!
//! The charts are SVG text written here: two bar charts need no drawing library, and text we
//! write ourselves is escaped as every other page's. Each chart has a `<title>` and a `<desc>`,
//! and the tables beside them carry the same numbers, for readers that cannot see the bars.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use jiff::ToSpan;
use jiff::civil::Date;

use crate::auth::Clerk;
use crate::clerks::Scope;
use crate::config::RegistryConfig;
use crate::error::{Error, Result};
use crate::http::{AppState, Failure};
use crate::insight::{DepositRow, HoldRow};
use crate::openapi::schemas;
use crate::pages::{WARSAW, escape, page};
use crate::search::{guard_formula, parse_date, start_of};
use crate::store::StationRecord;

/// Longest range one report covers: a year, leap or not.
pub const MAX_DAYS: i32 = 366;
/// Days a report covers when `from` is not given.
const DEFAULT_DAYS: i32 = 7;
/// Hold-duration bins' lower bounds, in hours; the last bin is open-ended.
pub const HOLD_BINS_H: [i64; 7] = [0, 6, 12, 24, 48, 72, 96];
/// The channels, as stored, with their names for people.
const CHANNELS: [(&str, &str); 3] = [
    ("urn", "Urna / Urn"),
    ("counter", "Okienko / Counter"),
    ("post", "Poczta / Post"),
];
/// Bar colours, one per station in turn (dark enough for white text nearby).
const PALETTE: [&str; 8] = [
    "#1b5fbf", "#c77700", "#1b7f35", "#b00020", "#6a3d9a", "#00838f", "#8d6e00", "#555555",
];

/// The days a report covers, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// The first day.
    pub from: Date,
    /// The last day.
    pub to: Date,
}

impl Range {
    /// Every day of the range, in order.
    pub fn days(&self) -> Vec<Date> {
        let mut out = Vec::new();
        let mut d = self.from;
        while d <= self.to {
            out.push(d);
            match d.tomorrow() {
                Ok(next) => d = next,
                Err(_) => break,
            }
        }
        out
    }
}

fn today() -> Date {
    jiff::Timestamp::now().to_zoned(WARSAW.clone()).date()
}

/// Reads `from` and `to` (both optional: `to` is today, `from` a week before `to`); anything else
/// is refused with the reason.
pub fn parse_range(pairs: &[(String, String)]) -> std::result::Result<Range, String> {
    let mut from = None;
    let mut to = None;
    for (name, value) in pairs {
        let slot = match name.as_str() {
            "from" => &mut from,
            "to" => &mut to,
            other => {
                return Err(format!(
                    "nieznany parametr / unknown parameter {:?}",
                    other.chars().take(40).collect::<String>()
                ));
            }
        };
        if slot.is_some() {
            return Err(format!("{name} podano dwa razy / {name} is given twice"));
        }
        if value.is_empty() {
            continue;
        }
        *slot = Some(parse_date(value).ok_or_else(|| {
            format!("{name}: oczekiwano RRRR-MM-DD / {name}: expected YYYY-MM-DD")
        })?);
    }
    let to = to.unwrap_or_else(today);
    let from = match from {
        Some(f) => f,
        None => to
            .checked_sub((DEFAULT_DAYS - 1).days())
            .map_err(|e| e.to_string())?,
    };
    if from > to {
        return Err("from jest po to / from is after to".into());
    }
    let span = to.since(from).map_err(|e| e.to_string())?.get_days();
    if span >= MAX_DAYS {
        return Err(format!("najwyżej {MAX_DAYS} dni / at most {MAX_DAYS} days"));
    }
    Ok(Range { from, to })
}

/// One day's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayFigures {
    /// Intakes received that day.
    pub total: u64,
    /// By channel, in [`CHANNELS`] order.
    pub by_channel: [u64; 3],
    /// By category id.
    pub by_category: BTreeMap<String, u64>,
    /// By station code.
    pub by_station: BTreeMap<String, u64>,
}

/// A report's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The range.
    pub range: Range,
    /// Its days, in order, with their figures.
    pub days: Vec<(Date, DayFigures)>,
    /// The stations (code, name) the report has a column and bars for.
    pub stations: Vec<(String, String)>,
    /// The category ids it has a column for, config order first.
    pub categories: Vec<String>,
    /// Hold durations per bin of [`HOLD_BINS_H`].
    pub hold_bins: [u64; 7],
    /// Holds started and not released (not in the bins).
    pub holds_open: u64,
}

fn warsaw_date(ms: i64) -> Option<Date> {
    jiff::Timestamp::from_millisecond(ms)
        .ok()
        .map(|t| t.to_zoned(WARSAW.clone()).date())
}

/// Counts `deposits` and `holds` (as read for `range` and the caller's scope) into a report.
/// `stations` are the enrolled ones; `department` narrows the category columns to that
/// department's.
pub fn compute(
    config: &RegistryConfig,
    range: Range,
    stations: &[StationRecord],
    department: Option<&str>,
    deposits: &[DepositRow],
    holds: &[HoldRow],
) -> Report {
    let days = range.days();
    let mut figures: BTreeMap<Date, DayFigures> =
        days.iter().map(|d| (*d, DayFigures::default())).collect();
    let mut station_list: Vec<(String, String)> = stations
        .iter()
        .map(|s| (s.code.as_str().to_owned(), s.name.clone()))
        .collect();
    let mut categories: Vec<String> = config
        .categories
        .iter()
        .filter(|c| department.is_none_or(|d| d == c.department))
        .map(|c| c.id.clone())
        .collect();
    for row in deposits {
        let Some(day) = warsaw_date(row.received_ms).and_then(|d| figures.get_mut(&d)) else {
            continue;
        };
        day.total += 1;
        if let Some(i) = CHANNELS.iter().position(|(c, _)| *c == row.channel) {
            day.by_channel[i] += 1;
        }
        *day.by_category.entry(row.category.clone()).or_default() += 1;
        *day.by_station.entry(row.station.clone()).or_default() += 1;
        if !categories.contains(&row.category) {
            categories.push(row.category.clone());
        }
        if !station_list.iter().any(|(c, _)| *c == row.station) {
            station_list.push((row.station.clone(), row.station.clone()));
        }
    }
    // The first start, then the first release after it, as the register's export counts them.
    let mut hold_bins = [0u64; 7];
    let mut holds_open = 0;
    let mut i = 0;
    while i < holds.len() {
        let intake = &holds[i].intake;
        let mut started = None;
        let mut released = None;
        while i < holds.len() && holds[i].intake == *intake {
            let h = &holds[i];
            if h.started && started.is_none() {
                started = Some(h.recorded_ms);
            } else if !h.started && started.is_some() && released.is_none() {
                released = Some(h.recorded_ms);
            }
            i += 1;
        }
        match (started, released) {
            (Some(s), Some(r)) => {
                let hours = (r - s).max(0) / 3_600_000;
                let bin = HOLD_BINS_H.iter().rposition(|lo| hours >= *lo).unwrap_or(0);
                hold_bins[bin] += 1;
            }
            (Some(_), None) => holds_open += 1,
            _ => {}
        }
    }
    Report {
        range,
        days: figures.into_iter().collect(),
        stations: station_list,
        categories,
        hold_bins,
        holds_open,
    }
}

fn bin_label(i: usize) -> String {
    match HOLD_BINS_H.get(i + 1) {
        Some(hi) => format!("{}–{} h", HOLD_BINS_H[i], hi),
        None => format!("≥ {} h", HOLD_BINS_H[i]),
    }
}

fn category_label(config: &RegistryConfig, id: &str) -> String {
    match config.category(id) {
        Some(c) => format!("{} / {}", c.name_pl, c.name_en),
        None => id.to_owned(),
    }
}

fn station_label(code: &str, name: &str) -> String {
    if code == name {
        code.to_owned()
    } else {
        format!("{name} ({code})")
    }
}

/// Chart (a): one bar per station and day, grouped by day.
pub fn deposits_svg(report: &Report) -> String {
    const BAR: usize = 12;
    const GAP: usize = 14;
    const LEFT: usize = CHART_LEFT;
    const TOP: usize = CHART_TOP;
    const PLOT: usize = 180;
    let n = report.stations.len().max(1);
    let group = n * BAR + GAP;
    let width = LEFT + report.days.len() * group + 16;
    let legend_rows = report.stations.len();
    let height = TOP + PLOT + 40 + legend_rows * 18;
    let max = report
        .days
        .iter()
        .flat_map(|(_, f)| f.by_station.values())
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let title = format!(
        "Wpływy według stacji i dnia, {} – {} / Deposits per station and day, {} – {}",
        report.range.from, report.range.to, report.range.from, report.range.to
    );
    let total: u64 = report.days.iter().map(|(_, f)| f.total).sum();
    let desc = format!(
        "Słupki: {} stacji × {} dni; razem {total}; najwięcej jednego dnia na stacji: {max}. \
         Te same liczby są w tabeli poniżej. / Bars: {} stations × {} days; {total} in all; most \
         at one station on one day: {max}. The table below has the same numbers.",
        report.stations.len(),
        report.days.len(),
        report.stations.len(),
        report.days.len(),
    );
    let mut svg = chart_start("deposits", width, height, PLOT, &title, &desc, max);
    for (d, (day, f)) in report.days.iter().enumerate() {
        let gx = LEFT + d * group + GAP / 2;
        for (s, (code, name)) in report.stations.iter().enumerate() {
            let count = f.by_station.get(code).copied().unwrap_or(0);
            let h = usize::try_from(count)
                .unwrap_or(usize::MAX)
                .saturating_mul(PLOT)
                / usize::try_from(max).unwrap_or(1);
            let _ = write!(
                svg,
                "<rect class=\"bar\" data-station=\"{code}\" data-day=\"{day}\" data-count=\"{count}\" \
                 x=\"{x}\" y=\"{y}\" width=\"{BAR}\" height=\"{h}\" fill=\"{fill}\">\
                 <title>{label}, {day}: {count}</title></rect>",
                code = escape(code),
                x = gx + s * BAR,
                y = TOP + PLOT - h,
                fill = PALETTE[s % PALETTE.len()],
                label = escape(&station_label(code, name)),
            );
        }
        let _ = write!(
            svg,
            "<text x=\"{x}\" y=\"{y}\" text-anchor=\"middle\">{md}</text>",
            x = gx + n * BAR / 2,
            y = TOP + PLOT + 14,
            md = day.strftime("%m-%d"),
        );
    }
    for (s, (code, name)) in report.stations.iter().enumerate() {
        let y = TOP + PLOT + 30 + s * 18;
        let _ = write!(
            svg,
            "<rect x=\"{LEFT}\" y=\"{ry}\" width=\"10\" height=\"10\" fill=\"{fill}\"/>\
             <text x=\"{tx}\" y=\"{y}\">{label}</text>",
            ry = y - 9,
            fill = PALETTE[s % PALETTE.len()],
            tx = LEFT + 14,
            label = escape(&station_label(code, name)),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Chart (b): how long holds lasted, from start to release, in bins of [`HOLD_BINS_H`].
pub fn holds_svg(report: &Report) -> String {
    const BAR: usize = 56;
    const LEFT: usize = CHART_LEFT;
    const TOP: usize = CHART_TOP;
    const PLOT: usize = 160;
    let width = LEFT + report.hold_bins.len() * (BAR + 8) + 16;
    let height = TOP + PLOT + 32;
    let max = report.hold_bins.iter().copied().max().unwrap_or(0).max(1);
    let total: u64 = report.hold_bins.iter().sum();
    let title = format!(
        "Czas kwarantanny, {} – {} / Hold durations, {} – {}",
        report.range.from, report.range.to, report.range.from, report.range.to
    );
    let mut parts = Vec::new();
    for (i, n) in report.hold_bins.iter().enumerate() {
        parts.push(format!("{}: {n}", bin_label(i)));
    }
    let desc = format!(
        "Od rozpoczęcia do zwolnienia; {total} zakończonych, {open} trwa. / From start to \
         release; {total} ended, {open} still held. {}",
        parts.join("; "),
        open = report.holds_open,
    );
    let mut svg = chart_start("holds", width, height, PLOT, &title, &desc, max);
    for (i, n) in report.hold_bins.iter().enumerate() {
        let h = usize::try_from(*n)
            .unwrap_or(usize::MAX)
            .saturating_mul(PLOT)
            / usize::try_from(max).unwrap_or(1);
        let x = LEFT + 4 + i * (BAR + 8);
        let label = escape(&bin_label(i));
        let _ = write!(
            svg,
            "<rect class=\"bin\" data-bin=\"{i}\" data-count=\"{n}\" x=\"{x}\" y=\"{y}\" \
             width=\"{BAR}\" height=\"{h}\" fill=\"#1b5fbf\"><title>{label}: {n}</title></rect>\
             <text x=\"{tx}\" y=\"{ly}\" text-anchor=\"middle\">{label}</text>",
            y = TOP + PLOT - h,
            tx = x + BAR / 2,
            ly = TOP + PLOT + 14,
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The daily figures' header, for the table and the CSV alike.
fn header(config: &RegistryConfig, report: &Report) -> Vec<String> {
    let mut out = vec!["Data / Date".to_owned(), "Wpłynęło / Received".to_owned()];
    out.extend(CHANNELS.iter().map(|(_, l)| (*l).to_owned()));
    out.extend(report.categories.iter().map(|c| category_label(config, c)));
    out.extend(
        report
            .stations
            .iter()
            .map(|(c, n)| format!("Stacja / Station {}", station_label(c, n))),
    );
    out
}

/// The figures of one row: a day's, or (with `None`) the totals.
fn figures_row(report: &Report, label: String, f: &DayFigures) -> Vec<String> {
    let mut out = vec![label, f.total.to_string()];
    out.extend(f.by_channel.iter().map(u64::to_string));
    out.extend(
        report
            .categories
            .iter()
            .map(|c| f.by_category.get(c).copied().unwrap_or(0).to_string()),
    );
    out.extend(
        report
            .stations
            .iter()
            .map(|(c, _)| f.by_station.get(c).copied().unwrap_or(0).to_string()),
    );
    out
}

fn totals(report: &Report) -> DayFigures {
    let mut t = DayFigures::default();
    for (_, f) in &report.days {
        t.total += f.total;
        for (a, b) in t.by_channel.iter_mut().zip(f.by_channel) {
            *a += b;
        }
        for (k, v) in &f.by_category {
            *t.by_category.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &f.by_station {
            *t.by_station.entry(k.clone()).or_default() += v;
        }
    }
    t
}

fn rows(report: &Report) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = report
        .days
        .iter()
        .map(|(d, f)| figures_row(report, d.to_string(), f))
        .collect();
    out.push(figures_row(
        report,
        "Razem / Total".to_owned(),
        &totals(report),
    ));
    out
}

/// The daily figures as CSV (UTF-8 with a byte order mark, every field formula-guarded).
pub fn csv(config: &RegistryConfig, report: &Report) -> std::result::Result<Vec<u8>, csv::Error> {
    let mut out = Vec::from("\u{feff}".as_bytes());
    {
        let mut writer = csv::WriterBuilder::new()
            .quote_style(csv::QuoteStyle::Necessary)
            .from_writer(&mut out);
        writer.write_record(
            header(config, report)
                .iter()
                .map(|f| guard_formula(f).into_owned()),
        )?;
        for row in rows(report) {
            writer.write_record(row.iter().map(|f| guard_formula(f).into_owned()))?;
        }
        writer.flush()?;
    }
    Ok(out)
}

/// The report page's body.
pub fn page_html(config: &RegistryConfig, report: &Report, scope: &Scope, admin: bool) -> String {
    let mut table = String::from("<table id=\"daily\"><thead><tr>");
    for h in header(config, report) {
        let _ = write!(table, "<th scope=\"col\">{}</th>", escape(&h));
    }
    table.push_str("</tr></thead><tbody>");
    let all = rows(report);
    let last = all.len().saturating_sub(1);
    for (i, row) in all.iter().enumerate() {
        let class = if i == last { " class=\"total\"" } else { "" };
        let _ = write!(table, "<tr{class}>");
        for (j, cell) in row.iter().enumerate() {
            if j == 0 {
                let _ = write!(table, "<th scope=\"row\">{}</th>", escape(cell));
            } else {
                let _ = write!(table, "<td>{}</td>", escape(cell));
            }
        }
        table.push_str("</tr>");
    }
    table.push_str("</tbody></table>");
    let mut holds = String::from(
        "<table id=\"holds\"><thead><tr><th scope=\"col\">Czas / Duration</th>\
         <th scope=\"col\">Liczba / Count</th></tr></thead><tbody>",
    );
    for (i, n) in report.hold_bins.iter().enumerate() {
        let _ = write!(
            holds,
            "<tr><th scope=\"row\">{}</th><td>{n}</td></tr>",
            escape(&bin_label(i))
        );
    }
    let _ = write!(
        holds,
        "<tr><th scope=\"row\">trwa / still held</th><td>{}</td></tr></tbody></table>",
        report.holds_open
    );
    let whose = match scope {
        Scope::All => "cały rejestr / the whole register".to_owned(),
        Scope::Department(d) => format!(
            "wydział / department: <strong id=\"department\">{}</strong>",
            escape(d)
        ),
    };
    let query = format!("from={}&to={}", report.range.from, report.range.to);
    let admin_links = if admin {
        " · <a href=\"/admin/stations\">Stacje / Stations</a> · \
         <a href=\"/admin/deliveries\">Powiadomienia / Notifications</a>"
    } else {
        ""
    };
    format!(
        "<p><a href=\"/\">← Przesyłki / Intakes</a>{admin_links}</p>\
         <h1>Raporty / Reports</h1>\
         <form method=\"get\" action=\"/reports\" class=\"search\">\
         <label>Od / From <input type=\"date\" name=\"from\" value=\"{from}\"></label> \
         <label>Do / To <input type=\"date\" name=\"to\" value=\"{to}\"></label> \
         <button type=\"submit\">Pokaż / Show</button> \
         <a href=\"/reports.csv?{query}\" id=\"csv\" download>CSV</a></form>\
         <p>Zakres / Scope: {whose}. Daty według czasu warszawskiego / Dates in Warsaw time.</p>\
         <h2>Wpływy według stacji i dnia / Deposits per station and day</h2>{deposits}\
         <h2>Dane dzienne / Daily figures</h2>{table}\
         <h2>Czas kwarantanny / Hold durations</h2>{holds_svg}{holds}",
        from = report.range.from,
        to = report.range.to,
        deposits = deposits_svg(report),
        holds_svg = holds_svg(report),
    )
}

/// Reads the figures for `range` as `scope` may see them.
pub async fn report(state: &AppState, range: Range, scope: &Scope) -> Result<Report> {
    let from_ms = start_of(range.from)
        .ok_or_else(|| Error::BadRequest(format!("from={} is out of range", range.from)))?;
    let before_ms = range
        .to
        .tomorrow()
        .ok()
        .and_then(start_of)
        .ok_or_else(|| Error::BadRequest(format!("to={} is out of range", range.to)))?;
    let department = match scope {
        Scope::All => None,
        Scope::Department(d) => Some(d.clone()),
    };
    let store = state.registry.store();
    let dep = department.clone();
    let (deposits, holds) = tokio::task::spawn_blocking(move || {
        let d = dep.as_deref();
        Ok::<_, Error>((
            store.deposits_between(from_ms, before_ms, d)?,
            store.holds_between(from_ms, before_ms, d)?,
        ))
    })
    .await
    .map_err(|e| Error::Task(e.to_string()))??;
    let stations = state.registry.stations().await?;
    Ok(compute(
        state.registry.config(),
        range,
        &stations,
        department.as_deref(),
        &deposits,
        &holds,
    ))
}

fn range_of(
    query: std::result::Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> std::result::Result<Range, String> {
    let Query(pairs) = query.map_err(|r| r.body_text())?;
    parse_range(&pairs)
}

#[utoipa::path(
    get,
    path = "/reports",
    tag = "reports",
    params(
        ("from" = Option<String>, Query, description = "First day, `YYYY-MM-DD` (default: 30 days before `to`)"),
        ("to" = Option<String>, Query, description = "Last day, `YYYY-MM-DD` (default: today)"),
    ),
    responses(
        (status = 200, description = "The charts and the daily figures", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: to `/login?next=…`", headers(("Location" = String))),
        (status = 400, description = "A range that cannot be read", content_type = "text/html", body = String),
    ),
    security(("clerk_session" = [])),
)]
/// `GET /reports?from=&to=`: the charts and the table.
pub(crate) async fn page_handler(
    State(state): State<AppState>,
    Clerk(session): Clerk,
    query: std::result::Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let range = match range_of(query) {
        Ok(r) => r,
        Err(message) => {
            return crate::pages::message(
                StatusCode::BAD_REQUEST,
                "Błędny zakres / Bad range",
                &message,
            );
        }
    };
    let scope = session.scope();
    match report(&state, range, &scope).await {
        Ok(r) => {
            let admin = scope == Scope::All;
            let body = page_html(state.registry.config(), &r, &scope, admin);
            Html(page("Raporty / Reports — urna", &body)).into_response()
        }
        Err(e) => crate::pages::server_error(&e),
    }
}

#[utoipa::path(
    get,
    path = "/reports.csv",
    tag = "reports",
    params(
        ("from" = Option<String>, Query, description = "First day, `YYYY-MM-DD` (default: 30 days before `to`)"),
        ("to" = Option<String>, Query, description = "Last day, `YYYY-MM-DD` (default: today)"),
    ),
    responses(
        (status = 200, description = "The daily figures as CSV", content_type = "text/csv", body = String),
        (status = 400, description = "A range that cannot be read", body = schemas::ApiError),
        (status = 401, description = "Not signed in", body = schemas::ApiError),
    ),
    security(("clerk_session" = [])),
)]
/// `GET /reports.csv?from=&to=`: the daily figures as CSV.
pub(crate) async fn csv_handler(
    State(state): State<AppState>,
    Clerk(session): Clerk,
    query: std::result::Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> std::result::Result<Response, Failure> {
    let range =
        range_of(query).map_err(|m| Failure::new(StatusCode::BAD_REQUEST, "bad_query", m))?;
    let report = report(&state, range, &session.scope()).await?;
    let body = csv(state.registry.config(), &report)
        .map_err(|e| Failure::from(Error::Task(format!("writing the CSV: {e}"))))?;
    let disposition = format!(
        "attachment; filename=\"wplywy-{}-{}.csv\"",
        range.from, range.to
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}

/// Where both charts' plot area starts: the left margin holds the axis labels.
const CHART_LEFT: usize = 48;
const CHART_TOP: usize = 16;

/// A chart's opening: the accessible title and description, the axis and its two labels.
fn chart_start(
    id: &str,
    width: usize,
    height: usize,
    plot: usize,
    title: &str,
    desc: &str,
    max: impl std::fmt::Display,
) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"chart-{id}\" role=\"img\" \
         aria-labelledby=\"chart-{id}-title chart-{id}-desc\" width=\"{width}\" \
         height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"11\">\
         <title id=\"chart-{id}-title\">{}</title><desc id=\"chart-{id}-desc\">{}</desc>\
         <line x1=\"{LEFT}\" y1=\"{base}\" x2=\"{right}\" y2=\"{base}\" stroke=\"#222\"/>\
         <text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{max}</text>\
         <text x=\"{lx}\" y=\"{base}\" text-anchor=\"end\">0</text>",
        escape(title),
        escape(desc),
        LEFT = CHART_LEFT,
        base = CHART_TOP + plot,
        right = width - 8,
        lx = CHART_LEFT - 4,
        ty = CHART_TOP + 8,
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn ranges_are_checked() {
        let r = parse_range(&pairs(&[("from", "2025-03-29"), ("to", "2025-03-31")])).unwrap();
        assert_eq!(r.days().len(), 3);
        assert!(parse_range(&pairs(&[("from", "2025-04-01"), ("to", "2025-03-31")])).is_err());
        assert!(parse_range(&pairs(&[("from", "2024-01-01"), ("to", "2025-03-31")])).is_err());
        assert!(parse_range(&pairs(&[("from", "31.03.2025")])).is_err());
        assert!(parse_range(&pairs(&[("x", "1")])).is_err());
        assert!(parse_range(&pairs(&[("to", "2025-03-31"), ("to", "2025-03-31")])).is_err());
        let default = parse_range(&[]).unwrap();
        assert_eq!(default.days().len(), DEFAULT_DAYS as usize);
    }

    #[test]
    fn holds_fall_into_their_bins() {
        let h = |intake: &str, started: bool, hours: i64| HoldRow {
            intake: intake.into(),
            started,
            recorded_ms: hours * 3_600_000,
        };
        let holds = [
            h("A", true, 0),
            h("A", false, 24),
            h("B", true, 0),
            h("B", false, 5),
            h("C", true, 0),
            h("D", true, 10),
            h("D", false, 200),
        ];
        let range = parse_range(&pairs(&[("from", "2025-01-01"), ("to", "2025-01-01")])).unwrap();
        let r = compute(&RegistryConfig::demo(), range, &[], None, &[], &holds);
        assert_eq!(r.hold_bins, [1, 0, 0, 1, 0, 0, 1]);
        assert_eq!(r.holds_open, 1);
    }
}
