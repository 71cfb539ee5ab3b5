//! `[notifications]`: where each department's notices go (webhooks, e-mail), the SMTP server
//! e-mail leaves through, and how failed deliveries are retried. Checked by
//! [`NotificationsConfig::validate`] without touching the disk; secret files are read when the
//! delivery worker starts ([`crate::notifier`]).

use std::collections::HashSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Outgoing notifications. Absent: nothing is sent, and nothing is queued.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationsConfig {
    /// Per department, where its notices go (`[[notifications.departments]]`).
    #[serde(default)]
    pub departments: Vec<DepartmentNotifications>,
    /// The SMTP server e-mail leaves through; needed when a department has e-mail addresses.
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
    /// How failed deliveries are retried.
    #[serde(default)]
    pub retry: RetryConfig,
}

/// One department's notice targets. A department hears of a new intake for it, and of one
/// released from its hold or forwarded to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DepartmentNotifications {
    /// The department, exactly as the categories name it.
    pub department: String,
    /// Webhooks called with a signed JSON body (`[[notifications.departments.webhooks]]`).
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
    /// E-mail addresses, each sent its own message.
    #[serde(default)]
    pub emails: Vec<String>,
}

/// A webhook: an HTTP(S) URL and the secret its HMAC-SHA256 signature is made with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where the JSON body is POSTed, `https://…` (or `http://` inside the office network).
    pub url: String,
    /// A file holding the shared secret (at least 16 bytes; a trailing newline is ignored),
    /// readable by the service alone. Preferred over `secret`.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// The shared secret written in the config itself; use `secret_file` instead where you can.
    #[serde(default)]
    pub secret: Option<Secret>,
}

/// A secret written in the config: never shown by `Debug`, so it cannot reach a log.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text: only for a relay on the same machine (and the tests).
    None,
    /// Plain connection upgraded with STARTTLS (usually port 587); refused if the server cannot.
    Starttls,
    /// TLS from the first byte (usually port 465).
    Tls,
}

impl SmtpTls {
    /// The usual port for this mode.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        }
    }
}

/// The SMTP server (`[notifications.smtp]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Host name of the server (checked against its TLS certificate).
    pub host: String,
    /// Port; 25, 587 or 465 by `tls` when absent.
    #[serde(default)]
    pub port: Option<u16>,
    /// `none`, `starttls` or `tls`.
    pub tls: SmtpTls,
    /// The sender, e.g. `Urna — Kancelaria <urna@um.example.pl>`.
    pub from: String,
    /// User name for SMTP AUTH; needs `password_file`.
    #[serde(default)]
    pub username: Option<String>,
    /// A file holding the SMTP password (a trailing newline is ignored), readable by the service alone.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// A PEM file with the certificate authority the server's certificate must chain to (an
    /// office's own CA), trusted instead of the public ones; needs `tls` other than `none`.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl SmtpConfig {
    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or_else(|| self.tls.default_port())
    }
}

/// Retries (`[notifications.retry]`): the wait doubles after each failure, from `first_ms` up to
/// `max_ms`, with jitter; a delivery is never given up, only shown as failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Wait after the first failure, milliseconds.
    pub first_ms: u64,
    /// Longest wait between attempts, milliseconds.
    pub max_ms: u64,
    /// How long one attempt (an HTTP request, an SMTP session) may take, milliseconds.
    pub attempt_timeout_ms: u64,
    /// After this many failed attempts in a row a delivery is shown as failing to the admin.
    pub failing_after: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            first_ms: 10_000,
            max_ms: 3_600_000,
            attempt_timeout_ms: 10_000,
            failing_after: 5,
        }
    }
}

/// Shortest secret accepted: HMAC with a guessable key proves nothing.
pub const MIN_SECRET_BYTES: usize = 16;
/// Longest wait allowed between attempts: a week (beyond that a retry is as good as dropped).
const MAX_RETRY_MS: u64 = 7 * 24 * 3_600_000;

fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl NotificationsConfig {
    /// Whether any department has any target.
    pub fn has_targets(&self) -> bool {
        self.departments
            .iter()
            .any(|d| !d.webhooks.is_empty() || !d.emails.is_empty())
    }

    /// The targets of `department`, if it has an entry.
    pub fn department(&self, department: &str) -> Option<&DepartmentNotifications> {
        self.departments.iter().find(|d| d.department == department)
    }

    /// Refuses a config that would send nowhere or insecurely, naming the key; `departments` are
    /// the departments mail can be routed to.
    pub fn validate(&self, departments: &[&str]) -> Result<()> {
        let bad = |key: String, why: String| Err(Error::Config(format!("{key}: {why}")));
        let mut seen = HashSet::new();
        let mut any_email = false;
        for (i, dep) in self.departments.iter().enumerate() {
            let key = format!("notifications.departments[{i}]");
            if !departments.contains(&dep.department.as_str()) {
                return bad(
                    format!("{key}.department"),
                    format!(
                        "{:?} is not a department any category (or default_department) goes to",
                        dep.department
                    ),
                );
            }
            if !seen.insert(dep.department.as_str()) {
                return bad(
                    format!("{key}.department"),
                    format!("{:?} appears twice", dep.department),
                );
            }
            for (j, hook) in dep.webhooks.iter().enumerate() {
                let key = format!("{key}.webhooks[{j}]");
                // Parsed as the client sends it (hyper's `Uri`), so that what passes here is
                // what the worker can request.
                match hook.url.parse::<axum::http::Uri>() {
                    Ok(url)
                        if matches!(url.scheme_str(), Some("http" | "https"))
                            && url.host().is_some_and(|h| !h.is_empty())
                            && !url.authority().is_some_and(|a| a.as_str().contains('@')) => {}
                    Ok(_) => {
                        return bad(
                            format!("{key}.url"),
                            "use an http:// or https:// URL with a host and no user or password \
                             in it"
                                .into(),
                        );
                    }
                    Err(e) => return bad(format!("{key}.url"), format!("not a URL ({e})")),
                }
                match (&hook.secret_file, &hook.secret) {
                    (Some(_), None) => {}
                    (None, Some(s)) if s.0.len() >= MIN_SECRET_BYTES => {}
                    (None, Some(_)) => {
                        return bad(
                            format!("{key}.secret"),
                            format!("too short; use at least {MIN_SECRET_BYTES} bytes"),
                        );
                    }
                    _ => {
                        return bad(
                            key,
                            "give exactly one of secret_file (preferred) and secret".into(),
                        );
                    }
                }
            }
            for (j, address) in dep.emails.iter().enumerate() {
                any_email = true;
                if address.parse::<lettre::Address>().is_err() {
                    return bad(
                        format!("{key}.emails[{j}]"),
                        format!("{address:?} is not an e-mail address"),
                    );
                }
            }
        }
        if let Some(smtp) = &self.smtp {
            if smtp.host.trim().is_empty() {
                return bad("notifications.smtp.host".into(), "is empty".into());
            }
            if smtp.port == Some(0) {
                return bad("notifications.smtp.port".into(), "0 is not a port".into());
            }
            if smtp.from.parse::<lettre::message::Mailbox>().is_err() {
                return bad(
                    "notifications.smtp.from".into(),
                    format!(
                        "{:?} is not an address (e.g. `Urna <urna@um.example.pl>`)",
                        smtp.from
                    ),
                );
            }
            match (&smtp.username, &smtp.password_file) {
                (Some(_), Some(_)) | (None, None) => {}
                _ => {
                    return bad(
                        "notifications.smtp".into(),
                        "give both username and password_file, or neither".into(),
                    );
                }
            }
            if smtp.tls == SmtpTls::None && smtp.ca_file.is_some() {
                return bad(
                    "notifications.smtp.ca_file".into(),
                    "is for a TLS connection; set tls to \"starttls\" or \"tls\"".into(),
                );
            }
            if smtp.tls == SmtpTls::None && !is_loopback_host(&smtp.host) {
                return bad(
                    "notifications.smtp.tls".into(),
                    "\"none\" is only for a relay on this machine (localhost); use \"starttls\" \
                     or \"tls\""
                        .into(),
                );
            }
        } else if any_email {
            return bad(
                "notifications.smtp".into(),
                "a department has e-mail addresses, so [notifications.smtp] is needed".into(),
            );
        }
        let r = &self.retry;
        if r.first_ms == 0 || r.first_ms > MAX_RETRY_MS {
            return bad(
                "notifications.retry.first_ms".into(),
                format!("use 1 to {MAX_RETRY_MS}"),
            );
        }
        if r.max_ms < r.first_ms || r.max_ms > MAX_RETRY_MS {
            return bad(
                "notifications.retry.max_ms".into(),
                format!("use first_ms ({}) to {MAX_RETRY_MS}", r.first_ms),
            );
        }
        if r.attempt_timeout_ms == 0 || r.attempt_timeout_ms > 600_000 {
            return bad(
                "notifications.retry.attempt_timeout_ms".into(),
                "use 1 to 600000".into(),
            );
        }
        if r.failing_after == 0 {
            return bad(
                "notifications.retry.failing_after".into(),
                "use 1 or more".into(),
            );
        }
        Ok(())
    }
}
