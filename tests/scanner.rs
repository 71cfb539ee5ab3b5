//! A real serial scanner (a pseudo-terminal behind a `/dev/serial/by-id`-style link) feeding a
//! kiosk: the resident's form code, sent with CR LF, starts a deposit with that reference; an
//! urna receipt scanned at the kiosk is answered, not taken for a form.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;

use common::*;
use station::config::Role;
use station::devices::serial_scanner::SerialScannerConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_code_from_a_serial_scanner_starts_a_deposit() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let registry_addr = prepare(dir);
    let registry_server = start_registry(dir, registry_addr).await;

    let (mut scanner, link, _station_side) = pty_scanner(dir);

    let (kiosk_server, kiosk) = start_station_with(dir, KIOSK, Role::Urn, registry_addr, |c| {
        c.scanner = Some(SerialScannerConfig::new(link.clone()));
    })
    .await;
    let client = reqwest::Client::new();
    eventually("kiosk idle", || async {
        let state = get_json(&client, &format!("{kiosk}/kiosk/state")).await;
        (state["step"] == "idle").then_some(())
    })
    .await;

    // An urna label scanned at the kiosk is answered, and is not taken for a form's reference.
    let label = records::IntakeId::new(KIOSK.parse().unwrap(), 7).unwrap();
    scanner
        .write_all(format!("{label}\r\n").as_bytes())
        .unwrap();
    let state = eventually("the answer to a scanned label", || async {
        let state = get_json(&client, &format!("{kiosk}/kiosk/state")).await;
        state["message_en"]
            .as_str()
            .is_some_and(|m| m.contains("urna code"))
            .then_some(state)
    })
    .await;
    assert_eq!(state["step"], "idle");
    assert!(
        state["message_pl"].as_str().unwrap().contains("kod urny"),
        "{state}"
    );

    // The scanner types the form's reference, split across two writes, ended by CR LF.
    scanner.write_all(b"GKM.6220").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    scanner.write_all(b".12.2020\r\n").unwrap();
    let state = eventually("the category screen with the reference", || async {
        let state = get_json(&client, &format!("{kiosk}/kiosk/state")).await;
        (state["step"] == "choose").then_some(state)
    })
    .await;
    assert_eq!(state["reference"], "GKM.6220.12.2020");

    kiosk_server.stop().await;
    registry_server.stop().await;
}
