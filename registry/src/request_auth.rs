//! Who sent a request: the station signatures of [`records::http_signature`] checked, as the
//! [`Signed`] extractor, before any handler acts on what a station says.
//!
//! Refused, with 401 and a log line naming the reason and the claimed key and station (never the
//! signature): a missing or malformed signature, a body that is not the one signed (digest), a
//! signature that does not verify (another method or path, a wrong key), a key the registry does
//! not know, one pending approval (recorded so an admin can approve it), a revoked or retired key,
//! a key speaking for another station, a `created` time outside [`ALLOWED_SKEW_SECS`] when the
//! station says its clock is trusted, and a nonce seen before (nonces are kept
//! [`NONCE_KEEP_MS`] in the register, so a restart does not forget them). A station that cannot
//! vouch for its clock is not judged by `created`: its nonces still refuse replays within the
//! kept window, and seq and chain keep its events in order whatever the time says.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode};
use data_encoding::BASE64;
use records::http_signature::{
    self as sig, CLOCK_HEADER, CLOCK_TRUSTED, CLOCK_UNTRUSTED, PUBLIC_KEY_HEADER, RequestParts,
};
use records::{KeyId, StationCode, VerifyingKey};

use crate::http::{AppState, Failure};
use crate::registry::Registry;
use crate::store::KeyState;

/// How far a trusted station clock may be from the registry's (either way).
pub const ALLOWED_SKEW_SECS: i64 = 300;
/// How long a seen nonce is remembered; well beyond [`ALLOWED_SKEW_SECS`] either way.
pub const NONCE_KEEP_MS: i64 = 24 * 3600 * 1000;

/// A request whose signature verified, by an approved key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticated {
    /// The station the key belongs to.
    pub station: StationCode,
    /// The key.
    pub key_id: KeyId,
    /// Whether the station vouched for its clock.
    pub clock_trusted: bool,
}

#[derive(Debug)]
enum Auth {
    Unsigned,
    Verified(Authenticated),
    Refused(Failure),
}

/// A request's body with what its signature says. Reading it honours the route's body limit.
#[derive(Debug)]
pub struct Signed {
    /// The body, as received (and, when signed, as verified).
    pub body: Bytes,
    auth: Auth,
    // Counts the refusals found only when a handler asks (`wrong_station`).
    registry: Registry,
}

impl Signed {
    /// The station `code` must have signed this request; an unsigned request for a station that
    /// is not enrolled is refused as unknown, as before signatures existed.
    pub async fn require(
        &self,
        state: &AppState,
        code: StationCode,
    ) -> Result<Authenticated, Failure> {
        match &self.auth {
            Auth::Verified(a) if a.station == code => Ok(*a),
            Auth::Verified(a) => Err(refuse(
                &state.registry,
                "wrong_station",
                Some(code),
                Some(a.key_id),
                format!(
                    "Klucz stacji {} nie może mówić za stację {code} / Station {}'s key cannot speak for station {code}",
                    a.station, a.station
                ),
            )),
            Auth::Refused(f) => Err(f.clone()),
            Auth::Unsigned => {
                if state
                    .registry
                    .station_known(code)
                    .await
                    .map_err(Failure::from)?
                {
                    Err(refuse(
                        &state.registry,
                        "unsigned",
                        Some(code),
                        None,
                        "Żądanie bez podpisu stacji / The request carries no station signature"
                            .into(),
                    ))
                } else {
                    state.registry.metrics().request_refused("unknown_station");
                    Err(Failure::unknown_station(code.as_str()))
                }
            }
        }
    }

    /// A signature is not required yet (these reads are open until clerks sign in), but one that
    /// is there must be right, and must be `code`'s when given.
    pub fn optional(self, code: Option<StationCode>) -> Result<Option<Authenticated>, Failure> {
        match self.auth {
            Auth::Unsigned => Ok(None),
            Auth::Refused(f) => Err(f),
            Auth::Verified(a) => match code {
                Some(code) if code != a.station => Err(refuse(
                    &self.registry,
                    "wrong_station",
                    Some(code),
                    Some(a.key_id),
                    format!(
                        "Klucz stacji {} nie może mówić za stację {code} / Station {}'s key cannot speak for station {code}",
                        a.station, a.station
                    ),
                )),
                _ => Ok(Some(a)),
            },
        }
    }
}

impl FromRequest<AppState> for Signed {
    type Rejection = Failure;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Failure> {
        let method = req.method().as_str().to_owned();
        let path = req.uri().path().to_owned();
        let headers = req.headers().clone();
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|r| Failure::new(r.status(), "bad_request", r.body_text()))?;
        let signed = headers.contains_key("signature-input") || headers.contains_key("signature");
        let auth = if signed {
            match verify(state, &method, &path, &headers, &body).await {
                Ok(a) => {
                    crate::fleet::seen(state, a.station);
                    Auth::Verified(a)
                }
                Err(f) => Auth::Refused(f),
            }
        } else {
            Auth::Unsigned
        };
        Ok(Signed {
            body,
            auth,
            registry: state.registry.clone(),
        })
    }
}

/// The station a path speaks for: `/api/stations/{code}/…`.
fn claimed_station(path: &str) -> Option<StationCode> {
    path.strip_prefix("/api/stations/")?
        .split('/')
        .next()?
        .parse()
        .ok()
}

fn refuse(
    registry: &Registry,
    error: &'static str,
    station: Option<StationCode>,
    key_id: Option<KeyId>,
    message: String,
) -> Failure {
    tracing::warn!(
        reason = error,
        station = station.as_ref().map(StationCode::as_str).unwrap_or("-"),
        keyid = %key_id.map(|k| k.to_string()).unwrap_or_else(|| "-".into()),
        "signed request refused"
    );
    registry.metrics().request_refused(error);
    Failure::new(StatusCode::UNAUTHORIZED, error, message)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn now_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}

async fn verify(
    state: &AppState,
    method: &str,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Authenticated, Failure> {
    let claimed = claimed_station(path);
    let malformed = |what: String| {
        refuse(
            &state.registry,
            "bad_signature",
            claimed,
            None,
            format!("Nieczytelny podpis żądania / Unreadable request signature: {what}"),
        )
    };
    let (Some(input), Some(signature)) = (
        header(headers, "signature-input"),
        header(headers, "signature"),
    ) else {
        return Err(malformed(
            "Signature-Input and Signature go together".into(),
        ));
    };
    let params = sig::parse_signature_input(input).map_err(|e| malformed(e.to_string()))?;
    let signature = sig::parse_signature(signature).map_err(|e| malformed(e.to_string()))?;
    let key_id = params.key_id;
    let refused = |error: &'static str, message: String| {
        refuse(&state.registry, error, claimed, Some(key_id), message)
    };

    let Some(digest_header) = header(headers, "content-digest") else {
        return Err(refused(
            "digest_mismatch",
            "Brak Content-Digest / No Content-Digest".into(),
        ));
    };
    let digest = sig::parse_content_digest(digest_header).map_err(|e| malformed(e.to_string()))?;
    if !sig::digest_matches(&digest, body) {
        return Err(refused(
            "digest_mismatch",
            "Treść żądania nie jest tą, którą podpisano / The body is not the one signed".into(),
        ));
    }
    let clock = match header(headers, CLOCK_HEADER) {
        Some(c @ (CLOCK_TRUSTED | CLOCK_UNTRUSTED)) => c,
        _ => {
            return Err(malformed(format!(
                "{CLOCK_HEADER} must be trusted or untrusted"
            )));
        }
    };
    let parts = RequestParts {
        method,
        path,
        content_digest: digest_header,
        clock,
    };

    let known = state
        .registry
        .station_key(key_id)
        .await
        .map_err(Failure::from)?;
    let (station, key, key_state) = match known {
        Some(k) => (k.station, k.key, Some(k.state)),
        None => {
            // A key never seen: its request carries the whole key, so that, once the signature
            // proves the sender holds it, it can wait for an admin's approval.
            let offered = header(headers, PUBLIC_KEY_HEADER)
                .and_then(|b| BASE64.decode(b.as_bytes()).ok())
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .and_then(|b| VerifyingKey::from_bytes(&b).ok())
                .filter(|k| KeyId::of(k) == key_id);
            match (offered, claimed) {
                (Some(k), Some(code)) => (code, k, None),
                _ => {
                    return Err(refused(
                        "unknown_key",
                        format!(
                            "Rejestr nie zna klucza {key_id} / The registry does not know key {key_id}"
                        ),
                    ));
                }
            }
        }
    };
    if !sig::verify_request(&key, &parts, &params, &signature) {
        return Err(refused(
            "bad_signature",
            "Podpis żądania nie zgadza się z kluczem, metodą, ścieżką lub treścią / \
             The request signature does not match the key, method, path or body"
                .into(),
        ));
    }
    let fingerprint = records::fingerprint(&key);
    match key_state {
        Some(KeyState::Approved) => {}
        None | Some(KeyState::Pending) => {
            if !state
                .registry
                .note_key(station, key)
                .await
                .map_err(Failure::from)?
            {
                tracing::warn!("too many station keys pending approval; this one is not recorded");
            }
            return Err(refused(
                "not_approved",
                format!(
                    "Klucz stacji {station} (odcisk {fingerprint}) czeka na zatwierdzenie w rejestrze: \
                     urna registry approve --fingerprint {fingerprint} / Station {station}'s key \
                     (fingerprint {fingerprint}) awaits approval at the registry: \
                     urna registry approve --fingerprint {fingerprint}"
                ),
            ));
        }
        Some(KeyState::Revoked) => {
            return Err(refused(
                "revoked",
                format!(
                    "Klucz stacji {station} (odcisk {fingerprint}) został unieważniony / \
                     Station {station}'s key (fingerprint {fingerprint}) was revoked"
                ),
            ));
        }
        Some(KeyState::Retired) => {
            return Err(refused(
                "key_replaced",
                format!(
                    "Klucz {fingerprint} stacji {station} zastąpiono nowym / \
                     Station {station}'s key {fingerprint} was replaced by a rotation"
                ),
            ));
        }
    }
    let trusted = clock == CLOCK_TRUSTED;
    if trusted {
        let skew = params.created.saturating_sub(now_secs());
        if skew.abs() > ALLOWED_SKEW_SECS {
            return Err(refused(
                "stale",
                format!(
                    "Czas podpisu różni się od zegara rejestru o {skew} s (dozwolone {ALLOWED_SKEW_SECS} s) / \
                     The signature's time is {skew} s off the registry's clock (at most {ALLOWED_SKEW_SECS} s allowed)"
                ),
            ));
        }
    }
    if !state
        .registry
        .remember_nonce(key_id, params.nonce.clone(), NONCE_KEEP_MS)
        .await
        .map_err(Failure::from)?
    {
        return Err(refused(
            "replayed",
            "To żądanie już przyszło (powtórzony nonce) / This request was seen before (nonce replayed)".into(),
        ));
    }
    Ok(Authenticated {
        station,
        key_id,
        clock_trusted: trusted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claimed_station_comes_from_station_paths_only() {
        assert_eq!(
            claimed_station("/api/stations/GW7K/events").map(|c| c.to_string()),
            Some("GW7K".into())
        );
        assert_eq!(claimed_station("/api/intakes/GW7K-0001"), None);
        assert_eq!(claimed_station("/api/stations/not a code/events"), None);
    }
}
