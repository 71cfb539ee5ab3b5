//! Staff sign-in at the mailroom counter, in headless Chromium against the real station: the
//! badge typed into the always-focused scan field as a keyboard-wedge scanner types it, the PIN
//! on the page, wrong PINs and the lockout, a supervisor's sign-in, signing out, and the session
//! timing out. Screenshots go to `target/screenshots/mailroom/sign-in/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::path::PathBuf;

use browser::{Browser, Driver, keys};
use common::*;
use records::Payload;
use station::LogStore;
use station::config::Role;

async fn says(screen: &Browser, text: &str) {
    eventually(&format!("the mailroom saying {text:?}"), || async {
        screen.source().await.contains(text).then_some(())
    })
    .await;
}

async fn staff_step(screen: &Browser, step: &str) {
    eventually(&format!("the page's sign-in step {step}"), || async {
        let shown = screen
            .execute("return document.body.dataset.staff", &[])
            .await;
        (shown == step).then_some(())
    })
    .await;
}

/// Types a code into the focused field as a keyboard-wedge scanner does, Enter at the end.
async fn wedge(screen: &Browser, code: &str) {
    screen.press_keys(&format!("{code}{}", keys::ENTER)).await;
}

fn staff_events(dir: &std::path::Path) -> Vec<String> {
    let store =
        LogStore::open_existing(&dir.join(MAILROOM).join(station::runtime::LOG_FILE)).unwrap();
    store
        .events_after(0, 10_000)
        .unwrap()
        .iter()
        .filter_map(|e| {
            match records::encoding::decode(&e.signed.canonical)
                .unwrap()
                .payload
            {
                Payload::StaffSignedIn { staff, role } => Some(format!("in {staff} {role}")),
                Payload::StaffSignedOut { staff } => Some(format!("out {staff}")),
                _ => None,
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_sign_in_with_badge_and_pin_locks_out_wrong_pins_and_times_out() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let registry_addr = prepare(dir);
    let registry = start_registry(dir, registry_addr).await;
    let (station, mailroom) =
        start_station_with(dir, MAILROOM, Role::Mailroom, registry_addr, |c| {
            c.staff.pin_attempts = 3;
            c.staff.session_timeout_secs = 6;
        })
        .await;
    let shots =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots/mailroom/sign-in");
    let _ = std::fs::remove_dir_all(&shots);
    let driver = Driver::start().await;
    let screen = driver.session_with_size(1024, 600).await;
    screen.open(&format!("{mailroom}/mailroom")).await;
    staff_step(&screen, "signed_out").await;
    says(&screen, "Zaloguj się: zeskanuj swoją kartę").await;
    screen
        .screenshot(&shots.join("01-sign-in-scan-your-badge.png"))
        .await;

    // An envelope before anyone signed in: refused.
    wedge(&screen, "GWU2-2223-X").await;
    says(&screen, "Najpierw zaloguj się").await;

    // Badge, then wrong PINs: the tries count down, then the badge locks.
    wedge(&screen, "URNA-STAFF:1001").await;
    staff_step(&screen, "awaiting_pin").await;
    assert_eq!(
        screen
            .execute("return document.activeElement.id", &[])
            .await,
        "pin",
        "the PIN field takes the keys once a badge is read"
    );
    screen.screenshot(&shots.join("02-type-your-pin.png")).await;
    wedge(&screen, "0000").await;
    says(&screen, "Pozostało prób: 2").await;
    screen.screenshot(&shots.join("03-wrong-pin.png")).await;
    screen.click("#pin").await;
    wedge(&screen, "1111").await;
    says(&screen, "Pozostało prób: 1").await;
    screen.click("#pin").await;
    wedge(&screen, "2222").await;
    says(&screen, "Karta zablokowana do").await;
    staff_step(&screen, "signed_out").await;
    screen.screenshot(&shots.join("04-locked-out.png")).await;
    // Locked: even the right PIN does not sign in now.
    screen.click("#code").await;
    wedge(&screen, "URNA-STAFF:1001").await;
    staff_step(&screen, "awaiting_pin").await;
    wedge(&screen, "1234").await;
    says(&screen, "Karta zablokowana do").await;
    staff_step(&screen, "signed_out").await;

    // A supervisor signs in.
    screen.click("#code").await;
    wedge(&screen, "URNA-STAFF:1002").await;
    staff_step(&screen, "awaiting_pin").await;
    wedge(&screen, "5678").await;
    staff_step(&screen, "signed_in").await;
    says(&screen, "Piotr Nowak").await;
    says(&screen, "kierownik").await;
    screen
        .screenshot(&shots.join("05-signed-in-supervisor.png"))
        .await;
    // Signing out with the button.
    screen.click("#signed-in button").await;
    staff_step(&screen, "signed_out").await;
    says(&screen, "Wylogowano").await;

    // Signed in and then idle past the session timeout: signed out by the station.
    screen.click("#code").await;
    wedge(&screen, "URNA-STAFF:1002").await;
    staff_step(&screen, "awaiting_pin").await;
    wedge(&screen, "5678").await;
    staff_step(&screen, "signed_in").await;
    let signed_in = std::time::Instant::now();
    eventually("the session timing out", || async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        screen
            .source()
            .await
            .contains("Sesja wygasła")
            .then_some(())
    })
    .await;
    assert!(signed_in.elapsed() >= std::time::Duration::from_secs(5));
    staff_step(&screen, "signed_out").await;
    screen
        .screenshot(&shots.join("06-session-expired.png"))
        .await;

    assert_eq!(
        staff_events(dir),
        [
            "in 1002 supervisor",
            "out 1002",
            "in 1002 supervisor",
            "out 1002"
        ]
    );
    screen.close().await;
    station.stop().await;
    registry.stop().await;
}
