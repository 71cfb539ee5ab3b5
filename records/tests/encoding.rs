#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The canonical encoding: golden vectors written by hand from the spec in the module doc of
//! `records/src/encoding.rs`, round trips over every kind of event, strictness (one encoding per
//! event), and refusals.

use proptest::prelude::*;
use records::encoding::{DecodeError, MAX_EVENT_BYTES, decode, encode};
use records::event::{MAX_TEXT_BYTES, TextError};
use records::intake_id::MAX_INTAKE_NUMBER;
use records::{
    Channel, Device, EarlyRelease, Event, Hash, Intake, IntakeId, LabelKind, Payload, StationCode,
    Text, Timestamp,
};

/// Hex text (spaces allowed) to bytes.
fn unhex(parts: &[&str]) -> Vec<u8> {
    let s: String = parts.concat().replace(' ', "");
    assert_eq!(s.len() % 2, 0, "odd number of hex digits");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn station(code: &str) -> StationCode {
    code.parse().unwrap()
}

fn id(code: &str, number: u64) -> IntakeId {
    IntakeId::new(station(code), number).unwrap()
}

fn text(s: &str) -> Text {
    Text::new(s).unwrap()
}

fn assert_golden(event: &Event, expected: &[u8]) {
    let encoded = encode(event);
    assert_eq!(
        encoded,
        expected,
        "\nencoded:  {}\nexpected: {}",
        to_hex(&encoded),
        to_hex(expected)
    );
    assert_eq!(decode(expected).as_ref(), Ok(event));
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

// ---------------------------------------------------------------------------------------------
// Golden vectors, composed field by field from the spec. Byte offsets of the common header:
// version 0, station 1..5, seq 5..13, recorded_at.unix_ms 13..21, recorded_at.trusted 21,
// prev_hash 22..54, kind 54, body from 55.

#[test]
fn golden_door_opened_first_event() {
    let event = Event {
        station: station("GW7K"),
        seq: 1,
        recorded_at: Timestamp {
            unix_ms: 1_700_000_000_000,
            trusted: true,
        },
        prev_hash: Hash::GENESIS,
        payload: Payload::DoorOpened,
    };
    let expected = unhex(&[
        "01",                // version 1
        "47 57 37 4B",       // station "GW7K" (ASCII G W 7 K)
        "00000000 00000001", // seq 1, u64 big-endian
        "0000018B CFE56800", // recorded_at.unix_ms = 1_700_000_000_000 = 0x18B_CFE5_6800
        "01",                // recorded_at.trusted = true
        &"00".repeat(32),    // prev_hash = GENESIS, 32 zero bytes
        "05",                // kind 5 = door_opened, empty body
    ]);
    assert_eq!(expected.len(), 55);
    assert_golden(&event, &expected);
}

#[test]
fn golden_deposit() {
    let event = Event {
        station: station("GW7K"),
        seq: 2,
        recorded_at: Timestamp {
            unix_ms: -1000,
            trusted: false,
        },
        prev_hash: Hash([0xAB; 32]),
        payload: Payload::Deposit(Intake {
            id: id("GW7K", 7),
            received_at: Timestamp {
                unix_ms: 1_600_000_000_000,
                trusted: true,
            },
            channel: Channel::Counter,
            category: text("Ogłoszenie"),
            reference: Some(text("ZP/1")),
            sender: None,
            attachments: Some(2),
        }),
    };
    let expected = unhex(&[
        "01",                               // version 1
        "47 57 37 4B",                      // station "GW7K"
        "00000000 00000002",                // seq 2
        "FFFFFFFF FFFFFC18", // recorded_at.unix_ms = -1000: 2^64 - 0x3E8, two's complement
        "00",                // recorded_at.trusted = false
        &"AB".repeat(32),    // prev_hash, 32 × 0xAB
        "01",                // kind 1 = deposit
        "47 57 37 4B",       // intake_id.station "GW7K"
        "00000000 00000007", // intake_id.number 7 (the check character is not stored)
        "00000174 876E8000", // received_at.unix_ms = 1_600_000_000_000 = 0x174_876E_8000
        "01",                // received_at.trusted = true
        "02",                // channel 2 = counter
        "000B",              // category length: 11 UTF-8 bytes
        "4F 67 C5 82 6F 73 7A 65 6E 69 65", // "Ogłoszenie": O g ł(C5 82) o s z e n i e
        "01",                // reference: Some
        "0004",              // reference length 4
        "5A 50 2F 31",       // "ZP/1"
        "00",                // sender: None
        "01",                // attachments: Some
        "0002",              // attachments 2, u16 big-endian
    ]);
    assert_golden(&event, &expected);
}

#[test]
fn golden_hold_released_early() {
    let prev: Vec<String> = (0u8..32).map(|b| format!("{b:02X}")).collect();
    let event = Event {
        station: station("MN3P"),
        seq: 42,
        recorded_at: Timestamp {
            unix_ms: 1,
            trusted: true,
        },
        prev_hash: Hash(core::array::from_fn(|i| i as u8)),
        payload: Payload::HoldReleased {
            intake: id("MN3P", 31),
            early: Some(EarlyRelease {
                supervisor: text("Anna Żak"),
                reason: text("pilne"),
            }),
        },
    };
    let expected = unhex(&[
        "01",                         // version 1
        "4D 4E 33 50",                // station "MN3P"
        "00000000 0000002A",          // seq 42
        "00000000 00000001",          // recorded_at.unix_ms = 1
        "01",                         // trusted
        &prev.concat(),               // prev_hash 00 01 02 … 1F
        "09",                         // kind 9 = hold_released
        "4D 4E 33 50",                // intake station "MN3P"
        "00000000 0000001F",          // intake number 31
        "01",                         // early: Some
        "0009",                       // supervisor length 9
        "41 6E 6E 61 20 C5 BB 61 6B", // "Anna Żak": A n n a ␠ Ż(C5 BB) a k
        "0005",                       // reason length 5
        "70 69 6C 6E 65",             // "pilne"
    ]);
    assert_golden(&event, &expected);
}

#[test]
fn golden_hold_released_on_time() {
    let event = Event {
        station: station("MN3P"),
        seq: 43,
        recorded_at: Timestamp {
            unix_ms: 2,
            trusted: false,
        },
        prev_hash: Hash([0x11; 32]),
        payload: Payload::HoldReleased {
            intake: id("MN3P", 31),
            early: None,
        },
    };
    let expected = unhex(&[
        "01",                            // version
        "4D 4E 33 50",                   // station "MN3P"
        "00000000 0000002B",             // seq 43
        "00000000 00000002 00",          // recorded_at 2 ms, untrusted
        &"11".repeat(32),                // prev_hash
        "09",                            // kind 9 = hold_released
        "4D 4E 33 50 00000000 0000001F", // intake MN3P #31
        "00",                            // early: None
    ]);
    assert_golden(&event, &expected);
}

#[test]
fn golden_fault_raised() {
    let event = Event {
        station: station("ZZ9A"),
        seq: 0x0102_0304_0506_0708,
        recorded_at: Timestamp {
            unix_ms: i64::MIN,
            trusted: false,
        },
        prev_hash: Hash([0xFF; 32]),
        payload: Payload::FaultRaised {
            device: Device::Printer,
            fault: text("paper_out"),
        },
    };
    let expected = unhex(&[
        "01",                         // version
        "5A 5A 39 41",                // station "ZZ9A"
        "01020304 05060708",          // seq 0x0102030405060708
        "80000000 00000000",          // recorded_at.unix_ms = i64::MIN
        "00",                         // untrusted
        &"FF".repeat(32),             // prev_hash
        "0C",                         // kind 12 = fault_raised
        "02",                         // device 2 = printer
        "0009",                       // fault length 9
        "70 61 70 65 72 5F 6F 75 74", // "paper_out"
    ]);
    assert_golden(&event, &expected);
}

#[test]
fn golden_hold_started_label_printed_acknowledged_clock() {
    let header = |seq: &str| {
        [
            "01",                // version
            "47 57 37 4B",       // station "GW7K"
            seq,                 // seq
            "00000000 00000000", // unix_ms 0
            "01",                // trusted
            &"22".repeat(32),    // prev_hash
        ]
        .concat()
    };
    let event = |seq: u64, payload: Payload| Event {
        station: station("GW7K"),
        seq,
        recorded_at: Timestamp {
            unix_ms: 0,
            trusted: true,
        },
        prev_hash: Hash([0x22; 32]),
        payload,
    };
    // hold_started: intake_id hold_secs:u32
    assert_golden(
        &event(
            3,
            Payload::HoldStarted {
                intake: id("GW7K", 1),
                hold_secs: 86_400,
            },
        ),
        &unhex(&[
            &header("00000000 00000003"),
            "08",                            // kind 8 = hold_started
            "47 57 37 4B 00000000 00000001", // intake GW7K #1
            "00015180",                      // 86 400 s = 0x15180
        ]),
    );
    // label_printed: intake_id label:u8
    assert_golden(
        &event(
            4,
            Payload::LabelPrinted {
                intake: id("GW7K", MAX_INTAKE_NUMBER),
                label: LabelKind::Receipt,
            },
        ),
        &unhex(&[
            &header("00000000 00000004"),
            "02",          // kind 2 = label_printed
            "47 57 37 4B", // intake station
            // 31^9 − 1 = 26 439 622 160 670 = 0x180B_F449_711E
            "0000180B F449711E",
            "02", // label 2 = receipt
        ]),
    );
    // acknowledged: intake_id department:text clerk:text (an empty text is just its length)
    assert_golden(
        &event(
            5,
            Payload::Acknowledged {
                intake: id("GW7K", 2),
                department: text("Wydział Finansów"),
                clerk: text(""),
            },
        ),
        &unhex(&[
            &header("00000000 00000005"),
            "0B",                            // kind 11 = acknowledged
            "47 57 37 4B 00000000 00000002", // intake GW7K #2
            "0012",                          // department: 18 bytes
            // W y d z i a ł(C5 82) ␠ F i n a n s ó(C3 B3) w
            "57 79 64 7A 69 61 C5 82 20 46 69 6E 61 6E 73 C3 B3 77",
            "0000", // clerk: empty
        ]),
    );
    // clock_untrusted: reason:text; clock_trusted: empty
    assert_golden(
        &event(
            6,
            Payload::ClockUntrusted {
                reason: text("no NTP"),
            },
        ),
        &unhex(&[
            &header("00000000 00000006"),
            "0E",                // kind 14 = clock_untrusted
            "0006",              // length 6
            "6E 6F 20 4E 54 50", // "no NTP"
        ]),
    );
    assert_golden(
        &event(7, Payload::ClockTrusted),
        &unhex(&[&header("00000000 00000007"), "0F"]),
    );
    // alarm: device:u8 alarm:text
    assert_golden(
        &event(
            8,
            Payload::Alarm {
                device: Device::Door,
                alarm: text("door"),
            },
        ),
        &unhex(&[
            &header("00000000 00000008"),
            "10",          // kind 16 = alarm
            "03",          // device 3 = door
            "0004",        // length 4
            "64 6F 6F 72", // "door"
        ]),
    );
    // urn_collected: seal:text envelopes:u32 first_staff:text second_staff:text
    assert_golden(
        &event(
            9,
            Payload::UrnCollected {
                seal: text("S1"),
                envelopes: 300,
                first_staff: text("A"),
                second_staff: text("B"),
            },
        ),
        &unhex(&[
            &header("00000000 00000009"),
            "11",         // kind 17 = urn_collected
            "0002 53 31", // "S1"
            "0000012C",   // 300 envelopes
            "0001 41",    // "A"
            "0001 42",    // "B"
        ]),
    );
    // staff_signed_in: staff:text role:text; staff_signed_out: staff:text
    assert_golden(
        &event(
            10,
            Payload::StaffSignedIn {
                staff: text("17"),
                role: text("staff"),
            },
        ),
        &unhex(&[
            &header("00000000 0000000A"),
            "12",                  // kind 18 = staff_signed_in
            "0002 31 37",          // "17"
            "0005 73 74 61 66 66", // "staff"
        ]),
    );
    assert_golden(
        &event(11, Payload::StaffSignedOut { staff: text("17") }),
        &unhex(&[&header("00000000 0000000B"), "13", "0002 31 37"]),
    );
    // checked_in: seal:text urn_count:u32 received:u32 missing:list unexpected:list staff staff
    assert_golden(
        &event(
            12,
            Payload::CheckedIn {
                seal: text("S1"),
                urn_count: 2,
                received: 2,
                missing: vec![id("GW7K", 1)],
                unexpected: vec![],
                first_staff: text("A"),
                second_staff: text("B"),
            },
        ),
        &unhex(&[
            &header("00000000 0000000C"),
            "14",                           // kind 20 = checked_in
            "0002 53 31",                   // "S1"
            "00000002",                     // urn_count
            "00000002",                     // received
            "0001",                         // one missing
            "47 57 37 4B 0000000000000001", // GW7K, number 1
            "0000",                         // none unexpected
            "0001 41",                      // "A"
            "0001 42",                      // "B"
        ]),
    );
    // department_changed: intake_id from:text to:text reason:text staff:text
    assert_golden(
        &event(
            13,
            Payload::DepartmentChanged {
                intake: id("GW7K", 2),
                from: text("A"),
                to: text("B"),
                reason: text("why"),
                staff: text("17"),
            },
        ),
        &unhex(&[
            &header("00000000 0000000D"),
            "15",                           // kind 21 = department_changed
            "47 57 37 4B 0000000000000002", // GW7K, number 2
            "0001 41",                      // "A"
            "0001 42",                      // "B"
            "0003 77 68 79",                // "why"
            "0002 31 37",                   // "17"
        ]),
    );
}

#[test]
fn an_intake_list_longer_than_allowed_is_refused() {
    let mut bytes = encode(&sample_event(Payload::CheckedIn {
        seal: text("S"),
        urn_count: 0,
        received: 0,
        missing: vec![],
        unexpected: vec![],
        first_staff: text("A"),
        second_staff: text("B"),
    }));
    // header 54, kind 1, seal 3, counts 8: the missing list's count is at 66.
    bytes[66] = 0x01;
    bytes[67] = 0x00;
    assert!(matches!(
        decode(&bytes),
        Err(DecodeError::ListTooLong {
            at: 66,
            count: 256,
            ..
        })
    ));
}

#[test]
fn max_intake_number_hex_in_golden_is_right() {
    // Guards the hand-written constant above.
    assert_eq!(MAX_INTAKE_NUMBER, 0x180B_F449_711E);
}

// ---------------------------------------------------------------------------------------------
// Arbitrary events.

fn text_char() -> impl Strategy<Value = char> {
    let polish: Vec<char> = "ąćęłńóśźżĄĆĘŁŃÓŚŹŻ".chars().collect();
    prop_oneof![
        4 => prop::sample::select(polish),
        4 => proptest::char::range(' ', '~'),
        2 => any::<char>().prop_filter("acceptable in a Text", |c| Text::new(c.to_string()).is_ok()),
    ]
}

fn text_strategy() -> impl Strategy<Value = Text> {
    prop_oneof![
        8 => prop::collection::vec(text_char(), 0..40).prop_map(String::from_iter),
        1 => (0usize..=MAX_TEXT_BYTES / 2).prop_map(|n| "ł".repeat(n)),
        1 => Just("x".repeat(MAX_TEXT_BYTES)),
    ]
    .prop_map(|s| Text::new(s).unwrap())
}

fn station_strategy() -> impl Strategy<Value = StationCode> {
    let alphabet = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    prop::array::uniform4(prop::sample::select(alphabet.to_vec()))
        .prop_map(|bytes| StationCode::from_bytes(bytes).unwrap())
}

fn intake_id_strategy() -> impl Strategy<Value = IntakeId> {
    (
        station_strategy(),
        prop_oneof![1..=MAX_INTAKE_NUMBER, Just(1), Just(MAX_INTAKE_NUMBER)],
    )
        .prop_map(|(s, n)| IntakeId::new(s, n).unwrap())
}

fn timestamp_strategy() -> impl Strategy<Value = Timestamp> {
    (
        prop_oneof![any::<i64>(), -10_000_000_000_000i64..10_000_000_000_000],
        any::<bool>(),
    )
        .prop_map(|(unix_ms, trusted)| Timestamp { unix_ms, trusted })
}

fn channel_strategy() -> impl Strategy<Value = Channel> {
    prop::sample::select(vec![Channel::Urn, Channel::Counter, Channel::Post])
}

fn label_strategy() -> impl Strategy<Value = LabelKind> {
    prop::sample::select(vec![
        LabelKind::Envelope,
        LabelKind::Receipt,
        LabelKind::Bin,
    ])
}

fn device_strategy() -> impl Strategy<Value = Device> {
    prop::sample::select(vec![
        Device::Scanner,
        Device::Printer,
        Device::Door,
        Device::Slot,
        Device::Registry,
        Device::Storage,
        Device::Urn,
    ])
}

fn payload_strategy() -> impl Strategy<Value = Payload> {
    let intake = (
        intake_id_strategy(),
        timestamp_strategy(),
        channel_strategy(),
        text_strategy(),
        prop::option::of(text_strategy()),
        prop::option::of(text_strategy()),
        prop::option::of(any::<u16>()),
    )
        .prop_map(
            |(id, received_at, channel, category, reference, sender, attachments)| {
                Payload::Deposit(Intake {
                    id,
                    received_at,
                    channel,
                    category,
                    reference,
                    sender,
                    attachments,
                })
            },
        );
    let early = prop::option::of(
        (text_strategy(), text_strategy())
            .prop_map(|(supervisor, reason)| EarlyRelease { supervisor, reason }),
    );
    prop_oneof![
        intake.boxed(),
        (intake_id_strategy(), label_strategy())
            .prop_map(|(intake, label)| Payload::LabelPrinted { intake, label })
            .boxed(),
        intake_id_strategy()
            .prop_map(|intake| Payload::DropSeen { intake })
            .boxed(),
        intake_id_strategy()
            .prop_map(|intake| Payload::DropNotSeen { intake })
            .boxed(),
        Just(Payload::DoorOpened).boxed(),
        Just(Payload::DoorClosed).boxed(),
        intake_id_strategy()
            .prop_map(|intake| Payload::Collected { intake })
            .boxed(),
        (intake_id_strategy(), any::<u32>())
            .prop_map(|(intake, hold_secs)| Payload::HoldStarted { intake, hold_secs })
            .boxed(),
        (intake_id_strategy(), early)
            .prop_map(|(intake, early)| Payload::HoldReleased { intake, early })
            .boxed(),
        (intake_id_strategy(), text_strategy())
            .prop_map(|(intake, department)| Payload::Forwarded { intake, department })
            .boxed(),
        (intake_id_strategy(), text_strategy(), text_strategy())
            .prop_map(|(intake, department, clerk)| Payload::Acknowledged {
                intake,
                department,
                clerk
            })
            .boxed(),
        (device_strategy(), text_strategy())
            .prop_map(|(device, fault)| Payload::FaultRaised { device, fault })
            .boxed(),
        (device_strategy(), text_strategy())
            .prop_map(|(device, fault)| Payload::FaultCleared { device, fault })
            .boxed(),
        text_strategy()
            .prop_map(|reason| Payload::ClockUntrusted { reason })
            .boxed(),
        Just(Payload::ClockTrusted).boxed(),
        (device_strategy(), text_strategy())
            .prop_map(|(device, alarm)| Payload::Alarm { device, alarm })
            .boxed(),
        (
            text_strategy(),
            any::<u32>(),
            text_strategy(),
            text_strategy()
        )
            .prop_map(
                |(seal, envelopes, first_staff, second_staff)| Payload::UrnCollected {
                    seal,
                    envelopes,
                    first_staff,
                    second_staff,
                }
            )
            .boxed(),
        (text_strategy(), text_strategy())
            .prop_map(|(staff, role)| Payload::StaffSignedIn { staff, role })
            .boxed(),
        text_strategy()
            .prop_map(|staff| Payload::StaffSignedOut { staff })
            .boxed(),
        (
            text_strategy(),
            any::<u32>(),
            any::<u32>(),
            prop::collection::vec(intake_id_strategy(), 0..20),
            prop::collection::vec(intake_id_strategy(), 0..20),
            text_strategy(),
            text_strategy(),
        )
            .prop_map(
                |(seal, urn_count, received, missing, unexpected, first_staff, second_staff)| {
                    Payload::CheckedIn {
                        seal,
                        urn_count,
                        received,
                        missing,
                        unexpected,
                        first_staff,
                        second_staff,
                    }
                }
            )
            .boxed(),
        (
            intake_id_strategy(),
            text_strategy(),
            text_strategy(),
            text_strategy(),
            text_strategy(),
        )
            .prop_map(|(intake, from, to, reason, staff)| {
                Payload::DepartmentChanged {
                    intake,
                    from,
                    to,
                    reason,
                    staff,
                }
            })
            .boxed(),
    ]
}

fn event_strategy() -> impl Strategy<Value = Event> {
    (
        station_strategy(),
        prop_oneof![any::<u64>(), 1u64..1000],
        timestamp_strategy(),
        prop_oneof![Just(Hash::GENESIS), any::<[u8; 32]>().prop_map(Hash)],
        payload_strategy(),
    )
        .prop_map(|(station, seq, recorded_at, prev_hash, payload)| Event {
            station,
            seq,
            recorded_at,
            prev_hash,
            payload,
        })
}

/// The kind byte of every payload, as the spec's table numbers them.
fn spec_kind(payload: &Payload) -> u8 {
    match payload {
        Payload::Deposit(_) => 1,
        Payload::LabelPrinted { .. } => 2,
        Payload::DropSeen { .. } => 3,
        Payload::DropNotSeen { .. } => 4,
        Payload::DoorOpened => 5,
        Payload::DoorClosed => 6,
        Payload::Collected { .. } => 7,
        Payload::HoldStarted { .. } => 8,
        Payload::HoldReleased { .. } => 9,
        Payload::Forwarded { .. } => 10,
        Payload::Acknowledged { .. } => 11,
        Payload::FaultRaised { .. } => 12,
        Payload::FaultCleared { .. } => 13,
        Payload::ClockUntrusted { .. } => 14,
        Payload::ClockTrusted => 15,
        Payload::Alarm { .. } => 16,
        Payload::UrnCollected { .. } => 17,
        Payload::StaffSignedIn { .. } => 18,
        Payload::StaffSignedOut { .. } => 19,
        Payload::CheckedIn { .. } => 20,
        Payload::DepartmentChanged { .. } => 21,
    }
}

proptest! {
    #[test]
    fn decode_inverts_encode(event in event_strategy()) {
        let bytes = encode(&event);
        prop_assert!(bytes.len() <= MAX_EVENT_BYTES);
        // The common header, as the spec lays it out.
        prop_assert_eq!(bytes[0], 1);
        prop_assert_eq!(&bytes[1..5], event.station.as_bytes());
        prop_assert_eq!(&bytes[5..13], &event.seq.to_be_bytes());
        prop_assert_eq!(&bytes[13..21], &event.recorded_at.unix_ms.to_be_bytes());
        prop_assert_eq!(bytes[21], u8::from(event.recorded_at.trusted));
        prop_assert_eq!(&bytes[22..54], &event.prev_hash.0);
        prop_assert_eq!(bytes[54], spec_kind(&event.payload));
        prop_assert_eq!(decode(&bytes), Ok(event.clone()));
        // Serde (JSON, as the HTTP API carries events) round trips too.
        let json = serde_json::to_string(&event).unwrap();
        prop_assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), event);
    }

    #[test]
    fn one_encoding_per_event(
        event in event_strategy(),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let bytes = encode(&event);
        let mut mutated = bytes.clone();
        let i = at.index(mutated.len());
        mutated[i] ^= flip;
        if let Ok(other) = decode(&mutated) {
            prop_assert_ne!(&other, &event);
            prop_assert_eq!(encode(&other), mutated);
        }
    }

    #[test]
    fn every_proper_prefix_is_truncated(event in event_strategy()) {
        let bytes = encode(&event);
        for len in 0..bytes.len() {
            let result = decode(&bytes[..len]);
            prop_assert!(
                matches!(result, Err(DecodeError::Truncated { .. })),
                "prefix of {} bytes gave {:?}", len, result
            );
        }
    }

    #[test]
    fn appended_bytes_are_trailing(
        event in event_strategy(),
        extra in prop::collection::vec(any::<u8>(), 1..8),
    ) {
        let mut bytes = encode(&event);
        bytes.push(extra[0]);
        prop_assert_eq!(decode(&bytes), Err(DecodeError::TrailingBytes(1)));
        bytes.extend_from_slice(&extra[1..]);
        prop_assert_eq!(decode(&bytes), Err(DecodeError::TrailingBytes(extra.len())));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn plausible_bytes_never_panic_and_whatever_decodes_is_canonical(
        station in station_strategy(),
        seq in any::<u64>(),
        unix_ms in any::<i64>(),
        trusted in 0u8..=1,
        prev in any::<[u8; 32]>(),
        kind in 0u8..=16,
        body in prop::collection::vec(
            prop_oneof![any::<u8>(), 0u8..=3, Just(0u8)],
            0..120,
        ),
    ) {
        let mut bytes = vec![1u8];
        bytes.extend_from_slice(station.as_bytes());
        bytes.extend_from_slice(&seq.to_be_bytes());
        bytes.extend_from_slice(&unix_ms.to_be_bytes());
        bytes.push(trusted);
        bytes.extend_from_slice(&prev);
        bytes.push(kind);
        bytes.extend_from_slice(&body);
        if let Ok(event) = decode(&bytes) {
            prop_assert_eq!(encode(&event), bytes);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Refusals.

fn sample_event(payload: Payload) -> Event {
    Event {
        station: station("GW7K"),
        seq: 9,
        recorded_at: Timestamp {
            unix_ms: 1_763_768_771_000,
            trusted: true,
        },
        prev_hash: Hash([7; 32]),
        payload,
    }
}

#[test]
fn other_versions_are_unsupported() {
    let mut bytes = encode(&sample_event(Payload::DoorOpened));
    for version in [0u8, 2, 3, 255] {
        bytes[0] = version;
        assert_eq!(
            decode(&bytes),
            Err(DecodeError::UnsupportedVersion(version))
        );
    }
    assert_eq!(decode(&[2]), Err(DecodeError::UnsupportedVersion(2)));
}

#[test]
fn over_long_input_is_refused_before_parsing() {
    let too_long = vec![1u8; MAX_EVENT_BYTES + 1];
    assert_eq!(
        decode(&too_long),
        Err(DecodeError::TooLong(MAX_EVENT_BYTES + 1))
    );
    // Even a valid event followed by padding.
    let mut bytes = encode(&sample_event(Payload::DoorOpened));
    bytes.resize(MAX_EVENT_BYTES + 10, 0);
    assert_eq!(
        decode(&bytes),
        Err(DecodeError::TooLong(MAX_EVENT_BYTES + 10))
    );
    // Exactly the limit is parsed (and here fails for another reason).
    bytes.truncate(MAX_EVENT_BYTES);
    assert_eq!(
        decode(&bytes),
        Err(DecodeError::TrailingBytes(MAX_EVENT_BYTES - 55))
    );
}

#[test]
fn largest_events_fit_the_limit() {
    let long = text(&"ż".repeat(MAX_TEXT_BYTES / 2));
    let deposit = sample_event(Payload::Deposit(Intake {
        id: id("GW7K", MAX_INTAKE_NUMBER),
        received_at: Timestamp {
            unix_ms: 0,
            trusted: true,
        },
        channel: Channel::Post,
        category: long.clone(),
        reference: Some(long.clone()),
        sender: Some(long.clone()),
        attachments: Some(u16::MAX),
    }));
    let bytes = encode(&deposit);
    assert!(bytes.len() <= MAX_EVENT_BYTES);
    assert_eq!(decode(&bytes), Ok(deposit));
}

#[test]
fn bool_other_than_0_or_1_is_a_bad_tag() {
    let bytes = encode(&sample_event(Payload::DoorOpened));
    for value in [2u8, 0x80, 0xFF] {
        let mut bad = bytes.clone();
        bad[21] = value; // recorded_at.trusted
        assert!(
            matches!(decode(&bad), Err(DecodeError::BadTag { at: 21, value: v, .. }) if v == value),
            "{:?}",
            decode(&bad)
        );
    }
    // An option tag is a bool too: hold_released.early at 55 + 12.
    let mut bytes = encode(&sample_event(Payload::HoldReleased {
        intake: id("GW7K", 1),
        early: None,
    }));
    assert_eq!(bytes.len(), 68);
    bytes[67] = 2;
    assert!(matches!(
        decode(&bytes),
        Err(DecodeError::BadTag {
            at: 67,
            value: 2,
            ..
        })
    ));
}

#[test]
fn unknown_tags_are_bad_tags() {
    let door = encode(&sample_event(Payload::DoorOpened));
    for kind in [0u8, 22, 200, 255] {
        let mut bad = door.clone();
        bad[54] = kind;
        assert!(
            matches!(decode(&bad), Err(DecodeError::BadTag { at: 54, value, .. }) if value == kind),
            "kind {kind}"
        );
    }
    let fault = encode(&sample_event(Payload::FaultRaised {
        device: Device::Storage,
        fault: text("full"),
    }));
    assert_eq!(fault[55], 6);
    for device in [0u8, 8, 255] {
        let mut bad = fault.clone();
        bad[55] = device;
        assert!(matches!(
            decode(&bad),
            Err(DecodeError::BadTag { at: 55, value, .. }) if value == device
        ));
    }
    let label = encode(&sample_event(Payload::LabelPrinted {
        intake: id("GW7K", 3),
        label: LabelKind::Bin,
    }));
    assert_eq!(label[67], 3);
    for value in [0u8, 4] {
        let mut bad = label.clone();
        bad[67] = value;
        assert!(matches!(
            decode(&bad),
            Err(DecodeError::BadTag { at: 67, value: v, .. }) if v == value
        ));
    }
    let deposit = encode(&sample_event(Payload::Deposit(Intake {
        id: id("GW7K", 3),
        received_at: Timestamp {
            unix_ms: 5,
            trusted: false,
        },
        channel: Channel::Post,
        category: text("x"),
        reference: None,
        sender: None,
        attachments: None,
    })));
    // kind 54, intake 55..67, received_at 67..76, channel 76
    assert_eq!(deposit[76], 3);
    for value in [0u8, 4] {
        let mut bad = deposit.clone();
        bad[76] = value;
        assert!(matches!(
            decode(&bad),
            Err(DecodeError::BadTag { at: 76, value: v, .. }) if v == value
        ));
    }
}

#[test]
fn bad_ids_are_refused() {
    let bytes = encode(&sample_event(Payload::DropSeen {
        intake: id("GW7K", 5),
    }));
    // Station code outside the alphabet (lowercase, 0, O, I, L).
    for (at, value) in [(1usize, b'g'), (2, b'0'), (3, b'O'), (4, b'I'), (1, b'L')] {
        let mut bad = bytes.clone();
        bad[at] = value;
        assert!(matches!(
            decode(&bad),
            Err(DecodeError::BadId { at: 1, .. })
        ));
    }
    // Intake id: station at 55..59, number at 59..67.
    let mut bad = bytes.clone();
    bad[56] = b'1';
    assert!(matches!(
        decode(&bad),
        Err(DecodeError::BadId { at: 55, .. })
    ));
    for number in [0u64, MAX_INTAKE_NUMBER + 1, u64::MAX] {
        let mut bad = bytes.clone();
        bad[59..67].copy_from_slice(&number.to_be_bytes());
        assert!(
            matches!(decode(&bad), Err(DecodeError::BadId { at: 55, .. })),
            "number {number}"
        );
    }
}

fn clock_untrusted_with_raw_reason(raw: &[u8]) -> Vec<u8> {
    let mut bytes = encode(&sample_event(Payload::ClockUntrusted { reason: text("") }));
    assert_eq!(&bytes[55..], &[0, 0]);
    bytes.truncate(55);
    bytes.extend_from_slice(&(raw.len() as u16).to_be_bytes());
    bytes.extend_from_slice(raw);
    bytes
}

#[test]
fn invalid_utf8_is_bad_text() {
    for raw in [
        &[0xFF][..],
        &[0x61, 0xC5],             // cut inside "ł"
        &[0xC0, 0x80],             // overlong NUL
        &[0xED, 0xA0, 0x80],       // a surrogate
        &[0x61, 0x62, 0x80, 0x63], // stray continuation byte
    ] {
        let bytes = clock_untrusted_with_raw_reason(raw);
        assert!(
            matches!(decode(&bytes), Err(DecodeError::BadText { at: 55, .. })),
            "{raw:02X?}: {:?}",
            decode(&bytes)
        );
    }
    // The same path accepts the valid spelling.
    let ok = clock_untrusted_with_raw_reason("zegar cofnięty".as_bytes());
    assert_eq!(
        decode(&ok).map(|e| e.payload),
        Ok(Payload::ClockUntrusted {
            reason: text("zegar cofnięty")
        })
    );
}

#[test]
fn control_characters_are_refused_by_text_and_by_decode() {
    for s in [
        "a\nb",
        "\n",
        "tab\there",
        "esc\u{1B}[31m",
        "nul\0",
        "cr\r",
        "\u{7F}",
        "\u{85}",
    ] {
        assert_eq!(Text::new(s), Err(TextError::ControlCharacter), "{s:?}");
        let bytes = clock_untrusted_with_raw_reason(s.as_bytes());
        assert!(
            matches!(decode(&bytes), Err(DecodeError::BadText { at: 55, .. })),
            "{s:?}"
        );
    }
    assert!(serde_json::from_str::<Text>("\"a\\nb\"").is_err());
}

#[test]
fn over_long_text_is_refused() {
    let ok = "a".repeat(MAX_TEXT_BYTES);
    assert!(Text::new(ok.clone()).is_ok());
    let long = "a".repeat(MAX_TEXT_BYTES + 1);
    assert_eq!(
        Text::new(long.clone()),
        Err(TextError::TooLong(MAX_TEXT_BYTES + 1))
    );
    // "ł" is 2 bytes: 513 of them are 1026 bytes.
    assert_eq!(Text::new("ł".repeat(513)), Err(TextError::TooLong(1026)));
    let bytes = clock_untrusted_with_raw_reason(long.as_bytes());
    assert!(matches!(
        decode(&bytes),
        Err(DecodeError::BadText { at: 55, .. })
    ));
    let bytes = clock_untrusted_with_raw_reason(ok.as_bytes());
    assert!(decode(&bytes).is_ok());
}

#[test]
fn text_length_past_the_end_is_truncated() {
    let mut bytes = clock_untrusted_with_raw_reason(b"abc");
    bytes[55..57].copy_from_slice(&10u16.to_be_bytes());
    assert!(matches!(
        decode(&bytes),
        Err(DecodeError::Truncated {
            at: 57,
            needed: 7,
            ..
        })
    ));
}

#[test]
fn text_refuses_direction_overrides_that_could_disguise_a_label() {
    for c in [
        '\u{202e}', '\u{202a}', '\u{2066}', '\u{2069}', '\u{200f}', '\u{061c}',
    ] {
        let s = format!("GKM{c}0202");
        assert_eq!(Text::new(s), Err(TextError::ControlCharacter), "{:?}", c);
    }
    assert!(Text::new("Żółć — ul. Zwycięstwa 21, Gliwice").is_ok());
}

#[test]
fn sanitized_text_is_always_acceptable() {
    let t = Text::sanitized("a\nb\u{202e}c");
    assert_eq!(t.as_str(), "a b c");
    let long = "ż".repeat(MAX_TEXT_BYTES);
    let t = Text::sanitized(&long);
    assert!(t.as_str().len() <= MAX_TEXT_BYTES && t.as_str().len() >= MAX_TEXT_BYTES - 1);
    assert!(Text::new(t.as_str()).is_ok());
}
