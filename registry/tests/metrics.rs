//! `/metrics` on a registry served on loopback: what real signed pushes and refused requests do
//! to the counters, what the labels may carry, and who may read it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;

use axum::extract::connect_info::MockConnectInfo;
use common::{Server, Sim, fresh_nonce, now_secs, signed};
use records::api::PushRequest;
use registry::{AppState, RegistryConfig};
use tower::ServiceExt;

/// The metrics as an admin's Prometheus on the same machine reads them.
async fn scrape(server: &Server) -> String {
    let resp = reqwest::get(format!("{}/metrics", server.url))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let kind = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    let text = resp.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    text
}

/// The value of the sample `series` (name with its labels, as written), 0 when absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

#[tokio::test]
async fn pushes_and_refusals_are_counted_and_no_label_names_a_letter() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna — wejście główne").await;

    let before = scrape(&server).await;
    let accepted = r#"urna_registry_events_total{outcome="accepted"}"#;
    let duplicate = r#"urna_registry_events_total{outcome="duplicate"}"#;
    assert_eq!(value(&before, accepted), 0.0);

    let (id, deposit, _) = urn.deposit("podatki", Some("GKM.6220.12.2020"));
    let events = vec![deposit, urn.door()];
    let (status, body) = server.push("GW7K", &events).await;
    assert_eq!(status, 200, "{body}");
    // Sent again, as a station does after a lost answer: held already, not stored twice.
    let (status, _) = server.push("GW7K", &events).await;
    assert_eq!(status, 200);

    // One signed request, then the same bytes again: the nonce gives the replay away.
    let path = "/api/stations/GW7K/events";
    let body = serde_json::to_vec(&PushRequest {
        events: vec![urn.door()],
    })
    .unwrap();
    let nonce = fresh_nonce();
    for expected in [200, 401] {
        let request = reqwest::Client::new()
            .post(format!("{}{path}", server.url))
            .header("content-type", "application/json");
        let resp = signed(
            request,
            &urn.key,
            "POST",
            path,
            &body,
            now_secs(),
            true,
            Some(&nonce),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
        assert_eq!(resp.status().as_u16(), expected);
    }
    // A gap: the station skipped an event.
    urn.door();
    let (status, body) = server.push("GW7K", &[urn.door()]).await;
    assert_eq!((status, body["error"].as_str()), (422, Some("chain")));

    // Clerk reads by id and reference, to see that their routes are counted by template.
    let (status, _) = server.get_json(&format!("/api/intakes/{id}")).await;
    assert_eq!(status, 200);
    let (status, _) = server
        .get_json("/api/intakes?reference=GKM.6220.12.2020")
        .await;
    assert_eq!(status, 200);
    let (status, _) = server.get_text("/no/such/page").await;
    assert_eq!(status, 404);

    let after = scrape(&server).await;
    assert_eq!(value(&after, accepted), 3.0, "{after}");
    assert_eq!(value(&after, duplicate), 2.0, "{after}");
    assert_eq!(
        value(
            &after,
            r#"urna_registry_signed_requests_refused_total{reason="replayed"}"#
        ),
        1.0,
        "{after}"
    );
    assert_eq!(
        value(
            &after,
            r#"urna_registry_pushes_refused_total{reason="gap"}"#
        ),
        1.0,
        "{after}"
    );
    assert_eq!(
        value(
            &after,
            r#"urna_registry_http_requests_total{route="/api/stations/{code}/events",method="POST",status="2xx"}"#
        ),
        3.0,
        "{after}"
    );
    assert_eq!(
        value(
            &after,
            r#"urna_registry_http_requests_total{route="/api/intakes/{id}",method="GET",status="2xx"}"#
        ),
        1.0,
        "{after}"
    );
    assert_eq!(
        value(
            &after,
            r#"urna_registry_http_requests_total{route="unmatched",method="GET",status="4xx"}"#
        ),
        1.0,
        "{after}"
    );
    assert!(
        after.contains(
            r#"urna_registry_http_request_duration_seconds_count{route="/api/intakes/{id}"} 1"#
        ),
        "{after}"
    );
    // The station's health, as the fleet page has it.
    assert_eq!(
        value(
            &after,
            r#"urna_registry_station_acknowledged_seq{station="GW7K"}"#
        ),
        3.0,
        "{after}"
    );
    assert_eq!(
        value(&after, r#"urna_registry_stations{key_state="approved"}"#),
        1.0
    );
    assert!(
        after.contains(r#"urna_registry_station_last_seen_age_seconds{station="GW7K"}"#),
        "{after}"
    );
    assert!(
        after.contains("urna_registry_deliveries_pending 0"),
        "{after}"
    );
    // No intake id, reference, station name or path asked for appears anywhere.
    for private in [
        id.to_string().as_str(),
        "GKM.6220",
        "wejście",
        "/no/such/page",
        "reference=",
    ] {
        assert!(!after.contains(private), "{private} in {after}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_status_check_over_the_limit_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let client = reqwest::Client::new();
    let mut limited = 0;
    // One client's burst is 10; the 11th within a minute is refused.
    for _ in 0..12 {
        let resp = client
            .post(format!("{}/api/receipts/verify", server.url))
            .header("x-forwarded-for", "198.51.100.77")
            .body("URNA1:not a receipt")
            .send()
            .await
            .unwrap();
        limited += usize::from(resp.status().as_u16() == 429);
    }
    assert_eq!(limited, 2);
    let text = scrape(&server).await;
    assert_eq!(
        value(&text, "urna_registry_status_checks_rate_limited_total"),
        2.0,
        "{text}"
    );
    server.stop().await;
}

/// The router as `serve` runs it, asked by a peer at `peer`.
async fn status_for(config: RegistryConfig, dir: &std::path::Path, peer: &str) -> u16 {
    let registry = registry::Registry::open(&dir.join("registry.sqlite"), config).unwrap();
    let app = registry::app(AppState::new(registry))
        .layer(MockConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    let request = axum::http::Request::get("/metrics")
        // A remote client's own claim to be local proves nothing.
        .header("x-forwarded-for", "127.0.0.1")
        .body(axum::body::Body::empty())
        .unwrap();
    app.oneshot(request).await.unwrap().status().as_u16()
}

#[tokio::test]
async fn only_loopback_and_the_listed_monitoring_host_may_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = RegistryConfig::demo();
    assert_eq!(
        status_for(config.clone(), dir.path(), "192.0.2.10:40000").await,
        403
    );
    config.metrics.allow = vec!["192.0.2.10".parse().unwrap()];
    assert_eq!(
        status_for(config.clone(), dir.path(), "192.0.2.10:40000").await,
        200
    );
    assert_eq!(
        status_for(config.clone(), dir.path(), "192.0.2.11:40000").await,
        403
    );

    // Over loopback, through the office's proxy: the address the proxy added decides.
    let server = Server::start(dir.path()).await;
    let resp = reqwest::Client::new()
        .get(format!("{}/metrics", server.url))
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    scrape(&server).await;
    server.stop().await;
}
