//! A V4L2 camera that is not there (unplugged, or, in a build without the `camera` feature, not
//! built in): the station starts all the same and the fault is recorded. At a kiosk where the
//! camera is the only code reader, the kiosk tells the resident the code reader is not working
//! and the button still starts a deposit; at the mailroom it is a camera fault of its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::*;
use records::{Device, Payload};
use station::LogStore;
use station::config::Role;
use station::vision::config::VisionConfig;
use station::vision::v4l2::V4l2Config;

/// The scanner faults raised and cleared in a station's log, in order; none while the log is
/// still being created.
fn scanner_faults(dir: &Path, code: &str) -> Vec<String> {
    let Ok(store) = LogStore::open_existing(&dir.join(code).join(station::runtime::LOG_FILE))
    else {
        return Vec::new();
    };
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
                    device: Device::Scanner,
                    fault,
                } => Some(format!("raised {}", fault.as_str())),
                Payload::FaultCleared {
                    device: Device::Scanner,
                    fault,
                } => Some(format!("cleared {}", fault.as_str())),
                _ => None,
            }
        })
        .collect()
}

fn missing_camera(dir: &Path) -> Option<VisionConfig> {
    Some(VisionConfig {
        v4l2: Some(V4l2Config::new(
            dir.join("usb-Logitech_Webcam_C270-video-index0"),
        )),
        ..VisionConfig::default()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_camera_is_the_missing_code_reader_and_the_button_still_works() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let registry_addr = prepare(dir);
    let registry_server = start_registry(dir, registry_addr).await;
    let (kiosk_server, kiosk) = start_station_with(dir, KIOSK, Role::Urn, registry_addr, |c| {
        c.vision = missing_camera(dir);
    })
    .await;
    let client = reqwest::Client::new();
    let state = eventually("the code reader reported missing", || async {
        let state = get_json(&client, &format!("{kiosk}/kiosk/state")).await;
        (state["scanner_connected"] == false).then_some(state)
    })
    .await;
    assert_eq!(state["step"], "idle", "{state}");

    let pressed = post(&client, &format!("{kiosk}/sim/button"), None).await;
    assert!((200..300).contains(&pressed), "{pressed}");
    eventually("the button still starts a deposit", || async {
        let state = get_json(&client, &format!("{kiosk}/kiosk/state")).await;
        (state["step"] != "idle").then_some(())
    })
    .await;

    kiosk_server.stop().await;
    registry_server.stop().await;
    // One fault for the whole outage, however many times the camera was tried.
    assert_eq!(scanner_faults(dir, KIOSK), vec!["raised unplugged"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_camera_at_the_mailroom_is_a_camera_fault() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let registry_addr = prepare(dir);
    let registry_server = start_registry(dir, registry_addr).await;
    let (mailroom_server, _mailroom) =
        start_station_with(dir, MAILROOM, Role::Mailroom, registry_addr, |c| {
            c.vision = missing_camera(dir);
        })
        .await;
    eventually("the camera fault recorded", || async {
        (!scanner_faults(dir, MAILROOM).is_empty()).then_some(())
    })
    .await;
    // Past a retry or two: still one fault.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    mailroom_server.stop().await;
    registry_server.stop().await;
    assert_eq!(
        scanner_faults(dir, MAILROOM),
        vec!["raised camera unplugged"]
    );
}
