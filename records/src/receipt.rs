//! The text a receipt's QR code carries: proof that an envelope was deposited.
//!
//! `URNA1:<intake id>:<deposit time, unix seconds>:<key id, hex>:<signature, base32>`, e.g.
//! `URNA1:GW7K-2226-Q:1763768771:3F2A09BC1D2E3F40:KZ…` — about 150 characters, all from the QR
//! alphanumeric set (uppercase, digits, `:` and `-`), which keeps the code at version 6 or so:
//! small enough to print crisply on 58 mm paper. The signature covers the intake id (and with it
//! the station) and the deposit time, so the registry can tell a genuine receipt from an altered one.

use std::fmt;
use std::str::FromStr;

use data_encoding::{BASE32_NOPAD, HEXUPPER};
use ed25519_dalek::{Signature, Signer, SigningKey};

use crate::intake_id::{IdError, IntakeId};
use crate::signing::{KeyId, KeyRing};

const PREFIX: &str = "URNA1";
const DOMAIN: &[u8] = b"urna-receipt-v1\0";
/// Longer input is refused before it is parsed.
pub const MAX_RECEIPT_LEN: usize = 256;

/// A parsed receipt payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptPayload {
    /// The envelope's intake id (its first four characters name the station).
    pub intake: IntakeId,
    /// The deposit instant, unix seconds: the date of receipt the resident can prove.
    pub deposited_at: i64,
    /// The key that signed it.
    pub key_id: KeyId,
    /// Signature over the intake id and deposit time.
    pub signature: [u8; 64],
}

/// Why a text is not a genuine receipt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// Longer than any receipt.
    #[error("receipt text is {0} characters long; a receipt has at most {MAX_RECEIPT_LEN}")]
    TooLong(usize),
    /// Does not start with `URNA1:`.
    #[error("not an urna receipt (it should start with {PREFIX}:)")]
    NotAReceipt,
    /// Not five `:`-separated fields.
    #[error("receipt should have 5 parts separated by ':', found {0}")]
    WrongShape(usize),
    /// The intake id part is wrong.
    #[error("intake id on the receipt: {0}")]
    BadIntakeId(IdError),
    /// The time part is not a number.
    #[error("deposit time on the receipt is not a number of seconds")]
    BadTime,
    /// The key id part is not 16 hex digits.
    #[error("key id on the receipt is not 16 hex digits")]
    BadKeyId,
    /// The signature part is not 64 bytes of base32.
    #[error("signature on the receipt is not 103 base32 characters")]
    BadSignatureEncoding,
    /// Signed by a key the registry does not know.
    #[error("signed by unknown key {0}")]
    UnknownKey(KeyId),
    /// The signature does not match the receipt's contents: forged or altered.
    #[error("signature does not match: the receipt was forged or altered")]
    Forged,
}

fn message(intake: &IntakeId, deposited_at: i64) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 20);
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(intake.station().as_bytes());
    m.extend_from_slice(&intake.number().to_be_bytes());
    m.extend_from_slice(&deposited_at.to_be_bytes());
    m
}

impl ReceiptPayload {
    /// Signs a receipt for `intake` deposited at `deposited_at` (unix seconds).
    pub fn sign(intake: IntakeId, deposited_at: i64, key: &SigningKey) -> Self {
        let signature = key.sign(&message(&intake, deposited_at)).to_bytes();
        ReceiptPayload {
            intake,
            deposited_at,
            key_id: KeyId::of(&key.verifying_key()),
            signature,
        }
    }

    /// Checks the signature against the keys the caller trusts.
    pub fn verify(&self, keys: &KeyRing) -> Result<(), ReceiptError> {
        let key = keys
            .get(&self.key_id)
            .ok_or(ReceiptError::UnknownKey(self.key_id))?;
        key.verify_strict(
            &message(&self.intake, self.deposited_at),
            &Signature::from_bytes(&self.signature),
        )
        .map_err(|_| ReceiptError::Forged)
    }
}

impl fmt::Display for ReceiptPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}:{}:{}:{}:{}",
            self.intake,
            self.deposited_at,
            HEXUPPER.encode(&self.key_id.0),
            BASE32_NOPAD.encode(&self.signature)
        )
    }
}

impl FromStr for ReceiptPayload {
    type Err = ReceiptError;

    /// Parses what a scanner read from a receipt; case and surrounding whitespace are forgiven.
    fn from_str(s: &str) -> Result<Self, ReceiptError> {
        let s = s.trim();
        let len = s.chars().count();
        if len > MAX_RECEIPT_LEN {
            return Err(ReceiptError::TooLong(len));
        }
        let upper = s.to_ascii_uppercase();
        let parts: Vec<&str> = upper.split(':').collect();
        if parts.first() != Some(&PREFIX) {
            return Err(ReceiptError::NotAReceipt);
        }
        let [_, intake, time, key_id, signature] = parts[..] else {
            return Err(ReceiptError::WrongShape(parts.len()));
        };
        let intake = intake.parse().map_err(ReceiptError::BadIntakeId)?;
        // Only plain digits: no sign, no spaces, at most 12 of them (year 33658 and before).
        if time.is_empty() || time.len() > 12 || !time.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ReceiptError::BadTime);
        }
        let deposited_at = time.parse().map_err(|_| ReceiptError::BadTime)?;
        let key_id = HEXUPPER
            .decode(key_id.as_bytes())
            .ok()
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(KeyId)
            .ok_or(ReceiptError::BadKeyId)?;
        let signature = BASE32_NOPAD
            .decode(signature.as_bytes())
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
            .ok_or(ReceiptError::BadSignatureEncoding)?;
        Ok(ReceiptPayload {
            intake,
            deposited_at,
            key_id,
            signature,
        })
    }
}
