//! The registry's configuration: which department handles which category of mail.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

mod fleet;
mod http;
mod metrics;
mod notifications;
pub use fleet::FleetConfig;
pub use http::HttpConfig;
pub use metrics::MetricsConfig;
pub use notifications::{
    DepartmentNotifications, MIN_SECRET_BYTES, NotificationsConfig, RetryConfig, Secret,
    SmtpConfig, SmtpTls, WebhookConfig,
};

/// One category a resident or the counter can choose, and where such mail goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryConfig {
    /// Short ASCII id carried in events, e.g. `podatki`.
    pub id: String,
    /// Polish name shown on pages.
    pub name_pl: String,
    /// English name shown beside it.
    pub name_en: String,
    /// Ukrainian name, offered at the kiosk.
    #[serde(default)]
    pub name_uk: Option<String>,
    /// The department that handles it.
    pub department: String,
}

/// The registry's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// The categories, in the order pages list them.
    pub categories: Vec<CategoryConfig>,
    /// Where mail goes whose category is not configured.
    pub default_department: String,
    /// Webhooks and e-mail per department (`[notifications]`); none when absent.
    #[serde(default)]
    pub notifications: NotificationsConfig,
    /// When a station counts as silent (`[fleet]`); the defaults when absent.
    #[serde(default)]
    pub fleet: FleetConfig,
    /// Request timeout and concurrency limit (`[http]`); the defaults when absent.
    #[serde(default)]
    pub http: HttpConfig,
    /// Who may read `/metrics` (`[metrics]`); loopback only when absent.
    #[serde(default)]
    pub metrics: MetricsConfig,
}

/// Longest category id: ids are printed on labels and typed by staff.
const MAX_CATEGORY_ID: usize = 32;

impl RegistryConfig {
    /// A typical Polish city hall, used by `urna demo` and the tests.
    pub fn demo() -> Self {
        let c = |id: &str, [pl, en, uk]: [&str; 3], dep: &str| CategoryConfig {
            id: id.into(),
            name_pl: pl.into(),
            name_en: en.into(),
            name_uk: Some(uk.into()),
            department: dep.into(),
        };
        RegistryConfig {
            categories: vec![
                c(
                    "podatki",
                    [
                        "Podatki i opłaty lokalne",
                        "Local taxes and fees",
                        "Місцеві податки та збори",
                    ],
                    "Wydział Podatków i Opłat",
                ),
                c(
                    "budownictwo",
                    [
                        "Budownictwo i architektura",
                        "Building and planning",
                        "Будівництво та архітектура",
                    ],
                    "Wydział Architektury i Budownictwa",
                ),
                c(
                    "komunikacja",
                    [
                        "Prawo jazdy i rejestracja pojazdów",
                        "Driving licences and vehicles",
                        "Посвідчення водія та реєстрація транспорту",
                    ],
                    "Wydział Komunikacji",
                ),
                c(
                    "spoleczne",
                    ["Sprawy społeczne", "Social affairs", "Соціальні справи"],
                    "Wydział Spraw Społecznych",
                ),
                c(
                    "inne",
                    ["Inne sprawy", "Other matters", "Інші справи"],
                    "Kancelaria ogólna",
                ),
            ],
            default_department: "Kancelaria ogólna".into(),
            notifications: NotificationsConfig::default(),
            fleet: FleetConfig::default(),
            http: HttpConfig::default(),
            metrics: MetricsConfig::default(),
        }
    }

    /// Refuses a config that would misroute mail, naming the offending key.
    pub fn validate(&self) -> Result<()> {
        if self.default_department.trim().is_empty() {
            return Err(Error::Config("default_department is empty".into()));
        }
        let mut seen = HashSet::new();
        for (i, cat) in self.categories.iter().enumerate() {
            let ok = !cat.id.is_empty()
                && cat.id.len() <= MAX_CATEGORY_ID
                && cat.id.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                });
            if !ok {
                return Err(Error::Config(format!(
                    "categories[{i}].id {:?}: use 1 to {MAX_CATEGORY_ID} characters from a-z, 0-9, _ and -",
                    cat.id
                )));
            }
            if !seen.insert(cat.id.as_str()) {
                return Err(Error::Config(format!(
                    "categories[{i}].id {:?} appears twice",
                    cat.id
                )));
            }
            if cat.department.trim().is_empty() {
                return Err(Error::Config(format!(
                    "categories[{i}].department is empty"
                )));
            }
        }
        self.http.validate()?;
        self.notifications.validate(&self.departments())
    }

    /// The department that handles `category`.
    pub fn department_for(&self, category: &str) -> &str {
        self.category(category)
            .map_or(self.default_department.as_str(), |c| c.department.as_str())
    }

    /// The configured category with this id.
    pub fn category(&self, id: &str) -> Option<&CategoryConfig> {
        self.categories.iter().find(|c| c.id == id)
    }

    /// Every department mail can be routed to, without repeats, in config order.
    pub fn departments(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for dep in self
            .categories
            .iter()
            .map(|c| c.department.as_str())
            .chain(std::iter::once(self.default_department.as_str()))
        {
            if !out.contains(&dep) {
                out.push(dep);
            }
        }
        out
    }
}

/// The registry server's file (`/etc/urna/registry.toml`): where it listens, where its register
/// lives, and the categories with their departments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The address to listen on, e.g. `0.0.0.0:8080` (behind the office's TLS proxy).
    pub listen: SocketAddr,
    /// The directory holding `register.db`.
    pub data_dir: PathBuf,
    /// Where mail goes whose category is not configured.
    pub default_department: String,
    /// The categories, in the order pages list them.
    pub categories: Vec<CategoryConfig>,
    /// Webhooks and e-mail per department, the SMTP server, retries (`[notifications]`).
    #[serde(default)]
    pub notifications: NotificationsConfig,
    /// When a station counts as silent (`[fleet]`).
    #[serde(default)]
    pub fleet: FleetConfig,
    /// How long one request may take and how many are served at once (`[http]`).
    #[serde(default)]
    pub http: HttpConfig,
    /// Who may read the Prometheus metrics at `/metrics` (`[metrics]`): loopback, and the
    /// addresses listed.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// How long the register is kept (`[retention]`); absent: forever, and
    /// `urna registry retention` refuses to remove anything.
    #[serde(default)]
    pub retention: Option<crate::retention::RetentionConfig>,
}

impl ServerConfig {
    /// Parses and checks a TOML text.
    pub fn from_toml(text: &str) -> Result<ServerConfig> {
        let config: ServerConfig =
            toml::from_str(text).map_err(|e| Error::Config(e.message().to_owned()))?;
        config.registry().validate()?;
        if let Some(retention) = &config.retention {
            retention.validate()?;
        }
        Ok(config)
    }

    /// The categories and departments, as the registry takes them.
    pub fn registry(&self) -> RegistryConfig {
        RegistryConfig {
            categories: self.categories.clone(),
            default_department: self.default_department.clone(),
            notifications: self.notifications.clone(),
            fleet: self.fleet.clone(),
            http: self.http.clone(),
            metrics: self.metrics.clone(),
        }
    }
}
