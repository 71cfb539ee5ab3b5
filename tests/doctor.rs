//! `urna doctor` on a real station configuration: every check passes against a running registry
//! that has enrolled the station and a scanner on a pseudo-terminal; a stopped registry, an
//! unplugged scanner or a key others can read each fail on their own line with what to do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use common::*;
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};

fn write_config(dir: &Path, registry: std::net::SocketAddr, scanner: &Path) -> std::path::PathBuf {
    let station_dir = dir.join(KIOSK);
    let text = format!(
        r#"
station = "{KIOSK}"
name = "Urna — wejście główne"
place = "Urząd Miejski"
role = "urn"
data_dir = "{data}"
key_file = "{key}"
registry_url = "http://{registry}"
status_url = "http://{registry}/status"
default_category = "inne"
hold_secs = 86400
drop_timeout_secs = 30
simulation = true

[scanner]
path = "{scanner}"

[[categories]]
id = "inne"
name_pl = "Inne sprawy"
name_en = "Other matters"
department = "Kancelaria ogólna"
"#,
        data = station_dir.display(),
        key = station_dir.join("station.key").display(),
        scanner = scanner.display(),
    );
    let path = dir.join("station.toml");
    std::fs::write(&path, text).unwrap();
    path
}

async fn doctor(config: &Path) -> Output {
    let config = config.to_owned();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_urna"))
            .args(["doctor", "--config"])
            .arg(config)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn line<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find(|l| l[5..].starts_with(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} line in:\n{out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_each_dependency_and_says_what_to_fix() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    let registry_addr = prepare(dir);
    let registry = start_registry(dir, registry_addr).await;

    let pair = nix::pty::openpty(None, None).unwrap();
    let mut termios = tcgetattr(&pair.slave).unwrap();
    cfmakeraw(&mut termios);
    tcsetattr(&pair.slave, SetArg::TCSANOW, &termios).unwrap();
    let slave = std::fs::read_link(format!("/proc/self/fd/{}", pair.slave.as_raw_fd())).unwrap();
    let link = dir.join("usb-scanner-if00");
    std::os::unix::fs::symlink(&slave, &link).unwrap();
    let config = write_config(dir, registry_addr, &link);

    let o = doctor(&config).await;
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for name in [
        "key",
        "custody log",
        "disk",
        "registry",
        "scanner",
        "gpio",
        "printer",
    ] {
        let l = line(&out, name);
        assert!(!l.starts_with("FAIL"), "{l}");
    }
    assert!(line(&out, "key").contains("fingerprint"), "{out}");
    assert!(line(&out, "registry").contains("enrolled"), "{out}");

    // The registry goes away, the scanner is unplugged, the key becomes readable by others.
    registry.stop().await;
    std::fs::remove_file(&link).unwrap();
    let key = dir.join(KIOSK).join("station.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = doctor(&config).await;
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(!o.status.success(), "{out}");
    assert!(
        line(&out, "registry").starts_with("FAIL")
            && line(&out, "registry").contains("unreachable"),
        "{out}"
    );
    assert!(
        line(&out, "scanner").starts_with("FAIL") && line(&out, "scanner").contains("plugged in"),
        "{out}"
    );
    assert!(
        line(&out, "key").starts_with("FAIL") && line(&out, "key").contains("chmod 600"),
        "{out}"
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("3 check(s) failed"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Runs the doctor and returns its report and its process id.
async fn doctor_with_pid(config: &Path) -> (String, u32) {
    let config = config.to_owned();
    tokio::task::spawn_blocking(move || {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_urna"))
            .args(["doctor", "--config"])
            .arg(config)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id();
        let o = child.wait_with_output().unwrap();
        (String::from_utf8_lossy(&o.stdout).into_owned(), pid)
    })
    .await
    .unwrap()
}

/// The simulated printers' folders a doctor process left behind.
fn scratch_left_by(pid: u32) -> Vec<std::path::PathBuf> {
    let prefix = format!("urna-doctor-printer-{pid}-");
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_simulation_the_doctor_asks_the_simulated_printer_in_its_language() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();
    // Neither registry nor scanner is there: only the printer lines matter here.
    let absent: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    let config = write_config(dir, absent, &dir.join("no-scanner"));

    // No [printers]: the station's own default, 58 mm ESC/POS, asked over its link.
    let (out, pid) = doctor_with_pid(&config).await;
    let l = line(&out, "printer");
    assert!(
        l.starts_with("ok ")
            && l.contains("simulated printer, escpos over tcp 127.0.0.1:")
            && l.ends_with(": ready"),
        "{out}"
    );
    assert_eq!(scratch_left_by(pid), Vec::<std::path::PathBuf>::new());

    // Printers named without a connection: each is simulated, and answers in its language.
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(
        r#"
[labels]
printer = "zebra"

[printers.zebra]
language = "zpl"

[printers.brother]
language = "brother_ql"
tape_mm = 62
"#,
    );
    std::fs::write(&config, text).unwrap();
    let (out, pid) = doctor_with_pid(&config).await;
    for (name, language) in [("zebra", "zpl"), ("brother", "brother_ql")] {
        let l = line(&out, &format!("printer {name}"));
        assert!(
            l.starts_with("ok ")
                && l.contains(&format!(
                    "simulated printer, {language} over tcp 127.0.0.1:"
                ))
                && l.ends_with(": ready"),
            "{out}"
        );
    }
    assert_eq!(scratch_left_by(pid), Vec::<std::path::PathBuf>::new());
}
