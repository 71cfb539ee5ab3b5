//! The pages in a real headless Chromium, driven over WebDriver (chromedriver) as a person would:
//! a resident clicks through the kiosk screen, and the clerks' list, opened beforehand, shows the
//! new deposit without a reload (server-sent events).
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/test` installs them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/browser.rs"]
mod browser;
mod common;

use browser::Driver;
use common::*;
use station::config::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_clicks_through_the_kiosk_and_the_clerk_sees_it_live() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let registry_addr = prepare(dir);
    let registry_server = start_registry(dir, registry_addr).await;
    let registry = format!("http://{registry_addr}");
    let (kiosk_server, kiosk) = start_station(dir, KIOSK, Role::Urn, registry_addr).await;
    let driver = Driver::start().await;

    // The clerk signs in (the list sends them to the sign-in page, and back after), and the
    // list is open before anything happens.
    let clerk = driver.session().await;
    clerk.open(&format!("{registry}/")).await;
    clerk.shows("Nazwa użytkownika / Username").await;
    let (username, password) = REGISTRY_ADMIN;
    clerk.send_keys("input[name=username]", username).await;
    clerk.send_keys("input[name=password]", password).await;
    clerk.click("form.login button[type=submit]").await;
    clerk.shows("Zalogowano / Signed in").await;
    let before = clerk.source().await;
    assert!(!before.contains("GWU2-"), "no intake yet: {before}");

    let resident = driver.session().await;
    resident.open(&format!("{kiosk}/kiosk")).await;
    resident.shows(r#"data-step="idle""#).await;
    resident.click("#no-code").await;
    resident.shows(r#"data-step="choose""#).await;
    resident
        .click(r#"button[data-category="budownictwo"]"#)
        .await;
    let page = resident.shows(r#"data-step="drop""#).await;
    let intake = page
        .split(r#"data-intake=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the kiosk shows the intake id")
        .to_owned();
    assert!(intake.starts_with("GWU2-"), "{intake}");
    assert!(page.contains("wrzuć ją do otworu"), "{page}");

    // Without a reload, the clerk's list now shows it, with its department, and a notice of
    // new mail stands out above it.
    let list = clerk.shows(&intake).await;
    assert!(
        list.contains("Wydział Architektury i Budownictwa"),
        "{list}"
    );
    let notice = clerk.text_of("#new-mail").await;
    assert!(notice.contains("Nowa przesyłka / New mail"), "{notice}");

    resident.close().await;
    clerk.close().await;
    kiosk_server.stop().await;
    registry_server.stop().await;
}
