//! The urn kiosk as a resident meets it: the real station on simulated hardware, its page in
//! headless Chromium at the touchscreen's 800×480, driven by touches on the page and by the
//! simulated scanner, button, slot beam, door and printer. Every screen is checked with axe-core
//! (WCAG 2.1 A and AA) and for fitting the screen, and saved as a screenshot under
//! `target/screenshots/kiosk/<test>/` so a person can look at what residents see.
//!
//! Needs Debian's `chromium` and `chromium-driver`, and axe-core (`scripts/test` fetches both).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/browser.rs"]
mod browser;
mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use browser::{Browser, Driver};
use common::*;
use records::{Device, Payload};
use serde_json::{Value, json};
use station::LogStore;
use station::config::{Role, StationConfig};

/// A form's case reference, as printed in its QR code.
const FORM_CODE: &str = "GKM.6220.12.2020";

/// One kiosk under test: its station (and registry), and a browser on its page.
struct Kiosk {
    dir: tempfile::TempDir,
    registry_addr: std::net::SocketAddr,
    registry: Option<Server>,
    station: Option<Server>,
    url: String,
    client: reqwest::Client,
    screen: Browser,
    driver: Driver,
    shots: PathBuf,
    shot: u32,
}

impl Kiosk {
    /// Starts a registry (unless `with_registry` is false: then it is unreachable for the whole
    /// test), the kiosk station with `adjust`ed config, and a browser on the kiosk page.
    async fn start(
        test: &str,
        with_registry: bool,
        adjust: impl FnOnce(&mut StationConfig),
    ) -> Kiosk {
        let dir = tempfile::tempdir().unwrap();
        let registry_addr = prepare(dir.path());
        let registry = if with_registry {
            Some(start_registry(dir.path(), registry_addr).await)
        } else {
            None
        };
        let (station, url) = start_station_with(dir.path(), KIOSK, Role::Urn, registry_addr, |c| {
            c.kiosk.result_shown_secs = 3;
            adjust(c);
        })
        .await;
        let driver = Driver::start().await;
        let screen = driver.session_with_size(800, 480).await;
        screen.open(&format!("{url}/kiosk")).await;
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target/screenshots/kiosk")
            .join(test);
        let _ = std::fs::remove_dir_all(&shots);
        Kiosk {
            dir,
            registry_addr,
            registry,
            station: Some(station),
            url,
            client: reqwest::Client::new(),
            screen,
            driver,
            shots,
            shot: 0,
        }
    }

    /// Waits for the page to show `step` (in the page's own DOM, after the live update).
    async fn on_step(&self, step: &str) {
        eventually(&format!("the page on step {step}"), || async {
            let shown = self
                .screen
                .execute("return document.body.dataset.step", &[])
                .await;
            (shown == step).then_some(())
        })
        .await;
    }

    /// Waits for the page's big message to contain `text`.
    async fn says(&self, text: &str) -> String {
        eventually(&format!("the page saying {text:?}"), || async {
            let shown = self.screen.text_of("#msg").await;
            shown.contains(text).then_some(shown)
        })
        .await
    }

    /// Saves a screenshot of this step, and checks it against WCAG 2.1 AA and the screen's size.
    async fn step(&mut self, name: &str) {
        self.shot += 1;
        let path = self.shots.join(format!("{:02}-{name}.png", self.shot));
        self.screen.screenshot(&path).await;
        self.screen.assert_no_axe_violations(name).await;
        let outside = self
            .screen
            .execute(
                r#"return [...document.querySelectorAll('button, #msg, #beside, .id, .facts, .hint, .slot, .alert')]
                  .filter(e => e.offsetParent !== null)
                  .map(e => [e, e.getBoundingClientRect()])
                  .filter(([e, r]) => r.bottom > innerHeight + 0.5 || r.right > innerWidth + 0.5)
                  .map(([e, r]) => e.outerHTML.slice(0, 120) + ' ends at ' + Math.round(r.right) + '×' + Math.round(r.bottom))"#,
                &[],
            )
            .await;
        assert_eq!(
            outside,
            json!([]),
            "{name}: something is off the 800×480 screen"
        );
    }

    async fn sim(&self, path: &str, body: Option<Value>) {
        let status = post(&self.client, &format!("{}/sim/{path}", self.url), body).await;
        assert_eq!(status, 202, "/sim/{path}");
    }

    async fn state(&self) -> Value {
        get_json(&self.client, &format!("{}/kiosk/state", self.url)).await
    }

    async fn lamp(&self) -> bool {
        get_json(&self.client, &format!("{}/sim/devices", self.url)).await["lamp"] == true
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join(KIOSK).join(station::runtime::LOG_FILE)
    }

    async fn stop(mut self) {
        self.screen.close().await;
        if let Some(station) = self.station.take() {
            station.stop().await;
        }
        if let Some(registry) = self.registry.take() {
            registry.stop().await;
        }
    }
}

/// Every event in the kiosk's log, decoded.
fn events(log: &Path) -> Vec<records::Event> {
    let store = LogStore::open_existing(log).unwrap();
    store
        .events_after(0, 100_000)
        .unwrap()
        .iter()
        .map(|e| records::encoding::decode(&e.signed.canonical).unwrap())
        .collect()
}

fn count(events: &[records::Event], wanted: impl Fn(&Payload) -> bool) -> usize {
    events.iter().filter(|e| wanted(&e.payload)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_with_a_form_code_and_one_with_only_the_button() {
    let mut kiosk = Kiosk::start("happy-paths", true, |_| {}).await;
    kiosk.on_step("idle").await;
    kiosk.says("Zeskanuj kod").await;
    assert!(!kiosk.lamp().await, "the lamp is off while nobody is there");
    kiosk.step("start").await;

    // With a form: the scanner reads its code, the resident touches a category.
    kiosk.sim("scan", Some(json!({ "code": FORM_CODE }))).await;
    kiosk.on_step("choose").await;
    kiosk.says("Czego dotyczy pismo").await;
    assert!(kiosk.screen.source().await.contains(FORM_CODE));
    kiosk.step("form-code-choose-category").await;
    kiosk
        .screen
        .click(r#"button[data-category="budownictwo"]"#)
        .await;
    kiosk.on_step("drop").await;
    kiosk.says("wrzuć ją do otworu").await;
    let first = kiosk.state().await["intake"].as_str().unwrap().to_owned();
    assert_eq!(kiosk.screen.text_of(".id").await, first);
    assert!(kiosk.lamp().await, "the lamp over the slot is lit");
    kiosk.step("form-code-drop-the-envelope").await;
    kiosk.sim("slot", None).await;
    kiosk.on_step("done").await;
    kiosk.says("Dziękujemy").await;
    assert!(!kiosk.lamp().await);
    kiosk.step("form-code-thank-you").await;
    // The result goes away by itself.
    kiosk.on_step("idle").await;

    // With the button alone: no screen touched at all.
    kiosk.sim("button", None).await;
    kiosk.on_step("drop").await;
    let second = kiosk.state().await["intake"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    kiosk.step("button-drop-the-envelope").await;
    kiosk.sim("slot", None).await;
    kiosk.on_step("done").await;
    kiosk.says("Dziękujemy").await;
    kiosk.step("button-thank-you").await;

    // Both got a label and a receipt, and the form's reference and the category were recorded.
    let labels = get_json(&kiosk.client, &format!("{}/sim/labels", kiosk.url)).await;
    for intake in [&first, &second] {
        for kind in ["envelope", "receipt"] {
            assert!(
                labels
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|l| l["intake"] == intake.as_str() && l["label"] == kind),
                "{kind} for {intake}: {labels}"
            );
        }
    }
    let log = events(&kiosk.log_path());
    let deposits: Vec<_> = log
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::Deposit(intake) => Some(intake.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(deposits.len(), 2);
    assert_eq!(deposits[0].category.as_str(), "budownictwo");
    assert_eq!(
        deposits[0].reference.as_ref().map(|r| r.as_str()),
        Some(FORM_CODE)
    );
    assert_eq!(deposits[1].category.as_str(), "inne");
    assert_eq!(deposits[1].reference, None);
    kiosk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_are_said_before_anyone_starts_and_the_registry_hears_of_them() {
    let mut kiosk = Kiosk::start("faults", true, |_| {}).await;
    kiosk.on_step("idle").await;

    for fault in ["paper_out", "cover_open", "offline"] {
        kiosk.sim("printer", Some(json!({ "fault": fault }))).await;
        kiosk.on_step("out_of_order").await;
        kiosk.says("nie możemy wydrukować").await;
        kiosk.step(&format!("printer-{fault}")).await;
        // Nobody can start a deposit the kiosk cannot receipt.
        kiosk.sim("button", None).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(kiosk.state().await["step"], "out_of_order");
        assert!(!kiosk.screen.exists("#no-code").await);
        kiosk.sim("printer", Some(json!({ "fault": "none" }))).await;
        kiosk.on_step("idle").await;
    }
    let log = events(&kiosk.log_path());
    assert_eq!(count(&log, |p| matches!(p, Payload::Deposit(_))), 0);
    for fault in ["paper_out", "cover_open", "offline"] {
        assert_eq!(
            count(
                &log,
                |p| matches!(p, Payload::FaultRaised { device: Device::Printer, fault: f } if f.as_str() == fault)
            ),
            1,
            "{fault}"
        );
    }
    // The registry has every one of these events: its clerks and the mailroom learn of it.
    let tip = log.last().unwrap().seq;
    let registry_url = format!("http://{}", kiosk.registry_addr);
    eventually("the registry holding the fault events", || async {
        let seq = get_json(
            &kiosk.client,
            &format!("{registry_url}/api/stations/{KIOSK}/acknowledged"),
        )
        .await;
        (seq["acknowledged"].as_u64().unwrap_or(0) >= tip).then_some(())
    })
    .await;

    // A scanner unplugged: said, and the button still works.
    kiosk
        .sim("scanner", Some(json!({ "connected": false })))
        .await;
    eventually("the scanner notice", || async {
        kiosk
            .screen
            .execute("return !document.getElementById('scanner').hidden", &[])
            .await
            .as_bool()
            .unwrap_or(false)
            .then_some(())
    })
    .await;
    assert!(
        kiosk
            .screen
            .text_of("#scanner")
            .await
            .contains("Naciśnij przycisk")
    );
    kiosk.step("scanner-unplugged").await;
    kiosk.sim("button", None).await;
    kiosk.on_step("drop").await;
    kiosk.step("scanner-unplugged-button-still-works").await;
    kiosk.sim("slot", None).await;
    kiosk.on_step("done").await;
    kiosk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_registry_is_invisible_to_the_resident() {
    let mut kiosk = Kiosk::start("registry-unreachable", false, |_| {}).await;
    kiosk.on_step("idle").await;
    kiosk.sim("scan", Some(json!({ "code": FORM_CODE }))).await;
    kiosk.on_step("choose").await;
    kiosk
        .screen
        .click(r#"button[data-category="podatki"]"#)
        .await;
    kiosk.on_step("drop").await;
    kiosk.sim("slot", None).await;
    kiosk.on_step("done").await;
    kiosk.says("Dziękujemy").await;
    let page = kiosk.screen.source().await.to_lowercase();
    for word in ["registry", "rejestr", "sieć", "network", "offline"] {
        assert!(!page.contains(word), "the page mentions {word}");
    }
    kiosk.step("registry-unreachable-thank-you").await;
    let log = events(&kiosk.log_path());
    assert_eq!(count(&log, |p| matches!(p, Payload::DropSeen { .. })), 1);
    kiosk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drop_not_seen_and_two_envelopes_on_one_label() {
    let mut kiosk = Kiosk::start("drops", true, |c| c.drop_timeout_secs = 3).await;
    kiosk.on_step("idle").await;

    kiosk.sim("button", None).await;
    kiosk.on_step("drop").await;
    let late = kiosk.state().await["intake"].as_str().unwrap().to_owned();
    // Nothing falls within the drop timeout.
    kiosk.on_step("done").await;
    kiosk.says("Nie zauważyliśmy koperty").await;
    kiosk.step("drop-not-seen").await;
    // The resident still had it, and drops it now, as the screen asked.
    kiosk.sim("slot", None).await;
    kiosk.says("Dziękujemy").await;
    kiosk.step("drop-not-seen-then-dropped-late").await;
    kiosk.on_step("idle").await;

    kiosk.sim("button", None).await;
    kiosk.on_step("drop").await;
    let doubled = kiosk.state().await["intake"].as_str().unwrap().to_owned();
    kiosk.sim("slot", None).await;
    kiosk.says("Dziękujemy").await;
    kiosk.sim("slot", None).await;
    kiosk.says("więcej niż jedna koperta").await;
    kiosk.step("two-envelopes-one-label").await;

    let log = events(&kiosk.log_path());
    let about = |intake: &str, kind: &str| {
        count(&log, |p| {
            p.kind_name() == kind && p.intake().is_some_and(|i| i.to_string() == intake)
        })
    };
    assert_eq!(about(&late, "drop_not_seen"), 1);
    assert_eq!(about(&late, "drop_seen"), 1);
    assert_eq!(about(&doubled, "drop_seen"), 2);
    kiosk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn languages_are_one_touch_away_and_an_idle_kiosk_goes_back_to_polish() {
    let mut kiosk = Kiosk::start("languages", true, |c| c.kiosk.idle_timeout_secs = 5).await;
    kiosk.on_step("idle").await;
    assert_eq!(
        kiosk
            .screen
            .execute("return document.documentElement.lang", &[])
            .await,
        "pl"
    );
    // Polish first, English beside it.
    assert!(
        kiosk
            .screen
            .text_of("#beside")
            .await
            .contains("Scan the code")
    );

    kiosk.screen.click(r#"button[data-lang="en"]"#).await;
    kiosk.says("Scan the code on your form").await;
    assert_eq!(kiosk.screen.text_of("#no-code").await, "I have no code");
    kiosk.step("english-start").await;

    kiosk.screen.click(r#"button[data-lang="uk"]"#).await;
    kiosk.says("Відскануйте код").await;
    kiosk.step("ukrainian-start").await;
    kiosk.screen.click("#no-code").await;
    kiosk.on_step("choose").await;
    kiosk.says("Чого стосується лист").await;
    assert_eq!(
        kiosk
            .screen
            .text_of(r#"button[data-category="spoleczne"]"#)
            .await,
        "Соціальні справи"
    );
    kiosk.step("ukrainian-choose-category").await;

    // Walked away half-way: the station goes back to the start, and the page to Polish.
    kiosk.on_step("idle").await;
    kiosk.says("Zeskanuj kod z formularza").await;
    kiosk.step("idle-timeout-back-to-polish").await;

    // A language chosen and nothing else: back to Polish after the same time.
    kiosk.screen.click(r#"button[data-lang="en"]"#).await;
    kiosk.says("Scan the code").await;
    let started = std::time::Instant::now();
    eventually("Polish again", || async {
        let lang = kiosk
            .screen
            .execute("return document.body.dataset.lang", &[])
            .await;
        (lang == "pl").then_some(())
    })
    .await;
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "not before the idle timeout: {:?}",
        started.elapsed()
    );
    kiosk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filling_urn_alerts_staff_and_a_full_one_takes_no_more_and_its_door_raises_an_alarm() {
    let mut kiosk = Kiosk::start("urn-full", true, |c| c.kiosk.capacity = 5).await;
    kiosk.on_step("idle").await;
    for n in 1..=5 {
        kiosk.sim("button", None).await;
        kiosk.on_step("drop").await;
        kiosk.sim("slot", None).await;
        kiosk.on_step("done").await;
        let urn = kiosk.state().await["urn"].clone();
        assert_eq!(urn["envelopes"], n, "{urn}");
        if n < 5 {
            kiosk.on_step("idle").await;
        }
    }
    kiosk.on_step("out_of_order").await;
    kiosk.says("Urna jest pełna").await;
    kiosk.step("urn-full").await;
    kiosk.sim("button", None).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(kiosk.state().await["step"], "out_of_order");

    kiosk.sim("door", Some(json!({ "open": true }))).await;
    let log_path = kiosk.log_path();
    eventually("the door alarm", || async {
        let log = events(&log_path);
        (count(&log, |p| matches!(p, Payload::Alarm { device: Device::Door, alarm } if alarm.as_str() == "door_opened_outside_collection")) == 1)
            .then_some(())
    })
    .await;
    let log = events(&log_path);
    let urn_faults: Vec<_> = log
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::FaultRaised {
                device: Device::Urn,
                fault,
            } => Some(fault.as_str().to_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(urn_faults, ["nearly_full", "full"]);
    assert_eq!(count(&log, |p| matches!(p, Payload::Deposit(_))), 5);

    // A restart does not forget how full the urn is, nor raise its alerts again.
    let station = kiosk.station.take().unwrap();
    station.stop().await;
    let (station, url) = start_station_with(
        kiosk.dir.path(),
        KIOSK,
        Role::Urn,
        kiosk.registry_addr,
        |c| c.kiosk.capacity = 5,
    )
    .await;
    kiosk.station = Some(station);
    kiosk.url = url;
    eventually("full after a restart", || async {
        (kiosk.state().await["step"] == "out_of_order").then_some(())
    })
    .await;
    let again = events(&log_path);
    assert_eq!(
        count(&again, |p| matches!(
            p,
            Payload::FaultRaised {
                device: Device::Urn,
                ..
            }
        )),
        2
    );
    kiosk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mailroom_is_told_of_the_urns_faults_and_alarms_through_the_registry() {
    let kiosk = Kiosk::start("mailroom-alerts", true, |_| {}).await;
    let (mailroom_server, mailroom) = start_station(
        kiosk.dir.path(),
        MAILROOM,
        Role::Mailroom,
        kiosk.registry_addr,
    )
    .await;
    let alerts = |want: &'static str| {
        let client = kiosk.client.clone();
        let url = format!("{mailroom}/mailroom/state");
        async move {
            eventually(&format!("the mailroom's alerts {want}"), || async {
                let state = get_json(&client, &url).await;
                let devices = state["devices"].clone();
                let lines: Vec<String> = devices["alerts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| {
                        format!(
                            "{} {}",
                            a["station"].as_str().unwrap(),
                            a["text_pl"].as_str().unwrap()
                        )
                    })
                    .collect();
                let joined = lines.join("; ");
                let matches = match want {
                    "none" => lines.is_empty(),
                    text => joined.contains(text),
                };
                (devices["reachable"] == true && matches).then_some(joined)
            })
            .await
        }
    };
    kiosk.on_step("idle").await;
    alerts("none").await;

    kiosk
        .sim("printer", Some(json!({ "fault": "paper_out" })))
        .await;
    kiosk.on_step("out_of_order").await;
    alerts("GWU2 brak papieru w drukarce").await;
    let staff = kiosk.driver.session_with_size(1024, 600).await;
    staff.open(&format!("{mailroom}/mailroom")).await;
    staff.shows("brak papieru w drukarce").await;
    staff
        .screenshot(
            &kiosk
                .shots
                .join("01-mailroom-told-printer-out-of-paper.png"),
        )
        .await;

    // The cover opened to load paper: that is now what is wrong, and only that.
    kiosk
        .sim("printer", Some(json!({ "fault": "cover_open" })))
        .await;
    let now = alerts("GWU2 otwarta pokrywa drukarki").await;
    assert!(!now.contains("brak papieru"), "{now}");

    // Paper put in, cover closed: the alert goes by itself.
    kiosk.sim("printer", Some(json!({ "fault": "none" }))).await;
    kiosk.on_step("idle").await;
    alerts("none").await;

    // The door opened with no collection: an alarm, which stays until staff deal with it.
    kiosk.sim("door", Some(json!({ "open": true }))).await;
    alerts("GWU2 drzwi urny otwarte poza odbiorem").await;
    kiosk.sim("door", Some(json!({ "open": false }))).await;
    tokio::time::sleep(station::alerts_feed::POLL * 2).await;
    let still = alerts("drzwi urny otwarte poza odbiorem").await;
    assert!(still.contains("GWU2"), "{still}");
    staff.shows("drzwi urny otwarte poza odbiorem").await;
    staff
        .screenshot(&kiosk.shots.join("02-mailroom-told-door-alarm.png"))
        .await;

    staff.close().await;
    mailroom_server.stop().await;
    kiosk.stop().await;
}

/// Waits for the service screen to show a collection's `stage`.
async fn service_stage(screen: &Browser, stage: &str) {
    eventually(&format!("collection stage {stage}"), || async {
        let shown = screen
            .execute("return document.body.dataset.service", &[])
            .await;
        (shown == stage).then_some(())
    })
    .await
}

/// Types on the service screen's keypad, then OK.
async fn keypad(screen: &Browser, keys: &str) {
    for key in keys.chars() {
        screen.click(&format!(r#"button[data-key="{key}"]"#)).await;
    }
    screen.click(r#"button[data-key="ok"]"#).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_staff_empty_a_full_urn_under_a_seal_and_its_door_raises_no_alarm() {
    let mut kiosk = Kiosk::start("collection", true, |c| c.kiosk.capacity = 3).await;
    kiosk.on_step("idle").await;
    for _ in 0..3 {
        kiosk.sim("button", None).await;
        kiosk.on_step("drop").await;
        kiosk.sim("slot", None).await;
        kiosk.on_step("done").await;
    }
    kiosk.on_step("out_of_order").await;
    // The first staff member: badge at the kiosk's scanner, PIN on the screen's keypad.
    kiosk
        .sim("scan", Some(json!({ "code": "URNA-STAFF:1001" })))
        .await;
    kiosk.on_step("service").await;
    service_stage(&kiosk.screen, "first_pin").await;
    kiosk.says("Wpisz PIN").await;
    kiosk.step("collection-first-pin").await;
    keypad(&kiosk.screen, "1234").await;
    service_stage(&kiosk.screen, "second_badge").await;
    kiosk.says("Druga osoba").await;
    kiosk.step("collection-second-badge").await;
    // The same badge twice is not two people.
    kiosk
        .sim("scan", Some(json!({ "code": "URNA-STAFF:1001" })))
        .await;
    kiosk.says("ta sama karta").await;
    kiosk
        .sim("scan", Some(json!({ "code": "URNA-STAFF:1002" })))
        .await;
    service_stage(&kiosk.screen, "second_pin").await;
    keypad(&kiosk.screen, "0000").await;
    kiosk.says("Zły PIN").await;
    keypad(&kiosk.screen, "5678").await;
    service_stage(&kiosk.screen, "seal").await;
    kiosk.says("numer plomby").await;
    kiosk.step("collection-seal").await;
    keypad(&kiosk.screen, "778899").await;
    service_stage(&kiosk.screen, "open_door").await;
    kiosk.says("Otwórz drzwi urny").await;
    kiosk.step("collection-open-the-door").await;

    kiosk.sim("door", Some(json!({ "open": true }))).await;
    service_stage(&kiosk.screen, "door_open").await;
    kiosk.says("Kopert w urnie od ostatniego odbioru: 3").await;
    kiosk.step("collection-door-open").await;
    kiosk.sim("door", Some(json!({ "open": false }))).await;
    kiosk.on_step("idle").await;
    kiosk
        .says("Odbiór zapisany. Kopert: 3, plomba 778899")
        .await;
    kiosk.step("collection-recorded").await;
    assert_eq!(kiosk.state().await["urn"]["envelopes"], 0);

    let log = events(&kiosk.log_path());
    let collected: Vec<_> = log
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::UrnCollected {
                seal,
                envelopes,
                first_staff,
                second_staff,
            } => Some(format!("{seal} {envelopes} {first_staff} {second_staff}")),
            _ => None,
        })
        .collect();
    assert_eq!(collected, ["778899 3 1001 1002"]);
    assert_eq!(count(&log, |p| matches!(p, Payload::Alarm { .. })), 0);
    assert_eq!(
        count(&log, |p| matches!(
            p,
            Payload::FaultCleared {
                device: Device::Urn,
                ..
            }
        )),
        2
    );
    assert_eq!(
        count(&log, |p| matches!(p, Payload::StaffSignedIn { .. })),
        2
    );
    assert_eq!(
        count(&log, |p| matches!(p, Payload::StaffSignedOut { .. })),
        2
    );
    // The urn takes deposits again.
    kiosk.sim("button", None).await;
    kiosk.on_step("drop").await;
    kiosk.stop().await;
}
