//! For tests that run `urna station` as its own process: a free port and the config of a
//! simulated urn kiosk whose registry is not there. A module of its own (`mod processes;`), so
//! that these tests do not pull in `common`'s in-process servers.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A simulated urn kiosk with one category (so the button goes straight to the drop) and no
/// registry: deposits are only logged, as during an outage.
pub fn kiosk_config(root: &Path, port: u16) -> PathBuf {
    let data = root.join("kiosk");
    std::fs::create_dir_all(&data).unwrap();
    let key = data.join("station.key");
    let out = Command::new(env!("CARGO_BIN_EXE_urna"))
        .args(["keygen", "--out", key.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let path = root.join("station.toml");
    std::fs::write(
        &path,
        format!(
            r#"station = "GWU2"
name = "Urna"
place = "Urząd"
role = "urn"
simulation = true
data_dir = "{data}"
key_file = "{key}"
registry_url = "http://127.0.0.1:{absent}"
status_url = "http://127.0.0.1:{absent}/status"
default_category = "inne"
hold_secs = 86400
drop_timeout_secs = 30
listen = "127.0.0.1:{port}"

[[categories]]
id = "inne"
name_pl = "Inne sprawy"
name_en = "Other matters"
department = "Kancelaria ogólna"
"#,
            data = data.display(),
            key = key.display(),
            absent = free_port(),
        ),
    )
    .unwrap();
    path
}
