#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The hash chain and its verifier: a valid log verifies in any batching, and every kind of damage
//! is reported at the right seq with the right problem. Also the key ring and batch verification.

use std::sync::LazyLock;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::scalar::Scalar;
use proptest::prelude::*;
use records::encoding::{DecodeError, encode};
use records::signing::{KeyError, sign_event, verify_event, verify_events};
use records::{
    ChainFault, ChainTip, ChainVerifier, Channel, Device, Event, Hash, Intake, IntakeId, KeyId,
    KeyRing, LabelKind, Payload, Problem, SignedEvent, SigningKey, StationCode, Text, Timestamp,
    VerifyingKey,
};
use sha2::{Digest, Sha256};

fn station(code: &str) -> StationCode {
    code.parse().unwrap()
}

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn ring(keys: &[&SigningKey]) -> KeyRing {
    let mut ring = KeyRing::new();
    for k in keys {
        ring.add(k.verifying_key()).unwrap();
    }
    ring
}

/// A varied payload for the `seq`th event of `station`.
fn payload(station: StationCode, seq: u64) -> Payload {
    let intake = IntakeId::new(station, seq.div_ceil(3)).unwrap();
    let text = |s: &str| Text::new(s).unwrap();
    match seq % 7 {
        1 => Payload::Deposit(Intake {
            id: intake,
            received_at: Timestamp {
                unix_ms: 1_600_000_000_000 + seq as i64,
                trusted: true,
            },
            channel: Channel::Urn,
            category: text("podatki i opłaty"),
            reference: Some(text("GKM.6220.12.2020")),
            sender: None,
            attachments: Some(1),
        }),
        2 => Payload::LabelPrinted {
            intake,
            label: LabelKind::Envelope,
        },
        3 => Payload::DropSeen { intake },
        4 => Payload::HoldStarted {
            intake,
            hold_secs: 86_400,
        },
        5 => Payload::FaultRaised {
            device: Device::Printer,
            fault: text("paper_out"),
        },
        6 => Payload::Forwarded {
            intake,
            department: text("Wydział Finansów"),
        },
        _ => Payload::DoorOpened,
    }
}

fn event(station: StationCode, seq: u64, prev_hash: Hash, payload: Payload) -> Event {
    Event {
        station,
        seq,
        recorded_at: Timestamp {
            unix_ms: 1_600_000_000_000 + 1000 * seq as i64,
            trusted: !seq.is_multiple_of(5),
        },
        prev_hash,
        payload,
    }
}

/// Signs canonical bytes as filed under `seq`.
fn sign_bytes(key: &SigningKey, seq: u64, canonical: Vec<u8>) -> SignedEvent {
    SignedEvent {
        seq,
        signature: sign_event(key, &canonical),
        key_id: KeyId::of(&key.verifying_key()),
        canonical,
    }
}

fn sign(key: &SigningKey, event: &Event) -> SignedEvent {
    sign_bytes(key, event.seq, encode(event))
}

/// A valid chain: the events, their signed form, and the chain hash after each.
struct Chain {
    events: Vec<Event>,
    signed: Vec<SignedEvent>,
    hashes: Vec<Hash>,
}

impl Chain {
    /// The tip after the first `n` events.
    fn tip(&self, n: usize) -> ChainTip {
        if n == 0 {
            ChainTip::GENESIS
        } else {
            ChainTip {
                seq: n as u64,
                hash: self.hashes[n - 1],
            }
        }
    }

    /// The hash before event `seq`.
    fn prev(&self, seq: u64) -> Hash {
        self.tip(seq as usize - 1).hash
    }
}

fn build_chain(key: &SigningKey, station: StationCode, n: u64) -> Chain {
    let mut chain = Chain {
        events: Vec::new(),
        signed: Vec::new(),
        hashes: Vec::new(),
    };
    let mut prev = Hash::GENESIS;
    for seq in 1..=n {
        let e = event(station, seq, prev, payload(station, seq));
        let signed = sign(key, &e);
        prev = Hash::link(&prev, &signed.canonical);
        chain.events.push(e);
        chain.signed.push(signed);
        chain.hashes.push(prev);
    }
    chain
}

fn gw7k() -> StationCode {
    station("GW7K")
}

fn fault(seq: u64, problem: Problem) -> ChainFault {
    ChainFault { seq, problem }
}

// ---------------------------------------------------------------------------------------------
// Valid chains.

#[test]
fn link_is_sha256_of_previous_hash_and_canonical_bytes() {
    let chain = build_chain(&key(1), gw7k(), 3);
    let mut prev = [0u8; 32];
    for (signed, hash) in chain.signed.iter().zip(&chain.hashes) {
        let mut h = Sha256::new();
        h.update(prev);
        h.update(&signed.canonical);
        let expected: [u8; 32] = h.finalize().into();
        assert_eq!(hash.0, expected);
        prev = expected;
    }
    assert_eq!(Hash::GENESIS, Hash([0; 32]));
    assert_eq!(ChainTip::GENESIS.seq, 0);
    assert_eq!(ChainTip::GENESIS.hash, Hash::GENESIS);
}

#[test]
fn valid_chain_verifies_in_one_batch() {
    let k = key(1);
    let keys = ring(&[&k]);
    let chain = build_chain(&k, gw7k(), 40);
    let mut verifier = ChainVerifier::new(gw7k(), &keys, ChainTip::GENESIS);
    assert_eq!(verifier.tip(), ChainTip::GENESIS);
    assert_eq!(verifier.verify(&chain.signed), Ok(chain.events.clone()));
    assert_eq!(verifier.tip(), chain.tip(40));
    assert_eq!(verifier.tip().hash, *chain.hashes.last().unwrap());
    // An empty batch changes nothing.
    assert_eq!(verifier.verify(&[]), Ok(vec![]));
    assert_eq!(verifier.tip(), chain.tip(40));
}

#[test]
fn valid_chain_verifies_across_many_small_batches() {
    let k = key(1);
    let keys = ring(&[&k]);
    let chain = build_chain(&k, gw7k(), 40);
    for size in [1usize, 2, 3, 7, 39] {
        let mut verifier = ChainVerifier::new(gw7k(), &keys, ChainTip::GENESIS);
        let mut all = Vec::new();
        for (i, batch) in chain.signed.chunks(size).enumerate() {
            all.extend(verifier.verify(batch).unwrap());
            let done = ((i + 1) * size).min(40);
            assert_eq!(verifier.tip(), chain.tip(done));
        }
        assert_eq!(all, chain.events, "batches of {size}");
    }
}

#[test]
fn verification_resumes_from_a_stored_tip() {
    let k = key(1);
    let keys = ring(&[&k]);
    let chain = build_chain(&k, gw7k(), 20);
    let mut verifier = ChainVerifier::new(gw7k(), &keys, chain.tip(12));
    assert_eq!(
        verifier.verify(&chain.signed[12..]),
        Ok(chain.events[12..].to_vec())
    );
    assert_eq!(verifier.tip(), chain.tip(20));
    // A tip with the wrong hash makes the next event's link wrong.
    let mut wrong = chain.tip(12);
    wrong.hash.0[0] ^= 1;
    let mut verifier = ChainVerifier::new(gw7k(), &keys, wrong);
    assert_eq!(
        verifier.verify(&chain.signed[12..]),
        Err(fault(13, Problem::WrongPrevHash))
    );
    assert_eq!(verifier.tip(), wrong);
}

#[test]
fn rotated_keys_both_in_the_ring_verify() {
    let (old, new) = (key(1), key(2));
    let keys = ring(&[&old, &new]);
    let chain = build_chain(&old, gw7k(), 10);
    let mut signed = chain.signed.clone();
    for s in &mut signed[5..] {
        *s = sign_bytes(&new, s.seq, s.canonical.clone());
    }
    let mut verifier = ChainVerifier::new(gw7k(), &keys, ChainTip::GENESIS);
    assert_eq!(verifier.verify(&signed), Ok(chain.events.clone()));
    // The old key alone does not know the new one.
    let old_only = ring(&[&old]);
    let mut verifier = ChainVerifier::new(gw7k(), &old_only, ChainTip::GENESIS);
    assert_eq!(
        verifier.verify(&signed),
        Err(fault(
            6,
            Problem::UnknownKey(KeyId::of(&new.verifying_key()))
        ))
    );
    assert_eq!(verifier.tip(), chain.tip(5));
}

#[test]
fn long_chain_across_signature_batches() {
    // More than two of the verifier's internal signature batches (512), so faults must be mapped
    // back to the right event across chunks.
    let k = key(3);
    let keys = ring(&[&k]);
    let chain = build_chain(&k, gw7k(), 1100);
    let mut verifier = ChainVerifier::new(gw7k(), &keys, ChainTip::GENESIS);
    assert_eq!(verifier.verify(&chain.signed), Ok(chain.events.clone()));
    assert_eq!(verifier.tip(), chain.tip(1100));
    for bad in [0usize, 511, 512, 700, 1099] {
        let mut signed = chain.signed.clone();
        signed[bad].signature[10] ^= 0x40;
        let mut verifier = ChainVerifier::new(gw7k(), &keys, ChainTip::GENESIS);
        assert_eq!(
            verifier.verify(&signed),
            Err(fault(bad as u64 + 1, Problem::BadSignature)),
            "bad signature at index {bad}"
        );
        assert_eq!(verifier.tip(), chain.tip(bad));
    }
}

// ---------------------------------------------------------------------------------------------
// Each problem, at the right seq.

/// Verifies `batch` from genesis; returns the fault and the tip the verifier reached.
fn first_fault(keys: &KeyRing, batch: &[SignedEvent]) -> (ChainFault, ChainTip) {
    let mut verifier = ChainVerifier::new(gw7k(), keys, ChainTip::GENESIS);
    let fault = verifier.verify(batch).unwrap_err();
    (fault, verifier.tip())
}

#[test]
fn gap_is_reported_at_the_missing_seq() {
    let k = key(1);
    let keys = ring(&[&k]);
    let chain = build_chain(&k, gw7k(), 12);
    for missing in 1..=12u64 {
        let mut signed = chain.signed.clone();
        signed.remove(missing as usize - 1);
        if missing == 12 {
            // Nothing after the missing last event: nothing to notice.
            assert!(
                ChainVerifier::new(gw7k(), &keys, ChainTip::GENESIS)
                    .verify(&signed)
                    .is_ok()
            );
            continue;
        }
        let (f, tip) = first_fault(&keys, &signed);
        assert_eq!(
            f,
            fault(
                missing,
                Problem::Gap {
                    expected: missing,
                    found: missing + 1
                }
            )
        );
        assert_eq!(tip, chain.tip(missing as usize - 1));
    }
}

#[test]
fn gap_between_batches() {
    let k = key(1);
    let keys = ring(&[&k]);
    let chain = build_chain(&k, gw7k(), 12);
    let mut verifier = ChainVerifier::new(gw7k(), &keys, ChainTip::GENESIS);
    verifier.verify(&chain.signed[..4]).unwrap();
    assert_eq!(
        verifier.verify(&chain.signed[6..]),
        Err(fault(
            5,
            Problem::Gap {
                expected: 5,
                found: 7
            }
        ))
    );
    assert_eq!(verifier.tip(), chain.tip(4));
    // The missing events fill the gap afterwards.
    assert_eq!(
        verifier.verify(&chain.signed[4..]),
        Ok(chain.events[4..].to_vec())
    );
}

#[test]
fn reordered_events_are_a_gap() {
    let k = key(1);
    let keys = ring(&[&k]);
    let chain = build_chain(&k, gw7k(), 8);
    let mut signed = chain.signed.clone();
    signed.swap(3, 4);
    let (f, tip) = first_fault(&keys, &signed);
    assert_eq!(
        f,
        fault(
            4,
            Problem::Gap {
                expected: 4,
                found: 5
            }
        )
    );
    assert_eq!(tip, chain.tip(3));
}

#[test]
fn duplicate_is_reported_at_its_seq() {
    let k = key(1);
    let keys = ring(&[&k]);
    let chain = build_chain(&k, gw7k(), 10);
    for dup in 1..=10u64 {
        let i = dup as usize - 1;
        let mut signed = chain.signed.clone();
        signed.insert(i + 1, chain.signed[i].clone());
        let (f, tip) = first_fault(&keys, &signed);
        assert_eq!(f, fault(dup, Problem::Duplicate));
        assert_eq!(tip, chain.tip(dup as usize));
    }
    // An earlier event sent again in a later batch is a duplicate too.
    let mut verifier = ChainVerifier::new(gw7k(), &keys, ChainTip::GENESIS);
    verifier.verify(&chain.signed[..6]).unwrap();
    assert_eq!(
        verifier.verify(&chain.signed[2..3]),
        Err(fault(3, Problem::Duplicate))
    );
    assert_eq!(verifier.tip(), chain.tip(6));
    // The same bytes under a different (valid) signature are still the same event.
    let other = key(2);
    let keys2 = ring(&[&k, &other]);
    let mut verifier = ChainVerifier::new(gw7k(), &keys2, ChainTip::GENESIS);
    verifier.verify(&chain.signed[..6]).unwrap();
    let resigned = sign_bytes(&other, 3, chain.signed[2].canonical.clone());
    assert_eq!(
        verifier.verify(&[resigned]),
        Err(fault(3, Problem::Duplicate))
    );
}

#[test]
fn events_before_the_walk_started_are_out_of_order() {
    let k = key(1);
    let keys = ring(&[&k]);
    let chain = build_chain(&k, gw7k(), 10);
    let mut verifier = ChainVerifier::new(gw7k(), &keys, chain.tip(6));
    assert_eq!(
        verifier.verify(&chain.signed[3..4]),
        Err(fault(4, Problem::OutOfOrder { found: 4, tip: 6 }))
    );
}

fn fork_at(chain: &Chain, k: &SigningKey, seq: u64) -> SignedEvent {
    let other = event(
        gw7k(),
        seq,
        chain.prev(seq),
        Payload::ClockUntrusted {
            reason: Text::new("zegar cofnięty o 3600 s").unwrap(),
        },
    );
    assert_ne!(other, chain.events[seq as usize - 1]);
    sign(k, &other)
}

#[test]
fn fork_is_reported_at_its_seq() {
    let k = key(1);
    let keys = ring(&[&k]);
    let chain = build_chain(&k, gw7k(), 10);
    for seq in 1..=10u64 {
        let forked = fork_at(&chain, &k, seq);
        // Right after the event it contradicts, in the same batch.
        let mut signed = chain.signed[..seq as usize].to_vec();
        signed.push(forked.clone());
        let (f, tip) = first_fault(&keys, &signed);
        assert_eq!(f, fault(seq, Problem::Fork));
        assert_eq!(tip, chain.tip(seq as usize));
        // Later, in another batch.
        let mut verifier = ChainVerifier::new(gw7k(), &keys, ChainTip::GENESIS);
        verifier.verify(&chain.signed).unwrap();
        assert_eq!(verifier.verify(&[forked]), Err(fault(seq, Problem::Fork)));
        assert_eq!(verifier.tip(), chain.tip(10));
    }
    // In place of the original, the forked event is accepted: a fork is only a fork after the fact.
    let mut signed = chain.signed[..4].to_vec();
    signed.push(fork_at(&chain, &k, 5));
    assert!(
        ChainVerifier::new(gw7k(), &keys, ChainTip::GENESIS)
            .verify(&signed)
            .is_ok()
    );
}

#[test]
fn wrong_prev_hash_is_reported() {
    let k = key(1);
    let keys = ring(&[&k]);
    let chain = build_chain(&k, gw7k(), 10);
    for seq in 1..=10u64 {
        let i = seq as usize - 1;
        for wrong in [Hash([9; 32]), chain.prev(seq + 1), Hash::GENESIS] {
            if wrong == chain.prev(seq) {
                continue;
            }
            let mut e = chain.events[i].clone();
            e.prev_hash = wrong;
            let mut signed = chain.signed.clone();
            signed[i] = sign(&k, &e);
            let (f, tip) = first_fault(&keys, &signed);
            assert_eq!(f, fault(seq, Problem::WrongPrevHash), "seq {seq}");
            assert_eq!(tip, chain.tip(i));
        }
    }
}

#[test]
fn bad_signature_is_reported() {
    let k = key(1);
    let keys = ring(&[&k]);
    let chain = build_chain(&k, gw7k(), 10);
    for seq in [1u64, 5, 10] {
        let i = seq as usize - 1;
        for bit in [0usize, 7, 255, 256, 300, 511] {
            let mut signed = chain.signed.clone();
            signed[i].signature[bit / 8] ^= 1 << (bit % 8);
            let (f, tip) = first_fault(&keys, &signed);
            assert_eq!(f, fault(seq, Problem::BadSignature), "bit {bit}");
            assert_eq!(tip, chain.tip(i));
        }
        // A bit flipped in the canonical bytes, where they still decode (the timestamp's low bit).
        let mut signed = chain.signed.clone();
        signed[i].canonical[20] ^= 1;
        let (f, _) = first_fault(&keys, &signed);
        assert_eq!(f, fault(seq, Problem::BadSignature));
        // A signature made for another event.
        let mut signed = chain.signed.clone();
        signed[i].signature = chain.signed[(i + 1) % 10].signature;
        let (f, _) = first_fault(&keys, &signed);
        assert_eq!(f, fault(seq, Problem::BadSignature));
        // A signature over the raw canonical bytes, without the domain prefix.
        let mut signed = chain.signed.clone();
        use ed25519_dalek::Signer;
        signed[i].signature = k.sign(&signed[i].canonical).to_bytes();
        let (f, _) = first_fault(&keys, &signed);
        assert_eq!(f, fault(seq, Problem::BadSignature));
    }
}

#[test]
fn unknown_key_is_reported() {
    let (k, stranger) = (key(1), key(9));
    let keys = ring(&[&k]);
    let chain = build_chain(&k, gw7k(), 10);
    let mut signed = chain.signed.clone();
    signed[6] = sign_bytes(&stranger, 7, signed[6].canonical.clone());
    let (f, tip) = first_fault(&keys, &signed);
    assert_eq!(
        f,
        fault(7, Problem::UnknownKey(KeyId::of(&stranger.verifying_key())))
    );
    assert_eq!(tip, chain.tip(6));
    // Only the key id changed: the id names no key in the ring.
    let mut signed = chain.signed.clone();
    signed[2].key_id.0[0] ^= 1;
    let (f, _) = first_fault(&keys, &signed);
    assert_eq!(f, fault(3, Problem::UnknownKey(signed[2].key_id)));
    // An empty ring trusts nothing.
    let empty = KeyRing::new();
    assert!(empty.is_empty());
    let (f, _) = first_fault(&empty, &chain.signed);
    assert_eq!(
        f,
        fault(1, Problem::UnknownKey(KeyId::of(&k.verifying_key())))
    );
    // The key id names the right key, but the key the station signed with is another.
    let mut signed = chain.signed.clone();
    signed[4].signature = sign_event(&stranger, &signed[4].canonical);
    let (f, _) = first_fault(&keys, &signed);
    assert_eq!(f, fault(5, Problem::BadSignature));
}

#[test]
fn unsupported_version_is_reported() {
    let k = key(1);
    let keys = ring(&[&k]);
    let chain = build_chain(&k, gw7k(), 10);
    let mut signed = chain.signed.clone();
    let mut canonical = signed[3].canonical.clone();
    canonical[0] = 2;
    signed[3] = sign_bytes(&k, 4, canonical);
    let (f, tip) = first_fault(&keys, &signed);
    assert_eq!(f, fault(4, Problem::UnsupportedVersion(2)));
    assert_eq!(tip, chain.tip(3));
}

#[test]
fn malformed_event_is_reported() {
    let k = key(1);
    let keys = ring(&[&k]);
    let chain = build_chain(&k, gw7k(), 10);
    let mut signed = chain.signed.clone();
    let len = signed[3].canonical.len();
    let truncated = signed[3].canonical[..len - 1].to_vec();
    signed[3] = sign_bytes(&k, 4, truncated);
    let (f, tip) = first_fault(&keys, &signed);
    assert!(
        matches!(
            f,
            ChainFault {
                seq: 4,
                problem: Problem::Malformed(DecodeError::Truncated { .. })
            }
        ),
        "{f:?}"
    );
    assert_eq!(tip, chain.tip(3));

    let mut signed = chain.signed.clone();
    let mut longer = signed[3].canonical.clone();
    longer.push(0);
    signed[3] = sign_bytes(&k, 4, longer);
    let (f, _) = first_fault(&keys, &signed);
    assert_eq!(
        f,
        fault(4, Problem::Malformed(DecodeError::TrailingBytes(1)))
    );

    let mut signed = chain.signed.clone();
    signed[3] = sign_bytes(&k, 4, Vec::new());
    let (f, _) = first_fault(&keys, &signed);
    assert!(matches!(
        f,
        ChainFault {
            seq: 4,
            problem: Problem::Malformed(_)
        }
    ));
}

#[test]
fn seq_mismatch_is_reported() {
    let k = key(1);
    let keys = ring(&[&k]);
    let chain = build_chain(&k, gw7k(), 10);
    for filed in [9u64, 5, 0, u64::MAX] {
        let mut signed = chain.signed.clone();
        signed[3].seq = filed;
        let (f, tip) = first_fault(&keys, &signed);
        assert_eq!(
            f,
            fault(filed, Problem::SeqMismatch { filed, inside: 4 }),
            "filed as {filed}"
        );
        assert_eq!(tip, chain.tip(3));
    }
}

#[test]
fn wrong_station_is_reported() {
    let k = key(1);
    let keys = ring(&[&k]);
    let chain = build_chain(&k, gw7k(), 10);
    let mn3p = station("MN3P");
    let mut e = chain.events[5].clone();
    e.station = mn3p;
    let mut signed = chain.signed.clone();
    signed[5] = sign(&k, &e);
    let (f, tip) = first_fault(&keys, &signed);
    assert_eq!(f, fault(6, Problem::WrongStation(mn3p)));
    assert_eq!(tip, chain.tip(5));
    // A whole chain of another station, verified as this one's.
    let theirs = build_chain(&k, mn3p, 3);
    let (f, _) = first_fault(&keys, &theirs.signed);
    assert_eq!(f, fault(1, Problem::WrongStation(mn3p)));
}

#[test]
fn verification_continues_after_a_fault_is_repaired() {
    let k = key(1);
    let keys = ring(&[&k]);
    let chain = build_chain(&k, gw7k(), 10);
    let mut damaged = chain.signed.clone();
    damaged[4].signature[0] ^= 1;
    let mut verifier = ChainVerifier::new(gw7k(), &keys, ChainTip::GENESIS);
    assert_eq!(
        verifier.verify(&damaged),
        Err(fault(5, Problem::BadSignature))
    );
    assert_eq!(verifier.tip(), chain.tip(4));
    assert_eq!(
        verifier.verify(&chain.signed[4..]),
        Ok(chain.events[4..].to_vec())
    );
    assert_eq!(verifier.tip(), chain.tip(10));
}

static CHAIN20: LazyLock<(SigningKey, Chain)> = LazyLock::new(|| {
    let k = key(5);
    let chain = build_chain(&k, gw7k(), 20);
    (k, chain)
});

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_flipped_bit_is_caught_at_its_event(
        index in 0usize..20,
        in_signature in any::<bool>(),
        bit in any::<prop::sample::Index>(),
    ) {
        let (k, chain) = &*CHAIN20;
        let keys = ring(&[k]);
        let mut signed = chain.signed.clone();
        let target = &mut signed[index];
        if in_signature {
            let b = bit.index(512);
            target.signature[b / 8] ^= 1 << (b % 8);
        } else {
            let b = bit.index(target.canonical.len() * 8);
            target.canonical[b / 8] ^= 1 << (b % 8);
        }
        let mut verifier = ChainVerifier::new(gw7k(), &keys, ChainTip::GENESIS);
        let fault = verifier.verify(&signed).unwrap_err();
        prop_assert_eq!(fault.seq, index as u64 + 1, "{:?}", fault);
        prop_assert_eq!(verifier.tip(), chain.tip(index));
        if in_signature {
            prop_assert_eq!(fault.problem, Problem::BadSignature);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Keys and batch verification.

/// Encodings of small-order points: the identity, the point of order 2, two of order 4.
fn small_order_encodings() -> Vec<[u8; 32]> {
    let identity = {
        let mut b = [0u8; 32];
        b[0] = 1;
        b
    };
    // y = p − 1 = 2^255 − 20: (0, −1), order 2.
    let minus_one = {
        let mut b = [0xFF; 32];
        b[0] = 0xEC;
        b[31] = 0x7F;
        b
    };
    // y = 0: (±√−1, 0), order 4; the sign bit chooses x.
    let zero = [0u8; 32];
    let zero_neg = {
        let mut b = [0u8; 32];
        b[31] = 0x80;
        b
    };
    vec![identity, minus_one, zero, zero_neg]
}

#[test]
fn key_ring_refuses_weak_keys() {
    let mut keys = KeyRing::new();
    for bytes in small_order_encodings() {
        assert_eq!(keys.add_bytes(&bytes), Err(KeyError::Weak), "{bytes:02X?}");
        let key = VerifyingKey::from_bytes(&bytes).unwrap();
        assert_eq!(keys.add(key), Err(KeyError::Weak));
        assert!(keys.get(&KeyId::of(&key)).is_none());
    }
    assert!(keys.is_empty());
    // A genuine key is accepted under its id.
    let k = key(1).verifying_key();
    assert_eq!(keys.add_bytes(k.as_bytes()), Ok(KeyId::of(&k)));
    assert_eq!(keys.get(&KeyId::of(&k)), Some(&k));
    assert!(!keys.is_empty());
}

#[test]
fn key_ring_refuses_bytes_that_are_not_a_key() {
    let mut keys = KeyRing::new();
    // Some y coordinates have no x on the curve; whichever of these fail to decompress must be
    // refused as not a key, and at least one does.
    let mut refused = 0;
    for y in 2u8..40 {
        let mut bytes = [0u8; 32];
        bytes[0] = y;
        if VerifyingKey::from_bytes(&bytes).is_err() {
            assert_eq!(keys.add_bytes(&bytes), Err(KeyError::NotAKey));
            refused += 1;
        }
    }
    assert!(refused > 0);
    assert!(keys.is_empty());
}

#[test]
fn key_id_is_first_8_bytes_of_sha256() {
    let k = key(1).verifying_key();
    let digest = Sha256::digest(k.as_bytes());
    assert_eq!(KeyId::of(&k).0, digest[..8]);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    let fingerprint = records::fingerprint(&k);
    assert_eq!(fingerprint.replace('-', ""), hex);
    assert_eq!(fingerprint.split('-').count(), 8);
    assert!(fingerprint.split('-').all(|g| g.len() == 4));
}

fn message_items(n: usize) -> (Vec<SigningKey>, Vec<Vec<u8>>, Vec<[u8; 64]>) {
    let keys: Vec<SigningKey> = (0..n).map(|i| key(10 + (i % 3) as u8)).collect();
    let messages: Vec<Vec<u8>> = (0..n).map(|i| format!("event {i}").into_bytes()).collect();
    let signatures = keys
        .iter()
        .zip(&messages)
        .map(|(k, m)| sign_event(k, m))
        .collect();
    (keys, messages, signatures)
}

fn run_batch(publics: &[VerifyingKey], messages: &[Vec<u8>], signatures: &[[u8; 64]]) -> Vec<bool> {
    let items: Vec<(&VerifyingKey, &[u8], &[u8; 64])> = publics
        .iter()
        .zip(messages)
        .zip(signatures)
        .map(|((k, m), s)| (k, m.as_slice(), s))
        .collect();
    verify_events(&items)
}

#[test]
fn batch_verification_says_which_signature_is_bad() {
    let (keys, messages, signatures) = message_items(12);
    let publics: Vec<VerifyingKey> = keys.iter().map(SigningKey::verifying_key).collect();
    assert_eq!(run_batch(&publics, &messages, &signatures), vec![true; 12]);
    assert_eq!(run_batch(&[], &[], &[]), Vec::<bool>::new());
    for bad in 0..12 {
        let mut sigs = signatures.clone();
        sigs[bad][40] ^= 0x08;
        let expected: Vec<bool> = (0..12).map(|i| i != bad).collect();
        assert_eq!(run_batch(&publics, &messages, &sigs), expected, "bad {bad}");
        // A changed message instead of a changed signature.
        let mut msgs = messages.clone();
        msgs[bad].push(b'!');
        assert_eq!(run_batch(&publics, &msgs, &signatures), expected);
        // The right signature checked against another signer's key.
        let mut pubs = publics.clone();
        pubs[bad] = key(99).verifying_key();
        assert_eq!(run_batch(&pubs, &messages, &signatures), expected);
    }
    // Several bad ones.
    let mut sigs = signatures.clone();
    sigs[2][0] ^= 1;
    sigs[9][63] ^= 0x10; // s no longer canonical or no longer right
    let expected: Vec<bool> = (0..12).map(|i| i != 2 && i != 9).collect();
    assert_eq!(run_batch(&publics, &messages, &sigs), expected);
    // Each agrees with one-by-one strict verification.
    for i in 0..12 {
        assert_eq!(
            verify_event(&publics[i], &messages[i], &sigs[i]),
            expected[i]
        );
    }
}

fn identity_encoding() -> [u8; 32] {
    let mut b = [0u8; 32];
    b[0] = 1;
    b
}

#[test]
fn small_order_or_non_canonical_r_is_refused() {
    // With the identity as the key, R = identity and s = 0 satisfy the cofactorless equation
    // s·B = R + h·A for every message: a batch check alone would accept it.
    let weak = VerifyingKey::from_bytes(&identity_encoding()).unwrap();
    let msg = b"anything at all".to_vec();
    let mut small_r = [0u8; 64];
    small_r[..32].copy_from_slice(&identity_encoding());
    // The identity again, written non-canonically as y = p + 1 = 2^255 − 18.
    let mut non_canonical_r = [0u8; 64];
    non_canonical_r[0] = 0xEE;
    non_canonical_r[1..31].fill(0xFF);
    non_canonical_r[31] = 0x7F;
    for sig in [small_r, non_canonical_r] {
        assert!(!verify_event(&weak, &msg, &sig));
        assert_eq!(
            run_batch(&[weak], std::slice::from_ref(&msg), &[sig]),
            vec![false]
        );
        // Also among valid ones.
        let (keys, mut messages, mut signatures) = message_items(4);
        let mut publics: Vec<VerifyingKey> = keys.iter().map(SigningKey::verifying_key).collect();
        publics.insert(2, weak);
        messages.insert(2, msg.clone());
        signatures.insert(2, sig);
        assert_eq!(
            run_batch(&publics, &messages, &signatures),
            vec![true, true, false, true, true]
        );
    }
    // A genuine key, with R replaced by each small-order point or a non-canonical encoding.
    let k = key(1);
    let public = k.verifying_key();
    let good = sign_event(&k, &msg);
    let mut rs = small_order_encodings();
    rs.push(non_canonical_r[..32].try_into().unwrap());
    for r in rs {
        let mut sig = good;
        sig[..32].copy_from_slice(&r);
        assert!(!verify_event(&public, &msg, &sig));
        assert_eq!(
            run_batch(&[public, public], &[msg.clone(), msg.clone()], &[good, sig]),
            vec![true, false]
        );
    }
}

#[test]
fn non_canonical_s_is_refused() {
    // s + ℓ is the same scalar mod ℓ but not canonical: malleability the strict check refuses.
    let k = key(1);
    let public = k.verifying_key();
    let msg = b"urna".to_vec();
    let good = sign_event(&k, &msg);
    let s: [u8; 32] = good[32..].try_into().unwrap();
    // ℓ = 2^252 + 27742317777372353535851937790883648493, little-endian.
    let l: [u8; 32] = [
        0xED, 0xD3, 0xF5, 0x5C, 0x1A, 0x63, 0x12, 0x58, 0xD6, 0x9C, 0xF7, 0xA2, 0xDE, 0xF9, 0xDE,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut sum = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(s[i]) + u16::from(l[i]) + carry;
        sum[i] = v as u8;
        carry = v >> 8;
    }
    assert_eq!(carry, 0);
    let mut malleated = good;
    malleated[32..].copy_from_slice(&sum);
    assert!(!verify_event(&public, &msg, &malleated));
    assert_eq!(
        run_batch(
            &[public, public],
            &[msg.clone(), msg.clone()],
            &[good, malleated]
        ),
        vec![true, false]
    );
    // Scalar arithmetic agrees that it is the same scalar.
    assert_eq!(
        Scalar::from_bytes_mod_order(sum),
        Scalar::from_bytes_mod_order(s)
    );
}

#[test]
fn domain_separation_keeps_event_signatures_apart() {
    use ed25519_dalek::Signer;
    let k = key(1);
    let public = k.verifying_key();
    let msg = b"canonical bytes".to_vec();
    let plain = k.sign(&msg).to_bytes();
    assert!(!verify_event(&public, &msg, &plain));
    let mut prefixed = b"urna-event-v1\0".to_vec();
    prefixed.extend_from_slice(&msg);
    assert_eq!(k.sign(&prefixed).to_bytes(), sign_event(&k, &msg));
    assert!(verify_event(&public, &msg, &sign_event(&k, &msg)));
}

/// Not a property of the crate's contract for chains (the ring refuses weak keys), but of
/// `verify_events` on its own: with a weak key it must not accept what `verify_event` refuses.
#[test]
fn batch_agrees_with_strict_check_even_for_a_weak_key() {
    let weak = VerifyingKey::from_bytes(&identity_encoding()).unwrap();
    // R = 5·B has large order and a canonical encoding; s = 5 makes s·B = R + h·identity.
    let r = (ED25519_BASEPOINT_POINT * Scalar::from(5u64))
        .compress()
        .to_bytes();
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&r);
    sig[32..].copy_from_slice(Scalar::from(5u64).as_bytes());
    let msg = b"forged".to_vec();
    assert!(!verify_event(&weak, &msg, &sig));
    assert_eq!(run_batch(&[weak], &[msg], &[sig]), vec![false]);
}
