//! Notifications out: webhooks retried across a receiver that refuses, fails and hangs, then
//! recovers; the queue surviving a restart; e-mail through a real SMTP server on loopback.
//! Everything over real sockets on 127.0.0.1 and a real SQLite file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::Sim;
use hmac::{Hmac, KeyInit, Mac};
use records::{IntakeId, Payload, Text};
use registry::config::{
    DepartmentNotifications, NotificationsConfig, RetryConfig, SmtpConfig, SmtpTls, WebhookConfig,
};
use registry::{Registry, RegistryConfig};
use serde_json::Value;
use sha2::Sha256;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

const TAXES: &str = "Wydział Podatków i Opłat";
const SECRET: &str = "s3cret-shared-with-the-department";

// ---------------------------------------------------------------------------------------------
// The registry, served with a [notifications] config.

struct Served {
    url: String,
    registry: Registry,
    /// Signed in as the admin: the deliveries are the admin's to see.
    admin: common::Clerk,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Served {
    async fn start(db: &Path, config: RegistryConfig) -> Served {
        let registry = Registry::open(db, config).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(registry::serve(listener, registry.clone(), async move {
            let _ = stopped.await;
        }));
        // A registry started again over the same register has its admin already.
        if !registry
            .clerks()
            .await
            .unwrap()
            .iter()
            .any(|c| c.username == common::ADMIN)
        {
            registry
                .add_clerk(
                    common::ADMIN,
                    common::PASSWORD.to_owned().into(),
                    registry::ClerkRole::Admin,
                )
                .await
                .unwrap();
        }
        let admin = common::sign_in(&url, common::ADMIN, common::PASSWORD).await;
        Served {
            url,
            registry,
            admin,
            stop,
            task,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("registry did not stop")
            .unwrap()
            .unwrap();
    }

    async fn json(&self, path: &str) -> Value {
        let (status, json) = self.admin.get_json(path).await;
        assert_eq!(status, 200, "{path}: {json}");
        json
    }

    async fn text(&self, path: &str) -> String {
        let (status, text) = self.admin.get_text(path).await;
        assert_eq!(status, 200, "{path}");
        text
    }

    /// Waits until `check` holds for the deliveries list (newest first), or fails after 8 s.
    async fn wait_deliveries(&self, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(8);
        loop {
            let list = self.json("/api/deliveries").await;
            let items = list["deliveries"].as_array().unwrap().clone();
            if check(&items) {
                return items;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {list:#}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn fast_retry() -> RetryConfig {
    RetryConfig {
        first_ms: 40,
        max_ms: 160,
        attempt_timeout_ms: 400,
        failing_after: 3,
    }
}

fn config_with(notifications: NotificationsConfig) -> RegistryConfig {
    let config = RegistryConfig {
        notifications,
        ..RegistryConfig::demo()
    };
    config.validate().unwrap();
    config
}

fn webhook_config(dir: &Path, url: &str) -> RegistryConfig {
    let secret_file = dir.join("webhook.secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    config_with(NotificationsConfig {
        departments: vec![DepartmentNotifications {
            department: TAXES.into(),
            webhooks: vec![WebhookConfig {
                url: url.into(),
                secret_file: Some(secret_file),
                secret: None,
            }],
            emails: vec![],
        }],
        smtp: None,
        retry: fast_retry(),
    })
}

fn mail_config(port: u16, to: &[&str]) -> RegistryConfig {
    mail_config_tls(port, to, SmtpTls::None, None)
}

fn mail_config_tls(
    port: u16,
    to: &[&str],
    tls: SmtpTls,
    ca_file: Option<PathBuf>,
) -> RegistryConfig {
    config_with(NotificationsConfig {
        departments: vec![DepartmentNotifications {
            department: TAXES.into(),
            webhooks: vec![],
            emails: to.iter().map(|s| (*s).to_owned()).collect(),
        }],
        smtp: Some(SmtpConfig {
            host: "127.0.0.1".into(),
            port: Some(port),
            tls,
            from: "Urna — Kancelaria <urna@um.example.pl>".into(),
            username: None,
            password_file: None,
            ca_file,
        }),
        retry: fast_retry(),
    })
}

/// Enrols an urn and pushes one deposit of `category` (with a reference, which no notice may
/// carry); returns its id.
async fn deposit(registry: &Registry, urn: &mut Sim, category: &str) -> IntakeId {
    if urn.seq == 0 {
        registry
            .enrol(urn.code, "Urna — wejście", urn.key.verifying_key())
            .await
            .unwrap();
        registry
            .approve(&records::fingerprint(&urn.key.verifying_key()), None)
            .await
            .unwrap();
    }
    let (id, event, _) = urn.deposit(category, Some("PRIVATE-REF-123"));
    registry.push(urn.code, vec![event]).await.unwrap();
    id
}

/// A port nothing listens on (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn db_count(db: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

// ---------------------------------------------------------------------------------------------
// A webhook receiver: an axum server that checks the HMAC itself.

const OK: u8 = 0;
const FAIL_500: u8 = 1;
const HANG: u8 = 2;

#[derive(Debug, Clone, Default)]
struct Hook {
    mode: Arc<AtomicU8>,
    /// (delivery header, body) of each request answered 200.
    accepted: Arc<Mutex<Vec<(String, Value)>>>,
    /// Requests whose signature did not verify.
    forged: Arc<Mutex<u32>>,
}

fn hmac_ok(headers: &HeaderMap, body: &[u8]) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(ts), Some(sig)) = (header("x-urna-timestamp"), header("x-urna-signature")) else {
        return false;
    };
    let Some(hex) = sig.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = data_encoding::HEXLOWER.decode(hex.as_bytes()) else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    if ts.parse::<i64>().map_or(true, |t| (now - t).abs() > 300) {
        return false;
    }
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

async fn receive(State(hook): State<Hook>, headers: HeaderMap, body: Bytes) -> StatusCode {
    match hook.mode.load(Ordering::SeqCst) {
        FAIL_500 => StatusCode::INTERNAL_SERVER_ERROR,
        HANG => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            StatusCode::SERVICE_UNAVAILABLE
        }
        _ => {
            if !hmac_ok(&headers, &body) {
                *hook.forged.lock().unwrap() += 1;
                return StatusCode::UNAUTHORIZED;
            }
            let delivery = headers
                .get("x-urna-delivery")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let json: Value = serde_json::from_slice(&body).unwrap();
            hook.accepted.lock().unwrap().push((delivery, json));
            StatusCode::OK
        }
    }
}

async fn start_hook(listener: TcpListener, hook: Hook) -> JoinHandle<()> {
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(hook);
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    })
}

fn attempts_of(items: &[Value]) -> u64 {
    items.first().map_or(0, |d| d["attempts"].as_u64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_is_retried_across_refusal_500_and_timeout_then_delivered_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let served = Served::start(&dir.path().join("r.db"), webhook_config(dir.path(), &url)).await;
    let mut urn = Sim::new("GW7K", 1);
    let id = deposit(&served.registry, &mut urn, "podatki").await;

    // Nobody listens: the connection is refused, again and again.
    let items = served
        .wait_deliveries("refused attempts", |d| attempts_of(d) >= 3)
        .await;
    assert_eq!(items.len(), 1);
    let first = &items[0];
    assert_eq!(first["intake"], id.to_string());
    assert_eq!(first["kind"], "webhook");
    assert!(first["delivered_ms"].is_null());
    assert!(
        first["last_error"].as_str().unwrap().contains("connect"),
        "{first}"
    );
    // Failing after 3: the admin sees it, in the API and on the page.
    assert_eq!(first["failing"], true);
    let failing = served.json("/api/deliveries?failing=true").await;
    assert_eq!(failing["deliveries"].as_array().unwrap().len(), 1);
    let page = served.text("/admin/deliveries").await;
    let failing_section = page.split("id=\"recent\"").next().unwrap();
    assert!(failing_section.contains(&id.to_string()), "{page}");
    assert!(failing_section.contains("could not connect"), "{page}");

    // The receiver comes up, but answers 500.
    let hook = Hook {
        mode: Arc::new(AtomicU8::new(FAIL_500)),
        ..Hook::default()
    };
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let _receiver = start_hook(listener, hook.clone()).await;
    served
        .wait_deliveries("an HTTP 500", |d| {
            d[0]["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("500"))
        })
        .await;

    // Then it hangs past the attempt's timeout.
    hook.mode.store(HANG, Ordering::SeqCst);
    served
        .wait_deliveries("a timeout", |d| {
            d[0]["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("timed out"))
        })
        .await;

    // It recovers: delivered once, signed, and then left alone.
    hook.mode.store(OK, Ordering::SeqCst);
    let items = served
        .wait_deliveries("the delivery", |d| !d[0]["delivered_ms"].is_null())
        .await;
    let delivery_id = items[0]["id"].as_i64().unwrap();
    assert_eq!(items[0]["failing"], false);
    assert!(items[0]["last_error"].is_null());
    tokio::time::sleep(Duration::from_millis(600)).await;
    let accepted = hook.accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), 1, "{accepted:?}");
    assert_eq!(*hook.forged.lock().unwrap(), 0);
    let (header, body) = &accepted[0];
    assert_eq!(header, &delivery_id.to_string());
    assert_eq!(body["event"], "new_intake");
    assert_eq!(body["intake"], id.to_string());
    assert_eq!(body["department"], TAXES);
    assert_eq!(body["status"], "deposited");
    assert_eq!(body["category"], "podatki");
    assert_eq!(body["channel"], "urn");
    assert!(body["received_at"].as_str().unwrap().ends_with('Z'));
    assert!(!body.to_string().contains("PRIVATE-REF-123"), "{body}");

    // Every attempt is in the log: refusals, 500s, a timeout, then the 200.
    let one = served.json(&format!("/api/deliveries/{delivery_id}")).await;
    let log = one["attempts"].as_array().unwrap();
    assert!(log.len() >= 6, "{one:#}");
    assert!(log[0]["status"].is_null() && log[0]["next_ms"].is_i64());
    assert!(log.iter().any(|a| a["status"] == 500));
    assert!(
        log.iter()
            .any(|a| a["error"].as_str().is_some_and(|e| e.contains("timed out")))
    );
    let last = log.last().unwrap();
    assert_eq!(last["status"], 200);
    assert!(last["error"].is_null() && last["next_ms"].is_null());
    // The waits stayed within the cap (plus the attempt itself and some scheduling slack);
    // doubling without a cap would be past 5 s by the eighth attempt.
    let gaps: Vec<i64> = log
        .windows(2)
        .map(|w| w[1]["at_ms"].as_i64().unwrap() - w[0]["at_ms"].as_i64().unwrap())
        .collect();
    assert!(
        gaps.iter().all(|g| *g >= 19 && *g <= 160 + 400 + 1500),
        "{gaps:?}"
    );
    assert_eq!(
        served.json("/api/deliveries?failing=true").await["deliveries"],
        serde_json::json!([])
    );

    // A bad query changes nothing and says why.
    assert_eq!(
        served.admin.get("/api/deliveries?limit=0").await.status(),
        400
    );
    assert_eq!(served.admin.get("/api/deliveries/abc").await.status(), 400);
    assert_eq!(
        served.admin.get("/api/deliveries/999999").await.status(),
        404
    );

    // Admins only: nobody signed in, or a department's clerk, is refused.
    let anonymous = reqwest::get(format!("{}/api/deliveries", served.url))
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    served
        .registry
        .add_clerk(
            "podatki",
            common::PASSWORD.to_owned().into(),
            registry::ClerkRole::Clerk {
                department: TAXES.into(),
            },
        )
        .await
        .unwrap();
    let clerk = common::sign_in(&served.url, "podatki", common::PASSWORD).await;
    for path in [
        "/api/deliveries".to_owned(),
        format!("/api/deliveries/{delivery_id}"),
        "/admin/deliveries".to_owned(),
    ] {
        assert_eq!(clerk.get(&path).await.status().as_u16(), 403, "{path}");
    }
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_and_forwarded_are_notified_and_other_departments_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let hook = Hook::default();
    let _receiver = start_hook(listener, hook.clone()).await;
    let served = Served::start(&dir.path().join("r.db"), webhook_config(dir.path(), &url)).await;
    let mut urn = Sim::new("GW7K", 1);
    let taxes = deposit(&served.registry, &mut urn, "podatki").await;
    // Another department's mail: no target configured for it, nothing is sent.
    deposit(&served.registry, &mut urn, "budownictwo").await;
    let released = urn.event(Payload::HoldReleased {
        intake: taxes,
        early: None,
    });
    let forwarded = urn.event(Payload::Forwarded {
        intake: taxes,
        department: Text::new(TAXES).unwrap(),
    });
    served
        .registry
        .push(urn.code, vec![released, forwarded])
        .await
        .unwrap();
    served
        .wait_deliveries("three deliveries", |d| {
            d.len() == 3 && d.iter().all(|x| !x["delivered_ms"].is_null())
        })
        .await;
    let mut events: Vec<String> = hook
        .accepted
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| {
            assert_eq!(b["intake"], taxes.to_string());
            b["event"].as_str().unwrap().to_owned()
        })
        .collect();
    events.sort();
    assert_eq!(events, ["forwarded", "new_intake", "released"]);
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_notifications_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let hook = Hook {
        mode: Arc::new(AtomicU8::new(FAIL_500)),
        ..Hook::default()
    };
    let _receiver = start_hook(listener, hook.clone()).await;
    let config = webhook_config(dir.path(), &url);

    // Stored while no worker runs (the registry is not served): only the journal has it.
    let mut urn = Sim::new("GW7K", 1);
    {
        let registry = Registry::open(&db, config.clone()).unwrap();
        deposit(&registry, &mut urn, "podatki").await;
    }
    assert_eq!(db_count(&db, "SELECT count(*) FROM outbox_events"), 1);
    assert_eq!(db_count(&db, "SELECT count(*) FROM deliveries"), 0);

    // Served: queued and tried, but the receiver fails; stopped before it recovers.
    let served = Served::start(&db, config.clone()).await;
    served
        .wait_deliveries("a failed attempt", |d| attempts_of(d) >= 1)
        .await;
    served.stop().await;
    assert_eq!(db_count(&db, "SELECT count(*) FROM outbox_events"), 0);
    assert_eq!(
        db_count(
            &db,
            "SELECT count(*) FROM deliveries WHERE delivered_ms IS NULL"
        ),
        1
    );
    assert!(hook.accepted.lock().unwrap().is_empty());

    // The receiver recovers while the registry is down; started again, the registry delivers.
    hook.mode.store(OK, Ordering::SeqCst);
    let served = Served::start(&db, config).await;
    served
        .wait_deliveries("the delivery", |d| !d[0]["delivered_ms"].is_null())
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(hook.accepted.lock().unwrap().len(), 1);
    assert_eq!(db_count(&db, "SELECT count(*) FROM deliveries"), 1);
    served.stop().await;
}

// ---------------------------------------------------------------------------------------------
// A small SMTP server (RFC 5321): EHLO/HELO, MAIL FROM, RCPT TO, DATA with dot-stuffing, RSET,
// NOOP, QUIT, and the order of commands enforced.

#[derive(Debug, Clone, Default)]
struct Received {
    from: String,
    /// Whether the message came over TLS.
    tls: bool,
    to: Vec<String>,
    data: String,
}

type Inbox = Arc<Mutex<Vec<Received>>>;

fn path_arg(line: &str, verb: &str) -> Option<String> {
    let rest = line.get(verb.len()..)?.trim_start();
    let start = rest.find('<')?;
    let end = rest.find('>')?;
    (start < end).then(|| rest[start + 1..end].to_owned())
}

/// Any byte stream the session can run over: plain TCP, or TLS over it.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// Where a session stands with TLS.
#[derive(Clone)]
enum Security {
    /// No TLS offered.
    Plain,
    /// STARTTLS offered (and required before MAIL).
    StartTls(TlsAcceptor),
    /// Inside TLS (after STARTTLS, or from the first byte).
    Secured,
}

fn smtp_session(
    stream: Box<dyn Io>,
    inbox: Inbox,
    security: Security,
    banner: bool,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>> + Send>> {
    Box::pin(async move {
        let (read, mut write) = tokio::io::split(stream);
        let mut read = BufReader::new(read);
        if banner {
            write.write_all(b"220 mx.test ESMTP ready\r\n").await?;
        }
        let mut current: Option<Received> = None;
        let mut greeted = false;
        let mut line = String::new();
        loop {
            line.clear();
            if read.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let cmd = line.trim_end_matches(['\r', '\n']);
            let verb = cmd.split(' ').next().unwrap_or("").to_ascii_uppercase();
            let reply: &[u8] = match verb.as_str() {
                "EHLO" => {
                    greeted = true;
                    match security {
                    Security::StartTls(_) => {
                        b"250-mx.test greets you\r\n250-8BITMIME\r\n250-STARTTLS\r\n250 SIZE 1000000\r\n"
                    }
                    _ => b"250-mx.test greets you\r\n250-8BITMIME\r\n250 SIZE 1000000\r\n",
                }
                }
                "STARTTLS" => match &security {
                    Security::StartTls(acceptor) => {
                        write.write_all(b"220 2.0.0 Ready to start TLS\r\n").await?;
                        let plain = read.into_inner().unsplit(write);
                        let secured = acceptor.accept(plain).await?;
                        // The client greets again over TLS; no new banner.
                        return smtp_session(Box::new(secured), inbox, Security::Secured, false)
                            .await;
                    }
                    _ => b"502 5.5.2 STARTTLS not offered here\r\n",
                },
                // A server that offers STARTTLS here insists on it: a client that skipped it fails.
                "MAIL" if matches!(security, Security::StartTls(_)) => {
                    b"530 5.7.0 Must issue a STARTTLS command first\r\n"
                }
                "HELO" => {
                    greeted = true;
                    b"250 mx.test\r\n"
                }
                "MAIL" if !greeted => b"503 5.5.1 EHLO first\r\n",
                "MAIL" => match path_arg(cmd, "MAIL FROM:") {
                    Some(from) if cmd.to_ascii_uppercase().starts_with("MAIL FROM:") => {
                        current = Some(Received {
                            from,
                            tls: matches!(security, Security::Secured),
                            ..Received::default()
                        });
                        b"250 2.1.0 OK\r\n"
                    }
                    _ => b"501 5.5.4 Syntax: MAIL FROM:<address>\r\n",
                },
                "RCPT" => match (&mut current, path_arg(cmd, "RCPT TO:")) {
                    (None, _) => b"503 5.5.1 MAIL first\r\n",
                    (Some(m), Some(to)) if cmd.to_ascii_uppercase().starts_with("RCPT TO:") => {
                        m.to.push(to);
                        b"250 2.1.5 OK\r\n"
                    }
                    _ => b"501 5.5.4 Syntax: RCPT TO:<address>\r\n",
                },
                "DATA" => match current.take() {
                    Some(mut m) if !m.to.is_empty() => {
                        write
                            .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                            .await?;
                        loop {
                            line.clear();
                            if read.read_line(&mut line).await? == 0 {
                                return Ok(());
                            }
                            if line == ".\r\n" {
                                break;
                            }
                            // Dot-stuffing: a leading dot was doubled by the client.
                            let unstuffed = line.strip_prefix('.').unwrap_or(&line);
                            m.data.push_str(unstuffed);
                        }
                        inbox.lock().unwrap().push(m);
                        b"250 2.0.0 queued\r\n"
                    }
                    other => {
                        current = other;
                        b"503 5.5.1 RCPT first\r\n"
                    }
                },
                "RSET" => {
                    current = None;
                    b"250 2.0.0 OK\r\n"
                }
                "NOOP" => b"250 2.0.0 OK\r\n",
                "QUIT" => {
                    write.write_all(b"221 2.0.0 bye\r\n").await?;
                    return Ok(());
                }
                _ => b"502 5.5.2 command not recognised\r\n",
            };
            write.write_all(reply).await?;
        }
    })
}

async fn start_smtp(listener: TcpListener, inbox: Inbox) -> JoinHandle<()> {
    start_smtp_with(listener, inbox, SmtpMode::Plain).await
}

/// How the test SMTP server takes connections.
#[derive(Clone)]
enum SmtpMode {
    Plain,
    StartTls(TlsAcceptor),
    ImplicitTls(TlsAcceptor),
}

async fn start_smtp_with(listener: TcpListener, inbox: Inbox, mode: SmtpMode) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let inbox = Arc::clone(&inbox);
            let mode = mode.clone();
            tokio::spawn(async move {
                match mode {
                    SmtpMode::Plain => {
                        smtp_session(Box::new(stream), inbox, Security::Plain, true).await
                    }
                    SmtpMode::StartTls(acceptor) => {
                        smtp_session(Box::new(stream), inbox, Security::StartTls(acceptor), true)
                            .await
                    }
                    SmtpMode::ImplicitTls(acceptor) => {
                        let secured = acceptor.accept(stream).await?;
                        smtp_session(Box::new(secured), inbox, Security::Secured, true).await
                    }
                }
            });
        }
    })
}

/// A CA of the test's own (written to `dir/ca.pem`) and a server certificate for 127.0.0.1 it
/// signed: what an office with its own CA has.
fn test_pki(dir: &Path) -> (TlsAcceptor, PathBuf) {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "urna test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone()], key.into())
    .unwrap();
    (TlsAcceptor::from(Arc::new(config)), ca_file)
}

/// The header's value (unfolded), with RFC 2047 encoded words decoded.
fn header(message: &str, name: &str) -> Option<String> {
    let head = message.split("\r\n\r\n").next()?;
    let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
    let value = unfolded.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
    })?;
    let mut out = String::new();
    for word in value.split(' ') {
        match word
            .strip_prefix("=?utf-8?b?")
            .or_else(|| word.strip_prefix("=?UTF-8?B?"))
            .and_then(|w| w.strip_suffix("?="))
        {
            Some(b64) => out.push_str(
                &String::from_utf8(data_encoding::BASE64.decode(b64.as_bytes()).unwrap()).unwrap(),
            ),
            None => {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(word);
            }
        }
    }
    Some(out)
}

/// The body, decoded from base64 or quoted-printable as its header says.
fn body_text(message: &str) -> String {
    let (_, body) = message.split_once("\r\n\r\n").unwrap();
    match header(message, "Content-Transfer-Encoding").as_deref() {
        Some("base64") => String::from_utf8(
            data_encoding::BASE64
                .decode(body.replace("\r\n", "").as_bytes())
                .unwrap(),
        )
        .unwrap(),
        Some("quoted-printable") => {
            let joined = body.replace("=\r\n", "");
            let bytes = joined.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'=' && i + 2 < bytes.len() {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 3;
                } else {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
            String::from_utf8(out).unwrap()
        }
        _ => body.to_owned(),
    }
}

fn check_mail(m: &Received, to: &str, id: IntakeId) {
    assert_eq!(m.from, "urna@um.example.pl");
    assert_eq!(m.to, [to]);
    assert!(header(&m.data, "To").unwrap().contains(to), "{}", m.data);
    let subject = header(&m.data, "Subject").unwrap();
    assert_eq!(
        subject,
        format!("Nowe pismo: {id} / New letter: {id}"),
        "{}",
        m.data
    );
    let text = body_text(&m.data);
    assert!(text.contains(&format!("Nowe pismo: {id}")), "{text}");
    assert!(text.contains(&format!("New letter: {id}")), "{text}");
    assert!(text.contains(&format!("Wydział: {TAXES}")), "{text}");
    // Polish first, English beside it.
    assert!(text.find("Wydział:").unwrap() < text.find("Department:").unwrap());
    assert!(!text.contains("PRIVATE-REF-123"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_reaches_every_address_through_a_real_smtp_server() {
    let dir = tempfile::tempdir().unwrap();
    let inbox: Inbox = Arc::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _smtp = start_smtp(listener, Arc::clone(&inbox)).await;
    let to = ["podatki@um.example.pl", "kierownik.podatki@um.example.pl"];
    let served = Served::start(&dir.path().join("r.db"), mail_config(port, &to)).await;
    let mut urn = Sim::new("GW7K", 1);
    let id = deposit(&served.registry, &mut urn, "podatki").await;
    served
        .wait_deliveries("two e-mails", |d| {
            d.len() == 2 && d.iter().all(|x| !x["delivered_ms"].is_null())
        })
        .await;
    let mut got = inbox.lock().unwrap().clone();
    got.sort_by(|a, b| a.to.cmp(&b.to));
    assert_eq!(got.len(), 2, "{got:?}");
    check_mail(&got[0], to[1], id);
    check_mail(&got[1], to[0], id);
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_is_retried_while_the_smtp_server_is_down_then_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let to = "podatki@um.example.pl";
    let served = Served::start(&dir.path().join("r.db"), mail_config(port, &[to])).await;
    let mut urn = Sim::new("GW7K", 1);
    let id = deposit(&served.registry, &mut urn, "podatki").await;
    let items = served
        .wait_deliveries("failed SMTP attempts", |d| attempts_of(d) >= 3)
        .await;
    assert_eq!(items[0]["kind"], "email");
    assert_eq!(items[0]["failing"], true);
    assert!(items[0]["last_error"].as_str().unwrap().contains("SMTP"));

    let inbox: Inbox = Arc::default();
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let _smtp = start_smtp(listener, Arc::clone(&inbox)).await;
    served
        .wait_deliveries("the e-mail", |d| !d[0]["delivered_ms"].is_null())
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = inbox.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    check_mail(&got[0], to, id);
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_goes_over_starttls_and_implicit_tls_checked_against_the_offices_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (acceptor, ca_file) = test_pki(dir.path());
    for (tls, mode) in [
        (SmtpTls::Starttls, SmtpMode::StartTls(acceptor.clone())),
        (SmtpTls::Tls, SmtpMode::ImplicitTls(acceptor.clone())),
    ] {
        let inbox: Inbox = Arc::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let _smtp = start_smtp_with(listener, Arc::clone(&inbox), mode).await;
        let to = "podatki@um.example.pl";
        let db = dir.path().join(format!("{tls:?}.db"));
        let config = mail_config_tls(port, &[to], tls, Some(ca_file.clone()));
        let served = Served::start(&db, config).await;
        let mut urn = Sim::new("GW7K", 1);
        let id = deposit(&served.registry, &mut urn, "podatki").await;
        served
            .wait_deliveries("the e-mail", |d| {
                d.len() == 1 && !d[0]["delivered_ms"].is_null()
            })
            .await;
        let got = inbox.lock().unwrap().clone();
        assert_eq!(got.len(), 1, "{tls:?}");
        assert!(got[0].tls, "{tls:?}: not over TLS");
        check_mail(&got[0], to, id);
        served.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_certificate_from_another_ca_is_refused_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let (acceptor, _) = test_pki(dir.path());
    // The registry trusts another CA than the one that signed the server's certificate.
    let other = tempfile::tempdir().unwrap();
    let (_, other_ca) = test_pki(other.path());
    let inbox: Inbox = Arc::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _smtp = start_smtp_with(
        listener,
        Arc::clone(&inbox),
        SmtpMode::ImplicitTls(acceptor),
    )
    .await;
    let config = mail_config_tls(
        port,
        &["podatki@um.example.pl"],
        SmtpTls::Tls,
        Some(other_ca),
    );
    let served = Served::start(&dir.path().join("r.db"), config).await;
    let mut urn = Sim::new("GW7K", 1);
    deposit(&served.registry, &mut urn, "podatki").await;
    let items = served
        .wait_deliveries("refused TLS attempts", |d| attempts_of(d) >= 2)
        .await;
    assert!(items[0]["delivered_ms"].is_null());
    let error = items[0]["last_error"].as_str().unwrap();
    assert!(error.contains("certificate"), "{error}");
    assert!(inbox.lock().unwrap().is_empty());
    served.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Configuration: refused with the key named, secrets never repeated.

#[tokio::test]
async fn a_missing_secret_file_stops_the_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = webhook_config(dir.path(), "http://127.0.0.1:9/hook");
    config.notifications.departments[0].webhooks[0].secret_file =
        Some(PathBuf::from("/nonexistent/urna-webhook.secret"));
    let registry = Registry::open(&dir.path().join("r.db"), config).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = registry::serve(listener, registry, async {})
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("notifications.departments[0].webhooks[0].secret_file"),
        "{text}"
    );

    // A short secret file is refused without being repeated.
    let short = dir.path().join("short.secret");
    std::fs::write(&short, "tiny-secret").unwrap();
    let mut config = webhook_config(dir.path(), "http://127.0.0.1:9/hook");
    config.notifications.departments[0].webhooks[0].secret_file = Some(short);
    let registry = Registry::open(&dir.path().join("r2.db"), config).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let text = registry::serve(listener, registry, async {})
        .await
        .unwrap_err()
        .to_string();
    assert!(text.contains("shorter than 16 bytes"), "{text}");
    assert!(!text.contains("tiny-secret"), "{text}");
}

#[test]
fn bad_notification_configs_are_refused_naming_the_key() {
    let base = "listen = \"127.0.0.1:8080\"\ndata_dir = \"/tmp/x\"\n\
                default_department = \"Kancelaria ogólna\"\n\
                [[categories]]\nid = \"podatki\"\nname_pl = \"Podatki\"\nname_en = \"Taxes\"\n\
                department = \"Wydział Podatków i Opłat\"\n";
    let cases = [
        (
            "[[notifications.departments]]\ndepartment = \"Nowhere\"\n",
            "notifications.departments[0].department",
        ),
        (
            "[[notifications.departments]]\ndepartment = \"Wydział Podatków i Opłat\"\n\
             emails = [\"not an address\"]\n[notifications.smtp]\nhost = \"localhost\"\n\
             tls = \"none\"\nfrom = \"urna@um.example.pl\"\n",
            "notifications.departments[0].emails[0]",
        ),
        (
            "[[notifications.departments]]\ndepartment = \"Wydział Podatków i Opłat\"\n\
             emails = [\"a@um.example.pl\"]\n",
            "notifications.smtp",
        ),
        (
            "[[notifications.departments]]\ndepartment = \"Wydział Podatków i Opłat\"\n\
             [[notifications.departments.webhooks]]\nurl = \"ftp://x/\"\nsecret_file = \"/s\"\n",
            "notifications.departments[0].webhooks[0].url",
        ),
        (
            "[[notifications.departments]]\ndepartment = \"Wydział Podatków i Opłat\"\n\
             [[notifications.departments.webhooks]]\nurl = \"https://x.example/h\"\n\
             secret = \"short\"\n",
            "notifications.departments[0].webhooks[0].secret",
        ),
        (
            "[[notifications.departments]]\ndepartment = \"Wydział Podatków i Opłat\"\n\
             [[notifications.departments.webhooks]]\nurl = \"https://x.example/h\"\n",
            "notifications.departments[0].webhooks[0]",
        ),
        (
            "[notifications.smtp]\nhost = \"smtp.example.org\"\ntls = \"none\"\n\
             from = \"urna@um.example.pl\"\n",
            "notifications.smtp.tls",
        ),
        (
            "[notifications.smtp]\nhost = \"smtp.example.org\"\ntls = \"starttls\"\n\
             from = \"urna@um.example.pl\"\nusername = \"urna\"\n",
            "notifications.smtp",
        ),
        (
            "[notifications.smtp]\nhost = \"localhost\"\ntls = \"none\"\n\
             from = \"urna@um.example.pl\"\nca_file = \"/etc/urna/ca.pem\"\n",
            "notifications.smtp.ca_file",
        ),
        (
            "[notifications.retry]\nfirst_ms = 0\n",
            "notifications.retry.first_ms",
        ),
        ("[notifications]\nwebhook = 1\n", "webhook"),
    ];
    for (extra, key) in cases {
        let err = registry::ServerConfig::from_toml(&format!("{base}{extra}")).unwrap_err();
        assert!(err.to_string().contains(key), "{extra}\n→ {err}");
    }
    // An inline secret never shows in Debug output (and so in no log).
    let ok = registry::ServerConfig::from_toml(&format!(
        "{base}[[notifications.departments]]\ndepartment = \"Wydział Podatków i Opłat\"\n\
         [[notifications.departments.webhooks]]\nurl = \"https://x.example/h\"\n\
         secret = \"{SECRET}\"\n"
    ))
    .unwrap();
    assert!(!format!("{ok:?}").contains(SECRET));
}

// ---------------------------------------------------------------------------------------------
// A measurement, not a check: how fast the worker drains a backlog to a loopback receiver.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement: cargo test -p registry --test notifications -- --ignored --nocapture"]
async fn throughput_to_a_loopback_receiver() {
    const N: usize = 1000;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let hook = Hook::default();
    let _receiver = start_hook(listener, hook.clone()).await;
    let config = webhook_config(dir.path(), &url);
    let mut urn = Sim::new("GW7K", 1);
    {
        let registry = Registry::open(&db, config.clone()).unwrap();
        deposit(&registry, &mut urn, "podatki").await;
        let started = Instant::now();
        for _ in 0..N / 100 {
            let events = (0..100)
                .map(|_| urn.deposit("podatki", None).1)
                .collect::<Vec<_>>();
            registry.push(urn.code, events).await.unwrap();
        }
        println!("ingest of {N} deposits: {:?}", started.elapsed());
    }
    let total = N + 1;
    // Served without the admin's sign-in (Argon2 would be measured too).
    let registry = Registry::open(&db, config).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let started = Instant::now();
    let task = tokio::spawn(registry::serve(listener, registry, async move {
        let _ = stopped.await;
    }));
    loop {
        if hook.accepted.lock().unwrap().len() >= total {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let took = started.elapsed();
    println!(
        "{total} webhook deliveries (queue, POST, attempt log) in {took:?}: {:.0}/s",
        total as f64 / took.as_secs_f64()
    );
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}
