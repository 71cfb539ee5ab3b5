//! Fleet health over real pushes: what the admin sees per station, who may see it, and a station
//! that stops pushing going silent and coming back, announced once each way.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{Server, Sim, sign, text};
use records::{Channel, Device, Event, Hash, Intake, Payload, SignedEvent, Timestamp};
use registry::{Notice, RegistryConfig};
use tokio::sync::broadcast::Receiver;

const A: &str = "GW7K";
const M: &str = "MR22";

fn config(silent_after_secs: u64) -> RegistryConfig {
    let mut config = RegistryConfig::demo();
    config.fleet.silent_after_secs = silent_after_secs;
    config
}

/// The next event of `sim`, recorded with a clock the station does not trust.
fn untrusted(sim: &mut Sim, payload: Payload) -> SignedEvent {
    sim.clock_ms += 1000;
    let event = Event {
        station: sim.code,
        seq: sim.seq + 1,
        recorded_at: Timestamp {
            unix_ms: sim.clock_ms,
            trusted: false,
        },
        prev_hash: sim.tip,
        payload,
    };
    let signed = sign(&sim.key, &event);
    sim.seq = event.seq;
    sim.tip = Hash::link(&sim.tip, &signed.canonical);
    signed
}

fn urn_deposit(sim: &mut Sim) -> SignedEvent {
    let id = sim.new_intake_id();
    let ms = sim.clock_ms + 1000;
    sim.event(Payload::Deposit(Intake {
        id,
        received_at: Timestamp {
            unix_ms: ms,
            trusted: true,
        },
        channel: Channel::Urn,
        category: text("inne"),
        reference: None,
        sender: None,
        attachments: None,
    }))
}

fn station<'a>(fleet: &'a serde_json::Value, code: &str) -> &'a serde_json::Value {
    fleet["stations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["code"] == code)
        .unwrap_or_else(|| panic!("{code} not in {fleet}"))
}

/// Silence notices heard so far: (station, silent).
fn drain(notices: &mut Receiver<Notice>, heard: &mut Vec<(String, bool)>) {
    while let Ok(n) = notices.try_recv() {
        if let Notice::StationSilence {
            station, silent, ..
        } = n
        {
            heard.push((station, silent));
        }
    }
}

#[tokio::test]
async fn the_admin_sees_each_stations_health() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut a = Sim::new(A, 21);
    let mut m = Sim::new(M, 22);
    server.enrol(&a, "Urna — wejście główne").await;
    server.enrol(&m, "Kancelaria").await;

    let mut events = vec![
        urn_deposit(&mut a),
        urn_deposit(&mut a),
        urn_deposit(&mut a),
    ];
    events.push(a.event(Payload::UrnCollected {
        seal: text("PL-0001"),
        envelopes: 3,
        first_staff: text("B-001"),
        second_staff: text("B-002"),
    }));
    events.push(urn_deposit(&mut a));
    events.push(urn_deposit(&mut a));
    events.push(a.event(Payload::FaultRaised {
        device: Device::Printer,
        fault: text("paper_out"),
    }));
    events.push(untrusted(&mut a, Payload::DoorOpened));
    assert_eq!(server.push(A, &events).await.0, 200);
    // A different event under an accepted seq: a fork, an alarm.
    let fork = a.event_at(1, Hash::GENESIS, Payload::DoorClosed);
    assert_eq!(server.push(A, &[fork]).await.0, 409);
    let door = m.door();
    assert_eq!(server.push(M, &[door]).await.0, 200);

    // "Last seen" is marked beside the request; wait for it.
    let deadline = Instant::now() + Duration::from_secs(5);
    let fleet = loop {
        let (status, fleet) = server.get_json("/api/fleet").await;
        assert_eq!(status, 200, "{fleet}");
        if fleet["stations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["last_seen_ms"].is_i64())
        {
            break fleet;
        }
        assert!(Instant::now() < deadline, "last seen never marked: {fleet}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(fleet["silent_after_secs"], 900);
    let sa = station(&fleet, A);
    assert_eq!(sa["name"], "Urna — wejście główne");
    assert_eq!(sa["silent"], false);
    assert_eq!(sa["acknowledged"], 8);
    assert_eq!(sa["last_event_ms"], a.clock_ms);
    assert_eq!(sa["clock_trusted"], false);
    assert_eq!(sa["printer"], "paper_out");
    assert_eq!(sa["urn_fill"], 2);
    assert_eq!(sa["urn_full"], false);
    assert_eq!(sa["alarms"].as_array().unwrap().len(), 1);
    assert_eq!(sa["device_alerts"][0]["what"], "paper_out");
    assert!(sa["backlog"].is_null());
    let sm = station(&fleet, M);
    assert_eq!(sm["clock_trusted"], true);
    assert_eq!(sm["printer"], "ok");
    assert!(sm["urn_fill"].is_null(), "a counter has no urn");
    assert!(sm["alarms"].as_array().unwrap().is_empty());

    let (status, page) = server.get_text("/admin/stations").await;
    assert_eq!(status, 200);
    assert!(page.contains("Stacje / Stations"));
    assert!(page.contains("data-station=\"GW7K\""));
    assert!(page.contains("paper_out"));
    assert!(!page.contains("id=\"silent-stations\""));

    // Not the admin: refused on both routes; no session: 401 / sign-in.
    let clerk = server.clerk("k1", "Wydział Komunikacji").await;
    let (status, body) = clerk.get_json("/api/fleet").await;
    assert_eq!(status, 403);
    assert_eq!(body["error"], "forbidden");
    assert_eq!(clerk.get("/admin/stations").await.status().as_u16(), 403);
    assert_eq!(
        server.anonymous_get("/api/fleet").await.status().as_u16(),
        401
    );
    assert_eq!(
        server
            .anonymous_get("/admin/stations")
            .await
            .status()
            .as_u16(),
        303
    );
    server.stop().await;
}

#[tokio::test]
async fn a_quiet_station_goes_silent_and_comes_back_announced_once_each_way() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), config(1)).await;
    let mut notices = server.registry.subscribe();
    let mut a = Sim::new(A, 31);
    let mut m = Sim::new(M, 32);
    server.enrol(&a, "Urna — wejście główne").await;
    server.enrol(&m, "Kancelaria").await;
    assert_eq!(server.push(A, &[a.door()]).await.0, 200);
    assert_eq!(server.push(M, &[m.door()]).await.0, 200);
    let clerk = server.clerk("k1", "Wydział Komunikacji").await;

    // M keeps pushing; A says nothing more.
    let mut heard = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !heard.contains(&(A.to_owned(), true)) {
        assert!(Instant::now() < deadline, "A never went silent: {heard:?}");
        assert_eq!(server.push(M, &[m.door()]).await.0, 200);
        tokio::time::sleep(Duration::from_millis(150)).await;
        drain(&mut notices, &mut heard);
    }
    let (_, fleet) = server.get_json("/api/fleet").await;
    assert_eq!(station(&fleet, A)["silent"], true);
    assert_eq!(station(&fleet, M)["silent"], false);
    let (_, page) = server.get_text("/admin/stations").await;
    assert!(page.contains("id=\"silent-stations\""));
    assert!(page.contains("<li data-station=\"GW7K\">"));
    // The admin's clerk page shows it in its alert area; a department's clerk's does not.
    let (_, page) = server.get_text("/").await;
    assert!(page.contains("id=\"silent-stations\""), "{page}");
    let (_, page) = clerk.get_text("/").await;
    assert!(!page.contains("silent-stations"));

    // Still silent a while later: no second notice.
    for _ in 0..4 {
        assert_eq!(server.push(M, &[m.door()]).await.0, 200);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    drain(&mut notices, &mut heard);
    assert_eq!(heard, [(A.to_owned(), true)]);

    // A speaks again.
    assert_eq!(server.push(A, &[a.door()]).await.0, 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !heard.contains(&(A.to_owned(), false)) {
        assert!(Instant::now() < deadline, "A never came back: {heard:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        drain(&mut notices, &mut heard);
    }
    assert_eq!(heard, [(A.to_owned(), true), (A.to_owned(), false)]);
    let (_, fleet) = server.get_json("/api/fleet").await;
    assert_eq!(station(&fleet, A)["silent"], false);
    server.stop().await;
}
