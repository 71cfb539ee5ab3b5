//! Releasing an envelope before its sanitising hold is over: only with a supervisor's badge and
//! PIN and a written reason, both recorded in the `hold_released` event. Offered on the screen
//! right after a scan was refused because the hold still runs.

use records::{EarlyRelease, IntakeId, Payload, Text};
use serde::Serialize;

use super::{Mailroom, ScanResult, failure, notice};
use crate::clock;
use crate::staff::StaffRole;
use crate::workflow::Pin;

/// Shortest and longest written reason, in characters.
pub const REASON_CHARS: std::ops::RangeInclusive<usize> = 10..=500;

/// Where an early release stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(super) enum Early {
    #[default]
    None,
    /// The last scan was refused because this intake's hold still runs.
    Offered(IntakeId),
    Reason {
        intake: IntakeId,
    },
    Badge {
        intake: IntakeId,
        reason: String,
    },
    Pin {
        intake: IntakeId,
        reason: String,
        badge: String,
    },
}

/// The early release on the screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EarlyView {
    /// The envelope.
    pub intake: String,
    /// `offered`, `reason`, `badge` or `pin`.
    pub step: &'static str,
}

impl Early {
    pub(super) fn view(&self) -> Option<EarlyView> {
        let (intake, step) = match self {
            Early::None => return None,
            Early::Offered(intake) => (intake, "offered"),
            Early::Reason { intake } => (intake, "reason"),
            Early::Badge { intake, .. } => (intake, "badge"),
            Early::Pin { intake, .. } => (intake, "pin"),
        };
        Some(EarlyView {
            intake: intake.to_string(),
            step,
        })
    }
}

impl Mailroom {
    fn early(&self) -> std::sync::MutexGuard<'_, Early> {
        // Only this task uses it; a poisoned lock still holds a whole state.
        self.early.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A scan was refused because `intake`'s hold still runs: offer the early release.
    pub(super) fn offer_early(&self, intake: IntakeId) {
        *self.early() = Early::Offered(intake);
    }

    /// A new scan: an offer not taken up lapses; a release under way stays.
    pub(super) fn lapse_early_offer(&self) {
        let mut early = self.early();
        if matches!(*early, Early::Offered(_)) {
            *early = Early::None;
        }
    }

    /// "Release early" on the screen (no reason yet), or the reason typed.
    pub(super) fn early_step(&self, reason: Option<String>) -> ScanResult {
        let mut early = self.early();
        match (early.clone(), reason) {
            (Early::Offered(intake), None) => {
                *early = Early::Reason { intake };
                notice(
                    true,
                    "Wydanie przed końcem kwarantanny: wpisz powód.",
                    "Release before the hold is over: type the reason.",
                )
            }
            (Early::Reason { intake }, Some(reason)) => {
                let reason = reason.trim().to_owned();
                let fits = REASON_CHARS.contains(&reason.chars().count())
                    && records::Text::new(&reason).is_ok();
                if !fits {
                    return failure(
                        Some(intake),
                        format!(
                            "Powód: jedna linia, od {} do {} znaków.",
                            REASON_CHARS.start(),
                            REASON_CHARS.end()
                        ),
                        format!(
                            "Reason: one line of {} to {} characters.",
                            REASON_CHARS.start(),
                            REASON_CHARS.end()
                        ),
                    );
                }
                *early = Early::Badge { intake, reason };
                notice(
                    true,
                    "Kierownik: zeskanuj swoją kartę.",
                    "Supervisor: scan your badge.",
                )
            }
            _ => failure(
                None,
                "Najpierw zeskanuj kopertę w kwarantannie.",
                "Scan an envelope in its hold first.",
            ),
        }
    }

    /// A badge while an early release waits for a supervisor: `None` when none waits.
    pub(super) fn early_badge(&self, badge: &str) -> Option<ScanResult> {
        let mut early = self.early();
        let Early::Badge { intake, reason } = early.clone() else {
            return None;
        };
        *early = Early::Pin {
            intake,
            reason,
            badge: badge.to_owned(),
        };
        Some(notice(
            true,
            "Kierownik: wpisz PIN.",
            "Supervisor: type your PIN.",
        ))
    }

    /// A PIN while an early release waits for it: `Err(pin)` back when none waits.
    pub(super) async fn early_pin(&self, pin: Pin) -> Result<ScanResult, Pin> {
        let Early::Pin {
            intake,
            reason,
            badge,
        } = self.early().clone()
        else {
            return Err(pin);
        };
        let supervisor = match self.second_person(&badge, pin).await {
            Ok(member) => member,
            Err(refused) => {
                if !refused.retry {
                    *self.early() = Early::Badge { intake, reason };
                }
                return Ok(refused.result);
            }
        };
        if supervisor.role != StaffRole::Supervisor {
            *self.early() = Early::Badge { intake, reason };
            return Ok(failure(
                Some(intake),
                "Przed czasem wydaje tylko kierownik. Niech zeskanuje kartę kierownik.",
                "Only a supervisor releases early. A supervisor must scan their badge.",
            ));
        }
        let event = Payload::HoldReleased {
            intake,
            early: Some(EarlyRelease {
                supervisor: Text::sanitized(&supervisor.badge),
                reason: Text::sanitized(&reason),
            }),
        };
        if let Err(e) = self.log.append(clock::now(), event).await {
            tracing::error!("mailroom: early release not recorded: {e}");
            return Ok(failure(
                Some(intake),
                "Błąd zapisu stanowiska — wezwij administratora.",
                "Station storage error — call the administrator.",
            ));
        }
        *self.early() = Early::None;
        tracing::warn!(
            "mailroom: {intake} released early by supervisor badge {}",
            supervisor.badge
        );
        Ok(notice(
            true,
            format!(
                "{intake} wydano przed końcem kwarantanny za zgodą: {}. Powód zapisany.",
                supervisor.name
            ),
            format!(
                "{intake} released before the hold was over, approved by {}. The reason is recorded.",
                supervisor.name
            ),
        ))
    }

    /// "Cancel" during an early release: `None` when none is under way.
    pub(super) fn cancel_early(&self) -> Option<ScanResult> {
        let mut early = self.early();
        if *early == Early::None {
            return None;
        }
        *early = Early::None;
        Some(notice(
            true,
            "Wydanie przed czasem przerwane.",
            "Early release stopped.",
        ))
    }
}
