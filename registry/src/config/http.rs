//! `[http]`: how long one request may take and how many are served at once.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Limits of the HTTP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// A request still unanswered after this many seconds, counted from its headers (a body sent
    /// too slowly included), is answered 408 and nothing of it is stored. The live stream
    /// (`/events/stream`) is not cut: its answer starts at once and then stays open.
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Requests handled at once; one more is refused at once with 503 and `Retry-After` rather
    /// than queued. Open live streams do not count. At least the number of stations that may
    /// push at the same moment (they retry after a 503 all the same).
    #[serde(default = "default_max_concurrent_requests")]
    pub max_concurrent_requests: usize,
}

fn default_request_timeout_secs() -> u64 {
    30
}

fn default_max_concurrent_requests() -> usize {
    1024
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            request_timeout_secs: default_request_timeout_secs(),
            max_concurrent_requests: default_max_concurrent_requests(),
        }
    }
}

impl HttpConfig {
    /// Refuses limits that would refuse every request.
    pub fn validate(&self) -> Result<()> {
        if self.request_timeout_secs == 0 {
            return Err(Error::Config(
                "http.request_timeout_secs must be at least 1".into(),
            ));
        }
        if self.max_concurrent_requests == 0 {
            return Err(Error::Config(
                "http.max_concurrent_requests must be at least 1".into(),
            ));
        }
        Ok(())
    }
}
