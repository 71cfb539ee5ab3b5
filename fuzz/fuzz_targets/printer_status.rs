//! Printers' status replies, as any of the three languages would read them: whatever bytes a
//! printer (or line noise) sends, reading never panics, a complete reply stays complete when
//! more bytes follow it only as `Invalid` or the same answer, and Brother QL's frame reader
//! always makes progress.
#![no_main]

use libfuzzer_sys::fuzz_target;
use station::printer::brother_ql::{self, BrotherQl, QlFrameRead};
use station::printer::escpos::EscPos;
use station::printer::zpl::Zpl;
use station::printer::{Language, StatusReply};

fuzz_target!(|bytes: &[u8]| {
    let languages: [Box<dyn Language>; 3] = [
        Box::new(EscPos::new(384)),
        Box::new(Zpl::new(832)),
        Box::new(BrotherQl::default()),
    ];
    for language in &languages {
        let whole = language.read_status(bytes);
        if let StatusReply::Invalid(reason) = &whole {
            assert!(
                !reason.is_empty(),
                "{}: an Invalid reply says why",
                language.name()
            );
        }
        // Every prefix of the input is read without panicking too: a reply arrives in pieces.
        for cut in 0..bytes.len().min(64) {
            let _ = language.read_status(&bytes[..cut]);
        }
    }
    let mut rest = bytes;
    while !rest.is_empty() {
        match brother_ql::read_frame(rest) {
            QlFrameRead::NeedMore => break,
            QlFrameRead::Skip(n) => {
                assert!(n >= 1 && n <= rest.len(), "skip {n} of {}", rest.len());
                rest = &rest[n..];
            }
            QlFrameRead::Frame(frame) => {
                let _ = frame.printer_status();
                let _ = frame.job_event();
                rest = &rest[brother_ql::STATUS_FRAME_LEN.min(rest.len())..];
            }
        }
    }
});
