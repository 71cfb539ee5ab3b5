//! `/metrics` of a real kiosk on simulated hardware (its printer and scanner behind
//! pseudo-terminals): a deposit moves the deposit, print and scan counters and the sync backlog,
//! which drains once the registry answers; the labels name no letter.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use station::config::Role;
use station::devices::serial_scanner::SerialScannerConfig;

/// The station's metrics, read from loopback as the office's Prometheus on the Pi would.
async fn scrape(client: &reqwest::Client, station: &str) -> String {
    let resp = client
        .get(format!("{station}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let kind = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    let text = resp.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    text
}

/// The value of the sample `series` (name with its labels, as written), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

/// Scrapes until `done` holds; the sync's retries back off to seconds, so this waits longer
/// than [`eventually`].
async fn scrape_until(
    client: &reqwest::Client,
    station: &str,
    what: &str,
    done: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = scrape(client, station).await;
        if done(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn kiosk_step(client: &reqwest::Client, kiosk: &str, step: &str) {
    eventually(&format!("kiosk step {step}"), || async {
        let state = get_json(client, &format!("{kiosk}/kiosk/state")).await;
        (state["step"] == step).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_moves_the_counters_and_the_backlog_drains_when_the_registry_answers() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    // The registry is not up yet: the kiosk takes deposits and keeps them.
    let registry_addr = prepare(dir);

    let (mut scanner, link, _station_side) = pty_scanner(dir);

    let (kiosk_server, kiosk) = start_station_with(dir, KIOSK, Role::Urn, registry_addr, |c| {
        c.scanner = Some(SerialScannerConfig::new(link.clone()));
    })
    .await;
    let client = reqwest::Client::new();
    kiosk_step(&client, &kiosk, "idle").await;

    let before = scrape(&client, &kiosk).await;
    let deposits = r#"urna_station_deposits_total{channel="urn"}"#;
    assert_eq!(value(&before, deposits), None, "{before}");
    assert_eq!(value(&before, "urna_station_urn_envelopes"), Some(0.0));
    assert_eq!(value(&before, "urna_station_registry_connected"), Some(0.0));
    assert_eq!(
        value(&before, r#"urna_station_printer_state{state="ready"}"#),
        Some(1.0),
        "{before}"
    );
    let backlog_before = value(&before, "urna_station_sync_backlog_events").unwrap();

    // A resident's form, then a damaged receipt (answered, nothing recorded).
    scanner.write_all(b"GKM.6220.12.2020\r\n").unwrap();
    kiosk_step(&client, &kiosk, "choose").await;
    assert_eq!(
        post(&client, &format!("{kiosk}/kiosk/category/podatki"), None).await,
        202
    );
    kiosk_step(&client, &kiosk, "drop").await;
    assert_eq!(post(&client, &format!("{kiosk}/sim/slot"), None).await, 202);
    kiosk_step(&client, &kiosk, "done").await;
    scanner.write_all(b"URNA1:not-a-receipt\r\n").unwrap();

    let after = scrape_until(&client, &kiosk, "the damaged receipt counted", |t| {
        value(t, r#"urna_station_scans_total{result="damaged_receipt"}"#) == Some(1.0)
    })
    .await;
    assert_eq!(value(&after, deposits), Some(1.0), "{after}");
    assert_eq!(
        value(&after, r#"urna_station_scans_total{result="read"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(
            &after,
            r#"urna_station_labels_printed_total{item="receipt"}"#
        ),
        Some(1.0),
        "{after}"
    );
    assert_eq!(value(&after, "urna_station_urn_envelopes"), Some(1.0));
    // The deposit, its label and receipt, its drop: all waiting for the registry.
    let backlog = value(&after, "urna_station_sync_backlog_events").unwrap();
    assert!(backlog >= backlog_before + 4.0, "{backlog}: {after}");
    assert_eq!(
        value(&after, "urna_station_log_last_seq"),
        Some(backlog),
        "nothing acknowledged yet: {after}"
    );
    assert!(!after.contains("last_acknowledgement_age"), "{after}");
    let intake = get_json(&client, &format!("{kiosk}/kiosk/state")).await;
    for private in ["GKM.6220", "podatki"]
        .into_iter()
        .chain(intake["intake"].as_str())
    {
        assert!(!after.contains(private), "{private} in {after}");
    }
    // The control page's simulated scan is counted as the serial scanner's are.
    let sim_scan = json!({ "code": "URNA1:also-not-a-receipt" });
    assert_eq!(
        post(&client, &format!("{kiosk}/sim/scan"), Some(sim_scan)).await,
        202
    );
    scrape_until(&client, &kiosk, "the simulated scan counted", |t| {
        value(t, r#"urna_station_scans_total{result="damaged_receipt"}"#) == Some(2.0)
    })
    .await;

    // The registry comes up: the station pushes, and the backlog drains.
    let registry = start_registry(dir, registry_addr).await;
    let synced = scrape_until(&client, &kiosk, "the backlog drained", |t| {
        value(t, "urna_station_sync_backlog_events") == Some(0.0)
    })
    .await;
    assert_eq!(
        value(&synced, "urna_station_log_acknowledged_seq"),
        value(&synced, "urna_station_log_last_seq")
    );
    assert!(
        value(&synced, "urna_station_last_acknowledgement_age_seconds").is_some(),
        "{synced}"
    );
    assert_eq!(value(&synced, "urna_station_registry_connected"), Some(1.0));

    // The service door, through the simulated reed switch.
    assert_eq!(
        post(
            &client,
            &format!("{kiosk}/sim/door"),
            Some(json!({"open": true}))
        )
        .await,
        202
    );
    scrape_until(&client, &kiosk, "the door open", |t| {
        value(t, "urna_station_door_open") == Some(1.0)
    })
    .await;

    kiosk_server.stop().await;
    registry.stop().await;
}
