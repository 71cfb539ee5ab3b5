//! Any text offered as a receipt parses or is refused; a parsed one prints back to a text that
//! parses to the same receipt.
#![no_main]

use libfuzzer_sys::fuzz_target;
use records::ReceiptPayload;

fuzz_target!(|text: &str| {
    if let Ok(receipt) = text.parse::<ReceiptPayload>() {
        let again: ReceiptPayload = receipt.to_string().parse().expect("printed receipt parses");
        assert_eq!(again, receipt);
    }
});
