//! The fleet view's backlog, end to end: a real kiosk (simulated hardware) takes deposits while
//! the registry is down; the registry comes up, but the network between them still loses every
//! push, so only the station's report gets through and the admin sees the backlog (JSON, page,
//! `/metrics`); then the pushes get through and the backlog drains to 0, and stays 0 as the
//! station goes on.
//!
//! Between the station and the registry sits the fault-injecting proxy of the sync tests
//! ([`fault_proxy`]), the network's stand-in: as the test says, it drops every request (the
//! registry unreachable), drops the pushes alone, or passes everything.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/fault_proxy.rs"]
mod fault_proxy;

use std::time::{Duration, Instant};

use common::*;
use fault_proxy::{Fault, FaultProxy, Mode};
use serde_json::Value;
use station::LogStore;
use station::config::Role;

fn station_tip(dir: &std::path::Path) -> u64 {
    let path = dir.join(KIOSK).join(station::runtime::LOG_FILE);
    LogStore::open_existing(&path)
        .ok()
        .and_then(|s| s.stored_tip().ok())
        .map_or(0, |t| t.seq)
}

/// Polls `probe` until it returns `Some`, for at most 60 s: the station's retries back off to
/// 30 s while the registry is unreachable.
async fn patiently<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn kiosk_step(client: &reqwest::Client, kiosk: &str, step: &str) {
    eventually(&format!("kiosk step {step}"), || async {
        let state = get_json(client, &format!("{kiosk}/kiosk/state")).await;
        (state["step"] == step).then_some(())
    })
    .await;
}

/// A resident's deposit: the button, then the envelope through the slot.
async fn deposit(client: &reqwest::Client, kiosk: &str) {
    assert_eq!(
        post(client, &format!("{kiosk}/sim/button"), None).await,
        202
    );
    kiosk_step(client, kiosk, "drop").await;
    assert_eq!(post(client, &format!("{kiosk}/sim/slot"), None).await, 202);
    kiosk_step(client, kiosk, "done").await;
}

/// The kiosk's entry in the registry's fleet view.
async fn kiosk_health(admin: &reqwest::Client, registry: &str) -> Value {
    let fleet = get_json(admin, &format!("{registry}/api/fleet")).await;
    fleet["stations"]
        .as_array()
        .unwrap_or_else(|| panic!("{fleet}"))
        .iter()
        .find(|s| s["code"] == KIOSK)
        .unwrap_or_else(|| panic!("{KIOSK} not in {fleet}"))
        .clone()
}

/// The kiosk's backlog gauge in the registry's `/metrics`.
async fn backlog_gauge(client: &reqwest::Client, registry: &str) -> Option<f64> {
    let text = client
        .get(format!("{registry}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("urna_registry_station_backlog_events{{station=\"{KIOSK}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .map(|v| v.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backlog_a_station_reports_shows_at_the_registry_and_drains_to_zero() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let registry_addr = prepare(dir);
    let registry_url = format!("http://{registry_addr}");
    let link = FaultProxy::start(registry_addr).await;
    link.set_mode(Mode::Always(Fault::DropRequest));

    // The registry is down and unreachable: the kiosk takes deposits and keeps them.
    let (kiosk_server, kiosk) = start_station(dir, KIOSK, Role::Urn, link.addr()).await;
    let client = reqwest::Client::new();
    kiosk_step(&client, &kiosk, "idle").await;
    deposit(&client, &kiosk).await;
    deposit(&client, &kiosk).await;
    let logged = eventually("both deposits in the log", || async {
        let tip = station_tip(dir);
        (tip >= 4).then_some(tip)
    })
    .await;

    // The registry comes up; the network still loses every push, but the report gets through.
    let registry = start_registry(dir, registry_addr).await;
    let admin = registry_admin(&registry_url).await;
    link.set_mode(Mode::OnPath {
        suffix: "/events",
        fault: Fault::DropRequest,
    });
    let before = kiosk_health(&admin, &registry_url).await;
    assert!(before["backlog"].is_null(), "no report yet: {before}");
    let seen = patiently("the kiosk's report at the registry", || async {
        let s = kiosk_health(&admin, &registry_url).await;
        s["reported_log_tip"].as_u64().is_some().then_some(s)
    })
    .await;
    let reported = seen["reported_log_tip"].as_u64().unwrap();
    assert!(reported >= logged, "{seen}");
    assert_eq!(seen["acknowledged"], 0, "no push got through: {seen}");
    assert_eq!(seen["backlog"].as_u64(), Some(reported), "{seen}");
    assert_eq!(
        backlog_gauge(&client, &registry_url).await,
        Some(reported as f64)
    );
    let page = admin
        .get(format!("{registry_url}/admin/stations"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let row = page
        .split(&format!("<tr data-station=\"{KIOSK}\""))
        .nth(1)
        .unwrap_or_else(|| panic!("{page}"));
    assert!(
        row.contains(&format!("<span class=\"backlog\">{reported}</span>")),
        "{row}"
    );
    // The pushes lost are the sync's failures, and the station says so.
    let status = eventually("the lost pushes on the station's status", || async {
        let status = get_json(&client, &format!("{kiosk}/api/status")).await;
        status["sync"]["last_error"].is_string().then_some(status)
    })
    .await;
    assert_eq!(status["sync"]["acknowledged"], 0, "{status}");

    // The network heals: the pushes get through and the backlog drains.
    link.heal(false);
    let drained = patiently("the backlog drained", || async {
        let s = kiosk_health(&admin, &registry_url).await;
        (s["backlog"] == 0).then_some(s)
    })
    .await;
    assert!(
        drained["acknowledged"].as_u64().unwrap() >= reported,
        "{drained}"
    );
    assert_eq!(backlog_gauge(&client, &registry_url).await, Some(0.0));

    // Another deposit with everything up: pushed, reported once drained, still 0 behind.
    deposit(&client, &kiosk).await;
    let settled = patiently("the new tip reported, nothing behind", || async {
        let tip = station_tip(dir);
        let s = kiosk_health(&admin, &registry_url).await;
        (s["reported_log_tip"].as_u64() == Some(tip)
            && s["acknowledged"].as_u64() == Some(tip)
            && s["backlog"] == 0)
            .then_some(s)
    })
    .await;
    assert!(
        settled["reported_log_tip"].as_u64().unwrap() > reported,
        "{settled}"
    );
    assert!(
        settled["reported_ms"].as_i64().unwrap() > seen["reported_ms"].as_i64().unwrap(),
        "{settled}"
    );
    let status = get_json(&client, &format!("{kiosk}/api/status")).await;
    assert!(status["sync"]["last_error"].is_null(), "{status}");
    assert_eq!(status["sync"]["connected"], true, "{status}");

    kiosk_server.stop().await;
    registry.stop().await;
    drop(link);
}
