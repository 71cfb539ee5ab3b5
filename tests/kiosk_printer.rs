//! The kiosk and its printer, end to end: the station prints through the real link, transport
//! and ESC/POS encoder to a simulated printer that decodes the bytes. A printer that cannot
//! print stops deposits before anyone starts; one that fails in the middle of a receipt leaves
//! the deposit recorded, tells the resident in plain words, and records the fault; recovery
//! needs no restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::*;
use records::{Device, Payload};
use serde_json::{Value, json};
use station::LogStore;
use station::config::Role;

async fn kiosk_step(client: &reqwest::Client, kiosk: &str, step: &str) -> Value {
    eventually(&format!("kiosk step {step}"), || async {
        let state = get_json(client, &format!("{kiosk}/kiosk/state")).await;
        (state["step"] == step).then_some(state)
    })
    .await
}

/// The printer faults raised and cleared in the kiosk's log, in order.
fn printer_faults(dir: &Path) -> Vec<String> {
    let store = LogStore::open_existing(&dir.join(KIOSK).join(station::runtime::LOG_FILE)).unwrap();
    store
        .events_after(0, 10_000)
        .unwrap()
        .into_iter()
        .filter_map(|e| {
            match records::encoding::decode(&e.signed.canonical)
                .unwrap()
                .payload
            {
                Payload::FaultRaised {
                    device: Device::Printer,
                    fault,
                } => Some(format!("raised {}", fault.as_str())),
                Payload::FaultCleared {
                    device: Device::Printer,
                    fault,
                } => Some(format!("cleared {}", fault.as_str())),
                _ => None,
            }
        })
        .collect()
}

/// What was printed for the intake, sorted by name.
async fn printed_for(client: &reqwest::Client, kiosk: &str, intake: &str) -> Vec<String> {
    let labels = get_json(client, &format!("{kiosk}/sim/labels")).await;
    let mut printed: Vec<String> = labels
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["intake"] == intake)
        .map(|l| l["label"].as_str().unwrap_or("?").to_owned())
        .collect();
    printed.sort();
    printed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printer_faults_stop_deposits_before_they_start_and_a_failed_receipt_is_said_plainly() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let registry_addr = prepare(dir);
    let registry = start_registry(dir, registry_addr).await;
    let (station, kiosk) = start_station(dir, KIOSK, Role::Urn, registry_addr).await;
    let client = reqwest::Client::new();
    let printer = |body: Value| {
        let client = client.clone();
        let url = format!("{kiosk}/sim/printer");
        async move { post(&client, &url, Some(body)).await }
    };

    // Out of paper before anyone starts: the kiosk says so, and the button takes nothing.
    kiosk_step(&client, &kiosk, "idle").await;
    assert_eq!(printer(json!({ "fault": "paper_out" })).await, 202);
    let state = kiosk_step(&client, &kiosk, "out_of_order").await;
    assert!(
        state["message_pl"]
            .as_str()
            .unwrap()
            .contains("nie możemy wydrukować"),
        "{state}"
    );
    assert_eq!(
        post(&client, &format!("{kiosk}/sim/button"), None).await,
        202
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let state = kiosk_step(&client, &kiosk, "out_of_order").await;
    assert!(state["intake"].is_null(), "no deposit taken: {state}");
    assert_eq!(printer_faults(dir), ["raised paper_out"]);

    // Paper loaded: the kiosk is back by itself, without a restart.
    assert_eq!(printer(json!({ "fault": "none" })).await, 202);
    kiosk_step(&client, &kiosk, "idle").await;
    assert_eq!(
        printer_faults(dir),
        ["raised paper_out", "cleared paper_out"]
    );

    // A good deposit prints both its label and its receipt.
    assert_eq!(
        post(&client, &format!("{kiosk}/sim/button"), None).await,
        202
    );
    let state = kiosk_step(&client, &kiosk, "drop").await;
    let first = state["intake"].as_str().unwrap().to_owned();
    assert_eq!(
        printed_for(&client, &kiosk, &first).await,
        ["envelope", "receipt"]
    );
    assert_eq!(post(&client, &format!("{kiosk}/sim/slot"), None).await, 202);
    kiosk_step(&client, &kiosk, "done").await;

    // The paper runs out a few hundred bytes into the next job (the envelope label): the
    // deposit was committed first, so it stands; the resident is told its number in plain
    // words; nothing half-printed is listed; the fault is recorded.
    assert_eq!(
        printer(json!({ "fault": "paper_out", "after_bytes": 300 })).await,
        202
    );
    assert_eq!(
        post(&client, &format!("{kiosk}/sim/button"), None).await,
        202
    );
    let state = kiosk_step(&client, &kiosk, "drop").await;
    let second = state["intake"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    let message = state["message_pl"].as_str().unwrap();
    assert!(
        message.contains(&second) && message.contains("drukarka zawiodła"),
        "{message}"
    );
    assert!(
        state["message_en"]
            .as_str()
            .unwrap()
            .contains("the printer failed"),
        "{state}"
    );
    assert!(printed_for(&client, &kiosk, &second).await.is_empty());
    eventually("the mid-job fault in the log", || async {
        (printer_faults(dir).len() == 3).then_some(())
    })
    .await;
    assert_eq!(printer_faults(dir)[2], "raised paper_out");

    // After the drop the kiosk refuses new deposits until the paper is back.
    assert_eq!(post(&client, &format!("{kiosk}/sim/slot"), None).await, 202);
    let state = kiosk_step(&client, &kiosk, "done").await;
    assert_eq!(state["printer"], "paper_out", "{state}");
    assert_eq!(
        post(&client, &format!("{kiosk}/sim/button"), None).await,
        202
    );
    let state = kiosk_step(&client, &kiosk, "out_of_order").await;
    assert!(state["intake"].is_null(), "no deposit taken: {state}");
    assert_eq!(printer(json!({ "fault": "none" })).await, 202);
    // Back at the next status poll (every second), not when the last deposit's "done" screen
    // would have timed out (15 s): the refused resident must not be left at "out of order".
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let state = get_json(&client, &format!("{kiosk}/kiosk/state")).await;
    assert_eq!(state["step"], "idle", "{state}");

    // Unknown faults are refused by the control API.
    assert_eq!(printer(json!({ "fault": "on_fire" })).await, 400);

    station.stop().await;
    registry.stop().await;
}
