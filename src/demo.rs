//! `urna demo`: a registry office, one urn kiosk and one mailroom station in one process, on
//! simulated hardware, with embedded defaults and all data under one directory.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use records::StationCode;
use registry::{Registry, RegistryConfig};
use station::StationKey;
use station::config::{Category, Material, Role, StationConfig};
use station::shutdown::{Shutdown, shutdown_pair};
use station::staff::{STAFF_FILE, StaffRole, StaffStore};
use tokio::net::TcpListener;

/// How long mail rests in the demo: short, so the whole journey fits in a few minutes.
pub const DEMO_HOLD_SECS: u32 = 120;

/// The demo's stations: code, directory, name, role.
const STATIONS: [(&str, &str, &str, Role); 2] = [
    ("GWU2", "kiosk", "Urna — wejście główne", Role::Urn),
    (
        "GWK2",
        "mailroom",
        "Kancelaria — stanowisko 1",
        Role::Mailroom,
    ),
];

/// A station's configuration for the demo, its categories taken from the registry's.
pub fn station_config(
    code: StationCode,
    name: &str,
    role: Role,
    dir: &Path,
    registry_port: u16,
    registry: &RegistryConfig,
) -> StationConfig {
    StationConfig {
        station: code,
        name: name.to_owned(),
        place: "Urząd Miejski w Gliwicach, ul. Zwycięstwa 21".to_owned(),
        role,
        data_dir: dir.to_owned(),
        key_file: dir.join("station.key"),
        registry_url: format!("http://127.0.0.1:{registry_port}"),
        status_url: format!("http://127.0.0.1:{registry_port}/status"),
        categories: registry
            .categories
            .iter()
            .map(|c| Category {
                id: c.id.clone(),
                name_pl: c.name_pl.clone(),
                name_en: c.name_en.clone(),
                name_uk: c.name_uk.clone(),
                department: c.department.clone(),
                hold_secs: None,
            })
            .collect(),
        // A parcel rests three times as long as a letter, as offices that held parcels for
        // 72 h against letters' 24 h did.
        materials: vec![Material {
            id: "parcel".to_owned(),
            name_pl: "Paczka".to_owned(),
            name_en: "Parcel".to_owned(),
            hold_secs: DEMO_HOLD_SECS * 3,
        }],
        default_category: "inne".to_owned(),
        hold_secs: DEMO_HOLD_SECS,
        drop_timeout_secs: 30,
        hold_clock_save_secs: 30,
        badge_prefix: "URNA-STAFF:".to_owned(),
        scanner: None,
        hid_scanner: None,
        vision: None,
        printers: Default::default(),
        labels: Default::default(),
        gpio: None,
        kiosk: Default::default(),
        staff: Default::default(),
        simulation: true,
        // The demo binds its own ports (see `start`); this one is not used.
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        simulated_clock_offset_secs: None,
        retention: Default::default(),
        metrics: Default::default(),
    }
}

fn load_or_make_key(path: &Path) -> Result<StationKey> {
    if path.exists() {
        Ok(StationKey::load(path)?)
    } else {
        Ok(StationKey::generate_to_file(path)?)
    }
}

async fn bind(port: u16) -> Result<TcpListener> {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await
        .with_context(|| format!("port {port} is not free; choose others with --port"))
}

/// Runs the demo until Ctrl-C or SIGTERM.
pub async fn run(data: PathBuf, port: u16) -> Result<()> {
    let (trigger, shutdown) = shutdown_pair();
    let running = start(&data, port, shutdown).await?;
    print_pages(port);
    wait_for_signal().await;
    eprintln!("urna demo: stopping …");
    trigger.trigger();
    running.stop().await
}

/// The demo mailroom's staff: badge number, name, role, PIN. For trying urna only: a real
/// office adds its staff with `urna staff add`.
pub const DEMO_STAFF: [(&str, &str, StaffRole, &str); 2] = [
    ("1001", "Anna Kowalska", StaffRole::Staff, "1234"),
    ("1002", "Piotr Nowak", StaffRole::Supervisor, "5678"),
];

/// The demo registry's clerk accounts: username, department (`None`: an admin, who sees every
/// department), password. For trying urna only: a real office adds its clerks with
/// `urna registry clerk add`, the password on standard input.
pub const DEMO_CLERKS: [(&str, Option<&str>, &str); 2] = [
    ("admin", None, "demo-admin"),
    ("kancelaria", Some("Kancelaria ogólna"), "demo-kancelaria"),
];

/// Gives the demo registry its clerk accounts, each unless it exists already (a second run keeps
/// the first run's accounts).
pub async fn seed_demo_clerks(registry: &Registry) -> Result<()> {
    let existing = registry.clerks().await?;
    for (username, department, password) in DEMO_CLERKS {
        if existing.iter().any(|c| c.username == username) {
            continue;
        }
        let role = match department {
            Some(d) => registry::ClerkRole::Clerk {
                department: d.to_owned(),
            },
            None => registry::ClerkRole::Admin,
        };
        registry
            .add_clerk(username, password.to_owned().into(), role)
            .await?;
    }
    Ok(())
}

/// Gives a station's data directory the demo's staff accounts, unless it has accounts already.
pub fn seed_demo_staff(dir: &Path) -> Result<()> {
    let store = StaffStore::open(&dir.join(STAFF_FILE))?;
    if store.is_empty()? {
        for (badge, name, role, pin) in DEMO_STAFF {
            store.add(badge, name, role, pin)?;
        }
    }
    Ok(())
}

/// The demo's servers, running.
#[derive(Debug)]
pub struct Running {
    tasks: tokio::task::JoinSet<Result<()>>,
}

impl Running {
    /// Waits for every server to finish after shutdown was triggered.
    pub async fn stop(mut self) -> Result<()> {
        let mut first_error = None;
        while let Some(joined) = self.tasks.join_next().await {
            if let Err(e) = joined.map_err(anyhow::Error::from).and_then(|r| r) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Starts the registry on `port` and the kiosk and mailroom on the next two ports.
pub async fn start(data: &Path, port: u16, shutdown: Shutdown) -> Result<Running> {
    let registry_dir = data.join("registry");
    std::fs::create_dir_all(&registry_dir)
        .with_context(|| format!("cannot create {}", registry_dir.display()))?;
    let registry_config = RegistryConfig::demo();
    let registry = Registry::open(&registry_dir.join("register.db"), registry_config.clone())?;
    seed_demo_clerks(&registry).await?;
    let registry_listener = bind(port).await?;
    let mut stations = Vec::new();
    for (i, (code, dir, name, role)) in STATIONS.into_iter().enumerate() {
        let code: StationCode = code.parse()?;
        let dir = data.join(dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let config = station_config(code, name, role, &dir, port, &registry_config);
        let key = load_or_make_key(&config.key_file)?;
        // The mailroom signs its staff in; the urn, the two staff who empty it.
        seed_demo_staff(&dir)?;
        // Enrolled and approved by the demo itself; a real office approves the fingerprint a
        // new station shows (`urna registry approve`).
        registry.enrol(code, name, key.public()).await?;
        registry.approve(&key.fingerprint(), Some(name)).await?;
        let listener = bind(port + 1 + i as u16).await?;
        stations.push((config, key, listener));
    }
    let mut tasks = tokio::task::JoinSet::new();
    let registry_shutdown = shutdown.clone();
    tasks.spawn(async move {
        registry::serve(registry_listener, registry, registry_shutdown.wait())
            .await
            .context("registry server")
    });
    for (config, key, listener) in stations {
        let shutdown = shutdown.clone();
        let code = config.station;
        tasks.spawn(async move {
            station::runtime::run(config, key, listener, shutdown)
                .await
                .with_context(|| format!("station {code}"))
        });
    }
    Ok(Running { tasks })
}

fn print_pages(port: u16) {
    let kiosk = port + 1;
    let mailroom = port + 2;
    println!("registry clerks: http://127.0.0.1:{port}/");
    println!("registry status page: http://127.0.0.1:{port}/status");
    println!("kiosk: http://127.0.0.1:{kiosk}/kiosk");
    println!("kiosk control: http://127.0.0.1:{kiosk}/sim");
    println!("mailroom: http://127.0.0.1:{mailroom}/mailroom");
    println!("mailroom control: http://127.0.0.1:{mailroom}/sim");
    for (username, department, password) in DEMO_CLERKS {
        match department {
            Some(d) => {
                println!("registry clerk (demo account only): {username} / {password} — {d}")
            }
            None => println!("registry admin (demo account only): {username} / {password}"),
        }
    }
    println!();
    println!("Try: open the kiosk and its control page side by side; press \"Przycisk / Button\"");
    println!("(or scan a form code, then pick a category); the label and receipt appear on the");
    println!(
        "control page; press \"Koperta w otworze / Envelope through the slot\". The deposit is"
    );
    println!("on the clerks' page at once. Paste the receipt's QR text (GET /sim/labels shows the");
    println!(
        "intake; the receipt payload is in the kiosk log) into the status page. At the mailroom,"
    );
    println!(
        "sign in first: type URNA-STAFF:1001 (staff, PIN 1234) or URNA-STAFF:1002 (supervisor,"
    );
    println!("PIN 5678) in the scan field (demo accounts only), then the PIN. Then");
    println!("type the intake id: collected and held for {DEMO_HOLD_SECS} s (a short demo hold);");
    println!("scan again after it ends to release, and once more to forward it. Ctrl-C stops.");
}

/// Waits for Ctrl-C or SIGTERM (systemd's stop).
pub async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
