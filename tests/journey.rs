//! An envelope's whole journey, urn to clerk, against real servers on loopback: real HTTP, real
//! SQLite files, the simulated devices driven through the stations' control API, the receipt's
//! QR read back from the printed PNG.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use records::api::{IntakeView, ReceiptVerdict};
use records::{StationCode, Timestamp};
use serde_json::{Value, json};
use station::config::Role;
use station::{LogStore, StationKey};

async fn kiosk_step(client: &reqwest::Client, kiosk: &str, step: &str) -> Value {
    eventually(&format!("kiosk step {step}"), || async {
        let state = get_json(client, &format!("{kiosk}/kiosk/state")).await;
        (state["step"] == step).then_some(state)
    })
    .await
}

async fn intake_view(client: &reqwest::Client, registry: &str, id: &str) -> Option<IntakeView> {
    let response = client
        .get(format!("{registry}/api/intakes/{id}"))
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

async fn verify_receipt(client: &reqwest::Client, registry: &str, text: &str) -> ReceiptVerdict {
    client
        .post(format!("{registry}/api/receipts/verify"))
        .header("content-type", "text/plain")
        .body(text.to_owned())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Reads the QR code on the newest printed receipt.
async fn newest_receipt_qr(client: &reqwest::Client, kiosk: &str, intake: &str) -> String {
    let labels = get_json(client, &format!("{kiosk}/sim/labels")).await;
    let receipt = labels
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["label"] == "receipt" && l["intake"] == intake)
        .expect("a receipt was printed for the deposit");
    let png = client
        .get(format!("{kiosk}{}", receipt["png"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let image = image::load_from_memory(&png).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the receipt");
    grids[0].decode().unwrap().1
}

fn station_tip(dir: &Path, code: &str) -> u64 {
    let store = LogStore::open_existing(&dir.join(code).join(station::runtime::LOG_FILE)).unwrap();
    store.stored_tip().unwrap().seq
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_travels_from_urn_to_department_and_survives_a_registry_outage() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let registry_addr = prepare(dir);
    let registry_server = start_registry(dir, registry_addr).await;
    let registry = format!("http://{registry_addr}");
    // The registry's intake routes are a signed-in clerk's.
    let clerk = registry_admin(&registry).await;
    let (kiosk_server, kiosk) = start_station(dir, KIOSK, Role::Urn, registry_addr).await;
    let (mailroom_server, mailroom) =
        start_station(dir, MAILROOM, Role::Mailroom, registry_addr).await;
    let client = reqwest::Client::new();

    // A resident scans the form's code and picks a category.
    kiosk_step(&client, &kiosk, "idle").await;
    let code = json!({ "code": "GKM.6220.12.2020" });
    assert_eq!(
        post(&client, &format!("{kiosk}/sim/scan"), Some(code)).await,
        202
    );
    kiosk_step(&client, &kiosk, "choose").await;
    assert_eq!(
        post(&client, &format!("{kiosk}/kiosk/category/podatki"), None).await,
        202
    );
    let state = kiosk_step(&client, &kiosk, "drop").await;
    let intake = state["intake"].as_str().unwrap().to_owned();
    assert!(intake.starts_with("GWU2-"), "{intake}");
    assert_eq!(state["reference"], "GKM.6220.12.2020");
    let lamp =
        || async { get_json(&client, &format!("{kiosk}/sim/devices")).await["lamp"].clone() };
    assert_eq!(
        lamp().await,
        true,
        "the lamp over the slot is lit while waiting for the envelope"
    );

    // The printed receipt's QR is genuine at the registry; one character changed is not.
    let payload = newest_receipt_qr(&client, &kiosk, &intake).await;
    assert!(payload.contains(&intake), "{payload}");
    let verdict = eventually("the receipt's intake at the registry", || async {
        let v = verify_receipt(&client, &registry, &payload).await;
        v.status.is_some().then_some(v)
    })
    .await;
    assert!(verdict.genuine, "{verdict:?}");
    let mut forged = payload.clone().into_bytes();
    let at = forged.len() - 10;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let verdict = verify_receipt(&client, &registry, &forged).await;
    assert!(!verdict.genuine, "{verdict:?}");

    // The envelope falls through the slot.
    assert_eq!(post(&client, &format!("{kiosk}/sim/slot"), None).await, 202);
    kiosk_step(&client, &kiosk, "done").await;
    assert_eq!(lamp().await, false);

    // The mailroom collects it into a hold, refuses an early release, then releases and forwards.
    sign_in(&client, &mailroom, "1001", "1234").await;
    let scan = || json!({ "code": intake });
    assert_eq!(
        post(&client, &format!("{mailroom}/sim/scan"), Some(scan())).await,
        202
    );
    eventually("collected", || async {
        let state = get_json(&client, &format!("{mailroom}/mailroom/state")).await;
        (state["held"].as_array().map(|h| h.len()) == Some(1)).then_some(())
    })
    .await;
    assert_eq!(
        post(&client, &format!("{mailroom}/sim/scan"), Some(scan())).await,
        202
    );
    eventually("early release refused", || async {
        let state = get_json(&client, &format!("{mailroom}/mailroom/state")).await;
        (state["last"]["ok"] == false).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for expected in ["hold_released", "forwarded"] {
        assert_eq!(
            post(&client, &format!("{mailroom}/sim/scan"), Some(scan())).await,
            202
        );
        eventually(expected, || async {
            let view = intake_view(&clerk, &registry, &intake).await?;
            view.timeline
                .iter()
                .any(|e| e.kind == expected)
                .then_some(())
        })
        .await;
    }
    let view = intake_view(&clerk, &registry, &intake).await.unwrap();
    let kinds: Vec<&str> = view.timeline.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "deposit",
            "label_printed",
            "label_printed",
            "drop_seen",
            "collected",
            "hold_started",
            "hold_released",
            "forwarded"
        ]
    );
    assert_eq!(view.department, "Wydział Podatków i Opłat");
    assert_eq!(view.reference.as_deref(), Some("GKM.6220.12.2020"));
    assert_eq!(view.status, records::api::IntakeStatus::Forwarded);
    let stations: Vec<&str> = view.timeline.iter().map(|e| e.station.as_str()).collect();
    assert_eq!(&stations[..4], [KIOSK; 4]);
    assert_eq!(&stations[4..], [MAILROOM; 4]);

    // The department confirms it has the letter: an event of the registry's own chain.
    let (username, password, _) = REGISTRY_TAX_CLERK;
    let taxes = registry_clerk(&registry, username, password).await;
    let resp = taxes
        .post(format!("{registry}/api/intakes/{intake}/acknowledge"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let view = intake_view(&clerk, &registry, &intake).await.unwrap();
    assert_eq!(view.status, records::api::IntakeStatus::Acknowledged);
    let last = view.timeline.last().unwrap();
    assert_eq!(
        (last.kind.as_str(), last.station.as_str()),
        ("acknowledged", "RGST")
    );

    // The registry goes away; residents keep depositing; nothing is lost or doubled.
    registry_server.stop().await;
    let mut offline = Vec::new();
    for _ in 0..3 {
        kiosk_step(&client, &kiosk, "done").await;
        assert_eq!(
            post(&client, &format!("{kiosk}/sim/button"), None).await,
            202
        );
        let state = kiosk_step(&client, &kiosk, "drop").await;
        offline.push(state["intake"].as_str().unwrap().to_owned());
        assert_eq!(post(&client, &format!("{kiosk}/sim/slot"), None).await, 202);
        kiosk_step(&client, &kiosk, "done").await;
    }
    let status = get_json(&client, &format!("{kiosk}/api/status")).await;
    assert_eq!(status["sync"]["connected"], false, "{status}");
    let registry_server = start_registry(dir, registry_addr).await;
    let tip = station_tip(dir, KIOSK);
    eventually("the kiosk's backlog at the registry", || async {
        let status = get_json(&client, &format!("{kiosk}/api/status")).await;
        (status["sync"]["acknowledged"] == tip).then_some(())
    })
    .await;
    for id in &offline {
        let view = intake_view(&clerk, &registry, id).await.unwrap();
        let kinds: Vec<&str> = view.timeline.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["deposit", "label_printed", "label_printed", "drop_seen"],
            "{id}"
        );
        assert_eq!(view.department, "Kancelaria ogólna");
    }
    let first = intake_view(&clerk, &registry, &intake).await.unwrap();
    assert_eq!(first.timeline.len(), 9, "nothing arrived twice");

    // A different event signed at an accepted seq is a fork: refused and raised.
    let key = StationKey::load(&dir.join(KIOSK).join("station.key")).unwrap();
    let kiosk_code: StationCode = KIOSK.parse().unwrap();
    let forked = records::Event {
        station: kiosk_code,
        seq: 1,
        recorded_at: Timestamp {
            unix_ms: 0,
            trusted: false,
        },
        prev_hash: records::Hash::GENESIS,
        payload: records::Payload::DoorOpened,
    };
    let canonical = records::encoding::encode(&forked);
    let signed = records::SignedEvent {
        seq: 1,
        signature: records::signing::sign_event(key.signing_key(), &canonical),
        canonical,
        key_id: key.key_id(),
    };
    // Sent as the station sends, its request signed with the same key.
    let response = station::signed_client::SignedClient::new(&registry, &key)
        .unwrap()
        .post_json(
            &format!("/api/stations/{KIOSK}/events"),
            &records::api::PushRequest {
                events: vec![signed],
            },
        )
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 409);
    let clerk_page = clerk
        .get(format!("{registry}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        clerk_page.contains(KIOSK) && clerk_page.to_lowercase().contains("fork"),
        "{clerk_page}"
    );
    let still = intake_view(&clerk, &registry, &intake).await.unwrap();
    assert_eq!(
        still.timeline[0].kind, "deposit",
        "the accepted event was not replaced"
    );

    kiosk_server.stop().await;
    mailroom_server.stop().await;
    registry_server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_restored_from_an_old_copy_is_raised_as_a_fork_not_silently_resumed() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let registry_addr = prepare(dir);
    let registry_server = start_registry(dir, registry_addr).await;
    let registry = format!("http://{registry_addr}");
    let client = reqwest::Client::new();
    let clerk = registry_admin(&registry).await;
    let station_dir = dir.join(KIOSK);
    let old_copy = dir.join("old-copy");

    // One deposit, then the whole data directory is imaged (log and checkpoint together) ...
    let (kiosk_server, kiosk) = start_station(dir, KIOSK, Role::Urn, registry_addr).await;
    kiosk_step(&client, &kiosk, "idle").await;
    assert_eq!(
        post(&client, &format!("{kiosk}/sim/button"), None).await,
        202
    );
    kiosk_step(&client, &kiosk, "drop").await;
    kiosk_server.stop().await;
    std::fs::create_dir_all(&old_copy).unwrap();
    for file in ["custody.db", "custody.db.checkpoint"] {
        std::fs::copy(station_dir.join(file), old_copy.join(file)).unwrap();
    }
    // ... more happens and reaches the registry ...
    let (kiosk_server, kiosk) = start_station(dir, KIOSK, Role::Urn, registry_addr).await;
    kiosk_step(&client, &kiosk, "idle").await;
    assert_eq!(
        post(&client, &format!("{kiosk}/sim/button"), None).await,
        202
    );
    kiosk_step(&client, &kiosk, "drop").await;
    let tip = station_tip(dir, KIOSK);
    eventually("the second deposit at the registry", || async {
        let status = get_json(&client, &format!("{kiosk}/api/status")).await;
        (status["sync"]["acknowledged"] == tip).then_some(())
    })
    .await;
    kiosk_server.stop().await;

    // ... and then the old image is put back.
    for file in ["custody.db", "custody.db.checkpoint"] {
        std::fs::copy(old_copy.join(file), station_dir.join(file)).unwrap();
    }
    let _ = std::fs::remove_file(station_dir.join("custody.db-wal"));
    let _ = std::fs::remove_file(station_dir.join("custody.db-shm"));
    let (kiosk_server, kiosk) = start_station(dir, KIOSK, Role::Urn, registry_addr).await;
    let status = eventually("the station to notice the registry is ahead", || async {
        let status = get_json(&client, &format!("{kiosk}/api/status")).await;
        status["sync"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("lost events") || e.contains("FORK"))
            .then_some(status)
    })
    .await;
    assert!(
        status["sync"]["acknowledged"].as_u64().unwrap() < tip,
        "{status}"
    );
    // The station's next event differs from the registry's at the same seq: a fork alarm.
    let page = eventually("the fork alarm on the clerk page", || async {
        let page = clerk
            .get(format!("{registry}/"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        page.to_lowercase().contains("fork").then_some(page)
    })
    .await;
    assert!(page.contains(KIOSK), "{page}");
    kiosk_server.stop().await;
    registry_server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_urn_door_goes_through_the_pins_debouncing_into_the_log() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let registry_addr = prepare(dir);
    let (kiosk_server, kiosk) = start_station(dir, KIOSK, Role::Urn, registry_addr).await;
    let client = reqwest::Client::new();
    for open in [true, false] {
        let body = json!({ "open": open });
        assert_eq!(
            post(&client, &format!("{kiosk}/sim/door"), Some(body)).await,
            202
        );
        let kind = if open { "door_opened" } else { "door_closed" };
        eventually(kind, || async {
            let path = dir.join(KIOSK).join(station::runtime::LOG_FILE);
            let store = LogStore::open_existing(&path).ok()?;
            let tail = store.tail(5).ok()?;
            tail.iter()
                .filter_map(|e| station::log_store::decode(e).ok())
                .any(|e| e.payload.kind_name() == kind)
                .then_some(())
        })
        .await;
    }
    kiosk_server.stop().await;
}
