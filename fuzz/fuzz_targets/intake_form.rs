//! Whatever a browser sends as the mailroom's intake form is refused or accepted within every
//! limit, without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use station::config::StationConfig;
use station::mailroom::{IntakeForm, validate_intake};

const CONFIG: &str = r#"
station = "GWK2"
name = "Kancelaria"
place = "Urząd"
role = "mailroom"
data_dir = "/var/lib/urna"
key_file = "/var/lib/urna/station.key"
registry_url = "http://127.0.0.1:8080"
status_url = "http://127.0.0.1:8080/status"
default_category = "inne"
hold_secs = 86400
drop_timeout_secs = 30
simulation = true

[[categories]]
id = "inne"
name_pl = "Inne sprawy"
name_en = "Other matters"
department = "Kancelaria ogólna"
"#;

fuzz_target!(|fields: (String, String, String, String, String, String, String)| {
    let Ok(config) = StationConfig::from_toml(CONFIG) else {
        return;
    };
    let (channel, category, material, sender, reference, attachments, received) = fields;
    let form = IntakeForm {
        channel,
        category,
        material,
        sender,
        reference,
        attachments,
        received,
    };
    let now = records::Timestamp {
        unix_ms: 1_795_338_000_000,
        trusted: true,
    };
    if let Ok(valid) = validate_intake(&form, &config, now) {
        assert!(valid.received_at.unix_ms <= now.unix_ms);
        assert!(valid.attachments.is_none_or(|n| n <= station::mailroom::MAX_ATTACHMENTS));
    }
});
