//! Test helpers: simulated stations that sign real events, and a registry served on loopback.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

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
}

impl Server {
    pub async fn start(dir: &Path) -> Server {
        let db = dir.join("registry.sqlite");
        let registry = Registry::open(&db, RegistryConfig::demo()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(registry::serve(listener, registry.clone(), async move {
            let _ = stopped.await;
        }));
        Server {
            url,
            registry,
            db,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn enrol(&self, sim: &Sim, name: &str) {
        self.registry
            .enrol(sim.code, name, sim.key.verifying_key())
            .await
            .unwrap();
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

    pub async fn push(&self, code: &str, events: &[SignedEvent]) -> (u16, serde_json::Value) {
        let resp = reqwest::Client::new()
            .post(format!("{}/api/stations/{code}/events", self.url))
            .json(&records::api::PushRequest {
                events: events.to_vec(),
            })
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = reqwest::get(format!("{}{path}", self.url)).await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let resp = reqwest::get(format!("{}{path}", self.url)).await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    pub async fn verify(&self, receipt: &str) -> records::api::ReceiptVerdict {
        let resp = reqwest::Client::new()
            .post(format!("{}/api/receipts/verify", self.url))
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

pub fn count_rows(db: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}
