//! Enrolment, approval, revocation and signed requests over real HTTP on loopback: every kind of
//! bad request is refused with 401 and stores nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Server, Sim, fresh_nonce, now_secs, signed};
use records::SigningKey;
use records::api::PushRequest;
use registry::KeyState;

/// Sends `events` to `path` signed by `key`, with what `tweak` changes after signing.
#[allow(clippy::too_many_arguments)]
async fn send(
    server: &Server,
    key: &SigningKey,
    path: &str,
    events: &[records::SignedEvent],
    created: i64,
    clock_trusted: bool,
    nonce: &str,
    tweak: impl FnOnce(String, Vec<u8>) -> (String, Vec<u8>),
) -> (u16, serde_json::Value) {
    let body = serde_json::to_vec(&PushRequest {
        events: events.to_vec(),
    })
    .unwrap();
    let request = reqwest::Client::new().post("http://unused");
    let request = signed(
        request,
        key,
        "POST",
        path,
        &body,
        created,
        clock_trusted,
        Some(nonce),
    );
    let (sent_path, sent_body) = tweak(path.to_owned(), body);
    let mut request = request.build().unwrap();
    *request.url_mut() = format!("{}{sent_path}", server.url).parse().unwrap();
    *request.body_mut() = Some(sent_body.into());
    request
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    let resp = reqwest::Client::new().execute(request).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

fn keep(path: String, body: Vec<u8>) -> (String, Vec<u8>) {
    (path, body)
}

#[tokio::test]
async fn a_new_station_waits_for_approval_then_revocation_shuts_it_out() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    let events: Vec<_> = (0..3).map(|_| urn.door()).collect();
    let path = "/api/stations/GW7K/events";
    let fingerprint = records::fingerprint(&urn.key.verifying_key());

    // Never enrolled: refused, and recorded as pending with its fingerprint.
    let (status, body) = send(
        &server,
        &urn.key,
        path,
        &events,
        now_secs(),
        true,
        &fresh_nonce(),
        keep,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("not_approved")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains(&fingerprint),
        "{body}"
    );
    let pending = server.registry.pending_keys().await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].station.as_str(), "GW7K");
    assert_eq!(pending[0].fingerprint(), fingerprint);
    let first_seen = pending[0].first_seen_ms;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (status, _) = send(
        &server,
        &urn.key,
        path,
        &events,
        now_secs(),
        true,
        &fresh_nonce(),
        keep,
    )
    .await;
    assert_eq!(status, 401);
    let pending = server.registry.pending_keys().await.unwrap();
    assert_eq!(pending.len(), 1, "the same key is one pending entry");
    assert_eq!(pending[0].first_seen_ms, first_seen);
    assert!(pending[0].last_seen_ms > first_seen);
    assert_eq!(server.count("events"), 0);

    // A typo'd or unknown fingerprint approves nothing.
    assert!(
        server
            .registry
            .approve("0000-0000-0000-0000-0000-0000-0000-0000", None)
            .await
            .is_err()
    );
    assert!(
        server
            .registry
            .approve("not a fingerprint", None)
            .await
            .is_err()
    );

    // Approved as typed, upper case and without dashes: the backlog goes in.
    let typed = fingerprint.replace('-', "").to_uppercase();
    let approved = server
        .registry
        .approve(&typed, Some("Urna — wejście"))
        .await
        .unwrap();
    assert_eq!(approved.state, KeyState::Approved);
    let (status, body) = send(
        &server,
        &urn.key,
        path,
        &events,
        now_secs(),
        true,
        &fresh_nonce(),
        keep,
    )
    .await;
    assert_eq!(
        (status, body["acknowledged"].as_u64()),
        (200, Some(3)),
        "{body}"
    );
    assert_eq!(
        server.registry.stations().await.unwrap()[0].name,
        "Urna — wejście"
    );
    assert!(server.registry.pending_keys().await.unwrap().is_empty());

    // Revoked: refused from now on, and it stays revoked.
    assert_eq!(server.registry.revoke(urn.code).await.unwrap(), 1);
    let more = vec![urn.door()];
    let (status, body) = send(
        &server,
        &urn.key,
        path,
        &more,
        now_secs(),
        true,
        &fresh_nonce(),
        keep,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("revoked")),
        "{body}"
    );
    assert!(server.registry.approve(&fingerprint, None).await.is_err());
    assert_eq!(server.count("events"), 3);
    // The library refuses it too, whatever the HTTP layer does.
    assert!(server.registry.push(urn.code, more).await.is_err());
    server.stop().await;
}

#[tokio::test]
async fn every_kind_of_bad_request_is_refused_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna").await;
    let other = Sim::new("GW2K", 2);
    server.enrol(&other, "Druga urna").await;
    let events: Vec<_> = (0..2).map(|_| urn.door()).collect();
    let path = "/api/stations/GW7K/events";
    let now = now_secs();

    let refused = |(status, body): (u16, serde_json::Value), error: &str| {
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some(error)),
            "{body}"
        );
    };

    // Unsigned.
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", server.url))
        .json(&PushRequest {
            events: events.clone(),
        })
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    refused((status, resp.json().await.unwrap()), "unsigned");

    // A wrong key: another station's approved key, and a key never seen claiming to be GW7K's
    // (which is recorded as pending, never taken).
    refused(
        send(
            &server,
            &other.key,
            path,
            &events,
            now,
            true,
            &fresh_nonce(),
            keep,
        )
        .await,
        "wrong_station",
    );
    let stranger = SigningKey::from_bytes(&[9; 32]);
    refused(
        send(
            &server,
            &stranger,
            path,
            &events,
            now,
            true,
            &fresh_nonce(),
            keep,
        )
        .await,
        "not_approved",
    );

    // Edited body, edited path.
    refused(
        send(
            &server,
            &urn.key,
            path,
            &events,
            now,
            true,
            &fresh_nonce(),
            |p, mut b| {
                b.insert(1, b' ');
                (p, b)
            },
        )
        .await,
        "digest_mismatch",
    );
    refused(
        send(
            &server,
            &other.key,
            "/api/stations/GW2K/events",
            &events,
            now,
            true,
            &fresh_nonce(),
            |_, b| ("/api/stations/GW7K/events".into(), b),
        )
        .await,
        "bad_signature",
    );

    // Stale time with a trusted clock, either way; the same time is fine when the station says
    // its clock is untrusted.
    refused(
        send(
            &server,
            &urn.key,
            path,
            &events,
            now - 3600,
            true,
            &fresh_nonce(),
            keep,
        )
        .await,
        "stale",
    );
    refused(
        send(
            &server,
            &urn.key,
            path,
            &events,
            now + 3600,
            true,
            &fresh_nonce(),
            keep,
        )
        .await,
        "stale",
    );
    assert_eq!(server.count("events"), 0);
    let untrusted_nonce = fresh_nonce();
    let (status, body) = send(
        &server,
        &urn.key,
        path,
        &events[..1],
        0,
        false,
        &untrusted_nonce,
        keep,
    )
    .await;
    assert_eq!(
        (status, body["acknowledged"].as_u64()),
        (200, Some(1)),
        "{body}"
    );

    // Replayed nonce, trusted or not.
    refused(
        send(
            &server,
            &urn.key,
            path,
            &events[..1],
            0,
            false,
            &untrusted_nonce,
            keep,
        )
        .await,
        "replayed",
    );
    let nonce = fresh_nonce();
    let (status, _) = send(&server, &urn.key, path, &events, now, true, &nonce, keep).await;
    assert_eq!(status, 200);
    refused(
        send(&server, &urn.key, path, &events, now, true, &nonce, keep).await,
        "replayed",
    );

    // Revoked.
    server.registry.revoke(other.code).await.unwrap();
    refused(
        send(
            &server,
            &other.key,
            "/api/stations/GW2K/events",
            &[],
            now,
            true,
            &fresh_nonce(),
            keep,
        )
        .await,
        "revoked",
    );

    // Malformed signature headers.
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", server.url))
        .header("signature-input", "urna=(\"@method\");created=1")
        .header("signature", "urna=:AAAA:")
        .json(&PushRequest { events: vec![] })
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    refused((status, resp.json().await.unwrap()), "bad_signature");

    assert_eq!(server.count("events"), 2);
    assert_eq!(server.count("alarms"), 0);
    server.stop().await;
}

#[tokio::test]
async fn a_replayed_nonce_is_refused_after_a_registry_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut urn = Sim::new("GW7K", 1);
    let events = vec![urn.door()];
    let path = "/api/stations/GW7K/events";
    let nonce = fresh_nonce();
    let now = now_secs();
    {
        let server = Server::start(dir.path()).await;
        server.enrol(&urn, "Urna").await;
        let (status, _) = send(&server, &urn.key, path, &events, now, true, &nonce, keep).await;
        assert_eq!(status, 200);
        server.stop().await;
    }
    let server = Server::start(dir.path()).await;
    let (status, body) = send(&server, &urn.key, path, &events, now, true, &nonce, keep).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("replayed")),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn signed_reads_are_checked_and_unsigned_ones_need_a_clerk() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna").await;
    let get = |key: SigningKey, path: &'static str, nonce: String| {
        let url = format!("{}{path}", server.url);
        async move {
            let request = signed(
                reqwest::Client::new().get(url),
                &key,
                "GET",
                path,
                b"",
                now_secs(),
                true,
                Some(&nonce),
            );
            request.send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(
        get(urn.key.clone(), "/api/alerts", fresh_nonce()).await,
        200
    );
    assert_eq!(
        get(
            urn.key.clone(),
            "/api/stations/GW7K/acknowledged",
            fresh_nonce()
        )
        .await,
        200
    );
    let nonce = fresh_nonce();
    assert_eq!(
        get(urn.key.clone(), "/api/alerts", nonce.clone()).await,
        200
    );
    assert_eq!(get(urn.key.clone(), "/api/alerts", nonce).await, 401);
    assert_eq!(
        get(
            SigningKey::from_bytes(&[9; 32]),
            "/api/alerts",
            fresh_nonce()
        )
        .await,
        401
    );
    // Unsigned: only a signed-in clerk reads.
    let (status, _) = server.get_json("/api/alerts").await;
    assert_eq!(status, 200);
    assert_eq!(
        server.anonymous_get("/api/alerts").await.status().as_u16(),
        401
    );
    server.stop().await;
}

/// The same signed push sent many times at once (a replay racing its original): exactly one is
/// stored and answered, every other copy is refused as a replay, whether it came while the
/// first was being checked, written or after.
#[tokio::test]
async fn identical_pushes_racing_store_once_and_the_rest_are_replays() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna").await;
    let events: Vec<_> = (0..30).map(|_| urn.door()).collect();
    let path = "/api/stations/GW7K/events";
    let nonce = fresh_nonce();
    let now = now_secs();
    let copies = (0..12).map(|_| send(&server, &urn.key, path, &events, now, true, &nonce, keep));
    let answers = futures_util::future::join_all(copies).await;
    let stored: Vec<_> = answers
        .iter()
        .filter(|(status, _)| *status == 200)
        .collect();
    assert_eq!(stored.len(), 1, "{answers:?}");
    assert_eq!(stored[0].1["acknowledged"].as_u64(), Some(30));
    for (status, body) in answers.iter().filter(|(status, _)| *status != 200) {
        assert_eq!(
            (*status, body["error"].as_str()),
            (401, Some("replayed")),
            "{body}"
        );
    }
    assert_eq!(server.count("events"), 30);
    assert_eq!(server.count("request_nonces"), 1);
    server.stop().await;
}

/// A push's nonce is committed with its events: the register files as a crash leaves them (the
/// server never stopped, nothing checkpointed) refuse the replay of every push they hold.
#[tokio::test]
async fn a_stored_pushs_nonce_survives_a_crash_with_its_events() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let mut urn = Sim::new("GW7K", 1);
    server.enrol(&urn, "Urna").await;
    let events: Vec<_> = (0..3).map(|_| urn.door()).collect();
    let path = "/api/stations/GW7K/events";
    let nonce = fresh_nonce();
    let now = now_secs();
    let (status, body) = send(&server, &urn.key, path, &events, now, true, &nonce, keep).await;
    assert_eq!(
        (status, body["acknowledged"].as_u64()),
        (200, Some(3)),
        "{body}"
    );
    // Let the write the answer did not wait for (the station marked seen) settle; a crash in
    // the middle of it would only lose that write.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let crashed = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        // The shared-memory index is rebuilt from the WAL by whoever opens the files next.
        if !name.to_string_lossy().ends_with("-shm") {
            std::fs::copy(entry.path(), crashed.path().join(&name)).unwrap();
        }
    }
    let after = Server::start(crashed.path()).await;
    let (status, body) = send(&after, &urn.key, path, &events, now, true, &nonce, keep).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("replayed")),
        "{body}"
    );
    assert_eq!(after.count("events"), 3);
    after.stop().await;
    server.stop().await;
}

/// A push that stores nothing (all resent, a broken chain, another station's) still uses up its
/// nonce, across a restart too.
#[tokio::test]
async fn a_push_that_stores_nothing_still_uses_up_its_nonce() {
    let dir = tempfile::tempdir().unwrap();
    let mut urn = Sim::new("GW7K", 1);
    let other = Sim::new("GW2K", 2);
    let events: Vec<_> = (0..2).map(|_| urn.door()).collect();
    let _lost = urn.door();
    let after_gap = vec![urn.door()];
    let path = "/api/stations/GW7K/events";
    let now = now_secs();
    let (resent, broken, foreign) = (fresh_nonce(), fresh_nonce(), fresh_nonce());
    let replayed = |(status, body): (u16, serde_json::Value)| {
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("replayed")),
            "{body}"
        );
    };
    {
        let server = Server::start(dir.path()).await;
        server.enrol(&urn, "Urna").await;
        server.enrol(&other, "Druga urna").await;
        let first = fresh_nonce();
        let (status, _) = send(&server, &urn.key, path, &events, now, true, &first, keep).await;
        assert_eq!(status, 200);
        let (status, body) = send(&server, &urn.key, path, &events, now, true, &resent, keep).await;
        assert_eq!(
            (status, body["acknowledged"].as_u64()),
            (200, Some(2)),
            "{body}"
        );
        let (status, body) = send(
            &server, &urn.key, path, &after_gap, now, true, &broken, keep,
        )
        .await;
        assert_eq!(status, 422, "{body}");
        let (status, body) = send(
            &server, &other.key, path, &events, now, true, &foreign, keep,
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("wrong_station")),
            "{body}"
        );
        replayed(send(&server, &urn.key, path, &events, now, true, &resent, keep).await);
        replayed(
            send(
                &server, &urn.key, path, &after_gap, now, true, &broken, keep,
            )
            .await,
        );
        replayed(
            send(
                &server, &other.key, path, &events, now, true, &foreign, keep,
            )
            .await,
        );
        server.stop().await;
    }
    let server = Server::start(dir.path()).await;
    replayed(send(&server, &urn.key, path, &events, now, true, &resent, keep).await);
    replayed(
        send(
            &server, &urn.key, path, &after_gap, now, true, &broken, keep,
        )
        .await,
    );
    replayed(
        send(
            &server, &other.key, path, &events, now, true, &foreign, keep,
        )
        .await,
    );
    assert_eq!(server.count("events"), 2);
    assert_eq!(server.count("request_nonces"), 4);
    server.stop().await;
}
