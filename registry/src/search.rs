//! Searching the register and exporting it: the query parameters clerks send (from the search
//! form, the API and the CSV link), parsed and checked, and the CSV of the register's fields.
//!
//! The query is outside input: every parameter is checked and a bad one is refused with a
//! message that says which and why, before anything is looked up.

use jiff::civil::Date;
use records::api::IntakeStatus;
use records::{IntakeId, StationCode, Timestamp};

use crate::config::RegistryConfig;
use crate::pages::WARSAW;
use crate::projection::channel_name;
use crate::store::{IntakeFilter, IntakeRecord};

/// Longest reference a search may look for.
pub const MAX_REFERENCE_CHARS: usize = 64;
/// Most rows one API answer carries.
pub const MAX_API_ROWS: usize = 1000;
/// Rows an API answer carries when `limit` is not given.
pub const DEFAULT_API_ROWS: usize = 200;
/// Most rows one CSV export carries.
pub const MAX_CSV_ROWS: usize = 100_000;
/// Most parameters a query may have: far more than the form sends.
const MAX_PARAMS: usize = 16;

/// The parameters a search knows.
pub const PARAMETERS: [&str; 8] = [
    "id",
    "reference",
    "from",
    "to",
    "station",
    "status",
    "department",
    "limit",
];

/// The status names a search takes, as the API spells them.
pub const STATUS_NAMES: [(&str, IntakeStatus); 6] = [
    ("deposited", IntakeStatus::Deposited),
    ("collected", IntakeStatus::Collected),
    ("held", IntakeStatus::Held),
    ("released", IntakeStatus::Released),
    ("forwarded", IntakeStatus::Forwarded),
    ("acknowledged", IntakeStatus::Acknowledged),
];

/// A search as asked: the filter and how many rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    /// What must match.
    pub filter: IntakeFilter,
    /// The `from` date as given (for showing the form again).
    pub from: Option<Date>,
    /// The `to` date as given.
    pub to: Option<Date>,
    /// `limit`, when given.
    pub limit: Option<usize>,
}

impl Search {
    /// Whether anything beyond the department was asked (the page says "search results" then).
    pub fn narrows(&self) -> bool {
        let f = &self.filter;
        f.id.is_some()
            || f.reference.is_some()
            || self.from.is_some()
            || self.to.is_some()
            || f.station.is_some()
            || f.status.is_some()
    }
}

/// A query that cannot be searched with; the message says which parameter and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SearchError(pub String);

fn status_name(status: IntakeStatus) -> &'static str {
    STATUS_NAMES
        .iter()
        .find(|(_, s)| *s == status)
        .map_or("deposited", |(n, _)| n)
}

/// The start of `date` in the office's time zone (Warsaw), unix ms.
pub(crate) fn start_of(date: Date) -> Option<i64> {
    date.to_zoned(WARSAW.clone())
        .ok()
        .map(|z| z.timestamp().as_millisecond())
}

/// Parses a search from query pairs. `extra` names parameters the route takes besides the
/// search's own (e.g. `fragment` on the clerk page); they are skipped. Empty values count as
/// absent, as a form sends every field. Unknown or repeated parameters are refused.
pub fn parse(pairs: &[(String, String)], extra: &[&str]) -> Result<Search, SearchError> {
    if pairs.len() > MAX_PARAMS {
        return Err(SearchError(format!(
            "too many parameters ({}); at most {MAX_PARAMS}",
            pairs.len()
        )));
    }
    let mut search = Search::default();
    let mut seen: Vec<&str> = Vec::new();
    for (key, value) in pairs {
        let key = key.as_str();
        if extra.contains(&key) {
            continue;
        }
        if !PARAMETERS.contains(&key) {
            return Err(SearchError(format!(
                "unknown parameter {:?}; known: {}",
                shorten(key),
                PARAMETERS.join(", ")
            )));
        }
        if seen.contains(&key) {
            return Err(SearchError(format!("parameter {key} is given twice")));
        }
        seen.push(key);
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let bad = |why: String| SearchError(format!("{key}={:?}: {why}", shorten(value)));
        match key {
            "id" => {
                search.filter.id = Some(
                    value
                        .parse::<IntakeId>()
                        .map_err(|e| bad(format!("not an intake id ({e})")))?,
                );
            }
            "reference" => {
                if value.chars().count() > MAX_REFERENCE_CHARS {
                    return Err(bad(format!("at most {MAX_REFERENCE_CHARS} characters")));
                }
                if value.chars().any(char::is_control) {
                    return Err(bad("no control characters".into()));
                }
                search.filter.reference = Some(value.to_owned());
            }
            "from" | "to" => {
                let date = parse_date(value).ok_or_else(|| {
                    bad("not a date; write it as YYYY-MM-DD, e.g. 2025-11-22".into())
                })?;
                if key == "from" {
                    search.from = Some(date);
                } else {
                    search.to = Some(date);
                }
            }
            "station" => {
                search.filter.station = Some(value.parse::<StationCode>().map_err(|_| {
                    bad("not a station code (4 characters of 2-9 and A-Z without I, L, O)".into())
                })?);
            }
            "status" => {
                let status = STATUS_NAMES
                    .iter()
                    .find(|(n, _)| *n == value)
                    .map(|(_, s)| *s)
                    .ok_or_else(|| {
                        let names: Vec<&str> = STATUS_NAMES.iter().map(|(n, _)| *n).collect();
                        bad(format!("not a status; one of {}", names.join(", ")))
                    })?;
                search.filter.status = Some(status);
            }
            "department" => {
                if value.len() > 200 || value.chars().any(char::is_control) {
                    return Err(bad("not a department name".into()));
                }
                search.filter.department = Some(value.to_owned());
            }
            "limit" => {
                let n: usize = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_API_ROWS).contains(n))
                    .ok_or_else(|| bad(format!("a number from 1 to {MAX_API_ROWS}")))?;
                search.limit = Some(n);
            }
            _ => {}
        }
    }
    if let (Some(from), Some(to)) = (search.from, search.to)
        && from > to
    {
        return Err(SearchError(format!(
            "from={from} is after to={to}; the range is from the first date to the last"
        )));
    }
    if let Some(from) = search.from {
        search.filter.received_from_ms = Some(
            start_of(from).ok_or_else(|| SearchError(format!("from={from} is out of range")))?,
        );
    }
    if let Some(to) = search.to {
        // `to` is the last day included: up to the start of the next.
        let next = to
            .tomorrow()
            .ok()
            .and_then(start_of)
            .ok_or_else(|| SearchError(format!("to={to} is out of range")))?;
        search.filter.received_before_ms = Some(next);
    }
    Ok(search)
}

pub(crate) fn parse_date(text: &str) -> Option<Date> {
    // Only the plain form: jiff would also take other spellings, which the form never sends.
    let b = text.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    text.parse::<Date>().ok()
}

/// Cuts what is echoed back in an error to something readable.
fn shorten(text: &str) -> String {
    const MAX: usize = 40;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(MAX).collect();
        s.push('…');
        s
    }
}

/// The query string that asks for `search` again (what the CSV link and the live refresh use).
pub fn query_string(search: &Search) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    let f = &search.filter;
    if let Some(id) = f.id {
        pairs.push(("id", id.to_string()));
    }
    if let Some(r) = &f.reference {
        pairs.push(("reference", r.clone()));
    }
    if let Some(d) = search.from {
        pairs.push(("from", d.to_string()));
    }
    if let Some(d) = search.to {
        pairs.push(("to", d.to_string()));
    }
    if let Some(s) = f.station {
        pairs.push(("station", s.to_string()));
    }
    if let Some(s) = f.status {
        pairs.push(("status", status_name(s).to_owned()));
    }
    if let Some(d) = &f.department {
        pairs.push(("department", d.clone()));
    }
    if let Some(n) = search.limit {
        pairs.push(("limit", n.to_string()));
    }
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// When an intake's sanitising hold began and ended, from its timeline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HoldTimes {
    /// The first hold's start.
    pub started: Option<Timestamp>,
    /// Its release, if it was released.
    pub released: Option<Timestamp>,
}

/// One row of the export: the register's row and its hold times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRow {
    /// The register's row.
    pub intake: IntakeRecord,
    /// Its hold.
    pub hold: HoldTimes,
}

/// The export's header: Polish, then English.
pub const CSV_HEADER: [&str; 11] = [
    "Numer / Id",
    "Data wpływu / Date of receipt",
    "Kanał / Channel",
    "Kategoria / Category",
    "Sygnatura / Reference",
    "Wydział / Department",
    "Stan / Status",
    "Początek kwarantanny / Hold start",
    "Koniec kwarantanny / Hold end",
    "Czas kwarantanny [s] / Hold duration [s]",
    "Zegar niepewny / Clock untrusted",
];

/// A spreadsheet takes a cell starting with one of these as a formula: such a field gets a
/// leading apostrophe, so that a reference typed by a resident cannot run anything when a clerk
/// opens the export.
pub fn guard_formula(field: &str) -> std::borrow::Cow<'_, str> {
    if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{field}"))
    } else {
        std::borrow::Cow::Borrowed(field)
    }
}

fn local_time(ts: Option<Timestamp>) -> String {
    ts.and_then(|t| jiff::Timestamp::from_millisecond(t.unix_ms).ok())
        .map(|t| {
            t.to_zoned(WARSAW.clone())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

/// The CSV of `rows` (UTF-8 with a byte order mark, which spreadsheets need to read Polish
/// letters; quoting by the `csv` crate; every field formula-guarded).
pub fn csv(config: &RegistryConfig, rows: &[ExportRow]) -> Result<Vec<u8>, csv::Error> {
    let mut out = Vec::from("\u{feff}".as_bytes());
    {
        let mut writer = csv::WriterBuilder::new()
            .quote_style(csv::QuoteStyle::Necessary)
            .from_writer(&mut out);
        writer.write_record(CSV_HEADER)?;
        for row in rows {
            let i = &row.intake;
            let category = match config.category(&i.category) {
                Some(c) => format!("{} / {}", c.name_pl, c.name_en),
                None => i.category.clone(),
            };
            let duration = match (row.hold.started, row.hold.released) {
                (Some(s), Some(r)) => ((r.unix_ms - s.unix_ms).max(0) / 1000).to_string(),
                _ => String::new(),
            };
            let untrusted = !i.received_at.trusted
                || row.hold.started.is_some_and(|t| !t.trusted)
                || row.hold.released.is_some_and(|t| !t.trusted);
            let fields = [
                i.id.to_string(),
                local_time(Some(i.received_at)),
                channel_name(i.channel).to_owned(),
                category,
                i.reference.clone().unwrap_or_default(),
                i.department.clone(),
                i.status.label().to_owned(),
                local_time(row.hold.started),
                local_time(row.hold.released),
                duration,
                if untrusted { "tak / yes" } else { "" }.to_owned(),
            ];
            writer.write_record(fields.iter().map(|f| guard_formula(f).into_owned()))?;
        }
        writer.flush()?;
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_full_query_parses() {
        let s = parse(
            &pairs(&[
                ("id", "GW7K-0001-X"),
                ("reference", "WA.123"),
                ("from", "2025-11-01"),
                ("to", "2025-11-30"),
                ("station", "gw7k"),
                ("status", "held"),
                ("fragment", "rows"),
            ]),
            &["fragment"],
        );
        // The id's check character decides whether it parses; either way the message is clear.
        match s {
            Ok(s) => assert_eq!(s.filter.status, Some(IntakeStatus::Held)),
            Err(e) => assert!(e.0.starts_with("id="), "{e}"),
        }
        let s = parse(
            &pairs(&[("from", "2025-11-01"), ("to", "2025-11-01"), ("id", "")]),
            &[],
        )
        .unwrap();
        let (a, b) = (
            s.filter.received_from_ms.unwrap(),
            s.filter.received_before_ms.unwrap(),
        );
        assert_eq!(b - a, 24 * 3600 * 1000, "one whole day");
    }

    #[test]
    fn bad_queries_say_what_is_wrong() {
        for (query, want) in [
            (vec![("colour", "red")], "unknown parameter"),
            (vec![("status", "lost")], "one of deposited"),
            (vec![("from", "22.11.2025")], "YYYY-MM-DD"),
            (vec![("from", "2025-02-30")], "YYYY-MM-DD"),
            (vec![("from", "2025-11-02"), ("to", "2025-11-01")], "after"),
            (vec![("station", "IOL1")], "station code"),
            (vec![("status", "held"), ("status", "held")], "twice"),
            (vec![("limit", "0")], "1 to 1000"),
        ] {
            let err = parse(&pairs(&query), &[]).unwrap_err();
            assert!(err.0.contains(want), "{query:?}: {err}");
        }
    }

    #[test]
    fn formulas_are_guarded() {
        for f in ["=1+1", "+48", "-2", "@SUM(A1)", "\tx"] {
            assert!(guard_formula(f).starts_with('\''), "{f:?}");
        }
        assert_eq!(guard_formula("WA.1"), "WA.1");
    }

    fn valid_search() -> impl Strategy<Value = Vec<(String, String)>> {
        let status = prop::sample::select(STATUS_NAMES.iter().map(|(n, _)| *n).collect::<Vec<_>>());
        (
            prop::option::of("[A-Za-z0-9./ -]{1,64}"),
            prop::option::of((2000i16..2100, 1i8..=12, 1i8..=28)),
            prop::option::of(0i32..400),
            prop::option::of("[2-9A-HJKMNP-Z]{4}"),
            prop::option::of(status),
            prop::option::of(1usize..=MAX_API_ROWS),
        )
            .prop_map(|(reference, from, days, station, status, limit)| {
                let mut out = Vec::new();
                if let Some(r) = reference.filter(|r| !r.trim().is_empty()) {
                    out.push(("reference".to_owned(), r.trim().to_owned()));
                }
                if let Some((y, m, d)) = from {
                    let from = Date::new(y, m, d).unwrap();
                    out.push(("from".to_owned(), from.to_string()));
                    if let Some(days) = days {
                        let to = from.checked_add(jiff::Span::new().days(days)).unwrap();
                        out.push(("to".to_owned(), to.to_string()));
                    }
                }
                if let Some(s) = station {
                    out.push(("station".to_owned(), s));
                }
                if let Some(s) = status {
                    out.push(("status".to_owned(), s.to_owned()));
                }
                if let Some(n) = limit {
                    out.push(("limit".to_owned(), n.to_string()));
                }
                out
            })
    }

    proptest! {
        #[test]
        fn any_query_parses_or_is_refused_without_panicking(
            raw in prop::collection::vec(
                (prop::sample::select(vec!["id", "reference", "from", "to", "station", "status",
                    "department", "limit", "x", ""]).prop_map(str::to_owned), any::<String>()),
                0..20,
            )
        ) {
            if let Err(e) = parse(&raw, &[]) {
                prop_assert!(!e.0.is_empty());
                // An echoed value is cut short: an error never carries a huge input back.
                prop_assert!(e.0.chars().count() < 400, "{}", e.0);
            }
        }

        #[test]
        fn a_valid_search_survives_its_own_query_string(query in valid_search()) {
            let search = parse(&query, &[]).unwrap();
            let again: Vec<(String, String)> =
                serde_urlencoded_pairs(&query_string(&search));
            prop_assert_eq!(parse(&again, &[]).unwrap(), search);
        }
    }

    fn serde_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
        query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                let decode = |s: &str| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8()
                        .unwrap()
                        .into_owned()
                };
                (decode(k), decode(v))
            })
            .collect()
    }
}
