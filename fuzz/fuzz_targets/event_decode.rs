//! Any bytes offered as an event decode or are refused; a decoded event re-encodes to exactly
//! those bytes (one encoding per event).
#![no_main]

use libfuzzer_sys::fuzz_target;
use records::encoding::{decode, encode};

fuzz_target!(|bytes: &[u8]| {
    if let Ok(event) = decode(bytes) {
        assert_eq!(encode(&event), bytes);
    }
});
