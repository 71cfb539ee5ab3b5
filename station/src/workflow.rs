//! What the station's workflows (kiosk, mailroom) are told: device inputs and touches on the page.

use crate::devices::Input;

/// Something for a workflow to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A device input (scanner, button, door, slot).
    Input(Input),
    /// "I have no code" on the kiosk's screen.
    Start,
    /// A category chosen on the kiosk's screen.
    Choose(String),
    /// "Cancel" on the kiosk's screen.
    Cancel,
    /// A PIN typed at the mailroom after a badge scan.
    Pin(Pin),
    /// "Sign out" on the mailroom's screen.
    SignOut,
    /// A seal number typed on the kiosk's keypad during a collection.
    Seal(String),
    /// "Finish" on the mailroom's bag check-in: the result goes to a second person.
    FinishBag,
    /// "Release early" on the mailroom's screen (`None`), or the written reason (`Some`).
    EarlyRelease(Option<String>),
    /// A letter that came by post or at the counter, as typed on the mailroom's form.
    Intake(Box<crate::mailroom::IntakeForm>),
    /// "Forward to another department" on the mailroom's screen, with the written reason.
    ForwardElsewhere {
        /// The department chosen.
        department: String,
        /// Why.
        reason: String,
    },
    /// "Print the bin label" on the mailroom's screen: for every hold not yet in a labelled bin.
    PrintBinLabel,
}

/// A typed PIN: its `Debug` never shows it, so no log line can.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(pub String);

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(***)")
    }
}

/// Longest scanned text accepted: a receipt's signed text is the longest code the station reads.
pub const MAX_SCAN_CHARS: usize = 256;
