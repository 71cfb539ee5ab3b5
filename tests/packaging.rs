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

/// systemd waits for READY=1 and kills a service that stops feeding the watchdog
/// (src/systemd.rs; tests/systemd_notify.rs runs the protocol itself).
#[test]
fn the_units_wait_for_readiness_and_watch_the_service() {
    for unit in [
        "systemd/urna-station.service",
        "systemd/urna-registry.service",
    ] {
        let text = packaged(unit);
        let lines: Vec<&str> = text.lines().collect();
        for want in ["Type=notify", "NotifyAccess=main", "Restart=always"] {
            assert!(lines.contains(&want), "{unit}: {want}");
        }
        let watchdog: u64 = lines
            .iter()
            .find_map(|l| l.strip_prefix("WatchdogSec="))
            .unwrap_or_else(|| panic!("{unit}: no WatchdogSec"))
            .parse()
            .unwrap();
        assert!((10..=120).contains(&watchdog), "{unit}: {watchdog}");
        // The notify socket is a Unix socket: the sandbox must let the service reach it.
        let families = lines
            .iter()
            .find_map(|l| l.strip_prefix("RestrictAddressFamilies="))
            .unwrap();
        assert!(families.split(' ').any(|f| f == "AF_UNIX"), "{unit}");
    }
}

/// Every file the Debian package takes from the repository (`[package.metadata.deb]` in
/// Cargo.toml) exists, so `cargo deb` cannot fail on a renamed file; scripts/package checks the
/// built package itself.
#[test]
fn the_package_metadata_names_files_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let deb = manifest
        .split("[package.metadata.deb]")
        .nth(1)
        .expect("Cargo.toml has [package.metadata.deb]");
    let mut sources = 0;
    for line in deb.lines() {
        let Some(source) = line
            .trim()
            .strip_prefix("[\"")
            .and_then(|rest| rest.split('"').next())
        else {
            continue;
        };
        if source.starts_with("target/") {
            continue;
        }
        sources += 1;
        match source.strip_suffix("/*") {
            Some(dir) => assert!(
                std::fs::read_dir(root.join(dir)).unwrap().next().is_some(),
                "{source}"
            ),
            None => assert!(root.join(source).is_file(), "{source}"),
        }
    }
    assert!(sources >= 5, "{sources} assets found");
    for unit in ["urna-station", "urna-registry"] {
        assert!(deb.contains(&format!("unit-name = \"{unit}\"")), "{unit}");
        assert!(
            root.join(format!("packaging/systemd/{unit}.service"))
                .is_file()
        );
    }
    for script in ["postinst", "postrm"] {
        let text = std::fs::read_to_string(root.join("packaging/debian").join(script)).unwrap();
        assert!(
            text.contains("#DEBHELPER#"),
            "{script}: cargo-deb puts the units' snippets there"
        );
    }
}

/// The wiring diagram and the pinout table show the pins the station uses when `station.toml`
/// has no `[gpio]` section: a changed default must change the drawing too.
#[test]
fn the_wiring_docs_show_the_default_pins() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let svg = std::fs::read_to_string(root.join("hw-docs/wiring.svg")).unwrap();
    let table = std::fs::read_to_string(root.join("hw-docs/wiring.md")).unwrap();
    assert!(
        svg.trim_end().ends_with("</svg>"),
        "wiring.svg is cut short"
    );
    let wiring = station::devices::gpio::GpioConfig::default();
    for (what, pin) in [
        ("door", wiring.door.pin),
        ("slot", wiring.slot.pin),
        ("button", wiring.button.pin),
        ("lamp", wiring.lamp.pin),
    ] {
        assert!(
            svg.contains(&format!("BCM {pin} ({what}")),
            "wiring.svg does not show the {what} on BCM {pin}"
        );
        assert!(
            table.lines().any(|l| l.starts_with('|')
                && l.contains(what)
                && l.contains(&format!("| {pin} |"))),
            "wiring.md's table does not give the {what} BCM {pin}"
        );
    }
}
