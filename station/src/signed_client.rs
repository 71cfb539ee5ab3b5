//! Every request the station makes to the registry, signed with the station's key
//! ([`records::http_signature`]: method, path, body digest, time, nonce, and whether the clock is
//! trusted). The one place that holds a copy of the signing key outside the custody log.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use records::SigningKey;
use records::http_signature::{self, CLOCK_HEADER, PUBLIC_KEY_HEADER};
use reqwest::{Method, Response, Url};
use serde::Serialize;

use crate::keys::StationKey;

/// The longest any request waits unless the caller asks for less.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// An HTTP client for the registry that signs each request. Cheap to clone. `Debug` shows the
/// registry's address and the key's fingerprint only.
#[derive(Clone)]
pub struct SignedClient {
    http: reqwest::Client,
    base: String,
    key: Arc<SigningKey>,
}

impl fmt::Debug for SignedClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignedClient({}, key {})", self.base, self.fingerprint())
    }
}

impl SignedClient {
    /// A client for the registry at `registry_url` signing with `key`.
    pub fn new(registry_url: &str, key: &StationKey) -> Result<SignedClient, String> {
        let http = reqwest::Client::builder()
            .timeout(DEFAULT_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(SignedClient {
            http,
            base: registry_url.trim_end_matches('/').to_owned(),
            key: Arc::new(key.signing_key().clone()),
        })
    }

    /// A client signing with the key in `key_file` (for a part of the station that is not handed
    /// the key itself).
    pub fn from_key_file(registry_url: &str, key_file: &Path) -> Result<SignedClient, String> {
        let key = StationKey::load(key_file).map_err(|e| e.to_string())?;
        SignedClient::new(registry_url, &key)
    }

    /// The signing key's fingerprint, as the registry's admin approves it.
    pub fn fingerprint(&self) -> String {
        records::fingerprint(&self.key.verifying_key())
    }

    /// `GET path` (e.g. `/api/alerts`), signed.
    pub async fn get(&self, path: &str, timeout: Option<Duration>) -> Result<Response, String> {
        self.send(Method::GET, path, Vec::new(), timeout).await
    }

    /// `POST path` with `body` as JSON, signed.
    pub async fn post_json<T: Serialize>(&self, path: &str, body: &T) -> Result<Response, String> {
        let body =
            serde_json::to_vec(body).map_err(|e| format!("cannot encode the request: {e}"))?;
        self.send(Method::POST, path, body, None).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<Response, String> {
        let url: Url = format!("{}{path}", self.base)
            .parse()
            .map_err(|e| format!("bad registry address {}: {e}", self.base))?;
        let now = crate::clock::now();
        let signed = http_signature::sign_request(
            &self.key,
            method.as_str(),
            // What the registry sees, prefix and all, when the base URL has a path.
            url.path(),
            &body,
            now.unix_ms.div_euclid(1000),
            now.trusted,
            nonce()?,
        );
        let mut request = self
            .http
            .request(method.clone(), url)
            .header("content-digest", signed.content_digest)
            .header(CLOCK_HEADER, signed.clock)
            .header("signature-input", signed.signature_input)
            .header("signature", signed.signature)
            .header(PUBLIC_KEY_HEADER, signed.public_key);
        if method == Method::POST {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        if let Some(t) = timeout {
            request = request.timeout(t);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("registry unreachable: {e}"))?;
        // Every answer, a refusal too, carries the registry's clock: the one check of ours a
        // station has (see `crate::clock`).
        if let Some(reference) = response
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|d| d.to_str().ok())
            .and_then(crate::clock::parse_http_date)
        {
            crate::clock::compare_with_reference(reference);
        }
        Ok(response)
    }
}

/// 16 random bytes in hex: never repeated by this key, as far as randomness goes.
fn nonce() -> Result<String, String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| "no randomness for a request nonce".to_owned())?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_valid_and_differ_and_debug_hides_the_key() {
        let (a, b) = (nonce().unwrap(), nonce().unwrap());
        assert!(http_signature::nonce_is_valid(&a));
        assert_ne!(a, b);
        let key = StationKey::from_seed([5; 32]);
        let client = SignedClient::new("http://127.0.0.1:1/", &key).unwrap();
        let shown = format!("{client:?}");
        assert!(shown.contains(&key.fingerprint()), "{shown}");
        assert!(!shown.contains("signing"), "{shown}");
    }
}
