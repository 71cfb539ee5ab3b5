//! Sending a released envelope to another department than its category's: staff pick the
//! department and write why; both are recorded (`department_changed`) in the same commit as the
//! `forwarded` event. Offered on the screen while an envelope waits to be forwarded.

use records::{IntakeId, Payload, Text};
use serde::Serialize;

use super::{Mailroom, ScanResult, Session, Stage, failure, success};
use crate::clock;

/// Shortest and longest written reason, in characters.
pub const CHANGE_REASON_CHARS: std::ops::RangeInclusive<usize> = 10..=500;

/// The offer on the screen: this envelope may go elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForwardView {
    /// The envelope.
    pub intake: String,
    /// Its category's department, when the registry said.
    pub department: Option<String>,
    /// Where it may go instead.
    pub departments: Vec<String>,
}

/// A forward to another department, as checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The department it goes to.
    pub to: Text,
    /// Why.
    pub reason: Text,
}

/// Checks a department change typed on the screen against the station's departments.
pub fn check_change(
    department: &str,
    reason: &str,
    departments: &[&str],
) -> Result<Change, (String, String)> {
    let department = department.trim();
    if !departments.contains(&department) {
        return Err((
            "Wybierz wydział z listy.".into(),
            "Choose a department from the list.".into(),
        ));
    }
    let reason = reason.trim();
    let chars = reason.chars().count();
    if !CHANGE_REASON_CHARS.contains(&chars) || reason.chars().any(char::is_control) {
        return Err((
            format!(
                "Napisz powód zmiany wydziału: {}–{} znaków, jedna linia.",
                CHANGE_REASON_CHARS.start(),
                CHANGE_REASON_CHARS.end()
            ),
            format!(
                "Write why the department changes: {}–{} characters, one line.",
                CHANGE_REASON_CHARS.start(),
                CHANGE_REASON_CHARS.end()
            ),
        ));
    }
    match (Text::new(department), Text::new(reason)) {
        (Ok(to), Ok(reason)) => Ok(Change { to, reason }),
        _ => Err((
            "Tekstu nie da się zapisać.".into(),
            "The text cannot be recorded.".into(),
        )),
    }
}

impl Mailroom {
    fn forward_offer(&self) -> std::sync::MutexGuard<'_, Option<ForwardView>> {
        // Only this task uses it; a poisoned lock still holds a whole value.
        self.forward.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After a scan: an envelope released and not yet forwarded may go elsewhere; any other
    /// scan takes the offer away.
    pub(super) async fn offer_forward_if_released(&self, intake: Option<IntakeId>) {
        let offer = match intake {
            Some(intake) if matches!(self.stage(intake).await, Ok(Stage::Released)) => {
                let department = self.lookup(intake).await.map(|v| v.department);
                Some(ForwardView {
                    intake: intake.to_string(),
                    departments: self
                        .config
                        .departments()
                        .into_iter()
                        .filter(|d| Some(*d) != department.as_deref())
                        .map(str::to_owned)
                        .collect(),
                    department,
                })
            }
            _ => None,
        };
        *self.forward_offer() = offer;
    }

    /// The offer, for the screen.
    pub(super) fn forward_view(&self) -> Option<ForwardView> {
        self.forward_offer().clone()
    }

    /// "Cancel" while the offer shows: it goes; `None` when there was none.
    pub(super) fn cancel_forward(&self) -> Option<ScanResult> {
        self.forward_offer().take().map(|_| {
            super::notice(
                true,
                "Bez zmiany wydziału.",
                "The department stays as it is.",
            )
        })
    }

    /// Forwards the offered envelope to `department` instead of its category's.
    pub(super) async fn forward_elsewhere(&self, department: &str, reason: &str) -> ScanResult {
        if let Some(refused) = self.require_session() {
            return refused;
        }
        let Some(offer) = self.forward_view() else {
            return failure(
                None,
                "Najpierw zeskanuj kopertę wydaną z kwarantanny.",
                "Scan an envelope released from its hold first.",
            );
        };
        let Ok(intake) = offer.intake.parse::<IntakeId>() else {
            return failure(None, "Nieznana przesyłka.", "Unknown envelope.");
        };
        let departments = self.config.departments();
        let change = match check_change(department, reason, &departments) {
            Ok(change) => change,
            Err((pl, en)) => return failure(Some(intake), pl, en),
        };
        if !matches!(self.stage(intake).await, Ok(Stage::Released)) {
            *self.forward_offer() = None;
            return failure(
                Some(intake),
                "Tej przesyłki nie można już przekazać.",
                "This envelope cannot be forwarded now.",
            );
        }
        let staff = match &*self.session() {
            Session::SignedIn { member, .. } => Text::sanitized(&member.badge),
            _ => Text::sanitized("?"),
        };
        let now = clock::now();
        let shown = change.to.to_string();
        let events = vec![
            (
                now,
                Payload::DepartmentChanged {
                    intake,
                    from: Text::sanitized(offer.department.as_deref().unwrap_or("?")),
                    to: change.to.clone(),
                    reason: change.reason,
                    staff,
                },
            ),
            (
                now,
                Payload::Forwarded {
                    intake,
                    department: change.to,
                },
            ),
        ];
        match self.log.append_all(events).await {
            Ok(_) => {
                *self.forward_offer() = None;
                success(
                    intake,
                    format!("Przekazano do: {shown} (zmieniono wydział)."),
                    format!("Forwarded to: {shown} (department changed)."),
                )
            }
            Err(e) => self.storage_failure(intake, e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DEPARTMENTS: &[&str] = &["Kancelaria ogólna", "Wydział Podatków i Opłat"];

    #[test]
    fn a_listed_department_with_a_reason_is_taken() {
        let change = check_change(
            " Wydział Podatków i Opłat ",
            "Pismo dotyczy zaległości podatkowej",
            DEPARTMENTS,
        )
        .unwrap();
        assert_eq!(change.to.as_str(), "Wydział Podatków i Opłat");
    }

    #[test]
    fn an_unknown_department_or_a_short_reason_is_refused() {
        assert!(check_change("Wydział Inny", "długi i dobry powód", DEPARTMENTS).is_err());
        assert!(check_change("Kancelaria ogólna", "bo tak", DEPARTMENTS).is_err());
        assert!(check_change("Kancelaria ogólna", "powód\nw dwóch liniach", DEPARTMENTS).is_err());
    }

    proptest! {
        #[test]
        fn anything_typed_is_refused_or_a_listed_department_with_a_bounded_reason(
            department in prop_oneof![Just("Kancelaria ogólna".to_owned()), ".{0,40}"],
            reason in ".{0,600}",
        ) {
            if let Ok(change) = check_change(&department, &reason, DEPARTMENTS) {
                prop_assert!(DEPARTMENTS.contains(&change.to.as_str()));
                prop_assert!(CHANGE_REASON_CHARS.contains(&change.reason.as_str().chars().count()));
            }
        }
    }
}
