//! Any scanned line is classified or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use station::scanned::{Scanned, classify};

fuzz_target!(|line: &str| {
    if let Ok(Scanned::Reference(r)) = classify(line, "URNA-STAFF:") {
        assert!(!r.as_str().chars().any(char::is_control));
    }
});
