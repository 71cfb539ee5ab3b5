//! A fault-injecting HTTP/1.1 proxy on loopback, between a station's sync and a registry.
//!
//! It reads just enough HTTP to act per request (the request head and its `Content-Length`
//! body; the response head and its body, by `Content-Length`, chunked, or up to the close) and
//! does to each request what the schedule says: pass it; drop it; forward it and drop the
//! answer (the registry committed, the station never hears); forward it twice; delay it; reset
//! the connection (RST, by `SO_LINGER` 0) in the middle of the request or of the answer; or
//! hold the connection open and never answer (half-open). Every request goes to the registry on
//! a fresh connection, so stopping the registry never waits on the proxy.
//!
//! The schedule is the test's: one fault for every request, one for the requests to one kind of
//! path only, or a mix drawn from a seeded sequence (request k of the proxy gets draw k,
//! whatever the timing).
#![allow(dead_code)] // each test that includes it uses a part

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// What the proxy does to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// Forward it and pass the answer back.
    Pass,
    /// Read it, forward nothing, close the connection.
    DropRequest,
    /// Forward it, read the registry's whole answer, close the connection without passing it on.
    DropResponse,
    /// Forward it, then forward it again on a new connection; pass back the first answer, or
    /// the second (a replayed nonce, refused).
    Duplicate { answer_second: bool },
    /// Wait half of `ms` before forwarding and the other half before answering.
    Delay { ms: u16 },
    /// Reset the connection (RST) after the request's head, before its body is read.
    ResetMidRequest,
    /// Forward it, send half of the answer, then reset the connection (RST).
    ResetMidResponse,
    /// Read it and never answer, holding the connection open.
    HalfOpen,
}

impl Fault {
    /// Every kind of fault (not `Pass`), with the delay and duplicate variants the tests use.
    pub const ALL: [Fault; 9] = [
        Fault::DropRequest,
        Fault::DropResponse,
        Fault::Duplicate {
            answer_second: false,
        },
        Fault::Duplicate {
            answer_second: true,
        },
        Fault::Delay { ms: 600 },
        Fault::Delay { ms: 1500 },
        Fault::ResetMidRequest,
        Fault::ResetMidResponse,
        Fault::HalfOpen,
    ];

    /// A short name for reports.
    pub fn name(self) -> String {
        match self {
            Fault::Pass => "pass".into(),
            Fault::DropRequest => "drop-request".into(),
            Fault::DropResponse => "drop-response".into(),
            Fault::Duplicate {
                answer_second: false,
            } => "duplicate(first answer)".into(),
            Fault::Duplicate {
                answer_second: true,
            } => "duplicate(second answer)".into(),
            Fault::Delay { ms } => format!("delay({ms} ms)"),
            Fault::ResetMidRequest => "reset-mid-request".into(),
            Fault::ResetMidResponse => "reset-mid-response".into(),
            Fault::HalfOpen => "half-open".into(),
        }
    }
}

/// How the proxy picks each request's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The same for every request.
    Always(Fault),
    /// `percent` of the requests get a fault from [`Fault::ALL`], drawn from a sequence seeded
    /// with `seed`; the rest pass.
    Mixed { seed: u64, percent: u8 },
    /// Requests whose path ends with `suffix` (`"/events"`: the pushes) get `fault`; the rest
    /// pass.
    OnPath { suffix: &'static str, fault: Fault },
}

/// What the proxy did, per fault and method (`"GET"`, `"POST"`).
pub type Tally = BTreeMap<(Fault, String), u64>;

struct State {
    mode: Mode,
    rng: u64,
    upstream: SocketAddr,
    held: Vec<TcpStream>,
    tally: Tally,
}

impl State {
    fn next_fault(&mut self, method: &str, path: &str) -> Fault {
        let fault = match self.mode {
            Mode::Always(f) => f,
            Mode::OnPath { suffix, fault } if path.ends_with(suffix) => fault,
            Mode::OnPath { .. } => Fault::Pass,
            Mode::Mixed { percent, .. } => {
                let draw = splitmix(&mut self.rng);
                if draw % 100 < u64::from(percent) {
                    Fault::ALL[((draw >> 32) % Fault::ALL.len() as u64) as usize]
                } else {
                    Fault::Pass
                }
            }
        };
        // A half-open request is counted when its connection is held, in the same lock, so that
        // a test seeing the count sees the connection held.
        if fault != Fault::HalfOpen {
            self.count(fault, method);
        }
        fault
    }

    fn count(&mut self, fault: Fault, method: &str) {
        *self.tally.entry((fault, method.to_owned())).or_default() += 1;
    }
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The proxy; stops (closing every connection) when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    accept: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // The accept task owns the connection tasks: aborting it ends them all.
        self.accept.abort();
    }
}

impl FaultProxy {
    /// A proxy on 127.0.0.1 forwarding to `upstream`, passing everything.
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            mode: Mode::Always(Fault::Pass),
            rng: 0,
            upstream,
            held: Vec::new(),
            tally: Tally::new(),
        }));
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((client, _)) = accepted else { continue };
                        conns.spawn(serve_connection(client, shared.clone()));
                    }
                    // Reap finished connections so the set does not grow.
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        FaultProxy {
            addr,
            state,
            accept,
        }
    }

    /// `http://127.0.0.1:port`, for the station's client.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where it listens: the registry address to give a station.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where requests go from now on (a restarted registry listens elsewhere).
    pub fn set_upstream(&self, upstream: SocketAddr) {
        self.state.lock().unwrap().upstream = upstream;
    }

    /// Sets how faults are chosen; a mixed mode's sequence starts again from its seed.
    pub fn set_mode(&self, mode: Mode) {
        let mut state = self.state.lock().unwrap();
        if let Mode::Mixed { seed, .. } = mode {
            state.rng = seed;
        }
        state.mode = mode;
    }

    /// Passes everything from now on. With `release_held`, the half-open connections held so far
    /// are reset, as a returning network does when the station's next retransmission reaches a
    /// peer that forgot the connection; without it they stay open until the station gives up.
    pub fn heal(&self, release_held: bool) {
        let held = {
            let mut state = self.state.lock().unwrap();
            state.mode = Mode::Always(Fault::Pass);
            if release_held {
                std::mem::take(&mut state.held)
            } else {
                Vec::new()
            }
        };
        for conn in held {
            reset(conn);
        }
    }

    /// What was done so far.
    pub fn tally(&self) -> Tally {
        self.state.lock().unwrap().tally.clone()
    }

    /// How many requests got `fault` with `method`.
    pub fn count(&self, fault: Fault, method: &str) -> u64 {
        self.state
            .lock()
            .unwrap()
            .tally
            .get(&(fault, method.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Connections held open by [`Fault::HalfOpen`] right now.
    pub fn held(&self) -> usize {
        self.state.lock().unwrap().held.len()
    }
}

/// Closes with an RST rather than a FIN.
fn reset(conn: TcpStream) {
    let _ = conn.set_zero_linger();
    drop(conn);
}

/// One client connection: requests one after another (keep-alive), each met with its fault.
async fn serve_connection(mut client: TcpStream, state: Arc<Mutex<State>>) {
    let mut buf = Vec::new();
    loop {
        let Some(head_len) = read_head(&mut client, &mut buf).await else {
            return;
        };
        let head = String::from_utf8_lossy(&buf[..head_len]).into_owned();
        let mut request_line = head.split(' ');
        let method = request_line.next().unwrap_or("").to_owned();
        let path = request_line.next().unwrap_or("");
        let (fault, upstream) = {
            let mut s = state.lock().unwrap();
            (s.next_fault(&method, path), s.upstream)
        };
        if fault == Fault::ResetMidRequest {
            return reset(client);
        }
        if header(&head, "transfer-encoding").is_some() {
            // Stations send bodies with a length; anything else is not ours to parse.
            return reset(client);
        }
        let body_len: usize = header(&head, "content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if !fill(&mut client, &mut buf, head_len + body_len).await {
            return;
        }
        let request: Vec<u8> = buf.drain(..head_len + body_len).collect();
        let answer = match fault {
            Fault::Pass => forward(upstream, &request).await,
            Fault::DropRequest => return,
            // Reset above, before the body was read.
            Fault::ResetMidRequest => return reset(client),
            Fault::DropResponse => {
                let _ = forward(upstream, &request).await;
                return;
            }
            Fault::Duplicate { answer_second } => {
                let first = forward(upstream, &request).await;
                let second = forward(upstream, &request).await;
                if answer_second { second } else { first }
            }
            Fault::Delay { ms } => {
                let half = Duration::from_millis(u64::from(ms) / 2);
                tokio::time::sleep(half).await;
                let answer = forward(upstream, &request).await;
                tokio::time::sleep(half).await;
                answer
            }
            Fault::ResetMidResponse => {
                if let Some(answer) = forward(upstream, &request).await {
                    let _ = client.write_all(&answer[..answer.len() / 2]).await;
                    let _ = client.flush().await;
                }
                return reset(client);
            }
            Fault::HalfOpen => {
                let mut s = state.lock().unwrap();
                s.held.push(client);
                s.count(fault, &method);
                return;
            }
        };
        // The registry unreachable: the station sees the connection refused, as it would.
        let Some(answer) = answer else {
            return reset(client);
        };
        if client.write_all(&answer).await.is_err() {
            return;
        }
        let answer_head =
            String::from_utf8_lossy(&answer[..head_end(&answer).unwrap_or(0)]).to_ascii_lowercase();
        if header(&answer_head, "connection").is_some_and(|v| v.eq_ignore_ascii_case("close")) {
            return;
        }
    }
}

/// Sends `request` to the registry on a new connection; its whole answer, or `None` when it
/// could not be had (registry down, connection lost).
async fn forward(upstream: SocketAddr, request: &[u8]) -> Option<Vec<u8>> {
    let mut conn = TcpStream::connect(upstream).await.ok()?;
    conn.write_all(request).await.ok()?;
    let mut buf = Vec::new();
    let head_len = read_head(&mut conn, &mut buf).await?;
    let head = String::from_utf8_lossy(&buf[..head_len]).into_owned();
    let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
    if status < 200 || status == 204 || status == 304 {
        buf.truncate(head_len);
        return Some(buf);
    }
    if let Some(len) = header(&head, "content-length").and_then(|v| v.parse::<usize>().ok()) {
        if !fill(&mut conn, &mut buf, head_len + len).await {
            return None;
        }
        buf.truncate(head_len + len);
        return Some(buf);
    }
    if header(&head, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        // Chunks are passed through as they came; only their ends are found.
        let mut at = head_len;
        loop {
            let line_end = loop {
                if let Some(i) = find(&buf[at..], b"\r\n") {
                    break at + i;
                }
                if !more(&mut conn, &mut buf).await {
                    return None;
                }
            };
            let size_text = String::from_utf8_lossy(&buf[at..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            if size == 0 {
                // The last chunk, then (no trailers from our registry) the final CRLF.
                if !fill(&mut conn, &mut buf, line_end + 4).await {
                    return None;
                }
                buf.truncate(line_end + 4);
                return Some(buf);
            }
            at = line_end + 2 + size + 2;
            if !fill(&mut conn, &mut buf, at).await {
                return None;
            }
        }
    }
    // Neither: the body ends when the registry closes.
    while more(&mut conn, &mut buf).await {}
    Some(buf)
}

/// Reads until `buf` holds a whole head; its length, CRLFCRLF included.
async fn read_head(conn: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(end) = head_end(buf) {
            return Some(end);
        }
        if buf.len() > 64 * 1024 || !more(conn, buf).await {
            return None;
        }
    }
}

fn head_end(buf: &[u8]) -> Option<usize> {
    find(buf, b"\r\n\r\n").map(|i| i + 4)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads until `buf` holds at least `len` bytes; `false` when the peer went away first.
async fn fill(conn: &mut TcpStream, buf: &mut Vec<u8>, len: usize) -> bool {
    while buf.len() < len {
        if !more(conn, buf).await {
            return false;
        }
    }
    true
}

/// Reads what is there; `false` at the end or on an error.
async fn more(conn: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 16 * 1024];
    match conn.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

/// A header's value (names compared without case).
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}
