//! Shared helpers for the station's tests: a station, a key, and logs filled with every kind of event.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use records::{
    Channel, Device, EarlyRelease, Intake, IntakeId, LabelKind, Payload, StationCode, Text,
    Timestamp,
};
use station::{Appended, CustodyLog, StationKey};

pub fn station() -> StationCode {
    "GW7K".parse().unwrap()
}

pub fn key() -> StationKey {
    StationKey::from_seed([42; 32])
}

pub fn other_key() -> StationKey {
    StationKey::from_seed([43; 32])
}

pub fn at(ms: i64) -> Timestamp {
    Timestamp {
        unix_ms: 1_763_768_771_000 + ms,
        trusted: true,
    }
}

pub fn text(s: &str) -> Text {
    Text::new(s).unwrap()
}

pub fn deposit(id: IntakeId, when: Timestamp) -> Payload {
    Payload::Deposit(Intake {
        id,
        received_at: when,
        channel: Channel::Urn,
        category: text("podatki i opłaty"),
        reference: Some(text("GKM.6220.12.2020")),
        sender: None,
        attachments: None,
    })
}

/// Appends `n` events cycling through the journey of an envelope and a few device events.
pub fn fill(log: &mut CustodyLog, n: usize) -> Vec<Appended> {
    let mut out: Vec<Appended> = Vec::new();
    let mut last_intake: Option<IntakeId> = None;
    for i in 0..n {
        let when = at(i as i64 * 1000);
        let step = i % 8;
        let appended = match (step, last_intake) {
            (0, _) | (_, None) => log
                .append_intake(when, move |id| deposit(id, when))
                .unwrap(),
            (1, Some(id)) => log
                .append(
                    when,
                    Payload::LabelPrinted {
                        intake: id,
                        label: LabelKind::Receipt,
                    },
                )
                .unwrap(),
            (2, Some(id)) => log.append(when, Payload::DropSeen { intake: id }).unwrap(),
            (3, _) => log.append(when, Payload::DoorOpened).unwrap(),
            (4, Some(id)) => log.append(when, Payload::Collected { intake: id }).unwrap(),
            (5, Some(id)) => log
                .append(
                    when,
                    Payload::HoldReleased {
                        intake: id,
                        early: Some(EarlyRelease {
                            supervisor: text("Anna Żółkiewska"),
                            reason: text("pilne odwołanie, termin jutro"),
                        }),
                    },
                )
                .unwrap(),
            (6, _) => log
                .append(
                    when,
                    Payload::FaultRaised {
                        device: Device::Printer,
                        fault: text("paper_out"),
                    },
                )
                .unwrap(),
            _ => log.append(when, Payload::ClockTrusted).unwrap(),
        };
        if let Payload::Deposit(intake) = &appended.event.payload {
            last_intake = Some(intake.id);
        }
        out.push(appended);
    }
    out
}

/// A new log at `path` with `n` events, closed again.
pub fn make_log(path: &Path, n: usize) -> Vec<Appended> {
    let mut log = CustodyLog::open(path, station(), key()).unwrap();
    fill(&mut log, n)
}
