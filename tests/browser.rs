//! The pages in a real headless Chromium, driven over WebDriver (chromedriver) as a person would:
//! a resident clicks through the kiosk screen, and the clerks' list, opened beforehand, shows the
//! new deposit without a reload (server-sent events).
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/test` installs them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Stdio;

use common::*;
use serde_json::{Value, json};
use station::config::Role;

/// A running chromedriver, stopped when dropped.
struct Driver {
    url: String,
    _process: tokio::process::Child,
}

impl Driver {
    async fn start() -> Driver {
        for path in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            assert!(
                std::path::Path::new(path).exists(),
                "{path} is missing: run scripts/test, which installs chromium and chromium-driver"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = tokio::process::Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        eventually("chromedriver", || async {
            client
                .get(format!("{url}/status"))
                .send()
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        Driver {
            url,
            _process: process,
        }
    }

    async fn session(&self) -> Browser {
        let profile = tempfile::tempdir().unwrap().keep();
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        }}});
        let client = reqwest::Client::new();
        let answer: Value = client
            .post(format!("{}/session", self.url))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_owned();
        Browser {
            base: format!("{}/session/{id}", self.url),
            client,
        }
    }
}

/// One browser window.
struct Browser {
    base: String,
    client: reqwest::Client,
}

impl Browser {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let request = self.client.request(method, format!("{}{path}", self.base));
        let request = match body {
            Some(b) => request.json(&b),
            None => request,
        };
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        answer["value"].clone()
    }

    async fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn source(&self) -> String {
        let v = self.call(reqwest::Method::GET, "/source", None).await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// Clicks the element matching `css` once it is on the page.
    async fn click(&self, css: &str) {
        let element = eventually(&format!("element {css}"), || async {
            let found = self
                .call(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({ "using": "css selector", "value": css })),
                )
                .await;
            found
                .as_object()
                .and_then(|o| o.values().next())
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        })
        .await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Waits until the page's DOM contains `text`.
    async fn shows(&self, text: &str) -> String {
        eventually(&format!("page showing {text:?}"), || async {
            let source = self.source().await;
            source.contains(text).then_some(source)
        })
        .await
    }

    async fn close(self) {
        self.call(reqwest::Method::DELETE, "", None).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_clicks_through_the_kiosk_and_the_clerk_sees_it_live() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let registry_addr = prepare(dir);
    let registry_server = start_registry(dir, registry_addr).await;
    let registry = format!("http://{registry_addr}");
    let (kiosk_server, kiosk) = start_station(dir, KIOSK, Role::Urn, registry_addr).await;
    let driver = Driver::start().await;

    // The clerk's list is open before anything happens.
    let clerk = driver.session().await;
    clerk.open(&format!("{registry}/")).await;
    let before = clerk.source().await;
    assert!(!before.contains("GWU2-"), "no intake yet: {before}");

    let resident = driver.session().await;
    resident.open(&format!("{kiosk}/kiosk")).await;
    resident.shows(r#"data-step="idle""#).await;
    resident.click("button.primary").await;
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

    // Without a reload, the clerk's list now shows it, with its department.
    let list = clerk.shows(&intake).await;
    assert!(
        list.contains("Wydział Architektury i Budownictwa"),
        "{list}"
    );

    resident.close().await;
    clerk.close().await;
    kiosk_server.stop().await;
    registry_server.stop().await;
}
