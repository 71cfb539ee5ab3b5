//! Webhooks: a department's system is POSTed the [`crate::outbox::NoticeBody`] as JSON, signed
//! with the secret it shares with the registry.
//!
//! The signature is HMAC-SHA256 over `TIMESTAMP.BODY` (the decimal Unix time in seconds, a dot,
//! the body's bytes), sent as `X-Urna-Signature: sha256=<64 lowercase hex digits>` beside
//! `X-Urna-Timestamp: TIMESTAMP`. A receiver recomputes it ([`verify`] does it in Rust), and
//! refuses a stale timestamp so that a captured request cannot be replayed later.
//! `X-Urna-Delivery` carries the delivery's id: a retry after a lost answer repeats it, so a
//! receiver can drop the repeat.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{Request, header};
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sha2::Sha256;

/// The Unix time (seconds) the signature covers.
pub const TIMESTAMP_HEADER: &str = "x-urna-timestamp";
/// `sha256=` and the HMAC in hex.
pub const SIGNATURE_HEADER: &str = "x-urna-signature";
/// The delivery's id, the same on every retry.
pub const DELIVERY_HEADER: &str = "x-urna-delivery";

/// The signature header's value for `body` sent at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!(
        "sha256={}",
        data_encoding::HEXLOWER.encode(
            &mac(secret, &timestamp.to_string(), body)
                .finalize()
                .into_bytes()
        )
    )
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Why [`verify`] refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The timestamp is not a plain decimal number of seconds.
    #[error("the timestamp header is not a Unix time in seconds")]
    BadTimestamp,
    /// The signature is not `sha256=` and 64 lowercase hex digits.
    #[error("the signature header is not sha256= and 64 lowercase hex digits")]
    BadSignature,
    /// The timestamp is further from now than allowed.
    #[error("the timestamp is too far from now")]
    Stale,
    /// The signature does not match: another secret, or an altered body or timestamp.
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks a received webhook as a department's receiver would: the headers as received, the
/// body's bytes, the receiver's clock and how far from it a timestamp may be.
pub fn verify(
    secret: &[u8],
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let ok_time = !timestamp.is_empty()
        && timestamp.len() <= 12
        && timestamp.bytes().all(|b| b.is_ascii_digit());
    let sent: i64 = match timestamp.parse() {
        Ok(t) if ok_time => t,
        _ => return Err(VerifyError::BadTimestamp),
    };
    let hex = signature
        .strip_prefix("sha256=")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .ok_or(VerifyError::BadSignature)?;
    let expected = data_encoding::HEXLOWER
        .decode(hex.as_bytes())
        .map_err(|_| VerifyError::BadSignature)?;
    if now_secs.abs_diff(sent) > tolerance_secs.unsigned_abs() {
        return Err(VerifyError::Stale);
    }
    // Compared in constant time by the MAC itself.
    mac(secret, timestamp, body)
        .verify_slice(&expected)
        .map_err(|_| VerifyError::Mismatch)
}

/// What one attempt met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The HTTP status, or the SMTP reply code, when the other side answered.
    pub status: Option<u16>,
    /// `None` when delivered; otherwise what went wrong, for the admin (no secrets in it).
    pub error: Option<String>,
}

impl Outcome {
    /// A failure with no answer from the other side.
    pub fn failed(error: impl Into<String>) -> Outcome {
        Outcome {
            status: None,
            error: Some(error.into()),
        }
    }
}

/// The HTTP client webhooks go out through.
#[derive(Debug, Clone)]
pub struct WebhookClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl WebhookClient {
    /// A client whose every request gives up after `timeout`. Redirects are not followed: a
    /// webhook that moved is a configuration to fix, and following would turn the POST into a GET.
    /// HTTPS trusts Mozilla's roots (as e-mail does), so a machine without a certificate store
    /// still reaches a public receiver.
    pub fn new(timeout: Duration) -> Result<WebhookClient, String> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let https = HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(Arc::new(rustls::crypto::ring::default_provider()))
            .map_err(|e| format!("building the webhook HTTPS client: {e}"))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(WebhookClient { client, timeout })
    }

    /// POSTs `body` to `url`, signed with `secret`; a 2xx answer is a delivery.
    pub async fn send(&self, url: &str, secret: &[u8], delivery: i64, body: &str) -> Outcome {
        let timestamp = jiff::Timestamp::now().as_second();
        let request = Request::post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(
                header::USER_AGENT,
                concat!("urna-registry/", env!("CARGO_PKG_VERSION")),
            )
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, sign(secret, timestamp, body.as_bytes()))
            .header(DELIVERY_HEADER, delivery.to_string())
            .body(Full::new(Bytes::from(body.to_owned())));
        let request = match request {
            Ok(r) => r,
            // The URL is not repeated: its query may hold a token.
            Err(_) => return Outcome::failed("the webhook URL is not a valid http(s) URL"),
        };
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Err(_) => Outcome::failed("timed out"),
            Ok(Err(e)) => Outcome::failed(describe(&e)),
            Ok(Ok(resp)) if resp.status().is_success() => Outcome {
                status: Some(resp.status().as_u16()),
                error: None,
            },
            Ok(Ok(resp)) => Outcome {
                status: Some(resp.status().as_u16()),
                error: Some(format!("HTTP {}", resp.status())),
            },
        }
    }
}

/// A transport error for the admin, without the URL (its query may hold a token).
fn describe(e: &hyper_util::client::legacy::Error) -> String {
    let what = if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    const SECRET: &[u8] = b"0123456789abcdef-secret";

    #[test]
    fn known_answer() {
        // Computed independently: printf '1700000000.{}' | openssl dgst -sha256 -hmac KEY
        let sig = sign(b"key", 1_700_000_000, b"{}");
        assert_eq!(
            sig,
            "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
        assert_eq!(
            verify(b"key", "1700000000", &sig, b"{}", 1_700_000_010, 300),
            Ok(())
        );
        assert_eq!(
            verify(b"key", "1700000000", &sig, b"{}", 1_700_001_000, 300),
            Err(VerifyError::Stale)
        );
        assert_eq!(
            verify(b"key", "1700000001", &sig, b"{}", 1_700_000_000, 300),
            Err(VerifyError::Mismatch)
        );
    }

    proptest! {
        #[test]
        fn signed_bodies_verify(body in proptest::collection::vec(any::<u8>(), 0..512), t in 0i64..4_000_000_000) {
            let sig = sign(SECRET, t, &body);
            prop_assert_eq!(verify(SECRET, &t.to_string(), &sig, &body, t, 300), Ok(()));
        }

        #[test]
        fn altered_bodies_do_not(body in proptest::collection::vec(any::<u8>(), 1..512), flip in any::<usize>(), t in 0i64..4_000_000_000) {
            let sig = sign(SECRET, t, &body);
            let mut altered = body.clone();
            let at = flip % altered.len();
            altered[at] ^= 1;
            prop_assert_eq!(verify(SECRET, &t.to_string(), &sig, &altered, t, 300), Err(VerifyError::Mismatch));
            prop_assert_eq!(verify(b"another secret, 16+", &t.to_string(), &sig, &body, t, 300), Err(VerifyError::Mismatch));
        }

        #[test]
        fn any_header_text_is_refused_or_checked_without_panic(ts in ".{0,40}", sig in ".{0,100}", now in any::<i64>(), tol in any::<i64>()) {
            let _ = verify(SECRET, &ts, &sig, b"body", now, tol);
        }

        #[test]
        fn malformed_headers_are_named(ts in "[0-9]{0,3}[^0-9][0-9]{0,3}", sig in "sha256=[0-9a-f]{0,63}") {
            prop_assert_eq!(verify(SECRET, &ts, "sha256=00", b"", 0, 1), Err(VerifyError::BadTimestamp));
            prop_assert_eq!(verify(SECRET, "1", &sig, b"", 1, 1), Err(VerifyError::BadSignature));
        }
    }
}
