//! The printers a station names in `station.toml` (`[printers.NAME]`), what each label is
//! printed with (`[labels]`), and turning that into a working [`Printer`].
//!
//! ```toml
//! [printers.kiosk]
//! language = "escpos"          # escpos | zpl | brother_ql
//! width_dots = 384             # the head: 384 on 58 mm paper, 576 on 80 mm
//! connection = { kind = "device", path = "/dev/usb/lp0" }
//!
//! [labels]
//! printer = "kiosk"
//! envelope = "envelope-58mm"
//! receipt = "receipt-58mm"
//! ```
//!
//! At start-up every label's template is loaded and rendered once with sample values, then
//! encoded for its printer: a template wider than the printer's head, or a template that does
//! not load, stops the station with a message naming both, before any resident is promised a
//! receipt.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::brother_ql::{BrotherQl, BrotherQlEmulator, QlConfig, QlTape};
use super::escpos::{EscPos, EscPosEmulator};
use super::link::{LanguagePrinter, LinkTimeouts};
use super::transport::PrinterConnection;
use super::zpl::{Zpl, ZplEmulator};
use super::{Emulator, Language};
use crate::config::ConfigError;
use crate::template::{Fields, Template, Templates};

/// The printer languages urna speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LanguageName {
    /// ESC/POS receipt printers.
    Escpos,
    /// Zebra ZPL II label printers.
    Zpl,
    /// Brother QL label printers (raster mode).
    BrotherQl,
}

/// One printer: `[printers.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrinterConfig {
    /// The language it speaks.
    pub language: LanguageName,
    /// How to reach it. May be left out only in simulation, where a simulated printer speaking
    /// the same language stands in for it.
    #[serde(default)]
    pub connection: Option<PrinterConnection>,
    /// Dots across the head (ESC/POS: 384 on 58 mm paper, 576 on 80 mm; ZPL: 832 on a 4 in
    /// 203 dpi head). Brother QL takes its width from `tape_mm`.
    #[serde(default)]
    pub width_dots: Option<u32>,
    /// Brother QL: the continuous tape loaded, in mm (62 by default).
    #[serde(default)]
    pub tape_mm: Option<u8>,
    /// Cut after each label (ESC/POS and Brother QL; Zebras cut by their own setting).
    #[serde(default = "yes")]
    pub cut: bool,
    /// Compress what is sent (ZPL: on by default; Brother QL: only the QL-810W/820NWB take
    /// it, off by default).
    #[serde(default)]
    pub compression: Option<bool>,
    /// Timeouts and reconnect pacing; every key optional.
    #[serde(default)]
    pub timeouts: LinkTimeouts,
}

fn yes() -> bool {
    true
}

/// Which printer and templates print each kind of label: `[labels]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelsConfig {
    /// The printer (a name under `[printers]`); may be left out when there is one printer, or
    /// none in simulation (then a simulated 58 mm ESC/POS printer).
    #[serde(default)]
    pub printer: Option<String>,
    /// The envelope label's template (a name, or a path to a `.toml`).
    #[serde(default = "default_envelope")]
    pub envelope: String,
    /// The resident's receipt's template.
    #[serde(default = "default_receipt")]
    pub receipt: String,
    /// The quarantine bin label's template.
    #[serde(default = "default_bin")]
    pub bin: String,
    /// A folder of templates that add to or replace the built-in ones by name. Give an
    /// absolute path: a relative one is taken from the station's working directory.
    #[serde(default)]
    pub templates_dir: Option<PathBuf>,
}

fn default_envelope() -> String {
    "envelope-58mm".into()
}
fn default_receipt() -> String {
    "receipt-58mm".into()
}
fn default_bin() -> String {
    "quarantine-bin-58mm".into()
}

impl Default for LabelsConfig {
    fn default() -> Self {
        LabelsConfig {
            printer: None,
            envelope: default_envelope(),
            receipt: default_receipt(),
            bin: default_bin(),
            templates_dir: None,
        }
    }
}

/// The printer used when a simulated station names none: 58 mm ESC/POS, the commonest kiosk
/// receipt printer.
pub fn simulated_default() -> PrinterConfig {
    PrinterConfig {
        language: LanguageName::Escpos,
        connection: None,
        width_dots: Some(EscPos::WIDTH_58MM),
        tape_mm: None,
        cut: true,
        compression: None,
        timeouts: LinkTimeouts::default(),
    }
}

fn problem(key: String, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key,
        problem: problem.into(),
    }
}

impl PrinterConfig {
    /// Checks the values; `key` is `printers.NAME`.
    pub fn validate(&self, key: &str, simulation: bool) -> Result<(), ConfigError> {
        match &self.connection {
            Some(connection) => connection.validate(&format!("{key}.connection"))?,
            None if !simulation => {
                return Err(problem(
                    format!("{key}.connection"),
                    "is needed unless simulation = true, e.g. { kind = \"device\", path = \"/dev/usb/lp0\" }",
                ));
            }
            None => {}
        }
        self.timeouts.validate(&format!("{key}.timeouts"))?;
        match self.language {
            LanguageName::Escpos | LanguageName::Zpl => {
                if self.tape_mm.is_some() {
                    return Err(problem(format!("{key}.tape_mm"), "is for brother_ql only"));
                }
                if let Some(w) = self.width_dots
                    && !(8..=2400).contains(&w)
                {
                    return Err(problem(
                        format!("{key}.width_dots"),
                        "must be between 8 and 2400",
                    ));
                }
            }
            LanguageName::BrotherQl => {
                if self.width_dots.is_some() {
                    return Err(problem(
                        format!("{key}.width_dots"),
                        "is not used by brother_ql: give tape_mm (the tape's width) instead",
                    ));
                }
                if let Some(mm) = self.tape_mm
                    && QlTape::continuous(mm).is_none()
                {
                    return Err(problem(
                        format!("{key}.tape_mm"),
                        "must be the width of a Brother continuous tape: 12, 29, 38, 50, 54 or 62",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The station's side of the language, as configured.
    pub fn language(&self) -> Box<dyn Language> {
        match self.language {
            LanguageName::Escpos => Box::new(
                EscPos::new(self.width_dots.unwrap_or(EscPos::WIDTH_58MM)).with_cut(self.cut),
            ),
            LanguageName::Zpl => Box::new(
                Zpl::new(self.width_dots.unwrap_or(Zpl::WIDTH_4IN_203DPI))
                    .with_compression(self.compression.unwrap_or(true)),
            ),
            LanguageName::BrotherQl => {
                let config = QlConfig {
                    tape: self.tape(),
                    auto_cut: self.cut,
                    compression: self.compression.unwrap_or(false),
                    ..QlConfig::default()
                };
                // `validate` has checked the tape against the head; should it not have run,
                // the default 62 mm set-up is the one that exists.
                Box::new(BrotherQl::new(config).unwrap_or_default())
            }
        }
    }

    /// The printer's side of the language, for a simulated printer standing in for this one.
    pub fn emulator(&self) -> Box<dyn Emulator> {
        match self.language {
            LanguageName::Escpos => Box::new(EscPosEmulator::new()),
            LanguageName::Zpl => Box::new(ZplEmulator::new()),
            LanguageName::BrotherQl => Box::new(
                BrotherQlEmulator::with_continuous_tape(self.tape().width_mm).unwrap_or_default(),
            ),
        }
    }

    fn tape(&self) -> QlTape {
        self.tape_mm
            .and_then(QlTape::continuous)
            .unwrap_or(QlTape::CONTINUOUS_62MM)
    }

    /// A printer over the configured connection; `None` when it has none (simulation only).
    pub fn connect(&self) -> Option<std::io::Result<LanguagePrinter>> {
        let connection = self.connection.clone()?;
        Some(LanguagePrinter::new(
            connection,
            self.language(),
            self.timeouts,
        ))
    }
}

/// Checks `[labels]` against `[printers]`.
pub fn validate(
    printers: &BTreeMap<String, PrinterConfig>,
    labels: &LabelsConfig,
    simulation: bool,
) -> Result<(), ConfigError> {
    for (name, printer) in printers {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(problem(
                format!("printers.{name}"),
                "a printer's name is letters, digits, - and _",
            ));
        }
        printer.validate(&format!("printers.{name}"), simulation)?;
    }
    label_printer(printers, labels, simulation).map(|_| ())
}

/// The printer that prints the station's labels, with its name.
pub fn label_printer(
    printers: &BTreeMap<String, PrinterConfig>,
    labels: &LabelsConfig,
    simulation: bool,
) -> Result<(String, PrinterConfig), ConfigError> {
    match &labels.printer {
        Some(name) => printers
            .get(name)
            .map(|p| (name.clone(), p.clone()))
            .ok_or_else(|| {
                problem(
                    "labels.printer".into(),
                    format!("names no printer under [printers]: \"{name}\""),
                )
            }),
        None => match printers.len() {
            1 => Ok(printers
                .iter()
                .next()
                .map(|(n, p)| (n.clone(), p.clone()))
                .unwrap_or_else(|| ("simulated".into(), simulated_default()))),
            0 if simulation => Ok(("simulated".into(), simulated_default())),
            0 => Err(problem(
                "printers".into(),
                "a station needs a printer: add [printers.NAME] with its language and connection",
            )),
            _ => Err(problem(
                "labels.printer".into(),
                "must name which of the printers prints the labels",
            )),
        },
    }
}

/// The templates a station prints with, loaded and checked against its printer.
#[derive(Debug, Clone)]
pub struct LabelTemplates {
    /// The envelope label.
    pub envelope: Template,
    /// The resident's receipt.
    pub receipt: Template,
    /// The quarantine bin label.
    pub bin: Template,
}

/// Why the labels cannot be printed as configured.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A template does not load (the message names the file, element and reason).
    #[error("labels.{which}: {source}")]
    Template {
        /// `envelope`, `receipt` or `bin`.
        which: &'static str,
        /// Why.
        source: crate::template::TemplateError,
    },
    /// A template cannot be printed on the printer (too wide for its head, …).
    #[error("labels.{which}: template {template} cannot be printed on printer {printer}: {reason}")]
    Mismatch {
        /// `envelope`, `receipt` or `bin`.
        which: &'static str,
        /// The template's name.
        template: String,
        /// The printer's name.
        printer: String,
        /// What went wrong.
        reason: String,
    },
}

impl LabelTemplates {
    /// Loads the configured templates (from `templates_dir` relative to `base` when given),
    /// and renders and encodes each once with sample values for `printer`.
    pub fn load(
        labels: &LabelsConfig,
        base: &Path,
        printer_name: &str,
        printer: &PrinterConfig,
    ) -> Result<LabelTemplates, SetupError> {
        let templates = match &labels.templates_dir {
            Some(dir) => Templates::with_dir(&base.join(dir)),
            None => Templates::builtin(),
        }
        .map_err(|source| SetupError::Template {
            which: "templates_dir",
            source,
        })?;
        let language = printer.language();
        let load = |which: &'static str, spec: &str| -> Result<Template, SetupError> {
            let template = templates
                .find(spec)
                .map_err(|source| SetupError::Template { which, source })?;
            let mismatch = |reason: String| SetupError::Mismatch {
                which,
                template: template.name().to_owned(),
                printer: printer_name.to_owned(),
                reason,
            };
            let page = template
                .render(&Fields::sample())
                .map_err(|e| mismatch(e.to_string()))?;
            language
                .encode_page(&page)
                .map_err(|e| mismatch(e.to_string()))?;
            Ok(template)
        };
        Ok(LabelTemplates {
            envelope: load("envelope", &labels.envelope)?,
            receipt: load("receipt", &labels.receipt)?,
            bin: load("bin", &labels.bin)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printer(toml_text: &str) -> PrinterConfig {
        toml::from_str(toml_text).unwrap()
    }

    fn one(name: &str, p: PrinterConfig) -> BTreeMap<String, PrinterConfig> {
        BTreeMap::from([(name.to_owned(), p)])
    }

    #[test]
    fn errors_name_the_key() {
        let no_connection = printer("language = \"escpos\"");
        let err = validate(
            &one("kiosk", no_connection.clone()),
            &LabelsConfig::default(),
            false,
        )
        .unwrap_err();
        assert_eq!(err.key, "printers.kiosk.connection");
        assert!(validate(&one("kiosk", no_connection), &LabelsConfig::default(), true).is_ok());

        let tape = printer("language = \"brother_ql\"\ntape_mm = 63");
        let err = validate(&one("ql", tape), &LabelsConfig::default(), true).unwrap_err();
        assert_eq!(err.key, "printers.ql.tape_mm");

        let width = printer("language = \"brother_ql\"\nwidth_dots = 696");
        let err = validate(&one("ql", width), &LabelsConfig::default(), true).unwrap_err();
        assert_eq!(err.key, "printers.ql.width_dots");

        let labels = LabelsConfig {
            printer: Some("lobby".into()),
            ..LabelsConfig::default()
        };
        let err = validate(&one("kiosk", simulated_default()), &labels, true).unwrap_err();
        assert_eq!(err.key, "labels.printer");

        let two = BTreeMap::from([
            ("a".to_owned(), simulated_default()),
            ("b".to_owned(), simulated_default()),
        ]);
        let err = validate(&two, &LabelsConfig::default(), true).unwrap_err();
        assert_eq!(err.key, "labels.printer");

        let err = validate(&BTreeMap::new(), &LabelsConfig::default(), false).unwrap_err();
        assert_eq!(err.key, "printers");
        let bad_name = one("two words", simulated_default());
        assert!(validate(&bad_name, &LabelsConfig::default(), true).is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<PrinterConfig>("language = \"escpos\"\npaper = 58").unwrap_err();
        assert!(err.to_string().contains("paper"), "{err}");
        let err = toml::from_str::<PrinterConfig>("language = \"epl\"").unwrap_err();
        assert!(err.to_string().contains("epl"), "{err}");
    }

    #[test]
    fn a_template_wider_than_the_head_stops_the_station_naming_both() {
        let labels = LabelsConfig {
            receipt: "receipt-80mm".into(),
            ..LabelsConfig::default()
        };
        let err = LabelTemplates::load(&labels, Path::new(""), "kiosk", &simulated_default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("labels.receipt"), "{err}");
        assert!(err.contains("receipt-80mm"), "{err}");
        assert!(err.contains("kiosk"), "{err}");
        assert!(err.contains("576") && err.contains("384"), "{err}");

        let err = LabelTemplates::load(
            &LabelsConfig {
                envelope: "no-such-template".into(),
                ..LabelsConfig::default()
            },
            Path::new(""),
            "kiosk",
            &simulated_default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("labels.envelope") && err.contains("no-such-template"),
            "{err}"
        );
    }

    #[test]
    fn the_defaults_fit_the_default_printer_and_each_family_fits_its_own() {
        LabelTemplates::load(
            &LabelsConfig::default(),
            Path::new(""),
            "s",
            &simulated_default(),
        )
        .unwrap();
        let zebra = printer("language = \"zpl\"");
        let labels = LabelsConfig {
            envelope: "zebra-2x1in".into(),
            receipt: "zebra-100x150".into(),
            bin: "quarantine-bin".into(),
            ..LabelsConfig::default()
        };
        LabelTemplates::load(&labels, Path::new(""), "z", &zebra).unwrap();
        let brother = printer("language = \"brother_ql\"");
        let labels = LabelsConfig {
            envelope: "brother-ql-62mm".into(),
            receipt: "brother-ql-62mm".into(),
            bin: "brother-ql-62mm".into(),
            ..LabelsConfig::default()
        };
        LabelTemplates::load(&labels, Path::new(""), "b", &brother).unwrap();
    }
}
