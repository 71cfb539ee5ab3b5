//! What custody events mean for the register: an intake's fields and status, folded from its
//! timeline, the one-line detail each timeline entry shows, what an event opens or closes on
//! the list of device alerts, and what an urn collection's bag should hold. Pure: no storage, no
//! clock.

use std::collections::BTreeMap;

use records::api::{AlertKind, CollectedDeposit, CollectionView, IntakeStatus, TimelineEntry};
use records::{Event, IntakeId, Payload};

use crate::config::RegistryConfig;
use crate::store::{AlertChange, IntakeRecord};

/// Folds an intake's events (timeline order, any station) into its register row; `None` until
/// its deposit has arrived (the mailroom's events may reach the registry before the urn's).
pub fn project(
    id: IntakeId,
    timeline: &[Event],
    config: &RegistryConfig,
    now_ms: i64,
) -> Option<IntakeRecord> {
    // The first deposit wins: a second one for the same id is a station fault, and must not
    // silently rewrite what the resident's receipt already proves.
    // Only the station named in the id may deposit it: another station's deposit under that id
    // would claim an envelope it never took in.
    // "First" by the depositing station's seq, not by timeline (clock) order: a clock stepped
    // back must not let a later deposit take the place of the one the receipt proves.
    let deposit = timeline
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::Deposit(intake) if intake.id == id && e.station == id.station() => {
                Some((e.seq, intake))
            }
            _ => None,
        })
        .min_by_key(|(seq, _)| *seq)
        .map(|(_, intake)| intake)?;
    let mut record = IntakeRecord {
        id,
        received_at: deposit.received_at,
        channel: deposit.channel,
        category: deposit.category.as_str().to_owned(),
        department: config.department_for(deposit.category.as_str()).to_owned(),
        reference: deposit.reference.as_ref().map(|r| r.as_str().to_owned()),
        status: IntakeStatus::Deposited,
        updated_ms: now_ms,
    };
    // Status follows the last status-bearing event in timeline order; the deposit only sets the
    // starting point, so a mailroom clock slightly behind the urn's cannot send a letter back.
    for event in timeline {
        match &event.payload {
            Payload::Collected { .. } => record.status = IntakeStatus::Collected,
            Payload::HoldStarted { .. } => record.status = IntakeStatus::Held,
            Payload::HoldReleased { .. } => record.status = IntakeStatus::Released,
            Payload::Forwarded { department, .. } => {
                record.status = IntakeStatus::Forwarded;
                record.department = department.as_str().to_owned();
            }
            Payload::Acknowledged { department, .. } => {
                record.status = IntakeStatus::Acknowledged;
                record.department = department.as_str().to_owned();
            }
            _ => {}
        }
    }
    Some(record)
}

/// What a verified event does to its station's open device alerts:
///
/// - `FaultRaised` opens a [`AlertKind::Fault`] for (device, fault), or moves an open one to this
///   event;
/// - `FaultCleared` closes the open fault of the same device and name (and never an alarm);
/// - `Alarm` opens an [`AlertKind::Alarm`]. Nothing the station sends closes it: it stays open
///   until staff deal with it, and clearing alarms (by an admin, recorded) comes with a later
///   issue;
/// - every other event changes nothing.
pub fn alert_change(event: &Event) -> Option<AlertChange> {
    match &event.payload {
        Payload::FaultRaised { device, fault } => Some(AlertChange::Open {
            device: *device,
            what: fault.as_str().to_owned(),
            kind: AlertKind::Fault,
            since: event.recorded_at,
            seq: event.seq,
        }),
        Payload::FaultCleared { device, fault } => Some(AlertChange::Close {
            device: *device,
            what: fault.as_str().to_owned(),
            kind: AlertKind::Fault,
        }),
        Payload::Alarm { device, alarm } => Some(AlertChange::Open {
            device: *device,
            what: alarm.as_str().to_owned(),
            kind: AlertKind::Alarm,
            since: event.recorded_at,
            seq: event.seq,
        }),
        Payload::Deposit(_)
        | Payload::LabelPrinted { .. }
        | Payload::DropSeen { .. }
        | Payload::DropNotSeen { .. }
        | Payload::DoorOpened
        | Payload::DoorClosed
        | Payload::Collected { .. }
        | Payload::HoldStarted { .. }
        | Payload::HoldReleased { .. }
        | Payload::Forwarded { .. }
        | Payload::Acknowledged { .. }
        | Payload::ClockUntrusted { .. }
        | Payload::ClockTrusted
        | Payload::UrnCollected { .. }
        | Payload::StaffSignedIn { .. }
        | Payload::StaffSignedOut { .. }
        | Payload::CheckedIn { .. }
        | Payload::DepartmentChanged { .. } => None,
    }
}

/// The kind name of [`Payload::UrnCollected`], as the register stores it.
pub const URN_COLLECTED: &str = "urn_collected";

/// What the mailroom should find in the bag of one urn collection.
///
/// `collection` is the urn's `UrnCollected` event (`None` for any other event); `window` is the
/// same station's events after its previous collection (or from seq 1) and before this one, in
/// seq order. Every deposit of the window is listed, oldest first, with the number of
/// `DropSeen` events for its intake within the window. Events of other stations are ignored.
pub fn collection_view(
    collection: &Event,
    station_name: &str,
    window: &[Event],
) -> Option<CollectionView> {
    let Payload::UrnCollected {
        seal,
        envelopes,
        first_staff,
        second_staff,
    } = &collection.payload
    else {
        return None;
    };
    let in_window = || {
        window
            .iter()
            .filter(|e| e.station == collection.station && e.seq < collection.seq)
    };
    let mut drops: BTreeMap<IntakeId, u32> = BTreeMap::new();
    for event in in_window() {
        if let Payload::DropSeen { intake } = &event.payload {
            *drops.entry(*intake).or_default() += 1;
        }
    }
    let mut deposits: Vec<(u64, CollectedDeposit)> = in_window()
        .filter_map(|e| match &e.payload {
            Payload::Deposit(intake) => Some((
                e.seq,
                CollectedDeposit {
                    intake: intake.id,
                    drops_seen: drops.get(&intake.id).copied().unwrap_or(0),
                },
            )),
            _ => None,
        })
        .collect();
    deposits.sort_by_key(|(seq, _)| *seq);
    Some(CollectionView {
        station: collection.station.as_str().to_owned(),
        station_name: station_name.to_owned(),
        seal: seal.as_str().to_owned(),
        collected_at: collection.recorded_at,
        urn_count: *envelopes,
        staff: [
            first_staff.as_str().to_owned(),
            second_staff.as_str().to_owned(),
        ],
        deposits: deposits.into_iter().map(|(_, d)| d).collect(),
    })
}

/// Whether two projections differ in anything a clerk sees.
pub fn changed(before: &IntakeRecord, after: &IntakeRecord) -> bool {
    IntakeRecord {
        updated_ms: after.updated_ms,
        ..before.clone()
    } != *after
}

/// One timeline entry for an event.
pub fn timeline_entry(event: &Event) -> TimelineEntry {
    TimelineEntry {
        station: event.station.as_str().to_owned(),
        seq: event.seq,
        kind: event.payload.kind_name().to_owned(),
        recorded_at: event.recorded_at,
        detail: detail(&event.payload),
    }
}

/// A short description of what an event adds beyond its kind.
pub fn detail(payload: &Payload) -> String {
    match payload {
        Payload::Deposit(i) => {
            let mut s = format!("{}, {}", channel_name(i.channel), i.category.as_str());
            if let Some(r) = &i.reference {
                s.push_str(&format!(", ref. {r}"));
            }
            if let Some(n) = i.attachments {
                s.push_str(&format!(", {n} zał. / attachments"));
            }
            s
        }
        Payload::LabelPrinted { label, .. } => format!("{label:?}").to_lowercase(),
        Payload::HoldStarted { hold_secs, .. } => format!("{hold_secs} s"),
        Payload::HoldReleased { early: Some(e), .. } => format!(
            "przed czasem / early: {}, {}",
            e.supervisor.as_str(),
            e.reason.as_str()
        ),
        Payload::Forwarded { department, .. } => department.as_str().to_owned(),
        // The written reason stays in the event: the timeline is also the resident's, and a
        // reason may name people.
        Payload::DepartmentChanged { from, to, .. } => format!("{from} → {to}"),
        Payload::Acknowledged {
            department, clerk, ..
        } => format!("{department}, {clerk}"),
        Payload::FaultRaised { device, fault }
        | Payload::FaultCleared { device, fault }
        | Payload::Alarm {
            device,
            alarm: fault,
        } => {
            format!("{}: {fault}", format!("{device:?}").to_lowercase())
        }
        Payload::UrnCollected {
            seal,
            envelopes,
            first_staff,
            second_staff,
        } => format!("plomba / seal {seal}: {envelopes}; {first_staff}, {second_staff}"),
        Payload::ClockUntrusted { reason } => reason.as_str().to_owned(),
        Payload::StaffSignedIn { staff, role } => format!("{staff} ({role})"),
        Payload::StaffSignedOut { staff } => staff.as_str().to_owned(),
        Payload::CheckedIn {
            seal,
            urn_count,
            received,
            missing,
            unexpected,
            first_staff,
            second_staff,
        } => format!(
            "plomba / seal {seal}: urna / urn {urn_count}, przyjęto / received {received}, \
             brak / missing {}, nadmiar / unexpected {}; {first_staff}, {second_staff}",
            missing.len(),
            unexpected.len()
        ),
        Payload::HoldReleased { early: None, .. }
        | Payload::DropSeen { .. }
        | Payload::DropNotSeen { .. }
        | Payload::DoorOpened
        | Payload::DoorClosed
        | Payload::Collected { .. }
        | Payload::ClockTrusted => String::new(),
    }
}

pub use records::api::device_name;

/// The channel's name as the API spells it.
pub fn channel_name(channel: records::Channel) -> &'static str {
    match channel {
        records::Channel::Urn => "urn",
        records::Channel::Counter => "counter",
        records::Channel::Post => "post",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use records::{Hash, Intake, StationCode, Text, Timestamp};

    use super::*;

    fn station(code: &str) -> StationCode {
        code.parse().unwrap()
    }

    fn at(code: &str, seq: u64, payload: Payload) -> Event {
        Event {
            station: station(code),
            seq,
            recorded_at: Timestamp {
                unix_ms: 1_763_771_171_000 + seq as i64 * 1000,
                trusted: true,
            },
            prev_hash: Hash::GENESIS,
            payload,
        }
    }

    fn deposit(id: IntakeId) -> Payload {
        Payload::Deposit(Intake {
            id,
            received_at: Timestamp {
                unix_ms: 1_763_771_171_000,
                trusted: true,
            },
            channel: records::Channel::Urn,
            category: Text::new("inne").unwrap(),
            reference: None,
            sender: None,
            attachments: None,
        })
    }

    fn collected(seal: &str, envelopes: u32) -> Payload {
        Payload::UrnCollected {
            seal: Text::new(seal).unwrap(),
            envelopes,
            first_staff: Text::new("B-001").unwrap(),
            second_staff: Text::new("B-002").unwrap(),
        }
    }

    #[test]
    fn the_kind_name_is_the_payloads() {
        assert_eq!(collected("S-1", 0).kind_name(), URN_COLLECTED);
    }

    #[test]
    fn a_collection_lists_its_deposits_in_seq_order_with_their_drops() {
        let a = IntakeId::new(station("GW7K"), 1).unwrap();
        let b = IntakeId::new(station("GW7K"), 2).unwrap();
        let c = IntakeId::new(station("GW7K"), 3).unwrap();
        let window = vec![
            at("GW7K", 3, Payload::DropSeen { intake: b }),
            at("GW7K", 1, deposit(a)),
            at("GW7K", 2, Payload::DropSeen { intake: a }),
            at("GW7K", 4, deposit(b)),
            at("GW7K", 5, Payload::DropSeen { intake: a }),
            at("GW7K", 6, Payload::DoorOpened),
            at("GW7K", 7, Payload::DropNotSeen { intake: c }),
            at("GW7K", 8, deposit(c)),
            // Not this station's, and not before the collection: ignored.
            at("ZZ9Q", 2, Payload::DropSeen { intake: c }),
            at("GW7K", 10, Payload::DropSeen { intake: c }),
        ];
        let collection = at("GW7K", 9, collected("PL-0042", 3));
        let view = collection_view(&collection, "Urna", &window).unwrap();
        assert_eq!(view.station, "GW7K");
        assert_eq!(view.station_name, "Urna");
        assert_eq!(view.seal, "PL-0042");
        assert_eq!(view.collected_at, collection.recorded_at);
        assert_eq!(view.urn_count, 3);
        assert_eq!(view.staff, ["B-001".to_owned(), "B-002".to_owned()]);
        let got: Vec<(IntakeId, u32)> = view
            .deposits
            .iter()
            .map(|d| (d.intake, d.drops_seen))
            .collect();
        assert_eq!(got, vec![(a, 2), (b, 1), (c, 0)]);
    }

    #[test]
    fn only_an_urn_collection_has_a_view() {
        assert!(collection_view(&at("GW7K", 1, Payload::DoorOpened), "Urna", &[]).is_none());
        let empty = collection_view(&at("GW7K", 1, collected("S", 0)), "Urna", &[]).unwrap();
        assert!(empty.deposits.is_empty());
    }
}
