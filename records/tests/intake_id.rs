#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Intake ids and station codes: the printed form, the check character, and every refusal.
//!
//! The check character is proved here against the rule in the module doc of `intake_id.rs`,
//! re-implemented independently: `Σ (i+1)·vᵢ ≡ 0 (mod 31)` over all characters (check included),
//! with the values given by the position of a character in `23456789ABCDEFGHJKMNPQRSTUVWXYZ`.

use proptest::prelude::*;
use records::intake_id::{ALPHABET, MAX_INTAKE_NUMBER, MAX_PRINTED_LEN};
use records::{IdError, IntakeId, StationCode};

/// The alphabet as the spec writes it, typed out here rather than taken from the crate.
const SPEC_ALPHABET: &str = "23456789ABCDEFGHJKMNPQRSTUVWXYZ";

fn value(c: char) -> u64 {
    SPEC_ALPHABET.find(c).expect("character from the alphabet") as u64
}

fn alphabet_chars() -> Vec<char> {
    SPEC_ALPHABET.chars().collect()
}

/// `Σ (i+1)·vᵢ mod 31` over the characters of `compact` (no separators).
fn weighted_sum(compact: &str) -> u64 {
    compact
        .chars()
        .enumerate()
        .map(|(i, c)| (i as u64 + 1) * value(c))
        .sum::<u64>()
        % 31
}

/// The counter digits as the spec describes them: base 31 over the alphabet, at least 4 long.
fn spec_counter(mut n: u64) -> String {
    let alphabet = alphabet_chars();
    let mut digits = Vec::new();
    while n > 0 {
        digits.push(alphabet[(n % 31) as usize]);
        n /= 31;
    }
    while digits.len() < 4 {
        digits.push('2');
    }
    digits.iter().rev().collect()
}

/// The one check character that makes the weighted sum 0, found by trying all 31.
fn spec_check_char(data: &str) -> char {
    let fits: Vec<char> = alphabet_chars()
        .into_iter()
        .filter(|&k| weighted_sum(&format!("{data}{k}")) == 0)
        .collect();
    assert_eq!(fits.len(), 1, "exactly one check character fits {data}");
    fits[0]
}

fn station(code: &str) -> StationCode {
    code.parse().unwrap()
}

fn id(code: &str, number: u64) -> IntakeId {
    IntakeId::new(station(code), number).unwrap()
}

fn compact(id: &IntakeId) -> String {
    id.to_string().replace('-', "")
}

const PROOF_NUMBERS: [u64; 7] = [1, 2, 30, 31, 961, 923_521, MAX_INTAKE_NUMBER];
const PROOF_STATIONS: [&str; 5] = ["GW7K", "2222", "ZZZZ", "A9B8", "MN3P"];

/// Every substitution of one character by another alphabet character, and every swap of two
/// different neighbours, must be caught by the check character.
fn assert_check_catches_all_single_errors(id: &IntakeId) -> Result<(), TestCaseError> {
    let printed = compact(id);
    prop_assert_eq!(printed.parse::<IntakeId>(), Ok(*id));
    prop_assert_eq!(weighted_sum(&printed), 0, "checksum of {}", printed);
    let chars: Vec<char> = printed.chars().collect();
    for pos in 0..chars.len() {
        for other in alphabet_chars() {
            if other == chars[pos] {
                continue;
            }
            let mut changed = chars.clone();
            changed[pos] = other;
            let text: String = changed.iter().collect();
            prop_assert_eq!(
                text.parse::<IntakeId>(),
                Err(IdError::CheckFailed),
                "substitution {} -> {} at {} of {}",
                chars[pos],
                other,
                pos,
                printed
            );
        }
    }
    for pos in 0..chars.len() - 1 {
        if chars[pos] == chars[pos + 1] {
            continue;
        }
        let mut swapped = chars.clone();
        swapped.swap(pos, pos + 1);
        let text: String = swapped.iter().collect();
        prop_assert_eq!(
            text.parse::<IntakeId>(),
            Err(IdError::CheckFailed),
            "swap at {} of {}",
            pos,
            printed
        );
    }
    Ok(())
}

#[test]
fn alphabet_matches_the_spec() {
    assert_eq!(ALPHABET.as_slice(), SPEC_ALPHABET.as_bytes());
    for bad in ['0', '1', 'I', 'L', 'O'] {
        assert!(!SPEC_ALPHABET.contains(bad));
    }
}

#[test]
fn check_character_catches_every_substitution_and_swap_exhaustively() {
    for code in PROOF_STATIONS {
        for number in PROOF_NUMBERS {
            assert_check_catches_all_single_errors(&id(code, number)).unwrap();
        }
    }
}

#[test]
fn exactly_one_check_character_is_accepted() {
    for code in PROOF_STATIONS {
        for number in PROOF_NUMBERS {
            let data = format!("{code}{}", spec_counter(number));
            let accepted: Vec<char> = alphabet_chars()
                .into_iter()
                .filter(|k| format!("{data}{k}").parse::<IntakeId>().is_ok())
                .collect();
            assert_eq!(accepted, vec![spec_check_char(&data)], "{data}");
        }
    }
}

#[test]
fn counter_is_printed_in_base_31_with_at_least_four_digits() {
    // Worked out by hand from the spec: value 1 is '3', 30 is 'Z', 31 is "32", 31² is "322" …
    let cases = [
        (1, "2223"),
        (2, "2224"),
        (30, "222Z"),
        (31, "2232"),
        (961, "2322"),
        (923_521, "32222"),
        (MAX_INTAKE_NUMBER, "ZZZZZZZZZ"),
    ];
    for (number, counter) in cases {
        let printed = id("GW7K", number).to_string();
        let parts: Vec<&str> = printed.split('-').collect();
        assert_eq!(parts.len(), 3, "{printed}");
        assert_eq!(parts[0], "GW7K");
        assert_eq!(parts[1], counter, "number {number}");
        assert_eq!(parts[2].len(), 1);
    }
    assert_eq!(MAX_INTAKE_NUMBER, 31u64.pow(9) - 1);
}

#[test]
fn worked_example_from_the_spec() {
    // GW7K-2223: values G=14 W=27 7=5 K=17 2=0 2=0 2=0 3=1;
    // Σ (i+1)·v = 14 + 54 + 15 + 68 + 0 + 0 + 0 + 8 = 159 ≡ 4 (mod 31).
    // The check character has weight 9: 9·k ≡ −4 ≡ 27, and 9⁻¹ = 7 (9·7 = 63 ≡ 1), so
    // k = 27·7 = 189 ≡ 3, the character '5'.
    assert_eq!(id("GW7K", 1).to_string(), "GW7K-2223-5");
    assert_eq!("GW7K-2223-5".parse::<IntakeId>(), Ok(id("GW7K", 1)));
}

fn station_strategy() -> impl Strategy<Value = StationCode> {
    prop::array::uniform4(0usize..31).prop_map(|idx| {
        let text: String = idx.iter().map(|&i| alphabet_chars()[i]).collect();
        text.parse::<StationCode>().unwrap()
    })
}

fn id_strategy() -> impl Strategy<Value = IntakeId> {
    (
        station_strategy(),
        prop_oneof![
            1..=MAX_INTAKE_NUMBER,
            1u64..=2000,
            (MAX_INTAKE_NUMBER - 2000)..=MAX_INTAKE_NUMBER,
        ],
    )
        .prop_map(|(s, n)| IntakeId::new(s, n).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn check_character_catches_single_errors_for_random_ids(id in id_strategy()) {
        assert_check_catches_all_single_errors(&id)?;
    }
}

proptest! {
    #[test]
    fn printed_form_round_trips(
        id in id_strategy(),
        separators in prop::collection::vec((0usize..20, prop_oneof![Just('-'), Just(' ')]), 0..6),
    ) {
        let printed = id.to_string();
        prop_assert!(printed.len() <= 16);
        prop_assert!(printed.len() <= MAX_PRINTED_LEN);
        for bad in ['0', 'O', '1', 'I', 'L'] {
            prop_assert!(!printed.contains(bad), "{} contains {}", printed, bad);
        }
        // Shape: SSSS-NNNN…-K, exactly as the spec describes.
        let parts: Vec<&str> = printed.split('-').collect();
        prop_assert_eq!(parts.len(), 3);
        let station_code = id.station();
        prop_assert_eq!(parts[0], station_code.as_str());
        prop_assert_eq!(parts[1].to_owned(), spec_counter(id.number()));
        prop_assert_eq!(parts[2].to_owned(), spec_check_char(&format!("{}{}", parts[0], parts[1])).to_string());
        prop_assert_eq!(weighted_sum(&compact(&id)), 0);

        prop_assert_eq!(printed.parse::<IntakeId>(), Ok(id));
        prop_assert_eq!(printed.to_lowercase().parse::<IntakeId>(), Ok(id));
        prop_assert_eq!(compact(&id).parse::<IntakeId>(), Ok(id));
        prop_assert_eq!(compact(&id).to_lowercase().parse::<IntakeId>(), Ok(id));
        prop_assert_eq!(format!("  {printed}\t\n").parse::<IntakeId>(), Ok(id));

        // Dashes and spaces added anywhere.
        let mut chars: Vec<char> = printed.chars().collect();
        for (at, sep) in separators {
            let at = at.min(chars.len());
            chars.insert(at, sep);
        }
        let spread: String = chars.into_iter().collect();
        prop_assert_eq!(spread.parse::<IntakeId>(), Ok(id), "{}", spread);

        // Serde uses the printed form.
        let json = serde_json::to_string(&id).unwrap();
        prop_assert_eq!(&json, &format!("\"{printed}\""));
        prop_assert_eq!(serde_json::from_str::<IntakeId>(&json).unwrap(), id);
    }

    #[test]
    fn arbitrary_text_never_panics(text in prop::collection::vec(any::<char>(), 0..64)) {
        let text: String = text.into_iter().collect();
        let _ = text.parse::<IntakeId>();
        let _ = text.parse::<StationCode>();
        let _ = serde_json::from_str::<IntakeId>(&serde_json::to_string(&text).unwrap());
    }

    #[test]
    fn alphabet_like_text_never_panics_and_valid_parses_print_back(
        text in "[2-9A-Za-z01 -]{0,24}",
    ) {
        if let Ok(id) = text.parse::<IntakeId>() {
            // Whatever is accepted is the same id as its own printed form, with the same characters.
            let stripped: String = text
                .trim()
                .chars()
                .filter(|c| *c != '-' && *c != ' ')
                .collect::<String>()
                .to_uppercase();
            prop_assert_eq!(compact(&id), stripped);
        }
    }

    #[test]
    fn station_codes_round_trip(code in station_strategy()) {
        prop_assert_eq!(code.as_str().parse::<StationCode>(), Ok(code));
        prop_assert_eq!(code.as_str().to_lowercase().parse::<StationCode>(), Ok(code));
        prop_assert_eq!(StationCode::from_bytes(*code.as_bytes()), Ok(code));
        prop_assert_eq!(code.to_string(), code.as_str());
    }
}

#[test]
fn empty_input_is_empty() {
    for text in ["", "   ", "-", "- - --", "\t\n"] {
        assert_eq!(text.parse::<IntakeId>(), Err(IdError::Empty), "{text:?}");
    }
}

#[test]
fn look_alike_characters_are_refused_with_their_position() {
    let printed = id("GW7K", 31).to_string(); // GW7K-2232-?
    let chars: Vec<char> = printed.chars().collect();
    for bad in [
        'O', '0', '1', 'I', 'L', 'o', 'i', 'l', 'Ł', 'é', '€', '\u{0}',
    ] {
        // Replace the n-th non-dash character; position counts without the dashes, from 1.
        let mut position = 0;
        for (at, c) in chars.iter().enumerate() {
            if *c == '-' {
                continue;
            }
            position += 1;
            let mut changed = chars.clone();
            changed[at] = bad;
            let text: String = changed.into_iter().collect();
            match text.parse::<IntakeId>() {
                Err(IdError::BadCharacter {
                    found,
                    position: p,
                    hint,
                }) => {
                    assert_eq!(found, bad, "{text}");
                    assert_eq!(p, position, "{text}");
                    assert!(!hint.is_empty());
                }
                other => panic!("{text:?} gave {other:?}"),
            }
        }
    }
}

#[test]
fn position_ignores_separators_and_leading_space() {
    assert!(matches!(
        " G-W 7K-2O23-5".parse::<IntakeId>(),
        Err(IdError::BadCharacter {
            found: 'O',
            position: 6,
            ..
        })
    ));
}

#[test]
fn too_short_and_too_long_are_bad_length() {
    // 4 station + 4 counter + 1 check = 9 at least; 4 + 9 + 1 = 14 at most.
    assert_eq!(
        "GW7K-222".parse::<IntakeId>(),
        Err(IdError::BadLength {
            found: 7,
            min: 9,
            max: 14
        })
    );
    assert_eq!(
        "GW7K".parse::<IntakeId>(),
        Err(IdError::BadLength {
            found: 4,
            min: 9,
            max: 14
        })
    );
    assert_eq!(
        "GW7K-2222222222-5".parse::<IntakeId>(),
        Err(IdError::BadLength {
            found: 15,
            min: 9,
            max: 14
        })
    );
    assert_eq!(
        "GW7K-22222222222222222222-5".parse::<IntakeId>(),
        Err(IdError::BadLength {
            found: 25,
            min: 9,
            max: 14
        })
    );
    // The shortest and the longest lengths themselves are fine.
    assert_eq!(compact(&id("GW7K", 1)).len(), 9);
    assert_eq!(compact(&id("GW7K", MAX_INTAKE_NUMBER)).len(), 14);
}

#[test]
fn number_zero_is_refused() {
    assert_eq!(IntakeId::new(station("GW7K"), 0), Err(IdError::ZeroNumber));
    // A counter of all zeros with a correct check character.
    let data = "GW7K2222";
    let text = format!("{data}{}", spec_check_char(data));
    assert_eq!(text.parse::<IntakeId>(), Err(IdError::ZeroNumber));
}

#[test]
fn number_too_large_is_refused() {
    assert_eq!(
        IntakeId::new(station("GW7K"), MAX_INTAKE_NUMBER + 1),
        Err(IdError::NumberTooLarge(MAX_INTAKE_NUMBER + 1))
    );
    assert_eq!(
        IntakeId::new(station("GW7K"), u64::MAX),
        Err(IdError::NumberTooLarge(u64::MAX))
    );
    assert!(IntakeId::new(station("GW7K"), MAX_INTAKE_NUMBER).is_ok());
}

#[test]
fn extra_leading_zeros_are_not_canonical() {
    for (code, number) in [("GW7K", 1), ("MN3P", 961), ("2222", 923_521)] {
        let canonical = id(code, number).to_string();
        let counter = spec_counter(number);
        for extra in 1..=(9 - counter.len()) {
            let data = format!("{code}{}{counter}", "2".repeat(extra));
            let text = format!("{data}{}", spec_check_char(&data));
            assert_eq!(
                text.parse::<IntakeId>(),
                Err(IdError::NotCanonical {
                    canonical: canonical.clone()
                }),
                "{text}"
            );
        }
    }
}

#[test]
fn station_code_errors() {
    for bad in [
        "GL7W", "ABC", "", "ABCDE", "GW0K", "GW1K", "GWOK", "GWIK", "GW K", "ŁÓDŹ",
    ] {
        assert_eq!(
            bad.parse::<StationCode>(),
            Err(IdError::BadStationCode(bad.to_owned())),
            "{bad:?}"
        );
    }
    assert!(StationCode::from_bytes(*b"gw7k").is_err());
    assert!(StationCode::from_bytes(*b"GW7K").is_ok());
    assert_eq!(" gw7k ".parse::<StationCode>(), Ok(station("GW7K")));
    assert!(serde_json::from_str::<StationCode>("\"GL7W\"").is_err());
}

#[test]
fn id_with_a_bad_station_code_fails() {
    // An L in the station part is a bad character, found at its position.
    assert!(matches!(
        "GL7W-2223-5".parse::<IntakeId>(),
        Err(IdError::BadCharacter {
            found: 'L',
            position: 2,
            ..
        })
    ));
}

#[test]
fn bad_length_counts_only_the_characters_of_the_id() {
    // A scanner sends CR/LF after the code; the trimmed text has 7 characters, not 8.
    for text in ["GW7K-222\n", "\tGW7K-222", "GW7K-222\r\n"] {
        assert_eq!(
            text.parse::<IntakeId>(),
            Err(IdError::BadLength {
                found: 7,
                min: 9,
                max: 14
            }),
            "{text:?}"
        );
    }
}
