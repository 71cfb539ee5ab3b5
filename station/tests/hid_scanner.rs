#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The keyboard-wedge scanner: recorded evdev event sequences (in `evtest`'s format, see
//! `data/hid/make_recordings.py`) go through the same reader task the station runs, over a
//! [`KeySource`] that plays them back; and typed text round-trips through the US keymap.
//!
//! A uinput virtual keyboard would also exercise the evdev binding, but this machine has no
//! `/dev/uinput`; `the_evdev_binding_reads_a_uinput_keyboard` runs where it exists.

use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::time::Duration;

use proptest::prelude::*;
use station::devices::Input;
use station::devices::hid_scanner::{
    HidScannerConfig, HidScannerStats, KeySource, OpenKeySource, run_with,
};
use station::devices::keyboard_wedge::{KeyEvent, WedgeDecoded, WedgeDecoder};
use station::devices::scan_decoder::{Decoded, DecoderConfig};
use tokio::sync::{mpsc, oneshot};

/// The key events of an evtest recording (other event types and SYN lines are left out, as the
/// evdev source does).
fn recording(name: &str) -> Vec<KeyEvent> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/hid")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .filter(|l| l.contains("type 1 (EV_KEY)"))
        .map(|l| {
            let field = |key: &str| -> i64 {
                let at = l.find(key).unwrap() + key.len();
                let rest = &l[at..];
                let end = rest
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(rest.len());
                rest[..end].parse().unwrap()
            };
            KeyEvent {
                code: field("code ") as u16,
                value: field("value ") as i32,
            }
        })
        .collect()
}

/// Plays recordings back as if each were one plug-in of the scanner: when one ends, the device
/// "goes away" (the error evdev gives for an unplugged device), and the next open plays the next.
struct Recordings {
    queue: VecDeque<Vec<KeyEvent>>,
    opened: mpsc::UnboundedSender<()>,
}

struct Playback(std::vec::IntoIter<KeyEvent>);

impl KeySource for Playback {
    async fn next_key(&mut self) -> io::Result<KeyEvent> {
        match self.0.next() {
            Some(event) => Ok(event),
            // ENODEV is what reading an unplugged evdev device returns.
            None => Err(io::Error::from_raw_os_error(19)),
        }
    }
}

impl OpenKeySource for Recordings {
    type Source = Playback;
    fn open(&mut self, _: &HidScannerConfig) -> io::Result<Playback> {
        let events = self.queue.pop_front().ok_or(io::ErrorKind::NotFound)?;
        let _ = self.opened.send(());
        Ok(Playback(events.into_iter()))
    }
}

fn config() -> HidScannerConfig {
    HidScannerConfig {
        aim_ids: true,
        reconnect_min_ms: 5,
        reconnect_max_ms: 20,
        ..HidScannerConfig::new("/dev/input/by-id/usb-test-scanner-event-kbd")
    }
}

/// Runs the reader over these plug-ins until `expected` inputs arrived, then stops it.
async fn read(plugs: &[&[&str]], expected: usize) -> (Vec<Input>, HidScannerStats) {
    let queue = plugs
        .iter()
        .map(|names| names.iter().flat_map(|n| recording(n)).collect())
        .collect();
    let (opened, _opens) = mpsc::unbounded_channel();
    let (inputs_tx, mut inputs_rx) = mpsc::channel(16);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(run_with(
        config(),
        Recordings { queue, opened },
        inputs_tx,
        stop_rx,
    ));
    let mut inputs = Vec::new();
    while inputs.len() < expected {
        let next = tokio::time::timeout(Duration::from_secs(5), inputs_rx.recv()).await;
        inputs.push(next.expect("input in time").expect("reader alive"));
    }
    stop_tx.send(()).unwrap();
    let stats = task.await.unwrap().unwrap();
    (inputs, stats)
}

fn scanned(text: &str) -> Input {
    Input::Scanned(text.to_owned())
}

#[tokio::test]
async fn a_receipt_typed_with_shift_and_colons_reads_exactly() {
    let (inputs, stats) = read(&[&["receipt.evtest"]], 1).await;
    assert_eq!(
        inputs,
        [scanned(
            "URNA1:GWU2-2223-X:1763769600:0A1B2C3D:MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43UOV3HO6DZPI"
        )]
    );
    assert_eq!(stats.opened, 1);
}

#[tokio::test]
async fn aim_identifiers_keypad_digits_and_caps_lock() {
    let (inputs, _) = read(
        &[&["aim-reference.evtest", "keypad.evtest", "caps-lock.evtest"]],
        3,
    )
    .await;
    assert_eq!(
        inputs,
        [
            scanned("GKM.6220.15.2026"),
            scanned("40512"),
            scanned("GWU2-2223-X"),
        ]
    );
}

#[tokio::test]
async fn a_code_with_a_letter_no_us_key_types_is_dropped_whole_and_the_next_reads() {
    let (inputs, stats) = read(&[&["alt-numpad.evtest"]], 1).await;
    assert_eq!(inputs, [scanned("GWU2-2223-X")]);
    assert_eq!(stats.unmapped_codes, 1);
    assert_eq!(stats.decoder.codes, 1);
}

#[tokio::test]
async fn an_unplug_mid_code_drops_the_half_code_and_a_replug_reads_again() {
    let (inputs, stats) = read(&[&["unplugged-mid-code.evtest"], &["receipt.evtest"]], 3).await;
    assert_eq!(inputs[0], Input::ScannerConnected(false));
    assert_eq!(inputs[1], Input::ScannerConnected(true));
    assert!(matches!(&inputs[2], Input::Scanned(t) if t.starts_with("URNA1:GWU2-2223-X:")));
    assert_eq!(stats.opened, 2);
    // The second recording ends too, so the reader may have seen a second unplug by the time
    // it stops.
    assert!((1..=2).contains(&stats.gone), "{stats:?}");
    assert_eq!(stats.decoder.incomplete, 1, "the half code was counted");
}

#[tokio::test]
async fn a_missing_device_is_reported_once_and_retried() {
    let (inputs, stats) = read(&[], 1).await;
    assert_eq!(inputs, [Input::ScannerConnected(false)]);
    assert!(stats.open_failures >= 1);
}

#[test]
fn a_bad_config_names_its_key() {
    let mut c = config();
    c.max_len = 0;
    assert_eq!(c.validate().unwrap_err().key, "hid_scanner.max_len");
    let mut c = config();
    c.reconnect_max_ms = 1;
    assert_eq!(
        c.validate().unwrap_err().key,
        "hid_scanner.reconnect_max_ms"
    );
}

/// How a US-layout scanner types `c`, written independently of the keymap under test: the key
/// code from linux/input-event-codes.h and whether Shift is held.
fn us_keystroke(c: char) -> (u16, bool) {
    const LETTER_CODES: [u16; 26] = [
        30, 48, 46, 32, 18, 33, 34, 35, 23, 36, 37, 38, 50, 49, 24, 25, 16, 19, 31, 20, 22, 47, 17,
        45, 21, 44,
    ];
    const DIGIT_CODES: [u16; 10] = [11, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    const PUNCT: [(char, u16, bool); 32] = [
        (' ', 57, false),
        ('!', 2, true),
        ('"', 40, true),
        ('#', 4, true),
        ('$', 5, true),
        ('%', 6, true),
        ('&', 8, true),
        ('\'', 40, false),
        ('(', 10, true),
        (')', 11, true),
        ('*', 9, true),
        ('+', 13, true),
        (',', 51, false),
        ('-', 12, false),
        ('.', 52, false),
        ('/', 53, false),
        (':', 39, true),
        (';', 39, false),
        ('<', 51, true),
        ('=', 13, false),
        ('>', 52, true),
        ('?', 53, true),
        ('@', 3, true),
        ('[', 26, false),
        ('\\', 43, false),
        (']', 27, false),
        ('^', 7, true),
        ('_', 12, true),
        ('`', 41, false),
        ('{', 26, true),
        ('|', 43, true),
        ('}', 27, true),
    ];
    match c {
        'a'..='z' => (LETTER_CODES[c as usize - 'a' as usize], false),
        'A'..='Z' => (LETTER_CODES[c as usize - 'A' as usize], true),
        '0'..='9' => (DIGIT_CODES[c as usize - '0' as usize], false),
        '~' => (41, true),
        _ => {
            let (_, code, shift) = PUNCT.iter().find(|(p, _, _)| *p == c).unwrap();
            (*code, *shift)
        }
    }
}

fn typed(text: &str) -> Vec<KeyEvent> {
    let mut events = Vec::new();
    for c in text.chars().chain(['\r']) {
        let (code, shift) = if c == '\r' {
            (28, false)
        } else {
            us_keystroke(c)
        };
        if shift {
            events.push(KeyEvent { code: 42, value: 1 });
        }
        events.push(KeyEvent { code, value: 1 });
        events.push(KeyEvent { code, value: 0 });
        if shift {
            events.push(KeyEvent { code: 42, value: 0 });
        }
    }
    events
}

fn decoder() -> WedgeDecoder {
    WedgeDecoder::new(DecoderConfig {
        aim_ids: false,
        max_len: 1024,
    })
}

proptest! {
    #[test]
    fn any_printable_ascii_code_round_trips(text in "[ -~]{1,120}") {
        // A code that is only spaces is still a code to the decoder; leading/trailing spaces
        // are the classifier's business.
        let mut d = decoder();
        let out: Vec<_> = typed(&text).into_iter().filter_map(|e| d.key(e)).collect();
        prop_assert_eq!(out, vec![WedgeDecoded::Decoded(Decoded::Code { text, symbology: None })]);
    }

    #[test]
    fn random_key_events_never_panic_and_codes_stay_ascii(
        events in proptest::collection::vec((0u16..300, 0i32..3), 0..400)
    ) {
        let mut d = decoder();
        for (code, value) in events {
            if let Some(WedgeDecoded::Decoded(Decoded::Code { text, .. })) =
                d.key(KeyEvent { code, value })
            {
                prop_assert!(text.is_ascii());
            }
        }
        let _ = d.flush();
        prop_assert!(!d.has_partial());
    }
}

/// With a uinput virtual keyboard, the evdev binding itself: open, grab, read typed keys. Runs
/// only where `/dev/uinput` exists and the `hid` feature is on.
#[cfg(feature = "hid")]
#[tokio::test]
async fn the_evdev_binding_reads_a_uinput_keyboard() {
    use evdev::uinput::VirtualDevice;
    use evdev::{AttributeSet, EventType, InputEvent, KeyCode};

    if !Path::new("/dev/uinput").exists() {
        eprintln!("skipped: this machine has no /dev/uinput");
        return;
    }
    let mut keys = AttributeSet::<KeyCode>::new();
    for code in 1..=100u16 {
        keys.insert(KeyCode::new(code));
    }
    let mut device = VirtualDevice::builder()
        .unwrap()
        .name("urna test scanner")
        .with_keys(&keys)
        .unwrap()
        .build()
        .unwrap();
    let path = loop {
        if let Some(p) = device
            .enumerate_dev_nodes_blocking()
            .unwrap()
            .flatten()
            .next()
        {
            break p;
        }
    };
    let (inputs_tx, mut inputs_rx) = mpsc::channel(16);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(station::devices::hid_scanner::run(
        HidScannerConfig::new(path),
        inputs_tx,
        stop_rx,
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    for event in typed("GWU2-2223-X") {
        device
            .emit(&[InputEvent::new(EventType::KEY.0, event.code, event.value)])
            .unwrap();
    }
    let got = tokio::time::timeout(Duration::from_secs(5), inputs_rx.recv()).await;
    assert_eq!(got.unwrap(), Some(scanned("GWU2-2223-X")));
    stop_tx.send(()).unwrap();
    task.await.unwrap().unwrap();
}
