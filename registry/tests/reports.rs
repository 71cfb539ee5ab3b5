//! Reports over real pushes: the daily figures (table and CSV) and the charts match what was
//! counted by hand, across the night Warsaw leaves summer time; a clerk sees their department's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;

use common::{Server, Sim, text};
use records::{Channel, Intake, IntakeId, Payload, SignedEvent, Timestamp};

/// Unix ms of a Warsaw wall-clock time.
fn warsaw(month: i8, day: i8, hour: i8, minute: i8) -> i64 {
    jiff::civil::date(2025, month, day)
        .at(hour, minute, 0, 0)
        .in_tz("Europe/Warsaw")
        .unwrap()
        .timestamp()
        .as_millisecond()
}

/// The next event of `sim`, recorded at `ms`.
fn at(sim: &mut Sim, ms: i64, payload: Payload) -> SignedEvent {
    sim.clock_ms = ms - 1000;
    sim.event(payload)
}

fn deposit(sim: &mut Sim, ms: i64, channel: Channel, category: &str) -> (IntakeId, SignedEvent) {
    let id = sim.new_intake_id();
    let event = at(
        sim,
        ms,
        Payload::Deposit(Intake {
            id,
            received_at: Timestamp {
                unix_ms: ms,
                trusted: true,
            },
            channel,
            category: text(category),
            reference: None,
            sender: None,
            attachments: None,
        }),
    );
    (id, event)
}

/// Checks that `svg` is well-formed XML as far as its tags go: every element closed in order,
/// attributes quoted, no stray `<` or `&`.
fn assert_well_formed(svg: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some(open) = rest.find('<') {
        let text_part = &rest[..open];
        assert_no_stray_ampersand(text_part);
        let close = rest[open..].find('>').expect("an unclosed tag") + open;
        let tag = &rest[open + 1..close];
        assert!(!tag.contains('<'), "a '<' inside a tag: {tag}");
        if let Some(name) = tag.strip_prefix('/') {
            let top = stack
                .pop()
                .unwrap_or_else(|| panic!("</{name}> closes nothing"));
            assert_eq!(top, name.trim(), "</{name}> closes <{top}>");
        } else {
            let name: String = tag
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '/')
                .collect();
            assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes: {tag}");
            assert_no_stray_ampersand(tag);
            if !tag.ends_with('/') {
                stack.push(name);
            }
        }
        rest = &rest[close + 1..];
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    assert_no_stray_ampersand(rest);
}

fn assert_no_stray_ampersand(text: &str) {
    for (i, _) in text.match_indices('&') {
        let entity = &text[i..text.len().min(i + 10)];
        let end = entity.find(';').expect("an entity without ';'");
        let body = &entity[1..end];
        assert!(
            ["amp", "lt", "gt", "quot", "apos"].contains(&body)
                || body.starts_with("#x")
                || body.starts_with('#'),
            "not an XML entity: {entity}"
        );
    }
}

fn svgs(page: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = page;
    while let Some(start) = rest.find("<svg") {
        let end = rest[start..].find("</svg>").unwrap() + start + "</svg>".len();
        out.push(&rest[start..end]);
        rest = &rest[end..];
    }
    out
}

/// `(station, day) → count` from the chart's bars.
fn bars(svg: &str) -> HashMap<(String, String), u64> {
    let attr = |tag: &str, name: &str| -> String {
        let from = tag.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        tag[from..from + tag[from..].find('"').unwrap()].to_owned()
    };
    svg.match_indices("<rect class=\"bar\"")
        .map(|(i, _)| {
            let tag = &svg[i..i + svg[i..].find('>').unwrap()];
            (
                (attr(tag, "data-station"), attr(tag, "data-day")),
                attr(tag, "data-count").parse().unwrap(),
            )
        })
        .collect()
}

/// The CSV as rows of named fields (the BOM dropped).
fn csv_rows(body: &str) -> Vec<HashMap<String, String>> {
    let body = body.trim_start_matches('\u{feff}');
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect()
}

const RANGE: &str = "from=2025-10-25&to=2025-10-27";
const A: &str = "GW7K";
const B: &str = "GW3K";
const M: &str = "MR22";

#[tokio::test]
async fn figures_and_charts_match_the_pushed_events_across_the_dst_night() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut a = Sim::new(A, 11);
    let mut b = Sim::new(B, 12);
    let mut m = Sim::new(M, 13);
    server.enrol(&a, "Urna — wejście główne").await;
    // A name with markup: it must come out escaped in the chart's legend and titles.
    server.enrol(&b, "Urna <Ratusz> & \"Rynek\"").await;
    server.enrol(&m, "Kancelaria").await;

    // Urn A: 10-25 ×2 (one at 23:30 CEST), 10-26 at 00:30 CEST (22:30 UTC on the 25th), and
    // 10-27 at 00:30 CET (23:30 UTC on the 26th).
    let (x, e1) = deposit(&mut a, warsaw(10, 25, 9, 0), Channel::Urn, "podatki");
    let (y, e2) = deposit(&mut a, warsaw(10, 25, 23, 30), Channel::Urn, "budownictwo");
    let (_, e3) = deposit(&mut a, warsaw(10, 26, 0, 30), Channel::Urn, "podatki");
    let (_, e4) = deposit(&mut a, warsaw(10, 27, 0, 30), Channel::Urn, "podatki");
    assert_eq!(server.push(A, &[e1, e2, e3, e4]).await.0, 200);
    // Urn B: out of range before and after, and two on the 25-hour day.
    let (_, f0) = deposit(&mut b, warsaw(10, 24, 23, 59), Channel::Urn, "podatki");
    let (_, f1) = deposit(&mut b, warsaw(10, 26, 10, 0), Channel::Urn, "inne");
    let (_, f2) = deposit(&mut b, warsaw(10, 26, 23, 30), Channel::Urn, "podatki");
    let (_, f3) = deposit(&mut b, warsaw(10, 28, 0, 30), Channel::Urn, "podatki");
    assert_eq!(server.push(B, &[f0, f1, f2, f3]).await.0, 200);
    // The mailroom: counter and post, and the holds of X (31 h), Y (2 h) and Z (still held).
    let (z, g1) = deposit(&mut m, warsaw(10, 25, 12, 0), Channel::Counter, "podatki");
    let g2 = at(
        &mut m,
        warsaw(10, 25, 12, 30),
        Payload::HoldStarted {
            intake: z,
            hold_secs: 86_400,
        },
    );
    let g3 = at(
        &mut m,
        warsaw(10, 25, 13, 0),
        Payload::HoldStarted {
            intake: x,
            hold_secs: 86_400,
        },
    );
    let g4 = at(
        &mut m,
        warsaw(10, 26, 0, 0),
        Payload::HoldStarted {
            intake: y,
            hold_secs: 86_400,
        },
    );
    let g5 = at(
        &mut m,
        warsaw(10, 26, 2, 0),
        Payload::HoldReleased {
            intake: y,
            early: None,
        },
    );
    let (_, g6) = deposit(&mut m, warsaw(10, 26, 11, 0), Channel::Post, "komunikacja");
    let g7 = at(
        &mut m,
        warsaw(10, 26, 19, 0),
        Payload::HoldReleased {
            intake: x,
            early: None,
        },
    );
    let (_, g8) = deposit(&mut m, warsaw(10, 27, 9, 0), Channel::Post, "podatki");
    // A category a station made up, shaped like a spreadsheet formula.
    let (_, g9) = deposit(&mut m, warsaw(10, 27, 10, 0), Channel::Post, "=1+1");
    assert_eq!(
        server
            .push(M, &[g1, g2, g3, g4, g5, g6, g7, g8, g9])
            .await
            .0,
        200
    );

    // The admin's page: both charts well-formed, one bar per station and day.
    let (status, page) = server.get_text(&format!("/reports?{RANGE}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Wpłynęło / Received"));
    let charts = svgs(&page);
    assert_eq!(charts.len(), 2);
    for svg in &charts {
        assert_well_formed(svg);
        assert!(svg.contains("<title id=") && svg.contains("<desc id="));
    }
    assert!(charts[0].contains("Urna &lt;Ratusz&gt; &amp; &quot;Rynek&quot;"));
    assert!(!charts[0].contains("<Ratusz>"));
    let got = bars(charts[0]);
    assert_eq!(got.len(), 9, "3 stations × 3 days: {got:?}");
    let want = [
        (A, "2025-10-25", 2),
        (A, "2025-10-26", 1),
        (A, "2025-10-27", 1),
        (B, "2025-10-25", 0),
        (B, "2025-10-26", 2),
        (B, "2025-10-27", 0),
        (M, "2025-10-25", 1),
        (M, "2025-10-26", 1),
        (M, "2025-10-27", 2),
    ];
    for (station, day, n) in want {
        assert_eq!(
            got[&(station.to_owned(), day.to_owned())],
            n,
            "{station} {day}"
        );
    }
    // Holds: Y 2 h, X 31 h (the night of the clock change has 25 hours), Z still held.
    let holds = charts[1];
    assert!(holds.contains("data-bin=\"0\" data-count=\"1\""), "{holds}");
    assert!(holds.contains("data-bin=\"3\" data-count=\"1\""), "{holds}");
    assert_eq!(holds.matches("data-count=\"0\"").count(), 5);
    assert!(page.contains("<tr><th scope=\"row\">trwa / still held</th><td>1</td></tr>"));
    // The table carries the same numbers as the chart: date, received, urn, counter, post …
    assert!(
        page.contains(
            "<tr><th scope=\"row\">2025-10-26</th><td>4</td><td>3</td><td>0</td><td>1</td>"
        ),
        "{page}"
    );

    // The CSV: the same figures, the made-up category guarded.
    let resp = server.admin.get(&format!("/reports.csv?{RANGE}")).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let body = resp.text().await.unwrap();
    assert!(body.contains("'=1+1"), "{body}");
    assert!(!body.contains(",=1+1"));
    let rows = csv_rows(&body);
    assert_eq!(rows.len(), 4, "three days and the totals");
    let field = |row: usize, name: &str| -> u64 {
        let key = rows[row]
            .keys()
            .find(|k| k.starts_with(name))
            .unwrap_or_else(|| panic!("no column {name}: {:?}", rows[row].keys()));
        rows[row][key].parse().unwrap()
    };
    assert_eq!(rows[0]["Data / Date"], "2025-10-25");
    assert_eq!(rows[3]["Data / Date"], "Razem / Total");
    let expect: [(&str, [u64; 4]); 10] = [
        ("Wpłynęło", [3, 4, 3, 10]),
        ("Urna / Urn", [2, 3, 1, 6]),
        ("Okienko", [1, 0, 0, 1]),
        ("Poczta", [0, 1, 2, 3]),
        ("Podatki", [2, 2, 2, 6]),
        ("Budownictwo", [1, 0, 0, 1]),
        ("Prawo jazdy", [0, 1, 0, 1]),
        ("Inne sprawy", [0, 1, 0, 1]),
        ("Stacja / Station Urna — wejście", [2, 1, 1, 4]),
        ("Stacja / Station Kancelaria", [1, 1, 2, 4]),
    ];
    for (column, values) in expect {
        for (row, want) in values.iter().enumerate() {
            assert_eq!(field(row, column), *want, "{column}, row {row}");
        }
    }

    // A clerk of the tax department: their intakes only, in the table, the CSV and the charts.
    let clerk = server.clerk("podatki1", "Wydział Podatków i Opłat").await;
    let (status, page) = clerk.get_text(&format!("/reports?{RANGE}")).await;
    assert_eq!(status, 200);
    assert!(
        !page.contains("Budownictwo"),
        "another department's category"
    );
    let charts = svgs(&page);
    let got = bars(charts[0]);
    assert_eq!(got.len(), 9);
    assert_eq!(got[&(A.to_owned(), "2025-10-25".to_owned())], 1);
    assert_eq!(got[&(B.to_owned(), "2025-10-26".to_owned())], 1);
    assert_eq!(got[&(M.to_owned(), "2025-10-27".to_owned())], 1);
    // Only X's hold (31 h) ended; Z's goes on; Y is another department's.
    assert!(charts[1].contains("data-bin=\"3\" data-count=\"1\""));
    assert!(charts[1].contains("data-bin=\"0\" data-count=\"0\""));
    let (_, body) = clerk.get_text(&format!("/reports.csv?{RANGE}")).await;
    let rows = csv_rows(&body);
    let totals: Vec<&str> = rows
        .iter()
        .map(|r| r["Wpłynęło / Received"].as_str())
        .collect();
    assert_eq!(totals, ["2", "2", "2", "6"]);
    assert!(!body.contains("=1+1"), "the default department's category");

    server.stop().await;
}

#[tokio::test]
async fn bad_ranges_are_refused_and_strangers_sent_to_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    for query in [
        "from=2025-10-27&to=2025-10-25",
        "from=2024-01-01&to=2025-10-25",
        "from=27.10.2025",
        "from=2025-10-25&from=2025-10-26",
        "department=x",
    ] {
        let (status, _) = server.get_text(&format!("/reports?{query}")).await;
        assert_eq!(status, 400, "{query}");
        let (status, body) = server.get_json(&format!("/reports.csv?{query}")).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["error"], "bad_query");
    }
    // No range: the last week, for an empty register too.
    let (status, page) = server.get_text("/reports").await;
    assert_eq!(status, 200);
    for svg in svgs(&page) {
        assert_well_formed(svg);
    }
    let resp = server.anonymous_get("/reports").await;
    assert_eq!(resp.status().as_u16(), 303);
    let resp = server.anonymous_get("/reports.csv").await;
    assert_eq!(resp.status().as_u16(), 401);
    // The clerk page links to the reports.
    let clerk = server.clerk("k1", "Wydział Komunikacji").await;
    let (_, page) = clerk.get_text("/").await;
    assert!(page.contains("href=\"/reports\""));
    assert!(!page.contains("href=\"/admin/stations\""));
    let (_, page) = server.get_text("/").await;
    assert!(page.contains("href=\"/admin/stations\""));
    assert!(page.contains("href=\"/admin/deliveries\""));
    server.stop().await;
}
