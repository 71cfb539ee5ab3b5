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
}

/// Longest scanned text accepted: a form reference or an urna label, never more.
pub const MAX_SCAN_CHARS: usize = 256;

/// Cleans a scanner line: trims the line ending and refuses what no code we read looks like
/// (too long, control characters), so scanner garbage changes nothing.
pub fn clean_scan(raw: &str) -> Option<String> {
    let text = raw.trim();
    if text.is_empty() || text.chars().count() > MAX_SCAN_CHARS {
        return None;
    }
    records::Text::new(text).ok().map(|t| t.as_str().to_owned())
}
