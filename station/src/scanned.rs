//! What a scanned code is: an urna envelope label, a resident's receipt, a staff badge, or the
//! reference on a resident's form — each with its limits, and a clear answer for anything else.

use records::{IdError, IntakeId, ReceiptError, ReceiptPayload, Text};

use crate::workflow::MAX_SCAN_CHARS;

/// A reference longer than this is not one an office prints on its forms.
pub const MAX_REFERENCE_CHARS: usize = 120;
/// Badge numbers (after the prefix) are short.
pub const MAX_BADGE_CHARS: usize = 64;

/// A code the station understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scanned {
    /// The intake id on an urna envelope label.
    Label(IntakeId),
    /// The signed text of a resident's receipt.
    Receipt(ReceiptPayload),
    /// A staff badge (the part after the configured prefix).
    Badge(String),
    /// A form or case reference, e.g. `GKM.6220.12.2020`.
    Reference(Text),
}

/// Why a scan was not understood; nothing is recorded for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanRefused {
    /// Only whitespace or line endings.
    #[error("empty scan")]
    Empty,
    /// Longer than any code the station reads.
    #[error("{found} characters is longer than any code the station reads ({max})")]
    TooLong {
        /// Characters found.
        found: usize,
        /// The limit that applied.
        max: usize,
    },
    /// Control characters inside the code (scanner misconfigured or garbage).
    #[error("the code contains control characters")]
    ControlCharacters,
    /// Starts like an urna receipt but is not a valid one.
    #[error("a damaged urna receipt: {0}")]
    DamagedReceipt(ReceiptError),
    /// Looks like an urna label (right length and alphabet) but the check character fails.
    #[error("a damaged urna label: {0}")]
    DamagedLabel(IdError),
    /// A badge prefix with an unusable number after it.
    #[error("a staff badge with an unreadable number")]
    DamagedBadge,
}

/// Classifies one scanned line (the line ending may still be on it).
pub fn classify(raw: &str, badge_prefix: &str) -> Result<Scanned, ScanRefused> {
    let text = raw.trim();
    let found = text.chars().count();
    if found == 0 {
        return Err(ScanRefused::Empty);
    }
    if found > MAX_SCAN_CHARS {
        return Err(ScanRefused::TooLong {
            found,
            max: MAX_SCAN_CHARS,
        });
    }
    if text.chars().any(char::is_control) {
        return Err(ScanRefused::ControlCharacters);
    }
    if text
        .get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("URNA1:"))
    {
        return text
            .parse()
            .map(Scanned::Receipt)
            .map_err(ScanRefused::DamagedReceipt);
    }
    if !badge_prefix.is_empty()
        && let Some(rest) = text.strip_prefix(badge_prefix)
    {
        let usable = !rest.is_empty()
            && rest.chars().count() <= MAX_BADGE_CHARS
            && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        return if usable {
            Ok(Scanned::Badge(rest.to_owned()))
        } else {
            Err(ScanRefused::DamagedBadge)
        };
    }
    match text.parse::<IntakeId>() {
        Ok(id) => return Ok(Scanned::Label(id)),
        // Right alphabet and length but a failed check: a misread label, not a reference.
        Err(e @ (IdError::CheckFailed | IdError::NotCanonical { .. }))
            if looks_like_a_label(text) =>
        {
            return Err(ScanRefused::DamagedLabel(e));
        }
        Err(_) => {}
    }
    if found > MAX_REFERENCE_CHARS {
        return Err(ScanRefused::TooLong {
            found,
            max: MAX_REFERENCE_CHARS,
        });
    }
    Text::new(text)
        .map(Scanned::Reference)
        .map_err(|_| ScanRefused::ControlCharacters)
}

/// Printed the way urna prints ids: `SSSS-NNNN…-K`.
fn looks_like_a_label(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 3
        && parts[0].len() == 4
        && parts[2].len() == 1
        && (4..=9).contains(&parts[1].len())
}

impl ScanRefused {
    /// What the person at the scanner reads: Polish, English and Ukrainian.
    pub fn message(&self) -> crate::kiosk_text::Said {
        use crate::kiosk_text as said;
        match self {
            ScanRefused::DamagedReceipt(_) | ScanRefused::DamagedLabel(_) => {
                said::damaged_urna_code()
            }
            ScanRefused::DamagedBadge => said::damaged_badge(),
            _ => said::unreadable_code(),
        }
    }
}
