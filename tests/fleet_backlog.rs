//! The fleet view's backlog, end to end: a real kiosk (simulated hardware) takes deposits while
//! the registry is down; the registry comes up, but the network between them still loses every
//! push, so only the station's report gets through and the admin sees the backlog (JSON, page,
//! `/metrics`); then the pushes get through and the backlog drains to 0, and stays 0 as the
//! station goes on.
//!
//! Between the station and the registry sits a small HTTP/1.1 link on loopback ([`Link`]), the
//! network's stand-in: it forwards each request on a connection of its own, and, as the test
//! says, refuses all connections (the registry unreachable) or answers pushes alone with 503.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use station::LogStore;
use station::config::Role;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Nothing gets through: connections are closed as soon as they come.
const DOWN: u8 = 0;
/// Everything gets through but pushes, which are answered 503.
const PUSHES_LOST: u8 = 1;
/// Everything gets through.
const UP: u8 = 2;

/// The network between the station and the registry.
struct Link {
    addr: SocketAddr,
    mode: Arc<AtomicU8>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Link {
    async fn start(upstream: SocketAddr) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(AtomicU8::new(DOWN));
        let shared = mode.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(carry(client, upstream, shared.clone()));
            }
        });
        Link { addr, mode, task }
    }

    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }
}

/// One request from the station: its head (with `connection: close` added, so the registry's
/// answer ends with the connection) and its body, by `Content-Length`.
async fn read_request(client: &mut TcpStream) -> Option<(String, String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?.to_owned();
    let mut length = 0usize;
    let mut kept = vec![request_line.clone()];
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "connection" => continue,
            _ => {}
        }
        kept.push(line.to_owned());
    }
    kept.push("connection: close".to_owned());
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((request_line, format!("{}\r\n\r\n", kept.join("\r\n")), body))
}

/// Serves one station connection: each request forwarded (or refused) as the mode says.
async fn carry(mut client: TcpStream, upstream: SocketAddr, mode: Arc<AtomicU8>) {
    loop {
        if mode.load(Ordering::SeqCst) == DOWN {
            return;
        }
        let Some((request_line, head, body)) = read_request(&mut client).await else {
            return;
        };
        let is_push = request_line.starts_with("POST ")
            && request_line
                .split(' ')
                .nth(1)
                .is_some_and(|p| p.ends_with("/events"));
        match mode.load(Ordering::SeqCst) {
            DOWN => return,
            PUSHES_LOST if is_push => {
                let answer = r#"{"error":"overloaded","message":"the network lost it"}"#;
                let response = format!(
                    "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\n\r\n{answer}",
                    answer.len()
                );
                if client.write_all(response.as_bytes()).await.is_err() {
                    return;
                }
            }
            _ => {
                let Ok(mut registry) = TcpStream::connect(upstream).await else {
                    return;
                };
                if registry.write_all(head.as_bytes()).await.is_err()
                    || registry.write_all(&body).await.is_err()
                {
                    return;
                }
                // The registry closes the connection after its answer (`connection: close`).
                let mut answer = Vec::new();
                if registry.read_to_end(&mut answer).await.is_err() {
                    return;
                }
                let _ = client.write_all(&answer).await;
                // The answer said the connection closes: so it does.
                return;
            }
        }
    }
}

fn station_tip(dir: &std::path::Path) -> u64 {
    let path = dir.join(KIOSK).join(station::runtime::LOG_FILE);
    LogStore::open_existing(&path)
        .ok()
        .and_then(|s| s.stored_tip().ok())
        .map_or(0, |t| t.seq)
}

/// Polls `probe` until it returns `Some`, for at most 60 s: the station's retries back off to
/// 30 s while the registry is unreachable.
async fn patiently<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn kiosk_step(client: &reqwest::Client, kiosk: &str, step: &str) {
    eventually(&format!("kiosk step {step}"), || async {
        let state = get_json(client, &format!("{kiosk}/kiosk/state")).await;
        (state["step"] == step).then_some(())
    })
    .await;
}

/// A resident's deposit: the button, then the envelope through the slot.
async fn deposit(client: &reqwest::Client, kiosk: &str) {
    assert_eq!(
        post(client, &format!("{kiosk}/sim/button"), None).await,
        202
    );
    kiosk_step(client, kiosk, "drop").await;
    assert_eq!(post(client, &format!("{kiosk}/sim/slot"), None).await, 202);
    kiosk_step(client, kiosk, "done").await;
}

/// The kiosk's entry in the registry's fleet view.
async fn kiosk_health(admin: &reqwest::Client, registry: &str) -> Value {
    let fleet = get_json(admin, &format!("{registry}/api/fleet")).await;
    fleet["stations"]
        .as_array()
        .unwrap_or_else(|| panic!("{fleet}"))
        .iter()
        .find(|s| s["code"] == KIOSK)
        .unwrap_or_else(|| panic!("{KIOSK} not in {fleet}"))
        .clone()
}

/// The kiosk's backlog gauge in the registry's `/metrics`.
async fn backlog_gauge(client: &reqwest::Client, registry: &str) -> Option<f64> {
    let text = client
        .get(format!("{registry}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("urna_registry_station_backlog_events{{station=\"{KIOSK}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .map(|v| v.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backlog_a_station_reports_shows_at_the_registry_and_drains_to_zero() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let registry_addr = prepare(dir);
    let registry_url = format!("http://{registry_addr}");
    let link = Link::start(registry_addr).await;

    // The registry is down and unreachable: the kiosk takes deposits and keeps them.
    let (kiosk_server, kiosk) = start_station(dir, KIOSK, Role::Urn, link.addr).await;
    let client = reqwest::Client::new();
    kiosk_step(&client, &kiosk, "idle").await;
    deposit(&client, &kiosk).await;
    deposit(&client, &kiosk).await;
    let logged = eventually("both deposits in the log", || async {
        let tip = station_tip(dir);
        (tip >= 4).then_some(tip)
    })
    .await;

    // The registry comes up; the network still loses every push, but the report gets through.
    let registry = start_registry(dir, registry_addr).await;
    let admin = registry_admin(&registry_url).await;
    link.set(PUSHES_LOST);
    let before = kiosk_health(&admin, &registry_url).await;
    assert!(before["backlog"].is_null(), "no report yet: {before}");
    let seen = patiently("the kiosk's report at the registry", || async {
        let s = kiosk_health(&admin, &registry_url).await;
        s["reported_log_tip"].as_u64().is_some().then_some(s)
    })
    .await;
    let reported = seen["reported_log_tip"].as_u64().unwrap();
    assert!(reported >= logged, "{seen}");
    assert_eq!(seen["acknowledged"], 0, "no push got through: {seen}");
    assert_eq!(seen["backlog"].as_u64(), Some(reported), "{seen}");
    assert_eq!(
        backlog_gauge(&client, &registry_url).await,
        Some(reported as f64)
    );
    let page = admin
        .get(format!("{registry_url}/admin/stations"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let row = page
        .split(&format!("<tr data-station=\"{KIOSK}\""))
        .nth(1)
        .unwrap_or_else(|| panic!("{page}"));
    assert!(
        row.contains(&format!("<span class=\"backlog\">{reported}</span>")),
        "{row}"
    );
    // The pushes lost are the sync's failures, and the station says so.
    let status = eventually("the lost pushes on the station's status", || async {
        let status = get_json(&client, &format!("{kiosk}/api/status")).await;
        status["sync"]["last_error"].is_string().then_some(status)
    })
    .await;
    assert_eq!(status["sync"]["acknowledged"], 0, "{status}");

    // The network heals: the pushes get through and the backlog drains.
    link.set(UP);
    let drained = patiently("the backlog drained", || async {
        let s = kiosk_health(&admin, &registry_url).await;
        (s["backlog"] == 0).then_some(s)
    })
    .await;
    assert!(
        drained["acknowledged"].as_u64().unwrap() >= reported,
        "{drained}"
    );
    assert_eq!(backlog_gauge(&client, &registry_url).await, Some(0.0));

    // Another deposit with everything up: pushed, reported once drained, still 0 behind.
    deposit(&client, &kiosk).await;
    let settled = patiently("the new tip reported, nothing behind", || async {
        let tip = station_tip(dir);
        let s = kiosk_health(&admin, &registry_url).await;
        (s["reported_log_tip"].as_u64() == Some(tip)
            && s["acknowledged"].as_u64() == Some(tip)
            && s["backlog"] == 0)
            .then_some(s)
    })
    .await;
    assert!(
        settled["reported_log_tip"].as_u64().unwrap() > reported,
        "{settled}"
    );
    assert!(
        settled["reported_ms"].as_i64().unwrap() > seen["reported_ms"].as_i64().unwrap(),
        "{settled}"
    );
    let status = get_json(&client, &format!("{kiosk}/api/status")).await;
    assert!(status["sync"]["last_error"].is_null(), "{status}");
    assert_eq!(status["sync"]["connected"], true, "{status}");

    kiosk_server.stop().await;
    registry.stop().await;
    drop(link);
}
