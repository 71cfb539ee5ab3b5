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
//!
//! A push is checked in the push's own trip to the blocking pool ([`Signed::push`]), and its
//! nonce is committed in the push's own transaction; until then the registry holds it as taken
//! ([`Registry::claim_nonce`]), so a replay is refused while the original is still in flight.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode};
use data_encoding::BASE64;
use records::api::PushResponse;
use records::http_signature::{
    self as sig, CLOCK_HEADER, CLOCK_TRUSTED, CLOCK_UNTRUSTED, PUBLIC_KEY_HEADER, RequestParts,
};
use records::{KeyId, SignedEvent, StationCode, VerifyingKey};

use crate::error::Error;
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
    // A push's signature, read but not yet checked against the register: that is done in the
    // push's own trip to the blocking pool, nonce and all (`Signed::push`).
    Deferred(Box<Presented>),
}

/// A request's signature as its headers present it, read and matched against the body, before
/// the register is asked about its key and nonce.
#[derive(Debug, Clone)]
struct Presented {
    method: String,
    path: String,
    claimed: Option<StationCode>,
    params: sig::SignatureParams,
    signature: [u8; 64],
    content_digest: String,
    clock: &'static str,
    offered_key: Option<String>,
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
            Auth::Verified(a) => Err(wrong_station(&state.registry, code, a)),
            Auth::Deferred(presented) => {
                let a = authenticate(state, (**presented).clone()).await?;
                if a.station == code {
                    Ok(a)
                } else {
                    Err(wrong_station(&state.registry, code, &a))
                }
            }
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
            // Only a push is deferred, and a push's handler calls `push` or `require`.
            Auth::Deferred(_) => Err(Failure::from(Error::Task(
                "a push's signature was asked for outside the push".into(),
            ))),
            Auth::Verified(a) => match code {
                Some(code) if code != a.station => Err(wrong_station(&self.registry, code, &a)),
                _ => Ok(Some(a)),
            },
        }
    }

    /// Stores a push that station `code` must have signed: the signature checked, the nonce
    /// taken and the push verified and stored in one trip to the blocking pool, the nonce
    /// committed with the events. Refusals are those of [`Signed::require`] and
    /// [`Registry::push`].
    pub async fn push(
        self,
        state: &AppState,
        code: StationCode,
        events: Vec<SignedEvent>,
    ) -> Result<PushResponse, Failure> {
        let presented = match self.auth {
            Auth::Deferred(presented) => presented,
            _ => {
                self.require(state, code).await?;
                return Ok(state.registry.push(code, events).await?);
            }
        };
        let _turn = state.registry.push_turn().await?;
        let registry = state.registry.clone();
        let (station, pushed) = tokio::task::spawn_blocking(move || {
            let a = check(&registry, &presented)?;
            let claim = claim_nonce(&registry, &presented, &a)?;
            if a.station != code {
                // Refused after its nonce was taken, as any request: a replay is one.
                claim.remember()?;
                return Ok((a.station, Err(wrong_station(&registry, code, &a))));
            }
            let pushed = registry.push_claimed(code, &events, claim);
            Ok::<_, Failure>((a.station, pushed.map_err(Failure::from)))
        })
        .await
        .map_err(|e| Failure::from(Error::Task(e.to_string())))??;
        crate::fleet::seen(state, station);
        pushed
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
        let auth = if !signed {
            Auth::Unsigned
        } else {
            match present(&state.registry, method, path, &headers, &body) {
                Err(f) => Auth::Refused(f),
                Ok(p) if is_push(&p.method, &p.path) => Auth::Deferred(Box::new(p)),
                Ok(p) => match authenticate(state, p).await {
                    Ok(a) => Auth::Verified(a),
                    Err(f) => Auth::Refused(f),
                },
            }
        };
        Ok(Signed {
            body,
            auth,
            registry: state.registry.clone(),
        })
    }
}

/// Whether this is a push (`POST /api/stations/{code}/events`), whose checks wait for the push.
fn is_push(method: &str, path: &str) -> bool {
    method == "POST"
        && path
            .strip_prefix("/api/stations/")
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(_, route)| route == "events")
}

fn wrong_station(registry: &Registry, code: StationCode, a: &Authenticated) -> Failure {
    refuse(
        registry,
        "wrong_station",
        Some(code),
        Some(a.key_id),
        format!(
            "Klucz stacji {} nie może mówić za stację {code} / Station {}'s key cannot speak for station {code}",
            a.station, a.station
        ),
    )
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

/// Reads a request's signature and matches its digest against the body: everything that needs
/// no register.
fn present(
    registry: &Registry,
    method: String,
    path: String,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Presented, Failure> {
    let claimed = claimed_station(&path);
    let malformed = |what: String| {
        refuse(
            registry,
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
        refuse(registry, error, claimed, Some(key_id), message)
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
        Some(CLOCK_TRUSTED) => CLOCK_TRUSTED,
        Some(CLOCK_UNTRUSTED) => CLOCK_UNTRUSTED,
        _ => {
            return Err(malformed(format!(
                "{CLOCK_HEADER} must be trusted or untrusted"
            )));
        }
    };
    Ok(Presented {
        method,
        path,
        claimed,
        params,
        signature,
        content_digest: digest_header.to_owned(),
        clock,
        offered_key: header(headers, PUBLIC_KEY_HEADER).map(str::to_owned),
    })
}

/// Checks a non-push request against the register and takes its nonce, in one trip to the
/// blocking pool.
async fn authenticate(state: &AppState, presented: Presented) -> Result<Authenticated, Failure> {
    let registry = state.registry.clone();
    let a = tokio::task::spawn_blocking(move || {
        let a = check(&registry, &presented)?;
        if !claim_nonce(&registry, &presented, &a)?.remember()? {
            return Err(replayed(&registry, &presented));
        }
        Ok(a)
    })
    .await
    .map_err(|e| Failure::from(Error::Task(e.to_string())))??;
    crate::fleet::seen(state, a.station);
    Ok(a)
}

/// Takes the request's nonce ([`Registry::claim_nonce`]); a replay is refused. Blocking.
fn claim_nonce(
    registry: &Registry,
    presented: &Presented,
    a: &Authenticated,
) -> Result<crate::registry::NonceClaim, Failure> {
    registry
        .claim_nonce(a.key_id, &presented.params.nonce, NONCE_KEEP_MS)?
        .ok_or_else(|| replayed(registry, presented))
}

fn replayed(registry: &Registry, presented: &Presented) -> Failure {
    refuse(
        registry,
        "replayed",
        presented.claimed,
        Some(presented.params.key_id),
        "To żądanie już przyszło (powtórzony nonce) / This request was seen before (nonce replayed)"
            .into(),
    )
}

/// Checks a presented signature against the register: a known key, approved, that signed this
/// request, at a time within [`ALLOWED_SKEW_SECS`] when the clock is trusted. The nonce is
/// not looked at here. Blocking.
fn check(registry: &Registry, p: &Presented) -> Result<Authenticated, Failure> {
    let key_id = p.params.key_id;
    let refused = |error: &'static str, message: String| {
        refuse(registry, error, p.claimed, Some(key_id), message)
    };
    let parts = RequestParts {
        method: &p.method,
        path: &p.path,
        content_digest: &p.content_digest,
        clock: p.clock,
    };

    let known = registry.station_key_now(key_id)?;
    let (station, key, key_state) = match known {
        Some(k) => (k.station, k.key, Some(k.state)),
        None => {
            // A key never seen: its request carries the whole key, so that, once the signature
            // proves the sender holds it, it can wait for an admin's approval.
            let offered = p
                .offered_key
                .as_deref()
                .and_then(|b| BASE64.decode(b.as_bytes()).ok())
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .and_then(|b| VerifyingKey::from_bytes(&b).ok())
                .filter(|k| KeyId::of(k) == key_id);
            match (offered, p.claimed) {
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
    if !sig::verify_request(&key, &parts, &p.params, &p.signature) {
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
            if !registry.note_key_now(station, key)? {
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
    let trusted = p.clock == CLOCK_TRUSTED;
    if trusted {
        let skew = p.params.created.saturating_sub(now_secs());
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

    /// Only a push defers its checks to the push; every other signed route is checked (and its
    /// nonce taken) before its handler runs.
    #[test]
    fn only_a_push_waits_for_the_push_to_be_checked() {
        assert!(is_push("POST", "/api/stations/GW7K/events"));
        assert!(!is_push("GET", "/api/stations/GW7K/events"));
        assert!(!is_push("POST", "/api/stations/GW7K/keys"));
        assert!(!is_push("POST", "/api/stations/GW7K/report"));
        assert!(!is_push("POST", "/api/stations/GW7K/events/x"));
        assert!(!is_push("POST", "/api/intakes/GW7K-0001"));
    }
}
