//! Any text offered as a key rotation statement parses or is refused; a parsed one prints back to
//! the same text, and verifying it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use records::rotation::{KeyRotation, parse_verified};

fuzz_target!(|text: &str| {
    if let Ok(rotation) = text.parse::<KeyRotation>() {
        assert_eq!(rotation.to_string(), text, "one statement has one text");
        let _ = rotation.verify();
    }
    let _ = parse_verified(text);
});
