//! Clerks at the registry office, over real HTTP on loopback and a real SQLite file: sign-in
//! and its lockout, sessions, what each clerk may see through every route, acknowledging
//! receipt (an event signed with the registry's own key), search and the CSV export.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{ADMIN, Clerk, PASSWORD, Server, Sim, login, session_cookie, text};
use records::{ChainTip, ChainVerifier, IntakeId, KeyRing, Payload};
use registry::RegistryKey;
use serde_json::Value;

const TAXES: &str = "Wydział Podatków i Opłat";
const TRANSPORT: &str = "Wydział Komunikacji";

/// Reads the SSE stream until `want` appears in it.
async fn read_until(resp: &mut reqwest::Response, want: &str) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !seen.contains(want) {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {want:?} in the stream; got {seen:?}"))
            .unwrap()
            .expect("stream ended");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

fn forwarded(sim: &mut Sim, id: IntakeId, department: &str) -> records::SignedEvent {
    sim.event(Payload::Forwarded {
        intake: id,
        department: text(department),
    })
}

/// A register with one taxes intake and one transport intake, both forwarded, both in the urn
/// collection sealed `PL-1`.
async fn two_departments(server: &Server) -> (Sim, IntakeId, IntakeId) {
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna").await;
    let (tax, d1, _) = urn.deposit("podatki", Some("PT-1"));
    let (car, d2, _) = urn.deposit("komunikacja", Some("KM-1"));
    let collected = urn.event(Payload::UrnCollected {
        seal: text("PL-1"),
        envelopes: 2,
        first_staff: text("B-001"),
        second_staff: text("B-002"),
    });
    let f1 = forwarded(&mut urn, tax, TAXES);
    let f2 = forwarded(&mut urn, car, TRANSPORT);
    assert_eq!(
        server.push("GW7K", &[d1, d2, collected, f1, f2]).await.0,
        200
    );
    (urn, tax, car)
}

#[tokio::test]
async fn a_clerk_sees_no_other_departments_intake_through_any_route() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let (mut urn, tax, car) = two_departments(&server).await;
    let taxes = server.clerk("podatki", TAXES).await;
    let transport = server.clerk("komunikacja", TRANSPORT).await;

    // Every route, as the taxes clerk: the transport intake is not there; as the admin and as
    // the transport clerk it is (so the refusals are not empty answers by accident).
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let routes = [
        format!("/intakes/{car}"),
        format!("/api/intakes/{car}"),
        "/api/intakes".to_owned(),
        format!("/api/intakes?id={car}"),
        format!("/api/intakes?department={}", enc(TRANSPORT)),
        "/api/intakes?reference=KM".to_owned(),
        "/".to_owned(),
        format!("/?department={}", enc(TRANSPORT)),
        "/?fragment=rows".to_owned(),
        "/intakes.csv".to_owned(),
        format!("/intakes.csv?id={car}"),
        "/api/collections/PL-1".to_owned(),
    ];
    let car_text = car.to_string();
    for route in &routes {
        let (status, body) = taxes.get_text(route).await;
        if route.starts_with("/intakes/") || route.starts_with("/api/intakes/") {
            // "Not in the register", as for an unknown id (which the answer repeats).
            assert_eq!(status, 404, "{route}: {body}");
        } else {
            assert_eq!(status, 200, "{route}: {body}");
            assert!(
                !body.contains(&car_text),
                "{route}: the taxes clerk saw {car}: {body}"
            );
        }
        for who in [&server.admin, &transport] {
            let (status, body) = who.get_text(route).await;
            assert_eq!(status, 200, "{route}");
            assert!(body.contains(&car_text), "{route}: {body}");
        }
    }
    // An unknown id gives the same answer as the hidden one.
    let unknown = IntakeId::new("GW7K".parse().unwrap(), 99).unwrap();
    let (_, hidden) = taxes.get_json(&format!("/api/intakes/{car}")).await;
    let (_, missing) = taxes.get_json(&format!("/api/intakes/{unknown}")).await;
    assert_eq!(hidden["error"], missing["error"]);
    // And the clerk's own intake is there.
    let (status, view) = taxes.get_json(&format!("/api/intakes/{tax}")).await;
    assert_eq!(
        (status, view["id"].as_str()),
        (200, Some(tax.to_string().as_str()))
    );
    let (_, bag) = taxes.get_json("/api/collections/PL-1").await;
    assert_eq!(bag["deposits"].as_array().unwrap().len(), 1, "{bag}");

    // Acknowledging another department's letter: not found, and nothing recorded.
    for path in [
        format!("/api/intakes/{car}/acknowledge"),
        format!("/intakes/{car}/acknowledge"),
    ] {
        assert_eq!(taxes.post(&path).await.status().as_u16(), 404, "{path}");
    }
    let (_, view) = server.get_json(&format!("/api/intakes/{car}")).await;
    assert_eq!(view["status"], "forwarded");

    // The live stream: the session's department decides, not the query.
    let mut stream = taxes
        .get(&format!("/events/stream?department={}", enc(TRANSPORT)))
        .await;
    assert_eq!(stream.status().as_u16(), 200);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (car2, d1, _) = urn.deposit("komunikacja", None);
    let (tax2, d2, _) = urn.deposit("podatki", None);
    assert_eq!(server.push("GW7K", &[d1, d2]).await.0, 200);
    let seen = read_until(&mut stream, &tax2.to_string()).await;
    assert!(!seen.contains(&car2.to_string()), "{seen}");
    drop(stream);
    server.stop().await;
}

#[tokio::test]
async fn sign_in_refuses_wrong_passwords_locks_out_and_sessions_end() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let url = server.url.clone();

    // Not signed in: pages go to the sign-in page, everything else is 401.
    let resp = server.anonymous_get("/?department=x").await;
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(
        resp.headers()["location"].to_str().unwrap(),
        "/login?next=%2F%3Fdepartment%3Dx"
    );
    let resp = server.anonymous_get("/intakes/GW7K-0001-X").await;
    assert_eq!(resp.status().as_u16(), 303);
    for path in [
        "/api/intakes",
        "/api/intakes/GW7K-0001-X",
        "/events/stream",
        "/intakes.csv",
        "/?fragment=rows",
        "/api/collections/PL-1",
        "/api/alerts",
    ] {
        let resp = server.anonymous_get(path).await;
        assert_eq!(resp.status().as_u16(), 401, "{path}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "unauthenticated", "{path}");
    }
    let (status, page) = {
        let resp = server.anonymous_get("/login").await;
        (resp.status().as_u16(), resp.text().await.unwrap())
    };
    assert_eq!(status, 200);
    assert!(page.contains("Nazwa użytkownika / Username"), "{page}");
    assert!(page.contains("Hasło / Password"), "{page}");

    // The password is kept only as an Argon2id hash.
    let hash: String = rusqlite::Connection::open(&server.db)
        .unwrap()
        .query_row(
            "SELECT password_hash FROM clerks WHERE username = ?1",
            [ADMIN],
            |r| r.get(0),
        )
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(PASSWORD));

    // A good sign-in: the cookie's flags, and only the token's hash in the register.
    let resp = login(&url, ADMIN, PASSWORD).await;
    assert_eq!(resp.status().as_u16(), 303);
    let set = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP: {set}");
    let cookie = session_cookie(&resp).unwrap();
    let token = cookie.strip_prefix("urna_session=").unwrap().to_owned();
    assert_eq!(
        data_encoding::BASE64URL_NOPAD
            .decode(token.as_bytes())
            .unwrap()
            .len(),
        32,
        "256 bits"
    );
    let conn = rusqlite::Connection::open(&server.db).unwrap();
    let stored: Vec<Vec<u8>> = conn
        .prepare("SELECT token_hash FROM clerk_sessions")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    use sha2::Digest;
    let want = sha2::Sha256::digest(token.as_bytes()).to_vec();
    assert!(stored.contains(&want));
    assert!(!stored.iter().any(|s| s == token.as_bytes()));
    // Behind the office's TLS proxy the cookie is Secure.
    let resp = common::no_redirects()
        .post(format!("{url}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-proto", "https")
        .body(format!("username={ADMIN}&password=correct+horse+battery"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert!(
        resp.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );

    // Wrong passwords: refused, no cookie; the fifth locks the username, and then even the
    // right password is refused until the lock ends. An unknown username is refused alike.
    let resp = login(&url, "nobody", PASSWORD).await;
    assert_eq!(resp.status().as_u16(), 401);
    let clerk = server.clerk("podatki", TAXES).await;
    for attempt in 1..=5 {
        let resp = login(&url, "podatki", "wrong password").await;
        assert!(session_cookie(&resp).is_none());
        let status = resp.status().as_u16();
        let page = resp.text().await.unwrap();
        if attempt < 5 {
            assert_eq!(status, 401, "attempt {attempt}");
            assert!(
                page.contains("Błędna nazwa użytkownika lub hasło"),
                "{page}"
            );
        } else {
            assert_eq!(status, 429, "attempt {attempt}");
            assert!(page.contains("spróbuj ponownie za 5 min"), "{page}");
        }
    }
    let resp = login(&url, "podatki", PASSWORD).await;
    assert_eq!(resp.status().as_u16(), 429);
    assert!(session_cookie(&resp).is_none());
    // The session from before the lockout still works; the lock is on signing in.
    assert_eq!(clerk.get("/api/intakes").await.status().as_u16(), 200);
    // Five minutes later (the lock's end moved back in the file), the right password works.
    conn.execute(
        "UPDATE login_failures SET locked_until_ms = 0 WHERE username = 'podatki'",
        [],
    )
    .unwrap();
    let again = common::sign_in(&url, "podatki", PASSWORD).await;

    // Signing out ends the session on the server, not only in the browser.
    let resp = again.post("/logout").await;
    assert_eq!(resp.status().as_u16(), 303);
    assert!(
        resp.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(again.get("/api/intakes").await.status().as_u16(), 401);
    assert_eq!(clerk.get("/api/intakes").await.status().as_u16(), 200);

    // An expired session is refused.
    conn.execute(
        "UPDATE clerk_sessions SET expires_ms = 1 WHERE username = 'podatki'",
        [],
    )
    .unwrap();
    assert_eq!(clerk.get("/api/intakes").await.status().as_u16(), 401);
    assert_eq!(clerk.get("/").await.status().as_u16(), 303);

    // A disabled account's sessions end and it cannot sign in again.
    let third = common::sign_in(&url, "podatki", PASSWORD).await;
    server.registry.disable_clerk("podatki").await.unwrap();
    assert_eq!(third.get("/api/intakes").await.status().as_u16(), 401);
    assert_eq!(
        login(&url, "podatki", PASSWORD).await.status().as_u16(),
        401
    );
    // A forged cookie opens nothing.
    let forged = Clerk {
        cookie: format!("urna_session={}", "A".repeat(43)),
        ..third.clone()
    };
    assert_eq!(forged.get("/api/intakes").await.status().as_u16(), 401);
    server.stop().await;
}

fn registry_events(db: &std::path::Path) -> Vec<records::SignedEvent> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT seq, canonical, key_id, signature FROM events WHERE station = 'RGST' ORDER BY seq",
        )
        .unwrap();
    stmt.query_map([], |r| {
        let seq: i64 = r.get(0)?;
        let key_id: String = r.get(2)?;
        let signature: Vec<u8> = r.get(3)?;
        Ok(records::SignedEvent {
            seq: seq as u64,
            canonical: r.get(1)?,
            key_id: key_id.try_into().unwrap(),
            signature: signature.try_into().unwrap(),
        })
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[tokio::test]
async fn acknowledging_records_an_event_signed_with_the_registrys_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let (mut urn, tax, car) = two_departments(&server).await;
    let (held, d, _) = urn.deposit("podatki", None);
    assert_eq!(server.push("GW7K", &[d]).await.0, 200);
    let taxes = server.clerk("podatki", TAXES).await;
    let transport = server.clerk("komunikacja", TRANSPORT).await;

    // The page offers the button to the taxes clerk for their forwarded letter.
    let (_, page) = taxes.get_text(&format!("/intakes/{tax}")).await;
    assert!(
        page.contains("Potwierdzam odbiór / Acknowledge receipt"),
        "{page}"
    );
    let mut live = server.admin.get("/events/stream").await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Refused: another department's clerk (as unknown), the admin, a letter not forwarded.
    let path = format!("/api/intakes/{tax}/acknowledge");
    assert_eq!(transport.post(&path).await.status().as_u16(), 404);
    let resp = server.admin.post(&path).await;
    assert_eq!(resp.status().as_u16(), 403);
    let resp = taxes
        .post(&format!("/api/intakes/{held}/acknowledge"))
        .await;
    assert_eq!(resp.status().as_u16(), 409);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("forwarded"),
        "{body}"
    );
    assert!(registry_events(&server.db).is_empty());

    // The button: back to the page, which now says so.
    let resp = taxes.post(&format!("/intakes/{tax}/acknowledge")).await;
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(
        resp.headers()["location"].to_str().unwrap(),
        format!("/intakes/{tax}")
    );
    let seen = read_until(&mut live, "acknowledged").await;
    assert!(seen.contains(&tax.to_string()), "{seen}");
    let (_, page) = taxes.get_text(&format!("/intakes/{tax}")).await;
    assert!(
        page.contains("Odbiór potwierdzony / Receipt acknowledged"),
        "{page}"
    );
    let (_, view) = taxes.get_json(&format!("/api/intakes/{tax}")).await;
    assert_eq!(view["status"], "acknowledged");
    let entry = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "acknowledged")
        .expect("in the timeline");
    assert_eq!(entry["station"], "RGST");
    assert_eq!(entry["detail"], format!("{TAXES}, podatki"));

    // Again: nothing more is recorded.
    let resp = taxes.post(&path).await;
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["recorded"], false, "{body}");
    let events = registry_events(&server.db);
    assert_eq!(events.len(), 1);

    // Signed by the registry's own key (the file in its data directory, mode 0600), and
    // verifiable with `records` alone.
    let key_path = dir.path().join(registry::own_key::KEY_FILE);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let key = RegistryKey::load(&key_path).unwrap().public();
    assert_eq!(server.registry.public_key(), Some(key));
    assert!(records::signing::verify_event(
        &key,
        &events[0].canonical,
        &events[0].signature
    ));
    let event = records::encoding::decode(&events[0].canonical).unwrap();
    assert_eq!(
        event.payload,
        Payload::Acknowledged {
            intake: tax,
            department: text(TAXES),
            clerk: text("podatki"),
        }
    );
    assert_ne!(key, urn.key.verifying_key(), "not a station's key");
    server.stop().await;

    // The chain goes on after a restart, gapless and verifiable from genesis.
    let server = Server::start(dir.path()).await;
    let transport = common::sign_in(&server.url, "komunikacja", PASSWORD).await;
    let resp = transport
        .post(&format!("/api/intakes/{car}/acknowledge"))
        .await;
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        (body["recorded"].as_bool(), body["seq"].as_u64()),
        (Some(true), Some(2))
    );
    let events = registry_events(&server.db);
    let mut ring = KeyRing::new();
    ring.add(key).unwrap();
    let verified = ChainVerifier::new("RGST".parse().unwrap(), &ring, ChainTip::GENESIS)
        .verify(&events)
        .unwrap();
    assert_eq!(verified.len(), 2);
    // The registry is no station of the fleet.
    assert!(
        server
            .registry
            .stations()
            .await
            .unwrap()
            .iter()
            .all(|s| s.code.as_str() != "RGST")
    );
    drop(live);
    server.stop().await;
}

#[tokio::test]
async fn the_csv_export_quotes_guards_formulas_and_carries_hold_times() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna").await;
    let (formula, d1, _) = urn.deposit("podatki", Some("=HYPERLINK(\"http://x\")"));
    let (quoted, d2, _) = urn.deposit("podatki", Some("WA.1, \"pilne\""));
    let (plus, d3, _) = urn.deposit("inne", Some("+48 123"));
    let (at, d4, _) = urn.deposit("inne", Some("@SUM(A1)"));
    let hold = urn.event(Payload::HoldStarted {
        intake: plus,
        hold_secs: 3600,
    });
    urn.clock_ms += 3_600_000;
    let release = urn.event(Payload::HoldReleased {
        intake: plus,
        early: None,
    });
    assert_eq!(
        server
            .push("GW7K", &[d1, d2, d3, d4, hold, release])
            .await
            .0,
        200
    );

    let resp = server.admin.get("/intakes.csv").await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "text/csv; charset=utf-8"
    );
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let body = resp.text().await.unwrap();
    let body = body.strip_prefix('\u{feff}').expect("a byte order mark");
    // The comma and quotes inside the reference are quoted.
    assert!(body.contains("\"WA.1, \"\"pilne\"\"\""), "{body}");
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header, registry::search::CSV_HEADER);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 4);
    let row = |id: IntakeId| {
        rows.iter()
            .find(|r| r[0] == id.to_string())
            .unwrap_or_else(|| panic!("{id} in {body}"))
            .clone()
    };
    let r = row(formula);
    assert_eq!(&r[4], "'=HYPERLINK(\"http://x\")");
    assert_eq!(&r[2], "urn");
    assert_eq!(&r[3], "Podatki i opłaty lokalne / Local taxes and fees");
    assert_eq!(&r[5], TAXES);
    assert_eq!(&r[6], "Złożone w urnie / Deposited");
    assert!(r[1].starts_with("2025-11-22 "), "{:?}", &r[1]);
    assert_eq!((&r[7], &r[8], &r[9]), ("", "", ""));
    assert_eq!(&row(quoted)[4], "WA.1, \"pilne\"");
    assert_eq!(&row(at)[4], "'@SUM(A1)");
    let r = row(plus);
    assert_eq!(&r[4], "'+48 123");
    assert_eq!(&r[6], "Po kwarantannie / Hold over");
    assert!(!r[7].is_empty() && !r[8].is_empty(), "{r:?}");
    assert_eq!(&r[9], "3601");

    // The same filters as the search, and a clerk's export holds only their department.
    let taxes = server.clerk("podatki", TAXES).await;
    let (_, csv) = taxes.get_text("/intakes.csv").await;
    assert!(csv.contains(&formula.to_string()) && !csv.contains(&plus.to_string()));
    let (_, csv) = server.get_text("/intakes.csv?reference=%2B48").await;
    assert!(csv.contains(&plus.to_string()) && !csv.contains(&formula.to_string()));
    let (status, body) = server.get_json("/intakes.csv?status=lost").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "bad_query");
    server.stop().await;
}

#[tokio::test]
async fn search_filters_and_refuses_bad_queries_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    let mut counter = Sim::new("GWK2", 2);
    server.enrol(&urn, "Urna").await;
    server.enrol(&counter, "Kancelaria").await;
    // 2025-11-22 (Warsaw) …
    let (early, d1, _) = urn.deposit("podatki", Some("SO.1234.2025"));
    // … and two days later.
    urn.clock_ms += 2 * 24 * 3600 * 1000;
    let (late, d2, _) = urn.deposit("komunikacja", Some("KM.7.2025"));
    let f = forwarded(&mut urn, late, TRANSPORT);
    let (other, d3, _) = counter.deposit("inne", None);
    assert_eq!(server.push("GW7K", &[d1, d2, f]).await.0, 200);
    assert_eq!(server.push("GWK2", &[d3]).await.0, 200);

    let ids = |body: &Value| -> Vec<String> {
        body["intakes"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"))
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let s = |id: IntakeId| id.to_string();
    for (query, want) in [
        // Newest first; the same second by id.
        ("", vec![s(late), s(other), s(early)]),
        (&*format!("id={early}"), vec![s(early)]),
        ("reference=so.1234", vec![s(early)]),
        ("reference=2025", vec![s(late), s(early)]),
        ("station=GWK2", vec![s(other)]),
        ("station=gw7k&status=forwarded", vec![s(late)]),
        ("status=deposited", vec![s(other), s(early)]),
        ("to=2025-11-22", vec![s(other), s(early)]),
        ("from=2025-11-23&station=GW7K", vec![s(late)]),
        ("from=2025-11-22&to=2025-11-22&station=GW7K", vec![s(early)]),
        ("from=2025-11-25", vec![]),
        ("limit=1&station=GW7K", vec![s(late)]),
        ("id=&reference=&status=", vec![s(late), s(other), s(early)]),
    ] {
        let (status, body) = server.get_json(&format!("/api/intakes?{query}")).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(ids(&body), want, "{query}");
        assert_eq!(body["count"], want.len(), "{query}");
    }

    // Bad queries: 400, saying which parameter and what is expected.
    for (query, says) in [
        (
            "status=lost",
            "status=\"lost\": not a status; one of deposited",
        ),
        ("from=22.11.2025", "YYYY-MM-DD"),
        ("from=2025-11-23&to=2025-11-22", "after"),
        ("station=0000", "not a station code"),
        ("id=nonsense", "not an intake id"),
        ("colour=red", "unknown parameter \"colour\""),
        ("limit=100000", "a number from 1 to 1000"),
        ("status=held&status=held", "given twice"),
    ] {
        let (status, body) = server.get_json(&format!("/api/intakes?{query}")).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["error"], "bad_query", "{query}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(says), "{query}: {message}");
    }
    // The page shows the message too.
    let (status, page) = server.get_text("/?status=lost").await;
    assert_eq!(status, 400);
    assert!(page.contains("not a status"), "{page}");
    // The search form on the page keeps what was asked, and links the CSV with it.
    let (status, page) = server.get_text("/?station=GWK2&status=deposited").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Wyniki wyszukiwania / Search results"),
        "{page}"
    );
    assert!(page.contains(&format!("data-id=\"{other}\"")), "{page}");
    assert!(!page.contains(&format!("data-id=\"{early}\"")), "{page}");
    assert!(
        page.contains("href=\"/intakes.csv?station=GWK2&amp;status=deposited\""),
        "{page}"
    );
    server.stop().await;
}
