//! Shared helpers for the end-to-end tests: real servers on loopback, polling, HTTP.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use registry::{Registry, RegistryConfig};
use serde_json::Value;
use station::StationKey;
use station::config::Role;
use station::shutdown::{ShutdownTrigger, shutdown_pair};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub const KIOSK: &str = "GWU2";
pub const MAILROOM: &str = "GWK2";

pub struct Server {
    trigger: ShutdownTrigger,
    task: JoinHandle<()>,
}

impl Server {
    pub async fn stop(self) {
        self.trigger.trigger();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("server stops within 10 s")
            .unwrap();
    }
}

/// The admin account every test registry has, and its password.
pub const REGISTRY_ADMIN: (&str, &str) = ("admin", "correct horse battery");
/// A clerk of the taxes department every test registry has: username, password, department.
pub const REGISTRY_TAX_CLERK: (&str, &str, &str) = (
    "podatki",
    "correct horse battery",
    "Wydział Podatków i Opłat",
);

pub async fn start_registry(dir: &Path, addr: SocketAddr) -> Server {
    let registry = Registry::open(&dir.join("register.db"), RegistryConfig::demo()).unwrap();
    // A registry started again over the same register has its accounts already.
    if registry.clerks().await.unwrap().is_empty() {
        let (admin, password) = REGISTRY_ADMIN;
        registry
            .add_clerk(
                admin,
                password.to_owned().into(),
                registry::ClerkRole::Admin,
            )
            .await
            .unwrap();
        let (clerk, password, department) = REGISTRY_TAX_CLERK;
        let role = registry::ClerkRole::Clerk {
            department: department.to_owned(),
        };
        registry
            .add_clerk(clerk, password.to_owned().into(), role)
            .await
            .unwrap();
    }
    for (code, name) in [(KIOSK, "Urna"), (MAILROOM, "Kancelaria")] {
        let key = StationKey::load(&dir.join(code).join("station.key")).unwrap();
        registry
            .enrol(code.parse().unwrap(), name, key.public())
            .await
            .unwrap();
        registry.approve(&key.fingerprint(), None).await.unwrap();
    }
    let listener = TcpListener::bind(addr).await.unwrap();
    let (trigger, shutdown) = shutdown_pair();
    let task = tokio::spawn(async move {
        registry::serve(listener, registry, shutdown.wait())
            .await
            .unwrap()
    });
    Server { trigger, task }
}

pub async fn start_station(
    dir: &Path,
    code: &str,
    role: Role,
    registry: SocketAddr,
) -> (Server, String) {
    start_station_with(dir, code, role, registry, |_| {}).await
}

/// A station whose demo configuration `adjust` changes first.
pub async fn start_station_with(
    dir: &Path,
    code: &str,
    role: Role,
    registry: SocketAddr,
    adjust: impl FnOnce(&mut station::config::StationConfig),
) -> (Server, String) {
    let station_dir = dir.join(code);
    let mut config = urna::demo::station_config(
        code.parse().unwrap(),
        code,
        role,
        &station_dir,
        registry.port(),
        &RegistryConfig::demo(),
    );
    config.hold_secs = 2;
    config.drop_timeout_secs = 30;
    adjust(&mut config);
    let key = StationKey::load(&config.key_file).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (trigger, shutdown) = shutdown_pair();
    let task = tokio::spawn(async move {
        station::runtime::run(config, key, listener, shutdown)
            .await
            .unwrap()
    });
    (Server { trigger, task }, url)
}

/// Polls `probe` until it returns `Some`, for at most 15 s.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn post(client: &reqwest::Client, url: &str, body: Option<Value>) -> u16 {
    let request = client.post(url);
    let request = match body {
        Some(b) => request.json(&b),
        None => request,
    };
    request.send().await.unwrap().status().as_u16()
}

/// A client signed in to the registry at `registry` (e.g. `http://127.0.0.1:8080`): its session
/// cookie goes with every request, as a clerk's browser sends it. Waits for the registry to
/// listen.
pub async fn registry_clerk(registry: &str, username: &str, password: &str) -> reqwest::Client {
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let enc = |s: &str| {
        s.replace('%', "%25")
            .replace('&', "%26")
            .replace('+', "%2B")
            .replace(' ', "+")
    };
    let cookie = eventually(&format!("{username} signed in at the registry"), || async {
        let resp = no_redirects
            .post(format!("{registry}/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "username={}&password={}",
                enc(username),
                enc(password)
            ))
            .send()
            .await
            .ok()?;
        assert_ne!(resp.status().as_u16(), 401, "{username} refused");
        resp.headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("urna_session="))
            .map(|v| v.split(';').next().unwrap().to_owned())
    })
    .await;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::COOKIE, cookie.parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// The test registry's admin, signed in (see [`registry_clerk`]).
pub async fn registry_admin(registry: &str) -> reqwest::Client {
    registry_clerk(registry, REGISTRY_ADMIN.0, REGISTRY_ADMIN.1).await
}

pub async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// A serial scanner: a raw pseudo-terminal whose station side is reached through a
/// `/dev/serial/by-id`-style link in `dir`. Returns the scanner's end (write codes to it), the
/// link (the station's `[scanner] path`) and the station side, to hold open for the test.
pub fn pty_scanner(dir: &Path) -> (std::fs::File, std::path::PathBuf, std::os::fd::OwnedFd) {
    use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
    use std::os::fd::AsRawFd;
    let pair = nix::pty::openpty(None, None).unwrap();
    let mut termios = tcgetattr(&pair.slave).unwrap();
    cfmakeraw(&mut termios);
    tcsetattr(&pair.slave, SetArg::TCSANOW, &termios).unwrap();
    let slave = std::fs::read_link(format!("/proc/self/fd/{}", pair.slave.as_raw_fd())).unwrap();
    let link = dir.join("usb-Honeywell_Scanner-if00");
    std::os::unix::fs::symlink(&slave, &link).unwrap();
    (std::fs::File::from(pair.master), link, pair.slave)
}

/// A data directory with a key for each demo station, and a free loopback address for a registry.
pub fn prepare(dir: &Path) -> SocketAddr {
    for code in [KIOSK, MAILROOM] {
        std::fs::create_dir_all(dir.join(code)).unwrap();
        StationKey::generate_to_file(&dir.join(code).join("station.key")).unwrap();
    }
    for code in [KIOSK, MAILROOM] {
        urna::demo::seed_demo_staff(&dir.join(code)).unwrap();
    }
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap()
}

/// Signs a demo staff member in at the mailroom: the badge through the simulated scanner, then
/// the PIN as the page sends it.
pub async fn sign_in(client: &reqwest::Client, mailroom: &str, badge: &str, pin: &str) {
    let scanned = post(
        client,
        &format!("{mailroom}/sim/scan"),
        Some(serde_json::json!({ "code": format!("URNA-STAFF:{badge}") })),
    )
    .await;
    assert_eq!(scanned, 202);
    mailroom_staff_step(client, mailroom, "awaiting_pin").await;
    let typed = client
        .post(format!("{mailroom}/mailroom/pin"))
        .header("content-type", "application/x-www-form-urlencoded")
        // The test PINs are digits, which need no form encoding.
        .body(format!("pin={pin}"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(typed.as_u16(), 202);
    mailroom_staff_step(client, mailroom, "signed_in").await;
}

/// Waits for the mailroom's sign-in to reach `step`; returns the whole state.
pub async fn mailroom_staff_step(client: &reqwest::Client, mailroom: &str, step: &str) -> Value {
    eventually(&format!("mailroom sign-in step {step}"), || async {
        let state = get_json(client, &format!("{mailroom}/mailroom/state")).await;
        (state["staff"]["step"] == step).then_some(state)
    })
    .await
}
