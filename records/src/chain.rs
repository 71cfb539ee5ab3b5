//! The hash chain and the verifier that walks a station's events and says exactly what is wrong.
//!
//! `hash(n) = SHA-256(hash(n−1) ‖ canonical(n))`, with `hash(0)` all zeros; event n also carries
//! `hash(n−1)` inside its signed bytes, so removing, reordering or editing any event breaks either
//! a signature or a link. Signatures are checked in parallel (they dominate the cost); the links
//! are then walked in order.

use std::fmt;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::encoding::{self, DecodeError};
use crate::event::Event;
use crate::intake_id::StationCode;
use crate::signing::{self, KeyId, KeyRing};

/// A SHA-256 chain hash.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The hash before the first event.
    pub const GENESIS: Hash = Hash([0; 32]);

    /// The chain hash of an event whose predecessor's hash is `prev`.
    pub fn link(prev: &Hash, canonical: &[u8]) -> Hash {
        let mut h = Sha256::new();
        h.update(prev.0);
        h.update(canonical);
        Hash(h.finalize().into())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&data_encoding::HEXLOWER.encode(&self.0))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl TryFrom<String> for Hash {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(s.as_bytes())
            .map_err(|_| "hash is not hex".to_owned())?;
        bytes
            .try_into()
            .map(Hash)
            .map_err(|_| "hash is not 32 bytes".to_owned())
    }
}

impl From<Hash> for String {
    fn from(h: Hash) -> String {
        h.to_string()
    }
}

/// An event as stored and sent: its seq, canonical bytes, and who signed them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedEvent {
    /// The seq the carrier (a table row, a request) files the event under; must equal the seq inside.
    pub seq: u64,
    /// The canonical encoding ([`crate::encoding`]).
    #[serde(with = "crate::base64_bytes")]
    pub canonical: Vec<u8>,
    /// Which key signed it.
    pub key_id: KeyId,
    /// Ed25519 signature over the domain-separated canonical bytes.
    #[serde(with = "crate::base64_array")]
    pub signature: [u8; 64],
}

/// The end of a verified chain: the last seq and its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainTip {
    /// Last verified seq (0 before the first event).
    pub seq: u64,
    /// Its chain hash.
    pub hash: Hash,
}

impl ChainTip {
    /// The tip of an empty log.
    pub const GENESIS: ChainTip = ChainTip {
        seq: 0,
        hash: Hash::GENESIS,
    };
}

/// What is wrong with an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// Events are missing before this one.
    #[error("gap: expected seq {expected}, found seq {found}")]
    Gap {
        /// The seq that should have come next.
        expected: u64,
        /// The seq that came.
        found: u64,
    },
    /// The same event again.
    #[error("duplicate of an event already seen")]
    Duplicate,
    /// A different event under a seq that is already taken.
    #[error("fork: a different event at a seq already taken")]
    Fork,
    /// An event older than the verified tip, which this walk cannot compare.
    #[error("event out of order: seq {found} comes after seq {tip}")]
    OutOfOrder {
        /// The seq that came.
        found: u64,
        /// The tip it came after.
        tip: u64,
    },
    /// The event's link does not name the event before it.
    #[error("previous-hash link does not match the event before it")]
    WrongPrevHash,
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// Signed by a key the verifier does not trust.
    #[error("signed by unknown key {0}")]
    UnknownKey(KeyId),
    /// An encoding version this code does not know.
    #[error("unsupported encoding version {0}")]
    UnsupportedVersion(u8),
    /// The bytes are not a canonical event.
    #[error("malformed event: {0}")]
    Malformed(DecodeError),
    /// Filed under one seq, but the signed bytes say another.
    #[error("filed as seq {filed} but the signed event is seq {inside}")]
    SeqMismatch {
        /// Seq of the carrier (row, request).
        filed: u64,
        /// Seq inside the signed bytes.
        inside: u64,
    },
    /// Recorded by a different station than this log's.
    #[error("event belongs to station {0}")]
    WrongStation(StationCode),
}

/// A problem and the seq where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("seq {seq}: {problem}")]
pub struct ChainFault {
    /// Where.
    pub seq: u64,
    /// What.
    pub problem: Problem,
}

/// Walks one station's events in order, batch by batch.
#[derive(Debug)]
pub struct ChainVerifier<'k> {
    station: StationCode,
    keys: &'k KeyRing,
    start: ChainTip,
    tip: ChainTip,
    /// Hashes of the events verified in this walk, so a repeat can be told from a fork.
    seen: Vec<Hash>,
}

impl<'k> ChainVerifier<'k> {
    /// A verifier that continues after `start` (use [`ChainTip::GENESIS`] for a whole log).
    pub fn new(station: StationCode, keys: &'k KeyRing, start: ChainTip) -> Self {
        ChainVerifier {
            station,
            keys,
            start,
            tip: start,
            seen: Vec::new(),
        }
    }

    /// The last verified event.
    pub fn tip(&self) -> ChainTip {
        self.tip
    }

    /// Verifies the next events; returns them decoded, in order. Stops at the first fault.
    pub fn verify(&mut self, batch: &[SignedEvent]) -> Result<Vec<Event>, ChainFault> {
        Ok(self
            .verify_with_hashes(batch)?
            .into_iter()
            .map(|(event, _)| event)
            .collect())
    }

    /// Like [`ChainVerifier::verify`], with each event's chain hash beside it.
    pub fn verify_with_hashes(
        &mut self,
        batch: &[SignedEvent],
    ) -> Result<Vec<(Event, Hash)>, ChainFault> {
        let checked: Vec<Result<Event, Problem>> = if batch.len() <= SIGNATURE_BATCH {
            // One chunk: handing it to rayon would only wake the pool's threads (which spin a
            // while before sleeping again) to run it on one of them while this thread waits. A
            // registry verifying many stations' pushes at once keeps the cores busy anyway.
            check_chunk(self.keys, batch)
        } else {
            batch
                .par_chunks(SIGNATURE_BATCH)
                .flat_map_iter(|chunk| check_chunk(self.keys, chunk))
                .collect()
        };
        let mut out = Vec::with_capacity(batch.len());
        for (signed, result) in batch.iter().zip(checked) {
            let fault = |problem| ChainFault {
                seq: signed.seq,
                problem,
            };
            let event = result.map_err(fault)?;
            if event.station != self.station {
                return Err(fault(Problem::WrongStation(event.station)));
            }
            let expected = self.tip.seq + 1;
            if event.seq < expected {
                let problem = match event.seq.checked_sub(self.start.seq + 1) {
                    Some(i) => match self.seen.get(i as usize) {
                        Some(h) if *h == Hash::link(&event.prev_hash, &signed.canonical) => {
                            Problem::Duplicate
                        }
                        Some(_) => Problem::Fork,
                        None => Problem::OutOfOrder {
                            found: event.seq,
                            tip: self.tip.seq,
                        },
                    },
                    None => Problem::OutOfOrder {
                        found: event.seq,
                        tip: self.tip.seq,
                    },
                };
                return Err(fault(problem));
            }
            if event.seq > expected {
                return Err(ChainFault {
                    seq: expected,
                    problem: Problem::Gap {
                        expected,
                        found: event.seq,
                    },
                });
            }
            if event.prev_hash != self.tip.hash {
                return Err(fault(Problem::WrongPrevHash));
            }
            let hash = Hash::link(&self.tip.hash, &signed.canonical);
            self.seen.push(hash);
            self.tip = ChainTip {
                seq: event.seq,
                hash,
            };
            out.push((event, hash));
        }
        Ok(out)
    }
}

/// Signatures verified together; large enough to amortise, small enough to spread over cores.
const SIGNATURE_BATCH: usize = 512;

/// Everything about each event of `chunk` that does not depend on its neighbours.
fn check_chunk(keys: &KeyRing, chunk: &[SignedEvent]) -> Vec<Result<Event, Problem>> {
    let mut results: Vec<Result<Event, Problem>> = chunk
        .iter()
        .map(|signed| decode_and_find_key(keys, signed))
        .collect();
    let mut items = Vec::with_capacity(chunk.len());
    let mut positions = Vec::with_capacity(chunk.len());
    for (i, (signed, result)) in chunk.iter().zip(&results).enumerate() {
        if let (Ok(_), Some(key)) = (result, keys.get(&signed.key_id)) {
            items.push((key, signed.canonical.as_slice(), &signed.signature));
            positions.push(i);
        }
    }
    for (i, valid) in positions.into_iter().zip(signing::verify_events(&items)) {
        if !valid {
            results[i] = Err(Problem::BadSignature);
        }
    }
    results
}

fn decode_and_find_key(keys: &KeyRing, signed: &SignedEvent) -> Result<Event, Problem> {
    let event = encoding::decode(&signed.canonical).map_err(|e| match e {
        DecodeError::UnsupportedVersion(v) => Problem::UnsupportedVersion(v),
        other => Problem::Malformed(other),
    })?;
    if event.seq != signed.seq {
        return Err(Problem::SeqMismatch {
            filed: signed.seq,
            inside: event.seq,
        });
    }
    keys.get(&signed.key_id)
        .ok_or(Problem::UnknownKey(signed.key_id))?;
    Ok(event)
}
