//! The files a package installs stay true to the code: the example configs parse and check, and
//! the systemd units start commands that exist.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

fn packaged(path: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("packaging")
            .join(path),
    )
    .unwrap()
}

#[test]
fn the_example_configs_are_accepted() {
    let station = station::config::StationConfig::from_toml(&packaged("etc/station.toml")).unwrap();
    assert!(
        !station.simulation,
        "the shipped station drives real devices"
    );
    assert_eq!(station.listen.to_string(), "127.0.0.1:8081");
    let registry = registry::ServerConfig::from_toml(&packaged("etc/registry.toml")).unwrap();
    assert_eq!(
        registry.data_dir,
        Path::new("/var/lib/urna-registry"),
        "the registry's unit makes exactly this state directory"
    );
}

#[test]
fn the_units_start_commands_that_exist() {
    for (unit, config) in [
        ("systemd/urna-station.service", "/etc/urna/station.toml"),
        ("systemd/urna-registry.service", "/etc/urna/registry.toml"),
    ] {
        let text = packaged(unit);
        let exec = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart=/usr/bin/urna "))
            .unwrap_or_else(|| panic!("{unit} has no ExecStart of urna"));
        let mut args: Vec<&str> = exec.split_whitespace().collect();
        assert_eq!(args.last(), Some(&config), "{unit}");
        // The same command, asked for its help instead of run.
        args.truncate(args.len() - 2);
        args.push("--help");
        let out = Command::new(env!("CARGO_BIN_EXE_urna"))
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{unit}: urna {args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("--config"));
    }
}

/// The reference is generated from the config types; this keeps the committed copy the same.
/// After changing a config type: `URNA_WRITE_DOCS=1 cargo test -p urna --test packaging`.
#[test]
fn the_config_reference_is_what_the_code_accepts() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("hw-docs/config-reference.md");
    let generated = urna::config_reference::document();
    if std::env::var_os("URNA_WRITE_DOCS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap();
    assert!(
        committed == generated,
        "hw-docs/config-reference.md differs from the code; regenerate it with \
         URNA_WRITE_DOCS=1 cargo test -p urna --test packaging"
    );
    // Every key a station's config may hold is in it.
    for key in [
        "`badge_prefix`",
        "`[printers.NAME]`",
        "`[gpio.lamp]`",
        "`materials`",
        "`listen`",
    ] {
        assert!(generated.contains(key), "{key}");
    }
}
