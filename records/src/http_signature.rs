//! Station→registry requests signed in the manner of HTTP Message Signatures (RFC 9421), with the
//! body's digest in `Content-Digest` (RFC 9530, `sha-256`).
//!
//! Every request covers, in this order, `"@method" "@path" "content-digest" "urna-clock"`, with
//! the parameters `created`, `nonce`, `keyid` (the signing key's [`KeyId`] in hex) and
//! `alg="ed25519"`, under the label `urna`. `urna-clock` says whether the station trusts its
//! clock: the registry judges `created` only when it does.
//!
//! Written here rather than taken from a crate: the Rust RFC 9421 crates either pull in their own
//! crypto stack (ring, aws-lc) beside ed25519-dalek or are young and little used, and what urna
//! needs is one fixed profile: a few dozen lines of canonicalisation and a strict parser of the
//! Structured Field subset the profile uses, which this module owns and tests (including
//! RFC 9421's own Ed25519 example, §B.2.6). No I/O and no clock: time and nonces come from the caller.

use std::fmt::Write as _;

use data_encoding::BASE64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::signing::KeyId;

/// The label of urna's signature in `Signature-Input` and `Signature`.
pub const LABEL: &str = "urna";
/// The header that says whether the station's clock is trusted: [`CLOCK_TRUSTED`] or
/// [`CLOCK_UNTRUSTED`]. Covered by the signature.
pub const CLOCK_HEADER: &str = "urna-clock";
/// `urna-clock` of a station whose clock is set.
pub const CLOCK_TRUSTED: &str = "trusted";
/// `urna-clock` of a station that cannot vouch for its clock (a Pi booted without network).
pub const CLOCK_UNTRUSTED: &str = "untrusted";
/// The station's whole public key (standard base64), sent beside the signature so a registry that
/// does not know the key yet can record it for an admin to approve. Trusted for nothing else.
pub const PUBLIC_KEY_HEADER: &str = "urna-public-key";
/// The components every urna request signature covers, in order.
pub const COVERED: [&str; 4] = ["@method", "@path", "content-digest", CLOCK_HEADER];
/// Longest header value the parsers read; urna's own are about 200 bytes.
pub const MAX_HEADER_CHARS: usize = 2048;
/// Shortest and longest nonce accepted (characters of `A-Z a-z 0-9 - _`).
pub const NONCE_CHARS: std::ops::RangeInclusive<usize> = 16..=64;

/// What is wrong with a signature header (outside input: every case is an answer, never a panic).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Not valid Structured Field syntax of the kind expected.
    #[error("{header}: malformed at byte {at}")]
    Syntax {
        /// Which header.
        header: &'static str,
        /// Where parsing stopped.
        at: usize,
    },
    /// Longer than [`MAX_HEADER_CHARS`].
    #[error("{0}: too long")]
    TooLong(&'static str),
    /// No member labelled [`LABEL`].
    #[error("{0}: no signature labelled \"urna\"")]
    NoLabel(&'static str),
    /// Covers other components than [`COVERED`], or in another order.
    #[error(
        "signature-input: must cover exactly \"@method\" \"@path\" \"content-digest\" \"urna-clock\""
    )]
    Components,
    /// A parameter missing, repeated, unknown or of the wrong type.
    #[error("signature-input: parameter {0}")]
    Parameter(&'static str),
    /// `Content-Digest` without a `sha-256` digest of 32 bytes.
    #[error("content-digest: no sha-256 digest")]
    NoSha256,
    /// `Signature` whose value is not 64 bytes.
    #[error("signature: not an Ed25519 signature")]
    SignatureLength,
}

/// The parameters of urna's signature, as signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureParams {
    /// When the station signed (its clock, unix seconds).
    pub created: i64,
    /// Never used twice by a key; the registry remembers the ones it saw.
    pub nonce: String,
    /// The signing key's id.
    pub key_id: KeyId,
    // The parameters in the order the signer wrote them: `@signature-params` is their
    // serialisation in that order, so the order is part of what was signed.
    order: Vec<Param>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Param {
    Created,
    Nonce,
    KeyId,
    Alg,
}

impl SignatureParams {
    /// Parameters in urna's own order: `created`, `nonce`, `keyid`, `alg`.
    pub fn new(created: i64, nonce: String, key_id: KeyId) -> Self {
        SignatureParams {
            created,
            nonce,
            key_id,
            order: vec![Param::Created, Param::Nonce, Param::KeyId, Param::Alg],
        }
    }

    /// The inner list with its parameters, as in `Signature-Input` after `urna=` and as the
    /// value of `@signature-params`.
    pub fn serialize(&self) -> String {
        let mut out = String::from("(");
        for (i, c) in COVERED.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let _ = write!(out, "\"{c}\"");
        }
        out.push(')');
        for p in &self.order {
            let _ = match p {
                Param::Created => write!(out, ";created={}", self.created),
                // The nonce is checked to be `A-Z a-z 0-9 - _` before it gets here or when parsed.
                Param::Nonce => write!(out, ";nonce=\"{}\"", self.nonce),
                Param::KeyId => write!(out, ";keyid=\"{}\"", self.key_id),
                Param::Alg => write!(out, ";alg=\"ed25519\""),
            };
        }
        out
    }
}

/// The parts of a request the signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestParts<'a> {
    /// `GET`, `POST` …, as sent (upper case).
    pub method: &'a str,
    /// The path, without query (urna's routes take none).
    pub path: &'a str,
    /// The `Content-Digest` header's value.
    pub content_digest: &'a str,
    /// The `urna-clock` header's value.
    pub clock: &'a str,
}

/// The headers a signed request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `Content-Digest`.
    pub content_digest: String,
    /// `urna-clock`.
    pub clock: &'static str,
    /// `Signature-Input`.
    pub signature_input: String,
    /// `Signature`.
    pub signature: String,
    /// `urna-public-key`.
    pub public_key: String,
}

/// `Content-Digest` of `body`: `sha-256=:…:`.
pub fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", BASE64.encode(&Sha256::digest(body)))
}

/// RFC 9421 §2.5: one line per covered component, `"name": value`, then `"@signature-params"`,
/// joined by LF with no final LF. `components` pairs each component name with its value.
pub fn signature_base(components: &[(&str, &str)], signature_params: &str) -> String {
    let mut base = String::new();
    for (name, value) in components {
        let _ = writeln!(base, "\"{name}\": {value}");
    }
    let _ = write!(base, "\"@signature-params\": {signature_params}");
    base
}

fn urna_base(parts: &RequestParts<'_>, params: &SignatureParams) -> String {
    signature_base(
        &[
            (COVERED[0], parts.method),
            (COVERED[1], parts.path),
            (COVERED[2], parts.content_digest),
            (COVERED[3], parts.clock),
        ],
        &params.serialize(),
    )
}

/// Whether `nonce` is one a station may send: 16 to 64 of `A-Z a-z 0-9 - _`.
pub fn nonce_is_valid(nonce: &str) -> bool {
    NONCE_CHARS.contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Signs a request. `nonce` must satisfy [`nonce_is_valid`] (the caller makes it from 16 random
/// bytes); `created` is the station's clock in unix seconds, `clock_trusted` whether it vouches
/// for it.
pub fn sign_request(
    key: &SigningKey,
    method: &str,
    path: &str,
    body: &[u8],
    created: i64,
    clock_trusted: bool,
    nonce: String,
) -> SignedHeaders {
    let content_digest = content_digest(body);
    let clock = if clock_trusted {
        CLOCK_TRUSTED
    } else {
        CLOCK_UNTRUSTED
    };
    let params = SignatureParams::new(created, nonce, KeyId::of(&key.verifying_key()));
    let parts = RequestParts {
        method,
        path,
        content_digest: &content_digest,
        clock,
    };
    let signature = key.sign(urna_base(&parts, &params).as_bytes());
    SignedHeaders {
        signature_input: format!("{LABEL}={}", params.serialize()),
        signature: format!("{LABEL}=:{}:", BASE64.encode(&signature.to_bytes())),
        public_key: BASE64.encode(key.verifying_key().as_bytes()),
        content_digest,
        clock,
    }
}

/// Verifies urna's signature over `parts` strictly (no weak keys, canonical `s`).
pub fn verify_request(
    key: &VerifyingKey,
    parts: &RequestParts<'_>,
    params: &SignatureParams,
    signature: &[u8; 64],
) -> bool {
    let signature = Signature::from_bytes(signature);
    key.verify_strict(urna_base(parts, params).as_bytes(), &signature)
        .is_ok()
}

/// Whether `Content-Digest`'s sha-256 is the digest of `body`.
pub fn digest_matches(content_digest: &[u8; 32], body: &[u8]) -> bool {
    // Not secret: the body is what the client sent; a plain comparison is fine.
    Sha256::digest(body).as_slice() == content_digest.as_slice()
}

// ---- Structured Field Values (RFC 8941), the subset these headers use ----

#[derive(Debug, Clone, PartialEq, Eq)]
enum Bare {
    Integer(i64),
    String(String),
    Token(String),
    Bytes(Vec<u8>),
    Boolean(bool),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Member {
    Item(Bare, Vec<(String, Bare)>),
    InnerList(Vec<(Bare, Vec<(String, Bare)>)>, Vec<(String, Bare)>),
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
    header: &'static str,
}

impl Parser<'_> {
    fn err(&self) -> HeaderError {
        HeaderError::Syntax {
            header: self.header,
            at: self.at,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn skip_sp(&mut self) {
        while self.eat(b' ') {}
    }

    fn skip_ows(&mut self) {
        while self.eat(b' ') || self.eat(b'\t') {}
    }

    fn key(&mut self) -> Result<String, HeaderError> {
        let start = self.at;
        match self.peek() {
            Some(b'a'..=b'z' | b'*') => self.at += 1,
            _ => return Err(self.err()),
        }
        while let Some(b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*') = self.peek() {
            self.at += 1;
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.at]).into_owned())
    }

    fn bare(&mut self) -> Result<Bare, HeaderError> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => self.integer(),
            Some(b'"') => self.string(),
            Some(b':') => self.bytes(),
            Some(b'?') => {
                self.at += 1;
                match self.peek() {
                    Some(b'0') => {
                        self.at += 1;
                        Ok(Bare::Boolean(false))
                    }
                    Some(b'1') => {
                        self.at += 1;
                        Ok(Bare::Boolean(true))
                    }
                    _ => Err(self.err()),
                }
            }
            Some(b'A'..=b'Z' | b'a'..=b'z' | b'*') => {
                let start = self.at;
                self.at += 1;
                while let Some(c) = self.peek() {
                    // tchar, ':' and '/'.
                    if c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&c) {
                        self.at += 1;
                    } else {
                        break;
                    }
                }
                Ok(Bare::Token(
                    String::from_utf8_lossy(&self.s[start..self.at]).into_owned(),
                ))
            }
            _ => Err(self.err()),
        }
    }

    fn integer(&mut self) -> Result<Bare, HeaderError> {
        let negative = self.eat(b'-');
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        let digits = self.at - start;
        // Decimals are not used by these headers; refusing them keeps the parser small.
        if digits == 0 || digits > 15 || self.peek() == Some(b'.') {
            return Err(self.err());
        }
        let mut n: i64 = 0;
        for &d in &self.s[start..self.at] {
            n = n * 10 + i64::from(d - b'0');
        }
        Ok(Bare::Integer(if negative { -n } else { n }))
    }

    fn string(&mut self) -> Result<Bare, HeaderError> {
        self.at += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err());
            };
            self.at += 1;
            match c {
                b'"' => return Ok(Bare::String(out)),
                b'\\' => match self.peek() {
                    Some(e @ (b'"' | b'\\')) => {
                        self.at += 1;
                        out.push(char::from(e));
                    }
                    _ => return Err(self.err()),
                },
                0x20..=0x7e => out.push(char::from(c)),
                _ => return Err(self.err()),
            }
        }
    }

    fn bytes(&mut self) -> Result<Bare, HeaderError> {
        self.at += 1;
        let start = self.at;
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'+' || c == b'/' || c == b'=' {
                self.at += 1;
            } else {
                break;
            }
        }
        let end = self.at;
        if !self.eat(b':') {
            return Err(self.err());
        }
        BASE64
            .decode(&self.s[start..end])
            .map(Bare::Bytes)
            .map_err(|_| HeaderError::Syntax {
                header: self.header,
                at: start,
            })
    }

    fn parameters(&mut self) -> Result<Vec<(String, Bare)>, HeaderError> {
        let mut out = Vec::new();
        while self.eat(b';') {
            self.skip_sp();
            let key = self.key()?;
            let value = if self.eat(b'=') {
                self.bare()?
            } else {
                Bare::Boolean(true)
            };
            out.push((key, value));
        }
        Ok(out)
    }

    fn inner_list(&mut self) -> Result<Member, HeaderError> {
        self.at += 1;
        let mut items = Vec::new();
        loop {
            self.skip_sp();
            if self.eat(b')') {
                let params = self.parameters()?;
                return Ok(Member::InnerList(items, params));
            }
            let item = self.bare()?;
            let params = self.parameters()?;
            items.push((item, params));
            match self.peek() {
                Some(b' ' | b')') => {}
                _ => return Err(self.err()),
            }
        }
    }

    /// A dictionary: `key=value` or `key` (true) members separated by commas.
    fn dictionary(mut self) -> Result<Vec<(String, Member)>, HeaderError> {
        let mut out = Vec::new();
        self.skip_sp();
        loop {
            let key = self.key()?;
            let member = if self.eat(b'=') {
                if self.peek() == Some(b'(') {
                    self.inner_list()?
                } else {
                    let item = self.bare()?;
                    Member::Item(item, self.parameters()?)
                }
            } else {
                Member::Item(Bare::Boolean(true), self.parameters()?)
            };
            // A repeated key replaces the earlier one (RFC 8941 §4.2.2).
            out.retain(|(k, _)| *k != key);
            out.push((key, member));
            self.skip_ows();
            if self.at == self.s.len() {
                return Ok(out);
            }
            if !self.eat(b',') {
                return Err(self.err());
            }
            self.skip_ows();
            if self.at == self.s.len() {
                // A trailing comma.
                return Err(self.err());
            }
        }
    }
}

fn dictionary(header: &'static str, value: &str) -> Result<Vec<(String, Member)>, HeaderError> {
    if value.len() > MAX_HEADER_CHARS {
        return Err(HeaderError::TooLong(header));
    }
    Parser {
        s: value.trim_end_matches(' ').as_bytes(),
        at: 0,
        header,
    }
    .dictionary()
}

fn labelled(header: &'static str, value: &str) -> Result<Member, HeaderError> {
    dictionary(header, value)?
        .into_iter()
        .find(|(k, _)| k == LABEL)
        .map(|(_, m)| m)
        .ok_or(HeaderError::NoLabel(header))
}

/// Parses `Signature-Input`, taking the member labelled `urna` (others, e.g. a proxy's, are
/// ignored). Strict about the rest: exactly [`COVERED`], each of `created` (integer), `nonce`
/// (string, [`nonce_is_valid`]), `keyid` (string, a key id) and `alg` (`"ed25519"`) exactly once.
pub fn parse_signature_input(value: &str) -> Result<SignatureParams, HeaderError> {
    let Member::InnerList(items, params) = labelled("signature-input", value)? else {
        return Err(HeaderError::Components);
    };
    let names: Vec<&str> = items
        .iter()
        .map(|(item, params)| match (item, params.is_empty()) {
            (Bare::String(s), true) => Ok(s.as_str()),
            _ => Err(HeaderError::Components),
        })
        .collect::<Result<_, _>>()?;
    if names != COVERED {
        return Err(HeaderError::Components);
    }
    let (mut created, mut nonce, mut key_id, mut alg) = (None, None, None, false);
    let mut order = Vec::with_capacity(4);
    for (name, value) in params {
        let (param, fresh) = match (name.as_str(), value) {
            ("created", Bare::Integer(n)) => (Param::Created, created.replace(n).is_none()),
            ("nonce", Bare::String(s)) if nonce_is_valid(&s) => {
                (Param::Nonce, nonce.replace(s).is_none())
            }
            ("nonce", _) => return Err(HeaderError::Parameter("nonce")),
            ("keyid", Bare::String(s)) => {
                let id = KeyId::try_from(s).map_err(|_| HeaderError::Parameter("keyid"))?;
                (Param::KeyId, key_id.replace(id).is_none())
            }
            ("alg", Bare::String(s)) if s == "ed25519" => {
                (Param::Alg, !std::mem::replace(&mut alg, true))
            }
            ("created", _) => return Err(HeaderError::Parameter("created")),
            ("keyid", _) => return Err(HeaderError::Parameter("keyid")),
            ("alg", _) => return Err(HeaderError::Parameter("alg")),
            _ => return Err(HeaderError::Parameter("unknown")),
        };
        if !fresh {
            return Err(HeaderError::Parameter("repeated"));
        }
        order.push(param);
    }
    Ok(SignatureParams {
        created: created.ok_or(HeaderError::Parameter("created"))?,
        nonce: nonce.ok_or(HeaderError::Parameter("nonce"))?,
        key_id: key_id.ok_or(HeaderError::Parameter("keyid"))?,
        order: if alg {
            order
        } else {
            return Err(HeaderError::Parameter("alg"));
        },
    })
}

/// Parses `Signature`, taking the 64 bytes labelled `urna`.
pub fn parse_signature(value: &str) -> Result<[u8; 64], HeaderError> {
    match labelled("signature", value)? {
        Member::Item(Bare::Bytes(bytes), _) => {
            bytes.try_into().map_err(|_| HeaderError::SignatureLength)
        }
        _ => Err(HeaderError::SignatureLength),
    }
}

/// Parses `Content-Digest`, taking its `sha-256` (other algorithms beside it are ignored).
pub fn parse_content_digest(value: &str) -> Result<[u8; 32], HeaderError> {
    dictionary("content-digest", value)?
        .into_iter()
        .find_map(|(k, m)| match (k.as_str(), m) {
            ("sha-256", Member::Item(Bare::Bytes(b), _)) => b.try_into().ok(),
            _ => None,
        })
        .ok_or(HeaderError::NoSha256)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    const NONCE: &str = "AAAAAAAAAAAAAAAAAAAAAA";

    /// RFC 9421 §B.2.6: the standard's own Ed25519 example, through the same base builder.
    #[test]
    fn the_signature_base_matches_rfc_9421s_ed25519_example() {
        // test-key-ed25519: the last 32 bytes of its PKCS#8 document are the seed.
        let pkcs8 = BASE64
            .decode(b"MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF")
            .unwrap();
        let seed: [u8; 32] = pkcs8[pkcs8.len() - 32..].try_into().unwrap();
        let key = SigningKey::from_bytes(&seed);
        assert_eq!(
            BASE64.encode(key.verifying_key().as_bytes()),
            "JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs="
        );
        let base = signature_base(
            &[
                ("date", "Tue, 20 Apr 2021 02:07:55 GMT"),
                ("@method", "POST"),
                ("@path", "/foo"),
                ("@authority", "example.com"),
                ("content-type", "application/json"),
                ("content-length", "18"),
            ],
            r#"("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#,
        );
        assert_eq!(
            BASE64.encode(&key.sign(base.as_bytes()).to_bytes()),
            "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw=="
        );
        // RFC 9530's example digest of `{"hello": "world"}`.
        assert_eq!(
            content_digest(br#"{"hello": "world"}"#),
            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
        );
    }

    fn signed() -> SignedHeaders {
        sign_request(
            &key(),
            "POST",
            "/api/stations/GW7K/events",
            b"{}",
            1_800_000_000,
            true,
            NONCE.into(),
        )
    }

    fn check(h: &SignedHeaders, method: &str, path: &str, body: &[u8]) -> bool {
        let params = parse_signature_input(&h.signature_input).unwrap();
        let sig = parse_signature(&h.signature).unwrap();
        let digest = parse_content_digest(&h.content_digest).unwrap();
        digest_matches(&digest, body)
            && verify_request(
                &key().verifying_key(),
                &RequestParts {
                    method,
                    path,
                    content_digest: &h.content_digest,
                    clock: h.clock,
                },
                &params,
                &sig,
            )
    }

    #[test]
    fn a_signed_request_verifies_and_nothing_covered_can_change() {
        let h = signed();
        assert_eq!(
            h.signature_input,
            format!(
                "urna=(\"@method\" \"@path\" \"content-digest\" \"urna-clock\");created=1800000000;nonce=\"{NONCE}\";keyid=\"{}\";alg=\"ed25519\"",
                KeyId::of(&key().verifying_key())
            )
        );
        assert!(check(&h, "POST", "/api/stations/GW7K/events", b"{}"));
        assert!(!check(&h, "GET", "/api/stations/GW7K/events", b"{}"));
        assert!(!check(&h, "POST", "/api/stations/GW7L/events", b"{}"));
        assert!(!check(&h, "POST", "/api/stations/GW7K/events", b"{ }"));
        let mut untrusted = h.clone();
        untrusted.clock = CLOCK_UNTRUSTED;
        assert!(!check(
            &untrusted,
            "POST",
            "/api/stations/GW7K/events",
            b"{}"
        ));
        let later = h.signature_input.replace("1800000000", "1800000001");
        let mut moved = h.clone();
        moved.signature_input = later;
        assert!(!check(&moved, "POST", "/api/stations/GW7K/events", b"{}"));
    }

    #[test]
    fn whitespace_and_other_members_do_not_matter_but_parameter_order_is_signed() {
        let h = signed();
        let params = parse_signature_input(&h.signature_input).unwrap();
        let spaced = format!("proxy=(\"@method\");created=1, {} ", h.signature_input);
        assert_eq!(parse_signature_input(&spaced).unwrap(), params);
        let sig = parse_signature(&format!("other=:AAAA:,  {}", h.signature)).unwrap();
        assert_eq!(sig, parse_signature(&h.signature).unwrap());
        // Same parameters, another order: a different `@signature-params`, so a different base.
        let reordered = format!(
            "urna=(\"@method\" \"@path\" \"content-digest\" \"urna-clock\");nonce=\"{NONCE}\";created=1800000000;keyid=\"{}\";alg=\"ed25519\"",
            KeyId::of(&key().verifying_key())
        );
        let other = parse_signature_input(&reordered).unwrap();
        assert_ne!(other.serialize(), params.serialize());
        assert_eq!(other.serialize(), reordered["urna=".len()..]);
    }

    #[test]
    fn malformed_or_loose_headers_are_refused() {
        let id = KeyId::of(&key().verifying_key());
        let good = format!(
            "urna=(\"@method\" \"@path\" \"content-digest\" \"urna-clock\");created=1;nonce=\"{NONCE}\";keyid=\"{id}\";alg=\"ed25519\""
        );
        assert!(parse_signature_input(&good).is_ok());
        for bad in [
            String::new(),
            "urna".into(),
            "urna=".into(),
            good.replace("urna=", "sig1="),
            good.replace(" \"urna-clock\"", ""),
            good.replace(
                "\"@path\" \"content-digest\"",
                "\"content-digest\" \"@path\"",
            ),
            good.replace(";alg=\"ed25519\"", ""),
            good.replace("ed25519", "rsa-pss-sha512"),
            good.replace(";created=1", ""),
            good.replace("created=1", "created=1.5"),
            good.replace("created=1", "created=\"1\""),
            good.replace("created=1", "created=1;created=2"),
            good.replace(NONCE, "short"),
            good.replace(NONCE, "AAAAAAAAAAAAAAAA\\\"AAAAA"),
            good.replace(&id.to_string(), "not-a-key-id"),
            format!("{good};expires=5"),
            format!("{good},"),
            format!("{good}\u{e9}"),
            good.replace('(', "[").replace(')', "]"),
            format!("urna=({})", "\"@method\" ".repeat(400)),
        ] {
            assert!(parse_signature_input(&bad).is_err(), "{bad}");
        }
        for bad in [
            "urna=:AAAA:",
            "urna=AAAA",
            "urna=:!!:",
            "sig=:AAAA:",
            "urna=:AAAA",
        ] {
            assert!(parse_signature(bad).is_err(), "{bad}");
        }
        for bad in ["sha-512=:AAAA:", "sha-256=:AAAA:", "sha-256=AAAA", ""] {
            assert!(parse_content_digest(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        /// Outside input: any bytes give an answer, never a panic, and whatever parses serialises
        /// back to something that parses to the same.
        #[test]
        fn the_parsers_take_any_input(s in "\\PC{0,300}") {
            let _ = parse_signature(&s);
            let _ = parse_content_digest(&s);
            if let Ok(p) = parse_signature_input(&s) {
                let again = parse_signature_input(&format!("urna={}", p.serialize())).unwrap();
                proptest::prop_assert_eq!(again, p);
            }
        }

        /// Near-misses of a valid header: one byte changed, inserted or removed.
        #[test]
        fn one_byte_off_a_good_header_never_panics(at in 0usize..200, byte in proptest::num::u8::ANY, op in 0u8..3) {
            let mut s = signed().signature_input.into_bytes();
            let at = at % s.len();
            match op {
                0 => s[at] = byte,
                1 => s.insert(at, byte),
                _ => { s.remove(at); }
            }
            let s = String::from_utf8_lossy(&s);
            if let Ok(p) = parse_signature_input(&s) {
                let again = parse_signature_input(&format!("urna={}", p.serialize())).unwrap();
                proptest::prop_assert_eq!(again, p);
            }
        }
    }
}
