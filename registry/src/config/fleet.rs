//! `[fleet]`: when a station that has stopped talking to the registry counts as silent.

use serde::{Deserialize, Serialize};

/// Watching the stations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FleetConfig {
    /// A station with an approved key that has sent no signed request for this many seconds is
    /// silent: the admin page and the clerk page (for admins) show an alert, and a live notice is
    /// sent once when it goes silent and once when it comes back.
    #[serde(default = "default_silent_after_secs")]
    pub silent_after_secs: u64,
}

fn default_silent_after_secs() -> u64 {
    900
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            silent_after_secs: default_silent_after_secs(),
        }
    }
}
