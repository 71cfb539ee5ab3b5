//! Outside input the station parses: scanner lines and `station.toml`. Garbage gets a clear
//! answer and never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use station::config::StationConfig;
use station::mailroom::intake_from_scan;
use station::workflow::{MAX_SCAN_CHARS, clean_scan};

const GOOD: &str = r#"
station = "GWU2"
name = "Urna — wejście główne"
place = "Urząd Miejski w Gliwicach, ul. Zwycięstwa 21"
role = "urn"
data_dir = "/var/lib/urna"
key_file = "/etc/urna/station.key"
registry_url = "http://registry.local:8080"
status_url = "https://bip.gliwice.example/status"
default_category = "inne"
hold_secs = 86400
drop_timeout_secs = 30

[[categories]]
id = "podatki"
name_pl = "Podatki i opłaty"
name_en = "Taxes and fees"
department = "Wydział Podatków i Opłat"
hold_secs = 259200

[[categories]]
id = "inne"
name_pl = "Inne sprawy"
name_en = "Other matters"
department = "Kancelaria ogólna"
"#;

#[test]
fn a_good_config_loads_and_answers_holds() {
    let config = StationConfig::from_toml(GOOD).unwrap();
    assert_eq!(config.station.as_str(), "GWU2");
    assert_eq!(config.hold_for("podatki"), 259_200);
    assert_eq!(config.hold_for("inne"), 86_400);
    assert_eq!(config.longest_hold(), 259_200);
}

#[test]
fn config_errors_name_their_key() {
    let cases = [
        (
            GOOD.replace("hold_secs = 86400", "hold_secs = 0"),
            "hold_secs",
        ),
        (
            GOOD.replace(
                r#"default_category = "inne""#,
                r#"default_category = "nope""#,
            ),
            "default_category",
        ),
        (
            GOOD.replace("drop_timeout_secs = 30", "drop_timeout_secs = 9999"),
            "drop_timeout_secs",
        ),
        (
            GOOD.replace(r#"id = "podatki""#, r#"id = "Podatki!""#),
            "categories[0].id",
        ),
        (
            GOOD.replace(r#"id = "podatki""#, r#"id = "inne""#),
            "categories[1].id",
        ),
        (
            GOOD.replace("hold_secs = 259200", "hold_secs = 99999999"),
            "categories[0].hold_secs",
        ),
        (
            GOOD.replace("http://registry.local:8080", "ftp://x"),
            "registry_url",
        ),
        (
            GOOD.replace(r#"station = "GWU2""#, r#"station = "GL0W""#),
            "(file)",
        ),
        (format!("{GOOD}\nsurprise = 1\n"), "(file)"),
    ];
    for (text, key) in cases {
        let err = StationConfig::from_toml(&text).unwrap_err();
        assert_eq!(err.key, key, "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("station config: {key}:")),
            "{err}"
        );
    }
    let unknown = StationConfig::from_toml(&format!("{GOOD}\nsurprise = 1\n")).unwrap_err();
    assert!(unknown.problem.contains("surprise"), "{unknown}");
}

#[test]
fn scanner_lines_are_trimmed_and_bounded() {
    assert_eq!(
        clean_scan("GKM.6220.12.2020\r\n").as_deref(),
        Some("GKM.6220.12.2020")
    );
    assert_eq!(clean_scan("  \r\n"), None);
    assert_eq!(clean_scan("a\u{1b}[31mred"), None);
    assert_eq!(clean_scan(&"x".repeat(MAX_SCAN_CHARS + 1)), None);
    assert!(clean_scan(&"x".repeat(MAX_SCAN_CHARS)).is_some());
}

#[test]
fn the_mailroom_reads_an_intake_from_a_label_or_a_receipt() {
    let id: records::IntakeId = records::IntakeId::new("GWU2".parse().unwrap(), 41).unwrap();
    assert_eq!(intake_from_scan(&format!("{id}\r\n")), Some(id));
    assert_eq!(intake_from_scan(&id.to_string().to_lowercase()), Some(id));
    let receipt = records::ReceiptPayload::sign(
        id,
        1_795_000_000,
        &records::SigningKey::from_bytes(&[7; 32]),
    );
    assert_eq!(intake_from_scan(&receipt.to_string()), Some(id));
    assert_eq!(intake_from_scan("GKM.6220.12.2020"), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Anything a scanner sends is either refused or becomes a short, clean line.
    #[test]
    fn any_scanner_line_is_refused_or_clean(line in any::<String>()) {
        if let Some(clean) = clean_scan(&line) {
            prop_assert!(clean.chars().count() <= MAX_SCAN_CHARS);
            prop_assert!(!clean.chars().any(char::is_control));
            prop_assert_eq!(clean.trim(), clean.as_str());
        }
        let _ = intake_from_scan(&line);
    }

    /// Any text as `station.toml` is a config or a clear error; never a panic.
    #[test]
    fn any_config_text_is_loaded_or_refused(text in any::<String>()) {
        if let Err(e) = StationConfig::from_toml(&text) {
            prop_assert!(!e.key.is_empty());
        }
    }

    /// A good config with one line damaged is refused or still valid; never a panic.
    #[test]
    fn a_damaged_config_is_loaded_or_refused(line in 0usize..30, junk in "[ -~]{0,20}") {
        let mut lines: Vec<String> = GOOD.lines().map(str::to_owned).collect();
        let at = line % lines.len();
        lines[at] = junk;
        if let Ok(config) = StationConfig::from_toml(&lines.join("\n")) {
            prop_assert!(config.validate().is_ok());
        }
    }
}
