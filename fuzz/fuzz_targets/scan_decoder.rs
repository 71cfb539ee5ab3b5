//! Scanner bytes in arbitrary chunks: the decoder never panics, never holds more than its bound,
//! and feeding in chunks gives what feeding at once gives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use station::devices::scan_decoder::{DecoderConfig, ScanDecoder};

fuzz_target!(|input: (u8, bool, &[u8])| {
    let (split, aim_ids, bytes) = input;
    let config = DecoderConfig {
        aim_ids,
        max_len: 64,
    };
    let whole = ScanDecoder::new(config).decode_all(bytes);
    let mut chunked = ScanDecoder::new(config);
    let mut events = Vec::new();
    for chunk in bytes.chunks(usize::from(split.max(1))) {
        events.extend(chunked.decode_all(chunk));
        assert!(chunked.buffered() <= 64 + 3);
    }
    assert_eq!(whole, events);
});
