//! Station keys as the rest of urna sees them: key ids, fingerprints, signing and strict verification.
//!
//! Every signature is over a domain-separated message (`urna-event-v1\0…`, `urna-receipt-v1\0…`), so
//! a signature made for one purpose can never be replayed as another.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

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
/// One batch equation for the whole slice, falling back to [`verify_event`] one by one only when
/// it fails, to say which signature is bad. The equation is the cofactorless one
/// `verify_strict` checks, with what batching alone would not see refused first: weak keys,
/// non-canonical `s` or `R`, small-order `R`. What remains is that a signature whose `R` was
/// shifted by a torsion point may pass a batch with probability up to ½: malleability of a
/// signature the station really made, never a forgery; the chain hash does not cover
/// signature bytes.
pub fn verify_events(items: &[(&VerifyingKey, &[u8], &[u8; 64])]) -> Vec<bool> {
    if batch_equation_holds(items) {
        return vec![true; items.len()];
    }
    items
        .iter()
        .map(|(key, canonical, sig)| verify_event(key, canonical, sig))
        .collect()
}

/// Checks `[−Σzᵢsᵢ]B + Σ[zᵢ]Rᵢ + Σₖ[Σ_{i signed by k} zᵢhᵢ]Aₖ = 0` for random 128-bit zᵢ.
///
/// Written here rather than taken from ed25519-dalek's `verify_batch` because that function
/// multiplies each signature's key separately, while a station's log is signed by one key:
/// summing the key's coefficients first makes the multiscalar multiplication about half as
/// long, which is most of the cost of verifying a log. The zᵢ are derived from a hash of every
/// input (as dalek derives its own), so whoever wrote the signatures cannot choose them.
fn batch_equation_holds(items: &[(&VerifyingKey, &[u8], &[u8; 64])]) -> bool {
    let mut transcript = Sha512::new();
    transcript.update(b"urna-batch-v1");
    let mut r_points = Vec::with_capacity(items.len());
    let mut s_scalars = Vec::with_capacity(items.len());
    let mut h_scalars = Vec::with_capacity(items.len());
    for (key, canonical, signature) in items {
        let mut r_bytes = [0u8; 32];
        r_bytes.copy_from_slice(&signature[..32]);
        let mut s_bytes = [0u8; 32];
        s_bytes.copy_from_slice(&signature[32..]);
        if key.is_weak() || !r_is_canonical_and_not_small(signature) {
            return false;
        }
        let Some(r) = CompressedEdwardsY(r_bytes).decompress() else {
            return false;
        };
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
            return false;
        };
        let mut h = Sha512::new();
        h.update(r_bytes);
        h.update(key.as_bytes());
        h.update(EVENT_DOMAIN);
        h.update(canonical);
        let h: [u8; 64] = h.finalize().into();
        transcript.update(h);
        transcript.update(s_bytes);
        r_points.push(r);
        s_scalars.push(s);
        h_scalars.push(Scalar::from_bytes_mod_order_wide(&h));
    }
    let seed: [u8; 64] = transcript.finalize().into();
    let z_scalars: Vec<Scalar> = (0..items.len() as u64)
        .map(|i| {
            let mut h = Sha512::new();
            h.update(seed);
            h.update(i.to_le_bytes());
            let digest: [u8; 64] = h.finalize().into();
            let mut z = [0u8; 16];
            z.copy_from_slice(&digest[..16]);
            Scalar::from(u128::from_le_bytes(z))
        })
        .collect();
    // One coefficient per distinct key; a log has one key, or two around a rotation.
    let mut key_terms: Vec<(&VerifyingKey, Scalar)> = Vec::new();
    for ((key, _, _), (z, h)) in items.iter().zip(z_scalars.iter().zip(&h_scalars)) {
        match key_terms
            .iter_mut()
            .find(|(k, _)| k.as_bytes() == key.as_bytes())
        {
            Some((_, coefficient)) => *coefficient += z * h,
            None => key_terms.push((key, z * h)),
        }
    }
    let b_coefficient: Scalar = -z_scalars
        .iter()
        .zip(&s_scalars)
        .map(|(z, s)| z * s)
        .sum::<Scalar>();
    let scalars = std::iter::once(b_coefficient)
        .chain(z_scalars.iter().copied())
        .chain(key_terms.iter().map(|(_, c)| *c));
    let points = std::iter::once(ED25519_BASEPOINT_POINT)
        .chain(r_points.iter().copied())
        .chain(key_terms.iter().map(|(k, _)| k.to_edwards()));
    EdwardsPoint::vartime_multiscalar_mul(scalars, points).is_identity()
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
    /// A small-order key (which would accept signatures on anything) or one with a torsion
    /// component, which honest key generation never makes.
    #[error("weak Ed25519 public key refused (small order or torsion component)")]
    Weak,
}

impl KeyRing {
    /// An empty ring.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key, refusing weak ones. Returns its id.
    pub fn add(&mut self, key: VerifyingKey) -> Result<KeyId, KeyError> {
        // A key with a torsion component is never made by honest key generation; refusing it
        // closes the one gap where batch and strict verification could disagree on it.
        if key.is_weak() || !key.to_edwards().is_torsion_free() {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(keys: &[SigningKey], n: usize) -> Vec<(VerifyingKey, Vec<u8>, [u8; 64])> {
        (0..n)
            .map(|i| {
                let key = &keys[i % keys.len()];
                let message = format!("event {i}").into_bytes();
                let signature = sign_event(key, &message);
                (key.verifying_key(), message, signature)
            })
            .collect()
    }

    fn items(
        signed: &[(VerifyingKey, Vec<u8>, [u8; 64])],
    ) -> Vec<(&VerifyingKey, &[u8], &[u8; 64])> {
        signed
            .iter()
            .map(|(k, m, s)| (k, m.as_slice(), s))
            .collect()
    }

    /// The fast path must really be taken for valid signatures (the fallback would hide a batch
    /// equation that is never true), and must refuse any single bad one.
    #[test]
    fn the_batch_equation_holds_exactly_for_valid_batches() {
        let keys = [
            SigningKey::from_bytes(&[3; 32]),
            SigningKey::from_bytes(&[4; 32]),
        ];
        for key_count in [1, 2] {
            let good = signed(&keys[..key_count], 40);
            assert!(batch_equation_holds(&items(&good)));
            for bad in [0, 17, 39] {
                let mut wrong_message = good.clone();
                wrong_message[bad].1.push(b'!');
                assert!(!batch_equation_holds(&items(&wrong_message)));
                let mut wrong_key = good.clone();
                wrong_key[bad].0 = SigningKey::from_bytes(&[5; 32]).verifying_key();
                assert!(!batch_equation_holds(&items(&wrong_key)));
                let mut wrong_s = good.clone();
                wrong_s[bad].2[40] ^= 1;
                assert!(!batch_equation_holds(&items(&wrong_s)));
            }
        }
        assert!(batch_equation_holds(&[]));
    }
}
