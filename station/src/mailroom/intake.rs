//! Post and counter intake: a letter that came by post or was handed in at the counter gets an
//! intake id and a label (at the counter also the person's receipt), and goes straight into
//! its sanitising hold. Sender, reference and attachments are optional: a register entry says
//! "brak danych" rather than a guess.

use records::{Channel, Intake, LabelKind, Payload, Text, Timestamp};
use serde::Deserialize;

use super::{Mailroom, ScanResult, failure, success};
use crate::clock;
use crate::config::{PAPER, StationConfig};
use crate::printing::{self, IntakeLabel, PrintFailure};

/// Longest sender, in characters: a name and an address on one line.
pub const SENDER_CHARS: usize = 200;
/// Longest case reference, in characters.
pub const REFERENCE_CHARS: usize = 64;
/// Most attachments one letter is registered with.
pub const MAX_ATTACHMENTS: u16 = 999;
/// How many days back a letter that came by post may be registered.
pub const POST_DAYS_BACK: i64 = 30;

/// The intake form as the mailroom page sends it: every field as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct IntakeForm {
    /// `post` or `counter`.
    pub channel: String,
    /// A category id.
    pub category: String,
    /// A material id; paper when empty.
    #[serde(default)]
    pub material: String,
    /// Who sent it, if known.
    #[serde(default)]
    pub sender: String,
    /// The case reference, if any.
    #[serde(default)]
    pub reference: String,
    /// Number of attachments, if counted.
    #[serde(default)]
    pub attachments: String,
    /// For post: the day it arrived, `YYYY-MM-DD`; today when empty.
    #[serde(default)]
    pub received: String,
}

/// An intake form that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidIntake {
    /// How it came.
    pub channel: Channel,
    /// Its category's id.
    pub category: String,
    /// Its material's id.
    pub material: String,
    /// Sender, when given.
    pub sender: Option<Text>,
    /// Reference, when given.
    pub reference: Option<Text>,
    /// Attachments, when counted.
    pub attachments: Option<u16>,
    /// The legal date of receipt.
    pub received_at: Timestamp,
}

/// Why a form was refused, for the staff member who typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Polish.
    pub pl: String,
    /// English.
    pub en: String,
}

fn refused(pl: impl Into<String>, en: impl Into<String>) -> Refused {
    Refused {
        pl: pl.into(),
        en: en.into(),
    }
}

/// An optional one-line text field: `None` when blank; refused when too long or not one line.
fn optional_line(
    value: &str,
    max_chars: usize,
    name: (&str, &str),
) -> Result<Option<Text>, Refused> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > max_chars {
        return Err(refused(
            format!("{}: najwyżej {max_chars} znaków.", name.0),
            format!("{}: at most {max_chars} characters.", name.1),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(refused(
            format!("{}: jedna linia tekstu, bez znaków sterujących.", name.0),
            format!("{}: one line of text, no control characters.", name.1),
        ));
    }
    Text::new(value).map(Some).map_err(|_| {
        refused(
            format!("{}: tekst nie do zapisania.", name.0),
            format!("{}: text that cannot be recorded.", name.1),
        )
    })
}

/// When a letter that came by post was received: today (now) unless an earlier day is given,
/// then that day's start, local time.
fn post_received_at(day: &str, now: Timestamp) -> Result<Timestamp, Refused> {
    let day = day.trim();
    if day.is_empty() {
        return Ok(now);
    }
    let bad = || {
        refused(
            format!(
                "Data wpływu: podaj dzień w postaci RRRR-MM-DD, nie później niż dziś i najwyżej {POST_DAYS_BACK} dni wstecz."
            ),
            format!(
                "Date received: give a day as YYYY-MM-DD, not after today and at most {POST_DAYS_BACK} days back."
            ),
        )
    };
    let date: jiff::civil::Date = day.parse().map_err(|_| bad())?;
    let zone = jiff::tz::TimeZone::get("Europe/Warsaw").unwrap_or(jiff::tz::TimeZone::UTC);
    let start = date
        .to_zoned(zone)
        .map_err(|_| bad())?
        .timestamp()
        .as_millisecond();
    let today = clock::local_day_start_ms(now);
    if start > today || start < today - POST_DAYS_BACK * 24 * 3600 * 1000 {
        return Err(bad());
    }
    Ok(if start == today {
        now
    } else {
        Timestamp {
            unix_ms: start,
            trusted: now.trusted,
        }
    })
}

/// Checks an intake form against the station's categories and materials.
pub fn validate(
    form: &IntakeForm,
    config: &StationConfig,
    now: Timestamp,
) -> Result<ValidIntake, Refused> {
    let channel = match form.channel.trim() {
        "post" => Channel::Post,
        "counter" => Channel::Counter,
        _ => {
            return Err(refused(
                "Wybierz: poczta albo biuro podawcze.",
                "Choose: post or counter.",
            ));
        }
    };
    let category = form.category.trim();
    if config.category(category).is_none() {
        return Err(refused(
            "Wybierz, czego dotyczy pismo.",
            "Choose what the letter is about.",
        ));
    }
    let material = match form.material.trim() {
        "" => PAPER,
        m if m == PAPER || config.material(m).is_some() => m,
        _ => {
            return Err(refused(
                "Nieznany rodzaj przesyłki.",
                "Unknown kind of mail.",
            ));
        }
    };
    let sender = optional_line(&form.sender, SENDER_CHARS, ("Nadawca", "Sender"))?;
    let reference = optional_line(&form.reference, REFERENCE_CHARS, ("Sygnatura", "Reference"))?;
    let attachments = match form.attachments.trim() {
        "" => None,
        n => match n.parse::<u16>() {
            Ok(n) if n <= MAX_ATTACHMENTS => Some(n),
            _ => {
                return Err(refused(
                    format!("Załączniki: liczba od 0 do {MAX_ATTACHMENTS}."),
                    format!("Attachments: a number from 0 to {MAX_ATTACHMENTS}."),
                ));
            }
        },
    };
    let received_at = match channel {
        Channel::Post => post_received_at(&form.received, now)?,
        // Handed over now, in front of the staff member: the receipt says so.
        _ if form.received.trim().is_empty() => now,
        _ => {
            return Err(refused(
                "Pismo złożone w biurze podawczym ma dzisiejszą datę wpływu.",
                "A letter handed in at the counter is received today.",
            ));
        }
    };
    Ok(ValidIntake {
        channel,
        category: category.to_owned(),
        material: material.to_owned(),
        sender,
        reference,
        attachments,
        received_at,
    })
}

impl Mailroom {
    /// Registers a letter that came by post or at the counter, starts its hold and prints its
    /// label (and the receipt at the counter).
    pub(super) async fn intake(&self, form: IntakeForm) -> ScanResult {
        if let Some(refused) = self.require_session() {
            return refused;
        }
        let now = clock::now();
        let valid = match validate(&form, &self.config, now) {
            Ok(valid) => valid,
            Err(refused) => return failure(None, refused.pl, refused.en),
        };
        let Some(category) = self.config.category(&valid.category).cloned() else {
            return failure(None, "Nieznana kategoria.", "Unknown category.");
        };
        let deposit = valid.clone();
        let appended = self
            .log
            .append_intake(now, move |id| {
                Payload::Deposit(Intake {
                    id,
                    received_at: deposit.received_at,
                    channel: deposit.channel,
                    category: Text::sanitized(&deposit.category),
                    reference: deposit.reference,
                    sender: deposit.sender,
                    attachments: deposit.attachments,
                })
            })
            .await;
        let intake = match appended.map(|a| a.event.payload.intake()) {
            Ok(Some(intake)) => intake,
            Ok(None) => return failure(None, "Nie zapisano.", "Not recorded."),
            Err(e) => {
                tracing::error!("mailroom: intake not recorded: {e}");
                return failure(
                    None,
                    "Nie zapisano — błąd stanowiska. Wezwij administratora.",
                    "Not recorded — station error. Call the administrator.",
                );
            }
        };
        tracing::info!("mailroom: {intake} taken in ({:?})", valid.channel);
        let hold_secs = self
            .config
            .hold_for_material(&valid.category, &valid.material);
        if let Err(e) = self.start_hold(now, intake, hold_secs, false).await {
            return self.storage_failure(intake, e);
        }
        let (channel_pl, channel_en, kinds): (_, _, &[LabelKind]) = match valid.channel {
            Channel::Counter => (
                "biuro podawcze",
                "counter",
                &[LabelKind::Envelope, LabelKind::Receipt],
            ),
            _ => ("poczta", "post", &[LabelKind::Envelope]),
        };
        let label = IntakeLabel {
            intake,
            received_at: valid.received_at,
            channel: valid.channel,
            category: &category,
            reference: valid.reference.as_ref().map(Text::as_str),
        };
        let until = clock::local_text(Timestamp {
            unix_ms: now.unix_ms + i64::from(hold_secs) * 1000,
            trusted: now.trusted,
        });
        let printed = match (&self.printer, &self.templates) {
            (Some(printer), Some(templates)) => {
                printing::print_intake(&self.config, &self.log, printer, templates, &label, kinds)
                    .await
            }
            _ => Err(PrintFailure::Render("no label printer".into())),
        };
        match printed {
            Ok(()) => {
                let receipt = if valid.channel == Channel::Counter {
                    (" Wydaj potwierdzenie.", " Hand over the receipt.")
                } else {
                    ("", "")
                };
                success(
                    intake,
                    format!(
                        "Przyjęto ({channel_pl}). Naklej etykietę na kopertę.{} Kwarantanna do {until}.",
                        receipt.0
                    ),
                    format!(
                        "Taken in ({channel_en}). Stick the label on the envelope.{} Held until {until}.",
                        receipt.1
                    ),
                )
            }
            Err(e) => {
                tracing::error!("mailroom: labels for {intake}: {e}");
                let mut result = success(
                    intake,
                    format!(
                        "Zapisano, ale etykieta się nie wydrukowała. Napisz numer {intake} na kopertę i sprawdź drukarkę. Kwarantanna do {until}."
                    ),
                    format!(
                        "Recorded, but the label did not print. Write {intake} on the envelope and check the printer. Held until {until}."
                    ),
                );
                result.ok = false;
                result
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn config() -> StationConfig {
        StationConfig::from_toml(
            r#"
station = "GWK2"
name = "Kancelaria"
place = "Urząd Miejski w Gliwicach"
role = "mailroom"
data_dir = "/var/lib/urna"
key_file = "/etc/urna/station.key"
registry_url = "http://registry.local:8080"
status_url = "https://bip.gliwice.example/status"
default_category = "inne"
hold_secs = 86400
drop_timeout_secs = 30
simulation = true

[[categories]]
id = "inne"
name_pl = "Inne sprawy"
name_en = "Other matters"
department = "Kancelaria ogólna"

[[materials]]
id = "parcel"
name_pl = "Paczka"
name_en = "Parcel"
hold_secs = 259200
"#,
        )
        .unwrap()
    }

    /// 2026-11-22 10:00 in Warsaw.
    const NOW: Timestamp = Timestamp {
        unix_ms: 1_795_338_000_000,
        trusted: true,
    };

    fn form(channel: &str) -> IntakeForm {
        IntakeForm {
            channel: channel.into(),
            category: config().categories[0].id.clone(),
            ..IntakeForm::default()
        }
    }

    #[test]
    fn a_bare_post_letter_is_paper_received_now_with_no_data() {
        let valid = validate(&form("post"), &config(), NOW).unwrap();
        assert_eq!(valid.channel, Channel::Post);
        assert_eq!(valid.material, PAPER);
        assert_eq!(valid.received_at, NOW);
        assert_eq!(
            (valid.sender, valid.reference, valid.attachments),
            (None, None, None)
        );
    }

    #[test]
    fn every_field_is_kept_trimmed() {
        let filled = IntakeForm {
            material: "parcel".into(),
            sender: "  Jan Nowak, ul. Długa 1, Gliwice ".into(),
            reference: " GKM.6220.12.2026 ".into(),
            attachments: "3".into(),
            received: "2026-11-20".into(),
            ..form("post")
        };
        let valid = validate(&filled, &config(), NOW).unwrap();
        assert_eq!(valid.material, "parcel");
        assert_eq!(
            valid.sender.unwrap().as_str(),
            "Jan Nowak, ul. Długa 1, Gliwice"
        );
        assert_eq!(valid.reference.unwrap().as_str(), "GKM.6220.12.2026");
        assert_eq!(valid.attachments, Some(3));
        assert_eq!(clock::local_text(valid.received_at), "2026-11-20 00:00");
    }

    #[test]
    fn bad_fields_are_refused_by_name() {
        let cases = [
            (form("fax"), "poczta albo biuro"),
            (
                IntakeForm {
                    category: "nope".into(),
                    ..form("post")
                },
                "czego dotyczy",
            ),
            (
                IntakeForm {
                    material: "gold".into(),
                    ..form("post")
                },
                "rodzaj",
            ),
            (
                IntakeForm {
                    sender: "x".repeat(201),
                    ..form("post")
                },
                "Nadawca",
            ),
            (
                IntakeForm {
                    reference: "a\tb".into(),
                    ..form("post")
                },
                "Sygnatura",
            ),
            (
                IntakeForm {
                    attachments: "1000".into(),
                    ..form("post")
                },
                "Załączniki",
            ),
            (
                IntakeForm {
                    attachments: "-1".into(),
                    ..form("post")
                },
                "Załączniki",
            ),
            (
                IntakeForm {
                    received: "2026-11-23".into(),
                    ..form("post")
                },
                "Data wpływu",
            ),
            (
                IntakeForm {
                    received: "2026-10-01".into(),
                    ..form("post")
                },
                "Data wpływu",
            ),
            (
                IntakeForm {
                    received: "22.11.2026".into(),
                    ..form("post")
                },
                "Data wpływu",
            ),
            (
                IntakeForm {
                    received: "2026-11-21".into(),
                    ..form("counter")
                },
                "dzisiejszą",
            ),
        ];
        for (form, says) in cases {
            let refused = validate(&form, &config(), NOW).unwrap_err();
            assert!(refused.pl.contains(says), "{form:?}: {refused:?}");
        }
    }

    #[test]
    fn the_longer_hold_of_material_and_category_applies() {
        let config = config();
        let category = &config.categories[0].id;
        assert_eq!(
            config.hold_for_material(category, PAPER),
            config.hold_for(category)
        );
        assert_eq!(config.hold_for_material(category, "parcel"), 72 * 3600);
    }

    proptest! {
        /// Whatever a browser sends, the form is refused or accepted whole, and an accepted one
        /// keeps every limit.
        #[test]
        fn any_form_is_refused_or_within_limits(
            channel in prop_oneof![Just("post".to_owned()), Just("counter".to_owned()), ".{0,8}"],
            material in prop_oneof![Just(String::new()), Just("parcel".to_owned()), ".{0,8}"],
            sender in ".{0,260}",
            reference in ".{0,80}",
            attachments in prop_oneof![Just(String::new()), "[0-9]{1,5}", ".{0,6}"],
            received in prop_oneof![Just(String::new()), "2026-1[01]-[0-3][0-9]", ".{0,12}"],
        ) {
            let config = config();
            let form = IntakeForm {
                channel,
                category: config.categories[0].id.clone(),
                material,
                sender,
                reference,
                attachments,
                received,
            };
            if let Ok(valid) = validate(&form, &config, NOW) {
                prop_assert!(valid.received_at.unix_ms <= NOW.unix_ms);
                prop_assert!(valid.sender.as_ref().is_none_or(|s| s.as_str().chars().count() <= SENDER_CHARS));
                prop_assert!(valid.reference.as_ref().is_none_or(|r| r.as_str().chars().count() <= REFERENCE_CHARS));
                prop_assert!(valid.attachments.is_none_or(|n| n <= MAX_ATTACHMENTS));
                prop_assert!(valid.material == PAPER || config.material(&valid.material).is_some());
            }
        }
    }
}
