//! `[metrics]`: who may read the Prometheus metrics at `/metrics`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Access to `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Addresses besides loopback that may read `/metrics` (the monitoring host), e.g.
    /// `["192.0.2.10"]`; anyone else gets 403. The metrics carry no personal data (station codes,
    /// route templates, counts), but the list of stations and their health is not the public's
    /// business. The peer address decides; behind a TLS proxy on the same machine, the address
    /// the proxy adds last to `X-Forwarded-For` does, so the proxy must set that header (as it
    /// must for the status page's rate limit) or not pass `/metrics` on.
    #[serde(default)]
    pub allow: Vec<IpAddr>,
}
