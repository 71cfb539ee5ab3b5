//! A small WebDriver (W3C) client for the browser tests: [`Driver`] runs Debian's chromedriver,
//! [`Browser`] drives one headless Chromium window over HTTP, and [`Browser::axe`] checks a page's
//! accessibility with axe-core (fetched into target/axe-core/ by `scripts/fetch-axe`).
//!
//! A test binary includes it beside the shared helpers, which it uses:
//! ```ignore
//! mod common;
//! #[path = "common/browser.rs"]
//! mod browser;
//! ```
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Stdio;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::eventually;

/// The W3C name under which WebDriver returns an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long an asynchronous script (such as an axe-core run) may take.
const SCRIPT_TIMEOUT_MS: u64 = 30_000;

/// WebDriver's codes for keys that are not characters, for [`Browser::press_keys`] and
/// [`Browser::send_keys`].
pub mod keys {
    pub const BACKSPACE: &str = "\u{E003}";
    pub const TAB: &str = "\u{E004}";
    pub const ENTER: &str = "\u{E007}";
    pub const ESCAPE: &str = "\u{E00C}";
    pub const SPACE: &str = "\u{E00D}";
    pub const ARROW_LEFT: &str = "\u{E012}";
    pub const ARROW_UP: &str = "\u{E013}";
    pub const ARROW_RIGHT: &str = "\u{E014}";
    pub const ARROW_DOWN: &str = "\u{E015}";
}

/// A running chromedriver, stopped when dropped.
#[derive(Debug)]
pub struct Driver {
    url: String,
    _process: tokio::process::Child,
}

impl Driver {
    pub async fn start() -> Driver {
        for path in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            assert!(
                Path::new(path).exists(),
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

    /// A new browser window, of headless Chromium's default size.
    pub async fn session(&self) -> Browser {
        self.new_session(None).await
    }

    /// A new browser window whose viewport (the page's `innerWidth` × `innerHeight`, in CSS
    /// pixels, one device pixel each) is exactly `width` × `height`: the kiosk's touchscreen
    /// is 800 × 480.
    pub async fn session_with_size(&self, width: u32, height: u32) -> Browser {
        let browser = self.new_session(Some((width, height))).await;
        browser.set_window_size(width, height).await;
        browser
    }

    async fn new_session(&self, size: Option<(u32, u32)>) -> Browser {
        let profile = tempfile::tempdir().unwrap().keep();
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            format!("--user-data-dir={}", profile.display()),
        ];
        if let Some((width, height)) = size {
            args.push(format!("--window-size={width},{height}"));
            // One device pixel per CSS pixel, so a screenshot is exactly the screen's size.
            args.push("--force-device-scale-factor=1".to_owned());
        }
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": args,
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
        let browser = Browser {
            base: format!("{}/session/{id}", self.url),
            client,
        };
        browser
            .call(
                Method::POST,
                "/timeouts",
                Some(json!({ "script": SCRIPT_TIMEOUT_MS })),
            )
            .await;
        browser
    }
}

/// One browser window.
#[derive(Debug)]
pub struct Browser {
    base: String,
    client: reqwest::Client,
}

impl Browser {
    /// One WebDriver command on this session: its `value`, or a WebDriver error's `value`
    /// (`{"error": …, "message": …}`) as `Err`.
    pub async fn try_call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Value> {
        let request = self.client.request(method, format!("{}{path}", self.base));
        let request = match body {
            Some(b) => request.json(&b),
            None => request,
        };
        let response = request.send().await.unwrap();
        let ok = response.status().is_success();
        let answer: Value = response.json().await.unwrap();
        let value = answer["value"].clone();
        if ok { Ok(value) } else { Err(value) }
    }

    /// One WebDriver command on this session: its `value`; panics on a WebDriver error.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        self.try_call(method.clone(), path, body)
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "WebDriver {method} {path}: {} {}",
                    error["error"].as_str().unwrap_or_default(),
                    error["message"].as_str().unwrap_or_default()
                )
            })
    }

    pub async fn open(&self, url: &str) {
        self.call(Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    pub async fn source(&self) -> String {
        let v = self.call(Method::GET, "/source", None).await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// The element matching `css` if it is on the page now.
    pub async fn find(&self, css: &str) -> Option<String> {
        let found = self
            .try_call(
                Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await
            .ok()?;
        found[ELEMENT].as_str().map(str::to_owned)
    }

    /// The element matching `css`, once it is on the page.
    pub async fn element(&self, css: &str) -> String {
        eventually(&format!("element {css}"), || self.find(css)).await
    }

    /// Whether an element matches `css` now (no waiting).
    pub async fn exists(&self, css: &str) -> bool {
        self.find(css).await.is_some()
    }

    /// Clicks the element matching `css` once it is on the page.
    pub async fn click(&self, css: &str) {
        let element = self.element(css).await;
        self.call(
            Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// The rendered text of the element matching `css`, once it is on the page.
    pub async fn text_of(&self, css: &str) -> String {
        let element = self.element(css).await;
        let text = self
            .call(Method::GET, &format!("/element/{element}/text"), None)
            .await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// Types `text` into the element matching `css` (focusing it first), once it is on the
    /// page. `text` may hold [`keys`] such as [`keys::ENTER`].
    pub async fn send_keys(&self, css: &str, text: &str) {
        let element = self.element(css).await;
        self.call(
            Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// Presses and releases each character of `typed` in turn, as a keyboard would, into
    /// whatever has the focus: the page's body when nothing does (a keyboard-wedge scanner
    /// types this way). `typed` may hold [`keys`] such as [`keys::ENTER`].
    pub async fn press_keys(&self, typed: &str) {
        let actions: Vec<Value> = typed
            .chars()
            .flat_map(|key| {
                let key = key.to_string();
                [
                    json!({ "type": "keyDown", "value": key }),
                    json!({ "type": "keyUp", "value": key }),
                ]
            })
            .collect();
        self.call(
            Method::POST,
            "/actions",
            Some(json!({ "actions": [
                { "type": "key", "id": "keyboard", "actions": actions }
            ]})),
        )
        .await;
        self.call(Method::DELETE, "/actions", None).await;
    }

    /// Runs `script` as the body of a function in the page, with `args` as its `arguments`,
    /// and returns what it returns.
    pub async fn execute(&self, script: &str, args: &[Value]) -> Value {
        self.call(
            Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// Like [`Browser::execute`], for a script that finishes later: it gets a callback as its
    /// last argument (`arguments[arguments.length - 1]`) and calls it with its result, within
    /// 30 s.
    pub async fn execute_async(&self, script: &str, args: &[Value]) -> Value {
        self.call(
            Method::POST,
            "/execute/async",
            Some(json!({ "script": script, "args": args })),
        )
        .await
    }

    /// The page's viewport: `innerWidth` × `innerHeight`, in CSS pixels.
    pub async fn viewport(&self) -> (i64, i64) {
        let size = self
            .execute("return [window.innerWidth, window.innerHeight];", &[])
            .await;
        (size[0].as_i64().unwrap(), size[1].as_i64().unwrap())
    }

    /// Resizes the window so that the page's viewport is `width` × `height`: sets the window's
    /// rect, measures the viewport, and grows the window by any difference (browser chrome).
    pub async fn set_window_size(&self, width: u32, height: u32) {
        let (width, height) = (i64::from(width), i64::from(height));
        let mut outer = (width, height);
        for _ in 0..3 {
            self.call(
                Method::POST,
                "/window/rect",
                Some(json!({ "width": outer.0, "height": outer.1 })),
            )
            .await;
            let inner = self.viewport().await;
            if inner == (width, height) {
                return;
            }
            outer = (outer.0 + width - inner.0, outer.1 + height - inner.1);
        }
        let inner = self.viewport().await;
        assert_eq!(
            inner,
            (width, height),
            "the viewport cannot be made {width}×{height}"
        );
    }

    /// Saves a PNG of the viewport to `path`, creating its folder.
    pub async fn screenshot(&self, path: &Path) {
        let encoded = self.call(Method::GET, "/screenshot", None).await;
        let png = base64_decode(encoded.as_str().expect("a screenshot is base64 text"));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    /// Runs axe-core on the page, checking the rules tagged with any of `rule_tags` (such as
    /// "wcag2aa"), and returns its results: `violations`, `incomplete` (to be checked by a
    /// person), `passes` and `inapplicable`, each a list of rules with the `nodes` they
    /// concern.
    pub async fn axe(&self, rule_tags: &[&str]) -> Value {
        let loaded = self.execute("return typeof window.axe;", &[]).await;
        if loaded != "object" {
            let source = axe_source();
            let loaded = self
                .execute(&format!("{source}\n;return typeof window.axe;"), &[])
                .await;
            assert_eq!(loaded, "object", "axe-core did not load into the page");
        }
        let answer = self
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { runOnly: { type: 'tag', values: arguments[0] } })
                    .then(results => done({ results }))
                    .catch(error => done({ error: String(error && error.stack || error) }));",
                &[json!(rule_tags)],
            )
            .await;
        if let Some(error) = answer.get("error") {
            panic!("axe-core failed: {}", error.as_str().unwrap_or_default());
        }
        answer["results"].clone()
    }

    /// Panics, listing them, if axe-core finds any WCAG 2.0 or 2.1 level A or AA violation on
    /// the page; `what` names the page (or its state) in the message.
    pub async fn assert_no_axe_violations(&self, what: &str) {
        let results = self
            .axe(&["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"])
            .await;
        let violations = results["violations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if violations.is_empty() {
            return;
        }
        let mut report = format!(
            "axe-core found {} accessibility violation(s) in {what}:",
            violations.len()
        );
        for violation in &violations {
            let nodes = violation["nodes"].as_array().cloned().unwrap_or_default();
            report.push_str(&format!(
                "\n- {} ({}): {} [{} element(s)] {}",
                violation["id"].as_str().unwrap_or("?"),
                violation["impact"].as_str().unwrap_or("?"),
                violation["help"].as_str().unwrap_or("?"),
                nodes.len(),
                violation["helpUrl"].as_str().unwrap_or_default(),
            ));
            for node in nodes.iter().take(3) {
                let html: String = node["html"]
                    .as_str()
                    .unwrap_or_default()
                    .chars()
                    .take(160)
                    .collect();
                report.push_str(&format!("\n    at {}: {html}", node["target"]));
            }
        }
        panic!("{report}");
    }

    /// Waits until the page's DOM contains `text`, and returns that DOM.
    pub async fn shows(&self, text: &str) -> String {
        eventually(&format!("page showing {text:?}"), || async {
            let source = self.source().await;
            source.contains(text).then_some(source)
        })
        .await
    }

    pub async fn close(self) {
        self.call(Method::DELETE, "", None).await;
    }
}

/// axe.min.js: from `URNA_AXE_JS` if set, else target/axe-core/ (`scripts/fetch-axe`).
fn axe_source() -> String {
    let path = std::env::var_os("URNA_AXE_JS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/axe-core/axe.min.js"),
        PathBuf::from,
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read axe-core from {}: {e}; run scripts/fetch-axe (scripts/test does)",
            path.display()
        )
    })
}

/// Standard base64 (WebDriver's screenshots), padding and line breaks ignored.
fn base64_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0_u32, 0_u32);
    for c in text.bytes() {
        let sextet = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\n' | b'\r' => continue,
            _ => panic!("not base64: byte {c:#04x}"),
        };
        acc = (acc << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
