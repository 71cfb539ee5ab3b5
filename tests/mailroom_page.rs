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

/// The text of the element with `id` now (the page re-renders often, so no element handle is
/// kept between calls).
async fn text_by_id(screen: &Browser, id: &str) -> String {
    let v = screen
        .execute(
            "const e = document.getElementById(arguments[0]); return e ? e.textContent : ''",
            &[serde_json::json!(id)],
        )
        .await;
    v.as_str().unwrap_or_default().to_owned()
}

/// Types a code into the focused field as a keyboard-wedge scanner does, Enter at the end.
async fn wedge(screen: &Browser, code: &str) {
    screen.press_keys(&format!("{code}{}", keys::ENTER)).await;
}

/// Every event in the mailroom's custody log, oldest first.
fn mailroom_events(dir: &std::path::Path) -> Vec<Payload> {
    let store =
        LogStore::open_existing(&dir.join(MAILROOM).join(station::runtime::LOG_FILE)).unwrap();
    store
        .events_after(0, 10_000)
        .unwrap()
        .iter()
        .map(|e| {
            records::encoding::decode(&e.signed.canonical)
                .unwrap()
                .payload
        })
        .collect()
}

fn staff_events(dir: &std::path::Path) -> Vec<String> {
    mailroom_events(dir)
        .into_iter()
        .filter_map(|payload| match payload {
            Payload::StaffSignedIn { staff, role } => Some(format!("in {staff} {role}")),
            Payload::StaffSignedOut { staff } => Some(format!("out {staff}")),
            _ => None,
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

/// A scan's answer that comes after the streamed state (a busy station or network) must not take
/// the focus back from the PIN field the badge opened: the PIN would be typed into the scan
/// field and sent as a scan. The page's fetch is slowed here, so the answer lands while the
/// staff member is typing, as it did under load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_to_the_badge_scan_leaves_the_pin_field_to_the_pin() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let registry_addr = prepare(dir);
    let registry = start_registry(dir, registry_addr).await;
    let (station, mailroom) =
        start_station_with(dir, MAILROOM, Role::Mailroom, registry_addr, |_| {}).await;
    let driver = Driver::start().await;
    let screen = driver.session_with_size(1024, 600).await;
    screen.open(&format!("{mailroom}/mailroom")).await;
    staff_step(&screen, "signed_out").await;
    screen
        .execute(
            "const sent = window.fetch;
             window.fetch = (url, init) => sent(url, init)
               .then(answer => new Promise(done => setTimeout(() => done(answer), 1500)));",
            &[],
        )
        .await;
    wedge(&screen, "URNA-STAFF:1001").await;
    staff_step(&screen, "awaiting_pin").await;
    // The first digits before the scan's answer arrives, the rest after it.
    screen.press_keys("12").await;
    tokio::time::sleep(std::time::Duration::from_millis(2000)).await;
    wedge(&screen, "34").await;
    staff_step(&screen, "signed_in").await;
    assert_eq!(staff_events(dir), ["in 1001 staff"]);
    screen.close().await;
    station.stop().await;
    registry.stop().await;
}

/// The screenshots folder of one test, emptied.
fn shots_of(test: &str) -> PathBuf {
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/screenshots/mailroom")
        .join(test);
    let _ = std::fs::remove_dir_all(&shots);
    shots
}

/// The mailroom page in a 1024×700 window, with a staff member signed in by badge and PIN.
async fn signed_in_page(driver: &Driver, mailroom: &str, badge: &str, pin: &str) -> Browser {
    let screen = driver.session_with_size(1024, 700).await;
    screen.open(&format!("{mailroom}/mailroom")).await;
    staff_step(&screen, "signed_out").await;
    wedge(&screen, &format!("URNA-STAFF:{badge}")).await;
    staff_step(&screen, "awaiting_pin").await;
    wedge(&screen, pin).await;
    staff_step(&screen, "signed_in").await;
    screen
}

/// Waits for the kiosk to show `step`; returns its state.
async fn kiosk_on(client: &reqwest::Client, kiosk: &str, step: &str) -> serde_json::Value {
    eventually(&format!("kiosk step {step}"), || async {
        let state = get_json(client, &format!("{kiosk}/kiosk/state")).await;
        (state["step"] == step).then_some(state)
    })
    .await
}

/// The kiosk's events up to now are at the registry.
async fn registry_has_all_of(
    client: &reqwest::Client,
    registry: &str,
    dir: &std::path::Path,
    code: &str,
) {
    let store = LogStore::open_existing(&dir.join(code).join(station::runtime::LOG_FILE)).unwrap();
    let tip = store.stored_tip().unwrap().seq;
    eventually(
        &format!("the registry holding {code}'s events up to {tip}"),
        || async {
            let ack = get_json(
                client,
                &format!("{registry}/api/stations/{code}/acknowledged"),
            )
            .await;
            (ack["acknowledged"].as_u64().unwrap_or(0) >= tip).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collected_bag_is_checked_in_with_a_missing_and_an_extra_envelope_and_confirmed_by_two() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let registry_addr = prepare(dir);
    let registry_server = start_registry(dir, registry_addr).await;
    let registry = format!("http://{registry_addr}");
    let (kiosk_server, kiosk) = start_station_with(dir, KIOSK, Role::Urn, registry_addr, |c| {
        c.kiosk.result_shown_secs = 3
    })
    .await;
    let (mailroom_server, mailroom) =
        start_station(dir, MAILROOM, Role::Mailroom, registry_addr).await;
    let client = reqwest::Client::new();

    // Three residents drop envelopes.
    let mut deposited = Vec::new();
    for _ in 0..3 {
        kiosk_on(&client, &kiosk, "idle").await;
        assert_eq!(
            post(&client, &format!("{kiosk}/sim/button"), None).await,
            202
        );
        let state = kiosk_on(&client, &kiosk, "drop").await;
        deposited.push(state["intake"].as_str().unwrap().to_owned());
        assert_eq!(post(&client, &format!("{kiosk}/sim/slot"), None).await, 202);
        kiosk_on(&client, &kiosk, "done").await;
    }
    // Two staff empty the urn under seal S-4711.
    kiosk_on(&client, &kiosk, "idle").await;
    let service = |stage: &'static str| {
        let client = client.clone();
        let kiosk = kiosk.clone();
        async move {
            eventually(&format!("collection stage {stage}"), || async {
                let state = get_json(&client, &format!("{kiosk}/kiosk/state")).await;
                (state["service"]["stage"] == stage).then_some(())
            })
            .await
        }
    };
    let scan = |code: &str| {
        let client = client.clone();
        let url = format!("{kiosk}/sim/scan");
        let body = serde_json::json!({ "code": code });
        async move { assert_eq!(post(&client, &url, Some(body)).await, 202) }
    };
    scan("URNA-STAFF:1001").await;
    service("first_pin").await;
    post(
        &client,
        &format!("{kiosk}/kiosk/service/pin"),
        Some(serde_json::json!({ "pin": "1234" })),
    )
    .await;
    service("second_badge").await;
    scan("URNA-STAFF:1002").await;
    service("second_pin").await;
    post(
        &client,
        &format!("{kiosk}/kiosk/service/pin"),
        Some(serde_json::json!({ "pin": "5678" })),
    )
    .await;
    service("seal").await;
    scan("S-4711").await;
    service("open_door").await;
    post(
        &client,
        &format!("{kiosk}/sim/door"),
        Some(serde_json::json!({ "open": true })),
    )
    .await;
    service("door_open").await;
    post(
        &client,
        &format!("{kiosk}/sim/door"),
        Some(serde_json::json!({ "open": false })),
    )
    .await;
    kiosk_on(&client, &kiosk, "idle").await;
    // A fourth envelope after the collection: in the urn, not in this bag.
    assert_eq!(
        post(&client, &format!("{kiosk}/sim/button"), None).await,
        202
    );
    let later = kiosk_on(&client, &kiosk, "drop").await["intake"]
        .as_str()
        .unwrap()
        .to_owned();
    registry_has_all_of(&client, &registry, dir, KIOSK).await;

    // At the mailroom: sign in, scan the seal, then the envelopes found in the bag.
    let shots = shots_of("check-in");
    let driver = Driver::start().await;
    let screen = signed_in_page(&driver, &mailroom, "1001", "1234").await;
    screen.click("#code").await;
    wedge(&screen, "S-4711").await;
    says(&screen, "Worek z plombą S-4711").await;
    screen.screenshot(&shots.join("01-bag-opened.png")).await;
    // Two of the three deposits are in the bag, and one envelope that is not on the list.
    for (n, code) in [&deposited[0], &deposited[2], &later]
        .into_iter()
        .enumerate()
    {
        screen.click("#code").await;
        wedge(&screen, code).await;
        let want = (n + 1).to_string();
        eventually(&format!("{want} envelopes scanned"), || async {
            (text_by_id(&screen, "bag-scanned").await == want).then_some(())
        })
        .await;
    }
    says(&screen, "UWAGA: tej koperty nie ma na liście urny").await;
    let missing = text_by_id(&screen, "bag-missing").await;
    assert!(missing.contains(&deposited[1]), "{missing}");
    let unexpected = text_by_id(&screen, "bag-unexpected").await;
    assert!(unexpected.contains(&later), "{unexpected}");
    screen
        .screenshot(&shots.join("02-one-missing-one-extra.png"))
        .await;

    // The result, confirmed by a second person.
    screen.click("#bag-finish").await;
    eventually("the second person asked for", || async {
        let bag = screen
            .execute("return document.body.dataset.bag", &[])
            .await;
        (bag == "badge").then_some(())
    })
    .await;
    screen.click("#code").await;
    wedge(&screen, "URNA-STAFF:1001").await;
    says(&screen, "druga osoba, nie ta").await;
    screen.click("#code").await;
    wedge(&screen, "URNA-STAFF:1002").await;
    eventually("the second PIN asked for", || async {
        let bag = screen
            .execute("return document.body.dataset.bag", &[])
            .await;
        (bag == "pin").then_some(())
    })
    .await;
    screen.click("#pin").await;
    wedge(&screen, "5678").await;
    says(&screen, "zatwierdzony przez: Piotr Nowak").await;
    screen.screenshot(&shots.join("03-confirmed.png")).await;

    let checked: Vec<String> = mailroom_events(dir)
        .into_iter()
        .filter_map(|payload| match payload {
            Payload::CheckedIn { seal, urn_count, received, missing, unexpected, first_staff, second_staff } => Some(format!(
                "{seal} urn {urn_count} received {received} missing {} unexpected {} by {first_staff}+{second_staff}",
                missing.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(","),
                unexpected.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(","),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        checked,
        [format!(
            "S-4711 urn 3 received 3 missing {} unexpected {later} by 1001+1002",
            deposited[1]
        )]
    );
    // Every event, the mailroom's too, reaches the registry.
    registry_has_all_of(&client, &registry, dir, MAILROOM).await;
    screen.close().await;
    mailroom_server.stop().await;
    kiosk_server.stop().await;
    registry_server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_is_released_early_only_by_a_supervisor_with_a_reason_and_otherwise_when_over() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let registry_addr = prepare(dir);
    let registry_server = start_registry(dir, registry_addr).await;
    let registry = format!("http://{registry_addr}");
    // Tax mail rests 2 s here, everything else 2 minutes.
    let holds = |c: &mut station::config::StationConfig| {
        c.hold_secs = 120;
        for category in &mut c.categories {
            if category.id == "podatki" {
                category.hold_secs = Some(2);
            }
        }
        c.kiosk.result_shown_secs = 3;
    };
    let (kiosk_server, kiosk) =
        start_station_with(dir, KIOSK, Role::Urn, registry_addr, holds).await;
    let (mailroom_server, mailroom) =
        start_station_with(dir, MAILROOM, Role::Mailroom, registry_addr, holds).await;
    let client = reqwest::Client::new();
    kiosk_on(&client, &kiosk, "idle").await;
    assert_eq!(
        post(&client, &format!("{kiosk}/sim/button"), None).await,
        202
    );
    let long = kiosk_on(&client, &kiosk, "drop").await["intake"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(post(&client, &format!("{kiosk}/sim/slot"), None).await, 202);
    kiosk_on(&client, &kiosk, "done").await;
    assert_eq!(
        post(&client, &format!("{kiosk}/kiosk/start"), None).await,
        202
    );
    kiosk_on(&client, &kiosk, "choose").await;
    assert_eq!(
        post(&client, &format!("{kiosk}/kiosk/category/podatki"), None).await,
        202
    );
    let short = kiosk_on(&client, &kiosk, "drop").await["intake"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(post(&client, &format!("{kiosk}/sim/slot"), None).await, 202);
    registry_has_all_of(&client, &registry, dir, KIOSK).await;

    let shots = shots_of("early-release");
    let driver = Driver::start().await;
    let screen = signed_in_page(&driver, &mailroom, "1001", "1234").await;

    // Into its hold, then a second scan before the hold is over: refused, early release offered.
    screen.click("#code").await;
    wedge(&screen, &long).await;
    says(&screen, "Przyjęto. Kwarantanna do").await;
    screen.click("#code").await;
    wedge(&screen, &long).await;
    says(&screen, "Nie wydawaj wcześniej").await;
    screen.shows(r#"id="early-start""#).await;
    screen
        .screenshot(&shots.join("01-refused-before-the-hold-is-over.png"))
        .await;

    // The reason is required, then a supervisor: a staff badge does not do.
    screen.click("#early-start").await;
    screen.shows(r#"id="early-reason""#).await;
    screen
        .send_keys(
            "#early-reason",
            "Pismo sądowe z terminem na dziś, wydział prosi",
        )
        .await;
    screen.click("#early-form button.primary").await;
    says(&screen, "Kierownik: zeskanuj").await;
    screen.click("#code").await;
    wedge(&screen, "URNA-STAFF:1001").await;
    says(&screen, "Kierownik: wpisz PIN").await;
    screen.click("#pin").await;
    wedge(&screen, "1234").await;
    says(&screen, "Przed czasem wydaje tylko kierownik").await;
    screen
        .screenshot(&shots.join("02-staff-cannot-approve.png"))
        .await;
    screen.click("#code").await;
    wedge(&screen, "URNA-STAFF:1002").await;
    says(&screen, "Kierownik: wpisz PIN").await;
    screen.click("#pin").await;
    wedge(&screen, "5678").await;
    says(&screen, "za zgodą: Piotr Nowak").await;
    screen
        .screenshot(&shots.join("03-released-early-by-the-supervisor.png"))
        .await;

    // The other envelope's hold runs out: released by a plain scan.
    screen.click("#code").await;
    wedge(&screen, &short).await;
    says(&screen, "Przyjęto. Kwarantanna do").await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    screen.click("#code").await;
    wedge(&screen, &short).await;
    says(&screen, "Kwarantanna zakończona").await;
    screen
        .screenshot(&shots.join("04-released-when-the-hold-is-over.png"))
        .await;

    // The tax letter turns out to be for the general office: sent there instead, with a reason
    // (a reason too short is refused first).
    screen.shows(r#"id="forward-panel""#).await;
    screen.click("#forward-panel summary").await;
    screen
        .execute(
            "document.getElementById('forward-department').value = 'Kancelaria ogólna'",
            &[],
        )
        .await;
    screen.send_keys("#forward-reason", "bo tak").await;
    screen.click("#forward-submit").await;
    says(&screen, "Napisz powód zmiany wydziału").await;
    screen
        .send_keys("#forward-reason", " — to wniosek o wpis, nie podatek")
        .await;
    screen
        .screenshot(&shots.join("05-another-department.png"))
        .await;
    screen.click("#forward-submit").await;
    says(
        &screen,
        "Przekazano do: Kancelaria ogólna (zmieniono wydział)",
    )
    .await;
    assert!(!screen.exists("#forward-panel").await);

    // The other goes to its category's department by a scan, and both onto today's
    // forwarding list for the messenger.
    screen.click("#code").await;
    wedge(&screen, &long).await;
    // The last result still says "Przekazano do: Kancelaria ogólna (zmieniono wydział)" of the
    // other envelope: wait for this envelope's own.
    eventually("the result of forwarding the first envelope", || async {
        let last = text_by_id(&screen, "last").await;
        (last.contains(long.as_str()) && last.contains("Przekazano do: Kancelaria ogólna."))
            .then_some(())
    })
    .await;
    says(&screen, "lista do druku").await;
    screen
        .open(&format!("{mailroom}/mailroom/forwarding"))
        .await;
    let lists = screen.shows("Lista przekazania z dnia").await;
    let general = lists
        .split(r#"data-department="Kancelaria ogólna""#)
        .nth(1)
        .expect("a list for the general office");
    assert!(general.contains(long.as_str()), "{lists}");
    assert!(general.contains(short.as_str()), "{lists}");
    assert!(!lists.contains(r#"data-department="Wydział Podatków i Opłat""#));
    assert!(lists.contains("Odebrał (wydział)"));
    screen
        .screenshot(&shots.join("06-forwarding-lists.png"))
        .await;

    let events = mailroom_events(dir);
    let releases: Vec<String> = events
        .iter()
        .filter_map(|payload| match payload {
            Payload::HoldReleased { intake, early } => Some(match early {
                Some(e) => format!("{intake} early by {}: {}", e.supervisor, e.reason),
                None => format!("{intake} when over"),
            }),
            _ => None,
        })
        .collect();
    assert_eq!(
        releases,
        [
            format!("{long} early by 1002: Pismo sądowe z terminem na dziś, wydział prosi"),
            format!("{short} when over"),
        ]
    );
    let changes: Vec<String> = events
        .iter()
        .filter_map(|payload| match payload {
            Payload::DepartmentChanged {
                intake,
                from,
                to,
                reason,
                staff,
            } => Some(format!("{intake}: {from} → {to} by {staff}: {reason}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        changes,
        [format!(
            "{short}: Wydział Podatków i Opłat → Kancelaria ogólna by 1001: bo tak — to wniosek o wpis, nie podatek"
        )]
    );
    registry_has_all_of(&client, &registry, dir, MAILROOM).await;
    let clerk = registry_admin(&registry).await;
    let view = get_json(&clerk, &format!("{registry}/api/intakes/{short}")).await;
    assert_eq!(view["department"], "Kancelaria ogólna");
    screen.close().await;
    mailroom_server.stop().await;
    kiosk_server.stop().await;
    registry_server.stop().await;
}

/// What the mailroom's simulated printer printed: (label kind, intake) in order.
async fn printed(client: &reqwest::Client, mailroom: &str) -> Vec<(String, String)> {
    let labels = get_json(client, &format!("{mailroom}/sim/labels")).await;
    let mut labels = labels.as_array().cloned().unwrap_or_default();
    labels.sort_by_key(|l| l["number"].as_u64());
    labels
        .iter()
        .map(|l| {
            (
                l["label"].as_str().unwrap_or_default().to_owned(),
                l["intake"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The sounds the page made, in order.
async fn beeps(screen: &Browser) -> Vec<String> {
    let v = screen.execute("return window.urnaBeeps", &[]).await;
    serde_json::from_value(v).unwrap_or_default()
}

/// The intake id of the result on screen now.
async fn result_intake(screen: &Browser) -> String {
    let v = screen
        .execute(
            "const e = document.querySelector('#result .big'); return e ? e.textContent : ''",
            &[],
        )
        .await;
    v.as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_and_counter_intake_print_labels_start_holds_and_fill_a_labelled_bin() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let registry_addr = prepare(dir);
    let registry_server = start_registry(dir, registry_addr).await;
    let registry = format!("http://{registry_addr}");
    let (mailroom_server, mailroom) =
        start_station_with(dir, MAILROOM, Role::Mailroom, registry_addr, |c| {
            c.hold_secs = 3600;
            c.materials = vec![station::config::Material {
                id: "parcel".into(),
                name_pl: "Paczka".into(),
                name_en: "Parcel".into(),
                hold_secs: 3 * 3600,
            }];
        })
        .await;
    let client = reqwest::Client::new();
    let shots = shots_of("intake");
    let driver = Driver::start().await;
    let screen = signed_in_page(&driver, &mailroom, "1001", "1234").await;

    // A parcel by post, with everything filled in.
    screen.click("#intake summary").await;
    screen.click("#intake-material").await;
    screen
        .execute(
            "document.getElementById('intake-material').value = 'parcel'",
            &[],
        )
        .await;
    screen
        .send_keys("#intake-sender", "Jan Nowak, ul. Długa 1, Gliwice")
        .await;
    screen
        .send_keys("#intake-reference", "GKM.6220.12.2026")
        .await;
    screen.send_keys("#intake-attachments", "2").await;
    screen
        .screenshot(&shots.join("01-post-intake-form.png"))
        .await;
    screen.assert_no_axe_violations("the intake form").await;
    screen.click("#intake-submit").await;
    says(&screen, "Przyjęto (poczta). Naklej etykietę na kopertę.").await;
    let parcel = result_intake(&screen).await;
    assert!(parcel.starts_with("GWK2-"), "{parcel}");
    assert_eq!(beeps(&screen).await.last().map(String::as_str), Some("ok"));
    let form_closed = screen
        .execute(
            "return !document.getElementById('intake').open && document.activeElement.id === 'code' && document.getElementById('intake-sender').value === ''",
            &[],
        )
        .await;
    assert_eq!(
        form_closed, true,
        "the form is cleared and the scanner has the focus back"
    );
    screen.screenshot(&shots.join("02-post-taken-in.png")).await;

    // A wrong number of attachments: refused with a low sound, and what was typed stays.
    screen.click("#intake summary").await;
    screen.send_keys("#intake-sender", "Anna Wiśniewska").await;
    screen.send_keys("#intake-attachments", "dużo").await;
    screen.click("#intake-submit").await;
    says(&screen, "Załączniki: liczba od 0 do 999").await;
    assert_eq!(
        beeps(&screen).await.last().map(String::as_str),
        Some("error")
    );
    assert_eq!(
        screen
            .execute("return document.getElementById('intake-sender').value", &[])
            .await,
        "Anna Wiśniewska"
    );
    screen
        .screenshot(&shots.join("03-refused-attachments.png"))
        .await;

    // Handed in at the counter, with nothing known: a label and a receipt for the person.
    screen
        .execute(
            "document.getElementById('intake-form').reset(); document.querySelector('input[name=channel][value=counter]').click()",
            &[],
        )
        .await;
    screen.click("#intake-submit").await;
    says(&screen, "Przyjęto (biuro podawcze)").await;
    says(&screen, "Wydaj potwierdzenie").await;
    let counter = result_intake(&screen).await;
    assert_ne!(counter, parcel);

    let labels = printed(&client, &mailroom).await;
    assert_eq!(
        labels,
        vec![
            ("envelope".to_owned(), parcel.clone()),
            ("envelope".to_owned(), counter.clone()),
            ("receipt".to_owned(), counter.clone()),
        ]
    );

    // Both rest in the hold list; one bin label covers both, and only once.
    for intake in [&parcel, &counter] {
        screen.shows(&format!(r#"data-intake="{intake}""#)).await;
    }
    // The parcel's three hours count down on the page.
    let left = screen
        .execute(
            "const row = document.querySelector('#held tr[data-intake=\"' + arguments[0] + '\"] .countdown'); return row ? row.textContent : ''",
            &[serde_json::json!(parcel)],
        )
        .await;
    let left = left.as_str().unwrap_or_default().to_owned();
    assert!(
        left.starts_with("02:59:") || left == "03:00:00",
        "the parcel's countdown shows {left:?}"
    );
    screen.click("#bin-label").await;
    says(&screen, "wydrukowana: kopert 2").await;
    let bin = text_by_id(&screen, "result").await;
    assert!(bin.contains("GWK2-"), "{bin}");
    screen
        .screenshot(&shots.join("04-bin-label-printed.png"))
        .await;
    screen.click("#bin-label").await;
    says(&screen, "mają już etykietę pojemnika").await;
    let labels = printed(&client, &mailroom).await;
    assert_eq!(labels.len(), 4, "{labels:?}");
    assert_eq!(labels[3].0, "bin");

    // The printer runs out of paper: the screen says so, an intake is still recorded (with
    // the id to write by hand), and the fault is raised and cleared in the log.
    assert_eq!(
        post(
            &client,
            &format!("{mailroom}/sim/printer"),
            Some(serde_json::json!({ "fault": "paper_out" }))
        )
        .await,
        202
    );
    screen.shows(r#"id="printer-alert""#).await;
    says(&screen, "Brak papieru w drukarce").await;
    screen.click("#intake summary").await;
    screen.click("#intake-submit").await;
    says(&screen, "etykieta się nie wydrukowała").await;
    let unprinted = result_intake(&screen).await;
    assert!(unprinted.starts_with("GWK2-"), "{unprinted}");
    screen
        .screenshot(&shots.join("05-printer-out-of-paper.png"))
        .await;
    assert_eq!(
        post(
            &client,
            &format!("{mailroom}/sim/printer"),
            Some(serde_json::json!({ "fault": "none" }))
        )
        .await,
        202
    );
    eventually("the printer alert gone", || async {
        (!screen.exists("#printer-alert").await).then_some(())
    })
    .await;

    // What the log says: the post intake's fields, the parcel's longer hold, the bin label
    // recorded for each envelope; and all of it reaches the registry.
    let events = mailroom_events(dir);
    let deposit = events
        .iter()
        .find_map(|p| match p {
            Payload::Deposit(i) if i.id.to_string() == parcel => Some(i.clone()),
            _ => None,
        })
        .expect("the parcel's deposit");
    assert_eq!(deposit.channel, records::Channel::Post);
    assert_eq!(
        deposit.sender.as_ref().map(|s| s.as_str()),
        Some("Jan Nowak, ul. Długa 1, Gliwice")
    );
    assert_eq!(
        deposit.reference.as_ref().map(|s| s.as_str()),
        Some("GKM.6220.12.2026")
    );
    assert_eq!(deposit.attachments, Some(2));
    let holds: Vec<(String, u32)> = events
        .iter()
        .filter_map(|p| match p {
            Payload::HoldStarted { intake, hold_secs } => Some((intake.to_string(), *hold_secs)),
            _ => None,
        })
        .collect();
    assert_eq!(
        holds,
        vec![
            (parcel.clone(), 3 * 3600),
            (counter.clone(), 3600),
            (unprinted.clone(), 3600)
        ]
    );
    let bin_labels = events
        .iter()
        .filter(|p| {
            matches!(
                p,
                Payload::LabelPrinted {
                    label: records::LabelKind::Bin,
                    ..
                }
            )
        })
        .count();
    assert_eq!(bin_labels, 2);
    let printer_faults: Vec<String> = events
        .iter()
        .filter_map(|p| match p {
            Payload::FaultRaised { device, fault } => Some(format!("raised {device:?} {fault}")),
            Payload::FaultCleared { device, fault } => Some(format!("cleared {device:?} {fault}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        printer_faults,
        ["raised Printer paper_out", "cleared Printer paper_out"]
    );
    assert!(
        events
            .iter()
            .any(|p| p.intake().is_some_and(|i| i.to_string() == unprinted))
    );
    registry_has_all_of(&client, &registry, dir, MAILROOM).await;
    let clerk = registry_admin(&registry).await;
    let view = get_json(&clerk, &format!("{registry}/api/intakes/{counter}")).await;
    assert_eq!(view["channel"], "counter");

    screen.close().await;
    mailroom_server.stop().await;
    registry_server.stop().await;
}
