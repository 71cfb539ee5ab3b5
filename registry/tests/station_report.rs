//! Station reports over real HTTP on loopback (`POST /api/stations/{code}/report`): a signed
//! report is kept and the fleet view, its page and `/metrics` show the backlog from it; an
//! unsigned, replayed, edited, revoked or misdirected report is refused with 401 like a push, and
//! a bad body with 400; neither keeps anything.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Server, Sim, fresh_nonce, now_secs, signed};
use records::SigningKey;

const A: &str = "GW7K";
const B: &str = "MR22";

fn path(code: &str) -> String {
    format!("/api/stations/{code}/report")
}

/// Posts `body` to `to`, signed by `key` over `signed_body` (the same body unless a test edits
/// it after signing), with `nonce` (a fresh one unless given); `None` for `key`: unsigned.
async fn post_report(
    server: &Server,
    key: Option<&SigningKey>,
    to: &str,
    signed_body: &[u8],
    body: &[u8],
    nonce: Option<&str>,
) -> (u16, serde_json::Value) {
    let request = reqwest::Client::new()
        .post(format!("{}{to}", server.url))
        .header("content-type", "application/json");
    let request = match key {
        Some(key) => signed(
            request,
            key,
            "POST",
            to,
            signed_body,
            now_secs(),
            true,
            nonce,
        ),
        None => request,
    };
    let resp = request.body(body.to_vec()).send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let json = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, json)
}

/// A report of `tip` from `sim`, signed and sent as the station does.
async fn report(server: &Server, sim: &Sim, tip: u64) -> (u16, serde_json::Value) {
    let body = serde_json::to_vec(&records::api::StationReport { log_tip: tip }).unwrap();
    post_report(
        server,
        Some(&sim.key),
        &path(sim.code.as_str()),
        &body,
        &body,
        None,
    )
    .await
}

/// The report the register keeps for `code`: (log tip, received ms).
fn kept(server: &Server, code: &str) -> Option<(i64, i64)> {
    let conn = rusqlite::Connection::open(&server.db).unwrap();
    conn.query_row(
        "SELECT log_tip, received_ms FROM station_reports WHERE station = ?1",
        [code],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .ok()
}

async fn health(server: &Server, code: &str) -> serde_json::Value {
    let (status, fleet) = server.get_json("/api/fleet").await;
    assert_eq!(status, 200, "{fleet}");
    fleet["stations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["code"] == code)
        .unwrap_or_else(|| panic!("{code} not in {fleet}"))
        .clone()
}

/// The value of the sample `series` in the registry's `/metrics`, if present.
async fn metric(server: &Server, series: &str) -> Option<f64> {
    let text = server.anonymous_get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn a_signed_report_is_kept_and_the_backlog_shown_against_the_register() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut a = Sim::new(A, 31);
    let b = Sim::new(B, 32);
    server.enrol(&a, "Urna — wejście").await;
    server.enrol(&b, "Kancelaria").await;
    let gauge = format!("urna_registry_station_backlog_events{{station=\"{A}\"}}");

    // Before any report the backlog is unknown, everywhere.
    let events: Vec<_> = (0..3).map(|_| a.door()).collect();
    assert_eq!(server.push(A, &events).await.0, 200);
    let s = health(&server, A).await;
    assert!(s["backlog"].is_null(), "{s}");
    assert!(s["reported_log_tip"].is_null(), "{s}");
    assert_eq!(metric(&server, &gauge).await, None);
    let (_, page) = server.get_text("/admin/stations").await;
    assert!(page.contains("<span class=\"backlog\">—</span>"), "{page}");

    // The station holds 10, the registry 3: 7 to come.
    let before = jiff::Timestamp::now().as_millisecond();
    let (status, body) = report(&server, &a, 10).await;
    assert_eq!(status, 204, "{body}");
    assert!(body.is_null(), "a 204 has no body: {body}");
    let (tip, at) = kept(&server, A).unwrap();
    assert_eq!(tip, 10);
    assert!(at >= before, "{at} < {before}");
    let s = health(&server, A).await;
    assert_eq!(s["backlog"], 7, "{s}");
    assert_eq!(s["reported_log_tip"], 10, "{s}");
    assert_eq!(s["reported_ms"], at, "{s}");
    assert_eq!(s["acknowledged"], 3, "{s}");
    assert_eq!(metric(&server, &gauge).await, Some(7.0));
    assert!(
        metric(
            &server,
            &format!("urna_registry_station_report_age_seconds{{station=\"{A}\"}}")
        )
        .await
        .is_some()
    );
    let (_, page) = server.get_text("/admin/stations").await;
    let row = page
        .split(&format!("<tr data-station=\"{A}\""))
        .nth(1)
        .unwrap();
    assert!(row.contains("<span class=\"backlog\">7</span>"), "{row}");
    // The other station never reported: its backlog stays unknown.
    assert!(health(&server, B).await["backlog"].is_null());

    // Pushes drain it with no new report: the register is read as it is now.
    let more: Vec<_> = (0..7).map(|_| a.door()).collect();
    assert_eq!(server.push(A, &more).await.0, 200);
    assert_eq!(health(&server, A).await["backlog"], 0);
    assert_eq!(metric(&server, &gauge).await, Some(0.0));

    // A station restored from an older copy reports less than the register holds: kept as it
    // came, but it owes nothing.
    let (status, _) = report(&server, &a, 4).await;
    assert_eq!(status, 204);
    assert_eq!(kept(&server, A).unwrap().0, 4);
    let s = health(&server, A).await;
    assert_eq!(s["reported_log_tip"], 4, "{s}");
    assert_eq!(s["backlog"], 0, "{s}");

    // An empty log reports 0.
    let (status, _) = report(&server, &b, 0).await;
    assert_eq!(status, 204);
    assert_eq!(health(&server, B).await["backlog"], 0);
    server.stop().await;
}

#[tokio::test]
async fn refused_reports_keep_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let a = Sim::new(A, 41);
    let b = Sim::new(B, 42);
    server.enrol(&a, "Urna").await;
    server.enrol(&b, "Kancelaria").await;
    let to = path(A);
    let body = br#"{"log_tip":10}"#.to_vec();

    // Unsigned.
    let (status, err) = post_report(&server, None, &to, &body, &body, None).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (401, Some("unsigned")),
        "{err}"
    );
    // Unsigned, for a station nobody enrolled.
    let (status, err) = post_report(&server, None, &path("ZZ99"), &body, &body, None).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (401, Some("unknown_station")),
        "{err}"
    );
    // The body edited after signing.
    let edited = br#"{"log_tip":99}"#.to_vec();
    let (status, err) = post_report(&server, Some(&a.key), &to, &body, &edited, None).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (401, Some("digest_mismatch")),
        "{err}"
    );
    // Another station's key.
    let (status, err) = post_report(&server, Some(&b.key), &to, &body, &body, None).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (401, Some("wrong_station")),
        "{err}"
    );
    // A key nobody approved.
    let stranger = SigningKey::from_bytes(&[43; 32]);
    let (status, err) = post_report(&server, Some(&stranger), &to, &body, &body, None).await;
    assert_eq!(status, 401, "{err}");
    assert_eq!(server.count("station_reports"), 0);

    // A nonce used once: the second request with it, whatever it says, is a replay.
    let nonce = fresh_nonce();
    let (status, _) = post_report(&server, Some(&a.key), &to, &body, &body, Some(&nonce)).await;
    assert_eq!(status, 204);
    let later = br#"{"log_tip":12}"#.to_vec();
    for replay in [&body, &later] {
        let (status, err) =
            post_report(&server, Some(&a.key), &to, replay, replay, Some(&nonce)).await;
        assert_eq!(
            (status, err["error"].as_str()),
            (401, Some("replayed")),
            "{err}"
        );
    }
    assert_eq!(kept(&server, A).unwrap().0, 10);

    // Revoked: refused as its pushes are, and the last report stays as it was.
    let kept_before = kept(&server, A);
    server.registry.revoke(A.parse().unwrap()).await.unwrap();
    let (status, err) = report(&server, &a, 20).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (401, Some("revoked")),
        "{err}"
    );
    assert_eq!(kept(&server, A), kept_before);
    assert_eq!(server.count("station_reports"), 1);
    server.stop().await;
}

#[tokio::test]
async fn a_bad_body_is_a_400_that_says_why_and_keeps_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let a = Sim::new(A, 51);
    server.enrol(&a, "Urna").await;
    let to = path(A);
    let bad: [&[u8]; 8] = [
        b"",
        b"not json",
        b"{}",
        br#"{"log_tip":-1}"#,
        br#"{"log_tip":"10"}"#,
        br#"{"log_tip":1.5}"#,
        br#"{"log_tip":10,"battery":3}"#,
        br#"{"log_tip":18446744073709551615}"#,
    ];
    for body in bad {
        let shown = String::from_utf8_lossy(body).into_owned();
        // Signed and unsigned alike: the body is judged before who sent it.
        for key in [Some(&a.key), None] {
            let (status, err) = post_report(&server, key, &to, body, body, None).await;
            if key.is_none() && status == 401 {
                // Only a body serde reads comes this far unsigned (the tip out of range).
                assert_eq!(shown, r#"{"log_tip":18446744073709551615}"#);
                continue;
            }
            assert_eq!(status, 400, "{shown}: {err}");
            assert_eq!(err["error"], "bad_request", "{shown}: {err}");
            let message = err["message"].as_str().unwrap();
            assert!(message.contains(" / "), "Polish / English: {message}");
            assert!(message.contains("log_tip"), "{message}");
        }
    }
    // Over 4 KiB.
    let big = format!(r#"{{"log_tip":1{}}}"#, " ".repeat(5000)).into_bytes();
    let (status, _) = post_report(&server, Some(&a.key), &to, &big, &big, None).await;
    assert_eq!(status, 413);
    assert_eq!(server.count("station_reports"), 0);
    assert!(health(&server, A).await["backlog"].is_null());

    // And then a good one is taken: nothing above broke the station's standing.
    let (status, _) = report(&server, &a, 0).await;
    assert_eq!(status, 204);
    assert_eq!(server.count("station_reports"), 1);
    server.stop().await;
}

#[tokio::test]
async fn the_report_route_is_described_as_a_signed_station_request() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let doc: serde_json::Value = server
        .anonymous_get("/openapi.json")
        .await
        .json()
        .await
        .unwrap();
    let op = &doc["paths"]["/api/stations/{code}/report"]["post"];
    assert!(op.is_object(), "not described");
    assert_eq!(
        op["security"],
        serde_json::json!([{"station_signature": []}])
    );
    assert_eq!(
        op["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/StationReport"
    );
    for status in ["204", "400", "401", "413"] {
        assert!(op["responses"][status].is_object(), "{status}");
    }
    let schema = &doc["components"]["schemas"]["StationReport"];
    assert_eq!(schema["required"], serde_json::json!(["log_tip"]));
    assert_eq!(schema["additionalProperties"], false);
    server.stop().await;
}
