//! The resident status checks' rate limit (`POST /status`, `POST /api/receipts/verify`): a
//! receipt's signature already makes guessing one hopeless, and the limit keeps anyone from
//! trying at scale all the same, or from spending the registry's CPU on signature checks.
//!
//! Each client gets a small burst and then a steady trickle (GCRA, through `governor`), and all
//! clients together get a ceiling, so that many addresses cannot add up to a flood. A client is
//! its IP address; an IPv6 client is its /64, since one home gets a whole /64 to rotate through.
//! Behind the office's TLS proxy on the same machine (the peer is loopback), the client is the
//! last address of `X-Forwarded-For`, the one the proxy added: earlier entries come from the
//! client itself and prove nothing.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::http::{AppState, Failure};

/// Checks one client may make in a row.
const CLIENT_BURST: u32 = 10;
/// Then one check every this many seconds (10 a minute).
const CLIENT_EVERY_SECS: u64 = 6;
/// All clients together, per second, with a burst of twice as many.
const EVERYONE_PER_SEC: u32 = 50;
/// Clients remembered before the ones whose allowance has refilled are forgotten.
const REMEMBERED_CLIENTS: usize = 10_000;

/// The limits, shared by the status routes.
#[derive(Debug)]
pub struct StatusLimiter {
    per_client: DefaultKeyedRateLimiter<IpAddr>,
    everyone: DefaultDirectRateLimiter,
    clock: DefaultClock,
}

impl Default for StatusLimiter {
    fn default() -> Self {
        StatusLimiter::new(
            CLIENT_BURST,
            Duration::from_secs(CLIENT_EVERY_SECS),
            EVERYONE_PER_SEC,
        )
    }
}

impl StatusLimiter {
    /// `burst` checks per client, then one every `every`; `everyone_per_sec` in all (burst: twice
    /// that). Zeros count as one.
    pub fn new(burst: u32, every: Duration, everyone_per_sec: u32) -> StatusLimiter {
        let one = NonZeroU32::MIN;
        let per_client = Quota::with_period(every.max(Duration::from_millis(1)))
            .unwrap_or_else(|| Quota::per_second(one))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(one));
        let everyone_per_sec = NonZeroU32::new(everyone_per_sec).unwrap_or(one);
        let everyone = Quota::per_second(everyone_per_sec)
            .allow_burst(everyone_per_sec.saturating_mul(NonZeroU32::new(2).unwrap_or(one)));
        StatusLimiter {
            per_client: RateLimiter::keyed(per_client),
            everyone: RateLimiter::direct(everyone),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one check for `client`; `Err` holds how long until it may try again.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        if self.per_client.len() > REMEMBERED_CLIENTS {
            self.per_client.retain_recent();
        }
        let now = self.clock.now();
        self.per_client
            .check_key(&client)
            .map_err(|not_until| not_until.wait_time_from(now))?;
        self.everyone
            .check()
            .map_err(|not_until| not_until.wait_time_from(now))
    }
}

/// Who a request counts against: see the module's page.
pub fn client_of(peer: Option<SocketAddr>, headers: &HeaderMap) -> IpAddr {
    let Some(peer) = peer else {
        // No socket (a test calling the router directly): one shared client.
        return IpAddr::from([0, 0, 0, 0]);
    };
    let ip = if peer.ip().is_loopback() {
        forwarded_for(headers).unwrap_or(peer.ip())
    } else {
        peer.ip()
    };
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(Ipv6Addr::from(segments))
            }
        },
        v4 => v4,
    }
}

/// The last address of `X-Forwarded-For`: the one a proxy in front added (believe it only when
/// the peer is that proxy, on loopback).
pub fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()
        .and_then(|last| last.trim().parse::<IpAddr>().ok())
}

/// An allowance taken for a status check; the request is refused with 429 when there is none.
pub(crate) struct StatusQuota;

impl FromRequestParts<AppState> for StatusQuota {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let client = client_of(peer, &parts.headers);
        match state.status_limiter.check(client) {
            Ok(()) => Ok(StatusQuota),
            Err(wait) => {
                tracing::debug!(%client, "status check refused: rate limit");
                state.registry.metrics().rate_limited();
                Err(too_many(parts.uri.path() == "/status", wait))
            }
        }
    }
}

fn too_many(page: bool, wait: Duration) -> Response {
    let secs = wait.as_secs().max(1);
    let mut response = if page {
        (
            StatusCode::TOO_MANY_REQUESTS,
            Html(crate::pages::status_page(
                None,
                None,
                Some(&format!(
                    "Zbyt wiele sprawdzeń z tego adresu; spróbuj ponownie za {secs} s / Too many checks from this address; try again in {secs} s"
                )),
            )),
        )
            .into_response()
    } else {
        Failure::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many receipt checks from this address; try again in {secs} s"),
        )
        .into_response()
    };
    if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn headers(forwarded: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for f in forwarded {
            h.append("x-forwarded-for", HeaderValue::from_str(f).unwrap());
        }
        h
    }

    #[test]
    fn a_client_gets_its_burst_then_waits_and_others_are_not_held_up() {
        let limiter = StatusLimiter::new(3, Duration::from_secs(60), 1_000);
        let one: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(limiter.check(one), Ok(()));
        }
        let wait = limiter.check(one).unwrap_err();
        assert!(wait > Duration::from_secs(50), "{wait:?}");
        assert_eq!(limiter.check(other), Ok(()));
    }

    #[test]
    fn everyone_together_has_a_ceiling() {
        let limiter = StatusLimiter::new(100, Duration::from_millis(1), 5);
        let refused = (0..100u8)
            .filter(|n| limiter.check(IpAddr::from([198, 51, 100, *n])).is_err())
            .count();
        // A burst of twice the rate passes; the rest is refused.
        assert!((85..=90).contains(&refused), "{refused}");
    }

    #[test]
    fn only_a_local_proxy_is_believed_and_only_its_own_entry() {
        let direct: SocketAddr = "203.0.113.7:50000".parse().unwrap();
        let proxy: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let spoofed = headers(&["10.0.0.1"]);
        assert_eq!(client_of(Some(direct), &spoofed), direct.ip());
        let chain = headers(&["10.0.0.1, 198.51.100.9", "203.0.113.50"]);
        assert_eq!(
            client_of(Some(proxy), &chain),
            "203.0.113.50".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_of(Some(proxy), &headers(&[])), proxy.ip());
        assert_eq!(
            client_of(Some(proxy), &headers(&["not an address"])),
            proxy.ip()
        );
    }

    #[test]
    fn an_ipv6_home_counts_as_one_client() {
        let a: SocketAddr = "[2001:db8:1:2:aaaa::1]:1".parse().unwrap();
        let b: SocketAddr = "[2001:db8:1:2:bbbb::9]:1".parse().unwrap();
        let c: SocketAddr = "[2001:db8:1:3::1]:1".parse().unwrap();
        let none = HeaderMap::new();
        assert_eq!(client_of(Some(a), &none), client_of(Some(b), &none));
        assert_ne!(client_of(Some(a), &none), client_of(Some(c), &none));
    }

    proptest! {
        #[test]
        fn any_forwarded_header_gives_an_address_without_panic(values in proptest::collection::vec("[ -~]{0,80}", 0..4)) {
            let mut h = HeaderMap::new();
            for v in &values {
                if let Ok(value) = HeaderValue::from_str(v) {
                    h.append("x-forwarded-for", value);
                }
            }
            let proxy: SocketAddr = "127.0.0.1:1".parse().unwrap();
            let _ = client_of(Some(proxy), &h);
        }
    }
}
