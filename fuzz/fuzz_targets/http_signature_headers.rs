//! Any value offered in a request's `Signature-Input`, `Signature` or `Content-Digest` header
//! parses or is refused, without a panic; parsed signature parameters print back to a value that
//! parses to the same parameters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use records::http_signature::{parse_content_digest, parse_signature, parse_signature_input};

fuzz_target!(|value: &str| {
    if let Ok(params) = parse_signature_input(value) {
        let printed = format!("urna={}", params.serialize());
        let again = parse_signature_input(&printed).expect("printed parameters parse");
        assert_eq!(again.serialize(), params.serialize());
    }
    let _ = parse_signature(value);
    let _ = parse_content_digest(value);
});
