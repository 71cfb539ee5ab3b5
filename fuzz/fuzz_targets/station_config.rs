//! Any text offered as `station.toml` is accepted or refused with an error naming a key, without
//! a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use station::config::StationConfig;

fuzz_target!(|text: &str| {
    if let Err(e) = StationConfig::from_toml(text) {
        assert!(!e.key.is_empty());
    }
});
