//! How full the urn is: envelopes that fell through the slot since the last collection, against
//! the configured capacity, and which fill alerts are due. Pure: it folds custody events and
//! says which events to append; the kiosk does the appending.

use records::{Device, Payload, Text};
use serde::Serialize;

/// The fault raised at 80 % of capacity.
pub const NEARLY_FULL: &str = "nearly_full";
/// The fault raised at 100 % of capacity.
pub const FULL: &str = "full";
/// The alarm recorded for an envelope that fell with no deposit open: it fills the urn too,
/// and the mailroom's reconciliation will find it without a matching deposit.
pub const ENVELOPE_WITHOUT_DEPOSIT: &str = "envelope_without_deposit";

/// The alert thresholds, as a share of capacity in per cent.
const NEARLY_FULL_PERCENT: u64 = 80;

/// How full the urn is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FillLevel {
    /// Below 80 %.
    Normal,
    /// At least 80 %: staff should plan a collection.
    NearlyFull,
    /// At capacity: no more deposits until it is collected.
    Full,
}

/// The urn's envelope count and the fill alerts already raised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrnFill {
    capacity: u32,
    envelopes: u32,
    nearly_full_raised: bool,
    full_raised: bool,
}

impl UrnFill {
    /// An empty urn that holds `capacity` envelopes (at least 1).
    pub fn new(capacity: u32) -> UrnFill {
        UrnFill {
            capacity: capacity.max(1),
            envelopes: 0,
            nearly_full_raised: false,
            full_raised: false,
        }
    }

    /// Takes one custody event of this station into account, in log order.
    pub fn observe(&mut self, payload: &Payload) {
        match payload {
            Payload::DropSeen { .. } => self.envelopes = self.envelopes.saturating_add(1),
            Payload::Alarm {
                device: Device::Slot,
                alarm,
            } if alarm.as_str() == ENVELOPE_WITHOUT_DEPOSIT => {
                self.envelopes = self.envelopes.saturating_add(1);
            }
            Payload::UrnCollected { .. } => self.envelopes = 0,
            Payload::FaultRaised {
                device: Device::Urn,
                fault,
            } => self.set_raised(fault.as_str(), true),
            Payload::FaultCleared {
                device: Device::Urn,
                fault,
            } => self.set_raised(fault.as_str(), false),
            _ => {}
        }
    }

    fn set_raised(&mut self, fault: &str, raised: bool) {
        match fault {
            NEARLY_FULL => self.nearly_full_raised = raised,
            FULL => self.full_raised = raised,
            _ => {}
        }
    }

    /// Envelopes in the urn.
    pub fn envelopes(&self) -> u32 {
        self.envelopes
    }

    /// Envelopes the urn holds.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// How full it is now.
    pub fn level(&self) -> FillLevel {
        let (envelopes, capacity) = (u64::from(self.envelopes), u64::from(self.capacity));
        if envelopes >= capacity {
            FillLevel::Full
        } else if envelopes * 100 >= capacity * NEARLY_FULL_PERCENT {
            FillLevel::NearlyFull
        } else {
            FillLevel::Normal
        }
    }

    /// The fault events to append now: each threshold reached and not yet raised, lowest first.
    pub fn alerts_due(&self) -> Vec<Payload> {
        let level = self.level();
        let mut due = Vec::new();
        if level >= FillLevel::NearlyFull && !self.nearly_full_raised {
            due.push(fault_raised(NEARLY_FULL));
        }
        if level >= FillLevel::Full && !self.full_raised {
            due.push(fault_raised(FULL));
        }
        due
    }

    /// The events that record a collection, to be appended in one transaction: the collection
    /// itself, then the fill alerts it clears. Appending them together means a restart never
    /// finds a collection whose alerts are still open.
    pub fn collection(&self, seal: Text, first_staff: Text, second_staff: Text) -> Vec<Payload> {
        let mut events = vec![Payload::UrnCollected {
            seal,
            envelopes: self.envelopes,
            first_staff,
            second_staff,
        }];
        for (raised, fault) in [
            (self.full_raised, FULL),
            (self.nearly_full_raised, NEARLY_FULL),
        ] {
            if raised {
                events.push(Payload::FaultCleared {
                    device: Device::Urn,
                    fault: Text::sanitized(fault),
                });
            }
        }
        events
    }
}

fn fault_raised(fault: &str) -> Payload {
    Payload::FaultRaised {
        device: Device::Urn,
        fault: Text::sanitized(fault),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use records::{IntakeId, StationCode};

    fn drop_seen(n: u64) -> Payload {
        let station: StationCode = "GWU2".parse().unwrap();
        Payload::DropSeen {
            intake: IntakeId::new(station, n).unwrap(),
        }
    }

    fn apply(fill: &mut UrnFill, events: &[Payload]) {
        for e in events {
            fill.observe(e);
        }
    }

    #[test]
    fn alerts_come_once_at_eighty_and_at_a_hundred_per_cent() {
        let mut fill = UrnFill::new(10);
        for n in 1..=7 {
            fill.observe(&drop_seen(n));
            assert!(fill.alerts_due().is_empty(), "at {n}");
        }
        fill.observe(&drop_seen(8));
        assert_eq!(fill.level(), FillLevel::NearlyFull);
        let due = fill.alerts_due();
        assert_eq!(due, vec![fault_raised(NEARLY_FULL)]);
        apply(&mut fill, &due);
        assert!(fill.alerts_due().is_empty());
        fill.observe(&drop_seen(9));
        assert!(fill.alerts_due().is_empty());
        fill.observe(&drop_seen(10));
        assert_eq!(fill.level(), FillLevel::Full);
        let due = fill.alerts_due();
        assert_eq!(due, vec![fault_raised(FULL)]);
        apply(&mut fill, &due);
        fill.observe(&drop_seen(11));
        assert!(
            fill.alerts_due().is_empty(),
            "a full urn is not raised twice"
        );
    }

    #[test]
    fn a_jump_past_both_thresholds_raises_both_in_order() {
        let mut fill = UrnFill::new(1);
        fill.observe(&drop_seen(1));
        assert_eq!(
            fill.alerts_due(),
            vec![fault_raised(NEARLY_FULL), fault_raised(FULL)]
        );
    }

    #[test]
    fn envelopes_without_a_deposit_count_and_other_alarms_do_not() {
        let mut fill = UrnFill::new(10);
        fill.observe(&Payload::Alarm {
            device: Device::Slot,
            alarm: Text::sanitized(ENVELOPE_WITHOUT_DEPOSIT),
        });
        fill.observe(&Payload::Alarm {
            device: Device::Door,
            alarm: Text::sanitized("door_opened_outside_collection"),
        });
        fill.observe(&Payload::DoorOpened);
        assert_eq!(fill.envelopes(), 1);
    }

    #[test]
    fn a_collection_empties_the_urn_and_clears_its_alerts() {
        let mut fill = UrnFill::new(2);
        for n in 1..=2 {
            fill.observe(&drop_seen(n));
        }
        let due = fill.alerts_due();
        apply(&mut fill, &due);
        let collection = fill.collection(
            Text::sanitized("PL-000123"),
            Text::sanitized("URNA-STAFF:17"),
            Text::sanitized("URNA-STAFF:21"),
        );
        assert!(matches!(
            collection[0],
            Payload::UrnCollected { envelopes: 2, .. }
        ));
        assert_eq!(collection.len(), 3, "{collection:?}");
        apply(&mut fill, &collection);
        assert_eq!(fill, UrnFill::new(2), "back to an empty urn, no alert open");
    }

    #[test]
    fn replaying_the_log_gives_the_same_state_as_living_through_it() {
        // What the kiosk does at start: fold everything since the last collection.
        let mut lived = UrnFill::new(5);
        let mut log = Vec::new();
        for n in 1..=6 {
            let drop = drop_seen(n);
            lived.observe(&drop);
            log.push(drop);
            let due = lived.alerts_due();
            apply(&mut lived, &due);
            log.extend(due);
        }
        let mut replayed = UrnFill::new(5);
        apply(&mut replayed, &log);
        assert_eq!(replayed, lived);
        assert!(replayed.alerts_due().is_empty());
    }
}
