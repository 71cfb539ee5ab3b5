//! Device alerts: faults and alarms stations record become the registry's list of open alerts,
//! served at `GET /api/alerts` and shown on the clerk page; and a register from before alerts
//! existed migrates.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::{Server, Sim, T0_MS, text};
use records::api::{AlertKind, DeviceAlerts};
use records::{Device, Payload};
use registry::sqlite::{MIGRATIONS, SCHEMA_VERSION};
use registry::{Registry, RegistryConfig, SqliteStore};

fn raised(device: Device, fault: &str) -> Payload {
    Payload::FaultRaised {
        device,
        fault: text(fault),
    }
}

fn cleared(device: Device, fault: &str) -> Payload {
    Payload::FaultCleared {
        device,
        fault: text(fault),
    }
}

fn alarm(device: Device, what: &str) -> Payload {
    Payload::Alarm {
        device,
        alarm: text(what),
    }
}

async fn alerts(server: &Server) -> DeviceAlerts {
    let (status, body) = server.get_json("/api/alerts").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

/// (station, device, what) of each listed alert, in the order served.
fn keys(list: &DeviceAlerts) -> Vec<(String, Device, String)> {
    list.alerts
        .iter()
        .map(|a| (a.station.clone(), a.device, a.what.clone()))
        .collect()
}

#[tokio::test]
async fn a_raised_fault_is_listed_until_it_clears() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna — wejście główne").await;
    assert!(alerts(&server).await.alerts.is_empty());

    let mut notices = server.registry.subscribe();
    let events = vec![urn.door(), urn.event(raised(Device::Printer, "paper_out"))];
    assert_eq!(server.push("GW7K", &events).await.0, 200);

    // The raw JSON, as the mailroom station reads it.
    let (_, body) = server.get_json("/api/alerts").await;
    let only = &body["alerts"][0];
    assert_eq!(only["station"], "GW7K", "{body}");
    assert_eq!(only["station_name"], "Urna — wejście główne");
    assert_eq!(only["device"], "printer");
    assert_eq!(only["what"], "paper_out");
    assert_eq!(only["kind"], "fault");
    assert_eq!(only["seq"], 2);
    assert_eq!(only["since"]["unix_ms"], T0_MS + 2000);
    assert_eq!(only["since"]["trusted"], true);
    assert_eq!(body["alerts"].as_array().unwrap().len(), 1);

    let notice = tokio::time::timeout(std::time::Duration::from_secs(2), notices.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        notice,
        registry::Notice::DeviceAlerts {
            station: "GW7K".into()
        }
    );

    // Another printer fault at the same time, then the first one clears.
    let events = vec![
        urn.event(raised(Device::Printer, "cover_open")),
        urn.event(cleared(Device::Printer, "paper_out")),
    ];
    assert_eq!(server.push("GW7K", &events).await.0, 200);
    let list = alerts(&server).await;
    assert_eq!(
        keys(&list),
        vec![("GW7K".into(), Device::Printer, "cover_open".into())]
    );
    assert_eq!(list.alerts[0].seq, 3);

    assert_eq!(
        server
            .push("GW7K", &[urn.event(cleared(Device::Printer, "cover_open"))])
            .await
            .0,
        200
    );
    assert!(alerts(&server).await.alerts.is_empty());
    assert_eq!(server.count("device_alerts"), 0);
    server.stop().await;
}

#[tokio::test]
async fn a_raise_and_clear_in_one_push_ends_closed_and_a_re_raise_moves_the_alert() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna").await;

    let events = vec![
        urn.event(raised(Device::Scanner, "unplugged")),
        urn.event(cleared(Device::Scanner, "unplugged")),
        urn.event(raised(Device::Urn, "nearly_full")),
    ];
    assert_eq!(server.push("GW7K", &events).await.0, 200);
    let list = alerts(&server).await;
    assert_eq!(
        keys(&list),
        vec![("GW7K".into(), Device::Urn, "nearly_full".into())]
    );
    assert_eq!(list.alerts[0].seq, 3);

    // Raised again while open (e.g. after the station restarted): still one alert, now at the
    // newer event.
    let again = urn.event(raised(Device::Urn, "nearly_full"));
    assert_eq!(server.push("GW7K", &[again]).await.0, 200);
    let list = alerts(&server).await;
    assert_eq!(list.alerts.len(), 1);
    assert_eq!(list.alerts[0].seq, 4);
    assert_eq!(list.alerts[0].since.unix_ms, urn.clock_ms);
    server.stop().await;
}

#[tokio::test]
async fn an_alarm_stays_open_and_nothing_a_station_clears_closes_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna").await;

    let events = vec![
        urn.door(),
        urn.event(alarm(Device::Door, "door_opened_outside_collection")),
        urn.event(Payload::DoorClosed),
        urn.event(alarm(Device::Slot, "envelope_without_deposit")),
        // A station clearing a fault of the same name must not close the alarm.
        urn.event(cleared(Device::Door, "door_opened_outside_collection")),
    ];
    assert_eq!(server.push("GW7K", &events).await.0, 200);
    let list = alerts(&server).await;
    assert_eq!(
        keys(&list),
        vec![
            (
                "GW7K".into(),
                Device::Door,
                "door_opened_outside_collection".into()
            ),
            (
                "GW7K".into(),
                Device::Slot,
                "envelope_without_deposit".into()
            ),
        ]
    );
    assert!(list.alerts.iter().all(|a| a.kind == AlertKind::Alarm));
    assert_eq!(list.alerts[0].seq, 2);

    // Later events of other kinds leave it open.
    let (_, deposit, _) = urn.deposit("podatki", None);
    assert_eq!(server.push("GW7K", &[deposit, urn.door()]).await.0, 200);
    assert_eq!(alerts(&server).await.alerts.len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn replayed_pushes_do_not_duplicate_alerts_and_stations_are_listed_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    let mut mailroom = Sim::new("MR22", 2);
    server.enrol(&urn, "Urna — wejście główne").await;
    server.enrol(&mailroom, "Kancelaria — stanowisko 1").await;

    // The mailroom's clock is 10 s ahead: its fault is newer than the urn's.
    mailroom.clock_ms += 10_000;
    let mail = vec![mailroom.event(raised(Device::Printer, "paper_jam"))];
    let urn_events = vec![
        urn.event(raised(Device::Urn, "full")),
        urn.event(alarm(Device::Door, "door_opened_outside_collection")),
    ];
    for _ in 0..2 {
        assert_eq!(server.push("MR22", &mail).await.0, 200);
        assert_eq!(server.push("GW7K", &urn_events).await.0, 200);
    }
    // And once more, with one new event after the replayed ones.
    let mut more = urn_events.clone();
    more.push(urn.event(raised(Device::Urn, "full")));
    assert_eq!(server.push("GW7K", &more).await.0, 200);

    let list = alerts(&server).await;
    assert_eq!(
        keys(&list),
        vec![
            (
                "GW7K".into(),
                Device::Door,
                "door_opened_outside_collection".into()
            ),
            ("GW7K".into(), Device::Urn, "full".into()),
            ("MR22".into(), Device::Printer, "paper_jam".into()),
        ]
    );
    assert_eq!(list.alerts[2].station_name, "Kancelaria — stanowisko 1");
    assert_eq!(server.count("device_alerts"), 3);
    assert_eq!(server.count("events"), 4);
    server.stop().await;
}

#[tokio::test]
async fn the_clerk_page_shows_alerts_in_words_and_escapes_what_it_does_not_know() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna <wejście>").await;

    let (_, page) = server.get_text("/").await;
    assert!(!page.contains("class=\"device-alerts\""), "{page}");

    let events = vec![
        urn.event(raised(Device::Printer, "paper_out")),
        urn.event(raised(Device::Urn, "full")),
        urn.event(alarm(Device::Door, "door_opened_outside_collection")),
        urn.event(raised(Device::Storage, "<b>disk</b>")),
    ];
    assert_eq!(server.push("GW7K", &events).await.0, 200);

    // Whatever the department filter, the box is there.
    for path in ["/", "/?department=Wydzia%C5%82%20Komunikacji"] {
        let (status, page) = server.get_text(path).await;
        assert_eq!(status, 200);
        assert!(page.contains("class=\"device-alerts\""), "{page}");
        assert!(
            page.contains("brak papieru w drukarce / printer out of paper"),
            "{page}"
        );
        assert!(page.contains("urna pełna: nie przyjmuje pism / urn full: takes no letters"));
        assert!(
            page.contains(
                "drzwi urny otwarte poza odbiorem / urn door opened outside a collection"
            )
        );
        assert!(
            page.contains("Urna &lt;wejście&gt;</strong> (GW7K)"),
            "{page}"
        );
        assert!(page.contains("storage: &lt;b&gt;disk&lt;/b&gt;"), "{page}");
        assert!(!page.contains("<b>disk"), "{page}");
        // Since when, in Warsaw time: T0 + 1 s is 01:26:12 on 22 November (UTC+1).
        assert!(page.contains("od / since 2025-11-22 01:26:12"), "{page}");
    }

    // The box alone, as the live script fetches it.
    let (status, fragment) = server.get_text("/?fragment=device-alerts").await;
    assert_eq!(status, 200);
    assert!(
        fragment.starts_with("<section class=\"device-alerts\""),
        "{fragment}"
    );
    assert!(!fragment.contains("<html"), "{fragment}");
    server.stop().await;
}

#[tokio::test]
async fn a_register_at_schema_version_1_migrates_and_keeps_its_stations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sqlite");
    let mut urn = Sim::new("GW7K", 1);
    {
        // As urna left it before alerts existed: the first migration only, and one station.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute(
            "INSERT INTO stations (code, name, public_key, enrolled_ms) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![
                "GW7K",
                "Urna",
                urn.key.verifying_key().as_bytes().as_slice(),
                T0_MS
            ],
        )
        .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
    }

    assert!(MIGRATIONS.len() >= 2);
    let store = SqliteStore::open(&path).unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }
    assert_eq!(common::count_rows(&path, "device_alerts"), 0);

    let registry = Registry::with_store(Arc::new(store), RegistryConfig::demo()).unwrap();
    assert_eq!(registry.stations().await.unwrap().len(), 1);
    let events = vec![urn.event(raised(Device::Printer, "offline"))];
    registry.push(urn.code, events).await.unwrap();
    let list = registry.device_alerts().await.unwrap();
    assert_eq!(list.alerts.len(), 1);
    assert_eq!(list.alerts[0].station_name, "Urna");
    assert_eq!(list.alerts[0].what, "offline");
    drop(registry);

    // Opening it again changes nothing more.
    let registry = Registry::open(&path, RegistryConfig::demo()).unwrap();
    assert_eq!(registry.device_alerts().await.unwrap().alerts.len(), 1);
}
