//! Station keys as the rest of urna sees them: key ids, fingerprints, signing and strict verification.
//!
//! Every signature is over a domain-separated message (`urna-event-v1\0…`, `urna-receipt-v1\0…`), so
//! a signature made for one purpose can never be replayed as another.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Domain prefix of every event signature.
const EVENT_DOMAIN: &[u8] = b"urna-event-v1\0";

/// Short id of a public key: the first 8 bytes of its SHA-256. Carried beside each signature so
/// that a verifier knows which key to use once stations rotate keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    /// The id of `key`.
    pub fn of(key: &VerifyingKey) -> KeyId {
        let digest = Sha256::digest(key.as_bytes());
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        KeyId(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&data_encoding::HEXLOWER.encode(&self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl TryFrom<String> for KeyId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(s.as_bytes())
            .map_err(|_| "key id is not hex".to_owned())?;
        bytes
            .try_into()
            .map(KeyId)
            .map_err(|_| "key id is not 8 bytes".to_owned())
    }
}

impl From<KeyId> for String {
    fn from(k: KeyId) -> String {
        k.to_string()
    }
}

/// What an admin compares when enrolling a station: the first 16 bytes of SHA-256 of the public
/// key, in hex groups of four, e.g. `3f2a-09bc-…`.
pub fn fingerprint(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hex = data_encoding::HEXLOWER.encode(&digest[..16]);
    hex.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

fn event_message(canonical: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(EVENT_DOMAIN.len() + canonical.len());
    msg.extend_from_slice(EVENT_DOMAIN);
    msg.extend_from_slice(canonical);
    msg
}

/// Signs an event's canonical bytes.
pub fn sign_event(key: &SigningKey, canonical: &[u8]) -> [u8; 64] {
    key.sign(&event_message(canonical)).to_bytes()
}

/// Verifies an event signature strictly (no small-order keys or points, canonical `s`).
pub fn verify_event(key: &VerifyingKey, canonical: &[u8], signature: &[u8; 64]) -> bool {
    let signature = Signature::from_bytes(signature);
    key.verify_strict(&event_message(canonical), &signature)
        .is_ok()
}

/// Verifies many event signatures at once; `true` where a signature is valid.
///
/// Uses Ed25519 batch verification (about twice as fast per signature) and falls back to
/// [`verify_event`] one by one only when a batch fails, to say which signature is bad. Batch
/// verification checks the same cofactorless equation as `verify_strict`, and the ring refuses
/// weak keys; it does not see a weak key, a non-canonical or small-order `R`, so those are
/// refused here first. What remains is that a signature whose `R` was shifted by a torsion point may pass a
/// batch with probability up to ½: that is malleability of a signature the station really made,
/// never a forgery, and the chain hash does not cover signature bytes.
pub fn verify_events(items: &[(&VerifyingKey, &[u8], &[u8; 64])]) -> Vec<bool> {
    let messages: Vec<Vec<u8>> = items.iter().map(|(_, c, _)| event_message(c)).collect();
    // A weak key makes h·A vanish from the batch equation; strict verification refuses it.
    let batchable = items
        .iter()
        .all(|(key, _, sig)| !key.is_weak() && r_is_canonical_and_not_small(sig));
    if batchable {
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let sigs: Vec<Signature> = items
            .iter()
            .map(|(_, _, s)| Signature::from_bytes(s))
            .collect();
        let keys: Vec<VerifyingKey> = items.iter().map(|(k, _, _)| **k).collect();
        if ed25519_dalek::verify_batch(&refs, &sigs, &keys).is_ok() {
            return vec![true; items.len()];
        }
    }
    items
        .iter()
        .map(|(key, canonical, sig)| verify_event(key, canonical, sig))
        .collect()
}

/// The checks `verify_strict` makes on `R` that batch verification skips, without decompressing
/// `R` (a square root, the largest single cost of a verification).
fn r_is_canonical_and_not_small(signature: &[u8; 64]) -> bool {
    let mut y = [0u8; 32];
    y.copy_from_slice(&signature[..32]);
    y[31] &= 0x7f;
    // y must be below p = 2^255 − 19; only 19 values of the 255-bit y are at or above it.
    let y_high = y[31] == 0x7f && y[1..31].iter().all(|&b| b == 0xff) && y[0] >= 0xed;
    // A point is of small order exactly when its y is one of the 8-torsion points' y, whatever
    // the sign bit says (both x for such a y are torsion points).
    !y_high && !SMALL_ORDER_Y.contains(&y)
}

/// The y coordinates (sign bit cleared) of the eight points of order dividing 8.
static SMALL_ORDER_Y: LazyLock<Vec<[u8; 32]>> = LazyLock::new(|| {
    curve25519_dalek::constants::EIGHT_TORSION
        .iter()
        .map(|p| {
            let mut y = p.compress().to_bytes();
            y[31] &= 0x7f;
            y
        })
        .collect()
});

/// The public keys a verifier trusts, by key id.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    keys: HashMap<KeyId, VerifyingKey>,
}

/// A key that must not be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// 32 bytes that are not a point on the curve.
    #[error("not an Ed25519 public key")]
    NotAKey,
    /// A small-order key, which would accept signatures on anything.
    #[error("weak (small-order) Ed25519 public key refused")]
    Weak,
}

impl KeyRing {
    /// An empty ring.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key, refusing weak ones. Returns its id.
    pub fn add(&mut self, key: VerifyingKey) -> Result<KeyId, KeyError> {
        if key.is_weak() {
            return Err(KeyError::Weak);
        }
        let id = KeyId::of(&key);
        self.keys.insert(id, key);
        Ok(id)
    }

    /// Adds a key given as its 32 raw bytes.
    pub fn add_bytes(&mut self, bytes: &[u8; 32]) -> Result<KeyId, KeyError> {
        let key = VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::NotAKey)?;
        self.add(key)
    }

    /// The key with this id.
    pub fn get(&self, id: &KeyId) -> Option<&VerifyingKey> {
        self.keys.get(id)
    }

    /// Whether the ring holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
