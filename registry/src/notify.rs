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
}

impl Notice {
    /// Whether a page filtered to `department` should hear this.
    pub fn concerns(&self, department: Option<&str>) -> bool {
        match (self, department) {
            (Notice::Intake { department: d, .. }, Some(want)) => d == want,
            _ => true,
        }
    }
}

/// How many notices a slow listener may fall behind before it is told to reload.
pub(crate) const NOTICE_BUFFER: usize = 256;
