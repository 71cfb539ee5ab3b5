//! The drop at the urn's slot, through the simulated slot beam and `firmware`'s envelope
//! counter: a second envelope on one label is recorded as a second drop for that intake (so the
//! mailroom's count matches the urn's contents) and the resident is asked to take a label for
//! each envelope.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use records::Payload;
use serde_json::Value;
use station::LogStore;
use station::config::Role;

async fn kiosk_step(client: &reqwest::Client, kiosk: &str, step: &str) -> Value {
    eventually(&format!("kiosk step {step}"), || async {
        let state = get_json(client, &format!("{kiosk}/kiosk/state")).await;
        (state["step"] == step).then_some(state)
    })
    .await
}

fn drops_seen(dir: &std::path::Path, intake: &str) -> usize {
    let store = LogStore::open_existing(&dir.join(KIOSK).join(station::runtime::LOG_FILE)).unwrap();
    store
        .events_after(0, 10_000)
        .unwrap()
        .into_iter()
        .filter(|e| {
            matches!(
                records::encoding::decode(&e.signed.canonical).unwrap().payload,
                Payload::DropSeen { intake: i } if i.to_string() == intake
            )
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_envelopes_on_one_label_are_recorded_and_the_resident_is_told() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let registry_addr = prepare(dir);
    let registry = start_registry(dir, registry_addr).await;
    let (station, kiosk) = start_station(dir, KIOSK, Role::Urn, registry_addr).await;
    let client = reqwest::Client::new();

    kiosk_step(&client, &kiosk, "idle").await;
    assert_eq!(
        post(&client, &format!("{kiosk}/sim/button"), None).await,
        202
    );
    let state = kiosk_step(&client, &kiosk, "drop").await;
    let intake = state["intake"].as_str().unwrap().to_owned();

    assert_eq!(post(&client, &format!("{kiosk}/sim/slot"), None).await, 202);
    let state = kiosk_step(&client, &kiosk, "done").await;
    assert!(
        state["message_pl"]
            .as_str()
            .unwrap()
            .starts_with("Dziękujemy"),
        "{state}"
    );
    eventually("the first drop in the log", || async {
        (drops_seen(dir, &intake) == 1).then_some(())
    })
    .await;

    // A second envelope through the slot on the same label.
    assert_eq!(post(&client, &format!("{kiosk}/sim/slot"), None).await, 202);
    let state = eventually("the two-envelope message", || async {
        let state = get_json(&client, &format!("{kiosk}/kiosk/state")).await;
        state["message_pl"]
            .as_str()
            .unwrap()
            .contains("więcej niż jedna koperta")
            .then_some(state)
    })
    .await;
    assert_eq!(state["step"], "done");
    assert_eq!(state["intake"], intake.as_str());
    assert!(
        state["message_en"]
            .as_str()
            .unwrap()
            .contains("take a label for each"),
        "{state}"
    );
    assert_eq!(drops_seen(dir, &intake), 2);

    station.stop().await;
    registry.stop().await;
}
