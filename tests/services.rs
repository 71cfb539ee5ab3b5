//! The production entry points as an office's admin uses them: `urna registry serve` and
//! `urna station` as processes from their config files, the station on real (not simulated)
//! device paths — its label printer a printer emulator on raw TCP 9100-style loopback — refused
//! until the admin approves its key with `urna registry approve`, then a letter taken in at the
//! mailroom, its label printed over TCP and its events at the registry; both stop on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use common::{eventually, get_json};
use station::devices::sim_printer::SimPrinter;

fn urna() -> Command {
    Command::new(env!("CARGO_BIN_EXE_urna"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run_ok(args: &[&str], stdin: Option<&str>) -> String {
    let mut child = urna()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "urna {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A service process, stopped with SIGTERM when the test ends (or fails).
struct Service(Child);

impl Service {
    fn start(args: &[&str], log: &Path) -> Service {
        let log = std::fs::File::create(log).unwrap();
        Service(
            urna()
                .args(args)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        )
    }

    /// Stops it as systemd does; it must end cleanly.
    fn stop(mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.0.id()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let status = self.0.wait().unwrap();
        assert!(status.success(), "{status}");
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_and_a_station_run_from_their_configs_and_the_station_is_approved() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (registry_port, station_port) = (free_port(), free_port());
    let registry_data = root.join("registry");
    std::fs::write(
        root.join("registry.toml"),
        format!(
            r#"listen = "127.0.0.1:{registry_port}"
data_dir = "{}"
default_department = "Kancelaria ogólna"

[[categories]]
id = "inne"
name_pl = "Inne sprawy"
name_en = "Other matters"
department = "Kancelaria ogólna"
"#,
            registry_data.display()
        ),
    )
    .unwrap();
    let registry = Service::start(
        &[
            "registry",
            "serve",
            "--config",
            root.join("registry.toml").to_str().unwrap(),
        ],
        &root.join("registry.log"),
    );

    // The counter's label printer: an ESC/POS printer emulator listening on loopback TCP.
    let printer = Arc::new(
        SimPrinter::new(root.join("printed"), || {
            station::printer::setup::simulated_default().emulator()
        })
        .unwrap(),
    );
    let printer_addr = printer.serve_tcp().unwrap();

    let station_data = root.join("mailroom");
    std::fs::create_dir_all(&station_data).unwrap();
    let key = station_data.join("station.key");
    let made = run_ok(&["keygen", "--out", key.to_str().unwrap()], None);
    let fingerprint = made
        .lines()
        .find_map(|l| l.strip_prefix("fingerprint: "))
        .unwrap()
        .to_owned();
    run_ok(
        &[
            "staff",
            "add",
            "--db",
            station_data.join("staff.db").to_str().unwrap(),
            "--badge",
            "1001",
            "--name",
            "Anna Kowalska",
            "--role",
            "staff",
        ],
        Some("1234\n"),
    );
    std::fs::write(
        root.join("station.toml"),
        format!(
            r#"station = "GWK2"
name = "Kancelaria — stanowisko 1"
place = "Urząd Miejski w Gliwicach"
role = "mailroom"
data_dir = "{data}"
key_file = "{key}"
registry_url = "http://127.0.0.1:{registry_port}"
status_url = "http://127.0.0.1:{registry_port}/status"
default_category = "inne"
hold_secs = 86400
drop_timeout_secs = 30
listen = "127.0.0.1:{station_port}"

[[categories]]
id = "inne"
name_pl = "Inne sprawy"
name_en = "Other matters"
department = "Kancelaria ogólna"

[printers.counter]
language = "escpos"
width_dots = 384
connection = {{ kind = "tcp", host = "127.0.0.1", port = {printer_port} }}
"#,
            data = station_data.display(),
            key = key.display(),
            printer_port = printer_addr.port(),
        ),
    )
    .unwrap();
    let station = Service::start(
        &[
            "station",
            "--config",
            root.join("station.toml").to_str().unwrap(),
        ],
        &root.join("station.log"),
    );
    let client = reqwest::Client::new();
    let station_url = format!("http://127.0.0.1:{station_port}");
    let registry_url = format!("http://127.0.0.1:{registry_port}");

    // Not approved yet: the station runs, says why its pushes are refused, and names its key.
    let status = eventually("the station refused by the registry", || async {
        let status = client
            .get(format!("{station_url}/api/status"))
            .send()
            .await
            .ok()?
            .json::<serde_json::Value>()
            .await
            .ok()?;
        let error = status["sync"]["last_error"].as_str()?.to_owned();
        error.contains(&fingerprint).then_some(status)
    })
    .await;
    assert_eq!(status["role"], "mailroom");
    // No simulation: no control API.
    let sim = client
        .post(format!("{station_url}/sim/scan"))
        .send()
        .await
        .unwrap();
    assert_eq!(sim.status(), 404);

    run_ok(
        &[
            "registry",
            "approve",
            "--data",
            registry_data.to_str().unwrap(),
            "--fingerprint",
            &fingerprint,
        ],
        None,
    );

    // The office's clerks: the password on standard input, never on the command line.
    let data = registry_data.to_str().unwrap();
    let added = run_ok(
        &[
            "registry",
            "clerk",
            "add",
            "--data",
            data,
            "--user",
            "kancelaria",
            "--department",
            "Kancelaria ogólna",
        ],
        Some("tajne-haslo-123\n"),
    );
    assert!(added.contains("kancelaria"), "{added}");
    run_ok(
        &[
            "registry", "clerk", "add", "--data", data, "--user", "zastepca", "--admin",
        ],
        Some("inne-haslo-456\n"),
    );
    run_ok(
        &[
            "registry", "clerk", "disable", "--data", data, "--user", "zastepca",
        ],
        None,
    );
    let listed = run_ok(&["registry", "clerk", "list", "--data", data], None);
    assert!(
        listed.contains("kancelaria\tclerk\tKancelaria ogólna\n"),
        "{listed}"
    );
    assert!(
        listed.contains("zastepca\tadmin\t-\t(disabled)"),
        "{listed}"
    );
    let clerk = common::registry_clerk(&registry_url, "kancelaria", "tajne-haslo-123").await;

    // A letter by post at the counter: signed in by badge and PIN through the page's own
    // routes, the label printed over TCP.
    let form = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", v.replace(' ', "+")))
            .collect::<Vec<_>>()
            .join("&")
    };
    let send = |path: &str, body: String| {
        client
            .post(format!("{station_url}{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    assert_eq!(
        send("/mailroom/scan", form(&[("code", "URNA-STAFF:1001")]))
            .await
            .unwrap()
            .status(),
        202
    );
    eventually("the PIN asked for", || async {
        let state = get_json(&client, &format!("{station_url}/mailroom/state")).await;
        (state["staff"]["step"] == "awaiting_pin").then_some(())
    })
    .await;
    send("/mailroom/pin", form(&[("pin", "1234")]))
        .await
        .unwrap();
    eventually("signed in", || async {
        let state = get_json(&client, &format!("{station_url}/mailroom/state")).await;
        (state["staff"]["step"] == "signed_in").then_some(())
    })
    .await;
    send(
        "/mailroom/intake",
        form(&[("channel", "post"), ("category", "inne")]),
    )
    .await
    .unwrap();
    let intake = eventually("the intake recorded and its label printed", || async {
        let state = get_json(&client, &format!("{station_url}/mailroom/state")).await;
        let last = &state["last"];
        (last["ok"] == true && last["intake"].is_string())
            .then(|| last["intake"].as_str().unwrap().to_owned())
    })
    .await;
    // One page came out of the printer over TCP (the emulator cannot tell which label it
    // was; the station's log says so below).
    let printed = printer.printed();
    assert_eq!(printed.len(), 1, "{printed:?}");

    // Approved: the backlog and the intake reach the registry.
    let view = eventually("the intake at the registry", || async {
        let response = clerk
            .get(format!("{registry_url}/api/intakes/{intake}"))
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json::<serde_json::Value>().await.ok()
    })
    .await;
    assert_eq!(view["channel"], "post");
    let kinds: Vec<String> = view["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        kinds.iter().any(|k| k == "label_printed"),
        "the print is recorded: {kinds:?}"
    );

    station.stop();
    registry.stop();
}
