//! A station's key rotation statement: "station S replaces key OLD with key NEW from seq N on".
//!
//! One line of text, e.g.
//! `URNA-ROTATE1:GW7K:42:<old key>:<new key>:<old key's signature>:<new key's signature>`, keys
//! and signatures in lowercase hex. Both keys sign the same domain-separated message: the old
//! key's signature is the authority (only the holder of the approved key can name its successor),
//! the new key's is proof of possession (nobody can hand a station a key they do not hold, nor
//! claim someone else's public key). Events `1 ..= N−1` are signed by the old key, `N ..` by the
//! new one; the old key keeps vouching for what it signed before, and for nothing after.
//!
//! The text is canonical: [`KeyRotation::from_str`] accepts only what [`fmt::Display`] writes,
//! so a statement has one spelling and a replay is recognised by comparing text.

use std::fmt;
use std::str::FromStr;

use data_encoding::HEXLOWER;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::intake_id::StationCode;
use crate::signing::{KeyId, KeyRing};

const PREFIX: &str = "URNA-ROTATE1";
const DOMAIN: &[u8] = b"urna-key-rotation-v1\0";
/// Longer input is refused before it is parsed; a statement is 480 characters or so.
pub const MAX_STATEMENT_LEN: usize = 600;
/// Largest seq written in a statement: seqs are stored as SQLite integers (i64).
pub const MAX_FROM_SEQ: u64 = i64::MAX as u64;

/// A signed key rotation statement.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyRotation {
    /// The station whose key changes.
    pub station: StationCode,
    /// The first seq signed by the new key; every event before it is the old key's.
    pub from_seq: u64,
    /// The key being replaced.
    pub old_key: VerifyingKey,
    /// Its successor.
    pub new_key: VerifyingKey,
    /// The old key's signature over the statement.
    pub old_signature: [u8; 64],
    /// The new key's signature over the same statement.
    pub new_signature: [u8; 64],
}

impl fmt::Debug for KeyRotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "KeyRotation({} from seq {}: {} -> {})",
            self.station,
            self.from_seq,
            self.old_key_id(),
            self.new_key_id()
        )
    }
}

/// Why a text is not an acceptable rotation statement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RotationError {
    /// Longer than any statement.
    #[error("rotation statement is {0} characters long; at most {MAX_STATEMENT_LEN}")]
    TooLong(usize),
    /// Not `URNA-ROTATE1:` and six more `:`-separated fields in canonical form.
    #[error("not a key rotation statement ({0})")]
    Malformed(&'static str),
    /// A key that must never be trusted, or the same key twice.
    #[error("rotation statement names an unusable key ({0})")]
    BadKey(&'static str),
    /// The old key's signature does not verify.
    #[error("the old key's signature on the rotation statement does not verify")]
    OldSignature,
    /// The new key's signature (proof of possession) does not verify.
    #[error("the new key's signature on the rotation statement does not verify")]
    NewSignature,
}

fn message(station: StationCode, from_seq: u64, old: &VerifyingKey, new: &VerifyingKey) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 4 + 8 + 64);
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(station.as_str().as_bytes());
    m.extend_from_slice(&from_seq.to_be_bytes());
    m.extend_from_slice(old.as_bytes());
    m.extend_from_slice(new.as_bytes());
    m
}

impl KeyRotation {
    /// `old` hands `station` over to `new` from `from_seq` on; both sign.
    pub fn sign(
        station: StationCode,
        from_seq: u64,
        old: &SigningKey,
        new: &SigningKey,
    ) -> KeyRotation {
        let (old_key, new_key) = (old.verifying_key(), new.verifying_key());
        let m = message(station, from_seq, &old_key, &new_key);
        KeyRotation {
            station,
            from_seq,
            old_key,
            new_key,
            old_signature: old.sign(&m).to_bytes(),
            new_signature: new.sign(&m).to_bytes(),
        }
    }

    /// The old key's id.
    pub fn old_key_id(&self) -> KeyId {
        KeyId::of(&self.old_key)
    }

    /// The new key's id.
    pub fn new_key_id(&self) -> KeyId {
        KeyId::of(&self.new_key)
    }

    /// Checks both keys and both signatures (strictly: no weak keys, canonical `s`), and that
    /// `from_seq` is a seq (1 or more).
    pub fn verify(&self) -> Result<(), RotationError> {
        if self.from_seq == 0 || self.from_seq > MAX_FROM_SEQ {
            return Err(RotationError::Malformed("from seq out of range"));
        }
        if self.old_key == self.new_key {
            return Err(RotationError::BadKey("the new key is the old key"));
        }
        // The ring's checks: no small-order key, no torsion component.
        let mut ring = KeyRing::new();
        ring.add(self.old_key)
            .map_err(|_| RotationError::BadKey("old key is weak"))?;
        ring.add(self.new_key)
            .map_err(|_| RotationError::BadKey("new key is weak"))?;
        let m = message(self.station, self.from_seq, &self.old_key, &self.new_key);
        self.old_key
            .verify_strict(&m, &Signature::from_bytes(&self.old_signature))
            .map_err(|_| RotationError::OldSignature)?;
        self.new_key
            .verify_strict(&m, &Signature::from_bytes(&self.new_signature))
            .map_err(|_| RotationError::NewSignature)?;
        Ok(())
    }
}

/// Parses and verifies a statement received from outside.
pub fn parse_verified(text: &str) -> Result<KeyRotation, RotationError> {
    let rotation: KeyRotation = text.parse()?;
    rotation.verify()?;
    Ok(rotation)
}

impl fmt::Display for KeyRotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}:{}:{}:{}:{}:{}:{}",
            self.station,
            self.from_seq,
            HEXLOWER.encode(self.old_key.as_bytes()),
            HEXLOWER.encode(self.new_key.as_bytes()),
            HEXLOWER.encode(&self.old_signature),
            HEXLOWER.encode(&self.new_signature),
        )
    }
}

fn hex<const N: usize>(text: &str, what: &'static str) -> Result<[u8; N], RotationError> {
    // HEXLOWER refuses uppercase, so each value has exactly one spelling.
    HEXLOWER
        .decode(text.as_bytes())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(RotationError::Malformed(what))
}

fn key(text: &str, what: &'static str) -> Result<VerifyingKey, RotationError> {
    VerifyingKey::from_bytes(&hex::<32>(text, what)?).map_err(|_| RotationError::BadKey(what))
}

impl FromStr for KeyRotation {
    type Err = RotationError;

    /// Structure only; [`KeyRotation::verify`] (or [`parse_verified`]) checks the signatures.
    fn from_str(text: &str) -> Result<Self, RotationError> {
        if text.len() > MAX_STATEMENT_LEN {
            return Err(RotationError::TooLong(text.len()));
        }
        let parts: Vec<&str> = text.split(':').collect();
        let [prefix, station, seq, old, new, old_sig, new_sig] = parts[..] else {
            return Err(RotationError::Malformed(
                "expected 7 fields separated by ':'",
            ));
        };
        if prefix != PREFIX {
            return Err(RotationError::Malformed(
                "it should start with URNA-ROTATE1:",
            ));
        }
        let station: StationCode = station
            .parse()
            .map_err(|_| RotationError::Malformed("station code"))?;
        if station.as_str() != parts[1] {
            return Err(RotationError::Malformed(
                "station code not in canonical form",
            ));
        }
        // Digits only, no sign, no leading zero: one spelling per number.
        if seq.is_empty() || seq.len() > 19 || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RotationError::Malformed("from seq"));
        }
        if seq.starts_with('0') {
            return Err(RotationError::Malformed("from seq has a leading zero"));
        }
        let from_seq: u64 = seq
            .parse()
            .map_err(|_| RotationError::Malformed("from seq"))?;
        if from_seq > MAX_FROM_SEQ {
            return Err(RotationError::Malformed("from seq out of range"));
        }
        Ok(KeyRotation {
            station,
            from_seq,
            old_key: key(old, "old key")?,
            new_key: key(new, "new key")?,
            old_signature: hex(old_sig, "old key's signature")?,
            new_signature: hex(new_sig, "new key's signature")?,
        })
    }
}

/// The body of `POST /api/stations/{code}/keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationRequest {
    /// The statement's text, as [`KeyRotation`] writes it.
    pub statement: String,
}

/// The registry's answer to an accepted rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationAccepted {
    /// The station.
    pub station: String,
    /// The first seq the new key signs.
    pub from_seq: u64,
    /// The retired key's fingerprint.
    pub old_fingerprint: String,
    /// The new (approved) key's fingerprint.
    pub new_fingerprint: String,
    /// The registry had accepted this same statement before; nothing changed.
    pub replayed: bool,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn code() -> StationCode {
        "GW7K".parse().unwrap()
    }

    fn statement() -> KeyRotation {
        KeyRotation::sign(
            code(),
            42,
            &SigningKey::from_bytes(&[1; 32]),
            &SigningKey::from_bytes(&[2; 32]),
        )
    }

    #[test]
    fn a_statement_round_trips_and_verifies() {
        let s = statement();
        let text = s.to_string();
        assert!(text.starts_with("URNA-ROTATE1:GW7K:42:"), "{text}");
        assert!(text.len() <= MAX_STATEMENT_LEN);
        assert_eq!(parse_verified(&text).unwrap(), s);
        assert!(!format!("{s:?}").contains(&HEXLOWER.encode(&s.old_signature)));
    }

    #[test]
    fn each_signature_is_checked() {
        let s = statement();
        let mut bad = s.clone();
        bad.old_signature[5] ^= 1;
        assert_eq!(bad.verify(), Err(RotationError::OldSignature));
        let mut bad = s.clone();
        bad.new_signature[5] ^= 1;
        assert_eq!(bad.verify(), Err(RotationError::NewSignature));
        // A new key the signer does not hold: its signature cannot be made.
        let mut bad = s.clone();
        bad.new_key = SigningKey::from_bytes(&[3; 32]).verifying_key();
        assert_eq!(bad.verify(), Err(RotationError::OldSignature));
        // Another seq or station than signed.
        for bad in [
            KeyRotation {
                from_seq: 43,
                ..s.clone()
            },
            KeyRotation {
                station: "GW7M".parse().unwrap(),
                ..s.clone()
            },
        ] {
            assert!(bad.verify().is_err());
        }
        let same = SigningKey::from_bytes(&[1; 32]);
        assert!(matches!(
            KeyRotation::sign(code(), 1, &same, &same).verify(),
            Err(RotationError::BadKey(_))
        ));
        let zero = KeyRotation::sign(
            code(),
            0,
            &SigningKey::from_bytes(&[1; 32]),
            &SigningKey::from_bytes(&[2; 32]),
        );
        assert!(zero.verify().is_err());
    }

    #[test]
    fn non_canonical_spellings_are_refused() {
        let text = statement().to_string();
        for bad in [
            text.to_uppercase(),
            text.replace(":42:", ":042:"),
            text.replace(":42:", ":+42:"),
            text.replace("GW7K", "gw7k"),
            format!("{text}:"),
            format!(" {text}"),
            format!("{text}\n"),
            text.replacen("URNA-ROTATE1", "URNA-ROTATE2", 1),
            String::new(),
            "x".repeat(MAX_STATEMENT_LEN + 1),
        ] {
            assert!(parse_verified(&bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        /// Outside input: any text gives an answer, never a panic; what parses writes back the same.
        #[test]
        fn any_text_is_answered(s in "\\PC{0,600}") {
            if let Ok(r) = s.parse::<KeyRotation>() {
                proptest::prop_assert_eq!(r.to_string(), s);
            }
        }

        /// Any station, seq and keys sign a statement that verifies after a round trip.
        #[test]
        fn signed_statements_verify(old in proptest::array::uniform32(proptest::num::u8::ANY),
                                    new in proptest::array::uniform32(proptest::num::u8::ANY),
                                    seq in 1u64..=MAX_FROM_SEQ) {
            proptest::prop_assume!(old != new);
            let s = KeyRotation::sign(code(), seq, &SigningKey::from_bytes(&old), &SigningKey::from_bytes(&new));
            proptest::prop_assert_eq!(parse_verified(&s.to_string()), Ok(s));
        }

        /// One character changed, inserted or removed: never accepted.
        #[test]
        fn one_character_off_is_refused(at in 0usize..600, byte in 0x20u8..0x7f, op in 0u8..3) {
            let good = statement().to_string();
            let mut s = good.clone().into_bytes();
            let at = at % s.len();
            match op {
                0 => s[at] = byte,
                1 => s.insert(at, byte),
                _ => { s.remove(at); }
            }
            let s = String::from_utf8(s).unwrap();
            proptest::prop_assume!(s != good);
            proptest::prop_assert!(parse_verified(&s).is_err());
        }
    }
}
