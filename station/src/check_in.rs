//! Checking a collection bag in at the mailroom: each envelope's label scanned and compared with
//! the deposits the urn recorded for that collection, so that a missing envelope, or one that
//! should not be there, is seen at the counter and not weeks later. Pure: the mailroom fetches
//! the collection, feeds the scans, and appends the result this module builds.

use records::api::CollectionView;
use records::{IntakeId, MAX_LISTED_INTAKES, Payload, Text};
use serde::Serialize;

/// What one scan meant for the bag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BagScan {
    /// A deposit of this collection, first time scanned.
    Expected,
    /// Not a deposit of this collection.
    Unexpected,
    /// Already scanned in this check-in.
    Again,
}

/// A bag being checked in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckIn {
    seal: String,
    station: String,
    station_name: String,
    urn_count: u32,
    /// The collection's deposits, oldest first, with whether the slot saw each fall.
    expected: Vec<(IntakeId, bool)>,
    /// Scanned deposits of the collection, in scan order.
    received: Vec<IntakeId>,
    /// Scanned envelopes that are not deposits of the collection, in scan order.
    unexpected: Vec<IntakeId>,
}

/// A check-in as the mailroom's screen shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckInView {
    /// The bag's seal.
    pub seal: String,
    /// The urn's code.
    pub station: String,
    /// The urn's name.
    pub station_name: String,
    /// Envelopes the urn counted.
    pub urn_count: u32,
    /// Deposits the urn recorded for the collection.
    pub expected: usize,
    /// Envelopes scanned so far (expected and unexpected).
    pub scanned: usize,
    /// Deposits not scanned yet, oldest first; a `*` marks one the slot never saw fall.
    pub missing: Vec<String>,
    /// Envelopes scanned that are not deposits of the collection.
    pub unexpected: Vec<String>,
}

impl CheckIn {
    /// Starts checking in the bag of `collection`.
    pub fn new(collection: &CollectionView) -> CheckIn {
        CheckIn {
            seal: collection.seal.clone(),
            station: collection.station.clone(),
            station_name: collection.station_name.clone(),
            urn_count: collection.urn_count,
            expected: collection
                .deposits
                .iter()
                .map(|d| (d.intake, d.drops_seen > 0))
                .collect(),
            received: Vec::new(),
            unexpected: Vec::new(),
        }
    }

    /// The bag's seal.
    pub fn seal(&self) -> &str {
        &self.seal
    }

    /// Takes one scanned envelope into account.
    pub fn scan(&mut self, intake: IntakeId) -> BagScan {
        if self.received.contains(&intake) || self.unexpected.contains(&intake) {
            BagScan::Again
        } else if self.expected.iter().any(|(id, _)| *id == intake) {
            self.received.push(intake);
            BagScan::Expected
        } else {
            self.unexpected.push(intake);
            BagScan::Unexpected
        }
    }

    /// Deposits not scanned, oldest first.
    pub fn missing(&self) -> Vec<IntakeId> {
        self.expected
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| !self.received.contains(id))
            .collect()
    }

    /// What the screen shows.
    pub fn view(&self) -> CheckInView {
        CheckInView {
            seal: self.seal.clone(),
            station: self.station.clone(),
            station_name: self.station_name.clone(),
            urn_count: self.urn_count,
            expected: self.expected.len(),
            scanned: self.received.len() + self.unexpected.len(),
            missing: self
                .expected
                .iter()
                .filter(|(id, _)| !self.received.contains(id))
                .map(|(id, seen)| {
                    if *seen {
                        id.to_string()
                    } else {
                        format!("{id}*")
                    }
                })
                .collect(),
            unexpected: self.unexpected.iter().map(|id| id.to_string()).collect(),
        }
    }

    /// The event that records the confirmed result. Lists longer than an event can carry are
    /// cut to their first [`MAX_LISTED_INTAKES`]; the counts stay whole.
    pub fn result(&self, first_staff: &str, second_staff: &str) -> Payload {
        let mut missing = self.missing();
        missing.truncate(MAX_LISTED_INTAKES);
        let mut unexpected = self.unexpected.clone();
        unexpected.truncate(MAX_LISTED_INTAKES);
        Payload::CheckedIn {
            seal: Text::sanitized(&self.seal),
            urn_count: self.urn_count,
            received: u32::try_from(self.received.len() + self.unexpected.len())
                .unwrap_or(u32::MAX),
            missing,
            unexpected,
            first_staff: Text::sanitized(first_staff),
            second_staff: Text::sanitized(second_staff),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use records::Timestamp;
    use records::api::CollectedDeposit;

    fn id(n: u64) -> IntakeId {
        IntakeId::new("GWU2".parse().unwrap(), n).unwrap()
    }

    fn collection() -> CollectionView {
        CollectionView {
            station: "GWU2".into(),
            station_name: "Urna".into(),
            seal: "778899".into(),
            collected_at: Timestamp {
                unix_ms: 0,
                trusted: true,
            },
            urn_count: 3,
            staff: ["1001".into(), "1002".into()],
            deposits: vec![
                CollectedDeposit {
                    intake: id(1),
                    drops_seen: 1,
                },
                CollectedDeposit {
                    intake: id(2),
                    drops_seen: 0,
                },
                CollectedDeposit {
                    intake: id(3),
                    drops_seen: 2,
                },
            ],
        }
    }

    #[test]
    fn missing_and_unexpected_envelopes_are_found() {
        let mut bag = CheckIn::new(&collection());
        assert_eq!(bag.scan(id(1)), BagScan::Expected);
        assert_eq!(bag.scan(id(1)), BagScan::Again);
        assert_eq!(bag.scan(id(9)), BagScan::Unexpected);
        assert_eq!(bag.scan(id(9)), BagScan::Again);
        assert_eq!(bag.scan(id(3)), BagScan::Expected);
        assert_eq!(bag.missing(), vec![id(2)]);
        let view = bag.view();
        assert_eq!(
            view.missing,
            vec![format!("{}*", id(2))],
            "never seen falling"
        );
        assert_eq!(view.unexpected, vec![id(9).to_string()]);
        assert_eq!(view.scanned, 3);
        match bag.result("1001", "1003") {
            Payload::CheckedIn {
                urn_count,
                received,
                missing,
                unexpected,
                ..
            } => {
                assert_eq!((urn_count, received), (3, 3));
                assert_eq!(missing, vec![id(2)]);
                assert_eq!(unexpected, vec![id(9)]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_enormous_result_still_fits_one_event() {
        let mut bag = CheckIn::new(&collection());
        for n in 100..(100 + 3 * MAX_LISTED_INTAKES as u64) {
            bag.scan(id(n));
        }
        let event = records::Event {
            station: "GWK2".parse().unwrap(),
            seq: 1,
            recorded_at: Timestamp {
                unix_ms: 0,
                trusted: true,
            },
            prev_hash: records::chain::Hash::GENESIS,
            payload: bag.result("1001", "1002"),
        };
        let bytes = records::encoding::encode(&event);
        assert!(bytes.len() <= records::encoding::MAX_EVENT_BYTES);
        assert_eq!(records::encoding::decode(&bytes).unwrap(), event);
    }
}
