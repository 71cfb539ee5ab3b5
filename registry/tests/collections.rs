//! Urn collections: `GET /api/collections/{seal}` tells the mailroom which envelopes the bag
//! with that seal should hold — the urn's deposits since its collection before, with how often
//! the slot saw each one fall — and nothing of other urns or other collections.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Server, Sim, text};
use records::api::CollectionView;
use records::{IntakeId, Payload};
use registry::sqlite::{MIGRATIONS, SCHEMA_VERSION};
use registry::{Registry, RegistryConfig};

fn drop_seen(intake: IntakeId) -> Payload {
    Payload::DropSeen { intake }
}

fn collected(seal: &str, envelopes: u32) -> Payload {
    Payload::UrnCollected {
        seal: text(seal),
        envelopes,
        first_staff: text("B-1042"),
        second_staff: text("B-2077"),
    }
}

async fn collection(server: &Server, seal: &str) -> CollectionView {
    let (status, body) = server.get_json(&format!("/api/collections/{seal}")).await;
    assert_eq!(status, 200, "{seal}: {body}");
    serde_json::from_value(body).unwrap()
}

/// (intake, drops seen) of each listed deposit, in the order served.
fn deposits(view: &CollectionView) -> Vec<(IntakeId, u32)> {
    view.deposits
        .iter()
        .map(|d| (d.intake, d.drops_seen))
        .collect()
}

#[tokio::test]
async fn each_seal_gives_exactly_its_urns_deposits_since_the_collection_before() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut main = Sim::new("GW7K", 1);
    let mut park = Sim::new("ZZ99", 2);
    server.enrol(&main, "Urna — wejście główne").await;
    server.enrol(&park, "Urna — wejście od parku").await;

    // Before the first collection: one deposit seen falling twice (two envelopes under one
    // label), one never seen; the other urn takes deposits at the same time.
    let door = main.door();
    let (a1, deposit_a1, _) = main.deposit("komunikacja", None);
    let events = vec![
        door,
        deposit_a1,
        main.event(drop_seen(a1)),
        main.event(drop_seen(a1)),
    ];
    assert_eq!(server.push("GW7K", &events).await.0, 200);
    let (b1, deposit_b1, _) = park.deposit("inne", None);
    let events = vec![deposit_b1, park.event(drop_seen(b1))];
    assert_eq!(server.push("ZZ99", &events).await.0, 200);
    let (a2, deposit_a2, _) = main.deposit("inne", Some("WK.123"));
    let events = vec![
        deposit_a2,
        main.event(Payload::DropNotSeen { intake: a2 }),
        main.event(collected("PL-0001", 3)),
    ];
    let first_collection_ms = main.clock_ms;
    assert_eq!(server.push("GW7K", &events).await.0, 200);

    // Between the two collections: a late drop for a2 (counts for neither window's a2), one
    // deposit seen once; the other urn again in between.
    let late = main.event(drop_seen(a2));
    let (a3, deposit_a3, _) = main.deposit("budownictwo", None);
    let events = vec![late, deposit_a3, main.event(drop_seen(a3))];
    assert_eq!(server.push("GW7K", &events).await.0, 200);
    let (b2, deposit_b2, _) = park.deposit("inne", None);
    assert_eq!(server.push("ZZ99", &[deposit_b2]).await.0, 200);
    let events = vec![main.event(collected("PL-0002", 1))];
    assert_eq!(server.push("GW7K", &events).await.0, 200);
    // After it: belongs to the next collection, not to either of these.
    let (_a4, deposit_a4, _) = main.deposit("inne", None);
    assert_eq!(server.push("GW7K", &[deposit_a4]).await.0, 200);
    let events = vec![park.event(collected("PL-0003", 2))];
    assert_eq!(server.push("ZZ99", &events).await.0, 200);

    // The raw JSON, as the mailroom station reads it.
    let (status, body) = server.get_json("/api/collections/PL-0001").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["station"], "GW7K");
    assert_eq!(body["station_name"], "Urna — wejście główne");
    assert_eq!(body["seal"], "PL-0001");
    assert_eq!(body["collected_at"]["unix_ms"], first_collection_ms);
    assert_eq!(body["collected_at"]["trusted"], true);
    assert_eq!(body["urn_count"], 3);
    assert_eq!(body["staff"], serde_json::json!(["B-1042", "B-2077"]));
    assert_eq!(body["deposits"][0]["intake"], a1.to_string());
    assert_eq!(body["deposits"][0]["drops_seen"], 2);
    assert_eq!(body["deposits"][1]["intake"], a2.to_string());
    assert_eq!(body["deposits"][1]["drops_seen"], 0);
    assert_eq!(body["deposits"].as_array().unwrap().len(), 2);

    let second = collection(&server, "PL-0002").await;
    assert_eq!(second.station, "GW7K");
    assert_eq!(second.urn_count, 1);
    assert_eq!(second.collected_at.unix_ms, main.clock_ms - 1000);
    assert_eq!(deposits(&second), vec![(a3, 1)]);

    let other = collection(&server, "PL-0003").await;
    assert_eq!(other.station, "ZZ99");
    assert_eq!(other.station_name, "Urna — wejście od parku");
    assert_eq!(other.urn_count, 2);
    assert_eq!(deposits(&other), vec![(b1, 1), (b2, 0)]);

    // The same seal number used again: the newest collection with it is the one served.
    let (b3, deposit_b3, _) = park.deposit("inne", None);
    let events = vec![deposit_b3, park.event(collected("PL-0001", 1))];
    assert_eq!(server.push("ZZ99", &events).await.0, 200);
    let again = collection(&server, "PL-0001").await;
    assert_eq!(again.station, "ZZ99");
    assert_eq!(deposits(&again), vec![(b3, 0)]);

    // The library answers the same as the route.
    assert_eq!(
        server.registry.collection("PL-0002").await.unwrap(),
        Some(second)
    );
    assert_eq!(server.registry.collection("PL-0004").await.unwrap(), None);
    server.stop().await;
}

#[tokio::test]
async fn a_collection_right_after_the_first_event_or_another_collection_has_no_deposits() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna").await;
    let events = vec![
        urn.event(collected("S-1", 0)),
        urn.event(collected("S-2", 0)),
    ];
    assert_eq!(server.push("GW7K", &events).await.0, 200);
    assert!(collection(&server, "S-1").await.deposits.is_empty());
    assert!(collection(&server, "S-2").await.deposits.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_seal_is_404_and_a_malformed_one_400() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna").await;
    let (_, deposit, _) = urn.deposit("inne", None);
    let events = vec![deposit, urn.event(collected("PL-0001", 1))];
    assert_eq!(server.push("GW7K", &events).await.0, 200);

    let longest = "A".repeat(32);
    for seal in ["PL-0002", "pl-0001", longest.as_str()] {
        let (status, body) = server.get_json(&format!("/api/collections/{seal}")).await;
        assert_eq!(status, 404, "{seal}: {body}");
        assert_eq!(body["error"], "not_found", "{seal}: {body}");
        assert!(body["message"].as_str().unwrap().contains(seal), "{body}");
    }

    let too_long = "A".repeat(33);
    for seal in [
        "",
        too_long.as_str(),
        "PL%200001",
        "PL_0001",
        "PL.0001",
        "plomba%21",
        "%C5%BC%C3%B3%C5%82w",
        "PL-0001%0A",
    ] {
        let (status, body) = server.get_json(&format!("/api/collections/{seal}")).await;
        assert_eq!(status, 400, "{seal:?}: {body}");
        assert_eq!(body["error"], "bad_request", "{seal:?}: {body}");
    }
    // The library refuses the same.
    let err = server.registry.collection("PL 1").await.unwrap_err();
    assert!(matches!(err, registry::Error::BadRequest(_)), "{err}");
    server.stop().await;
}

#[tokio::test]
async fn a_register_at_schema_version_2_migrates_to_the_kind_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sqlite");
    {
        // As urna left it before collections could be looked up.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(MIGRATIONS[1]).unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
    }
    assert!(MIGRATIONS.len() >= 3);
    drop(Registry::open(&path, RegistryConfig::demo()).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_index_info('events_by_kind') ORDER BY seqno")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(columns, ["kind", "station", "seq"]);
}
