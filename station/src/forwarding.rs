//! Forwarding lists: the envelopes sent on to each department today, for the messenger's round
//! and for the department to sign for. Pure: built from the mailroom's `forwarded` events.

use records::{Event, Payload};
use serde::Serialize;

use crate::clock;

/// One department's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForwardingList {
    /// The department.
    pub department: String,
    /// Its envelopes, in the order they were forwarded.
    pub entries: Vec<ForwardedEnvelope>,
}

/// One envelope on a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForwardedEnvelope {
    /// The intake id.
    pub intake: String,
    /// When it was forwarded, local time.
    pub at: String,
}

/// Groups `forwarded` events by department (departments in alphabetical order).
pub fn lists(events: &[Event]) -> Vec<ForwardingList> {
    let mut lists: Vec<ForwardingList> = Vec::new();
    for event in events {
        let Payload::Forwarded { intake, department } = &event.payload else {
            continue;
        };
        let entry = ForwardedEnvelope {
            intake: intake.to_string(),
            at: clock::local_text(event.recorded_at),
        };
        match lists
            .iter_mut()
            .find(|l| l.department == department.as_str())
        {
            Some(list) => list.entries.push(entry),
            None => lists.push(ForwardingList {
                department: department.as_str().to_owned(),
                entries: vec![entry],
            }),
        }
    }
    lists.sort_by(|a, b| a.department.cmp(&b.department));
    lists
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use records::{IntakeId, Text, Timestamp};

    fn forwarded(seq: u64, n: u64, department: &str) -> Event {
        Event {
            station: "GWK2".parse().unwrap(),
            seq,
            recorded_at: Timestamp {
                unix_ms: 1_790_000_000_000 + seq as i64 * 60_000,
                trusted: true,
            },
            prev_hash: records::chain::Hash::GENESIS,
            payload: Payload::Forwarded {
                intake: IntakeId::new("GWU2".parse().unwrap(), n).unwrap(),
                department: Text::new(department).unwrap(),
            },
        }
    }

    #[test]
    fn envelopes_are_grouped_by_department_in_the_order_forwarded() {
        let events = [
            forwarded(1, 1, "Wydział Podatków"),
            forwarded(2, 2, "Kancelaria ogólna"),
            forwarded(3, 3, "Wydział Podatków"),
        ];
        let lists = lists(&events);
        assert_eq!(
            lists
                .iter()
                .map(|l| (l.department.as_str(), l.entries.len()))
                .collect::<Vec<_>>(),
            [("Kancelaria ogólna", 1), ("Wydział Podatków", 2)]
        );
        assert_eq!(
            lists[1].entries[0].intake,
            IntakeId::new("GWU2".parse().unwrap(), 1)
                .unwrap()
                .to_string()
        );
    }
}
