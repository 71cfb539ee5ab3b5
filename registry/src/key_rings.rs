//! Stations' key rings, built once for the keys they hold.
//!
//! Every push verifies its events against its station's ring of trusted keys. Building a ring
//! checks each key for a torsion component, a full scalar multiplication per key, and at the
//! fleet's push rate that check cost a tenth of what verifying the push's own events did. The
//! check depends on nothing but the key's bytes, so a ring built for the same trusted keys is
//! the same ring: [`KeyRings`] keeps the last one built per station, keyed by those bytes. Which
//! keys are trusted is still read from the register on every push, so an approval, rotation or
//! revocation is seen by the very next push with nothing here to invalidate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use records::{KeyRing, StationCode, VerifyingKey};

use crate::error::Result;

/// Most stations whose rings are kept: a large fleet's worth (a ring of one key is about 250
/// bytes). Past it the rings are dropped and built again as pushes come.
const MAX_KEPT_RINGS: usize = 4096;

/// The last ring built for each station, with the key bytes it was built from.
#[derive(Debug, Default)]
pub(crate) struct KeyRings {
    kept: Mutex<HashMap<StationCode, KeptRing>>,
}

#[derive(Debug)]
struct KeptRing {
    keys: Vec<[u8; 32]>,
    ring: Arc<KeyRing>,
}

impl KeyRings {
    /// The ring of exactly `trusted`, built again only when the station's trusted keys differ
    /// from the last ring built for it. A weak key is refused as [`KeyRing::add`] refuses it.
    pub(crate) fn ring_of(
        &self,
        station: StationCode,
        trusted: &[VerifyingKey],
    ) -> Result<Arc<KeyRing>> {
        let keys: Vec<[u8; 32]> = trusted.iter().map(|k| k.to_bytes()).collect();
        if let Some(kept) = self.lock().get(&station)
            && kept.keys == keys
        {
            return Ok(Arc::clone(&kept.ring));
        }
        let mut ring = KeyRing::new();
        for key in trusted {
            ring.add(*key)?;
        }
        let ring = Arc::new(ring);
        let mut kept = self.lock();
        if kept.len() >= MAX_KEPT_RINGS && !kept.contains_key(&station) {
            kept.clear();
        }
        kept.insert(
            station,
            KeptRing {
                keys,
                ring: Arc::clone(&ring),
            },
        );
        Ok(ring)
    }

    /// The kept rings, whatever a panic while they were held left on the lock: each entry is
    /// whole or absent, and a poisoned lock refusing every push would stop ingest.
    fn lock(&self) -> MutexGuard<'_, HashMap<StationCode, KeptRing>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use records::{KeyId, SigningKey};

    fn code(s: &str) -> StationCode {
        s.parse().unwrap()
    }

    fn key(seed: u8) -> VerifyingKey {
        SigningKey::from_bytes(&[seed; 32]).verifying_key()
    }

    #[test]
    fn the_same_trusted_keys_give_the_ring_built_before() {
        let rings = KeyRings::default();
        let first = rings.ring_of(code("GWC2"), &[key(1)]).unwrap();
        let again = rings.ring_of(code("GWC2"), &[key(1)]).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert!(again.get(&KeyId::of(&key(1))).is_some());
    }

    #[test]
    fn a_change_of_trusted_keys_is_seen_at_once() {
        let rings = KeyRings::default();
        let station = code("GWC2");
        rings.ring_of(station, &[key(1)]).unwrap();
        // Rotated: the old key retired and still trusted, the new one approved.
        let rotated = rings.ring_of(station, &[key(1), key(2)]).unwrap();
        assert!(rotated.get(&KeyId::of(&key(2))).is_some());
        // Revoked: nothing trusted any more.
        let revoked = rings.ring_of(station, &[]).unwrap();
        assert!(revoked.is_empty());
        // Another station's ring is its own.
        let other = rings.ring_of(code("KRK2"), &[key(3)]).unwrap();
        assert!(other.get(&KeyId::of(&key(1))).is_none());
    }

    #[test]
    fn a_weak_key_is_refused_and_nothing_is_kept() {
        let rings = KeyRings::default();
        // The identity point: small order, it would accept signatures on anything.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = VerifyingKey::from_bytes(&identity).unwrap();
        assert!(rings.ring_of(code("GWC2"), &[weak]).is_err());
        assert!(rings.lock().is_empty());
    }
}
