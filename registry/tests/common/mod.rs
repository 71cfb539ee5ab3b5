//! Test helpers: simulated stations that sign real events, and a registry served on loopback.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use records::encoding;
use records::signing::sign_event;
use records::{
    Channel, Event, Hash, Intake, IntakeId, KeyId, Payload, ReceiptPayload, SignedEvent,
    SigningKey, StationCode, Text, Timestamp,
};
use registry::{Registry, RegistryConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// 2025-11-22 00:26:11 UTC, a plausible deposit time.
pub const T0_MS: i64 = 1_763_771_171_000;

/// A station that signs events the way the real one does.
#[derive(Debug, Clone)]
pub struct Sim {
    pub code: StationCode,
    pub key: SigningKey,
    pub seq: u64,
    pub tip: Hash,
    pub clock_ms: i64,
    pub next_intake: u64,
}

impl Sim {
    pub fn new(code: &str, key_byte: u8) -> Self {
        Sim {
            code: code.parse().unwrap(),
            key: SigningKey::from_bytes(&[key_byte; 32]),
            seq: 0,
            tip: Hash::GENESIS,
            clock_ms: T0_MS,
            next_intake: 1,
        }
    }

    /// Signs `payload` as the next event, 1 s after the last.
    pub fn event(&mut self, payload: Payload) -> SignedEvent {
        self.clock_ms += 1000;
        let event = Event {
            station: self.code,
            seq: self.seq + 1,
            recorded_at: Timestamp {
                unix_ms: self.clock_ms,
                trusted: true,
            },
            prev_hash: self.tip,
            payload,
        };
        let signed = sign(&self.key, &event);
        self.seq = event.seq;
        self.tip = Hash::link(&self.tip, &signed.canonical);
        signed
    }

    /// The event that would come next, without advancing (for forks).
    pub fn event_at(&self, seq: u64, prev: Hash, payload: Payload) -> SignedEvent {
        let event = Event {
            station: self.code,
            seq,
            recorded_at: Timestamp {
                unix_ms: self.clock_ms + 500,
                trusted: true,
            },
            prev_hash: prev,
            payload,
        };
        sign(&self.key, &event)
    }

    pub fn new_intake_id(&mut self) -> IntakeId {
        let id = IntakeId::new(self.code, self.next_intake).unwrap();
        self.next_intake += 1;
        id
    }

    /// A deposit at this station; returns the id and the receipt text.
    pub fn deposit(
        &mut self,
        category: &str,
        reference: Option<&str>,
    ) -> (IntakeId, SignedEvent, String) {
        let id = self.new_intake_id();
        let received_ms = self.clock_ms + 1000;
        let signed = self.event(Payload::Deposit(Intake {
            id,
            received_at: Timestamp {
                unix_ms: received_ms,
                trusted: true,
            },
            channel: Channel::Urn,
            category: Text::new(category).unwrap(),
            reference: reference.map(|r| Text::new(r).unwrap()),
            sender: None,
            attachments: None,
        }));
        let receipt = ReceiptPayload::sign(id, received_ms.div_euclid(1000), &self.key).to_string();
        (id, signed, receipt)
    }

    pub fn door(&mut self) -> SignedEvent {
        self.event(Payload::DoorOpened)
    }
}

pub fn sign(key: &SigningKey, event: &Event) -> SignedEvent {
    let canonical = encoding::encode(event);
    let signature = sign_event(key, &canonical);
    SignedEvent {
        seq: event.seq,
        canonical,
        key_id: KeyId::of(&key.verifying_key()),
        signature,
    }
}

pub fn text(s: &str) -> Text {
    Text::new(s).unwrap()
}

/// A registry served on 127.0.0.1 with its SQLite file in a temp dir.
pub struct Server {
    pub url: String,
    pub registry: Registry,
    pub db: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    /// The keys of the stations enrolled through [`Server::enrol`]: [`Server::push`] signs
    /// its requests with them, as the stations do.
    keys: Mutex<HashMap<String, SigningKey>>,
    /// Signed in as the admin ([`ADMIN`]), who sees every intake: what [`Server::get_json`]
    /// and [`Server::get_text`] read with.
    pub admin: Clerk,
}

/// The admin account every test server has.
pub const ADMIN: &str = "admin";
/// The password of every account the tests make.
pub const PASSWORD: &str = "correct horse battery";

/// A browser signed in to the registry: its session cookie goes with every request.
#[derive(Debug, Clone)]
pub struct Clerk {
    pub url: String,
    pub client: reqwest::Client,
    /// `urna_session=…`, as the browser sends it back.
    pub cookie: String,
}

impl Clerk {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.url))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = self.get(path).await;
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let resp = self.get(path).await;
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    pub async fn post(&self, path: &str) -> reqwest::Response {
        self.client
            .post(format!("{}{path}", self.url))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap()
    }
}

/// A client that follows no redirects, to see what the server answers itself.
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Posts the sign-in form as a browser would; the answer as it came.
pub async fn login(url: &str, username: &str, password: &str) -> reqwest::Response {
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    no_redirects()
        .post(format!("{url}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "username={}&password={}&next=%2F",
            enc(username),
            enc(password)
        ))
        .send()
        .await
        .unwrap()
}

/// The `name=value` of the session cookie a response sets, if it sets one.
pub fn session_cookie(resp: &reqwest::Response) -> Option<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("urna_session="))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

/// Signs in and returns the signed-in browser; panics if refused.
pub async fn sign_in(url: &str, username: &str, password: &str) -> Clerk {
    let resp = login(url, username, password).await;
    assert_eq!(resp.status().as_u16(), 303, "sign-in of {username} refused");
    Clerk {
        url: url.to_owned(),
        client: no_redirects(),
        cookie: session_cookie(&resp).expect("a session cookie"),
    }
}

impl Server {
    pub async fn start(dir: &Path) -> Server {
        Server::start_with(dir, RegistryConfig::demo()).await
    }

    /// [`Server::start`] with another configuration.
    pub async fn start_with(dir: &Path, config: RegistryConfig) -> Server {
        let db = dir.join("registry.sqlite");
        let registry = Registry::open(&db, config).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(registry::serve(listener, registry.clone(), async move {
            let _ = stopped.await;
        }));
        // A server started again over the same register has its admin already.
        if !registry
            .clerks()
            .await
            .unwrap()
            .iter()
            .any(|c| c.username == ADMIN)
        {
            registry
                .add_clerk(
                    ADMIN,
                    PASSWORD.to_owned().into(),
                    registry::ClerkRole::Admin,
                )
                .await
                .unwrap();
        }
        let admin = sign_in(&url, ADMIN, PASSWORD).await;
        Server {
            url,
            registry,
            db,
            stop: Some(stop),
            task: Some(task),
            keys: Mutex::new(HashMap::new()),
            admin,
        }
    }

    /// Adds a clerk of `department` and signs them in.
    pub async fn clerk(&self, username: &str, department: &str) -> Clerk {
        self.registry
            .add_clerk(
                username,
                PASSWORD.to_owned().into(),
                registry::ClerkRole::Clerk {
                    department: department.to_owned(),
                },
            )
            .await
            .unwrap();
        sign_in(&self.url, username, PASSWORD).await
    }

    /// Enrols the station and approves its key, as an admin would.
    pub async fn enrol(&self, sim: &Sim, name: &str) {
        self.registry
            .enrol(sim.code, name, sim.key.verifying_key())
            .await
            .unwrap();
        self.registry
            .approve(&records::fingerprint(&sim.key.verifying_key()), None)
            .await
            .unwrap();
        self.keys
            .lock()
            .unwrap()
            .insert(sim.code.to_string(), sim.key.clone());
    }

    /// Stops the server and waits until it has finished.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(std::time::Duration::from_secs(10), task)
                .await
                .expect("server did not shut down")
                .unwrap()
                .unwrap();
        }
    }

    /// Pushes as the station would: signed with its key when it was enrolled here, unsigned
    /// otherwise.
    pub async fn push(&self, code: &str, events: &[SignedEvent]) -> (u16, serde_json::Value) {
        let path = format!("/api/stations/{code}/events");
        let body = serde_json::to_vec(&records::api::PushRequest {
            events: events.to_vec(),
        })
        .unwrap();
        let key = self.keys.lock().unwrap().get(code).cloned();
        let request = reqwest::Client::new()
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json");
        let request = match key {
            Some(key) => signed(request, &key, "POST", &path, &body, now_secs(), true, None),
            None => request,
        };
        let resp = request.body(body).send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    /// Reads as the signed-in admin (the station routes ignore the cookie).
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        self.admin.get_json(path).await
    }

    /// Reads as the signed-in admin.
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        self.admin.get_text(path).await
    }

    /// Reads with no session and no signature.
    pub async fn anonymous_get(&self, path: &str) -> reqwest::Response {
        no_redirects()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
    }

    /// Checks `receipt` as a resident would, each call from an address of its own: tests that
    /// check many receipts are about the verdicts, not the rate limit, which has its own test.
    pub async fn verify(&self, receipt: &str) -> records::api::ReceiptVerdict {
        static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let resident = std::net::Ipv4Addr::from(0x0a00_0000 + n);
        let resp = reqwest::Client::new()
            .post(format!("{}/api/receipts/verify", self.url))
            .header("x-forwarded-for", resident.to_string())
            .header("content-type", "text/plain")
            .body(receipt.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        resp.json().await.unwrap()
    }

    /// Rows in a table, read straight from the file.
    pub fn count(&self, table: &str) -> i64 {
        count_rows(&self.db, table)
    }
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A nonce no other request of this test process uses.
pub fn fresh_nonce() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("test{:012x}{:08x}", n, std::process::id())
}

/// Adds the signature headers of a station request; `nonce` is a fresh one unless given.
#[allow(clippy::too_many_arguments)]
pub fn signed(
    request: reqwest::RequestBuilder,
    key: &SigningKey,
    method: &str,
    path: &str,
    body: &[u8],
    created: i64,
    clock_trusted: bool,
    nonce: Option<&str>,
) -> reqwest::RequestBuilder {
    let h = records::http_signature::sign_request(
        key,
        method,
        path,
        body,
        created,
        clock_trusted,
        nonce.map(str::to_owned).unwrap_or_else(fresh_nonce),
    );
    request
        .header("content-digest", h.content_digest)
        .header(records::http_signature::CLOCK_HEADER, h.clock)
        .header("signature-input", h.signature_input)
        .header("signature", h.signature)
        .header(records::http_signature::PUBLIC_KEY_HEADER, h.public_key)
}

pub fn count_rows(db: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}
