//! A new station at a registry that has never heard of it: it keeps logging, its requests are
//! refused until an admin approves the fingerprint it shows, and then its backlog arrives.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{KIOSK, eventually, get_json, post, prepare, start_station};
use registry::{KeyState, Registry, RegistryConfig};
use serde_json::json;
use station::LogStore;
use station::config::Role;
use station::shutdown::shutdown_pair;

fn station_tip(dir: &std::path::Path) -> u64 {
    let path = dir.join(KIOSK).join(station::runtime::LOG_FILE);
    LogStore::open_existing(&path)
        .ok()
        .and_then(|s| s.stored_tip().ok())
        .map_or(0, |t| t.seq)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_station_is_refused_until_approved_then_its_backlog_arrives() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let addr = prepare(dir);
    // A registry that enrols nobody.
    let registry = Registry::open(&dir.join("register.db"), RegistryConfig::demo()).unwrap();
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let (trigger, shutdown) = shutdown_pair();
    let served = tokio::spawn(registry::serve(listener, registry.clone(), shutdown.wait()));

    let (kiosk_server, kiosk) = start_station(dir, KIOSK, Role::Urn, addr).await;
    let client = reqwest::Client::new();
    let status = get_json(&client, &format!("{kiosk}/api/status")).await;
    let fingerprint = status["key_fingerprint"].as_str().unwrap().to_owned();
    assert_eq!(fingerprint.len(), 39, "{status}");

    // The station logs while refused: the door opens and closes.
    for (open, events) in [(true, 1), (false, 2)] {
        let body = json!({ "open": open });
        assert_eq!(
            post(&client, &format!("{kiosk}/sim/door"), Some(body)).await,
            202
        );
        eventually("the door event in the log", || async {
            (station_tip(dir) >= events).then_some(())
        })
        .await;
    }
    let refused = eventually("the refusal on the station's status", || async {
        let status = get_json(&client, &format!("{kiosk}/api/status")).await;
        let error = status["sync"]["last_error"].as_str()?.to_owned();
        error.contains(&fingerprint).then_some(status)
    })
    .await;
    assert_eq!(refused["sync"]["connected"], false, "{refused}");
    assert_eq!(refused["sync"]["acknowledged"], 0, "{refused}");
    let pending = registry.pending_keys().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].station.as_str(), KIOSK);
    assert_eq!(pending[0].fingerprint(), fingerprint);
    assert!(registry.stations().await.unwrap().is_empty());

    // Approved as an admin types it: the backlog arrives.
    let approved = registry
        .approve(&fingerprint.to_uppercase(), Some("Urna — wejście"))
        .await
        .unwrap();
    assert_eq!(approved.state, KeyState::Approved);
    let tip = station_tip(dir);
    let status = eventually("the backlog at the registry", || async {
        let status = get_json(&client, &format!("{kiosk}/api/status")).await;
        (status["sync"]["acknowledged"].as_u64()? >= tip).then_some(status)
    })
    .await;
    assert!(status["sync"]["last_error"].is_null(), "{status}");
    assert!(registry.acknowledged(KIOSK.parse().unwrap()).await.unwrap() >= tip);

    // Revoked: refused again, while it keeps logging.
    registry.revoke(KIOSK.parse().unwrap()).await.unwrap();
    assert_eq!(
        post(
            &client,
            &format!("{kiosk}/sim/door"),
            Some(json!({ "open": true }))
        )
        .await,
        202
    );
    eventually("the revocation on the station's status", || async {
        let status = get_json(&client, &format!("{kiosk}/api/status")).await;
        let error = status["sync"]["last_error"].as_str()?.to_owned();
        error.contains("revoked").then_some(())
    })
    .await;

    kiosk_server.stop().await;
    trigger.trigger();
    served.await.unwrap().unwrap();
}
