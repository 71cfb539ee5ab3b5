//! `urna demo` as README's first command runs it: a real process that prints its pages, takes a
//! deposit, stops cleanly on SIGTERM, and keeps its data for the next run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{eventually, post};

/// Three consecutive free ports on loopback.
fn free_ports() -> u16 {
    for attempt in 0..50u16 {
        let base = 20_000 + (std::process::id() as u16 % 20_000) + attempt * 97;
        let free = (0..3).all(|i| std::net::TcpListener::bind(("127.0.0.1", base + i)).is_ok());
        if free {
            return base;
        }
    }
    panic!("no three consecutive free ports");
}

/// Starts the demo and returns it with the page lines it printed.
fn start(data: &std::path::Path, port: u16) -> (Child, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_urna"))
        .args(["demo", "--port", &port.to_string(), "--data"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = Vec::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    // Six pages, then the two demo accounts of the registry.
    while lines.len() < 8 {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "demo ended early: {lines:?}"
        );
        lines.push(line.trim_end().to_owned());
    }
    // Keep reading in the background so the demo never blocks on a full pipe.
    std::thread::spawn(move || for _ in reader.lines() {});
    (child, lines)
}

fn stop(mut child: Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            assert!(exit.success(), "demo exits cleanly on SIGTERM: {exit}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "demo did not stop within 15 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn json(client: &reqwest::Client, url: &str) -> Option<serde_json::Value> {
    let response = client.get(url).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_prints_its_pages_takes_a_deposit_stops_cleanly_and_keeps_its_data() {
    let data = tempfile::tempdir().unwrap();
    let port = free_ports();
    let (child, lines) = start(data.path(), port);
    assert_eq!(
        lines[6..],
        [
            "registry admin (demo account only): admin / demo-admin",
            "registry clerk (demo account only): kancelaria / demo-kancelaria — Kancelaria ogólna",
        ]
    );
    for line in &lines[..6] {
        let (name, url) = line.split_once(": ").unwrap_or_else(|| panic!("{line}"));
        assert!(
            !name.is_empty() && url.starts_with("http://127.0.0.1:"),
            "{line}"
        );
    }
    let expect = [
        format!("registry clerks: http://127.0.0.1:{port}/"),
        format!("kiosk: http://127.0.0.1:{}/kiosk", port + 1),
        format!("kiosk control: http://127.0.0.1:{}/sim", port + 1),
        format!("mailroom: http://127.0.0.1:{}/mailroom", port + 2),
    ];
    for line in expect {
        assert!(lines.contains(&line), "{line} not in {lines:?}");
    }

    let client = reqwest::Client::new();
    let kiosk = format!("http://127.0.0.1:{}", port + 1);
    let registry = format!("http://127.0.0.1:{port}");
    assert_eq!(
        post(&client, &format!("{kiosk}/sim/button"), None).await,
        202
    );
    let intake = eventually("a deposit from the button", || async {
        let state = json(&client, &format!("{kiosk}/kiosk/state")).await?;
        state["intake"].as_str().map(str::to_owned)
    })
    .await;
    let url = format!("{registry}/api/intakes/{intake}");
    // The register is a signed-in clerk's: the demo's admin account, as printed.
    let (admin, _, password) = urna::demo::DEMO_CLERKS[0];
    let clerk = common::registry_clerk(&registry, admin, password).await;
    eventually("the deposit at the registry", || json(&clerk, &url)).await;
    stop(child);

    // A second run keeps the first run's data and continues its numbering.
    let (child, _) = start(data.path(), port);
    // The session lives in the register: it outlasts the restart.
    let view = eventually("the registry of the second run", || json(&clerk, &url)).await;
    assert_eq!(
        view["id"],
        intake.as_str(),
        "still in the register after a restart"
    );
    assert_eq!(
        post(&client, &format!("{kiosk}/sim/button"), None).await,
        202
    );
    let next = eventually("a deposit in the second run", || async {
        let state = json(&client, &format!("{kiosk}/kiosk/state")).await?;
        state["intake"]
            .as_str()
            .filter(|id| *id != intake)
            .map(str::to_owned)
    })
    .await;
    let number = |id: &str| id.parse::<records::IntakeId>().unwrap().number();
    assert_eq!(number(&next), number(&intake) + 1, "numbering continues");
    let labels: serde_json::Value = client
        .get(format!("{kiosk}/sim/labels"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        labels
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["intake"] == intake.as_str()),
        "the first run's printed labels are still listed"
    );
    stop(child);
}
