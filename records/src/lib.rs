//! urna's shared vocabulary, used by the stations, the registry and the `urna` command alike.
//! Pure: no I/O and no clock; time and randomness come from the caller.
//!
//! - [`intake_id`] — the ids on envelopes and receipts, with their check character;
//! - [`event`] — custody events: what happened to an envelope or a device;
//! - [`encoding`] — the canonical bytes of an event, which are hashed and signed;
//! - [`api`] — the registry's HTTP API bodies, shared by stations and registry;
//! - [`chain`] — the hash chain and the verifier that says what is wrong and where;
//! - [`signing`] — key ids, fingerprints, event signatures, the ring of trusted keys;
//! - [`http_signature`] — station→registry requests signed in the manner of RFC 9421;
//! - [`receipt`] — the signed text in a receipt's QR code;
//! - [`rotation`] — a station's key rotation statement, signed by the old key and the new.

pub mod api;
pub mod chain;
pub mod encoding;
pub mod event;
pub mod http_signature;
pub mod intake_id;
pub mod receipt;
pub mod rotation;
pub mod signing;

pub use chain::{ChainFault, ChainTip, ChainVerifier, Hash, Problem, SignedEvent};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use event::{
    Channel, Device, EarlyRelease, Event, Intake, LabelKind, MAX_LISTED_INTAKES, Payload, Text,
    Timestamp,
};
pub use intake_id::{IdError, IntakeId, StationCode};
pub use receipt::{ReceiptError, ReceiptPayload};
pub use rotation::{KeyRotation, RotationError};
pub use signing::{KeyId, KeyRing, fingerprint};

/// Serde helper: bytes as standard base64 text.
pub(crate) mod base64_bytes {
    use data_encoding::BASE64;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&BASE64.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <&str>::deserialize(d)?;
        BASE64
            .decode(text.as_bytes())
            .map_err(|_| D::Error::custom("not base64"))
    }
}

/// Serde helper: a fixed-size byte array as standard base64 text.
pub(crate) mod base64_array {
    use serde::{Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        super::base64_bytes::serialize(bytes, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let bytes = super::base64_bytes::deserialize(d)?;
        bytes
            .try_into()
            .map_err(|_| D::Error::custom(format!("expected {N} bytes")))
    }
}
