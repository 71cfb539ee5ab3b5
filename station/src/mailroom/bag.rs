//! Checking in a collection bag at the counter: the seal scanned, the urn's deposits fetched
//! from the registry, each envelope's label scanned into the usual hold, and the result — how
//! many the urn counted, which are missing, which should not be there — confirmed by a second
//! staff member's badge and PIN and recorded as one `checked_in` event.

use records::api::CollectionView;
use serde::Serialize;

use super::{Mailroom, ScanResult, Session, failure, notice};
use crate::check_in::{BagScan, CheckIn, CheckInView};
use crate::clock;
use crate::staff::{self, Lockout, PinCheck, StaffMember};
use crate::workflow::Pin;

/// A bag being checked in, and whether its result is being confirmed.
#[derive(Debug)]
pub(super) struct BagCheck {
    bag: CheckIn,
    confirm: Confirm,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Confirm {
    No,
    AwaitingBadge,
    AwaitingPin { badge: String },
}

/// Where the confirmation of a bag's result stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfirmStep {
    /// Still scanning envelopes.
    Scanning,
    /// The second person's badge is awaited.
    Badge,
    /// The second person's PIN is awaited.
    Pin,
}

/// The bag on the mailroom's screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BagView {
    /// The reconciliation so far.
    #[serde(flatten)]
    pub check: CheckInView,
    /// The confirmation.
    pub confirm: ConfirmStep,
}

impl BagCheck {
    pub(super) fn view(&self) -> BagView {
        BagView {
            check: self.bag.view(),
            confirm: match self.confirm {
                Confirm::No => ConfirmStep::Scanning,
                Confirm::AwaitingBadge => ConfirmStep::Badge,
                Confirm::AwaitingPin { .. } => ConfirmStep::Pin,
            },
        }
    }
}

impl Mailroom {
    fn bag(&self) -> std::sync::MutexGuard<'_, Option<BagCheck>> {
        // Only this task uses it; a poisoned lock still holds a whole state.
        self.bag.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn signed_in_badge(&self) -> Option<String> {
        match &*self.session() {
            Session::SignedIn { member, .. } => Some(member.badge.clone()),
            _ => None,
        }
    }

    /// A code that is neither a badge nor a label, scanned by a signed-in person: a bag's seal.
    pub(super) async fn seal_scanned(&self, seal: &str) -> ScanResult {
        if let Some(open) = self.bag().as_ref() {
            return failure(
                None,
                format!(
                    "Najpierw zakończ przyjmowanie worka z plombą {}.",
                    open.bag.seal()
                ),
                format!(
                    "Finish checking in the bag sealed {} first.",
                    open.bag.seal()
                ),
            );
        }
        let Some(collection) = self.collection(seal).await else {
            return failure(
                None,
                format!(
                    "Nie znaleziono odbioru z plombą {seal} (albo brak połączenia z kancelarią). Sprawdź numer."
                ),
                format!(
                    "No collection with seal {seal} was found (or the registry is unreachable). Check the number."
                ),
            );
        };
        let check = BagCheck {
            bag: CheckIn::new(&collection),
            confirm: Confirm::No,
        };
        let view = check.bag.view();
        *self.bag() = Some(check);
        notice(
            true,
            format!(
                "Worek z plombą {seal} z urny {}. Kopert według urny: {}. Skanuj koperty.",
                view.station_name, view.urn_count
            ),
            format!(
                "Bag sealed {seal} from {}. Envelopes by the urn's count: {}. Scan the envelopes.",
                view.station_name, view.urn_count
            ),
        )
    }

    async fn collection(&self, seal: &str) -> Option<CollectionView> {
        let client = self.client.as_ref()?;
        // The seal was checked to be letters, digits and dashes: nothing to escape in a path.
        let response = client
            .get(
                &format!("/api/collections/{seal}"),
                Some(super::LOOKUP_TIMEOUT),
            )
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json::<CollectionView>().await.ok()
    }

    /// An envelope scanned while a bag is open: `Some` answer when the scan ends here (the same
    /// envelope twice); otherwise the usual step goes on, with `prefix` said before its result.
    pub(super) fn bag_envelope(
        &self,
        intake: records::IntakeId,
    ) -> Result<Option<(&'static str, &'static str)>, ScanResult> {
        let mut bag = self.bag();
        let Some(open) = bag.as_mut() else {
            return Ok(None);
        };
        match open.bag.scan(intake) {
            BagScan::Again => Err(failure(
                Some(intake),
                "Ta koperta była już zeskanowana w tym worku.",
                "This envelope was already scanned from this bag.",
            )),
            BagScan::Unexpected => Ok(Some((
                "UWAGA: tej koperty nie ma na liście urny. ",
                "NOTE: this envelope is not on the urn's list. ",
            ))),
            BagScan::Expected => Ok(None),
        }
    }

    /// "Finish" on the screen: the result waits for a second person.
    pub(super) fn finish_bag(&self) -> ScanResult {
        let mut bag = self.bag();
        let Some(open) = bag.as_mut() else {
            return failure(None, "Nie ma otwartego worka.", "No bag is open.");
        };
        open.confirm = Confirm::AwaitingBadge;
        let view = open.bag.view();
        notice(
            true,
            format!(
                "Wynik: urna {}, zeskanowano {}, brak {}, spoza listy {}. Druga osoba: zeskanuj kartę, by zatwierdzić.",
                view.urn_count,
                view.scanned,
                view.missing.len(),
                view.unexpected.len()
            ),
            format!(
                "Result: urn {}, scanned {}, missing {}, not on the list {}. Second person: scan your badge to confirm.",
                view.urn_count,
                view.scanned,
                view.missing.len(),
                view.unexpected.len()
            ),
        )
    }

    /// "Cancel" on the screen: the bag is put aside unconfirmed (the envelopes scanned stay in
    /// their holds).
    pub(super) fn cancel_bag(&self) -> Option<ScanResult> {
        let cancelled = self.bag().take()?;
        Some(notice(
            true,
            format!(
                "Przyjmowanie worka {} przerwane, wynik niezatwierdzony.",
                cancelled.bag.seal()
            ),
            format!(
                "Checking in bag {} stopped; no result confirmed.",
                cancelled.bag.seal()
            ),
        ))
    }

    /// A badge while a bag's result awaits its second person: `None` when no bag awaits one.
    pub(super) fn bag_badge(&self, badge: &str) -> Option<ScanResult> {
        let signed_in = self.signed_in_badge();
        let mut bag = self.bag();
        let open = bag.as_mut()?;
        if open.confirm != Confirm::AwaitingBadge {
            return None;
        }
        if signed_in.as_deref() == Some(badge) {
            return Some(failure(
                None,
                "Wynik zatwierdza druga osoba, nie ta, która skanowała.",
                "A second person confirms the result, not the one who scanned.",
            ));
        }
        open.confirm = Confirm::AwaitingPin {
            badge: badge.to_owned(),
        };
        Some(notice(
            true,
            "Druga osoba: wpisz PIN.",
            "Second person: type your PIN.",
        ))
    }

    /// A PIN while a bag's result awaits it: `Err(pin)` back when no bag awaits one.
    pub(super) async fn bag_pin(&self, pin: Pin) -> Result<ScanResult, Pin> {
        let badge = match self.bag().as_ref().map(|b| b.confirm.clone()) {
            Some(Confirm::AwaitingPin { badge }) => badge,
            _ => return Err(pin),
        };
        let Some(first) = self.signed_in_badge() else {
            return Ok(failure(None, "Najpierw zaloguj się.", "Sign in first."));
        };
        let second = match self.second_person(&badge, pin).await {
            Ok(member) => member,
            Err(refused) => {
                if let Some(open) = self.bag().as_mut()
                    && !refused.retry
                {
                    open.confirm = Confirm::AwaitingBadge;
                }
                return Ok(refused.result);
            }
        };
        let Some(result) = self
            .bag()
            .as_ref()
            .map(|open| open.bag.result(&first, &second.badge))
        else {
            return Ok(failure(None, "Nie ma otwartego worka.", "No bag is open."));
        };
        if let Err(e) = self.log.append(clock::now(), result).await {
            tracing::error!("mailroom: check-in result not recorded: {e}");
            return Ok(failure(
                None,
                "Błąd zapisu stanowiska — wezwij administratora.",
                "Station storage error — call the administrator.",
            ));
        }
        let done = self.bag().take();
        let seal = done.map(|d| d.bag.seal().to_owned()).unwrap_or_default();
        tracing::info!(
            "mailroom: bag {seal} checked in, confirmed by badge {}",
            second.badge
        );
        Ok(notice(
            true,
            format!(
                "Wynik przyjęcia worka {seal} zatwierdzony przez: {}.",
                second.name
            ),
            format!(
                "The check-in of bag {seal} is confirmed by {}.",
                second.name
            ),
        ))
    }
}

/// Why a second person's PIN did not count, and whether they may type it again.
pub(super) struct Refused {
    pub(super) result: ScanResult,
    /// A wrong PIN with tries left: the same badge may try again.
    pub(super) retry: bool,
}

impl Mailroom {
    /// Checks the PIN of a second person (confirming a bag, approving an early release): their
    /// account, or what to tell them.
    pub(super) async fn second_person(
        &self,
        badge: &str,
        pin: Pin,
    ) -> Result<StaffMember, Refused> {
        let refuse = |result| Refused {
            result,
            retry: false,
        };
        let Some(accounts) = self.staff.clone() else {
            return Err(refuse(failure(
                None,
                "Logowanie niedostępne — wezwij administratora.",
                "Sign-in unavailable — call the administrator.",
            )));
        };
        let lockout = Lockout::from_config(&self.config.staff);
        match staff::check_pin(&accounts, badge, pin, lockout).await {
            Ok(PinCheck::Accepted(member)) => Ok(member),
            Ok(PinCheck::Wrong { attempts_left }) => Err(Refused {
                result: failure(
                    None,
                    format!("Zły PIN. Pozostało prób: {attempts_left}."),
                    format!("Wrong PIN. Tries left: {attempts_left}."),
                ),
                retry: true,
            }),
            Ok(PinCheck::LockedOut { .. } | PinCheck::NotAllowed) => Err(refuse(failure(
                None,
                "Ta karta nie może teraz zatwierdzić. Niech zatwierdzi inna osoba.",
                "This badge cannot confirm now. Let another person confirm.",
            ))),
            Err(e) => {
                tracing::error!("mailroom: PIN check for badge {badge} failed: {e}");
                Err(refuse(failure(
                    None,
                    "Błąd sprawdzania PIN-u — wezwij administratora.",
                    "The PIN could not be checked — call the administrator.",
                )))
            }
        }
    }
}
