//! Intake ids: what a resident reads out on the phone and what staff type when a label is torn.
//!
//! An id is a station code (4 characters, assigned when the station is enrolled) followed by that
//! station's own intake counter and a check character, printed as `SSSS-NNNN-K`, e.g. `GW7K-2226-Q` (intake 4: the counter is base 31, `2` being zero).
//! Stations never coordinate: the station code makes ids unique across the city.
//!
//! The alphabet has 31 characters: the digits 2–9 and the letters without I, L and O, so none of
//! 0/O, 1/I/L can be confused. 31 is prime, which is what makes the check character strong: with the
//! weighted sum `Σ (i+1)·vᵢ ≡ 0 (mod 31)` over all characters including the check character, a
//! single wrong character changes the sum by `w·d` (w in 1..=14, d in 1..=30, both nonzero mod a prime),
//! and swapping two neighbours changes it by `(wᵢ − wᵢ₊₁)·(a − b) = −(a − b)`; neither is ever 0.
//! `tests/intake_id.rs` checks this exhaustively.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The 31 characters used in station codes and intake ids, in value order.
pub const ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const BASE: u64 = 31;
/// Length of a station code.
pub const STATION_CODE_LEN: usize = 4;
/// The counter is printed with at least this many characters (zero-padded with `2`, the zero digit).
const MIN_COUNTER_DIGITS: usize = 4;
/// At most this many counter characters, so a printed id stays within 16 characters.
const MAX_COUNTER_DIGITS: usize = 9;
/// Longest printed id: `SSSS-` + 9 counter characters + `-K`.
pub const MAX_PRINTED_LEN: usize = STATION_CODE_LEN + 1 + MAX_COUNTER_DIGITS + 1 + 1;
/// The highest intake number that still fits in [`MAX_COUNTER_DIGITS`] characters.
pub const MAX_INTAKE_NUMBER: u64 = 31u64.pow(MAX_COUNTER_DIGITS as u32) - 1;

fn value_of(c: u8) -> Option<u8> {
    let upper = c.to_ascii_uppercase();
    ALPHABET.iter().position(|&a| a == upper).map(|v| v as u8)
}

/// Why a text is not an intake id or station code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Nothing to parse.
    #[error("empty intake id")]
    Empty,
    /// A character outside the alphabet; `position` counts characters from 1, ignoring separators.
    #[error("character {found:?} at position {position} is never used in ids{hint}")]
    BadCharacter {
        /// The character found.
        found: char,
        /// 1-based position among the id's characters (dashes and spaces not counted).
        position: usize,
        /// Extra advice for the usual look-alikes.
        hint: &'static str,
    },
    /// Too few or too many characters.
    #[error("an intake id has {min} to {max} characters besides dashes, this has {found}")]
    BadLength {
        /// Characters found.
        found: usize,
        /// Fewest allowed.
        min: usize,
        /// Most allowed.
        max: usize,
    },
    /// The counter has more leading `2`s (zeros) than the printed form ever has.
    #[error("the number part has extra leading 2s; the id would be printed as {canonical}")]
    NotCanonical {
        /// How the same id is printed.
        canonical: String,
    },
    /// The check character does not match: a character was misread or two were swapped.
    #[error("check character does not match: a character was misread or two were swapped")]
    CheckFailed,
    /// Intake number 0 is never issued.
    #[error("intake number 0 is never issued")]
    ZeroNumber,
    /// The number does not fit the printed form.
    #[error("intake number {0} is larger than the largest printable number {MAX_INTAKE_NUMBER}")]
    NumberTooLarge(u64),
    /// A station code must be exactly 4 characters.
    #[error("a station code has exactly 4 characters from 2–9 and A–Z without I, L, O; got {0:?}")]
    BadStationCode(String),
}

fn hint_for(c: char) -> &'static str {
    match c.to_ascii_uppercase() {
        '0' | 'O' => " (ids use neither 0 nor O; the digits are 2–9)",
        '1' | 'I' | 'L' => " (ids use none of 1, I and L)",
        _ => " (ids use the digits 2–9 and the letters A–Z without I, L, O)",
    }
}

/// The code that identifies one station (urn kiosk or mailroom counter), e.g. `GW7K`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StationCode([u8; STATION_CODE_LEN]);

impl StationCode {
    /// The code's 4 ASCII bytes (uppercase).
    pub fn as_bytes(&self) -> &[u8; STATION_CODE_LEN] {
        &self.0
    }

    /// Builds a code from 4 raw bytes, as stored in the canonical encoding.
    pub fn from_bytes(bytes: [u8; STATION_CODE_LEN]) -> Result<Self, IdError> {
        if bytes.iter().all(|&b| ALPHABET.contains(&b)) {
            Ok(StationCode(bytes))
        } else {
            Err(IdError::BadStationCode(
                String::from_utf8_lossy(&bytes).into_owned(),
            ))
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // The bytes are always from ALPHABET, hence ASCII.
        std::str::from_utf8(&self.0).unwrap_or("????")
    }
}

impl FromStr for StationCode {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        let upper = s.trim().to_ascii_uppercase();
        let bytes: [u8; STATION_CODE_LEN] = upper
            .as_bytes()
            .try_into()
            .map_err(|_| IdError::BadStationCode(s.to_owned()))?;
        StationCode::from_bytes(bytes).map_err(|_| IdError::BadStationCode(s.to_owned()))
    }
}

impl TryFrom<String> for StationCode {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        s.parse()
    }
}

impl From<StationCode> for String {
    fn from(c: StationCode) -> String {
        c.as_str().to_owned()
    }
}

impl fmt::Display for StationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for StationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StationCode({})", self.as_str())
    }
}

/// One envelope or letter taken in: the station that took it and that station's intake number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IntakeId {
    station: StationCode,
    number: u64,
}

impl IntakeId {
    /// The `number`th intake of `station` (numbers start at 1).
    pub fn new(station: StationCode, number: u64) -> Result<Self, IdError> {
        if number == 0 {
            return Err(IdError::ZeroNumber);
        }
        if number > MAX_INTAKE_NUMBER {
            return Err(IdError::NumberTooLarge(number));
        }
        Ok(IntakeId { station, number })
    }

    /// The station that took the intake in.
    pub fn station(&self) -> StationCode {
        self.station
    }

    /// The station's own counter.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The id's characters without separators and without the check character.
    fn data_chars(&self) -> Vec<u8> {
        let mut digits = Vec::with_capacity(MAX_COUNTER_DIGITS);
        let mut n = self.number;
        while n > 0 {
            digits.push(ALPHABET[(n % BASE) as usize]);
            n /= BASE;
        }
        while digits.len() < MIN_COUNTER_DIGITS {
            digits.push(ALPHABET[0]);
        }
        digits.reverse();
        let mut out = self.station.0.to_vec();
        out.extend_from_slice(&digits);
        out
    }
}

/// The check character that makes `Σ (i+1)·vᵢ ≡ 0 (mod 31)` hold over `data` followed by it.
fn check_char(data: &[u8]) -> u8 {
    let sum: u64 = data
        .iter()
        .enumerate()
        .map(|(i, &c)| (i as u64 + 1) * u64::from(value_of(c).unwrap_or(0)))
        .sum();
    let weight = data.len() as u64 + 1;
    // Solve weight·v ≡ −sum (mod 31); 31 is prime, so weight (1..=14) has an inverse: weight^29.
    let inverse = (0..29).fold(1u64, |acc, _| acc * weight % BASE);
    let v = (BASE - sum % BASE) % BASE * inverse % BASE;
    ALPHABET[v as usize]
}

impl fmt::Display for IntakeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let data = self.data_chars();
        let check = check_char(&data);
        let (station, counter) = data.split_at(STATION_CODE_LEN);
        // Everything here is ASCII from ALPHABET.
        write!(
            f,
            "{}-{}-{}",
            String::from_utf8_lossy(station),
            String::from_utf8_lossy(counter),
            check as char
        )
    }
}

impl fmt::Debug for IntakeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IntakeId({self})")
    }
}

impl FromStr for IntakeId {
    type Err = IdError;

    /// Accepts upper or lower case, with or without dashes and spaces anywhere.
    fn from_str(s: &str) -> Result<Self, IdError> {
        let mut chars = Vec::with_capacity(MAX_PRINTED_LEN);
        for c in s.trim().chars() {
            if c == '-' || c == ' ' {
                continue;
            }
            let position = chars.len() + 1;
            let byte = u8::try_from(c)
                .ok()
                .filter(|b| value_of(*b).is_some())
                .ok_or(IdError::BadCharacter {
                    found: c,
                    position,
                    hint: hint_for(c),
                })?;
            chars.push(byte.to_ascii_uppercase());
            if chars.len() > STATION_CODE_LEN + MAX_COUNTER_DIGITS + 1 {
                break;
            }
        }
        let (min, max) = (
            STATION_CODE_LEN + MIN_COUNTER_DIGITS + 1,
            STATION_CODE_LEN + MAX_COUNTER_DIGITS + 1,
        );
        if chars.is_empty() {
            return Err(IdError::Empty);
        }
        if chars.len() < min || chars.len() > max {
            return Err(IdError::BadLength {
                found: s.trim().chars().filter(|c| *c != '-' && *c != ' ').count(),
                min,
                max,
            });
        }
        let (data, check) = chars.split_at(chars.len() - 1);
        if check_char(data) != check[0] {
            return Err(IdError::CheckFailed);
        }
        let (station, counter) = data.split_at(STATION_CODE_LEN);
        let mut station_bytes = [0u8; STATION_CODE_LEN];
        station_bytes.copy_from_slice(station);
        let station = StationCode::from_bytes(station_bytes)?;
        let number = counter
            .iter()
            .fold(0u64, |n, &c| n * BASE + u64::from(value_of(c).unwrap_or(0)));
        let id = IntakeId::new(station, number)?;
        if id.data_chars() != data {
            return Err(IdError::NotCanonical {
                canonical: id.to_string(),
            });
        }
        Ok(id)
    }
}

impl TryFrom<String> for IntakeId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        s.parse()
    }
}

impl From<IntakeId> for String {
    fn from(id: IntakeId) -> String {
        id.to_string()
    }
}
