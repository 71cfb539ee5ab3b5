//! Outside input the station parses: scanner lines and `station.toml`. Garbage gets a clear
//! answer and never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use station::config::StationConfig;
use station::scanned::{MAX_REFERENCE_CHARS, ScanRefused, Scanned, classify};
use station::workflow::MAX_SCAN_CHARS;

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

[printers.kiosk]
language = "escpos"
width_dots = 384
connection = { kind = "device", path = "/dev/usb/lp0" }
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

const BADGE: &str = "URNA-STAFF:";

#[test]
fn each_kind_of_code_is_told_apart() {
    let id = records::IntakeId::new("GWU2".parse().unwrap(), 41).unwrap();
    assert_eq!(
        classify(&format!("{id}\r\n"), BADGE),
        Ok(Scanned::Label(id))
    );
    assert_eq!(
        classify(&id.to_string().to_lowercase(), BADGE),
        Ok(Scanned::Label(id))
    );
    let receipt = records::ReceiptPayload::sign(
        id,
        1_795_000_000,
        &records::SigningKey::from_bytes(&[7; 32]),
    );
    assert_eq!(
        classify(&receipt.to_string(), BADGE),
        Ok(Scanned::Receipt(receipt.clone()))
    );
    assert_eq!(
        classify("URNA-STAFF:0042-A\n", BADGE),
        Ok(Scanned::Badge("0042-A".into()))
    );
    match classify("GKM.6220.12.2020\r\n", BADGE) {
        Ok(Scanned::Reference(r)) => assert_eq!(r.as_str(), "GKM.6220.12.2020"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn damaged_and_hostile_codes_get_a_clear_refusal() {
    let id = records::IntakeId::new("GWU2".parse().unwrap(), 41).unwrap();
    let mut misread = id.to_string();
    let last = misread.pop().unwrap();
    misread.push(if last == 'A' { 'B' } else { 'A' });
    assert!(matches!(
        classify(&misread, BADGE),
        Err(ScanRefused::DamagedLabel(_))
    ));
    let receipt = records::ReceiptPayload::sign(
        id,
        1_795_000_000,
        &records::SigningKey::from_bytes(&[7; 32]),
    )
    .to_string();
    assert!(matches!(
        classify(&receipt[..receipt.len() - 5], BADGE),
        Err(ScanRefused::DamagedReceipt(_))
    ));
    assert_eq!(
        classify("URNA-STAFF:", BADGE),
        Err(ScanRefused::DamagedBadge)
    );
    assert_eq!(
        classify("URNA-STAFF:<script>", BADGE),
        Err(ScanRefused::DamagedBadge)
    );
    assert_eq!(classify("  \r\n", BADGE), Err(ScanRefused::Empty));
    assert_eq!(
        classify("a\u{1b}[31mred", BADGE),
        Err(ScanRefused::ControlCharacters)
    );
    assert!(matches!(
        classify(&"x".repeat(MAX_SCAN_CHARS + 1), BADGE),
        Err(ScanRefused::TooLong { .. })
    ));
    assert!(matches!(
        classify(&"x".repeat(MAX_REFERENCE_CHARS + 1), BADGE),
        Err(ScanRefused::TooLong { .. })
    ));
    assert!(matches!(
        classify(&"x".repeat(MAX_REFERENCE_CHARS), BADGE),
        Ok(Scanned::Reference(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Anything a scanner sends is refused or understood; a reference is short and clean.
    #[test]
    fn any_scanner_line_is_refused_or_understood(line in any::<String>()) {
        if let Ok(Scanned::Reference(r)) = classify(&line, BADGE) {
            prop_assert!(r.as_str().chars().count() <= MAX_REFERENCE_CHARS);
            prop_assert!(!r.as_str().chars().any(char::is_control));
            prop_assert_eq!(r.as_str().trim(), r.as_str());
        }
    }

    /// Every label urna prints reads back as itself, however the scanner cased it.
    #[test]
    fn every_printed_label_reads_back(number in 1u64..=records::intake_id::MAX_INTAKE_NUMBER, lower: bool) {
        let id = records::IntakeId::new("GWU2".parse().unwrap(), number).unwrap();
        let printed = if lower { id.to_string().to_lowercase() } else { id.to_string() };
        prop_assert_eq!(classify(&printed, BADGE), Ok(Scanned::Label(id)));
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
