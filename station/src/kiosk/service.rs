//! Emptying the urn, the way ballot drop boxes are emptied: two staff sign in at the urn (badge,
//! then PIN on the screen's keypad), the number of the seal on the collection bag is recorded,
//! the service door opens without an alarm, and when it closes the urn's envelope count since
//! the last collection is recorded with the seal and both names, in one transaction with the
//! fill alerts it clears.

use std::time::Duration;

use records::{Payload, Text};
use serde::Serialize;
use tokio::time::Instant;

use super::{Kiosk, KioskView, State, Step, text};
use crate::kiosk_text::{self as said};
use crate::scanned::{Scanned, classify};
use crate::staff::{self, Lockout, PinCheck, StaffMember};
use crate::workflow::Pin;

/// How long a collection waits at any step before it is abandoned (not while the door is open:
/// then it waits for the door).
pub const SERVICE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Longest seal number: seals carry a short printed serial, often as a barcode.
pub const MAX_SEAL_CHARS: usize = 32;

/// Where a collection stands.
#[derive(Debug, Clone)]
pub(super) enum Stage {
    FirstPin {
        badge: String,
    },
    SecondBadge {
        first: StaffMember,
    },
    SecondPin {
        first: StaffMember,
        badge: String,
    },
    Seal {
        first: StaffMember,
        second: StaffMember,
    },
    OpenDoor {
        first: StaffMember,
        second: StaffMember,
        seal: String,
    },
    DoorOpen {
        first: StaffMember,
        second: StaffMember,
        seal: String,
    },
}

/// A collection as the screen shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceView {
    /// `first_pin`, `second_badge`, `second_pin`, `seal`, `open_door` or `door_open`.
    pub stage: &'static str,
    /// The first staff member's name, once signed in.
    pub first: Option<String>,
    /// The second's.
    pub second: Option<String>,
    /// The seal number, once recorded.
    pub seal: Option<String>,
}

impl Stage {
    fn view(&self) -> ServiceView {
        let (stage, first, second, seal) = match self {
            Stage::FirstPin { .. } => ("first_pin", None, None, None),
            Stage::SecondBadge { first } => ("second_badge", Some(first), None, None),
            Stage::SecondPin { first, .. } => ("second_pin", Some(first), None, None),
            Stage::Seal { first, second } => ("seal", Some(first), Some(second), None),
            Stage::OpenDoor {
                first,
                second,
                seal,
            } => ("open_door", Some(first), Some(second), Some(seal)),
            Stage::DoorOpen {
                first,
                second,
                seal,
            } => ("door_open", Some(first), Some(second), Some(seal)),
        };
        ServiceView {
            stage,
            first: first.map(|m| m.name.clone()),
            second: second.map(|m| m.name.clone()),
            seal: seal.cloned(),
        }
    }

    fn signed_in(&self) -> Vec<&StaffMember> {
        match self {
            Stage::FirstPin { .. } => vec![],
            Stage::SecondBadge { first } | Stage::SecondPin { first, .. } => vec![first],
            Stage::Seal { first, second }
            | Stage::OpenDoor { first, second, .. }
            | Stage::DoorOpen { first, second, .. } => vec![first, second],
        }
    }
}

/// A seal number as scanned or typed: 1 to 32 letters, digits and dashes.
pub fn seal_number(raw: &str) -> Option<String> {
    let seal = raw.trim().to_ascii_uppercase();
    let ok = !seal.is_empty()
        && seal.chars().count() <= MAX_SEAL_CHARS
        && seal.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    ok.then_some(seal)
}

impl Kiosk {
    /// A staff badge scanned at a kiosk waiting for residents: a collection begins.
    pub(super) fn start_collection(&mut self, badge: String) {
        self.enter_service(Stage::FirstPin { badge }, said::service_pin());
    }

    fn enter_service(&mut self, stage: Stage, message: said::Said) {
        let view = stage.view();
        self.state = State::Service {
            stage,
            until: Instant::now() + SERVICE_TIMEOUT,
        };
        let mut v = KioskView::idle(self.printer_status);
        v.step = Step::Service;
        v.say(message);
        v.service = Some(view);
        self.publish(v);
    }

    fn stage(&self) -> Option<Stage> {
        match &self.state {
            State::Service { stage, .. } => Some(stage.clone()),
            _ => None,
        }
    }

    /// A code scanned during a collection: the second badge, or the seal.
    pub(super) async fn service_scan(&mut self, raw: &str) {
        let Some(stage) = self.stage() else { return };
        let scanned = classify(raw, &self.config.badge_prefix);
        match (stage, scanned) {
            (Stage::SecondBadge { first }, Ok(Scanned::Badge(badge))) => {
                if badge == first.badge {
                    self.enter_service(Stage::SecondBadge { first }, said::service_other_person());
                } else {
                    self.enter_service(Stage::SecondPin { first, badge }, said::service_pin());
                }
            }
            (Stage::Seal { first, second }, Ok(Scanned::Badge(_))) => {
                self.enter_service(Stage::Seal { first, second }, said::service_seal());
            }
            (Stage::Seal { first, second }, _) => self.seal_entered(first, second, raw),
            _ => {}
        }
    }

    /// A seal number typed on the screen's keypad.
    pub(super) fn service_seal(&mut self, typed: &str) {
        if let Some(Stage::Seal { first, second }) = self.stage() {
            self.seal_entered(first, second, typed);
        }
    }

    fn seal_entered(&mut self, first: StaffMember, second: StaffMember, raw: &str) {
        match seal_number(raw) {
            Some(seal) => self.enter_service(
                Stage::OpenDoor {
                    first,
                    second,
                    seal,
                },
                said::service_open_door(),
            ),
            None => self.enter_service(Stage::Seal { first, second }, said::service_bad_seal()),
        }
    }

    /// A PIN typed on the screen's keypad for the badge just scanned.
    pub(super) async fn service_pin(&mut self, pin: Pin) {
        let (badge, first) = match self.stage() {
            Some(Stage::FirstPin { badge }) => (badge, None),
            Some(Stage::SecondPin { first, badge }) => (badge, Some(first)),
            _ => return,
        };
        let Some(staff) = self.staff.clone() else {
            self.end_service(said::service_unavailable()).await;
            return;
        };
        let lockout = Lockout::from_config(&self.config.staff);
        let checked = match staff::check_pin(&staff, &badge, pin, lockout).await {
            Ok(checked) => checked,
            Err(e) => {
                tracing::error!("kiosk: PIN check for badge {badge} failed: {e}");
                self.end_service(said::service_unavailable()).await;
                return;
            }
        };
        match checked {
            PinCheck::Accepted(member) => {
                let event = Payload::StaffSignedIn {
                    staff: text(&member.badge),
                    role: text(member.role.as_str()),
                };
                if !self.record(vec![event], "staff sign-in").await {
                    self.end_service(said::storage_out_of_order()).await;
                    return;
                }
                tracing::info!("kiosk: badge {} signed in for a collection", member.badge);
                match first {
                    None => self.enter_service(
                        Stage::SecondBadge { first: member },
                        said::service_second_badge(),
                    ),
                    Some(first) => self.enter_service(
                        Stage::Seal {
                            first,
                            second: member,
                        },
                        said::service_seal(),
                    ),
                }
            }
            PinCheck::Wrong { attempts_left } => {
                tracing::warn!("kiosk: wrong PIN for badge {badge}");
                let stage = match first {
                    None => Stage::FirstPin { badge },
                    Some(first) => Stage::SecondPin { first, badge },
                };
                self.enter_service(stage, said::wrong_pin(attempts_left));
            }
            PinCheck::LockedOut { .. } => {
                tracing::warn!("kiosk: badge {badge} locked after wrong PINs");
                self.end_service(said::badge_locked()).await;
            }
            PinCheck::NotAllowed => {
                tracing::warn!("kiosk: badge {badge} is unknown or disabled");
                self.end_service(said::badge_not_allowed()).await;
            }
        }
    }

    /// The service door opened: without an alarm once both staff and the seal are recorded.
    /// Returns false when it is not part of a collection.
    pub(super) async fn service_door_opened(&mut self) -> bool {
        let Some(Stage::OpenDoor {
            first,
            second,
            seal,
        }) = self.stage()
        else {
            return false;
        };
        self.record(vec![Payload::DoorOpened], "door opening").await;
        self.enter_service(
            Stage::DoorOpen {
                first,
                second,
                seal,
            },
            said::service_door_open(self.fill.envelopes()),
        );
        true
    }

    /// The service door closed: if a collection had it open, the collection is recorded.
    /// Returns false when it is not part of a collection.
    pub(super) async fn service_door_closed(&mut self) -> bool {
        let Some(Stage::DoorOpen {
            first,
            second,
            seal,
        }) = self.stage()
        else {
            return false;
        };
        let envelopes = self.fill.envelopes();
        let mut events = vec![Payload::DoorClosed];
        events.extend(
            self.fill
                .collection(text(&seal), text(&first.badge), text(&second.badge)),
        );
        for member in [&first, &second] {
            events.push(Payload::StaffSignedOut {
                staff: text(&member.badge),
            });
        }
        if !self.record(events, "collection").await {
            // Nothing of it was committed: the door is closed, the staff still signed in.
            self.enter_service(
                Stage::DoorOpen {
                    first,
                    second,
                    seal,
                },
                said::storage_out_of_order(),
            );
            return true;
        }
        tracing::info!("kiosk: collected {envelopes} envelopes under seal {seal}");
        self.show_message(said::service_collected(envelopes, &seal));
        true
    }

    /// Cancel on the screen, or the timeout: the staff signed in are signed out.
    pub(super) async fn end_service(&mut self, message: said::Said) {
        let Some(stage) = self.stage() else { return };
        let events: Vec<Payload> = stage
            .signed_in()
            .into_iter()
            .map(|m| Payload::StaffSignedOut {
                staff: Text::sanitized(&m.badge),
            })
            .collect();
        if !events.is_empty() {
            self.record(events, "staff sign-out").await;
        }
        self.state = State::Idle;
        self.show_message(message);
    }

    /// The timeout of a collection step; a collection with the door open waits for the door.
    pub(super) async fn service_timed_out(&mut self) {
        match self.stage() {
            Some(Stage::DoorOpen { .. }) => {
                if let State::Service { until, .. } = &mut self.state {
                    *until = Instant::now() + SERVICE_TIMEOUT;
                }
            }
            Some(_) => self.end_service(said::service_abandoned()).await,
            None => {}
        }
    }
}
