//! The station's configuration (`station.toml`): who it is, what it offers, how long mail rests.
//! Unknown keys and out-of-range values are refused at start-up, naming the key.

use std::collections::HashSet;
use std::path::PathBuf;

use records::StationCode;
use serde::{Deserialize, Serialize};

/// What a station does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An urn kiosk at the entrance.
    Urn,
    /// The mailroom counter.
    Mailroom,
}

/// One thing a letter can be about, as a resident picks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Category {
    /// Short id, stored in events (`podatki`).
    pub id: String,
    /// What the resident reads, in Polish.
    pub name_pl: String,
    /// The same in English.
    pub name_en: String,
    /// The same in Ukrainian; the kiosk shows the English name when absent.
    #[serde(default)]
    pub name_uk: Option<String>,
    /// The department that handles it.
    pub department: String,
    /// How long mail of this category rests after sanitising; the default when absent.
    #[serde(default)]
    pub hold_secs: Option<u32>,
}

/// A kind of mail with its own sanitising hold, chosen at the mailroom for post and counter
/// intake: a parcel rests longer than a letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Material {
    /// Short id (`parcel`).
    pub id: String,
    /// What staff read, in Polish.
    pub name_pl: String,
    /// The same in English.
    pub name_en: String,
    /// How long it rests after sanitising, seconds.
    pub hold_secs: u32,
}

/// The material every station knows without configuration: a paper letter, held for its
/// category's time.
pub const PAPER: &str = "paper";

/// Everything a station needs to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StationConfig {
    /// The station's code, part of every intake id it issues (4 characters).
    #[schemars(with = "String")]
    pub station: StationCode,
    /// A name people recognise: "Urna — wejście główne".
    pub name: String,
    /// Where it is, printed on receipts.
    pub place: String,
    /// Urn kiosk or mailroom counter.
    pub role: Role,
    /// Where the custody log and printed-label previews live.
    pub data_dir: PathBuf,
    /// The station's private key (mode 0600).
    pub key_file: PathBuf,
    /// The registry office server, e.g. `http://127.0.0.1:8080`.
    pub registry_url: String,
    /// The resident status page printed on receipts.
    pub status_url: String,
    /// Categories offered at the kiosk.
    pub categories: Vec<Category>,
    /// What comes in besides paper letters (`[[materials]]`), each with its own hold; the
    /// longer of the material's and the category's hold applies. Urn envelopes are paper.
    #[serde(default)]
    pub materials: Vec<Material>,
    /// The category used when a resident only presses the button, or skips the choice.
    pub default_category: String,
    /// Default sanitising hold, seconds.
    pub hold_secs: u32,
    /// How long the kiosk waits for the envelope to fall through the slot.
    pub drop_timeout_secs: u32,
    /// How often, at most, the mailroom saves its hold clock while nothing else calls for a
    /// save (a hold starting, a wall-clock step, a credited downtime always save at once).
    /// A crash loses what passed since the last save, which makes holds longer, never shorter;
    /// a shorter interval writes the SD card more often (0: at every refresh, every few seconds).
    #[serde(default = "default_hold_clock_save_secs")]
    pub hold_clock_save_secs: u32,
    /// What a staff badge's code starts with, telling it from a form's reference.
    #[serde(default = "default_badge_prefix")]
    pub badge_prefix: String,
    /// A barcode scanner on a serial port (USB CDC-ACM or RS-232); without one, codes come
    /// only from the control page (in simulation).
    #[serde(default)]
    pub scanner: Option<crate::devices::serial_scanner::SerialScannerConfig>,
    /// A USB barcode scanner in keyboard-wedge mode, read through evdev (needs the `hid`
    /// feature); may be configured beside a serial one.
    #[serde(default)]
    pub hid_scanner: Option<crate::devices::hid_scanner::HidScannerConfig>,
    /// Codes read from pictures: `[vision.folder]`, a folder a document scanner writes to;
    /// `[vision.camera]`, the Pi camera; `[vision.v4l2]`, a USB or document camera.
    #[serde(default)]
    pub vision: Option<crate::vision::config::VisionConfig>,
    /// The printers, by name: `[printers.NAME]` with language and connection.
    #[serde(default)]
    pub printers: std::collections::BTreeMap<String, crate::printer::setup::PrinterConfig>,
    /// Which printer and templates print each label.
    #[serde(default)]
    pub labels: crate::printer::setup::LabelsConfig,
    /// The urn's pins (door, slot beam, button, lamp); the reference wiring when absent.
    #[serde(default)]
    pub gpio: Option<crate::devices::gpio::GpioConfig>,
    /// The urn kiosk's screen and container (`[kiosk]`).
    #[serde(default)]
    pub kiosk: KioskConfig,
    /// Staff sign-in, at the mailroom and at the urn for a collection (`[staff]`).
    #[serde(default)]
    pub staff: StaffConfig,
    /// Simulated hardware, with the control page and API.
    #[serde(default)]
    pub simulation: bool,
    /// Where the station's pages and API listen (`urna station`); the kiosk's browser runs on
    /// the same Pi, so loopback unless the mailroom's page is opened from another computer.
    #[serde(default = "default_listen")]
    pub listen: std::net::SocketAddr,
    /// In simulation only: the wall clock reads this many seconds off the machine's from
    /// start-up, as a Pi booting with a wrong clock does (negative: behind).
    #[serde(default)]
    pub simulated_clock_offset_secs: Option<i64>,
    /// How long the station's own log keeps acknowledged events (`[retention]`).
    #[serde(default)]
    pub retention: crate::retention::RetentionConfig,
    /// Who may read the Prometheus metrics at `/metrics` (`[metrics]`): loopback, and the
    /// addresses listed.
    #[serde(default)]
    pub metrics: crate::metrics::MetricsConfig,
}

/// The urn kiosk's screen and container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct KioskConfig {
    /// How many envelopes the urn holds; staff are alerted at 80 % and 100 %, and a full urn
    /// takes no more deposits until it is collected.
    pub capacity: u32,
    /// Seconds without a touch, scan or press before a half-finished choice, or another
    /// language, goes back to the Polish start screen.
    pub idle_timeout_secs: u32,
    /// Seconds the result of a deposit stays on screen.
    pub result_shown_secs: u32,
}

impl Default for KioskConfig {
    fn default() -> Self {
        KioskConfig {
            capacity: 400,
            idle_timeout_secs: 60,
            result_shown_secs: 15,
        }
    }
}

/// Staff sign-in, at the mailroom and at the urn for a collection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StaffConfig {
    /// Seconds without a scan or touch before a signed-in staff member is signed out.
    pub session_timeout_secs: u32,
    /// Wrong PINs in a row before the badge is locked.
    pub pin_attempts: u32,
    /// How long a locked badge stays locked, seconds.
    pub lockout_secs: u32,
}

impl Default for StaffConfig {
    fn default() -> Self {
        StaffConfig {
            session_timeout_secs: 15 * 60,
            pin_attempts: 5,
            lockout_secs: 5 * 60,
        }
    }
}

impl StaffConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        for (key, value, range) in [
            (
                "staff.session_timeout_secs",
                self.session_timeout_secs,
                5..=8 * 3600,
            ),
            ("staff.pin_attempts", self.pin_attempts, 1..=20),
            ("staff.lockout_secs", self.lockout_secs, 10..=24 * 3600),
        ] {
            if !range.contains(&value) {
                return Err(problem(
                    key,
                    format!("{value} is outside {}..={}", range.start(), range.end()),
                ));
            }
        }
        Ok(())
    }
}

impl KioskConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        for (key, value, range) in [
            ("kiosk.capacity", self.capacity, 1..=100_000),
            ("kiosk.idle_timeout_secs", self.idle_timeout_secs, 5..=600),
            ("kiosk.result_shown_secs", self.result_shown_secs, 3..=120),
        ] {
            if !range.contains(&value) {
                return Err(problem(
                    key,
                    format!("{value} is outside {}..={}", range.start(), range.end()),
                ));
            }
        }
        Ok(())
    }
}

fn default_listen() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 8081))
}

fn default_hold_clock_save_secs() -> u32 {
    30
}

fn default_badge_prefix() -> String {
    "URNA-STAFF:".to_owned()
}

/// A configuration that cannot be used, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("station config: {key}: {problem}")]
pub struct ConfigError {
    /// The offending key.
    pub key: String,
    /// What is wrong with it.
    pub problem: String,
}

fn problem(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_owned(),
        problem: problem.into(),
    }
}

/// Whether `id` is fit to be stored in events and typed in config: 1–32 of a–z, 0–9 and _.
fn is_short_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Longest hold anyone configures: 30 days.
const MAX_HOLD_SECS: u32 = 30 * 24 * 3600;

impl StationConfig {
    /// Parses and checks a TOML text.
    pub fn from_toml(text: &str) -> Result<StationConfig, ConfigError> {
        let config: StationConfig =
            toml::from_str(text).map_err(|e| problem("(file)", e.message().to_owned()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks ranges and references between keys.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.categories.is_empty() {
            return Err(problem("categories", "at least one category is needed"));
        }
        let mut seen = HashSet::new();
        for (i, c) in self.categories.iter().enumerate() {
            let key = format!("categories[{i}]");
            if !is_short_id(&c.id) {
                return Err(problem(
                    &format!("{key}.id"),
                    "1–32 characters of a–z, 0–9 and _",
                ));
            }
            if !seen.insert(c.id.as_str()) {
                return Err(problem(
                    &format!("{key}.id"),
                    format!("{} is listed twice", c.id),
                ));
            }
            for (field, value) in [
                ("name_pl", &c.name_pl),
                ("name_en", &c.name_en),
                ("department", &c.department),
            ]
            .into_iter()
            .chain(c.name_uk.as_ref().map(|uk| ("name_uk", uk)))
            {
                if records::Text::new(value.as_str()).is_err() || value.trim().is_empty() {
                    return Err(problem(
                        &format!("{key}.{field}"),
                        "must be a non-empty line of at most 1024 bytes",
                    ));
                }
            }
            if let Some(secs) = c.hold_secs
                && !(1..=MAX_HOLD_SECS).contains(&secs)
            {
                return Err(problem(
                    &format!("{key}.hold_secs"),
                    format!("{secs} is outside 1..={MAX_HOLD_SECS}"),
                ));
            }
        }
        let mut materials = HashSet::new();
        for (i, m) in self.materials.iter().enumerate() {
            let key = format!("materials[{i}]");
            if !is_short_id(&m.id) {
                return Err(problem(
                    &format!("{key}.id"),
                    "1–32 characters of a–z, 0–9 and _",
                ));
            }
            if !materials.insert(m.id.as_str()) {
                return Err(problem(
                    &format!("{key}.id"),
                    format!("{} is listed twice", m.id),
                ));
            }
            for (field, value) in [("name_pl", &m.name_pl), ("name_en", &m.name_en)] {
                if records::Text::new(value.as_str()).is_err() || value.trim().is_empty() {
                    return Err(problem(
                        &format!("{key}.{field}"),
                        "must be a non-empty line of at most 1024 bytes",
                    ));
                }
            }
            if !(1..=MAX_HOLD_SECS).contains(&m.hold_secs) {
                return Err(problem(
                    &format!("{key}.hold_secs"),
                    format!("{} is outside 1..={MAX_HOLD_SECS}", m.hold_secs),
                ));
            }
        }
        if !seen.contains(self.default_category.as_str()) {
            return Err(problem(
                "default_category",
                format!("{} is not one of the categories", self.default_category),
            ));
        }
        if !(1..=MAX_HOLD_SECS).contains(&self.hold_secs) {
            return Err(problem(
                "hold_secs",
                format!("{} is outside 1..={MAX_HOLD_SECS}", self.hold_secs),
            ));
        }
        if !(3..=600).contains(&self.drop_timeout_secs) {
            return Err(problem(
                "drop_timeout_secs",
                format!("{} is outside 3..=600", self.drop_timeout_secs),
            ));
        }
        if !(self.registry_url.starts_with("http://") || self.registry_url.starts_with("https://"))
        {
            return Err(problem(
                "registry_url",
                "must start with http:// or https://",
            ));
        }
        if let Some(scanner) = &self.scanner {
            scanner.validate()?;
        }
        if let Some(scanner) = &self.hid_scanner {
            scanner.validate()?;
        }
        if let Some(vision) = &self.vision {
            vision.validate()?;
        }
        if let Some(gpio) = &self.gpio {
            gpio.validate()?;
        }
        self.kiosk.validate()?;
        self.staff.validate()?;
        self.retention.validate()?;
        crate::printer::setup::validate(&self.printers, &self.labels, self.simulation)?;
        if let Some(offset) = self.simulated_clock_offset_secs {
            let key = "simulated_clock_offset_secs";
            if !self.simulation {
                return Err(problem(key, "only with simulation = true"));
            }
            let max = crate::clock::MAX_SIMULATED_OFFSET_SECS;
            if !(-max..=max).contains(&offset) {
                return Err(problem(key, format!("{offset} is outside -{max}..={max}")));
            }
        }
        for (key, value) in [("name", &self.name), ("place", &self.place)] {
            if records::Text::new(value.as_str()).is_err() {
                return Err(problem(key, "must be one line of at most 1024 bytes"));
            }
        }
        Ok(())
    }

    /// The category with this id.
    pub fn category(&self, id: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.id == id)
    }

    /// The longest hold of any category: used when an envelope's category is not known.
    pub fn longest_hold(&self) -> u32 {
        self.categories
            .iter()
            .filter_map(|c| c.hold_secs)
            .fold(self.hold_secs, u32::max)
    }

    /// The hold for a category.
    pub fn hold_for(&self, category: &str) -> u32 {
        self.category(category)
            .and_then(|c| c.hold_secs)
            .unwrap_or(self.hold_secs)
    }

    /// The material with this id; `paper` is known without configuration.
    pub fn material(&self, id: &str) -> Option<&Material> {
        self.materials.iter().find(|m| m.id == id)
    }

    /// The hold for mail of a category and material: the longer of the two, so that neither
    /// rule is ever cut short by the other.
    pub fn hold_for_material(&self, category: &str, material: &str) -> u32 {
        let by_material = self.material(material).map_or(0, |m| m.hold_secs);
        self.hold_for(category).max(by_material)
    }

    /// The departments mail can be forwarded to: every category's, once each, in config order.
    pub fn departments(&self) -> Vec<&str> {
        let mut seen = HashSet::new();
        self.categories
            .iter()
            .map(|c| c.department.as_str())
            .filter(|d| seen.insert(*d))
            .collect()
    }
}
