//! Ingest over real HTTP: acknowledgement, idempotent resends, forks, chain breaks, bad input,
//! restarts, and the register's view of an intake handled by two stations.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Server, Sim, T0_MS, count_rows, text};
use records::Payload;
use records::api::{IntakeStatus, IntakeView, MAX_PUSH_BYTES};

#[tokio::test]
async fn a_chain_is_acknowledged_and_resending_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna — wejście główne").await;

    let (ack0, body) = server.get_json("/api/stations/GW7K/acknowledged").await;
    assert_eq!((ack0, body["acknowledged"].as_u64()), (200, Some(0)));

    let door = urn.door();
    let (id, deposit, _) = urn.deposit("podatki", Some("PIT-2025/17"));
    let events = vec![door, deposit, urn.door()];
    let (status, body) = server.push("GW7K", &events).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["acknowledged"], 3);

    let (_, view) = server.get_json(&format!("/api/intakes/{id}")).await;
    let view: IntakeView = serde_json::from_value(view).unwrap();
    assert_eq!(view.timeline.len(), 1);
    assert_eq!(view.department, "Wydział Podatków i Opłat");
    assert_eq!(view.reference.as_deref(), Some("PIT-2025/17"));
    assert_eq!(view.status, IntakeStatus::Deposited);

    // The station lost our answer and sends everything again, plus one new event.
    let mut again = events.clone();
    let (status, body) = server.push("GW7K", &again).await;
    assert_eq!((status, body["acknowledged"].as_u64()), (200, Some(3)));
    again.push(urn.door());
    let (status, body) = server.push("GW7K", &again).await;
    assert_eq!((status, body["acknowledged"].as_u64()), (200, Some(4)));
    assert_eq!(server.count("events"), 4);
    assert_eq!(server.count("intakes"), 1);
    let (_, view) = server.get_json(&format!("/api/intakes/{id}")).await;
    assert_eq!(view["timeline"].as_array().unwrap().len(), 1);

    let (status, body) = server.get_json("/api/stations/GW7K/acknowledged").await;
    assert_eq!((status, body["acknowledged"].as_u64()), (200, Some(4)));
    server.stop().await;
}

#[tokio::test]
async fn a_fork_is_refused_kept_as_evidence_and_raised() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna").await;
    let mut notices = server.registry.subscribe();

    let first = urn.door();
    let after_first = urn.tip;
    let events = vec![first, urn.door(), urn.door()];
    assert_eq!(server.push("GW7K", &events).await.0, 200);

    // The same key signs a different event #2: only a cloned or tampered station does that.
    let forked = urn.event_at(2, after_first, Payload::DoorClosed);
    let (status, body) = server.push("GW7K", std::slice::from_ref(&forked)).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "fork");
    assert_eq!(body["seq"], 2);
    assert_eq!(body["acknowledged"], 3);
    assert_eq!(server.count("events"), 3);
    assert_eq!(server.count("forks"), 1);
    assert_eq!(server.count("alarms"), 1);

    // Stored events were not overwritten.
    let conn = rusqlite::Connection::open(&server.db).unwrap();
    let stored: Vec<u8> = conn
        .query_row("SELECT canonical FROM events WHERE seq = 2", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(stored, events[1].canonical);

    // The station retries: still refused, but no second alarm.
    assert_eq!(server.push("GW7K", &[forked]).await.0, 409);
    assert_eq!(server.count("alarms"), 1);

    let notice = tokio::time::timeout(std::time::Duration::from_secs(2), notices.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(notice, registry::Notice::Alarm { seq: Some(2), .. }),
        "{notice:?}"
    );

    let (_, page) = server.get_text("/").await;
    assert!(page.contains("class=\"alarms\""), "{page}");
    assert!(page.contains("Fork: station GW7K"), "{page}");
    server.stop().await;
}

#[tokio::test]
async fn a_badly_signed_mismatch_is_a_chain_error_not_an_alarm() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna").await;
    let events = vec![urn.door(), urn.door()];
    assert_eq!(server.push("GW7K", &events).await.0, 200);

    // Anyone who knows the station code could send this; it must not raise alarms.
    let stranger = Sim::new("GW7K", 9);
    let fake = stranger.event_at(1, records::Hash::GENESIS, Payload::DoorClosed);
    let (status, body) = server.push("GW7K", &[fake]).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["acknowledged"], 2);
    assert_eq!(server.count("alarms"), 0);
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_station_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    let (_, deposit, _) = urn.deposit("inne", None);
    let (status, body) = server.push("GW7K", &[deposit]).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "unknown_station");
    let (status, body) = server.push("not-a-code", &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unknown_station"))
    );
    let (status, _) = server.get_json("/api/stations/GW7K/acknowledged").await;
    assert_eq!(status, 401);
    assert_eq!(server.count("events"), 0);
    assert_eq!(server.count("intakes"), 0);
    server.stop().await;
}

#[tokio::test]
async fn a_gap_or_bad_signature_keeps_the_valid_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna").await;
    let events: Vec<_> = (0..6).map(|_| urn.door()).collect();

    // Event 3 is missing.
    let batch = vec![events[0].clone(), events[1].clone(), events[3].clone()];
    let (status, body) = server.push("GW7K", &batch).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], "chain");
    assert_eq!(body["acknowledged"], 2);
    assert_eq!(body["seq"], 3);
    assert!(body["message"].as_str().unwrap().contains("gap"), "{body}");

    // Event 4's signature is damaged.
    let mut bad = events[3].clone();
    bad.signature[10] ^= 0x40;
    let batch = vec![events[2].clone(), bad, events[4].clone()];
    let (status, body) = server.push("GW7K", &batch).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["acknowledged"], 3);
    assert_eq!(body["seq"], 4);
    assert!(
        body["message"].as_str().unwrap().contains("signature"),
        "{body}"
    );
    assert_eq!(server.count("events"), 3);

    // The station resumes from the acknowledgement.
    let (status, body) = server.push("GW7K", &events[3..]).await;
    assert_eq!((status, body["acknowledged"].as_u64()), (200, Some(6)));
    server.stop().await;
}

#[tokio::test]
async fn malformed_and_oversized_bodies_are_refused_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna").await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/stations/GW7K/events", server.url);

    for body in [
        &b"{"[..],
        b"",
        b"null",
        b"{\"events\": 5}",
        b"{\"events\": [{\"seq\": 1}]}",
        b"{\"events\": [], \"extra\": 1}",
        b"\xff\xfe\x00garbage",
    ] {
        let resp = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{body:?}");
        let err: records::api::ApiError = resp.json().await.unwrap();
        assert_eq!(err.error, "bad_request");
    }

    // Oversized: refused whether the server answers before or after reading it all.
    let huge = vec![b' '; MAX_PUSH_BYTES + 1];
    match client.post(&url).body(huge).send().await {
        Ok(resp) => assert_eq!(resp.status().as_u16(), 413),
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    assert_eq!(server.count("events"), 0);
    server.stop().await;
}

#[tokio::test]
async fn oversized_body_is_413_through_the_router() {
    use tower::ServiceExt;
    let dir = tempfile::tempdir().unwrap();
    let registry = registry::Registry::open(
        &dir.path().join("r.sqlite"),
        registry::RegistryConfig::demo(),
    )
    .unwrap();
    let urn = Sim::new("GW7K", 1);
    registry
        .enrol(urn.code, "Urna", urn.key.verifying_key())
        .await
        .unwrap();
    let app = registry::app(registry::AppState::new(registry));
    let request = axum::http::Request::post("/api/stations/GW7K/events")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(vec![b' '; MAX_PUSH_BYTES + 1]))
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status().as_u16(), 413);
    assert_eq!(count_rows(&dir.path().join("r.sqlite"), "events"), 0);
}

#[tokio::test]
async fn a_restart_keeps_acknowledgements_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let mut urn = Sim::new("GW7K", 1);
    let events: Vec<_> = (0..5).map(|_| urn.door()).collect();
    {
        let server = Server::start(dir.path()).await;
        server.enrol(&urn, "Urna").await;
        assert_eq!(server.push("GW7K", &events[..3]).await.1["acknowledged"], 3);
        server.stop().await;
    }
    let server = Server::start(dir.path()).await;
    // Enrolling again with the same key is harmless.
    server.enrol(&urn, "Urna").await;
    let (_, body) = server.get_json("/api/stations/GW7K/acknowledged").await;
    assert_eq!(body["acknowledged"], 3);
    let (status, body) = server.push("GW7K", &events).await;
    assert_eq!((status, body["acknowledged"].as_u64()), (200, Some(5)));
    assert_eq!(server.count("events"), 5);
    server.stop().await;
}

#[tokio::test]
async fn an_intake_handled_by_two_stations_has_one_ordered_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    let mut mailroom = Sim::new("MR22", 2);
    server.enrol(&urn, "Urna — wejście główne").await;
    server.enrol(&mailroom, "Kancelaria — punkt przyjęć").await;

    let (id, deposit, _) = urn.deposit("podatki", None);
    let urn_events = vec![
        deposit,
        urn.event(Payload::LabelPrinted {
            intake: id,
            label: records::LabelKind::Receipt,
        }),
        urn.event(Payload::DropSeen { intake: id }),
        urn.door(),
    ];
    mailroom.clock_ms = urn.clock_ms + 60_000;
    let mailroom_events = vec![
        mailroom.event(Payload::Collected { intake: id }),
        mailroom.event(Payload::HoldStarted {
            intake: id,
            hold_secs: 120,
        }),
        mailroom.event(Payload::HoldReleased {
            intake: id,
            early: None,
        }),
        mailroom.event(Payload::Forwarded {
            intake: id,
            department: text("Wydział Komunikacji"),
        }),
    ];

    // The mailroom reaches the registry first: its events wait for the deposit.
    assert_eq!(server.push("MR22", &mailroom_events).await.0, 200);
    let (status, body) = server.get_json(&format!("/api/intakes/{id}")).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    assert_eq!(server.push("GW7K", &urn_events).await.0, 200);

    let (status, body) = server.get_json(&format!("/api/intakes/{id}")).await;
    assert_eq!(status, 200, "{body}");
    let view: IntakeView = serde_json::from_value(body).unwrap();
    let kinds: Vec<&str> = view.timeline.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "deposit",
            "label_printed",
            "drop_seen",
            "collected",
            "hold_started",
            "hold_released",
            "forwarded"
        ]
    );
    let stations: Vec<&str> = view.timeline.iter().map(|e| e.station.as_str()).collect();
    assert_eq!(
        stations,
        ["GW7K", "GW7K", "GW7K", "MR22", "MR22", "MR22", "MR22"]
    );
    assert_eq!(view.status, IntakeStatus::Forwarded);
    assert_eq!(view.department, "Wydział Komunikacji");
    assert_eq!(view.category, "podatki");

    let (status, page) = server.get_text(&format!("/intakes/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("hold_released") && page.contains("MR22"),
        "{page}"
    );

    let (status, body) = server.get_json("/api/intakes/GW7K-0000-Q").await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));
    assert!(
        body["message"].as_str().unwrap().contains("never used"),
        "{body}"
    );
    server.stop().await;
}

/// Pushes of different stations that arrive together are verified side by side and stored in
/// shared commits: each station must still get exactly its own acknowledgement, a bad event in
/// one station's push must keep that station's valid prefix without costing the others
/// anything, and an intake touched by two stations in the same moment must end in the state
/// its whole timeline says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stations_pushing_at_once_are_each_stored_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let alphabet = records::intake_id::ALPHABET;
    let mut urns: Vec<Sim> = (0..16)
        .map(|n| {
            let code = format!("XQ{}{}", alphabet[n / 8] as char, alphabet[n % 8] as char);
            Sim::new(&code, 40 + n as u8)
        })
        .collect();
    let mut mailroom = Sim::new("MR22", 2);
    for urn in &urns {
        server.enrol(urn, "Urna").await;
    }
    server.enrol(&mailroom, "Kancelaria").await;

    // Every urn: three pushes of a deposit and two doors each.
    let mut plans: Vec<(String, Vec<Vec<records::SignedEvent>>)> = Vec::new();
    let mut deposits = Vec::new();
    for urn in &mut urns {
        let pushes: Vec<Vec<_>> = (0..3)
            .map(|_| {
                let (id, deposit, _) = urn.deposit("podatki", None);
                deposits.push(id);
                vec![deposit, urn.door(), urn.door()]
            })
            .collect();
        plans.push((urn.code.to_string(), pushes));
    }
    // The fourth urn's second push has a damaged signature in the middle: 3 + 1 events stay.
    plans[3].1[1][1].signature[10] ^= 0x40;
    // The mailroom collects the first urn's first letter while the urns push.
    let collected = deposits[0];
    mailroom.clock_ms = T0_MS + 3_600_000;
    let mailroom_events = vec![mailroom.event(Payload::Collected { intake: collected })];
    plans.push(("MR22".into(), vec![mailroom_events]));

    let runs = plans.iter().map(|(code, pushes)| {
        let server = &server;
        async move {
            let mut answers = Vec::new();
            for events in pushes {
                let answer = server.push(code, events).await;
                let refused = answer.0 != 200;
                answers.push(answer);
                if refused {
                    // A station resumes from the acknowledgement later; it does not skip ahead.
                    break;
                }
            }
            (code.clone(), answers)
        }
    });
    let outcomes = futures_util::future::join_all(runs).await;

    for (i, (code, answers)) in outcomes.iter().enumerate() {
        let last = answers.last().unwrap();
        if i == 3 {
            assert_eq!(answers.len(), 2, "{code}: {answers:?}");
            assert_eq!(last.0, 422, "{code}: {}", last.1);
            assert_eq!(last.1["acknowledged"], 4, "{code}: {}", last.1);
            assert_eq!(last.1["seq"], 5, "{code}: {}", last.1);
        } else if code == "MR22" {
            assert_eq!((last.0, last.1["acknowledged"].as_u64()), (200, Some(1)));
        } else {
            assert_eq!(answers.len(), 3, "{code}: {answers:?}");
            for (n, (status, body)) in answers.iter().enumerate() {
                assert_eq!(*status, 200, "{code} push {n}: {body}");
                assert_eq!(body["acknowledged"], 3 * (n as u64 + 1), "{code}: {body}");
            }
        }
        let (_, body) = server
            .get_json(&format!("/api/stations/{code}/acknowledged"))
            .await;
        assert_eq!(body["acknowledged"], last.1["acknowledged"], "{code}");
    }
    assert_eq!(server.count("events"), 15 * 9 + 4 + 1);
    assert_eq!(server.count("intakes"), 15 * 3 + 2);

    let (status, body) = server.get_json(&format!("/api/intakes/{collected}")).await;
    assert_eq!(status, 200, "{body}");
    let view: IntakeView = serde_json::from_value(body).unwrap();
    assert_eq!(view.status, IntakeStatus::Collected);
    let kinds: Vec<&str> = view.timeline.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["deposit", "collected"]);
    server.stop().await;
}
