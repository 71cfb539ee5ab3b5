//! Live notices: what clerk pages hear the moment the register changes.

use records::IntakeId;
use records::api::IntakeStatus;
use serde::{Deserialize, Serialize};

/// One change, sent as a small JSON object over server-sent events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Notice {
    /// An intake appeared in the register or changed.
    Intake {
        /// Which.
        id: IntakeId,
        /// Where it is now.
        status: IntakeStatus,
        /// The department that has it, or will.
        department: String,
        /// `true` when it is new to the register (the clerk page beeps for new mail).
        created: bool,
    },
    /// An alarm was raised (a fork): every page shows it, whatever its department filter.
    Alarm {
        /// The alarm's id.
        id: i64,
        /// The station it is about.
        station: String,
        /// The seq it is about.
        seq: Option<u64>,
        /// What happened.
        message: String,
    },
    /// A station's open device alerts changed (opened, raised again or closed): every page
    /// reloads its list, whatever its department filter.
    DeviceAlerts {
        /// The station whose alerts changed.
        station: String,
    },
    /// A station went silent (no signed request for `[fleet] silent_after_secs`), or spoke
    /// again: admins' pages hear it, once each way.
    StationSilence {
        /// The station.
        station: String,
        /// `true` when it went silent, `false` when it came back.
        silent: bool,
        /// When it was last seen (unix ms), if ever.
        last_seen_ms: Option<i64>,
    },
}

impl Notice {
    /// Whether a page filtered to `department` should hear this.
    pub fn concerns(&self, department: Option<&str>) -> bool {
        match (self, department) {
            (Notice::Intake { department: d, .. }, Some(want)) => d == want,
            // The fleet is the admin's: a department's page has nothing to do about it.
            (Notice::StationSilence { .. }, Some(_)) => false,
            _ => true,
        }
    }
}

/// How many notices a slow listener may fall behind before it is told to reload.
pub(crate) const NOTICE_BUFFER: usize = 256;
